package cms

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
)

// verifySHA1RSA checks a sha1WithRSAEncryption signature directly with
// crypto/rsa, because crypto/x509 refuses SHA-1 signatures outright. It is
// used only where a caller explicitly accepts the legacy government chain.
func verifySHA1RSA(parent *x509.Certificate, signed, sig []byte) error {
	pub, ok := parent.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("cms: SHA-1 legacy check needs an RSA issuer key")
	}
	h := sha1.Sum(signed)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], sig)
}
