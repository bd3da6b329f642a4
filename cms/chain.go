package cms

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// maxChainLength bounds BuildChain; real Vietnamese chains have one or two
// intermediates.
const maxChainLength = 8

// BuildChain returns the certificates that link leaf to a root, taken from
// pool, in order (issuer of leaf first), excluding leaf and excluding
// self-signed roots: what a signature should embed so that a verifier who
// trusts only the root can build the path. Each link is checked by
// signature, not only by name, so a look-alike certificate in pool is not
// picked. Certificates that do not belong to the path are ignored.
func BuildChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	var chain []*x509.Certificate
	cur := leaf
	used := map[*x509.Certificate]bool{}
	for len(chain) < maxChainLength {
		var next *x509.Certificate
		for _, c := range pool {
			if used[c] || bytes.Equal(c.Raw, cur.Raw) || !bytes.Equal(c.RawSubject, cur.RawIssuer) {
				continue
			}
			if len(cur.AuthorityKeyId) > 0 && len(c.SubjectKeyId) > 0 && !bytes.Equal(cur.AuthorityKeyId, c.SubjectKeyId) {
				continue
			}
			if cur.CheckSignatureFrom(c) != nil && !legacySignatureFrom(cur, c) {
				continue
			}
			next = c
			break
		}
		if next == nil || isSelfSigned(next) {
			return chain
		}
		used[next] = true
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// legacySignatureFrom accepts a SHA-1 signature for path building only:
// the Vietnamese government G1 chain is SHA-1 signed and still issues token
// certificates. Whether such a chain is trusted is the verifier's decision.
func legacySignatureFrom(c, parent *x509.Certificate) bool {
	if c.SignatureAlgorithm != x509.SHA1WithRSA {
		return false
	}
	return parent.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil ||
		verifySHA1RSA(parent, c.RawTBSCertificate, c.Signature) == nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && (c.CheckSignatureFrom(c) == nil || legacySignatureFrom(c, c))
}

// ParseCertificatesPEM reads every CERTIFICATE block of a PEM file.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cms: parse certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("cms: no CERTIFICATE block found")
	}
	return out, nil
}
