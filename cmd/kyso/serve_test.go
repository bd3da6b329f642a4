package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pkitest"
	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/kyso-vn/kyso/internal/testimages"
	"github.com/kyso-vn/kyso/internal/tsatest"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// End-to-end tests of `kyso serve` as a separate process: a test build of
// the binary (-tags kysotest, so that --scripted-prompter answers the
// dialogs), a SoftHSM token of its own, the test PKI's OCSP responder and
// CRLs and a TSA on 127.0.0.1, and a WebSocket client speaking
// docs/protocol.md (wsclient_test.go).
//
// The token's PINs are distinctive strings, so that the PIN hygiene check
// at the end can search every file the servers wrote for them without
// false matches.
const (
	serveToken    = "kyso-serve"
	servePIN      = "kyso-pin-739184"
	serveWrongPIN = "wrong-pin-582047"
	serveSOPIN    = "kyso-so-pin-604913"

	qlvbOrigin   = "https://qlvb.example.gov.vn"
	vanbanOrigin = "https://vanban.example.gov.vn" // may connect, may not sign digests
)

// serveFixture is what every server of TestServe shares: the token, the
// PKI and its services, the binary, the inputs.
type serveFixture struct {
	dir      string
	bin      string
	conf     string // SOFTHSM2_CONF of the token
	module   string
	rootPEM  string
	pki      *devpki.PKI
	nss      *pdfcheck.NSSDB
	tsa      *tsatest.Server
	personal token.Handle // RSA-2048, personal
	org      token.Handle // P-256, organisation
	sigPNG   []byte
	sealPNG  []byte
	letter   []byte // testdata/sample/quyet-dinh.pdf
	template []byte // the same decision with number and date blank

	mu      sync.Mutex
	servers []*kysoServer // every server started, for the PIN hygiene check
}

// newServeFixture builds the kyso test binary and provisions a SoftHSM
// token without loading SoftHSM into this process: the token is created
// and filled by softhsm2-util and pkcs11-tool (child processes), because
// other tests of this package may already have initialised SoftHSM here
// with another configuration, which a process cannot change afterwards.
func newServeFixture(t testing.TB) *serveFixture {
	t.Helper()
	dir := t.TempDir()
	f := &serveFixture{dir: dir, bin: buildKysoTest(t, dir)}
	ctx := context.Background()

	env, err := softhsm.New(filepath.Join(dir, "softhsm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken(ctx, serveToken, serveSOPIN, servePIN); err != nil {
		t.Fatal(err)
	}
	f.conf = env.ConfPath
	if f.module, err = softhsm.ModulePath(); err != nil {
		t.Fatal(err)
	}

	pkiSrv := pkitest.Start(t, pkitest.Options{})
	f.pki = pkiSrv.PKI
	f.rootPEM = filepath.Join(dir, "root.pem")
	if err := os.WriteFile(f.rootPEM, devpki.EncodeCertificatesPEM(f.pki.Root.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	f.nss = pdfcheck.NewNSSDB(t, f.pki.Root.Cert)
	f.tsa = tsatest.Start(t, f.pki, tsatest.Options{})

	personal := f.provisionKey(t, env, "personal", "01", devpki.RSA2048, devpki.Personal())
	org := f.provisionKey(t, env, "organisation", "02", devpki.ECP256, devpki.Organisation())
	f.writeCert(t, env, "kyso Test CA", "10", f.pki.Intermediate.Cert)
	f.personal, f.org = token.HandleOf(personal), token.HandleOf(org)

	if f.sigPNG, err = testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.sealPNG, err = testimages.EncodePNG(testimages.Seal(480), 300, testimages.PNGOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.letter, err = os.ReadFile("../../testdata/sample/quyet-dinh.pdf"); err != nil {
		t.Fatal(err)
	}
	if f.template, err = os.ReadFile("../../testdata/sample/quyet-dinh-chua-so.pdf"); err != nil {
		t.Fatal(err)
	}
	return f
}

// buildKysoTest builds the test binary once per TestServe run into dir,
// with the race detector when this test binary has it, so that races in
// the server process are reported too.
func buildKysoTest(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "kyso-test")
	args := []string{"build", "-tags", "kysotest"}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, "-o", bin, ".")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// provisionKey generates a key pair, has the test PKI certify it, and
// imports both into the token under id (hex).
func (f *serveFixture) provisionKey(t testing.TB, env *softhsm.Env, label, id string, kind devpki.KeyKind, prof devpki.Profile) *x509.Certificate {
	t.Helper()
	key, err := devpki.GenerateSoftKey(kind)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := f.pki.Issue(prof, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := filepath.Join(f.dir, label+".key")
	if err := os.WriteFile(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, env, "softhsm2-util", "--import", keyPEM, "--token", serveToken, "--label", label, "--id", id, "--pin", servePIN)
	if err := os.Remove(keyPEM); err != nil {
		t.Fatal(err)
	}
	f.writeCert(t, env, label, id, cert)
	return cert
}

// writeCert stores a certificate object on the token.
func (f *serveFixture) writeCert(t testing.TB, env *softhsm.Env, label, id string, cert *x509.Certificate) {
	t.Helper()
	der := filepath.Join(f.dir, "cert-"+id+".der")
	if err := os.WriteFile(der, cert.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, env, "pkcs11-tool", "--module", f.module, "--token-label", serveToken, "--login", "--pin", servePIN,
		"--write-object", der, "--type", "cert", "--id", id, "--label", label)
}

// runTool runs a token tool against env's configuration.
func runTool(t testing.TB, env *softhsm.Env, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), softhsm.ConfEnvVar+"="+env.ConfPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// kysoServer is one running `kyso serve` process and its files.
type kysoServer struct {
	name        string
	url         string // ws://127.0.0.1:PORT/v1
	hostPort    string // 127.0.0.1:PORT
	state       string // every file the server writes lives here
	configPath  string
	policyPath  string
	auditDir    string
	secretPath  string
	logPath     string // stderr, --log debug
	stdoutPath  string
	dialogsPath string // the scripted prompter's record of the dialogs shown

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	killed  atomic.Bool
}

// serveScript is the JSON of the binary's --scripted-prompter file
// (agent.ScriptedAnswers, which exists in -tags kysotest builds only, so
// this test, built without the tag, writes the same JSON itself).
type serveScript struct {
	Origins        map[string]bool `json:"origins,omitempty"`
	DefaultApprove bool            `json:"defaultApprove,omitempty"`
	PINs           []string        `json:"pins,omitempty"`
	PIN            string          `json:"pin,omitempty"`
	Delay          agent.Duration  `json:"delay,omitempty"`
	RecordTo       string          `json:"recordTo,omitempty"`
}

// dialogRecord is one line of the scripted prompter's record
// (agent.ScriptedRecord, -tags kysotest only, like serveScript).
type dialogRecord struct {
	Kind      string `json:"kind"`
	Caller    string `json:"caller"`
	Action    string `json:"action"`
	Documents []struct {
		Name   string `json:"name"`
		Pages  int    `json:"pages"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"documents"`
	Profile     string `json:"profile"`
	Digest      string `json:"digest"`
	Certificate string `json:"certificate"`
	PINNeeded   bool   `json:"pinNeeded"`
	RetriesLeft int    `json:"retriesLeft"`
}

// serverSpec configures startServer.
type serverSpec struct {
	name   string
	policy agent.Policy // schema and tsa are filled in
	script serveScript  // recordTo is filled in
	// logLevel is --log; empty means debug. Benchmarks log at info, as a
	// deployment does.
	logLevel string
	// noDialogRecord leaves the dialogs unrecorded (benchmarks: a file
	// append per dialog is not the agent's cost).
	noDialogRecord bool
	// module replaces the fixture's SoftHSM module (the fault-injecting
	// module in front of it), with env added to the server's environment.
	module string
	env    []string
	// port is --port; 0 (the default) lets the server pick a free port.
	// Browser tests use the SDK's fixed port (19571), which the demo
	// pages' Content-Security-Policy names.
	port int
	// command is "serve" (when empty) or "run" (with the tray); args are
	// added to its flags.
	command string
	args    []string
	// user, when set, is the user's configuration file before the start.
	user *agent.UserConfig
	// noScript starts the server without --scripted-prompter: kyso serve
	// --unattended (in args) answers for itself, and no dialog is
	// recorded.
	noScript bool
}

var wsURLRe = regexp.MustCompile(`ws://127\.0\.0\.1:([0-9]+)/v1`)

// urlWriter copies the server's stdout to a file and reports the first
// WebSocket URL printed (the "serve.listening" line).
type urlWriter struct {
	mu    sync.Mutex
	f     *os.File
	seen  []byte
	found chan string
	sent  bool
}

func (w *urlWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sent {
		w.seen = append(w.seen, p...)
		if m := wsURLRe.Find(w.seen); m != nil {
			w.sent = true
			w.found <- string(m)
		}
	}
	return w.f.Write(p)
}

// startServer starts `kyso serve --port 0` with a policy and a dialog
// script, waits until it listens, and stops it (SIGTERM) when the test
// ends, checking that it shut down cleanly.
func (f *serveFixture) startServer(t testing.TB, spec serverSpec) *kysoServer {
	t.Helper()
	base := filepath.Join(t.TempDir(), spec.name)
	s := &kysoServer{name: spec.name, state: filepath.Join(base, "state"), exited: make(chan struct{})}
	inputs := filepath.Join(base, "inputs") // the script holds PINs: not a file of the server's
	for _, d := range []string{s.state, inputs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.configPath = filepath.Join(s.state, "config", "config.json")
	s.policyPath = filepath.Join(s.state, "policy.json")
	s.auditDir = filepath.Join(s.state, "audit")
	s.secretPath = filepath.Join(s.state, "client-secret")
	s.logPath = filepath.Join(s.state, "kyso.log")
	s.stdoutPath = filepath.Join(s.state, "stdout.txt")
	s.dialogsPath = filepath.Join(s.state, "dialogs.jsonl")

	policy := spec.policy
	policy.Schema = agent.PolicySchema
	policy.TSA = f.tsa.URL
	writeJSON(t, s.policyPath, policy)
	scriptPath := filepath.Join(inputs, "script.json")
	script := spec.script
	if !spec.noDialogRecord {
		script.RecordTo = s.dialogsPath
	}
	writeJSON(t, scriptPath, script)
	if spec.user != nil {
		u := *spec.user
		u.Schema = agent.UserConfigSchema
		if err := os.MkdirAll(filepath.Dir(s.configPath), 0o700); err != nil {
			t.Fatal(err)
		}
		writeJSON(t, s.configPath, u)
	}
	logLevel := spec.logLevel
	if logLevel == "" {
		logLevel = "debug"
	}

	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	outFile, err := os.Create(s.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	uw := &urlWriter{f: outFile, found: make(chan string, 1)}
	module := f.module
	if spec.module != "" {
		module = spec.module
	}
	command := spec.command
	if command == "" {
		command = "serve"
	}
	args := []string{command, "--port", strconv.Itoa(spec.port), "--no-discover", "--module", module,
		"--config", s.configPath, "--policy", s.policyPath, "--audit-dir", s.auditDir, "--secret", s.secretPath,
		"--trust", f.rootPEM, "--log", logLevel}
	if !spec.noScript {
		args = append(args, "--scripted-prompter", scriptPath)
	}
	s.cmd = exec.Command(f.bin, append(args, spec.args...)...)
	home := filepath.Join(s.state, "home")
	s.cmd.Env = append(os.Environ(),
		softhsm.ConfEnvVar+"="+f.conf,
		"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), // no templates of the real user
		"KYSO_LANG=en", "KYSO_PIN=")
	s.cmd.Env = append(s.cmd.Env, spec.env...)
	s.cmd.Stdout = uw
	s.cmd.Stderr = logFile
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", f.bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		logFile.Close()
		outFile.Close()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	f.mu.Lock()
	f.servers = append(f.servers, s)
	f.mu.Unlock()

	select {
	case s.url = <-uw.found:
	case <-s.exited:
		t.Fatalf("kyso serve (%s) exited before listening: %v\n%s", spec.name, s.waitErr, s.logTail())
	case <-time.After(wsWait):
		t.Fatalf("kyso serve (%s) did not print its address within %s\n%s", spec.name, wsWait, s.logTail())
	}
	s.hostPort = strings.TrimSuffix(strings.TrimPrefix(s.url, "ws://"), "/v1")
	return s
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// stop ends the server with SIGTERM, as a service manager would, and
// checks it exited cleanly (and, in a race build, without a race report).
// A server the test killed is only waited for.
func (s *kysoServer) stop(t testing.TB) {
	t.Helper()
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(wsWait):
			_ = s.cmd.Process.Kill()
			<-s.exited
			t.Errorf("kyso serve (%s) did not stop on SIGTERM\n%s", s.name, s.logTail())
			return
		}
	}
	if s.killed.Load() {
		return
	}
	if s.waitErr != nil {
		t.Errorf("kyso serve (%s) exited with %v\n%s", s.name, s.waitErr, s.logTail())
	}
	if log := s.log(t); strings.Contains(log, "DATA RACE") {
		t.Errorf("kyso serve (%s) reported a data race:\n%s", s.name, log)
	}
}

// dialogs reads the dialogs the server's scripted prompter showed, in
// order; none shown yet is an empty list.
func (s *kysoServer) dialogs(t testing.TB) []dialogRecord {
	t.Helper()
	data, err := os.ReadFile(s.dialogsPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []dialogRecord
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r dialogRecord
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("dialog record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// signDialogs are the signing dialogs among dialogs.
func signDialogs(ds []dialogRecord) []dialogRecord {
	var out []dialogRecord
	for _, d := range ds {
		if d.Kind == "sign" {
			out = append(out, d)
		}
	}
	return out
}

// kill9 ends the server with SIGKILL and waits for it.
func (s *kysoServer) kill9(t *testing.T) {
	t.Helper()
	s.killed.Store(true)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-s.exited
}

func (s *kysoServer) log(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (s *kysoServer) logTail() string {
	data, _ := os.ReadFile(s.logPath)
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return string(data)
}

// logCount counts the log lines with message msg and attribute
// origin=origin (slog's text format; origins need no quoting).
func (s *kysoServer) logCount(t testing.TB, msg, origin string) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s.log(t)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "msg="+quoteLogValue(msg)+" ") {
			continue
		}
		if strings.Contains(line, " origin="+origin+" ") || strings.HasSuffix(line, " origin="+origin) {
			n++
		}
	}
	return n
}

func quoteLogValue(s string) string {
	if strings.ContainsAny(s, " =\"") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// audit reads the server's audit log; a damaged line fails the test.
func (s *kysoServer) audit(t testing.TB) []agent.AuditRecord {
	t.Helper()
	recs, skipped, err := agent.ReadAudit(s.auditDir)
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 0 {
		t.Fatalf("%d damaged audit lines in %s", skipped, s.auditDir)
	}
	return recs
}

// connect opens a negotiated connection as a page of origin.
func (s *kysoServer) connect(t testing.TB, origin string) *wsClient {
	t.Helper()
	return connectWS(t, s.url, originHeader(origin))
}

// secret is the per-user secret the server created.
func (s *kysoServer) secret(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(s.secretPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// signPDF signs one document and checks the answer: one document, whose
// declared size and digest match, that starts with the input.
func signPDF(t *testing.T, c *wsClient, name string, in []byte, opts map[string]any) ([]byte, wsDocMeta) {
	t.Helper()
	a := c.call("signPdf", map[string]any{"options": opts}, []wsDoc{{Name: name, Data: in}})
	if a.Err != nil {
		t.Fatalf("signPdf %s: %v %v", name, a.Err, a.Err.Details)
	}
	metas := a.documents(t)
	if len(metas) != 1 {
		t.Fatalf("signPdf returned %d documents", len(metas))
	}
	out := a.Docs[0]
	if !bytes.HasPrefix(out, in) || len(out) <= len(in) {
		t.Fatalf("the signed %s (%d bytes) does not extend the input (%d bytes)", name, len(out), len(in))
	}
	if metas[0].Name != name || metas[0].Field == "" {
		t.Errorf("result document %+v", metas[0])
	}
	return out, metas[0]
}

// checkPdfsig has poppler verify every signature of pdf: want signatures,
// all valid with a trusted certificate, the last one covering the file.
func (f *serveFixture) checkPdfsig(t *testing.T, name string, pdf []byte, want int) {
	t.Helper()
	for _, s := range f.pdfsig(t, name, pdf, want) {
		if !s.Valid || !s.CertValid {
			t.Errorf("pdfsig on %s:\n%s", name, s.Raw)
		}
	}
}

// pdfsig runs poppler's pdfsig on pdf and returns its signatures, failing
// unless there are want of them and the last one covers the file.
func (f *serveFixture) pdfsig(t *testing.T, name string, pdf []byte, want int) []pdfcheck.PdfsigSignature {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	sigs := pdfcheck.Pdfsig(t, f.nss, path)
	if len(sigs) != want {
		t.Fatalf("pdfsig sees %d signatures in %s, want %d", len(sigs), name, want)
	}
	if !sigs[len(sigs)-1].TotalDocumentSigned {
		t.Errorf("pdfsig: the last signature of %s does not cover the whole file:\n%s", name, sigs[len(sigs)-1].Raw)
	}
	return sigs
}

// checkIntact checks every signature of pdf with pades.CheckSignatures.
func checkIntact(t *testing.T, name string, pdf []byte, want int) {
	t.Helper()
	checks, err := pades.CheckSignatures(bytes.NewReader(pdf), int64(len(pdf)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(checks) != want {
		t.Fatalf("%s has %d signatures, want %d", name, len(checks), want)
	}
	for _, c := range checks {
		if !c.Intact() {
			t.Errorf("%s: signature %s is broken: %v", name, c.Field, c.Err)
		}
	}
}

// findAudit returns the records of one request kind for one input.
func findAudit(recs []agent.AuditRecord, caller, method, sha, profile string) []agent.AuditRecord {
	var out []agent.AuditRecord
	for _, r := range recs {
		if r.Caller == caller && r.Method == method && r.SHA256 == sha && r.Profile == profile {
			out = append(out, r)
		}
	}
	return out
}

// checkAuditOK checks the one audit record of a signature.
func checkAuditOK(t *testing.T, s *kysoServer, caller, method, name string, in []byte, profile string, cert token.Handle) {
	t.Helper()
	recs := findAudit(s.audit(t), caller, method, sha256Hex(in), profile)
	if len(recs) != 1 {
		t.Fatalf("%d audit records for %s %s %q by %s, want 1: %+v", len(recs), method, name, profile, caller, recs)
	}
	r := recs[0]
	if r.Document != name || r.Result != "ok" || r.Certificate != string(cert) || r.Time.IsZero() {
		t.Errorf("audit record %+v, want document %q, result ok, certificate %s", r, name, cert)
	}
}

// signOpts are signing options for the client.
func signOpts(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func TestServe(t *testing.T) {
	f := newServeFixture(t)
	t.Logf("kyso-test built (race detector: %v)", raceEnabled())

	// main: the policy's two origins, one of them for signHash; users may
	// approve other origins, and the script approves one and refuses
	// another. Every dialog waits a little, as a person would, so that
	// concurrent handshakes overlap one approval dialog.
	main := f.startServer(t, serverSpec{
		name: "main",
		policy: agent.Policy{
			AllowedOrigins:     []string{qlvbOrigin, vanbanOrigin},
			HashSigningOrigins: []string{qlvbOrigin},
		},
		script: serveScript{
			Origins: map[string]bool{"https://dms.approved.example.vn": true, "https://dms.denied.example.vn": false},
			PIN:     servePIN,
			Delay:   agent.Duration(200 * time.Millisecond),
		},
	})
	// strict: users may not approve anything, so origins outside the
	// policy are refused by the exact match alone, without any dialog.
	no := false
	strict := f.startServer(t, serverSpec{
		name:   "strict",
		policy: agent.Policy{AllowedOrigins: []string{qlvbOrigin}, UserMayApprove: &no},
		script: serveScript{PIN: servePIN},
	})
	// batch: exactly one PIN; a second PIN dialog would get an empty one.
	batch := f.startServer(t, serverSpec{
		name:   "batch",
		policy: agent.Policy{AllowedOrigins: []string{qlvbOrigin}},
		script: serveScript{PINs: []string{servePIN}},
	})
	// wrongpin: the first dialog is answered with a wrong PIN, the second
	// with the right one, then nothing.
	wrongpin := f.startServer(t, serverSpec{
		name:   "wrongpin",
		policy: agent.Policy{AllowedOrigins: []string{qlvbOrigin}},
		script: serveScript{PINs: []string{serveWrongPIN, servePIN}},
	})
	// killed: SIGKILLed in the middle of a batch.
	killed := f.startServer(t, serverSpec{
		name:   "killed",
		policy: agent.Policy{AllowedOrigins: []string{qlvbOrigin}},
		script: serveScript{PIN: servePIN},
	})

	var issued []byte // the decision after approval and issuing, for verifyPdf
	t.Run("SignPdfProfiles", func(t *testing.T) {
		c := main.connect(t, qlvbOrigin)
		t.Run("approved+issued", func(t *testing.T) {
			approved, meta := signPDF(t, c, "quyet-dinh-27.pdf", f.template, signOpts(
				"certificate", f.personal, "profile", "approved", "page", 2, "signatureImage", f.sigPNG))
			if meta.Signer != string(f.personal) {
				t.Errorf("approved signed by %s, want %s", meta.Signer, f.personal)
			}
			f.checkPdfsig(t, "approved.pdf", approved, 1)
			checkAuditOK(t, main, qlvbOrigin, "signPdf", "quyet-dinh-27.pdf", f.template, "approved", f.personal)

			out, meta := signPDF(t, c, "quyet-dinh-27.pdf", approved, signOpts(
				"certificate", f.org, "profile", "issued", "sealImage", f.sealPNG, "sealMM", 40,
				"docNumber", "27/QĐ-UBND", "issuedDate", "2026-11-22", "place", "Bình Phước"))
			if meta.Signer != string(f.org) {
				t.Errorf("issued signed by %s, want %s", meta.Signer, f.org)
			}
			f.checkPdfsig(t, "issued.pdf", out, 2)
			checkIntact(t, "issued.pdf", out, 2)
			checkAuditOK(t, main, qlvbOrigin, "signPdf", "quyet-dinh-27.pdf", approved, "issued", f.org)
			text := pdfText(t, out)
			for _, want := range []string{"Số: 27/QĐ-UBND", "Bình Phước, ngày 22 tháng 11 năm 2026"} {
				if !strings.Contains(text, want) {
					t.Errorf("page 1 of the issued decision lacks %q:\n%s", want, text)
				}
			}
			issued = out
		})
		for _, tc := range []struct {
			profile string
			cert    token.Handle
			opts    map[string]any
			text    string // on page 1 afterwards, if any
		}{
			{"appendix", f.org, signOpts("docNumber", "16/QĐ-UBND"), "Số: 16/QĐ-UBND"},
			{"copy", f.org, signOpts("copyForm", "SAO LỤC"), "SAO LỤC"},
			{"income", f.org, signOpts("docNumber", "125"), "ĐẾN"},
			{"comment", f.personal, signOpts(), ""},
			{"", f.personal, signOpts("level", "B-T"), ""},
		} {
			name := tc.profile
			if name == "" {
				name = "plain"
			}
			t.Run(name, func(t *testing.T) {
				doc := "cong-van-" + name + ".pdf"
				opts := tc.opts
				opts["certificate"] = tc.cert
				if tc.profile != "" {
					opts["profile"] = tc.profile
				}
				out, meta := signPDF(t, c, doc, f.letter, opts)
				if meta.Signer != string(tc.cert) {
					t.Errorf("signed by %s, want %s", meta.Signer, tc.cert)
				}
				if tc.profile == "" && meta.Level != "B-T" {
					t.Errorf("level %q, want B-T (timestamped by the policy's TSA)", meta.Level)
				}
				f.checkPdfsig(t, doc, out, 1)
				checkAuditOK(t, main, qlvbOrigin, "signPdf", doc, f.letter, tc.profile, tc.cert)
				if tc.text != "" {
					if text := pdfText(t, out); !strings.Contains(text, tc.text) {
						t.Errorf("page 1 lacks %q:\n%s", tc.text, text)
					}
				}
			})
		}
	})

	t.Run("SignHash", func(t *testing.T) {
		content := []byte("Quyết định 12/QĐ-UBND, prepared by the DMS")
		digest := sha256.Sum256(content)
		params := func() map[string]any {
			return map[string]any{"certificate": f.personal, "digest": base64.StdEncoding.EncodeToString(digest[:]),
				"hash": "sha256", "timestamp": true, "description": "Quyết định 12/QĐ-UBND"}
		}
		c := main.connect(t, qlvbOrigin)
		a := c.call("signHash", params(), nil)
		if a.Err != nil {
			t.Fatalf("signHash from %s: %v", qlvbOrigin, a.Err)
		}
		var res struct {
			CMS    []byte `json:"cms"`
			Signer string `json:"signer"`
		}
		if err := json.Unmarshal(a.Result, &res); err != nil {
			t.Fatal(err)
		}
		sd, err := cms.Parse(res.CMS)
		if err != nil {
			t.Fatalf("cms.Parse: %v", err)
		}
		if len(sd.Signers) != 1 || !sd.Detached {
			t.Fatalf("CMS with %d signers, detached %v", len(sd.Signers), sd.Detached)
		}
		si := sd.Signers[0]
		if !bytes.Equal(si.MessageDigest, digest[:]) {
			t.Errorf("message digest %x, want %x", si.MessageDigest, digest)
		}
		if err := si.VerifySignature(); err != nil {
			t.Errorf("CMS signature: %v", err)
		}
		if si.Certificate == nil || token.HandleOf(si.Certificate) != f.personal || res.Signer != string(f.personal) {
			t.Errorf("signed by %s (%v), want %s", res.Signer, si.Certificate != nil, f.personal)
		}
		recs := findAudit(main.audit(t), qlvbOrigin, "signHash", hex.EncodeToString(digest[:]), "")
		if len(recs) != 1 || recs[0].Result != "ok" {
			t.Errorf("audit records of the signHash: %+v", recs)
		}

		// vanban may connect (allowedOrigins) but not sign digests.
		other := main.connect(t, vanbanOrigin)
		a = other.call("signHash", params(), nil)
		if a.Err == nil || a.Err.Code != agent.CodeHashNotAllowed {
			t.Fatalf("signHash from %s answered %s %v, want %s", vanbanOrigin, a.Result, a.Err, agent.CodeHashNotAllowed)
		}
		recs = findAudit(main.audit(t), vanbanOrigin, "signHash", hex.EncodeToString(digest[:]), "")
		if len(recs) != 1 || recs[0].Result != agent.CodeHashNotAllowed {
			t.Errorf("audit records of the refused signHash: %+v", recs)
		}
	})

	t.Run("VerifyPdf", func(t *testing.T) {
		if issued == nil {
			t.Fatal("no issued decision to verify (SignPdfProfiles failed)")
		}
		c := main.connect(t, qlvbOrigin)
		a := c.call("verifyPdf", nil, []wsDoc{{Name: "quyet-dinh-27.pdf", Data: issued}})
		if a.Err != nil {
			t.Fatalf("verifyPdf: %v", a.Err)
		}
		var rep agent.VerificationReport
		if err := json.Unmarshal(a.Result, &rep); err != nil {
			t.Fatalf("report %s: %v", a.Result, err)
		}
		if rep.Schema != "kyso.verification/v1" || rep.Size != int64(len(issued)) || rep.SHA256 != sha256Hex(issued) || rep.File != "quyet-dinh-27.pdf" {
			t.Errorf("report header: schema %q, size %d, sha256 %s, file %q", rep.Schema, rep.Size, rep.SHA256, rep.File)
		}
		if len(rep.Signatures) != 2 {
			t.Fatalf("report has %d signatures, want 2:\n%s", len(rep.Signatures), a.Result)
		}
		for _, s := range rep.Signatures {
			if !s.Intact || !s.Trusted || s.Verdict != pades.Verdict("valid") {
				t.Errorf("signature %d (%s): verdict %s, intact %v, trusted %v", s.Index, s.Field, s.Verdict, s.Intact, s.Trusted)
			}
		}
		if rep.Verdict != pades.Verdict("valid") {
			t.Errorf("verdict %s, want valid:\n%s", rep.Verdict, a.Result)
		}
	})

	t.Run("BatchOnePIN", func(t *testing.T) {
		const n = 50
		docs := make([]wsDoc, n)
		for i := range docs {
			docs[i] = wsDoc{Name: fmt.Sprintf("cong-van-%02d.pdf", i+1), Data: f.letter}
		}
		c := batch.connect(t, qlvbOrigin)
		a := c.call("signPdfs", map[string]any{"options": signOpts("certificate", f.org)}, docs)
		if a.Err != nil {
			t.Fatalf("signPdfs: %v %v", a.Err, a.Err.Details)
		}
		metas := a.documents(t)
		if len(metas) != n {
			t.Fatalf("%d documents back, want %d", len(metas), n)
		}
		for i, m := range metas {
			if m.Name != docs[i].Name || !bytes.HasPrefix(a.Docs[i], f.letter) {
				t.Errorf("document %d: %+v, prefix %v", i, m, bytes.HasPrefix(a.Docs[i], f.letter))
			}
			checkIntact(t, m.Name, a.Docs[i], 1)
		}
		f.checkPdfsig(t, "cong-van-50.pdf", a.Docs[n-1], 1)
		if len(a.Progress) != n {
			t.Fatalf("%d progress events, want %d", len(a.Progress), n)
		}
		for i, p := range a.Progress {
			if p.Done != i+1 || p.Total != n || p.Document != docs[i].Name {
				t.Errorf("progress event %d: %+v", i, p)
			}
		}
		var ok int
		for _, r := range batch.audit(t) {
			if r.Method == "signPdfs" && r.Result == "ok" && r.Caller == qlvbOrigin && r.SHA256 == sha256Hex(f.letter) {
				ok++
			}
		}
		if ok != n {
			t.Errorf("%d audit records of batch signatures, want %d", ok, n)
		}
		// One dialog for the whole batch, listing every document, with
		// the PIN field.
		signs := signDialogs(batch.dialogs(t))
		if len(signs) != 1 {
			t.Fatalf("the batch showed %d signing dialogs, want 1: %+v", len(signs), signs)
		}
		if d := signs[0]; d.Action != "signPdfs" || d.Caller != qlvbOrigin || !d.PINNeeded || len(d.Documents) != n ||
			d.Documents[n-1].Name != docs[n-1].Name || d.Documents[0].SHA256 != sha256Hex(f.letter) ||
			d.Documents[0].Size != int64(len(f.letter)) || d.Documents[0].Pages < 1 || d.Certificate != string(f.org) {
			t.Errorf("the batch dialog: %+v", d)
		}
		// The script had one PIN: the batch took it in one dialog. The
		// next signature's dialog gets an empty PIN and fails.
		a = c.call("signPdf", map[string]any{"options": signOpts("certificate", f.org)}, []wsDoc{{Name: "sau.pdf", Data: f.letter}})
		if a.Err == nil {
			t.Fatalf("a second signature succeeded although the script's only PIN was used by the batch")
		}
		t.Logf("the request after the batch, with the PIN queue empty, answered %s", a.Err.Code)
	})

	t.Run("WrongPIN", func(t *testing.T) {
		c := wrongpin.connect(t, qlvbOrigin)
		opts := signOpts("certificate", f.personal)
		a := c.call("signPdf", map[string]any{"options": opts}, []wsDoc{{Name: "to-trinh.pdf", Data: f.letter}})
		if a.Err == nil || a.Err.Code != "PIN_INCORRECT" {
			t.Fatalf("signPdf with a wrong PIN answered %s %v, want PIN_INCORRECT", a.Result, a.Err)
		}
		if _, ok := a.Err.Details["retriesLeft"].(float64); !ok {
			t.Errorf("PIN_INCORRECT details %v: retriesLeft is not a number", a.Err.Details)
		}
		if len(a.Docs) != 0 {
			t.Errorf("%d documents sent with PIN_INCORRECT", len(a.Docs))
		}
		recs := findAudit(wrongpin.audit(t), qlvbOrigin, "signPdf", sha256Hex(f.letter), "")
		if len(recs) != 1 || recs[0].Result != "PIN_INCORRECT" || recs[0].Document != "to-trinh.pdf" {
			t.Fatalf("audit after the wrong PIN: %+v, want one PIN_INCORRECT record", recs)
		}
		// The PIN was asked once: the agent did not ask again on its own.
		if signs := signDialogs(wrongpin.dialogs(t)); len(signs) != 1 || !signs[0].PINNeeded || signs[0].Documents[0].Name != "to-trinh.pdf" {
			t.Fatalf("signing dialogs after the wrong PIN: %+v, want one asking for the PIN", signs)
		}
		// Had the agent asked again, it would have taken the right PIN
		// from the script and signed; the next request gets it instead,
		// and the token still works.
		out, _ := signPDF(t, c, "to-trinh.pdf", f.letter, opts)
		checkIntact(t, "to-trinh.pdf", out, 1)
		recs = findAudit(wrongpin.audit(t), qlvbOrigin, "signPdf", sha256Hex(f.letter), "")
		if len(recs) != 2 || recs[1].Result != "ok" {
			t.Errorf("audit after the right PIN: %+v", recs)
		}
		if signs := signDialogs(wrongpin.dialogs(t)); len(signs) != 2 || !signs[1].PINNeeded {
			t.Errorf("signing dialogs after the right PIN: %+v", signs)
		}
	})

	t.Run("Security", func(t *testing.T) {
		t.Run("OriginNotInPolicy", func(t *testing.T) {
			wantRefused(t, strict.url, originHeader("https://evil.example.com"), http.StatusForbidden, agent.CodeOriginNotAllowed)
		})
		t.Run("OriginNull", func(t *testing.T) {
			wantRefused(t, main.url, originHeader("null"), http.StatusForbidden, "ORIGIN_REQUIRED")
		})
		t.Run("LocalClient", func(t *testing.T) {
			wantRefused(t, main.url, http.Header{}, http.StatusForbidden, "ORIGIN_REQUIRED")
			wantRefused(t, main.url, http.Header{"X-Kyso-Secret": {strings.Repeat("0", 64)}}, http.StatusForbidden, "SECRET_INVALID")
			c := connectWS(t, main.url, http.Header{"X-Kyso-Secret": {main.secret(t)}})
			a := c.call("listCertificates", map[string]any{"withKey": true}, nil)
			var certs []struct {
				Handle string `json:"handle"`
			}
			if a.Err != nil || json.Unmarshal(a.Result, &certs) != nil || len(certs) != 2 {
				t.Fatalf("listCertificates as a local client: %s %v", a.Result, a.Err)
			}
			// The caller of a local client is "local" in the audit log.
			out, _ := signPDF(t, c, "local.pdf", f.letter, signOpts("certificate", f.personal))
			checkIntact(t, "local.pdf", out, 1)
			checkAuditOK(t, main, "local", "signPdf", "local.pdf", f.letter, "", f.personal)
		})
		t.Run("HostRebinding", func(t *testing.T) {
			port := strings.TrimPrefix(main.hostPort, "127.0.0.1:")
			h := originHeader(qlvbOrigin)
			h.Set("Host", "evil.example:"+port)
			wantRefused(t, main.url, h, http.StatusForbidden, "HOST_NOT_ALLOWED")
		})
		t.Run("LookAlikes", func(t *testing.T) {
			for _, tc := range []struct {
				origin string
				status int
				code   string
			}{
				{"https://qlvb.example.gov.vn.evil.com", http.StatusForbidden, agent.CodeOriginNotAllowed},
				{"https://evilqlvb.example.gov.vn", http.StatusForbidden, agent.CodeOriginNotAllowed},
				{"https://x.qlvb.example.gov.vn", http.StatusForbidden, agent.CodeOriginNotAllowed},
				{"http://qlvb.example.gov.vn", http.StatusForbidden, agent.CodeOriginNotAllowed},
				{"https://qlvb.example.gov.vn:444", http.StatusForbidden, agent.CodeOriginNotAllowed},
				{"https://qlvb.example.gov.vn:443", http.StatusBadRequest, "ORIGIN_MALFORMED"},
				{"https://qlvb.example.gov.vn/", http.StatusBadRequest, "ORIGIN_MALFORMED"},
				{"https://QLVB.example.gov.vn", http.StatusBadRequest, "ORIGIN_MALFORMED"},
			} {
				wantRefused(t, strict.url, originHeader(tc.origin), tc.status, tc.code)
			}
			// The exact origin is admitted by the same server.
			strict.connect(t, qlvbOrigin).Close()
		})
		t.Run("ApprovalDialogOnce", func(t *testing.T) {
			const origin = "https://dms.approved.example.vn"
			var wg sync.WaitGroup
			errs := make([]error, 5)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					conn, status, body, err := dialWS(main.url, originHeader(origin))
					if err != nil {
						errs[i] = fmt.Errorf("HTTP %d %s: %w", status, body, err)
						return
					}
					conn.Close()
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("connection %d of the approved origin: %v", i, err)
				}
			}
			// Approved now: a later connection needs no dialog.
			main.connect(t, origin).Close()
			if n := main.logCount(t, "origin approved by the user", origin); n != 1 {
				t.Errorf("%d approval dialogs answered for %s, want 1", n, origin)
			}
			if n := main.logCount(t, "origin not approved", origin); n != 0 {
				t.Errorf("%d approval dialogs failed for %s, want 0", n, origin)
			}
			var cfg agent.UserConfig
			data, err := os.ReadFile(main.configPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, a := range cfg.ApprovedOrigins {
				if a.Origin == origin {
					n++
				}
			}
			if n != 1 || len(cfg.ApprovedOrigins) != 1 {
				t.Errorf("the user configuration approves %+v, want %s once", cfg.ApprovedOrigins, origin)
			}
		})
		t.Run("RefusalRemembered", func(t *testing.T) {
			const origin = "https://dms.denied.example.vn"
			wantRefused(t, main.url, originHeader(origin), http.StatusForbidden, agent.CodeOriginNotAllowed)
			wantRefused(t, main.url, originHeader(origin), http.StatusForbidden, agent.CodeOriginBlocked)
			if n := main.logCount(t, "origin not approved", origin); n != 1 {
				t.Errorf("%d approval dialogs for %s, want 1", n, origin)
			}
		})
		t.Run("OversizedMessage", func(t *testing.T) {
			keep := main.connect(t, qlvbOrigin)
			big := main.connect(t, qlvbOrigin)
			msg := []byte(`{"id":"big","method":"status","params":{"pad":"` + strings.Repeat("a", 1<<20) + `"}}`)
			if err := big.writeText(msg); err != nil {
				t.Logf("writing the oversized message: %v", err)
			}
			err := big.closed()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
				t.Fatalf("the connection ended with %v, want close code 1009", err)
			}
			if a := keep.call("status", nil, nil); a.Err != nil {
				t.Fatalf("status on the other connection: %v", a.Err)
			}
		})
		t.Run("BadMessages", func(t *testing.T) {
			c := main.connect(t, qlvbOrigin)
			if err := c.writeText([]byte(`{"id": "m1", "method": `)); err != nil {
				t.Fatal(err)
			}
			a := c.waitNullAnswer()
			if a.Err == nil || a.Err.Code != "BAD_MESSAGE" {
				t.Errorf("malformed JSON answered %s %v, want BAD_MESSAGE", a.Result, a.Err)
			}
			a = c.call("frobnicate", map[string]any{}, nil)
			if a.Err == nil || a.Err.Code != "UNKNOWN_METHOD" || a.Err.Details["method"] != "frobnicate" {
				t.Errorf("an unknown method answered %s %v, want UNKNOWN_METHOD", a.Result, a.Err)
			}
			// The connection still works.
			if a := c.call("status", nil, nil); a.Err != nil {
				t.Errorf("status after bad messages: %v", a.Err)
			}
		})
	})

	t.Run("KillMidBatch", func(t *testing.T) {
		const n = 50
		docs := make([]wsDoc, n)
		for i := range docs {
			docs[i] = wsDoc{Name: fmt.Sprintf("to-trinh-%02d.pdf", i+1), Data: f.letter}
		}
		c := killed.connect(t, qlvbOrigin)
		// B-T: a timestamp per document keeps the batch busy long enough
		// for the kill to land in the middle.
		call := c.start("signPdfs", map[string]any{"options": signOpts("certificate", f.personal, "level", "B-T")}, docs)
		seen := 0
		for seen < 3 {
			select {
			case <-call.progressCh:
				seen++
			case <-c.done:
				t.Fatalf("the connection ended after %d progress events: %v", seen, c.err())
			case <-time.After(wsWait):
				t.Fatalf("only %d progress events within %s", seen, wsWait)
			}
		}
		killed.kill9(t)
		if err := c.closed(); err == nil {
			t.Error("the connection survived the server")
		}
		c.mu.Lock()
		seen = len(call.progress)
		c.mu.Unlock()

		// Every line of the audit file is a whole record ending in a
		// newline: a signature is recorded (and synced) before it is
		// handed out, and nothing else is written.
		raw, err := os.ReadFile(filepath.Join(killed.auditDir, agent.AuditFileName))
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) == 0 || raw[len(raw)-1] != '\n' {
			t.Fatalf("the audit log does not end with a whole line:\n%s", raw)
		}
		lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
		recs := killed.audit(t)
		if len(recs) != len(lines) {
			t.Fatalf("%d audit records in %d lines", len(recs), len(lines))
		}
		for i, line := range lines {
			var r agent.AuditRecord
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("audit line %d %q: %v", i+1, line, err)
			}
		}
		if len(recs) < seen || len(recs) > n {
			t.Fatalf("%d audit records after %d progress events of %d", len(recs), seen, n)
		}
		for i, r := range recs {
			if r.Result != "ok" || r.Method != "signPdfs" || r.Caller != qlvbOrigin || r.Document != docs[i].Name ||
				r.SHA256 != sha256Hex(f.letter) || r.Certificate != string(f.personal) {
				t.Errorf("audit record %d: %+v", i, r)
			}
		}
		t.Logf("killed after %d progress events; %d of %d signatures recorded", seen, len(recs), n)
	})

	// Last: no file any server wrote holds a PIN, right or wrong.
	t.Run("PINHygiene", func(t *testing.T) {
		f.mu.Lock()
		servers := slices.Clone(f.servers)
		f.mu.Unlock()
		files := 0
		for _, s := range servers {
			if s.name == "main" {
				// Something was logged and audited, so the search is not
				// vacuous.
				if !strings.Contains(s.log(t), `msg=signed`) || len(s.audit(t)) == 0 {
					t.Errorf("the main server logged or audited no signature")
				}
			}
			files += s.checkNoPIN(t, servePIN, serveWrongPIN, serveSOPIN)
		}
		t.Logf("searched %d files of %d servers", files, len(servers))
	})
}

// checkNoPIN fails the test for every file of the server's state that
// holds one of pins, and returns how many files it searched.
func (s *kysoServer) checkNoPIN(t *testing.T, pins ...string) int {
	t.Helper()
	files := 0
	err := filepath.WalkDir(s.state, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, pin := range pins {
			if bytes.Contains(data, []byte(pin)) {
				t.Errorf("%s contains the PIN %q", path, pin)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// wantRefused dials and expects the handshake refused with status and the
// JSON error code, before any upgrade.
func wantRefused(t *testing.T, url string, h http.Header, status int, code string) {
	t.Helper()
	conn, got, body, err := dialWS(url, h)
	if err == nil {
		conn.Close()
		t.Errorf("handshake with %v was accepted, want HTTP %d %s", h, status, code)
		return
	}
	if got != status || refusalCode(body) != code {
		t.Errorf("handshake with %v: HTTP %d %s, want %d %s", h, got, body, status, code)
	}
}

// pdfText is page 1 of pdf as pdftotext reads it.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "text.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-f", "1", "-l", "1", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}
