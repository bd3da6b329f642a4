package cms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
)

// testContext returns a context that ends with the test or after a minute,
// whichever comes first, so a hung TSA cannot stall the suite.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newPKI creates a test PKI with CA keys of kind (fast P-384 when zero).
func newPKI(t testing.TB, kind devpki.KeyKind) *devpki.PKI {
	t.Helper()
	if kind == 0 {
		kind = devpki.ECP384
	}
	pki, err := devpki.New(devpki.Options{KeyKind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

// newSigner generates a key of kind and issues it a personal certificate.
func newSigner(t testing.TB, pki *devpki.PKI, kind devpki.KeyKind) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	key, err := devpki.GenerateSoftKey(kind)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.Issue(devpki.Personal(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// randomData returns n random bytes: the "document" whose digest is signed.
func randomData(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// digestOf hashes data with h.
func digestOf(h crypto.Hash, data []byte) []byte {
	hh := h.New()
	hh.Write(data)
	return hh.Sum(nil)
}

// pemCerts encodes certificates as concatenated PEM blocks.
func pemCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// writeFile writes data to name in dir and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// openssl runs the openssl command line tool and returns its combined
// output. A missing tool fails the test: the independent verifier is the
// point of these tests.
func openssl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is required: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}

// opensslVerifyCMS verifies a detached CMS over data with openssl, trusting
// only root. The intermediates travel inside the CMS.
func opensslVerifyCMS(t testing.TB, der, data []byte, root *x509.Certificate) (string, error) {
	t.Helper()
	dir := t.TempDir()
	sig := writeFile(t, dir, "sig.der", der)
	content := writeFile(t, dir, "data.bin", data)
	ca := writeFile(t, dir, "root.pem", pemCerts(root))
	return openssl(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", sig,
		"-content", content, "-CAfile", ca, "-purpose", "any", "-out", os.DevNull)
}
