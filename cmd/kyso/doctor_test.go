package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/softhsm"
)

// doctorFinding is a finding of kyso.doctor/v1.
type doctorFinding struct {
	ID       string         `json:"id"`
	Severity string         `json:"severity"`
	Message  string         `json:"message"`
	Fix      string         `json:"fix"`
	Details  map[string]any `json:"details"`
}

type doctorDoc struct {
	Schema   string          `json:"schema"`
	Version  string          `json:"version"`
	Findings []doctorFinding `json:"findings"`
}

func (d doctorDoc) byID(id string) []doctorFinding {
	var out []doctorFinding
	for _, f := range d.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

// doctorFixture is a SoftHSM token holding a personal certificate and its
// intermediate CA, provisioned by child processes (softhsm2-util,
// pkcs11-tool) so that SoftHSM is never loaded into this test process, and
// an environment that keeps kyso doctor off this machine's own state.
type doctorFixture struct {
	dir, module, conf, rootPEM string
	holder                     string
	port                       int
}

func newDoctorFixture(t *testing.T) *doctorFixture {
	t.Helper()
	dir := t.TempDir()
	env, err := softhsm.New(filepath.Join(dir, "softhsm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken(context.Background(), serveToken, serveSOPIN, servePIN); err != nil {
		t.Fatal(err)
	}
	module, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP384})
	if err != nil {
		t.Fatal(err)
	}
	sf := &serveFixture{dir: dir, module: module, pki: pki}
	personal := sf.provisionKey(t, env, "personal", "01", devpki.ECP256, devpki.Personal())
	sf.writeCert(t, env, "kyso Test CA", "10", pki.Intermediate.Cert)
	rootPEM := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(rootPEM, devpki.EncodeCertificatesPEM(pki.Root.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on, so the probe never meets a real agent.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &doctorFixture{dir: dir, module: module, conf: env.ConfPath, rootPEM: rootPEM, holder: personal.Subject.CommonName, port: port}
}

// doctor runs `kyso doctor args…` as a child process (this test binary
// answers to the name kyso, see TestMain) and returns its output and exit
// code. The policy, the user's files, the instance lock and the port are
// the fixture's.
func (f *doctorFixture) doctor(t *testing.T, lang string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	all := append([]string{"doctor", "--no-discover", "--policy", filepath.Join(f.dir, "no-policy.json"),
		"--config", filepath.Join(f.dir, "config.json"), "--instance-dir", filepath.Join(f.dir, "instance"),
		"--port", strconv.Itoa(f.port)}, args...)
	cmd := exec.Command(exe, all...)
	cmd.Args[0] = "kyso"
	cmd.Env = append(os.Environ(), softhsm.ConfEnvVar+"="+f.conf, "KYSO_LANG="+lang,
		"HOME="+filepath.Join(f.dir, "home"), "XDG_CONFIG_HOME="+filepath.Join(f.dir, "config"), "XDG_RUNTIME_DIR=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func parseDoctor(t *testing.T, out string) doctorDoc {
	t.Helper()
	var d doctorDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("kyso doctor --json: %v\n%s", err, out)
	}
	if d.Schema != "kyso.doctor/v1" {
		t.Fatalf("schema %q", d.Schema)
	}
	return d
}

func doctorSamePath(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return a == b || (err1 == nil && err2 == nil && ra == rb)
}

// TestDoctorAcceptance: `kyso doctor --json` on a machine with the
// development token reports the module, the token and its certificate and
// exits 0; with a bogus module path added it reports that module with its
// reason and a fix, and exits 1.
func TestDoctorAcceptance(t *testing.T) {
	f := newDoctorFixture(t)

	out, stderr, code := f.doctor(t, "en", "--json", "--module", f.module, "--trust", f.rootPEM)
	if code != 0 {
		t.Fatalf("exit %d with the development token\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	d := parseDoctor(t, out)
	loaded := d.byID("module.loaded")
	if len(loaded) != 1 || !doctorSamePath(loaded[0].Details["path"].(string), f.module) {
		t.Errorf("module.loaded %+v, want %s", loaded, f.module)
	}
	toks := d.byID("token.present")
	if len(toks) != 1 || toks[0].Details["label"] != serveToken || toks[0].Severity != "ok" {
		t.Errorf("token.present %+v, want the token %q", toks, serveToken)
	}
	certs := d.byID("cert.valid")
	if len(certs) != 1 || certs[0].Details["holder"] != f.holder || certs[0].Details["kind"] != "personal" {
		t.Errorf("cert.valid %+v, want %s's personal certificate", certs, f.holder)
	}
	if ch := d.byID("chain.trusted"); len(ch) != 1 || ch[0].Details["holder"] != f.holder {
		t.Errorf("chain.trusted %+v (the test root is trusted with --trust)", ch)
	}
	for _, fd := range d.Findings {
		if fd.Severity == "error" {
			t.Errorf("error finding with the development token: %+v", fd)
		}
	}

	const bogus = "/nonexistent/libbogus.so"
	out, stderr, code = f.doctor(t, "en", "--json", "--module", f.module, "--module", bogus)
	if code != 1 {
		t.Fatalf("exit %d with a bogus module, want 1\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	d = parseDoctor(t, out)
	var bad *doctorFinding
	for i, fd := range d.Findings {
		if p, _ := fd.Details["path"].(string); p == bogus && strings.HasPrefix(fd.ID, "module.") {
			bad = &d.Findings[i]
		}
	}
	switch {
	case bad == nil:
		t.Fatalf("no finding for %s:\n%s", bogus, out)
	case bad.ID != "module.missing" || bad.Severity != "error":
		t.Errorf("%s: %s %s, want module.missing error", bogus, bad.ID, bad.Severity)
	case !strings.Contains(bad.Message, bogus) || !strings.Contains(bad.Message, "no such file"):
		t.Errorf("message %q does not name the path and the reason", bad.Message)
	case bad.Fix == "" || bad.Details["reason"] != "missing" || bad.Details["error"] == "":
		t.Errorf("fix %q, details %v", bad.Fix, bad.Details)
	}
	// The good module is still reported, and its token.
	if len(d.byID("token.present")) != 1 {
		t.Errorf("the token is gone next to a bogus module:\n%s", out)
	}

	// The same in Vietnamese text, the default.
	out, _, code = f.doctor(t, "", "--module", bogus, "--module", f.module)
	if code != 1 {
		t.Errorf("text form: exit %d", code)
	}
	for _, want := range []string{
		"✗ " + bogus + ": không nạp được — không có tệp này",
		"→ Cài phần mềm token của nhà cung cấp chứng thư số",
		`✓ Token "` + serveToken + `"`,
		"Kết quả: 1 lỗi,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}
