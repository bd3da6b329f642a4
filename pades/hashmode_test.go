package pades

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
)

func TestHashModeRoundTrip(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	in := sample(t, pdfcorpus.LetterName)
	dir := t.TempDir()
	prepared := filepath.Join(dir, "prepared.pdf")
	ctx := testContext(t)
	p, err := PrepareFile(ctx, in, prepared, PrepareOptions{
		Info: Info{Name: "Văn thư", Reason: "Phát hành"},
		Cert: fx.org.cert, Chain: []*x509.Certificate{fx.pki.Intermediate.Cert},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pdfcheck.IsPrefix(in, prepared); err != nil {
		t.Fatal(err)
	}
	// The signer (here in-process; in production the agent on the clerk's
	// machine) sees only the digest.
	der, err := cms.Sign(ctx, fx.org.key, fx.org.cert, p.Digest, cms.Options{Hash: p.Hash, Chain: []*x509.Certificate{fx.pki.Intermediate.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "signed.pdf")
	if _, err := EmbedFile(ctx, prepared, out, der); err != nil {
		t.Fatal(err)
	}
	// The original input is a prefix of the result (the prepared file is not:
	// its placeholder is filled).
	validate(t, db, in, out, 1)

	// A CMS made for other bytes is refused, and nothing is written.
	other := append([]byte(nil), p.Digest...)
	other[0] ^= 1
	wrong, err := cms.Sign(ctx, fx.org.key, fx.org.cert, other, cms.Options{Hash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pdf")
	if _, err := EmbedFile(ctx, prepared, bad, wrong); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("embed of a CMS for another digest: err = %v, want DIGEST_MISMATCH", err)
	}
	assertNoOutput(t, bad)

	// Embedding into a file that is already signed is refused too.
	if _, err := EmbedFile(ctx, out, filepath.Join(t.TempDir(), "again.pdf"), der); err == nil {
		t.Fatal("embedding into a signed file succeeded")
	}
	// A file that was never prepared.
	if _, err := EmbedFile(ctx, in, filepath.Join(t.TempDir(), "x.pdf"), der); CodeOf(err) != CodeBadDocument {
		t.Fatalf("embed into an unprepared file: err = %v, want BAD_DOCUMENT", err)
	}
	if fi, err := os.Stat(prepared); err != nil || fi.Size() != p.Size {
		t.Errorf("prepared size %v, reported %d", fi, p.Size)
	}
}
