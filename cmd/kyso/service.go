package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/kyso-vn/kyso/installer"
)

var serviceSummary = [2]string{
	"cài, gỡ, kiểm tra việc tác tử tự khởi động cùng phiên làm việc; khởi động, dừng tác tử",
	"install, remove or check the agent's start with each desktop session; start or stop it",
}

// runService is `kyso service install|uninstall|status|start|stop`. The
// agent runs per user in the desktop session (tray, dialogs, smart cards),
// so "the service" is an autostart entry for `kyso run`, not a system
// service; see package installer. The one exception, --system, registers
// `kyso serve --headless --unattended` as a system service for a server
// signing with an HSM (installer.SystemService, docs/deployment.md).
//
// Exit codes: 0 done (status: installed and current), 1 failed (status:
// missing or out-of-date entries), 2 usage.
func runService(c *cli, args []string) int {
	help := [2]string{
		"Cho tác tử ký số (kyso run) tự khởi động khi đăng nhập, và điều khiển nó:\n" +
			"  install    ghi mục tự khởi động (Linux: dịch vụ systemd của người dùng và mục XDG autostart; Windows: khóa Run)\n" +
			"  uninstall  gỡ các mục đó (chưa cài cũng không sao)\n" +
			"  status     cho biết từng mục đã có và đúng chưa, và trạng thái systemd\n" +
			"  start      khởi động tác tử ngay (Linux: systemctl --user start kyso.service)\n" +
			"  stop       dừng tác tử (Linux: systemctl --user stop kyso.service)\n" +
			"Mã thoát: 0 thành công (status: đã cài đầy đủ), 1 thất bại (status: thiếu hoặc cũ), 2 sai cách dùng.",
		"Make the signing agent (kyso run) start at login, and control it:\n" +
			"  install    write the autostart entries (Linux: a systemd user unit and an XDG autostart entry; Windows: the Run key)\n" +
			"  uninstall  remove them (nothing installed is fine)\n" +
			"  status     show whether each entry is there and current, and the systemd state\n" +
			"  start      start the agent now (Linux: systemctl --user start kyso.service)\n" +
			"  stop       stop the agent (Linux: systemctl --user stop kyso.service)\n" +
			"Exit status: 0 done (status: fully installed), 1 failed (status: missing or outdated), 2 usage.",
	}
	help[0] += "\n\nChỉ cho máy chủ ký bằng HSM, không người trực: install|uninstall|status --system [--name kyso-server] [--pin-file TỆP] -- <cờ của kyso serve>\n" +
		"cài kyso serve --headless --unattended thành dịch vụ hệ thống (Linux: systemd /etc/systemd/system/kyso-server.service; Windows: dịch vụ Windows). Xem docs/deployment.md."
	help[1] += "\n\nServers signing with an HSM, unattended, only: install|uninstall|status --system [--name kyso-server] [--pin-file FILE] -- <kyso serve flags>\n" +
		"registers kyso serve --headless --unattended as a system service (Linux: systemd /etc/systemd/system/kyso-server.service; Windows: a Windows service). See docs/deployment.md."
	flags := c.flagSet("service", help, c.pick([2]string{
		"install|uninstall|status|start|stop [--all-users] [--exe ĐƯỜNG_DẪN]",
		"install|uninstall|status|start|stop [--all-users] [--exe PATH]",
	}))
	allUsers := flags.Bool("all-users", false, c.pick([2]string{
		"cho mọi người dùng của máy, cần quyền quản trị (/etc/systemd/user, /etc/xdg/autostart; Windows: HKLM)",
		"for every user of this computer, needs administrator rights (/etc/systemd/user, /etc/xdg/autostart; Windows: HKLM)"}))
	exe := flags.String("exe", "", c.pick([2]string{
		"chương trình kyso mà mục tự khởi động chạy (mặc định: chương trình này; với status: chương trình đã cài)",
		"the kyso program the autostart runs (default: this one; for status: the one installed)"}))
	system := flags.Bool("system", false, c.pick([2]string{
		"dịch vụ hệ thống cho máy chủ ký không người trực (kyso serve --headless --unattended; cần quyền quản trị), không phải tác tử của người dùng",
		"the system service of an unattended signing server (kyso serve --headless --unattended; needs administrator rights), not the desktop agent"}))
	name := flags.String("name", installer.DefaultSystemServiceName, c.pick([2]string{
		"với --system: tên dịch vụ", "with --system: the service's name"}))
	pinFile := flags.String("pin-file", "", c.pick([2]string{
		"với --system: tệp PIN mà dịch vụ đọc (mặc định " + installer.DefaultPINFile() + ")",
		"with --system: the PIN file the service reads (default " + installer.DefaultPINFile() + ")"}))
	root := flags.String("root", "", c.pick([2]string{
		"với --system trên Linux, cho đóng gói và kiểm thử: ghi vào thư mục này thay cho /",
		"with --system on Linux, for packaging and tests: write under this folder instead of /"}))

	// Flags may come before or after the subcommand: they are parsed
	// twice.
	parse := func(args []string) (int, bool) { return c.parseFlags(flags, "service", args) }
	usage := flags.Usage
	// After "--" come kyso serve's flags, for install --system.
	var serveArgs []string
	dashdash := false
	for i, a := range args {
		if a == "--" {
			args, serveArgs, dashdash = args[:i], args[i+1:], true
			break
		}
	}
	if code, done := parse(args); done {
		return code
	}
	if flags.NArg() == 0 {
		c.usageError("service", c.lang.T("service.usage.missing"))
		return exitUsage
	}
	sub := flags.Arg(0)
	if code, done := parse(flags.Args()[1:]); done {
		return code
	}
	if flags.NArg() > 0 {
		c.usageError("service", "unexpected argument: "+strings.Join(flags.Args(), " "))
		return exitUsage
	}

	if !*system {
		set := map[string]bool{}
		flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, f := range []string{"name", "pin-file", "root"} {
			if set[f] {
				c.usageError("service", c.lang.T("service.usage.systemonly", "--"+f))
				return exitUsage
			}
		}
		if dashdash {
			c.usageError("service", c.lang.T("service.usage.systemonly", "--"))
			return exitUsage
		}
	} else {
		if *allUsers {
			c.usageError("service", c.lang.T("service.usage.systemonly", "--all-users"))
			return exitUsage
		}
		if dashdash && sub != "install" && sub != "status" {
			c.usageError("service", c.lang.T("service.usage.systemargs", sub))
			return exitUsage
		}
		return c.systemService(sub, installer.SystemService{Name: *name, PINFile: *pinFile, Root: *root, Args: serveArgs}, *exe, dashdash, usage)
	}

	a := installer.Autostart{Scope: installer.ScopeUser}
	scope := c.lang.T("service.scope.user")
	if *allUsers {
		a.Scope = installer.ScopeAllUsers
		scope = c.lang.T("service.scope.all")
	}
	var err error
	switch sub {
	case "help":
		usage()
		return exitOK
	case "install":
		if a.Exe, err = programPath(*exe); err != nil {
			return c.serviceFail(err, *allUsers)
		}
		written, err := a.Install()
		if err != nil {
			return c.serviceFail(err, *allUsers)
		}
		c.printPaths(c.lang.T("service.installed", scope, a.Exe), written)
		fmt.Fprintln(c.stdout, c.lang.T("service.installed.next"))
		return exitOK
	case "uninstall":
		removed, err := a.Uninstall()
		return c.printUninstalled(removed, err, c.lang.T("service.uninstalled", scope), c.lang.T("service.uninstalled.none", scope),
			func(err error) int { return c.serviceFail(err, *allUsers) })
	case "status":
		return c.serviceStatus(a, *exe, scope, *allUsers)
	case "start", "stop":
		// Windows starts the program itself; systemd knows it from the unit.
		if a.Exe, err = programPath(*exe); err != nil {
			return c.serviceFail(err, *allUsers)
		}
		key := "service.started"
		if sub == "start" {
			err = a.Start()
		} else {
			key = "service.stopped"
			err = a.Stop()
		}
		if err != nil {
			return c.serviceFail(err, *allUsers)
		}
		fmt.Fprintln(c.stdout, c.lang.T(key))
		return exitOK
	}
	c.usageError("service", c.lang.T("service.usage.unknown", sub))
	return exitUsage
}

// systemService is `kyso service install|uninstall|status --system`: the
// system service of an unattended signing server (installer.SystemService).
// With no --exe and no "--", status compares with what is installed.
func (c *cli) systemService(sub string, s installer.SystemService, exe string, withArgs bool, usage func()) int {
	var err error
	switch sub {
	case "help":
		usage()
		return exitOK
	case "install":
		if s.Exe, err = programPath(exe); err != nil {
			return c.systemFail(err)
		}
		written, err := s.Install()
		if err != nil {
			return c.systemFail(err)
		}
		c.printPaths(c.lang.T("service.system.installed", serviceName(s), s.Exe), written)
		pin := s.PINFile
		if pin == "" {
			pin = installer.DefaultPINFile()
		}
		if runtime.GOOS == "windows" {
			fmt.Fprintln(c.stdout, c.lang.T("service.system.next.windows", pin, serviceName(s)))
		} else {
			fmt.Fprintln(c.stdout, c.lang.T("service.system.next", pin, serviceName(s)))
		}
		return exitOK
	case "uninstall":
		removed, err := s.Uninstall()
		return c.printUninstalled(removed, err, c.lang.T("service.system.uninstalled", serviceName(s)), c.lang.T("service.system.uninstalled.none", serviceName(s)), c.systemFail)
	case "status":
		if exe == "" && !withArgs {
			// Compare with what was installed, if anything; else with
			// what this program would install.
			inst, err := s.Installed()
			switch {
			case err == nil:
				s.Exe, s.Args = inst.Exe, inst.Args
				if s.PINFile == "" {
					s.PINFile = inst.PINFile
				}
			case errors.Is(err, fs.ErrNotExist):
			default:
				return c.systemFail(err)
			}
		}
		if s.Exe == "" {
			if s.Exe, err = programPath(exe); err != nil {
				return c.systemFail(err)
			}
		}
		st, err := s.Status()
		if err != nil {
			return c.systemFail(err)
		}
		cmd := []string{s.Exe}
		for _, a := range s.Args {
			if a == "" || strings.ContainsAny(a, " \t\"'") {
				a = strconv.Quote(a)
			}
			cmd = append(cmd, a)
		}
		fmt.Fprintln(c.stdout, c.lang.T("service.system.status.title", serviceName(s), strings.Join(cmd, " ")))
		program := s.Exe
		if s.Root != "" {
			program = "" // staged for packaging: not on this system yet
		}
		return c.printStatus(st.Files, st.Installed(), "service.system.status.state", st.State, program, "service.system.status.incomplete")
	case "start", "stop":
		c.usageError("service", c.lang.T("service.usage.systemctl", sub, sub, serviceName(s), sub, serviceName(s)))
		return exitUsage
	}
	c.usageError("service", c.lang.T("service.usage.unknown", sub))
	return exitUsage
}

// systemFail is serviceFail for the system service: a missing right is
// told as the system service's.
func (c *cli) systemFail(err error) int {
	var fe *installer.FileError
	if errors.As(err, &fe) && errors.Is(fe.Err, fs.ErrPermission) && (fe.Op == "write" || fe.Op == "remove") {
		key := "service.system.err.write.admin"
		if fe.Op == "remove" {
			key = "service.system.err.remove.admin"
		}
		return c.fileFail(c.lang.T(key, fe.Path), fe, err)
	}
	if errors.Is(err, errors.ErrUnsupported) {
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("service.system.err.unsupported", runtime.GOOS))
		return exitFailure
	}
	return c.serviceFail(err, true)
}

// serviceName is the system service's name as the manager knows it.
func serviceName(s installer.SystemService) string {
	if s.Name == "" {
		return installer.DefaultSystemServiceName
	}
	return s.Name
}

// serviceStatus prints each entry and the systemd state; it exits 0 only
// when everything Install writes is there and current, so scripts and
// packages can test it.
func (c *cli) serviceStatus(a installer.Autostart, exe, scope string, allUsers bool) int {
	var err error
	if exe != "" {
		a.Exe, err = programPath(exe)
	} else if a.Exe, err = a.InstalledExe(); errors.Is(err, fs.ErrNotExist) {
		// Nothing installed: compare with what this program would write.
		a.Exe, err = programPath("")
	}
	if err != nil {
		return c.serviceFail(err, allUsers)
	}
	st, err := a.Status()
	if err != nil {
		return c.serviceFail(err, allUsers)
	}
	fmt.Fprintln(c.stdout, c.lang.T("service.status.title", scope, a.Exe))
	return c.printStatus(st.Files, st.Installed(), "service.status.systemd", st.Systemd, a.Exe, "service.status.incomplete")
}

// printStatus prints, after the title, what Status found: each file
// Install writes, whether it is there and current; the service manager's
// word for the service, on stateKey's line (none when state is "", as on
// Windows for the autostart); and a note when the files are there but exe,
// the program they run, is not ("" when that cannot be checked). It
// returns exitOK only when installed, everything there and current, and
// prints incompleteKey's advice otherwise.
func (c *cli) printStatus(files []installer.FileStatus, installed bool, stateKey, state, exe, incompleteKey string) int {
	present := false
	for _, f := range files {
		switch {
		case f.Present && f.Current:
			fmt.Fprintln(c.stdout, c.lang.T("service.status.current", f.Path))
		case f.Present:
			fmt.Fprintln(c.stdout, c.lang.T("service.status.stale", f.Path))
		default:
			fmt.Fprintln(c.stdout, c.lang.T("service.status.absent", f.Path))
		}
		present = present || f.Present
	}
	if why, ok := strings.CutPrefix(state, "unavailable: "); ok {
		fmt.Fprintln(c.stdout, c.lang.T(stateKey, c.lang.T("service.systemd.unavailable", why)))
	} else if state != "" {
		fmt.Fprintln(c.stdout, c.lang.T(stateKey, state))
	}
	if _, err := os.Stat(exe); present && exe != "" && err != nil {
		// Not an error of the entries: packaging may install them before
		// the program, but the user should know nothing will start.
		fmt.Fprintln(c.stdout, c.lang.T("service.status.noexe", exe))
	}
	if installed {
		fmt.Fprintln(c.stdout, c.lang.T("service.status.ok"))
		return exitOK
	}
	fmt.Fprintln(c.stdout, c.lang.T(incompleteKey))
	return exitFailure
}

// printPaths prints title and then the paths, one an indented line.
func (c *cli) printPaths(title string, paths []string) {
	fmt.Fprintln(c.stdout, title)
	for _, p := range paths {
		fmt.Fprintln(c.stdout, "  "+p)
	}
}

// printUninstalled reports an Uninstall: the paths it removed after title,
// then its error through fail, or none when it removed nothing.
func (c *cli) printUninstalled(removed []string, err error, title, none string, fail func(error) int) int {
	if len(removed) > 0 {
		c.printPaths(title, removed)
	}
	if err != nil {
		return fail(err)
	}
	if len(removed) == 0 {
		fmt.Fprintln(c.stdout, none)
	}
	return exitOK
}

// programPath is --exe made absolute (the session starts the agent from
// another folder), or this program.
func programPath(exe string) (string, error) {
	if exe == "" {
		return os.Executable()
	}
	return filepath.Abs(exe)
}

// serviceFail prints err in the user's language, naming the file it is
// about, and returns its exit code.
func (c *cli) serviceFail(err error, allUsers bool) int {
	var fe *installer.FileError
	switch {
	case errors.Is(err, installer.ErrBadExe):
		why := strings.TrimPrefix(err.Error(), installer.ErrBadExe.Error()+": ")
		c.usageError("service", c.lang.T("service.err.exe", why))
		return exitUsage
	case errors.Is(err, installer.ErrBadServeArgs):
		c.usageError("service", c.lang.T("service.err.args", strings.TrimPrefix(err.Error(), installer.ErrBadServeArgs.Error()+": ")))
		return exitUsage
	case errors.Is(err, installer.ErrBadServiceName):
		c.usageError("service", c.lang.T("service.err.name", strings.TrimPrefix(err.Error(), installer.ErrBadServiceName.Error()+": ")))
		return exitUsage
	case errors.Is(err, installer.ErrNoUserManager):
		why := strings.TrimPrefix(err.Error(), installer.ErrNoUserManager.Error()+": ")
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("service.err.nomanager", why))
	case errors.Is(err, errors.ErrUnsupported) && runtime.GOOS == "windows":
		// Only Stop is unsupported there.
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("service.err.stop.unsupported"))
	case errors.Is(err, errors.ErrUnsupported):
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("service.err.unsupported", runtime.GOOS))
	case errors.As(err, &fe):
		admin := allUsers && errors.Is(fe.Err, fs.ErrPermission)
		var msg string
		switch {
		case fe.Op == "remove" && admin:
			msg = c.lang.T("service.err.remove.admin", fe.Path)
		case fe.Op == "remove":
			msg = c.lang.T("service.err.remove", fe.Path, fe.Err)
		case fe.Op == "read":
			msg = c.lang.T("service.err.read", fe.Path, fe.Err)
		case admin:
			msg = c.lang.T("service.err.write.admin", fe.Path)
		default:
			msg = c.lang.T("service.err.write", fe.Path, fe.Err)
		}
		return c.fileFail(msg, fe, err)
	default:
		fmt.Fprintln(c.stderr, "kyso: "+err.Error())
	}
	return exitFailure
}

// fileFail prints msg, about the file of fe, the *FileError in err, and
// returns exitFailure. After a failed write, Install has put back what it
// had written: msg says so only if it managed to, and otherwise is
// followed by err, which names what it could not put back.
func (c *cli) fileFail(msg string, fe *installer.FileError, err error) int {
	if fe.Op == "write" {
		if restoreFailed(err) {
			msg += "\n" + err.Error()
		} else {
			msg += " " + c.lang.T("service.err.unchanged")
		}
	}
	fmt.Fprintln(c.stderr, "kyso: "+msg)
	return exitFailure
}

// restoreFailed reports whether Install's error carries a failure to put
// an earlier file back (errors.Join of the write error and those).
func restoreFailed(err error) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range j.Unwrap() {
		var fe *installer.FileError
		if errors.As(e, &fe) && fe.Op == "restore" {
			return true
		}
	}
	return false
}
