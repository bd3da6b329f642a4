package cms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/devpki"
)

func TestSignVerify(t *testing.T) {
	pki := newPKI(t, 0)
	keys := map[devpki.KeyKind]crypto.Signer{}
	certs := map[devpki.KeyKind]*x509.Certificate{}
	for _, k := range []devpki.KeyKind{devpki.RSA2048, devpki.ECP256, devpki.ECP384} {
		keys[k], certs[k] = newSigner(t, pki, k)
	}
	signingTime := time.Date(2026, 11, 22, 7, 5, 9, 0, time.UTC)

	tests := []struct {
		name        string
		kind        devpki.KeyKind
		hash        crypto.Hash
		pss         bool
		signingTime time.Time
		wantAlg     x509.SignatureAlgorithm
	}{
		{"rsa2048-pkcs1-sha256", devpki.RSA2048, crypto.SHA256, false, time.Time{}, x509.SHA256WithRSA},
		{"rsa2048-pkcs1-sha384", devpki.RSA2048, crypto.SHA384, false, time.Time{}, x509.SHA384WithRSA},
		{"rsa2048-pkcs1-sha512", devpki.RSA2048, crypto.SHA512, false, time.Time{}, x509.SHA512WithRSA},
		{"rsa2048-pss-sha256", devpki.RSA2048, crypto.SHA256, true, time.Time{}, x509.SHA256WithRSAPSS},
		{"rsa2048-pss-sha512", devpki.RSA2048, crypto.SHA512, true, time.Time{}, x509.SHA512WithRSAPSS},
		{"p256-sha256", devpki.ECP256, crypto.SHA256, false, time.Time{}, x509.ECDSAWithSHA256},
		{"p384-sha384", devpki.ECP384, crypto.SHA384, false, time.Time{}, x509.ECDSAWithSHA384},
		{"default-hash", devpki.ECP256, 0, false, time.Time{}, x509.ECDSAWithSHA256},
		{"cades-signing-time", devpki.RSA2048, crypto.SHA256, false, signingTime, x509.SHA256WithRSA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, cert := keys[tt.kind], certs[tt.kind]
			hash := tt.hash
			if hash == 0 {
				hash = crypto.SHA256
			}
			data := randomData(t, 4096)
			digest := digestOf(hash, data)
			opts := cms.Options{Hash: tt.hash, PSS: tt.pss, Chain: pki.Chain()[:1], SigningTime: tt.signingTime}
			der, err := cms.Sign(testContext(t), key, cert, digest, opts)
			if err != nil {
				t.Fatal(err)
			}

			sd, err := cms.Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if !sd.Detached || sd.Content != nil || sd.ContentType.String() != "1.2.840.113549.1.7.1" {
				t.Errorf("want detached id-data, got detached=%v content type %v", sd.Detached, sd.ContentType)
			}
			if len(sd.Certificates) != 2 || len(sd.RawCertificates) != 2 || !sd.Certificates[0].Equal(cert) || !sd.Certificates[1].Equal(pki.Intermediate.Cert) {
				t.Errorf("certificates: want signer then intermediate, got %d", len(sd.Certificates))
			}
			if len(sd.Signers) != 1 {
				t.Fatalf("%d signers", len(sd.Signers))
			}
			si := sd.Signers[0]
			if si.Certificate == nil || !si.Certificate.Equal(cert) {
				t.Fatal("signer certificate not matched")
			}
			if si.DigestAlgorithm != hash || si.SignatureAlgorithm != tt.wantAlg || si.PSS != tt.pss {
				t.Errorf("algorithms: digest %v signature %v pss %v", si.DigestAlgorithm, si.SignatureAlgorithm, si.PSS)
			}
			if err := si.VerifySignature(); err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
			if err := si.CheckMessageDigest(digest); err != nil {
				t.Errorf("CheckMessageDigest: %v", err)
			}
			if err := si.CheckMessageDigest(digestOf(hash, []byte("other"))); !errors.Is(err, cms.ErrDigestMismatch) {
				t.Errorf("CheckMessageDigest(other) = %v, want ErrDigestMismatch", err)
			}
			if err := si.CheckSigningCertificate(); err != nil {
				t.Errorf("CheckSigningCertificate: %v", err)
			}
			if len(si.SigningCertificateV2) != 1 || si.SigningCertificateV2[0].HashAlgorithm != hash ||
				si.SigningCertificateV2[0].SerialNumber.Cmp(cert.SerialNumber) != 0 ||
				!bytes.Equal(si.SigningCertificateV2[0].Issuer, cert.RawIssuer) {
				t.Errorf("signing-certificate-v2 = %+v", si.SigningCertificateV2)
			}
			if si.HasSigningCertificate {
				t.Error("legacy signing-certificate attribute present")
			}
			if !si.SigningTime.Equal(tt.signingTime) {
				t.Errorf("signing time %v, want %v", si.SigningTime, tt.signingTime)
			}
			checkSignedAttrsDER(t, si.SignedAttrsDER, hash)

			// The size bound that PDF placeholders rely on.
			maxSize, err := cms.MaxSize(cert, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(der) > maxSize {
				t.Errorf("len %d exceeds MaxSize %d", len(der), maxSize)
			}

			// An independent verifier: OpenSSL, trusting only the root.
			out, err := opensslVerifyCMS(t, der, data, pki.Root.Cert)
			if err != nil || !strings.Contains(out, "Verification successful") {
				t.Fatalf("openssl cms -verify: %v\n%s", err, out)
			}
			dir := t.TempDir()
			printed, err := openssl(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", writeFile(t, dir, "sig.der", der))
			if err != nil {
				t.Fatalf("openssl cms -print: %v\n%s", err, printed)
			}
			if !strings.Contains(printed, "signingCertificateV2") {
				t.Errorf("openssl does not show signingCertificateV2:\n%s", printed)
			}
			if got, want := strings.Contains(printed, "signingTime"), !tt.signingTime.IsZero(); got != want {
				t.Errorf("openssl shows signingTime: %v, want %v", got, want)
			}

			// One corrupted byte anywhere that matters must break it.
			corruptions := map[string]int{
				"signature value": len(der) - 1,
				"message digest":  bytes.Index(der, digest) + 3,
			}
			for what, at := range corruptions {
				bad := bytes.Clone(der)
				bad[at] ^= 0x40
				if out, err := opensslVerifyCMS(t, bad, data, pki.Root.Cert); err == nil || strings.Contains(out, "Verification successful") {
					t.Errorf("openssl accepted a corrupted %s:\n%s", what, out)
				}
				sd, err := cms.Parse(bad)
				if err != nil {
					t.Fatalf("corrupted %s: %v", what, err)
				}
				si := sd.Signers[0]
				if si.VerifySignature() == nil && si.CheckMessageDigest(digest) == nil {
					t.Errorf("corrupted %s still verifies", what)
				}
			}
		})
	}
}

// checkSignedAttrsDER checks the DER rules of the signed attributes: a SET
// OF sorted by encoding, and ESSCertIDv2 spelling out its hash only when it
// is not the default SHA-256.
func checkSignedAttrsDER(t *testing.T, der []byte, h crypto.Hash) {
	t.Helper()
	var attrs []asn1.RawValue
	rest, err := asn1.UnmarshalWithParams(der, &attrs, "set")
	if err != nil || len(rest) != 0 {
		t.Fatalf("signed attributes are not a SET: %v", err)
	}
	for i := 1; i < len(attrs); i++ {
		if bytes.Compare(attrs[i-1].FullBytes, attrs[i].FullBytes) > 0 {
			t.Errorf("signed attributes not in DER order at %d", i)
		}
	}
	oids := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
		crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
	}
	oidDER, err := asn1.Marshal(oids[h])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := bytes.Contains(der, oidDER), h != crypto.SHA256; got != want {
		t.Errorf("hash OID %v inside the signed attributes: %v, want %v", oids[h], got, want)
	}
}

// countingSigner records which signing method cms used.
type countingSigner struct {
	crypto.Signer
	sign, signContext int
	ctx               context.Context
}

func (s *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.sign++
	return s.Signer.Sign(r, digest, opts)
}

// contextCountingSigner also has SignContext, like kyso's token signers.
type contextCountingSigner struct{ countingSigner }

func (s *contextCountingSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.signContext++
	s.ctx = ctx
	return s.Signer.Sign(nil, digest, opts)
}

type ctxKey struct{}

func TestSignUsesSignContext(t *testing.T) {
	pki := newPKI(t, 0)
	key, cert := newSigner(t, pki, devpki.ECP256)
	digest := digestOf(crypto.SHA256, []byte("document"))
	ctx := context.WithValue(testContext(t), ctxKey{}, "marker")

	cs := &contextCountingSigner{countingSigner{Signer: key}}
	if _, err := cms.Sign(ctx, cs, cert, digest, cms.Options{}); err != nil {
		t.Fatal(err)
	}
	if cs.signContext != 1 || cs.sign != 0 || cs.ctx.Value(ctxKey{}) != "marker" {
		t.Errorf("SignContext calls %d, Sign calls %d; want the caller's context passed to SignContext", cs.signContext, cs.sign)
	}

	plain := &countingSigner{Signer: key}
	if _, err := cms.Sign(ctx, plain, cert, digest, cms.Options{}); err != nil {
		t.Fatal(err)
	}
	if plain.sign != 1 {
		t.Errorf("Sign calls %d, want 1", plain.sign)
	}
}

func TestSignErrors(t *testing.T) {
	pki := newPKI(t, 0)
	rsaKey, rsaCert := newSigner(t, pki, devpki.RSA2048)
	ecKey, ecCert := newSigner(t, pki, devpki.ECP256)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		ctx     context.Context
		key     crypto.Signer
		cert    *x509.Certificate
		digest  []byte
		opts    cms.Options
		wantErr error // nil: any error
		noSign  bool  // the key must not have been used
	}{
		{"sha1 refused", context.Background(), rsaKey, rsaCert, digestOf(crypto.SHA1, nil), cms.Options{Hash: crypto.SHA1}, cms.ErrUnsupportedAlgorithm, true},
		{"sha224 refused", context.Background(), rsaKey, rsaCert, digestOf(crypto.SHA224, nil), cms.Options{Hash: crypto.SHA224}, cms.ErrUnsupportedAlgorithm, true},
		{"digest length", context.Background(), rsaKey, rsaCert, digestOf(crypto.SHA384, nil), cms.Options{}, nil, true},
		{"pss with ecdsa", context.Background(), ecKey, ecCert, digestOf(crypto.SHA256, nil), cms.Options{PSS: true}, cms.ErrUnsupportedAlgorithm, true},
		{"key mismatch", context.Background(), ecKey, rsaCert, digestOf(crypto.SHA256, nil), cms.Options{}, cms.ErrKeyMismatch, true},
		{"no certificate", context.Background(), ecKey, nil, digestOf(crypto.SHA256, nil), cms.Options{}, nil, true},
		{"cancelled", cancelled, ecKey, ecCert, digestOf(crypto.SHA256, nil), cms.Options{}, context.Canceled, true},
		{"nil chain entry", context.Background(), ecKey, ecCert, digestOf(crypto.SHA256, nil), cms.Options{Chain: []*x509.Certificate{nil}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &contextCountingSigner{countingSigner{Signer: tt.key}}
			_, err := cms.Sign(tt.ctx, s, tt.cert, tt.digest, tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if tt.noSign && s.sign+s.signContext != 0 {
				t.Errorf("the key was used (%d times) although the request was refused", s.sign+s.signContext)
			}
		})
	}
}

// badSigner returns a signature from another key with the same algorithm,
// as a confused token might.
type badSigner struct {
	crypto.Signer
	other crypto.Signer
}

func (s badSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.other.Sign(r, digest, opts)
}

func TestSignRejectsWrongSignature(t *testing.T) {
	pki := newPKI(t, 0)
	key, cert := newSigner(t, pki, devpki.ECP256)
	other, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cms.Sign(testContext(t), badSigner{key, other}, cert, digestOf(crypto.SHA256, nil), cms.Options{})
	if !errors.Is(err, cms.ErrInvalidSignature) {
		t.Errorf("error %v, want ErrInvalidSignature", err)
	}
	// KeyVerified is the caller's word that the pair was checked before:
	// the check is skipped, and the bad signature is the caller's problem.
	der, err := cms.Sign(testContext(t), badSigner{key, other}, cert, digestOf(crypto.SHA256, nil), cms.Options{KeyVerified: true})
	if err != nil {
		t.Fatalf("with KeyVerified: %v", err)
	}
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Signers[0].VerifySignature() == nil {
		t.Error("the mismatched key's signature verifies")
	}
}

func TestMaxSize(t *testing.T) {
	tests := []struct {
		name    string
		ca      devpki.KeyKind
		kind    devpki.KeyKind
		opts    cms.Options
		signs   int // signatures to try; ECDSA lengths vary
		maxSlop int // MaxSize - len allowed
	}{
		{"rsa2048", devpki.RSA3072, devpki.RSA2048, cms.Options{}, 2, 0},
		{"rsa2048-pss-sha512", devpki.RSA3072, devpki.RSA2048, cms.Options{PSS: true, Hash: crypto.SHA512}, 2, 0},
		{"rsa3072-signing-time", devpki.RSA3072, devpki.RSA3072, cms.Options{SigningTime: time.Now()}, 2, 0},
		{"p256", devpki.ECP384, devpki.ECP256, cms.Options{}, 50, 8},
		{"p384-sha384", devpki.ECP384, devpki.ECP384, cms.Options{Hash: crypto.SHA384}, 50, 8},
	}
	pkis := map[devpki.KeyKind]*devpki.PKI{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pki := pkis[tt.ca]
			if pki == nil {
				pki = newPKI(t, tt.ca)
				pkis[tt.ca] = pki
			}
			key, cert := newSigner(t, pki, tt.kind)
			opts := tt.opts
			opts.Chain = append([]*x509.Certificate{cert}, pki.Chain()...) // the duplicate signer is dropped
			maxSize, err := cms.MaxSize(cert, opts)
			if err != nil {
				t.Fatal(err)
			}
			hash := opts.Hash
			if hash == 0 {
				hash = crypto.SHA256
			}
			longest := 0
			for i := 0; i < tt.signs; i++ {
				der, err := cms.Sign(testContext(t), key, cert, digestOf(hash, randomData(t, 64)), opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(der) > maxSize {
					t.Fatalf("len %d exceeds MaxSize %d", len(der), maxSize)
				}
				longest = max(longest, len(der))
				sd, err := cms.Parse(der)
				if err != nil {
					t.Fatal(err)
				}
				if len(sd.Certificates) != 3 {
					t.Fatalf("%d certificates, want signer, intermediate, root", len(sd.Certificates))
				}
			}
			if maxSize-longest > tt.maxSlop {
				t.Errorf("MaxSize %d is %d above the longest signature %d", maxSize, maxSize-longest, longest)
			}
		})
	}
}
