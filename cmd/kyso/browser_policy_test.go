package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/installer"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// TestBrowserPolicy is the policy kit's acceptance test: a Chromium
// started by the test with the managed policy `kyso policy generate`
// wrote lets a public page reach the agent without any permission grant.
//
// The page (policyPage) is served on 127.0.0.1 with
// `Content-Security-Policy: treat-as-public-address`, so Local Network
// Access applies to it as to a DMS on the internet; its button connects
// with the SDK and calls status and listCertificates. The kit is made by
// the CLI (runPolicy) for the page's origin, with --no-user-approval; the
// agent is a `kyso serve` of the serve harness on the SDK's port whose
// --policy is the kit's kyso/policy.json, so no dialog can stand in for
// the policy. js-sdk/test-browser/policy.mjs runs twice and never grants
// a permission through CDP:
//
//   - the control, before the kit's chromium/kyso-local-network.json is
//     installed: the click fails with LNA_DENIED (headless Chromium
//     denies at once what it would ask) and nothing reaches the agent;
//   - with the file installed into /etc/chromium/policies/managed (root
//     needed; removed when the test ends): the SDK connects, status and
//     listCertificates answer, the agent logs the connection, and no
//     dialog is shown.
//
// Like TestBrowserDemoW2 it fails, never skips, when Node, chromium or
// js-sdk/node_modules is missing, or the managed policy folder cannot be
// written. The two tests never run at once (neither is parallel), and
// write differently named policy files.
func TestBrowserPolicy(t *testing.T) {
	ctx, sdk := browserTestSetup(t)

	// The public page, another origin than the agent's.
	bundle := filepath.Join(sdk, "dist", "kyso.iife.js")
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "treat-as-public-address")
		w.Header().Set("Cache-Control", "no-store")
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(policyPage))
		case "/kyso.iife.js":
			http.ServeFile(w, r, bundle)
		case "/favicon.ico":
			w.WriteHeader(http.StatusNoContent) // keeps a 404 out of the browser's console
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(page.Close)
	origin := page.URL

	// The kit, as IT makes it: an origin list, the CLI.
	work := t.TempDir()
	list := filepath.Join(work, "origins.txt")
	if err := os.WriteFile(list, []byte("# the public test page\n"+origin+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kit := filepath.Join(work, "kyso-policy")
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, lang: i18n.English}
	if code := runPolicy(c, []string{"generate", "--origins", list, "--out", kit, "--no-user-approval"}); code != exitOK {
		t.Fatalf("kyso policy generate: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	managed, err := os.ReadFile(filepath.Join(kit, filepath.FromSlash(installer.KitChromiumJSON)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kit for %s; %s:\n%s", origin, installer.KitChromiumJSON, managed)

	f := newServeFixture(t)
	// startServer writes its own policy file; the later --policy wins.
	s := f.startServer(t, serverSpec{
		name: "policy",
		port: browserAgentPort,
		args: []string{"--policy", filepath.Join(kit, filepath.FromSlash(installer.KitPolicyJSON))},
	})
	if s.hostPort != "127.0.0.1:"+strconv.Itoa(browserAgentPort) {
		t.Fatalf("kyso serve listens on %s, want port %d", s.hostPort, browserAgentPort)
	}

	type result struct {
		Permission map[string]string `json:"permission"`
		Status     struct {
			State, Code, Text string
		} `json:"status"`
		Agent struct {
			Version      string `json:"version"`
			Certificates int    `json:"certificates"`
		} `json:"agent"`
	}
	browse := func(t *testing.T, expect string) result {
		t.Helper()
		out := t.TempDir()
		runBrowserScript(ctx, t, sdk, "policy.mjs", s,
			"KYSO_PAGE_URL="+origin+"/",
			"KYSO_EXPECT="+expect,
			"KYSO_OUT_DIR="+out,
		)
		var res result
		if data, err := os.ReadFile(filepath.Join(out, "policy-"+expect+".json")); err != nil {
			t.Fatal(err)
		} else if err := json.Unmarshal(data, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}

	policyPath := filepath.Join(chromiumPolicyDir, "kyso-local-network.json")
	// Not parallel subtests: the second needs the policy file the first
	// must not see.
	t.Run("without policy", func(t *testing.T) {
		if _, err := os.Stat(policyPath); err == nil {
			t.Fatalf("%s exists already: another run left it, or an installed policy; remove it", policyPath)
		}
		res := browse(t, "denied")
		t.Logf("without the policy: permission %v, the SDK reports %s", res.Permission, res.Status.Code)
		if res.Status.State != "error" || res.Status.Code != "LNA_DENIED" {
			t.Errorf("without the policy the page got %+v, want error LNA_DENIED", res.Status)
		}
		if n := s.logCount(t, "connected", origin); n != 0 {
			t.Errorf("the browser let the page connect %d times without the policy:\n%s", n, s.logTail())
		}
	})
	if t.Failed() {
		return
	}

	t.Run("with policy", func(t *testing.T) {
		installManagedPolicy(t, policyPath, managed)
		res := browse(t, "allowed")
		t.Logf("under the policy: permission %v; kyso %s lists %d certificates", res.Permission, res.Agent.Version, res.Agent.Certificates)
		if res.Status.State != "ok" || res.Agent.Version == "" || res.Agent.Certificates == 0 {
			t.Errorf("result %+v, want status and certificates", res)
		}
		if n := s.logCount(t, "connected", origin); n == 0 {
			t.Errorf("the agent logged no connection from %s:\n%s", origin, s.logTail())
		}
		if n := refusedCount(t, s, origin, ""); n != 0 {
			t.Errorf("the agent refused %s %d times:\n%s", origin, n, s.logTail())
		}
	})
	// The kit's policy admits the page by itself: no dialog at all.
	if ds := s.dialogs(t); len(ds) != 0 {
		t.Errorf("%d dialogs shown, want none: %+v", len(ds), ds)
	}
}

// policyPage connects to the agent from a click, as a DMS does, and shows
// the outcome in #status the way the demo DMS's pages do (data-state
// busy, then ok or error with data-code), so lib.mjs's click() can wait
// for it.
const policyPage = `<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Trang công khai — chính sách của trình duyệt</title>
<script src="/kyso.iife.js"></script></head>
<body><h1>Trang công khai dùng kyso</h1>
<button id="btn-connect">Kết nối tác tử ký số</button>
<p id="status" data-state="idle"></p>
<script>
document.getElementById("btn-connect").addEventListener("click", async (ev) => {
  const b = ev.currentTarget, st = document.getElementById("status");
  b.disabled = true;
  st.dataset.state = "busy";
  st.dataset.code = "";
  let k;
  try {
    k = await Kyso.connect({ userGesture: true, reconnect: false, timeoutMs: 30000 });
    const s = await k.status();
    const certs = await k.listCertificates();
    st.dataset.version = s.version;
    st.dataset.modules = String(s.modules);
    st.dataset.certs = String(certs.length);
    st.textContent = "kyso " + s.version + ": " + certs.length + " chứng thư số";
    st.dataset.state = "ok";
  } catch (e) {
    st.dataset.code = (e && e.code) || "";
    st.textContent = String((e && e.message) || e);
    st.dataset.state = "error";
  } finally {
    if (k) k.close();
    b.disabled = false;
  }
});
</script>
</body></html>
`

// browserTestSetup checks what a browser test needs (Node, npm,
// chromium, js-sdk's playwright-core, the agent's port free), builds the
// SDK bundle as `make demo` does, and returns a context ending before the
// test's deadline and the js-sdk folder. It fails, never skips.
func browserTestSetup(t *testing.T) (context.Context, string) {
	t.Helper()
	sdk, err := filepath.Abs("../../js-sdk")
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (%v): the browser test needs Node.js 20 or later, then `npm ci` in js-sdk", tool, err)
		}
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is missing (%v): `apt-get install chromium` (make test does)", err)
	}
	if _, err := os.Stat(filepath.Join(sdk, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("js-sdk/node_modules/playwright-core is missing (%v): run `npm ci` in js-sdk first (make test does)", err)
	}
	// Another agent on the port would answer the page.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(browserAgentPort))
	if err != nil {
		t.Fatalf("port %d, the agent's port the SDK connects to, is in use (is a kyso agent running?): %v", browserAgentPort, err)
	}
	ln.Close()

	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		t.Cleanup(cancel)
	}
	build := exec.CommandContext(ctx, "npm", "run", "build")
	build.Dir = sdk
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("npm run build in js-sdk: %v\n%s", err, out)
	}
	return ctx, sdk
}

// runBrowserScript runs a script of js-sdk/test-browser with env added,
// failing with the script's output and the agent's log tail.
func runBrowserScript(ctx context.Context, t *testing.T, sdk, script string, s *kysoServer, env ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("test-browser", script))
	cmd.Dir = sdk
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath, "NO_COLOR=1")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node test-browser/%s: %v\n%s\n--- kyso serve log (tail) ---\n%s", script, err, out, s.logTail())
	}
	t.Logf("node test-browser/%s (%s):\n%s", script, time.Since(start).Round(time.Millisecond), out)
}

// installManagedPolicy puts a managed Chromium policy file at path (in
// chromiumPolicyDir), read when the browser starts, and removes it — and
// any folder it had to create — when the test ends. It fails, naming the
// cause, when the folder cannot be written (the test runs as root in CI)
// or the file exists already (someone else's policy is never replaced).
func installManagedPolicy(t *testing.T, path string, data []byte) {
	t.Helper()
	var created []string
	for _, d := range []string{"/etc/chromium", "/etc/chromium/policies", filepath.Dir(path)} {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatalf("cannot create %s for Chromium's managed policy (run the browser test as root): %v", d, err)
			}
			created = append(created, d)
		}
	}
	t.Cleanup(func() {
		for i := len(created) - 1; i >= 0; i-- {
			os.Remove(created[i]) // only if empty
		}
	})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		t.Fatalf("%s exists already: another run left it, or an installed policy; remove it", path)
	}
	if err != nil {
		t.Fatalf("cannot write Chromium's managed policy %s (run the browser test as root): %v", path, err)
	}
	t.Cleanup(func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("removing %s: %v", path, err)
		}
	})
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	t.Logf("managed Chromium policy %s installed", path)
}
