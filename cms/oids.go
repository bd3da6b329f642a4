package cms

import (
	"crypto"
	"encoding/asn1"
)

// Object identifiers. They are functions rather than package variables
// because asn1.ObjectIdentifier is a slice: a shared variable could be
// modified by any caller that appends to or edits a returned value.

// Content types (RFC 5652, RFC 3161).
func oidData() asn1.ObjectIdentifier       { return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1} }
func oidSignedData() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2} }
func oidTSTInfo() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
}

// Attributes (RFC 5652, RFC 2634, RFC 5035, RFC 3161 appendix A).
func oidAttrContentType() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
}
func oidAttrMessageDigest() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
}
func oidAttrSigningTime() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
}
func oidAttrSigningCertificate() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
}
func oidAttrSigningCertificateV2() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
}
func oidAttrSignatureTimeStampToken() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
}

// Adobe's adbe-revocationInfoArchival signed attribute (PDF 1.6 and
// ISO 32000-1 section 12.8.3.3.2): revocation data the signer archived.
func oidAttrAdobeRevocationArchival() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113583, 1, 1, 8}
}

// Signature algorithms.
func oidRSAEncryption() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
}
func oidRSASSAPSS() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10} }
func oidMGF1() asn1.ObjectIdentifier      { return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8} }
func oidECPublicKey() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
}

// Extended key usage id-kp-timeStamping and the EKU extension itself.
func oidExtKeyUsage() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{2, 5, 29, 37} }

// hashOID returns the digest algorithm identifier of h, or nil.
func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA1:
		return asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	case crypto.SHA224:
		return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	case crypto.SHA256:
		return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	case crypto.SHA384:
		return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	case crypto.SHA512:
		return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	}
	return nil
}

// hashFromOID is the inverse of hashOID; 0 when the algorithm is unknown.
func hashFromOID(oid asn1.ObjectIdentifier) crypto.Hash {
	for _, h := range knownHashes() {
		if oid.Equal(hashOID(h)) {
			return h
		}
	}
	return 0
}

// ecdsaOID returns ecdsa-with-SHA* (RFC 5758) for h, or nil.
func ecdsaOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA1:
		return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	case crypto.SHA224:
		return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}
	case crypto.SHA256:
		return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	case crypto.SHA384:
		return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	case crypto.SHA512:
		return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	}
	return nil
}

// rsaPKCS1OID returns sha*WithRSAEncryption (RFC 4055) for h, or nil. kyso
// writes plain rsaEncryption; these legacy identifiers are accepted when
// parsing because many signers still put them in signatureAlgorithm.
func rsaPKCS1OID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA1:
		return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	case crypto.SHA224:
		return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 14}
	case crypto.SHA256:
		return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	case crypto.SHA384:
		return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	case crypto.SHA512:
		return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	}
	return nil
}

// knownHashes lists the digests the parser recognises inside algorithm
// identifiers, oldest first.
func knownHashes() []crypto.Hash {
	return []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512}
}
