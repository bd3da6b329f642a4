package agent

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/p11fault"
	"github.com/kyso-vn/kyso/token"
)

// newSessionHarness is newSvcHarness with a PIN session of window on a
// fake clock. The agent is closed when the test ends, so that no session's
// expiry timer logs the shared fault token out under a later test.
func newSessionHarness(t *testing.T, window time.Duration) (*svcHarness, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Now()}
	h := newSvcHarness(t, func(c *Config) {
		c.PINSession = window
		c.Now = clock.now
	})
	t.Cleanup(func() { h.agent.Close() })
	return h, clock
}

// signedHash signs a fresh digest as the hash-signing site and fails the
// test on an error.
func signedHash(t *testing.T, h *svcHarness, what string) {
	t.Helper()
	digest := sha256.Sum256([]byte(what))
	res, err := h.agent.SignHash(testContext(t), Caller{Origin: hashSite}, SignHashRequest{Certificate: token.HandleOf(svcFx.org), Digest: digest[:], Description: what})
	if err != nil {
		t.Fatalf("signHash %s: %v", what, err)
	}
	if len(res.CMS) == 0 {
		t.Fatalf("signHash %s: no CMS", what)
	}
}

// wantDialogs checks the signing dialogs shown so far: one per request,
// with a PIN field exactly where pinNeeded says.
func wantDialogs(t *testing.T, h *svcHarness, pinNeeded ...bool) {
	t.Helper()
	prompts := h.prompter.signPrompts()
	if len(prompts) != len(pinNeeded) {
		t.Fatalf("%d signing dialogs, want %d", len(prompts), len(pinNeeded))
	}
	for i, p := range prompts {
		if p.PINNeeded != pinNeeded[i] {
			t.Errorf("dialog %d (%s): PINNeeded %v, want %v", i+1, p.Action, p.PINNeeded, pinNeeded[i])
		}
	}
}

func TestPINSession(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h, clock := newSessionHarness(t, 5*time.Minute)
	ctx := testContext(t)
	doc := Document{Name: "cv-1.pdf", Data: svcFx.letter}
	opts := SignPDFOptions{Certificate: token.HandleOf(svcFx.org)}

	// First request: the PIN, and the token stays logged in.
	got, err := h.agent.SignPDF(ctx, webCaller(), doc, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSignedPDF(t, nil, svcFx.letter, got.Data, 1)
	wantDialogs(t, h, true)
	if n := svcFx.steer.Calls(t, "C_Login"); n != 1 {
		t.Fatalf("C_Login called %d times, want 1", n)
	}
	if n := svcFx.steer.Calls(t, "C_Logout"); n != 0 {
		t.Errorf("the token was logged out %d times after the first request of a PIN session", n)
	}

	// Within the window: a confirmation, before signing, without C_Login.
	clock.advance(4 * time.Minute)
	signedHash(t, h, "công văn 2")
	wantDialogs(t, h, true, false)
	if p := h.prompter.signPrompts()[1]; p.Action != "signHash" || p.Caller != hashSite || p.Digest == "" || p.Certificate.Handle != token.HandleOf(svcFx.org) {
		t.Errorf("the confirmation does not show the request: %+v", p)
	}
	if n := svcFx.steer.Calls(t, "C_Login"); n != 1 {
		t.Errorf("C_Login called %d times within the PIN session, want 1", n)
	}
	// The window counts from the PIN, not from the last request.
	clock.advance(59 * time.Second)
	got, err = h.agent.SignPDF(ctx, webCaller(), Document{Name: "cv-3.pdf", Data: svcFx.letter}, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSignedPDF(t, nil, svcFx.letter, got.Data, 1)
	wantDialogs(t, h, true, false, false)

	// After the window: logged out, and the PIN is asked again.
	clock.advance(2 * time.Second)
	signedHash(t, h, "công văn 4")
	wantDialogs(t, h, true, false, false, true)
	if n := svcFx.steer.Calls(t, "C_Login"); n != 2 {
		t.Errorf("C_Login called %d times after the window, want 2", n)
	}
	if n := svcFx.steer.Calls(t, "C_Logout"); n != 1 {
		t.Errorf("C_Logout called %d times after the window, want 1", n)
	}
	// That PIN started a new session.
	clock.advance(time.Minute)
	signedHash(t, h, "công văn 5")
	wantDialogs(t, h, true, false, false, true, false)

	recs := h.audit.records(t)
	if len(recs) != 5 {
		t.Fatalf("%d audit records, want 5", len(recs))
	}
	for i, r := range recs {
		if r.Result != "ok" {
			t.Errorf("audit record %d: %+v", i+1, r)
		}
	}

	// Close logs the token out.
	h.agent.Close()
	if n := svcFx.steer.Calls(t, "C_Logout"); n != 2 {
		t.Errorf("C_Logout called %d times after Close, want 2", n)
	}
}

func TestPINSessionRefusedConfirmation(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h, _ := newSessionHarness(t, 5*time.Minute)
	signedHash(t, h, "một")
	signs := svcFx.steer.Calls(t, "C_Sign")

	digest := sha256.Sum256([]byte("hai"))
	h.prompter.mu.Lock()
	h.prompter.cancel = true
	h.prompter.mu.Unlock()
	res, err := h.agent.SignHash(testContext(t), Caller{Origin: hashSite}, SignHashRequest{Certificate: token.HandleOf(svcFx.org), Digest: digest[:]})
	if codeOfErr(err) != CodeUserCancelled || res != nil {
		t.Fatalf("refused confirmation: %v, %v; want USER_CANCELLED and nothing", res, err)
	}
	wantDialogs(t, h, true, false)
	if n := svcFx.steer.Calls(t, "C_Sign"); n != signs {
		t.Errorf("C_Sign called %d times, %d before the refusal: the token signed after it", n, signs)
	}
	recs := h.audit.records(t)
	if len(recs) != 2 || recs[1].Result != CodeUserCancelled {
		t.Errorf("audit = %+v", recs)
	}

	// The refusal ended the session: the next request asks for the PIN.
	h.prompter.mu.Lock()
	h.prompter.cancel = false
	h.prompter.mu.Unlock()
	signedHash(t, h, "ba")
	wantDialogs(t, h, true, false, true)
	if n := svcFx.steer.Calls(t, "C_Login"); n != 2 {
		t.Errorf("C_Login called %d times, want 2", n)
	}
}

func TestPINSessionEndsOnWrongPIN(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 3})
	h, _ := newSessionHarness(t, 5*time.Minute)
	h.prompter.mu.Lock()
	h.prompter.pins = []string{wrongPIN}
	h.prompter.mu.Unlock()
	digest := sha256.Sum256([]byte("sai"))
	if _, err := h.agent.SignHash(testContext(t), Caller{Origin: hashSite}, SignHashRequest{Certificate: token.HandleOf(svcFx.org), Digest: digest[:]}); codeOfErr(err) != "PIN_INCORRECT" {
		t.Fatalf("err = %v, want PIN_INCORRECT", err)
	}
	// No session after a failed login: the PIN again, then a session.
	signedHash(t, h, "đúng")
	signedHash(t, h, "tiếp")
	wantDialogs(t, h, true, true, false)
	if n := svcFx.steer.Calls(t, "C_Login"); n != 2 {
		t.Errorf("C_Login called %d times, want 2", n)
	}
}

func TestPINSessionEndsWhenTokenRemoved(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h, _ := newSessionHarness(t, 5*time.Minute)
	// As the bridge does for the whole life of kyso serve.
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	events := h.agent.Events(ctx)
	signedHash(t, h, "trước")

	expect := func(typ string) { t.Helper(); waitEvent(t, events, typ) }
	if err := svcFx.steer.Write(p11fault.Control{Present: false}); err != nil {
		t.Fatal(err)
	}
	expect("tokenRemoved")
	if err := svcFx.steer.Write(p11fault.Control{Present: true}); err != nil {
		t.Fatal(err)
	}
	expect("tokenInserted")
	signedHash(t, h, "sau")
	wantDialogs(t, h, true, true)
	if n := svcFx.steer.Calls(t, "C_Login"); n != 2 {
		t.Errorf("C_Login called %d times, want 2", n)
	}
}

// A token that lost its login behind the agent's back (pulled out and back
// in between two looks at the slots) is caught by the token layer, which
// asks for the PIN: the request then shows the PIN dialog after its
// confirmation rather than signing without it.
func TestPINSessionLoginLostUnnoticed(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h, _ := newSessionHarness(t, 5*time.Minute)
	signedHash(t, h, "một")
	// Logged out behind the agent's back, as a re-insertion between two
	// slot scans leaves it.
	if err := h.keys.Lock(testContext(t), tokenIDOf(t, h)); err != nil {
		t.Fatal(err)
	}
	signedHash(t, h, "hai")
	wantDialogs(t, h, true, false, true)
	if n := svcFx.steer.Calls(t, "C_Login"); n != 2 {
		t.Errorf("C_Login called %d times, want 2", n)
	}
	// The PIN typed there starts a new session.
	signedHash(t, h, "ba")
	wantDialogs(t, h, true, false, true, false)
}

func tokenIDOf(t *testing.T, h *svcHarness) string {
	t.Helper()
	certs, err := h.keys.Certificates(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if c.Handle == token.HandleOf(svcFx.org) {
			return c.TokenID
		}
	}
	t.Fatal("the organisation certificate is not on the token")
	return ""
}

// Concurrent requests within a session still take the token one at a
// time, each with its own confirmation.
func TestPINSessionConcurrent(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h, _ := newSessionHarness(t, 5*time.Minute)
	signedHash(t, h, "đầu")
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			digest := sha256.Sum256([]byte{byte(i)})
			if _, err := h.agent.SignHash(testContext(t), Caller{Origin: hashSite}, SignHashRequest{Certificate: token.HandleOf(svcFx.org), Digest: digest[:]}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	prompts := h.prompter.signPrompts()
	if len(prompts) != n+1 {
		t.Fatalf("%d dialogs, want %d", len(prompts), n+1)
	}
	for i, p := range prompts[1:] {
		if p.PINNeeded {
			t.Errorf("dialog %d asked for the PIN within the session", i+2)
		}
	}
	if c := svcFx.steer.Calls(t, "C_Login"); c != 1 {
		t.Errorf("C_Login called %d times, want 1", c)
	}
}

func TestPINSessionPolicy(t *testing.T) {
	for _, tc := range []struct {
		secs int
		ok   bool
		want time.Duration
	}{
		{0, true, 0},
		{600, true, 10 * time.Minute},
		{8 * 3600, true, 8 * time.Hour},
		{8*3600 + 1, false, 0},
		{-1, false, 0},
	} {
		s, err := NewSettings(&Policy{Schema: PolicySchema, PINSessionSeconds: tc.secs}, nil)
		if (err == nil) != tc.ok {
			t.Errorf("pinSessionSeconds %d: err = %v, want ok %v", tc.secs, err, tc.ok)
			continue
		}
		if err == nil && s.PINSession != tc.want {
			t.Errorf("pinSessionSeconds %d: PINSession %s, want %s", tc.secs, s.PINSession, tc.want)
		}
	}
	if _, err := New(Config{Keys: token.NewManager(token.Options{}), Gate: svcGate{}, Prompter: &svcPrompter{}, PINSession: 9 * time.Hour}); err == nil {
		t.Error("New accepted a PIN session of 9 hours")
	}
}

// An idle token does not stay unlocked after its window: the session's
// timer logs it out (on the real clock).
func TestPINSessionExpiryLogsOut(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, func(c *Config) { c.PINSession = 50 * time.Millisecond })
	t.Cleanup(func() { h.agent.Close() })
	signedHash(t, h, "một")
	deadline := time.Now().Add(eventBound)
	for svcFx.steer.Calls(t, "C_Logout") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the token was not logged out within %s of its PIN session's end", eventBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
	signedHash(t, h, "hai")
	wantDialogs(t, h, true, true)
}
