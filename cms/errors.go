package cms

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors callers branch on with errors.Is. Errors returned by this
// package wrap them with the context of the failing step.
var (
	// ErrUnsupportedAlgorithm: a hash, key type or signature algorithm
	// this package does not sign with or cannot verify.
	ErrUnsupportedAlgorithm = errors.New("cms: unsupported algorithm")
	// ErrKeyMismatch: the signer's public key is not the certificate's.
	// Signing is refused before the key is used, so no PIN is spent.
	ErrKeyMismatch = errors.New("cms: signer key does not match the certificate")
	// ErrInvalidSignature: a signature value does not verify.
	ErrInvalidSignature = errors.New("cms: invalid signature")
	// ErrDigestMismatch: a message-digest attribute or a timestamp's
	// message imprint does not match the data.
	ErrDigestMismatch = errors.New("cms: digest mismatch")
	// ErrCertificateMismatch: a signing-certificate(-v2) attribute does not
	// identify the signer's certificate.
	ErrCertificateMismatch = errors.New("cms: signing certificate attribute does not match the certificate")
	// ErrNoCertificate: the structure does not carry the signer's
	// certificate, so nothing can be verified.
	ErrNoCertificate = errors.New("cms: signer certificate not present")
	// ErrMissingAttribute: a signed attribute that the check needs
	// (message-digest, signing-certificate(-v2)) is absent.
	ErrMissingAttribute = errors.New("cms: required attribute missing")
	// ErrNotTSACertificate: a timestamp's signing certificate lacks the
	// id-kp-timeStamping extended key usage.
	ErrNotTSACertificate = errors.New("cms: certificate lacks the id-kp-timeStamping key purpose")
)

// Codes of TSAError. They are stable strings: the agent passes them to web
// pages (TSA_UNAVAILABLE is part of protocol v1).
const (
	// CodeTSAUnavailable: no usable token could be obtained: connection
	// refused, timeout, HTTP error, wrong content type, a response that
	// cannot be parsed, or a PKIStatus other than granted.
	CodeTSAUnavailable = "TSA_UNAVAILABLE"
	// CodeTSAInvalid: the TSA answered with a token that is wrong (imprint
	// or nonce mismatch, bad signature, certificate without the
	// timeStamping key purpose or not chaining to the configured roots).
	// Retrying would not help and could hide an attack, so it is not
	// retried.
	CodeTSAInvalid = "TSA_INVALID_RESPONSE"
	// CodeCancelled: the caller's context was cancelled.
	CodeCancelled = "CANCELLED"
)

// Sentinels for errors.Is; they match any *TSAError with the same Code.
var (
	ErrTSAUnavailable = &TSAError{Code: CodeTSAUnavailable}
	ErrTSAInvalid     = &TSAError{Code: CodeTSAInvalid}
	ErrCancelled      = &TSAError{Code: CodeCancelled}
)

// TSAError is returned by TSA.Timestamp and AddTimestamp when no timestamp
// could be added. errors.Is(err, ErrTSAUnavailable) and friends compare
// codes; errors.As gives the details.
type TSAError struct {
	Code     string // CodeTSAUnavailable, CodeTSAInvalid or CodeCancelled
	URL      string // the TSA asked
	Attempts int    // HTTP requests sent, including the failed ones
	Err      error  // the last underlying failure
}

func (e *TSAError) Error() string {
	var b strings.Builder
	b.WriteString("cms: timestamp")
	if e.URL != "" {
		b.WriteString(" from ")
		b.WriteString(e.URL)
	}
	b.WriteString(": ")
	b.WriteString(e.Code)
	if e.Attempts > 0 {
		fmt.Fprintf(&b, " after %d attempt", e.Attempts)
		if e.Attempts > 1 {
			b.WriteString("s")
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is a *TSAError with the same Code, so that
// errors.Is(err, ErrTSAUnavailable) matches every TSA_UNAVAILABLE error.
func (e *TSAError) Is(target error) bool {
	t, ok := target.(*TSAError)
	return ok && t.Code == e.Code
}

// Unwrap returns the underlying failure, e.g. a *TSAStatusError or the
// context's error.
func (e *TSAError) Unwrap() error { return e.Err }

// TSAStatusError is a TimeStampResp whose PKIStatus is not granted or
// grantedWithMods (RFC 3161 section 2.4.2). It sits inside a TSAError.
type TSAStatusError struct {
	Status     int      // PKIStatus, e.g. 2 rejection
	StatusText []string // the TSA's free text, if any
	FailInfo   []int    // the PKIFailureInfo bits that were set
}

func (e *TSAStatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "TSA answered PKIStatus %s (%d)", statusName(e.Status), e.Status)
	if len(e.FailInfo) > 0 {
		names := make([]string, len(e.FailInfo))
		for i, bit := range e.FailInfo {
			names[i] = failInfoName(bit)
		}
		b.WriteString(", failInfo ")
		b.WriteString(strings.Join(names, ","))
	}
	if len(e.StatusText) > 0 {
		fmt.Fprintf(&b, ": %q", strings.Join(e.StatusText, "; "))
	}
	return b.String()
}

// transient reports whether asking again may succeed: the TSA is busy or
// its clock is unavailable, as opposed to refusing the request as such.
func (e *TSAStatusError) transient() bool {
	if e.Status == 3 { // waiting
		return true
	}
	for _, bit := range e.FailInfo {
		if bit == 14 || bit == 25 { // timeNotAvailable, systemFailure
			return true
		}
	}
	return false
}

// statusName names a PKIStatus value.
func statusName(s int) string {
	switch s {
	case 0:
		return "granted"
	case 1:
		return "grantedWithMods"
	case 2:
		return "rejection"
	case 3:
		return "waiting"
	case 4:
		return "revocationWarning"
	case 5:
		return "revocationNotification"
	}
	return "unknown"
}

// failInfoName names a PKIFailureInfo bit.
func failInfoName(bit int) string {
	switch bit {
	case 0:
		return "badAlg"
	case 2:
		return "badRequest"
	case 5:
		return "badDataFormat"
	case 14:
		return "timeNotAvailable"
	case 15:
		return "unacceptedPolicy"
	case 16:
		return "unacceptedExtension"
	case 17:
		return "addInfoNotAvailable"
	case 25:
		return "systemFailure"
	}
	return "bit" + strconv.Itoa(bit)
}
