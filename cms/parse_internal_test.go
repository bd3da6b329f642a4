package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kyso-vn/kyso/internal/devpki"
)

func TestParseGeneralizedTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"20261122070509Z", time.Date(2026, 11, 22, 7, 5, 9, 0, time.UTC), true},
		{"20261122070509.5Z", time.Date(2026, 11, 22, 7, 5, 9, 500_000_000, time.UTC), true},
		{"20261122070509.123456789Z", time.Date(2026, 11, 22, 7, 5, 9, 123_456_789, time.UTC), true},
		{"20261122070509.Z", time.Time{}, false},
		{"20261122070509.1234567890Z", time.Time{}, false},
		{"20261122070509,5Z", time.Time{}, false},
		{"20261122070509.5x", time.Time{}, false},
		{"20261122070509+0700", time.Time{}, false},
		{"2026112207050Z", time.Time{}, false},
		{"20261322070509Z", time.Time{}, false},
		{"2026+122070509Z", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := parseGeneralizedTime([]byte(tt.in))
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseGeneralizedTime(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestReadLooseInteger(t *testing.T) {
	tests := []struct {
		der  []byte
		want int64
		ok   bool
	}{
		{[]byte{0x02, 0x01, 0x05}, 5, true},
		{[]byte{0x02, 0x02, 0x00, 0x05}, 5, true}, // non-minimal, accepted
		{[]byte{0x02, 0x01, 0xff}, -1, true},
		{[]byte{0x02, 0x02, 0x00, 0x80}, 128, true},
		{[]byte{0x02, 0x00}, 0, false},
		{[]byte{0x04, 0x01, 0x05}, 0, false},
	}
	for _, tt := range tests {
		s := cryptobyte.String(tt.der)
		got, err := readLooseInteger(&s)
		if (err == nil) != tt.ok || (tt.ok && got.Cmp(big.NewInt(tt.want)) != 0) {
			t.Errorf("readLooseInteger(%x) = %v, %v; want %d, ok=%v", tt.der, got, err, tt.want, tt.ok)
		}
	}
}

func TestMaxECDSASignature(t *testing.T) {
	tests := []struct{ bits, want int }{
		{256, 72}, // 30 46 (02 21 00…) (02 21 00…)
		{384, 104},
		{521, 141}, // the SEQUENCE needs a long-form length
	}
	for _, tt := range tests {
		if got := maxECDSASignature(tt.bits); got != tt.want {
			t.Errorf("maxECDSASignature(%d) = %d, want %d", tt.bits, got, tt.want)
		}
	}
}

func TestReadOctetString(t *testing.T) {
	tests := []struct {
		name string
		der  []byte
		want string
		ok   bool
	}{
		{"primitive", []byte{0x04, 0x02, 'a', 'b'}, "ab", true},
		{"constructed", []byte{0x24, 0x08, 0x04, 0x02, 'a', 'b', 0x04, 0x02, 'c', 'd'}, "abcd", true},
		{"nested", []byte{0x24, 0x06, 0x24, 0x04, 0x04, 0x02, 'a', 'b'}, "ab", true},
		{"wrong inner tag", []byte{0x24, 0x04, 0x02, 0x02, 'a', 'b'}, "", false},
		{"not an octet string", []byte{0x02, 0x01, 0x01}, "", false},
		{"indefinite length", []byte{0x24, 0x80, 0x04, 0x01, 'a', 0x00, 0x00}, "", false},
	}
	for _, tt := range tests {
		s := cryptobyte.String(tt.der)
		got, err := readOctetString(&s, 0)
		if (err == nil) != tt.ok || string(got) != tt.want {
			t.Errorf("%s: got %q, %v; want %q, ok=%v", tt.name, got, err, tt.want, tt.ok)
		}
	}
}

// signFixture returns a fresh signature by a key of kind together with
// what the variants below need.
func signFixture(t *testing.T, kind devpki.KeyKind) (der []byte, key crypto.Signer, cert *x509.Certificate) {
	t.Helper()
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP256})
	if err != nil {
		t.Fatal(err)
	}
	key, err = devpki.GenerateSoftKey(kind)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = pki.Issue(devpki.Personal(), key.Public()); err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	der, err = Sign(context.Background(), key, cert, digest, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return der, key, cert
}

// tlv encodes one element for the rewrites below.
func tlv(t *testing.T, tag cbasn1.Tag, f cryptobyte.BuilderContinuation) element {
	t.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(tag, f)
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return element{tag: tag, der: der}
}

// TestParseVariants checks that signatures written the ways other signers
// write them parse and verify: signer identified by subject key
// identifier, legacy sha*WithRSAEncryption identifiers, SHA-1,
// id-ecPublicKey as the signature algorithm.
func TestParseVariants(t *testing.T) {
	rsaDER, rsaKey, rsaCert := signFixture(t, devpki.RSA2048)
	ecDER, _, ecCert := signFixture(t, devpki.ECP256)
	algField := func(oid []int, null bool) func(*testing.T) element {
		return func(t *testing.T) element {
			return tlv(t, cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oid)
				if null {
					b.AddASN1NULL()
				}
			})
		}
	}
	tests := []struct {
		name    string
		der     []byte
		cert    *x509.Certificate
		rewrite func(t *testing.T, f []element) []element
		wantAlg x509.SignatureAlgorithm
	}{
		{
			name: "subject key identifier", der: ecDER, cert: ecCert,
			rewrite: func(t *testing.T, f []element) []element {
				f[0] = tlv(t, cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes([]byte{3}) })
				f[1] = tlv(t, cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ecCert.SubjectKeyId) })
				return f
			},
			wantAlg: x509.ECDSAWithSHA256,
		},
		{
			name: "re-encoded issuer", der: ecDER, cert: ecCert,
			rewrite: func(t *testing.T, f []element) []element {
				// encoding/asn1 writes the ASCII organisation as a
				// PrintableString where the certificate has UTF8String.
				var rdns pkix.RDNSequence
				if _, err := asn1.Unmarshal(ecCert.RawIssuer, &rdns); err != nil {
					t.Fatal(err)
				}
				name, err := asn1.Marshal(rdns)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(name, ecCert.RawIssuer) {
					t.Fatal("re-encoding did not change the issuer")
				}
				f[1] = tlv(t, cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddBytes(name)
					b.AddASN1BigInt(ecCert.SerialNumber)
				})
				return f
			},
			wantAlg: x509.ECDSAWithSHA256,
		},
		{
			name: "sha256WithRSAEncryption", der: rsaDER, cert: rsaCert,
			rewrite: func(t *testing.T, f []element) []element {
				f[4] = algField([]int{1, 2, 840, 113549, 1, 1, 11}, true)(t)
				return f
			},
			wantAlg: x509.SHA256WithRSA,
		},
		{
			name: "id-ecPublicKey", der: ecDER, cert: ecCert,
			rewrite: func(t *testing.T, f []element) []element {
				f[4] = algField([]int{1, 2, 840, 10045, 2, 1}, false)(t)
				return f
			},
			wantAlg: x509.ECDSAWithSHA256,
		},
		{
			name: "sha1WithRSAEncryption", der: rsaDER, cert: rsaCert,
			rewrite: func(t *testing.T, f []element) []element {
				// A legacy signer: SHA-1 digest and signature over the
				// same signed attributes.
				f[2] = algField([]int{1, 3, 14, 3, 2, 26}, true)(t)
				f[4] = algField([]int{1, 2, 840, 113549, 1, 1, 5}, true)(t)
				attrs := bytes.Clone(f[3].der)
				attrs[0] = byte(cbasn1.SET)
				sum := crypto.SHA1.New()
				sum.Write(attrs)
				sig, err := rsa.SignPKCS1v15(rand.Reader, rsaKey.(*rsa.PrivateKey), crypto.SHA1, sum.Sum(nil))
				if err != nil {
					t.Fatal(err)
				}
				f[5] = tlv(t, cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddBytes(sig) })
				return f
			},
			wantAlg: x509.SHA1WithRSA,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := mapSignerInfo(tt.der, func(f []element) ([]element, error) {
				return tt.rewrite(t, append([]element(nil), f...)), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			sd, err := Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			si := sd.Signers[0]
			if si.Certificate == nil || !si.Certificate.Equal(tt.cert) {
				t.Fatal("certificate not matched")
			}
			if si.SignatureAlgorithm != tt.wantAlg {
				t.Errorf("signature algorithm %v, want %v", si.SignatureAlgorithm, tt.wantAlg)
			}
			if err := si.VerifySignature(); err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
			// The untouched original must not verify under the rewritten
			// algorithm when that changed the hash: guards against a
			// verifier that ignores the identifiers.
			if tt.wantAlg == x509.SHA1WithRSA {
				orig, err := Parse(tt.der)
				if err != nil {
					t.Fatal(err)
				}
				si.Signature = orig.Signers[0].Signature
				if err := si.VerifySignature(); !errors.Is(err, ErrInvalidSignature) {
					t.Errorf("SHA-256 signature accepted as SHA-1: %v", err)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	der, _, _ := signFixture(t, devpki.ECP256)
	attrsWith := func(t *testing.T, extra ...[]byte) element {
		// Rebuild the signed attributes with extra ones added.
		sd, err := Parse(der)
		if err != nil {
			t.Fatal(err)
		}
		s := cryptobyte.String(sd.Signers[0].SignedAttrsDER)
		var content cryptobyte.String
		s.ReadASN1(&content, cbasn1.SET)
		return tlv(t, cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddBytes(content)
			for _, e := range extra {
				b.AddBytes(e)
			}
		})
	}
	attr := func(t *testing.T, oid []int, value func(b *cryptobyte.Builder)) []byte {
		return tlv(t, cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(cbasn1.SET, value)
		}).der
	}
	tests := []struct {
		name    string
		rewrite func(t *testing.T, f []element) []element
	}{
		{"duplicate message-digest", func(t *testing.T, f []element) []element {
			f[3] = attrsWith(t, attr(t, []int{1, 2, 840, 113549, 1, 9, 4}, func(b *cryptobyte.Builder) { b.AddASN1OctetString(make([]byte, 32)) }))
			return f
		}},
		{"content-type mismatch", func(t *testing.T, f []element) []element {
			// A second content-type is a duplicate; replace instead.
			sd, _ := Parse(der)
			s := cryptobyte.String(sd.Signers[0].SignedAttrsDER)
			var content cryptobyte.String
			s.ReadASN1(&content, cbasn1.SET)
			attrs, _ := readElements(content)
			f[3] = tlv(t, cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				for _, a := range attrs {
					s := cryptobyte.String(a.der)
					var seq cryptobyte.String
					var oid asn1.ObjectIdentifier
					if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
						t.Fatal("malformed attribute")
					}
					if oid.Equal(oidAttrContentType()) {
						b.AddBytes(attr(t, []int{1, 2, 840, 113549, 1, 9, 3}, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier([]int{1, 2, 840, 113549, 1, 9, 16, 1, 4})
						}))
						continue
					}
					b.AddBytes(a.der)
				}
			})
			return f
		}},
		{"two-valued signing-time", func(t *testing.T, f []element) []element {
			f[3] = attrsWith(t, attr(t, []int{1, 2, 840, 113549, 1, 9, 5}, func(b *cryptobyte.Builder) {
				b.AddASN1UTCTime(time.Now())
				b.AddASN1UTCTime(time.Now())
			}))
			return f
		}},
		{"unknown signer identifier", func(t *testing.T, f []element) []element {
			f[1] = tlv(t, cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddBytes([]byte{1}) })
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad, err := mapSignerInfo(der, func(f []element) ([]element, error) {
				return tt.rewrite(t, append([]element(nil), f...)), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(bad); err == nil {
				t.Error("Parse accepted it")
			}
		})
	}
}

func TestSameName(t *testing.T) {
	name := func(t *testing.T, cn string, tag int) []byte {
		t.Helper()
		der, err := asn1.Marshal(pkix.RDNSequence{{{
			Type:  asn1.ObjectIdentifier{2, 5, 4, 3},
			Value: asn1.RawValue{Tag: tag, Bytes: []byte(cn)},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	tests := []struct {
		name string
		a, b []byte
		want bool
	}{
		{"identical", name(t, "CA", asn1.TagUTF8String), name(t, "CA", asn1.TagUTF8String), true},
		{"string type differs", name(t, "CA", asn1.TagUTF8String), name(t, "CA", asn1.TagPrintableString), true},
		{"value differs", name(t, "CA", asn1.TagUTF8String), name(t, "CB", asn1.TagUTF8String), false},
		{"garbage", []byte{0x30, 0x01}, name(t, "CA", asn1.TagUTF8String), false},
	}
	for _, tt := range tests {
		if got := sameName(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: sameName = %v, want %v", tt.name, got, tt.want)
		}
	}
}
