//go:build !windows && (!unix || darwin)

package installer

import (
	"errors"
	"fmt"
	"runtime"
)

// unsupported is returned by every operation where kyso has no autostart
// yet (macOS would need a LaunchAgent); it wraps errors.ErrUnsupported.
func unsupported() error {
	return fmt.Errorf("installer: autostart on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func (a Autostart) plan() ([]entry, error) {
	if err := checkExe(a.Exe); err != nil {
		return nil, err
	}
	return nil, unsupported()
}

// Install is not supported on this system.
func (a Autostart) Install() ([]string, error) { return nil, unsupported() }

// Uninstall is not supported on this system.
func (a Autostart) Uninstall() ([]string, error) { return nil, unsupported() }

// Status is not supported on this system.
func (a Autostart) Status() (Status, error) { return Status{}, unsupported() }

// InstalledExe is not supported on this system.
func (a Autostart) InstalledExe() (string, error) { return "", unsupported() }

// Start is not supported on this system.
func (a Autostart) Start() error { return unsupported() }

// Stop is not supported on this system.
func (a Autostart) Stop() error { return unsupported() }
