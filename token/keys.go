package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"math/big"

	"github.com/miekg/pkcs11"
)

// keyObject is a key object on a token, reduced to what pairing needs.
type keyObject struct {
	handle pkcs11.ObjectHandle
	id     []byte
	fp     []byte // public-key fingerprint (see publicFingerprint); nil when not readable
}

func readKeyObjects(ctx *pkcs11.Ctx, s pkcs11.SessionHandle, class uint) []keyObject {
	objs := findObjects(ctx, s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)})
	out := make([]keyObject, 0, len(objs))
	for _, o := range objs {
		k := keyObject{handle: o, id: attr(ctx, s, o, pkcs11.CKA_ID)}
		if n := attr(ctx, s, o, pkcs11.CKA_MODULUS); n != nil {
			k.fp = trimZeros(n)
		} else if p := attr(ctx, s, o, pkcs11.CKA_EC_POINT); p != nil {
			k.fp = ecPointBytes(p)
		}
		out = append(out, k)
	}
	return out
}

// publicFingerprint is the value a public key is matched by: the RSA modulus
// or the uncompressed EC point. Comparing these instead of whole keys lets a
// private-key object (which shows its modulus but not its exponent on many
// tokens) match too.
func publicFingerprint(pub any) []byte {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k.N.Bytes()
	case *ecdsa.PublicKey:
		if e, err := k.ECDH(); err == nil {
			return e.Bytes()
		}
	}
	return nil
}

// ecPointBytes unwraps CKA_EC_POINT, which the standard says is a DER OCTET
// STRING but which some modules return as the bare point. A bare point
// starts with 0x04, the OCTET STRING tag, so it is recognised by its length
// (uncompressed P-256, P-384, P-521), which no wrapped point can have.
func ecPointBytes(v []byte) []byte {
	if len(v) > 0 && v[0] == 4 {
		switch len(v) {
		case 65, 97, 133:
			return v
		}
	}
	var inner []byte
	if rest, err := asn1.Unmarshal(v, &inner); err == nil && len(rest) == 0 {
		return inner
	}
	return v
}

func trimZeros(b []byte) []byte {
	return new(big.Int).SetBytes(b).Bytes()
}

// pairKey finds the key pair a certificate belongs to among the key objects
// visible now: by CKA_ID first, then by public key value (certificates
// written by other tools often carry no or a different CKA_ID). ok is false
// when no key object was seen; the returned ref still names the
// certificate's CKA_ID, because many tokens show private keys only after
// login.
func pairKey(cert *x509.Certificate, certID []byte, pubs, privs []keyObject) (ref keyRef, ok bool) {
	fp := publicFingerprint(cert.PublicKey)
	ref = keyRef{id: certID, pub: cert.PublicKey}
	matches := func(k keyObject) bool { return k.fp == nil || bytes.Equal(k.fp, fp) }
	if len(certID) > 0 {
		for _, list := range [][]keyObject{privs, pubs} {
			for _, k := range list {
				if bytes.Equal(k.id, certID) && matches(k) {
					return ref, true
				}
			}
		}
	}
	for _, list := range [][]keyObject{pubs, privs} {
		for _, k := range list {
			if k.fp != nil && bytes.Equal(k.fp, fp) {
				ref.id = k.id
				return ref, true
			}
		}
	}
	return ref, false
}

// findPrivateKey locates the private key of ref in a logged-in session.
func findPrivateKey(ctx *pkcs11.Ctx, s pkcs11.SessionHandle, ref keyRef) (pkcs11.ObjectHandle, bool) {
	fp := publicFingerprint(ref.pub)
	privs := readKeyObjects(ctx, s, pkcs11.CKO_PRIVATE_KEY)
	if len(ref.id) > 0 {
		for _, k := range privs {
			if bytes.Equal(k.id, ref.id) && (k.fp == nil || bytes.Equal(k.fp, fp)) {
				return k.handle, true
			}
		}
	}
	for _, k := range privs {
		if k.fp != nil && bytes.Equal(k.fp, fp) {
			return k.handle, true
		}
	}
	// EC private keys rarely show their point: go through the public key
	// object with the same value and take its CKA_ID.
	for _, p := range readKeyObjects(ctx, s, pkcs11.CKO_PUBLIC_KEY) {
		if p.fp == nil || !bytes.Equal(p.fp, fp) || len(p.id) == 0 {
			continue
		}
		for _, k := range privs {
			if bytes.Equal(k.id, p.id) {
				return k.handle, true
			}
		}
	}
	return 0, false
}
