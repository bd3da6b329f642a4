package agent

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// TemplatesSchema identifies the templates file format.
const TemplatesSchema = "kyso.templates/v1"

// Template is what a signer shows on documents: a handwritten signature
// image, and for an organisation its seal and the seal's real size. Image
// paths are resolved against the templates file's folder.
type Template struct {
	// Cert names the certificate: its handle (SHA-256 of the DER, as
	// `kyso tokens` prints it) or its serial number in hex.
	Cert           string  `json:"cert"`
	SignatureImage string  `json:"signatureImage,omitempty"`
	SealImage      string  `json:"sealImage,omitempty"`
	SealMM         float64 `json:"sealMM,omitempty"`
}

// Templates maps certificates to their templates, so a caller does not
// send images with every request; request options override them.
type Templates struct {
	dir  string
	list []Template
}

type templatesFile struct {
	Schema    string     `json:"schema"`
	Templates []Template `json:"templates"`
}

// DefaultTemplatesPath is $XDG_CONFIG_HOME/kyso/templates.json (or the
// OS's user configuration folder).
func DefaultTemplatesPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "kyso", "templates.json")
}

// LoadTemplates reads a templates file. A missing file is an empty set,
// not an error: templates are optional.
func LoadTemplates(path string) (*Templates, error) {
	t := &Templates{dir: filepath.Dir(path)}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: read templates: %w", err)
	}
	var f templatesFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("agent: templates %s: %w", path, err)
	}
	if f.Schema != TemplatesSchema {
		return nil, fmt.Errorf("agent: templates %s: schema %q, want %q", path, f.Schema, TemplatesSchema)
	}
	for i, tp := range f.Templates {
		if tp.Cert == "" {
			return nil, fmt.Errorf("agent: templates %s: entry %d names no certificate", path, i+1)
		}
		if tp.SealMM < 0 || tp.SealMM > 100 {
			return nil, fmt.Errorf("agent: templates %s: entry %d: seal of %.1f mm", path, i+1, tp.SealMM)
		}
	}
	t.list = f.Templates
	return t, nil
}

// For returns the template of cert, matched by handle or serial number.
func (t *Templates) For(cert *x509.Certificate) (Template, bool) {
	sum := sha256.Sum256(cert.Raw)
	handle := hex.EncodeToString(sum[:])
	for _, tp := range t.list {
		if strings.EqualFold(tp.Cert, handle) || sameSerial(tp.Cert, cert.SerialNumber) {
			return tp, true
		}
	}
	return Template{}, false
}

// Image reads an image a template names, resolved against the file's
// folder.
func (t *Templates) Image(name string) ([]byte, error) {
	if name == "" {
		return nil, nil
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(t.dir, name)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("agent: template image: %w", err)
	}
	return data, nil
}

func sameSerial(s string, serial *big.Int) bool {
	v, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(s), "0x"), 16)
	return ok && serial != nil && v.Cmp(serial) == 0
}
