// Package systemdtest checks systemd units in tests with the real
// systemd-analyze.
package systemdtest

import (
	"os"
	"os/exec"
	"testing"
)

// Verify runs `systemd-analyze verify` on unit, as the user manager reads
// it when user is set, else as the system manager does. It checks every
// key and value and that ExecStart's program exists and is executable,
// which proves the quoting when the test points ExecStart at a real file.
// verify exits 0 on warnings (an unknown key, a value it ignores), so any
// output fails the test too.
//
// It is the one check that depends on the machine: images without
// systemd lack the tool, and then the test says so in its log instead of
// failing.
func Verify(t testing.TB, unit string, user bool) {
	t.Helper()
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze is not installed: %s was not verified by systemd", unit)
		return
	}
	args := []string{"verify", "--man=no", "--generators=no", unit}
	if user {
		args = append([]string{"--user"}, args...)
	}
	cmd := exec.Command(tool, args...)
	// A user-mode manager needs a runtime folder even to only load units.
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}
