package pkitest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kyso-vn/kyso/internal/devpki"
)

// SHA1Chain returns a three-level hierarchy in which every certificate is
// signed with sha1WithRSAEncryption, like the Vietnamese government G1
// chain: a self-signed root, an intermediate CA under it (path length 0)
// and an end-entity signing certificate (digitalSignature +
// nonRepudiation) for leafKey, an RSA-2048 key. Validity starts a day
// before now; the CAs last 20 years, the leaf two.
//
// crypto/x509 refuses to sign with SHA-1, so each certificate is created
// with SHA-256 and then re-signed; see ResignSHA1.
func SHA1Chain(t testing.TB) (root, intermediate *x509.Certificate, leafKey crypto.Signer, leaf *x509.Certificate) {
	t.Helper()
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := devpki.GenerateSoftKey(devpki.RSA2048)
		if err != nil {
			t.Fatalf("pkitest: SHA-1 chain: %v", err)
		}
		keys[i] = k.(*rsa.PrivateKey)
	}
	notBefore := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	caValidity := 20 * 365 * 24 * time.Hour
	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{Country: []string{"VN"}, Organization: []string{"kyso Development"}, CommonName: "kyso Test SHA-1 Root CA"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1,
	}
	interTmpl := &x509.Certificate{
		Subject:               pkix.Name{Country: []string{"VN"}, Organization: []string{"kyso Development"}, CommonName: "kyso Test SHA-1 CA"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	leafTmpl := &x509.Certificate{
		Subject:               pkix.Name{Country: []string{"VN"}, CommonName: "Nguyễn Văn Ánh (SHA-1 test)"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(2 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	root = createSHA1(t, rootTmpl, rootTmpl, &keys[0].PublicKey, keys[0])
	intermediate = createSHA1(t, interTmpl, root, &keys[1].PublicKey, keys[0])
	leaf = createSHA1(t, leafTmpl, intermediate, &keys[2].PublicKey, keys[1])
	return root, intermediate, keys[2], leaf
}

// createSHA1 creates a certificate with crypto/x509 and re-signs it with
// SHA-1.
func createSHA1(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key *rsa.PrivateKey) *x509.Certificate {
	t.Helper()
	serial, err := devpki.RandomSerial()
	if err != nil {
		t.Fatalf("pkitest: %v", err)
	}
	tmpl.SerialNumber = serial
	if tmpl.SubjectKeyId, err = devpki.SubjectKeyID(pub); err != nil {
		t.Fatalf("pkitest: %v", err)
	}
	tmpl.SignatureAlgorithm = x509.SHA256WithRSA
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatalf("pkitest: create %s: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := ResignSHA1(der, key)
	if err != nil {
		t.Fatalf("pkitest: %s: %v", tmpl.Subject.CommonName, err)
	}
	return cert
}

// ResignSHA1 takes a DER certificate and returns it signed by key with
// sha1WithRSAEncryption: the algorithm identifier is replaced both inside
// the TBSCertificate and in the outer signatureAlgorithm, and the new TBS
// is signed with PKCS#1 v1.5 over its SHA-1 digest. Nothing else changes.
func ResignSHA1(der []byte, key *rsa.PrivateKey) (*x509.Certificate, error) {
	in := cryptobyte.String(der)
	var certSeq, tbs cryptobyte.String
	var version, serial cryptobyte.String
	var tag cbasn1.Tag
	if !in.ReadASN1(&certSeq, cbasn1.SEQUENCE) || !in.Empty() || !certSeq.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("resign SHA-1: malformed certificate")
	}
	if !tbs.ReadAnyASN1Element(&version, &tag) || tag != cbasn1.Tag(0).ContextSpecific().Constructed() ||
		!tbs.ReadAnyASN1Element(&serial, &tag) || tag != cbasn1.INTEGER ||
		!tbs.SkipASN1(cbasn1.SEQUENCE) { // the old signature AlgorithmIdentifier
		return nil, errors.New("resign SHA-1: malformed TBSCertificate (need a v3 certificate)")
	}
	sha1WithRSA := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier([]int{1, 2, 840, 113549, 1, 1, 5})
			b.AddASN1NULL()
		})
	}
	tb := cryptobyte.NewBuilder(nil)
	tb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(version)
		b.AddBytes(serial)
		sha1WithRSA(b)
		b.AddBytes(tbs) // issuer onwards, untouched
	})
	newTBS, err := tb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("resign SHA-1: %w", err)
	}
	sum := sha1.Sum(newTBS)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, sum[:])
	if err != nil {
		return nil, fmt.Errorf("resign SHA-1: sign: %w", err)
	}
	cb := cryptobyte.NewBuilder(nil)
	cb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(newTBS)
		sha1WithRSA(b)
		b.AddASN1BitString(sig)
	})
	out, err := cb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("resign SHA-1: %w", err)
	}
	cert, err := x509.ParseCertificate(out)
	if err != nil {
		return nil, fmt.Errorf("resign SHA-1: parse: %w", err)
	}
	return cert, nil
}
