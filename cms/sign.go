package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Options controls Sign and MaxSize.
type Options struct {
	// Hash is the digest algorithm: crypto.SHA256 (the zero value's
	// meaning), SHA384 or SHA512. The digest passed to Sign must have been
	// computed with it; it also hashes the signed attributes and the
	// certificate in signing-certificate-v2.
	Hash crypto.Hash
	// PSS selects RSASSA-PSS (salt length = hash length, MGF1 with the same
	// hash) for RSA keys instead of PKCS#1 v1.5. Refused for other keys.
	PSS bool
	// Chain holds the certificates to include after the signer's:
	// intermediates, and the root if the caller wants it. Copies of the
	// signer certificate and repeated entries are dropped.
	Chain []*x509.Certificate
	// SigningTime, when not zero, adds a signing-time attribute. PAdES
	// baseline signatures must not have one (the time is the signature
	// dictionary's /M), so set it only for plain CAdES.
	SigningTime time.Time
	// KeyVerified skips checking the new signature value with the
	// certificate's public key. Sign checks it by default: a token whose key
	// does not belong to the certificate, or a faulty one, would otherwise
	// yield a signature no verifier accepts. A caller that has already seen
	// this key and certificate produce a valid signature (an agent signing
	// many digests in one token session) may skip the cost, ≈0.1 ms for
	// ECDSA P-256.
	KeyVerified bool
}

// ContextSigner is the optional interface of signers that can abandon a
// signature, e.g. while a PIN dialog is open; kyso's token signers have
// it. Sign uses SignContext instead of Sign when the crypto.Signer it is
// given implements it.
type ContextSigner interface {
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// plan is everything about a signature that is known before the key is
// used. Sign and MaxSize share it, so the bound is computed from exactly
// the structure Sign writes.
type plan struct {
	cert        *x509.Certificate
	certs       [][]byte // signer first, then the chain
	hash        crypto.Hash
	pss         bool
	signingTime time.Time
	sigAlg      []byte // DER signatureAlgorithm
	maxSig      int    // longest signature value the key can produce
}

// newPlan validates the inputs shared by Sign and MaxSize.
func newPlan(cert *x509.Certificate, opts Options) (*plan, error) {
	if cert == nil || len(cert.Raw) == 0 {
		return nil, errors.New("no signer certificate")
	}
	h := opts.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("hash %v: %w", h, ErrUnsupportedAlgorithm)
	}
	sigAlg, maxSig, err := signatureAlgorithm(cert.PublicKey, h, opts.PSS)
	if err != nil {
		return nil, err
	}
	p := &plan{
		cert:        cert,
		certs:       [][]byte{cert.Raw},
		hash:        h,
		pss:         opts.PSS,
		signingTime: opts.SigningTime,
		sigAlg:      sigAlg,
		maxSig:      maxSig,
	}
	for i, c := range opts.Chain {
		if c == nil || len(c.Raw) == 0 {
			return nil, fmt.Errorf("chain certificate %d is empty", i)
		}
		if slices.ContainsFunc(p.certs, func(have []byte) bool { return bytes.Equal(have, c.Raw) }) {
			continue
		}
		p.certs = append(p.certs, c.Raw)
	}
	return p, nil
}

// Sign returns a detached CMS SignedData (a DER ContentInfo) whose single
// SignerInfo signs digest, the hash (opts.Hash) of the content, with s and
// cert. The signed attributes are content-type, message-digest,
// signing-certificate-v2 and, only if opts.SigningTime is set,
// signing-time: a CAdES / PAdES baseline B-B signature.
//
// If s has a SignContext method it is given ctx, so that cancelling ctx
// abandons a pending PIN prompt. The signer's key is compared with the
// certificate's before it is used, and the signature is verified before
// it is returned, so a wrong key or a faulty token cannot produce a
// signature that fails later.
func Sign(ctx context.Context, s crypto.Signer, cert *x509.Certificate, digest []byte, opts Options) ([]byte, error) {
	if s == nil {
		return nil, errors.New("cms: sign: no signer")
	}
	p, err := newPlan(cert, opts)
	if err != nil {
		return nil, fmt.Errorf("cms: sign: %w", err)
	}
	if len(digest) != p.hash.Size() {
		return nil, fmt.Errorf("cms: sign: digest is %d bytes, %v needs %d", len(digest), p.hash, p.hash.Size())
	}
	if pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("cms: sign: %w", ErrKeyMismatch)
	}
	attrs, err := p.signedAttributes(digest)
	if err != nil {
		return nil, fmt.Errorf("cms: build signed attributes: %w", err)
	}
	h := p.hash.New()
	h.Write(attrs)
	sum := h.Sum(nil)

	var signerOpts crypto.SignerOpts = p.hash
	if p.pss {
		signerOpts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: p.hash}
	}
	// A cancelled request must not reach the token: on keys that need a
	// PIN per signature that would open a dialog nobody wants.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cms: sign: %w", err)
	}
	var sig []byte
	if cs, ok := s.(ContextSigner); ok {
		sig, err = cs.SignContext(ctx, sum, signerOpts)
	} else {
		sig, err = s.Sign(rand.Reader, sum, signerOpts)
	}
	if err != nil {
		return nil, fmt.Errorf("cms: sign: %w", err)
	}
	alg := sigAlg{kind: kindECDSA, hash: p.hash}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); ok {
		alg = sigAlg{kind: kindRSA, hash: p.hash, pss: p.pss, salt: p.hash.Size()}
	}
	if !opts.KeyVerified {
		if err := verifyDigest(cert.PublicKey, alg, sum, sig); err != nil {
			return nil, fmt.Errorf("cms: sign: the new signature does not verify with the certificate's key: %w", err)
		}
	}
	if len(sig) > p.maxSig {
		// MaxSize promises an upper bound; a signer that returns more
		// (e.g. padding garbage) would break a PDF placeholder.
		return nil, fmt.Errorf("cms: sign: signature is %d bytes, more than the %d the key allows", len(sig), p.maxSig)
	}
	der, err := p.assemble(attrs, sig)
	if err != nil {
		return nil, fmt.Errorf("cms: assemble SignedData: %w", err)
	}
	return der, nil
}

// MaxSize returns the exact upper bound of len(Sign(...)) for cert and
// opts, without a timestamp: the structure is built with the longest
// signature value the key can produce (the modulus length for RSA, a DER
// Ecdsa-Sig-Value with both integers at full length for ECDSA). RSA
// signatures always have the modulus length, so for RSA the bound is
// exact; ECDSA signatures are a few bytes shorter most of the time.
func MaxSize(cert *x509.Certificate, opts Options) (int, error) {
	p, err := newPlan(cert, opts)
	if err != nil {
		return 0, fmt.Errorf("cms: max size: %w", err)
	}
	attrs, err := p.signedAttributes(make([]byte, p.hash.Size()))
	if err != nil {
		return 0, fmt.Errorf("cms: max size: %w", err)
	}
	der, err := p.assemble(attrs, make([]byte, p.maxSig))
	if err != nil {
		return 0, fmt.Errorf("cms: max size: %w", err)
	}
	return len(der), nil
}

// signedAttributes returns the signed attributes as the DER SET OF that
// the signature covers (tag 0x31); assemble re-tags it [0] IMPLICIT.
func (p *plan) signedAttributes(digest []byte) ([]byte, error) {
	var attrs [][]byte
	add := func(f cryptobyte.BuilderContinuation) error {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(cbasn1.SEQUENCE, f)
		der, err := b.Bytes()
		if err != nil {
			return err
		}
		attrs = append(attrs, der)
		return nil
	}
	if err := add(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidAttrContentType())
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidData())
		})
	}); err != nil {
		return nil, fmt.Errorf("content-type: %w", err)
	}
	if err := add(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidAttrMessageDigest())
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(digest)
		})
	}); err != nil {
		return nil, fmt.Errorf("message-digest: %w", err)
	}
	certHash := p.hash.New()
	certHash.Write(p.cert.Raw)
	if err := add(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidAttrSigningCertificateV2())
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SigningCertificateV2
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certs
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ESSCertIDv2
						if p.hash != crypto.SHA256 {
							// SHA-256 is the DEFAULT, which DER omits.
							addDigestAlgorithm(b, p.hash)
						}
						b.AddASN1OctetString(certHash.Sum(nil))
						addIssuerSerial(b, p.cert)
					})
				})
			})
		})
	}); err != nil {
		return nil, fmt.Errorf("signing-certificate-v2: %w", err)
	}
	if !p.signingTime.IsZero() {
		t := p.signingTime.UTC()
		if err := add(func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidAttrSigningTime())
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				// RFC 5652 section 11.3: UTCTime for 1950-2049.
				if t.Year() >= 1950 && t.Year() < 2050 {
					b.AddASN1UTCTime(t)
				} else {
					b.AddASN1GeneralizedTime(t)
				}
			})
		}); err != nil {
			return nil, fmt.Errorf("signing-time: %w", err)
		}
	}
	// DER orders a SET OF by the encodings of its elements.
	slices.SortFunc(attrs, bytes.Compare)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	return b.Bytes()
}

// addIssuerSerial writes IssuerSerial (RFC 5035): GeneralNames with the
// issuer as directoryName, and the serial number.
func addIssuerSerial(b *cryptobyte.Builder, cert *x509.Certificate) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // GeneralNames
			// directoryName [4] is EXPLICIT: Name is a CHOICE.
			b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddBytes(cert.RawIssuer)
			})
		})
		b.AddASN1BigInt(cert.SerialNumber)
	})
}

// assemble writes the ContentInfo around the signed attributes (given as
// a SET OF) and the signature value.
func (p *plan) assemble(signedAttrs, sig []byte) ([]byte, error) {
	in := cryptobyte.String(signedAttrs)
	var attrContent cryptobyte.String
	if !in.ReadASN1(&attrContent, cbasn1.SET) || !in.Empty() {
		return nil, errors.New("signed attributes are not a SET")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData())
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					addDigestAlgorithm(b, p.hash)
				})
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo
					b.AddASN1ObjectIdentifier(oidData()) // no eContent: detached
				})
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					for _, c := range p.certs {
						b.AddBytes(c)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { // SignerInfos
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
							b.AddBytes(p.cert.RawIssuer)
							b.AddASN1BigInt(p.cert.SerialNumber)
						})
						addDigestAlgorithm(b, p.hash)
						b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
							b.AddBytes(attrContent)
						})
						b.AddBytes(p.sigAlg)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	return b.Bytes()
}
