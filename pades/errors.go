package pades

import (
	"errors"
	"fmt"
)

// Code classifies a signing failure for callers that branch on it. Codes are
// stable strings shared with the agent's protocol and the CLI.
type Code string

// Codes returned by this package. Failures of the key (token errors) and of
// the timestamp authority (cms.TSAError) are passed through unchanged.
const (
	// CodeBadDocument: the input is not a PDF kyso can sign; the error's
	// Reason says what is wrong (not a PDF, truncated, broken
	// cross-reference, …).
	CodeBadDocument Code = "BAD_DOCUMENT"
	// CodeEncrypted: the document is encrypted. Signing it would require
	// decrypting and re-encrypting it, which kyso refuses to do.
	CodeEncrypted Code = "ENCRYPTED_DOCUMENT"
	// CodeLocked: an earlier certification signature forbids any change
	// (DocMDP P=1), so a new signature would invalidate it.
	CodeLocked Code = "DOCUMENT_LOCKED"
	// CodeFieldExists: the requested signature field name is taken.
	CodeFieldExists Code = "FIELD_EXISTS"
	// CodeBadPage: the requested page does not exist.
	CodeBadPage Code = "BAD_PAGE"
	// CodeAnchorNotFound: the anchor text is not on the page.
	CodeAnchorNotFound Code = "ANCHOR_NOT_FOUND"
	// CodeBadRequest: the options contradict each other or the document
	// (for example certifying a document that is already signed).
	CodeBadRequest Code = "BAD_REQUEST"
	// CodeDigestMismatch: in hash mode, the CMS was made for other bytes.
	CodeDigestMismatch Code = "DIGEST_MISMATCH"
	// CodeSignatureTooLarge: the CMS does not fit the space reserved for
	// it. With kyso's own estimate this is a bug, never a reason to sign
	// again (a second signature can mean a second PIN).
	CodeSignatureTooLarge Code = "SIGNATURE_TOO_LARGE"
)

// Error is the error type of this package.
type Error struct {
	Code   Code
	Reason string // human-readable detail, in English
	Err    error
}

func (e *Error) Error() string {
	s := "pades: " + string(e.Code)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches any *Error with the same Code, so errors.Is(err,
// pades.ErrEncrypted) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrBadDocument       = &Error{Code: CodeBadDocument}
	ErrEncrypted         = &Error{Code: CodeEncrypted}
	ErrLocked            = &Error{Code: CodeLocked}
	ErrFieldExists       = &Error{Code: CodeFieldExists}
	ErrBadPage           = &Error{Code: CodeBadPage}
	ErrBadRequest        = &Error{Code: CodeBadRequest}
	ErrAnchorNotFound    = &Error{Code: CodeAnchorNotFound}
	ErrDigestMismatch    = &Error{Code: CodeDigestMismatch}
	ErrSignatureTooLarge = &Error{Code: CodeSignatureTooLarge}
)

// CodeOf returns the Code of err, or "" when err is not from this package.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func badDocument(err error, format string, args ...any) *Error {
	return &Error{Code: CodeBadDocument, Reason: fmt.Sprintf(format, args...), Err: err}
}
