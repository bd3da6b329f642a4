// Package devpki generates a throw-away public key infrastructure shaped like
// the Vietnamese government PKI, for kyso's tests and the developer demo.
//
// Nothing here is fit for production: keys are generated on the fly (or on a
// SoftHSM token), the demo PINs and passwords are well known, and the CA
// private keys are stored unencrypted on disk by Save. No key material is
// ever committed to the repository; everything is created by code.
//
// The hierarchy is a self-signed root ("kyso Test Root CA") and one
// intermediate ("kyso Test CA phục vụ các cơ quan Nhà nước", path length 0)
// that issues end-entity certificates from a Profile over any public key,
// including keys that live on a PKCS#11 token (see ProvisionToken).
// Issued certificates point at BaseURL for the intermediate certificate
// (AIA caIssuers), OCSP and the CRL, so tests can serve those from an
// httptest server or the demo from a local port.
package devpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is where issued certificates expect the CA files, OCSP
// responder and CRLs when Options.BaseURL is empty.
const DefaultBaseURL = "http://127.0.0.1:8099"

// Common names of the two CA certificates.
const (
	RootCommonName         = "kyso Test Root CA"
	IntermediateCommonName = "kyso Test CA phục vụ các cơ quan Nhà nước"
)

// CA validity. The CAs are backdated so that the negative profiles whose
// validity lies in the past (Profile.AsExpired) still chain to a CA that was
// valid at the time, which lets tests tell "leaf expired" apart from "chain
// broken".
const (
	caBackdate           = 2 * 365 * 24 * time.Hour
	rootValidity         = 20 * 365 * 24 * time.Hour
	intermediateValidity = 10 * 365 * 24 * time.Hour
	crlValidity          = 7 * 24 * time.Hour
)

// KeyKind selects a key algorithm and size.
type KeyKind int

// Supported key kinds. The zero value means "the default" wherever a
// KeyKind is optional.
const (
	RSA2048 KeyKind = iota + 1
	RSA3072
	ECP256
	ECP384
)

// String returns a short name such as "RSA-2048" or "P-256".
func (k KeyKind) String() string {
	switch k {
	case RSA2048:
		return "RSA-2048"
	case RSA3072:
		return "RSA-3072"
	case ECP256:
		return "P-256"
	case ECP384:
		return "P-384"
	default:
		return fmt.Sprintf("KeyKind(%d)", int(k))
	}
}

// IsRSA reports whether k is an RSA key kind.
func (k KeyKind) IsRSA() bool { return k == RSA2048 || k == RSA3072 }

// rsaBits returns the modulus size of an RSA kind.
func (k KeyKind) rsaBits() int {
	if k == RSA3072 {
		return 3072
	}
	return 2048
}

// curve returns the curve of an EC kind, or nil.
func (k KeyKind) curve() elliptic.Curve {
	switch k {
	case ECP256:
		return elliptic.P256()
	case ECP384:
		return elliptic.P384()
	default:
		return nil
	}
}

// valid reports whether k is one of the defined kinds.
func (k KeyKind) valid() bool { return k >= RSA2048 && k <= ECP384 }

// GenerateSoftKey generates a private key in memory. Use it where no token
// is involved: CA keys, PKCS#12 files and tests of the software paths.
func GenerateSoftKey(kind KeyKind) (crypto.Signer, error) {
	switch {
	case kind.IsRSA():
		k, err := rsa.GenerateKey(rand.Reader, kind.rsaBits())
		if err != nil {
			return nil, fmt.Errorf("devpki: generate %s key: %w", kind, err)
		}
		return k, nil
	case kind.curve() != nil:
		k, err := ecdsa.GenerateKey(kind.curve(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("devpki: generate %s key: %w", kind, err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("devpki: generate key: unsupported key kind %v", kind)
	}
}

// CA is a certificate authority: its certificate and signing key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Options configures New.
type Options struct {
	// BaseURL is the scheme and authority (and optional path prefix) under
	// which the CA certificates, CRLs and OCSP responder are published,
	// e.g. "http://127.0.0.1:8099". Empty means DefaultBaseURL.
	BaseURL string
	// Now fixes the PKI clock, making validity periods, revocation times
	// and CRLs deterministic in tests. Zero means the wall clock.
	Now time.Time
	// KeyKind is the algorithm of both CA keys; zero means RSA3072, which
	// matches the RSA hierarchies Vietnamese relying parties expect. ECP384
	// makes a test PKI faster to create.
	KeyKind KeyKind
}

// PKI is a two-level test hierarchy plus a revocation list. It is safe for
// concurrent use.
type PKI struct {
	Root         *CA
	Intermediate *CA
	// BaseURL is the publication point baked into the certificates; see
	// Options.BaseURL.
	BaseURL string

	// now is the fixed clock from Options.Now; zero means time.Now.
	now time.Time

	mu      sync.Mutex
	revoked []x509.RevocationListEntry
}

// New creates a fresh root and intermediate CA.
func New(opts Options) (*PKI, error) {
	base, err := normaliseBaseURL(opts.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("devpki: new PKI: %w", err)
	}
	kind := opts.KeyKind
	if kind == 0 {
		kind = RSA3072
	}
	if !kind.valid() {
		return nil, fmt.Errorf("devpki: new PKI: unsupported CA key kind %v", kind)
	}
	p := &PKI{BaseURL: base, now: opts.Now}
	now := p.Now()
	notBefore := now.Add(-caBackdate)

	rootKey, err := GenerateSoftKey(kind)
	if err != nil {
		return nil, fmt.Errorf("devpki: new PKI: root: %w", err)
	}
	rootSubject, err := caSubject(RootCommonName)
	if err != nil {
		return nil, fmt.Errorf("devpki: new PKI: root: %w", err)
	}
	rootTmpl := &x509.Certificate{
		RawSubject:            rootSubject,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1, // no constraint on the root itself
	}
	root, err := p.sign(rootTmpl, rootKey.Public(), nil, rootKey)
	if err != nil {
		return nil, fmt.Errorf("devpki: new PKI: root: %w", err)
	}
	p.Root = &CA{Cert: root, Key: rootKey}

	interKey, err := GenerateSoftKey(kind)
	if err != nil {
		return nil, fmt.Errorf("devpki: new PKI: intermediate: %w", err)
	}
	interSubject, err := caSubject(IntermediateCommonName)
	if err != nil {
		return nil, fmt.Errorf("devpki: new PKI: intermediate: %w", err)
	}
	interTmpl := &x509.Certificate{
		RawSubject: interSubject,
		NotBefore:  notBefore,
		NotAfter:   notBefore.Add(intermediateValidity),
		// DigitalSignature lets the intermediate sign OCSP responses
		// itself instead of needing a delegated responder certificate.
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		IssuingCertificateURL: []string{p.RootCertURL()},
		CRLDistributionPoints: []string{p.RootCRLURL()},
	}
	inter, err := p.sign(interTmpl, interKey.Public(), p.Root.Cert, rootKey)
	if err != nil {
		return nil, fmt.Errorf("devpki: new PKI: intermediate: %w", err)
	}
	p.Intermediate = &CA{Cert: inter, Key: interKey}
	return p, nil
}

// normaliseBaseURL applies the default and strips a trailing slash so URL
// joins stay simple.
func normaliseBaseURL(base string) (string, error) {
	if base == "" {
		return DefaultBaseURL, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("base URL %q: %w", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base URL %q: want http(s)://host[:port]", base)
	}
	return strings.TrimRight(base, "/"), nil
}

// Now returns the PKI clock: Options.Now if it was set, else the wall
// clock. Certificates, revocations and CRLs are dated from it.
func (p *PKI) Now() time.Time {
	if !p.now.IsZero() {
		return p.now
	}
	return time.Now()
}

// RootCertURL is the AIA caIssuers URL in the intermediate certificate.
func (p *PKI) RootCertURL() string { return p.BaseURL + "/ca/root.crt" }

// IntermediateCertURL is the AIA caIssuers URL in issued certificates.
func (p *PKI) IntermediateCertURL() string { return p.BaseURL + "/ca/intermediate.crt" }

// OCSPURL is the AIA OCSP URL in issued certificates.
func (p *PKI) OCSPURL() string { return p.BaseURL + "/ocsp" }

// CRLURL is the CRL distribution point in issued certificates; CRL returns
// its content.
func (p *PKI) CRLURL() string { return p.BaseURL + "/crl/intermediate.crl" }

// RootCRLURL is the CRL distribution point in the intermediate certificate;
// RootCRL returns its content.
func (p *PKI) RootCRLURL() string { return p.BaseURL + "/crl/root.crl" }

// Chain returns the CA certificates above issued certificates, nearest
// first: intermediate, root. This is the order PKCS#12 files and signature
// containers carry them in.
func (p *PKI) Chain() []*x509.Certificate {
	return []*x509.Certificate{p.Intermediate.Cert, p.Root.Cert}
}

// Roots returns a pool holding only the root, for x509.VerifyOptions.
func (p *PKI) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root.Cert)
	return pool
}

// Intermediates returns a pool holding only the intermediate, for
// x509.VerifyOptions.
func (p *PKI) Intermediates() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Intermediate.Cert)
	return pool
}

// Issue signs a certificate for pub with the intermediate CA according to
// prof. pub may belong to a key anywhere, e.g. on a PKCS#11 token. When
// prof.Revoke is set the new serial number is recorded as revoked.
func (p *PKI) Issue(prof Profile, pub crypto.PublicKey) (*x509.Certificate, error) {
	name := prof.Name
	if name == "" {
		name = prof.CommonName
	}
	tmpl, err := prof.template(p.Now())
	if err != nil {
		return nil, fmt.Errorf("devpki: issue %s: %w", name, err)
	}
	tmpl.IssuingCertificateURL = []string{p.IntermediateCertURL()}
	tmpl.OCSPServer = []string{p.OCSPURL()}
	tmpl.CRLDistributionPoints = []string{p.CRLURL()}
	cert, err := p.sign(tmpl, pub, p.Intermediate.Cert, p.Intermediate.Key)
	if err != nil {
		return nil, fmt.Errorf("devpki: issue %s: %w", name, err)
	}
	if prof.Revoke {
		p.Revoke(cert.SerialNumber)
	}
	return cert, nil
}

// sign fills in the serial number and subject key identifier when the
// template has none and creates the certificate; a nil parent self-signs.
// x509.CreateCertificate copies the parent's subject key identifier into
// the authority key identifier.
func (p *PKI) sign(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) (*x509.Certificate, error) {
	if tmpl.SerialNumber == nil {
		serial, err := RandomSerial()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = serial
	}
	if len(tmpl.SubjectKeyId) == 0 {
		ski, err := SubjectKeyID(pub)
		if err != nil {
			return nil, err
		}
		tmpl.SubjectKeyId = ski
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse created certificate: %w", err)
	}
	return cert, nil
}

// RandomSerial returns a random positive 128-bit serial number; RFC 5280
// asks for at least 64 bits of unpredictable serial from CAs.
func RandomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("random serial: %w", err)
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// SubjectKeyID computes the RFC 5280 section 4.2.1.2 method 1 key
// identifier: the SHA-1 of the subjectPublicKey BIT STRING. Relying parties
// (and PKCS#11 tooling) commonly match keys and certificates by it.
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	sum := sha1.Sum(info.PublicKey.Bytes)
	return sum[:], nil
}

// Revoke records serial as revoked (reason unspecified) at the PKI clock's
// current time. Revoking a serial twice keeps the first entry.
func (p *PKI) Revoke(serial *big.Int) {
	if serial == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.revoked {
		if e.SerialNumber.Cmp(serial) == 0 {
			return
		}
	}
	p.revoked = append(p.revoked, x509.RevocationListEntry{
		SerialNumber: new(big.Int).Set(serial),
		// CRLs and OCSP carry whole seconds; truncating here keeps what
		// tests compare against equal to what they parse back.
		RevocationTime: p.Now().UTC().Truncate(time.Second),
	})
}

// RevocationOf returns the revocation entry of serial and whether there is
// one, for OCSP responders.
func (p *PKI) RevocationOf(serial *big.Int) (x509.RevocationListEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.revoked {
		if e.SerialNumber.Cmp(serial) == 0 {
			return cloneEntry(e), true
		}
	}
	return x509.RevocationListEntry{}, false
}

// Revoked returns a copy of the revocation list in revocation order.
func (p *PKI) Revoked() []x509.RevocationListEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]x509.RevocationListEntry, len(p.revoked))
	for i, e := range p.revoked {
		out[i] = cloneEntry(e)
	}
	return out
}

// cloneEntry deep-copies the serial so callers cannot modify the PKI's list.
func cloneEntry(e x509.RevocationListEntry) x509.RevocationListEntry {
	e.SerialNumber = new(big.Int).Set(e.SerialNumber)
	return e
}

// CRL returns a DER CRL of the certificates revoked so far, signed by the
// intermediate; it is what CRLURL serves.
func (p *PKI) CRL() ([]byte, error) {
	der, err := p.crl(p.Intermediate, p.Revoked())
	if err != nil {
		return nil, fmt.Errorf("devpki: intermediate CRL: %w", err)
	}
	return der, nil
}

// RootCRL returns an empty DER CRL signed by the root; it is what
// RootCRLURL serves, so that relying parties checking the whole chain find
// the intermediate unrevoked.
func (p *PKI) RootCRL() ([]byte, error) {
	der, err := p.crl(p.Root, nil)
	if err != nil {
		return nil, fmt.Errorf("devpki: root CRL: %w", err)
	}
	return der, nil
}

// crl signs a CRL. The CRL number is the issue time in Unix seconds: it
// grows monotonically without the PKI having to persist a counter, and is
// stable under a fixed clock.
func (p *PKI) crl(issuer *CA, entries []x509.RevocationListEntry) ([]byte, error) {
	now := p.Now().UTC().Truncate(time.Second)
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(now.Unix()),
		ThisUpdate:                now,
		NextUpdate:                now.Add(crlValidity),
		RevokedCertificateEntries: entries,
	}
	return x509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Key)
}

// IssuedBy reports whether cert was signed by this PKI's intermediate, for
// deciding whether stored material still belongs to the current PKI.
func (p *PKI) IssuedBy(cert *x509.Certificate) bool {
	return cert != nil &&
		bytes.Equal(cert.RawIssuer, p.Intermediate.Cert.RawSubject) &&
		cert.CheckSignatureFrom(p.Intermediate.Cert) == nil
}

// checkKeyPair reports an error when key is not the private half of cert.
func checkKeyPair(cert *x509.Certificate, key crypto.Signer) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return errors.New("private key does not match certificate")
	}
	return nil
}

// cloneBytes returns a copy of b, or nil for an empty b.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}
