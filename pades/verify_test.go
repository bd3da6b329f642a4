package pades

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/internal/pkitest"
	"github.com/kyso-vn/kyso/internal/tsatest"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// onlinePKI is a test PKI whose OCSP responder and CRLs are served on
// 127.0.0.1, with a TSA under the same root.
type onlinePKI struct {
	srv   *pkitest.Server
	tsa   *tsatest.Server
	trust *cms.TrustStore
}

func newOnlinePKI(t *testing.T) *onlinePKI {
	t.Helper()
	srv := pkitest.Start(t, pkitest.Options{})
	ts := cms.NewTrustStore()
	ts.AddRoot(srv.PKI.Root.Cert)
	return &onlinePKI{srv: srv, tsa: tsatest.Start(t, srv.PKI, tsatest.Options{}), trust: ts}
}

func (p *onlinePKI) issue(t *testing.T, prof devpki.Profile) signerKey {
	t.Helper()
	k, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.srv.PKI.Issue(prof, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signerKey{k, c}
}

func (p *onlinePKI) options(level Level) Options {
	o := Options{Chain: []*x509.Certificate{p.srv.PKI.Intermediate.Cert}, Level: level}
	if level != LevelBB {
		pool := x509.NewCertPool()
		pool.AddCert(p.srv.PKI.Root.Cert)
		o.TSA = &cms.TSA{URL: p.tsa.URL, Roots: pool}
	}
	return o
}

func (p *onlinePKI) verify(t *testing.T, path string, mod func(*VerifyOptions)) *Report {
	t.Helper()
	opts := VerifyOptions{Trust: p.trust, RevocationTimeout: 5 * time.Second, Classify: testClassify}
	if mod != nil {
		mod(&opts)
	}
	rep, err := VerifyFile(testContext(t), path, opts)
	if err != nil {
		t.Fatalf("verify %s: %v", filepath.Base(path), err)
	}
	return rep
}

func testClassify(c *x509.Certificate) SignerKind {
	for _, n := range c.Subject.Names {
		if s, ok := n.Value.(string); ok && strings.HasPrefix(s, devpki.UIDPrefixCCCD) {
			return KindPersonal
		}
	}
	return KindOrganisation
}

func codes(s *SignatureReport) []string {
	var out []string
	for _, f := range s.Findings {
		out = append(out, f.Code)
	}
	return out
}

func hasFinding(s *SignatureReport, code string) bool {
	for _, f := range s.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

func wantVerdict(t *testing.T, s *SignatureReport, v Verdict, mustHave ...string) {
	t.Helper()
	if s.Verdict != v {
		t.Errorf("signature %s: verdict %s, want %s; findings %v", s.Field, s.Verdict, v, s.Findings)
	}
	for _, c := range mustHave {
		if !hasFinding(s, c) {
			t.Errorf("signature %s: no %s among %v", s.Field, c, codes(s))
		}
	}
}

func TestVerifyRevocationAndTime(t *testing.T) {
	p := newOnlinePKI(t)
	in := sample(t, pdfcorpus.LetterName)
	good := p.issue(t, devpki.Personal())

	t.Run("valid online", func(t *testing.T) {
		out, _ := signFile(t, in, good, p.options(LevelBT))
		rep := p.verify(t, out, nil)
		s := rep.Signatures[0]
		wantVerdict(t, s, Valid)
		if s.SigningTimeSource != "timestamp" || !s.Trusted || !s.Intact || !s.CoversWholeFile {
			t.Errorf("report %+v", s)
		}
		if len(s.Revocation) != 2 || s.Revocation[0].Status != cms.RevocationGood || s.Revocation[0].Source != cms.SourceOCSP {
			t.Errorf("revocation %+v", s.Revocation)
		}
		if len(s.Chain) != 3 {
			t.Errorf("chain of %d", len(s.Chain))
		}
	})

	t.Run("no timestamp is a warning", func(t *testing.T) {
		out, _ := signFile(t, in, good, p.options(LevelBB))
		s := p.verify(t, out, nil).Signatures[0]
		wantVerdict(t, s, Valid, FindingNoTimestamp)
		if s.SigningTimeSource != "claimed" {
			t.Errorf("time source %q", s.SigningTimeSource)
		}
	})

	t.Run("revoked before signing", func(t *testing.T) {
		k := p.issue(t, devpki.Personal().AsRevoked())
		out, _ := signFile(t, in, k, p.options(LevelBT))
		s := p.verify(t, out, nil).Signatures[0]
		wantVerdict(t, s, Invalid, FindingRevoked)
	})

	t.Run("revoked after a timestamped signing", func(t *testing.T) {
		k := p.issue(t, devpki.Personal())
		out, _ := signFile(t, in, k, p.options(LevelBT))
		time.Sleep(1100 * time.Millisecond) // revocation times have second precision
		p.srv.PKI.Revoke(k.cert.SerialNumber)
		s := p.verify(t, out, nil).Signatures[0]
		wantVerdict(t, s, Valid, FindingRevokedAfter)
	})

	t.Run("expired after a timestamped signing", func(t *testing.T) {
		out, _ := signFile(t, in, good, p.options(LevelBT))
		later := good.cert.NotAfter.Add(90 * 24 * time.Hour)
		s := p.verify(t, out, func(o *VerifyOptions) { o.Now = later }).Signatures[0]
		wantVerdict(t, s, Valid, FindingExpiredNow)
	})

	t.Run("claimed time 7 hours off", func(t *testing.T) {
		opts := p.options(LevelBT)
		opts.Time = time.Now().Add(7 * time.Hour)
		out, _ := signFile(t, in, good, opts)
		s := p.verify(t, out, nil).Signatures[0]
		wantVerdict(t, s, Valid, FindingClockSkew7h)
	})

	t.Run("untrusted root", func(t *testing.T) {
		out, _ := signFile(t, in, good, p.options(LevelBB))
		s := p.verify(t, out, func(o *VerifyOptions) { o.Trust = cms.NewTrustStore() }).Signatures[0]
		wantVerdict(t, s, Indeterminate, FindingChainUntrusted)
	})

	t.Run("key usage", func(t *testing.T) {
		prof := devpki.Personal()
		prof.KeyUsage = x509.KeyUsageKeyEncipherment
		k := p.issue(t, prof)
		out, _ := signFile(t, in, k, p.options(LevelBB))
		s := p.verify(t, out, nil).Signatures[0]
		wantVerdict(t, s, Invalid, FindingKeyUsage)
	})

	// Last: it stops the responder.
	t.Run("responder down", func(t *testing.T) {
		out, _ := signFile(t, in, good, p.options(LevelBT))
		p.srv.Stop()
		start := time.Now()
		s := p.verify(t, out, nil).Signatures[0]
		wantVerdict(t, s, Indeterminate, FindingRevocationUnknown)
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("verification took %v with the responder down", d)
		}
	})
}

func TestVerifyTampering(t *testing.T) {
	p := newOnlinePKI(t)
	in := sample(t, pdfcorpus.LetterName)
	leader := p.issue(t, devpki.Personal())
	offline := func(o *VerifyOptions) { o.Offline = true }

	t.Run("flipped byte", func(t *testing.T) {
		out, res := signFile(t, in, leader, p.options(LevelBB))
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		data[res.ByteRange[1]/2] ^= 0x01
		bad := filepath.Join(t.TempDir(), "bad.pdf")
		if err := os.WriteFile(bad, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s := p.verify(t, bad, offline).Signatures[0]
		wantVerdict(t, s, Invalid, FindingDigestMismatch)
		if s.Intact {
			t.Error("reported intact")
		}
	})

	t.Run("later signature is permitted", func(t *testing.T) {
		first, _ := signFile(t, in, leader, p.options(LevelBB))
		seal := p.issue(t, devpki.Organisation())
		second, _ := signFile(t, first, seal, p.options(LevelBB))
		rep := p.verify(t, second, nil)
		if len(rep.Signatures) != 2 {
			t.Fatalf("%d signatures", len(rep.Signatures))
		}
		s := rep.Signatures[0]
		wantVerdict(t, s, Valid, FindingPermitted)
		if s.CoversWholeFile || s.Revisions != 1 {
			t.Errorf("coverage %v, revisions %d", s.CoversWholeFile, s.Revisions)
		}
		for _, c := range s.Changes {
			if !c.Permitted || c.Kind != ChangeSignature {
				t.Errorf("change %+v", c)
			}
		}
		wantVerdict(t, rep.Signatures[1], Valid)
		if hasFinding(rep.Signatures[1], FindingSigningOrder) {
			t.Error("personal then organisation reported as out of order")
		}
	})

	t.Run("organisation before person", func(t *testing.T) {
		seal := p.issue(t, devpki.Organisation())
		first, _ := signFile(t, in, seal, p.options(LevelBB))
		second, _ := signFile(t, first, leader, p.options(LevelBB))
		rep := p.verify(t, second, nil)
		wantVerdict(t, rep.Signatures[1], Valid, FindingSigningOrder)
	})

	t.Run("page content changed", func(t *testing.T) {
		out, _ := signFile(t, in, leader, p.options(LevelBB))
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		d := openDoc(t, out)
		pg, err := d.page(1)
		if err != nil {
			t.Fatal(err)
		}
		next := int(d.r.Size())
		pageDict := copyDict(pg.dict)
		pageDict["Contents"] = pdf.Ref{Num: uint32(next)}
		objs := map[int]string{
			next:            streamObj("<<>>", "BT /F1 24 Tf 72 720 Td (PAID) Tj ET"),
			int(pg.ref.Num): string(pdf.AppendObject(nil, pageDict)),
		}
		modified := appendUpdate(t, data, objs, nil)
		path := filepath.Join(t.TempDir(), "modified.pdf")
		if err := os.WriteFile(path, modified, 0o600); err != nil {
			t.Fatal(err)
		}
		s := p.verify(t, path, offline).Signatures[0]
		wantVerdict(t, s, Invalid, FindingModified)
		named := false
		for _, c := range s.Changes {
			if c.Kind == ChangePageContent && c.Page == 1 && !c.Permitted {
				named = true
			}
		}
		if !named {
			t.Errorf("page-content change on page 1 not named: %+v", s.Changes)
		}
		// pdfsig, which does not look at later revisions, still calls it
		// valid: the reason kyso compares revisions itself.
		if sigs := pdfcheck.Pdfsig(t, pdfcheck.NewNSSDB(t, p.srv.PKI.Root.Cert), path); len(sigs) != 1 || !sigs[0].Valid {
			t.Logf("pdfsig: %+v", sigs)
		}
	})
}

func TestVerifyLegacySHA1Chain(t *testing.T) {
	root, inter, key, leaf := pkitest.SHA1Chain(t)
	in := sample(t, pdfcorpus.LetterName)
	out, _ := signFile(t, in, signerKey{key, leaf}, Options{Chain: []*x509.Certificate{inter}})

	legacy := cms.NewTrustStore()
	legacy.AddLegacyRoot(root)
	rep, err := VerifyFile(testContext(t), out, VerifyOptions{Trust: legacy, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Signatures[0]
	if !s.Trusted || !s.LegacySHA1 || !hasFinding(s, FindingLegacySHA1) || s.Verdict == Invalid {
		t.Errorf("under a legacy root: verdict %s, trusted %v, findings %v", s.Verdict, s.Trusted, codes(s))
	}

	plain := cms.NewTrustStore()
	plain.AddRoot(root)
	rep, err = VerifyFile(testContext(t), out, VerifyOptions{Trust: plain, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, rep.Signatures[0], Invalid, FindingSHA1Refused)
}

func TestVerifyBadInput(t *testing.T) {
	broken, err := pdfcorpus.GenerateBroken(testContext(t), t.TempDir(), fx.samples)
	if err != nil {
		t.Fatal(err)
	}
	must := map[string]Code{
		"bad-truncated.pdf": CodeBadDocument, "bad-empty.pdf": CodeBadDocument,
		"bad-not-a-pdf.pdf": CodeBadDocument, "bad-encrypted.pdf": CodeEncrypted,
	}
	for _, s := range broken {
		t.Run(s.Name, func(t *testing.T) {
			rep, err := VerifyFile(testContext(t), s.Path, VerifyOptions{Offline: true})
			want, refused := must[s.Name]
			if !refused {
				// Repairable or refused: either way a clear answer.
				if err == nil && rep == nil {
					t.Fatal("no report and no error")
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != want {
				t.Errorf("error %v, want %s", err, want)
			}
		})
	}
}

// TestVerifyLongTerm: B-LT makes a document verifiable offline once every
// network service is gone; B-LTA's document timestamp verifies with
// OpenSSL, and a second extension keeps the first valid.
func TestVerifyLongTerm(t *testing.T) {
	p := newOnlinePKI(t)
	in := sample(t, pdfcorpus.XRefStreamName)
	k := p.issue(t, devpki.Personal())
	bt, _ := signFile(t, in, k, p.options(LevelBT))
	bb, _ := signFile(t, in, k, p.options(LevelBB))
	dir := t.TempDir()
	ext := func(in, name string, level Level) string {
		t.Helper()
		out := filepath.Join(dir, name)
		_, err := ExtendFile(testContext(t), in, out, ExtendOptions{Level: level, Trust: p.trust, TSA: p.options(LevelBT).TSA, RevocationTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("extend to %s: %v", level, err)
		}
		if err := pdfcheck.IsPrefix(in, out); err != nil {
			t.Error(err)
		}
		if err := pdfcheck.QpdfCheck(out); err != nil {
			t.Error(err)
		}
		return out
	}
	lt := ext(bt, "lt.pdf", LevelBLT)
	lta := ext(bt, "lta.pdf", LevelBLTA)
	lta2 := ext(lta, "lta2.pdf", LevelBLTA)

	// The DSS holds the chain and an OCSP answer for the signer and the
	// intermediate and for the TSA.
	dss := dssOf(t, lt)
	if len(dss.Data.OCSPs) < 2 || len(dss.Data.Certificates) < 4 || len(dss.VRI) != 1 {
		t.Errorf("DSS: %d certificates, %d OCSP, %d CRL, %d VRI", len(dss.Data.Certificates), len(dss.Data.OCSPs), len(dss.Data.CRLs), len(dss.VRI))
	}

	// Every service stops: the CA's responder, its CRLs and the TSA.
	p.srv.Stop()
	p.tsa.Close()
	offline := func(o *VerifyOptions) { o.Offline = true }

	rep := p.verify(t, lt, offline)
	if rep.Verdict() != Valid {
		t.Errorf("B-LT offline: %s: %+v", rep.Verdict(), rep.Signatures[0].Findings)
	}
	if s := rep.Signatures[0]; s.Revocation[0].Source != cms.SourceEmbeddedOCSP {
		t.Errorf("B-LT revocation from %q", s.Revocation[0].Source)
	}
	wantVerdict(t, p.verify(t, bb, offline).Signatures[0], Indeterminate, FindingRevocationUnknown)
	// At B-T the timestamp authority's status is unknown offline too: a
	// warning, the signer's own status is what makes it indeterminate.
	wantVerdict(t, p.verify(t, bt, offline).Signatures[0], Indeterminate, FindingRevocationUnknown, FindingTSARevocationUnknown)

	for _, path := range []string{lta, lta2} {
		rep := p.verify(t, path, offline)
		want := 2
		if path == lta2 {
			want = 3
		}
		if len(rep.Signatures) != want {
			t.Fatalf("%s: %d entries, want %d", filepath.Base(path), len(rep.Signatures), want)
		}
		for _, s := range rep.Signatures {
			if s.Verdict != Valid {
				t.Errorf("%s: %s %s: %s %+v", filepath.Base(path), s.Type, s.Field, s.Verdict, s.Findings)
			}
		}
		last := rep.Signatures[len(rep.Signatures)-1]
		if last.Type != TypeDocTimestamp || !last.CoversWholeFile {
			t.Errorf("%s: last entry %s covers whole file %v", filepath.Base(path), last.Type, last.CoversWholeFile)
		}
		for _, s := range rep.Signatures {
			if hasFinding(s, FindingTSARevocationUnknown) {
				t.Errorf("%s: %s lacks its timestamp authority's validation data: %v", filepath.Base(path), s.Field, codes(s))
			}
		}
	}
	// openssl ts -verify on each document timestamp.
	sigs, err := pdfcheck.ExtractSignatures(lta2)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range sigs {
		ts, err := cms.ParseTimestamp(s.Contents)
		if err != nil {
			continue
		}
		n++
		h := ts.HashAlgorithm.New()
		h.Write(concatRanges(t, lta2, s.ByteRange))
		if err := pdfcheck.OpenSSLVerifyTimestamp(t, s.Contents, h.Sum(nil), []*x509.Certificate{p.srv.PKI.Root.Cert}, []*x509.Certificate{p.srv.PKI.Intermediate.Cert}); err != nil {
			t.Errorf("openssl ts -verify, timestamp %d: %v", n, err)
		}
	}
	if n != 2 {
		t.Errorf("%d document timestamps in the twice-extended file", n)
	}
}

// pdfsigAgree runs pdfsig on path and checks that Verify agrees with its
// verdict on every signature (the acceptance rule for every output of the
// signing, appearance and workflow tests). Trust and revocation do not
// enter pdfsig's "Signature is Valid", so kyso runs offline here: it may
// say indeterminate where pdfsig says valid, never invalid.
func pdfsigAgree(t *testing.T, db *pdfcheck.NSSDB, path string) []pdfcheck.PdfsigSignature {
	t.Helper()
	sigs := pdfcheck.Pdfsig(t, db, path)
	ts := cms.NewTrustStore()
	ts.AddRoot(fx.pki.Root.Cert)
	rep, err := VerifyFile(testContext(t), path, VerifyOptions{Trust: ts, Offline: true})
	if err != nil {
		t.Fatalf("kyso verify %s: %v (pdfsig lists %d signatures)", filepath.Base(path), err, len(sigs))
	}
	verdicts := make([]string, len(rep.Signatures))
	for i, s := range rep.Signatures {
		verdicts[i] = string(s.Verdict)
	}
	if err := pdfcheck.Agree(sigs, verdicts); err != nil {
		for _, s := range rep.Signatures {
			t.Logf("kyso: %s %s %v", s.Field, s.Verdict, s.Findings)
		}
		t.Errorf("kyso and pdfsig disagree on %s: %v", filepath.Base(path), err)
	}
	return sigs
}
