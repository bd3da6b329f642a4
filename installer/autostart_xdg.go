//go:build unix && !darwin

package installer

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	unitName    = "kyso.service"
	wantsDir    = "graphical-session.target.wants"
	desktopName = "kyso.desktop"
	// linkTarget is relative so that a tree staged under Root, or a
	// configuration folder that moves, still points at its own unit.
	linkTarget = "../" + unitName
	// statusTimeout bounds `systemctl [--user] is-active`: status must
	// answer even when a user bus exists but its manager hangs.
	statusTimeout = 3 * time.Second
	// reloadTimeout bounds the best-effort daemon-reload after Install and
	// Uninstall.
	reloadTimeout = 5 * time.Second
	// controlTimeout bounds `systemctl --user start|stop`, which waits for
	// the job to finish; the agent starts and stops in well under a second.
	controlTimeout = 30 * time.Second
)

// layout is where the files of one scope go.
type layout struct {
	unit, link, desktop string
	// unitOnSystem is the unit's path as the user manager sees it (without
	// Root), to recognise the absolute link `systemctl enable` writes.
	unitOnSystem string
	// dirMode is for the folders Install creates: the user's own are
	// private as the XDG base directory specification asks, the machine's
	// must be readable by every user.
	dirMode fs.FileMode
}

func (a Autostart) layout() (layout, error) {
	switch a.Scope {
	case ScopeUser:
		cfg, err := os.UserConfigDir()
		if err != nil {
			return layout{}, fmt.Errorf("installer: no per-user configuration folder: %w", err)
		}
		unit := filepath.Join(cfg, "systemd", "user", unitName)
		return layout{
			unit:         unit,
			link:         filepath.Join(cfg, "systemd", "user", wantsDir, unitName),
			desktop:      filepath.Join(cfg, "autostart", desktopName),
			unitOnSystem: unit,
			dirMode:      0o700,
		}, nil
	case ScopeAllUsers:
		// /etc/systemd/user is read by every user's manager; the unit is
		// enabled for all of them by the link in its .wants folder, the
		// way `systemctl --global enable` does it.
		return layout{
			unit:         filepath.Join(a.Root, "/etc/systemd/user", unitName),
			link:         filepath.Join(a.Root, "/etc/systemd/user", wantsDir, unitName),
			desktop:      filepath.Join(a.Root, "/etc/xdg/autostart", desktopName),
			unitOnSystem: filepath.Join("/etc/systemd/user", unitName),
			dirMode:      0o755,
		}, nil
	}
	return layout{}, fmt.Errorf("installer: unknown scope %d", int(a.Scope))
}

// plan lists the entries in the order Install writes them: the unit before
// the link that enables it, so a manager never sees a dangling link.
func (a Autostart) plan() ([]entry, error) {
	l, err := a.layout()
	if err != nil {
		return nil, err
	}
	if err := checkExe(a.Exe); err != nil {
		return nil, err
	}
	if err := checkUnixExe(a.Exe); err != nil {
		return nil, err
	}
	return []entry{
		{path: l.unit, content: unitFile(a.Exe)},
		{path: l.link, target: linkTarget},
		{path: l.desktop, content: desktopFile(a.Exe)},
	}, nil
}

// Install writes the systemd user unit, the link that enables it and the
// XDG autostart entry, and returns their paths. The link is written
// directly rather than through `systemctl enable`, so that installing works
// without a running user manager (from a package script, over ssh, in a
// staging Root). It is all or nothing: if one file cannot be written, those
// already written are put back as they were (removed, or their earlier
// content restored) along with the folders Install created.
//
// For ScopeUser, a reachable user manager that reads the unit's folder is
// then asked to reload, bounded by a timeout, so that `kyso service start`
// works at once; that step never fails the install. For ScopeAllUsers no
// manager is told: each user's manager reads /etc/systemd/user when it
// starts at login, and root's own manager is not the one that matters.
func (a Autostart) Install() ([]string, error) {
	l, err := a.layout()
	if err != nil {
		return nil, err
	}
	es, err := a.plan()
	if err != nil {
		return nil, err
	}
	paths, err := installEntries(es, l.dirMode)
	if err != nil {
		return nil, err
	}
	if a.Scope == ScopeUser {
		reloadUserManager(filepath.Dir(l.unit))
	}
	return paths, nil
}

// Uninstall removes the link, the unit and the XDG entry, and returns the
// paths it removed; files that are not there are fine. The link goes first
// so that no manager ever sees it dangling. A file it cannot remove stops
// it with a *FileError, and the paths removed until then are returned.
func (a Autostart) Uninstall() ([]string, error) {
	l, err := a.layout()
	if err != nil {
		return nil, err
	}
	removed, err := uninstallEntries(l.link, l.unit, l.desktop)
	if err != nil {
		return removed, err
	}
	if a.Scope == ScopeUser && len(removed) > 0 {
		reloadUserManager(filepath.Dir(l.unit))
	}
	return removed, nil
}

// Status reports which files exist and whether they are what Install
// writes for a.Exe, and the unit's state in the user manager. A link
// written by `systemctl enable` (absolute, to the same unit) counts as
// current too.
func (a Autostart) Status() (Status, error) {
	l, err := a.layout()
	if err != nil {
		return Status{}, err
	}
	es, err := a.plan()
	if err != nil {
		return Status{}, err
	}
	files, err := entriesStatus(es, l.unitOnSystem)
	if err != nil {
		return Status{}, err
	}
	return Status{Files: files, Systemd: a.systemdState()}, nil
}

// InstalledExe returns the program the installed unit starts, so that a
// status check run from another copy of kyso compares the files with what
// they were installed for. The error wraps fs.ErrNotExist when there is no
// unit.
func (a Autostart) InstalledExe() (string, error) {
	l, err := a.layout()
	if err != nil {
		return "", err
	}
	words, _, err := readExecStart(l.unit)
	if err != nil {
		return "", err
	}
	return words[0], nil
}

// Start asks the user manager to start kyso.service now. The error wraps
// ErrNoUserManager when there is none to ask.
func (a Autostart) Start() error { return control("start") }

// Stop asks the user manager to stop kyso.service. The error wraps
// ErrNoUserManager when there is none to ask; an agent started by hand
// (`kyso run`) is not the unit's and is left running.
func (a Autostart) Stop() error { return control("stop") }

func control(verb string) error {
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	if err := userManager(ctx); err != nil {
		return err
	}
	_, stderr, err := systemdUser.run(ctx, verb, unitName)
	if err != nil {
		return fmt.Errorf("installer: systemctl --user %s %s: %s", verb, unitName, systemdUser.reason(ctx, stderr, err))
	}
	return nil
}

// systemdState is what the user manager says of kyso.service.
func (a Autostart) systemdState() string {
	if a.Scope == ScopeAllUsers && a.Root != "" {
		return "unavailable: the files are under " + a.Root + ", not on this system"
	}
	return systemdUser.unitState(unitName)
}

// userManager returns nil when a systemd user manager answers, and an
// error wrapping ErrNoUserManager with the reason otherwise.
func userManager(ctx context.Context) error {
	stdout, stderr, err := systemdUser.run(ctx, "is-system-running")
	// Like is-active, is-system-running exits non-zero for "degraded" or
	// "starting" but prints the state; "offline" means no manager runs.
	if ctx.Err() == nil && stdout != "" && stdout != "offline" && stdout != "unknown" {
		return nil
	}
	if ctx.Err() == nil && stdout != "" {
		stderr = "the user manager is " + stdout
	}
	return fmt.Errorf("%w: %s", ErrNoUserManager, systemdUser.reason(ctx, stderr, err))
}

// reloadUserManager asks the user manager to re-read its units after dir
// changed, so that `kyso service start` finds a new unit at once. It is
// best effort and bounded: the files are right whether or not a manager
// runs, and a manager that starts later reads them anyway. A manager whose
// unit search path does not include dir (it was started with another
// XDG_CONFIG_HOME, as for the tests) is left alone, since reloading it
// would change nothing.
func reloadUserManager(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	if userManager(ctx) != nil {
		return
	}
	paths, _, err := systemdUser.run(ctx, "show", "--property=UnitPath", "--value")
	if err != nil {
		return
	}
	for _, p := range strings.Fields(paths) {
		if filepath.Clean(p) == filepath.Clean(dir) {
			_, _, _ = systemdUser.run(ctx, "daemon-reload")
			return
		}
	}
}
