package devpki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/miekg/pkcs11"
)

// Throw-away PINs of the test tokens.
const (
	testSOPIN   = "87654321"
	testUserPIN = "654321"
)

// Environment variables that turn the test binary into the SetupDemo helper
// process (see demo_test.go).
const (
	helperDirEnv = "KYSO_DEVPKI_DEMO_HELPER_DIR"
	helperOutEnv = "KYSO_DEVPKI_DEMO_HELPER_OUT"
)

// testModulePath is the SoftHSM module. TestMain sets it once, before any
// test runs; tests only read it.
var testModulePath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain prepares SoftHSM and runs the tests; it returns the exit code so
// that deferred cleanup runs.
func runMain(m *testing.M) int {
	if _, err := exec.LookPath("openssl"); err != nil {
		fmt.Fprintln(os.Stderr, "devpki tests need the openssl command (apt-get install openssl):", err)
		return 1
	}
	if err := softhsm.Available(); err != nil {
		fmt.Fprintln(os.Stderr, "devpki tests need SoftHSM 2:", err)
		return 1
	}
	mod, err := softhsm.ModulePath()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testModulePath = mod
	if os.Getenv(helperDirEnv) != "" {
		// Helper process: SetupDemo must find a process that has not
		// touched SoftHSM yet, exactly like "make demo".
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "kyso-devpki-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env, err := softhsm.New(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// SOFTHSM2_CONF must be set before anything loads the module. Tests
	// then create their tokens in-process with newTestToken, the one way
	// a token made after C_Initialize is visible (see internal/softhsm);
	// tokens made by softhsm2-util now would be invisible, and fixed
	// tokens made here would be dirty on the second run of -count=N.
	if err := env.Setenv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// fixedNow is the clock of test PKIs, so that validity checks do not depend
// on when the tests run.
func fixedNow() time.Time { return time.Date(2025, time.June, 15, 8, 30, 0, 0, time.UTC) }

// newTestPKI creates a PKI with P-384 CA keys (fast) and the fixed clock.
func newTestPKI(t *testing.T) *PKI {
	t.Helper()
	p, err := New(Options{Now: fixedNow(), KeyKind: ECP384, BaseURL: "http://127.0.0.1:18099/"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// verifyOpts returns chain verification options for signing certificates
// at time at.
func verifyOpts(p *PKI, at time.Time) x509.VerifyOptions {
	return x509.VerifyOptions{
		Roots:         p.Roots(),
		Intermediates: p.Intermediates(),
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
}

// writePEM writes certificates to a PEM file in dir and returns its path.
func writePEM(t *testing.T, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, EncodeCertificatesPEM(certs...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runOpenSSL runs openssl and returns its combined output and error.
func runOpenSSL(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err
}

// opensslVerify runs "openssl verify -CAfile root -untrusted intermediate
// leaf" at the PKI clock, plus extra arguments, and returns the output and
// whether openssl accepted the chain.
func opensslVerify(t *testing.T, p *PKI, leaf *x509.Certificate, extra ...string) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"verify",
		"-attime", fmt.Sprint(p.Now().Unix()),
		"-CAfile", writePEM(t, dir, "root.pem", p.Root.Cert),
		"-untrusted", writePEM(t, dir, "intermediate.pem", p.Intermediate.Cert),
	}
	args = append(args, extra...)
	args = append(args, writePEM(t, dir, "leaf.pem", leaf))
	out, err := runOpenSSL(t, args...)
	return out, err == nil && strings.Contains(out, ": OK")
}

// opensslSubject returns the subject of cert as openssl prints it with one
// attribute per line and UTF-8 output.
func opensslSubject(t *testing.T, cert *x509.Certificate) string {
	t.Helper()
	path := writePEM(t, t.TempDir(), "cert.pem", cert)
	out, err := runOpenSSL(t, "x509", "-in", path, "-noout", "-subject", "-nameopt", "utf8,sep_multiline")
	if err != nil {
		t.Fatalf("openssl x509 -subject: %v\n%s", err, out)
	}
	return out
}

// newTestToken initialises a fresh token with a random label in the free
// slot, through the process-wide module, and returns the label. SoftHSM
// makes such a token visible at once and opens a new free slot.
//
// Call it before t.Parallel: two concurrent C_InitToken calls could pick
// the same free slot, and the second would wipe the first's token. Top
// level tests run their code up to t.Parallel one at a time.
func newTestToken(t *testing.T) string {
	t.Helper()
	mod, err := loadModule(testModulePath)
	if err != nil {
		t.Fatal(err)
	}
	slots, err := mod.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	free, found := uint(0), false
	for _, s := range slots {
		info, err := mod.GetTokenInfo(s)
		if err != nil {
			t.Fatal(err)
		}
		if info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			free, found = s, true
			break
		}
	}
	if !found {
		t.Fatalf("no free SoftHSM slot among %v", slots)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	label := "test-" + hex.EncodeToString(b)
	if err := mod.InitToken(free, testSOPIN, label); err != nil {
		t.Fatalf("C_InitToken: %v", err)
	}
	sh, err := mod.OpenSession(free, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.CloseSession(sh)
	if err := mod.Login(sh, pkcs11.CKU_SO, testSOPIN); err != nil {
		t.Fatalf("SO login: %v", err)
	}
	defer mod.Logout(sh)
	if err := mod.InitPIN(sh, testUserPIN); err != nil {
		t.Fatalf("C_InitPIN: %v", err)
	}
	return label
}
