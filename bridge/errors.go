package bridge

import (
	"errors"
	"maps"

	"github.com/kyso-vn/kyso/agent"
)

// Error codes the bridge itself answers with. Together with the codes
// agent.CodeOf returns they are the error codes of protocol v1
// (docs/protocol.md); they never change meaning.
const (
	CodeBadMessage          = "BAD_MESSAGE"              // malformed JSON or frame, missing id or method, bad params shape
	CodeUnknownMethod       = "UNKNOWN_METHOD"           // no such method in the negotiated protocol
	CodeNotNegotiated       = "NOT_NEGOTIATED"           // a method other than hello came first
	CodeUnsupportedProtocol = "UNSUPPORTED_PROTOCOL"     // hello offered no protocol the bridge speaks
	CodeTooLarge            = "TOO_LARGE"                // a declared document (or their sum) is over the cap
	CodeTooManyRequests     = "TOO_MANY_REQUESTS"        // the connection already has maxInFlight requests
	CodeDuplicateID         = "DUPLICATE_ID"             // a request with this id is still in flight
	CodeDocumentIncomplete  = "DOCUMENT_INCOMPLETE"      // the upload stalled before every declared byte arrived
	CodeDigestMismatch      = "DOCUMENT_DIGEST_MISMATCH" // the bytes received do not have the declared SHA-256
	CodeCancelled           = "CANCELLED"                // the request was cancelled (cancel method or connection end)
	CodeInternal            = "INTERNAL"                 // a bug; the connection stays usable
)

// Handshake refusal codes: the JSON body of a refused HTTP request
// (a browser never sees them, local clients and the SDK's hello probe do).
const (
	CodeHostNotAllowed     = "HOST_NOT_ALLOWED"
	CodeOriginRequired     = "ORIGIN_REQUIRED"
	CodeOriginMalformed    = "ORIGIN_MALFORMED"
	CodeSecretInvalid      = "SECRET_INVALID"
	CodeTooManyConnections = "TOO_MANY_CONNECTIONS"
	CodeNotWebSocket       = "NOT_WEBSOCKET"
	CodeShuttingDown       = "SHUTTING_DOWN"
	CodeNotFound           = "NOT_FOUND"
	CodeMethodNotAllowed   = "METHOD_NOT_ALLOWED"
)

// protoError is an error the bridge answers itself, with its code and
// the details the caller may see.
type protoError struct {
	code    string
	message string
	details map[string]any
}

func (e *protoError) Error() string { return "bridge: " + e.code + ": " + e.message }

func errorf(code, message string, details map[string]any) *protoError {
	return &protoError{code: code, message: message, details: details}
}

// wireError is the "error" member of a response.
type wireError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// toWire turns any error into what the page sees: the bridge's own code,
// or the agent's (which covers token, pades and cms codes). The agent's
// details map is copied, never modified, because the agent may share it.
func toWire(err error) wireError {
	var pe *protoError
	if errors.As(err, &pe) {
		return wireError{Code: pe.code, Message: pe.message, Details: maps.Clone(pe.details)}
	}
	code, details := agent.CodeOf(err)
	msg := messageFor(code)
	var ae *agent.Error
	if errors.As(err, &ae) && ae.Message != "" {
		// Agent messages are short English meant for developers; the
		// wrapped cause (Err) is not sent, it may name local paths.
		msg = ae.Message
	}
	return wireError{Code: code, Message: msg, Details: maps.Clone(details)}
}

// messageFor is the short English message for codes whose error carries
// none fit for a page.
func messageFor(code string) string {
	switch code {
	case agent.CodeOriginNotAllowed:
		return "origin not allowed"
	case agent.CodeOriginBlocked:
		return "origin refused by the user recently"
	case agent.CodeHashNotAllowed:
		return "hash signing is not allowed for this origin"
	case agent.CodeUserCancelled:
		return "the user cancelled"
	case agent.CodeDialogTimeout:
		return "the dialog timed out"
	case agent.CodeNoCertificate:
		return "no matching certificate"
	case agent.CodeCertificateChoice:
		return "several certificates match; name one"
	case agent.CodeCertExpired:
		return "the certificate is not valid now"
	case agent.CodeBusy:
		return "another signing dialog is open"
	case CodeCancelled:
		return "cancelled"
	case CodeInternal:
		return "internal error"
	case "PIN_INCORRECT":
		return "wrong PIN"
	case "PIN_LOCKED":
		return "the PIN is locked"
	case "TOKEN_ABSENT":
		return "no token present"
	case "TOKEN_REMOVED":
		return "the token was removed"
	case "TSA_UNAVAILABLE":
		return "the timestamp authority is unavailable"
	}
	return "request failed"
}
