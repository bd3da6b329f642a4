package doctor

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/token"
)

func pemFile(t *testing.T, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCertificateFindings grades certificates by expiry (warning under 30
// days, error once expired) and by chain: trusted through a trust file,
// untrusted from an unknown CA.
func TestCertificateFindings(t *testing.T) {
	ca := newCA(t, "Test CA")
	rogue := newCA(t, "Unknown CA")
	day := 24 * time.Hour
	tok := token.TokenInfo{ID: "t1", Label: "kyso-test", Manufacturer: "SoftHSM", Model: "v2", Serial: "42", Module: "/usr/lib/fake-pkcs11.so"}
	tests := []struct {
		name       string
		cert       *token.Certificate
		expiry     string
		chain      string
		expiryText string
	}{
		{"valid for a year", ca.issue(t, "Nguyễn Văn A", testNow.Add(-100*day), testNow.Add(365*day), "t1"), "cert.valid:ok", "chain.trusted:ok", "365 ngày"},
		{"expires in 10 days", ca.issue(t, "Trần Thị B", testNow.Add(-300*day), testNow.Add(10*day+time.Hour), "t1"), "cert.expiring:warning", "chain.trusted:ok", "còn 10 ngày"},
		{"expires in 29 days", ca.issue(t, "Lê C", testNow.Add(-300*day), testNow.Add(29*day+time.Hour), "t1"), "cert.expiring:warning", "chain.trusted:ok", "còn 29 ngày"},
		{"expires in 30 days", ca.issue(t, "Phạm D", testNow.Add(-300*day), testNow.Add(30*day+time.Hour), "t1"), "cert.valid:ok", "chain.trusted:ok", "30 ngày"},
		{"expired yesterday", ca.issue(t, "Hoàng E", testNow.Add(-400*day), testNow.Add(-day), "t1"), "cert.expired:error", "chain.trusted:ok", "đã hết hạn"},
		{"not yet valid", ca.issue(t, "Vũ F", testNow.Add(2*day), testNow.Add(400*day), "t1"), "cert.not-yet-valid:warning", "chain.trusted:ok", "chưa có hiệu lực"},
		{"unknown CA", rogue.issue(t, "Đỗ G", testNow.Add(-day), testNow.Add(200*day), "t1"), "cert.valid:ok", "chain.untrusted:warning", "200 ngày"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := isolated(t)
			cfg.TrustFiles = []string{pemFile(t, ca.cert)}
			cfg.Keys = fakeKeys{
				modules: []token.ModuleStatus{{Path: tok.Module, Loaded: true}},
				tokens:  []token.TokenInfo{tok},
				certs:   []*token.Certificate{tc.cert},
			}
			rep := Run(context.Background(), cfg)
			vi, _ := render(t, rep)
			got := ids(append(only(rep, "cert."), only(rep, "chain.")...))
			if strings.Join(got, " ") != tc.expiry+" "+tc.chain {
				t.Fatalf("findings %v, want %s %s", got, tc.expiry, tc.chain)
			}
			exp := only(rep, "cert.")[0]
			if exp.Details["holder"] != tc.cert.Identity.Name {
				t.Errorf("holder %v", exp.Details["holder"])
			}
			if !strings.Contains(vi, tc.expiryText) || !strings.Contains(vi, tc.cert.Identity.Name) {
				t.Errorf("text lacks %q or the holder:\n%s", tc.expiryText, vi)
			}
			if exp.Severity != SeverityOK && exp.Fix.Key == "" {
				t.Error("no fix")
			}
			wantExit := 0
			if exp.Severity == SeverityError {
				wantExit = 1
			}
			if rep.ExitCode() != wantExit {
				t.Errorf("exit code %d, want %d", rep.ExitCode(), wantExit)
			}
		})
	}
}

// TestChainThroughTokenIntermediate: an intermediate CA certificate kept
// on the token completes the chain to a trusted root, as when signing.
func TestChainThroughTokenIntermediate(t *testing.T) {
	root := newCA(t, "Root CA")
	inter := root.subCA(t, "Intermediate CA")
	leaf := inter.issue(t, "Nguyễn Văn A", testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0), "t1")
	onToken := &token.Certificate{Handle: token.HandleOf(inter.cert), X509: inter.cert, IsCA: true, TokenID: "t1", NotBefore: inter.cert.NotBefore, NotAfter: inter.cert.NotAfter}
	cfg := isolated(t)
	cfg.TrustFiles = []string{pemFile(t, root.cert)}
	cfg.Keys = fakeKeys{
		modules: []token.ModuleStatus{{Path: "/usr/lib/fake-pkcs11.so", Loaded: true}},
		tokens:  []token.TokenInfo{{ID: "t1", Label: "kyso-test"}},
		certs:   []*token.Certificate{onToken, leaf},
	}
	rep := Run(context.Background(), cfg)
	render(t, rep)
	if got := ids(only(rep, "chain.")); len(got) != 1 || got[0] != "chain.trusted:ok" {
		t.Fatalf("chain %v", got)
	}
	if len(only(rep, "cert.")) != 1 {
		t.Errorf("the CA certificate on the token is reported as a signing certificate: %v", ids(rep.Findings))
	}
}

func TestTokenFindings(t *testing.T) {
	ca := newCA(t, "Test CA")
	good := ca.issue(t, "Nguyễn Văn A", testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0), "t1")
	tests := []struct {
		name string
		keys fakeKeys
		want string
		exit int
	}{
		{"no module loads", fakeKeys{modules: []token.ModuleStatus{{Path: "/x.so", Error: "module file: stat /x.so: no such file or directory"}}},
			"module.missing:warning module.none:error", 1},
		{"no token", fakeKeys{modules: []token.ModuleStatus{{Path: "/m.so", Loaded: true}}},
			"module.loaded:ok token.none:warning", 0},
		{"token without certificate", fakeKeys{modules: []token.ModuleStatus{{Path: "/m.so", Loaded: true}}, tokens: []token.TokenInfo{{ID: "t1", Label: "A"}}},
			"module.loaded:ok token.present:ok token.no-certificate:warning", 0},
		{"PIN locked", fakeKeys{modules: []token.ModuleStatus{{Path: "/m.so", Loaded: true}}, tokens: []token.TokenInfo{{ID: "t1", Label: "A", PIN: token.PINStatus{Locked: true}}},
			certs: []*token.Certificate{good}}, "module.loaded:ok token.pin-locked:error cert.valid:ok chain.untrusted:warning", 1},
		{"PIN final try", fakeKeys{modules: []token.ModuleStatus{{Path: "/m.so", Loaded: true}}, tokens: []token.TokenInfo{{ID: "t1", Label: "A", PIN: token.PINStatus{FinalTry: true, CountLow: true}}},
			certs: []*token.Certificate{good}}, "module.loaded:ok token.pin-final-try:warning cert.valid:ok chain.untrusted:warning", 0},
		{"same token through two modules", fakeKeys{modules: []token.ModuleStatus{{Path: "/m.so", Loaded: true}, {Path: "/n.so", Loaded: true}},
			tokens: []token.TokenInfo{{ID: "t1", Label: "A"}, {ID: "t2", Label: "A"}},
			certs:  []*token.Certificate{good, withToken(good, "t2")}},
			"module.loaded:ok module.loaded:ok token.present:ok cert.valid:ok chain.untrusted:warning token.present:ok", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := isolated(t)
			cfg.Keys = tc.keys
			rep := Run(context.Background(), cfg)
			render(t, rep)
			got := ids(append(only(rep, "module."), append(only(rep, "token."), append(only(rep, "cert."), only(rep, "chain.")...)...)...))
			// Report order, not grouped by prefix.
			var inOrder []string
			for _, f := range rep.Findings {
				for _, g := range got {
					if g == f.ID+":"+string(f.Severity) {
						inOrder = append(inOrder, g)
						break
					}
				}
			}
			if strings.Join(inOrder, " ") != tc.want {
				t.Errorf("findings %v, want %s", inOrder, tc.want)
			}
			if rep.ExitCode() != tc.exit {
				t.Errorf("exit code %d, want %d", rep.ExitCode(), tc.exit)
			}
		})
	}
}

func withToken(c *token.Certificate, id string) *token.Certificate {
	d := *c
	d.TokenID = id
	return &d
}

func TestTrustFindings(t *testing.T) {
	ca := newCA(t, "Test CA")
	root := t.TempDir()
	writeFile(t, root, "etc/ssl/certs/ca-certificates.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	cfg := isolated(t)
	cfg.Root = root
	cfg.TrustFiles = []string{pemFile(t, ca.cert), filepath.Join(t.TempDir(), "missing.pem")}
	rep := Run(context.Background(), cfg)
	_, en := render(t, rep)
	got := ids(only(rep, "trust."))
	want := "trust.roots:ok trust.file:ok trust.file:error trust.system:info"
	if strings.Join(got, " ") != want {
		t.Fatalf("findings %v, want %s", got, want)
	}
	roots := rep.ByID("trust.roots")[0]
	if n, _ := roots.Details["roots"].(int); n < 3 {
		t.Errorf("shipped roots %v", roots.Details)
	}
	if !strings.Contains(en, "Vietnamese root CAs") {
		t.Errorf("text:\n%s", en)
	}
	if rep.ExitCode() != 1 {
		t.Errorf("an unreadable trust file is an error: exit %d", rep.ExitCode())
	}
	// A certificate trusted only through the system store says so.
	cfg.TrustFiles = nil
	cfg.Keys = fakeKeys{modules: []token.ModuleStatus{{Path: "/m.so", Loaded: true}}, tokens: []token.TokenInfo{{ID: "t1", Label: "A"}},
		certs: []*token.Certificate{ca.issue(t, "Nguyễn Văn A", testNow.AddDate(0, -1, 0), testNow.AddDate(1, 0, 0), "t1")}}
	rep = Run(context.Background(), cfg)
	if got := ids(only(rep, "chain.")); len(got) != 1 || got[0] != "chain.system:info" {
		t.Errorf("chain %v", got)
	}
	if msg := rep.ByID("chain.system")[0].Message.String(i18n.Vietnamese); !strings.Contains(msg, "Test CA") {
		t.Errorf("message %q", msg)
	}
}
