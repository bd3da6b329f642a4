package devpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

// tokenSession is a logged-in session on a test token, opened through the
// process-wide module like any other code in the test binary.
type tokenSession struct {
	mod *pkcs11.Ctx
	sh  pkcs11.SessionHandle
}

// openTokenSession opens a logged-in read-write session on the token
// labelled label and closes it when the test ends.
func openTokenSession(t *testing.T, label string) tokenSession {
	t.Helper()
	mod, err := loadModule(testModulePath)
	if err != nil {
		t.Fatal(err)
	}
	slot, err := findTokenSlot(mod, label, "")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := mod.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.CloseSession(sh) })
	if err := mod.Login(sh, pkcs11.CKU_USER, testUserPIN); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		t.Fatal(err)
	}
	return tokenSession{mod: mod, sh: sh}
}

// find returns all objects matching the attributes.
func (s tokenSession) find(t *testing.T, attrs ...*pkcs11.Attribute) []pkcs11.ObjectHandle {
	t.Helper()
	hs, err := session(s).find(attrs, 100)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// one returns the single object matching the attributes.
func (s tokenSession) one(t *testing.T, attrs ...*pkcs11.Attribute) pkcs11.ObjectHandle {
	t.Helper()
	hs := s.find(t, attrs...)
	if len(hs) != 1 {
		t.Fatalf("found %d objects, want 1", len(hs))
	}
	return hs[0]
}

// attr reads one attribute value.
func (s tokenSession) attr(t *testing.T, h pkcs11.ObjectHandle, typ uint) []byte {
	t.Helper()
	a, err := s.mod.GetAttributeValue(s.sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil {
		t.Fatalf("read attribute %#x: %v", typ, err)
	}
	return a[0].Value
}

// boolAttr reads a CK_BBOOL attribute.
func (s tokenSession) boolAttr(t *testing.T, h pkcs11.ObjectHandle, typ uint) bool {
	t.Helper()
	v := s.attr(t, h, typ)
	return len(v) == 1 && v[0] != 0
}

// publicKeyObject reads the token's public key object with this CKA_ID.
func (s tokenSession) publicKeyObject(t *testing.T, id []byte, kind KeyKind) crypto.PublicKey {
	t.Helper()
	h := s.one(t,
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	if kind.IsRSA() {
		pub, err := rsaPublicKey(s.attr(t, h, pkcs11.CKA_MODULUS), s.attr(t, h, pkcs11.CKA_PUBLIC_EXPONENT))
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	pub, err := ecPublicKey(kind.curve(), s.attr(t, h, pkcs11.CKA_EC_POINT))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// signOnToken signs the SHA-256 of msg with the private key with this
// CKA_ID: CKM_SHA256_RSA_PKCS for RSA; CKM_ECDSA over the digest for EC.
func (s tokenSession) signOnToken(t *testing.T, id []byte, kind KeyKind, msg []byte) []byte {
	t.Helper()
	h := s.one(t,
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	mech, data := uint(pkcs11.CKM_SHA256_RSA_PKCS), msg
	if !kind.IsRSA() {
		digest := sha256.Sum256(msg)
		mech, data = pkcs11.CKM_ECDSA, digest[:]
	}
	if err := s.mod.SignInit(s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, h); err != nil {
		t.Fatalf("C_SignInit: %v", err)
	}
	sig, err := s.mod.Sign(s.sh, data)
	if err != nil {
		t.Fatalf("C_Sign: %v", err)
	}
	return sig
}

// verifyTokenSignature checks a signature from signOnToken with the public
// key of cert.
func verifyTokenSignature(t *testing.T, cert *x509.Certificate, msg, sig []byte) {
	t.Helper()
	digest := sha256.Sum256(msg)
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Errorf("RSA signature made on the token does not verify: %v", err)
		}
	case *ecdsa.PublicKey:
		// CKM_ECDSA returns r || s, each the size of the curve order.
		n := len(sig) / 2
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		if !ecdsa.Verify(pub, digest[:], r, s) {
			t.Errorf("ECDSA signature made on the token does not verify")
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
}

func TestProvisionToken(t *testing.T) {
	tokenProvision := newTestToken(t)
	t.Parallel()
	p := newTestPKI(t)
	org := Organisation()
	org.Name = "organisation-on-token"
	specs := []KeySpec{
		{Label: "Nguyễn Văn Ánh RSA", ID: []byte{0x01}, Kind: RSA2048, Profile: Personal()},
		// A CKA_ID on the certificate that differs from the key's, so that
		// code pairing by public key can be tested against this token.
		{Label: "UBND RSA-3072", ID: []byte{0x02}, CertID: []byte{0xA2}, Kind: RSA3072, Profile: org},
		{Label: "Nguyễn Văn Ánh P-256", ID: []byte{0x03}, Kind: ECP256, Profile: Personal().WithoutNonRepudiation()},
		{Label: "UBND P-384", ID: []byte{0x04, 0x04}, Kind: ECP384, Profile: Organisation()},
	}
	got, err := ProvisionToken(testModulePath, tokenProvision, testUserPIN, p, specs, WithIntermediateCert(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(specs) {
		t.Fatalf("got %d results for %d specs", len(got), len(specs))
	}
	s := openTokenSession(t, tokenProvision)

	for i, spec := range specs {
		res := got[i]
		t.Run(spec.Kind.String(), func(t *testing.T) {
			wantCertID := spec.CertID
			if wantCertID == nil {
				wantCertID = spec.ID
			}
			if !res.Created || res.Label != spec.Label || !bytes.Equal(res.ID, spec.ID) || !bytes.Equal(res.CertID, wantCertID) || res.Kind != spec.Kind {
				t.Errorf("result %+v does not describe spec %+v", res, spec)
			}
			if _, err := res.Cert.Verify(verifyOpts(p, p.Now())); err != nil {
				t.Errorf("certificate does not chain: %v", err)
			}
			if res.Cert.Subject.CommonName != spec.Profile.CommonName {
				t.Errorf("CN %q, want %q", res.Cert.Subject.CommonName, spec.Profile.CommonName)
			}

			// The certificate is over the key generated on the token.
			tokenPub := s.publicKeyObject(t, spec.ID, spec.Kind)
			if !tokenPub.(interface{ Equal(crypto.PublicKey) bool }).Equal(res.Cert.PublicKey) {
				t.Errorf("certificate public key differs from the token's public key object")
			}

			// The private key is sensitive, non-extractable and was
			// never anything else.
			priv := s.one(t,
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_ID, spec.ID))
			for _, a := range []struct {
				name string
				typ  uint
				want bool
			}{
				{"CKA_TOKEN", pkcs11.CKA_TOKEN, true},
				{"CKA_PRIVATE", pkcs11.CKA_PRIVATE, true},
				{"CKA_SENSITIVE", pkcs11.CKA_SENSITIVE, true},
				{"CKA_ALWAYS_SENSITIVE", pkcs11.CKA_ALWAYS_SENSITIVE, true},
				{"CKA_EXTRACTABLE", pkcs11.CKA_EXTRACTABLE, false},
				{"CKA_NEVER_EXTRACTABLE", pkcs11.CKA_NEVER_EXTRACTABLE, true},
				{"CKA_SIGN", pkcs11.CKA_SIGN, true},
			} {
				if got := s.boolAttr(t, priv, a.typ); got != a.want {
					t.Errorf("private key %s = %v, want %v", a.name, got, a.want)
				}
			}
			if got := string(s.attr(t, priv, pkcs11.CKA_LABEL)); got != spec.Label {
				t.Errorf("private key label %q, want %q", got, spec.Label)
			}
			secret := uint(pkcs11.CKA_PRIVATE_EXPONENT)
			if !spec.Kind.IsRSA() {
				secret = pkcs11.CKA_VALUE
			}
			if _, err := s.mod.GetAttributeValue(s.sh, priv, []*pkcs11.Attribute{pkcs11.NewAttribute(secret, nil)}); !isCKR(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
				t.Errorf("reading the private key value: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
			}

			// The certificate object carries the attributes PKCS#11
			// applications search by.
			certH := s.one(t,
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, spec.Label))
			serial, _ := asn1.Marshal(res.Cert.SerialNumber)
			for _, a := range []struct {
				name string
				typ  uint
				want []byte
			}{
				{"CKA_VALUE", pkcs11.CKA_VALUE, res.Cert.Raw},
				{"CKA_ID", pkcs11.CKA_ID, wantCertID},
				{"CKA_SUBJECT", pkcs11.CKA_SUBJECT, res.Cert.RawSubject},
				{"CKA_ISSUER", pkcs11.CKA_ISSUER, res.Cert.RawIssuer},
				{"CKA_SERIAL_NUMBER", pkcs11.CKA_SERIAL_NUMBER, serial},
			} {
				if got := s.attr(t, certH, a.typ); !bytes.Equal(got, a.want) {
					t.Errorf("certificate %s = %x, want %x", a.name, got, a.want)
				}
			}
			if s.boolAttr(t, certH, pkcs11.CKA_PRIVATE) || !s.boolAttr(t, certH, pkcs11.CKA_TOKEN) {
				t.Errorf("certificate object must be a public token object")
			}

			// A signature made on the token verifies with the certificate.
			msg := []byte("Quyết định số 123/QĐ-UBND")
			verifyTokenSignature(t, res.Cert, msg, s.signOnToken(t, spec.ID, spec.Kind, msg))
		})
	}

	caH := s.one(t,
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, DefaultIntermediateLabel))
	if !bytes.Equal(s.attr(t, caH, pkcs11.CKA_VALUE), p.Intermediate.Cert.Raw) {
		t.Errorf("CA certificate on the token is not the intermediate")
	}
	if n := len(s.find(t, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY))); n != len(specs) {
		t.Errorf("%d private keys on the token, want %d (none for the CA certificate)", n, len(specs))
	}
}

func TestProvisionTokenReuse(t *testing.T) {
	tokenReuse := newTestToken(t)
	t.Parallel()
	p := newTestPKI(t)
	specs := []KeySpec{{Label: "reused", ID: []byte{0x01}, Kind: ECP256, Profile: Personal()}}
	first, err := ProvisionToken(testModulePath, tokenReuse, testUserPIN, p, specs, WithIntermediateCert("CA"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := ProvisionToken(testModulePath, tokenReuse, testUserPIN, p, specs, WithIntermediateCert("CA"))
	if err != nil {
		t.Fatal(err)
	}
	if !first[0].Created || second[0].Created {
		t.Errorf("Created: first %v, second %v; want true, false", first[0].Created, second[0].Created)
	}
	if !second[0].Cert.Equal(first[0].Cert) {
		t.Errorf("second run returned a different certificate")
	}
	// The token's certificates belong to p; another PKI must not adopt them.
	if _, err := ProvisionToken(testModulePath, tokenReuse, testUserPIN, newTestPKI(t), specs); err == nil || !strings.Contains(err.Error(), "another CA") {
		t.Errorf("provisioning with another PKI over existing certificates: %v", err)
	}
	s := openTokenSession(t, tokenReuse)
	for _, c := range []struct {
		class uint
		want  int
	}{
		{pkcs11.CKO_PRIVATE_KEY, 1},
		{pkcs11.CKO_PUBLIC_KEY, 1},
		{pkcs11.CKO_CERTIFICATE, 2},
	} {
		if n := len(s.find(t, pkcs11.NewAttribute(pkcs11.CKA_CLASS, c.class))); n != c.want {
			t.Errorf("%d objects of class %d after two runs, want %d", n, c.class, c.want)
		}
	}
}

// makeOrphanKey generates a key pair with this CKA_ID and no certificate,
// as an interrupted provisioning run would leave behind.
func makeOrphanKey(t *testing.T, token string, id []byte) {
	t.Helper()
	s := openTokenSession(t, token)
	params, err := ecParams(ECP256)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.mod.GenerateKeyPair(s.sh,
		[]*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
		[]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		},
		[]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		})
	if err != nil {
		t.Fatalf("generate orphaned key: %v", err)
	}
}

func TestProvisionTokenErrors(t *testing.T) {
	tokenErrors := newTestToken(t)
	t.Parallel()
	p := newTestPKI(t)
	good := KeySpec{Label: "ok", ID: []byte{0x01}, Kind: ECP256, Profile: Personal()}

	// The session that creates the orphaned key lives in a subtest so that
	// it is closed, and the token logged out, before the cases run: on a
	// logged-in token the wrong-PIN case would prove nothing.
	t.Run("setup orphaned key", func(t *testing.T) {
		makeOrphanKey(t, tokenErrors, []byte{0x09})
	})

	bad := func(edit func(*KeySpec)) []KeySpec {
		s := good
		edit(&s)
		return []KeySpec{s}
	}
	broken := Personal()
	broken.CommonName = ""
	tests := []struct {
		name    string
		token   string
		pin     string
		pki     *PKI
		specs   []KeySpec
		wantErr string
		wantIs  error
	}{
		{"unknown token", "no-such-token", testUserPIN, p, []KeySpec{good}, "", ErrTokenNotVisible},
		{"wrong PIN", tokenErrors, "000000", p, []KeySpec{good}, "CKR_PIN_INCORRECT", nil},
		{"nil PKI", tokenErrors, testUserPIN, nil, []KeySpec{good}, "nil PKI", nil},
		{"no label", tokenErrors, testUserPIN, p, bad(func(s *KeySpec) { s.Label = "" }), "without label", nil},
		{"no ID", tokenErrors, testUserPIN, p, bad(func(s *KeySpec) { s.ID = nil }), "empty CKA_ID", nil},
		{"bad kind", tokenErrors, testUserPIN, p, bad(func(s *KeySpec) { s.Kind = 99 }), "unsupported key kind", nil},
		{"orphaned key", tokenErrors, testUserPIN, p, bad(func(s *KeySpec) { s.ID = []byte{0x09} }), "CKA_ID 09", nil},
		{"profile error", tokenErrors, testUserPIN, p, bad(func(s *KeySpec) { s.ID, s.Profile = []byte{0x0A}, broken }), "no common name", nil},
	}
	// Sequential: the cases share the token's login state.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ProvisionToken(testModulePath, tt.token, tt.pin, tt.pki, tt.specs)
			if err == nil {
				t.Fatal("ProvisionToken succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q lacks %q", err, tt.wantErr)
			}
		})
	}

	// The failed issuance removed the key pair it had generated, and the
	// failed cases created nothing at all.
	s := openTokenSession(t, tokenErrors)
	if n := len(s.find(t, pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{0x0A}))); n != 0 {
		t.Errorf("%d objects left behind by the failed provisioning", n)
	}
	if n := len(s.find(t, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE))); n != 0 {
		t.Errorf("%d certificates on the token after failed provisioning", n)
	}
}

func TestECPointForms(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := asn1.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		point []byte
		ok    bool
	}{
		{"DER OCTET STRING", wrapped, true},
		{"bare point", raw, true},
		{"truncated", raw[:20], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := ecPublicKey(elliptic.P256(), tt.point)
			if (err == nil) != tt.ok {
				t.Fatalf("ecPublicKey error %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !pub.Equal(&key.PublicKey) {
				t.Errorf("decoded a different key")
			}
		})
	}
	if _, err := rsaPublicKey([]byte{0xC3}, []byte{0x01}); err == nil {
		t.Errorf("rsaPublicKey accepted exponent 1")
	}
}
