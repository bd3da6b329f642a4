package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/demodms"
	"github.com/kyso-vn/kyso/internal/devpki"
)

// browserAgentPort is the agent's port in the browser test: the SDK's
// first default port, the one the demo pages' Content-Security-Policy
// (connect-src) names, as a real page finds the agent.
const browserAgentPort = 19571

// chromiumPath is Debian's chromium package (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// TestBrowserDemoW2 runs workflows W1 and W2 of the demo DMS in headless
// Chromium (js-sdk/test-browser/w2.mjs, playwright-core driving the
// installed browser) against a real `kyso serve` of the serve harness on
// port 19571: the leader approves a document with the personal
// certificate, the clerk issues it with the organisation certificate and
// the seal, and the final PDF must hold two valid signatures (pdfsig), the
// last covering the file, with both signatures audited for the DMS's
// origin. A page of an origin the policy refuses must report
// ORIGIN_NOT_ALLOWED.
//
// It fails, never skips, when Node, chromium or js-sdk/node_modules is
// missing: `apt-get install chromium nodejs npm` and `npm ci` in js-sdk
// install them (make test does). With KYSO_UPDATE_SCREENSHOTS=1 it
// writes the pages' screenshots to docs/screenshots/ (demo-approve.png,
// demo-issue.png); otherwise to a temporary folder.
func TestBrowserDemoW2(t *testing.T) {
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
	// The port must be free: another agent there would answer the pages.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(browserAgentPort))
	if err != nil {
		t.Fatalf("port %d, the agent's port the demo pages connect to, is in use (is a kyso agent running?): %v", browserAgentPort, err)
	}
	ln.Close()

	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		defer cancel()
	}

	// The pages load the SDK bundle: build it as `make demo` does.
	start := time.Now()
	build := exec.CommandContext(ctx, "npm", "run", "build")
	build.Dir = sdk
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("npm run build in js-sdk: %v\n%s", err, out)
	}
	t.Logf("SDK built in %s", time.Since(start).Round(time.Millisecond))

	f := newServeFixture(t)
	const sampleName = "quyet-dinh-chua-so.pdf"
	// The demo as `kyso demo` serves it: two agencies, each its own
	// origin, both in the policy.
	dms := startBrowserDMS(t, demodms.Config{
		Agencies: []demodms.Agency{
			{ID: "ubnd", Name: "UBND tỉnh Bình Phước"},
			{ID: "snv", Name: "Sở Nội vụ tỉnh Bình Phước"},
		},
		SDKPath:        filepath.Join(sdk, "dist", "kyso.iife.js"),
		Samples:        map[string][]byte{sampleName: f.template},
		SignatureImage: f.sigPNG,
		SealImage:      f.sealPNG,
	})
	// A third agency the policy does not name.
	other := startBrowserDMS(t, demodms.Config{
		Agencies: []demodms.Agency{{ID: "khac", Name: "Cơ quan chưa được phép"}},
		SDKPath:  filepath.Join(sdk, "dist", "kyso.iife.js"),
	})
	origins, denied := dms.Origins(), other.Origins()[0]
	t.Logf("demo DMS: %v; refused: %s", dms.URLs(), denied)

	no := false
	s := f.startServer(t, serverSpec{
		name: "browser",
		port: browserAgentPort,
		policy: agent.Policy{
			AllowedOrigins: origins,
			UserMayApprove: &no, // any other origin is refused without a dialog
			DefaultLevel:   "B-T",
		},
		script: serveScript{PIN: servePIN},
	})
	if s.hostPort != "127.0.0.1:"+strconv.Itoa(browserAgentPort) {
		t.Fatalf("kyso serve listens on %s, want port %d", s.hostPort, browserAgentPort)
	}

	out := t.TempDir()
	shots := filepath.Join(out, "screenshots")
	if os.Getenv("KYSO_UPDATE_SCREENSHOTS") == "1" {
		if shots, err = filepath.Abs("../../docs/screenshots"); err != nil {
			t.Fatal(err)
		}
	}
	personal, org := devpki.Personal(), devpki.Organisation()
	start = time.Now()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("test-browser", "w2.mjs"))
	cmd.Dir = sdk
	cmd.Env = append(os.Environ(),
		"KYSO_DMS_URL="+origins[0],
		"KYSO_DMS_DENIED_URL="+denied,
		"KYSO_OUT_DIR="+out,
		"KYSO_SCREENSHOTS="+shots,
		"KYSO_CERT_PERSONAL_NAME="+personal.CommonName,
		"KYSO_CERT_ORG_NAME="+org.CommonName,
		"KYSO_DOC_NUMBER=15/QĐ-UBND",
		"CHROMIUM="+chromiumPath,
		"NO_COLOR=1",
	)
	outText, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node test-browser/w2.mjs: %v\n%s\n--- kyso serve log (tail) ---\n%s", err, outText, s.logTail())
	}
	t.Logf("node test-browser/w2.mjs (%s):\n%s", time.Since(start).Round(time.Millisecond), outText)

	var res struct {
		DocID    string `json:"docID"`
		Personal string `json:"personal"`
		Org      string `json:"org"`
	}
	data, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Personal != string(f.personal) || res.Org != string(f.org) {
		t.Errorf("the pages chose certificates %s and %s, want %s (personal) and %s (organisation)", res.Personal, res.Org, f.personal, f.org)
	}

	// The final PDF: the sample, approved then issued.
	pdf, err := os.ReadFile(filepath.Join(out, "issued.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	f.checkPdfsig(t, "issued.pdf", pdf, 2)
	checkIntact(t, "issued.pdf", pdf, 2)
	if text := pdfText(t, pdf); !strings.Contains(text, "15/QĐ-UBND") {
		t.Errorf("the issued PDF's first page does not show the number 15/QĐ-UBND:\n%s", text)
	}

	// Both signatures went through the agent for the DMS's origin.
	checkAuditOK(t, s, origins[0], "signPdf", sampleName, f.template, "approved", f.personal)
	var issued int
	for _, r := range s.audit(t) {
		if r.Caller != origins[0] {
			t.Errorf("audit record of another caller: %+v", r)
			continue
		}
		if r.Profile == "issued" {
			issued++
			if r.Method != "signPdf" || r.Result != "ok" || r.Certificate != string(f.org) || r.Document != sampleName {
				t.Errorf("audit record of the issuing %+v, want signPdf ok with %s", r, f.org)
			}
		}
	}
	if issued != 1 {
		t.Errorf("%d audit records of the issuing, want 1", issued)
	}
	// The refused origin got no further than the handshake.
	if n := len(s.dialogs(t)); n != 2 {
		t.Errorf("%d dialogs shown, want 2 (one per signature): %+v", n, s.dialogs(t))
	}
}

// startBrowserDMS starts a demo DMS on free ports until the test ends.
func startBrowserDMS(t *testing.T, cfg demodms.Config) *demodms.Server {
	t.Helper()
	dms, err := demodms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := dms.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		dms.Close()
	})
	return dms
}
