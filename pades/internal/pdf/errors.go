package pdf

import (
	"errors"
	"fmt"
)

// FormatError reports a file that cannot be read as a PDF, or a part of it
// that breaks the syntax or a limit of this package. Every parse failure of
// this package is a *FormatError, so callers can map all of them to one
// "bad document" answer with errors.As.
type FormatError struct {
	// Offset is the absolute file offset where the problem was found, or
	// the offset inside a decoded stream (object streams, xref streams)
	// when InStream is set; -1 when no single offset applies.
	Offset int64
	// Reason names the problem in plain English.
	Reason string
	// InStream, when non-zero, is the number of the object stream or xref
	// stream whose decoded data Offset refers to.
	InStream uint32
	// Err is an underlying cause (a decompression error, ErrTooLarge,
	// ErrUnsupported), or nil.
	Err error
}

// Error returns the reason with its offset, prefixed "pdf: ".
func (e *FormatError) Error() string {
	s := "pdf: " + e.Reason
	switch {
	case e.InStream != 0 && e.Offset >= 0:
		s += fmt.Sprintf(" (at offset %d in the decoded data of stream object %d)", e.Offset, e.InStream)
	case e.Offset >= 0:
		s += fmt.Sprintf(" (at offset %d)", e.Offset)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, so errors.Is(err, ErrTooLarge) works.
func (e *FormatError) Unwrap() error { return e.Err }

// Sentinel causes carried in FormatError.Err.
var (
	// ErrTooLarge: a limit of this package (or the caller's limit passed to
	// StreamData) was exceeded; the input is refused rather than allowed
	// to exhaust memory.
	ErrTooLarge = errors.New("limit exceeded")
	// ErrUnsupported: valid PDF that this reader does not implement, such
	// as a stream filter other than FlateDecode.
	ErrUnsupported = errors.New("not supported")
)

// errorf builds a *FormatError at a file offset.
func errorf(off int64, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}
