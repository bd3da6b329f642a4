package devpki

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/kyso-vn/kyso/internal/atomicfile"
	"software.sslmate.com/src/go-pkcs12"
)

// Files written by Save and read by Load.
const (
	RootCertFile         = "root.crt"
	RootKeyFile          = "root.key"
	IntermediateCertFile = "intermediate.crt"
	IntermediateKeyFile  = "intermediate.key"
	StateFile            = "pki.json"
)

// pkiState is the part of a PKI that is neither a certificate nor a key.
type pkiState struct {
	BaseURL string         `json:"base_url"`
	Revoked []revokedState `json:"revoked,omitempty"`
}

// revokedState is a persisted revocation entry; the serial is hex because
// JSON numbers cannot hold 128 bits portably.
type revokedState struct {
	Serial string    `json:"serial"`
	Time   time.Time `json:"time"`
	Reason int       `json:"reason,omitempty"`
}

// Save writes the CA certificates (PEM), the CA private keys (unencrypted
// PKCS#8 PEM, mode 0600) and the base URL and revocation list (pki.json) to
// dir, creating it with mode 0700. Files are replaced atomically so an
// interrupted Save never leaves a half-written key behind.
func (p *PKI) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devpki: save PKI: %w", err)
	}
	st := pkiState{BaseURL: p.BaseURL}
	for _, e := range p.Revoked() {
		st.Revoked = append(st.Revoked, revokedState{
			Serial: e.SerialNumber.Text(16),
			Time:   e.RevocationTime,
			Reason: e.ReasonCode,
		})
	}
	stateJSON, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("devpki: save PKI: %w", err)
	}
	rootKey, err := encodeKeyPEM(p.Root.Key)
	if err != nil {
		return fmt.Errorf("devpki: save PKI: root key: %w", err)
	}
	interKey, err := encodeKeyPEM(p.Intermediate.Key)
	if err != nil {
		return fmt.Errorf("devpki: save PKI: intermediate key: %w", err)
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		// Keys first: a PKI directory with certificates but no keys is
		// unusable, and Load would rather fail on a missing certificate.
		{RootKeyFile, rootKey, 0o600},
		{IntermediateKeyFile, interKey, 0o600},
		{RootCertFile, EncodeCertificatesPEM(p.Root.Cert), 0o644},
		{IntermediateCertFile, EncodeCertificatesPEM(p.Intermediate.Cert), 0o644},
		{StateFile, append(stateJSON, '\n'), 0o600},
	}
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("devpki: save PKI: %s: %w", f.name, err)
		}
	}
	return nil
}

// Load reads a PKI written by Save. It checks that each key matches its
// certificate and that the root signed the intermediate. The loaded PKI
// uses the wall clock.
func Load(dir string) (*PKI, error) {
	root, err := loadCA(dir, RootCertFile, RootKeyFile)
	if err != nil {
		return nil, fmt.Errorf("devpki: load PKI from %s: %w", dir, err)
	}
	inter, err := loadCA(dir, IntermediateCertFile, IntermediateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("devpki: load PKI from %s: %w", dir, err)
	}
	if err := inter.Cert.CheckSignatureFrom(root.Cert); err != nil {
		return nil, fmt.Errorf("devpki: load PKI from %s: intermediate not signed by root: %w", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("devpki: load PKI from %s: %w", dir, err)
	}
	var st pkiState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("devpki: load PKI from %s: %s: %w", dir, StateFile, err)
	}
	base, err := normaliseBaseURL(st.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("devpki: load PKI from %s: %w", dir, err)
	}
	p := &PKI{Root: root, Intermediate: inter, BaseURL: base}
	for _, r := range st.Revoked {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("devpki: load PKI from %s: bad revoked serial %q", dir, r.Serial)
		}
		p.revoked = append(p.revoked, x509.RevocationListEntry{
			SerialNumber:   serial,
			RevocationTime: r.Time,
			ReasonCode:     r.Reason,
		})
	}
	return p, nil
}

// LoadOrNew loads the PKI saved in dir, or creates one with opts and saves
// it there when dir holds none. created reports which happened. A loaded
// PKI whose base URL differs from a non-empty opts.BaseURL is an error:
// its certificates point at the old URL.
func LoadOrNew(dir string, opts Options) (p *PKI, created bool, err error) {
	_, statErr := os.Stat(filepath.Join(dir, StateFile))
	switch {
	case statErr == nil:
		p, err := Load(dir)
		if err != nil {
			return nil, false, err
		}
		if opts.BaseURL != "" {
			want, err := normaliseBaseURL(opts.BaseURL)
			if err != nil {
				return nil, false, fmt.Errorf("devpki: load PKI from %s: %w", dir, err)
			}
			if want != p.BaseURL {
				return nil, false, fmt.Errorf("devpki: load PKI from %s: saved base URL %s differs from requested %s; delete the directory to start over", dir, p.BaseURL, want)
			}
		}
		if !opts.Now.IsZero() {
			p.now = opts.Now
		}
		return p, false, nil
	case errors.Is(statErr, os.ErrNotExist):
		p, err := New(opts)
		if err != nil {
			return nil, false, err
		}
		if err := p.Save(dir); err != nil {
			return nil, false, err
		}
		return p, true, nil
	default:
		return nil, false, fmt.Errorf("devpki: load PKI from %s: %w", dir, statErr)
	}
}

// loadCA reads one CA certificate and its key.
func loadCA(dir, certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s: want 1 certificate, found %d", certFile, len(certs))
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PKCS#8 PRIVATE KEY block", keyFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not a signing key", keyFile, parsed)
	}
	if err := checkKeyPair(certs[0], key); err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
	}
	return &CA{Cert: certs[0], Key: key}, nil
}

// encodeKeyPEM encodes key as an unencrypted PKCS#8 PEM block.
func encodeKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodeCertificatesPEM returns the certificates as concatenated PEM
// "CERTIFICATE" blocks.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// ParseCertificatesPEM parses every "CERTIFICATE" block in data, ignoring
// other block types.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return certs, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
}

// WritePKCS12 writes key, cert and chain (nearest CA first) to path as a
// password-protected PKCS#12 file with modern algorithms (AES-256-CBC,
// PBKDF2-SHA-256, HMAC-SHA-256), mode 0600, replacing any existing file
// atomically. It is the development key store used when SoftHSM is not
// available.
func WritePKCS12(path string, key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, password string) error {
	if err := checkKeyPair(cert, key); err != nil {
		return fmt.Errorf("devpki: write PKCS#12 %s: %w", path, err)
	}
	data, err := pkcs12.Modern.Encode(key, cert, chain, password)
	if err != nil {
		return fmt.Errorf("devpki: write PKCS#12 %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("devpki: write PKCS#12 %s: %w", path, err)
	}
	return nil
}

// hexID renders a PKCS#11 CKA_ID for messages.
func hexID(id []byte) string { return hex.EncodeToString(id) }
