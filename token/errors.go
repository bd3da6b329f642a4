package token

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// Code classifies a token failure. Codes are stable strings: the agent sends
// them to web pages and the CLI prints them, so they never change meaning.
type Code string

// The codes callers branch on. Each names one thing the user or the caller
// can act on; anything the layer cannot classify is CodeFunctionFailed and is
// never presented as a PIN problem.
const (
	CodePINIncorrect          Code = "PIN_INCORRECT"
	CodePINLocked             Code = "PIN_LOCKED"
	CodePINExpired            Code = "PIN_EXPIRED"
	CodePINInvalid            Code = "PIN_INVALID" // wrong length or characters; no retry was used
	CodeTokenAbsent           Code = "TOKEN_ABSENT"
	CodeTokenRemoved          Code = "TOKEN_REMOVED"
	CodeKeyNotFound           Code = "KEY_NOT_FOUND"
	CodeCertificateNotFound   Code = "CERT_NOT_FOUND"
	CodeMechanismNotSupported Code = "MECHANISM_NOT_SUPPORTED"
	CodeFunctionFailed        Code = "FUNCTION_FAILED"
	CodeCancelled             Code = "CANCELLED"
	CodeModuleLoadFailed      Code = "MODULE_LOAD_FAILED"
	CodePasswordIncorrect     Code = "PASSWORD_INCORRECT" // PKCS#12 file password
	CodeBadRequest            Code = "BAD_REQUEST"        // the caller asked for something the layer refuses
)

// Error is the error type of this package. Callers branch with errors.Is
// against the Err* values below, or errors.As to read the details.
type Error struct {
	Code Code
	Op   string // what the layer was doing, e.g. "login", "sign"
	// RV is the PKCS#11 return value behind the error, 0 when there is none.
	RV uint
	// PIN is the token's PIN state read right after a failed login, so a
	// dialog can say "2 tries left" or "last try".
	PIN *PINStatus
	// Token is the label of the token involved, when known.
	Token string
	Err   error // underlying cause, when it is not a PKCS#11 return value
}

// Sentinel errors for errors.Is; they match any *Error with the same Code.
var (
	ErrPINIncorrect          = &Error{Code: CodePINIncorrect}
	ErrPINLocked             = &Error{Code: CodePINLocked}
	ErrPINExpired            = &Error{Code: CodePINExpired}
	ErrPINInvalid            = &Error{Code: CodePINInvalid}
	ErrTokenAbsent           = &Error{Code: CodeTokenAbsent}
	ErrTokenRemoved          = &Error{Code: CodeTokenRemoved}
	ErrKeyNotFound           = &Error{Code: CodeKeyNotFound}
	ErrCertificateNotFound   = &Error{Code: CodeCertificateNotFound}
	ErrMechanismNotSupported = &Error{Code: CodeMechanismNotSupported}
	ErrFunctionFailed        = &Error{Code: CodeFunctionFailed}
	ErrCancelled             = &Error{Code: CodeCancelled}
	ErrModuleLoadFailed      = &Error{Code: CodeModuleLoadFailed}
	ErrPasswordIncorrect     = &Error{Code: CodePasswordIncorrect}
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("token: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(string(e.Code))
	if e.Token != "" {
		fmt.Fprintf(&b, " (token %q)", e.Token)
	}
	if e.RV != 0 {
		fmt.Fprintf(&b, " [%s]", RVName(e.RV))
	}
	if e.PIN != nil {
		if n := e.PIN.RetriesLeft(); n >= 0 {
			fmt.Fprintf(&b, ", %d PIN tries left", n)
		} else if e.PIN.CountLow {
			b.WriteString(", PIN retry count low")
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, token.ErrPINIncorrect) works for every PIN_INCORRECT error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the Code of err, or "" when err is not from this package.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// RVName returns the symbolic name of a PKCS#11 return value, such as
// "CKR_PIN_INCORRECT", or its hex value when the name is unknown.
func RVName(rv uint) string {
	s := pkcs11.Error(rv).Error() // "pkcs11: 0xA0: CKR_PIN_INCORRECT"
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.HasPrefix(s[i+2:], "CKR_") {
		return s[i+2:]
	}
	return fmt.Sprintf("0x%X", rv)
}

// rvOf extracts the PKCS#11 return value from an error returned by
// miekg/pkcs11, or 0.
func rvOf(err error) uint {
	var pe pkcs11.Error
	if errors.As(err, &pe) {
		return uint(pe)
	}
	return 0
}

// codeForRV maps a PKCS#11 return value to a Code. It is deliberately
// conservative: only the return values that really mean "wrong PIN" map to
// CodePINIncorrect, because a user who is told the PIN was wrong tries again
// and burns one of the token's few retries.
func codeForRV(rv uint) Code {
	switch rv {
	case pkcs11.CKR_PIN_INCORRECT:
		return CodePINIncorrect
	case pkcs11.CKR_PIN_LOCKED:
		return CodePINLocked
	case pkcs11.CKR_PIN_EXPIRED:
		return CodePINExpired
	case pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
		return CodePINInvalid
	case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_SLOT_ID_INVALID:
		return CodeTokenAbsent
	case pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_SESSION_HANDLE_INVALID:
		return CodeTokenRemoved
	case pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_OBJECT_HANDLE_INVALID:
		return CodeKeyNotFound
	case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID, pkcs11.CKR_KEY_TYPE_INCONSISTENT,
		pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED:
		return CodeMechanismNotSupported
	case pkcs11.CKR_FUNCTION_CANCELED, pkcs11.CKR_CANCEL:
		return CodeCancelled
	default:
		return CodeFunctionFailed
	}
}

// p11Error turns a PKCS#11 return value into an *Error for operation op.
func p11Error(op, label string, rv uint) *Error {
	return &Error{Code: codeForRV(rv), Op: op, RV: rv, Token: label}
}

// wrapP11 converts an error returned by miekg/pkcs11 into an *Error.
func wrapP11(op, label string, err error) error {
	if err == nil {
		return nil
	}
	if rv := rvOf(err); rv != 0 {
		return p11Error(op, label, rv)
	}
	return &Error{Code: CodeFunctionFailed, Op: op, Token: label, Err: err}
}
