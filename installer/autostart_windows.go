//go:build windows

package installer

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

const (
	// runKey is read by Explorer at every logon: each value is a command
	// line started in the user's session, where the tray and the smart
	// cards are (a Windows service would run in session 0, with neither).
	runKey    = `Software\Microsoft\Windows\CurrentVersion\Run`
	valueName = "kyso"
)

// hive returns the registry root for the scope and its full name.
func (a Autostart) hive() (registry.Key, string, error) {
	switch a.Scope {
	case ScopeUser:
		return registry.CURRENT_USER, "HKEY_CURRENT_USER", nil
	case ScopeAllUsers:
		return registry.LOCAL_MACHINE, "HKEY_LOCAL_MACHINE", nil
	}
	return 0, "", fmt.Errorf("installer: unknown scope %d", int(a.Scope))
}

// command is the Run value: the path is always quoted, since Windows would
// otherwise try C:\Program.exe for C:\Program Files\kyso\kyso.exe.
func (a Autostart) command() string { return `"` + a.Exe + `" run` }

// valuePath is the Run value's full name, used as its "path" in Entries
// and Status.
func valuePath(hiveName string) string { return hiveName + `\` + runKey + `\` + valueName }

func (a Autostart) plan() ([]entry, error) {
	_, name, err := a.hive()
	if err != nil {
		return nil, err
	}
	if err := checkExe(a.Exe); err != nil {
		return nil, err
	}
	if err := checkWindowsExe(a.Exe); err != nil {
		return nil, err
	}
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	reg := "Windows Registry Editor Version 5.00\r\n\r\n" +
		"[" + name + `\` + runKey + "]\r\n" +
		`"` + valueName + `"="` + esc.Replace(a.command()) + "\"\r\n"
	return []entry{{path: valuePath(name), content: []byte(reg)}}, nil
}

// checkWindowsExe rejects a double quote, which is not a legal Windows file
// name character and would end the quoting of the program on a command
// line (the Run value's, the service's). Control characters are already out
// (checkExe).
func checkWindowsExe(exe string) error {
	if strings.Contains(exe, `"`) {
		return fmt.Errorf("%w: %q contains a double quote", ErrBadExe, exe)
	}
	return nil
}

// Install sets the Run value and returns its full name. One value is
// written, so there is nothing to undo when it fails.
func (a Autostart) Install() ([]string, error) {
	hive, name, err := a.hive()
	if err != nil {
		return nil, err
	}
	if _, err := a.plan(); err != nil {
		return nil, err
	}
	path := valuePath(name)
	k, _, err := registry.CreateKey(hive, runKey, registry.SET_VALUE)
	if err != nil {
		return nil, &FileError{Op: "write", Path: path, Err: err}
	}
	defer k.Close()
	if err := k.SetStringValue(valueName, a.command()); err != nil {
		return nil, &FileError{Op: "write", Path: path, Err: err}
	}
	return []string{path}, nil
}

// Uninstall deletes the Run value; a value that is not there is fine.
func (a Autostart) Uninstall() ([]string, error) {
	hive, name, err := a.hive()
	if err != nil {
		return nil, err
	}
	path := valuePath(name)
	k, err := registry.OpenKey(hive, runKey, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Op: "remove", Path: path, Err: err}
	}
	defer k.Close()
	err = k.DeleteValue(valueName)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Op: "remove", Path: path, Err: err}
	}
	return []string{path}, nil
}

// Status reports whether the Run value exists and holds the command
// Install writes for a.Exe. Systemd is "": Windows has none.
func (a Autostart) Status() (Status, error) {
	hive, name, err := a.hive()
	if err != nil {
		return Status{}, err
	}
	if _, err := a.plan(); err != nil {
		return Status{}, err
	}
	f := FileStatus{Path: valuePath(name)}
	v, err := readRun(hive)
	switch {
	case errors.Is(err, registry.ErrNotExist):
	case err != nil:
		return Status{}, &FileError{Op: "read", Path: f.Path, Err: err}
	default:
		f.Present = true
		f.Current = v == a.command()
	}
	return Status{Files: []FileStatus{f}}, nil
}

// InstalledExe returns the program the Run value starts. The error wraps
// fs.ErrNotExist when there is no value.
func (a Autostart) InstalledExe() (string, error) {
	hive, name, err := a.hive()
	if err != nil {
		return "", err
	}
	v, err := readRun(hive)
	if err != nil {
		return "", &FileError{Op: "read", Path: valuePath(name), Err: err}
	}
	if rest, ok := strings.CutPrefix(v, `"`); ok {
		if exe, _, ok := strings.Cut(rest, `"`); ok {
			return exe, nil
		}
	}
	exe, _, _ := strings.Cut(v, " ")
	return exe, nil
}

func readRun(hive registry.Key) (string, error) {
	k, err := registry.OpenKey(hive, runKey, registry.QUERY_VALUE)
	if err != nil {
		return "", err
	}
	defer k.Close()
	v, _, err := k.GetStringValue(valueName)
	return v, err
}

// Start launches `kyso run` detached from this console, as the Run value
// would at logon: the agent outlives the command that started it and opens
// no console window.
func (a Autostart) Start() error {
	if err := checkExe(a.Exe); err != nil {
		return err
	}
	cmd := exec.Command(a.Exe, "run")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags: windows.DETACHED_PROCESS | windows.CREATE_NEW_PROCESS_GROUP,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("installer: start %s run: %w", a.Exe, err)
	}
	return cmd.Process.Release()
}

// Stop is not supported on Windows yet: nothing tracks the detached agent,
// and ending it needs the single-instance channel to carry a quit request.
// The error wraps errors.ErrUnsupported.
func (a Autostart) Stop() error {
	return fmt.Errorf("installer: stopping the agent on Windows: %w", errors.ErrUnsupported)
}
