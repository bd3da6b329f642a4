package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/p11fault"
	"github.com/kyso-vn/kyso/internal/softhsm"
)

// The fixture: one SoftHSM environment per test binary (SoftHSM reads its
// configuration once per process), holding these tokens:
//
//	kyso-main   personal RSA-2048 (01), organisation RSA-3072 (02), personal EC P-256 (03)
//	kyso-pair   certificates whose CKA_ID differs from their key's (RSA 11, EC 12)
//	kyso-fault  personal RSA-2048 (21), used through the fault-injecting module only
//
// and the fault module built from internal/p11fault, forwarding to SoftHSM.
const (
	userPIN = "246810"
	soPIN   = "12345678"
)

type fixture struct {
	dir     string
	softhsm string // path of libsofthsm2.so
	fault   string // path of the fault module
	steer   *p11fault.Steering
	pki     *devpki.PKI
	certs   map[string]*x509.Certificate // by key label
}

var fx fixture

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "token tests: fixture:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "kyso-token-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	fx.dir = dir
	ctx := context.Background()
	env, err := softhsm.New(filepath.Join(dir, "softhsm"))
	if err != nil {
		return 0, err
	}
	for _, label := range []string{"kyso-main", "kyso-pair", "kyso-fault"} {
		if err := env.InitToken(ctx, label, soPIN, userPIN); err != nil {
			return 0, err
		}
	}
	if err := env.Setenv(); err != nil {
		return 0, err
	}
	if fx.softhsm, err = softhsm.ModulePath(); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "fault"), 0o755); err != nil {
		return 0, err
	}
	if fx.fault, err = p11fault.Build(filepath.Join(dir, "fault")); err != nil {
		return 0, err
	}
	fx.steer = &p11fault.Steering{Control: p11fault.ControlPath(fx.fault), Log: filepath.Join(dir, "fault", "calls.log"), PIN: userPIN}
	// Loaded with slot events on, so the module reports C_WaitForSlotEvent
	// support for the rest of the process.
	if err := fx.steer.Write(p11fault.Control{Present: true}); err != nil {
		return 0, err
	}

	fx.pki, err = devpki.New(devpki.Options{})
	if err != nil {
		return 0, err
	}
	fx.certs = map[string]*x509.Certificate{}
	provision := func(label string, specs []devpki.KeySpec) error {
		got, err := devpki.ProvisionToken(fx.softhsm, label, userPIN, fx.pki, specs)
		if err != nil {
			return fmt.Errorf("provision %s: %w", label, err)
		}
		for _, p := range got {
			fx.certs[p.Label] = p.Cert
		}
		return nil
	}
	org := devpki.Organisation()
	if err := provision("kyso-main", []devpki.KeySpec{
		{Label: "personal-rsa", ID: []byte{0x01}, Kind: devpki.RSA2048, Profile: devpki.Personal()},
		{Label: "organisation", ID: []byte{0x02}, Kind: devpki.RSA3072, Profile: org},
		{Label: "personal-ec", ID: []byte{0x03}, Kind: devpki.ECP256, Profile: devpki.Personal()},
	}); err != nil {
		return 0, err
	}
	if err := provision("kyso-pair", []devpki.KeySpec{
		{Label: "pair-rsa", ID: []byte{0x11}, CertID: []byte{0x99, 0x11}, Kind: devpki.RSA2048, Profile: devpki.Personal()},
		{Label: "pair-ec", ID: []byte{0x12}, CertID: []byte{0x99, 0x12}, Kind: devpki.ECP256, Profile: devpki.Personal()},
	}); err != nil {
		return 0, err
	}
	if err := provision("kyso-fault", []devpki.KeySpec{
		{Label: "fault-rsa", ID: []byte{0x21}, Kind: devpki.RSA2048, Profile: devpki.Personal()},
	}); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// newManager returns a manager over the given modules, closed at the end of
// the test.
func newManager(t *testing.T, modules ...string) *Manager {
	t.Helper()
	m := NewManager(Options{Modules: modules})
	t.Cleanup(func() { m.Close() })
	for _, s := range m.Modules() {
		if !s.Loaded {
			t.Fatalf("module %s not loaded: %s", s.Path, s.Error)
		}
	}
	return m
}

// certOn returns the certificate with the given key label on the token
// labelled tokenLabel.
func certOn(t *testing.T, m *Manager, tokenLabel, keyLabel string) (*Certificate, TokenInfo) {
	t.Helper()
	return certOnModule(t, m, "", tokenLabel, keyLabel)
}

// certOnModule is certOn restricted to one module ("" for any): with the
// fault module loaded, SoftHSM's tokens are visible through both.
func certOnModule(t *testing.T, m *Manager, module, tokenLabel, keyLabel string) (*Certificate, TokenInfo) {
	t.Helper()
	if module != "" {
		// Modules are reported by their resolved path.
		if r, err := filepath.EvalSymlinks(module); err == nil {
			module = r
		}
	}
	ctx := testContext(t)
	toks, err := m.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := m.Certificates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := HandleOf(fx.certs[keyLabel])
	for _, tk := range toks {
		if tk.Label != tokenLabel || module != "" && tk.Module != module {
			continue
		}
		for _, c := range certs {
			if c.TokenID == tk.ID && c.Handle == want {
				return c, tk
			}
		}
	}
	t.Fatalf("certificate %s not found on token %s", keyLabel, tokenLabel)
	return nil, TokenInfo{}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pinCounter is a PINSource that hands out a PIN and counts requests. Each
// call returns a fresh buffer, remembered so tests can check it was wiped.
type pinCounter struct {
	pin             string
	calls           atomic.Int32
	contextSpecific atomic.Int32
	buffers         chan []byte
}

func newPINCounter(pin string) *pinCounter {
	return &pinCounter{pin: pin, buffers: make(chan []byte, 1024)}
}

func (p *pinCounter) PIN(_ context.Context, req PINRequest) ([]byte, error) {
	p.calls.Add(1)
	if req.ContextSpecific {
		p.contextSpecific.Add(1)
	}
	b := []byte(p.pin)
	select {
	case p.buffers <- b:
	default:
	}
	return b, nil
}

// lockAll logs every token of m out, so a test starts without the login an
// earlier test left (login state is per token and process, not per session).
func lockAll(t *testing.T, m *Manager) {
	t.Helper()
	ctx := testContext(t)
	toks, err := m.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if err := m.Lock(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func digestOf(h crypto.Hash, msg string) []byte {
	w := h.New()
	w.Write([]byte(msg))
	return w.Sum(nil)
}

// verifyGo checks a signature with the standard library.
func verifyGo(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			return rsa.VerifyPSS(k, opts.HashFunc(), digest, sig, pss)
		}
		return rsa.VerifyPKCS1v15(k, opts.HashFunc(), digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return fmt.Errorf("ecdsa: verification failed")
		}
		return nil
	}
	return fmt.Errorf("unknown key %T", pub)
}

// verifyOpenSSL checks a signature with `openssl pkeyutl -verify`, an
// implementation nobody on this project wrote.
func verifyOpenSSL(t *testing.T, pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	t.Helper()
	dir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubPath := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	dgPath := write("digest.bin", digest)
	sigPath := write("sig.bin", sig)
	hashName := strings.ToLower(strings.ReplaceAll(opts.HashFunc().String(), "-", ""))
	args := []string{"pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-in", dgPath, "-sigfile", sigPath, "-pkeyopt", "digest:" + hashName}
	if _, ok := pub.(*rsa.PublicKey); ok {
		if _, pss := opts.(*rsa.PSSOptions); pss {
			args = append(args, "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:digest")
		} else {
			args = append(args, "-pkeyopt", "rsa_padding_mode:pkcs1")
		}
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("openssl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(string(out), "Signature Verified Successfully") {
		return fmt.Errorf("openssl did not verify: %s", out)
	}
	return nil
}
