package tray

import (
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
)

var langs = []i18n.Lang{i18n.Vietnamese, i18n.English}

// now is 10:00 GMT+7 on 1 March 2025.
func testNow() time.Time { return time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC) }

func tokenState() State {
	now := testNow()
	return State{
		Version: "0.3.0", Port: 15888, Now: now,
		Tokens: []TokenView{{ID: "tok1", Label: "VNPT-CA"}},
		Certificates: []CertView{
			{Handle: "h1", Holder: "Nguyễn Văn An", Kind: "personal", Issuer: "VNPT Certification Authority",
				NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.Add(12*24*time.Hour + time.Hour), TokenID: "tok1"},
			{Handle: "h2", Holder: "Sở Nội vụ", Kind: "organisation", Issuer: "Ban Cơ yếu Chính phủ",
				NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1), TokenID: "tok1"},
			{Handle: "h3", Holder: "Nguyễn Văn An", Kind: "personal", Issuer: "VNPT Certification Authority",
				NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(2, 0, 0), TokenID: "tok1"},
		},
		Approved: []SiteView{
			{Origin: "https://vanban.hanoi.gov.vn", Managed: true},
			{Origin: "https://dms.example.vn", Approved: time.Date(2025, 2, 1, 1, 30, 0, 0, time.UTC)},
		},
		Recent: []ActivityView{
			{Time: time.Date(2025, 2, 28, 17, 5, 0, 0, time.UTC), Site: "https://dms.example.vn", Document: "congvan-12.pdf", Profile: "approved", Result: "ok"},
			{Time: time.Date(2025, 2, 28, 2, 0, 0, 0, time.UTC), Site: "local", Document: "totrinh.pdf", Profile: "", Result: "CANCELLED"},
			{Time: time.Date(2025, 2, 27, 2, 0, 0, 0, time.UTC), Site: "https://dms.example.vn", Document: "qd.pdf", Profile: "issued", Result: "PIN_INCORRECT"},
		},
		Settings: SettingsView{Language: i18n.Vietnamese, TSA: "http://tsa.example.vn", DefaultLevel: "B-T", StartAtLogin: true},
	}
}

func mustFind(t *testing.T, m Menu, id string) Item {
	t.Helper()
	it, ok := m.Find(id)
	if !ok {
		t.Fatalf("no item %q", id)
	}
	return it
}

func TestIconAndTooltip(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*State)
		icon  Icon
		tipVI string
		tipEN string
	}{
		{"ready", func(*State) {}, IconReady, "kyso — sẵn sàng ký (Nguyễn Văn An, Sở Nội vụ)", "kyso — ready to sign (Nguyễn Văn An, Sở Nội vụ)"},
		{"no token", func(s *State) { s.Tokens = nil }, IconNoToken, "kyso — chưa cắm token", "kyso — no token plugged in"},
		{"busy", func(s *State) { s.Busy = true }, IconSigning, "kyso — đang ký…", "kyso — signing…"},
		{"waiting beats busy", func(s *State) { s.Busy, s.WaitingForUser = true, true }, IconWaiting, "kyso — đang chờ bạn xác nhận", "kyso — waiting for you to confirm"},
		{"error", func(s *State) { s.LastError = "TSA_UNAVAILABLE" }, IconError, "kyso — lỗi: TSA_UNAVAILABLE", "kyso — error: TSA_UNAVAILABLE"},
		{"error without token", func(s *State) { s.Tokens, s.LastError = nil, "x" }, IconError, "kyso — lỗi: x", "kyso — error: x"},
		{"explicit holders", func(s *State) { s.Tokens[0].Holders = []string{"Trần Bình"} }, IconReady, "kyso — sẵn sàng ký (Trần Bình)", "kyso — ready to sign (Trần Bình)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tokenState()
			tc.edit(&s)
			if got := IconState(s); got != tc.icon {
				t.Errorf("icon %v, want %v", got, tc.icon)
			}
			s.Lang = ""
			if got := Tooltip(s); got != tc.tipVI {
				t.Errorf("default tooltip %q, want %q", got, tc.tipVI)
			}
			s.Lang = i18n.English
			if got := Tooltip(s); got != tc.tipEN {
				t.Errorf("English tooltip %q, want %q", got, tc.tipEN)
			}
		})
	}
}

func TestMenuItems(t *testing.T) {
	type check struct {
		id      string
		present bool
		enabled bool
		label   string // substring, when set
	}
	tests := []struct {
		name   string
		lang   i18n.Lang
		edit   func(*State)
		checks []check
	}{
		{"no token", i18n.Vietnamese, func(s *State) { s.Tokens, s.Certificates = nil, nil }, []check{
			{id: "lock", present: true, enabled: false, label: "Khóa token"},
			{id: "lock:tok1", present: false},
			{id: "status:no-token", present: true, label: "Chưa cắm token"},
			{id: "sign-file", present: true, enabled: false, label: "Ký tệp PDF…"},
			{id: "verify-file", present: true, enabled: true, label: "Kiểm tra chữ ký…"},
		}},
		{"token with certificates", i18n.Vietnamese, func(*State) {}, []check{
			{id: "lock:tok1", present: true, enabled: true, label: "Khóa token"},
			{id: "lock", present: false},
			{id: "status:token:tok1", present: true, label: "Token «VNPT-CA»: Nguyễn Văn An, Sở Nội vụ"},
			{id: "status:version", present: true, label: "0.3.0"},
			{id: "status:port", present: true, label: "15888"},
			{id: "certs", present: true, enabled: true, label: "Token và chứng thư"},
			{id: "cert:h1", present: true, enabled: true, label: "sắp hết hạn (còn 12 ngày)"},
			{id: "cert:h1:warning", present: true, label: "sắp hết hạn"},
			{id: "cert:h1:issuer", present: true, label: "Cấp bởi: VNPT Certification Authority"},
			{id: "cert:h1:validity", present: true, label: "Hiệu lực: 01/03/2024 → 13/03/2025"},
			{id: "cert:h2", present: true, enabled: true, label: "ĐÃ HẾT HẠN"},
			{id: "cert:h3:warning", present: false},
			{id: "sign-file", present: true, enabled: true},
		}},
		{"token with certificates in English", i18n.English, func(*State) {}, []check{
			{id: "certs", present: true, enabled: true, label: "Tokens and certificates"},
			{id: "cert:h1", present: true, enabled: true, label: "expires soon (12 days left)"},
			{id: "cert:h2", present: true, enabled: true, label: "EXPIRED"},
			{id: "lock:tok1", present: true, enabled: true, label: "Lock token"},
			{id: "sites", present: true, enabled: true, label: "Allowed websites"},
			{id: "recent", present: true, enabled: true, label: "Recent activity"},
			{id: "sign-file", present: true, enabled: true, label: "Sign a PDF file…"},
			{id: "settings", present: true, enabled: true, label: "Settings"},
			{id: "quit", present: true, enabled: true, label: "Quit"},
		}},
		{"approved sites with a managed one", i18n.Vietnamese, func(*State) {}, []check{
			{id: "site:https://vanban.hanoi.gov.vn", present: true, enabled: false, label: "do quản trị viên cấp"},
			{id: "revoke:https://vanban.hanoi.gov.vn", present: false},
			{id: "site:https://dms.example.vn", present: true, enabled: true, label: "https://dms.example.vn"},
			{id: "site:https://dms.example.vn:approved", present: true, label: "08:30 01/02/2025"},
			{id: "revoke:https://dms.example.vn", present: true, enabled: true, label: "Thu hồi"},
			{id: "revoke-all", present: true, enabled: true, label: "Thu hồi tất cả"},
		}},
		{"only managed sites", i18n.Vietnamese, func(s *State) { s.Approved = s.Approved[:1] }, []check{
			{id: "revoke-all", present: true, enabled: false},
			{id: "sites:none", present: false},
		}},
		{"no sites", i18n.Vietnamese, func(s *State) { s.Approved = nil }, []check{
			{id: "revoke-all", present: true, enabled: false},
			{id: "sites:none", present: true, label: "Chưa có trang web nào"},
		}},
		{"recent activity", i18n.Vietnamese, func(*State) {}, []check{
			{id: "activity:0", present: true, label: "00:05 01/03/2025 · https://dms.example.vn · congvan-12.pdf · ký duyệt · thành công"},
			{id: "activity:1", present: true, label: "09:00 28/02/2025 · trên máy này · totrinh.pdf · ký thông thường · đã hủy"},
			{id: "activity:2", present: true, label: "09:00 27/02/2025 · https://dms.example.vn · qd.pdf · ký ban hành · lỗi PIN_INCORRECT"},
			{id: "open-audit", present: true, enabled: true, label: "Mở nhật ký"},
		}},
		{"recent activity in English", i18n.English, func(*State) {}, []check{
			{id: "activity:0", present: true, label: "00:05 01/03/2025 · https://dms.example.vn · congvan-12.pdf · approval · signed"},
			{id: "activity:1", present: true, label: "this computer · totrinh.pdf · plain signature · cancelled"},
			{id: "open-audit", present: true, enabled: true, label: "Open the audit log"},
		}},
		{"no activity", i18n.Vietnamese, func(s *State) { s.Recent = nil }, []check{
			{id: "activity:none", present: true, label: "Chưa có hoạt động nào"},
			{id: "open-audit", present: true, enabled: true},
		}},
		{"error shown in status", i18n.Vietnamese, func(s *State) { s.LastError = "Máy chủ dấu thời gian không trả lời" }, []check{
			{id: "status:error", present: true, label: "Lỗi gần nhất: Máy chủ dấu thời gian không trả lời"},
		}},
		{"busy disables signing a file", i18n.Vietnamese, func(s *State) { s.Busy = true }, []check{
			{id: "sign-file", present: true, enabled: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tokenState()
			s.Lang = tc.lang
			tc.edit(&s)
			m := Build(s)
			for _, c := range tc.checks {
				it, ok := m.Find(c.id)
				if ok != c.present {
					t.Errorf("%s: present %v, want %v", c.id, ok, c.present)
					continue
				}
				if !ok {
					continue
				}
				if it.Enabled != c.enabled && (c.enabled || it.Kind == KindAction || it.Kind == KindSubmenu) {
					t.Errorf("%s: enabled %v, want %v", c.id, it.Enabled, c.enabled)
				}
				if c.label != "" && !strings.Contains(it.Label, c.label) {
					t.Errorf("%s: label %q, want it to contain %q", c.id, it.Label, c.label)
				}
			}
		})
	}
}

func TestManagedSiteNotRemovable(t *testing.T) {
	for _, lang := range langs {
		s := tokenState()
		s.Lang = lang
		it := mustFind(t, Build(s), "site:https://vanban.hanoi.gov.vn")
		if it.Kind != KindInfo || it.Enabled || len(it.Children) > 0 || it.Tooltip == "" {
			t.Errorf("%s: managed site %+v, want a disabled info item with a tooltip", lang, it)
		}
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings SettingsView
		lang     i18n.Lang
		checked  map[string]bool
		tsa      string
	}{
		{"vietnamese, B-T, start at login", SettingsView{Language: i18n.Vietnamese, TSA: "http://tsa.example.vn", DefaultLevel: "B-T", StartAtLogin: true}, i18n.Vietnamese,
			map[string]bool{"lang:vi": true, "lang:en": false, "level:B-B": false, "level:B-T": true, "level:B-LT": false, "level:B-LTA": false, "start-at-login": true},
			"Máy chủ dấu thời gian: http://tsa.example.vn"},
		{"english, defaults", SettingsView{Language: i18n.English}, i18n.English,
			map[string]bool{"lang:vi": false, "lang:en": true, "level:B-B": true, "level:B-T": false, "start-at-login": false},
			"Timestamp server: not set"},
		{"language follows the menu when unset", SettingsView{}, i18n.English,
			map[string]bool{"lang:en": true, "lang:vi": false}, "Timestamp server: not set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tokenState()
			s.Lang, s.Settings = tc.lang, tc.settings
			m := Build(s)
			for id, want := range tc.checked {
				it := mustFind(t, m, id)
				if it.Checked != want || it.Toggle == ToggleNone || !it.Enabled {
					t.Errorf("%s: checked %v toggle %v enabled %v, want checked %v", id, it.Checked, it.Toggle, it.Enabled, want)
				}
			}
			if got := mustFind(t, m, IDSetTSA).Label; got != tc.tsa {
				t.Errorf("TSA label %q, want %q", got, tc.tsa)
			}
			if got := mustFind(t, m, "start-at-login").Toggle; got != ToggleCheckbox {
				t.Errorf("start at login toggle %v", got)
			}
		})
	}
}

func states() map[string]State {
	full := tokenState()
	empty := State{Now: testNow()}
	noToken := tokenState()
	noToken.Tokens, noToken.Certificates = nil, nil
	twoTokens := tokenState()
	twoTokens.Tokens = append(twoTokens.Tokens, TokenView{ID: "tok2"})
	twoTokens.Certificates = append(twoTokens.Certificates, CertView{Handle: "h4", TokenID: "tok2"})
	twoTokens.Tokens = append(twoTokens.Tokens, TokenView{ID: "tok3", Label: "empty"})
	weird := tokenState()
	weird.Recent = append(weird.Recent, ActivityView{Profile: "unheard-of", Result: "SOMETHING"})
	return map[string]State{"full": full, "empty": empty, "no token": noToken, "two tokens": twoTokens, "odd records": weird}
}

func TestTreeInvariants(t *testing.T) {
	fixed := []string{"sign-file", "verify-file", "open-audit", "revoke-all", "settings", "diagnostics", "about", "quit", "lang:vi", "lang:en", "start-at-login"}
	for name, s := range states() {
		for _, lang := range langs {
			t.Run(name+"/"+string(lang), func(t *testing.T) {
				s.Lang = lang
				m := Build(s)
				seen := map[string]bool{}
				m.Walk(func(parents []string, it Item) bool {
					if it.ID == "" {
						t.Errorf("item without ID under %v: %+v", parents, it)
					}
					if seen[it.ID] {
						t.Errorf("duplicate ID %q", it.ID)
					}
					seen[it.ID] = true
					if it.Kind != KindSeparator && strings.TrimSpace(it.Label) == "" {
						t.Errorf("%s: empty label", it.ID)
					}
					if it.Kind != KindSeparator && strings.Contains(it.Label, "tray.") {
						t.Errorf("%s: untranslated label %q", it.ID, it.Label)
					}
					if (it.Kind == KindSubmenu) != (len(it.Children) > 0) {
						t.Errorf("%s: kind %v with %d children", it.ID, it.Kind, len(it.Children))
					}
					if it.Kind == KindInfo && it.Enabled {
						t.Errorf("%s: info item enabled", it.ID)
					}
					return true
				})
				for _, id := range fixed {
					if !seen[id] {
						t.Errorf("missing %q", id)
					}
				}
				if a, b := Build(s), Build(s); len(a.Items) != len(b.Items) {
					t.Error("Build is not deterministic")
				}
			})
		}
	}
}

func TestLabelsDifferByLanguage(t *testing.T) {
	// Every fixed action is translated: the English label differs from
	// the Vietnamese one.
	s := tokenState()
	vi, en := Build(s), func() Menu { s := tokenState(); s.Lang = i18n.English; return Build(s) }()
	for _, id := range []string{"certs", "sites", "recent", "sign-file", "verify-file", "open-audit", "revoke-all", "lock:tok1", "settings", "start-at-login", "diagnostics", "about", "quit"} {
		if a, b := mustFind(t, vi, id).Label, mustFind(t, en, id).Label; a == b {
			t.Errorf("%s: same label %q in both languages", id, a)
		}
	}
}

func TestProfileLabel(t *testing.T) {
	tests := []struct{ profile, vi, en string }{
		{"", "ký thông thường", "plain signature"},
		{"approved", "ký duyệt", "approval"},
		{"issued", "ký ban hành", "issuance"},
		{"appendix", "ký phụ lục", "appendix"},
		{"copy", "ký sao văn bản", "certified copy"},
		{"income", "ký văn bản đến", "incoming document"},
		{"comment", "ký ý kiến", "comment"},
		{"custom", "custom", "custom"},
	}
	for _, tc := range tests {
		if got := ProfileLabel(i18n.Vietnamese, tc.profile); got != tc.vi {
			t.Errorf("%q vi: %q, want %q", tc.profile, got, tc.vi)
		}
		if got := ProfileLabel(i18n.English, tc.profile); got != tc.en {
			t.Errorf("%q en: %q, want %q", tc.profile, got, tc.en)
		}
	}
}

func TestSettingsLockedByPolicy(t *testing.T) {
	for _, lang := range langs {
		s := tokenState()
		s.Lang = lang
		s.Settings.TSALocked, s.Settings.LevelLocked = true, true
		m := Build(s)
		for _, id := range []string{IDSetTSA, PrefixLevel + "B-B", PrefixLevel + "B-T"} {
			if it := mustFind(t, m, id); it.Enabled || it.Tooltip != lang.T("tray.settings.locked") {
				t.Errorf("%s %s: enabled %v tooltip %q, want disabled with the policy tooltip", lang, id, it.Enabled, it.Tooltip)
			}
		}
		// The language is the user's own.
		if it := mustFind(t, m, PrefixLang+"en"); !it.Enabled {
			t.Errorf("%s: language locked with the policy's settings", lang)
		}
		s.Settings.TSALocked, s.Settings.LevelLocked = false, false
		if it := mustFind(t, Build(s), IDSetTSA); !it.Enabled {
			t.Errorf("%s: TSA not editable without a policy", lang)
		}
	}
}

func TestCertificateImageItems(t *testing.T) {
	m := Build(tokenState())
	// Every certificate can have a signature image; only the organisation's
	// has a seal.
	for _, h := range []string{"h1", "h2", "h3"} {
		if it := mustFind(t, m, PrefixSignatureImage+h); it.Kind != KindAction || !it.Enabled || it.Label != "Ảnh chữ ký…" {
			t.Errorf("signature image item of %s = %+v", h, it)
		}
	}
	if it := mustFind(t, m, PrefixSealImage+"h2"); it.Kind != KindAction || !it.Enabled {
		t.Errorf("seal image item = %+v", it)
	}
	for _, h := range []string{"h1", "h3"} {
		if _, ok := m.Find(PrefixSealImage + h); ok {
			t.Errorf("a personal certificate (%s) offers a seal image", h)
		}
	}
}
