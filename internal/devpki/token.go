package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/miekg/pkcs11"
)

// ErrTokenNotVisible is wrapped by provisioning errors when the token is not
// among the slots the process's PKCS#11 module reports. With SoftHSM that
// usually means the token was created after the module was initialised in
// this process, or SOFTHSM2_CONF pointed elsewhere at that moment (see
// package internal/softhsm).
var ErrTokenNotVisible = errors.New("devpki: token not visible to this process")

// CA certificates stored on a token are labelled with this unless
// WithIntermediateCert is given another label.
const DefaultIntermediateLabel = "kyso Test CA"

// KeySpec describes one key pair to generate on a token and the certificate
// to issue for it.
type KeySpec struct {
	// Label is CKA_LABEL of the key pair and of the certificate; the
	// certificate label is also what makes provisioning idempotent.
	Label string
	// ID is CKA_ID of the private and public key.
	ID []byte
	// CertID is CKA_ID of the certificate; nil means ID. A different value
	// lets tests check that certificates are paired with keys by public key
	// rather than by CKA_ID.
	CertID []byte
	// Kind is the key algorithm and size.
	Kind KeyKind
	// Profile is the certificate to issue over the on-token public key.
	Profile Profile
}

// Provisioned is the outcome for one KeySpec.
type Provisioned struct {
	Label  string
	ID     []byte // CKA_ID of the key pair (from the KeySpec)
	CertID []byte // CKA_ID of the certificate object
	Kind   KeyKind
	Cert   *x509.Certificate
	// Created is false when the token already held a certificate with
	// this label and nothing was generated.
	Created bool
}

// provisionConfig collects ProvisionOption settings.
type provisionConfig struct {
	intermediateLabel string
	tokenSerial       string
}

// ProvisionOption adjusts ProvisionToken.
type ProvisionOption func(*provisionConfig)

// WithIntermediateCert also stores the PKI's intermediate CA certificate on
// the token (certificate only, CKA_CERTIFICATE_CATEGORY "authority"), as
// Vietnamese tokens ship the issuing CA next to the user certificate. An
// empty label means DefaultIntermediateLabel. It is skipped when a
// certificate with that label exists.
func WithIntermediateCert(label string) ProvisionOption {
	return func(c *provisionConfig) {
		if label == "" {
			label = DefaultIntermediateLabel
		}
		c.intermediateLabel = label
	}
}

// WithTokenSerial additionally requires the token to have this serial
// number, which disambiguates tokens that share a label across SoftHSM
// directories.
func WithTokenSerial(serial string) ProvisionOption {
	return func(c *provisionConfig) { c.tokenSerial = serial }
}

// ProvisionToken generates each spec's key pair on the token labelled
// tokenLabel (the private key is sensitive and never extractable, so it
// never leaves the token), issues a certificate from pki over the on-token
// public key and stores the certificate on the token. A spec whose label
// already names a certificate on the token is skipped and reported with
// Created false, so running provisioning again is cheap and harmless; the
// existing certificate must have been issued by pki, or the call fails.
//
// The module is initialised with C_Initialize if nobody in the process has
// done so yet; CKR_CRYPTOKI_ALREADY_INITIALIZED is success. ProvisionToken
// never calls C_Finalize or unloads the library: a PKCS#11 module is
// initialised once per process and shared, so finalising would invalidate
// the sessions and object handles of other code in the same process (such
// as the signing code the demo runs next), and unloading would unmap code
// that other pkcs11.Ctx values still point into.
//
// With SoftHSM, the token must have existed, and SOFTHSM2_CONF must have
// named its directory, when the module was first initialised in this
// process; otherwise the error wraps ErrTokenNotVisible.
func ProvisionToken(modulePath, tokenLabel, userPIN string, pki *PKI, specs []KeySpec, opts ...ProvisionOption) ([]Provisioned, error) {
	var cfg provisionConfig
	for _, o := range opts {
		o(&cfg)
	}
	mod, err := loadModule(modulePath)
	if err != nil {
		return nil, fmt.Errorf("devpki: provision token %q: %w", tokenLabel, err)
	}
	slot, err := findTokenSlot(mod, tokenLabel, cfg.tokenSerial)
	if err != nil {
		return nil, fmt.Errorf("devpki: provision token %q: %w", tokenLabel, err)
	}
	out, err := provisionSlot(mod, slot, userPIN, pki, specs, cfg)
	if err != nil {
		return nil, fmt.Errorf("devpki: provision token %q: %w", tokenLabel, err)
	}
	return out, nil
}

// loadModule loads the PKCS#11 library and makes sure it is initialised.
// The returned context is deliberately never finalised or destroyed; see
// ProvisionToken. Each call therefore keeps a small C allocation and one
// dlopen reference for the life of the process, which is fine for a
// development tool that provisions a handful of times.
func loadModule(modulePath string) (*pkcs11.Ctx, error) {
	mod := pkcs11.New(modulePath)
	if mod == nil {
		return nil, fmt.Errorf("cannot load PKCS#11 module %s", modulePath)
	}
	if err := mod.Initialize(); err != nil && !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return nil, fmt.Errorf("initialise PKCS#11 module %s: %w", modulePath, err)
	}
	return mod, nil
}

// isCKR reports whether err is the PKCS#11 return value rv.
func isCKR(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// findTokenSlot returns the slot of the initialised token with this label
// (and serial, if not empty). Token labels and serials are space padded
// fixed-width fields in CK_TOKEN_INFO.
func findTokenSlot(mod *pkcs11.Ctx, label, serial string) (uint, error) {
	slots, err := mod.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("list slots: %w", err)
	}
	var found []uint
	for _, s := range slots {
		info, err := mod.GetTokenInfo(s)
		if err != nil {
			return 0, fmt.Errorf("token info of slot %d: %w", s, err)
		}
		if info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 ||
			strings.TrimRight(info.Label, " ") != label ||
			(serial != "" && strings.TrimSpace(info.SerialNumber) != serial) {
			continue
		}
		found = append(found, s)
	}
	switch len(found) {
	case 0:
		what := fmt.Sprintf("label %q", label)
		if serial != "" {
			what += fmt.Sprintf(" and serial %s", serial)
		}
		return 0, fmt.Errorf("%w: no token with %s among %d slots", ErrTokenNotVisible, what, len(slots))
	case 1:
		return found[0], nil
	default:
		return 0, fmt.Errorf("%d tokens are labelled %q; pass WithTokenSerial", len(found), label)
	}
}

// provisionSlot does the work of ProvisionToken on an opened module.
func provisionSlot(mod *pkcs11.Ctx, slot uint, userPIN string, pki *PKI, specs []KeySpec, cfg provisionConfig) ([]Provisioned, error) {
	if pki == nil {
		return nil, errors.New("nil PKI")
	}
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return nil, err
		}
	}
	sh, err := mod.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	defer mod.CloseSession(sh)
	// Login state is per application and token, not per session. If other
	// code in the process is already logged in, reuse that and leave it
	// logged in; otherwise log out again so provisioning leaves the token
	// as it found it.
	switch err := mod.Login(sh, pkcs11.CKU_USER, userPIN); {
	case err == nil:
		defer mod.Logout(sh)
	case isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN):
	default:
		return nil, fmt.Errorf("log in: %w", err)
	}

	s := session{mod: mod, sh: sh}
	var out []Provisioned
	for _, spec := range specs {
		p, err := s.provision(pki, spec)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", spec.Label, err)
		}
		out = append(out, p)
	}
	if cfg.intermediateLabel != "" {
		existing, err := s.findCert(cfg.intermediateLabel)
		if err != nil {
			return nil, fmt.Errorf("CA certificate %q: %w", cfg.intermediateLabel, err)
		}
		if existing != nil && !existing.Equal(pki.Intermediate.Cert) {
			return nil, fmt.Errorf("CA certificate %q on the token is not this PKI's intermediate; delete the token to start over", cfg.intermediateLabel)
		}
		if existing == nil {
			ca := pki.Intermediate.Cert
			if err := s.storeCert(ca, cfg.intermediateLabel, ca.SubjectKeyId, certCategoryAuthority); err != nil {
				return nil, fmt.Errorf("CA certificate %q: %w", cfg.intermediateLabel, err)
			}
		}
	}
	return out, nil
}

// validate checks a KeySpec before anything is written to the token.
func (s KeySpec) validate() error {
	switch {
	case s.Label == "":
		return errors.New("key spec without label")
	case len(s.ID) == 0:
		return fmt.Errorf("key %q: empty CKA_ID", s.Label)
	case !s.Kind.valid():
		return fmt.Errorf("key %q: unsupported key kind %v", s.Label, s.Kind)
	}
	return nil
}

// CKA_CERTIFICATE_CATEGORY values (PKCS#11 v2.40 section 4.6.2).
const (
	certCategoryTokenUser = 1
	certCategoryAuthority = 2
)

// session bundles a module and an open, logged-in session.
type session struct {
	mod *pkcs11.Ctx
	sh  pkcs11.SessionHandle
}

// provision handles one KeySpec: reuse, or generate, certify and store.
func (s session) provision(pki *PKI, spec KeySpec) (Provisioned, error) {
	certID := spec.CertID
	if certID == nil {
		certID = spec.ID
	}
	res := Provisioned{Label: spec.Label, ID: cloneBytes(spec.ID), CertID: cloneBytes(certID), Kind: spec.Kind}

	existing, err := s.findCert(spec.Label)
	if err != nil {
		return Provisioned{}, err
	}
	if existing != nil {
		// Reusing a certificate from another CA (the PKI directory was
		// deleted but the token kept) would hand out certificates that
		// do not chain to the PKI the caller trusts.
		if !pki.IssuedBy(existing) {
			return Provisioned{}, fmt.Errorf("token already has a certificate labelled %q from another CA (%s); delete the token to start over", spec.Label, existing.Issuer)
		}
		res.Cert = existing
		return res, nil
	}
	// A private key with this ID but no certificate means an earlier run
	// died half-way or the caller reuses an ID. Refuse rather than create a
	// second key with the same CKA_ID, which would make pairing ambiguous,
	// and rather than delete keys on a token we did not create.
	keys, err := s.find([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, spec.ID),
	}, 1)
	if err != nil {
		return Provisioned{}, err
	}
	if len(keys) > 0 {
		return Provisioned{}, fmt.Errorf("token already has a private key with CKA_ID %s but no certificate labelled %q; delete the token to start over", hexID(spec.ID), spec.Label)
	}

	pubH, privH, err := s.generate(spec)
	if err != nil {
		return Provisioned{}, err
	}
	cert, err := s.certify(pki, spec, certID, pubH)
	if err != nil {
		// Remove the fresh key pair so the next run does not trip over
		// an orphaned key.
		s.mod.DestroyObject(s.sh, privH)
		s.mod.DestroyObject(s.sh, pubH)
		return Provisioned{}, err
	}
	res.Cert = cert
	res.Created = true
	return res, nil
}

// certify reads the public key, issues the certificate and stores it.
func (s session) certify(pki *PKI, spec KeySpec, certID []byte, pubH pkcs11.ObjectHandle) (*x509.Certificate, error) {
	pub, err := s.publicKey(pubH, spec.Kind)
	if err != nil {
		return nil, err
	}
	cert, err := pki.Issue(spec.Profile, pub)
	if err != nil {
		return nil, err
	}
	if err := s.storeCert(cert, spec.Label, certID, certCategoryTokenUser); err != nil {
		return nil, err
	}
	return cert, nil
}

// generate creates the key pair on the token.
func (s session) generate(spec KeySpec) (pub, priv pkcs11.ObjectHandle, err error) {
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, spec.ID),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, spec.Label),
		}
	}
	pubTmpl := append(common(pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
	)
	privTmpl := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	)
	var mech uint
	if spec.Kind.IsRSA() {
		mech = pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN
		pubTmpl = append(pubTmpl,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, spec.Kind.rsaBits()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{0x01, 0x00, 0x01}), // 65537
		)
		privTmpl = append(privTmpl, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA))
	} else {
		mech = pkcs11.CKM_EC_KEY_PAIR_GEN
		params, err := ecParams(spec.Kind)
		if err != nil {
			return 0, 0, err
		}
		pubTmpl = append(pubTmpl,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		)
		privTmpl = append(privTmpl, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC))
	}
	pub, priv, err = s.mod.GenerateKeyPair(s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pubTmpl, privTmpl)
	if err != nil {
		return 0, 0, fmt.Errorf("generate %s key pair: %w", spec.Kind, err)
	}
	return pub, priv, nil
}

// ecParams returns CKA_EC_PARAMS for an EC kind: the DER-encoded named
// curve OID.
func ecParams(kind KeyKind) ([]byte, error) {
	var oid asn1.ObjectIdentifier
	switch kind {
	case ECP256:
		oid = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	case ECP384:
		oid = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	default:
		return nil, fmt.Errorf("no EC parameters for %v", kind)
	}
	return asn1.Marshal(oid)
}

// publicKey reads the public key object back into a Go key.
func (s session) publicKey(h pkcs11.ObjectHandle, kind KeyKind) (crypto.PublicKey, error) {
	if kind.IsRSA() {
		attrs, err := s.mod.GetAttributeValue(s.sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("read RSA public key: %w", err)
		}
		return rsaPublicKey(attrs[0].Value, attrs[1].Value)
	}
	attrs, err := s.mod.GetAttributeValue(s.sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("read EC public key: %w", err)
	}
	return ecPublicKey(kind.curve(), attrs[0].Value)
}

// rsaPublicKey builds an RSA public key from CKA_MODULUS and
// CKA_PUBLIC_EXPONENT (big-endian byte strings).
func rsaPublicKey(modulus, exponent []byte) (*rsa.PublicKey, error) {
	e := new(big.Int).SetBytes(exponent)
	if len(modulus) == 0 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("bad RSA public key attributes (modulus %d bytes, exponent %x)", len(modulus), exponent)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(modulus), E: int(e.Int64())}, nil
}

// ecPublicKey decodes CKA_EC_POINT. PKCS#11 specifies a DER OCTET STRING
// wrapping the uncompressed point (SoftHSM does this), but some modules
// return the bare point, so both are accepted.
func ecPublicKey(curve elliptic.Curve, point []byte) (*ecdsa.PublicKey, error) {
	if curve == nil {
		return nil, errors.New("unknown curve")
	}
	// A bare uncompressed point starts with 0x04, which is also the DER tag
	// of an OCTET STRING, so decide by length: a bare point is exactly
	// 1 + 2×(coordinate size) bytes; a wrapped one is longer.
	raw := point
	if size := 1 + 2*((curve.Params().BitSize+7)/8); len(point) != size {
		var inner []byte
		if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
			raw = inner
		}
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
	if err != nil {
		return nil, fmt.Errorf("decode EC point: %w", err)
	}
	return pub, nil
}

// storeCert writes an X.509 certificate object.
func (s session) storeCert(cert *x509.Certificate, label string, id []byte, category uint) error {
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return fmt.Errorf("encode serial number: %w", err)
	}
	_, err = s.mod.CreateObject(s.sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_CATEGORY, category),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert.Raw),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
		pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
		pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serial),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	})
	if err != nil {
		return fmt.Errorf("store certificate: %w", err)
	}
	return nil
}

// findCert returns the certificate labelled label, or nil if there is none.
// Several certificates with one label are an error because reuse would be
// ambiguous.
func (s session) findCert(label string) (*x509.Certificate, error) {
	hs, err := s.find([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}, 2)
	if err != nil {
		return nil, err
	}
	switch len(hs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("several certificates labelled %q", label)
	}
	attrs, err := s.mod.GetAttributeValue(s.sh, hs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return nil, fmt.Errorf("read certificate %q: %w", label, err)
	}
	cert, err := x509.ParseCertificate(attrs[0].Value)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %q: %w", label, err)
	}
	return cert, nil
}

// find returns up to max objects matching tmpl.
func (s session) find(tmpl []*pkcs11.Attribute, max int) ([]pkcs11.ObjectHandle, error) {
	if err := s.mod.FindObjectsInit(s.sh, tmpl); err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	hs, _, err := s.mod.FindObjects(s.sh, max)
	// FindObjectsFinal must run even after a failed FindObjects, or the
	// session stays in search mode.
	if ferr := s.mod.FindObjectsFinal(s.sh); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	return hs, nil
}
