package softhsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testSOPIN and testUserPIN are throw-away PINs for tokens in temporary
// directories.
const (
	testSOPIN   = "12345678"
	testUserPIN = "123456"
)

// preloadedLabel is the token TestMain creates before anything in the test
// binary loads the module, i.e. the supported order of events.
const preloadedLabel = "preloaded"

// processEnv is the Env the test process is pointed at. It is written once
// by TestMain before any test runs and only read afterwards.
var processEnv *Env

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain exists so that deferred cleanup runs before os.Exit.
func runMain(m *testing.M) int {
	if err := Available(); err != nil {
		fmt.Fprintln(os.Stderr, "softhsm tests need SoftHSM 2:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "kyso-softhsm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env, err := New(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.InitToken(ctx, preloadedLabel, testSOPIN, testUserPIN); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := env.Setenv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	processEnv = env
	return m.Run()
}

// newEnv creates an Env in a fresh temporary directory.
func newEnv(t *testing.T) *Env {
	t.Helper()
	env, err := New(t.TempDir())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return env
}

// testContext returns a context that ends with the test.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestModulePath(t *testing.T) {
	p, err := ModulePath()
	if err != nil {
		t.Fatalf("ModulePath: %v (the test machine must have softhsm2 installed)", err)
	}
	if filepath.Base(p) != "libsofthsm2.so" {
		t.Errorf("ModulePath = %q, want a libsofthsm2.so", p)
	}
	if _, err := UtilPath(); err != nil {
		t.Fatalf("UtilPath: %v", err)
	}
}

func TestNewWritesIsolatedConf(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	conf, err := os.ReadFile(env.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"directories.tokendir = " + env.TokenDir() + "\n",
		"objectstore.backend = file\n",
		"log.level = ERROR\n",
		"slots.removable = false\n",
	} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("softhsm2.conf lacks %q:\n%s", want, conf)
		}
	}
	st, err := os.Stat(env.TokenDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o700 {
		t.Errorf("token directory mode = %o, want 700", got)
	}
	if got, want := env.Environ(), []string{"SOFTHSM2_CONF=" + env.ConfPath}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("Environ() = %q, want %q", got, want)
	}
	if env.IsActive() {
		t.Errorf("IsActive() = true for an Env that was never Setenv'd")
	}
	if !processEnv.IsActive() {
		t.Errorf("IsActive() = false for the Env TestMain activated")
	}
}

func TestInitTokenAndLookup(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	env := newEnv(t)

	if err := env.InitToken(ctx, "Chữ ký số", testSOPIN, testUserPIN); err != nil {
		t.Fatalf("InitToken: %v", err)
	}
	tok, err := env.Token(ctx, "Chữ ký số")
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if tok.Label != "Chữ ký số" || len(tok.Serial) != 16 {
		t.Errorf("Token = %+v, want the UTF-8 label and a 16-digit serial", tok)
	}
	if err := env.InitToken(ctx, "Chữ ký số", testSOPIN, testUserPIN); err == nil {
		t.Errorf("InitToken with a duplicate label succeeded; lookups by label would be ambiguous")
	}

	// New on the same directory must keep the tokens: the demo relies on it.
	again, err := New(env.Dir)
	if err != nil {
		t.Fatal(err)
	}
	created, err := again.EnsureToken(ctx, "Chữ ký số", testSOPIN, testUserPIN)
	if err != nil || created {
		t.Errorf("EnsureToken on an existing token = %v, %v; want false, nil", created, err)
	}
	created, err = again.EnsureToken(ctx, "second", testSOPIN, testUserPIN)
	if err != nil || !created {
		t.Errorf("EnsureToken on a new label = %v, %v; want true, nil", created, err)
	}
	tokens, err := again.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 {
		t.Errorf("Tokens() = %+v, want 2 tokens", tokens)
	}
	if _, err := env.Token(ctx, "absent"); !errors.Is(err, ErrNoToken) {
		t.Errorf("Token(absent) error = %v, want ErrNoToken", err)
	}
	if ok, err := env.HasToken(ctx, "absent"); ok || err != nil {
		t.Errorf("HasToken(absent) = %v, %v; want false, nil", ok, err)
	}
}

func TestInitTokenRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	env := newEnv(t)
	tests := []struct {
		name, label, so, user string
	}{
		{"empty label", "", testSOPIN, testUserPIN},
		{"label over 32 bytes", strings.Repeat("ạ", 11), testSOPIN, testUserPIN},
		{"padded label", " kyso ", testSOPIN, testUserPIN},
		{"empty SO PIN", "kyso", "", testUserPIN},
		{"empty user PIN", "kyso", testSOPIN, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := env.InitToken(ctx, tt.label, tt.so, tt.user); err == nil {
				t.Errorf("InitToken(%q) succeeded", tt.label)
			}
		})
	}
	tokens, err := env.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 0 {
		t.Errorf("rejected calls left tokens behind: %+v", tokens)
	}
}

func TestTokensWithBrokenConf(t *testing.T) {
	t.Parallel()
	env := &Env{Dir: t.TempDir(), ConfPath: filepath.Join(t.TempDir(), "missing.conf")}
	if _, err := env.Tokens(testContext(t)); err == nil || !strings.Contains(err.Error(), "softhsm2-util") {
		t.Errorf("Tokens with a missing configuration: error = %v, want one naming softhsm2-util", err)
	}
}

func TestParseShowSlots(t *testing.T) {
	t.Parallel()
	const out = `Available slots:
Slot 332825210
    Slot info:
        Description:      SoftHSM slot ID 0x13d6827a
        Token present:    yes
    Token info:
        Manufacturer ID:  SoftHSM project
        Serial number:    b40b520413d6827a
        Initialized:      yes
        User PIN init.:   yes
        Label:            Ánh test                       
Slot 2
    Slot info:
        Description:      SoftHSM slot ID 0x2
        Token present:    yes
    Token info:
        Serial number:                    
        Initialized:      no
        Label:                                            
`
	tests := []struct {
		name string
		in   string
		want []Token
	}{
		{"initialised and free", out, []Token{{Slot: 332825210, Label: "Ánh test", Serial: "b40b520413d6827a"}}},
		{"no slots", "Available slots:\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseShowSlots([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parseShowSlots = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := parseShowSlots([]byte("Slot x\n")); err == nil {
		t.Errorf("parseShowSlots accepted a malformed slot header")
	}
}
