package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/miekg/pkcs11"
)

// Signer is a crypto.Signer bound to one certificate's private key. Sign
// uses context.Background; SignContext lets the caller cancel while the
// signature waits for the token or for the PIN.
type Signer interface {
	crypto.Signer
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
	Certificate() *Certificate
}

// Store is a source of certificates with private keys: the PKCS#11 Manager
// and the PKCS#12 FileStore.
type Store interface {
	Certificates(ctx context.Context) ([]*Certificate, error)
	Signer(ctx context.Context, h Handle, pins PINSource) (Signer, error)
}

var (
	_ Store = (*Manager)(nil)
	_ Store = (*FileStore)(nil)
)

// Signer returns a Signer for the certificate with handle h. PINs are taken
// from pins when the token needs a login or the key needs a PIN for every
// signature. The signer looks the certificate up again when its token was
// pulled out and plugged back in, so it stays usable.
func (m *Manager) Signer(ctx context.Context, h Handle, pins PINSource) (Signer, error) {
	return m.SignerOn(ctx, "", h, pins)
}

// SignerOn is Signer for the copy of the certificate on the token tokenID,
// for when the same certificate is visible on several tokens (or through
// two modules). An empty tokenID accepts any token.
func (m *Manager) SignerOn(ctx context.Context, tokenID string, h Handle, pins PINSource) (Signer, error) {
	if _, c := m.locate(h, tokenID); c != nil && (tokenID == "" || c.TokenID == tokenID) {
		return &p11Signer{m: m, cert: c, pins: pins}, nil
	}
	m.rescanAll(ctx, true)
	if _, c := m.locate(h, tokenID); c != nil && (tokenID == "" || c.TokenID == tokenID) {
		return &p11Signer{m: m, cert: c, pins: pins}, nil
	}
	return nil, &Error{Code: CodeCertificateNotFound, Op: "find certificate", Err: errString("no present token holds certificate " + string(h))}
}

type p11Signer struct {
	m    *Manager
	cert *Certificate
	pins PINSource
}

func (s *p11Signer) Public() crypto.PublicKey  { return s.cert.X509.PublicKey }
func (s *p11Signer) Certificate() *Certificate { return s.cert }

func (s *p11Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest, which must be the hash named by opts. RSA keys
// sign PKCS#1 v1.5 (CKM_RSA_PKCS over a DigestInfo), or PSS when opts is an
// *rsa.PSSOptions (CKM_RSA_PKCS_PSS); EC keys sign with CKM_ECDSA and return
// an ASN.1 signature, as crypto/ecdsa does.
func (s *p11Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	mech, data, ec, err := mechanismFor(s.cert.X509.PublicKey, digest, opts)
	if err != nil {
		return nil, err
	}
	ts, _ := s.m.locate(s.cert.Handle, s.cert.TokenID)
	if ts == nil || ts.removed.Load() {
		// Plugged back in, or into another reader, since we last looked.
		ts = s.relocate(ctx)
		if ts == nil {
			return nil, &Error{Code: CodeTokenAbsent, Op: "sign", Err: errString("the token holding this certificate is not present")}
		}
	}
	sig, err := s.signOn(ctx, ts, mech, data)
	if CodeOf(err) == CodeTokenAbsent {
		// The slot was empty when the session was opened (nothing was
		// logged in or signed): the token may sit in another slot now.
		if ts2 := s.relocate(ctx); ts2 != nil && ts2 != ts {
			sig, err = s.signOn(ctx, ts2, mech, data)
		}
	}
	if err != nil {
		return nil, err
	}
	if ec {
		return ecdsaASN1(sig)
	}
	return sig, nil
}

// relocate rescans and finds the token now holding the certificate.
func (s *p11Signer) relocate(ctx context.Context) *tokenState {
	s.m.rescanAll(ctx, true)
	ts, _ := s.m.locate(s.cert.Handle, s.cert.TokenID)
	return ts
}

// signOn runs one signature on ts. The token call runs on its own
// goroutine so that a cancelled context returns at once even when a driver
// is stuck; the goroutine releases the token when the driver returns.
func (s *p11Signer) signOn(ctx context.Context, ts *tokenState, mech *pkcs11.Mechanism, data []byte) ([]byte, error) {
	if len(ts.mechs) > 0 && !ts.mechs[mech.Mechanism] {
		return nil, &Error{Code: CodeMechanismNotSupported, Op: "sign", Token: ts.label, Err: fmt.Errorf("the token does not offer %s", mechanismName(mech.Mechanism))}
	}
	if err := ts.acquire(ctx); err != nil {
		return nil, err
	}
	type result struct {
		sig []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer ts.release()
		sig, err := ts.sign(ctx, s.cert, s.pins, mech, data)
		done <- result{sig, err}
	}()
	select {
	case r := <-done:
		return r.sig, r.err
	case <-ctx.Done():
		return nil, &Error{Code: CodeCancelled, Op: "sign", Token: ts.label, Err: ctx.Err()}
	}
}

// sign runs one signature on the token. The caller holds ts.sem.
func (ts *tokenState) sign(ctx context.Context, cert *Certificate, pins PINSource, mech *pkcs11.Mechanism, data []byte) ([]byte, error) {
	p := ts.mod.ctx
	label := ts.label
	if ts.removed.Load() {
		return nil, &Error{Code: CodeTokenRemoved, Op: "sign", Token: label}
	}
	state, err := ts.ensureSession()
	if err != nil {
		return nil, err
	}
	if state != pkcs11.CKS_RO_USER_FUNCTIONS && state != pkcs11.CKS_RW_USER_FUNCTIONS {
		if err := ts.login(ctx, cert, pins, pkcs11.CKU_USER); err != nil {
			return nil, err
		}
	}
	if ts.removed.Load() {
		// Pulled out while the PIN dialog was open: the session may belong
		// to a re-inserted token's new state by now.
		ts.dropSession(false)
		return nil, &Error{Code: CodeTokenRemoved, Op: "sign", Token: label}
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Code: CodeCancelled, Op: "sign", Token: label, Err: err}
	}
	kh, err := ts.privateKey(cert)
	if err != nil {
		return nil, err
	}
	if err := p.SignInit(ts.session, []*pkcs11.Mechanism{mech}, kh.obj); err != nil {
		return nil, ts.fail("sign init", err)
	}
	if kh.alwaysAuth {
		if err := ts.login(ctx, cert, pins, pkcs11.CKU_CONTEXT_SPECIFIC); err != nil {
			// End the active operation: any C_Sign error other than
			// "buffer too small" terminates it.
			_, _ = p.Sign(ts.session, data)
			return nil, err
		}
	}
	sig, err := p.Sign(ts.session, data)
	if err != nil {
		return nil, ts.fail("sign", err)
	}
	return sig, nil
}

// fail converts a PKCS#11 failure during an operation, dropping the session
// when the token went away so the next attempt starts clean.
func (ts *tokenState) fail(op string, err error) error {
	e := wrapP11(op, ts.label, err)
	if CodeOf(e) == CodeTokenRemoved || CodeOf(e) == CodeTokenAbsent {
		ts.dropSession(false)
	}
	return e
}

// ensureSession makes sure the token has a live session and returns its
// state (logged in or not).
func (ts *tokenState) ensureSession() (uint, error) {
	if ts.hasSession {
		info, err := ts.mod.ctx.GetSessionInfo(ts.session)
		if err == nil && info.SlotID == ts.slot {
			return info.State, nil
		}
		// The session died (the token was pulled out and back in, or the
		// driver reset). Opening a new one is not a login retry.
		ts.dropSession(false)
	}
	s, err := ts.mod.ctx.OpenSession(ts.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return 0, wrapP11("open session", ts.label, err)
	}
	ts.session, ts.hasSession = s, true
	ts.keyHandles = map[Handle]keyHandle{}
	info, err := ts.mod.ctx.GetSessionInfo(s)
	if err != nil {
		return 0, ts.fail("session info", err)
	}
	return info.State, nil
}

// login performs exactly one C_Login. It asks pins for the PIN unless the
// token has a protected authentication path, wipes the PIN right after the
// call, and on failure reports the token's PIN state as read after the
// attempt. It never tries again.
func (ts *tokenState) login(ctx context.Context, cert *Certificate, pins PINSource, userType uint) error {
	p := ts.mod.ctx
	op := "login"
	if userType == pkcs11.CKU_CONTEXT_SPECIFIC {
		op = "context-specific login"
	}
	ti, err := p.GetTokenInfo(ts.slot)
	if err != nil {
		return ts.fail(op, err)
	}
	info := makeTokenInfo(ts.mod.path, ts.slot, pkcs11.SlotInfo{}, ti)
	status := info.PIN
	if status.Locked {
		return &Error{Code: CodePINLocked, Op: op, Token: ts.label, PIN: &status}
	}
	var pin []byte
	if !info.Flags.ProtectedAuthPath {
		if pins == nil {
			return &Error{Code: CodeBadRequest, Op: op, Token: ts.label, Err: errString("a PIN is needed and no PIN source was given")}
		}
		req := PINRequest{Token: info, Certificate: cert, ContextSpecific: userType == pkcs11.CKU_CONTEXT_SPECIFIC, Status: status}
		pin, err = pins.PIN(ctx, req)
		if err != nil {
			wipe(pin)
			var te *Error
			if errors.As(err, &te) {
				return err
			}
			return &Error{Code: CodeCancelled, Op: op, Token: ts.label, Err: err}
		}
		if len(pin) == 0 {
			// An empty PIN would cost a retry on some tokens for nothing.
			return &Error{Code: CodePINInvalid, Op: op, Token: ts.label, Err: errString("empty PIN")}
		}
		if err := ctx.Err(); err != nil {
			// The caller has gone (and been told so): a C_Login now would
			// use up a try whose result nobody sees.
			wipe(pin)
			return &Error{Code: CodeCancelled, Op: op, Token: ts.label, Err: err}
		}
	}
	rv := ts.mod.raw.login(uint(ts.session), userType, pin)
	wipe(pin)
	switch rv {
	case pkcs11.CKR_OK, pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		return nil
	}
	e := p11Error(op, ts.label, rv)
	if e.Code == CodePINIncorrect || e.Code == CodePINLocked {
		if ti, err := p.GetTokenInfo(ts.slot); err == nil {
			st := pinStatusFromFlags(ti.Flags)
			e.PIN = &st
			if st.Locked {
				e.Code = CodePINLocked
			}
		}
	}
	if e.Code == CodeTokenRemoved || e.Code == CodeTokenAbsent {
		ts.dropSession(false)
	}
	return e
}

func (ts *tokenState) privateKey(cert *Certificate) (keyHandle, error) {
	if kh, ok := ts.keyHandles[cert.Handle]; ok {
		return kh, nil
	}
	ref, ok := ts.keys[cert.Handle]
	if !ok {
		ref = keyRef{pub: cert.X509.PublicKey}
	}
	obj, ok := findPrivateKey(ts.mod.ctx, ts.session, ref)
	if !ok {
		return keyHandle{}, &Error{Code: CodeKeyNotFound, Op: "find key", Token: ts.label, Err: errString("no private key on the token matches the certificate")}
	}
	kh := keyHandle{obj: obj}
	if v := attr(ts.mod.ctx, ts.session, obj, pkcs11.CKA_ALWAYS_AUTHENTICATE); len(v) == 1 && v[0] != 0 {
		kh.alwaysAuth = true
	}
	ts.keyHandles[cert.Handle] = kh
	return kh, nil
}

// digestInfoPrefix is the DER header of a PKCS#1 v1.5 DigestInfo for each
// hash kyso allows. SHA-1 is absent on purpose: TT 15/2025 requires SHA-256
// or stronger for new signatures.
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

var hashMechanisms = map[crypto.Hash]struct{ hash, mgf uint }{
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// mechanismFor chooses the PKCS#11 mechanism and the data to sign.
func mechanismFor(pub crypto.PublicKey, digest []byte, opts crypto.SignerOpts) (mech *pkcs11.Mechanism, data []byte, ec bool, err error) {
	h := opts.HashFunc()
	hm, ok := hashMechanisms[h]
	if !ok {
		return nil, nil, false, &Error{Code: CodeBadRequest, Op: "sign", Err: fmt.Errorf("hash %v is not allowed; use SHA-256, SHA-384 or SHA-512", h)}
	}
	if len(digest) != h.Size() {
		return nil, nil, false, &Error{Code: CodeBadRequest, Op: "sign", Err: fmt.Errorf("digest is %d bytes, %v needs %d", len(digest), h, h.Size())}
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			salt := pss.SaltLength
			if salt == rsa.PSSSaltLengthAuto || salt == rsa.PSSSaltLengthEqualsHash {
				// Tokens cannot compute "as long as possible", and PAdES
				// profiles use a salt as long as the hash.
				salt = h.Size()
			}
			if salt < 0 {
				return nil, nil, false, &Error{Code: CodeBadRequest, Op: "sign", Err: fmt.Errorf("invalid PSS salt length %d", salt)}
			}
			params := pkcs11.NewPSSParams(hm.hash, hm.mgf, uint(salt))
			return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), digest, false, nil
		}
		data := append(append([]byte(nil), digestInfoPrefix[h]...), digest...)
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), data, false, nil
	case *ecdsa.PublicKey:
		return pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest, true, nil
	default:
		return nil, nil, false, &Error{Code: CodeMechanismNotSupported, Op: "sign", Err: fmt.Errorf("unsupported key type %T", pub)}
	}
}

// ecdsaASN1 converts PKCS#11's r‖s into the ASN.1 SEQUENCE crypto/ecdsa
// and CMS use.
func ecdsaASN1(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, &Error{Code: CodeFunctionFailed, Op: "sign", Err: fmt.Errorf("malformed ECDSA signature of %d bytes from the token", len(raw))}
	}
	n := len(raw) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:n]), new(big.Int).SetBytes(raw[n:])})
}
