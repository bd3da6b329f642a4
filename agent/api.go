package agent

import (
	"context"
	"time"

	"github.com/kyso-vn/kyso/token"
)

// This file is the agent's API as its edges (the loopback bridge, the
// tray, the CLI) see it. Every request carries the Caller that the edge
// authenticated: the browser Origin checked at the WebSocket handshake, or
// the local client that presented the per-user secret. Nothing in a
// request's parameters can change who the caller is.

// Caller is who asks. Origin is the exact origin from the handshake
// ("https://qlvb.example.gov.vn"), or "" for a local client authenticated
// by the per-user secret (Local is then true).
type Caller struct {
	Origin string
	Local  bool
}

// String is how dialogs and the audit log name the caller.
func (c Caller) String() string {
	if c.Local {
		return "local"
	}
	return c.Origin
}

// Document is a PDF sent by the caller with its declared metadata; the
// bridge has already checked that Data has the declared size and SHA-256.
type Document struct {
	Name string
	Data []byte
}

// CertificateFilter narrows listCertificates. Zero values do not filter.
type CertificateFilter struct {
	Kind     token.Kind   `json:"kind,omitempty"`     // "personal" or "organisation"
	Issuer   string       `json:"issuer,omitempty"`   // substring of the issuer CN, case-insensitive
	ValidNow bool         `json:"validNow,omitempty"` // only certificates valid at the time of the call
	Signing  bool         `json:"signing,omitempty"`  // only keys allowed to sign (digitalSignature or nonRepudiation)
	WithKey  bool         `json:"withKey,omitempty"`  // only certificates whose private key is present
	TokenID  string       `json:"tokenId,omitempty"`  // only this token
	Handle   token.Handle `json:"handle,omitempty"`   // only this certificate
}

// ExpiryWarning is how long before a certificate expires kyso warns about
// it (the tray's menu, kyso doctor): a month leaves time to renew it with
// the certificate authority.
const ExpiryWarning = 30 * 24 * time.Hour

// CertificateInfo is a certificate as pages see it.
type CertificateInfo struct {
	Handle     token.Handle   `json:"handle"`
	Identity   token.Identity `json:"identity"`
	Issuer     string         `json:"issuer"`
	Serial     string         `json:"serial"`
	NotBefore  time.Time      `json:"notBefore"`
	NotAfter   time.Time      `json:"notAfter"`
	KeyType    string         `json:"keyType"`
	KeySize    int            `json:"keySize"`
	KeyUsage   []string       `json:"keyUsage"`
	TokenID    string         `json:"tokenId"`
	TokenLabel string         `json:"tokenLabel"`
	// Certificate is the DER, base64 in JSON.
	Certificate []byte `json:"certificate"`
}

// SignPDFOptions is every option of `kyso sign` a page may ask for.
type SignPDFOptions struct {
	// Certificate picks the signer; empty lets the user choose in the
	// dialog (or takes the only signing certificate present).
	Certificate token.Handle `json:"certificate,omitempty"`
	// Profile: approved, issued, appendix, copy, income, comment; empty is
	// a plain signature placed by Page/RectMM/Anchor (invisible when
	// none).
	Profile      string         `json:"profile,omitempty"`
	Page         int            `json:"page,omitempty"`
	RectMM       *[4]float64    `json:"rectMM,omitempty"` // x, y, w, h from the top-left of the page as displayed
	Anchor       *AnchorOptions `json:"anchor,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	Location     string         `json:"location,omitempty"`
	DocNumber    string         `json:"docNumber,omitempty"`
	IssuedDate   string         `json:"issuedDate,omitempty"` // YYYY-MM-DD
	Place        string         `json:"place,omitempty"`
	CopyForm     string         `json:"copyForm,omitempty"`
	ShowNameTime bool           `json:"showNameTime,omitempty"`
	// Images are PNG or JPEG bytes (base64 in JSON); absent ones come
	// from the user's templates for the certificate.
	SignatureImage []byte  `json:"signatureImage,omitempty"`
	SealImage      []byte  `json:"sealImage,omitempty"`
	SealMM         float64 `json:"sealMM,omitempty"`
	// Level: B-B, B-T, B-LT, B-LTA; empty means the configured default.
	Level string `json:"level,omitempty"`
	Hash  string `json:"hash,omitempty"` // sha256 (default), sha384, sha512
	PSS   bool   `json:"pss,omitempty"`
}

// AnchorOptions places a box relative to text on the page (see
// pades.Anchor).
type AnchorOptions struct {
	Text       string  `json:"text"`
	Occurrence int     `json:"occurrence,omitempty"`
	OffsetX    float64 `json:"offsetX,omitempty"`
	OffsetY    float64 `json:"offsetY,omitempty"`
	W          float64 `json:"w,omitempty"`
	H          float64 `json:"h,omitempty"`
	CenterX    bool    `json:"centerX,omitempty"`
	After      bool    `json:"after,omitempty"`
}

// SignedDocument is one signed PDF.
type SignedDocument struct {
	Name   string       `json:"name"`
	Field  string       `json:"field"`
	Level  string       `json:"level"`
	Data   []byte       `json:"-"` // sent as a binary attachment
	SHA256 string       `json:"sha256"`
	Signer token.Handle `json:"signer"`
}

// SignHashRequest asks for a CMS signature over a digest a server prepared
// (hash mode); only origins the machine policy lists may ask.
type SignHashRequest struct {
	Certificate token.Handle `json:"certificate,omitempty"`
	Digest      []byte       `json:"digest"`         // base64 in JSON
	Hash        string       `json:"hash,omitempty"` // sha256 (default), sha384, sha512
	PSS         bool         `json:"pss,omitempty"`
	Timestamp   bool         `json:"timestamp,omitempty"` // add a signature timestamp (needs a configured TSA)
	// Description is shown in the dialog as the caller's claim about what
	// the digest is; the dialog says it cannot be checked.
	Description string `json:"description,omitempty"`
}

// SignHashResult is the CMS (DER, base64 in JSON).
type SignHashResult struct {
	CMS    []byte       `json:"cms"`
	Signer token.Handle `json:"signer"`
}

// Progress reports a batch's advance.
type Progress struct {
	Done     int    `json:"done"`
	Total    int    `json:"total"`
	Document string `json:"document,omitempty"`
}

// BatchResult is what a batch did, also when it stopped early: Signed are
// the documents signed before the stop, in order; Err is why it stopped.
type BatchResult struct {
	Signed []SignedDocument
	Err    error
}

// Status is what `status` tells an approved caller.
type Status struct {
	Version string            `json:"version"`
	Tokens  []token.TokenInfo `json:"tokens"`
	Modules int               `json:"modules"`
	Busy    bool              `json:"busy"`
}

// Event is pushed to approved callers: token inserted or removed, the
// certificate list changed.
type Event struct {
	Type string `json:"event"` // tokenInserted, tokenRemoved, certificatesChanged
	Data any    `json:"data,omitempty"`
}

// Service is the agent as the bridge calls it. Every method takes the
// caller the bridge authenticated; methods that sign show the agent's own
// dialog and may take as long as the user does. Errors carry stable codes
// (CodeOf).
type Service interface {
	// Admit decides whether an origin may connect: allowed by the machine
	// policy or the user's list, else (when the policy lets users decide)
	// after one approval dialog. A refusal is remembered for a while.
	Admit(ctx context.Context, origin string) error
	ListCertificates(ctx context.Context, c Caller, f CertificateFilter) ([]CertificateInfo, error)
	SignPDF(ctx context.Context, c Caller, doc Document, opts SignPDFOptions) (*SignedDocument, error)
	// SignPDFs signs a batch with one approval and one PIN; progress is
	// called after each document.
	SignPDFs(ctx context.Context, c Caller, docs []Document, opts SignPDFOptions, progress func(Progress)) BatchResult
	SignHash(ctx context.Context, c Caller, req SignHashRequest) (*SignHashResult, error)
	VerifyPDF(ctx context.Context, c Caller, doc Document) (*VerificationReport, error)
	Status(ctx context.Context, c Caller) (*Status, error)
	// Events delivers token events until ctx ends.
	Events(ctx context.Context) <-chan Event
}
