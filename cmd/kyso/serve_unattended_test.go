package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/p11fault"
	"github.com/kyso-vn/kyso/token"
)

// TestServeUnattended runs the real `kyso serve --headless --unattended
// --pin-file F` as a server would (stdin not a terminal, no scripted
// prompter) on the fixture's SoftHSM token, reached through the
// fault-injecting module only to count C_Login calls:
//
//   - a page of the one origin the policy allows signs digests with the
//     certificate it names, the PIN coming from the file;
//   - a request naming no certificate (two fit) is refused;
//   - an unknown origin is refused at the handshake without any dialog,
//     although the policy leaves userMayApprove at its default (true);
//   - with a wrong PIN file the first request fails PIN_INCORRECT and
//     every later one PIN_FILE_REFUSED without another C_Login;
//   - no file either server wrote holds a PIN.
func TestServeUnattended(t *testing.T) {
	f := newServeFixture(t)
	dir := filepath.Join(t.TempDir(), "unattended")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	module, err := p11fault.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(dir, "calls.log")
	if err := (p11fault.Control{Target: f.module, Present: true, Log: calls}).Write(p11fault.ControlPath(module)); err != nil {
		t.Fatal(err)
	}
	logins := func() int {
		t.Helper()
		counts, err := p11fault.CallCounts(calls)
		if err != nil {
			t.Fatal(err)
		}
		return counts["C_Login"]
	}
	// The PIN files are the administrator's, outside what the server
	// writes (the hygiene check searches the latter).
	pinFile := func(name, pin string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(pin+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const stranger = "https://evil.example.com"
	policy := agent.Policy{AllowedOrigins: []string{qlvbOrigin}, HashSigningOrigins: []string{qlvbOrigin}}
	start := func(name, pin string) *kysoServer {
		t.Helper()
		return f.startServer(t, serverSpec{
			name:     name,
			policy:   policy,
			module:   module,
			noScript: true,
			args:     []string{"--headless", "--unattended", "--pin-file", pinFile(name+".pin", pin)},
		})
	}
	signHash := func(c *wsClient, cert token.Handle, what string) wsAnswer {
		t.Helper()
		digest := sha256.Sum256([]byte(what))
		params := map[string]any{"digest": base64.StdEncoding.EncodeToString(digest[:]), "hash": "sha256", "description": what}
		if cert != "" {
			params["certificate"] = cert
		}
		return c.call("signHash", params, nil)
	}
	var servers []*kysoServer

	srv := start("unattended", servePIN)
	servers = append(servers, srv)
	if !strings.Contains(srv.log(t), "unattended: PINs come from the PIN file") {
		t.Errorf("the server does not say it runs unattended:\n%s", srv.logTail())
	}

	t.Run("SignHashNamed", func(t *testing.T) {
		c := srv.connect(t, qlvbOrigin)
		waitCertificates(t, c, f.personal)
		before := logins()
		for i, what := range []string{"công văn 1", "công văn 2"} {
			a := signHash(c, f.personal, what)
			if a.Err != nil {
				t.Fatalf("signHash %d: %v", i+1, a.Err)
			}
			var r struct {
				CMS []byte `json:"cms"`
			}
			if err := json.Unmarshal(a.Result, &r); err != nil {
				t.Fatal(err)
			}
			sd, err := cms.Parse(r.CMS)
			if err != nil {
				t.Fatal(err)
			}
			digest := sha256.Sum256([]byte(what))
			if len(sd.Signers) != 1 || !bytes.Equal(sd.Signers[0].MessageDigest, digest[:]) {
				t.Fatalf("signHash %d: the CMS does not sign the digest sent", i+1)
			}
			if err := sd.Signers[0].VerifySignature(); err != nil {
				t.Fatalf("signHash %d: %v", i+1, err)
			}
		}
		// The token is logged out after each request: each one logged in
		// with the file's PIN.
		if n := logins() - before; n != 2 {
			t.Errorf("%d C_Login calls for 2 requests", n)
		}
		// Whole documents too, with the certificate named.
		out, _ := signPDF(t, c, "quyet-dinh.pdf", f.letter, signOpts("certificate", f.org))
		checkIntact(t, "quyet-dinh.pdf", out, 1)
	})

	t.Run("NoCertificateNamed", func(t *testing.T) {
		c := srv.connect(t, qlvbOrigin)
		before := logins()
		a := signHash(c, "", "công văn 3")
		if a.Err == nil || a.Err.Code != agent.CodeCertificateChoice {
			t.Fatalf("answer %+v, want %s", a.Err, agent.CodeCertificateChoice)
		}
		if n := logins() - before; n != 0 {
			t.Errorf("%d C_Login calls for a refused request", n)
		}
	})

	t.Run("UnknownOrigin", func(t *testing.T) {
		wantRefused(t, srv.url, originHeader(stranger), http.StatusForbidden, agent.CodeOriginNotAllowed)
		// Nobody was asked, and no approved list was written.
		if strings.Contains(srv.log(t), "refusing an origin the machine policy does not allow") {
			t.Error("the approval dialog was reached")
		}
		if _, err := os.Stat(srv.configPath); !os.IsNotExist(err) {
			t.Errorf("the user configuration was written: %v", err)
		}
	})

	t.Run("AuditUnattended", func(t *testing.T) {
		var ok, refused int
		for _, r := range srv.audit(t) {
			switch {
			case r.Method == "signHash" && r.Result == "ok" && r.Caller == qlvbOrigin && r.Certificate == string(f.personal):
				ok++
			case r.Method == "signHash" && r.Result == agent.CodeCertificateChoice:
				refused++
			}
		}
		if ok != 2 || refused != 1 {
			t.Errorf("audit: %d signatures, %d refusals; want 2 and 1", ok, refused)
		}
	})

	t.Run("WrongPINFile", func(t *testing.T) {
		bad := start("wrong-pin", serveWrongPIN)
		servers = append(servers, bad)
		c := bad.connect(t, qlvbOrigin)
		waitCertificates(t, c, f.personal)
		before := logins()
		a := signHash(c, f.personal, "công văn 4")
		if a.Err == nil || a.Err.Code != string(token.CodePINIncorrect) {
			t.Fatalf("first request: %+v, want PIN_INCORRECT", a.Err)
		}
		if n := logins() - before; n != 1 {
			t.Fatalf("%d C_Login calls for the first request, want 1", n)
		}
		for i := range 2 {
			a := signHash(c, f.personal, "công văn 5")
			if a.Err == nil || a.Err.Code != agent.CodePINFileRefused {
				t.Fatalf("request %d after the refusal: %+v, want %s", i+2, a.Err, agent.CodePINFileRefused)
			}
			if !strings.Contains(a.Err.Message, "restart") {
				t.Errorf("the message does not say what to do: %q", a.Err.Message)
			}
		}
		// A new connection is no way around it.
		c2 := bad.connect(t, qlvbOrigin)
		if a := signHash(c2, f.personal, "công văn 6"); a.Err == nil || a.Err.Code != agent.CodePINFileRefused {
			t.Fatalf("on a new connection: %+v, want %s", a.Err, agent.CodePINFileRefused)
		}
		if n := logins() - before; n != 1 {
			t.Errorf("%d C_Login calls in all: the refused PIN was tried again", n)
		}
		// Said once, at error level.
		errs := 0
		for _, line := range strings.Split(bad.log(t), "\n") {
			if strings.Contains(line, "level=ERROR") && strings.Contains(line, "refused the PIN from the PIN file") {
				errs++
			}
		}
		if errs != 1 {
			t.Errorf("%d error lines about the refused PIN, want 1:\n%s", errs, bad.logTail())
		}
		var results []string
		for _, r := range bad.audit(t) {
			results = append(results, r.Result)
		}
		if want := []string{"PIN_INCORRECT", agent.CodePINFileRefused, agent.CodePINFileRefused, agent.CodePINFileRefused}; strings.Join(results, " ") != strings.Join(want, " ") {
			t.Errorf("audit results %q, want %q", results, want)
		}
	})

	t.Run("PINHygiene", func(t *testing.T) {
		files := 0
		for _, s := range servers {
			files += s.checkNoPIN(t, servePIN, serveWrongPIN)
		}
		if files == 0 {
			t.Fatal("no file searched")
		}
	})
}

// waitCertificates waits until the server lists cert, as a page does
// before it signs: right after the start the token layer may still be
// reading the token. The deadline only guards against a hang.
func waitCertificates(t *testing.T, c *wsClient, cert token.Handle) {
	t.Helper()
	deadline := time.Now().Add(wsWait)
	for {
		a := c.call("listCertificates", map[string]any{"handle": cert}, nil)
		if a.Err != nil {
			t.Fatalf("listCertificates: %v", a.Err)
		}
		var certs []json.RawMessage
		if err := json.Unmarshal(a.Result, &certs); err != nil {
			t.Fatalf("listCertificates: %s: %v", a.Result, err)
		}
		if len(certs) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not list %s within %s", cert, wsWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
