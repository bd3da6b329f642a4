package i18n

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := map[string]Lang{
		"en": English, "en_US.UTF-8": English, "EN-gb": English, "en.UTF-8": English,
		"vi": Vietnamese, "vi_VN": Vietnamese, "": Vietnamese, "C": Vietnamese, "english": Vietnamese,
	}
	for in, want := range tests {
		if got := Parse(in); got != want {
			t.Errorf("Parse(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCatalogComplete(t *testing.T) {
	for key, m := range catalog {
		if strings.TrimSpace(m.vi) == "" || strings.TrimSpace(m.en) == "" {
			t.Errorf("%s lacks a translation", key)
		}
		if strings.Count(m.vi, "%") != strings.Count(m.en, "%") {
			t.Errorf("%s: the two languages take different arguments", key)
		}
	}
}

func TestT(t *testing.T) {
	if got := Vietnamese.T("tokens.cert.expiring", 5); got != " (còn 5 ngày)" {
		t.Errorf("vi = %q", got)
	}
	if got := English.T("tokens.cert.expiring", 5); got != " (5 days left)" {
		t.Errorf("en = %q", got)
	}
	if got := English.T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key = %q", got)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("KYSO_LANG", "en")
	if FromEnv() != English {
		t.Error("KYSO_LANG=en ignored")
	}
	t.Setenv("KYSO_LANG", "")
	t.Setenv("LANG", "en_US.UTF-8")
	if FromEnv() != Vietnamese {
		t.Error("LANG must not switch the language")
	}
}
