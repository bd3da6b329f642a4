//go:build unix && !darwin

package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kyso-vn/kyso/internal/atomicfile"
)

const (
	unitName    = "kyso.service"
	wantsDir    = "graphical-session.target.wants"
	desktopName = "kyso.desktop"
	// linkTarget is relative so that a tree staged under Root, or a
	// configuration folder that moves, still points at its own unit.
	linkTarget = "../" + unitName
	// statusTimeout bounds `systemctl --user is-active`: status must answer
	// even when a user bus exists but its manager hangs.
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
	var done []saved
	for _, e := range es {
		s, err := put(e, l.dirMode)
		if err != nil {
			errs := []error{err}
			for i := len(done) - 1; i >= 0; i-- {
				if rerr := done[i].restore(); rerr != nil {
					errs = append(errs, rerr)
				}
			}
			return nil, errors.Join(errs...)
		}
		done = append(done, s)
	}
	paths := make([]string, len(es))
	for i, e := range es {
		paths[i] = e.path
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
	var removed []string
	for _, p := range []string{l.link, l.unit, l.desktop} {
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = append(removed, p)
		case absent(err):
		default:
			return removed, &FileError{Op: "remove", Path: p, Err: err}
		}
	}
	// Like `systemctl disable`, drop the .wants folder once it is empty;
	// one that still enables other units stays.
	os.Remove(filepath.Dir(l.link))
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
	var st Status
	for _, e := range es {
		f := FileStatus{Path: e.path}
		fi, err := os.Lstat(e.path)
		switch {
		case absent(err):
			st.Files = append(st.Files, f)
			continue
		case err != nil:
			return Status{}, &FileError{Op: "read", Path: e.path, Err: err}
		}
		f.Present = true
		switch {
		case e.target != "" && fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(e.path)
			if err != nil {
				return Status{}, &FileError{Op: "read", Path: e.path, Err: err}
			}
			f.Current = filepath.Clean(t) == filepath.Clean(e.target) || filepath.Clean(t) == l.unitOnSystem
		case e.target == "" && fi.Mode().IsRegular():
			b, err := os.ReadFile(e.path)
			if err != nil {
				return Status{}, &FileError{Op: "read", Path: e.path, Err: err}
			}
			f.Current = bytes.Equal(b, e.content)
		}
		st.Files = append(st.Files, f)
	}
	st.Systemd = a.systemdState()
	return st, nil
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
	b, err := os.ReadFile(l.unit)
	if err != nil {
		return "", &FileError{Op: "read", Path: l.unit, Err: err}
	}
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart=")
		if !ok {
			continue
		}
		var exe string
		if rest, ok := strings.CutPrefix(v, `"`); ok {
			exe, _, ok = strings.Cut(rest, `"`)
			if !ok {
				break
			}
		} else {
			exe, _, _ = strings.Cut(v, " ")
		}
		return strings.ReplaceAll(exe, "%%", "%"), nil
	}
	return "", &FileError{Op: "read", Path: l.unit, Err: errors.New("no ExecStart line naming the program")}
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
	_, stderr, err := systemctlUser(ctx, verb, unitName)
	if err != nil {
		return fmt.Errorf("installer: systemctl --user %s %s: %s", verb, unitName, reason(ctx, stderr, err))
	}
	return nil
}

// absent reports an error that means "nothing there": the file does not
// exist, or one of the folders on its path is a file.
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// saved is what a path held before Install changed it, so that a later
// failure can put it back.
type saved struct {
	path    string
	existed bool
	content []byte
	mode    fs.FileMode
	target  string   // set when it was a symbolic link
	made    []string // folders created for it, outermost first
}

// put writes one entry atomically (a reader sees the old file or the new
// one, never a part) and returns what the path held before.
func put(e entry, dirMode fs.FileMode) (saved, error) {
	s := saved{path: e.path}
	fi, err := os.Lstat(e.path)
	switch {
	case err == nil:
		s.existed = true
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			s.target, err = os.Readlink(e.path)
		case fi.Mode().IsRegular():
			s.mode = fi.Mode().Perm()
			s.content, err = os.ReadFile(e.path)
		default:
			return s, &FileError{Op: "write", Path: e.path, Err: errors.New("something that is not a file is in the way")}
		}
		if err != nil {
			return s, &FileError{Op: "read", Path: e.path, Err: err}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return s, &FileError{Op: "write", Path: e.path, Err: err}
	}
	s.made, err = mkdirs(filepath.Dir(e.path), dirMode)
	if err == nil {
		if e.target != "" {
			err = replaceLink(e.path, e.target)
		} else {
			err = atomicfile.WriteFile(e.path, e.content, 0o644)
		}
	}
	if err != nil {
		removeDirs(s.made)
		return s, &FileError{Op: "write", Path: e.path, Err: err}
	}
	return s, nil
}

// restore puts back what put replaced and removes the folders it created.
func (s saved) restore() error {
	var err error
	switch {
	case !s.existed:
		err = os.Remove(s.path)
	case s.target != "":
		err = replaceLink(s.path, s.target)
	default:
		err = atomicfile.WriteFile(s.path, s.content, s.mode)
	}
	removeDirs(s.made)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &FileError{Op: "restore", Path: s.path, Err: err}
	}
	return nil
}

// mkdirs is os.MkdirAll that returns the folders it created, outermost
// first, so that a failed install can remove exactly those.
func mkdirs(dir string, perm fs.FileMode) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, &fs.PathError{Op: "mkdir", Path: d, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], perm); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue // created meanwhile by someone else: not ours to remove
			}
			return made, err
		}
		made = append(made, missing[i])
	}
	return made, nil
}

// removeDirs removes folders innermost first; one that is not empty (some
// other file lives there now) stays.
func removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i])
	}
}

// replaceLink points path at target by renaming a fresh link over it, so
// that the old link (if any) is replaced in one step.
func replaceLink(path, target string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".link-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	if err := os.Remove(tmp); err != nil {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// systemdState is what the user manager says of kyso.service.
func (a Autostart) systemdState() string {
	if a.Scope == ScopeAllUsers && a.Root != "" {
		return "unavailable: the files are under " + a.Root + ", not on this system"
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	// is-active exits non-zero for every state but active, yet prints the
	// state; only a manager that cannot be reached prints nothing.
	stdout, stderr, err := systemctlUser(ctx, "is-active", unitName)
	if ctx.Err() == nil && stdout != "" {
		state, _, _ := strings.Cut(stdout, "\n")
		return state
	}
	return "unavailable: " + reason(ctx, stderr, err)
}

// userManager returns nil when a systemd user manager answers, and an
// error wrapping ErrNoUserManager with the reason otherwise.
func userManager(ctx context.Context) error {
	stdout, stderr, err := systemctlUser(ctx, "is-system-running")
	// Like is-active, is-system-running exits non-zero for "degraded" or
	// "starting" but prints the state; "offline" means no manager runs.
	if ctx.Err() == nil && stdout != "" && stdout != "offline" && stdout != "unknown" {
		return nil
	}
	if ctx.Err() == nil && stdout != "" {
		stderr = "the user manager is " + stdout
	}
	return fmt.Errorf("%w: %s", ErrNoUserManager, reason(ctx, stderr, err))
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
	paths, _, err := systemctlUser(ctx, "show", "--property=UnitPath", "--value")
	if err != nil {
		return
	}
	for _, p := range strings.Fields(paths) {
		if filepath.Clean(p) == filepath.Clean(dir) {
			_, _, _ = systemctlUser(ctx, "daemon-reload")
			return
		}
	}
}

// systemctlUser runs `systemctl --user args…` and returns its trimmed
// output. A missing systemctl is an error like any other.
func systemctlUser(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	path, err := exec.LookPath("systemctl")
	if err != nil {
		return "", "", err
	}
	cmd := exec.CommandContext(ctx, path, append([]string{"--user", "--no-pager"}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	// A child that keeps the pipes open must not hold us past the timeout.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	return strings.TrimSpace(o.String()), strings.TrimSpace(e.String()), err
}

// reason says in one line why a systemctl call did not give an answer.
func reason(ctx context.Context, stderr string, err error) string {
	switch {
	case ctx.Err() != nil:
		return "systemctl --user did not answer in time"
	case stderr != "":
		first, _, _ := strings.Cut(stderr, "\n")
		return first
	case err != nil:
		return err.Error()
	}
	return "no answer"
}
