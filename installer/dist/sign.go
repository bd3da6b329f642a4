package dist

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Signer says how osslsigncode makes the Authenticode signatures of
// kyso.exe and the .msi: with a PKCS#12 file, or with a key on a PKCS#11
// token. SignerFromEnv reads it from the SIGN_* variables.
type Signer struct {
	// PKCS12 is a .p12/.pfx file holding the certificate, its chain and
	// the private key.
	PKCS12 string
	// PassFile holds the PKCS#12 password, or the token's PIN; its first
	// line is used. Read by osslsigncode itself, so the secret never
	// appears on a command line.
	PassFile string
	// PKCS11Module is the token's PKCS#11 library; it selects the token
	// path instead of PKCS12.
	PKCS11Module string
	// PKCS11Engine is OpenSSL's pkcs11 engine (Debian's
	// libengine-pkcs11-openssl), when osslsigncode does not find it.
	PKCS11Engine string
	// Key is the private key's PKCS#11 URI ("pkcs11:token=…;object=…").
	Key string
	// PKCS11Cert is the certificate's PKCS#11 URI; Certs, a PEM file with
	// the certificate and its chain, is used instead when set.
	PKCS11Cert string
	Certs      string
	// TimestampURL is an RFC 3161 timestamp authority, so that signatures
	// outlive the certificate. Empty: no timestamp (CI has no network).
	TimestampURL string
	// Description and URL are shown by Windows' consent dialog.
	Description, URL string
}

// Environment variables SignerFromEnv reads.
const (
	EnvSignPKCS12       = "SIGN_PKCS12"
	EnvSignPassFile     = "SIGN_PASS_FILE"
	EnvSignPKCS11Module = "SIGN_PKCS11_MODULE"
	EnvSignPKCS11Engine = "SIGN_PKCS11_ENGINE"
	EnvSignPKCS11Key    = "SIGN_PKCS11_KEY"
	EnvSignPKCS11Cert   = "SIGN_PKCS11_CERT"
	EnvSignCerts        = "SIGN_CERTS"
	EnvSignTimestampURL = "SIGN_TIMESTAMP_URL"
)

// ErrNoSigner is returned by SignerFromEnv when no SIGN_PKCS12 or
// SIGN_PKCS11_MODULE is set: the build then signs with a throwaway test
// certificate (NewTestSigner), unless told to require a real one.
var ErrNoSigner = errors.New("dist: no code-signing certificate configured (SIGN_PKCS12 or SIGN_PKCS11_MODULE)")

// SignerFromEnv reads the signer from the SIGN_* variables through getenv
// (os.Getenv). It checks that the variables make one complete
// configuration, not that the files exist.
func SignerFromEnv(getenv func(string) string) (Signer, error) {
	s := Signer{
		PKCS12:       getenv(EnvSignPKCS12),
		PassFile:     getenv(EnvSignPassFile),
		PKCS11Module: getenv(EnvSignPKCS11Module),
		PKCS11Engine: getenv(EnvSignPKCS11Engine),
		Key:          getenv(EnvSignPKCS11Key),
		PKCS11Cert:   getenv(EnvSignPKCS11Cert),
		Certs:        getenv(EnvSignCerts),
		TimestampURL: getenv(EnvSignTimestampURL),
	}
	if s.PKCS12 == "" && s.PKCS11Module == "" {
		return Signer{}, ErrNoSigner
	}
	if _, err := s.args("in", "out"); err != nil {
		return Signer{}, err
	}
	return s, nil
}

// args is osslsigncode's command line to sign in into out.
func (s Signer) args(in, out string) ([]string, error) {
	a := []string{"sign"}
	switch {
	case s.PKCS12 != "" && s.PKCS11Module != "":
		return nil, fmt.Errorf("dist: %s and %s are both set: choose the file or the token", EnvSignPKCS12, EnvSignPKCS11Module)
	case s.PKCS12 != "":
		if s.PassFile == "" {
			return nil, fmt.Errorf("dist: %s needs %s (the PKCS#12 password)", EnvSignPKCS12, EnvSignPassFile)
		}
		a = append(a, "-pkcs12", s.PKCS12)
	case s.PKCS11Module != "":
		if s.Key == "" {
			return nil, fmt.Errorf("dist: %s needs %s (the key's pkcs11: URI)", EnvSignPKCS11Module, EnvSignPKCS11Key)
		}
		if s.Certs == "" && s.PKCS11Cert == "" {
			return nil, fmt.Errorf("dist: %s needs %s (PEM chain) or %s (the certificate's pkcs11: URI)", EnvSignPKCS11Module, EnvSignCerts, EnvSignPKCS11Cert)
		}
		if s.PKCS11Engine != "" {
			a = append(a, "-pkcs11engine", s.PKCS11Engine)
		}
		a = append(a, "-pkcs11module", s.PKCS11Module)
		if s.Certs != "" {
			a = append(a, "-certs", s.Certs)
		} else {
			a = append(a, "-pkcs11cert", s.PKCS11Cert)
		}
		a = append(a, "-key", s.Key)
	default:
		return nil, ErrNoSigner
	}
	if s.PassFile != "" {
		a = append(a, "-readpass", s.PassFile)
	}
	a = append(a, "-h", "sha256")
	if s.Description != "" {
		a = append(a, "-n", s.Description)
	}
	if s.URL != "" {
		a = append(a, "-i", s.URL)
	}
	if s.TimestampURL != "" {
		a = append(a, "-ts", s.TimestampURL)
	}
	return append(a, "-in", in, "-out", out), nil
}

// Sign writes a signed copy of in (a PE executable or an MSI) to out.
func (s Signer) Sign(ctx context.Context, in, out string) error {
	args, err := s.args(in, out)
	if err != nil {
		return err
	}
	tool, err := exec.LookPath("osslsigncode")
	if err != nil {
		return fmt.Errorf("dist: signing needs osslsigncode (Debian package osslsigncode): %w", err)
	}
	// A leftover output would make osslsigncode fail; the build's output
	// names are its own.
	if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if b, err := exec.CommandContext(ctx, tool, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("dist: osslsigncode sign %s: %w\n%s", filepath.Base(in), err, b)
	}
	return nil
}

// TestSigner is a throwaway code-signing identity for CI and development
// builds: a CA made for this build and a certificate it issued for code
// signing, both discarded afterwards. Windows does not trust it; it only
// proves that the signing step works and lets tests verify the result.
type TestSigner struct {
	Signer
	// CAFile is the CA's certificate (PEM), for osslsigncode verify -CAfile.
	CAFile string
}

// NewTestSigner makes the throwaway CA and code-signing certificate
// (RSA-2048, valid from an hour ago for a day) and writes into dir: ca.pem,
// signer.p12 (the certificate, the CA and the key, in the modern
// PKCS#12 encryption that OpenSSL 3 reads without its legacy provider) and
// signer.pass (its random password, mode 0600).
func NewTestSigner(dir string) (TestSigner, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return TestSigner{}, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return TestSigner{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kyso throwaway test code-signing CA", Organization: []string{"kyso (test)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return TestSigner{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return TestSigner{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kyso test build", Organization: []string{"kyso (test)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return TestSigner{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return TestSigner{}, err
	}
	pass := make([]byte, 16)
	if _, err := rand.Read(pass); err != nil {
		return TestSigner{}, err
	}
	password := hex.EncodeToString(pass)
	p12, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{ca}, password)
	if err != nil {
		return TestSigner{}, err
	}
	ts := TestSigner{
		Signer: Signer{
			PKCS12:   filepath.Join(dir, "signer.p12"),
			PassFile: filepath.Join(dir, "signer.pass"),
		},
		CAFile: filepath.Join(dir, "ca.pem"),
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{ts.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644},
		{ts.PKCS12, p12, 0o600},
		{ts.PassFile, []byte(password + "\n"), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return TestSigner{}, err
		}
	}
	return ts, nil
}

// serial is a random positive 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("dist: no randomness: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

// VerifySignature runs `osslsigncode verify` on a signed file against
// caFile, and returns its report; the error says why it was refused.
func VerifySignature(ctx context.Context, path, caFile string) (string, error) {
	tool, err := exec.LookPath("osslsigncode")
	if err != nil {
		return "", fmt.Errorf("dist: verifying needs osslsigncode (Debian package osslsigncode): %w", err)
	}
	out, err := exec.CommandContext(ctx, tool, "verify", "-CAfile", caFile, "-in", path).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("dist: osslsigncode verify %s: %w", filepath.Base(path), err)
	}
	return string(out), nil
}
