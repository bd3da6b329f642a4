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
	"testing"

	"github.com/kyso-vn/kyso/internal/systemdtest"
)

// fakeExe makes an executable file at dir/sub/kyso, so that systemd-analyze
// can check that ExecStart names it exactly.
func fakeExe(t *testing.T, sub string) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), sub, "kyso")
	mustWrite(t, exe, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	return exe
}

// mustWrite writes a file, making its folder first.
func mustWrite(t *testing.T, path string, b []byte, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, perm); err != nil {
		t.Fatal(err)
	}
}

// userConfig points os.UserConfigDir at a fresh folder.
func userConfig(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	return cfg
}

// parseINI reads a unit or desktop file into section → key → value,
// refusing anything that is neither a comment, a section nor a key=value
// line, and keys given twice.
func parseINI(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	var sec map[string]string
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			name := line[1 : len(line)-1]
			if out[name] != nil {
				t.Fatalf("%s:%d: section %s twice", path, i+1, name)
			}
			sec = map[string]string{}
			out[name] = sec
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == nil {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, i+1, line)
			}
			if _, dup := sec[k]; dup {
				t.Fatalf("%s:%d: key %s twice", path, i+1, k)
			}
			sec[k] = v
		}
	}
	return out
}

// splitExecStart splits an ExecStart value the way systemd.syntax(7) and
// systemd.service(5) say: words separated by spaces, double quotes around
// a word, \\ and \" escapes, %% for a literal % and, in the arguments, $$
// for a literal $ (systemd expands no variable in the program's path, so a
// $ there is itself). The specifiers in keep (the system unit's %d and %S)
// stay as written; any other specifier, a lone $ in an argument or a lone ;
// (which separates commands) fails the test, since systemd would read it
// otherwise.
func splitExecStart(t *testing.T, v, keep string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '%' || (c == '$' && len(words) > 0):
			if i+1 >= len(v) {
				t.Fatalf("ExecStart %q ends with %c", v, c)
			}
			n := v[i+1]
			switch {
			case n == c:
				w.WriteByte(c)
			case c == '%' && strings.IndexByte(keep, n) >= 0:
				w.WriteByte(c)
				w.WriteByte(n)
			default:
				t.Fatalf("ExecStart %q: %c%c would be expanded by systemd", v, c, n)
			}
			i++
			inWord = true
		case c == '\\':
			if i+1 >= len(v) || !strings.ContainsRune(`\"`, rune(v[i+1])) {
				t.Fatalf("ExecStart %q: unexpected escape", v)
			}
			w.WriteByte(v[i+1])
			i++
			inWord = true
		case c == '"':
			quoted = !quoted
			inWord = true
		case c == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == ';' && !quoted && !inWord && (i+1 == len(v) || v[i+1] == ' '):
			t.Fatalf("ExecStart %q: a lone ; separates commands", v)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("ExecStart %q: unclosed quote", v)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// splitExec splits a desktop entry's Exec value the way the Desktop Entry
// specification says, in its order: the string escapes first (\\ → \),
// then the field codes (%% → %), then the quoting, where inside double
// quotes a backslash escapes ", `, $ and \, and the reserved characters
// are not allowed outside them.
func splitExec(t *testing.T, v string) []string {
	t.Helper()
	var s strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			switch v[i+1] {
			case '\\':
				s.WriteByte('\\')
			case 's':
				s.WriteByte(' ')
			default:
				t.Fatalf("Exec %q: string escape \\%c", v, v[i+1])
			}
			i++
			continue
		}
		s.WriteByte(v[i])
	}
	u := s.String()
	var f strings.Builder
	for i := 0; i < len(u); i++ {
		if u[i] == '%' {
			if i+1 >= len(u) || u[i+1] != '%' {
				t.Fatalf("Exec %q: field code in %q", v, u)
			}
			i++
		}
		f.WriteByte(u[i])
	}
	u = f.String()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case quoted && c == '\\':
			if i+1 >= len(u) || !strings.ContainsRune("\"`$\\", rune(u[i+1])) {
				t.Fatalf("Exec %q: bad escape in quotes", v)
			}
			w.WriteByte(u[i+1])
			i++
		case c == '"':
			quoted = !quoted
			inWord = true
		case quoted:
			w.WriteByte(c)
		case c == ' ':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case strings.IndexByte(desktopReserved, c) >= 0:
			t.Fatalf("Exec %q: reserved %q outside quotes", v, c)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("Exec %q: unclosed quote", v)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// validateDesktop runs desktop-file-validate, which must be installed
// (scripts/install-deps.sh installs desktop-file-utils), and wants it
// silent: it exits 0 on mere hints and warnings.
func validateDesktop(t *testing.T, path string) {
	t.Helper()
	tool, err := exec.LookPath("desktop-file-validate")
	if err != nil {
		t.Fatalf("desktop-file-validate is needed to check the autostart entry: install the Debian package desktop-file-utils (scripts/install-deps.sh): %v", err)
	}
	out, err := exec.Command(tool, path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("desktop-file-validate %s: %v\n%s", path, err, out)
	}
}

func checkUnit(t *testing.T, path, exe string) {
	t.Helper()
	u := parseINI(t, path)
	want := map[string]map[string]string{
		"Unit": {
			"Description": "kyso — tác tử ký số (digital signing agent)",
			"PartOf":      "graphical-session.target",
			"After":       "graphical-session.target",
		},
		"Service": {
			"ExecStart":  u["Service"]["ExecStart"],
			"Restart":    "on-failure",
			"RestartSec": "5",
		},
		"Install": {"WantedBy": "graphical-session.target"},
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("%s = %v, want %v", path, u, want)
	}
	if got := splitExecStart(t, u["Service"]["ExecStart"], ""); !reflect.DeepEqual(got, []string{exe, "run"}) {
		t.Errorf("ExecStart=%s runs %q, want %q", u["Service"]["ExecStart"], got, []string{exe, "run"})
	}
	systemdtest.Verify(t, path, true)
}

func checkDesktop(t *testing.T, path, exe string) {
	t.Helper()
	d := parseINI(t, path)
	e := d["Desktop Entry"]
	if len(d) != 1 || e == nil {
		t.Fatalf("%s: sections %v, want only [Desktop Entry]", path, d)
	}
	for k, v := range map[string]string{
		"Type":                      "Application",
		"Name":                      "kyso",
		"Name[vi]":                  "kyso",
		"Icon":                      "kyso",
		"Terminal":                  "false",
		"X-GNOME-Autostart-enabled": "true",
		"X-systemd-skip":            "true",
	} {
		if e[k] != v {
			t.Errorf("%s: %s=%q, want %q", path, k, e[k], v)
		}
	}
	for _, k := range []string{"Comment", "Comment[vi]"} {
		if e[k] == "" {
			t.Errorf("%s: no %s", path, k)
		}
	}
	if _, ok := e["Hidden"]; ok {
		t.Errorf("%s: Hidden= would disable the entry", path)
	}
	if got := splitExec(t, e["Exec"]); !reflect.DeepEqual(got, []string{exe, "run"}) {
		t.Errorf("Exec=%s runs %q, want %q", e["Exec"], got, []string{exe, "run"})
	}
	if got := strings.ReplaceAll(e["TryExec"], `\\`, `\`); got != exe {
		t.Errorf("TryExec=%s, want %s", e["TryExec"], exe)
	}
	validateDesktop(t, path)
}

func checkLink(t *testing.T, link, unit string) {
	t.Helper()
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatal(err)
	}
	if target != "../kyso.service" {
		t.Errorf("%s → %s, want ../kyso.service", link, target)
	}
	li, err := os.Stat(link)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := os.Stat(unit)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(li, ui) {
		t.Errorf("%s does not lead to %s", link, unit)
	}
}

func mustStatus(t *testing.T, a Autostart) Status {
	t.Helper()
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Systemd == "" {
		t.Error("Status.Systemd is empty")
	}
	return st
}

// wantFiles compares the files of a Status or SystemStatus with want.
func wantFiles(t *testing.T, got, want []FileStatus) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Status.Files =\n%+v\nwant\n%+v", got, want)
	}
}

// mustInstall runs Install, of an Autostart or a SystemService, and wants
// it to write want, in that order.
func mustInstall(t *testing.T, i interface{ Install() ([]string, error) }, want ...string) {
	t.Helper()
	written, err := i.Install()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(written, want) {
		t.Fatalf("Install wrote %q, want %q", written, want)
	}
}

// installAndCheck installs a and checks the unit, its link and the desktop
// entry it writes.
func installAndCheck(t *testing.T, a Autostart, unit, link, desktop string) {
	t.Helper()
	mustInstall(t, a, unit, link, desktop)
	checkUnit(t, unit, a.Exe)
	checkLink(t, link, unit)
	checkDesktop(t, desktop, a.Exe)
}

// wantReadable wants each path readable by everyone; who says who reads
// it.
func wantReadable(t *testing.T, who string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o044 != 0o044 {
			t.Errorf("%s is %v: %s", p, fi.Mode(), who)
		}
	}
}

// wantRestored wants the unit a failed Install replaced back as it was:
// content old, mode 0600.
func wantRestored(t *testing.T, unit string, old []byte) {
	t.Helper()
	fi, err := os.Stat(unit)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(old) || fi.Mode().Perm() != 0o600 {
		t.Errorf("the earlier unit was not put back: %v %q", fi.Mode(), b)
	}
}

func TestUserInstallStatusUninstall(t *testing.T) {
	cfg := userConfig(t)
	exe := fakeExe(t, "bin")
	a := Autostart{Exe: exe}
	unit := filepath.Join(cfg, "systemd/user/kyso.service")
	link := filepath.Join(cfg, "systemd/user/graphical-session.target.wants/kyso.service")
	desktop := filepath.Join(cfg, "autostart/kyso.desktop")

	installAndCheck(t, a, unit, link, desktop)

	st := mustStatus(t, a)
	wantFiles(t, st.Files, []FileStatus{{unit, true, true}, {link, true, true}, {desktop, true, true}})
	if !st.Installed() {
		t.Error("Installed() = false right after Install")
	}
	if got, err := a.InstalledExe(); err != nil || got != exe {
		t.Errorf("InstalledExe() = %q, %v; want %q", got, err, exe)
	}

	// Installing again is harmless and leaves the same files.
	if _, err := a.Install(); err != nil {
		t.Fatal(err)
	}
	if !mustStatus(t, a).Installed() {
		t.Error("not installed after a second Install")
	}

	// Another program, or an edited file, is not current.
	if st := mustStatus(t, Autostart{Exe: "/opt/kyso/kyso"}); st.Installed() {
		t.Errorf("files for %s reported current for /opt/kyso/kyso: %+v", exe, st.Files)
	}
	b, err := os.ReadFile(desktop)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(desktop, append(b, "X-Edited=true\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	st = mustStatus(t, a)
	wantFiles(t, st.Files, []FileStatus{{unit, true, true}, {link, true, true}, {desktop, true, false}})
	if st.Installed() {
		t.Error("Installed() with an edited entry")
	}

	// The absolute link `systemctl --user enable` writes is as good as
	// ours; a link elsewhere is not.
	for target, current := range map[string]bool{unit: true, "/etc/systemd/user/other.service": false} {
		if err := os.Remove(link); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if got := mustStatus(t, a).Files[1]; got != (FileStatus{link, true, current}) {
			t.Errorf("link to %s: %+v, want current=%v", target, got, current)
		}
	}

	// Install makes everything current again.
	if _, err := a.Install(); err != nil {
		t.Fatal(err)
	}
	checkLink(t, link, unit)
	if !mustStatus(t, a).Installed() {
		t.Error("Install did not repair the files")
	}

	removed, err := a.Uninstall()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{link, unit, desktop}; !reflect.DeepEqual(removed, want) {
		t.Errorf("Uninstall removed %q, want %q", removed, want)
	}
	for _, p := range []string{unit, link, desktop, filepath.Dir(link)} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Uninstall: %v", p, err)
		}
	}
	st = mustStatus(t, a)
	wantFiles(t, st.Files, []FileStatus{{unit, false, false}, {link, false, false}, {desktop, false, false}})
	if st.Installed() {
		t.Error("Installed() after Uninstall")
	}
	if _, err := a.InstalledExe(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("InstalledExe() after Uninstall: %v, want fs.ErrNotExist", err)
	}

	// Nothing installed: nothing to remove, no error.
	removed, err = a.Uninstall()
	if err != nil || len(removed) != 0 {
		t.Errorf("second Uninstall = %q, %v", removed, err)
	}
}

func TestUninstallNothingInstalled(t *testing.T) {
	cfg := userConfig(t)
	removed, err := Autostart{}.Uninstall()
	if err != nil || len(removed) != 0 {
		t.Errorf("Uninstall = %q, %v", removed, err)
	}
	// Not even the folders appear.
	if es, err := os.ReadDir(cfg); err != nil || len(es) != 0 {
		t.Errorf("config folder after Uninstall: %v, %v", es, err)
	}
}

func TestAllUsersUnderRoot(t *testing.T) {
	cfg := userConfig(t)
	root := t.TempDir()
	exe := fakeExe(t, "usr/bin")
	a := Autostart{Exe: exe, Scope: ScopeAllUsers, Root: root}
	unit := filepath.Join(root, "etc/systemd/user/kyso.service")
	link := filepath.Join(root, "etc/systemd/user/graphical-session.target.wants/kyso.service")
	desktop := filepath.Join(root, "etc/xdg/autostart/kyso.desktop")

	installAndCheck(t, a, unit, link, desktop)
	wantReadable(t, "every user's session must read it", unit, desktop, filepath.Dir(unit), filepath.Dir(desktop))
	if es, err := os.ReadDir(cfg); err != nil || len(es) != 0 {
		t.Errorf("the user's folder was touched: %v, %v", es, err)
	}

	st := mustStatus(t, a)
	wantFiles(t, st.Files, []FileStatus{{unit, true, true}, {link, true, true}, {desktop, true, true}})
	if !strings.HasPrefix(st.Systemd, "unavailable: ") {
		t.Errorf("Systemd = %q for a staging root", st.Systemd)
	}

	entries, err := a.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("Entries has %d files, want 2", len(entries))
	}
	for _, p := range []string{unit, desktop} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(entries[p]) != string(b) {
			t.Errorf("Entries()[%s] differs from the file Install wrote", p)
		}
	}
	links, err := a.Links()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{link: "../kyso.service"}; !reflect.DeepEqual(links, want) {
		t.Errorf("Links() = %v, want %v", links, want)
	}

	// The .wants folder stays while it enables another unit.
	other := filepath.Join(filepath.Dir(link), "other.service")
	if err := os.Symlink("../other.service", other); err != nil {
		t.Fatal(err)
	}
	removed, err := a.Uninstall()
	if err != nil || len(removed) != 3 {
		t.Fatalf("Uninstall = %q, %v", removed, err)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("another unit's link: %v", err)
	}
	wantFiles(t, mustStatus(t, a).Files, []FileStatus{{unit, false, false}, {link, false, false}, {desktop, false, false}})
}

// Paths with spaces and with every character the two formats treat
// specially are written so that systemd and the desktop launchers run
// exactly that program.
func TestExeQuoting(t *testing.T) {
	for _, sub := range []string{
		"Program Files/kyso",
		"Tài liệu (ký số)",
		"a$HOME b",
		"50% off",
		"semi;colon & amp|pipe",
		"back`tick *?#~<>",
	} {
		t.Run(sub, func(t *testing.T) {
			cfg := userConfig(t)
			exe := fakeExe(t, sub)
			if _, err := (Autostart{Exe: exe}).Install(); err != nil {
				t.Fatal(err)
			}
			unit := filepath.Join(cfg, "systemd/user/kyso.service")
			checkUnit(t, unit, exe)
			checkDesktop(t, filepath.Join(cfg, "autostart/kyso.desktop"), exe)
			if got, err := (Autostart{}).InstalledExe(); err != nil || got != exe {
				t.Errorf("InstalledExe() = %q, %v; want %q", got, err, exe)
			}
		})
	}
	// The spec's own example: a space needs quotes, in both files.
	cfg := userConfig(t)
	exe := fakeExe(t, "with space")
	if _, err := (Autostart{Exe: exe}).Install(); err != nil {
		t.Fatal(err)
	}
	u := parseINI(t, filepath.Join(cfg, "systemd/user/kyso.service"))
	if got, want := u["Service"]["ExecStart"], `"`+exe+`" run`; got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
	d := parseINI(t, filepath.Join(cfg, "autostart/kyso.desktop"))
	if got, want := d["Desktop Entry"]["Exec"], `"`+exe+`" run`; got != want {
		t.Errorf("Exec=%s, want %s", got, want)
	}
}

func TestBadExe(t *testing.T) {
	cfg := userConfig(t)
	for _, exe := range []string{"", "kyso", "bin/kyso", "/opt/\"kyso\"/kyso", "/opt/it's/kyso", `/opt/back\slash/kyso`, "/opt/new\nline/kyso"} {
		a := Autostart{Exe: exe}
		if _, err := a.Install(); !errors.Is(err, ErrBadExe) {
			t.Errorf("Install(%q) = %v, want ErrBadExe", exe, err)
		}
		if _, err := a.Entries(); !errors.Is(err, ErrBadExe) {
			t.Errorf("Entries(%q) = %v, want ErrBadExe", exe, err)
		}
	}
	if es, err := os.ReadDir(cfg); err != nil || len(es) != 0 {
		t.Errorf("something was written: %v, %v", es, err)
	}
}

// A file that cannot be written undoes the ones before it: new files and
// the folders made for them go, files that were there get their content
// back. A regular file where a folder must be fails even for root, which
// a read-only folder would not.
func TestInstallAllOrNothing(t *testing.T) {
	userConfig(t)
	exe := fakeExe(t, "bin")

	t.Run("fresh", func(t *testing.T) {
		root := t.TempDir()
		mustWrite(t, filepath.Join(root, "etc/xdg"), []byte("not a folder"), 0o644)
		a := Autostart{Exe: exe, Scope: ScopeAllUsers, Root: root}
		written, err := a.Install()
		var fe *FileError
		if !errors.As(err, &fe) || fe.Path != filepath.Join(root, "etc/xdg/autostart/kyso.desktop") || fe.Op != "write" {
			t.Fatalf("Install = %q, %v; want a write error naming the desktop entry", written, err)
		}
		if !strings.Contains(err.Error(), fe.Path) {
			t.Errorf("the message %q does not name %s", err, fe.Path)
		}
		if written != nil {
			t.Errorf("Install reports %q written", written)
		}
		es, err := os.ReadDir(filepath.Join(root, "etc"))
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Name() != "xdg" {
			t.Errorf("left in etc: %v, want only the blocking xdg file", es)
		}
	})

	t.Run("replacing", func(t *testing.T) {
		root := t.TempDir()
		unit := filepath.Join(root, "etc/systemd/user/kyso.service")
		old := []byte("[Service]\nExecStart=/old/kyso run\n")
		mustWrite(t, unit, old, 0o600)
		mustWrite(t, filepath.Join(root, "etc/xdg"), nil, 0o644)
		if _, err := (Autostart{Exe: exe, Scope: ScopeAllUsers, Root: root}).Install(); err == nil {
			t.Fatal("Install succeeded with etc/xdg a file")
		}
		wantRestored(t, unit, old)
		es, err := os.ReadDir(filepath.Dir(unit))
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 {
			t.Errorf("left in %s: %v, want only kyso.service", filepath.Dir(unit), es)
		}
	})
}
