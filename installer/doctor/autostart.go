package doctor

import (
	"context"
	"errors"
	"os"

	"github.com/kyso-vn/kyso/installer"
)

// autostartStatus reads the autostart entries of one scope.
func (c Config) autostartStatus(scope installer.Scope) (installer.Status, error) {
	if c.Autostart != nil {
		return c.Autostart(scope)
	}
	a := installer.Autostart{Scope: scope, Root: c.Root, Exe: c.Exe}
	if a.Exe == "" {
		// Compare the entries with the program they were written for, as
		// kyso service status does; with none, with this program.
		if exe, err := a.InstalledExe(); err == nil {
			a.Exe = exe
		} else if exe, err := os.Executable(); err == nil {
			a.Exe = exe
		}
	}
	return a.Status()
}

// checkAutostart reports whether kyso run starts at login, for this user
// or for every user. Not starting at login is a warning only when neither
// is set up: then the user must start kyso by hand after every login.
func checkAutostart(_ context.Context, e *env) []Finding {
	type result struct {
		scope installer.Scope
		st    installer.Status
		err   error
	}
	var rs []result
	anyInstalled := false
	for _, s := range []installer.Scope{installer.ScopeUser, installer.ScopeAllUsers} {
		st, err := e.cfg.autostartStatus(s)
		rs = append(rs, result{s, st, err})
		anyInstalled = anyInstalled || (err == nil && st.Installed())
	}
	var out []Finding
	for _, r := range rs {
		scope := T("doctor.autostart.scope." + r.scope.String())
		flag := ""
		if r.scope == installer.ScopeAllUsers {
			flag = " --all-users"
		}
		d := map[string]any{"scope": r.scope.String()}
		if r.err != nil {
			d["error"] = r.err.Error()
			sev := SeverityWarning
			if errors.Is(r.err, errors.ErrUnsupported) {
				sev = SeverityInfo
			}
			out = append(out, Finding{ID: "autostart.unknown", Severity: sev, Message: T("doctor.autostart.error", scope, r.err.Error()),
				Fix: T("doctor.autostart.error.fix"), Details: d})
			continue
		}
		var files []map[string]any
		present := false
		for _, f := range r.st.Files {
			files = append(files, map[string]any{"path": f.Path, "present": f.Present, "current": f.Current})
			present = present || f.Present
		}
		d["files"] = files
		if r.st.Systemd != "" {
			d["systemd"] = r.st.Systemd
		}
		switch {
		case r.st.Installed():
			out = append(out, Finding{ID: "autostart.installed", Severity: SeverityOK, Message: T("doctor.autostart.installed", scope), Details: d})
		case present:
			out = append(out, Finding{ID: "autostart.stale", Severity: SeverityWarning, Message: T("doctor.autostart.stale", scope),
				Fix: T("doctor.autostart.fix", flag), Details: d})
		case anyInstalled:
			out = append(out, Finding{ID: "autostart.absent", Severity: SeverityInfo, Message: T("doctor.autostart.absent", scope), Details: d})
		case r.scope == installer.ScopeUser:
			out = append(out, Finding{ID: "autostart.absent", Severity: SeverityWarning, Message: T("doctor.autostart.absent", scope),
				Fix: T("doctor.autostart.fix", flag), Details: d})
		default:
			out = append(out, Finding{ID: "autostart.absent", Severity: SeverityInfo, Message: T("doctor.autostart.absent", scope),
				Fix: T("doctor.autostart.fix.all"), Details: d})
		}
	}
	return out
}
