package pades

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

func TestHashModeRefusals(t *testing.T) {
	ctx := testContext(t)
	in := sample(t, pdfcorpus.LetterName)
	dir := t.TempDir()

	// A field name that imitates the placeholder does not fool Embed.
	prepared := filepath.Join(dir, "prepared.pdf")
	p, err := PrepareFile(ctx, in, prepared, PrepareOptions{Field: Field{Name: "x/ByteRange [0 1 2 3] /Contents <00>"}, Cert: fx.org.cert})
	if err != nil {
		t.Fatal(err)
	}
	der, err := cms.Sign(ctx, fx.org.key, fx.org.cert, p.Digest, cms.Options{Hash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	// The right digest with a broken signature value is refused: the CMS
	// comes from outside and must be a real signature.
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), der...)
	i := bytes.Index(bad, sd.Signers[0].Signature)
	if i < 0 {
		t.Fatal("signature value not found in the DER")
	}
	bad[i+10] ^= 0xFF
	out := filepath.Join(t.TempDir(), "bad.pdf")
	if _, err := EmbedFile(ctx, prepared, out, bad); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("embed of a broken signature: err = %v, want BAD_REQUEST", err)
	}
	assertNoOutput(t, out)
	good := filepath.Join(dir, "signed.pdf")
	if _, err := EmbedFile(ctx, prepared, good, der); err != nil {
		t.Fatalf("embed after a look-alike field name: %v", err)
	}
	// pdfsig parses the file; a byte scanner (like pdfcheck's OpenSSL
	// helper) would itself be fooled by the look-alike name.
	sigs := pdfsigAgree(t, pdfcheck.NewNSSDB(t, fx.pki.Root.Cert), good)
	if len(sigs) != 1 || !sigs[0].Valid || !sigs[0].TotalDocumentSigned {
		t.Fatalf("pdfsig: %+v", sigs)
	}

	for _, reserve := range []int{-5, MaxReserve + 1} {
		if _, err := PrepareFile(ctx, in, filepath.Join(t.TempDir(), "p.pdf"), PrepareOptions{Reserve: reserve}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("reserve %d: err = %v, want BAD_REQUEST", reserve, err)
		}
	}
}

func TestJunkBeforeHeaderRefused(t *testing.T) {
	data, err := os.ReadFile(sample(t, pdfcorpus.LetterName))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "junk.pdf")
	if err := os.WriteFile(path, append([]byte("Content-Type: application/pdf\r\n\r\n"), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.pdf")
	_, err = SignFile(testContext(t), path, out, fx.personal.key, fx.personal.cert, baseOptions())
	if CodeOf(err) != CodeBadDocument || !strings.Contains(err.Error(), "before its %PDF- header") {
		t.Fatalf("err = %v, want BAD_DOCUMENT naming the junk", err)
	}
	assertNoOutput(t, out)
}
