//go:build linux

package installer

import (
	"context"
	"fmt"
	"os"
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

// systemdSystem is the machine's service manager, which runs the system
// unit.
var systemdSystem = manager{}

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
func (s SystemService) Entries() (map[string][]byte, error) { return entryFiles(s.plan()) }

// Links returns the symbolic links Install would create, path → target
// (relative to the link's folder).
func (s SystemService) Links() (map[string]string, error) { return entryLinks(s.plan()) }

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
	paths, err := installEntries(es, 0o755)
	if err != nil {
		return nil, err
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
	removed, err := uninstallEntries(l.link, l.unit)
	if err != nil {
		return removed, err
	}
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
	files, err := entriesStatus(es, s.layout().unitOnSystem)
	if err != nil {
		return SystemStatus{}, err
	}
	return SystemStatus{Files: files, State: s.state()}, nil
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
	words, unit, err := readExecStart(s.layout().unit)
	if err != nil {
		return SystemService{}, err
	}
	out := SystemService{Name: s.Name, Exe: words[0], Root: s.Root}
	out.Args = cutWords(words[1:], "serve", "--headless", "--unattended", "--pin-file=%d/pin")
	if v, ok := unitValue(unit, "LoadCredential=pin:"); ok {
		out.PINFile = strings.ReplaceAll(v, "%%", "%")
	}
	if out.PINFile == DefaultPINFile() {
		out.PINFile = ""
	}
	return out, nil
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
	_, _, _ = systemdSystem.run(ctx, args...)
}

// state is what systemd says of the unit.
func (s SystemService) state() string {
	switch {
	case s.Root != "":
		return "unavailable: the files are under " + s.Root + ", not on this system"
	case !systemdBooted():
		return "unavailable: systemd is not running on this machine"
	}
	return systemdSystem.unitState(s.name() + ".service")
}
