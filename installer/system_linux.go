//go:build linux

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
	"time"
)

// systemUnitDir is where the administrator's system units live (units of
// packages go to /usr/lib/systemd/system; this one is written by a
// command, so it is the administrator's).
const systemUnitDir = "/etc/systemd/system"

// DefaultPINFile is where the administrator keeps the server's PIN,
// readable by root only; systemd passes it to the service as a
// credential.
func DefaultPINFile() string { return "/etc/kyso/pin" }

// systemLayout is where the files of the system service go.
type systemLayout struct {
	unit, link   string
	unitOnSystem string // the unit's path without Root, for links `systemctl enable` wrote
}

func (s SystemService) layout() systemLayout {
	unit := s.name() + ".service"
	return systemLayout{
		unit:         filepath.Join(s.Root, systemUnitDir, unit),
		link:         filepath.Join(s.Root, systemUnitDir, "multi-user.target.wants", unit),
		unitOnSystem: filepath.Join(systemUnitDir, unit),
	}
}

// systemUnitFile is the system unit. The choices, for an unattended
// signing server:
//
//   - DynamicUser=yes: the server runs as a user of its own, allocated
//     when it starts, never as root; its state (audit log, client secret,
//     configuration) lives in StateDirectory=, /var/lib/<name>, private to
//     that user. XDG_CONFIG_HOME points there, so every default path of
//     kyso serve (config.json, audit/, client-secret, templates.json)
//     falls in /var/lib/<name>/kyso.
//   - LoadCredential=pin:FILE: systemd reads the PIN file as root and hands
//     the service a private copy in its credentials directory (%d), so the
//     file on disk stays root's only (0600) and no other unit sees it.
//   - The sandbox: ProtectSystem=strict and ProtectHome (the file system
//     is read-only but for the state directory), PrivateTmp,
//     NoNewPrivileges, the kernel and control-group protections, and
//     only the address families a loopback server and its timestamp,
//     OCSP and network-HSM connections use. PrivateDevices is left off: a
//     USB HSM or its PKCS#11 module may need /dev. Site-specific needs (an
//     HSM client writing its own logs, SOFTHSM2_CONF) go in a drop-in
//     (systemctl edit), which Status does not count as a change.
//   - WantedBy=multi-user.target: a system unit starts with the machine,
//     without any login; After/Wants network-online for network HSMs.
//   - Restart=on-failure: a crash or a start-up failure (policy, port, a
//     bad PIN file) is retried; a refused PIN is not a failure (the
//     server keeps running and refuses requests), so it never restarts
//     into another try.
func systemUnitFile(s SystemService) []byte {
	name := s.name()
	var b strings.Builder
	b.WriteString(`# Written by "kyso service install --system"; "kyso service uninstall --system" removes it.
# kyso serve as a system service, only for a server signing with an HSM
# (docs/deployment.md). The desktop agent runs per user instead.
# Local changes belong in a drop-in: systemctl edit ` + name + `.service
[Unit]
Description=kyso — máy chủ ký số không người trực (unattended signing server)
Documentation=man:kyso(1)
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
ExecStart=` + unitQuote(s.Exe) + ` serve --headless --unattended --pin-file=%d/pin`)
	for _, a := range s.Args {
		b.WriteString(" " + execArg(a))
	}
	b.WriteString(`
LoadCredential=pin:` + unitPath(s.pinFile()) + `
Environment=XDG_CONFIG_HOME=%S/` + name + `
DynamicUser=yes
StateDirectory=` + name + `
StateDirectoryMode=0700
UMask=0077
Restart=on-failure
RestartSec=5
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictNamespaces=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
`)
	return []byte(b.String())
}

// execArg writes one argument of ExecStart (systemd.service(5), "Command
// lines"): % starts a specifier and $ a variable everywhere, so both are
// doubled; a backslash and a double quote are escaped; a word with blanks
// or quotes, an empty one, and a lone ";" (which would separate commands)
// are double-quoted.
func execArg(a string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	e := r.Replace(a)
	if a == "" || a == ";" || strings.ContainsAny(a, " \t'\"") {
		return `"` + e + `"`
	}
	return e
}

// unitPath writes a path as a unit setting's value: % doubled. Blanks were
// refused (checkPINFile).
func unitPath(p string) string { return strings.ReplaceAll(p, "%", "%%") }

// checkPINFile rejects a PIN file path LoadCredential= cannot take.
func checkPINFile(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%w: the PIN file %q is not an absolute path", ErrBadServeArgs, p)
	}
	if strings.ContainsFunc(p, func(r rune) bool { return r == ' ' || r == '\t' || r < 0x20 || r == 0x7f || r == ':' }) {
		return fmt.Errorf("%w: the PIN file %q contains a blank, a colon or a control character", ErrBadServeArgs, p)
	}
	return nil
}

// plan lists the entries in the order Install writes them: the unit
// before the link that enables it.
func (s SystemService) plan() ([]entry, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := checkUnixExe(s.Exe); err != nil {
		return nil, err
	}
	if err := checkPINFile(s.pinFile()); err != nil {
		return nil, err
	}
	l := s.layout()
	return []entry{
		{path: l.unit, content: systemUnitFile(s)},
		{path: l.link, target: "../" + filepath.Base(l.unit)},
	}, nil
}

// Entries returns the regular files Install would write, path → content
// (packaging too); the enabling link is in Links.
func (s SystemService) Entries() (map[string][]byte, error) {
	es, err := s.plan()
	if err != nil {
		return nil, err
	}
	m := map[string][]byte{}
	for _, e := range es {
		if e.target == "" {
			m[e.path] = e.content
		}
	}
	return m, nil
}

// Links returns the symbolic links Install would create, path → target
// (relative to the link's folder).
func (s SystemService) Links() (map[string]string, error) {
	es, err := s.plan()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range es {
		if e.target != "" {
			m[e.path] = e.target
		}
	}
	return m, nil
}

// Install writes the unit and the link that enables it, all or nothing
// (a failure puts back what was there), and returns their paths. Writing
// under /etc needs root: the error is then a *FileError wrapping
// fs.ErrPermission, and nothing was written. With no Root, a running
// systemd is asked to reload its units (best effort, bounded). The
// service is not started: the PIN file and the machine policy come
// first.
func (s SystemService) Install() ([]string, error) {
	es, err := s.plan()
	if err != nil {
		return nil, err
	}
	var done []saved
	for _, e := range es {
		sv, err := put(e, 0o755)
		if err != nil {
			errs := []error{err}
			for i := len(done) - 1; i >= 0; i-- {
				if rerr := done[i].restore(); rerr != nil {
					errs = append(errs, rerr)
				}
			}
			return nil, errors.Join(errs...)
		}
		done = append(done, sv)
	}
	paths := make([]string, len(es))
	for i, e := range es {
		paths[i] = e.path
	}
	s.systemctl(reloadTimeout, "daemon-reload")
	return paths, nil
}

// Uninstall stops the service (with no Root, when systemd runs; best
// effort), removes the link and the unit, and returns the paths it
// removed; files that are not there are fine. A file it cannot remove
// stops it with a *FileError.
func (s SystemService) Uninstall() ([]string, error) {
	if err := s.checkName(); err != nil {
		return nil, err
	}
	l := s.layout()
	if _, err := os.Lstat(l.unit); err == nil {
		s.systemctl(controlTimeout, "stop", s.name()+".service")
	}
	var removed []string
	for _, p := range []string{l.link, l.unit} {
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = append(removed, p)
		case absent(err):
		default:
			return removed, &FileError{Op: "remove", Path: p, Err: err}
		}
	}
	// Like `systemctl disable`: the .wants folder goes once empty.
	os.Remove(filepath.Dir(l.link))
	if len(removed) > 0 {
		s.systemctl(reloadTimeout, "daemon-reload")
	}
	return removed, nil
}

// Status reports whether the unit and the link are there and what Install
// writes for s, and what systemd says of the unit. A link written by
// `systemctl enable` (absolute) counts as current; drop-ins do not
// matter.
func (s SystemService) Status() (SystemStatus, error) {
	es, err := s.plan()
	if err != nil {
		return SystemStatus{}, err
	}
	l := s.layout()
	var st SystemStatus
	for _, e := range es {
		f := FileStatus{Path: e.path}
		fi, err := os.Lstat(e.path)
		switch {
		case absent(err):
			st.Files = append(st.Files, f)
			continue
		case err != nil:
			return SystemStatus{}, &FileError{Op: "read", Path: e.path, Err: err}
		}
		f.Present = true
		switch {
		case e.target != "" && fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(e.path)
			if err != nil {
				return SystemStatus{}, &FileError{Op: "read", Path: e.path, Err: err}
			}
			f.Current = filepath.Clean(t) == filepath.Clean(e.target) || filepath.Clean(t) == l.unitOnSystem
		case e.target == "" && fi.Mode().IsRegular():
			b, err := os.ReadFile(e.path)
			if err != nil {
				return SystemStatus{}, &FileError{Op: "read", Path: e.path, Err: err}
			}
			f.Current = bytes.Equal(b, e.content)
		}
		st.Files = append(st.Files, f)
	}
	st.State = s.state()
	return st, nil
}

// Installed reads back the service the unit describes (program, flags,
// PIN file), so that a status check compares the unit with what it was
// installed for. The error wraps fs.ErrNotExist when there is no unit. A
// unit from another version or edited by hand may read back partly; its
// Status then says it is not current.
func (s SystemService) Installed() (SystemService, error) {
	if err := s.checkName(); err != nil {
		return SystemService{}, err
	}
	path := s.layout().unit
	b, err := os.ReadFile(path)
	if err != nil {
		return SystemService{}, &FileError{Op: "read", Path: path, Err: err}
	}
	out := SystemService{Name: s.Name, Root: s.Root}
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "LoadCredential=pin:"); ok {
			out.PINFile = strings.ReplaceAll(v, "%%", "%")
		}
		v, ok := strings.CutPrefix(line, "ExecStart=")
		if !ok {
			continue
		}
		words, err := splitExecLine(v)
		if err != nil || len(words) == 0 {
			return SystemService{}, &FileError{Op: "read", Path: path, Err: fmt.Errorf("ExecStart: %v", err)}
		}
		found = true
		out.Exe = words[0]
		rest := words[1:]
		fixed := []string{"serve", "--headless", "--unattended", "--pin-file=%d/pin"}
		if len(rest) >= len(fixed) && equalStrings(rest[:len(fixed)], fixed) {
			rest = rest[len(fixed):]
		}
		out.Args = rest
	}
	if !found {
		return SystemService{}, &FileError{Op: "read", Path: path, Err: errors.New("no ExecStart line naming the program")}
	}
	if out.PINFile == DefaultPINFile() {
		out.PINFile = ""
	}
	return out, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// splitExecLine undoes systemUnitFile's quoting of ExecStart: words split
// on blanks, double quotes around a word, backslash escapes, %% and $$
// for a literal % and $. Other specifiers (%d) are kept as written.
func splitExecLine(v string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case (c == '%' || c == '$') && i+1 < len(v) && v[i+1] == c:
			w.WriteByte(c)
			i++
			inWord = true
		case c == '\\' && i+1 < len(v):
			w.WriteByte(v[i+1])
			i++
			inWord = true
		case c == '"':
			quoted = !quoted
			inWord = true
		case (c == ' ' || c == '\t') && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unclosed quote")
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// systemdBooted reports whether systemd is this machine's service manager
// (sd_booted(3): the folder exists only then).
func systemdBooted() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// systemctl runs `systemctl args…` against the system manager, bounded by
// timeout, when there is one and no staging Root; best effort: the files
// are right either way.
func (s SystemService) systemctl(timeout time.Duration, args ...string) {
	if s.Root != "" || !systemdBooted() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, _, _ = runSystemctl(ctx, args...)
}

// state is what systemd says of the unit.
func (s SystemService) state() string {
	switch {
	case s.Root != "":
		return "unavailable: the files are under " + s.Root + ", not on this system"
	case !systemdBooted():
		return "unavailable: systemd is not running on this machine"
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	stdout, stderr, err := runSystemctl(ctx, "is-active", s.name()+".service")
	if ctx.Err() == nil && stdout != "" {
		state, _, _ := strings.Cut(stdout, "\n")
		return state
	}
	switch {
	case ctx.Err() != nil:
		return "unavailable: systemctl did not answer in time"
	case stderr != "":
		first, _, _ := strings.Cut(stderr, "\n")
		return "unavailable: " + first
	case err != nil:
		return "unavailable: " + err.Error()
	}
	return "unavailable: no answer"
}

// runSystemctl runs `systemctl --no-pager args…` and returns its trimmed
// output.
func runSystemctl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	path, err := exec.LookPath("systemctl")
	if err != nil {
		return "", "", err
	}
	cmd := exec.CommandContext(ctx, path, append([]string{"--no-pager"}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	return strings.TrimSpace(o.String()), strings.TrimSpace(e.String()), err
}
