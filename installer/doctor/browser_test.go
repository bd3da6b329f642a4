package doctor

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
)

func TestChromePatternCovers(t *testing.T) {
	exact := site{Scheme: "https", Host: "qlvb.example.gov.vn", Port: 443}
	custom := site{Scheme: "https", Host: "dms.example.vn", Port: 8443}
	wild := site{Scheme: "https", Host: "example.gov.vn", Port: 443, Wildcard: true}
	tests := []struct {
		pattern string
		s       site
		want    bool
	}{
		{"https://qlvb.example.gov.vn", exact, true},
		{"https://qlvb.example.gov.vn:443", exact, true},
		{"qlvb.example.gov.vn", exact, true},
		{"http://qlvb.example.gov.vn", exact, false},
		{"https://qlvb.example.gov.vn:8443", exact, false},
		{"https://other.example.gov.vn", exact, false},
		{"[*.]example.gov.vn", exact, true},
		{"https://[*.]gov.vn", exact, true},
		{"[*.]xample.gov.vn", exact, false},
		{"*", exact, true},
		{"https://*", exact, true},
		{"https://qlvb.example.gov.vn/*", exact, true},
		{"https://dms.example.vn", custom, false}, // scheme given, no port: 443 only
		{"https://dms.example.vn:8443", custom, true},
		{"dms.example.vn", custom, true}, // no scheme: any port
		{"https://dms.example.vn:*", custom, true},
		{"[*.]example.gov.vn", wild, true},
		{"https://[*.]gov.vn", wild, true},
		{"https://a.example.gov.vn", wild, false},
		{"[*.]a.example.gov.vn", wild, false},
		{"not a pattern:99999", exact, false},
	}
	for _, tc := range tests {
		p, ok := parseChromePattern(tc.pattern)
		if got := ok && p.covers(tc.s); got != tc.want {
			t.Errorf("%q covers %+v = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestFirefoxCovers(t *testing.T) {
	exact := site{Scheme: "https", Host: "qlvb.example.gov.vn", Port: 443}
	wild := site{Scheme: "https", Host: "example.gov.vn", Port: 443, Wildcard: true}
	tests := []struct {
		entry string
		s     site
		want  bool
	}{
		{"qlvb.example.gov.vn", exact, true},
		{"https://qlvb.example.gov.vn", exact, true},
		{"https://qlvb.example.gov.vn:443/", exact, true},
		{"*.example.gov.vn", exact, true},
		{"*.qlvb.example.gov.vn", exact, false},
		{"example.gov.vn", exact, false},
		{"*.example.gov.vn", wild, true},
		{"*.gov.vn", wild, true},
		{"example.gov.vn", wild, false},
	}
	for _, tc := range tests {
		if got := firefoxCovers(tc.entry, tc.s); got != tc.want {
			t.Errorf("%q covers %+v = %v, want %v", tc.entry, tc.s, got, tc.want)
		}
	}
}

// TestBrowserPolicyFiles lays out the Linux policy files under a staging
// root and checks which browser allows which configured origin.
func TestBrowserPolicyFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		// Windows keeps them in the registry; the matching is tested above.
		return
	}
	const (
		qlvb = "https://qlvb.example.gov.vn"
		dms  = "https://dms.example.vn:8443"
		wild = "https://*.hanoi.gov.vn"
	)
	root := t.TempDir()
	// Chrome: both origins and the wildcard, across two files and both
	// policy names.
	writeFile(t, root, "etc/opt/chrome/policies/managed/kyso.json", []byte(`{"LoopbackNetworkAllowedForUrls": ["https://qlvb.example.gov.vn", "[*.]hanoi.gov.vn"]}`))
	writeFile(t, root, "etc/opt/chrome/policies/managed/other.json", []byte(`{"LocalNetworkAccessAllowedForUrls": ["https://dms.example.vn:8443"], "HomepageLocation": "x"}`))
	writeFile(t, root, "opt/google/chrome/chrome", []byte("#!"))
	// Chromium: installed, its policy misses the port-8443 site.
	writeFile(t, root, "usr/bin/chromium", []byte("#!"))
	writeFile(t, root, "etc/chromium/policies/managed/kyso.json", []byte(`{"LoopbackNetworkAllowedForUrls": ["https://qlvb.example.gov.vn", "https://dms.example.vn", "https://[*.]hanoi.gov.vn"]}`))
	// Edge: allows everything but blocks one.
	writeFile(t, root, "etc/opt/edge/policies/managed/kyso.json", []byte(`{"LocalNetworkAccessAllowedForUrls": ["*"], "LoopbackNetworkBlockedForUrls": ["https://qlvb.example.gov.vn"]}`))
	// Brave: installed, no policy at all.
	writeFile(t, root, "usr/bin/brave-browser", []byte("#!"))
	// Firefox: SkipDomains for all three, in the system-wide file.
	writeFile(t, root, "usr/bin/firefox", []byte("#!"))
	writeFile(t, root, "etc/firefox/policies/policies.json", []byte(`{"policies": {"LocalNetworkAccess": {"Enabled": true, "SkipDomains": ["qlvb.example.gov.vn", "dms.example.vn", "*.hanoi.gov.vn"]}}}`))

	cfg := isolated(t)
	cfg.Root = root
	cfg.LoadPolicy = func() (*agent.Policy, error) {
		return &agent.Policy{Schema: agent.PolicySchema, AllowedOrigins: []string{qlvb, dms, wild}}, nil
	}
	rep := Run(context.Background(), cfg)
	vi, en := render(t, rep)

	type verdict struct{ id, allowed, missing, blocked string }
	want := map[string]verdict{
		"chrome":   {"browser.allowed", qlvb + " " + dms + " " + wild, "", ""},
		"chromium": {"browser.missing", qlvb + " " + wild, dms, ""},
		"edge":     {"browser.blocked", dms + " " + wild, "", qlvb},
		"brave":    {"browser.missing", "", qlvb + " " + dms + " " + wild, ""},
		"firefox":  {"browser.allowed", qlvb + " " + dms + " " + wild, "", ""},
	}
	got := map[string]Finding{}
	for _, f := range only(rep, "browser.") {
		got[fmt.Sprint(f.Details["browser"])] = f
	}
	for b, w := range want {
		f, ok := got[b]
		if !ok {
			t.Errorf("%s: no finding (have %v)", b, ids(rep.Findings))
			continue
		}
		list := func(k string) string { return strings.Join(f.Details[k].([]string), " ") }
		if f.ID != w.id || list("allowed") != w.allowed || list("missing") != w.missing || list("blocked") != w.blocked {
			t.Errorf("%s: %s allowed=%q missing=%q blocked=%q, want %+v", b, f.ID, list("allowed"), list("missing"), list("blocked"), w)
		}
		if f.ID != "browser.allowed" && f.Severity != SeverityWarning {
			t.Errorf("%s: severity %s", b, f.Severity)
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings for %d browsers, want %d: %v", len(got), len(want), ids(rep.Findings))
	}
	if !strings.Contains(vi, "kyso policy generate") || !strings.Contains(en, "kyso policy generate") {
		t.Errorf("no policy generate fix:\n%s", vi)
	}
	if rep.ExitCode() != 0 {
		t.Errorf("browser findings are warnings, exit code %d", rep.ExitCode())
	}
}

func TestBrowserPolicyBrokenFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		return
	}
	root := t.TempDir()
	writeFile(t, root, "etc/chromium/policies/managed/kyso.json", []byte(`{"LoopbackNetworkAllowedForUrls": "https://qlvb.example.gov.vn"`))
	cfg := isolated(t)
	cfg.Root = root
	cfg.LoadPolicy = func() (*agent.Policy, error) {
		return &agent.Policy{Schema: agent.PolicySchema, AllowedOrigins: []string{"https://qlvb.example.gov.vn"}}, nil
	}
	rep := Run(context.Background(), cfg)
	render(t, rep)
	if got := ids(only(rep, "browser.")); strings.Join(got, " ") != "browser.unreadable:warning browser.missing:warning" {
		t.Errorf("findings %v", got)
	}
}

func TestBrowserNothingToCheck(t *testing.T) {
	cfg := isolated(t)
	rep := Run(context.Background(), cfg)
	if got := ids(only(rep, "browser.")); len(got) != 1 || got[0] != "browser.no-origins:info" {
		t.Errorf("no origins: %v", got)
	}
	cfg.LoadPolicy = func() (*agent.Policy, error) {
		return &agent.Policy{Schema: agent.PolicySchema, AllowedOrigins: []string{"https://qlvb.example.gov.vn"}}, nil
	}
	cfg.BrowserPolicies = func() ([]BrowserPolicy, error) { return nil, nil }
	rep = Run(context.Background(), cfg)
	if got := ids(only(rep, "browser.")); len(got) != 1 || got[0] != "browser.none:info" {
		t.Errorf("no browser: %v", got)
	}
	if msg := rep.ByID("browser.none")[0].Message.String(i18n.English); !strings.Contains(msg, "Firefox") {
		t.Errorf("message %q", msg)
	}
}
