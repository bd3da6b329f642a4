package installer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// A system service is the one exception to "the agent runs per user" (see
// Autostart): `kyso serve --headless --unattended` on a server that signs
// batches with an HSM, started at boot with nobody logged in, taking its
// PIN from a file. It is never the desktop agent: a service has no tray,
// no dialogs and, on Windows (session 0), no smart cards.
//
//   - Linux: a systemd system unit from kyso's own template (like the user
//     unit), /etc/systemd/system/<name>.service, enabled by its link in
//     multi-user.target.wants. It runs under a dynamic user (DynamicUser=)
//     with its state in /var/lib/<name>, receives the PIN file as a
//     credential (LoadCredential=, so the file itself stays readable by
//     root only) and is sandboxed (ProtectSystem=strict, …).
//   - Windows: a service registered with the service control manager
//     through github.com/kardianos/service, running as its virtual account
//     NT SERVICE\<name>; RunUnderServiceManager lets the same binary answer
//     the manager when it starts it.

// DefaultSystemServiceName is the system service's name unless one is
// given: the systemd unit kyso-server.service, the Windows service
// kyso-server.
const DefaultSystemServiceName = "kyso-server"

// ErrBadServeArgs is wrapped by the errors about SystemService.Args that
// the service cannot be given.
var ErrBadServeArgs = errors.New("installer: unusable kyso serve flags")

// ErrBadServiceName is wrapped by the errors about an unusable
// SystemService.Name.
var ErrBadServiceName = errors.New("installer: unusable service name")

// SystemService registers `kyso serve --headless --unattended` as a system
// service (see above). Its zero value, with Exe set, is the default
// service.
type SystemService struct {
	// Name is the unit's or service's name; "" is DefaultSystemServiceName.
	// Letters, digits, '-', '_' and '.' only.
	Name string
	// Exe is the absolute path of the kyso binary. It is written as given,
	// without checking that the file exists (packaging may describe a
	// binary it has not installed yet).
	Exe string
	// Args are more `kyso serve` flags (--module, --port, --policy, --log,
	// …), written after the ones the service always has: --headless,
	// --unattended and --pin-file, which Args must not repeat.
	Args []string
	// PINFile is where the administrator keeps the PIN; "" is
	// DefaultPINFile(). On Linux systemd hands it to the service as the
	// credential "pin", so it may stay readable by root only.
	PINFile string
	// Root prefixes every system path on Linux (tests, packaging into a
	// staging directory); "" is /. With a Root, no service manager is
	// asked anything. Windows ignores it.
	Root string
}

// SystemStatus is what SystemService.Status found.
type SystemStatus struct {
	// Files lists what Install writes, in order: on Linux the unit and the
	// link that enables it; on Windows the service's registration, named
	// by its registry key.
	Files []FileStatus
	// State is the service manager's word for the service ("active",
	// "inactive", "failed" from systemd; "running", "stopped", … from
	// Windows), or "unavailable: <why>".
	State string
}

// Installed reports whether every file is present and current.
func (s SystemStatus) Installed() bool { return allCurrent(s.Files) }

func (s SystemService) name() string {
	if s.Name == "" {
		return DefaultSystemServiceName
	}
	return s.Name
}

func (s SystemService) pinFile() string {
	if s.PINFile == "" {
		return DefaultPINFile()
	}
	return s.PINFile
}

// fixedServeFlags are the flags the service always has; Args may not set
// them (a second --pin-file would win over the credential, and
// --unattended=false would leave a service that cannot start).
var fixedServeFlags = []string{"headless", "unattended", "pin-file"}

// check rejects what no platform can register.
func (s SystemService) check() error {
	if err := s.checkName(); err != nil {
		return err
	}
	if err := checkExe(s.Exe); err != nil {
		return err
	}
	for _, a := range s.Args {
		if i := strings.IndexFunc(a, unicode.IsControl); i >= 0 {
			return fmt.Errorf("%w: %q contains the control character %U", ErrBadServeArgs, a, []rune(a[i:])[0])
		}
		flag, ok := strings.CutPrefix(a, "-")
		if !ok {
			continue
		}
		flag = strings.TrimPrefix(flag, "-")
		flag, _, _ = strings.Cut(flag, "=")
		for _, f := range fixedServeFlags {
			if flag == f {
				return fmt.Errorf("%w: the service always runs kyso serve --headless --unattended --pin-file, so %q is not for its flags (the PIN file is chosen at install)", ErrBadServeArgs, a)
			}
		}
	}
	return nil
}

// checkName rejects a name that cannot be a unit's or a service's.
func (s SystemService) checkName() error {
	name := s.name()
	if len(name) > 64 || strings.IndexFunc(name, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.'))
	}) >= 0 || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-") {
		return fmt.Errorf("%w: %q (use letters, digits, '-', '_' and '.', at most 64)", ErrBadServiceName, name)
	}
	return nil
}

// cutWords returns the words of a command line that follow prefix, the
// flags the service always has, or all of them when they do not start
// with it (a registration from another version, or edited by hand).
func cutWords(words []string, prefix ...string) []string {
	if len(words) >= len(prefix) && slices.Equal(words[:len(prefix)], prefix) {
		return words[len(prefix):]
	}
	return words
}
