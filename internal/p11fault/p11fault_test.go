package p11fault

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

const (
	softhsmLib = "/usr/lib/softhsm/libsofthsm2.so"
	userPIN    = "1234"
	wrongPIN   = "0000"
	soPIN      = "12345678"
	tokenLabel = "fault"
	keyLabel   = "k"

	// hangGuard only keeps a broken module from hanging the test run; no
	// test expects anything to take nearly this long.
	hangGuard = 10 * time.Second

	pinFlags = pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_LOCKED
)

// testEnv is the SoftHSM token and the fault module loaded on top of it.
// A PKCS#11 module is initialised once per process, so one testEnv serves
// every test; tests steer it only through the control file.
type testEnv struct {
	dir     string
	so      string
	control string
	ctx     *pkcs11.Ctx
	slot    uint
	pub     *rsa.PublicKey
}

// suite holds the environment built by TestMain, or why it could not be
// built; every test fails with that reason rather than being skipped.
var suite struct {
	env *testEnv
	err error
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "p11fault-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "p11fault tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	suite.env, suite.err = setup(dir)
	return m.Run()
}

// setup creates a SoftHSM token with one RSA key and loads the freshly built
// fault module. SOFTHSM2_CONF is set before anything loads SoftHSM, because
// SoftHSM reads it only once per process.
func setup(dir string) (*testEnv, error) {
	dir, err := filepath.EvalSymlinks(dir) // the module realpath()s itself
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return nil, fmt.Errorf("softhsm2-util is required: %w", err)
	}
	if _, err := os.Stat(softhsmLib); err != nil {
		return nil, fmt.Errorf("SoftHSM module is required: %w", err)
	}
	if _, err := exec.LookPath(compiler()); err != nil {
		return nil, fmt.Errorf("a C compiler is required: %w", err)
	}
	tokens := filepath.Join(dir, "tokens")
	build := filepath.Join(dir, "build")
	for _, d := range []string{tokens, build} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	confText := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens)
	if err := os.WriteFile(conf, []byte(confText), 0o644); err != nil {
		return nil, err
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return nil, err
	}
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", tokenLabel,
		"--so-pin", soPIN, "--pin", userPIN).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("softhsm2-util --init-token: %w\n%s", err, out)
	}

	so, err := Build(build)
	if err != nil {
		return nil, err
	}
	e := &testEnv{dir: dir, so: so, control: ControlPath(so)}
	if err := (Control{Present: true}).Write(e.control); err != nil {
		return nil, err
	}
	e.ctx = pkcs11.New(so)
	if e.ctx == nil {
		return nil, fmt.Errorf("cannot load %s", so)
	}
	if err := e.ctx.Initialize(); err != nil {
		return nil, fmt.Errorf("C_Initialize through the module: %w", err)
	}
	if e.slot, err = findSlot(e.ctx); err != nil {
		return nil, err
	}
	if e.pub, err = generateKey(e.ctx, e.slot); err != nil {
		return nil, err
	}
	return e, nil
}

func compiler() string {
	if cc := strings.Fields(os.Getenv("CC")); len(cc) > 0 {
		return cc[0]
	}
	return "cc"
}

func findSlot(ctx *pkcs11.Ctx) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("C_GetSlotList: %w", err)
	}
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err == nil && ti.Label == tokenLabel {
			return s, nil
		}
	}
	return 0, fmt.Errorf("no token labelled %q in slots %v", tokenLabel, slots)
}

// generateKey creates the RSA key pair through the module, which doubles as
// a first pass-through check.
func generateKey(ctx *pkcs11.Ctx, slot uint) (*rsa.PublicKey, error) {
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("C_OpenSession: %w", err)
	}
	defer ctx.CloseSession(sh)
	if err := ctx.Login(sh, pkcs11.CKU_USER, userPIN); err != nil {
		return nil, fmt.Errorf("C_Login: %w", err)
	}
	defer ctx.Logout(sh)
	id := []byte{1}
	pubTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, keyLabel),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	privTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, keyLabel),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)}
	pubH, _, err := ctx.GenerateKeyPair(sh, mech, pubTmpl, privTmpl)
	if err != nil {
		return nil, fmt.Errorf("C_GenerateKeyPair: %w", err)
	}
	attrs, err := ctx.GetAttributeValue(sh, pubH, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("reading the public key: %w", err)
	}
	return &rsa.PublicKey{
		N: new(big.Int).SetBytes(attrs[0].Value),
		E: int(new(big.Int).SetBytes(attrs[1].Value).Int64()),
	}, nil
}

// ---- helpers ----------------------------------------------------------

// begin returns the shared environment and a fresh log path, with the module
// in pass-through mode (plus logging). On cleanup the module goes back to
// plain pass-through and all sessions are closed, which also logs the user
// out of SoftHSM, so tests do not leak state into each other.
func begin(t *testing.T) (*testEnv, string) {
	t.Helper()
	e := suite.env
	if suite.err != nil {
		t.Fatalf("test environment: %v", suite.err)
	}
	log := filepath.Join(t.TempDir(), "calls.log")
	e.set(t, Control{Present: true, Log: log})
	t.Cleanup(func() {
		if err := (Control{Present: true}).Write(e.control); err != nil {
			t.Errorf("resetting control: %v", err)
		}
		_ = e.ctx.CloseAllSessions(e.slot)
	})
	return e, log
}

func (e *testEnv) set(t *testing.T, c Control) {
	t.Helper()
	if err := c.Write(e.control); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) open(t *testing.T) pkcs11.SessionHandle {
	t.Helper()
	sh, err := e.ctx.OpenSession(e.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatalf("C_OpenSession: %v", err)
	}
	return sh
}

func (e *testEnv) login(t *testing.T, sh pkcs11.SessionHandle) {
	t.Helper()
	if err := e.ctx.Login(sh, pkcs11.CKU_USER, userPIN); err != nil {
		t.Fatalf("C_Login: %v", err)
	}
}

func (e *testEnv) privateKey(t *testing.T, sh pkcs11.SessionHandle) pkcs11.ObjectHandle {
	t.Helper()
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, keyLabel),
	}
	if err := e.ctx.FindObjectsInit(sh, tmpl); err != nil {
		t.Fatalf("C_FindObjectsInit: %v", err)
	}
	objs, _, err := e.ctx.FindObjects(sh, 2)
	if ferr := e.ctx.FindObjectsFinal(sh); err == nil {
		err = ferr
	}
	if err != nil || len(objs) != 1 {
		t.Fatalf("finding the private key: %v objects, err %v", len(objs), err)
	}
	return objs[0]
}

var testMessage = []byte("kyso fault injection test message")

func signMech() []*pkcs11.Mechanism {
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS, nil)}
}

// sign runs C_SignInit and C_Sign (which miekg calls twice: length, then
// signature).
func (e *testEnv) sign(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle) ([]byte, error) {
	if err := e.ctx.SignInit(sh, signMech(), key); err != nil {
		return nil, fmt.Errorf("C_SignInit: %w", err)
	}
	return e.ctx.Sign(sh, testMessage)
}

func (e *testEnv) verify(t *testing.T, sig []byte) {
	t.Helper()
	digest := sha256.Sum256(testMessage)
	if err := rsa.VerifyPKCS1v15(e.pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
}

func (e *testEnv) tokenFlags(t *testing.T) uint {
	t.Helper()
	ti, err := e.ctx.GetTokenInfo(e.slot)
	if err != nil {
		t.Fatalf("C_GetTokenInfo: %v", err)
	}
	return ti.Flags
}

func (e *testEnv) sessionState(t *testing.T, sh pkcs11.SessionHandle) uint {
	t.Helper()
	si, err := e.ctx.GetSessionInfo(sh)
	if err != nil {
		t.Fatalf("C_GetSessionInfo: %v", err)
	}
	return si.State
}

// rvName renders a CK_RV with its name, for messages.
func rvName(rv uint) string {
	if rv == pkcs11.CKR_OK {
		return "CKR_OK"
	}
	return pkcs11.Error(rv).Error()
}

// checkRV reports whether err carries the CK_RV want.
func checkRV(t *testing.T, what string, err error, want uint) bool {
	t.Helper()
	got := uint(pkcs11.CKR_OK)
	if err != nil {
		var pe pkcs11.Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: %v, want %s", what, err, rvName(want))
			return false
		}
		got = uint(pe)
	}
	if got != want {
		t.Errorf("%s: got %s, want %s", what, rvName(got), rvName(want))
		return false
	}
	return true
}

func counts(t *testing.T, log string) map[string]int {
	t.Helper()
	c, err := CallCounts(log)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func logLines(t *testing.T, log string) []string {
	t.Helper()
	data, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// waitFor polls cond until it holds; the limit only guards against hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- Go side -------------------------------------------------------------

func TestControlWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faultp11.so.conf")
	c := Control{
		Target:     "/opt/token/lib.so",
		Log:        "/tmp/x.log",
		Present:    true,
		PIN:        "12 34",
		MaxTries:   3,
		Epoch:      7,
		SignDelay:  1500*time.Millisecond + time.Microsecond,
		AlwaysAuth: true,
		Pinpad:     true,
		WaitEvents: true,
		Fail:       map[string]uint{"C_Sign": 0x6, "C_Login": 0x30},
	}
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(path); err != nil { // replacing works too
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, l)
		}
	}
	want := []string{
		"present=1", "target=/opt/token/lib.so", "log=/tmp/x.log", "pin=12 34",
		"max_tries=3", "epoch=7", "sign_delay_ms=1501", "always_auth=1", "pinpad=1",
		"wait_events=1", "fail.C_Login=0x30", "fail.C_Sign=0x6",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("control file lines\n got %q\nwant %q", got, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the control file (temp file left behind?)", len(entries))
	}

	if err := (Control{}).Write(path); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "\npresent=0\n") {
		t.Errorf("zero Control must write present=0, got:\n%s", data)
	}

	for name, bad := range map[string]Control{
		"newline in PIN":     {PIN: "12\n34"},
		"blank around PIN":   {PIN: " 1234"},
		"bad fail name":      {Fail: map[string]uint{"Sign": 6}},
		"negative max tries": {MaxTries: -1},
		"newline in log":     {Log: "a\nb"},
	} {
		if err := bad.Write(path); err == nil {
			t.Errorf("%s: Write succeeded, want an error", name)
		}
	}
}

func TestCallCounts(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls.log")
	got, err := CallCounts(log)
	if err != nil || len(got) != 0 {
		t.Fatalf("missing log: %v, %v; want empty map, nil", got, err)
	}
	if err := os.WriteFile(log, []byte("C_Login\nC_Sign\nC_Login\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = CallCounts(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"C_Login": 2, "C_Sign": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("CallCounts = %v, want %v", got, want)
	}
}

func TestBuildReportsCompilerOutput(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fakecc")
	script := "#!/bin/sh\necho 'fakecc: error: something is broken' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CC", fake)
	_, err := Build(dir)
	if err == nil || !strings.Contains(err.Error(), "fakecc: error: something is broken") {
		t.Fatalf("Build with a failing compiler: %v; want the compiler's output in the error", err)
	}
}

// ---- Module behaviour --------------------------------------------------

func TestPassThroughSigning(t *testing.T) {
	e, log := begin(t)
	slots, err := e.ctx.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList(true) = %v, %v", slots, err)
	}
	ti, err := e.ctx.GetTokenInfo(e.slot)
	if err != nil || ti.Label != tokenLabel {
		t.Fatalf("C_GetTokenInfo = %q, %v; want label %q", ti.Label, err, tokenLabel)
	}
	sh := e.open(t)
	e.login(t, sh)
	sig, err := e.sign(sh, e.privateKey(t, sh))
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	e.verify(t, sig)

	got := counts(t, log)
	for fn, want := range map[string]int{
		"C_GetTokenInfo": 1, "C_OpenSession": 1, "C_Login": 1, "C_SignInit": 1,
		"C_Sign": 2, // length query + signature
	} {
		if got[fn] != want {
			t.Errorf("log: %s called %d times, want %d (all: %v)", fn, got[fn], want, got)
		}
	}
	if got["C_GetSlotList"] == 0 {
		t.Errorf("log: C_GetSlotList not logged (all: %v)", got)
	}
}

// TestLogNamesEveryFunction checks, call by call, that the log names the
// function that was called, which also proves the function list indices.
func TestLogNamesEveryFunction(t *testing.T) {
	e, log := begin(t)
	sh := e.open(t)
	e.login(t, sh)
	key := e.privateKey(t, sh)
	pubs := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)}
	var sh2 pkcs11.SessionHandle
	var sig []byte
	// Errors do not matter here, only which entry point was reached.
	steps := []struct {
		fn   string
		call func() error
	}{
		{"C_GetInfo", func() error { _, err := e.ctx.GetInfo(); return err }},
		{"C_GetSlotList", func() error { _, err := e.ctx.GetSlotList(false); return err }},
		{"C_GetSlotInfo", func() error { _, err := e.ctx.GetSlotInfo(e.slot); return err }},
		{"C_GetTokenInfo", func() error { _, err := e.ctx.GetTokenInfo(e.slot); return err }},
		{"C_GetMechanismList", func() error { _, err := e.ctx.GetMechanismList(e.slot); return err }},
		{"C_GetMechanismInfo", func() error { _, err := e.ctx.GetMechanismInfo(e.slot, signMech()); return err }},
		{"C_OpenSession", func() (err error) { sh2, err = e.ctx.OpenSession(e.slot, pkcs11.CKF_SERIAL_SESSION); return err }},
		{"C_GetSessionInfo", func() error { _, err := e.ctx.GetSessionInfo(sh2); return err }},
		{"C_FindObjectsInit", func() error { return e.ctx.FindObjectsInit(sh, pubs) }},
		{"C_FindObjects", func() error { _, _, err := e.ctx.FindObjects(sh, 1); return err }},
		{"C_FindObjectsFinal", func() error { return e.ctx.FindObjectsFinal(sh) }},
		{"C_GetAttributeValue", func() error {
			_, err := e.ctx.GetAttributeValue(sh, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
			return err
		}},
		{"C_GetObjectSize", func() error { _, err := e.ctx.GetObjectSize(sh, key); return err }},
		{"C_DigestInit", func() error {
			return e.ctx.DigestInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA256, nil)})
		}},
		{"C_Digest", func() error { _, err := e.ctx.Digest(sh, testMessage); return err }},
		{"C_SignInit", func() error { return e.ctx.SignInit(sh, signMech(), key) }},
		{"C_SignUpdate", func() error { return e.ctx.SignUpdate(sh, testMessage) }},
		{"C_SignFinal", func() (err error) { sig, err = e.ctx.SignFinal(sh); return err }},
		{"C_SeedRandom", func() error { return e.ctx.SeedRandom(sh, []byte{1, 2, 3}) }},
		{"C_GenerateRandom", func() error { _, err := e.ctx.GenerateRandom(sh, 8); return err }},
		{"C_CloseSession", func() error { return e.ctx.CloseSession(sh2) }},
		{"C_Logout", func() error { return e.ctx.Logout(sh) }},
		{"C_CloseAllSessions", func() error { return e.ctx.CloseAllSessions(e.slot) }},
	}
	for _, st := range steps {
		before := len(logLines(t, log))
		err := st.call()
		lines := logLines(t, log)[before:]
		if len(lines) == 0 {
			t.Errorf("%s (err %v): nothing logged", st.fn, err)
		}
		for _, l := range lines {
			if l != st.fn {
				t.Errorf("%s (err %v): logged %q", st.fn, err, l)
			}
		}
	}
	e.verify(t, sig) // multi-part signing passed through intact
}

func TestPINLockout(t *testing.T) {
	e, log := begin(t)
	ctl := Control{Present: true, Log: log, PIN: userPIN, MaxTries: 3, Epoch: 1000}
	e.set(t, ctl)
	sh := e.open(t)
	logins := 0
	login := func(pin string) error {
		logins++
		return e.ctx.Login(sh, pkcs11.CKU_USER, pin)
	}
	if f := e.tokenFlags(t) & pinFlags; f != 0 {
		t.Fatalf("fresh counter: PIN flags %#x, want none", f)
	}

	steps := []struct {
		pin   string
		want  uint
		flags uint
	}{
		{wrongPIN, pkcs11.CKR_PIN_INCORRECT, pkcs11.CKF_USER_PIN_COUNT_LOW},
		{wrongPIN, pkcs11.CKR_PIN_INCORRECT, pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY},
		{wrongPIN, pkcs11.CKR_PIN_LOCKED, pkcs11.CKF_USER_PIN_LOCKED},
		{userPIN, pkcs11.CKR_PIN_LOCKED, pkcs11.CKF_USER_PIN_LOCKED}, // locked means locked
	}
	for i, st := range steps {
		checkRV(t, fmt.Sprintf("login %d with %q", i+1, st.pin), login(st.pin), st.want)
		if f := e.tokenFlags(t) & pinFlags; f != st.flags {
			t.Errorf("after login %d: PIN flags %#x, want %#x", i+1, f, st.flags)
		}
	}
	if s := e.sessionState(t, sh); s != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Errorf("locked login with the right PIN reached the token: session state %d", s)
	}

	ctl.Epoch++ // a new epoch is a fresh token
	e.set(t, ctl)
	if f := e.tokenFlags(t) & pinFlags; f != 0 {
		t.Errorf("new epoch: PIN flags %#x, want none", f)
	}
	checkRV(t, "login after new epoch", login(userPIN), pkcs11.CKR_OK)
	if err := e.ctx.Logout(sh); err != nil {
		t.Fatal(err)
	}

	// A successful login resets the counter.
	checkRV(t, "wrong login", login(wrongPIN), pkcs11.CKR_PIN_INCORRECT)
	if f := e.tokenFlags(t) & pinFlags; f != pkcs11.CKF_USER_PIN_COUNT_LOW {
		t.Errorf("after one failure: PIN flags %#x, want COUNT_LOW", f)
	}
	checkRV(t, "right login", login(userPIN), pkcs11.CKR_OK)
	if f := e.tokenFlags(t) & pinFlags; f != 0 {
		t.Errorf("after a successful login: PIN flags %#x, want none", f)
	}

	if got := counts(t, log)["C_Login"]; got != logins {
		t.Errorf("log has %d C_Login lines, want exactly the %d calls made", got, logins)
	}
}

func TestFailInjection(t *testing.T) {
	type failCase struct {
		fn string
		rv uint
		// call arms the fault with arm() right before the call under test
		// and returns that call's error; it may disarm() afterwards to
		// check what the injected failure left behind.
		call func(t *testing.T, e *testEnv, arm, disarm func()) error
	}
	cases := []failCase{
		{"C_Initialize", pkcs11.CKR_FUNCTION_FAILED, func(t *testing.T, e *testEnv, arm, disarm func()) error {
			arm()
			err := e.ctx.Initialize()
			disarm()
			checkRV(t, "C_Initialize again without fault", e.ctx.Initialize(), pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)
			return err
		}},
		{"C_GetSlotList", pkcs11.CKR_DEVICE_ERROR, func(t *testing.T, e *testEnv, arm, disarm func()) error {
			arm()
			_, err := e.ctx.GetSlotList(true)
			return err
		}},
		{"C_GetTokenInfo", pkcs11.CKR_DEVICE_ERROR, func(t *testing.T, e *testEnv, arm, disarm func()) error {
			arm()
			_, err := e.ctx.GetTokenInfo(e.slot)
			return err
		}},
		{"C_OpenSession", pkcs11.CKR_FUNCTION_FAILED, func(t *testing.T, e *testEnv, arm, disarm func()) error {
			arm()
			_, err := e.ctx.OpenSession(e.slot, pkcs11.CKF_SERIAL_SESSION)
			return err
		}},
		{"C_Login", pkcs11.CKR_DEVICE_ERROR, func(t *testing.T, e *testEnv, arm, disarm func()) error {
			sh := e.open(t)
			arm()
			err := e.ctx.Login(sh, pkcs11.CKU_USER, userPIN)
			disarm()
			if s := e.sessionState(t, sh); s != pkcs11.CKS_RW_PUBLIC_SESSION {
				t.Errorf("failed login was forwarded: session state %d", s)
			}
			return err
		}},
		{"C_FindObjectsInit", pkcs11.CKR_FUNCTION_FAILED, func(t *testing.T, e *testEnv, arm, disarm func()) error {
			sh := e.open(t)
			arm()
			return e.ctx.FindObjectsInit(sh, nil)
		}},
		{"C_SignInit", pkcs11.CKR_FUNCTION_FAILED, func(t *testing.T, e *testEnv, arm, disarm func()) error {
			sh := e.open(t)
			e.login(t, sh)
			key := e.privateKey(t, sh)
			arm()
			return e.ctx.SignInit(sh, signMech(), key)
		}},
		{"C_Sign", pkcs11.CKR_FUNCTION_FAILED, func(t *testing.T, e *testEnv, arm, disarm func()) error {
			sh := e.open(t)
			e.login(t, sh)
			key := e.privateKey(t, sh)
			if err := e.ctx.SignInit(sh, signMech(), key); err != nil {
				t.Fatal(err)
			}
			arm()
			_, err := e.ctx.Sign(sh, testMessage)
			disarm()
			// Like on a real token the failed C_Sign ended the operation,
			// so the session signs again right away.
			sig, serr := e.sign(sh, key)
			if serr != nil {
				t.Errorf("signing after an injected C_Sign failure: %v", serr)
			} else {
				e.verify(t, sig)
			}
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fn, func(t *testing.T) {
			e, log := begin(t)
			plain := Control{Present: true, Log: log}
			faulty := plain
			faulty.Fail = map[string]uint{tc.fn: tc.rv}
			err := tc.call(t, e, func() { e.set(t, faulty) }, func() { e.set(t, plain) })
			checkRV(t, tc.fn+" with fail."+tc.fn, err, tc.rv)
			if n := counts(t, log)[tc.fn]; n < 1 {
				t.Errorf("injected %s not logged", tc.fn)
			}
		})
	}
}

func TestRemovalDuringSign(t *testing.T) {
	e, log := begin(t)
	const delay = 5 * time.Second
	ctl := Control{Present: true, Log: log, SignDelay: delay}
	e.set(t, ctl)
	sh := e.open(t)
	e.login(t, sh)
	key := e.privateKey(t, sh)

	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := e.sign(sh, key)
		done <- result{err, time.Now()}
	}()
	// miekg's C_Sign #1 is the (undelayed) length query, #2 the signature.
	waitFor(t, "the delayed C_Sign", func() bool { return counts(t, log)["C_Sign"] >= 2 })
	ctl.Present = false
	e.set(t, ctl)
	pulled := time.Now()
	select {
	case r := <-done:
		checkRV(t, "C_Sign interrupted by removal", r.err, pkcs11.CKR_DEVICE_REMOVED)
		if took := r.at.Sub(pulled); took > delay/2 {
			t.Errorf("C_Sign returned %v after the removal, want well before the %v delay", took, delay)
		}
	case <-time.After(hangGuard):
		t.Fatal("C_Sign did not return after the token was removed")
	}

	// While the token is out.
	if slots, err := e.ctx.GetSlotList(true); err != nil || len(slots) != 0 {
		t.Errorf("C_GetSlotList(true) while removed = %v, %v; want no slots", slots, err)
	}
	if slots, err := e.ctx.GetSlotList(false); err != nil || !contains(slots, e.slot) {
		t.Errorf("C_GetSlotList(false) while removed = %v, %v; want slot %d listed", slots, err, e.slot)
	}
	if si, err := e.ctx.GetSlotInfo(e.slot); err != nil || si.Flags&pkcs11.CKF_TOKEN_PRESENT != 0 {
		t.Errorf("C_GetSlotInfo while removed: flags %#x, err %v; want CKF_TOKEN_PRESENT clear", si.Flags, err)
	}
	_, err := e.ctx.GetTokenInfo(e.slot)
	checkRV(t, "C_GetTokenInfo while removed", err, pkcs11.CKR_TOKEN_NOT_PRESENT)
	_, err = e.ctx.OpenSession(e.slot, pkcs11.CKF_SERIAL_SESSION)
	checkRV(t, "C_OpenSession while removed", err, pkcs11.CKR_TOKEN_NOT_PRESENT)
	_, err = e.ctx.GetSessionInfo(sh)
	checkRV(t, "old session while removed", err, pkcs11.CKR_DEVICE_REMOVED)

	// Re-inserted: old sessions stay dead, new ones work and need a login
	// (SoftHSM would answer CKR_USER_ALREADY_LOGGED_IN if the removal had
	// not logged the user out).
	// The new session is opened first on purpose: with a target that
	// reuses handle numbers (SoftHSM 2.6 does not, many real tokens do)
	// only the module's own bookkeeping keeps the old handle away from it.
	e.set(t, Control{Present: true, Log: log})
	sh2 := e.open(t)
	if sh2 == sh {
		t.Errorf("new session reuses the old handle %d", sh)
	}
	_, err = e.ctx.GetSessionInfo(sh)
	checkRV(t, "old session after re-insertion", err, pkcs11.CKR_SESSION_HANDLE_INVALID)
	_, err = e.ctx.Sign(sh, testMessage)
	checkRV(t, "C_Sign on old session after re-insertion", err, pkcs11.CKR_SESSION_HANDLE_INVALID)
	e.login(t, sh2)
	sig, err := e.sign(sh2, e.privateKey(t, sh2))
	if err != nil {
		t.Fatalf("signing after re-insertion: %v", err)
	}
	e.verify(t, sig)
}

func contains(slots []uint, slot uint) bool {
	for _, s := range slots {
		if s == slot {
			return true
		}
	}
	return false
}

// TestDelayedSignsRunConcurrently shows that the signing delay holds no
// module-wide lock: two delayed signatures on two sessions overlap.
func TestDelayedSignsRunConcurrently(t *testing.T) {
	e, log := begin(t)
	const delay = 1500 * time.Millisecond
	e.set(t, Control{Present: true, Log: log, SignDelay: delay})
	sessions := []pkcs11.SessionHandle{e.open(t), e.open(t)}
	e.login(t, sessions[0]) // the login is token-wide
	key := e.privateKey(t, sessions[0])

	start := time.Now()
	sigs := make([][]byte, len(sessions))
	errs := make([]error, len(sessions))
	var wg sync.WaitGroup
	for i, sh := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sigs[i], errs[i] = e.sign(sh, key)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for i := range sessions {
		if errs[i] != nil {
			t.Fatalf("signature %d: %v", i, errs[i])
		}
		e.verify(t, sigs[i])
	}
	if took < delay {
		t.Errorf("signing took %v, shorter than the %v delay", took, delay)
	}
	if took >= 2*delay-100*time.Millisecond {
		t.Errorf("two delayed signatures took %v: they were serialised", took)
	}
}

func TestAlwaysAuthenticate(t *testing.T) {
	e, log := begin(t)
	sh := e.open(t)
	e.login(t, sh)
	key := e.privateKey(t, sh)
	alwaysAuth := func() []byte {
		t.Helper()
		attrs, err := e.ctx.GetAttributeValue(sh, key, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, nil),
		})
		if err != nil {
			t.Fatalf("C_GetAttributeValue: %v", err)
		}
		return attrs[0].Value
	}
	if v := alwaysAuth(); !bytes.Equal(v, []byte{0}) {
		t.Fatalf("SoftHSM itself: CKA_ALWAYS_AUTHENTICATE = %v, want false", v)
	}

	e.set(t, Control{Present: true, Log: log, PIN: userPIN, AlwaysAuth: true, MaxTries: 3, Epoch: 2000})
	if v := alwaysAuth(); !bytes.Equal(v, []byte{1}) {
		t.Errorf("always_auth=1: CKA_ALWAYS_AUTHENTICATE = %v, want true", v)
	}
	contextLogin := func(pin string) error {
		return e.ctx.Login(sh, pkcs11.CKU_CONTEXT_SPECIFIC, pin)
	}
	checkRV(t, "context login without an operation", contextLogin(userPIN), pkcs11.CKR_OPERATION_NOT_INITIALIZED)

	_, err := e.sign(sh, key)
	checkRV(t, "C_Sign without context login", err, pkcs11.CKR_USER_NOT_LOGGED_IN)

	// The refused C_Sign ended the operation, so a new one can start.
	if err := e.ctx.SignInit(sh, signMech(), key); err != nil {
		t.Fatalf("C_SignInit after refused C_Sign: %v", err)
	}
	checkRV(t, "context login with wrong PIN", contextLogin(wrongPIN), pkcs11.CKR_PIN_INCORRECT)
	if f := e.tokenFlags(t) & pinFlags; f != pkcs11.CKF_USER_PIN_COUNT_LOW {
		t.Errorf("wrong context PIN not counted: PIN flags %#x, want COUNT_LOW", f)
	}
	checkRV(t, "context login", contextLogin(userPIN), pkcs11.CKR_OK)
	if f := e.tokenFlags(t) & pinFlags; f != 0 {
		t.Errorf("right context PIN did not reset the counter: PIN flags %#x", f)
	}
	sig, err := e.ctx.Sign(sh, testMessage)
	if err != nil {
		t.Fatalf("C_Sign after context login: %v", err)
	}
	e.verify(t, sig)

	// The authorisation was used up by that signature.
	_, err = e.sign(sh, key)
	checkRV(t, "second C_Sign without a new context login", err, pkcs11.CKR_USER_NOT_LOGGED_IN)
}

func TestPinpad(t *testing.T) {
	e, log := begin(t)
	sh := e.open(t)
	if f := e.tokenFlags(t); f&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH != 0 {
		t.Fatalf("SoftHSM itself claims a protected authentication path (flags %#x)", f)
	}
	// miekg passes a NULL PIN for "".
	if err := e.ctx.Login(sh, pkcs11.CKU_USER, ""); err == nil {
		t.Fatal("NULL-PIN login succeeded without pinpad emulation")
	}

	e.set(t, Control{Present: true, Log: log, PIN: userPIN, Pinpad: true, AlwaysAuth: true})
	if f := e.tokenFlags(t); f&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH == 0 {
		t.Errorf("pinpad=1: token flags %#x lack CKF_PROTECTED_AUTHENTICATION_PATH", f)
	}
	checkRV(t, "NULL-PIN user login on pinpad", e.ctx.Login(sh, pkcs11.CKU_USER, ""), pkcs11.CKR_OK)
	if s := e.sessionState(t, sh); s != pkcs11.CKS_RW_USER_FUNCTIONS {
		t.Errorf("after pinpad login: session state %d, want CKS_RW_USER_FUNCTIONS", s)
	}
	key := e.privateKey(t, sh)
	if err := e.ctx.SignInit(sh, signMech(), key); err != nil {
		t.Fatal(err)
	}
	checkRV(t, "NULL-PIN context login on pinpad", e.ctx.Login(sh, pkcs11.CKU_CONTEXT_SPECIFIC, ""), pkcs11.CKR_OK)
	sig, err := e.ctx.Sign(sh, testMessage)
	if err != nil {
		t.Fatalf("C_Sign after pinpad context login: %v", err)
	}
	e.verify(t, sig)
}

// TestModuleCopyIsIndependent loads a copy of the module under another name:
// it reads its own control file, and initialising it although SoftHSM is
// already initialised in this process works.
func TestModuleCopyIsIndependent(t *testing.T) {
	e, log := begin(t)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(e.so)
	if err != nil {
		t.Fatal(err)
	}
	copySO := filepath.Join(dir, "faultp11-copy.so")
	if err := os.WriteFile(copySO, data, 0o755); err != nil {
		t.Fatal(err)
	}
	copyLog := filepath.Join(dir, "copy.log")
	copyCtl := Control{Present: true, Log: copyLog, Fail: map[string]uint{"C_GetTokenInfo": pkcs11.CKR_DEVICE_ERROR}}
	if err := copyCtl.Write(ControlPath(copySO)); err != nil {
		t.Fatal(err)
	}
	other := pkcs11.New(copySO)
	if other == nil {
		t.Fatalf("cannot load %s", copySO)
	}
	// Never finalised: that would finalise the shared SoftHSM instance.
	checkRV(t, "C_Initialize of the copy", other.Initialize(), pkcs11.CKR_OK)
	_, err = other.GetTokenInfo(e.slot)
	checkRV(t, "copy: C_GetTokenInfo", err, pkcs11.CKR_DEVICE_ERROR)
	_, err = e.ctx.GetTokenInfo(e.slot)
	checkRV(t, "original: C_GetTokenInfo", err, pkcs11.CKR_OK)
	if n := counts(t, copyLog)["C_GetTokenInfo"]; n != 1 {
		t.Errorf("copy log: %d C_GetTokenInfo, want 1", n)
	}
	if n := counts(t, log)["C_GetTokenInfo"]; n != 1 {
		t.Errorf("original log: %d C_GetTokenInfo, want 1", n)
	}
}

// ---- Slot events -------------------------------------------------------

// buildDriver compiles testdata/waitdrv.c, which prints the exact CK_RV of
// C_WaitForSlotEvent (miekg drops it).
func buildDriver(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "waitdrv.c"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "waitdrv")
	cc := strings.Fields(os.Getenv("CC"))
	if len(cc) == 0 {
		cc = []string{"cc"}
	}
	args := append(append([]string{}, cc[1:]...), "-O2", "-Wall", "-o", bin, src, "-ldl", "-lpthread")
	if out, err := exec.Command(cc[0], args...).CombinedOutput(); err != nil {
		t.Fatalf("building the wait driver: %v\n%s", err, out)
	}
	return bin
}

type waitResult struct {
	rv   uint
	slot uint
}

// startDriver runs the wait driver in the given mode; the returned function
// waits for it and parses its report.
func startDriver(t *testing.T, bin, so, mode string, env ...string) func() waitResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	cmd := exec.CommandContext(ctx, bin, so, mode)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() waitResult {
		t.Helper()
		defer cancel()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("wait driver (%s): %v (timed out: %v)\nstdout: %s\nstderr: %s",
				mode, err, ctx.Err() != nil, stdout.Bytes(), stderr.Bytes())
		}
		var r waitResult
		if _, err := fmt.Sscanf(stdout.String(), "rv=0x%x slot=%d", &r.rv, &r.slot); err != nil {
			t.Fatalf("wait driver output %q: %v", stdout.String(), err)
		}
		return r
	}
}

func TestWaitForSlotEvent(t *testing.T) {
	bin := buildDriver(t)

	t.Run("not supported without wait_events", func(t *testing.T) {
		e, _ := begin(t)
		r := startDriver(t, bin, e.so, "noblock")()
		if r.rv != pkcs11.CKR_FUNCTION_NOT_SUPPORTED {
			t.Errorf("rv = %s, want CKR_FUNCTION_NOT_SUPPORTED", rvName(r.rv))
		}
	})

	t.Run("FAULTP11_CONTROL overrides the control path", func(t *testing.T) {
		e, log := begin(t)
		e.set(t, Control{Present: true, Log: log, WaitEvents: true})
		alt := filepath.Join(t.TempDir(), "alt.conf")
		if err := (Control{Present: true}).Write(alt); err != nil {
			t.Fatal(err)
		}
		r := startDriver(t, bin, e.so, "noblock", "FAULTP11_CONTROL="+alt)()
		if r.rv != pkcs11.CKR_FUNCTION_NOT_SUPPORTED {
			t.Errorf("rv = %s, want CKR_FUNCTION_NOT_SUPPORTED from the alternative control file", rvName(r.rv))
		}
	})

	t.Run("no event without blocking", func(t *testing.T) {
		e, log := begin(t)
		e.set(t, Control{Present: true, Log: log, WaitEvents: true})
		r := startDriver(t, bin, e.so, "noblock")()
		if r.rv != pkcs11.CKR_NO_EVENT {
			t.Errorf("rv = %s, want CKR_NO_EVENT", rvName(r.rv))
		}
	})

	t.Run("blocking wait returns on removal", func(t *testing.T) {
		e, log := begin(t)
		ctl := Control{Present: true, Log: log, WaitEvents: true}
		e.set(t, ctl)
		wait := startDriver(t, bin, e.so, "block")
		waitFor(t, "the driver to enter C_WaitForSlotEvent", func() bool {
			return counts(t, log)["C_WaitForSlotEvent"] >= 1
		})
		ctl.Present = false
		e.set(t, ctl)
		r := wait()
		if r.rv != pkcs11.CKR_OK {
			t.Fatalf("rv = %s, want CKR_OK", rvName(r.rv))
		}
		first := firstSlot(t, e)
		if r.slot != first {
			t.Errorf("event slot %d, want the first slot %d", r.slot, first)
		}
	})

	t.Run("finalize releases a blocked wait", func(t *testing.T) {
		e, log := begin(t)
		e.set(t, Control{Present: true, Log: log, WaitEvents: true})
		r := startDriver(t, bin, e.so, "finalize")()
		if r.rv != pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED {
			t.Errorf("rv = %s, want CKR_CRYPTOKI_NOT_INITIALIZED", rvName(r.rv))
		}
	})

	// In this process, through miekg: its channel carries only the slot
	// ID, which stays 0 unless the module reported an event.
	t.Run("in process", func(t *testing.T) {
		e, log := begin(t)
		first := firstSlot(t, e)
		if first == 0 {
			t.Fatal("the first slot has ID 0, so miekg's result cannot tell an event from an error")
		}
		ctl := Control{Present: true, Log: log, WaitEvents: true}
		e.set(t, ctl)
		nonBlocking := func() uint {
			t.Helper()
			select {
			case ev := <-e.ctx.WaitForSlotEvent(pkcs11.CKF_DONT_BLOCK):
				return ev.SlotID
			case <-time.After(hangGuard):
				t.Fatal("non-blocking C_WaitForSlotEvent blocked")
				return 0
			}
		}
		nonBlocking() // drain a change earlier tests may have left pending

		ch := e.ctx.WaitForSlotEvent(0)
		waitFor(t, "C_WaitForSlotEvent to block", func() bool {
			return counts(t, log)["C_WaitForSlotEvent"] >= 2
		})
		ctl.Present = false
		e.set(t, ctl)
		select {
		case ev := <-ch:
			if ev.SlotID != first {
				t.Errorf("removal event for slot %d, want %d", ev.SlotID, first)
			}
		case <-time.After(hangGuard):
			t.Fatal("C_WaitForSlotEvent did not return after the token was removed")
		}

		ctl.Present = true
		e.set(t, ctl)
		if got := nonBlocking(); got != first {
			t.Errorf("pending insertion: slot %d, want %d", got, first)
		}
		if got := nonBlocking(); got != 0 {
			t.Errorf("no pending change: slot %d, want none", got)
		}
	})
}

func firstSlot(t *testing.T, e *testEnv) uint {
	t.Helper()
	slots, err := e.ctx.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList(false) = %v, %v", slots, err)
	}
	return slots[0]
}
