package pdfcheck

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
)

// TestValidators runs every validator against the corpus's pdfsig-signed
// file, intact and with one covered byte flipped, to show each can both
// accept and reject. One corpus serves all subtests: making it is the
// slow part.
func TestValidators(t *testing.T) {
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP384})
	if err != nil {
		t.Fatal(err)
	}
	samples, err := pdfcorpus.Generate(context.Background(), t.TempDir(), pki)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]pdfcorpus.Sample{}
	for _, s := range samples {
		byName[s.Name] = s
	}
	signed := byName[pdfcorpus.SignedName].Path
	letter := byName[pdfcorpus.LetterName].Path
	roots := []*x509.Certificate{pki.Root.Cert}
	db := NewNSSDB(t, pki.Root.Cert)
	tampered := flipByte(t, signed, 10)

	t.Run("Pdfsig", func(t *testing.T) {
		sigs := Pdfsig(t, db, signed)
		if len(sigs) != 1 {
			t.Fatalf("pdfsig found %d signatures, want 1", len(sigs))
		}
		s := sigs[0]
		if !s.Valid || !s.CertValid || !s.TotalDocumentSigned {
			t.Errorf("pdfsig: valid=%v certValid=%v total=%v\n%s", s.Valid, s.CertValid, s.TotalDocumentSigned, s.Raw)
		}
		want := PdfsigSignature{Index: 1, SignerName: "Nguyễn Văn Ánh", HashAlgorithm: "SHA-256", SubFilter: "adbe.pkcs7.detached", FieldName: "Signature1"}
		if s.Index != want.Index || s.SignerName != want.SignerName || s.HashAlgorithm != want.HashAlgorithm || s.SubFilter != want.SubFilter || s.FieldName != want.FieldName {
			t.Errorf("pdfsig parsed %+v, want %+v", s, want)
		}
		if s.SigningTime == "" || !strings.Contains(s.SignerDN, "CCCD:001086012345") {
			t.Errorf("pdfsig: signing time %q, DN %q", s.SigningTime, s.SignerDN)
		}
	})

	t.Run("PdfsigRejectsTampered", func(t *testing.T) {
		sigs := Pdfsig(t, db, tampered)
		if len(sigs) != 1 || sigs[0].Valid {
			t.Fatalf("pdfsig accepted a tampered file: %+v", sigs)
		}
		t.Logf("tampered: %q", sigs[0].SignatureValidation)
	})

	t.Run("PdfsigUntrusted", func(t *testing.T) {
		other := NewNSSDB(t)
		sigs := Pdfsig(t, other, signed)
		if len(sigs) != 1 || !sigs[0].Valid || sigs[0].CertValid {
			t.Fatalf("without the root, want valid signature and untrusted certificate: %+v", sigs)
		}
	})

	t.Run("PdfsigUnsigned", func(t *testing.T) {
		if sigs := Pdfsig(t, db, letter); len(sigs) != 0 {
			t.Fatalf("pdfsig found %d signatures in an unsigned file", len(sigs))
		}
	})

	t.Run("ExtractSignatures", func(t *testing.T) {
		sigs, err := ExtractSignatures(signed)
		if err != nil {
			t.Fatal(err)
		}
		if len(sigs) != 1 {
			t.Fatalf("found %d signatures, want 1", len(sigs))
		}
		br := sigs[0].ByteRange
		// pdfsig prints the same ranges as "[a - a+b], [c - c+d]".
		want := fmt.Sprintf("[%d - %d], [%d - %d]", br[0], br[0]+br[1], br[2], br[2]+br[3])
		if got := Pdfsig(t, db, signed)[0].SignedRanges; got != want {
			t.Errorf("ByteRange %v, pdfsig says %s", br, got)
		}
		fi, err := os.Stat(signed)
		if err != nil {
			t.Fatal(err)
		}
		if br[0] != 0 || br[2]+br[3] != fi.Size() {
			t.Errorf("ByteRange %v does not cover the whole %d-byte file", br, fi.Size())
		}
		c := sigs[0].Contents
		if gap := br[2] - br[1] - 2; int64(2*len(c)) > gap || len(c) < 1000 {
			t.Errorf("contents of %d bytes in a %d-digit gap", len(c), gap)
		}
		if _, err := exec.LookPath("openssl"); err == nil {
			// The trimmed bytes are exactly one DER structure.
			f := filepath.Join(t.TempDir(), "sig.der")
			if err := os.WriteFile(f, c, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("openssl", "cms", "-cmsout", "-inform", "DER", "-in", f, "-noout").CombinedOutput(); err != nil {
				t.Errorf("openssl cannot parse the extracted CMS: %v\n%s", err, out)
			}
		}
		if sigs, err := ExtractSignatures(letter); err != nil || len(sigs) != 0 {
			t.Errorf("unsigned letter: %d signatures, %v", len(sigs), err)
		}
	})

	t.Run("OpenSSLVerify", func(t *testing.T) {
		if err := OpenSSLVerify(t, signed, roots); err != nil {
			t.Fatal(err)
		}
		err := OpenSSLVerify(t, tampered, roots)
		if err == nil || !strings.Contains(err.Error(), "signature #1") {
			t.Fatalf("tampered file: %v", err)
		}
		// A foreign root must not verify.
		other, err := devpki.New(devpki.Options{KeyKind: devpki.ECP384})
		if err != nil {
			t.Fatal(err)
		}
		if err := OpenSSLVerify(t, signed, []*x509.Certificate{other.Root.Cert}); err == nil {
			t.Fatal("verified against an unrelated root")
		}
		if err := OpenSSLVerify(t, letter, roots); err == nil {
			t.Fatal("no error for a file without signatures")
		}
	})

	t.Run("Mutool", func(t *testing.T) {
		out, err := MutoolVerify(t, signed)
		if err != nil || !strings.Contains(out, "The document is unchanged since signing") {
			t.Fatalf("mutool on the signed file: %v\n%s", err, out)
		}
		out, err = MutoolVerify(t, tampered)
		if err == nil {
			t.Fatalf("mutool accepted the tampered file:\n%s", out)
		}
		t.Logf("tampered:\n%s", out)
	})

	t.Run("IsPrefix", func(t *testing.T) {
		if err := IsPrefix(letter, signed); err != nil {
			t.Fatalf("pdfsig's incremental update: %v", err)
		}
		if err := IsPrefix(signed, signed); err != nil {
			t.Fatalf("a file is its own prefix: %v", err)
		}
		err := IsPrefix(letter, tampered)
		if err == nil || !strings.Contains(err.Error(), "at byte 10") {
			t.Fatalf("tampered copy: %v", err)
		}
		if err := IsPrefix(signed, letter); err == nil {
			t.Fatal("a longer file cannot be a prefix")
		}
	})

	t.Run("QpdfCheck", func(t *testing.T) {
		for _, s := range samples {
			if err := QpdfCheck(s.Path); err != nil {
				t.Errorf("%s: %v", s.Name, err)
			}
		}
		data, err := os.ReadFile(letter)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(t.TempDir(), "truncated.pdf")
		if err := os.WriteFile(cut, data[:len(data)*2/3], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := QpdfCheck(cut); err == nil {
			t.Fatal("qpdf --check passed a truncated file")
		}
	})

	t.Run("Timestamp", func(t *testing.T) {
		tsa := newTSA(t, pki)
		digest := sha256.Sum256([]byte("kyso"))
		token := tsa.stamp(t, digest[:])
		if err := OpenSSLVerifyTimestamp(t, token, digest[:], roots, []*x509.Certificate{pki.Intermediate.Cert}); err != nil {
			t.Fatal(err)
		}
		other := sha256.Sum256([]byte("other"))
		if err := OpenSSLVerifyTimestamp(t, token, other[:], roots, nil); err == nil {
			t.Fatal("token verified against another digest")
		}

		// A document time-stamp on top of the signed file: OpenSSLVerify
		// must verify both, each its own way.
		stamped := appendDocTimeStamp(t, signed, tsa)
		if err := QpdfCheck(stamped); err != nil {
			t.Fatal(err)
		}
		if err := IsPrefix(signed, stamped); err != nil {
			t.Fatal(err)
		}
		sigs, err := ExtractSignatures(stamped)
		if err != nil || len(sigs) != 2 || isTimestampToken(sigs[0].Contents) || !isTimestampToken(sigs[1].Contents) {
			t.Fatalf("want a CMS then a token: %d signatures, %v", len(sigs), err)
		}
		if err := OpenSSLVerify(t, stamped, roots); err != nil {
			t.Fatal(err)
		}
		ps := Pdfsig(t, db, stamped)
		if len(ps) != 1 || !ps[0].Valid || ps[0].TotalDocumentSigned {
			t.Fatalf("pdfsig on the stamped file: %+v", ps)
		}
		if out, err := MutoolVerify(t, stamped); err != nil || !strings.Contains(out, "edits since signing") {
			t.Fatalf("mutool on the stamped file: %v\n%s", err, out)
		}
		err = OpenSSLVerify(t, flipByte(t, stamped, 10), roots)
		if err == nil || !strings.Contains(err.Error(), "signature #1") || !strings.Contains(err.Error(), "signature #2") {
			t.Fatalf("a byte covered by both: %v", err)
		}
	})
}

// flipByte copies path to a temporary file with one bit of byte off
// inverted.
func flipByte(t testing.TB, path string, off int) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 0x01
	out := filepath.Join(t.TempDir(), "flipped-"+filepath.Base(path))
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// testTSA is a time-stamping authority run with `openssl ts -reply`.
type testTSA struct {
	dir, cert, key, chain, config string
}

// newTSA issues a TSA certificate under pki's intermediate. It is made here
// rather than with devpki.Issue because RFC 3161 requires the
// timeStamping extended key usage to be the only one and critical, and
// Go marks the extension non-critical unless it is given raw.
func newTSA(t testing.TB, pki *devpki.PKI) *testTSA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(now.UnixNano()),
		Subject:         pkix.Name{CommonName: "kyso Test TSA", Organization: []string{"kyso Development"}, Country: []string{"VN"}},
		NotBefore:       now.Add(-time.Hour),
		NotAfter:        now.Add(24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.Intermediate.Cert, key.Public(), pki.Intermediate.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tsa := &testTSA{
		dir:    dir,
		cert:   filepath.Join(dir, "tsa.pem"),
		key:    filepath.Join(dir, "tsa.key"),
		chain:  filepath.Join(dir, "chain.pem"),
		config: filepath.Join(dir, "tsa.cnf"),
	}
	files := map[string][]byte{
		tsa.cert:                        pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		tsa.key:                         pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		tsa.chain:                       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Intermediate.Cert.Raw}),
		filepath.Join(dir, "tsaserial"): []byte("01\n"),
		tsa.config: []byte("[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\nserial = " + filepath.Join(dir, "tsaserial") +
			"\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\ness_cert_id_alg = sha256\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tsa
}

// stamp returns a DER time-stamp token over a SHA-256 digest, with the TSA
// certificate and the intermediate inside.
func (a *testTSA) stamp(t testing.TB, digest []byte) []byte {
	t.Helper()
	query := filepath.Join(t.TempDir(), "q.tsq")
	token := query + ".tok"
	for _, args := range [][]string{
		{"ts", "-query", "-digest", hex.EncodeToString(digest), "-sha256", "-cert", "-out", query},
		{"ts", "-reply", "-config", a.config, "-queryfile", query, "-signer", a.cert, "-inkey", a.key, "-chain", a.chain, "-token_out", "-out", token},
	} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	tok, err := os.ReadFile(token)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// appendDocTimeStamp appends to a classic-xref PDF an incremental update
// holding a document time-stamp dictionary (not attached to a field: the
// byte-level validators do not need one) and returns the new file's path.
func appendDocTimeStamp(t testing.TB, path string, tsa *testTSA) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prev, size, root := lastClassicTrailer(t, data)
	var b bytes.Buffer
	b.Write(data)
	if data[len(data)-1] != '\n' {
		b.WriteByte('\n')
	}
	objOff := b.Len()
	const placeholder = "/ByteRange [0 0000000000 0000000000 0000000000]"
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161 %s /Contents <", size, placeholder)
	gapStart := b.Len() - 1
	b.Write(bytes.Repeat([]byte("0"), 8192))
	b.WriteString(">")
	gapEnd := b.Len()
	b.WriteString(" >>\nendobj\n")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n%d 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", size, objOff, size+1, root, prev, xref)
	out := b.Bytes()
	br := fmt.Sprintf("/ByteRange [0 %010d %010d %010d]", gapStart, gapEnd, len(out)-gapEnd)
	i := bytes.Index(out[objOff:], []byte(placeholder)) + objOff
	copy(out[i:], br)
	h := sha256.New()
	h.Write(out[:gapStart])
	h.Write(out[gapEnd:])
	tok := tsa.stamp(t, h.Sum(nil))
	copy(out[gapStart+1:], strings.ToUpper(hex.EncodeToString(tok)))
	dst := filepath.Join(t.TempDir(), "stamped.pdf")
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// lastClassicTrailer returns the final startxref offset, /Size and /Root
// of a file whose last section is a classic table.
func lastClassicTrailer(t testing.TB, data []byte) (prev int64, size int, root string) {
	t.Helper()
	i := bytes.LastIndex(data, []byte("startxref"))
	j := bytes.LastIndex(data, []byte("trailer"))
	if i < 0 || j < 0 || j > i {
		t.Fatal("no classic trailer")
	}
	prev, err := strconv.ParseInt(string(bytes.Fields(data[i+len("startxref"):])[0]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	tr := data[j:i]
	m := regexp.MustCompile(`/Size\s+(\d+)`).FindSubmatch(tr)
	r := regexp.MustCompile(`/Root\s+(\d+\s+\d+\s+R)`).FindSubmatch(tr)
	if m == nil || r == nil {
		t.Fatalf("trailer without /Size or /Root: %q", tr)
	}
	size, err = strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return prev, size, string(r[1])
}

// TestParsePdfsig pins the report format of poppler 22.12 for the cases
// the corpus does not produce: several signatures, an ETSI one, a partial
// one and a broken one.
func TestParsePdfsig(t *testing.T) {
	const report = `Digital Signature Info of: out.pdf
Signature #1:
  - Signature Field Name: Signature1
  - Signer Certificate Common Name: Nguyễn Văn Ánh
  - Signer full Distinguished Name: CN=Nguyễn Văn Ánh,C=VN
  - Signing Time: Nov 22 2026 10:25:57
  - Signing Hash Algorithm: SHA-256
  - Signature Type: adbe.pkcs7.detached
  - Signed Ranges: [0 - 486501], [494053 - 494553]
  - Not total document signed
  - Signature Validation: Signature is Valid.
  - Certificate Validation: Certificate issuer isn't Trusted.
Signature #2:
  - Signature Field Name: kyso-1
  - Signer Certificate Common Name: Ủy ban nhân dân tỉnh Bình Phước
  - Signer full Distinguished Name: CN=Ủy ban nhân dân tỉnh Bình Phước,C=VN
  - Signing Time: Nov 22 2026 10:30:00
  - Signing Hash Algorithm: SHA-384
  - Signature Type: ETSI.CAdES.detached
  - Signed Ranges: [0 - 600000], [608194 - 610000]
  - Total document signed
  - Signature Validation: Digest Mismatch.
  - Certificate Validation: Certificate is Trusted.
`
	sigs, err := parsePdfsig(report)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 {
		t.Fatalf("%d signatures", len(sigs))
	}
	a, b := sigs[0], sigs[1]
	a.Raw, b.Raw = "", ""
	wantA := PdfsigSignature{Index: 1, SignerName: "Nguyễn Văn Ánh", SignerDN: "CN=Nguyễn Văn Ánh,C=VN", SigningTime: "Nov 22 2026 10:25:57",
		HashAlgorithm: "SHA-256", SubFilter: "adbe.pkcs7.detached", FieldName: "Signature1", SignedRanges: "[0 - 486501], [494053 - 494553]",
		SignatureValidation: "Signature is Valid.", CertificateValidation: "Certificate issuer isn't Trusted.", Valid: true}
	wantB := PdfsigSignature{Index: 2, SignerName: "Ủy ban nhân dân tỉnh Bình Phước", SignerDN: "CN=Ủy ban nhân dân tỉnh Bình Phước,C=VN", SigningTime: "Nov 22 2026 10:30:00",
		HashAlgorithm: "SHA-384", SubFilter: "ETSI.CAdES.detached", FieldName: "kyso-1", SignedRanges: "[0 - 600000], [608194 - 610000]",
		SignatureValidation: "Digest Mismatch.", CertificateValidation: "Certificate is Trusted.", CertValid: true, TotalDocumentSigned: true}
	if a != wantA {
		t.Errorf("#1 %+v\nwant %+v", a, wantA)
	}
	if b != wantB {
		t.Errorf("#2 %+v\nwant %+v", b, wantB)
	}
	if !strings.HasPrefix(sigs[1].Raw, "Signature #2:") || strings.Contains(sigs[0].Raw, "#2") {
		t.Errorf("blocks split wrongly: %q", sigs[0].Raw)
	}
}

// TestExtractSignaturesPadding checks DER trimming and the refusal of a
// gap that is not a hex string, on hand-made bytes.
func TestExtractSignaturesPadding(t *testing.T) {
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x05}
	head := []byte("%PDF-1.7\n1 0 obj << /ByteRange [0 0000000040 0000000060 0000000010] /Contents <")
	var b bytes.Buffer
	b.Write(head)
	gapStart := len(head) - 1
	b.WriteString(strings.ToUpper(hex.EncodeToString(der)))
	for b.Len() < 200 {
		b.WriteByte('0')
	}
	b.WriteString("> >> endobj\n%%EOF\n")
	data := b.Bytes()
	gapEnd := bytes.IndexByte(data[gapStart:], '>') + gapStart + 1
	br := fmt.Sprintf("/ByteRange [0 %010d %010d %010d]", gapStart, gapEnd, len(data)-gapEnd)
	copy(data[bytes.Index(data, []byte("/ByteRange")):], br)
	path := filepath.Join(t.TempDir(), "p.pdf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sigs, err := ExtractSignatures(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || !bytes.Equal(sigs[0].Contents, der) || sigs[0].ByteRange != [4]int64{0, int64(gapStart), int64(gapEnd), int64(len(data) - gapEnd)} {
		t.Fatalf("got %+v", sigs)
	}

	// Ranges that do not frame the hex string are an error, not a guess.
	bad := bytes.Replace(data, []byte(br), fmt.Appendf(nil, "/ByteRange [0 %010d %010d %010d]", gapStart+1, gapEnd, len(data)-gapEnd), 1)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ExtractSignatures(path); err == nil {
		t.Fatal("no error for ranges that miss /Contents")
	}
}
