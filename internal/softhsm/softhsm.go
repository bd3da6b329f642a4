// Package softhsm runs SoftHSM 2 in an isolated directory so that tests and
// the developer demo can exercise the PKCS#11 code paths of kyso without a
// physical USB token and without touching the system-wide token store
// (/var/lib/softhsm/tokens).
//
// # How SoftHSM picks up its configuration
//
// SoftHSM reads the SOFTHSM2_CONF environment variable, and scans the token
// directory named in that file, inside C_Initialize. A PKCS#11 module is
// initialised once per process: a second C_Initialize (from another
// pkcs11.Ctx for the same library, or from another package) returns
// CKR_CRYPTOKI_ALREADY_INITIALIZED and shares the first initialisation's
// state. Consequently, verified against SoftHSM 2.6 by this package's tests:
//
//   - Changing SOFTHSM2_CONF after the module has been initialised in the
//     process has no effect.
//   - A token created by softhsm2-util (a child process) after the current
//     process called C_Initialize is NOT visible to C_GetSlotList in the
//     current process. Only C_Finalize followed by C_Initialize rescans the
//     token directory, and C_Finalize would pull the module out from under
//     every other user in the process.
//   - C_InitToken on the free slot from inside the process makes the new
//     token visible immediately (keeping the free slot's ID for now) and a
//     new free slot appears. After the next C_Initialize in some process the
//     token moves to a slot ID derived from its serial number, so slot IDs
//     are not stable: always look tokens up by label (or serial).
//
// The helpers are therefore designed around one order of events: create the
// Env, create every token the process will need with InitToken or
// EnsureToken (these run softhsm2-util with SOFTHSM2_CONF set in the child
// only), then point the process at the Env (Setenv, or Environ for a child
// process) and only then load the PKCS#11 module.
//
// A typical TestMain:
//
//	func TestMain(m *testing.M) {
//		dir, _ := os.MkdirTemp("", "kyso-softhsm-")
//		env, err := softhsm.New(dir)
//		// handle err
//		err = env.InitToken(context.Background(), "test", "12345678", "123456")
//		// handle err
//		err = env.Setenv() // before anything loads libsofthsm2.so
//		// handle err
//		code := m.Run()
//		os.RemoveAll(dir)
//		os.Exit(code)
//	}
package softhsm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// ConfEnvVar is the environment variable SoftHSM 2 reads its configuration
// file path from.
const ConfEnvVar = "SOFTHSM2_CONF"

// UtilName is the command-line tool shipped with SoftHSM 2 that initialises
// tokens.
const UtilName = "softhsm2-util"

// maxLabelLen is the size of CK_TOKEN_INFO.label. softhsm2-util silently
// truncates longer labels, which would make later lookups by label fail.
const maxLabelLen = 32

// InstallHint tells a developer how to get SoftHSM 2 on the common
// distributions; it is appended to "not found" errors.
const InstallHint = "install SoftHSM 2 (Debian/Ubuntu: apt-get install softhsm2; Fedora: dnf install softhsm)"

// modulePaths lists where distributions install libsofthsm2.so, most common
// first. It is a function rather than a package-level slice so that nothing
// can modify the list at run time.
func modulePaths() []string {
	return []string{
		"/usr/lib/softhsm/libsofthsm2.so",                  // Debian, Ubuntu
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", // Debian multiarch
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so", // Fedora, RHEL
		"/usr/lib64/softhsm/libsofthsm2.so",
		"/usr/lib/pkcs11/libsofthsm2.so", // Arch
		"/usr/local/lib/softhsm/libsofthsm2.so",
		"/usr/local/lib/libsofthsm2.so",
		"/opt/homebrew/lib/softhsm/libsofthsm2.so", // macOS (Homebrew)
		"/usr/local/opt/softhsm/lib/softhsm/libsofthsm2.so",
	}
}

// ModulePath returns the path of the SoftHSM 2 PKCS#11 module found in the
// usual Debian, Fedora, Arch and Homebrew locations. The error names the
// package to install when none is present.
func ModulePath() (string, error) {
	for _, p := range modulePaths() {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("softhsm: libsofthsm2.so not found in %s: %s",
		strings.Join(modulePaths(), ", "), InstallHint)
}

// UtilPath returns the path of softhsm2-util on PATH.
func UtilPath() (string, error) {
	p, err := exec.LookPath(UtilName)
	if err != nil {
		return "", fmt.Errorf("softhsm: %s not found on PATH: %s: %w", UtilName, InstallHint, err)
	}
	return p, nil
}

// Available reports, as a nil error, whether both the SoftHSM module and
// softhsm2-util are installed.
func Available() error {
	if _, err := ModulePath(); err != nil {
		return err
	}
	_, err := UtilPath()
	return err
}

// Env is a SoftHSM 2 installation confined to one directory: a configuration
// file and a token directory of its own.
type Env struct {
	// Dir is the directory holding the configuration and the tokens.
	Dir string
	// ConfPath is the absolute path of the softhsm2.conf file; SoftHSM finds
	// it through the SOFTHSM2_CONF environment variable.
	ConfPath string
}

// Token describes an initialised token as reported by softhsm2-util.
type Token struct {
	// Slot is the slot ID softhsm2-util saw. SoftHSM derives it from the
	// serial number, but a token initialised in-process keeps the free
	// slot's ID until the next C_Initialize, so do not rely on it.
	Slot uint
	// Label is the token label without the PKCS#11 space padding.
	Label string
	// Serial is the token serial number (16 hex digits for SoftHSM).
	Serial string
}

// New prepares an isolated SoftHSM environment in dir: it creates dir and
// dir/tokens (mode 0700, since token files hold key material) and writes
// dir/softhsm2.conf. Calling New again on the same directory keeps the
// existing tokens, which is what lets the developer demo reuse its token.
func New(dir string) (*Env, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("softhsm: resolve %s: %w", dir, err)
	}
	tokenDir := filepath.Join(abs, "tokens")
	if err := os.MkdirAll(tokenDir, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm: create token directory: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; tighten it in
	// case it was created by something less careful.
	if err := os.Chmod(tokenDir, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm: restrict token directory: %w", err)
	}
	e := &Env{Dir: abs, ConfPath: filepath.Join(abs, "softhsm2.conf")}
	if err := atomicfile.WriteFile(e.ConfPath, []byte(e.conf()), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: write %s: %w", e.ConfPath, err)
	}
	return e, nil
}

// TokenDir returns the directory SoftHSM stores this environment's tokens in.
func (e *Env) TokenDir() string { return filepath.Join(e.Dir, "tokens") }

// conf renders softhsm2.conf. The file backend keeps every token object in
// plain files under TokenDir, so deleting Dir removes everything;
// slots.removable=false matches how kyso sees real tokens once plugged in.
func (e *Env) conf() string {
	return "# Generated by kyso internal/softhsm for development and tests only.\n" +
		"directories.tokendir = " + e.TokenDir() + "\n" +
		"objectstore.backend = file\n" +
		"log.level = ERROR\n" +
		"slots.removable = false\n"
}

// Environ returns the environment entries that point SoftHSM at this Env,
// for use in exec.Cmd.Env of a child process.
func (e *Env) Environ() []string {
	return []string{ConfEnvVar + "=" + e.ConfPath}
}

// Setenv points the current process at this Env by setting SOFTHSM2_CONF.
// It must run before anything in the process calls C_Initialize on the
// SoftHSM module: SoftHSM reads the variable only then, and the module is
// initialised once per process. Setenv mutates process-wide state, so call
// it from TestMain or main, never from a parallel test.
func (e *Env) Setenv() error {
	if err := os.Setenv(ConfEnvVar, e.ConfPath); err != nil {
		return fmt.Errorf("softhsm: set %s: %w", ConfEnvVar, err)
	}
	return nil
}

// IsActive reports whether SOFTHSM2_CONF in the current process names this
// Env. It says nothing about whether the module was initialised before the
// variable was set.
func (e *Env) IsActive() bool {
	return os.Getenv(ConfEnvVar) == e.ConfPath
}

// childEnv returns the current environment with SOFTHSM2_CONF replaced, so
// that softhsm2-util works on this Env whatever the parent process uses.
func (e *Env) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, ConfEnvVar+"=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, e.Environ()...)
}

// run executes softhsm2-util against this Env and returns its standard
// output.
func (e *Env) run(ctx context.Context, args ...string) ([]byte, error) {
	util, err := UtilPath()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, util, args...)
	cmd.Env = e.childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String() + " " + stdout.String())
		return nil, fmt.Errorf("%s: %w: %s", UtilName, err, msg)
	}
	return stdout.Bytes(), nil
}

// InitToken initialises a new token labelled label in the free slot, with
// the given security-officer and user PINs, by running softhsm2-util in a
// child process. It refuses a label that an existing token already has,
// because SoftHSM itself accepts duplicates and lookups by label would then
// be ambiguous.
//
// The PINs appear on the child's command line; that is acceptable only
// because SoftHSM environments are for development and tests.
//
// A process that has already initialised the SoftHSM module will not see the
// new token (see the package documentation); create tokens first.
func (e *Env) InitToken(ctx context.Context, label, soPIN, userPIN string) error {
	if err := validateLabel(label); err != nil {
		return fmt.Errorf("softhsm: init token %q: %w", label, err)
	}
	if soPIN == "" || userPIN == "" {
		return fmt.Errorf("softhsm: init token %q: SO PIN and user PIN must not be empty", label)
	}
	exists, err := e.HasToken(ctx, label)
	if err != nil {
		return fmt.Errorf("softhsm: init token %q: %w", label, err)
	}
	if exists {
		return fmt.Errorf("softhsm: init token %q: a token with this label already exists in %s", label, e.TokenDir())
	}
	if _, err := e.run(ctx, "--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", userPIN); err != nil {
		return fmt.Errorf("softhsm: init token %q: %w", label, err)
	}
	return nil
}

// EnsureToken initialises the token labelled label unless it already exists,
// and reports whether it created it. An existing token keeps its PINs and
// objects; the PIN arguments are only used for a new token.
func (e *Env) EnsureToken(ctx context.Context, label, soPIN, userPIN string) (created bool, err error) {
	exists, err := e.HasToken(ctx, label)
	if err != nil {
		return false, fmt.Errorf("softhsm: ensure token %q: %w", label, err)
	}
	if exists {
		return false, nil
	}
	if err := e.InitToken(ctx, label, soPIN, userPIN); err != nil {
		return false, err
	}
	return true, nil
}

// HasToken reports whether an initialised token labelled label exists in
// this Env.
func (e *Env) HasToken(ctx context.Context, label string) (bool, error) {
	_, err := e.Token(ctx, label)
	if errors.Is(err, ErrNoToken) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// ErrNoToken is returned by Token when no initialised token has the label.
var ErrNoToken = errors.New("softhsm: no such token")

// Token returns the initialised token labelled label. It fails with an error
// wrapping ErrNoToken when there is none, and with an error when several
// tokens share the label.
func (e *Env) Token(ctx context.Context, label string) (Token, error) {
	tokens, err := e.Tokens(ctx)
	if err != nil {
		return Token{}, err
	}
	var found []Token
	for _, t := range tokens {
		if t.Label == label {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return Token{}, fmt.Errorf("%w: %q in %s", ErrNoToken, label, e.TokenDir())
	case 1:
		return found[0], nil
	default:
		return Token{}, fmt.Errorf("softhsm: %d tokens labelled %q in %s", len(found), label, e.TokenDir())
	}
}

// Tokens lists the initialised tokens of this Env, as reported by
// "softhsm2-util --show-slots" in a child process. Because it runs in a
// child, it sees tokens the current process may not (see the package
// documentation).
func (e *Env) Tokens(ctx context.Context) ([]Token, error) {
	out, err := e.run(ctx, "--show-slots")
	if err != nil {
		return nil, fmt.Errorf("softhsm: list tokens: %w", err)
	}
	tokens, err := parseShowSlots(out)
	if err != nil {
		return nil, fmt.Errorf("softhsm: list tokens: %w", err)
	}
	return tokens, nil
}

// parseShowSlots extracts the initialised tokens from the output of
// "softhsm2-util --show-slots". The format is indented "Key: value" lines
// under a "Slot N" header; values are space padded as in CK_TOKEN_INFO.
func parseShowSlots(out []byte) ([]Token, error) {
	var (
		tokens      []Token
		cur         Token
		inSlot      bool
		initialized bool
	)
	flush := func() {
		if inSlot && initialized {
			tokens = append(tokens, cur)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Slot "); ok {
			flush()
			id, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parse slot header %q: %w", line, err)
			}
			cur, inSlot, initialized = Token{Slot: uint(id)}, true, false
			continue
		}
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !inSlot {
			continue
		}
		// Values are padded to the fixed CK_TOKEN_INFO field widths; labels
		// cannot meaningfully end in spaces for the same reason.
		value = strings.TrimSpace(value)
		switch key {
		case "Label":
			cur.Label = value
		case "Serial number":
			cur.Serial = value
		case "Initialized":
			initialized = value == "yes"
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	flush()
	return tokens, nil
}

// validateLabel rejects labels that would not round-trip through the
// 32-byte, space-padded CK_TOKEN_INFO.label field.
func validateLabel(label string) error {
	switch {
	case label == "":
		return errors.New("label must not be empty")
	case len(label) > maxLabelLen:
		return fmt.Errorf("label is %d bytes, PKCS#11 allows %d", len(label), maxLabelLen)
	case strings.TrimSpace(label) != label:
		return errors.New("label must not start or end with spaces")
	}
	return nil
}
