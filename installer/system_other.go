//go:build !linux && !windows

package installer

import (
	"errors"
	"fmt"
	"runtime"
)

// systemUnsupported is returned where kyso cannot register a system
// service (macOS would need a LaunchDaemon, the BSDs an rc script).
func systemUnsupported() error {
	return fmt.Errorf("installer: system service on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// DefaultPINFile is where the administrator keeps the server's PIN.
func DefaultPINFile() string { return "/etc/kyso/pin" }

// Entries is not supported on this system.
func (s SystemService) Entries() (map[string][]byte, error) { return nil, systemUnsupported() }

// Links is not supported on this system.
func (s SystemService) Links() (map[string]string, error) { return nil, systemUnsupported() }

// Install is not supported on this system.
func (s SystemService) Install() ([]string, error) { return nil, systemUnsupported() }

// Uninstall is not supported on this system.
func (s SystemService) Uninstall() ([]string, error) { return nil, systemUnsupported() }

// Status is not supported on this system.
func (s SystemService) Status() (SystemStatus, error) { return SystemStatus{}, systemUnsupported() }

// Installed is not supported on this system.
func (s SystemService) Installed() (SystemService, error) {
	return SystemService{}, systemUnsupported()
}
