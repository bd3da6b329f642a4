package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kyso-vn/kyso/internal/atomicfile"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// Schemas of the policy and user configuration files.
const (
	PolicySchema     = "kyso.policy/v1"
	UserConfigSchema = "kyso.config/v1"
)

// Defaults that apply when neither the policy nor the user says.
const (
	DefaultMaxDocumentBytes = 200 << 20
	DefaultDialogTimeout    = 2 * time.Minute
	DefaultPAdESLevel       = "B-B"
)

// DefaultUserConfigPath is the user's configuration file,
// os.UserConfigDir()/kyso/config.json (~/.config/kyso/config.json on
// Linux, %AppData%\kyso\config.json on Windows), or "" when the OS names
// no configuration folder.
func DefaultUserConfigPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "kyso", "config.json")
}

// LoadPolicy reads a kyso.policy/v1 file. A missing file is an empty
// policy, not an error: most machines have none. Unknown fields are an
// error, so that a misspelt setting ("allowedOrigin") fails loudly rather
// than silently leaving the machine unconfigured; so is any invalid
// entry, named in the error.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Policy{Schema: PolicySchema}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: read policy: %w", err)
	}
	var p Policy
	if err := decodeStrict(data, &p); err != nil {
		return nil, fmt.Errorf("agent: policy %s: %w", path, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("agent: policy %s: %w", path, err)
	}
	return &p, nil
}

// Validate checks every entry of p. LoadPolicy and LoadMachinePolicy call
// it; it names the first bad entry.
func (p *Policy) Validate() error {
	if p.Schema != PolicySchema {
		return fmt.Errorf("schema is %q, want %q", p.Schema, PolicySchema)
	}
	for i, s := range p.AllowedOrigins {
		if _, err := ParsePattern(s); err != nil {
			return fmt.Errorf("allowedOrigins[%d]: %w", i, err)
		}
	}
	for i, s := range p.HashSigningOrigins {
		if _, err := ParseOrigin(s); err != nil {
			return fmt.Errorf("hashSigningOrigins[%d] (exact origins only): %w", i, err)
		}
	}
	if err := validateCommon(p.Modules, p.TSA, p.DefaultLevel); err != nil {
		return err
	}
	if p.MaxDocumentMB < 0 {
		return fmt.Errorf("maxDocumentMB %d is negative", p.MaxDocumentMB)
	}
	if p.MaxDocumentMB > 1<<20 {
		return fmt.Errorf("maxDocumentMB %d is too large", p.MaxDocumentMB)
	}
	if p.DialogTimeout < 0 {
		return fmt.Errorf("dialogTimeout %s is negative", time.Duration(p.DialogTimeout))
	}
	if p.DialogTimeout > 0 && time.Duration(p.DialogTimeout) < 10*time.Second {
		return fmt.Errorf("dialogTimeout %s is too short to read the dialog (minimum 10s)", time.Duration(p.DialogTimeout))
	}
	if p.PINSessionSeconds < 0 || time.Duration(p.PINSessionSeconds)*time.Second > MaxPINSession {
		return fmt.Errorf("pinSessionSeconds %d is outside 0 to %d", p.PINSessionSeconds, int(MaxPINSession/time.Second))
	}
	return nil
}

// LoadUserConfig reads the user's kyso.config/v1 file. A missing file is
// an empty configuration. Unknown fields and invalid entries are errors,
// as for the policy.
func LoadUserConfig(path string) (*UserConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &UserConfig{Schema: UserConfigSchema}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: read user configuration: %w", err)
	}
	var c UserConfig
	if err := decodeStrict(data, &c); err != nil {
		return nil, fmt.Errorf("agent: user configuration %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("agent: user configuration %s: %w", path, err)
	}
	return &c, nil
}

// Validate checks every entry of c and names the first bad one. Users
// approve exact origins only: wildcards belong to the machine policy.
func (c *UserConfig) Validate() error {
	if c.Schema != UserConfigSchema {
		return fmt.Errorf("schema is %q, want %q", c.Schema, UserConfigSchema)
	}
	for i, a := range c.ApprovedOrigins {
		if _, err := ParseOrigin(a.Origin); err != nil {
			return fmt.Errorf("approvedOrigins[%d]: %w", i, err)
		}
	}
	switch c.Language {
	case "", string(i18n.Vietnamese), string(i18n.English):
	default:
		return fmt.Errorf("language %q: use vi or en", c.Language)
	}
	return validateCommon(c.Modules, c.TSA, c.DefaultLevel)
}

// Save writes c to path atomically, readable by the user only (0600, in
// a 0700 folder): the approved origins say which sites may ask this user
// for signatures.
func (c *UserConfig) Save(path string) error {
	out := *c
	if out.Schema == "" {
		out.Schema = UserConfigSchema
	}
	data, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return fmt.Errorf("agent: encode user configuration: %w", err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("agent: save user configuration: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("agent: save user configuration: %w", err)
	}
	return nil
}

// decodeStrict decodes one JSON value with no unknown fields and nothing
// after it.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

func validateCommon(modules []string, tsa, level string) error {
	for i, m := range modules {
		if m == "" || !filepath.IsAbs(m) {
			return fmt.Errorf("modules[%d] %q: use an absolute path", i, m)
		}
	}
	if tsa != "" {
		u, err := url.Parse(tsa)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("tsa %q: use an http or https URL", tsa)
		}
	}
	switch level {
	case "", "B-B", "B-T", "B-LT", "B-LTA":
	default:
		return fmt.Errorf("defaultLevel %q: use B-B, B-T, B-LT or B-LTA", level)
	}
	return nil
}

// Settings are the effective settings: the machine policy merged with the
// user's configuration, the policy winning wherever both speak.
type Settings struct {
	// TSA is the timestamp authority URL ("" for none).
	TSA string
	// DefaultLevel is the PAdES level when a request names none.
	DefaultLevel string
	// Modules are PKCS#11 libraries to load besides the discovered ones:
	// the policy's and the user's.
	Modules []string
	// Templates is the templates file (DefaultTemplatesPath when neither
	// names one).
	Templates string
	// MaxDocumentBytes caps one document.
	MaxDocumentBytes int64
	// DialogTimeout bounds every dialog.
	DialogTimeout time.Duration
	// PINSession is how long a token stays unlocked after its PIN was
	// typed (Config.PINSession); zero asks for the PIN on every request.
	// From the machine policy only.
	PINSession time.Duration
	// UserMayApprove lets the user approve origins the policy does not list.
	UserMayApprove bool
	// Language is the user's choice, else KYSO_LANG, else Vietnamese.
	Language i18n.Lang

	allowed []OriginPattern
	hash    []Origin
}

// NewSettings merges a policy and a user configuration (either may be
// nil). It fails on invalid entries, and when the default level needs a
// timestamp authority that neither configures.
func NewSettings(p *Policy, u *UserConfig) (*Settings, error) {
	if p == nil {
		p = &Policy{Schema: PolicySchema}
	}
	if u == nil {
		u = &UserConfig{Schema: UserConfigSchema}
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("agent: policy: %w", err)
	}
	if err := u.Validate(); err != nil {
		return nil, fmt.Errorf("agent: user configuration: %w", err)
	}
	s := &Settings{
		TSA:              firstNonEmpty(p.TSA, u.TSA),
		DefaultLevel:     firstNonEmpty(p.DefaultLevel, u.DefaultLevel, DefaultPAdESLevel),
		Templates:        firstNonEmpty(p.Templates, u.Templates, DefaultTemplatesPath()),
		MaxDocumentBytes: DefaultMaxDocumentBytes,
		DialogTimeout:    DefaultDialogTimeout,
		UserMayApprove:   p.UserMayApprove == nil || *p.UserMayApprove,
		Language:         i18n.FromEnv(),
	}
	if u.Language != "" {
		s.Language = i18n.Parse(u.Language)
	}
	for _, m := range slices.Concat(p.Modules, u.Modules) {
		if !slices.Contains(s.Modules, m) {
			s.Modules = append(s.Modules, m)
		}
	}
	if p.MaxDocumentMB > 0 {
		s.MaxDocumentBytes = int64(p.MaxDocumentMB) << 20
	}
	if p.DialogTimeout > 0 {
		s.DialogTimeout = time.Duration(p.DialogTimeout)
	}
	s.PINSession = time.Duration(p.PINSessionSeconds) * time.Second
	if s.DefaultLevel != "B-B" && s.TSA == "" {
		return nil, fmt.Errorf("agent: default level %s needs a timestamp authority (tsa)", s.DefaultLevel)
	}
	for _, e := range p.AllowedOrigins {
		pat, _ := ParsePattern(e) // validated above
		s.allowed = append(s.allowed, pat)
	}
	for _, e := range p.HashSigningOrigins {
		o, _ := ParseOrigin(e)
		s.hash = append(s.hash, o)
	}
	return s, nil
}

// PolicyAllows reports whether the machine policy's allowedOrigins admit o
// (exactly or by a wildcard entry).
func (s *Settings) PolicyAllows(o Origin) bool {
	if o.IsZero() {
		return false
	}
	for _, p := range s.allowed {
		if p.Match(o) {
			return true
		}
	}
	return false
}

// HashSigningAllowed reports whether the machine policy lists o, exactly,
// in hashSigningOrigins.
func (s *Settings) HashSigningAllowed(o Origin) bool {
	return !o.IsZero() && slices.Contains(s.hash, o)
}

// AllowedPatterns returns the policy's allowedOrigins, parsed.
func (s *Settings) AllowedPatterns() []OriginPattern { return slices.Clone(s.allowed) }

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
