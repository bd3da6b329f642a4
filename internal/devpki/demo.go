package devpki

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kyso-vn/kyso/internal/softhsm"
	"software.sslmate.com/src/go-pkcs12"
)

// Development-only credentials of the demo token and PKCS#12 files. They
// are public by design (they are in this source file): never reuse them for
// anything that protects real keys.
const (
	DemoTokenLabel     = "kyso-dev"
	DemoSOPIN          = "12345678"
	DemoUserPIN        = "123456"
	DemoPKCS12Password = "123456"
)

// Demo modes.
const (
	ModeSoftHSM = "softhsm"
	ModePKCS12  = "pkcs12"
)

// Layout of the demo directory.
const (
	demoPKIDir     = "pki"
	demoSoftHSMDir = "softhsm"
)

// demoTimeout bounds the softhsm2-util child processes SetupDemo runs.
const demoTimeout = 2 * time.Minute

// DemoOptions configures SetupDemo.
type DemoOptions struct {
	// BaseURL is used when the PKI is created; an existing PKI with a
	// different base URL is an error because its certificates point at
	// the old address. Empty means DefaultBaseURL for a new PKI and
	// "whatever was saved" for an existing one.
	BaseURL string
	// ForcePKCS12 writes PKCS#12 files even when SoftHSM is installed.
	ForcePKCS12 bool
}

// Demo reports what SetupDemo prepared.
type Demo struct {
	// Mode is ModeSoftHSM or ModePKCS12.
	Mode string
	// Dir is the demo directory; PKIDir holds the CA files (Save layout)
	// and CAFiles are the PEM root and intermediate certificates in it,
	// for configuring trust in the demo.
	Dir     string
	PKIDir  string
	CAFiles []string
	PKI     *PKI
	// FallbackReason says why SoftHSM was not used when Mode is
	// ModePKCS12 without DemoOptions.ForcePKCS12.
	FallbackReason string

	// SoftHSM mode.
	Env         *softhsm.Env
	ConfPath    string
	ModulePath  string
	TokenLabel  string
	TokenSerial string
	SOPIN       string
	UserPIN     string
	Keys        []Provisioned

	// PKCS#12 mode: the .p12 files and their password.
	Files          []string
	PKCS12Password string

	// Created lists, for people, what this run created (PKI, token, keys,
	// files). It is empty when everything was reused.
	Created []string
}

// demoKey is one key of the demo set.
type demoKey struct {
	label   string
	id      byte
	kind    KeyKind
	profile Profile
	file    string // PKCS#12 file name, "" if only on the token
}

// demoKeys returns the demo key set. The EC key belongs to a second person
// so that certificate pickers show distinguishable entries.
func demoKeys() []demoKey {
	ec := Personal()
	ec.Name = "personal-ec"
	ec.CommonName = "Trần Thị Bích Ngọc"
	ec.UIDs = []string{UIDPrefixCCCD + "079190004321"}
	ec.Title = "Phó Chánh Văn phòng"
	return []demoKey{
		{label: "personal-rsa2048", id: 0x01, kind: RSA2048, profile: Personal(), file: "personal.p12"},
		{label: "organisation-rsa3072", id: 0x02, kind: RSA3072, profile: Organisation(), file: "organisation.p12"},
		{label: "personal-p256", id: 0x03, kind: ECP256, profile: ec},
	}
}

// SetupDemo prepares the developer demo under dir and is idempotent: a
// second run reuses the PKI, token, keys and files and creates nothing.
//
// It loads or creates the PKI in dir/pki. Then, when SoftHSM is installed
// and opts.ForcePKCS12 is false, it creates (or reuses) the SoftHSM token
// DemoTokenLabel in dir/softhsm and generates on it a personal RSA-2048 key
// (CKA_ID 01), an organisation RSA-3072 key (02) and a personal P-256 key
// (03) with their certificates, plus the intermediate CA certificate.
// Otherwise it writes personal.p12 and organisation.p12 with software keys,
// protected by DemoPKCS12Password.
//
// SoftHSM reads SOFTHSM2_CONF once, when the module is first initialised
// in the process, and only sees tokens that existed then. SetupDemo
// therefore creates the token with softhsm2-util first and, if SOFTHSM2_CONF
// is unset, sets it to the demo configuration with os.Setenv before loading
// the module. That process-wide change is intended: the demo process goes
// on to sign with the same token through the same, already initialised
// module, and child processes it starts inherit the setting. If
// SOFTHSM2_CONF already names something else it is left alone, and
// SetupDemo fails with an error wrapping ErrTokenNotVisible when the
// module (initialised from that other configuration) cannot see the demo
// token. In short: call SetupDemo early in a fresh process, before
// anything else loads the SoftHSM module — as "make demo" does.
func SetupDemo(dir string, opts DemoOptions) (*Demo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("devpki: demo: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("devpki: demo: %w", err)
	}
	d := &Demo{Dir: abs, PKIDir: filepath.Join(abs, demoPKIDir)}
	pki, created, err := LoadOrNew(d.PKIDir, Options{BaseURL: opts.BaseURL})
	if err != nil {
		return nil, fmt.Errorf("devpki: demo: %w", err)
	}
	d.PKI = pki
	d.CAFiles = []string{filepath.Join(d.PKIDir, RootCertFile), filepath.Join(d.PKIDir, IntermediateCertFile)}
	if created {
		d.Created = append(d.Created, "PKI in "+d.PKIDir)
	}

	switch avail := softhsm.Available(); {
	case opts.ForcePKCS12:
		err = d.setupPKCS12()
	case avail != nil:
		d.FallbackReason = avail.Error()
		err = d.setupPKCS12()
	default:
		err = d.setupSoftHSM()
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// setupSoftHSM creates or reuses the demo token and provisions it.
func (d *Demo) setupSoftHSM() error {
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	modPath, err := softhsm.ModulePath()
	if err != nil {
		return fmt.Errorf("devpki: demo: %w", err)
	}
	env, err := softhsm.New(filepath.Join(d.Dir, demoSoftHSMDir))
	if err != nil {
		return fmt.Errorf("devpki: demo: %w", err)
	}
	// Create the token before this process loads the module; see the
	// SetupDemo documentation.
	created, err := env.EnsureToken(ctx, DemoTokenLabel, DemoSOPIN, DemoUserPIN)
	if err != nil {
		return fmt.Errorf("devpki: demo: %w", err)
	}
	tok, err := env.Token(ctx, DemoTokenLabel)
	if err != nil {
		return fmt.Errorf("devpki: demo: %w", err)
	}
	d.Mode, d.Env, d.ConfPath, d.ModulePath = ModeSoftHSM, env, env.ConfPath, modPath
	d.TokenLabel, d.TokenSerial, d.SOPIN, d.UserPIN = DemoTokenLabel, tok.Serial, DemoSOPIN, DemoUserPIN
	if created {
		d.Created = append(d.Created, fmt.Sprintf("SoftHSM token %q (serial %s) in %s", DemoTokenLabel, tok.Serial, env.TokenDir()))
	}
	confBefore := os.Getenv(softhsm.ConfEnvVar)
	if confBefore == "" {
		if err := env.Setenv(); err != nil {
			return fmt.Errorf("devpki: demo: %w", err)
		}
	}

	var specs []KeySpec
	for _, k := range demoKeys() {
		specs = append(specs, KeySpec{Label: k.label, ID: []byte{k.id}, Kind: k.kind, Profile: k.profile})
	}
	// The serial pins the lookup to the demo token even if another SoftHSM
	// directory visible to this process has a token with the same label.
	keys, err := ProvisionToken(modPath, DemoTokenLabel, DemoUserPIN, d.PKI, specs,
		WithIntermediateCert(""), WithTokenSerial(tok.Serial))
	if errors.Is(err, ErrTokenNotVisible) {
		return fmt.Errorf("devpki: demo: %w (SoftHSM was initialised in this process before the demo token existed, or from another configuration: SOFTHSM2_CONF was %q when SetupDemo started; run the demo setup in a fresh process, with SOFTHSM2_CONF unset or set to %s)",
			err, confBefore, env.ConfPath)
	}
	if err != nil {
		return fmt.Errorf("devpki: demo: %w", err)
	}
	d.Keys = keys
	for _, k := range keys {
		if k.Created {
			d.Created = append(d.Created, fmt.Sprintf("%s key %q (CKA_ID %s) on token %q", k.Kind, k.Label, hexID(k.ID), DemoTokenLabel))
		}
	}
	return nil
}

// setupPKCS12 writes (or reuses) the demo PKCS#12 files.
func (d *Demo) setupPKCS12() error {
	d.Mode, d.PKCS12Password = ModePKCS12, DemoPKCS12Password
	for _, k := range demoKeys() {
		if k.file == "" {
			continue
		}
		path := filepath.Join(d.Dir, k.file)
		d.Files = append(d.Files, path)
		if d.reusablePKCS12(path) {
			continue
		}
		key, err := GenerateSoftKey(k.kind)
		if err != nil {
			return fmt.Errorf("devpki: demo: %w", err)
		}
		cert, err := d.PKI.Issue(k.profile, key.Public())
		if err != nil {
			return fmt.Errorf("devpki: demo: %w", err)
		}
		if err := WritePKCS12(path, key, cert, d.PKI.Chain(), DemoPKCS12Password); err != nil {
			return fmt.Errorf("devpki: demo: %w", err)
		}
		d.Created = append(d.Created, fmt.Sprintf("%s PKCS#12 file %s", k.kind, path))
	}
	return nil
}

// reusablePKCS12 reports whether path holds a PKCS#12 file that opens with
// the demo password, pairs key and certificate, and was issued by the
// current PKI. Anything else (absent, corrupt, left over from a deleted PKI)
// is regenerated: the demo directory is scratch space.
func (d *Demo) reusablePKCS12(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	key, cert, _, err := pkcs12.DecodeChain(data, DemoPKCS12Password)
	if err != nil {
		return false
	}
	signer, ok := key.(crypto.Signer)
	if !ok || checkKeyPair(cert, signer) != nil {
		return false
	}
	return d.PKI.IssuedBy(cert)
}
