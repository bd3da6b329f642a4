package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pkitest"
	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/kyso-vn/kyso/internal/testimages"
	"github.com/kyso-vn/kyso/internal/tsatest"
	"github.com/kyso-vn/kyso/token"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"kyso": main})
}

// TestScripts runs the CLI scenarios in testdata/script, one file each, the
// way age tests its CLI. Scripts see a SoftHSM token "kyso-cli" holding the
// test personal and organisation certificates:
//
//	$SOFTHSM2_CONF    the token's configuration
//	$SOFTHSM_MODULE   libsofthsm2.so
//	$P12              a PKCS#12 file (password in $P12PASS, a file)
//	$PIN_FILE         the token's user PIN
//	$LETTER           a sample Vietnamese decision (testdata/sample)
//	$PERSONAL_CERT    the personal certificate and its intermediate, PEM
//	$NSSDB            an NSS database trusting the test root, for pdfsig
//	$TSA_URL          a local RFC 3161 timestamp authority
//	$SIG_PNG          a blue handwritten-signature PNG (generated)
//	$SEAL_PNG         a red round seal PNG at 300 dpi (generated)
//	$TEMPLATE         the sample decision with number and date still blank
//	$TEMPLATES        a templates file giving the organisation its seal
//	$ROOT_PEM         the test root CA, PEM (for kyso verify --trust)
//
// The test PKI's OCSP responder and CRLs are served on 127.0.0.1, as the
// certificates say. `agree FILE` checks that pdfsig and kyso verify give
// every signature of FILE the same verdict.
//
// cliFixture is the SoftHSM token, PKI, files and services that CLI tests
// and benchmarks share.
type cliFixture struct {
	dir, module, conf          string
	p12, pass, pinFile, letter string
	personalPEM, sigPNG        string
	sealPNG, template          string
	templates                  string
	pki                        *devpki.PKI
	rootPEM                    string
	nss                        *pdfcheck.NSSDB
	tsa                        *tsatest.Server
}

func newCLIFixture(t testing.TB) *cliFixture {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	env, err := softhsm.New(filepath.Join(dir, "softhsm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken(ctx, "kyso-cli", "12345678", "123456"); err != nil {
		t.Fatal(err)
	}
	module, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	// Only the provisioning below loads SoftHSM in this process; the
	// scripts' kyso processes load it themselves.
	os.Setenv(softhsm.ConfEnvVar, env.ConfPath) //nolint: the fixture is set up once per test binary
	// The PKI's OCSP responder and CRLs are served on 127.0.0.1 for as
	// long as the test runs, so verification and B-LT go online for real.
	pkiSrv := pkitest.Start(t, pkitest.Options{KeyKind: devpki.RSA3072})
	pki := pkiSrv.PKI
	rootPEM := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(rootPEM, devpki.EncodeCertificatesPEM(pki.Root.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	provisioned, err := devpki.ProvisionToken(module, "kyso-cli", "123456", pki, []devpki.KeySpec{
		{Label: "personal", ID: []byte{1}, Kind: devpki.RSA2048, Profile: devpki.Personal()},
		{Label: "organisation", ID: []byte{2}, Kind: devpki.ECP256, Profile: devpki.Organisation()},
	}, devpki.WithIntermediateCert(""))
	if err != nil {
		t.Fatal(err)
	}
	personalPEM := filepath.Join(dir, "personal.pem")
	if err := os.WriteFile(personalPEM, devpki.EncodeCertificatesPEM(provisioned[0].Cert, pki.Intermediate.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "pin.txt")
	if err := os.WriteFile(pinFile, []byte("123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	letter, err := filepath.Abs("../../testdata/sample/quyet-dinh.pdf")
	if err != nil {
		t.Fatal(err)
	}
	template, err := filepath.Abs("../../testdata/sample/quyet-dinh-chua-so.pdf")
	if err != nil {
		t.Fatal(err)
	}
	sigPNG := filepath.Join(dir, "chu-ky.png")
	png, err := testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sigPNG, png, 0o644); err != nil {
		t.Fatal(err)
	}
	sealPNG := filepath.Join(dir, "con-dau.png")
	seal, err := testimages.EncodePNG(testimages.Seal(480), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sealPNG, seal, 0o644); err != nil {
		t.Fatal(err)
	}
	// Per-signer templates: the organisation's seal, found by its handle.
	templates := filepath.Join(dir, "templates.json")
	tmpl := fmt.Sprintf(`{"schema":"kyso.templates/v1","templates":[{"cert":%q,"sealImage":"con-dau.png","sealMM":40}]}`,
		token.HandleOf(provisioned[1].Cert))
	if err := os.WriteFile(templates, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	nss := pdfcheck.NewNSSDB(t, pki.Root.Cert)
	tsa := tsatest.Start(t, pki, tsatest.Options{})
	key, err := devpki.GenerateSoftKey(devpki.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.Issue(devpki.Organisation(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	p12 := filepath.Join(dir, "org.p12")
	if err := devpki.WritePKCS12(p12, key, cert, pki.Chain(), "mật-khẩu"); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(dir, "pass.txt")
	if err := os.WriteFile(pass, []byte("mật-khẩu\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	return &cliFixture{dir: dir, module: module, conf: env.ConfPath, p12: p12, pass: pass, pinFile: pinFile,
		letter: letter, personalPEM: personalPEM, sigPNG: sigPNG, sealPNG: sealPNG, template: template, templates: templates, pki: pki, rootPEM: rootPEM, nss: nss, tsa: tsa}
}

func TestScripts(t *testing.T) {
	f := newCLIFixture(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv(softhsm.ConfEnvVar, f.conf)
			e.Setenv("SOFTHSM_MODULE", f.module)
			e.Setenv("P12", f.p12)
			e.Setenv("P12PASS", f.pass)
			e.Setenv("KYSO_LANG", "")
			e.Setenv("KYSO_PIN", "")
			e.Setenv("PIN_FILE", f.pinFile)
			e.Setenv("LETTER", f.letter)
			e.Setenv("PERSONAL_CERT", f.personalPEM)
			e.Setenv("NSSDB", "sql:"+f.nss.Dir)
			e.Setenv("TSA_URL", f.tsa.URL)
			e.Setenv("SIG_PNG", f.sigPNG)
			e.Setenv("SEAL_PNG", f.sealPNG)
			e.Setenv("TEMPLATE", f.template)
			e.Setenv("TEMPLATES", f.templates)
			e.Setenv("ROOT_PEM", f.rootPEM)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": cmdExits,
			"agree": cmdAgree,
			"flip":  cmdFlip,
		},
	})
}

// cmdAgree runs pdfsig and kyso verify (offline: pdfsig's verdict ignores
// revocation) on a file and fails when they disagree on a signature:
//
//	agree signed.pdf
//
// It leaves the script's stdout and stderr alone.
func cmdAgree(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: agree FILE")
	}
	file := ts.MkAbs(args[0])
	out, err := exec.Command("pdfsig", "-nssdir", ts.Getenv("NSSDB"), "-no-ocsp", file).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		ts.Fatalf("pdfsig: %v", err)
	}
	sigs, err := pdfcheck.ParsePdfsig(string(out))
	if err != nil {
		ts.Fatalf("pdfsig: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"verify", "--json", "--offline", "--trust", ts.Getenv("ROOT_PEM"), file}, &stdout, &stderr)
	if code != 0 && code != 1 && code != 5 {
		ts.Fatalf("kyso verify exit %d: %s", code, stderr.String())
	}
	var rep agent.VerificationReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		ts.Fatalf("kyso verify --json: %v", err)
	}
	verdicts := make([]string, len(rep.Signatures))
	for i, s := range rep.Signatures {
		verdicts[i] = string(s.Verdict)
	}
	if err := pdfcheck.Agree(sigs, verdicts); err != nil {
		ts.Logf("pdfsig:\n%s\nkyso:\n%s", out, stdout.String())
		ts.Fatalf("%v", err)
	}
}

// cmdFlip flips the lowest bit of the byte at an offset, in place:
//
//	flip signed.pdf 11
func cmdFlip(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flip FILE OFFSET")
	}
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	if off < 0 || off >= len(data) {
		ts.Fatalf("flip: offset %d outside %d bytes", off, len(data))
	}
	data[off] ^= 1
	ts.Check(os.WriteFile(path, data, 0o644))
}

// cmdExits runs a command and checks its exact exit code:
//
//	exits 3 kyso tokens --module /nope.so
//
// stdout and stderr are kept for the assertions that follow.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}
