//go:build unix && !darwin

package installer

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// unitFile is the systemd user unit. It is kyso's own template rather than
// kardianos/service's, whose user unit is WantedBy=multi-user.target, a
// target a user manager never reaches. graphical-session.target is the
// one a desktop session (GNOME, Plasma, …) starts once DISPLAY or
// WAYLAND_DISPLAY is in the manager's environment, which the tray and the
// dialogs need; PartOf stops the agent when the session ends, so a user
// manager that lingers does not keep an agent with no screen.
//
// Restart=on-failure brings the agent back after a crash; a second copy
// started by the XDG entry exits cleanly (the agent is single-instance),
// which is not a failure and so is not restarted.
func unitFile(exe string) []byte {
	return []byte(`# Written by "kyso service install"; "kyso service uninstall" removes it.
[Unit]
Description=kyso — tác tử ký số (digital signing agent)
PartOf=graphical-session.target
After=graphical-session.target

[Service]
ExecStart=` + unitQuote(exe) + ` run
Restart=on-failure
RestartSec=5

[Install]
WantedBy=graphical-session.target
`)
}

// desktopFile is the XDG autostart entry, for sessions that systemd does
// not manage (Xfce, MATE, LXQt, a bare window manager with an autostart
// runner). Choices that desktop-file-validate and the session managers
// care about:
//
//   - no Categories: they only place an entry in application menus, and an
//     autostart entry is not in any menu (the "Office;Security;" one might
//     reach for even draws a validator hint: Security wants Settings or
//     System beside it);
//   - no NoDisplay: some session settings (GNOME's Startup Applications)
//     hide NoDisplay entries, and the user should be able to see and
//     switch off what starts with their session;
//   - TryExec: once kyso is uninstalled, a leftover per-user entry is
//     skipped silently instead of failing at every login;
//   - StartupNotify=false: the agent opens no window when it starts, so
//     launch feedback would spin a busy cursor until it timed out;
//   - X-systemd-skip=true: where systemd manages the session, its
//     xdg-autostart-generator would turn this entry into a second unit
//     next to kyso.service, which already starts the agent there. Should a
//     session start both anyway, the agent is single-instance: the later
//     copy hands over to the running one and exits.
//
// Version is 1.0 because nothing newer is used and older validators reject
// versions they do not know.
func desktopFile(exe string) []byte {
	return []byte(`# Written by "kyso service install"; "kyso service uninstall" removes it.
[Desktop Entry]
Type=Application
Version=1.0
Name=kyso
Name[vi]=kyso
GenericName=Digital signing agent
GenericName[vi]=Tác tử ký số
Comment=Starts the kyso digital signing agent with your session
Comment[vi]=Khởi động tác tử ký số kyso cùng phiên làm việc
TryExec=` + desktopString(exe) + `
Exec=` + desktopString(desktopField(desktopArg(exe))) + ` run
Icon=kyso
Terminal=false
StartupNotify=false
X-GNOME-Autostart-enabled=true
X-systemd-skip=true
`)
}

// checkUnixExe rejects paths systemd refuses as an executable even when
// quoted ("Executable name contains special characters"): quotes and
// backslashes. Control characters are already out (checkExe). Both files
// are written together, so the path must suit both.
func checkUnixExe(exe string) error {
	if i := strings.IndexAny(exe, `"'\`); i >= 0 {
		return fmt.Errorf("%w: systemd cannot start %q, which contains %s", ErrBadExe, exe, exe[i:i+1])
	}
	return nil
}

// unitQuote writes exe as the first word of ExecStart. systemd splits the
// line on whitespace, so a path with spaces is double-quoted; % starts a
// specifier everywhere on the line, so it is doubled. $ is left alone:
// systemd expands variables in the arguments, not in the executable's path
// (systemd-analyze verify finds "/a$b/kyso" as written).
func unitQuote(exe string) string {
	exe = strings.ReplaceAll(exe, "%", "%%")
	if strings.ContainsAny(exe, " ") {
		return `"` + exe + `"`
	}
	return exe
}

// readExecStart reads the unit file at path and returns the words of its
// ExecStart= line (the program, then its arguments, unquoted as
// splitExecLine does) and the unit's text, for other settings
// (unitValue). The error is a *FileError, wrapping fs.ErrNotExist when there
// is no unit.
func readExecStart(path string) (words []string, unit string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", &FileError{Op: "read", Path: path, Err: err}
	}
	unit = string(b)
	v, _ := unitValue(unit, "ExecStart=")
	words, err = splitExecLine(v)
	if err != nil {
		return nil, "", &FileError{Op: "read", Path: path, Err: fmt.Errorf("ExecStart: %w", err)}
	}
	if len(words) == 0 {
		return nil, "", &FileError{Op: "read", Path: path, Err: errors.New("no ExecStart line naming the program")}
	}
	return words, unit, nil
}

// unitValue returns what follows prefix (a key and "=", maybe the start of
// the value) on the last line of unit that starts with it, as systemd lets
// a later setting win.
func unitValue(unit, prefix string) (string, bool) {
	var value string
	found := false
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			value, found = v, true
		}
	}
	return value, found
}

// splitExecLine undoes the quoting of an ExecStart= line (unitQuote for the
// program, execArg for its arguments): words split on blanks, double quotes
// around a word, backslash escapes, %% for a literal % and, in the
// arguments, $$ for a literal $ (systemd expands no variable in the
// program's path, so unitQuote leaves $ alone there). Other specifiers (%d)
// are kept as written.
func splitExecLine(v string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case (c == '%' || (c == '$' && len(words) > 0)) && i+1 < len(v) && v[i+1] == c:
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

// desktopReserved are the characters the Desktop Entry specification
// ("The Exec key") says an argument may only contain inside double quotes.
const desktopReserved = " \t\n\"'\\><~|&;$*?#()`"

// desktopArg quotes one Exec argument per the specification: inside double
// quotes, ", `, $ and \ are escaped with a backslash.
func desktopArg(s string) string {
	if s != "" && !strings.ContainsAny(s, desktopReserved) {
		return s
	}
	r := strings.NewReplacer(`"`, `\"`, "`", "\\`", `$`, `\$`, `\`, `\\`)
	return `"` + r.Replace(s) + `"`
}

// desktopField doubles % so that no part of the path reads as a field code
// (%f, %u, …); launchers expand field codes before they split arguments,
// so this holds inside quotes too.
func desktopField(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// desktopString escapes a value of type string: the backslash escapes are
// undone before the Exec quoting is read, which is why a literal $ in a
// quoted argument ends up as \\$ in the file. Control characters never get
// here (checkExe).
func desktopString(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }
