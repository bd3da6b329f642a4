package token

import "context"

// PINRequest tells a PIN source what a PIN is wanted for, so that the dialog
// can show the token, the certificate and how many tries are left.
type PINRequest struct {
	Token       TokenInfo
	Certificate *Certificate
	// ContextSpecific is set when the key demands the PIN again for this one
	// signature (CKA_ALWAYS_AUTHENTICATE), after the token login.
	ContextSpecific bool
	// Status is the token's PIN state before this attempt: a dialog should
	// warn when Status.FinalTry is set.
	Status PINStatus
}

// PINSource supplies PINs, typically by asking the user in the agent's own
// dialog. The layer asks once per login attempt and never retries on its
// own: after a wrong PIN the error goes back to the caller, who decides
// whether to ask the user again.
//
// The returned slice is owned by the layer from then on: it is zeroed right
// after C_Login, so a source must not keep or reuse it. Returning an error
// (for example when the user cancels) aborts the operation with
// CodeCancelled unless the error is already an *Error.
type PINSource interface {
	PIN(ctx context.Context, req PINRequest) ([]byte, error)
}

// PINFunc adapts a function to a PINSource.
type PINFunc func(ctx context.Context, req PINRequest) ([]byte, error)

// PIN calls f.
func (f PINFunc) PIN(ctx context.Context, req PINRequest) ([]byte, error) { return f(ctx, req) }

// wipe zeroes a secret in place.
func wipe(b []byte) {
	clear(b)
}
