package dist

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

func TestParseDescribe(t *testing.T) {
	cases := []struct {
		describe, str, pkg, msi string
	}{
		{"v1.2.3", "1.2.3", "1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3", "1.2.3", "1.2.3"},
		{"v1.2.3-dirty", "1.2.3-dirty", "1.2.3+0.dirty", "1.2.3"},
		{"v1.2.3-4-gabc1234", "1.2.3-4-gabc1234", "1.2.3+4.gabc1234", "1.2.3"},
		{"v1.2.3-rc1", "1.2.3-rc1", "1.2.3~rc1", "1.2.3"},
		{"v1.2.3-rc.2-5-g0123abc-dirty", "1.2.3-rc.2-5-g0123abc-dirty", "1.2.3~rc.2+5.g0123abc.dirty", "1.2.3"},
		{"abc1234", "abc1234", "0.0.0+gabc1234", "0.0.0"},
		{"abc1234-dirty", "abc1234-dirty", "0.0.0+gabc1234.dirty", "0.0.0"},
		{FallbackDescribe, "0.0.0-dev", "0.0.0~dev", "0.0.0"},
		{"v255.255.65535", "255.255.65535", "255.255.65535", "255.255.65535"},
	}
	for _, c := range cases {
		v, err := ParseDescribe(c.describe)
		if err != nil {
			t.Errorf("ParseDescribe(%q): %v", c.describe, err)
			continue
		}
		msi, err := v.MSI()
		if err != nil {
			t.Errorf("%q: MSI: %v", c.describe, err)
		}
		got, want := [3]string{v.String(), v.Package(), msi}, [3]string{c.str, c.pkg, c.msi}
		if got != want {
			t.Errorf("%q: String, Package, MSI = %q, want %q", c.describe, got, want)
		}
	}
	for _, bad := range []string{"", "release-2026", "v1.2", "v1.2.3.4", "v1.2.3-beta-1", "V1.2.3", "v1.2.3-4-gXYZ"} {
		if v, err := ParseDescribe(bad); err == nil {
			t.Errorf("ParseDescribe(%q) = %+v, want an error", bad, v)
		}
	}
	v, err := ParseDescribe("v256.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.MSI(); err == nil {
		t.Error("v256.0.0: MSI gave no error; Windows Installer's major version is at most 255")
	}
}

// TestPackageVersionOrder checks, with dpkg's and rpm's own comparisons,
// that Package orders builds as releases go: a pre-release before its
// release, builds past a tag after it and before the next one, and a
// dirty tree after its commit.
func TestPackageVersionOrder(t *testing.T) {
	ordered := []string{
		"v1.2.3-rc1", "v1.2.3-rc1-2-gabc1234", "v1.2.3-rc2", "v1.2.3", "v1.2.3-dirty",
		"v1.2.3-4-gabc1234", "v1.2.3-4-gabc1234-dirty", "v1.2.3-10-gdef5678", "v1.2.4-rc1", "v1.2.4", "v1.10.0",
	}
	var pkgs []string
	for _, d := range ordered {
		v, err := ParseDescribe(d)
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, v.Package())
	}
	dpkg := lookTool(t, "dpkg", "dpkg")
	rpm := lookTool(t, "rpm", "rpm")
	for i := 1; i < len(pkgs); i++ {
		a, b := pkgs[i-1], pkgs[i]
		if err := exec.Command(dpkg, "--compare-versions", a+"-1", "lt", b+"-1").Run(); err != nil {
			t.Errorf("dpkg: %s is not before %s: %v", a, b, err)
		}
		out, err := exec.Command(rpm, "--eval", `%{lua: print(rpm.vercmp("`+a+`", "`+b+`"))}`).Output()
		if err != nil || strings.TrimSpace(string(out)) != "-1" {
			t.Errorf("rpm: vercmp(%s, %s) = %q (%v), want -1", a, b, out, err)
		}
	}
}

func TestDescribeRepo(t *testing.T) {
	// Whatever this checkout is (tagged, a bare commit, a tarball without
	// .git), its version must parse into every format.
	v, err := Describe(context.Background(), "../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.MSI(); err != nil {
		t.Fatal(err)
	}
	if v.Package() == "" || v.String() == "" {
		t.Fatalf("Describe gave %+v", v)
	}
	// Outside any repository: the fallback.
	v, err = Describe(context.Background(), t.TempDir())
	if err != nil || v.Describe != FallbackDescribe {
		t.Fatalf("Describe outside git = %+v, %v; want %s", v, err, FallbackDescribe)
	}
}

// lookTool finds a tool the tests need, or fails naming its package.
func lookTool(t *testing.T, cmd, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(cmd)
	if err != nil {
		t.Fatalf("%s is needed: install the Debian package %s (scripts/install-deps.sh does): %v", cmd, pkg, err)
	}
	return p
}
