// Package appearance builds the visible part of a signature: the leader's
// handwritten signature and the organisation's round seal, drawn at their
// real physical size at a place given in millimetres on the page as the
// reader sees it.
//
// It has three parts. Image turns a PNG or JPEG file into the data of a
// PDF image XObject (JPEG passed through untouched, PNG re-encoded with its
// alpha channel as a soft mask). PageGeometry converts a position on the
// displayed page — CropBox, after /Rotate — into the widget rectangle and
// the form matrix that keep the appearance upright. Form collects the
// drawing operators of the appearance stream.
//
// The package writes no PDF file itself: it produces pdf.Dict values and
// stream data, and the caller's writer assigns object numbers.
package appearance

import "fmt"

// ErrorKind classifies the errors of this package. Each kind is itself an
// error value, so errors.Is(err, appearance.ErrTooLarge) tells a caller
// what went wrong without a package-level variable.
type ErrorKind int

// Error kinds.
const (
	// ErrUnsupported: a valid file in a format or variant this package
	// does not embed (GIF, WebP, 12-bit or arithmetic-coded JPEG, …).
	ErrUnsupported ErrorKind = iota + 1
	// ErrMalformed: the data is not a valid file of the format it claims.
	ErrMalformed
	// ErrTooLarge: the image exceeds the size this package accepts.
	ErrTooLarge
	// ErrNoPhysicalSize: neither a declared size nor the image's
	// resolution says how large the image is on paper.
	ErrNoPhysicalSize
	// ErrInvalid: an argument is out of range (a negative size, a page box
	// without area, a /Rotate that is not a multiple of 90).
	ErrInvalid
)

// Error returns a short description of the kind.
func (k ErrorKind) Error() string {
	switch k {
	case ErrUnsupported:
		return "unsupported image"
	case ErrMalformed:
		return "malformed image"
	case ErrTooLarge:
		return "image too large"
	case ErrNoPhysicalSize:
		return "physical size unknown"
	case ErrInvalid:
		return "invalid argument"
	}
	return fmt.Sprintf("appearance error kind %d", int(k))
}

// Error is the error type of this package.
type Error struct {
	// Kind classifies the failure.
	Kind ErrorKind
	// Op is what was being done: "decode PNG", "decode JPEG", "decode
	// image", "physical size", "page geometry".
	Op string
	// Reason says what is wrong, in plain English.
	Reason string
	// Err is an underlying cause (from image/png, image/jpeg,
	// compress/zlib), or nil.
	Err error
}

// Error returns "appearance: OP: reason[: cause]".
func (e *Error) Error() string {
	s := "appearance: " + e.Op + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the ErrorKind of e, so that errors.Is works
// with the kinds as sentinels.
func (e *Error) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

func errorf(kind ErrorKind, op string, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Reason: fmt.Sprintf(format, args...), Err: cause}
}
