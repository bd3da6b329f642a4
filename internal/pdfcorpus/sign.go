package pdfcorpus

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kyso-vn/kyso/internal/atomicfile"
	"github.com/kyso-vn/kyso/internal/devpki"
)

// signedFieldName is the signature field pdfsig creates; fixed so tests can
// look for it.
const signedFieldName = "Signature1"

// makeSigned signs the letter with poppler's pdfsig, the way a peer agency
// using NSS would: a throw-away NSS database holding a personal test key
// and certificate from g.pki (imported from PKCS#12, as users do), with the
// test root trusted so pdfsig can check its own work.
func makeSigned(ctx context.Context, g *generator, out string) error {
	nss := filepath.Join(g.work, "nss-signer")
	if err := os.MkdirAll(nss, 0o700); err != nil {
		return err
	}
	db := "sql:" + nss
	if _, err := run(ctx, g.work, "certutil", "-N", "-d", db, "--empty-password"); err != nil {
		return err
	}
	key, err := devpki.GenerateSoftKey(devpki.RSA2048)
	if err != nil {
		return err
	}
	cert, err := g.pki.Issue(devpki.Personal(), key.Public())
	if err != nil {
		return err
	}
	const password = "pdfcorpus"
	p12 := filepath.Join(g.work, "signer.p12")
	if err := devpki.WritePKCS12(p12, key, cert, g.pki.Chain(), password); err != nil {
		return err
	}
	if _, err := run(ctx, g.work, "pk12util", "-i", p12, "-d", db, "-W", password, "-K", ""); err != nil {
		return err
	}
	root := filepath.Join(g.work, "root.der")
	if err := os.WriteFile(root, g.pki.Root.Cert.Raw, 0o644); err != nil {
		return err
	}
	if _, err := run(ctx, g.work, "certutil", "-A", "-d", db, "-n", "pdfcorpus-root", "-t", "CT,C,C", "-i", root); err != nil {
		return err
	}
	// pk12util names the key after the certificate ("CN - O" of the
	// subject); ask pdfsig rather than guess NSS's rule.
	list, err := run(ctx, g.work, "pdfsig", "-nssdir", db, "-list-nicks")
	if err != nil {
		return err
	}
	nick, err := firstNick(string(list))
	if err != nil {
		return err
	}

	signErr := func() error {
		_, err := run(ctx, g.work, "pdfsig", "-nssdir", db, "-nick", nick, "-kpw", "",
			"-new-signature-field-name", signedFieldName, "-reason", "Phê duyệt ban hành",
			"-add-signature", g.path(LetterName), out)
		return err
	}()
	// pdfsig may crash while shutting NSS down after writing a complete
	// file; the file, not the exit status, decides.
	report, verr := run(ctx, g.work, "pdfsig", "-nssdir", db, "-no-ocsp", out)
	if verr != nil || !bytes.Contains(report, []byte("Signature is Valid.")) || !bytes.Contains(report, []byte("Total document signed")) {
		return fmt.Errorf("pdfsig signature does not verify: %w", errors.Join(signErr, verr, errors.New(tail(string(report)))))
	}
	return atomicfile.WriteFile(g.path(signerCertName), cert.Raw, 0o644)
}

// firstNick returns the first nickname in `pdfsig -list-nicks` output:
//
//	Certificate nicknames available:
//	Nguyễn Văn Ánh - kyso Development
func firstNick(out string) (string, error) {
	_, after, ok := strings.Cut(out, "Certificate nicknames available:")
	if !ok {
		return "", fmt.Errorf("unexpected pdfsig -list-nicks output %q", out)
	}
	for line := range strings.Lines(after) {
		if s := strings.TrimSpace(line); s != "" {
			return s, nil
		}
	}
	return "", errors.New("pdfsig -list-nicks lists no signing key")
}

// signedStale reports whether a reused signed sample was signed under
// another PKI than the caller's, whose roots would not verify it.
func signedStale(g *generator) bool {
	der, err := os.ReadFile(g.path(signerCertName))
	if err != nil {
		return true
	}
	cert, err := x509.ParseCertificate(der)
	return err != nil || !g.pki.IssuedBy(cert)
}
