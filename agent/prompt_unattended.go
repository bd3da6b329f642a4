package agent

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/kyso-vn/kyso/token"
)

// Unattended mode is for one deployment only: `kyso serve --headless
// --unattended --pin-file FILE` run as a system service on a server that
// signs batches with an HSM, where nobody is there to type a PIN. The
// desktop agent never uses it. What changes:
//
//   - The PIN comes from a file the administrator wrote (with systemd, a
//     credential passed with LoadCredential=), read once at the start.
//   - Only the machine policy's allowedOrigins connect: nobody can approve
//     an origin, so ApproveOrigin always refuses (kyso serve also treats
//     the policy's userMayApprove as false and ignores a user's approved
//     list, so the dialog is not even reached).
//   - A request must name its certificate when several fit: the choice
//     dialog answers CERTIFICATE_REQUIRED.
//   - The consent of a person is replaced by the policy and the PIN file:
//     every signature is still audited.
//   - A PIN the token refused is never tried again. The prompter cannot see
//     the outcome of a login by itself (the agent ends the request with
//     PIN_INCORRECT and never asks again), so KeyStore wraps the token
//     layer to watch the logins made with the file's PIN: after one is
//     refused, every later signing request fails with PIN_FILE_REFUSED
//     before the token is touched, until the service is restarted (after
//     the file was fixed). A wrong PIN file therefore costs one try, never
//     a locked HSM.

// CodePINFileRefused is the error of every signing request of an
// unattended server after a token refused the PIN from its PIN file (or
// when a login would risk the token's final PIN try): fix the file, then
// restart the service.
const CodePINFileRefused = "PIN_FILE_REFUSED"

// maxPINFile bounds what ReadPINFile reads: a PIN is a short line.
const maxPINFile = 4096

// ReadPINFile reads an unattended server's PIN: a regular file that the
// group and others may neither read nor write (on Windows, where modes do
// not apply, the file's ACL is the administrator's business), holding the
// PIN on one line; one trailing newline (LF or CRLF) is dropped, anything
// else is part of the PIN. The returned slice should be wiped once
// unused (NewUnattendedPrompter takes it over and wipes it on Close).
func ReadPINFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("PIN file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("PIN file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("PIN file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("PIN file %s has mode %04o: the group and others must not have access to it (chmod 600 %s, or 400)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPINFile+1))
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("PIN file %s: %w", path, err)
	}
	if len(b) > maxPINFile {
		clear(b)
		return nil, fmt.Errorf("PIN file %s is larger than %d bytes: it should hold the PIN only", path, maxPINFile)
	}
	pin := b
	if bytes.HasSuffix(pin, []byte("\r\n")) {
		pin = pin[:len(pin)-2]
	} else if bytes.HasSuffix(pin, []byte("\n")) {
		pin = pin[:len(pin)-1]
	}
	switch {
	case len(pin) == 0:
		clear(b)
		return nil, fmt.Errorf("PIN file %s is empty", path)
	case bytes.ContainsAny(pin, "\r\n"):
		clear(b)
		return nil, fmt.Errorf("PIN file %s has more than one line: it should hold the PIN only", path)
	}
	out := bytes.Clone(pin)
	clear(b)
	return out, nil
}

// UnattendedPrompter is the Prompter of an unattended server (see above).
// It is safe for concurrent use.
type UnattendedPrompter struct {
	log *slog.Logger

	mu  sync.Mutex
	pin []byte // nil once closed

	// refused is set once a token refused the PIN, for good.
	refused    atomic.Bool
	refusedMsg atomic.Pointer[string]
	// verified says the last login with the PIN whose outcome was seen
	// succeeded, and no login of unknown outcome came since: only then is
	// the PIN handed to a token on its final try.
	verified atomic.Bool
}

var _ Prompter = (*UnattendedPrompter)(nil)

// NewUnattendedPrompter returns the prompter of an unattended server,
// answering every PIN request with a copy of pin. It takes pin over: the
// caller must not change it, and Close wipes it. logger may be nil. Use
// KeyStore to wrap the agent's key store, so that a refused PIN is never
// tried again.
func NewUnattendedPrompter(pin []byte, logger *slog.Logger) *UnattendedPrompter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &UnattendedPrompter{pin: pin, log: logger}
}

// Close wipes the PIN; later PIN requests are refused.
func (u *UnattendedPrompter) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	clear(u.pin)
	u.pin = nil
}

// Refused reports whether a token refused the PIN: every signing request
// fails until the service restarts.
func (u *UnattendedPrompter) Refused() bool { return u.refused.Load() }

// ApproveOrigin refuses: on an unattended server only the machine
// policy's allowedOrigins connect.
func (u *UnattendedPrompter) ApproveOrigin(_ context.Context, origin string) (bool, error) {
	u.log.Warn("unattended: refusing an origin the machine policy does not allow (nobody can approve it)", "origin", origin)
	return false, nil
}

// ChooseCertificate chooses none, which the agent answers with
// CERTIFICATE_REQUIRED: a server must name the certificate it signs with
// when several fit.
func (u *UnattendedPrompter) ChooseCertificate(_ context.Context, p ChoosePrompt) (token.Handle, error) {
	u.log.Warn("unattended: the request names no certificate and several fit; a server must name its certificate",
		"caller", p.Caller, "certificates", len(p.Certificates))
	return "", nil
}

// Sign confirms a request without a PIN field (a token already logged in
// within a PIN session) and returns a copy of the PIN otherwise, which the
// token layer wipes after C_Login. It refuses, without returning the PIN,
// once a token refused it (also when the agent says so itself with
// p.Retry), and when the token is on its final try while the PIN has not
// been seen accepted since the start. The errors carry the code
// USER_CANCELLED, the only code the agent passes through from a dialog;
// KeyStore's wrapper refuses the request earlier with PIN_FILE_REFUSED.
func (u *UnattendedPrompter) Sign(_ context.Context, p SignPrompt) ([]byte, error) {
	if !p.PINNeeded {
		return nil, nil
	}
	if p.Retry {
		u.refuse("the agent reports the PIN as wrong", p.TokenLabel, "")
	}
	if err := u.mayLogin(p.FinalTry, p.TokenLabel); err != nil {
		return nil, &Error{Code: CodeUserCancelled, Message: err.Message, Details: map[string]any{"reason": CodePINFileRefused}}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pin == nil {
		return nil, &Error{Code: CodeUserCancelled, Message: "unattended: the server is shutting down"}
	}
	return bytes.Clone(u.pin), nil
}

// mayLogin says whether the PIN may be handed to a token now, and why not.
func (u *UnattendedPrompter) mayLogin(finalTry bool, tokenLabel string) *Error {
	if u.refused.Load() {
		return u.refusal()
	}
	if finalTry && !u.verified.Load() {
		msg := "unattended: token " + quoteLabel(tokenLabel) + " is on its final PIN try and the PIN file has not been accepted since the start; " +
			"kyso does not risk locking the token: check the PIN file, log in once with the right PIN using the HSM's own tools (or unblock the PIN), then restart the service"
		u.log.Error(msg, "token", tokenLabel)
		return &Error{Code: CodePINFileRefused, Message: msg, Details: map[string]any{"token": tokenLabel, "finalTry": true}}
	}
	return nil
}

// refusal is the error of every request after the PIN was refused.
func (u *UnattendedPrompter) refusal() *Error {
	msg := "unattended: a token refused the PIN from the PIN file; no PIN is tried again: fix the PIN file, then restart the service"
	if m := u.refusedMsg.Load(); m != nil {
		msg = *m
	}
	return &Error{Code: CodePINFileRefused, Message: msg}
}

// refuse records, once, that a token refused the PIN, and logs it at
// error level (never the PIN).
func (u *UnattendedPrompter) refuse(why, tokenLabel, code string) {
	msg := "unattended: token " + quoteLabel(tokenLabel) + " refused the PIN from the PIN file (" + why + "); " +
		"every signing request is refused from now on, so that a wrong PIN never locks the token by repetition: fix the PIN file, then restart the service"
	if !u.refused.CompareAndSwap(false, true) {
		return
	}
	u.refusedMsg.Store(&msg)
	u.verified.Store(false)
	attrs := []any{"token", tokenLabel}
	if code != "" {
		attrs = append(attrs, "code", code)
	}
	u.log.Error(msg, attrs...)
}

func quoteLabel(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return fmt.Sprintf("%q", s)
}

// verdict takes in the outcome of a signature during which the PIN was
// handed out for a login.
func (u *UnattendedPrompter) verdict(err error, tokenLabel string) {
	if err == nil {
		u.verified.Store(true)
		return
	}
	var te *token.Error
	if errors.As(err, &te) && te.Token != "" {
		tokenLabel = te.Token
	}
	switch code := token.CodeOf(err); code {
	case token.CodePINIncorrect:
		u.refuse("PIN_INCORRECT", tokenLabel, string(code))
	case token.CodePINInvalid:
		u.refuse("PIN_INVALID: the token does not accept its length or characters", tokenLabel, string(code))
	case token.CodePINLocked:
		// The login with the PIN locked the token: the PIN was wrong.
		u.refuse("PIN_LOCKED: the token is now locked", tokenLabel, string(code))
	default:
		// Cancelled during the login, token pulled out, a failure after
		// the login: whether the PIN was right is unknown.
		u.verified.Store(false)
	}
}

// KeyStore wraps the agent's key store so that the prompter sees the
// outcome of every login made with the PIN file: once a token refused it,
// SignerOn fails with PIN_FILE_REFUSED before the token is used, and a
// token on its final PIN try gets the PIN only when it was seen accepted
// since the start.
func (u *UnattendedPrompter) KeyStore(ks KeyStore) KeyStore {
	return &unattendedKeys{KeyStore: ks, u: u}
}

type unattendedKeys struct {
	KeyStore
	u *UnattendedPrompter
}

func (k *unattendedKeys) SignerOn(ctx context.Context, tokenID string, h token.Handle, pins token.PINSource) (token.Signer, error) {
	if k.u.refused.Load() {
		return nil, k.u.refusal()
	}
	w := &unattendedPINs{next: pins, u: k.u}
	s, err := k.KeyStore.SignerOn(ctx, tokenID, h, w)
	if err != nil {
		return nil, err
	}
	return &unattendedSigner{Signer: s, pins: w}, nil
}

// unattendedPINs stands between the token layer and the agent's consent:
// it refuses a login the prompter must not risk, with the token's own PIN
// state (read right before the attempt), and counts the PINs handed out.
type unattendedPINs struct {
	next   token.PINSource
	u      *UnattendedPrompter
	handed atomic.Int64
	label  atomic.Pointer[string]
}

func (w *unattendedPINs) PIN(ctx context.Context, req token.PINRequest) ([]byte, error) {
	label := req.Token.Label
	w.label.Store(&label)
	if err := w.u.mayLogin(req.Status.FinalTry, label); err != nil {
		// The token layer reports CANCELLED wrapping this error, whose
		// code the agent finds in the chain.
		return nil, err
	}
	if req.Status.CountLow && !w.u.verified.Load() {
		w.u.log.Warn("unattended: the token reports a wrong PIN since its last good one; trying the PIN file once", "token", label)
	}
	pin, err := w.next.PIN(ctx, req)
	if err == nil {
		w.handed.Add(1)
	}
	return pin, err
}

// unattendedSigner reports the outcome of each signature that logged in
// with the PIN.
type unattendedSigner struct {
	token.Signer
	pins *unattendedPINs
}

func (s *unattendedSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

func (s *unattendedSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	before := s.pins.handed.Load()
	sig, err := s.Signer.SignContext(ctx, digest, opts)
	if s.pins.handed.Load() != before {
		label := ""
		if l := s.pins.label.Load(); l != nil {
			label = *l
		}
		s.pins.u.verdict(err, label)
	}
	return sig, err
}
