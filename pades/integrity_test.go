package pades

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kyso-vn/kyso/internal/pdfcorpus"
)

func TestCheckSignatures(t *testing.T) {
	in := sample(t, pdfcorpus.SignedName) // signed by poppler's pdfsig
	approved, _ := signFile(t, in, fx.personal, baseOptions())
	issued, _ := signFile(t, approved, fx.org, baseOptions())

	checks, err := CheckSignatures(openFile(t, issued))
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 3 {
		t.Fatalf("%d signatures found, want 3", len(checks))
	}
	for i, c := range checks {
		if !c.Intact() {
			t.Errorf("signature %d (%s) reported broken: %v", i+1, c.Field, c.Err)
		}
		if c.Signer == nil {
			t.Errorf("signature %d: no signer certificate", i+1)
		}
		if c.CoversWholeFile != (i == 2) {
			t.Errorf("signature %d: CoversWholeFile = %v", i+1, c.CoversWholeFile)
		}
	}
	if checks[2].SubFilter != "ETSI.CAdES.detached" || checks[0].SubFilter != "adbe.pkcs7.detached" {
		t.Errorf("subfilters %q, %q", checks[0].SubFilter, checks[2].SubFilter)
	}

	// Change one byte of the original document, which all three cover,
	// without breaking the file's structure: the character before the end
	// of a literal string of the first revision.
	data, err := os.ReadFile(issued)
	if err != nil {
		t.Fatal(err)
	}
	pos := -1
	for i := checks[0].ByteRange[1] - 1; i > 0; i-- {
		if data[i] == ')' && data[i-1] != '\\' {
			pos = int(i) - 1
			break
		}
	}
	if pos < 0 {
		t.Fatal("no byte to tamper with")
	}
	data[pos] ^= 0x01
	tampered := filepath.Join(t.TempDir(), "tampered.pdf")
	if err := os.WriteFile(tampered, data, 0o644); err != nil {
		t.Fatal(err)
	}
	checks, err = CheckSignatures(openFile(t, tampered))
	if err != nil {
		t.Fatal(err)
	}
	broken := 0
	for _, c := range checks {
		if !c.Intact() {
			broken++
			if !errors.Is(c.Err, errBrokenSignature) {
				t.Errorf("%s: untyped error %v", c.Field, c.Err)
			}
			t.Logf("%s: %v", c.Field, c.Err)
		}
	}
	if broken != 3 {
		t.Errorf("%d signatures reported broken after changing a byte every one of them covers, want 3", broken)
	}
}
