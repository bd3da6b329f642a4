package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPolicy(t *testing.T) {
	dir := t.TempDir()

	p, err := LoadPolicy(filepath.Join(dir, "absent.json"))
	if err != nil || p.Schema != PolicySchema || len(p.AllowedOrigins) != 0 {
		t.Fatalf("missing policy = %+v, %v; want an empty policy", p, err)
	}

	good := writeFile(t, dir, "good.json", `{
		"schema": "kyso.policy/v1",
		"allowedOrigins": ["https://qlvb.example.gov.vn", "https://*.example.gov.vn", "https://dms.example.vn:8443"],
		"hashSigningOrigins": ["https://qlvb.example.gov.vn"],
		"userMayApprove": false,
		"modules": ["/usr/lib/libvgca.so"],
		"tsa": "http://tsa.example.vn",
		"defaultLevel": "B-T",
		"maxDocumentMB": 50,
		"dialogTimeout": "90s"
	}`)
	p, err = LoadPolicy(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.AllowedOrigins) != 3 || p.UserMayApprove == nil || *p.UserMayApprove || time.Duration(p.DialogTimeout) != 90*time.Second {
		t.Errorf("policy = %+v", p)
	}

	bad := []struct{ name, content, want string }{
		{"typo", `{"schema":"kyso.policy/v1","allowedOrigin":["https://a.vn"]}`, "allowedOrigin"},
		{"schema", `{"schema":"kyso.policy/v2"}`, "schema"},
		{"noschema", `{}`, "schema"},
		{"suffix", `{"schema":"kyso.policy/v1","allowedOrigins":["https://ok.vn","gov.vn"]}`, "allowedOrigins[1]"},
		{"path", `{"schema":"kyso.policy/v1","allowedOrigins":["https://gov.vn/"]}`, `"https://gov.vn/"`},
		{"http", `{"schema":"kyso.policy/v1","allowedOrigins":["http://gov.vn"]}`, "allowedOrigins[0]"},
		{"hashwildcard", `{"schema":"kyso.policy/v1","hashSigningOrigins":["https://*.gov.vn"]}`, "hashSigningOrigins[0]"},
		{"level", `{"schema":"kyso.policy/v1","defaultLevel":"B-X"}`, "defaultLevel"},
		{"tsa", `{"schema":"kyso.policy/v1","tsa":"tsa.example.vn"}`, "tsa"},
		{"module", `{"schema":"kyso.policy/v1","modules":["libvgca.so"]}`, "modules[0]"},
		{"timeout", `{"schema":"kyso.policy/v1","dialogTimeout":"1s"}`, "dialogTimeout"},
		{"badtimeout", `{"schema":"kyso.policy/v1","dialogTimeout":"soon"}`, "soon"},
		{"size", `{"schema":"kyso.policy/v1","maxDocumentMB":-1}`, "maxDocumentMB"},
		{"trailing", `{"schema":"kyso.policy/v1"} {}`, "after"},
		{"notjson", `allowedOrigins = https://gov.vn`, "invalid character"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, c.name+".json", c.content)
			_, err := LoadPolicy(path)
			if err == nil {
				t.Fatalf("LoadPolicy(%s) succeeded", c.content)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestUserConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "kyso", "config.json")

	c, err := LoadUserConfig(path)
	if err != nil || c.Schema != UserConfigSchema {
		t.Fatalf("missing config = %+v, %v", c, err)
	}
	c.ApprovedOrigins = []ApprovedOrigin{{Origin: "https://qlvb.example.gov.vn", Approved: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}}
	c.Language = "en"
	c.TSA = "https://tsa.example.vn"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("config mode %v, want 0600", fi.Mode().Perm())
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("config folder mode %v, want 0700", di.Mode().Perm())
		}
	}
	back, err := LoadUserConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Language != "en" || back.TSA != c.TSA || len(back.ApprovedOrigins) != 1 || !back.ApprovedOrigins[0].Approved.Equal(c.ApprovedOrigins[0].Approved) {
		t.Errorf("round trip = %+v", back)
	}

	bad := []struct{ name, content, want string }{
		{"wildcard", `{"schema":"kyso.config/v1","approvedOrigins":[{"origin":"https://*.gov.vn","approved":"2026-01-01T00:00:00Z"}]}`, "approvedOrigins[0]"},
		{"typo", `{"schema":"kyso.config/v1","langauge":"en"}`, "langauge"},
		{"lang", `{"schema":"kyso.config/v1","language":"fr"}`, "language"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadUserConfig(writeFile(t, dir, c.name+".json", c.content))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("LoadUserConfig error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	no := false
	cases := []struct {
		name   string
		policy *Policy
		user   *UserConfig
		check  func(t *testing.T, s *Settings)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, s *Settings) {
				if s.MaxDocumentBytes != 200<<20 || s.DialogTimeout != 2*time.Minute || !s.UserMayApprove || s.DefaultLevel != "B-B" || s.TSA != "" {
					t.Errorf("defaults = %+v", s)
				}
			},
		},
		{
			name:   "policy wins",
			policy: &Policy{Schema: PolicySchema, TSA: "http://policy.tsa", DefaultLevel: "B-LT", Templates: "/etc/kyso/templates.json", Modules: []string{"/a.so", "/b.so"}, MaxDocumentMB: 10, DialogTimeout: Duration(time.Minute), UserMayApprove: &no},
			user:   &UserConfig{Schema: UserConfigSchema, TSA: "http://user.tsa", DefaultLevel: "B-T", Templates: "/home/u/t.json", Modules: []string{"/b.so", "/c.so"}},
			check: func(t *testing.T, s *Settings) {
				if s.TSA != "http://policy.tsa" || s.DefaultLevel != "B-LT" || s.Templates != "/etc/kyso/templates.json" {
					t.Errorf("policy did not win: %+v", s)
				}
				if !slices.Equal(s.Modules, []string{"/a.so", "/b.so", "/c.so"}) {
					t.Errorf("modules = %v, want the union", s.Modules)
				}
				if s.MaxDocumentBytes != 10<<20 || s.DialogTimeout != time.Minute || s.UserMayApprove {
					t.Errorf("limits = %+v", s)
				}
			},
		},
		{
			name: "user fills in",
			user: &UserConfig{Schema: UserConfigSchema, TSA: "http://user.tsa", DefaultLevel: "B-T", Language: "en"},
			check: func(t *testing.T, s *Settings) {
				if s.TSA != "http://user.tsa" || s.DefaultLevel != "B-T" || s.Language != "en" {
					t.Errorf("user settings = %+v", s)
				}
			},
		},
		{
			name:   "origins",
			policy: &Policy{Schema: PolicySchema, AllowedOrigins: []string{"https://*.example.gov.vn", "https://dms.example.vn:8443"}, HashSigningOrigins: []string{"https://dms.example.vn:8443"}},
			check: func(t *testing.T, s *Settings) {
				for o, want := range map[string]bool{
					"https://a.example.gov.vn":    true,
					"https://example.gov.vn":      false,
					"https://dms.example.vn:8443": true,
					"https://dms.example.vn":      false,
				} {
					if got := s.PolicyAllows(mustOrigin(t, o)); got != want {
						t.Errorf("PolicyAllows(%s) = %v", o, got)
					}
				}
				if !s.HashSigningAllowed(mustOrigin(t, "https://dms.example.vn:8443")) || s.HashSigningAllowed(mustOrigin(t, "https://a.example.gov.vn")) {
					t.Error("hash signing list wrong")
				}
				if s.PolicyAllows(Origin{}) || s.HashSigningAllowed(Origin{}) {
					t.Error("the zero origin is allowed")
				}
				if len(s.AllowedPatterns()) != 2 {
					t.Errorf("patterns = %v", s.AllowedPatterns())
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSettings(c.policy, c.user)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, s)
		})
	}

	if _, err := NewSettings(&Policy{Schema: PolicySchema, DefaultLevel: "B-T"}, nil); err == nil {
		t.Error("B-T without a TSA accepted")
	}
}
