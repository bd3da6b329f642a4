//go:build windows

package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// programData is %ProgramData% (C:\ProgramData).
func programData() string {
	if d := os.Getenv("ProgramData"); d != "" {
		return d
	}
	return `C:\ProgramData`
}

// DefaultPINFile is where the administrator keeps the server's PIN; its
// ACL must let only Administrators and the service's account read it.
func DefaultPINFile() string { return filepath.Join(programData(), "kyso", "pin") }

// stateDir is the service's own folder: configuration, audit log, client
// secret. Install creates it and lets the service's account change it.
func (s SystemService) stateDir() string { return filepath.Join(programData(), "kyso", s.name()) }

// account is the virtual account the service runs as: a user of its own,
// without a password, like systemd's DynamicUser.
func (s SystemService) account() string { return `NT SERVICE\` + s.name() }

// serveArgs are the service's arguments after the program.
func (s SystemService) serveArgs() []string {
	dir := s.stateDir()
	return append([]string{"serve", "--headless", "--unattended",
		"--pin-file", s.pinFile(),
		"--config", filepath.Join(dir, "config.json"),
		"--audit-dir", filepath.Join(dir, "audit"),
		"--secret", filepath.Join(dir, "client-secret"),
	}, s.Args...)
}

// commandLine is the service's command line as the manager stores it
// (mgr.CreateService quotes the same way).
func (s SystemService) commandLine() string {
	c := syscall.EscapeArg(s.Exe)
	for _, a := range s.serveArgs() {
		c += " " + syscall.EscapeArg(a)
	}
	return c
}

// keyPath names the registration, the "file" Install writes.
func (s SystemService) keyPath() string {
	return `HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\` + s.name()
}

func (s SystemService) plan() error {
	if err := s.check(); err != nil {
		return err
	}
	if err := checkWindowsExe(s.Exe); err != nil {
		return err
	}
	if p := s.pinFile(); !filepath.IsAbs(p) {
		return fmt.Errorf("%w: the PIN file %q is not an absolute path", ErrBadServeArgs, p)
	}
	return nil
}

// Entries returns the registration as its registry key → the command
// line it runs.
func (s SystemService) Entries() (map[string][]byte, error) {
	if err := s.plan(); err != nil {
		return nil, err
	}
	return map[string][]byte{s.keyPath(): []byte(s.commandLine())}, nil
}

// Links returns none: Windows has no links to write.
func (s SystemService) Links() (map[string]string, error) {
	if err := s.plan(); err != nil {
		return nil, err
	}
	return map[string]string{}, nil
}

// displayName is the service's name in the Services console.
func (s SystemService) displayName() string { return "kyso signing server (" + s.name() + ")" }

// systemDescription is the service's description in the Services console.
const systemDescription = "kyso serve --unattended: signs for the machine policy's origins with the PIN from a file (HSM server). Not the desktop agent."

// nop is the program kardianos/service wants when it only registers.
type nop struct{}

func (nop) Start(service.Service) error { return nil }
func (nop) Stop(service.Service) error  { return nil }

func (s SystemService) kardianos(i service.Interface) (service.Service, error) {
	return service.New(i, &service.Config{
		Name:        s.name(),
		DisplayName: s.displayName(),
		Description: systemDescription,
		UserName:    s.account(),
		Executable:  s.Exe,
		Arguments:   s.serveArgs(),
		Option: service.KeyValue{
			"StartType":              "automatic",
			"DelayedAutoStart":       true,
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
		},
	})
}

// Install registers the service, or brings an earlier registration up to
// date (it is not started: the PIN file and the machine policy come
// first), creates its folder under %ProgramData%\kyso and lets its
// account change it. It needs an elevated process: without one the error
// is a *FileError wrapping fs.ErrPermission.
func (s SystemService) Install() ([]string, error) {
	if err := s.plan(); err != nil {
		return nil, err
	}
	m, err := mgr.Connect()
	if err != nil {
		return nil, &FileError{Op: "write", Path: s.keyPath(), Err: permission(err)}
	}
	defer m.Disconnect()
	created := false
	sv, err := m.OpenService(s.name())
	if err != nil {
		// Not registered yet: kardianos/service registers it and its
		// event log source.
		k, err := s.kardianos(nop{})
		if err != nil {
			return nil, err
		}
		if err := k.Install(); err != nil {
			return nil, &FileError{Op: "write", Path: s.keyPath(), Err: permission(err)}
		}
		created = true
		if sv, err = m.OpenService(s.name()); err != nil {
			return nil, &FileError{Op: "write", Path: s.keyPath(), Err: permission(err)}
		}
	}
	undo := func() {
		if created {
			_ = sv.Delete()
		}
	}
	defer sv.Close()
	cfg, err := sv.Config()
	if err == nil {
		// The same settings whether new or updated; the service SID
		// (unrestricted) is what the folder's ACL names.
		cfg.BinaryPathName = s.commandLine()
		cfg.ServiceStartName = s.account()
		cfg.Password = ""
		cfg.DisplayName = s.displayName()
		cfg.Description = systemDescription
		cfg.StartType = mgr.StartAutomatic
		cfg.DelayedAutoStart = true
		cfg.SidType = windows.SERVICE_SID_TYPE_UNRESTRICTED
		err = sv.UpdateConfig(cfg)
	}
	if err != nil {
		undo()
		return nil, &FileError{Op: "write", Path: s.keyPath(), Err: permission(err)}
	}
	dir := s.stateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		undo()
		return nil, &FileError{Op: "write", Path: dir, Err: err}
	}
	// (OI)(CI)M: modify, inherited by the files and folders created in it.
	out, err := exec.Command("icacls", dir, "/grant", s.account()+":(OI)(CI)M").CombinedOutput()
	if err != nil {
		undo()
		return nil, &FileError{Op: "write", Path: dir, Err: fmt.Errorf("icacls: %v: %s", err, strings.TrimSpace(string(out)))}
	}
	return []string{s.keyPath(), dir}, nil
}

// Uninstall stops and removes the service; its folder (audit log) stays.
// Nothing registered is fine.
func (s SystemService) Uninstall() ([]string, error) {
	if err := s.checkName(); err != nil {
		return nil, err
	}
	k, err := service.New(nop{}, &service.Config{Name: s.name()})
	if err != nil {
		return nil, err
	}
	st, err := k.Status()
	if errors.Is(err, service.ErrNotInstalled) {
		return nil, nil
	}
	if err == nil && st == service.StatusRunning {
		_ = k.Stop()
	}
	if err := k.Uninstall(); err != nil {
		if strings.Contains(err.Error(), "is not installed") {
			return nil, nil
		}
		return nil, &FileError{Op: "remove", Path: s.keyPath(), Err: permission(err)}
	}
	return []string{s.keyPath()}, nil
}

// permission makes an access-denied error match fs.ErrPermission.
func permission(err error) error {
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return fmt.Errorf("%w: %w", os.ErrPermission, err)
	}
	return err
}

// openService opens the registration for reading only, which needs no
// elevation; nil, nil when there is none.
func (s SystemService) openService() (*mgr.Mgr, *mgr.Service, error) {
	h, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return nil, nil, err
	}
	m := &mgr.Mgr{Handle: h}
	name, err := windows.UTF16PtrFromString(s.name())
	if err != nil {
		m.Disconnect()
		return nil, nil, err
	}
	sh, err := windows.OpenService(h, name, windows.SERVICE_QUERY_CONFIG|windows.SERVICE_QUERY_STATUS)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		m.Disconnect()
		return nil, nil, nil
	}
	if err != nil {
		m.Disconnect()
		return nil, nil, err
	}
	return m, &mgr.Service{Handle: sh, Name: s.name()}, nil
}

// Status reports whether the service is registered with the command line
// and account Install gives it, and its state.
func (s SystemService) Status() (SystemStatus, error) {
	if err := s.plan(); err != nil {
		return SystemStatus{}, err
	}
	f := FileStatus{Path: s.keyPath()}
	m, sv, err := s.openService()
	if err != nil {
		return SystemStatus{}, &FileError{Op: "read", Path: s.keyPath(), Err: permission(err)}
	}
	if sv == nil {
		return SystemStatus{Files: []FileStatus{f}, State: "not installed"}, nil
	}
	defer m.Disconnect()
	defer sv.Close()
	f.Present = true
	cfg, err := sv.Config()
	if err != nil {
		return SystemStatus{}, &FileError{Op: "read", Path: s.keyPath(), Err: err}
	}
	f.Current = cfg.BinaryPathName == s.commandLine() && strings.EqualFold(cfg.ServiceStartName, s.account())
	st := SystemStatus{Files: []FileStatus{f}}
	q, err := sv.Query()
	if err != nil {
		st.State = "unavailable: " + err.Error()
	} else {
		st.State = stateName(q.State)
	}
	return st, nil
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "starting"
	case svc.StopPending:
		return "stopping"
	case svc.Running:
		return "running"
	case svc.ContinuePending:
		return "continuing"
	case svc.PausePending:
		return "pausing"
	case svc.Paused:
		return "paused"
	}
	return fmt.Sprintf("state %d", s)
}

// Installed reads back the registered service (program, flags, PIN file).
// The error wraps fs.ErrNotExist when there is none.
func (s SystemService) Installed() (SystemService, error) {
	if err := s.checkName(); err != nil {
		return SystemService{}, err
	}
	m, sv, err := s.openService()
	if err != nil {
		return SystemService{}, &FileError{Op: "read", Path: s.keyPath(), Err: permission(err)}
	}
	if sv == nil {
		return SystemService{}, &FileError{Op: "read", Path: s.keyPath(), Err: os.ErrNotExist}
	}
	defer m.Disconnect()
	defer sv.Close()
	cfg, err := sv.Config()
	if err != nil {
		return SystemService{}, &FileError{Op: "read", Path: s.keyPath(), Err: err}
	}
	words, err := windows.DecomposeCommandLine(cfg.BinaryPathName)
	if err != nil || len(words) == 0 {
		return SystemService{}, &FileError{Op: "read", Path: s.keyPath(), Err: fmt.Errorf("command line %q: %v", cfg.BinaryPathName, err)}
	}
	out := SystemService{Name: s.Name, Exe: words[0]}
	rest := words[1:]
	if len(rest) >= 5 && rest[0] == "serve" && rest[1] == "--headless" && rest[2] == "--unattended" && rest[3] == "--pin-file" {
		out.PINFile = rest[4]
		rest = cutWords(rest, out.serveArgs()...)
	}
	out.Args = rest
	if out.PINFile == DefaultPINFile() {
		out.PINFile = ""
	}
	return out, nil
}

// program is kyso serve as the service control manager runs it.
type program struct {
	start func(io.Writer) (func(context.Context) error, error)
	log   io.Writer

	cancel context.CancelFunc
	done   chan error
}

func (p *program) Start(service.Service) error {
	serve, err := p.start(p.log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan error, 1)
	go func() {
		err := serve(ctx)
		if ctx.Err() == nil {
			// The server ended on its own: let the manager see a failure
			// (and restart it) rather than a service that does nothing.
			fmt.Fprintln(p.log, "kyso: the server stopped:", err)
			os.Exit(1)
		}
		p.done <- err
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	return <-p.done
}

// RunUnderServiceManager runs the server when the Windows service control
// manager started this process (kardianos/service: not Interactive), and
// reports whether it did; from a console it returns false at once. start
// gets a writer to the Windows event log (source name) for the server's
// output, prepares the server and returns what serves until its context
// ends, which is when the manager asks the service to stop.
func RunUnderServiceManager(name string, start func(log io.Writer) (serve func(context.Context) error, err error)) (bool, error) {
	if service.Interactive() {
		return false, nil
	}
	p := &program{start: start}
	k, err := service.New(p, &service.Config{Name: name})
	if err != nil {
		return true, err
	}
	logger, err := k.Logger(nil)
	if err != nil {
		return true, err
	}
	lw := &eventLogWriter{l: logger}
	p.log = lw
	return true, k.Run()
}

// eventLogWriter sends each line written to it to the event log: lines
// of slog's level=ERROR or WARN as errors or warnings, the rest as
// information.
type eventLogWriter struct {
	mu  sync.Mutex
	l   service.Logger
	buf []byte
}

func (w *eventLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		switch {
		case strings.Contains(line, "level=ERROR"):
			_ = w.l.Error(line)
		case strings.Contains(line, "level=WARN"):
			_ = w.l.Warning(line)
		default:
			_ = w.l.Info(line)
		}
	}
	return len(p), nil
}
