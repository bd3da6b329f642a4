package cms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha1" // registers SHA-1 for verifying legacy signatures
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// keyKind is the public-key family of a signature.
type keyKind int

const (
	kindUnknown keyKind = iota
	kindRSA
	kindECDSA
)

// sigAlg is a decoded signatureAlgorithm: what verification needs.
type sigAlg struct {
	kind keyKind
	hash crypto.Hash // the hash the signature was computed with
	pss  bool
	salt int // PSS salt length
}

// x509 maps the algorithm to the crypto/x509 enumeration for reporting.
func (a sigAlg) x509() x509.SignatureAlgorithm {
	type key struct {
		kind keyKind
		pss  bool
		hash crypto.Hash
	}
	switch (key{a.kind, a.pss, a.hash}) {
	case key{kindRSA, false, crypto.SHA1}:
		return x509.SHA1WithRSA
	case key{kindRSA, false, crypto.SHA256}:
		return x509.SHA256WithRSA
	case key{kindRSA, false, crypto.SHA384}:
		return x509.SHA384WithRSA
	case key{kindRSA, false, crypto.SHA512}:
		return x509.SHA512WithRSA
	case key{kindRSA, true, crypto.SHA256}:
		return x509.SHA256WithRSAPSS
	case key{kindRSA, true, crypto.SHA384}:
		return x509.SHA384WithRSAPSS
	case key{kindRSA, true, crypto.SHA512}:
		return x509.SHA512WithRSAPSS
	case key{kindECDSA, false, crypto.SHA1}:
		return x509.ECDSAWithSHA1
	case key{kindECDSA, false, crypto.SHA256}:
		return x509.ECDSAWithSHA256
	case key{kindECDSA, false, crypto.SHA384}:
		return x509.ECDSAWithSHA384
	case key{kindECDSA, false, crypto.SHA512}:
		return x509.ECDSAWithSHA512
	}
	return x509.UnknownSignatureAlgorithm
}

// addDigestAlgorithm writes a digest AlgorithmIdentifier with absent
// parameters, as RFC 5754 section 2 requires generators to do for SHA-2.
func addDigestAlgorithm(b *cryptobyte.Builder, h crypto.Hash) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(hashOID(h))
	})
}

// addHashWithNull writes a hash AlgorithmIdentifier with NULL parameters,
// the form RSASSA-PSS-params carry in practice (OpenSSL, Go's crypto/x509
// and the RFC 4055 examples all use it).
func addHashWithNull(b *cryptobyte.Builder, h crypto.Hash) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(hashOID(h))
		b.AddASN1NULL()
	})
}

// signatureAlgorithm returns the DER signatureAlgorithm identifier for a
// signature by pub with hash h, and the largest signature value such a key
// can produce.
func signatureAlgorithm(pub crypto.PublicKey, h crypto.Hash, pss bool) (der []byte, maxSig int, err error) {
	b := cryptobyte.NewBuilder(nil)
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			if !pss {
				// rsaEncryption rather than sha256WithRSAEncryption: every
				// CMS validator accepts it, some reject the combined OIDs.
				b.AddASN1ObjectIdentifier(oidRSAEncryption())
				b.AddASN1NULL()
				return
			}
			b.AddASN1ObjectIdentifier(oidRSASSAPSS())
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					addHashWithNull(b, h)
				})
				b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidMGF1())
						addHashWithNull(b, h)
					})
				})
				b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(h.Size()))
				})
				// trailerField is left at its default, trailerFieldBC.
			})
		})
		maxSig = (pub.N.BitLen() + 7) / 8
	case *ecdsa.PublicKey:
		if pss {
			return nil, 0, fmt.Errorf("RSASSA-PSS with an ECDSA key: %w", ErrUnsupportedAlgorithm)
		}
		if pub.Curve == nil {
			return nil, 0, fmt.Errorf("ECDSA key without a curve: %w", ErrUnsupportedAlgorithm)
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(ecdsaOID(h))
		})
		maxSig = maxECDSASignature(pub.Curve.Params().N.BitLen())
	default:
		return nil, 0, fmt.Errorf("key type %T: %w", pub, ErrUnsupportedAlgorithm)
	}
	der, err = b.Bytes()
	if err != nil {
		return nil, 0, err
	}
	return der, maxSig, nil
}

// maxECDSASignature is the longest DER Ecdsa-Sig-Value for a group order
// of orderBits: both integers at full length plus a sign octet.
func maxECDSASignature(orderBits int) int {
	integer := tlvLen((orderBits+7)/8 + 1)
	return tlvLen(2 * integer)
}

// tlvLen is the size of a DER element with a one-octet identifier and
// content of n octets.
func tlvLen(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n <= 0xff:
		return 3 + n
	case n <= 0xffff:
		return 4 + n
	case n <= 0xffffff:
		return 5 + n
	}
	return 6 + n
}

// parseSignatureAlgorithm decodes a SignerInfo signatureAlgorithm. digest
// is the SignerInfo's digestAlgorithm, the hash that applies when the
// identifier names only the key type (rsaEncryption, id-ecPublicKey).
func parseSignatureAlgorithm(alg algorithmIdentifier, digest crypto.Hash) (sigAlg, error) {
	switch {
	case alg.oid.Equal(oidRSAEncryption()):
		return sigAlg{kind: kindRSA, hash: digest}, nil
	case alg.oid.Equal(oidECPublicKey()):
		return sigAlg{kind: kindECDSA, hash: digest}, nil
	case alg.oid.Equal(oidRSASSAPSS()):
		h, salt, err := parsePSSParams(alg.params)
		if err != nil {
			return sigAlg{}, err
		}
		return sigAlg{kind: kindRSA, hash: h, pss: true, salt: salt}, nil
	}
	for _, h := range knownHashes() {
		if alg.oid.Equal(rsaPKCS1OID(h)) {
			return sigAlg{kind: kindRSA, hash: h}, nil
		}
		if alg.oid.Equal(ecdsaOID(h)) {
			return sigAlg{kind: kindECDSA, hash: h}, nil
		}
	}
	return sigAlg{}, fmt.Errorf("signature algorithm %v: %w", alg.oid, ErrUnsupportedAlgorithm)
}

// parsePSSParams decodes RSASSA-PSS-params (RFC 4055 section 3.1) and
// returns the hash and salt length. A mask generation function other than
// MGF1 with the same hash cannot be verified with crypto/rsa and is
// refused.
func parsePSSParams(params []byte) (crypto.Hash, int, error) {
	in := cryptobyte.String(params)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return 0, 0, fmt.Errorf("malformed RSASSA-PSS parameters")
	}
	hash, mgfHash, salt := crypto.SHA1, crypto.SHA1, int64(20)
	var field cryptobyte.String
	var present bool
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return 0, 0, fmt.Errorf("malformed RSASSA-PSS hashAlgorithm")
	}
	if present {
		alg, err := readAlgorithmIdentifier(&field)
		if err != nil || !field.Empty() {
			return 0, 0, fmt.Errorf("malformed RSASSA-PSS hashAlgorithm")
		}
		if hash = hashFromOID(alg.oid); hash == 0 {
			return 0, 0, fmt.Errorf("RSASSA-PSS hash %v: %w", alg.oid, ErrUnsupportedAlgorithm)
		}
	}
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(1).ContextSpecific().Constructed()) {
		return 0, 0, fmt.Errorf("malformed RSASSA-PSS maskGenAlgorithm")
	}
	if present {
		alg, err := readAlgorithmIdentifier(&field)
		if err != nil || !field.Empty() {
			return 0, 0, fmt.Errorf("malformed RSASSA-PSS maskGenAlgorithm")
		}
		if !alg.oid.Equal(oidMGF1()) {
			return 0, 0, fmt.Errorf("RSASSA-PSS mask generation %v: %w", alg.oid, ErrUnsupportedAlgorithm)
		}
		p := cryptobyte.String(alg.params)
		inner, err := readAlgorithmIdentifier(&p)
		if err != nil || !p.Empty() {
			return 0, 0, fmt.Errorf("malformed RSASSA-PSS MGF1 parameters")
		}
		if mgfHash = hashFromOID(inner.oid); mgfHash == 0 {
			return 0, 0, fmt.Errorf("RSASSA-PSS MGF1 hash %v: %w", inner.oid, ErrUnsupportedAlgorithm)
		}
	}
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(2).ContextSpecific().Constructed()) {
		return 0, 0, fmt.Errorf("malformed RSASSA-PSS saltLength")
	}
	if present && (!field.ReadASN1Integer(&salt) || !field.Empty() || salt < 0 || salt > 1<<16) {
		return 0, 0, fmt.Errorf("malformed RSASSA-PSS saltLength")
	}
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(3).ContextSpecific().Constructed()) {
		return 0, 0, fmt.Errorf("malformed RSASSA-PSS trailerField")
	}
	if present {
		var trailer int64
		if !field.ReadASN1Integer(&trailer) || !field.Empty() || trailer != 1 {
			return 0, 0, fmt.Errorf("RSASSA-PSS trailerField other than trailerFieldBC: %w", ErrUnsupportedAlgorithm)
		}
	}
	if !seq.Empty() {
		return 0, 0, fmt.Errorf("malformed RSASSA-PSS parameters: trailing data")
	}
	if mgfHash != hash {
		return 0, 0, fmt.Errorf("RSASSA-PSS with MGF1 hash %v differing from hash %v: %w", mgfHash, hash, ErrUnsupportedAlgorithm)
	}
	return hash, int(salt), nil
}

// verifyDigest checks sig over the precomputed digest sum with pub.
func verifyDigest(pub crypto.PublicKey, alg sigAlg, sum, sig []byte) error {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if alg.kind != kindRSA {
			return fmt.Errorf("RSA key with a non-RSA signature algorithm: %w", ErrInvalidSignature)
		}
		var err error
		if alg.pss {
			err = rsa.VerifyPSS(pub, alg.hash, sum, sig, &rsa.PSSOptions{SaltLength: alg.salt, Hash: alg.hash})
		} else {
			err = rsa.VerifyPKCS1v15(pub, alg.hash, sum, sig)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidSignature, err)
		}
		return nil
	case *ecdsa.PublicKey:
		if alg.kind != kindECDSA {
			return fmt.Errorf("ECDSA key with a non-ECDSA signature algorithm: %w", ErrInvalidSignature)
		}
		if !ecdsa.VerifyASN1(pub, sum, sig) {
			return ErrInvalidSignature
		}
		return nil
	}
	return fmt.Errorf("key type %T: %w", pub, ErrUnsupportedAlgorithm)
}

// algorithmIdentifier is a decoded AlgorithmIdentifier; params holds the
// complete DER of the parameters element, nil when absent.
type algorithmIdentifier struct {
	oid    asn1.ObjectIdentifier
	params []byte
}

// readAlgorithmIdentifier reads one AlgorithmIdentifier SEQUENCE from s.
func readAlgorithmIdentifier(s *cryptobyte.String) (algorithmIdentifier, error) {
	var seq cryptobyte.String
	var alg algorithmIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&alg.oid) {
		return alg, fmt.Errorf("malformed algorithm identifier")
	}
	if !seq.Empty() {
		var params cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadAnyASN1Element(&params, &tag) || !seq.Empty() {
			return alg, fmt.Errorf("malformed algorithm identifier parameters")
		}
		if tag != cbasn1.NULL {
			alg.params = params
		}
	}
	return alg, nil
}
