package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kyso-vn/kyso/internal/devpki"
)

func TestListTokensAndCertificates(t *testing.T) {
	m := newManager(t, fx.softhsm)
	personal, tok := certOn(t, m, "kyso-main", "personal-rsa")
	org, _ := certOn(t, m, "kyso-main", "organisation")
	ec, _ := certOn(t, m, "kyso-main", "personal-ec")

	if tok.Manufacturer != "SoftHSM project" || tok.Serial == "" || !tok.Flags.LoginRequired || !tok.Flags.Initialized {
		t.Errorf("token info = %+v", tok)
	}
	if tok.PIN.Locked || tok.PIN.FinalTry {
		t.Errorf("fresh token reports PIN state %+v", tok.PIN)
	}
	for _, mech := range []string{"RSA_PKCS", "RSA_PKCS_PSS", "ECDSA"} {
		if !contains(tok.Mechanisms, mech) {
			t.Errorf("mechanisms %v lack %s", tok.Mechanisms, mech)
		}
	}

	tests := []struct {
		name     string
		c        *Certificate
		kind     Kind
		idType   string
		keyType  string
		keySize  int
		label    string
		keyID    string
		wantName string
	}{
		{"personal RSA", personal, KindPersonal, "CCCD", "RSA", 2048, "personal-rsa", "01", devpki.Personal().CommonName},
		{"organisation", org, KindOrganisation, "MST", "RSA", 3072, "organisation", "02", devpki.Organisation().CommonName},
		{"personal EC", ec, KindPersonal, "CCCD", "EC", 256, "personal-ec", "03", devpki.Personal().CommonName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if c.Identity.Kind != tt.kind {
				t.Errorf("kind = %s, want %s", c.Identity.Kind, tt.kind)
			}
			if c.Identity.ID(tt.idType) == "" {
				t.Errorf("no %s in %+v", tt.idType, c.Identity.IDs)
			}
			if c.Identity.Name != tt.wantName {
				t.Errorf("name = %q, want %q", c.Identity.Name, tt.wantName)
			}
			if c.KeyType != tt.keyType || c.KeySize != tt.keySize {
				t.Errorf("key = %s %d", c.KeyType, c.KeySize)
			}
			if !c.HasPrivateKey {
				t.Error("private key not paired")
			}
			if c.Label != tt.label || c.ID != tt.keyID {
				t.Errorf("label/id = %q/%q", c.Label, c.ID)
			}
			if c.Issuer != fx.pki.Intermediate.Cert.Subject.CommonName {
				t.Errorf("issuer = %q", c.Issuer)
			}
			if !c.CanSign() {
				t.Error("CanSign = false")
			}
		})
	}
	if personal.Identity.Organization == "" || personal.Identity.Title == "" {
		t.Errorf("personal certificate lacks O or T: %+v", personal.Identity)
	}
	if org.Identity.ID("MNS") == "" {
		t.Errorf("organisation certificate lacks MNS: %+v", org.Identity.IDs)
	}
}

func TestSignAlgorithms(t *testing.T) {
	m := newManager(t, fx.softhsm)
	pins := newPINCounter(userPIN)
	tests := []struct {
		name string
		key  string
		opts crypto.SignerOpts
	}{
		{"RSA PKCS#1 v1.5 SHA-256", "personal-rsa", crypto.SHA256},
		{"RSA PKCS#1 v1.5 SHA-384", "personal-rsa", crypto.SHA384},
		{"RSA PKCS#1 v1.5 SHA-512", "organisation", crypto.SHA512},
		{"RSA-PSS SHA-256", "personal-rsa", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"RSA-PSS SHA-384 auto salt", "organisation", &rsa.PSSOptions{Hash: crypto.SHA384, SaltLength: rsa.PSSSaltLengthAuto}},
		{"ECDSA P-256 SHA-256", "personal-ec", crypto.SHA256},
		{"ECDSA P-256 SHA-384", "personal-ec", crypto.SHA384},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			c, _ := certOn(t, m, "kyso-main", tt.key)
			s, err := m.Signer(ctx, c.Handle, pins)
			if err != nil {
				t.Fatal(err)
			}
			digest := digestOf(tt.opts.HashFunc(), "Quyết định 15/QĐ-UBND "+tt.name)
			sig, err := s.SignContext(ctx, digest, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyGo(s.Public(), digest, sig, tt.opts); err != nil {
				t.Errorf("Go: %v", err)
			}
			if err := verifyOpenSSL(t, s.Public(), digest, sig, tt.opts); err != nil {
				t.Errorf("OpenSSL: %v", err)
			}
			// The independent check must be able to fail.
			bad := bytes.Clone(sig)
			bad[len(bad)/2] ^= 0x40
			if err := verifyOpenSSL(t, s.Public(), digest, bad, tt.opts); err == nil {
				t.Error("OpenSSL accepted a corrupted signature")
			}
		})
	}
}

func TestSignRejectsBadRequests(t *testing.T) {
	m := newManager(t, fx.softhsm)
	ctx := testContext(t)
	c, _ := certOn(t, m, "kyso-main", "personal-rsa")
	s, err := m.Signer(ctx, c.Handle, newPINCounter(userPIN))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"SHA-1 refused", digestOf(crypto.SHA1, "x"), crypto.SHA1},
		{"digest length mismatch", []byte("short"), crypto.SHA256},
		{"no hash", digestOf(crypto.SHA256, "x"), crypto.Hash(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.SignContext(ctx, tt.digest, tt.opts)
			if CodeOf(err) != CodeBadRequest {
				t.Fatalf("err = %v, want %s", err, CodeBadRequest)
			}
		})
	}
}

func TestPairingByIDAndByPublicKey(t *testing.T) {
	m := newManager(t, fx.softhsm)
	pins := newPINCounter(userPIN)
	for _, key := range []string{"pair-rsa", "pair-ec"} {
		t.Run(key, func(t *testing.T) {
			ctx := testContext(t)
			c, _ := certOn(t, m, "kyso-pair", key)
			if !c.HasPrivateKey {
				t.Fatal("certificate with a foreign CKA_ID not paired by public key")
			}
			if !strings.HasPrefix(c.ID, "99") {
				t.Fatalf("fixture: certificate CKA_ID = %s, want the mismatching 99…", c.ID)
			}
			s, err := m.Signer(ctx, c.Handle, pins)
			if err != nil {
				t.Fatal(err)
			}
			digest := digestOf(crypto.SHA256, key)
			sig, err := s.SignContext(ctx, digest, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyOpenSSL(t, s.Public(), digest, sig, crypto.SHA256); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConcurrentSigners(t *testing.T) {
	m := newManager(t, fx.softhsm)
	ctx := testContext(t)
	lockAll(t, m)
	c, _ := certOn(t, m, "kyso-main", "personal-rsa")
	pins := newPINCounter(userPIN)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := m.Signer(ctx, c.Handle, pins)
			if err != nil {
				errs <- err
				return
			}
			digest := digestOf(crypto.SHA256, "goroutine "+string(rune('A'+i)))
			sig, err := s.SignContext(ctx, digest, crypto.SHA256)
			if err != nil {
				errs <- err
				return
			}
			errs <- verifyGo(s.Public(), digest, sig, crypto.SHA256)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The session is shared: one login serves all sixteen.
	if got := pins.calls.Load(); got != 1 {
		t.Errorf("PIN asked %d times for 16 signatures on one token, want 1", got)
	}
}

func TestPINBufferWipedAfterLogin(t *testing.T) {
	m := newManager(t, fx.softhsm)
	ctx := testContext(t)
	lockAll(t, m)
	c, _ := certOn(t, m, "kyso-main", "personal-rsa")
	pins := newPINCounter(userPIN)
	s, err := m.Signer(ctx, c.Handle, pins)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignContext(ctx, digestOf(crypto.SHA256, "wipe"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if pins.calls.Load() != 1 {
		t.Fatalf("PIN asked %d times, want 1", pins.calls.Load())
	}
	buf := <-pins.buffers
	if len(buf) != len(userPIN) {
		t.Fatalf("buffer length changed to %d", len(buf))
	}
	if !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Errorf("PIN buffer after login = %q, want all zeros", buf)
	}
}

func TestPINSourceErrors(t *testing.T) {
	m := newManager(t, fx.softhsm)
	ctx := testContext(t)
	c, _ := certOn(t, m, "kyso-main", "personal-rsa")
	tests := []struct {
		name string
		src  PINSource
		want Code
	}{
		{"user cancels", PINFunc(func(context.Context, PINRequest) ([]byte, error) { return nil, errors.New("dialog closed") }), CodeCancelled},
		{"empty PIN is not sent", PINFunc(func(context.Context, PINRequest) ([]byte, error) { return []byte{}, nil }), CodePINInvalid},
		{"no PIN source", nil, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lockAll(t, m)
			s, err := m.Signer(ctx, c.Handle, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.SignContext(ctx, digestOf(crypto.SHA256, "x"), crypto.SHA256)
			if CodeOf(err) != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestCancelWhileWaitingForPIN(t *testing.T) {
	m := newManager(t, fx.softhsm)
	lockAll(t, m)
	c, _ := certOn(t, m, "kyso-main", "personal-rsa")
	ctx, cancel := context.WithCancel(testContext(t))
	asked := make(chan struct{})
	src := PINFunc(func(ctx context.Context, _ PINRequest) ([]byte, error) {
		close(asked)
		<-ctx.Done() // the user never answers
		return nil, ctx.Err()
	})
	s, err := m.Signer(ctx, c.Handle, src)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.SignContext(ctx, digestOf(crypto.SHA256, "x"), crypto.SHA256)
		done <- err
	}()
	<-asked
	cancel()
	if err := <-done; !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v, want CANCELLED", err)
	}
	// The token is free again for the next caller.
	s2, err := m.Signer(testContext(t), c.Handle, newPINCounter(userPIN))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.SignContext(testContext(t), digestOf(crypto.SHA256, "y"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownCertificate(t *testing.T) {
	m := newManager(t, fx.softhsm)
	_, err := m.Signer(testContext(t), Handle(strings.Repeat("ab", 32)), nil)
	if !errors.Is(err, ErrCertificateNotFound) {
		t.Fatalf("err = %v, want CERT_NOT_FOUND", err)
	}
}

func TestPKCS12Store(t *testing.T) {
	dir := t.TempDir()
	key, err := devpki.GenerateSoftKey(devpki.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := fx.pki.Issue(devpki.Organisation(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "org.p12")
	if err := devpki.WritePKCS12(path, key, cert, fx.pki.Chain(), "mật khẩu"); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)

	pass := []byte("mật khẩu")
	st, err := OpenPKCS12(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pass, make([]byte, len(pass))) {
		t.Error("password buffer not wiped")
	}
	var store Store = st
	certs, err := store.Certificates(ctx)
	if err != nil || len(certs) != 1 {
		t.Fatalf("certificates = %v, %v", certs, err)
	}
	c := certs[0]
	if c.Identity.Kind != KindOrganisation || c.Identity.ID("MST") == "" || !c.HasPrivateKey {
		t.Errorf("certificate = %+v", c.Identity)
	}
	s, err := store.Signer(ctx, c.Handle, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []crypto.SignerOpts{crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}} {
		digest := digestOf(crypto.SHA256, "p12")
		sig, err := s.SignContext(ctx, digest, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyOpenSSL(t, s.Public(), digest, sig, opts); err != nil {
			t.Error(err)
		}
	}
	if _, err := s.SignContext(ctx, digestOf(crypto.SHA1, "x"), crypto.SHA1); CodeOf(err) != CodeBadRequest {
		t.Errorf("SHA-1 on a file key: err = %v, want BAD_REQUEST like the token signer", err)
	}

	_, err = OpenPKCS12(path, []byte("sai mật khẩu"))
	if !errors.Is(err, ErrPasswordIncorrect) {
		t.Fatalf("wrong password: err = %v, want PASSWORD_INCORRECT", err)
	}
	notP12 := filepath.Join(dir, "not.p12")
	if err := os.WriteFile(notP12, []byte("not a PKCS#12 file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPKCS12(notP12, []byte("x")); err == nil || errors.Is(err, ErrPasswordIncorrect) {
		t.Fatalf("garbage file: err = %v, want a non-password error", err)
	}
}

func TestModuleLoadFailuresDoNotStopOthers(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.so")
	if err := os.WriteFile(text, []byte("this is not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A shared library without C_GetFunctionList.
	noSym := filepath.Join(dir, "nosym.so")
	src := filepath.Join(dir, "nosym.c")
	if err := os.WriteFile(src, []byte("int kyso_not_pkcs11(void) { return 42; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cc", "-shared", "-fPIC", "-o", noSym, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v: %s", err, out)
	}
	// The fault module with its e_machine patched to AArch64.
	arm := filepath.Join(dir, "arm64.so")
	orig, err := os.ReadFile(fx.fault)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Clone(orig)
	data[18], data[19] = 183, 0 // EM_AARCH64, little endian
	if err := os.WriteFile(arm, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// A Windows DLL, built with the mingw cross compiler CI installs.
	dll := filepath.Join(dir, "vendor.dll")
	if out, err := exec.Command("x86_64-w64-mingw32-gcc", "-shared", "-o", dll, src).CombinedOutput(); err != nil {
		t.Fatalf("x86_64-w64-mingw32-gcc (package gcc-mingw-w64-x86-64): %v: %s", err, out)
	}
	// A copy of the fault module whose C_Initialize fails; the copy has its
	// own control file and state.
	initFail := filepath.Join(dir, "initfail.so")
	if err := os.WriteFile(initFail, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initFail+".conf", []byte("present=1\nfail.C_Initialize=0x6\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	m := NewManager(Options{Modules: []string{filepath.Join(dir, "missing.so"), text, noSym, arm, dll, initFail, fx.softhsm}})
	defer m.Close()
	want := map[string]string{
		"missing.so":  "no such file",
		"text.so":     "not a shared library",
		"nosym.so":    "no C_GetFunctionList",
		"arm64.so":    "wrong architecture",
		"vendor.dll":  "Windows DLL",
		"initfail.so": "C_Initialize failed: CKR_FUNCTION_FAILED",
	}
	st := m.Modules()
	if len(st) != len(want)+1 {
		t.Fatalf("statuses = %+v", st)
	}
	for _, s := range st {
		base := filepath.Base(s.Path)
		if base == filepath.Base(fx.softhsm) {
			if !s.Loaded {
				t.Errorf("SoftHSM not loaded: %s", s.Error)
			}
			continue
		}
		if s.Loaded {
			t.Errorf("%s loaded, want a failure", base)
			continue
		}
		if !strings.Contains(s.Error, want[base]) {
			t.Errorf("%s: error %q does not contain %q", base, s.Error, want[base])
		}
	}
	if m.Loaded() != 1 {
		t.Errorf("Loaded = %d, want 1", m.Loaded())
	}
	if _, tok := certOn(t, m, "kyso-main", "personal-rsa"); tok.Label != "kyso-main" {
		t.Error("tokens of the good module not listed")
	}
}

func TestModuleLoadedOncePerProcess(t *testing.T) {
	a := newManager(t, fx.softhsm)
	b := newManager(t, fx.softhsm, fx.softhsm)
	if len(b.mods) != 1 {
		t.Fatalf("the same module named twice loaded %d times", len(b.mods))
	}
	if a.mods[0] != b.mods[0] {
		t.Fatal("two managers loaded the module separately")
	}
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"libbit4xpki.so", "libeToken.so"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "libeToken.so"), filepath.Join(dir, "libeTPkcs11.so")); err != nil {
		t.Fatal(err)
	}
	configured := filepath.Join(dir, "configured-but-missing.so")
	got := discoverIn([]string{configured}, []string{dir, filepath.Join(dir, "nope")}, defaultModuleNames())
	want := []string{configured, filepath.Join(dir, "libbit4xpki.so"), filepath.Join(dir, "libeToken.so")}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("discoverIn = %q, want %q (symlinked duplicate dropped, missing configured path kept)", got, want)
	}
	for _, n := range []string{"libbit4xpki.so", "opensc-pkcs11.so", "libsofthsm2.so"} {
		if !contains(defaultModuleNames(), n) {
			t.Errorf("default names lack %s", n)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestSessionReusedUntilLocked(t *testing.T) {
	m := newManager(t, fx.softhsm)
	lockAll(t, m)
	c, tok := certOn(t, m, "kyso-main", "personal-ec")
	pins := newPINCounter(userPIN)
	s, err := m.SignerOn(testContext(t), tok.ID, c.Handle, pins)
	if err != nil {
		t.Fatal(err)
	}
	sign := func() {
		t.Helper()
		if _, err := s.SignContext(testContext(t), digestOf(crypto.SHA256, "x"), crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	sign()
	sign()
	if got := pins.calls.Load(); got != 1 {
		t.Fatalf("PIN asked %d times for two signatures, want 1", got)
	}
	if err := m.Lock(testContext(t), tok.ID); err != nil {
		t.Fatal(err)
	}
	sign()
	if got := pins.calls.Load(); got != 2 {
		t.Fatalf("PIN asked %d times after locking, want 2", got)
	}
	if err := m.Lock(testContext(t), "no-such-token"); !errors.Is(err, ErrTokenAbsent) {
		t.Fatalf("Lock(unknown) = %v, want TOKEN_ABSENT", err)
	}
}
