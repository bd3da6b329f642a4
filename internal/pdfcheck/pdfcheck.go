// Package pdfcheck judges PDF files with validators nobody on the kyso team
// wrote: poppler's pdfsig (with trust anchors in an NSS database), qpdf's
// structure check, OpenSSL's CMS and time-stamp verification over byte
// ranges this package extracts by itself, and MuPDF's signature check.
//
// It is for tests. Helpers that take a testing.TB fail the test when a tool
// is missing (naming the Debian package to install) or cannot run at all;
// a verdict about the file itself is returned as an error or a value so a
// test can also assert that a broken file is rejected.
package pdfcheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// commandTimeout bounds every validator run so a hung tool fails the test
// instead of stalling the suite.
const commandTimeout = 2 * time.Minute

// debianPackage names the Debian package that ships a tool.
func debianPackage(tool string) string {
	switch tool {
	case "pdfsig":
		return "poppler-utils"
	case "certutil", "pk12util":
		return "libnss3-tools"
	case "mutool":
		return "mupdf-tools"
	default:
		return tool // qpdf, openssl
	}
}

// lookTool returns an error naming the Debian package when tool is not on
// PATH.
func lookTool(tool string) error {
	if _, err := exec.LookPath(tool); err != nil {
		return fmt.Errorf("pdfcheck: %s not found: apt-get install %s", tool, debianPackage(tool))
	}
	return nil
}

// requireTool fails the test when tool is missing.
func requireTool(t testing.TB, tool string) {
	t.Helper()
	if err := lookTool(tool); err != nil {
		t.Fatal(err)
	}
}

// result is a finished tool run.
type result struct {
	out  string // standard output and standard error, interleaved
	code int    // exit status; -1 when killed by a signal
}

// execute runs a tool. It returns an error only when the tool could not
// be run or did not finish in time; a non-zero exit status is a result.
func execute(name string, args ...string) (result, error) {
	if err := lookTool(name); err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := result{out: out.String(), code: cmd.ProcessState.ExitCode()}
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || ctx.Err() != nil) {
		return res, fmt.Errorf("pdfcheck: %s %s: %w\n%s", name, strings.Join(args, " "), errors.Join(err, ctx.Err()), res.out)
	}
	return res, nil
}

// NSSDB is an NSS certificate database for pdfsig, holding only trust
// anchors. It never has a PKCS#11 module such as SoftHSM loaded: pdfsig
// crashes at exit when one is.
type NSSDB struct {
	// Dir is the database folder; pass it to tools as "sql:" + Dir.
	Dir string
}

// NewNSSDB creates an empty NSS database (no password) in a test temporary
// folder and adds each certificate in trust as a trusted CA for TLS,
// S/MIME and code signing (trust flags CT,C,C).
func NewNSSDB(t testing.TB, trust ...*x509.Certificate) *NSSDB {
	t.Helper()
	requireTool(t, "certutil")
	dir := t.TempDir()
	db := "sql:" + dir
	if res, err := execute("certutil", "-N", "-d", db, "--empty-password"); err != nil || res.code != 0 {
		t.Fatalf("pdfcheck: create NSS database: %v (exit %d)\n%s", err, res.code, res.out)
	}
	for i, c := range trust {
		f := filepath.Join(dir, fmt.Sprintf("trust-%d.der", i))
		if err := os.WriteFile(f, c.Raw, 0o644); err != nil {
			t.Fatalf("pdfcheck: %v", err)
		}
		nick := fmt.Sprintf("trust-%d %s", i, c.Subject.CommonName)
		if res, err := execute("certutil", "-A", "-d", db, "-n", nick, "-t", "CT,C,C", "-i", f); err != nil || res.code != 0 {
			t.Fatalf("pdfcheck: add %q to NSS database: %v (exit %d)\n%s", c.Subject, err, res.code, res.out)
		}
	}
	return &NSSDB{Dir: dir}
}

// PdfsigSignature is one "Signature #n" block of pdfsig's report.
type PdfsigSignature struct {
	// Index is n in "Signature #n" (1-based, in pdfsig's field order).
	Index int
	// SignerName is the signer certificate's common name.
	SignerName string
	// SignerDN is the signer's full distinguished name as pdfsig prints it.
	SignerDN string
	// SigningTime is the signing time as printed, e.g. "Nov 22 2026 10:25:57".
	SigningTime string
	// HashAlgorithm is e.g. "SHA-256".
	HashAlgorithm string
	// SubFilter is pdfsig's "Signature Type", e.g. "ETSI.CAdES.detached".
	SubFilter string
	// FieldName is the signature field's /T.
	FieldName string
	// SignedRanges is the covered ranges as printed, e.g.
	// "[0 - 486501], [494053 - 494553]".
	SignedRanges string
	// SignatureValidation and CertificateValidation are pdfsig's verdicts
	// as printed, e.g. "Signature is Valid." and "Certificate is Trusted.".
	SignatureValidation   string
	CertificateValidation string
	// Valid is SignatureValidation == "Signature is Valid.".
	Valid bool
	// CertValid is CertificateValidation == "Certificate is Trusted.".
	CertValid bool
	// TotalDocumentSigned is true for "Total document signed" and false
	// for "Not total document signed" (or when neither line appears).
	TotalDocumentSigned bool
	// Raw is the block as printed, for failure messages.
	Raw string
}

// Pdfsig verifies every signature of the file at path with poppler's
// pdfsig, trusting the anchors in db, with online OCSP checks disabled
// (-no-ocsp; AIA fetching is off by default), and returns one entry per
// "Signature #n" block. A file without signatures gives an empty slice.
// The test fails when pdfsig cannot run or prints something unexpected.
//
// poppler 22.12 prints, per signature:
//
//	Signature #1:
//	  - Signature Field Name: Signature1
//	  - Signer Certificate Common Name: Nguyễn Văn Ánh
//	  - Signer full Distinguished Name: UID=CCCD:001086012345,CN=Nguyễn Văn Ánh,...
//	  - Signing Time: Nov 22 2026 10:25:57
//	  - Signing Hash Algorithm: SHA-256
//	  - Signature Type: adbe.pkcs7.detached
//	  - Signed Ranges: [0 - 486501], [494053 - 494553]
//	  - Total document signed
//	  - Signature Validation: Signature is Valid.
//	  - Certificate Validation: Certificate is Trusted.
func Pdfsig(t testing.TB, db *NSSDB, path string) []PdfsigSignature {
	t.Helper()
	requireTool(t, "pdfsig")
	res, err := execute("pdfsig", "-nssdir", "sql:"+db.Dir, "-no-ocsp", path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.out, "does not contain any signatures") {
		return []PdfsigSignature{}
	}
	sigs, err := parsePdfsig(res.out)
	if err != nil || len(sigs) == 0 {
		t.Fatalf("pdfcheck: pdfsig %s (exit %d): cannot parse report: %v\n%s", path, res.code, err, res.out)
	}
	return sigs
}

// ParsePdfsig reads the report pdfsig printed for one file, for callers
// that run pdfsig themselves (CLI scripts); a file without signatures gives
// an empty slice.
func ParsePdfsig(out string) ([]PdfsigSignature, error) {
	if strings.Contains(out, "does not contain any signatures") {
		return []PdfsigSignature{}, nil
	}
	sigs, err := parsePdfsig(out)
	if err == nil && len(sigs) == 0 {
		err = errors.New("pdfcheck: no signature block in the pdfsig report")
	}
	return sigs, err
}

// Agree compares pdfsig's verdict on each signature with another
// verifier's (kyso's): pdfsig's "Signature is Valid" must go with a
// verdict other than "invalid", and anything else with "invalid". Entries
// pdfsig cannot judge (document timestamps: "not yet verified") are
// skipped. verdicts are in field order, as pdfsig lists them.
func Agree(sigs []PdfsigSignature, verdicts []string) error {
	if len(sigs) != len(verdicts) {
		return fmt.Errorf("pdfcheck: pdfsig lists %d signatures, the verifier %d", len(sigs), len(verdicts))
	}
	var errs []error
	for i, s := range sigs {
		if strings.Contains(s.Raw, "not yet been verified") {
			continue
		}
		if s.Valid != (verdicts[i] != "invalid") {
			errs = append(errs, fmt.Errorf("signature %d (%s): pdfsig valid=%v, verifier %s", i+1, s.FieldName, s.Valid, verdicts[i]))
		}
	}
	return errors.Join(errs...)
}

var reSigHeader = regexp.MustCompile(`(?m)^Signature #(\d+):\s*$`)

// parsePdfsig splits pdfsig's report into signature blocks.
func parsePdfsig(out string) ([]PdfsigSignature, error) {
	heads := reSigHeader.FindAllStringSubmatchIndex(out, -1)
	var sigs []PdfsigSignature
	for i, h := range heads {
		end := len(out)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		block := out[h[0]:end]
		n, err := strconv.Atoi(out[h[2]:h[3]])
		if err != nil {
			return nil, fmt.Errorf("signature number: %w", err)
		}
		s := PdfsigSignature{Index: n, Raw: block}
		for line := range strings.Lines(block) {
			line = strings.TrimSpace(line)
			item, ok := strings.CutPrefix(line, "- ")
			if !ok {
				continue
			}
			key, value, _ := strings.Cut(item, ": ")
			value = strings.TrimSpace(value)
			switch key {
			case "Signature Field Name":
				s.FieldName = value
			case "Signer Certificate Common Name":
				s.SignerName = value
			case "Signer full Distinguished Name":
				s.SignerDN = value
			case "Signing Time":
				s.SigningTime = value
			case "Signing Hash Algorithm":
				s.HashAlgorithm = value
			case "Signature Type":
				s.SubFilter = value
			case "Signed Ranges":
				s.SignedRanges = value
			case "Total document signed":
				s.TotalDocumentSigned = true
			case "Not total document signed":
				s.TotalDocumentSigned = false
			case "Signature Validation":
				s.SignatureValidation = value
				s.Valid = value == "Signature is Valid."
			case "Certificate Validation":
				s.CertificateValidation = value
				s.CertValid = value == "Certificate is Trusted."
			}
		}
		sigs = append(sigs, s)
	}
	return sigs, nil
}

// QpdfCheck runs `qpdf --check` and returns nil only for a clean file:
// exit status 0. Warnings (exit 3), which qpdf emits when it had to
// recover, count as failure; the error carries qpdf's report.
//
// qpdf decodes every stream while checking, JPEG included: a 200 dpi
// colour A4 scan page costs about half a second of CPU, so a 100 MB scan
// takes tens of seconds. Check large files once, not in a loop.
func QpdfCheck(path string) error {
	res, err := execute("qpdf", "--check", path)
	if err != nil {
		return err
	}
	switch res.code {
	case 0:
		return nil
	case 3:
		return fmt.Errorf("pdfcheck: qpdf --check %s: warnings (exit 3):\n%s", path, res.out)
	default:
		return fmt.Errorf("pdfcheck: qpdf --check %s: errors (exit %d):\n%s", path, res.code, res.out)
	}
}

// MutoolVerify runs `mutool sign -v` and returns its report. The error is
// non-nil when mutool fails, finds no signature, or reports a digest error
// for any signature. Its "Certificate error" lines reflect MuPDF's own
// trust store, not the signature, and are not judged here.
func MutoolVerify(t testing.TB, path string) (string, error) {
	t.Helper()
	requireTool(t, "mutool")
	res, err := execute("mutool", "sign", "-v", path)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case res.code != 0:
		return res.out, fmt.Errorf("pdfcheck: mutool sign -v %s: exit %d:\n%s", path, res.code, res.out)
	case !strings.Contains(res.out, "Verifying signature"):
		return res.out, fmt.Errorf("pdfcheck: mutool sign -v %s: no signature verified:\n%s", path, res.out)
	case strings.Contains(res.out, "Digest error") || strings.Contains(res.out, "signature is not valid") ||
		strings.Contains(res.out, "The document has been altered"):
		return res.out, fmt.Errorf("pdfcheck: mutool sign -v %s: signature broken:\n%s", path, res.out)
	}
	return res.out, nil
}

// IsPrefix reports whether the file in is an exact byte prefix of the file
// out (an incremental update must leave its input untouched), reading both
// as streams so files of any size compare in constant memory.
func IsPrefix(in, out string) error {
	a, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("pdfcheck: prefix: %w", err)
	}
	defer a.Close()
	b, err := os.Open(out)
	if err != nil {
		return fmt.Errorf("pdfcheck: prefix: %w", err)
	}
	defer b.Close()
	ra, rb := bufio.NewReaderSize(a, 1<<16), bufio.NewReaderSize(b, 1<<16)
	bufA, bufB := make([]byte, 1<<16), make([]byte, 1<<16)
	var off int64
	for {
		n, errA := io.ReadFull(ra, bufA)
		if errA != nil && errA != io.EOF && errA != io.ErrUnexpectedEOF {
			return fmt.Errorf("pdfcheck: prefix: read %s: %w", in, errA)
		}
		m, errB := io.ReadFull(rb, bufB[:n])
		if errB != nil && errB != io.EOF && errB != io.ErrUnexpectedEOF {
			return fmt.Errorf("pdfcheck: prefix: read %s: %w", out, errB)
		}
		if i := mismatch(bufA[:m], bufB[:m]); i >= 0 {
			return fmt.Errorf("pdfcheck: %s is not a prefix of %s: first difference at byte %d", in, out, off+int64(i))
		}
		if m < n {
			return fmt.Errorf("pdfcheck: %s is not a prefix of %s: %s ends at byte %d, before %s", in, out, out, off+int64(m), in)
		}
		off += int64(n)
		if errA != nil { // in is exhausted and everything matched
			return nil
		}
	}
}

// mismatch returns the first index where a and b differ, or -1.
func mismatch(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// writePEM writes certificates as one PEM file.
func writePEM(path string, certs []*x509.Certificate) error {
	var b bytes.Buffer
	for _, c := range certs {
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return err
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
