// Package installer holds what IT deploys: kyso's start with the user's
// desktop session (and, for packaging, the files that registration
// consists of), the server-mode system service, and the policy kit.
//
// The desktop agent runs per user, never as a system service: a Windows
// service lives in session 0 and a system unit outside any desktop
// session, where there is no tray, no dialog and no access to the user's
// smart cards. So for the desktop "installing the service" means an
// autostart entry for `kyso run`:
//
//   - Linux and the BSDs: a systemd user unit started with
//     graphical-session.target, plus an XDG autostart entry for sessions
//     that are not managed by systemd;
//   - Windows: the "kyso" value of the Run key, under HKCU for one user or
//     HKLM for every user of the machine.
//
// github.com/kardianos/service is not used for that: its user unit says
// WantedBy=multi-user.target, a target a user manager never reaches, so the
// agent would never start; the templates here are kyso's own. The one true
// system service is the server mode (SystemService: `kyso serve --headless
// --unattended` with an HSM), which has no user to ask.
package installer

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
)

// Scope is who the autostart is for.
type Scope int

const (
	// ScopeUser starts the agent in the current user's sessions only and
	// needs no administrator rights. It is the zero value.
	ScopeUser Scope = iota
	// ScopeAllUsers starts the agent in every user's sessions; writing the
	// machine-wide entries needs administrator rights (root, or an elevated
	// process on Windows).
	ScopeAllUsers
)

// String names the scope for logs and messages.
func (s Scope) String() string {
	switch s {
	case ScopeUser:
		return "user"
	case ScopeAllUsers:
		return "all-users"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// Autostart registers `kyso run` to start in each desktop session.
type Autostart struct {
	// Exe is the absolute path of the kyso binary the entries run. It is
	// written into the entries as given, without checking that the file
	// exists, so that packaging can describe a binary it has not installed
	// yet.
	Exe string
	// Scope says whose sessions start the agent.
	Scope Scope
	// Root prefixes every system path (tests, packaging into a staging
	// directory); "" is /. User paths come from XDG_CONFIG_HOME / HOME
	// (os.UserConfigDir) as usual, and the Windows registry ignores Root.
	Root string
}

// Status is what Autostart.Status found on this machine.
type Status struct {
	// Files lists every file Install writes, in the order it writes them,
	// whether or not it is there.
	Files []FileStatus
	// Systemd is what `systemctl --user is-active kyso.service` says
	// ("active", "inactive", "failed", …), or "unavailable: <why>" when
	// there is no systemctl, no reachable user manager, or the files were
	// looked for under a staging Root. It is "" on Windows, which has no
	// systemd.
	Systemd string
}

// Installed reports whether every file is present and current: the state
// Install leaves behind.
func (s Status) Installed() bool { return allCurrent(s.Files) }

// allCurrent reports whether there are files and every one is present and
// current.
func allCurrent(files []FileStatus) bool {
	if len(files) == 0 {
		return false
	}
	for _, f := range files {
		if !f.Present || !f.Current {
			return false
		}
	}
	return true
}

// FileStatus is the state of one of the files Install writes.
type FileStatus struct {
	// Path is where the file is (on Windows, the registry value's full
	// name, e.g. HKEY_CURRENT_USER\…\Run\kyso).
	Path string
	// Present says the file (or symbolic link, or registry value) exists.
	Present bool
	// Current says its content equals what Install writes, so an entry left
	// by an older kyso, or edited by hand, is not current.
	Current bool
}

// FileError reports the file an operation failed on. Path is always the
// entry's own path, never a temporary file next to it, so that a message
// can tell the user exactly what to fix (errors.Is(err, fs.ErrPermission)
// tells a missing administrator right).
type FileError struct {
	// Op is "read", "write", "remove", or "restore" when Install could not
	// put back a file after a later one failed.
	Op string
	// Path is the entry's path (on Windows, the Run value's full name).
	Path string
	// Err is the underlying error.
	Err error
}

// Error says what failed on which file.
func (e *FileError) Error() string {
	return "installer: " + e.Op + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// ErrBadExe is wrapped by the errors about an Exe that cannot be written
// into the entries: empty, relative, or holding characters the formats
// cannot carry.
var ErrBadExe = errors.New("installer: unusable program path")

// ErrNoUserManager is wrapped by Start and Stop when no systemd user manager
// can be reached: no systemctl, no systemd, a session without
// XDG_RUNTIME_DIR (su, ssh, a container). The remedy is to run `kyso run`
// in the desktop session itself.
var ErrNoUserManager = errors.New("installer: no systemd user manager reachable")

// entry is one thing Install writes: a regular file with content, or a
// symbolic link to target.
type entry struct {
	path    string
	content []byte
	target  string // non-empty for a symbolic link
}

// Entries returns the regular files Install would write, path → content
// (used by packaging too). The symbolic links that enable the systemd unit
// are in Links. On Windows the one entry is the Run value, keyed by its full
// registry name, with its content in .reg syntax.
func (a Autostart) Entries() (map[string][]byte, error) { return entryFiles(a.plan()) }

// Links returns the symbolic links Install would create, path → target.
// Targets are relative to the link's folder, so a tree staged under Root
// keeps working once it is installed at /. On Windows there are none.
func (a Autostart) Links() (map[string]string, error) { return entryLinks(a.plan()) }

// entryFiles returns the regular files among es, path → content, or the
// error plan returned with them.
func entryFiles(es []entry, err error) (map[string][]byte, error) {
	if err != nil {
		return nil, err
	}
	m := make(map[string][]byte)
	for _, e := range es {
		if e.target == "" {
			m[e.path] = e.content
		}
	}
	return m, nil
}

// entryLinks returns the symbolic links among es, path → target, or the
// error plan returned with them.
func entryLinks(es []entry, err error) (map[string]string, error) {
	if err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for _, e := range es {
		if e.target != "" {
			m[e.path] = e.target
		}
	}
	return m, nil
}

// checkExe rejects what no platform can start: an empty or relative path
// (the session starts the agent from an unknown working directory), and
// control characters, which no entry format can carry on one line.
func checkExe(exe string) error {
	if exe == "" {
		return fmt.Errorf("%w: empty", ErrBadExe)
	}
	if !filepath.IsAbs(exe) {
		return fmt.Errorf("%w: %q is not absolute", ErrBadExe, exe)
	}
	if i := strings.IndexFunc(exe, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%w: %q contains the control character %U", ErrBadExe, exe, []rune(exe[i:])[0])
	}
	return nil
}
