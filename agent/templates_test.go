package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/devpki"
)

func TestTemplates(t *testing.T) {
	pki, err := devpki.New(devpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	org, err := pki.Issue(devpki.Organisation(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	person, err := pki.Issue(devpki.Personal(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
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
