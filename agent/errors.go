package agent

import (
	"context"
	"errors"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// Codes the agent itself returns; token, pades and cms codes pass through
// (see CodeOf). They are part of protocol v1 (docs/protocol.md).
const (
	CodeOriginNotAllowed  = "ORIGIN_NOT_ALLOWED"       // not in the policy or the user's list, and not approved
	CodeOriginBlocked     = "ORIGIN_BLOCKED"           // the user refused this origin recently; no new prompt
	CodeHashNotAllowed    = "HASH_SIGNING_NOT_ALLOWED" // signHash from an origin the machine policy does not list
	CodeUserCancelled     = "USER_CANCELLED"           // the user closed or cancelled the dialog
	CodeDialogTimeout     = "DIALOG_TIMEOUT"           // nobody answered the dialog in time
	CodeNoCertificate     = "NO_CERTIFICATE"           // no certificate matches the request
	CodeCertificateChoice = "CERTIFICATE_REQUIRED"     // several match and the caller named none
	CodeCertExpired       = "CERT_EXPIRED"             // the chosen certificate is not valid now
	CodeBusy              = "BUSY"                     // another signing dialog is open for this token
	CodeBadRequest        = "BAD_REQUEST"
	CodeInternal          = "INTERNAL"
)

// Error is an agent error with a stable code and details for the caller.
type Error struct {
	Code    string
	Message string // English, for developers and logs
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	s := "agent: " + e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrUserCancelled is returned by prompters when the user cancels.
var ErrUserCancelled = &Error{Code: CodeUserCancelled, Message: "the user cancelled"}

// CodeOf returns the stable code of err and the details a caller may see:
// retriesLeft for a wrong PIN, the PKCS#11 return value where there is
// one. Errors without a code are INTERNAL.
func CodeOf(err error) (string, map[string]any) {
	if err == nil {
		return "", nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Code, ae.Details
	}
	var te *token.Error
	if errors.As(err, &te) {
		d := map[string]any{}
		if te.PIN != nil {
			d["retriesLeft"] = te.PIN.RetriesLeft()
		}
		if te.RV != 0 {
			d["ckr"] = token.RVName(te.RV)
		}
		return string(te.Code), d
	}
	if c := pades.CodeOf(err); c != "" {
		return string(c), nil
	}
	var tsa *cms.TSAError
	if errors.As(err, &tsa) {
		return tsa.Code, nil
	}
	if errors.Is(err, context.Canceled) {
		return string(token.CodeCancelled), nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return CodeDialogTimeout, nil
	}
	return CodeInternal, nil
}
