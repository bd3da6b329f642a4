package dist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/systemdtest"
)

// testDescribe versions the packages the tests build: a build past a tag,
// so that every format's conversion shows, and a version no real kyso
// package has, so that a package left installed by an interrupted test
// run is recognised as the tests' own.
const testDescribe = "v1.4.2-3-g0123abc"

// Expected versions of testDescribe in each format.
const (
	wantDebVersion = "1.4.2+3.g0123abc-1"
	wantRPMVersion = "1.4.2+3.g0123abc-1"
	wantMSIVersion = "1.4.2"
	wantKysoVer    = "kyso 1.4.2-3-g0123abc"
)

// wantsDir is the folder of the link that enables the unit; other
// packages' units may use it too.
const wantsDir = "/usr/lib/systemd/user/graphical-session.target.wants"

// packagedPaths is what the .deb and the .rpm install, and what the
// documentation (docs/deployment.md, "Packages") lists: path → kind
// ("file", "config" for a configuration file, "link:TARGET", "dir").
func packagedPaths() map[string]string {
	return map[string]string{
		"/usr/bin/kyso":                      "file",
		"/usr/lib/systemd/user/kyso.service": "file",
		wantsDir:                             "dir",
		"/usr/lib/systemd/user/graphical-session.target.wants/kyso.service": "link:../kyso.service",
		"/etc/xdg/autostart/kyso.desktop":                                   "config",
		"/usr/share/applications/kyso.desktop":                              "file",
		"/usr/share/icons/hicolor/32x32/apps/kyso.png":                      "file",
		"/usr/share/icons/hicolor/scalable/apps/kyso.svg":                   "file",
		"/usr/share/man/man1/kyso.1.gz":                                     "file",
		"/usr/share/doc/kyso":                                               "dir",
		"/usr/share/doc/kyso/cli.md":                                        "file",
		"/usr/share/doc/kyso/configuration.md":                              "file",
		"/etc/kyso":                                                         "dir",
	}
}

// TestPackages builds every artifact once, into a temporary folder, and
// checks each: the .deb by installing and removing it on this machine,
// the .rpm and the .msi by reading their tables, the signatures with
// osslsigncode.
func TestPackages(t *testing.T) {
	for _, tool := range [][2]string{
		{"dpkg", "dpkg"}, {"dpkg-deb", "dpkg"}, {"rpm", "rpm"}, {"wixl", "wixl"},
		{"msiinfo", "msitools"}, {"msibuild", "msitools"}, {"msiextract", "msitools"},
		{"osslsigncode", "osslsigncode"}, {"desktop-file-validate", "desktop-file-utils"},
		{"groff", "groff-base"}, {"x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"},
	} {
		lookTool(t, tool[0], tool[1])
	}
	ctx := context.Background()
	out := t.TempDir()
	var log bytes.Buffer
	res, err := Build(ctx, Options{Repo: "../..", Out: out, Describe: testDescribe, Log: &log})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	for _, p := range append(res.Artifacts(), res.Sums) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-48s %8.1f MB", filepath.Base(p), float64(fi.Size())/1e6)
	}
	for _, s := range res.Steps {
		t.Logf("step %-16s %s", s.Name, s.Duration)
	}

	t.Run("SHA256SUMS", func(t *testing.T) { checkSums(t, res) })
	t.Run("deb/fields", func(t *testing.T) { checkDebFields(t, res) })
	t.Run("rpm", func(t *testing.T) { checkRPM(t, res) })
	t.Run("msi", func(t *testing.T) { checkMSI(t, res) })
	t.Run("signatures", func(t *testing.T) { checkSignatures(t, res) })
	// Last: it installs the package on this machine (and removes it).
	t.Run("deb/install", func(t *testing.T) { checkDebInstall(t, res) })
}

func checkSums(t *testing.T, res *Result) {
	b, err := os.ReadFile(res.Sums)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, p := range res.Artifacts() {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&want, "%s  %s\n", hex.EncodeToString(sum[:]), filepath.Base(p))
	}
	if string(b) != want.String() {
		t.Errorf("SHA256SUMS =\n%s\nwant\n%s", b, want.String())
	}
	// And in the format sha256sum reads, from the folder it is in.
	cmd := exec.Command("sha256sum", "--check", "--strict", SumsName)
	cmd.Dir = filepath.Dir(res.Sums)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, o)
	}
}

func checkDebFields(t *testing.T, res *Result) {
	packaged := packagedPaths()
	field := func(name string) string {
		o, err := exec.Command("dpkg-deb", "--field", res.Deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb --field %s: %v", name, err)
		}
		return strings.TrimSpace(string(o))
	}
	want := map[string]string{
		"Package":      "kyso",
		"Version":      wantDebVersion,
		"Architecture": "amd64",
		"Depends":      "libc6 (>= " + res.GlibcVersion + ")",
		"Recommends":   "zenity, opensc-pkcs11",
	}
	for k, v := range want {
		if got := field(k); got != v {
			t.Errorf("deb %s: %q, want %q", k, got, v)
		}
	}
	if !regexp.MustCompile(`^2\.\d+$`).MatchString(res.GlibcVersion) {
		t.Errorf("glibc version read from the binary: %q", res.GlibcVersion)
	}
	// The archive's own listing: exactly the documented paths (plus the
	// folders that lead to them), with their modes.
	o, err := exec.Command("dpkg-deb", "--contents", res.Deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(o)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents line %q", l)
		}
		mode, owner, path := f[0], f[1], strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
		if owner != "root/root" {
			t.Errorf("%s is owned by %s", path, owner)
		}
		kind := map[byte]string{'-': "file", 'd': "dir", 'l': "link"}[mode[0]]
		if kind == "link" {
			kind += ":" + f[7]
		}
		got[path] = kind
		wantMode := map[string]string{"file": "-rw-r--r--", "dir": "drwxr-xr-x"}[kind]
		if path == ExePath {
			wantMode = "-rwxr-xr-x"
		}
		if wantMode != "" && mode != wantMode {
			t.Errorf("%s: mode %s, want %s", path, mode, wantMode)
		}
	}
	for p, k := range packaged {
		if k == "config" {
			k = "file"
		}
		if got[p] != k {
			t.Errorf("deb: %s is %q, want %q", p, got[p], k)
		}
	}
	for p, k := range got {
		if _, ok := packaged[p]; !ok && k != "dir" {
			t.Errorf("deb carries %s (%s), which is not documented", p, k)
		}
	}
	// Only the XDG entry is a conffile; the unit is in /usr.
	dir := t.TempDir()
	if o, err := exec.Command("dpkg-deb", "--control", res.Deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --control: %v\n%s", err, o)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "conffiles"))
	if err != nil || string(conf) != "/etc/xdg/autostart/kyso.desktop\n" {
		t.Errorf("conffiles = %q, %v", conf, err)
	}
	for _, s := range []string{"preinst", "postinst", "prerm"} {
		if _, err := os.Stat(filepath.Join(dir, s)); err == nil {
			t.Errorf("the .deb has a %s script; only postrm is meant to be there", s)
		}
	}
}

func checkRPM(t *testing.T, res *Result) {
	packaged := packagedPaths()
	query := func(args ...string) []string {
		o, err := exec.Command("rpm", append([]string{"-qp"}, append(args, res.RPM)...)...).Output()
		if err != nil {
			t.Fatalf("rpm -qp %v: %v", args, err)
		}
		s := strings.TrimSpace(string(o))
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	if got := query("--queryformat", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}"); !slices.Equal(got, []string{"kyso " + wantRPMVersion + " x86_64"}) {
		t.Errorf("rpm name, version, arch: %q", got)
	}
	// The .rpm owns the same paths, folders included.
	var want []string
	for p := range packaged {
		want = append(want, p)
	}
	slices.Sort(want)
	if got := query("--list"); !slices.Equal(got, want) {
		t.Errorf("rpm -qpl:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := query("--configfiles"); !slices.Equal(got, []string{"/etc/xdg/autostart/kyso.desktop"}) {
		t.Errorf("rpm config files: %q", got)
	}
	if got := query("--queryformat", `[%{FILENAMES} %{FILELINKTOS}\n]`); !slices.Contains(got, "/usr/lib/systemd/user/graphical-session.target.wants/kyso.service ../kyso.service") {
		t.Errorf("rpm has no link enabling the unit:\n%s", strings.Join(got, "\n"))
	}
	if got, want := query("--requires"), "libc.so.6(GLIBC_"+res.GlibcVersion+")(64bit)"; !slices.Contains(got, want) || slices.ContainsFunc(got, func(r string) bool {
		return r != want && !strings.HasPrefix(r, "rpmlib(")
	}) {
		t.Errorf("rpm requires %q, want %s (and rpmlib features)", got, want)
	}
	if got := query("--recommends"); !slices.Equal(got, []string{"zenity", "opensc"}) {
		t.Errorf("rpm recommends %q", got)
	}
	if got := query("--scripts"); len(got) != 0 {
		t.Errorf("rpm scripts: %q, want none", got)
	}
}

// msiRows reads a table of the .msi, failing the test on error.
func msiRows(t *testing.T, msi, table string) []map[string]string {
	t.Helper()
	rows, err := msiTable(context.Background(), msi, table)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// pick keeps the named columns of each row, joined by " | ".
func pick(rows []map[string]string, cols ...string) []string {
	var out []string
	for _, r := range rows {
		var f []string
		for _, c := range cols {
			f = append(f, r[c])
		}
		out = append(out, strings.Join(f, " | "))
	}
	slices.Sort(out)
	return out
}

func checkMSI(t *testing.T, res *Result) {
	msi := res.MSI
	eq := func(table string, got, want []string) {
		t.Helper()
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant\n%s", table, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	props := map[string]string{}
	for _, r := range msiRows(t, msi, "Property") {
		props[r["Property"]] = r["Value"]
	}
	for k, v := range map[string]string{
		"ProductName": "kyso", "ProductVersion": wantMSIVersion, "Manufacturer": "kyso",
		"UpgradeCode": "{" + UpgradeCode + "}", "ALLUSERS": "1", "ARPPRODUCTICON": "kyso.ico",
	} {
		if props[k] != v {
			t.Errorf("Property %s = %q, want %q", k, props[k], v)
		}
	}
	secure := strings.Split(props["SecureCustomProperties"], ";")
	o, err := exec.Command("msiinfo", "suminfo", msi).Output()
	if err != nil || !strings.Contains(string(o), "Template: x64;1033") {
		t.Errorf("msiinfo suminfo: not an x64 package: %v\n%s", err, o)
	}

	eq("Directory", pick(msiRows(t, msi, "Directory"), "Directory", "Directory_Parent", "DefaultDir"), []string{
		"TARGETDIR |  | SourceDir",
		"ProgramFiles64Folder | TARGETDIR | .",
		"INSTALLDIR | ProgramFiles64Folder | kyso",
		"ProgramMenuFolder | TARGETDIR | .",
	})
	eq("File", pick(msiRows(t, msi, "File"), "File", "Component_", "FileName"), []string{"KysoExe | KysoExe | kyso.exe"})
	eq("Shortcut", pick(msiRows(t, msi, "Shortcut"), "Directory_", "Name", "Component_", "Target", "Arguments", "WkDir", "Icon_"), []string{
		"ProgramMenuFolder | kyso | KysoExe | [INSTALLDIR]kyso.exe | run | INSTALLDIR | kyso.ico",
	})

	// Registry: the Run value, and one value per policy property, written
	// from the property.
	const runKey = `Software\Microsoft\Windows\CurrentVersion\Run`
	wantReg := []string{`2 | ` + runKey + ` | kyso | "[INSTALLDIR]kyso.exe" run | Autostart`}
	// Components: kyso.exe (64-bit), the Run value (64-bit, registry key
	// path), and each policy value (the same, plus transitive) under the
	// condition that its property is given.
	wantComp := []string{"KysoExe | INSTALLDIR | 256 | ", "Autostart | INSTALLDIR | 260 | "}
	wantFeat := []string{"Kyso | KysoExe", "Kyso | Autostart"}
	policy := PolicyProperties()
	agentNames := agentPolicyValues(t)
	if len(policy) != len(agentNames) {
		t.Errorf("the .msi has %d policy properties, agent/policy_windows.go reads %d values", len(policy), len(agentNames))
	}
	for _, p := range policy {
		if agentNames[p.Name] != p.Type {
			t.Errorf("policy value %s is %s in the .msi, %q in agent/policy_windows.go", p.Name, p.Type, agentNames[p.Name])
		}
		value := map[string]string{"REG_SZ": "[%s]", "REG_DWORD": "#[%s]", "REG_MULTI_SZ": "[~][%s][~]"}[p.Type]
		wantReg = append(wantReg, fmt.Sprintf(`2 | Software\Policies\kyso | %s | %s | Policy%[1]s`, p.Name, fmt.Sprintf(value, p.Property)))
		wantComp = append(wantComp, fmt.Sprintf(`Policy%s | TARGETDIR | 324 | %s <> "" OR REMOVE ~= "ALL"`, p.Name, p.Property))
		wantFeat = append(wantFeat, "Kyso | Policy"+p.Name)
		if !slices.Contains(secure, p.Property) {
			t.Errorf("%s is not in SecureCustomProperties %q", p.Property, secure)
		}
	}
	eq("Registry", pick(msiRows(t, msi, "Registry"), "Root", "Key", "Name", "Value", "Component_"), wantReg)
	eq("Component", pick(msiRows(t, msi, "Component"), "Component", "Directory_", "Attributes", "Condition"), wantComp)
	eq("FeatureComponents", pick(msiRows(t, msi, "FeatureComponents"), "Feature_", "Component_"), wantFeat)
	eq("Feature", pick(msiRows(t, msi, "Feature"), "Feature", "Level"), []string{"Kyso | 1"})

	// Upgrades and uninstall: older (and equal) versions are removed
	// before this one goes in, newer ones stop it; the uninstall actions
	// that take away files, shortcuts and registry values are sequenced.
	eq("Upgrade", pick(msiRows(t, msi, "Upgrade"), "VersionMin", "VersionMax", "Attributes", "ActionProperty"), []string{
		" | " + wantMSIVersion + " | 513 | WIX_UPGRADE_DETECTED",
		wantMSIVersion + " |  | 2 | WIX_DOWNGRADE_DETECTED",
	})
	eq("LaunchCondition", pick(msiRows(t, msi, "LaunchCondition"), "Condition"), []string{
		"NOT WIX_DOWNGRADE_DETECTED",
		`NOT (ALLOWED_ORIGINS >< " " OR ALLOWED_ORIGINS >< ";" OR ALLOWED_ORIGINS >< ",")`,
		`NOT (HASH_SIGNING_ORIGINS >< " " OR HASH_SIGNING_ORIGINS >< ";" OR HASH_SIGNING_ORIGINS >< ",")`,
		`NOT (MODULES >< ";")`,
	})
	seq := map[string]int{}
	for _, r := range msiRows(t, msi, "InstallExecuteSequence") {
		seq[r["Action"]], _ = strconv.Atoi(r["Sequence"])
	}
	for _, a := range []string{"FindRelatedProducts", "RemoveExistingProducts", "RemoveRegistryValues", "RemoveShortcuts", "RemoveFiles", "InstallFiles", "CreateShortcuts", "WriteRegistryValues", "RegisterProduct", "PublishProduct"} {
		if seq[a] == 0 {
			t.Errorf("InstallExecuteSequence lacks %s", a)
		}
	}
	if !(seq["InstallValidate"] < seq["RemoveExistingProducts"] && seq["RemoveExistingProducts"] < seq["InstallInitialize"]) {
		t.Errorf("RemoveExistingProducts at %d, not between InstallValidate (%d) and InstallInitialize (%d)",
			seq["RemoveExistingProducts"], seq["InstallValidate"], seq["InstallInitialize"])
	}

	// The kyso.exe inside is the signed one published beside it.
	dir := t.TempDir()
	cmd := exec.Command("msiextract", "-C", dir, msi)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, o)
	}
	var inside []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			inside = append(inside, p)
		}
		return err
	})
	if len(inside) != 1 || filepath.Base(inside[0]) != "kyso.exe" {
		t.Fatalf("the .msi holds %q, want one kyso.exe", inside)
	}
	a, _ := os.ReadFile(inside[0])
	b, _ := os.ReadFile(res.Exe)
	if !bytes.Equal(a, b) {
		t.Errorf("the .msi's kyso.exe (%d bytes) is not the signed %s (%d bytes)", len(a), filepath.Base(res.Exe), len(b))
	}
}

// agentPolicyValues reads the registry values agent.LoadMachinePolicy
// documents (name → type) from agent/policy_windows.go, which only builds
// on Windows, so that the .msi cannot drift from what the agent reads.
func agentPolicyValues(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile("../../agent/policy_windows.go")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range regexp.MustCompile(`(?m)^//\t(\w+)\s+(REG_\w+)`).FindAllStringSubmatch(string(src), -1) {
		m[l[1]] = l[2]
	}
	if len(m) == 0 {
		t.Fatal("agent/policy_windows.go documents no registry values: its doc comment changed form")
	}
	return m
}

func checkSignatures(t *testing.T, res *Result) {
	ctx := context.Background()
	if res.TestCA == "" {
		t.Fatal("a build without a Signer wrote no test CA")
	}
	for _, p := range []string{res.Exe, res.MSI} {
		if report, err := VerifySignature(ctx, p, res.TestCA); err != nil {
			t.Errorf("%v\n%s", err, report)
		} else if !strings.Contains(report, "kyso test build") {
			t.Errorf("%s: signer not in the report:\n%s", filepath.Base(p), report)
		}
	}
	// Another CA must not vouch for them: the check above is a real one.
	other, err := NewTestSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{res.Exe, res.MSI} {
		if _, err := VerifySignature(ctx, p, other.CAFile); err == nil {
			t.Errorf("%s verifies against an unrelated CA", filepath.Base(p))
		}
	}
	// And a modified file fails.
	b, err := os.ReadFile(res.Exe)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "tampered.exe")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySignature(ctx, bad, res.TestCA); err == nil {
		t.Error("a tampered kyso.exe still verifies")
	}
}

// dpkgStatus is dpkg-query's status of kyso and its version, "" when dpkg
// knows no such package.
func dpkgStatus(t *testing.T) (status, version string) {
	t.Helper()
	o, err := exec.Command("dpkg-query", "--showformat", "${Status}\t${Version}", "--show", "kyso").Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return "", ""
	}
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	status, version, _ = strings.Cut(string(o), "\t")
	if status == "unknown ok not-installed" {
		return "", ""
	}
	return status, version
}

// dpkg runs dpkg with args, failing the test with its output on error.
func dpkg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("dpkg", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, o)
	}
}

// checkDebInstall installs the .deb on this machine with dpkg -i — the
// real thing, maintainer scripts, triggers and all; CI runs as root —
// checks what it put where, then removes and purges it and checks that
// nothing is left. It refuses to touch a machine where a kyso package
// other than the tests' own is installed, or where any of the package's
// paths exists unowned (it would be overwritten, then deleted).
func checkDebInstall(t *testing.T, res *Result) {
	packaged := packagedPaths()
	if os.Geteuid() != 0 {
		t.Fatal("installing the .deb needs root (CI runs as root): run the tests as root")
	}
	switch status, version := dpkgStatus(t); {
	case status == "":
	case version == wantDebVersion:
		t.Logf("purging the kyso %s an interrupted test run left installed", version)
		dpkg(t, "--purge", "kyso")
	default:
		t.Fatalf("a kyso package (%s, %s) is installed on this machine: the test will not replace it; dpkg --purge kyso first", version, status)
	}
	for p := range packaged {
		if p == wantsDir {
			continue // shared with other packages' units
		}
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s already exists and no kyso package owns it: the test would overwrite and then delete it; remove it first", p)
		}
	}
	wantsExisted := exists(wantsDir)
	const policy = "/etc/kyso/policy.json"
	t.Cleanup(func() {
		os.Remove(policy)
		if status, _ := dpkgStatus(t); status != "" {
			if o, err := exec.Command("dpkg", "--purge", "kyso").CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge kyso: %v\n%s", err, o)
			}
		}
	})

	dpkg(t, "--install", res.Deb)
	if status, version := dpkgStatus(t); status != "install ok installed" || version != wantDebVersion {
		t.Fatalf("after dpkg -i: status %q, version %q", status, version)
	}
	for p, kind := range packaged {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		switch {
		case strings.HasPrefix(kind, "link:"):
			target, err := os.Readlink(p)
			if err != nil || "link:"+target != kind {
				t.Errorf("%s links to %q (%v), want %s", p, target, err, kind)
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s dangles: %v", p, err)
			}
		case kind == "dir" && !fi.IsDir(), kind != "dir" && !fi.Mode().IsRegular():
			t.Errorf("%s is %v, want %s", p, fi.Mode(), kind)
		}
	}
	// The binary runs and carries the version.
	if o, err := exec.Command(ExePath, "version").Output(); err != nil || strings.TrimSpace(string(o)) != wantKysoVer {
		t.Errorf("%s version: %q, %v; want %q", ExePath, o, err, wantKysoVer)
	}
	// The autostart entries are installer's, for /usr/bin/kyso: one template.
	unit, desktop, _, err := Autostart(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string][]byte{"/usr/lib/systemd/user/kyso.service": unit, "/etc/xdg/autostart/kyso.desktop": desktop} {
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s =\n%s\n(%v), want installer's entry\n%s", p, got, err, want)
		}
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/bin/kyso run\n")) || !bytes.Contains(desktop, []byte("\nExec=/usr/bin/kyso run\n")) {
		t.Errorf("the autostart entries do not run /usr/bin/kyso run:\n%s\n%s", unit, desktop)
	}
	for _, p := range []string{"/etc/xdg/autostart/kyso.desktop", "/usr/share/applications/kyso.desktop"} {
		if o, err := exec.Command("desktop-file-validate", p).CombinedOutput(); err != nil || len(o) > 0 {
			t.Errorf("desktop-file-validate %s: %v\n%s", p, err, o)
		}
	}
	app, err := os.ReadFile("/usr/share/applications/kyso.desktop")
	if err != nil || !bytes.Contains(app, []byte("\nExec=kyso run\n")) || !bytes.Contains(app, []byte("\nIcon=kyso\n")) {
		t.Errorf("the menu entry does not run kyso run with the kyso icon:\n%s", app)
	}
	systemdtest.Verify(t, "/usr/lib/systemd/user/kyso.service", true)
	checkManPage(t, "/usr/share/man/man1/kyso.1.gz", kysoCommands(t))
	checkPNG(t, "/usr/share/icons/hicolor/32x32/apps/kyso.png", 32)

	// IT puts the machine policy in /etc/kyso. Removing the package takes
	// away the package's files but the configuration file and the folder
	// with IT's policy in it.
	writePolicy := func() {
		t.Helper()
		if err := os.WriteFile(policy, []byte(`{"schema":"kyso.policy/v1"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writePolicy()
	dpkg(t, "--remove", "kyso")
	if status, _ := dpkgStatus(t); status != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q", status)
	}
	for p, kind := range packaged {
		switch {
		case kind == "config" || p == "/etc/kyso":
			if !exists(p) {
				t.Errorf("dpkg -r removed %s, which stays until purge", p)
			}
		case p == wantsDir && wantsExisted:
		default:
			if exists(p) {
				t.Errorf("dpkg -r left %s", p)
			}
		}
	}
	if !exists(policy) {
		t.Errorf("dpkg -r removed IT's %s", policy)
	}
	// IT's policy gone, purging leaves nothing: the postrm removes the
	// emptied folder that dpkg had to leave behind.
	if err := os.Remove(policy); err != nil {
		t.Fatal(err)
	}
	dpkg(t, "--purge", "kyso")
	checkGone(t, packaged, wantsExisted)

	// Purging with IT's policy still there keeps the policy (the postrm
	// removes /etc/kyso only when it is empty), and nothing else.
	dpkg(t, "--install", res.Deb)
	writePolicy()
	dpkg(t, "--purge", "kyso")
	if !exists(policy) {
		t.Errorf("dpkg --purge removed IT's %s", policy)
	}
	if err := os.Remove(policy); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove("/etc/kyso"); err != nil {
		t.Fatal(err)
	}
	checkGone(t, packaged, wantsExisted)
}

// checkGone checks that dpkg no longer knows kyso and that none of its
// paths is left (but the shared .wants folder if it was there before).
func checkGone(t *testing.T, packaged map[string]string, wantsExisted bool) {
	t.Helper()
	if status, _ := dpkgStatus(t); status != "" {
		t.Errorf("after dpkg --purge: dpkg still knows kyso as %q", status)
	}
	if o, err := exec.Command("dpkg", "--status", "kyso").CombinedOutput(); err == nil || !strings.Contains(string(o), "not installed") {
		t.Errorf("dpkg -s kyso after purge: %v\n%s", err, o)
	}
	for p := range packaged {
		if p == wantsDir && wantsExisted {
			continue
		}
		if exists(p) {
			t.Errorf("after purge %s is still there", p)
		}
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// kysoCommands lists the commands the installed kyso's --help names.
func kysoCommands(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command(ExePath, "--help")
	cmd.Env = append(os.Environ(), "KYSO_LANG=en")
	o, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --help: %v", ExePath, err)
	}
	var cmds []string
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z][a-z-]*)  `).FindAllStringSubmatch(string(o), -1) {
		cmds = append(cmds, m[1])
	}
	if len(cmds) < 10 {
		t.Fatalf("%s --help names only %q:\n%s", ExePath, cmds, o)
	}
	return cmds
}

// checkManPage decompresses the manual page and has groff format it with
// every warning on: it must be a kyso(1) page that groff reads cleanly
// and that describes every command of `kyso --help`.
func checkManPage(t *testing.T, path string, commands []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	src, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	first := ""
	for sc := bufio.NewScanner(bytes.NewReader(src)); sc.Scan(); {
		if strings.HasPrefix(sc.Text(), ".TH") {
			first = sc.Text()
			break
		}
	}
	if !strings.HasPrefix(first, `.TH KYSO 1 "`) || !strings.Contains(first, wantKysoVer) || strings.Contains(string(src), "@") {
		t.Errorf("%s: title line %q, or an unreplaced @…@ field", path, first)
	}
	for _, cmd := range commands {
		if !regexp.MustCompile(`(?m)^\.B ` + regexp.QuoteMeta(strings.ReplaceAll(cmd, "-", `\-`)) + `\b`).Match(src) {
			t.Errorf("%s does not describe kyso %s (installer/packaging/kyso.1)", path, cmd)
		}
	}
	cmd := exec.Command("groff", "-man", "-ww", "-z")
	cmd.Stdin = bytes.NewReader(src)
	if o, err := cmd.CombinedOutput(); err != nil || len(o) > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, o)
	}
}

// checkPNG checks the icon is a PNG of the size its hicolor folder says.
func checkPNG(t *testing.T, path string, size int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The IHDR chunk follows the 8-byte signature: width and height are
	// its first two 32-bit big-endian fields.
	if len(b) < 24 || string(b[1:4]) != "PNG" || string(b[12:16]) != "IHDR" {
		t.Fatalf("%s is not a PNG", path)
	}
	w := int(b[16])<<24 | int(b[17])<<16 | int(b[18])<<8 | int(b[19])
	h := int(b[20])<<24 | int(b[21])<<16 | int(b[22])<<8 | int(b[23])
	if w != size || h != size {
		t.Errorf("%s is %d×%d, want %d×%d", path, w, h, size, size)
	}
}
