package pades

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
)

// The fixture, shared by every test of the package: a test PKI, soft keys
// for a personal and an organisation signer (the token layer is tested on
// its own; the CLI tests sign through SoftHSM), and the corpus of
// real-world-shaped PDFs made with LibreOffice, Ghostscript, qpdf, mutool,
// img2pdf and pdfsig.
type signerKey struct {
	key  crypto.Signer
	cert *x509.Certificate
}

type fixture struct {
	dir      string
	pki      *devpki.PKI
	personal signerKey
	org      signerKey
	ecdsa    signerKey
	ecdsa384 signerKey
	samples  []pdfcorpus.Sample
	seeds    []pdfcorpus.Sample // small variants for the fuzzer
}

var fx fixture

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pades tests: fixture:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "kyso-pades-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	fx.dir = dir
	if fx.pki, err = devpki.New(devpki.Options{}); err != nil {
		return 0, err
	}
	mk := func(kind devpki.KeyKind, p devpki.Profile) (signerKey, error) {
		k, err := devpki.GenerateSoftKey(kind)
		if err != nil {
			return signerKey{}, err
		}
		c, err := fx.pki.Issue(p, k.Public())
		return signerKey{k, c}, err
	}
	if fx.personal, err = mk(devpki.RSA2048, devpki.Personal()); err != nil {
		return 0, err
	}
	if fx.org, err = mk(devpki.RSA3072, devpki.Organisation()); err != nil {
		return 0, err
	}
	if fx.ecdsa, err = mk(devpki.ECP256, devpki.Personal()); err != nil {
		return 0, err
	}
	if fx.ecdsa384, err = mk(devpki.ECP384, devpki.Personal()); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if fx.samples, err = pdfcorpus.Generate(ctx, filepath.Join(dir, "corpus"), fx.pki); err != nil {
		return 0, err
	}
	if fx.seeds, err = pdfcorpus.GenerateSeeds(ctx, filepath.Join(dir, "seeds")); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// sample returns the corpus file with the given name.
func sample(t testing.TB, name string) string {
	t.Helper()
	for _, s := range fx.samples {
		if s.Name == name {
			return s.Path
		}
	}
	t.Fatalf("no corpus sample %q", name)
	return ""
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func baseOptions() Options {
	return Options{Chain: []*x509.Certificate{fx.pki.Intermediate.Cert}}
}

// signFile signs in into a new file in the test's folder and returns its
// path.
func signFile(t testing.TB, in string, k signerKey, opts Options) (string, *Result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "signed.pdf")
	res, err := SignFile(testContext(t), in, out, k.key, k.cert, opts)
	if err != nil {
		t.Fatalf("sign %s: %v", filepath.Base(in), err)
	}
	return out, res
}

func roots() []*x509.Certificate { return []*x509.Certificate{fx.pki.Root.Cert} }
