package tray

import (
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/token"
)

func TestSitesFrom(t *testing.T) {
	mustPattern := func(s string) agent.OriginPattern {
		p, err := agent.ParsePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	approved := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		patterns []agent.OriginPattern
		user     []agent.ApprovedOrigin
		want     []SiteView
	}{
		{"none", nil, nil, []SiteView{}},
		{"user only", nil, []agent.ApprovedOrigin{{Origin: "https://a.vn", Approved: approved}},
			[]SiteView{{Origin: "https://a.vn", Approved: approved}}},
		{"policy first, duplicates dropped",
			[]agent.OriginPattern{mustPattern("https://vanban.gov.vn")},
			[]agent.ApprovedOrigin{{Origin: "https://vanban.gov.vn", Approved: approved}, {Origin: "https://a.vn", Approved: approved}},
			[]SiteView{{Origin: "https://vanban.gov.vn", Managed: true}, {Origin: "https://a.vn", Approved: approved}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SitesFrom(tc.patterns, tc.user)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("[%d] %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestActivityFrom(t *testing.T) {
	recs := []agent.AuditRecord{
		{Time: time.Unix(1, 0), Caller: "local", Document: "a.pdf", Result: "ok"},
		{Time: time.Unix(2, 0), Caller: "https://x.vn", Document: "b.pdf", Profile: "issued", Result: "ok"},
		{Time: time.Unix(3, 0), Caller: "https://x.vn", Document: "c.pdf", Profile: "copy", Result: "CANCELLED"},
	}
	tests := []struct {
		n    int
		docs []string
	}{
		{0, nil}, {-1, nil}, {2, []string{"c.pdf", "b.pdf"}}, {5, []string{"c.pdf", "b.pdf", "a.pdf"}},
	}
	for _, tc := range tests {
		got := ActivityFrom(recs, tc.n)
		if len(got) != len(tc.docs) {
			t.Fatalf("n=%d: %d records, want %d", tc.n, len(got), len(tc.docs))
		}
		for i, d := range tc.docs {
			if got[i].Document != d {
				t.Errorf("n=%d [%d]: %q, want %q", tc.n, i, got[i].Document, d)
			}
		}
	}
	if got := ActivityFrom(recs, 1)[0]; got.Site != "https://x.vn" || got.Profile != "copy" || got.Result != "CANCELLED" {
		t.Errorf("fields not carried: %+v", got)
	}
}

func TestCertificatesAndTokensFrom(t *testing.T) {
	na := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	certs := CertificatesFrom([]agent.CertificateInfo{{
		Handle: "h1", Identity: token.Identity{Name: "Lê Thị Hoa", Kind: token.KindPersonal},
		Issuer: "Viettel-CA", NotAfter: na, TokenID: "t1",
	}})
	want := CertView{Handle: "h1", Holder: "Lê Thị Hoa", Kind: "personal", Issuer: "Viettel-CA", NotAfter: na, TokenID: "t1"}
	if len(certs) != 1 || certs[0] != want {
		t.Errorf("certificates %+v, want %+v", certs, want)
	}
	toks := TokensFrom([]token.TokenInfo{{ID: "t1", Label: "Viettel"}})
	if len(toks) != 1 || toks[0].ID != "t1" || toks[0].Label != "Viettel" || toks[0].Holders != nil {
		t.Errorf("tokens %+v", toks)
	}
	s := State{Tokens: toks, Certificates: certs, Now: na.AddDate(0, 0, -5)}
	if got := Tooltip(s); got != "kyso — sẵn sàng ký (Lê Thị Hoa)" {
		t.Errorf("tooltip %q", got)
	}
}
