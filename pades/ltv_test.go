package pades

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/internal/tsatest"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// ocspResponse makes a real OCSP response from the intermediate CA (acting
// as its own responder) saying cert is good.
func ocspResponse(t *testing.T, cert *x509.Certificate) []byte {
	t.Helper()
	ca := fx.pki.Intermediate
	now := time.Now()
	der, err := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: cert.SerialNumber,
		ThisUpdate:   now.Add(-time.Hour),
		NextUpdate:   now.Add(24 * time.Hour),
	}, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func crl(t *testing.T, root bool) []byte {
	t.Helper()
	var der []byte
	var err error
	if root {
		der, err = fx.pki.RootCRL()
	} else {
		der, err = fx.pki.CRL()
	}
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// openDoc opens a PDF file as the signer does.
func openDoc(t *testing.T, path string) *document {
	t.Helper()
	f, size := openFile(t, path)
	d, err := openDocument(f, size)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dssOf reads the DSS of the file at path, failing when there is none.
func dssOf(t *testing.T, path string) *dssContents {
	t.Helper()
	dss, err := openDoc(t, path).readDSS()
	if err != nil {
		t.Fatal(err)
	}
	if dss == nil {
		t.Fatalf("%s has no DSS", filepath.Base(path))
	}
	return dss
}

// storedContentsAt returns the /Contents string of the signature with
// byte range br as stored in the file, padding included, decoded from the
// file's bytes without kyso's PDF reader.
func storedContentsAt(t *testing.T, path string, br [4]int64) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hexed := data[br[1]+1 : br[2]-1]
	raw, err := hex.DecodeString(string(hexed))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sha1Key(b []byte) string {
	sum := sha1.Sum(b)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func hasAll(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	for i, w := range want {
		found := false
		for _, g := range got {
			if bytes.Equal(g, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: item %d (%d bytes) missing", what, i+1, len(w))
		}
	}
}

func checkIntact(t *testing.T, path string, want int) []SignatureCheck {
	t.Helper()
	checks, err := CheckSignatures(openFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != want {
		t.Fatalf("CheckSignatures found %d signatures, want %d", len(checks), want)
	}
	for _, c := range checks {
		if !c.Intact() {
			t.Errorf("%s (%s) is not intact: %v", c.Field, c.SubFilter, c.Err)
		}
	}
	return checks
}

// lastSection says which kind of cross-reference section ends the file.
func lastSectionIsStream(t *testing.T, path string) bool {
	t.Helper()
	d := openDoc(t, path)
	return d.r.XrefStream()
}

// pdfsigSigs runs pdfsig and checks that every CMS signature is valid and
// every document timestamp is listed as poppler 22.12 lists one.
func pdfsigSigs(t *testing.T, db *pdfcheck.NSSDB, path string, want int) []pdfcheck.PdfsigSignature {
	t.Helper()
	sigs := pdfsigAgree(t, db, path)
	if len(sigs) != want {
		t.Fatalf("pdfsig sees %d signatures, want %d", len(sigs), want)
	}
	for _, s := range sigs {
		switch s.SubFilter {
		case "ETSI.CAdES.detached":
			if !s.Valid {
				t.Errorf("pdfsig: signature %d not valid:\n%s", s.Index, s.Raw)
			}
		case "unknown":
			// poppler 22.12 lists a document timestamp (it has no name
			// for /ETSI.RFC3161) but does not verify it: "Signature has
			// not yet been verified." Its integrity is checked with
			// OpenSSL and CheckSignatures instead.
			if !strings.HasPrefix(s.FieldName, "DocTimestamp") || s.SignatureValidation != "Signature has not yet been verified." {
				t.Errorf("pdfsig: document timestamp:\n%s", s.Raw)
			}
		default:
			t.Errorf("pdfsig: unexpected signature type %q:\n%s", s.SubFilter, s.Raw)
		}
	}
	return sigs
}

func tsaFor(srv *tsatest.Server) *cms.TSA {
	return &cms.TSA{URL: srv.URL, Timeout: 30 * time.Second, Roots: fx.pki.Roots()}
}

// TestLTV takes a signature through B-LT and B-LTA twice, on files ending
// in a classic cross-reference table and in an xref stream.
func TestLTV(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	srv := tsatest.Start(t, fx.pki, tsatest.Options{})
	for _, name := range []string{pdfcorpus.ClassicName, pdfcorpus.XRefStreamName, pdfcorpus.IncrementalXRefName} {
		t.Run(name, func(t *testing.T) {
			in := sample(t, name)
			xrefStream := lastSectionIsStream(t, in)
			signed, res := signFile(t, in, fx.personal, baseOptions())
			dir := t.TempDir()

			// B-LT: the chain, a CRL and an OCSP response, per signature.
			signer := fx.personal.cert
			ocspDER := ocspResponse(t, signer)
			crlDER := crl(t, false)
			chain := [][]byte{signer.Raw, fx.pki.Intermediate.Cert.Raw, fx.pki.Root.Cert.Raw}
			lt := filepath.Join(dir, "lt.pdf")
			dres, err := AddDSSFile(testContext(t), signed, lt, DSSUpdate{
				Signatures: []SignatureValidation{{
					Contents: res.CMS, // the DER only: the key is still made from the stored string
					Data:     ValidationData{Certificates: chain, OCSPs: [][]byte{ocspDER}, CRLs: [][]byte{crlDER}},
				}},
				Time: time.Date(2026, 11, 22, 14, 5, 9, 0, time.UTC),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := pdfcheck.IsPrefix(signed, lt); err != nil {
				t.Error(err)
			}
			if err := pdfcheck.QpdfCheck(lt); err != nil {
				t.Error(err)
			}
			if got := lastSectionIsStream(t, lt); got != xrefStream {
				t.Errorf("the update's cross-reference is a stream: %v, the input's: %v", got, xrefStream)
			}
			pdfsigSigs(t, db, lt, 1)
			checkIntact(t, lt, 1)
			if dres.NewCerts != 3 || dres.NewOCSPs != 1 || dres.NewCRLs != 1 {
				t.Errorf("new streams %d/%d/%d, want 3/1/1", dres.NewCerts, dres.NewOCSPs, dres.NewCRLs)
			}
			wantKey := sha1Key(storedContentsAt(t, lt, res.ByteRange))
			if len(dres.VRIKeys) != 1 || dres.VRIKeys[0] != wantKey {
				t.Errorf("VRI keys %v, want [%s]", dres.VRIKeys, wantKey)
			}
			if wantKey == sha1Key(res.CMS) {
				t.Error("the placeholder had no padding: the test cannot tell the two key forms apart")
			}
			dss := dssOf(t, lt)
			hasAll(t, "DSS certs", dss.Data.Certificates, chain)
			hasAll(t, "DSS OCSPs", dss.Data.OCSPs, [][]byte{ocspDER})
			hasAll(t, "DSS CRLs", dss.Data.CRLs, [][]byte{crlDER})
			if len(dss.Data.Certificates) != 3 || len(dss.Data.OCSPs) != 1 || len(dss.Data.CRLs) != 1 || dss.Skipped != 0 {
				t.Errorf("DSS holds %d/%d/%d items, %d skipped; want 3/1/1, 0", len(dss.Data.Certificates), len(dss.Data.OCSPs), len(dss.Data.CRLs), dss.Skipped)
			}
			vri, ok := dss.VRI[wantKey]
			if !ok {
				t.Fatalf("no VRI entry %s; have %v", wantKey, dss.VRI)
			}
			hasAll(t, "VRI certs", vri.Certificates, chain)
			hasAll(t, "VRI OCSPs", vri.OCSPs, [][]byte{ocspDER})
			hasAll(t, "VRI CRLs", vri.CRLs, [][]byte{crlDER})
			if tu, _ := dss.vri[pdf.Name(wantKey)].(pdf.Dict)["TU"].(pdf.String); string(tu.Bytes) != "D:20261122210509+07'00'" {
				t.Errorf("VRI /TU = %q", tu.Bytes)
			}

			// B-LTA: a document timestamp over the signature and the DSS.
			lta := filepath.Join(dir, "lta.pdf")
			tres, err := AddDocTimestampFile(testContext(t), lt, lta, DocTimestampOptions{TSA: tsaFor(srv)})
			if err != nil {
				t.Fatal(err)
			}
			if tres.FieldName != "DocTimestamp1" {
				t.Errorf("field %q, want DocTimestamp1", tres.FieldName)
			}
			if err := pdfcheck.IsPrefix(lt, lta); err != nil {
				t.Error(err)
			}
			if err := pdfcheck.QpdfCheck(lta); err != nil {
				t.Error(err)
			}
			sigs := pdfsigSigs(t, db, lta, 2)
			if sigs[1].FieldName != "DocTimestamp1" || sigs[1].SignerName != srv.Cert.Subject.CommonName || !sigs[1].TotalDocumentSigned {
				t.Errorf("pdfsig's view of the document timestamp:\n%s", sigs[1].Raw)
			}
			if sigs[0].TotalDocumentSigned {
				t.Error("the signature claims to cover the whole document after the timestamp")
			}
			// OpenSSL checks the token against the byte ranges of the file
			// (and the signature against its own).
			if err := pdfcheck.OpenSSLVerify(t, lta, roots()); err != nil {
				t.Errorf("openssl: %v", err)
			}
			sum := sha256.Sum256(concatRanges(t, lta, tres.ByteRange))
			if !bytes.Equal(sum[:], tres.Digest) {
				t.Error("Result.Digest is not the digest of the byte ranges")
			}
			if err := pdfcheck.OpenSSLVerifyTimestamp(t, tres.CMS, sum[:], roots(), []*x509.Certificate{srv.Cert, fx.pki.Intermediate.Cert}); err != nil {
				t.Errorf("openssl ts -verify: %v", err)
			}
			checks := checkIntact(t, lta, 2)
			if checks[1].SubFilter != "ETSI.RFC3161" || !checks[1].CoversWholeFile || !checks[1].Signer.Equal(srv.Cert) {
				t.Errorf("CheckSignatures' view of the document timestamp: %+v", checks[1])
			}

			// Second round: validation data for the TSA, recorded under the
			// document timestamp, then a new timestamp over everything.
			lt2 := filepath.Join(dir, "lt2.pdf")
			if _, err := AddDSSFile(testContext(t), lta, lt2, DSSUpdate{
				Signatures: []SignatureValidation{{
					Contents: tres.CMS,
					Data:     ValidationData{Certificates: [][]byte{srv.Cert.Raw, fx.pki.Intermediate.Cert.Raw}, CRLs: [][]byte{crlDER, crl(t, true)}},
				}},
			}); err != nil {
				t.Fatal(err)
			}
			lta2 := filepath.Join(dir, "lta2.pdf")
			if _, err := AddDocTimestampFile(testContext(t), lt2, lta2, DocTimestampOptions{TSA: tsaFor(srv), Hash: crypto.SHA384}); err != nil {
				t.Fatal(err)
			}
			for _, step := range [][2]string{{lta, lt2}, {lt2, lta2}} {
				if err := pdfcheck.IsPrefix(step[0], step[1]); err != nil {
					t.Error(err)
				}
				if err := pdfcheck.QpdfCheck(step[1]); err != nil {
					t.Error(err)
				}
			}
			pdfsigSigs(t, db, lta2, 3)
			checks = checkIntact(t, lta2, 3)
			if checks[1].CoversWholeFile || !checks[2].CoversWholeFile || checks[2].SubFilter != "ETSI.RFC3161" {
				t.Errorf("coverage after the second round: %+v", checks)
			}
			if err := pdfcheck.OpenSSLVerify(t, lta2, roots()); err != nil {
				t.Errorf("openssl: %v", err)
			}
			dss = dssOf(t, lta2)
			if len(dss.VRI) != 2 {
				t.Errorf("VRI has %d entries after the second round, want 2", len(dss.VRI))
			}
			if v := dss.VRI[sha1Key(storedContentsAt(t, lta2, tres.ByteRange))]; len(v.Certificates) != 2 || len(v.CRLs) != 2 {
				t.Errorf("the document timestamp's VRI entry holds %d certificates and %d CRLs, want 2 and 2", len(v.Certificates), len(v.CRLs))
			}
			if len(dss.Data.Certificates) != 4 || len(dss.Data.CRLs) != 2 {
				t.Errorf("DSS holds %d certificates and %d CRLs, want 4 and 2 (no duplicates)", len(dss.Data.Certificates), len(dss.Data.CRLs))
			}
		})
	}
}

// concatRanges returns the bytes a /ByteRange covers.
func concatRanges(t *testing.T, path string, br [4]int64) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{}, data[br[0]:br[0]+br[1]]...), data[br[2]:br[2]+br[3]]...)
}

// TestAddDSSMerges extends a DSS: the first update's streams are
// referenced again, not copied, and a signature's VRI entry is the union.
func TestAddDSSMerges(t *testing.T) {
	in := sample(t, pdfcorpus.LetterName)
	signed, res := signFile(t, in, fx.personal, baseOptions())
	signed2 := filepath.Join(t.TempDir(), "signed2.pdf")
	res2, err := SignFile(testContext(t), signed, signed2, fx.org.key, fx.org.cert, baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crlDER, rootCRL := crl(t, false), crl(t, true)
	ocsp1 := ocspResponse(t, fx.personal.cert)
	first := filepath.Join(dir, "first.pdf")
	if _, err := AddDSSFile(testContext(t), signed2, first, DSSUpdate{
		Data: ValidationData{Certificates: [][]byte{fx.pki.Root.Cert.Raw}},
		Signatures: []SignatureValidation{{
			Contents: res.CMS,
			Data:     ValidationData{Certificates: [][]byte{fx.personal.cert.Raw, fx.pki.Intermediate.Cert.Raw}, OCSPs: [][]byte{ocsp1}},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	before := dssOf(t, first)

	ocsp2 := ocspResponse(t, fx.org.cert)
	second := filepath.Join(dir, "second.pdf")
	dres, err := AddDSSFile(testContext(t), first, second, DSSUpdate{
		Signatures: []SignatureValidation{
			{ // the same signature again: union with what it had
				Contents: res.CMS,
				Data:     ValidationData{Certificates: [][]byte{fx.pki.Intermediate.Cert.Raw}, CRLs: [][]byte{crlDER, rootCRL}},
			},
			{
				Contents: res2.CMS,
				Data:     ValidationData{Certificates: [][]byte{fx.org.cert.Raw, fx.pki.Intermediate.Cert.Raw, fx.pki.Root.Cert.Raw}, OCSPs: [][]byte{ocsp2}, CRLs: [][]byte{crlDER}},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pdfcheck.IsPrefix(first, second); err != nil {
		t.Error(err)
	}
	if err := pdfcheck.QpdfCheck(second); err != nil {
		t.Error(err)
	}
	pdfsigSigs(t, pdfcheck.NewNSSDB(t, fx.pki.Root.Cert), second, 2)
	checkIntact(t, second, 2)
	if dres.NewCerts != 1 || dres.NewOCSPs != 1 || dres.NewCRLs != 2 {
		t.Errorf("new streams %d/%d/%d, want 1/1/2", dres.NewCerts, dres.NewOCSPs, dres.NewCRLs)
	}

	// No DER the first update stored is in the second update's bytes.
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	tail := b[len(a):]
	for _, der := range [][]byte{fx.pki.Root.Cert.Raw, fx.personal.cert.Raw, fx.pki.Intermediate.Cert.Raw, ocsp1} {
		if bytes.Contains(tail, der) {
			t.Error("the second update copies a stream the first one stored")
		}
	}
	after := dssOf(t, second)
	for i, o := range before.certs {
		if i >= len(after.certs) || after.certs[i] != o {
			t.Errorf("/Certs entry %d was %v, now %v", i, o, after.certs)
		}
	}
	if len(after.Data.Certificates) != 4 || len(after.Data.OCSPs) != 2 || len(after.Data.CRLs) != 2 {
		t.Errorf("DSS holds %d/%d/%d items, want 4/2/2", len(after.Data.Certificates), len(after.Data.OCSPs), len(after.Data.CRLs))
	}
	k1 := sha1Key(storedContentsAt(t, second, res.ByteRange))
	k2 := sha1Key(storedContentsAt(t, second, res2.ByteRange))
	if dres.VRIKeys[0] != k1 || dres.VRIKeys[1] != k2 {
		t.Errorf("VRI keys %v, want [%s %s]", dres.VRIKeys, k1, k2)
	}
	v1 := after.VRI[k1]
	if len(v1.Certificates) != 2 || len(v1.OCSPs) != 1 || len(v1.CRLs) != 2 {
		t.Errorf("merged VRI entry holds %d/%d/%d, want 2/1/2", len(v1.Certificates), len(v1.OCSPs), len(v1.CRLs))
	}
	hasAll(t, "merged VRI OCSPs", v1.OCSPs, [][]byte{ocsp1})
	v2 := after.VRI[k2]
	hasAll(t, "new VRI certs", v2.Certificates, [][]byte{fx.org.cert.Raw, fx.pki.Intermediate.Cert.Raw, fx.pki.Root.Cert.Raw})
	hasAll(t, "new VRI OCSPs", v2.OCSPs, [][]byte{ocsp2})
}

// TestLTVCertifiedNoChanges: DocMDP P=1 forbids another signature but not
// validation data or a document timestamp.
func TestLTVCertifiedNoChanges(t *testing.T) {
	srv := tsatest.Start(t, fx.pki, tsatest.Options{})
	in := sample(t, pdfcorpus.LetterName)
	opts := baseOptions()
	opts.Certify = NoChanges
	certified, res := signFile(t, in, fx.personal, opts)
	dir := t.TempDir()
	lt := filepath.Join(dir, "lt.pdf")
	if _, err := AddDSSFile(testContext(t), certified, lt, DSSUpdate{Signatures: []SignatureValidation{{
		Contents: res.CMS, Data: ValidationData{Certificates: [][]byte{fx.personal.cert.Raw}, CRLs: [][]byte{crl(t, false)}},
	}}}); err != nil {
		t.Fatalf("DSS on a P=1 document: %v", err)
	}
	lta := filepath.Join(dir, "lta.pdf")
	if _, err := AddDocTimestampFile(testContext(t), lt, lta, DocTimestampOptions{TSA: tsaFor(srv)}); err != nil {
		t.Fatalf("document timestamp on a P=1 document: %v", err)
	}
	checkIntact(t, lta, 2)
	pdfsigSigs(t, pdfcheck.NewNSSDB(t, fx.pki.Root.Cert), lta, 2)
	// Still locked for signatures.
	_, err := SignFile(testContext(t), lta, filepath.Join(dir, "signed.pdf"), fx.org.key, fx.org.cert, baseOptions())
	if CodeOf(err) != CodeLocked {
		t.Errorf("signing after the timestamp: %v, want %s", err, CodeLocked)
	}
}

// fileState is what must not change about a file a failed call read.
func fileState(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestDocTimestampFailureLeavesNoFile(t *testing.T) {
	in := sample(t, pdfcorpus.LetterName)
	signed, _ := signFile(t, in, fx.personal, baseOptions())
	tests := []struct {
		name   string
		server tsatest.Options
		opts   DocTimestampOptions
		check  func(error) bool
	}{
		{"tsa http 500", tsatest.Options{HTTPStatus: 500}, DocTimestampOptions{}, func(err error) bool { return errors.Is(err, cms.ErrTSAUnavailable) }},
		{"tsa rejects", tsatest.Options{Status: 2, FailInfo: 0}, DocTimestampOptions{}, func(err error) bool { return errors.Is(err, cms.ErrTSAUnavailable) }},
		{"wrong imprint", tsatest.Options{WrongImprint: true}, DocTimestampOptions{}, func(err error) bool { return errors.Is(err, cms.ErrTSAInvalid) }},
		{"token does not fit", tsatest.Options{}, DocTimestampOptions{Reserve: 512}, func(err error) bool { return CodeOf(err) == CodeSignatureTooLarge }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tsatest.Start(t, fx.pki, tt.server)
			opts := tt.opts
			opts.TSA = &cms.TSA{URL: srv.URL, Attempts: 2, Backoff: 10 * time.Millisecond, Timeout: 10 * time.Second}
			before := fileState(t, signed)
			out := filepath.Join(t.TempDir(), "lta.pdf")
			res, err := AddDocTimestampFile(testContext(t), signed, out, opts)
			if err == nil || !tt.check(err) {
				t.Fatalf("result %+v, error %v", res, err)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("an output file was left behind: %v", err)
			}
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 0 {
				t.Errorf("files left in the output folder: %v", entries)
			}
			if fileState(t, signed) != before {
				t.Error("the input changed")
			}
		})
	}
}

func TestAddDSSRefuses(t *testing.T) {
	in := sample(t, pdfcorpus.LetterName)
	signed, res := signFile(t, in, fx.personal, baseOptions())
	_, otherRes := signFile(t, in, fx.org, baseOptions()) // a signature of another file
	pemCert := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	tests := []struct {
		name string
		u    DSSUpdate
	}{
		{"nothing to add", DSSUpdate{}},
		{"pem instead of der", DSSUpdate{Data: ValidationData{Certificates: [][]byte{pemCert}}}},
		{"trailing bytes", DSSUpdate{Data: ValidationData{CRLs: [][]byte{append(crl(t, false), 0)}}}},
		{"empty item", DSSUpdate{Data: ValidationData{OCSPs: [][]byte{{}}}}},
		{"unknown signature", DSSUpdate{Signatures: []SignatureValidation{{
			Contents: otherRes.CMS, Data: ValidationData{Certificates: [][]byte{fx.org.cert.Raw}},
		}}}},
		{"no contents", DSSUpdate{Signatures: []SignatureValidation{{Data: ValidationData{Certificates: [][]byte{fx.org.cert.Raw}}}}}},
		{"contents not a prefix", DSSUpdate{Signatures: []SignatureValidation{{
			Contents: append(append([]byte{}, res.CMS...), 1), Data: ValidationData{Certificates: [][]byte{fx.org.cert.Raw}},
		}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "lt.pdf")
			_, err := AddDSSFile(testContext(t), signed, out, tt.u)
			if CodeOf(err) != CodeBadRequest {
				t.Errorf("error %v, want %s", err, CodeBadRequest)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("an output file was left behind")
			}
		})
	}
}

func TestVRIKey(t *testing.T) {
	// The uppercase hex SHA-1 of the bytes (FIPS 180 test vector "abc").
	if got := vriKey([]byte("abc")); got != "A9993E364706816ABA3E25717850C26C9CD0D89D" {
		t.Errorf("vriKey(abc) = %s", got)
	}
}
