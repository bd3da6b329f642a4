package cms_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/tsatest"
)

// TestParseForeign parses SignedData written by another implementation
// (digitorus/pkcs7: legacy sha*WithRSAEncryption identifiers, a
// signing-time attribute, attached content, SHA-1 by default).
func TestParseForeign(t *testing.T) {
	pki := newPKI(t, 0)
	tests := []struct {
		name     string
		kind     devpki.KeyKind
		digest   []int // digest algorithm OID; nil = the library's SHA-1 default
		hash     crypto.Hash
		detached bool
		wantAlg  x509.SignatureAlgorithm
	}{
		{"rsa-sha1-attached", devpki.RSA2048, nil, crypto.SHA1, false, x509.SHA1WithRSA},
		{"rsa-sha256-detached", devpki.RSA2048, []int{2, 16, 840, 1, 101, 3, 4, 2, 1}, crypto.SHA256, true, x509.SHA256WithRSA},
		{"ecdsa-sha384-attached", devpki.ECP384, []int{2, 16, 840, 1, 101, 3, 4, 2, 2}, crypto.SHA384, false, x509.ECDSAWithSHA384},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, cert := newSigner(t, pki, tt.kind)
			content := []byte("Công văn số 123/UBND-VP")
			p7, err := pkcs7.NewSignedData(content)
			if err != nil {
				t.Fatal(err)
			}
			if tt.digest != nil {
				p7.SetDigestAlgorithm(tt.digest)
			}
			if err := p7.AddSignerChain(cert, key, pki.Chain()[:1], pkcs7.SignerInfoConfig{}); err != nil {
				t.Fatal(err)
			}
			if tt.detached {
				p7.Detach()
			}
			der, err := p7.Finish()
			if err != nil {
				t.Fatal(err)
			}
			sd, err := cms.Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if sd.Detached != tt.detached || (!tt.detached && !bytes.Equal(sd.Content, content)) {
				t.Errorf("detached %v content %q", sd.Detached, sd.Content)
			}
			si := sd.Signers[0]
			if si.Certificate == nil || !si.Certificate.Equal(cert) {
				t.Fatal("certificate not matched")
			}
			if si.SignatureAlgorithm != tt.wantAlg || si.DigestAlgorithm != tt.hash {
				t.Errorf("algorithms %v / %v, want %v / %v", si.SignatureAlgorithm, si.DigestAlgorithm, tt.wantAlg, tt.hash)
			}
			if err := si.VerifySignature(); err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
			if err := si.CheckMessageDigest(digestOf(tt.hash, content)); err != nil {
				t.Errorf("CheckMessageDigest: %v", err)
			}
			if time.Since(si.SigningTime) > time.Minute {
				t.Errorf("signing time %v", si.SigningTime)
			}
			// pkcs7 writes no signing-certificate attribute.
			if err := si.CheckSigningCertificate(); !errors.Is(err, cms.ErrMissingAttribute) {
				t.Errorf("CheckSigningCertificate = %v, want ErrMissingAttribute", err)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	pki := newPKI(t, 0)
	key, cert := newSigner(t, pki, devpki.ECP256)
	good, err := cms.Sign(testContext(t), key, cert, digestOf(crypto.SHA256, nil), cms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hdr := 2 // the outer SEQUENCE header, to re-encode it with an indefinite length
	if good[1]&0x80 != 0 {
		hdr += int(good[1] & 0x7f)
	}
	indefinite := append(append([]byte{0x30, 0x80}, good[hdr:]...), 0, 0)
	tests := []struct {
		name string
		der  []byte
		ok   bool
	}{
		{"good", good, true},
		{"zero padded", append(bytes.Clone(good), 0, 0, 0, 0), true},
		{"trailing garbage", append(bytes.Clone(good), 0, 1), false},
		{"empty", nil, false},
		{"truncated", good[:len(good)-1], false},
		{"not signed data", []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0, 0x00}, false},
		// BER (as NSS writes it) is accepted and normalised to the same DER.
		{"indefinite length", indefinite, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd, err := cms.Parse(tt.der)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse error %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !bytes.Equal(sd.Raw, good) {
				t.Error("Raw is not the ContentInfo")
			}
		})
	}
}

func TestParseTimestampErrors(t *testing.T) {
	pki := newPKI(t, 0)
	key, cert := newSigner(t, pki, devpki.ECP256)
	signed, err := cms.Sign(testContext(t), key, cert, digestOf(crypto.SHA256, nil), cms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A document signature is SignedData but not a timestamp token.
	if _, err := cms.ParseTimestamp(signed); err == nil {
		t.Error("ParseTimestamp accepted an id-data SignedData")
	}
	// A broken token inside a signature is reported, not fatal.
	srv := tsatest.Start(t, pki, tsatest.Options{KeyKind: devpki.ECP256})
	stamped, err := cms.AddTimestamp(testContext(t), signed, &cms.TSA{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(stamped)
	if err != nil {
		t.Fatal(err)
	}
	token := sd.Signers[0].Timestamp.Raw
	// Corrupt the TSTInfo version (the token's eContent) in place.
	i := bytes.Index(stamped, token)
	j := bytes.Index(token, []byte{0x02, 0x01, 0x01, 0x06}) // version 1, then the policy OID
	if i < 0 || j < 0 {
		t.Fatal("token layout not found")
	}
	bad := bytes.Clone(stamped)
	bad[i+j+2] = 7
	sd, err = cms.Parse(bad)
	if err != nil {
		t.Fatalf("a broken timestamp made the signature unreadable: %v", err)
	}
	if sd.Signers[0].Timestamp != nil || sd.Signers[0].TimestampErr == nil {
		t.Error("broken timestamp not reported in TimestampErr")
	}
}
