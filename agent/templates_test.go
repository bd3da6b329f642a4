package agent

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/testimages"
)

// templateCerts issues an organisation and a personal certificate of a
// fresh test PKI.
func templateCerts(t *testing.T) (org, person *x509.Certificate) {
	t.Helper()
	pki, err := devpki.New(devpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if org, err = pki.Issue(devpki.Organisation(), key.Public()); err != nil {
		t.Fatal(err)
	}
	if person, err = pki.Issue(devpki.Personal(), key.Public()); err != nil {
		t.Fatal(err)
	}
	return org, person
}

func TestTemplates(t *testing.T) {
	org, person := templateCerts(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dau.png"), []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(org.Raw)
	file := filepath.Join(dir, "templates.json")
	body := `{"schema":"kyso.templates/v1","templates":[
		{"cert":"` + hex.EncodeToString(sum[:]) + `","sealImage":"dau.png","sealMM":40},
		{"cert":"` + strings.ToUpper(person.SerialNumber.Text(16)) + `","signatureImage":"/abs/chu-ky.png"}]}`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := LoadTemplates(file)
	if err != nil {
		t.Fatal(err)
	}
	tp, ok := ts.For(org)
	if !ok || tp.SealMM != 40 {
		t.Fatalf("organisation template = %+v, %v", tp, ok)
	}
	if img, err := ts.Image(tp.SealImage); err != nil || string(img) != "png" {
		t.Fatalf("seal image %q, %v: relative paths resolve against the file's folder", img, err)
	}
	if tp, ok := ts.For(person); !ok || tp.SignatureImage != "/abs/chu-ky.png" {
		t.Fatalf("matching by serial: %+v, %v", tp, ok)
	}

	// A missing file is no templates; a malformed one is an error naming it.
	if ts, err := LoadTemplates(filepath.Join(dir, "none.json")); err != nil || len(ts.list) != 0 {
		t.Fatalf("missing file: %v", err)
	}
	for name, body := range map[string]string{
		"schema":  `{"schema":"other","templates":[]}`,
		"unknown": `{"schema":"kyso.templates/v1","templates":[{"cert":"ab","colour":"red"}]}`,
		"no cert": `{"schema":"kyso.templates/v1","templates":[{"sealMM":40}]}`,
		"seal":    `{"schema":"kyso.templates/v1","templates":[{"cert":"ab","sealMM":400}]}`,
	} {
		p := filepath.Join(dir, "bad.json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := LoadTemplates(p); err == nil || !strings.Contains(err.Error(), "bad.json") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestSetTemplateImage(t *testing.T) {
	org, _ := templateCerts(t)
	sum := sha256.Sum256(org.Raw)
	handle := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	file := filepath.Join(dir, "cfg", "templates.json")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	png, err := testimages.EncodePNG(testimages.Seal(120), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jpg, err := testimages.EncodeJPEG(testimages.Signature(200, 80), 90, 300)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	seal, sig, notImage := write("dau.png", png), write("chu ky.jpeg", jpg), write("van-ban.pdf", []byte("%PDF-1.7\n"))

	// Refusals change nothing: no file appears.
	for _, tc := range []struct {
		name, handle string
		kind         ImageKind
		image        string
	}{
		{"not an image", handle, SealImage, notImage},
		{"missing image", handle, SealImage, filepath.Join(dir, "none.png")},
		{"bad handle", "abc", SealImage, seal},
		{"bad kind", handle, "stamp", seal},
	} {
		if _, err := SetTemplateImage(file, tc.handle, tc.kind, tc.image); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Fatalf("%s: the templates file was written", tc.name)
		}
	}

	if _, err := SetTemplateImage(file, handle, SealImage, seal); err != nil {
		t.Fatal(err)
	}
	copied, err := SetTemplateImage(file, strings.ToUpper(handle), SignatureImage, sig)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Ext(copied) != ".jpg" || filepath.Dir(copied) != filepath.Join(filepath.Dir(file), "images") {
		t.Errorf("signature copied to %s", copied)
	}
	// The originals can go: the templates use their copies.
	os.Remove(seal)
	os.Remove(sig)
	tpl, err := LoadTemplates(file)
	if err != nil {
		t.Fatal(err)
	}
	tp, ok := tpl.For(org)
	if !ok {
		t.Fatal("no template for the certificate")
	}
	if len(tpl.list) != 1 {
		t.Errorf("%d templates, want the one entry updated twice", len(tpl.list))
	}
	for name, want := range map[string][]byte{tp.SealImage: png, tp.SignatureImage: jpg} {
		got, err := tpl.Image(name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("image %q: %v (%d bytes)", name, err, len(got))
		}
	}
}
