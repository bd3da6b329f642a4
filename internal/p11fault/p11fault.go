// Package p11fault builds and steers faultp11, a PKCS#11 module for tests that
// forwards every call to a real module (SoftHSM by default) and injects the
// faults real USB tokens produce but SoftHSM never does: PIN lockout, token
// removal (also in the middle of a signature), slot events, pinpad readers,
// always-authenticate keys and arbitrary error codes.
//
// The module is steered by a small control file that it re-reads on every
// PKCS#11 call, so a test rewrites the file (Control.Write) and the very next
// call sees the change. The file is, unless the environment variable
// FAULTP11_CONTROL names another one, the module's own path plus ".conf"
// (see ControlPath); a copy of the .so under another name therefore has its
// own control file and its own state.
//
// The module keeps its state (PIN counter, sessions, removal generation) in
// the process that loaded it, and PKCS#11 modules are initialised once per
// process, so tests load it once and only rewrite the control file.
package p11fault

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/atomicfile"
)

//go:embed csrc/faultp11.c
var source string

// Control is the content of a control file. Each field maps to one key; see
// the package documentation of the module source (csrc/faultp11.c) for the
// exact behaviour. The zero value describes a REMOVED token (Present false),
// which is rarely what a test wants to start from.
type Control struct {
	// Target is the PKCS#11 module to forward to ("target="). It is read
	// once, when the module first loads its target; empty means
	// $FAULTP11_TARGET or /usr/lib/softhsm/libsofthsm2.so.
	Target string
	// Log, if set, gets one line with the function name (e.g. "C_Login")
	// appended for every PKCS#11 call made through the module ("log=").
	Log string
	// Present is the presence of the token in every slot ("present=",
	// always written). Going from true to false closes all sessions in the
	// target (logging the user out); sessions opened before a removal stay
	// invalid after re-insertion.
	Present bool
	// PIN is the correct user PIN ("pin="), used by the pinpad and
	// always-authenticate emulations. It must not start or end with blanks.
	PIN string
	// MaxTries enables PIN lockout emulation after that many consecutive
	// wrong user PINs ("max_tries="); 0 disables it.
	MaxTries int
	// Epoch resets the PIN failure counter whenever its value changes
	// ("epoch=").
	Epoch int
	// SignDelay makes C_Sign/C_SignFinal (with an output buffer) wait this
	// long before signing, aborting with CKR_DEVICE_REMOVED if the token is
	// removed meanwhile ("sign_delay_ms=", rounded up to milliseconds).
	SignDelay time.Duration
	// AlwaysAuth marks private keys CKA_ALWAYS_AUTHENTICATE and requires a
	// CKU_CONTEXT_SPECIFIC login before each signature ("always_auth=1").
	AlwaysAuth bool
	// Pinpad advertises CKF_PROTECTED_AUTHENTICATION_PATH and accepts
	// C_Login with a NULL PIN, using PIN instead ("pinpad=1").
	Pinpad bool
	// WaitEvents makes C_WaitForSlotEvent report presence changes
	// ("wait_events=1"); otherwise it returns CKR_FUNCTION_NOT_SUPPORTED.
	WaitEvents bool
	// Fail maps a PKCS#11 function name (e.g. "C_Sign") to a CK_RV that the
	// function returns instead of being forwarded ("fail.C_Sign=0x6").
	Fail map[string]uint
}

// ControlPath returns the control file the module at soPath reads when
// FAULTP11_CONTROL is not set. The module resolves its own path with
// realpath, so soPath should be absolute and free of symlinks (Build returns
// such a path for a symlink-free dir).
func ControlPath(soPath string) string {
	return soPath + ".conf"
}

// Write atomically replaces the control file at path with c: the content
// goes to a temporary file in the same directory that is then renamed over
// path, so the module never reads a half-written file.
func (c Control) Write(path string) error {
	data, err := c.encode()
	if err != nil {
		return err
	}
	// Atomic, because the module re-reads the file on every call and must
	// never see half of it.
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("p11fault: write control: %w", err)
	}
	return nil
}

func (c Control) encode() ([]byte, error) {
	var b strings.Builder
	b.WriteString("# faultp11 control file, written by p11fault.Control.Write\n")
	put := func(key, value string) {
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	flag := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	// Values are single lines and the module trims blanks around them, so
	// anything else would be silently changed on the way.
	for name, v := range map[string]string{"Target": c.Target, "Log": c.Log, "PIN": c.PIN} {
		if strings.ContainsAny(v, "\r\n") || strings.TrimSpace(v) != v {
			return nil, fmt.Errorf("p11fault: control %s %q has line breaks or surrounding blanks", name, v)
		}
	}
	if c.MaxTries < 0 || c.SignDelay < 0 {
		return nil, errors.New("p11fault: control MaxTries and SignDelay must not be negative")
	}

	put("present", flag(c.Present))
	if c.Target != "" {
		put("target", c.Target)
	}
	if c.Log != "" {
		put("log", c.Log)
	}
	if c.PIN != "" {
		put("pin", c.PIN)
	}
	put("max_tries", strconv.Itoa(c.MaxTries))
	put("epoch", strconv.Itoa(c.Epoch))
	put("sign_delay_ms", strconv.FormatInt(int64((c.SignDelay+time.Millisecond-1)/time.Millisecond), 10))
	put("always_auth", flag(c.AlwaysAuth))
	put("pinpad", flag(c.Pinpad))
	put("wait_events", flag(c.WaitEvents))

	names := make([]string, 0, len(c.Fail))
	for name := range c.Fail {
		if !strings.HasPrefix(name, "C_") || strings.ContainsAny(name, "= \t\r\n") {
			return nil, fmt.Errorf("p11fault: control Fail key %q is not a PKCS#11 function name", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		put("fail."+name, fmt.Sprintf("%#x", c.Fail[name]))
	}
	return []byte(b.String()), nil
}

// Build writes the module source into dir and compiles it there with $CC
// (split on blanks, default "cc"), returning the absolute path of
// dir/faultp11.so. A failed compilation is returned with the compiler's
// output.
func Build(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("p11fault: build: %w", err)
	}
	src := filepath.Join(abs, "faultp11.c")
	// An absolute path matters: dlopen searches the library path for a
	// name without a slash, and the module derives its control file from
	// the path it was loaded from.
	so := filepath.Join(abs, "faultp11.so")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		return "", fmt.Errorf("p11fault: build: %w", err)
	}
	cc := strings.Fields(os.Getenv("CC"))
	if len(cc) == 0 {
		cc = []string{"cc"}
	}
	args := append(append([]string{}, cc[1:]...),
		"-shared", "-fPIC", "-O2", "-Wall", "-o", so, src, "-ldl", "-lpthread")
	out, err := exec.Command(cc[0], args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("p11fault: build: %s: %w\n%s", cc[0], err, out)
	}
	return so, nil
}

// CallCounts reads a log written by the module (Control.Log) and returns how
// many times each PKCS#11 function was called. A log that does not exist yet
// means no calls were made and yields an empty map.
func CallCounts(logPath string) (map[string]int, error) {
	counts := map[string]int{}
	data, err := os.ReadFile(logPath)
	if errors.Is(err, fs.ErrNotExist) {
		return counts, nil
	}
	if err != nil {
		return nil, fmt.Errorf("p11fault: call counts: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name := strings.TrimSpace(line); name != "" {
			counts[name]++
		}
	}
	return counts, nil
}

// Steering rewrites one module's control file for a sequence of tests.
// Every write starts a new epoch, so a PIN failure counter never leaks from
// one test to the next; every write logs calls to Log and reports slot
// events. It is safe for concurrent use.
type Steering struct {
	// Control is the control file (ControlPath of the module).
	Control string
	// Log receives one line per PKCS#11 call (Control.Log).
	Log string
	// PIN is the user PIN written when a Control names none.
	PIN string

	mu    sync.Mutex
	epoch int
}

// Write installs c with a fresh epoch, s.Log, slot events, and s.PIN when
// c names no PIN.
func (s *Steering) Write(c Control) error { return s.write(c, true) }

// Change installs c within a test, keeping the epoch so that the PIN
// failure counter carries on.
func (s *Steering) Change(c Control) error { return s.write(c, false) }

func (s *Steering) write(c Control, newEpoch bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if newEpoch {
		s.epoch++
	}
	c.Epoch = s.epoch
	c.Log = s.Log
	if c.PIN == "" {
		c.PIN = s.PIN
	}
	c.WaitEvents = true
	return c.Write(s.Control)
}

// Set installs c for one test with an empty call log, and restores a
// present, pass-through token when the test ends.
func (s *Steering) Set(t testing.TB, c Control) {
	t.Helper()
	if err := s.Write(c); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.Log, 0); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Write(Control{Present: true}); err != nil {
			t.Error(err)
		}
	})
}

// Calls returns how many times fn was called since the last Set.
func (s *Steering) Calls(t testing.TB, fn string) int {
	t.Helper()
	counts, err := CallCounts(s.Log)
	if err != nil {
		t.Fatal(err)
	}
	return counts[fn]
}
