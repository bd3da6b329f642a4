package installer

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kyso-vn/kyso/agent"
)

// testKit has every kind of entry: an exact origin written with an
// explicit default port and capitals, a wildcard on another port, a
// loopback test origin and a duplicate.
func testKit() PolicyKit {
	return PolicyKit{
		Origins: []string{
			"https://QLVB.example.gov.vn:443",
			"https://*.so.example.gov.vn:8443",
			"http://127.0.0.1:8080",
			"https://qlvb.example.gov.vn", // the first one again
			"https://dms.example.vn",
		},
		HashOrigins: []string{"https://qlvb.example.gov.vn", "https://a.so.example.gov.vn:8443"},
		TSA:         "http://tsa.example.vn/tsr?profile=vn&a=b",
	}
}

func TestPolicyKitFiles(t *testing.T) {
	k := testKit()
	k.TSA = "https://tsa.example.vn/tsr?x=1&y=%22"
	files, err := k.Files()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	want := kitPaths()
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	wantOrigins := []string{"https://qlvb.example.gov.vn", "https://*.so.example.gov.vn:8443", "http://127.0.0.1:8080", "https://dms.example.vn"}
	wantChrome := []string{"https://qlvb.example.gov.vn:443", "https://[*.]so.example.gov.vn:8443", "http://127.0.0.1:8080", "https://dms.example.vn:443"}

	t.Run("policy.json", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "policy.json")
		if err := os.WriteFile(path, files[KitPolicyJSON], 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := agent.LoadPolicy(path)
		if err != nil {
			t.Fatalf("agent.LoadPolicy: %v\n%s", err, files[KitPolicyJSON])
		}
		if !slices.Equal(p.AllowedOrigins, wantOrigins) {
			t.Errorf("allowedOrigins %q, want %q", p.AllowedOrigins, wantOrigins)
		}
		if want := []string{"https://qlvb.example.gov.vn", "https://a.so.example.gov.vn:8443"}; !slices.Equal(p.HashSigningOrigins, want) {
			t.Errorf("hashSigningOrigins %q, want %q", p.HashSigningOrigins, want)
		}
		if p.UserMayApprove == nil || *p.UserMayApprove {
			t.Errorf("userMayApprove %v, want an explicit false", p.UserMayApprove)
		}
		if p.TSA != k.TSA {
			t.Errorf("tsa %q, want %q", p.TSA, k.TSA)
		}
		// The agent's settings admit what the kit lists, and only that.
		s, err := agent.NewSettings(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		for origin, allowed := range map[string]bool{
			"https://qlvb.example.gov.vn":      true,
			"https://x.so.example.gov.vn:8443": true,
			"https://so.example.gov.vn:8443":   false,
			"https://x.so.example.gov.vn":      false,
			"http://127.0.0.1:8080":            true,
			"https://evil.example.vn":          false,
		} {
			o, err := agent.ParseOrigin(origin)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.PolicyAllows(o); got != allowed {
				t.Errorf("PolicyAllows(%s) = %v, want %v", origin, got, allowed)
			}
		}
		// Round trip: the file read back makes the same kit.
		again, err := PolicyKit{Origins: p.AllowedOrigins, HashOrigins: p.HashSigningOrigins, UserMayApprove: *p.UserMayApprove, TSA: p.TSA}.Files()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again[KitPolicyJSON], files[KitPolicyJSON]) {
			t.Errorf("round trip changed policy.json:\n%s\nwas\n%s", again[KitPolicyJSON], files[KitPolicyJSON])
		}
	})

	t.Run("kyso-policy.reg", func(t *testing.T) {
		keys := parseReg(t, files[KitPolicyReg])
		if len(keys) != 1 || keys[0].path != `HKEY_LOCAL_MACHINE\Software\Policies\kyso` || keys[0].delete {
			t.Fatalf("keys %+v, want only [HKEY_LOCAL_MACHINE\\Software\\Policies\\kyso]", keys)
		}
		v := keys[0].values
		if got := keys[0].order; !slices.Equal(got, []string{"AllowedOrigins", "HashSigningOrigins", "UserMayApprove", "TSA"}) {
			t.Errorf("value names %q", got)
		}
		checkRegValue(t, v, "AllowedOrigins", regValue{typ: "REG_MULTI_SZ", multi: wantOrigins})
		checkRegValue(t, v, "HashSigningOrigins", regValue{typ: "REG_MULTI_SZ", multi: []string{"https://qlvb.example.gov.vn", "https://a.so.example.gov.vn:8443"}})
		checkRegValue(t, v, "UserMayApprove", regValue{typ: "REG_DWORD", dword: 0})
		checkRegValue(t, v, "TSA", regValue{typ: "REG_SZ", str: k.TSA})
		checkAgainstAgentReader(t, v)
	})

	t.Run("chromium.json", func(t *testing.T) {
		var got map[string][]string
		if err := strictJSON(files[KitChromiumJSON], &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Errorf("policies %v, want exactly LoopbackNetworkAllowedForUrls and LocalNetworkAccessAllowedForUrls", got)
		}
		for _, name := range []string{"LoopbackNetworkAllowedForUrls", "LocalNetworkAccessAllowedForUrls"} {
			if !slices.Equal(got[name], wantChrome) {
				t.Errorf("%s = %q, want %q", name, got[name], wantChrome)
			}
		}
	})

	for file, base := range map[string]string{
		KitChromeReg: `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Google\Chrome`,
		KitEdgeReg:   `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Edge`,
	} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			keys := parseReg(t, files[file])
			var want []regKey
			for _, policy := range []string{"LoopbackNetworkAllowedForUrls", "LocalNetworkAccessAllowedForUrls"} {
				want = append(want, regKey{path: base + `\` + policy, delete: true})
				k := regKey{path: base + `\` + policy, values: map[string]regValue{}}
				for i, p := range wantChrome {
					name := strconv.Itoa(i + 1)
					k.order = append(k.order, name)
					k.values[name] = regValue{typ: "REG_SZ", str: p}
				}
				want = append(want, k)
			}
			if got, want := fmt.Sprintf("%+v", keys), fmt.Sprintf("%+v", want); got != want {
				t.Errorf("keys\n%s\nwant\n%s", got, want)
			}
		})
	}

	t.Run("firefox.json", func(t *testing.T) {
		var got struct {
			Policies struct {
				LocalNetworkAccess struct {
					SkipDomains []string
				}
			}
		}
		if err := strictJSON(files[KitFirefoxJSON], &got); err != nil {
			t.Fatalf("%v\n%s", err, files[KitFirefoxJSON])
		}
		// Host names only; no loopback (a target entry would open it to
		// every site).
		want := []string{"qlvb.example.gov.vn", "*.so.example.gov.vn", "dms.example.vn"}
		if !slices.Equal(got.Policies.LocalNetworkAccess.SkipDomains, want) {
			t.Errorf("SkipDomains %q, want %q", got.Policies.LocalNetworkAccess.SkipDomains, want)
		}
		// strictJSON refused any other field: Enabled, for one, would
		// switch Firefox's other protections on.
	})

	t.Run("templates", func(t *testing.T) {
		checkTemplates(t, files[KitADMX], map[string][]byte{"vi-VN": files[KitADMLVietnamese], "en-US": files[KitADMLEnglish]})
	})

	t.Run("README", func(t *testing.T) {
		text := string(files[KitReadme])
		if !utf8.ValidString(text) {
			t.Fatal("README.txt is not UTF-8")
		}
		vi := strings.Index(text, "Bộ chính sách kyso")
		en := strings.Index(text, "kyso policy kit")
		if vi != 0 || en < 0 {
			t.Fatalf("README.txt must start in Vietnamese and go on in English:\n%s", text)
		}
		for _, half := range []string{text[:en], text[en:]} {
			for _, n := range kitPaths() {
				if n == KitReadme {
					continue
				}
				if c := strings.Count(half, "\n"+n+" — "); c != 1 {
					t.Errorf("README.txt names %s %d times in one language, want one line", n, c)
				}
			}
		}
	})
}

// TestPolicyKitUserMayApprove: the user's dialog stays available when the
// kit says so, in both forms.
func TestPolicyKitUserMayApprove(t *testing.T) {
	files, err := PolicyKit{Origins: []string{"https://dms.example.vn"}, UserMayApprove: true}.Files()
	if err != nil {
		t.Fatal(err)
	}
	var p agent.Policy
	if err := strictJSON(files[KitPolicyJSON], &p); err != nil {
		t.Fatal(err)
	}
	if p.UserMayApprove == nil || !*p.UserMayApprove {
		t.Errorf("userMayApprove %v, want an explicit true", p.UserMayApprove)
	}
	keys := parseReg(t, files[KitPolicyReg])
	checkRegValue(t, keys[0].values, "UserMayApprove", regValue{typ: "REG_DWORD", dword: 1})
	// Settings the kit leaves empty are removed, not left from an earlier
	// kit.
	checkRegValue(t, keys[0].values, "HashSigningOrigins", regValue{typ: "delete"})
	checkRegValue(t, keys[0].values, "TSA", regValue{typ: "delete"})
	if !strings.Contains(string(files[KitPolicyJSON]), `"userMayApprove": true`) {
		t.Errorf("policy.json:\n%s", files[KitPolicyJSON])
	}
}

func TestChromeAndFirefoxPatterns(t *testing.T) {
	tests := []struct {
		origin  string
		chrome  string
		firefox string // "" when Firefox gets no entry
	}{
		{"https://qlvb.example.gov.vn", "https://qlvb.example.gov.vn:443", "qlvb.example.gov.vn"},
		{"https://qlvb.example.gov.vn:443", "https://qlvb.example.gov.vn:443", "qlvb.example.gov.vn"},
		{"https://dms.example.vn:8443", "https://dms.example.vn:8443", "dms.example.vn"},
		{"https://*.example.gov.vn", "https://[*.]example.gov.vn:443", "*.example.gov.vn"},
		{"https://*.Example.GOV.vn:8443", "https://[*.]example.gov.vn:8443", "*.example.gov.vn"},
		{"https://*.a.b.example.vn", "https://[*.]a.b.example.vn:443", "*.a.b.example.vn"},
		{"https://xn--bcht-3na.vn", "https://xn--bcht-3na.vn:443", "xn--bcht-3na.vn"},
		{"https://10.1.2.3:4443", "https://10.1.2.3:4443", "10.1.2.3"},
		{"https://[2001:db8::1]", "https://[2001:db8::1]:443", "2001:db8::1"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"http://localhost", "http://localhost:80", ""},
		{"http://[::1]:3000", "http://[::1]:3000", ""},
	}
	for _, tc := range tests {
		p, err := agent.ParsePattern(tc.origin)
		if err != nil {
			t.Fatalf("%s: %v", tc.origin, err)
		}
		if got := chromePattern(p); got != tc.chrome {
			t.Errorf("chromePattern(%s) = %q, want %q", tc.origin, got, tc.chrome)
		}
		got, ok := firefoxDomain(p)
		if ok != (tc.firefox != "") || got != tc.firefox {
			t.Errorf("firefoxDomain(%s) = %q, %v, want %q", tc.origin, got, ok, tc.firefox)
		}
	}
}

func TestReadOrigins(t *testing.T) {
	in := "\uFEFF# Hệ thống quản lý văn bản của tỉnh\n" +
		"https://qlvb.example.gov.vn\n" +
		"\n" +
		"   \t\n" +
		"  https://*.so.example.gov.vn  \r\n" +
		"# https://commented.example.vn\n" +
		"HTTPS://QLVB.EXAMPLE.GOV.VN:443\n" + // the same origin
		"https://dms.example.vn:8443\n" +
		"https://qlvb.example.gov.vn\n"
	got, err := ReadOrigins(strings.NewReader(in), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://qlvb.example.gov.vn", "https://*.so.example.gov.vn", "https://dms.example.vn:8443"}
	if !slices.Equal(got, want) {
		t.Errorf("ReadOrigins = %q, want %q", got, want)
	}

	bad := []struct {
		list  string
		exact bool
		line  int
		why   string
	}{
		{"https://a.example.vn\n\nhttp://b.example.vn\n", false, 3, "http is only allowed"},
		{"# x\nhttps://a.example.vn/\n", false, 2, "no path"},
		{"https://a.example.vn\nhttps://*.vn\n", false, 2, "two labels"},
		{"https://a.example.vn\nhttps://a.*.example.vn\n", false, 2, `"*" is only allowed`},
		{"null\n", false, 1, "sandboxed"},
		{"https://ký.vn\n", false, 1, "punycode"},
		{"https://a.example.vn https://b.example.vn\n", false, 1, "whitespace"},
		{"https://a.example.vn:99999\n", false, 1, "out of range"},
		{"https://a.example.vn\nhttps://*.example.vn\n", true, 2, "wildcards are only allowed"},
	}
	for _, tc := range bad {
		_, err := ReadOrigins(strings.NewReader(tc.list), tc.exact)
		var le *LineError
		if !errors.As(err, &le) {
			t.Errorf("ReadOrigins(%q) error %v, want a *LineError", tc.list, err)
			continue
		}
		if le.Line != tc.line || !strings.Contains(err.Error(), tc.why) || !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", tc.line)) {
			t.Errorf("ReadOrigins(%q) = %v (line %d), want line %d: …%s…", tc.list, err, le.Line, tc.line, tc.why)
		}
		if !errors.Is(err, agent.ErrInvalidOrigin) {
			t.Errorf("%v does not wrap agent.ErrInvalidOrigin", err)
		}
	}
	for _, empty := range []string{"", "\n\n", "# only a comment\n"} {
		if _, err := ReadOrigins(strings.NewReader(empty), false); !errors.Is(err, ErrNoOrigins) {
			t.Errorf("ReadOrigins(%q) error %v, want ErrNoOrigins", empty, err)
		}
	}
}

func TestPolicyKitRefuses(t *testing.T) {
	tests := []struct {
		name string
		kit  PolicyKit
		want string
	}{
		{"no origins", PolicyKit{}, ErrNoOrigins.Error()},
		{"invalid origin", PolicyKit{Origins: []string{"https://a.example.vn", "ftp://b.example.vn"}}, "origins[1]"},
		{"wildcard hash origin", PolicyKit{Origins: []string{"https://*.example.vn"}, HashOrigins: []string{"https://*.example.vn"}}, "hashOrigins[0]"},
		{"hash origin not allowed", PolicyKit{Origins: []string{"https://a.example.vn"}, HashOrigins: []string{"https://b.example.vn"}}, "https://b.example.vn is not among"},
		{"hash origin on the wildcard's domain itself", PolicyKit{Origins: []string{"https://*.example.vn"}, HashOrigins: []string{"https://example.vn"}}, "is not among"},
		{"tsa scheme", PolicyKit{Origins: []string{"https://a.example.vn"}, TSA: "ftp://tsa.example.vn"}, "http or https"},
		{"tsa line break", PolicyKit{Origins: []string{"https://a.example.vn"}, TSA: "http://tsa.example.vn/\r\n[HKEY_LOCAL_MACHINE\\x]"}, "control characters"},
		{"tsa quote", PolicyKit{Origins: []string{"https://a.example.vn"}, TSA: `http://tsa.example.vn/"`}, "quotes"},
	}
	for _, tc := range tests {
		files, err := tc.kit.Files()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Files() error %v, want one containing %q", tc.name, err, tc.want)
		}
		if files != nil {
			t.Errorf("%s: Files() returned files with an error", tc.name)
		}
		dir := filepath.Join(t.TempDir(), "kit")
		if _, err := tc.kit.Write(dir); err == nil {
			t.Errorf("%s: Write succeeded", tc.name)
		}
		if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Write left %s behind (%v)", tc.name, dir, err)
		}
	}
	var he *HashOriginError
	if _, err := (PolicyKit{Origins: []string{"https://a.example.vn"}, HashOrigins: []string{"https://B.example.vn:443"}}).Files(); !errors.As(err, &he) || he.Origin != "https://b.example.vn" {
		t.Errorf("error %v, want a *HashOriginError naming https://b.example.vn", err)
	}
}

func TestPolicyKitWrite(t *testing.T) {
	k := testKit()
	parent := t.TempDir()
	dir := filepath.Join(parent, "new", "kyso-policy") // a missing parent too
	written, err := k.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkKitOnDisk(t, dir, k, written)
	noLeftovers(t, filepath.Join(parent, "new"), "kyso-policy")

	// A re-run after the list changed replaces the earlier kit as a whole.
	k.Origins = []string{"https://dms.example.vn"}
	k.HashOrigins = nil
	written, err = k.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkKitOnDisk(t, dir, k, written)
	noLeftovers(t, filepath.Join(parent, "new"), "kyso-policy")

	// An empty folder is fine.
	empty := filepath.Join(parent, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	written, err = k.Write(empty)
	if err != nil {
		t.Fatal(err)
	}
	checkKitOnDisk(t, empty, k, written)
}

// TestPolicyKitWriteFails: no partial output, and what was there stays.
func TestPolicyKitWriteFails(t *testing.T) {
	k := testKit()
	parent := t.TempDir()

	// The output is a file.
	file := filepath.Join(parent, "kyso-policy")
	if err := os.WriteFile(file, []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Write(file); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("Write onto a file: %v", err)
	}
	if data, err := os.ReadFile(file); err != nil || string(data) != "not a folder" {
		t.Errorf("the file was changed: %q %v", data, err)
	}
	noLeftovers(t, parent, "kyso-policy")

	// The output's parent is a file: nothing is created.
	if _, err := k.Write(filepath.Join(file, "sub", "kit")); err == nil {
		t.Error("Write under a file succeeded")
	}
	noLeftovers(t, parent, "kyso-policy")

	// A folder with other files: never deleted, never mixed with a kit.
	other := filepath.Join(parent, "docs")
	if err := os.MkdirAll(filepath.Join(other, "kyso"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"notes.txt", "kyso/policy.json"} {
		if err := os.WriteFile(filepath.Join(other, f), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.Write(other); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("Write into a folder with other files: %v", err)
	}
	for _, f := range []string{"notes.txt", "kyso/policy.json"} {
		if data, err := os.ReadFile(filepath.Join(other, f)); err != nil || string(data) != "mine" {
			t.Errorf("%s was changed: %q %v", f, data, err)
		}
	}
	if es, _ := os.ReadDir(other); len(es) != 2 {
		t.Errorf("%s holds %d entries, want its own 2", other, len(es))
	}
	noLeftovers(t, parent, "docs")

	// An earlier kit stays as it was when the new one is invalid.
	kitDir := filepath.Join(parent, "kit")
	if _, err := k.Write(kitDir); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(kitDir, filepath.FromSlash(KitPolicyJSON)))
	if err != nil {
		t.Fatal(err)
	}
	bad := k
	bad.Origins = append(slices.Clone(k.Origins), "http://not-loopback.example.vn")
	if _, err := bad.Write(kitDir); err == nil {
		t.Error("an invalid kit was written")
	}
	if after, err := os.ReadFile(filepath.Join(kitDir, filepath.FromSlash(KitPolicyJSON))); err != nil || !bytes.Equal(after, before) {
		t.Errorf("the earlier kit changed: %v", err)
	}
	noLeftovers(t, parent, "kit")
}

// checkKitOnDisk compares dir with k.Files().
func checkKitOnDisk(t *testing.T, dir string, k PolicyKit, written []string) {
	t.Helper()
	files, err := k.Files()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for name := range files {
		want = append(want, filepath.Join(dir, filepath.FromSlash(name)))
	}
	sort.Strings(want)
	if !slices.Equal(written, want) {
		t.Errorf("Write returned %q, want %q", written, want)
	}
	n := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, files[filepath.ToSlash(rel)]) {
			t.Errorf("%s differs from Files()", rel)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o044 != 0o044 {
			t.Errorf("%s: mode %v, want readable by all (%v)", rel, fi.Mode(), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(files) {
		t.Errorf("%s holds %d files, want %d", dir, n, len(files))
	}
}

// noLeftovers checks that parent holds no temporary or set-aside folder
// of Write for base.
func noLeftovers(t *testing.T, parent, base string) {
	t.Helper()
	es, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.HasPrefix(e.Name(), "."+base+".") {
			t.Errorf("Write left %s in %s", e.Name(), parent)
		}
	}
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// A small .reg reader: what regedit accepts of the "Windows Registry
// Editor Version 5.00" format, as far as the kit writes it — header,
// comments, [key] and [-key] lines, "name"="string", "name"=dword:,
// "name"=hex(7): (with continued lines) and "name"=-.

type regKey struct {
	path   string
	delete bool
	order  []string
	values map[string]regValue
}

type regValue struct {
	typ   string // REG_SZ, REG_DWORD, REG_MULTI_SZ, or "delete"
	str   string
	dword uint32
	multi []string
}

func parseReg(t *testing.T, data []byte) []regKey {
	t.Helper()
	if len(data) < 2 || data[0] != 0xff || data[1] != 0xfe || len(data)%2 != 0 {
		t.Fatalf("a version 5 .reg file is UTF-16LE with a byte order mark: % x", data[:min(len(data), 8)])
	}
	units := make([]uint16, 0, len(data)/2-1)
	for i := 2; i < len(data); i += 2 {
		units = append(units, uint16(data[i])|uint16(data[i+1])<<8)
	}
	text := string(utf16.Decode(units))
	if strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\r") {
		t.Fatal("lines must end in CRLF")
	}
	lines := strings.Split(text, "\r\n")
	if lines[0] != "Windows Registry Editor Version 5.00" {
		t.Fatalf("header %q", lines[0])
	}
	var keys []regKey
	for i := 1; i < len(lines); i++ {
		line := lines[i]
		for strings.HasSuffix(line, `\`) && strings.Contains(line, "=hex") {
			i++
			if i == len(lines) || !strings.HasPrefix(lines[i], "  ") {
				t.Fatalf("line %d: a continued hex value needs an indented next line", i)
			}
			line = strings.TrimSuffix(line, `\`) + strings.TrimLeft(lines[i], " ")
		}
		switch {
		case line == "" || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[-") && strings.HasSuffix(line, "]"):
			keys = append(keys, regKey{path: line[2 : len(line)-1], delete: true})
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			keys = append(keys, regKey{path: line[1 : len(line)-1], values: map[string]regValue{}})
		case strings.HasPrefix(line, `"`):
			if len(keys) == 0 || keys[len(keys)-1].delete {
				t.Fatalf("line %d: a value outside a key: %s", i+1, line)
			}
			name, rest, err := regUnquote(line)
			if err != nil {
				t.Fatalf("line %d: %v: %s", i+1, err, line)
			}
			if !strings.HasPrefix(rest, "=") {
				t.Fatalf("line %d: no = after the name: %s", i+1, line)
			}
			v, err := regParseValue(rest[1:])
			if err != nil {
				t.Fatalf("line %d: %v: %s", i+1, err, line)
			}
			k := &keys[len(keys)-1]
			if _, dup := k.values[name]; dup {
				t.Fatalf("line %d: value %q twice", i+1, name)
			}
			k.order = append(k.order, name)
			k.values[name] = v
		default:
			t.Fatalf("line %d: not .reg syntax: %q", i+1, line)
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k.path, `HKEY_LOCAL_MACHINE\`) {
			t.Errorf("key %s is not under HKEY_LOCAL_MACHINE", k.path)
		}
	}
	return keys
}

// regUnquote reads a quoted .reg string at the start of s and returns
// it and what follows.
func regUnquote(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", errors.New("no opening quote")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) || (s[i+1] != '\\' && s[i+1] != '"') {
				return "", "", errors.New("bad escape")
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("no closing quote")
}

func regParseValue(s string) (regValue, error) {
	switch {
	case s == "-":
		return regValue{typ: "delete"}, nil
	case strings.HasPrefix(s, `"`):
		v, rest, err := regUnquote(s)
		if err != nil || rest != "" {
			return regValue{}, fmt.Errorf("bad string value (%v, trailing %q)", err, rest)
		}
		return regValue{typ: "REG_SZ", str: v}, nil
	case strings.HasPrefix(s, "dword:"):
		h := s[len("dword:"):]
		n, err := strconv.ParseUint(h, 16, 32)
		if err != nil || len(h) != 8 {
			return regValue{}, fmt.Errorf("bad dword %q", h)
		}
		return regValue{typ: "REG_DWORD", dword: uint32(n)}, nil
	case strings.HasPrefix(s, "hex(7):"):
		var raw []byte
		for _, h := range strings.Split(s[len("hex(7):"):], ",") {
			if len(h) != 2 {
				return regValue{}, fmt.Errorf("bad hex byte %q", h)
			}
			b, err := strconv.ParseUint(h, 16, 8)
			if err != nil {
				return regValue{}, err
			}
			raw = append(raw, byte(b))
		}
		if len(raw)%2 != 0 {
			return regValue{}, errors.New("odd number of bytes in UTF-16 data")
		}
		u := make([]uint16, len(raw)/2)
		for i := range u {
			u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
		}
		// Each string ends with a NUL, the list with one more.
		if len(u) < 2 || u[len(u)-1] != 0 || u[len(u)-2] != 0 {
			return regValue{}, errors.New("REG_MULTI_SZ data must end with two NULs")
		}
		var multi []string
		for _, s := range strings.Split(string(utf16.Decode(u[:len(u)-2])), "\x00") {
			if s == "" {
				return regValue{}, errors.New("empty string inside REG_MULTI_SZ")
			}
			multi = append(multi, s)
		}
		return regValue{typ: "REG_MULTI_SZ", multi: multi}, nil
	}
	return regValue{}, errors.New("unknown value type")
}

func checkRegValue(t *testing.T, values map[string]regValue, name string, want regValue) {
	t.Helper()
	got, ok := values[name]
	if !ok {
		t.Errorf("value %q missing", name)
		return
	}
	if got.typ != want.typ || got.str != want.str || got.dword != want.dword || !slices.Equal(got.multi, want.multi) {
		t.Errorf("value %q = %+v, want %+v", name, got, want)
	}
}

// agentRegistryValues reads the value table of LoadMachinePolicy's
// comment in agent/policy_windows.go (name and type), and checks that the
// reader's switch names each: the kit is tied to what the agent reads,
// not to a copy of it.
func agentRegistryValues(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile("../agent/policy_windows.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//\t(\w+)\s+(REG_\w+)`).FindAllStringSubmatch(string(src), -1)
	if len(m) == 0 {
		t.Fatal("no value table in agent/policy_windows.go")
	}
	out := map[string]string{}
	for _, v := range m {
		out[v[1]] = v[2]
		if !strings.Contains(string(src), `case "`+strings.ToLower(v[1])+`"`) {
			t.Errorf("agent/policy_windows.go documents %s but does not read it", v[1])
		}
	}
	if !strings.Contains(string(src), "policyKey = `"+AgentPolicyKey+"`") {
		t.Errorf("agent/policy_windows.go does not read HKLM\\%s", AgentPolicyKey)
	}
	return out
}

func checkAgainstAgentReader(t *testing.T, values map[string]regValue) {
	t.Helper()
	table := agentRegistryValues(t)
	for name, v := range values {
		if v.typ == "delete" {
			if _, ok := table[name]; !ok {
				t.Errorf("the .reg deletes %s, which the agent does not read", name)
			}
			continue
		}
		if table[name] != v.typ {
			t.Errorf("the .reg writes %s as %s, the agent reads %q", name, v.typ, table[name])
		}
	}
}

// xmlNode is any XML element, for reading the templates without the
// generator's own types.
type xmlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []xmlNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *xmlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *xmlNode) children() []string {
	var out []string
	for _, c := range n.Nodes {
		out = append(out, c.XMLName.Local)
	}
	return out
}

func (n *xmlNode) child(name string) *xmlNode {
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			return &n.Nodes[i]
		}
	}
	return nil
}

func (n *xmlNode) walk(f func(*xmlNode)) {
	f(n)
	for i := range n.Nodes {
		n.Nodes[i].walk(f)
	}
}

func parseXML(t *testing.T, name string, data []byte) *xmlNode {
	t.Helper()
	if !bytes.HasPrefix(data, []byte(`<?xml version="1.0" encoding="utf-8"?>`)) {
		t.Errorf("%s does not start with an XML declaration", name)
	}
	var n xmlNode
	if err := xml.Unmarshal(data, &n); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &n
}

// checkTemplates checks the ADMX's shape against the PolicyDefinitions
// schema, its keys and value names against the agent's reader, and that
// every string and presentation it names is in every ADML.
func checkTemplates(t *testing.T, admxData []byte, admls map[string][]byte) {
	t.Helper()
	const ns = "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"
	admx := parseXML(t, "kyso.admx", admxData)
	if admx.XMLName.Local != "policyDefinitions" || admx.XMLName.Space != ns {
		t.Fatalf("ADMX root %v", admx.XMLName)
	}
	if got := admx.children(); !slices.Equal(got, []string{"policyNamespaces", "resources", "supportedOn", "categories", "policies"}) {
		t.Errorf("ADMX sections %v, in the schema's order: policyNamespaces resources supportedOn categories policies", got)
	}
	if tg := admx.child("policyNamespaces").child("target"); tg == nil || tg.attr("prefix") == "" || tg.attr("namespace") == "" {
		t.Error("ADMX: no target namespace")
	}

	refRe := regexp.MustCompile(`^\$\((string|presentation)\.([A-Za-z0-9_]+)\)$`)
	strs, pres := map[string]bool{}, map[string]bool{}
	admx.walk(func(n *xmlNode) {
		for _, a := range n.Attrs {
			if m := refRe.FindStringSubmatch(a.Value); m != nil {
				if m[1] == "string" {
					strs[m[2]] = true
				} else {
					pres[m[2]] = true
				}
			} else if strings.HasPrefix(a.Value, "$(") {
				t.Errorf("ADMX: malformed reference %q", a.Value)
			}
		}
	})
	categories, supported := map[string]bool{}, map[string]bool{}
	for _, c := range admx.child("categories").Nodes {
		categories[c.attr("name")] = true
	}
	for _, d := range admx.child("supportedOn").child("definitions").Nodes {
		supported[d.attr("name")] = true
	}

	table := agentRegistryValues(t)
	// Which element ids each presentation must show.
	elementIDs := map[string][]string{}
	var policies []string
	for _, p := range admx.child("policies").Nodes {
		name := p.attr("name")
		policies = append(policies, name)
		if p.attr("class") != "Machine" || p.attr("key") != AgentPolicyKey {
			t.Errorf("policy %s: class %q key %q, want Machine %s", name, p.attr("class"), p.attr("key"), AgentPolicyKey)
		}
		if pc := p.child("parentCategory"); pc == nil || !categories[pc.attr("ref")] {
			t.Errorf("policy %s: no known parentCategory", name)
		}
		if so := p.child("supportedOn"); so == nil || !supported[so.attr("ref")] {
			t.Errorf("policy %s: no known supportedOn", name)
		}
		if p.child("enabledValue") != nil {
			// A plain on/off policy: REG_DWORD 1 / 0 in valueName.
			vn := p.attr("valueName")
			if table[vn] != "REG_DWORD" || p.child("enabledValue").child("decimal").attr("value") != "1" || p.child("disabledValue").child("decimal").attr("value") != "0" {
				t.Errorf("policy %s: valueName %q (agent reads %q), want a REG_DWORD 1/0", name, vn, table[vn])
			}
		}
		if el := p.child("elements"); el != nil {
			for _, e := range el.Nodes {
				vn := e.attr("valueName")
				want := map[string]string{"multiText": "REG_MULTI_SZ", "text": "REG_SZ", "enum": "REG_SZ"}[e.XMLName.Local]
				if want == "" || table[vn] != want {
					t.Errorf("policy %s: element %s writes %s as %q, the agent reads %q", name, e.XMLName.Local, vn, want, table[vn])
				}
				if e.XMLName.Local == "enum" {
					var vals []string
					for _, it := range e.Nodes {
						vals = append(vals, it.child("value").child("string").Text)
					}
					if !slices.Equal(vals, []string{"B-B", "B-T", "B-LT", "B-LTA"}) {
						t.Errorf("policy %s: levels %q", name, vals)
					}
				}
				pid := strings.TrimSuffix(strings.TrimPrefix(p.attr("presentation"), "$(presentation."), ")")
				elementIDs[pid] = append(elementIDs[pid], e.attr("id"))
			}
		}
	}
	if want := []string{"AllowedOrigins", "HashSigningOrigins", "UserMayApprove", "TSA", "DefaultLevel"}; !slices.Equal(policies, want) {
		t.Errorf("policies %v, want %v", policies, want)
	}

	var ids []string
	for lang, data := range admls {
		adml := parseXML(t, lang, data)
		if adml.XMLName.Local != "policyDefinitionResources" || adml.XMLName.Space != ns {
			t.Fatalf("%s: root %v", lang, adml.XMLName)
		}
		if got := adml.children(); !slices.Equal(got, []string{"displayName", "description", "resources"}) {
			t.Errorf("%s: sections %v", lang, got)
		}
		res := adml.child("resources")
		if got := res.children(); !slices.Equal(got, []string{"stringTable", "presentationTable"}) {
			t.Errorf("%s: resources %v", lang, got)
		}
		have := map[string]bool{}
		var langIDs []string
		for _, s := range res.child("stringTable").Nodes {
			if have[s.attr("id")] {
				t.Errorf("%s: string %s twice", lang, s.attr("id"))
			}
			have[s.attr("id")] = true
			langIDs = append(langIDs, s.attr("id"))
			if strings.TrimSpace(s.Text) == "" {
				t.Errorf("%s: string %s is empty", lang, s.attr("id"))
			}
		}
		for id := range strs {
			if !have[id] {
				t.Errorf("%s: the ADMX names $(string.%s), which is missing", lang, id)
			}
		}
		for id := range have {
			if !strs[id] {
				t.Errorf("%s: string %s is not used by the ADMX", lang, id)
			}
		}
		presented := map[string]bool{}
		for _, p := range res.child("presentationTable").Nodes {
			id := p.attr("id")
			presented[id] = true
			var refs []string
			for _, c := range p.Nodes {
				refs = append(refs, c.attr("refId"))
			}
			if !slices.Equal(refs, elementIDs[id]) {
				t.Errorf("%s: presentation %s shows %q, the policy's elements are %q", lang, id, refs, elementIDs[id])
			}
		}
		for id := range pres {
			if !presented[id] {
				t.Errorf("%s: the ADMX names $(presentation.%s), which is missing", lang, id)
			}
		}
		sort.Strings(langIDs)
		if ids == nil {
			ids = langIDs
		} else if !slices.Equal(ids, langIDs) {
			t.Errorf("the ADMLs define different strings: %v and %v", ids, langIDs)
		}
	}
	if !strings.Contains(string(admls["vi-VN"]), "Các trang web được dùng tác tử ký số") || !strings.Contains(string(admls["en-US"]), "Sites allowed to use the signing agent") {
		t.Error("the ADMLs are not in their languages")
	}
}

// TestRegQuote: backslashes and quotes survive the round trip through
// the .reg syntax.
func TestRegQuote(t *testing.T) {
	w := newRegWriter()
	w.key(`SOFTWARE\Test`)
	w.sz(`a\b"c`, `C:\Program Files\"x"\`)
	w.multiSZ("M", []string{`x\y`, strings.Repeat("Đường dẫn dài ", 12)})
	keys := parseReg(t, w.bytes())
	checkRegValue(t, keys[0].values, `a\b"c`, regValue{typ: "REG_SZ", str: `C:\Program Files\"x"\`})
	checkRegValue(t, keys[0].values, "M", regValue{typ: "REG_MULTI_SZ", multi: []string{`x\y`, strings.Repeat("Đường dẫn dài ", 12)}})
	for _, line := range strings.Split(string(utf16.Decode(u16(w.bytes()[2:]))), "\r\n") {
		if len(line) > 80 {
			t.Errorf("line longer than regedit's 80 columns: %q", line)
		}
	}
}

func u16(b []byte) []uint16 {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return u
}
