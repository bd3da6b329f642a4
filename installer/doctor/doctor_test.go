package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		sevs []Severity
		want int
	}{
		{nil, 0},
		{[]Severity{SeverityOK}, 0},
		{[]Severity{SeverityOK, SeverityInfo}, 0},
		{[]Severity{SeverityWarning, SeverityWarning, SeverityInfo}, 0},
		{[]Severity{SeverityOK, SeverityError}, 1},
		{[]Severity{SeverityError, SeverityWarning, SeverityError}, 1},
	}
	for _, tc := range tests {
		var rep Report
		for _, s := range tc.sevs {
			rep.Findings = append(rep.Findings, Finding{ID: "version", Severity: s, Message: T("doctor.group.general")})
		}
		if got := rep.ExitCode(); got != tc.want {
			t.Errorf("%v: exit code %d, want %d", tc.sevs, got, tc.want)
		}
		if rep.HasErrors() != (tc.want == 1) {
			t.Errorf("%v: HasErrors %v", tc.sevs, rep.HasErrors())
		}
	}
}

// TestJSONSchema checks the kyso.doctor/v1 shape on a whole run: schema and
// version, and every finding with exactly id, severity, message, fix and
// details (an object, never null), a known severity, a message, and a fix
// on everything that is not ok.
func TestJSONSchema(t *testing.T) {
	cfg := isolated(t)
	cfg.Modules = []string{"/nonexistent/libbogus.so"}
	cfg.Keys = nil
	rep := Run(context.Background(), cfg)
	for _, l := range []i18n.Lang{i18n.Vietnamese, i18n.English} {
		var b bytes.Buffer
		if err := rep.WriteJSON(&b, l); err != nil {
			t.Fatal(err)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		if keys := sortedKeys(doc); strings.Join(keys, ",") != "findings,schema,version" {
			t.Errorf("top-level keys %v", keys)
		}
		var schema, version string
		json.Unmarshal(doc["schema"], &schema)
		json.Unmarshal(doc["version"], &version)
		if schema != "kyso.doctor/v1" || version != "test" {
			t.Errorf("schema %q version %q", schema, version)
		}
		var findings []map[string]json.RawMessage
		if err := json.Unmarshal(doc["findings"], &findings); err != nil {
			t.Fatal(err)
		}
		if len(findings) != len(rep.Findings) || len(findings) == 0 {
			t.Fatalf("%d findings in JSON, %d in the report", len(findings), len(rep.Findings))
		}
		for i, f := range findings {
			if keys := sortedKeys(f); strings.Join(keys, ",") != "details,fix,id,message,severity" {
				t.Errorf("finding %d keys %v", i, keys)
			}
			var id, sev, msg, fix string
			var details map[string]any
			json.Unmarshal(f["id"], &id)
			json.Unmarshal(f["severity"], &sev)
			json.Unmarshal(f["message"], &msg)
			json.Unmarshal(f["fix"], &fix)
			if err := json.Unmarshal(f["details"], &details); err != nil || details == nil {
				t.Errorf("%s: details %s", id, f["details"])
			}
			if !slices.Contains([]string{"ok", "info", "warning", "error"}, sev) {
				t.Errorf("%s: severity %q", id, sev)
			}
			if id == "" || msg == "" || strings.HasPrefix(msg, "doctor.") || strings.Contains(msg+fix, "%!") {
				t.Errorf("finding %d: id %q message %q fix %q", i, id, msg, fix)
			}
			if (sev == "warning" || sev == "error") && fix == "" {
				t.Errorf("%s: %s without a fix", id, sev)
			}
			if sev == "ok" && fix != "" {
				t.Errorf("%s: ok with a fix %q", id, fix)
			}
		}
		if l == i18n.English && !strings.Contains(b.String(), `"id": "module.missing"`) {
			t.Errorf("no module.missing:\n%s", b.String())
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestTextForm: findings are grouped under their area in a fixed order,
// marked ✓ i ! ✗, fixes indented under them, a summary last; English with
// i18n.English.
func TestTextForm(t *testing.T) {
	rep := Report{Version: "1.0", Findings: []Finding{
		{ID: "version", Severity: SeverityInfo, Message: T("doctor.version", "1.0", "linux", "amd64", "go1.26")},
		{ID: "autostart.absent", Severity: SeverityWarning, Message: T("doctor.autostart.absent", T("doctor.autostart.scope.user")), Fix: T("doctor.autostart.fix", "")},
		{ID: "module.missing", Severity: SeverityError, Message: T("doctor.module.failed", "/x.so", T("doctor.module.reason.missing"), "stat /x.so: no such file"),
			Fix: T("doctor.module.fix.missing", T("doctor.module.software.unknown"))},
		{ID: "module.loaded", Severity: SeverityOK, Message: T("doctor.module.loaded", "/y.so", "OpenSC", "smartcard", "2.20")},
	}}
	vi, en := render(t, rep)
	wantVI := []string{
		"Chung\n  i kyso 1.0 (linux/amd64, go1.26)\n",
		"Thư viện PKCS#11\n  ✗ /x.so: không nạp được — không có tệp này (stat /x.so: no such file)\n      → Cài phần mềm token của nhà cung cấp chứng thư số, hoặc sửa đường dẫn",
		"  ✓ /y.so: đã nạp (OpenSC — smartcard, Cryptoki 2.20)\n",
		"Tự khởi động\n  ! Chưa cài tự khởi động cho người dùng này\n      → Chạy kyso service install\n",
		"Kết quả: 1 lỗi, 1 cảnh báo.\n",
	}
	last := -1
	for _, w := range wantVI {
		i := strings.Index(vi, w)
		if i < 0 || i < last {
			t.Errorf("Vietnamese text lacks, or misplaces, %q:\n%s", w, vi)
		}
		last = i
	}
	if !strings.Contains(en, "PKCS#11 libraries\n  ✗ /x.so: not loaded — no such file") || !strings.Contains(en, "Result: 1 error(s), 1 warning(s).") {
		t.Errorf("English text:\n%s", en)
	}
	var ok bytes.Buffer
	if err := (Report{Findings: []Finding{{ID: "version", Severity: SeverityOK, Message: T("doctor.group.general")}}}).WriteText(&ok, i18n.Vietnamese); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ok.String(), "Kết quả: không có lỗi hay cảnh báo.\n") {
		t.Errorf("all-ok summary: %q", ok.String())
	}
}

// TestConfigFindings: a policy or user configuration the agent would
// refuse is an error, since the agent does not start with it.
func TestConfigFindings(t *testing.T) {
	dir := t.TempDir()
	badUser := filepath.Join(dir, "config.json")
	if err := os.WriteFile(badUser, []byte(`{"schema":"kyso.config/v1","tsaa":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"defaults", func(c *Config) {}, "config.policy:ok"},
		{"policy unreadable", func(c *Config) {
			c.LoadPolicy = func() (*agent.Policy, error) {
				return nil, errors.New(`agent: policy /etc/kyso/policy.json: json: unknown field "allowedOrigin"`)
			}
		}, "config.policy:error"},
		{"policy file missing", func(c *Config) {
			c.LoadPolicy = nil
			c.PolicyPath = filepath.Join(dir, "none.json")
		}, "config.policy:ok"},
		{"audit log folder", func(c *Config) { c.AuditDir = dir }, "config.policy:ok config.audit:info"},
		{"user configuration invalid", func(c *Config) { c.ConfigPath = badUser }, "config.policy:ok config.user:error"},
		{"B-T without a TSA", func(c *Config) {
			c.LoadPolicy = func() (*agent.Policy, error) {
				return &agent.Policy{Schema: agent.PolicySchema, DefaultLevel: "B-T"}, nil
			}
		}, "config.policy:ok config.settings:error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := isolated(t)
			tc.mod(&cfg)
			rep := Run(context.Background(), cfg)
			vi, _ := render(t, rep)
			if got := strings.Join(ids(only(rep, "config.")), " "); got != tc.want {
				t.Errorf("findings %s, want %s", got, tc.want)
			}
			if strings.Contains(tc.want, "error") != (rep.ExitCode() == 1) {
				t.Errorf("exit code %d", rep.ExitCode())
			}
			if tc.name == "policy file missing" && !strings.Contains(vi, "Không có chính sách của máy") {
				t.Errorf("a missing policy is not said:\n%s", vi)
			}
		})
	}
}

func TestTextNesting(t *testing.T) {
	txt := T("doctor.module.fix.missing", T("doctor.module.software", "VNPT-CA"))
	if got := txt.String(i18n.English); got != "Install the token software of VNPT-CA, or correct the path (policy, configuration or --module) to where the library is installed" {
		t.Errorf("%q", got)
	}
	if (Text{}).String(i18n.Vietnamese) != "" {
		t.Error("the zero Text is not empty")
	}
}
