package devpki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewHierarchy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    KeyKind
		wantKey func(any) bool
	}{
		{"default RSA-3072", 0, func(k any) bool { r, ok := k.(*rsa.PublicKey); return ok && r.N.BitLen() == 3072 }},
		{"P-384", ECP384, func(k any) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P384() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(Options{KeyKind: tt.kind, Now: fixedNow()})
			if err != nil {
				t.Fatal(err)
			}
			root, inter := p.Root.Cert, p.Intermediate.Cert
			if !tt.wantKey(root.PublicKey) || !tt.wantKey(inter.PublicKey) {
				t.Errorf("CA keys are %T/%T, want %s", root.PublicKey, inter.PublicKey, tt.name)
			}
			if root.Subject.CommonName != RootCommonName || inter.Subject.CommonName != IntermediateCommonName {
				t.Errorf("CNs = %q, %q", root.Subject.CommonName, inter.Subject.CommonName)
			}
			if err := root.CheckSignatureFrom(root); err != nil {
				t.Errorf("root is not self-signed: %v", err)
			}
			if err := inter.CheckSignatureFrom(root); err != nil {
				t.Errorf("intermediate not signed by root: %v", err)
			}
			if !root.IsCA || !inter.IsCA || inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
				t.Errorf("basic constraints: root CA=%v, intermediate CA=%v pathlen=%d zero=%v",
					root.IsCA, inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
			}
			if got := root.NotAfter.Sub(root.NotBefore); got != rootValidity {
				t.Errorf("root validity %v, want 20 years", got)
			}
			if len(root.SubjectKeyId) == 0 || !bytes.Equal(inter.AuthorityKeyId, root.SubjectKeyId) {
				t.Errorf("intermediate AKI %x does not match root SKI %x", inter.AuthorityKeyId, root.SubjectKeyId)
			}
			if !slices.Equal(inter.IssuingCertificateURL, []string{DefaultBaseURL + "/ca/root.crt"}) ||
				!slices.Equal(inter.CRLDistributionPoints, []string{DefaultBaseURL + "/crl/root.crl"}) {
				t.Errorf("intermediate AIA %v, CRL DP %v", inter.IssuingCertificateURL, inter.CRLDistributionPoints)
			}
			if p.Now() != fixedNow() {
				t.Errorf("Now() = %v, want the fixed clock", p.Now())
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{
		{BaseURL: "ftp://example.org"},
		{BaseURL: "127.0.0.1:8099"},
		{KeyKind: 42},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
}

// TestIssueProfiles checks every preset and negative variant with
// crypto/x509 and with openssl verify.
func TestIssueProfiles(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	key, err := GenerateSoftKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	both := x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	tests := []struct {
		profile     Profile
		wantName    string
		wantKU      x509.KeyUsage
		wantValid   bool   // chain verifies at the PKI clock
		wantOpenSSL string // substring of a failing openssl verify
		wantRevoked bool
	}{
		{Personal(), "personal", both, true, "", false},
		{Organisation(), "organisation", both, true, "", false},
		{Personal().AsExpired(), "personal-expired", both, false, "certificate has expired", false},
		{Organisation().AsNotYetValid(), "organisation-not-yet-valid", both, false, "certificate is not yet valid", false},
		{Personal().AsRevoked(), "personal-revoked", both, true, "", true},
		{Personal().WithoutNonRepudiation(), "personal-no-nonrepudiation", x509.KeyUsageDigitalSignature, true, "", false},
		{Personal().WithoutDigitalSignature(), "personal-no-digitalsignature", x509.KeyUsageContentCommitment, true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.wantName, func(t *testing.T) {
			t.Parallel()
			if tt.profile.Name != tt.wantName {
				t.Errorf("profile name %q, want %q", tt.profile.Name, tt.wantName)
			}
			cert, err := p.Issue(tt.profile, key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if cert.KeyUsage != tt.wantKU {
				t.Errorf("key usage %b, want %b", cert.KeyUsage, tt.wantKU)
			}
			if !cert.PublicKey.(*rsa.PublicKey).Equal(key.Public()) {
				t.Errorf("certificate is not over the given key")
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 || cert.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %x is not a random positive 128-bit number", cert.SerialNumber)
			}
			if want, _ := SubjectKeyID(key.Public()); !bytes.Equal(cert.SubjectKeyId, want) {
				t.Errorf("SKI %x, want %x", cert.SubjectKeyId, want)
			}
			if !bytes.Equal(cert.AuthorityKeyId, p.Intermediate.Cert.SubjectKeyId) {
				t.Errorf("AKI %x, want intermediate SKI %x", cert.AuthorityKeyId, p.Intermediate.Cert.SubjectKeyId)
			}
			if !slices.Equal(cert.OCSPServer, []string{"http://127.0.0.1:18099/ocsp"}) ||
				!slices.Equal(cert.IssuingCertificateURL, []string{"http://127.0.0.1:18099/ca/intermediate.crt"}) ||
				!slices.Equal(cert.CRLDistributionPoints, []string{"http://127.0.0.1:18099/crl/intermediate.crl"}) {
				t.Errorf("URLs: OCSP %v, AIA %v, CRL %v", cert.OCSPServer, cert.IssuingCertificateURL, cert.CRLDistributionPoints)
			}
			if len(cert.Policies) != 1 || cert.Policies[0].String() != OIDVGCAPolicy {
				t.Errorf("policies %v, want %s", cert.Policies, OIDVGCAPolicy)
			}
			if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("EKU %v", cert.ExtKeyUsage)
			}

			_, verr := cert.Verify(verifyOpts(p, p.Now()))
			if (verr == nil) != tt.wantValid {
				t.Errorf("x509 Verify at PKI clock: %v, want valid=%v", verr, tt.wantValid)
			}
			if !tt.wantValid {
				var inv x509.CertificateInvalidError
				if !errors.As(verr, &inv) || inv.Reason != x509.Expired {
					t.Errorf("x509 Verify error %v, want CertificateInvalidError{Expired}", verr)
				}
				// Within its own validity the certificate chains fine:
				// only the date is wrong with it.
				if _, err := cert.Verify(verifyOpts(p, cert.NotBefore.Add(24*time.Hour))); err != nil {
					t.Errorf("x509 Verify within the validity period: %v", err)
				}
			}
			out, ok := opensslVerify(t, p, cert)
			if ok != tt.wantValid || !strings.Contains(out, tt.wantOpenSSL) {
				t.Errorf("openssl verify: ok=%v, want %v containing %q:\n%s", ok, tt.wantValid, tt.wantOpenSSL, out)
			}
			if _, revoked := p.RevocationOf(cert.SerialNumber); revoked != tt.wantRevoked {
				t.Errorf("RevocationOf = %v, want %v", revoked, tt.wantRevoked)
			}
		})
	}
}

func TestSubjectEncoding(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	key, err := GenerateSoftKey(ECP256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		profile  Profile
		want     []string // lines of openssl's multiline subject
		wantUIDs []string
		absent   string
	}{
		{
			profile: Personal(),
			want: []string{"C=VN", "ST=Bình Phước", "O=Ủy ban nhân dân tỉnh Bình Phước", "OU=Văn phòng",
				"title=Chủ tịch", "CN=Nguyễn Văn Ánh", "UID=CCCD:001086012345"},
			wantUIDs: []string{"CCCD:001086012345"},
			absent:   "MST:",
		},
		{
			profile:  Organisation(),
			want:     []string{"C=VN", "CN=Ủy ban nhân dân tỉnh Bình Phước", "UID=MST:3800238370", "UID=MNS:1054321"},
			wantUIDs: []string{"MST:3800238370", "MNS:1054321"},
			absent:   "CCCD:",
		},
		{
			profile: func() Profile {
				pr := Personal()
				pr.UIDs = []string{"CMND:025123456", "MST:0100686209-199", "HC:B1234567"}
				return pr
			}(),
			want:     []string{"UID=CMND:025123456", "UID=MST:0100686209-199", "UID=HC:B1234567"},
			wantUIDs: []string{"CMND:025123456", "MST:0100686209-199", "HC:B1234567"},
			absent:   "CCCD:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.profile.Name+"/"+tt.wantUIDs[0], func(t *testing.T) {
			t.Parallel()
			cert, err := p.Issue(tt.profile, key.Public())
			if err != nil {
				t.Fatal(err)
			}
			subject := opensslSubject(t, cert)
			lines := strings.Split(subject, "\n")
			for i := range lines {
				lines[i] = strings.TrimSpace(lines[i])
			}
			for _, w := range tt.want {
				if !slices.Contains(lines, w) {
					t.Errorf("openssl subject lacks %q:\n%s", w, subject)
				}
			}
			if strings.Contains(subject, tt.absent) {
				t.Errorf("openssl subject contains %q:\n%s", tt.absent, subject)
			}
			if got := uidsOf(t, cert); !slices.Equal(got, tt.wantUIDs) {
				t.Errorf("UIDs parsed by crypto/x509 = %q, want %q", got, tt.wantUIDs)
			}
			checkStringTypes(t, cert.RawSubject)
		})
	}
}

// uidsOf returns the UID attribute values of the certificate subject in
// order.
func uidsOf(t *testing.T, cert *x509.Certificate) []string {
	t.Helper()
	var out []string
	for _, atv := range cert.Subject.Names {
		if atv.Type.String() == OIDUserID {
			s, ok := atv.Value.(string)
			if !ok {
				t.Fatalf("UID value %T", atv.Value)
			}
			out = append(out, s)
		}
	}
	return out
}

// checkStringTypes asserts that the DER subject uses PrintableString for C
// and UTF8String for every other attribute.
func checkStringTypes(t *testing.T, rawSubject []byte) {
	t.Helper()
	var rdns []asn1.RawValue
	if rest, err := asn1.Unmarshal(rawSubject, &rdns); err != nil || len(rest) > 0 {
		t.Fatalf("parse subject: %v", err)
	}
	for _, rdn := range rdns {
		var atvs []struct {
			Type  asn1.ObjectIdentifier
			Value asn1.RawValue
		}
		if _, err := asn1.UnmarshalWithParams(rdn.FullBytes, &atvs, "set"); err != nil {
			t.Fatalf("parse RDN: %v", err)
		}
		for _, atv := range atvs {
			want := asn1.TagUTF8String
			if atv.Type.String() == oidCountry {
				want = asn1.TagPrintableString
			}
			if atv.Value.Tag != want {
				t.Errorf("attribute %s %q has tag %d, want %d", atv.Type, atv.Value.Bytes, atv.Value.Tag, want)
			}
		}
	}
}

func TestProfileVariantsDoNotAlias(t *testing.T) {
	t.Parallel()
	base := Personal()
	v := base.AsRevoked()
	v.UIDs[0] = "CCCD:999999999999"
	v.ExtKeyUsage[0] = x509.ExtKeyUsageAny
	if base.UIDs[0] != "CCCD:001086012345" || base.ExtKeyUsage[0] != x509.ExtKeyUsageEmailProtection || base.Revoke {
		t.Errorf("changing a variant changed the base profile: %+v", base)
	}
	chained := Personal().AsExpired().WithoutNonRepudiation()
	if chained.Name != "personal-expired-no-nonrepudiation" || chained.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("chained variant = %q, %b", chained.Name, chained.KeyUsage)
	}
}

func TestIssueRejectsBadProfiles(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	key, err := GenerateSoftKey(ECP256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Profile)
	}{
		{"no common name", func(pr *Profile) { pr.CommonName = "" }},
		{"non-printable country", func(pr *Profile) { pr.Country = "Việt Nam" }},
		{"negative serial", func(pr *Profile) { pr.SerialNumber = big.NewInt(-5) }},
		{"bad policy", func(pr *Profile) { pr.Policies = []string{"not-an-oid"} }},
		{"inverted validity", func(pr *Profile) { pr.NotAfter = fixedNow().Add(-100 * 24 * time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := Personal()
			tt.edit(&pr)
			if _, err := p.Issue(pr, key.Public()); err == nil {
				t.Errorf("Issue succeeded")
			}
		})
	}
	fixed := Personal()
	fixed.SerialNumber = big.NewInt(0x1234)
	cert, err := p.Issue(fixed, key.Public())
	if err != nil || cert.SerialNumber.Int64() != 0x1234 {
		t.Errorf("Issue with a fixed serial: %v, %v", cert, err)
	}
}

func TestCRL(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	key, err := GenerateSoftKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	good, err := p.Issue(Personal(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := p.Issue(Personal().AsRevoked(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	lateSerial := big.NewInt(0xC0FFEE)
	p.Revoke(lateSerial)
	p.Revoke(lateSerial) // idempotent

	der, err := p.CRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(p.Intermediate.Cert); err != nil {
		t.Errorf("CRL not signed by the intermediate: %v", err)
	}
	if !crl.ThisUpdate.Equal(fixedNow()) || !crl.NextUpdate.After(crl.ThisUpdate) {
		t.Errorf("CRL dates %v .. %v", crl.ThisUpdate, crl.NextUpdate)
	}
	var serials []string
	for _, e := range crl.RevokedCertificateEntries {
		serials = append(serials, e.SerialNumber.Text(16))
		if !e.RevocationTime.Equal(fixedNow()) {
			t.Errorf("revocation time %v, want %v", e.RevocationTime, fixedNow())
		}
	}
	if want := []string{revoked.SerialNumber.Text(16), "c0ffee"}; !slices.Equal(serials, want) {
		t.Errorf("CRL serials %v, want %v", serials, want)
	}
	if len(p.Revoked()) != 2 {
		t.Errorf("Revoked() = %v", p.Revoked())
	}

	// openssl agrees: the revoked certificate fails a CRL check, the good
	// one passes it.
	crlPath := filepath.Join(t.TempDir(), "intermediate.crl.pem")
	if err := os.WriteFile(crlPath, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, ok := opensslVerify(t, p, revoked, "-crl_check", "-CRLfile", crlPath); ok || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify -crl_check of the revoked certificate:\n%s", out)
	}
	if out, ok := opensslVerify(t, p, good, "-crl_check", "-CRLfile", crlPath); !ok {
		t.Errorf("openssl verify -crl_check of the good certificate:\n%s", out)
	}

	rootDER, err := p.RootCRL()
	if err != nil {
		t.Fatal(err)
	}
	rootCRL, err := x509.ParseRevocationList(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := rootCRL.CheckSignatureFrom(p.Root.Cert); err != nil || len(rootCRL.RevokedCertificateEntries) != 0 {
		t.Errorf("root CRL: signature %v, %d entries", err, len(rootCRL.RevokedCertificateEntries))
	}
}

func TestSaveLoad(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pki")
	p := newTestPKI(t)
	p.Revoke(big.NewInt(77))
	if err := p.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{RootKeyFile, IntermediateKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", f, st.Mode().Perm())
		}
	}
	q, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Root.Cert.Equal(p.Root.Cert) || !q.Intermediate.Cert.Equal(p.Intermediate.Cert) {
		t.Errorf("loaded certificates differ")
	}
	if checkKeyPair(p.Intermediate.Cert, q.Intermediate.Key) != nil || checkKeyPair(p.Root.Cert, q.Root.Key) != nil {
		t.Errorf("loaded keys differ")
	}
	if q.BaseURL != "http://127.0.0.1:18099" {
		t.Errorf("loaded base URL %q", q.BaseURL)
	}
	if _, ok := q.RevocationOf(big.NewInt(77)); !ok {
		t.Errorf("revocation list not persisted")
	}
	// The loaded PKI still issues certificates that chain to the root.
	key, err := GenerateSoftKey(ECP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := q.Issue(Organisation(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(verifyOpts(p, time.Now())); err != nil {
		t.Errorf("certificate from the loaded PKI: %v", err)
	}

	// LoadOrNew: reuse, mismatch, create.
	r, created, err := LoadOrNew(dir, Options{})
	if err != nil || created || !r.Root.Cert.Equal(p.Root.Cert) {
		t.Errorf("LoadOrNew on a saved PKI: created=%v err=%v", created, err)
	}
	if _, _, err := LoadOrNew(dir, Options{BaseURL: "http://127.0.0.1:1"}); err == nil {
		t.Errorf("LoadOrNew accepted a different base URL")
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	if _, created, err := LoadOrNew(fresh, Options{KeyKind: ECP256}); err != nil || !created {
		t.Errorf("LoadOrNew on an empty directory: created=%v err=%v", created, err)
	}

	// A key that does not belong to its certificate is refused.
	other := newTestPKI(t)
	if err := other.Save(fresh); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fresh, RootKeyFile), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(fresh); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Load with a swapped key: %v", err)
	}
}

func TestGenerateSoftKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind KeyKind
		name string
		ok   func(any) bool
	}{
		{RSA2048, "RSA-2048", func(k any) bool { r, ok := k.(*rsa.PublicKey); return ok && r.N.BitLen() == 2048 && r.E == 65537 }},
		{RSA3072, "RSA-3072", func(k any) bool { r, ok := k.(*rsa.PublicKey); return ok && r.N.BitLen() == 3072 }},
		{ECP256, "P-256", func(k any) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P256() }},
		{ECP384, "P-384", func(k any) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P384() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.kind.String() != tt.name {
				t.Errorf("String() = %q", tt.kind.String())
			}
			k, err := GenerateSoftKey(tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.ok(k.Public()) {
				t.Errorf("public key %T is not %s", k.Public(), tt.name)
			}
		})
	}
	if _, err := GenerateSoftKey(0); err == nil {
		t.Errorf("GenerateSoftKey(0) succeeded")
	}
}
