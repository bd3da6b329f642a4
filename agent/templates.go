package agent

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decodes the images users pick
	_ "image/png"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/kyso-vn/kyso/internal/atomicfile"
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

// ImageKind is which picture of a template SetTemplateImage sets.
type ImageKind string

// Template pictures.
const (
	SignatureImage ImageKind = "signature"
	SealImage      ImageKind = "seal"
)

// maxTemplateImage caps a template picture: a scanned signature or seal
// is a few hundred kilobytes; anything far larger is the wrong file.
const maxTemplateImage = 10 << 20

// SetTemplateImage makes the PNG or JPEG at imagePath the signature or
// seal picture of the certificate with the given handle, in the templates
// file at path (created when missing). The picture is copied next to the
// file ("images/<handle>-<kind>.<ext>"), so that moving or deleting the
// original later changes nothing. A file that is not a PNG or JPEG image
// is refused and nothing changes. It returns the copy's path.
func SetTemplateImage(path, handle string, kind ImageKind, imagePath string) (string, error) {
	if path == "" {
		return "", errors.New("agent: no templates file")
	}
	if kind != SignatureImage && kind != SealImage {
		return "", fmt.Errorf("agent: template image kind %q", kind)
	}
	if len(handle) != 2*sha256.Size {
		return "", fmt.Errorf("agent: certificate handle %q", handle)
	}
	if _, err := hex.DecodeString(handle); err != nil {
		return "", fmt.Errorf("agent: certificate handle %q", handle)
	}
	t, err := LoadTemplates(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(imagePath)
	if err != nil {
		return "", fmt.Errorf("agent: template image: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxTemplateImage {
		return "", fmt.Errorf("agent: template image %s: not a regular file under %d MiB", filepath.Base(imagePath), maxTemplateImage>>20)
	}
	data, err := os.ReadFile(imagePath)
	if err != nil {
		return "", fmt.Errorf("agent: template image: %w", err)
	}
	_, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "png" && format != "jpeg") {
		return "", fmt.Errorf("agent: template image %s: not a PNG or JPEG image", filepath.Base(imagePath))
	}
	ext := map[string]string{"png": ".png", "jpeg": ".jpg"}[format]
	dir := filepath.Join(filepath.Dir(path), "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("agent: template image: %w", err)
	}
	rel := filepath.Join("images", strings.ToLower(handle)+"-"+string(kind)+ext)
	dst := filepath.Join(filepath.Dir(path), rel)
	if err := atomicfile.WriteFile(dst, data, 0o600); err != nil {
		return "", fmt.Errorf("agent: template image: %w", err)
	}
	list := t.list
	i := -1
	for j, tp := range list {
		if strings.EqualFold(tp.Cert, handle) {
			i = j
			break
		}
	}
	if i < 0 {
		list = append(list, Template{Cert: strings.ToLower(handle)})
		i = len(list) - 1
	}
	if kind == SignatureImage {
		list[i].SignatureImage = filepath.ToSlash(rel)
	} else {
		list[i].SealImage = filepath.ToSlash(rel)
	}
	out, err := json.MarshalIndent(templatesFile{Schema: TemplatesSchema, Templates: list}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("agent: templates: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(out, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("agent: templates: %w", err)
	}
	return dst, nil
}
