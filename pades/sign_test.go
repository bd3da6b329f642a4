package pades

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/internal/tsatest"
)

// validate runs every independent validator over a signed file and checks
// that the last of its n signatures covers the whole document.
func validate(t *testing.T, db *pdfcheck.NSSDB, in, out string, n int) []pdfcheck.PdfsigSignature {
	t.Helper()
	if err := pdfcheck.IsPrefix(in, out); err != nil {
		t.Errorf("input is not a prefix of the output: %v", err)
	}
	if err := pdfcheck.QpdfCheck(out); err != nil {
		t.Errorf("qpdf --check: %v", err)
	}
	if err := pdfcheck.OpenSSLVerify(t, out, roots()); err != nil {
		t.Errorf("openssl cms -verify: %v", err)
	}
	sigs := pdfsigAgree(t, db, out)
	if len(sigs) != n {
		t.Fatalf("pdfsig sees %d signatures, want %d", len(sigs), n)
	}
	for i, s := range sigs {
		if !s.Valid {
			t.Errorf("pdfsig: signature %d not valid:\n%s", i+1, s.Raw)
		}
	}
	last := sigs[n-1]
	if !last.TotalDocumentSigned {
		t.Errorf("pdfsig: the last signature does not cover the whole document:\n%s", last.Raw)
	}
	if last.SubFilter != "ETSI.CAdES.detached" {
		t.Errorf("pdfsig: SubFilter %q", last.SubFilter)
	}
	return sigs
}

func TestSignCorpus(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	for _, s := range fx.samples {
		t.Run(s.Name, func(t *testing.T) {
			out, res := signFile(t, s.Path, fx.personal, baseOptions())
			before := 0
			if s.Name == pdfcorpus.SignedName {
				before = 1 // the input is already signed by poppler
			}
			validate(t, db, s.Path, out, before+1)
			if res.FieldName == "" || res.ByteRange[1] >= res.ByteRange[2] {
				t.Errorf("result = %+v", res)
			}

			// The organisation's seal after the person's signature keeps the
			// first one valid.
			out2 := filepath.Join(t.TempDir(), "issued.pdf")
			if _, err := SignFile(testContext(t), out, out2, fx.org.key, fx.org.cert, baseOptions()); err != nil {
				t.Fatal(err)
			}
			sigs := validate(t, db, out, out2, before+2)
			if sigs[before].TotalDocumentSigned {
				t.Error("the first signature claims to cover the whole document after a second one")
			}
		})
	}
}

func TestSignatureAlgorithms(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	in := sample(t, pdfcorpus.LetterName)
	tests := []struct {
		name string
		k    signerKey
		opts func(*Options)
	}{
		{"RSA-PSS SHA-256", fx.personal, func(o *Options) { o.PSS = true }},
		{"RSA PKCS#1 v1.5 SHA-512", fx.org, func(o *Options) { o.Hash = crypto512 }},
		{"ECDSA P-256", fx.ecdsa, func(*Options) {}},
		{"ECDSA P-384 SHA-384", fx.ecdsa384, func(o *Options) { o.Hash = crypto384 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			tt.opts(&opts)
			out, _ := signFile(t, in, tt.k, opts)
			validate(t, db, in, out, 1)
		})
	}
}

func TestInvisibleSignatureSize(t *testing.T) {
	in := sample(t, pdfcorpus.LetterName)
	for _, k := range []signerKey{fx.personal, fx.org, fx.ecdsa} {
		_, res := signFile(t, in, k, baseOptions())
		fi, err := os.Stat(in)
		if err != nil {
			t.Fatal(err)
		}
		added := res.Size - fi.Size()
		t.Logf("%s %d-bit: +%d bytes (CMS %d of %d reserved)", k.cert.PublicKeyAlgorithm, keyBits(k.cert), added, len(res.CMS), res.Reserved)
		if added > 12*1024 {
			t.Errorf("an invisible B-B signature with its chain added %d bytes, budget 12 KB", added)
		}
		if res.Reserved-len(res.CMS) > 64+signatureSlack {
			t.Errorf("reserved %d bytes for a %d-byte CMS: the estimate is loose", res.Reserved, len(res.CMS))
		}
	}
}

func TestVietnameseTextReadsBack(t *testing.T) {
	in := sample(t, pdfcorpus.LetterName)
	info := Info{
		Name:        "Nguyễn Thị Hồng Nhung",
		Reason:      "Phê duyệt Quyết định số 15/QĐ-UBND (ký thay Chủ tịch)",
		Location:    "Đồng Xoài, Bình Phước",
		ContactInfo: "vanthu@binhphuoc.gov.vn (chuyên viên) \\ ( ) ",
	}
	opts := baseOptions()
	opts.Info = info
	opts.Field.Name = "Chữ ký lãnh đạo"
	out, _ := signFile(t, in, fx.personal, opts)

	// qpdf decodes text strings to UTF-8 in its JSON: an independent reader.
	raw, err := exec.Command("qpdf", "--json=2", "--json-key=acroform", out).Output()
	if err != nil {
		t.Fatalf("qpdf --json: %v", err)
	}
	var doc struct {
		Acroform struct {
			Fields []struct {
				FullName string `json:"fullname"`
				Object   string `json:"object"`
			} `json:"fields"`
		} `json:"acroform"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range doc.Acroform.Fields {
		found = found || f.FullName == opts.Field.Name
	}
	if !found {
		t.Errorf("qpdf does not see field %q in %+v", opts.Field.Name, doc.Acroform.Fields)
	}
	all, err := exec.Command("qpdf", "--json=2", "--json-key=qpdf", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{info.Name, info.Reason, info.Location, info.ContactInfo} {
		enc, _ := json.Marshal("u:" + want)
		if !bytes.Contains(all, enc[1:len(enc)-1]) {
			t.Errorf("qpdf does not read back %q", want)
		}
	}
}

func TestTimestampBT(t *testing.T) {
	tsa := tsatest.Start(t, fx.pki, tsatest.Options{})
	in := sample(t, pdfcorpus.LetterName)
	opts := baseOptions()
	opts.Level = LevelBT
	opts.TSA = &cms.TSA{URL: tsa.URL, Timeout: 30 * time.Second}
	out, res := signFile(t, in, fx.personal, opts)
	validate(t, pdfcheck.NewNSSDB(t, fx.pki.Root.Cert), in, out, 1)

	sd, err := cms.Parse(res.CMS)
	if err != nil {
		t.Fatal(err)
	}
	ts := sd.Signers[0].Timestamp
	if ts == nil {
		t.Fatal("no signature timestamp in the CMS")
	}
	if d := time.Since(ts.Time); d < -time.Minute || d > time.Minute {
		t.Errorf("timestamp time %v is not now", ts.Time)
	}
	sum := sha256.Sum256(sd.Signers[0].Signature)
	if err := pdfcheck.OpenSSLVerifyTimestamp(t, ts.Raw, sum[:], roots(), []*x509.Certificate{fx.pki.Intermediate.Cert}); err != nil {
		t.Errorf("openssl ts -verify: %v", err)
	}
}

func TestTimestampUnavailableLeavesNoFile(t *testing.T) {
	tsa := tsatest.Start(t, fx.pki, tsatest.Options{Hang: true})
	in := sample(t, pdfcorpus.LetterName)
	opts := baseOptions()
	opts.Level = LevelBT
	opts.TSA = &cms.TSA{URL: tsa.URL, Timeout: 2 * time.Second}
	out := filepath.Join(t.TempDir(), "signed.pdf")
	start := time.Now()
	_, err := SignFile(testContext(t), in, out, fx.personal.key, fx.personal.cert, opts)
	if !errors.Is(err, cms.ErrTSAUnavailable) {
		t.Fatalf("err = %v, want TSA_UNAVAILABLE", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("gave up after %v with a 2 s timeout", d)
	}
	assertNoOutput(t, out)
}

// assertNoOutput checks that a failed signing left nothing behind: no
// output and no temporary file in its folder.
func assertNoOutput(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	letter, err := os.ReadFile(sample(t, pdfcorpus.LetterName))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	encrypted := filepath.Join(dir, "encrypted.pdf")
	if out, err := exec.Command("qpdf", "--encrypt", "user", "owner", "256", "--", sample(t, pdfcorpus.LetterName), encrypted).CombinedOutput(); err != nil {
		t.Fatalf("qpdf --encrypt: %v: %s", err, out)
	}
	emptyPass := filepath.Join(dir, "encrypted-empty-password.pdf")
	if out, err := exec.Command("qpdf", "--encrypt", "", "owner", "256", "--", sample(t, pdfcorpus.LetterName), emptyPass).CombinedOutput(); err != nil {
		t.Fatalf("qpdf --encrypt: %v: %s", err, out)
	}
	garbage := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("garbage \x00\xff "), 500)...)
	tests := []struct {
		name string
		path string
		code Code
		why  string
	}{
		{"empty", write("empty.pdf", nil), CodeBadDocument, "empty"},
		{"not a PDF", write("letter.docx", []byte("PK\x03\x04 this is a zip file, not a PDF")), CodeBadDocument, "PDF"},
		{"truncated", write("truncated.pdf", letter[:len(letter)*2/3]), CodeBadDocument, ""},
		{"truncated before trailer", write("truncated2.pdf", letter[:len(letter)-40]), CodeBadDocument, ""},
		{"garbage after header", write("garbage.pdf", garbage), CodeBadDocument, ""},
		{"encrypted", encrypted, CodeEncrypted, "encrypted"},
		{"encrypted with empty user password", emptyPass, CodeEncrypted, "encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.pdf")
			_, err := SignFile(testContext(t), tt.path, out, fx.personal.key, fx.personal.cert, baseOptions())
			if CodeOf(err) != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not name the problem (%q)", err, tt.why)
			}
			assertNoOutput(t, out)
			if err := Check(openFile(t, tt.path)); CodeOf(err) != tt.code {
				t.Errorf("Check: err = %v, want %s", err, tt.code)
			}
		})
	}
}

func openFile(t *testing.T, path string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return f, fi.Size()
}

func TestFieldsAndPages(t *testing.T) {
	in := sample(t, pdfcorpus.LetterName)
	out, res := signFile(t, in, fx.personal, baseOptions())
	if res.FieldName != "Signature1" {
		t.Errorf("first field = %q", res.FieldName)
	}
	out2, res2 := signFile(t, out, fx.org, baseOptions())
	if res2.FieldName != "Signature2" {
		t.Errorf("second field = %q, want a new name", res2.FieldName)
	}
	opts := baseOptions()
	opts.Field.Name = "Signature1"
	if _, err := SignFile(testContext(t), out2, filepath.Join(t.TempDir(), "x.pdf"), fx.org.key, fx.org.cert, opts); !errors.Is(err, ErrFieldExists) {
		t.Errorf("reused field name: err = %v, want FIELD_EXISTS", err)
	}
	opts = baseOptions()
	opts.Field.Page = 99
	if _, err := SignFile(testContext(t), in, filepath.Join(t.TempDir(), "x.pdf"), fx.org.key, fx.org.cert, opts); !errors.Is(err, ErrBadPage) {
		t.Errorf("page 99 of 1: err = %v, want BAD_PAGE", err)
	}
	many := sample(t, pdfcorpus.ManyPagesName)
	opts = baseOptions()
	opts.Field.Page = 260
	signFile(t, many, fx.personal, opts)
	if _, err := SignFile(testContext(t), in, in, fx.org.key, fx.org.cert, baseOptions()); !errors.Is(err, ErrBadRequest) {
		t.Errorf("output = input: err = %v, want BAD_REQUEST", err)
	}
}

func TestCertification(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	in := sample(t, pdfcorpus.LetterName)
	for _, p := range []DocMDP{NoChanges, FormFillAndSign} {
		opts := baseOptions()
		opts.Certify = p
		out, _ := signFile(t, in, fx.personal, opts)
		validate(t, db, in, out, 1)
		next := filepath.Join(t.TempDir(), "next.pdf")
		_, err := SignFile(testContext(t), out, next, fx.org.key, fx.org.cert, baseOptions())
		if p == NoChanges {
			if !errors.Is(err, ErrLocked) {
				t.Errorf("signing after P=1: err = %v, want DOCUMENT_LOCKED", err)
			}
			assertNoOutput(t, next)
			continue
		}
		if err != nil {
			t.Fatalf("signing after P=2: %v", err)
		}
		validate(t, db, out, next, 2)
		// Only the first signature may certify.
		opts.Certify = FormFillAndSign
		if _, err := SignFile(testContext(t), next, filepath.Join(t.TempDir(), "x.pdf"), fx.org.key, fx.org.cert, opts); !errors.Is(err, ErrBadRequest) {
			t.Errorf("certifying a signed document: err = %v, want BAD_REQUEST", err)
		}
	}
}
