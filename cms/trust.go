package cms

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Codes of ChainError. They are stable strings that reach reports and web
// pages.
const (
	// CodeChainUntrusted: no path leads from the certificate to any
	// trust anchor.
	CodeChainUntrusted = "CHAIN_UNTRUSTED"
	// CodeSHA1Refused: the only paths need a SHA-1 signature and end
	// at an anchor that was not added with AddLegacyRoot.
	CodeSHA1Refused = "SHA1_CHAIN_REFUSED"
	// CodeCertExpired: a certificate of the path had expired at the time
	// of the check.
	CodeCertExpired = "CERT_EXPIRED"
	// CodeCertNotYetValid: a certificate of the path was not yet valid at
	// the time of the check.
	CodeCertNotYetValid = "CERT_NOT_YET_VALID"
	// CodeCANotAllowed: an issuer in the path may not issue certificates:
	// it is not a CA, lacks keyCertSign, or its path length constraint is
	// exceeded.
	CodeCANotAllowed = "CA_NOT_ALLOWED"
	// CodeBadCertSignature: an issuer with the right name was found but
	// the certificate's signature does not verify with its key.
	CodeBadCertSignature = "BAD_CERT_SIGNATURE"
)

// WarningLegacySHA1Chain is the Chain warning given when a SHA-1 signature
// was accepted because the path ends at a legacy root.
const WarningLegacySHA1Chain = "LEGACY_SHA1_CHAIN"

// Bounds of the path search. Real Vietnamese chains have one or two
// intermediates; the work bound stops a crafted bag of certificates with
// many look-alike names from making verification quadratic or worse.
const (
	maxPathDepth     = 8
	maxSignatureWork = 200
)

// ChainError says why Verify found no acceptable path.
type ChainError struct {
	Code string            // one of the Code* constants above
	Cert *x509.Certificate // the certificate at fault, when there is one
	Err  error             // the underlying failure, may be nil
}

func (e *ChainError) Error() string {
	msg := "cms: certificate chain: " + e.Code
	if e.Cert != nil {
		msg += ": " + e.Cert.Subject.String()
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ChainError) Unwrap() error { return e.Err }

// Chain is a verified certification path.
type Chain struct {
	// Certificates are leaf first, trust anchor last. When the leaf is
	// itself the anchor the chain has one element.
	Certificates []*x509.Certificate
	// LegacySHA1 is set when a SHA-1 signature was accepted because the
	// anchor is a legacy root.
	LegacySHA1 bool
	// Warnings are stable codes such as WarningLegacySHA1Chain.
	Warnings []string
}

// TrustStore holds trust anchors. Add anchors first; Verify and Roots are
// then safe for concurrent use (the store is also safe if anchors are
// added concurrently, but a verification may or may not see them).
type TrustStore struct {
	mu      sync.RWMutex
	anchors []anchor
}

type anchor struct {
	cert   *x509.Certificate
	legacy bool
}

// NewTrustStore returns an empty store.
func NewTrustStore() *TrustStore { return &TrustStore{} }

// AddRoot adds c as a trust anchor. Paths to it must be signed with
// algorithms crypto/x509 accepts (no SHA-1).
func (s *TrustStore) AddRoot(c *x509.Certificate) { s.add(c, false) }

// AddLegacyRoot adds an anchor under which SHA-1 signed CA certificates
// (and leaves) are accepted, with a warning: the Vietnamese government G1
// hierarchy is SHA-1 signed and still issues token certificates. Adding a
// certificate that is already present as a plain root makes it legacy.
func (s *TrustStore) AddLegacyRoot(c *x509.Certificate) { s.add(c, true) }

func (s *TrustStore) add(c *x509.Certificate, legacy bool) {
	if c == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.anchors {
		if bytes.Equal(s.anchors[i].cert.Raw, c.Raw) {
			s.anchors[i].legacy = s.anchors[i].legacy || legacy
			return
		}
	}
	s.anchors = append(s.anchors, anchor{cert: c, legacy: legacy})
}

// AddPEM adds every certificate of a PEM file, as legacy roots if legacy
// is set.
func (s *TrustStore) AddPEM(data []byte, legacy bool) error {
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return fmt.Errorf("cms: trust store: %w", err)
	}
	for _, c := range certs {
		s.add(c, legacy)
	}
	return nil
}

// Roots returns the anchors in the order they were added.
func (s *TrustStore) Roots() []*x509.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*x509.Certificate, len(s.anchors))
	for i, a := range s.anchors {
		out[i] = a.cert
	}
	return out
}

// Verify builds a path from leaf through intermediates (in any order;
// unrelated certificates and roots may be among them) to a trust anchor
// and checks it at time at (zero means now): every link's signature, the issuers' CA
// constraints and every certificate's validity period, anchor included.
//
// An anchor matches by identical DER or by the same subject and public key
// (a re-issued root counts); it is trusted as is, its own signature is not
// checked. A SHA-1 RSA signature, which crypto/x509 refuses, is accepted
// only on paths ending at a legacy anchor, and then Chain.LegacySHA1 is
// set. Extended key usages are not checked: that is the caller's policy.
//
// When several paths exist, one without SHA-1 is preferred. When none is
// acceptable the error is a *ChainError describing the path that came
// closest.
func (s *TrustStore) Verify(leaf *x509.Certificate, intermediates []*x509.Certificate, at time.Time) (*Chain, error) {
	if leaf == nil {
		return nil, &ChainError{Code: CodeChainUntrusted, Err: errors.New("no certificate")}
	}
	if at.IsZero() {
		at = time.Now()
	}
	s.mu.RLock()
	anchors := slices.Clone(s.anchors)
	s.mu.RUnlock()

	pool := make([]*x509.Certificate, 0, len(intermediates)+len(anchors))
	for _, c := range intermediates {
		if c != nil && !slices.ContainsFunc(pool, func(p *x509.Certificate) bool { return bytes.Equal(p.Raw, c.Raw) }) {
			pool = append(pool, c)
		}
	}
	for _, a := range anchors {
		if !slices.ContainsFunc(pool, func(p *x509.Certificate) bool { return bytes.Equal(p.Raw, a.cert.Raw) }) {
			pool = append(pool, a.cert)
		}
	}
	v := &pathSearch{anchors: anchors, pool: pool, at: at}
	v.walk([]*x509.Certificate{leaf}, false)
	if v.best != nil {
		return v.best, nil
	}
	if v.bestErr != nil {
		return nil, v.bestErr
	}
	top := leaf
	if v.deepest != nil {
		top = v.deepest
	}
	return nil, &ChainError{Code: CodeChainUntrusted, Cert: top, Err: fmt.Errorf("not a trust anchor, and no issuer %q that leads to one", top.Issuer.String())}
}

// pathSearch is the state of one Verify call's depth-first search.
type pathSearch struct {
	anchors []anchor
	pool    []*x509.Certificate
	at      time.Time
	work    int

	best     *Chain
	bestErr  *ChainError
	bestRank int
	// deepest is the top of the longest partial path, for the
	// CHAIN_UNTRUSTED error.
	deepest   *x509.Certificate
	deepestAt int
}

// errorRank orders failures by how close the path came to being
// acceptable; the highest-ranked error is reported.
func errorRank(code string) int {
	switch code {
	case CodeCertExpired, CodeCertNotYetValid:
		return 5
	case CodeCANotAllowed:
		return 4
	case CodeSHA1Refused:
		return 3
	case CodeBadCertSignature:
		return 2
	}
	return 1
}

func (v *pathSearch) fail(e *ChainError) {
	if r := errorRank(e.Code); v.bestErr == nil || r > v.bestRank {
		v.bestErr, v.bestRank = e, r
	}
}

// done reports whether the search can stop: a path without SHA-1 is as
// good as it gets.
func (v *pathSearch) done() bool {
	return (v.best != nil && !v.best.LegacySHA1) || v.work >= maxSignatureWork
}

// walk extends path, whose last element is the certificate whose issuer
// is sought; sha1 records whether a SHA-1 signature was accepted so far.
func (v *pathSearch) walk(path []*x509.Certificate, sha1 bool) {
	cur := path[len(path)-1]
	if len(path) > v.deepestAt {
		v.deepest, v.deepestAt = cur, len(path)
	}
	if a, ok := v.anchorFor(cur); ok {
		full := slices.Clone(path)
		switch {
		case bytes.Equal(cur.Raw, a.cert.Raw):
		case len(path) == 1:
			full = append(full, a.cert)
		default:
			// cur is another copy of the anchor; the store's copy
			// stands for it.
			full[len(full)-1] = a.cert
		}
		v.complete(full, sha1, a)
		return
	}
	if len(path) > maxPathDepth {
		return
	}
	for _, c := range v.pool {
		if v.done() {
			return
		}
		if !bytes.Equal(c.RawSubject, cur.RawIssuer) ||
			(len(cur.AuthorityKeyId) > 0 && len(c.SubjectKeyId) > 0 && !bytes.Equal(cur.AuthorityKeyId, c.SubjectKeyId)) ||
			slices.ContainsFunc(path, func(p *x509.Certificate) bool { return bytes.Equal(p.Raw, c.Raw) }) {
			continue
		}
		v.work++
		linkSHA1, err := checkLink(cur, c)
		if err != nil {
			v.fail(&ChainError{Code: CodeBadCertSignature, Cert: cur, Err: err})
			continue
		}
		v.walk(append(path, c), sha1 || linkSHA1)
	}
}

// anchorFor returns the anchor that c is, by DER or by subject and key.
func (v *pathSearch) anchorFor(c *x509.Certificate) (anchor, bool) {
	for _, a := range v.anchors {
		if bytes.Equal(a.cert.Raw, c.Raw) {
			return a, true
		}
	}
	for _, a := range v.anchors {
		if bytes.Equal(a.cert.RawSubject, c.RawSubject) &&
			bytes.Equal(a.cert.RawSubjectPublicKeyInfo, c.RawSubjectPublicKeyInfo) {
			return a, true
		}
	}
	return anchor{}, false
}

// checkLink verifies child's signature with parent's key; sha1 reports
// that it is a SHA-1 RSA signature. Certificate.CheckSignature (unlike
// CheckSignatureFrom) still accepts SHA-1, so SHA-1 is recognised by the
// algorithm, not by an error, and verified with verifySHA1RSA.
func checkLink(child, parent *x509.Certificate) (sha1 bool, err error) {
	switch child.SignatureAlgorithm {
	case x509.SHA1WithRSA:
		if err := verifySHA1RSA(parent, child.RawTBSCertificate, child.Signature); err != nil {
			return false, err
		}
		return true, nil
	case x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		// No legacy hierarchy needs these.
		return false, x509.InsecureAlgorithmError(child.SignatureAlgorithm)
	}
	return false, parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature)
}

// complete judges a path that reached anchor a.
func (v *pathSearch) complete(path []*x509.Certificate, sha1 bool, a anchor) {
	if sha1 && !a.legacy {
		var at *x509.Certificate
		for _, c := range path[:len(path)-1] {
			if c.SignatureAlgorithm == x509.SHA1WithRSA {
				at = c
				break
			}
		}
		v.fail(&ChainError{Code: CodeSHA1Refused, Cert: at,
			Err: fmt.Errorf("SHA-1 signatures are accepted only under a legacy root, and %q is not one", a.cert.Subject.String())})
		return
	}
	if err := checkCAs(path); err != nil {
		v.fail(err)
		return
	}
	for _, c := range path {
		switch {
		case v.at.After(c.NotAfter):
			v.fail(&ChainError{Code: CodeCertExpired, Cert: c, Err: fmt.Errorf("expired %s, checked at %s", c.NotAfter.UTC().Format(time.RFC3339), v.at.UTC().Format(time.RFC3339))})
			return
		case v.at.Before(c.NotBefore):
			v.fail(&ChainError{Code: CodeCertNotYetValid, Cert: c, Err: fmt.Errorf("valid from %s, checked at %s", c.NotBefore.UTC().Format(time.RFC3339), v.at.UTC().Format(time.RFC3339))})
			return
		}
	}
	if v.best == nil || (v.best.LegacySHA1 && !sha1) {
		v.best = &Chain{Certificates: path, LegacySHA1: sha1}
		if sha1 {
			v.best.Warnings = []string{WarningLegacySHA1Chain}
		}
	}
}

// checkCAs checks that every issuer in path may issue what is below it:
// a CA by basic constraints (version 1 certificates, which predate them,
// are let through as crypto/x509 does), keyCertSign when key usage is
// present, and path length constraints, which count the intermediate CA
// certificates below the issuer that are not self-issued.
func checkCAs(path []*x509.Certificate) *ChainError {
	for i := 1; i < len(path); i++ {
		ca := path[i]
		if (ca.Version == 3 && !ca.BasicConstraintsValid) || (ca.BasicConstraintsValid && !ca.IsCA) {
			return &ChainError{Code: CodeCANotAllowed, Cert: ca, Err: errors.New("not a CA certificate")}
		}
		if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			return &ChainError{Code: CodeCANotAllowed, Cert: ca, Err: errors.New("key usage lacks keyCertSign")}
		}
		if ca.BasicConstraintsValid && (ca.MaxPathLen > 0 || ca.MaxPathLenZero) {
			below := 0
			for _, c := range path[1:i] {
				if !bytes.Equal(c.RawSubject, c.RawIssuer) {
					below++
				}
			}
			if below > ca.MaxPathLen {
				return &ChainError{Code: CodeCANotAllowed, Cert: ca, Err: fmt.Errorf("path length constraint %d exceeded by %d intermediates", ca.MaxPathLen, below)}
			}
		}
	}
	return nil
}
