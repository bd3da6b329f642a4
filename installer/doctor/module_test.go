package doctor

import (
	"context"
	"debug/elf"
	"debug/pe"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/kyso-vn/kyso/token"
)

// otherELFMachine is an architecture that is not this program's.
func otherELFMachine() elf.Machine {
	if runtime.GOARCH == "arm64" {
		return elf.EM_X86_64
	}
	return elf.EM_AARCH64
}

func TestInspectModule(t *testing.T) {
	dir := t.TempDir()
	text := writeFile(t, dir, "notalib.so", []byte("this is not a shared library\n"))
	short := writeFile(t, dir, "short.so", []byte("\x7f"))
	arm := writeFile(t, dir, "libarm.so", elfHeader(elf.EM_AARCH64, elf.ET_DYN))
	amd := writeFile(t, dir, "libamd64.so", elfHeader(elf.EM_X86_64, elf.ET_DYN))
	exec := writeFile(t, dir, "program", elfHeader(elf.EM_X86_64, elf.ET_EXEC))
	dllOK := writeFile(t, dir, "vnptca_p11_v8.dll", peDLL(pe.IMAGE_FILE_MACHINE_AMD64, true, "C_Finalize", "C_GetFunctionList", "C_Initialize"))
	dllOther := writeFile(t, dir, "zlib1.dll", peDLL(pe.IMAGE_FILE_MACHINE_AMD64, true, "deflate", "inflate"))
	dll32 := writeFile(t, dir, "viettel-ca_v5.dll", peDLL(pe.IMAGE_FILE_MACHINE_I386, true, "C_GetFunctionList"))
	exe := writeFile(t, dir, "setup.exe", peDLL(pe.IMAGE_FILE_MACHINE_AMD64, false, "C_GetFunctionList"))
	noPerm := writeFile(t, dir, "secret.so", elfHeader(elf.EM_X86_64, elf.ET_DYN))
	if err := os.Chmod(noPerm, 0); err != nil {
		t.Fatal(err)
	}
	// root reads every file whatever its mode.
	unreadable := ModuleUnreadable
	if os.Geteuid() == 0 {
		unreadable = ModuleNotPKCS11
	}

	tests := []struct {
		name, path, goos, goarch string
		want                     ModuleProblem
		arch                     string
	}{
		{"missing", filepath.Join(dir, "nope", "libbogus.so"), "linux", "amd64", ModuleMissing, ""},
		{"directory", dir, "linux", "amd64", ModuleNotFile, ""},
		{"text file", text, "linux", "amd64", ModuleNotLibrary, ""},
		{"too short", short, "linux", "amd64", ModuleNotLibrary, ""},
		{"ELF of another architecture", arm, "linux", "amd64", ModuleWrongArch, "arm64"},
		{"ELF without C_GetFunctionList", amd, "linux", "amd64", ModuleNotPKCS11, "amd64"},
		{"ELF executable", exec, "linux", "amd64", ModuleNotLibrary, "amd64"},
		{"ELF on Windows", amd, "windows", "amd64", ModuleWrongOS, "amd64"},
		{"unreadable", noPerm, "linux", "amd64", unreadable, ""},
		{"PKCS#11 DLL", dllOK, "windows", "amd64", ModuleOK, "amd64"},
		{"DLL without C_GetFunctionList", dllOther, "windows", "amd64", ModuleNotPKCS11, "amd64"},
		{"32-bit DLL in a 64-bit kyso", dll32, "windows", "amd64", ModuleWrongArch, "386"},
		{"32-bit DLL in a 32-bit kyso", dll32, "windows", "386", ModuleOK, "386"},
		{"Windows program", exe, "windows", "amd64", ModuleNotLibrary, "amd64"},
		{"DLL on Linux", dllOK, "linux", "amd64", ModuleWrongOS, "amd64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := inspectModule(tc.path, tc.goos, tc.goarch)
			if got.Problem != tc.want {
				t.Fatalf("problem %q (%s), want %q", got.Problem, got.Detail, tc.want)
			}
			if tc.arch != "" && got.Arch != tc.arch {
				t.Errorf("arch %q, want %q", got.Arch, tc.arch)
			}
			if tc.want != ModuleOK && got.Detail == "" {
				t.Error("no detail")
			}
		})
	}
}

// sharedLibrary returns a real shared library this process has mapped
// that is not a PKCS#11 module (the C library: the token package links
// with it), from /proc/self/maps.
func sharedLibrary(t *testing.T) string {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.Contains(filepath.Base(f[5]), "libc.so") {
			return f[5]
		}
	}
	t.Fatalf("no libc in /proc/self/maps:\n%s", maps)
	return ""
}

func TestInspectRealLibraries(t *testing.T) {
	if runtime.GOOS != "linux" {
		// The table above covers the formats; this reads the system's.
		return
	}
	libc := sharedLibrary(t)
	if got := InspectModule(libc); got.Problem != ModuleNotPKCS11 || got.Arch != runtime.GOARCH {
		t.Errorf("%s: %+v, want not-pkcs11 for %s", libc, got, runtime.GOARCH)
	}
	soft := softhsmModule(t)
	if got := InspectModule(soft); got.Problem != ModuleOK {
		t.Errorf("%s: %+v, want a PKCS#11 module", soft, got)
	}
}

func TestLoadProblem(t *testing.T) {
	tests := []struct {
		msg  string
		want ModuleProblem
		dep  string
	}{
		{"libpcsclite.so.1: cannot open shared object file: No such file or directory", ModuleDependency, "libpcsclite.so.1"},
		{"LoadLibrary failed with Windows error 126", ModuleDependency, ""},
		{"C_Initialize failed: CKR_GENERAL_ERROR", ModuleInitFailed, ""},
		{"the library has no C_GetFunctionList symbol (not a PKCS#11 module)", ModuleNotPKCS11, ""},
		{"something else", ModuleLoadFailed, ""},
	}
	for _, tc := range tests {
		p, dep := loadProblem(tc.msg)
		if p != tc.want || dep != tc.dep {
			t.Errorf("%q: %q %q, want %q %q", tc.msg, p, dep, tc.want, tc.dep)
		}
	}
}

func TestModuleFixes(t *testing.T) {
	l := i18n.Vietnamese
	tests := []struct {
		problem ModuleProblem
		path    string
		want    string
	}{
		{ModuleMissing, "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so", "cài gói opensc-pkcs11"},
		{ModuleMissing, "/usr/lib/libbit4xpki.so", "bit4id"},
		{ModuleMissing, "/opt/x/libunknown.so", "nhà cung cấp chứng thư số"},
		{ModuleWrongArch, `C:\Windows\SysWOW64\viettel-ca_v5.dll`, "Viettel-CA"},
		{ModuleNotPKCS11, "/lib/libz.so.1", "thư viện PKCS#11 của token"},
		{ModuleDependency, "/usr/lib/libeToken.so", "libpcsclite.so.1"},
	}
	for _, tc := range tests {
		got := moduleFix(tc.problem, tc.path, "386", "libpcsclite.so.1", "linux", "amd64").String(l)
		if !strings.Contains(strings.ToLower(got), strings.ToLower(tc.want)) {
			t.Errorf("%s %s: fix %q lacks %q", tc.problem, tc.path, got, tc.want)
		}
		if strings.Contains(got, "%!") {
			t.Errorf("%s: %q", tc.problem, got)
		}
	}
}

// TestModuleFindings loads real paths through the token package: a bogus
// path, a library that is not PKCS#11 and a library of another
// architecture are each reported with their reason and a fix, and since
// none loads, there is an error and the exit code is 1.
func TestModuleFindings(t *testing.T) {
	dir := t.TempDir()
	bogus := "/nonexistent/libbogus.so"
	arm := writeFile(t, dir, "libother-arch.so", elfHeader(otherELFMachine(), elf.ET_DYN))
	text := writeFile(t, dir, "notalib.so", []byte("hello\n"))
	mods := []string{bogus, arm, text}
	if runtime.GOOS == "linux" {
		mods = append(mods, sharedLibrary(t))
	}
	cfg := isolated(t)
	cfg.Keys = nil
	cfg.Modules = mods
	rep := Run(context.Background(), cfg)
	render(t, rep)

	want := map[string]string{bogus: "module.missing", arm: "module.wrong-arch", text: "module.not-library"}
	if runtime.GOOS == "linux" {
		want[mods[3]] = "module.not-pkcs11"
	}
	got := map[string]Finding{}
	for _, f := range only(rep, "module.") {
		if p, ok := f.Details["path"].(string); ok {
			got[p] = f
		}
	}
	for path, id := range want {
		f, ok := got[path]
		switch {
		case !ok:
			t.Errorf("%s: no finding; have %v", path, ids(rep.Findings))
		case f.ID != id:
			t.Errorf("%s: %s, want %s", path, f.ID, id)
		case f.Severity != SeverityError:
			t.Errorf("%s: severity %s for a configured module, want error", path, f.Severity)
		case f.Fix.Key == "" || f.Details["error"] == "":
			t.Errorf("%s: no fix or no loader error: %+v", path, f)
		}
	}
	if msg := got[bogus].Message.String(i18n.English); !strings.Contains(msg, bogus) || !strings.Contains(msg, "no such file") {
		t.Errorf("bogus module message %q", msg)
	}
	if len(rep.ByID("module.none")) != 1 {
		t.Errorf("no module.none: %v", ids(rep.Findings))
	}
	if rep.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1", rep.ExitCode())
	}
}

// TestDiscoveredModuleIsWarning: a module found by discovery that does not
// load is a warning when another loads; configured, it would be an error.
func TestDiscoveredModuleIsWarning(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libeToken.so")
	for _, configured := range []bool{false, true} {
		cfg := isolated(t)
		cfg.Keys = fakeKeys{modules: []token.ModuleStatus{
			{Path: "/usr/lib/fake-pkcs11.so", Loaded: true},
			{Path: missing, Error: "module file: stat " + missing + ": no such file or directory"},
		}}
		want := SeverityWarning
		if configured {
			cfg.Modules = []string{missing}
			want = SeverityError
		}
		rep := Run(context.Background(), cfg)
		render(t, rep)
		fs := rep.ByID("module.missing")
		if len(fs) != 1 || fs[0].Severity != want {
			t.Fatalf("configured=%v: %v, want one module.missing:%s", configured, ids(rep.Findings), want)
		}
		if fix := fs[0].Fix.String(i18n.English); !strings.Contains(fix, "SafeNet eToken") {
			t.Errorf("fix %q does not name the vendor", fix)
		}
		if got := rep.ExitCode(); got != map[bool]int{false: 0, true: 1}[configured] {
			t.Errorf("configured=%v: exit code %d", configured, got)
		}
	}
}

// softhsmModule is the SoftHSM library, a real PKCS#11 module.
func softhsmModule(t *testing.T) string {
	t.Helper()
	p, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
