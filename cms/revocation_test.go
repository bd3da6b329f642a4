package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pkitest"
)

// revocationContext ends with the test or after a minute.
func revocationContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// issueLeaf gives a fresh P-256 key a certificate of prof from srv's PKI.
func issueLeaf(t *testing.T, srv *pkitest.Server, prof devpki.Profile) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	key, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := srv.PKI.Issue(prof, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// checkResult compares the essentials of a result.
func checkResult(t *testing.T, res *RevocationResult, status RevocationStatus, source string) {
	t.Helper()
	if res.Status != status || res.Source != source {
		t.Fatalf("status %v from %q, want %v from %q (err %v, warnings %v)", res.Status, res.Source, status, source, res.Err, res.Warnings)
	}
	if (status == RevocationUnknown) != (res.Err != nil) {
		t.Errorf("status %v with error %v", status, res.Err)
	}
	if status == RevocationUnknown && !slices.Contains(res.Warnings, WarningRevocationUnavailable) {
		t.Errorf("unknown status without %s: %v", WarningRevocationUnavailable, res.Warnings)
	}
}

func TestRevocationOnline(t *testing.T) {
	srv := pkitest.Start(t, pkitest.Options{})
	pki := srv.PKI
	_, good := issueLeaf(t, srv, devpki.Personal())
	_, revoked := issueLeaf(t, srv, devpki.Personal().AsRevoked())
	_, goodUnknown := issueLeaf(t, srv, devpki.Personal())
	_, revokedUnknown := issueLeaf(t, srv, devpki.Personal().AsRevoked())
	srv.SetOCSPStatus(goodUnknown.SerialNumber, ocsp.Unknown)
	srv.SetOCSPStatus(revokedUnknown.SerialNumber, ocsp.Unknown)

	tests := []struct {
		name         string
		cert, issuer *x509.Certificate
		want         RevocationStatus
		source, url  string
		warnings     []string
	}{
		{"good", good, pki.Intermediate.Cert, RevocationGood, SourceOCSP, pki.OCSPURL(), nil},
		{"revoked", revoked, pki.Intermediate.Cert, RevocationRevoked, SourceOCSP, pki.OCSPURL(), nil},
		{"OCSP unknown, CRL good", goodUnknown, pki.Intermediate.Cert, RevocationGood, SourceCRL, pki.CRLURL(), []string{WarningOCSPUnknown}},
		{"OCSP unknown, CRL revoked", revokedUnknown, pki.Intermediate.Cert, RevocationRevoked, SourceCRL, pki.CRLURL(), []string{WarningOCSPUnknown}},
		// The intermediate names only the root's CRL.
		{"intermediate", pki.Intermediate.Cert, pki.Root.Cert, RevocationGood, SourceCRL, pki.RootCRLURL(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &RevocationChecker{}
			res := c.Check(revocationContext(t), tt.cert, tt.issuer, time.Now())
			checkResult(t, res, tt.want, tt.source)
			if res.URL != tt.url {
				t.Errorf("URL %q, want %q", res.URL, tt.url)
			}
			if !slices.Equal(res.Warnings, tt.warnings) {
				t.Errorf("warnings %v, want %v", res.Warnings, tt.warnings)
			}
			if tt.want == RevocationRevoked {
				e, _ := pki.RevocationOf(tt.cert.SerialNumber)
				if !res.RevokedAt.Equal(e.RevocationTime) {
					t.Errorf("revoked at %v, want %v", res.RevokedAt, e.RevocationTime)
				}
			}
			switch tt.source {
			case SourceOCSP:
				if _, err := ocsp.ParseResponseForCert(res.OCSP, tt.cert, tt.issuer); err != nil || res.CRL != nil {
					t.Errorf("raw OCSP response to embed: %v", err)
				}
				if res.ProducedAt.IsZero() || res.NextUpdate.IsZero() {
					t.Error("OCSP times missing")
				}
			case SourceCRL:
				if crl, err := x509.ParseRevocationList(res.CRL); err != nil || crl.CheckSignatureFrom(tt.issuer) != nil || res.OCSP != nil {
					t.Errorf("raw CRL to embed: %v", err)
				}
			}
		})
	}
}

func TestRevocationUnreachable(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(*pkitest.Server)
	}{
		{"stopped", func(s *pkitest.Server) { s.Stop() }},
		{"HTTP 503", func(s *pkitest.Server) { s.SetUnavailable(true) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := pkitest.Start(t, pkitest.Options{})
			_, leaf := issueLeaf(t, srv, devpki.Personal())
			tt.breakIt(srv)
			start := time.Now()
			res := (&RevocationChecker{Timeout: 10 * time.Second}).Check(revocationContext(t), leaf, srv.PKI.Intermediate.Cert, time.Now())
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			checkResult(t, res, RevocationUnknown, "")
			want := []string{WarningOCSPFailed, WarningCRLFailed, WarningRevocationUnavailable}
			if !slices.Equal(res.Warnings, want) {
				t.Errorf("warnings %v, want %v", res.Warnings, want)
			}
		})
	}
}

func TestRevocationCancelled(t *testing.T) {
	srv := pkitest.Start(t, pkitest.Options{})
	_, leaf := issueLeaf(t, srv, devpki.Personal())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := (&RevocationChecker{}).Check(ctx, leaf, srv.PKI.Intermediate.Cert, time.Now())
	checkResult(t, res, RevocationUnknown, "")
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", res.Err)
	}
	if o, c := srv.Requests(); o+c != 0 {
		t.Errorf("%d requests after cancellation", o+c)
	}
}

func TestRevocationEmbedded(t *testing.T) {
	srv := pkitest.Start(t, pkitest.Options{})
	pki := srv.PKI
	inter := pki.Intermediate.Cert
	_, good := issueLeaf(t, srv, devpki.Personal())
	_, revoked := issueLeaf(t, srv, devpki.Personal().AsRevoked())
	ctx := revocationContext(t)

	goodOCSP, resp, err := FetchOCSP(ctx, nil, good, inter)
	if err != nil || resp.Status != ocsp.Good {
		t.Fatalf("FetchOCSP: %v", err)
	}
	crlDER, crl, err := FetchCRL(ctx, nil, pki.CRLURL())
	if err != nil || len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("FetchCRL: %v", err)
	}
	other := pkitest.Start(t, pkitest.Options{})
	otherCRL, _, err := FetchCRL(ctx, nil, other.PKI.CRLURL())
	if err != nil {
		t.Fatal(err)
	}
	_, otherLeaf := issueLeaf(t, other, devpki.Personal())
	otherOCSP, _, err := FetchOCSP(ctx, nil, otherLeaf, other.PKI.Intermediate.Cert)
	if err != nil {
		t.Fatal(err)
	}
	other.Stop()

	tests := []struct {
		name     string
		cert     *x509.Certificate
		data     ValidationData
		offline  bool
		at       time.Time
		want     RevocationStatus
		source   string
		revokeAt bool
	}{
		{name: "OCSP", cert: good, data: ValidationData{OCSPs: [][]byte{otherOCSP, goodOCSP}}, offline: true, want: RevocationGood, source: SourceEmbeddedOCSP},
		{name: "OCSP, online allowed", cert: good, data: ValidationData{OCSPs: [][]byte{goodOCSP}}, want: RevocationGood, source: SourceEmbeddedOCSP},
		{name: "CRL, good", cert: good, data: ValidationData{CRLs: [][]byte{otherCRL, crlDER}}, offline: true, want: RevocationGood, source: SourceEmbeddedCRL},
		{name: "CRL, revoked", cert: revoked, data: ValidationData{CRLs: [][]byte{crlDER}}, offline: true, want: RevocationRevoked, source: SourceEmbeddedCRL},
		{name: "OCSP before CRL", cert: good, data: ValidationData{OCSPs: [][]byte{goodOCSP}, CRLs: [][]byte{crlDER}}, offline: true, want: RevocationGood, source: SourceEmbeddedOCSP},
		// A good answer no longer current at the time asked about is
		// not used; a revocation is final and is.
		{name: "stale OCSP", cert: good, data: ValidationData{OCSPs: [][]byte{goodOCSP}}, offline: true, at: time.Now().Add(48 * time.Hour), want: RevocationUnknown},
		{name: "stale CRL, good", cert: good, data: ValidationData{CRLs: [][]byte{crlDER}}, offline: true, at: time.Now().Add(30 * 24 * time.Hour), want: RevocationUnknown},
		{name: "stale CRL, revoked", cert: revoked, data: ValidationData{CRLs: [][]byte{crlDER}}, offline: true, at: time.Now().Add(30 * 24 * time.Hour), want: RevocationRevoked, source: SourceEmbeddedCRL},
		{name: "only other certificates' material", cert: good, data: ValidationData{OCSPs: [][]byte{otherOCSP}, CRLs: [][]byte{otherCRL}}, offline: true, want: RevocationUnknown},
		{name: "nothing", cert: good, offline: true, want: RevocationUnknown},
		{name: "garbage", cert: good, data: ValidationData{OCSPs: [][]byte{{0x30, 0x00}}, CRLs: [][]byte{{0x01}}}, offline: true, want: RevocationUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ocspBefore, crlBefore := srv.Requests()
			at := tt.at
			if at.IsZero() {
				at = time.Now()
			}
			c := &RevocationChecker{Offline: tt.offline, Embedded: tt.data}
			res := c.Check(ctx, tt.cert, inter, at)
			checkResult(t, res, tt.want, tt.source)
			if o, c := srv.Requests(); o != ocspBefore || c != crlBefore {
				t.Errorf("%d OCSP and %d CRL requests made", o-ocspBefore, c-crlBefore)
			}
			if tt.want == RevocationRevoked && res.RevokedAt.IsZero() {
				t.Error("no revocation time")
			}
		})
	}
}

// TestRevocationOCSPSigner checks who may sign an OCSP response: the
// issuer, or a responder certificate the issuer gave id-kp-OCSPSigning,
// carried in the response or in the embedded certificates; nobody else,
// and no response about the same serial from another issuer.
func TestRevocationOCSPSigner(t *testing.T) {
	srv := pkitest.Start(t, pkitest.Options{})
	pki := srv.PKI
	inter := pki.Intermediate
	_, leaf := issueLeaf(t, srv, devpki.Personal())
	other := pkitest.Start(t, pkitest.Options{})
	srv.Stop()
	other.Stop()

	responder := func(t *testing.T, pki *devpki.PKI, eku bool) (crypto.Signer, *x509.Certificate) {
		prof := devpki.Organisation()
		prof.CommonName = "kyso Test OCSP responder"
		prof.KeyUsage = x509.KeyUsageDigitalSignature
		prof.ExtKeyUsage = nil
		if eku {
			prof.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
		}
		key, err := devpki.GenerateSoftKey(devpki.ECP256)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := pki.Issue(prof, key.Public())
		if err != nil {
			t.Fatal(err)
		}
		return key, cert
	}
	delegKey, deleg := responder(t, pki, true)
	noEKUKey, noEKU := responder(t, pki, false)
	foreignKey, foreign := responder(t, other.PKI, true)
	wrongKey, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	sign := func(t *testing.T, issuer, responderCert *x509.Certificate, key crypto.Signer, include bool) []byte {
		t.Helper()
		tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: leaf.SerialNumber, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
		if include {
			tmpl.Certificate = responderCert
		}
		der, err := ocsp.CreateResponse(issuer, responderCert, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	tests := []struct {
		name  string
		der   func(t *testing.T) []byte
		certs [][]byte
		want  RevocationStatus
	}{
		{"issuer", func(t *testing.T) []byte { return sign(t, inter.Cert, inter.Cert, inter.Key, false) }, nil, RevocationGood},
		{"issuer, own certificate included", func(t *testing.T) []byte { return sign(t, inter.Cert, inter.Cert, inter.Key, true) }, nil, RevocationGood},
		{"delegated", func(t *testing.T) []byte { return sign(t, inter.Cert, deleg, delegKey, true) }, nil, RevocationGood},
		{"delegated, certificate in the DSS", func(t *testing.T) []byte { return sign(t, inter.Cert, deleg, delegKey, false) }, [][]byte{deleg.Raw}, RevocationGood},
		{"delegated, certificate nowhere", func(t *testing.T) []byte { return sign(t, inter.Cert, deleg, delegKey, false) }, nil, RevocationUnknown},
		{"responder without OCSPSigning", func(t *testing.T) []byte { return sign(t, inter.Cert, noEKU, noEKUKey, true) }, nil, RevocationUnknown},
		{"responder of another CA", func(t *testing.T) []byte { return sign(t, inter.Cert, foreign, foreignKey, true) }, nil, RevocationUnknown},
		{"wrong key", func(t *testing.T) []byte { return sign(t, inter.Cert, inter.Cert, wrongKey, false) }, nil, RevocationUnknown},
		{"same serial, other issuer", func(t *testing.T) []byte { return sign(t, other.PKI.Intermediate.Cert, inter.Cert, inter.Key, false) }, nil, RevocationUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &RevocationChecker{Offline: true, Embedded: ValidationData{OCSPs: [][]byte{tt.der(t)}, Certificates: tt.certs}}
			res := c.Check(revocationContext(t), leaf, inter.Cert, now)
			source := SourceEmbeddedOCSP
			if tt.want == RevocationUnknown {
				source = ""
			}
			checkResult(t, res, tt.want, source)
		})
	}
}

func TestRevocationStatusString(t *testing.T) {
	for s, want := range map[RevocationStatus]string{
		RevocationUnknown: "unknown", RevocationGood: "good", RevocationRevoked: "revoked", 7: "RevocationStatus(7)",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", int(s), got, want)
		}
	}
}

// archiveAttribute encodes an adbe-revocationInfoArchival attribute whose
// single value is value.
func archiveAttribute(t *testing.T, value []byte) []byte {
	t.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidAttrAdobeRevocationArchival())
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(value) })
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// archiveValue encodes RevocationInfoArchival.
func archiveValue(t *testing.T, crls, ocsps [][]byte, other bool) []byte {
	t.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for i, list := range [][][]byte{crls, ocsps} {
			if list == nil {
				continue
			}
			b.AddASN1(cbasn1.Tag(i).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, item := range list {
						b.AddBytes(item)
					}
				})
			})
		}
		if other {
			b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier([]int{1, 3, 6, 1, 4, 1, 32473, 1})
						b.AddASN1OctetString([]byte("other"))
					})
				})
			})
		}
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// withSignedAttributes returns der (one signer) with extra attributes
// added to its signed attributes. The signature no longer verifies, which
// Parse does not check.
func withSignedAttributes(t *testing.T, der []byte, extra ...[]byte) []byte {
	t.Helper()
	sd, err := Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	s := cryptobyte.String(sd.Signers[0].SignedAttrsDER)
	var content cryptobyte.String
	if !s.ReadASN1(&content, cbasn1.SET) {
		t.Fatal("malformed signed attributes")
	}
	attrs := [][]byte{content}
	attrs = append(attrs, extra...)
	out, err := mapSignerInfo(der, func(f []element) ([]element, error) {
		f = slices.Clone(f)
		f[3] = tlv(t, cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			for _, a := range attrs {
				b.AddBytes(a)
			}
		})
		return f, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseRevocationArchive(t *testing.T) {
	srv := pkitest.Start(t, pkitest.Options{})
	inter := srv.PKI.Intermediate.Cert
	key, leaf := issueLeaf(t, srv, devpki.Personal())
	ctx := revocationContext(t)
	ocspDER, _, err := FetchOCSP(ctx, nil, leaf, inter)
	if err != nil {
		t.Fatal(err)
	}
	crlDER, _, err := FetchCRL(ctx, nil, srv.PKI.CRLURL())
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	plain, err := Sign(ctx, key, leaf, make([]byte, 32), Options{Chain: []*x509.Certificate{inter}})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		attrs     [][]byte
		wantCRLs  [][]byte
		wantOCSPs [][]byte
		wantNil   bool
		wantErr   bool
	}{
		{name: "absent", wantNil: true},
		{name: "CRL and OCSP", attrs: [][]byte{archiveAttribute(t, archiveValue(t, [][]byte{crlDER}, [][]byte{ocspDER}, false))},
			wantCRLs: [][]byte{crlDER}, wantOCSPs: [][]byte{ocspDER}},
		{name: "OCSP only, with otherRevInfo", attrs: [][]byte{archiveAttribute(t, archiveValue(t, nil, [][]byte{ocspDER, ocspDER}, true))},
			wantOCSPs: [][]byte{ocspDER, ocspDER}},
		{name: "empty", attrs: [][]byte{archiveAttribute(t, archiveValue(t, nil, nil, false))}},
		{name: "not a SEQUENCE", attrs: [][]byte{archiveAttribute(t, []byte{0x02, 0x01, 0x05})}, wantNil: true, wantErr: true},
		{name: "entry not a SEQUENCE", attrs: [][]byte{archiveAttribute(t, archiveValue(t, [][]byte{{0x04, 0x00}}, nil, false))}, wantNil: true, wantErr: true},
		{name: "trailing field", attrs: [][]byte{archiveAttribute(t, []byte{0x30, 0x02, 0x05, 0x00})}, wantNil: true, wantErr: true},
		{name: "twice", attrs: [][]byte{
			archiveAttribute(t, archiveValue(t, nil, [][]byte{ocspDER}, false)),
			archiveAttribute(t, archiveValue(t, nil, [][]byte{ocspDER}, false)),
		}, wantNil: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der := plain
			if tt.attrs != nil {
				der = withSignedAttributes(t, plain, tt.attrs...)
			}
			sd, err := Parse(der)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			si := sd.Signers[0]
			if (si.RevocationArchiveErr != nil) != tt.wantErr {
				t.Errorf("RevocationArchiveErr = %v, want error %v", si.RevocationArchiveErr, tt.wantErr)
			}
			if tt.wantNil {
				if si.RevocationArchive != nil {
					t.Errorf("archive %+v, want none", si.RevocationArchive)
				}
				return
			}
			a := si.RevocationArchive
			if a == nil {
				t.Fatal("no archive")
			}
			if !slices.EqualFunc(a.CRLs, tt.wantCRLs, bytes.Equal) || !slices.EqualFunc(a.OCSPs, tt.wantOCSPs, bytes.Equal) || a.Certificates != nil {
				t.Errorf("archive has %d CRLs, %d OCSPs; want %d, %d", len(a.CRLs), len(a.OCSPs), len(tt.wantCRLs), len(tt.wantOCSPs))
			}
			if len(tt.wantOCSPs) == 0 {
				return
			}
			// What the signer archived answers offline.
			res := (&RevocationChecker{Offline: true, Embedded: *a}).Check(ctx, si.Certificate, inter, time.Now())
			checkResult(t, res, RevocationGood, SourceEmbeddedOCSP)
		})
	}
}

// TestOCSPAnswersForSerial checks that a valid response of the right
// issuer about another serial number is recognised as not about the
// certificate, so that a DSS's responses for other certificates are
// skipped silently.
func TestOCSPAnswersForSerial(t *testing.T) {
	srv := pkitest.Start(t, pkitest.Options{})
	srv.Stop()
	inter := srv.PKI.Intermediate
	_, leaf := issueLeaf(t, srv, devpki.Personal())
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: new(big.Int).Add(leaf.SerialNumber, big.NewInt(1)), ThisUpdate: time.Now()}
	der, err := ocsp.CreateResponse(inter.Cert, inter.Cert, tmpl, inter.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := verifyOCSP(der, leaf, inter.Cert, nil); !errors.Is(err, errNotForCert) {
		t.Errorf("response about another serial: %v, want errNotForCert", err)
	}
}
