package agent

import "time"

// Policy is the machine policy IT writes (/etc/kyso/policy.json on Linux,
// HKLM\Software\Policies\kyso on Windows); users cannot override it.
// Its JSON schema is kyso.policy/v1 (docs/protocol.md).
type Policy struct {
	Schema string `json:"schema"`
	// AllowedOrigins may connect without asking the user. Entries are exact
	// origins ("https://qlvb.example.gov.vn", "https://dms.example.vn:8443")
	// or, only here, one leading wildcard label ("https://*.example.gov.vn",
	// which matches subdomains but not example.gov.vn itself).
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
	// HashSigningOrigins may call signHash (exact origins only).
	HashSigningOrigins []string `json:"hashSigningOrigins,omitempty"`
	// UserMayApprove lets users approve origins outside AllowedOrigins
	// through the agent's dialog; nil means true.
	UserMayApprove *bool `json:"userMayApprove,omitempty"`
	// Modules are PKCS#11 library paths to load besides the discovered ones.
	Modules []string `json:"modules,omitempty"`
	TSA     string   `json:"tsa,omitempty"`
	// DefaultLevel is B-B, B-T, B-LT or B-LTA.
	DefaultLevel string `json:"defaultLevel,omitempty"`
	// Templates is a kyso.templates/v1 file with per-certificate images.
	Templates string `json:"templates,omitempty"`
	// MaxDocumentMB caps one document (default 200).
	MaxDocumentMB int `json:"maxDocumentMB,omitempty"`
	// DialogTimeout bounds every dialog (default 2 minutes).
	DialogTimeout Duration `json:"dialogTimeout,omitempty"`
	// PINSessionSeconds, when positive, keeps a token unlocked for this
	// long after the PIN was typed: later requests show a confirmation
	// without a PIN field (Config.PINSession). 0 (the default) asks for
	// the PIN on every request; at most 8 hours. Only the machine policy
	// may set it: it trades a PIN per signature for a click per signature.
	PINSessionSeconds int `json:"pinSessionSeconds,omitempty"`
}

// UserConfig is the user's own file (~/.config/kyso/config.json): what
// they approved and chose. Machine policy wins where both speak.
type UserConfig struct {
	Schema          string           `json:"schema"`
	ApprovedOrigins []ApprovedOrigin `json:"approvedOrigins,omitempty"`
	Language        string           `json:"language,omitempty"` // vi or en
	TSA             string           `json:"tsa,omitempty"`
	DefaultLevel    string           `json:"defaultLevel,omitempty"`
	Modules         []string         `json:"modules,omitempty"`
	Templates       string           `json:"templates,omitempty"`
}

// ApprovedOrigin is an origin the user allowed, and when.
type ApprovedOrigin struct {
	Origin   string    `json:"origin"`
	Approved time.Time `json:"approved"`
}

// Duration is a time.Duration written as "2m", "90s" in JSON.
type Duration time.Duration

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a time.ParseDuration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// AuditRecord is one line of the audit log: a signature made or refused.
// It never holds a PIN or document content.
type AuditRecord struct {
	Time    time.Time `json:"time"`
	Caller  string    `json:"caller"` // origin, or "local"
	Method  string    `json:"method"` // signPdf, signPdfs, signHash
	Profile string    `json:"profile,omitempty"`
	// Document and SHA256 name what was signed (the digest for signHash).
	Document    string `json:"document,omitempty"`
	SHA256      string `json:"sha256"`
	Certificate string `json:"certificate,omitempty"` // handle
	Signer      string `json:"signer,omitempty"`      // the certificate's CN
	Kind        string `json:"kind,omitempty"`        // personal, organisation
	Level       string `json:"level,omitempty"`
	Result      string `json:"result"` // "ok" or the error code
}
