//go:build unix && !darwin

package installer

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"time"
)

// manager is a systemd service manager as systemctl reaches it: the
// machine's, or (user) the calling user's.
type manager struct{ user bool }

// systemdUser is the calling user's manager (the machine's, systemdSystem,
// is the system service's).
var systemdUser = manager{user: true}

// command is how the manager is asked, for messages.
func (m manager) command() string {
	if m.user {
		return "systemctl --user"
	}
	return "systemctl"
}

// run runs `systemctl [--user] --no-pager args…` and returns its trimmed
// output. A missing systemctl is an error like any other.
func (m manager) run(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	path, err := exec.LookPath("systemctl")
	if err != nil {
		return "", "", err
	}
	flags := []string{"--no-pager"}
	if m.user {
		flags = []string{"--user", "--no-pager"}
	}
	cmd := exec.CommandContext(ctx, path, append(flags, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	// A child that keeps the pipes open must not hold us past the timeout.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	return strings.TrimSpace(o.String()), strings.TrimSpace(e.String()), err
}

// reason says in one line why a systemctl call did not give an answer.
func (m manager) reason(ctx context.Context, stderr string, err error) string {
	switch {
	case ctx.Err() != nil:
		return m.command() + " did not answer in time"
	case stderr != "":
		first, _, _ := strings.Cut(stderr, "\n")
		return first
	case err != nil:
		return err.Error()
	}
	return "no answer"
}

// unitState is what the manager says of unit ("active", "inactive",
// "failed", …), or "unavailable: <why>" when it gives no answer within
// statusTimeout.
func (m manager) unitState(unit string) string {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	// is-active exits non-zero for every state but active, yet prints the
	// state; only a manager that cannot be reached prints nothing.
	stdout, stderr, err := m.run(ctx, "is-active", unit)
	if ctx.Err() == nil && stdout != "" {
		state, _, _ := strings.Cut(stdout, "\n")
		return state
	}
	return "unavailable: " + m.reason(ctx, stderr, err)
}
