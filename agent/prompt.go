package agent

import (
	"context"

	"github.com/kyso-vn/kyso/token"
)

// Prompter shows the agent's own dialogs. Everything shown comes from the
// agent: the caller is the one the bridge authenticated, the document
// facts are computed from the bytes received. Implementations: zenity
// (native dialogs), a terminal prompter for `kyso serve --headless`, and a
// scripted one for tests (built only with the kysotest build tag).
//
// A prompter returns ErrUserCancelled when the user cancels, and honours
// ctx (the request was cancelled, or the dialog timed out).
type Prompter interface {
	// ApproveOrigin asks whether origin may request signatures from now on.
	ApproveOrigin(ctx context.Context, origin string) (bool, error)
	// ChooseCertificate lets the user pick the signing certificate when the
	// caller named none and several fit.
	ChooseCertificate(ctx context.Context, p ChoosePrompt) (token.Handle, error)
	// Sign shows what is about to be signed and takes the PIN: typing it is
	// the consent. With PINNeeded false (a pinpad reader, a key already
	// unlocked) it is a plain confirmation and returns a nil PIN. The
	// returned PIN is handed to the token layer, which wipes it.
	Sign(ctx context.Context, p SignPrompt) (pin []byte, err error)
}

// ChoosePrompt is the certificate choice dialog.
type ChoosePrompt struct {
	Caller       string
	Certificates []CertificateInfo
}

// SignPrompt is the signing dialog: who asks, what, with which
// certificate, and how many PIN tries are left.
type SignPrompt struct {
	Caller string
	// Action is "signPdf", "signPdfs" (a batch) or "signHash".
	Action    string
	Documents []PromptDocument
	Profile   string
	// HashDescription is the caller's own description of a digest for
	// signHash; the dialog says the agent cannot check it.
	HashDescription string
	Digest          string // hex, for signHash
	Certificate     CertificateInfo
	TokenLabel      string
	PINNeeded       bool
	RetriesLeft     int  // -1 when the token does not say
	FinalTry        bool // the next wrong PIN locks the token
	// Retry is set when the previous PIN typed for this request was wrong.
	Retry bool
}

// PromptDocument is one document as the dialog shows it.
type PromptDocument struct {
	Name   string
	Pages  int
	Size   int64
	SHA256 string
}
