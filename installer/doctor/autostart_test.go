package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/installer"
)

func TestAutostartFindings(t *testing.T) {
	stale := func(s installer.Scope) (installer.Status, error) {
		return installer.Status{Files: []installer.FileStatus{{Path: "/x", Present: true, Current: s == installer.ScopeAllUsers}}}, nil
	}
	unsupported := func(installer.Scope) (installer.Status, error) {
		return installer.Status{}, fmt.Errorf("installer: autostart on plan9: %w", errors.ErrUnsupported)
	}
	tests := []struct {
		name string
		fn   func(installer.Scope) (installer.Status, error)
		want string
	}{
		{"user", fixedAutostart(true, false), "autostart.installed:ok autostart.absent:info"},
		{"all users", fixedAutostart(false, true), "autostart.absent:info autostart.installed:ok"},
		{"neither", fixedAutostart(false, false), "autostart.absent:warning autostart.absent:info"},
		{"user entries outdated", stale, "autostart.stale:warning autostart.installed:ok"},
		{"unsupported", unsupported, "autostart.unknown:info autostart.unknown:info"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := isolated(t)
			cfg.Autostart = tc.fn
			rep := Run(context.Background(), cfg)
			render(t, rep)
			if got := strings.Join(ids(only(rep, "autostart.")), " "); got != tc.want {
				t.Errorf("findings %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAutostartFiles reads real entries: the all-users ones written by the
// installer under a staging root.
func TestAutostartFiles(t *testing.T) {
	root := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("XDG_RUNTIME_DIR", "")
	a := installer.Autostart{Exe: "/usr/bin/kyso", Scope: installer.ScopeAllUsers, Root: root}
	if _, err := a.Install(); errors.Is(err, errors.ErrUnsupported) {
		return // no autostart on this system; TestAutostartFindings covers the logic
	} else if err != nil {
		t.Fatal(err)
	}
	cfg := isolated(t)
	cfg.Autostart = nil
	cfg.Root = root
	cfg.Exe = "/usr/bin/kyso"
	rep := Run(context.Background(), cfg)
	render(t, rep)
	if got := strings.Join(ids(only(rep, "autostart.")), " "); got != "autostart.absent:info autostart.installed:ok" {
		t.Errorf("findings %s", got)
	}
}
