package devpki

import (
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/miekg/pkcs11"
	"software.sslmate.com/src/go-pkcs12"
)

// demoReport is what the helper process tells the parent test about one
// SetupDemo run.
type demoReport struct {
	Mode        string
	Created     []string
	ConfPath    string
	TokenSerial string
	EnvConf     string         // SOFTHSM2_CONF after SetupDemo
	Keys        []demoKeyInfo  // from Demo.Keys
	Objects     map[string]int // objects of each class on the token
}

// demoKeyInfo summarises one Provisioned.
type demoKeyInfo struct {
	Label   string
	Kind    string
	Serial  string
	Created bool
}

// TestDemoHelperProcess is not a test: it is the body of the child process
// that TestSetupDemoSoftHSM starts, so that SetupDemo runs in a process
// that has not loaded SoftHSM yet, just like "make demo". In a normal test
// run it returns at once.
func TestDemoHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		return
	}
	d, err := SetupDemo(dir, DemoOptions{BaseURL: "http://127.0.0.1:18098"})
	if err != nil {
		t.Fatalf("SetupDemo: %v", err)
	}
	rep := demoReport{
		Mode:        d.Mode,
		Created:     d.Created,
		ConfPath:    d.ConfPath,
		TokenSerial: d.TokenSerial,
		EnvConf:     os.Getenv(softhsm.ConfEnvVar),
		Objects:     map[string]int{},
	}
	for _, k := range d.Keys {
		rep.Keys = append(rep.Keys, demoKeyInfo{Label: k.Label, Kind: k.Kind.String(), Serial: k.Cert.SerialNumber.Text(16), Created: k.Created})
	}
	// This process's module was initialised by SetupDemo with the demo
	// configuration, so the token is visible here.
	s := openTokenSessionPIN(t, d.TokenLabel, d.UserPIN)
	for name, class := range map[string]uint{"private": pkcs11.CKO_PRIVATE_KEY, "public": pkcs11.CKO_PUBLIC_KEY, "certificate": pkcs11.CKO_CERTIFICATE} {
		rep.Objects[name] = len(s.find(t, pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)))
	}
	out, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(helperOutEnv), out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openTokenSessionPIN is openTokenSession with an explicit PIN.
func openTokenSessionPIN(t *testing.T, label, pin string) tokenSession {
	t.Helper()
	mod, err := loadModule(testModulePath)
	if err != nil {
		t.Fatal(err)
	}
	slot, err := findTokenSlot(mod, label, "")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := mod.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.CloseSession(sh) })
	if err := mod.Login(sh, pkcs11.CKU_USER, pin); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		t.Fatal(err)
	}
	return tokenSession{mod: mod, sh: sh}
}

// runDemoHelper runs SetupDemo on dir in a fresh child process without
// SOFTHSM2_CONF and returns its report.
func runDemoHelper(t *testing.T, dir string) demoReport {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDemoHelperProcess$", "-test.count=1", "-test.timeout=5m")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, softhsm.ConfEnvVar+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, helperDirEnv+"="+dir, helperOutEnv+"="+outPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo helper process: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatalf("demo helper wrote no report: %v\n%s", err, out)
	}
	var rep demoReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestSetupDemoSoftHSM(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "demo")

	start := time.Now()
	first := runDemoHelper(t, dir)
	t.Logf("first run %v: created %q", time.Since(start), first.Created)
	if first.Mode != ModeSoftHSM {
		t.Fatalf("mode %q, want %q", first.Mode, ModeSoftHSM)
	}
	if first.EnvConf != first.ConfPath || first.ConfPath != filepath.Join(dir, "softhsm", "softhsm2.conf") {
		t.Errorf("SOFTHSM2_CONF after SetupDemo = %q, conf %q", first.EnvConf, first.ConfPath)
	}
	// PKI, token, three keys.
	if len(first.Created) != 5 {
		t.Errorf("first run created %d things, want 5: %q", len(first.Created), first.Created)
	}
	wantKinds := []string{"RSA-2048", "RSA-3072", "P-256"}
	var kinds []string
	for _, k := range first.Keys {
		kinds = append(kinds, k.Kind)
		if !k.Created {
			t.Errorf("key %q not created on the first run", k.Label)
		}
	}
	if !slices.Equal(kinds, wantKinds) {
		t.Errorf("key kinds %v, want %v", kinds, wantKinds)
	}
	wantObjects := map[string]int{"private": 3, "public": 3, "certificate": 4}
	if !mapsEqual(first.Objects, wantObjects) {
		t.Errorf("token objects %v, want %v", first.Objects, wantObjects)
	}

	second := runDemoHelper(t, dir)
	if len(second.Created) != 0 {
		t.Errorf("second run created %q, want nothing", second.Created)
	}
	if second.TokenSerial != first.TokenSerial {
		t.Errorf("token serial %s, then %s", first.TokenSerial, second.TokenSerial)
	}
	for i, k := range second.Keys {
		if k.Created || k.Serial != first.Keys[i].Serial {
			t.Errorf("second run key %+v, first %+v", k, first.Keys[i])
		}
	}
	if !mapsEqual(second.Objects, wantObjects) {
		t.Errorf("token objects after the second run %v, want %v", second.Objects, wantObjects)
	}

	// The saved PKI is the one the token certificates chain to.
	p, err := Load(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	if p.BaseURL != "http://127.0.0.1:18098" {
		t.Errorf("demo PKI base URL %q", p.BaseURL)
	}
}

// mapsEqual compares two string-to-int maps.
func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestSetupDemoInInitialisedProcess documents the failure mode SetupDemo
// reports when this process already loaded SoftHSM from another
// configuration (here: TestMain's).
func TestSetupDemoInInitialisedProcess(t *testing.T) {
	t.Parallel()
	if _, err := loadModule(testModulePath); err != nil {
		t.Fatal(err)
	}
	before := os.Getenv(softhsm.ConfEnvVar)
	_, err := SetupDemo(t.TempDir(), DemoOptions{})
	if !errors.Is(err, ErrTokenNotVisible) {
		t.Fatalf("SetupDemo in a process initialised elsewhere: %v, want ErrTokenNotVisible", err)
	}
	if !strings.Contains(err.Error(), "fresh process") {
		t.Errorf("error does not tell what to do: %v", err)
	}
	if after := os.Getenv(softhsm.ConfEnvVar); after != before {
		t.Errorf("SetupDemo changed SOFTHSM2_CONF from %q to %q although it was set", before, after)
	}
}

func TestSetupDemoPKCS12(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := SetupDemo(dir, DemoOptions{ForcePKCS12: true})
	if err != nil {
		t.Fatal(err)
	}
	if first.Mode != ModePKCS12 || first.PKCS12Password != DemoPKCS12Password || first.FallbackReason != "" {
		t.Errorf("demo %+v, want forced PKCS#12 mode", first)
	}
	// PKI and two files.
	if len(first.Created) != 3 {
		t.Errorf("first run created %q, want the PKI and two files", first.Created)
	}
	wantFiles := []string{filepath.Join(dir, "personal.p12"), filepath.Join(dir, "organisation.p12")}
	if !slices.Equal(first.Files, wantFiles) {
		t.Errorf("files %q, want %q", first.Files, wantFiles)
	}
	for _, f := range first.CAFiles {
		if certs, err := os.ReadFile(f); err != nil || len(certs) == 0 {
			t.Errorf("CA file %s: %v", f, err)
		}
	}
	wantCN := []string{Personal().CommonName, Organisation().CommonName}
	serials := make([]string, len(wantFiles))
	for i, path := range wantFiles {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", path, st.Mode().Perm())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		key, cert, chain, err := pkcs12.DecodeChain(data, DemoPKCS12Password)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if cert.Subject.CommonName != wantCN[i] || checkKeyPair(cert, key.(crypto.Signer)) != nil || len(chain) != 2 {
			t.Errorf("%s: CN %q, chain %d", path, cert.Subject.CommonName, len(chain))
		}
		if _, err := cert.Verify(verifyOpts(first.PKI, time.Now())); err != nil {
			t.Errorf("%s does not chain to the demo PKI: %v", path, err)
		}
		serials[i] = cert.SerialNumber.String()
	}

	second, err := SetupDemo(dir, DemoOptions{ForcePKCS12: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Created) != 0 {
		t.Errorf("second run created %q, want nothing", second.Created)
	}
	if !second.PKI.Root.Cert.Equal(first.PKI.Root.Cert) {
		t.Errorf("second run made a new root")
	}
	for i, path := range wantFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, cert, _, err := pkcs12.DecodeChain(data, DemoPKCS12Password)
		if err != nil {
			t.Fatal(err)
		}
		if cert.SerialNumber.String() != serials[i] {
			t.Errorf("%s was rewritten by the second run", path)
		}
	}

	// A damaged file is replaced, and only that one.
	if err := os.WriteFile(wantFiles[1], []byte("not PKCS#12"), 0o600); err != nil {
		t.Fatal(err)
	}
	third, err := SetupDemo(dir, DemoOptions{ForcePKCS12: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Created) != 1 || !strings.Contains(third.Created[0], "organisation.p12") {
		t.Errorf("third run created %q, want only organisation.p12", third.Created)
	}
}
