//go:build linux

package installer

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/kyso-vn/kyso/internal/systemdtest"
)

// systemPaths are the unit and its enabling link under root.
func systemPaths(root, name string) (unit, link string) {
	return filepath.Join(root, "etc/systemd/system", name+".service"),
		filepath.Join(root, "etc/systemd/system/multi-user.target.wants", name+".service")
}

func TestSystemUnitContent(t *testing.T) {
	exe := fakeExe(t, "opt/kyso bin")
	args := []string{
		"--module", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"--policy", "/etc/kyso/chính sách.json",
		"--log", "debug",
		`--trust=/etc/kyso/"root" ca.pem`,
		`odd\back$slash%20;`, ";", "it's",
	}
	root := t.TempDir()
	s := SystemService{Exe: exe, Args: args, Root: root}
	unit, link := systemPaths(root, "kyso-server")
	mustInstall(t, s, unit, link)
	u := parseINI(t, unit)
	exec := u["Service"]["ExecStart"]
	want := map[string]map[string]string{
		"Unit": {
			"Description":   "kyso — máy chủ ký số không người trực (unattended signing server)",
			"Documentation": "man:kyso(1)",
			"Wants":         "network-online.target",
			"After":         "network-online.target",
		},
		"Service": {
			"Type":                    "exec",
			"ExecStart":               exec,
			"LoadCredential":          "pin:/etc/kyso/pin",
			"Environment":             "XDG_CONFIG_HOME=%S/kyso-server",
			"DynamicUser":             "yes",
			"StateDirectory":          "kyso-server",
			"StateDirectoryMode":      "0700",
			"UMask":                   "0077",
			"Restart":                 "on-failure",
			"RestartSec":              "5",
			"NoNewPrivileges":         "yes",
			"ProtectSystem":           "strict",
			"ProtectHome":             "yes",
			"PrivateTmp":              "yes",
			"ProtectKernelTunables":   "yes",
			"ProtectKernelModules":    "yes",
			"ProtectControlGroups":    "yes",
			"RestrictNamespaces":      "yes",
			"RestrictSUIDSGID":        "yes",
			"LockPersonality":         "yes",
			"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
		},
		"Install": {"WantedBy": "multi-user.target"},
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("%s =\n%v\nwant\n%v", unit, u, want)
	}
	wantArgs := append([]string{exe, "serve", "--headless", "--unattended", "--pin-file=%d/pin"}, args...)
	if got := splitExecStart(t, exec, "dS"); !reflect.DeepEqual(got, wantArgs) {
		t.Errorf("ExecStart=%s runs\n%q\nwant\n%q", exec, got, wantArgs)
	}
	if target, err := os.Readlink(link); err != nil || target != "../kyso-server.service" {
		t.Errorf("%s → %q, %v; want ../kyso-server.service", link, target, err)
	}
	wantReadable(t, "systemd and admins read it", unit, filepath.Dir(unit), filepath.Dir(link))
	systemdtest.Verify(t, unit, false)

	// What status compares with when no program is named: the unit reads
	// back as it was installed.
	got, err := (SystemService{Root: root}).Installed()
	if err != nil {
		t.Fatal(err)
	}
	if got.Exe != exe || !reflect.DeepEqual(got.Args, args) || got.PINFile != "" {
		t.Errorf("Installed() = %+v, want exe %s and args %q", got, exe, args)
	}
	entries, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || string(entries[unit]) != string(b) {
		t.Errorf("Entries() differ from what Install wrote: %v", entries)
	}
	links, err := s.Links()
	if err != nil || !reflect.DeepEqual(links, map[string]string{link: "../kyso-server.service"}) {
		t.Errorf("Links() = %v, %v", links, err)
	}
}

// A name and a PIN file of one's own: the state folder, the credential and
// the unit's name follow.
func TestSystemUnitNameAndPINFile(t *testing.T) {
	exe := fakeExe(t, "bin")
	root := t.TempDir()
	s := SystemService{Name: "kyso-hsm2", Exe: exe, PINFile: "/etc/kyso/hsm2%.pin", Root: root}
	if _, err := s.Install(); err != nil {
		t.Fatal(err)
	}
	unit, _ := systemPaths(root, "kyso-hsm2")
	u := parseINI(t, unit)
	if got := u["Service"]["LoadCredential"]; got != "pin:/etc/kyso/hsm2%%.pin" {
		t.Errorf("LoadCredential=%s", got)
	}
	if got := u["Service"]["StateDirectory"]; got != "kyso-hsm2" {
		t.Errorf("StateDirectory=%s", got)
	}
	if got := u["Service"]["Environment"]; got != "XDG_CONFIG_HOME=%S/kyso-hsm2" {
		t.Errorf("Environment=%s", got)
	}
	systemdtest.Verify(t, unit, false)
	got, err := (SystemService{Name: "kyso-hsm2", Root: root}).Installed()
	if err != nil || got.PINFile != "/etc/kyso/hsm2%.pin" || got.Exe != exe {
		t.Errorf("Installed() = %+v, %v", got, err)
	}
}

func TestSystemInstallStatusUninstall(t *testing.T) {
	exe := fakeExe(t, "usr/bin")
	root := t.TempDir()
	s := SystemService{Exe: exe, Args: []string{"--module", "/usr/lib/hsm/p11.so"}, Root: root}
	unit, link := systemPaths(root, "kyso-server")

	status := func(s SystemService) SystemStatus {
		t.Helper()
		st, err := s.Status()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(st.State, "unavailable: ") {
			t.Errorf("State = %q for a staging root", st.State)
		}
		return st
	}

	st := status(s)
	wantFiles(t, st.Files, []FileStatus{{unit, false, false}, {link, false, false}})
	if st.Installed() {
		t.Error("Installed before Install")
	}
	if _, err := (SystemService{Root: root}).Installed(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Installed() with no unit: %v, want fs.ErrNotExist", err)
	}

	if _, err := s.Install(); err != nil {
		t.Fatal(err)
	}
	st = status(s)
	wantFiles(t, st.Files, []FileStatus{{unit, true, true}, {link, true, true}})
	if !st.Installed() {
		t.Error("not Installed after Install")
	}
	// Other flags, another program: the unit is not what they would get.
	other := s
	other.Args = []string{"--module", "/usr/lib/other/p11.so"}
	wantFiles(t, status(other).Files, []FileStatus{{unit, true, false}, {link, true, true}})
	// The link `systemctl enable` writes (absolute) is as good as ours.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/systemd/system/kyso-server.service", link); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, status(s).Files, []FileStatus{{unit, true, true}, {link, true, true}})
	// Installing again replaces it and changes the flags.
	if _, err := other.Install(); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, status(other).Files, []FileStatus{{unit, true, true}, {link, true, true}})

	// The .wants folder stays while it enables another unit.
	another := filepath.Join(filepath.Dir(link), "other.service")
	if err := os.Symlink("../other.service", another); err != nil {
		t.Fatal(err)
	}
	removed, err := s.Uninstall()
	if err != nil || !reflect.DeepEqual(removed, []string{link, unit}) {
		t.Fatalf("Uninstall = %q, %v", removed, err)
	}
	if _, err := os.Lstat(another); err != nil {
		t.Errorf("another unit's link: %v", err)
	}
	wantFiles(t, status(s).Files, []FileStatus{{unit, false, false}, {link, false, false}})
	if err := os.Remove(another); err != nil {
		t.Fatal(err)
	}
	// Nothing left to remove is fine, and the empty .wants folder goes.
	if _, err := s.Install(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if removed, err := s.Uninstall(); err != nil || len(removed) != 0 {
		t.Errorf("second Uninstall = %q, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Dir(link)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the empty .wants folder stayed: %v", err)
	}
}

func TestSystemBadInput(t *testing.T) {
	exe := fakeExe(t, "bin")
	for _, tc := range []struct {
		name string
		s    SystemService
		want error
	}{
		{"relative exe", SystemService{Exe: "bin/kyso"}, ErrBadExe},
		{"quote in exe", SystemService{Exe: `/opt/it"s/kyso`}, ErrBadExe},
		{"name with slash", SystemService{Name: "../kyso", Exe: exe}, ErrBadServiceName},
		{"name with space", SystemService{Name: "kyso server", Exe: exe}, ErrBadServiceName},
		{"second pin file", SystemService{Exe: exe, Args: []string{"--pin-file", "/tmp/pin"}}, ErrBadServeArgs},
		{"pin file with =", SystemService{Exe: exe, Args: []string{"-pin-file=/tmp/pin"}}, ErrBadServeArgs},
		{"attended", SystemService{Exe: exe, Args: []string{"--unattended=false"}}, ErrBadServeArgs},
		{"headless again", SystemService{Exe: exe, Args: []string{"--headless"}}, ErrBadServeArgs},
		{"newline in a flag", SystemService{Exe: exe, Args: []string{"--log", "debug\nExecStartPre=/bin/sh"}}, ErrBadServeArgs},
		{"relative PIN file", SystemService{Exe: exe, PINFile: "pin"}, ErrBadServeArgs},
		{"PIN file with a blank", SystemService{Exe: exe, PINFile: "/etc/kyso/my pin"}, ErrBadServeArgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.s.Root = root
			written, err := tc.s.Install()
			if !errors.Is(err, tc.want) {
				t.Errorf("Install = %q, %v; want %v", written, err, tc.want)
			}
			if _, err := tc.s.Status(); !errors.Is(err, tc.want) {
				t.Errorf("Status: %v, want %v", err, tc.want)
			}
			if es, err := os.ReadDir(root); err != nil || len(es) != 0 {
				t.Errorf("something was written: %v, %v", es, err)
			}
		})
	}
}

// execArg and splitExecLine (what Installed reads back with) agree on
// every character that matters to systemd.
func TestSystemExecArgRoundTrip(t *testing.T) {
	in := []string{"plain", "with space", `"quoted"`, `back\slash`, "$HOME", "${X}", "%d", "100%", ";", "a;b", "it's", "tab\there", "ký số"}
	line := "/usr/bin/kyso"
	for _, a := range in {
		line += " " + execArg(a)
	}
	got, err := splitExecLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{"/usr/bin/kyso"}, in...); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip of %s:\n%q\nwant\n%q", line, got, want)
	}
	if sys := splitExecStart(t, strings.ReplaceAll(line, "\t", " "), "dS"); len(sys) != len(in)+1 {
		t.Errorf("systemd's splitting gives %d words, want %d", len(sys), len(in)+1)
	}
}

// A file that cannot be written undoes the one before it, and puts back
// a unit that was there: nothing is left half-installed.
func TestSystemInstallAllOrNothing(t *testing.T) {
	exe := fakeExe(t, "bin")

	t.Run("fresh", func(t *testing.T) {
		root := t.TempDir()
		unit, link := systemPaths(root, "kyso-server")
		// A regular file where the .wants folder must be fails even for
		// root, which a read-only folder would not.
		mustWrite(t, filepath.Dir(link), []byte("not a folder"), 0o644)
		written, err := (SystemService{Exe: exe, Root: root}).Install()
		var fe *FileError
		if !errors.As(err, &fe) || fe.Path != link || fe.Op != "write" {
			t.Fatalf("Install = %q, %v; want a write error naming the link", written, err)
		}
		es, err := os.ReadDir(filepath.Dir(unit))
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Name() != "multi-user.target.wants" || es[0].IsDir() {
			t.Errorf("left in %s: %v, want only the blocking file", filepath.Dir(unit), es)
		}
	})

	t.Run("replacing", func(t *testing.T) {
		root := t.TempDir()
		unit, link := systemPaths(root, "kyso-server")
		old := []byte("[Service]\nExecStart=/old/kyso serve\n")
		mustWrite(t, unit, old, 0o600)
		mustWrite(t, filepath.Dir(link), nil, 0o644)
		if _, err := (SystemService{Exe: exe, Root: root}).Install(); err == nil {
			t.Fatal("Install succeeded with the .wants folder a file")
		}
		wantRestored(t, unit, old)
	})
}

// Without the right to write /etc (not root), Install fails with a
// permission error naming the unit and writes nothing. Run as root, the
// test runs Install in a child process of this test binary as the user
// nobody, since root may write anywhere.
func TestSystemInstallWithoutPermission(t *testing.T) {
	if os.Getenv("KYSO_INSTALLER_HELPER") == "system-install" {
		systemInstallHelper()
		return
	}
	// The staging root belongs to the current user and is read-only for
	// everyone else; a root-owned folder the child cannot write in.
	base, err := os.MkdirTemp("", "kyso-system-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "root")
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit, _ := systemPaths(root, "kyso-server")

	var out []byte
	if os.Geteuid() == 0 {
		// Root may write anywhere: the child drops to nobody. It needs a
		// copy of this binary it may run.
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(base, "installer.test")
		data, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestSystemInstallWithoutPermission$", "-test.count=1")
		cmd.Env = append(os.Environ(), "KYSO_INSTALLER_HELPER=system-install", "KYSO_INSTALLER_ROOT="+root, "TMPDIR="+base)
		cmd.Dir = base
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err = cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the helper as nobody: %v\n%s", err, out)
		}
	} else {
		if err := os.Chmod(filepath.Join(root, "etc/systemd"), 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Join(root, "etc/systemd"), 0o755) })
		out = []byte(systemInstallResult(root))
	}
	if got := strings.TrimSpace(lastLine(string(out))); got != "permission "+unit {
		t.Errorf("Install without permission: %q, want a permission error naming %s\n%s", got, unit, out)
	}
	es, err := os.ReadDir(filepath.Join(root, "etc/systemd"))
	if err != nil || len(es) != 0 {
		t.Errorf("left in etc/systemd: %v, %v", es, err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "permission ") || strings.HasPrefix(lines[i], "result ") {
			return lines[i]
		}
	}
	return ""
}

// systemInstallHelper is the child's side: it prints the outcome.
func systemInstallHelper() {
	os.Stdout.WriteString(systemInstallResult(os.Getenv("KYSO_INSTALLER_ROOT")) + "\n")
}

// systemInstallResult installs under root and says "permission PATH" for
// a permission error naming PATH, else "result …".
func systemInstallResult(root string) string {
	_, err := (SystemService{Exe: "/usr/bin/kyso", Root: root}).Install()
	var fe *FileError
	if errors.As(err, &fe) && errors.Is(err, fs.ErrPermission) && fe.Op == "write" {
		return "permission " + fe.Path
	}
	return "result " + strings.ReplaceAll(func() string {
		if err == nil {
			return "installed"
		}
		return err.Error()
	}(), "\n", " ")
}
