package agent

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/token"
)

// fakePrompter answers ApproveOrigin from answer, counting calls; with
// gate set, each call first waits for a value on it, so a test can hold a
// dialog open.
type fakePrompter struct {
	mu      sync.Mutex
	calls   map[string]int
	answer  func(origin string) (bool, error)
	gate    chan struct{}
	started chan string
}

func newFakePrompter(approve bool) *fakePrompter {
	return &fakePrompter{
		calls:  map[string]int{},
		answer: func(string) (bool, error) { return approve, nil },
	}
}

func (f *fakePrompter) ApproveOrigin(ctx context.Context, origin string) (bool, error) {
	f.mu.Lock()
	f.calls[origin]++
	gate := f.gate
	f.mu.Unlock()
	if f.started != nil {
		f.started <- origin
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return f.answer(origin)
}

func (f *fakePrompter) ChooseCertificate(context.Context, ChoosePrompt) (token.Handle, error) {
	return "", errors.New("not used")
}

func (f *fakePrompter) Sign(context.Context, SignPrompt) ([]byte, error) {
	return nil, errors.New("not used")
}

func (f *fakePrompter) count(origin string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[origin]
}

func (f *fakePrompter) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type gateFixture struct {
	gate     *OriginGate
	prompter *fakePrompter
	clock    *fakeClock
	path     string
}

func newGate(t *testing.T, policy *Policy, user *UserConfig, p *fakePrompter) *gateFixture {
	t.Helper()
	s, err := NewSettings(policy, user)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "kyso", "config.json")
	return &gateFixture{
		gate:     NewOriginGate(s, user, path, p, clock.now, nil),
		prompter: p,
		clock:    clock,
		path:     path,
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if got, _ := CodeOf(err); got != code {
		t.Fatalf("err = %v (code %q), want code %s", err, got, code)
	}
}

const unknown = "https://dms.example.vn"

func TestGateSinglePromptForConcurrentAdmits(t *testing.T) {
	p := newFakePrompter(true)
	p.gate = make(chan struct{})
	p.started = make(chan string, 10)
	f := newGate(t, nil, nil, p)

	const n = 10
	errs := make(chan error, n)
	for range n {
		go func() { errs <- f.gate.Admit(context.Background(), unknown) }()
	}
	<-p.started
	// Hold the dialog open until all ten calls wait for its answer.
	o := mustOrigin(t, unknown)
	for {
		f.gate.mu.Lock()
		a := f.gate.inflight[o]
		waiting := a != nil && a.waiters == n
		f.gate.mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(p.gate)
	for range n {
		wantCode(t, <-errs, "")
	}
	if c := p.count(unknown); c != 1 {
		t.Errorf("%d prompts for 10 concurrent Admits, want 1", c)
	}
	// Approved now: no more prompts, and saved.
	wantCode(t, f.gate.Admit(context.Background(), unknown), "")
	if c := p.count(unknown); c != 1 {
		t.Errorf("approved origin prompted again")
	}
	saved, err := LoadUserConfig(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.ApprovedOrigins) != 1 || saved.ApprovedOrigins[0].Origin != unknown || !saved.ApprovedOrigins[0].Approved.Equal(f.clock.now()) {
		t.Errorf("saved approvals = %+v", saved.ApprovedOrigins)
	}
	if !f.gate.OriginAllowed(unknown) || !f.gate.OriginAllowed("https://dms.example.vn:443") {
		t.Error("OriginAllowed false after approval")
	}
}

func TestGateRefusalIsRemembered(t *testing.T) {
	cases := []struct {
		name   string
		answer func(string) (bool, error)
	}{
		{"refused", func(string) (bool, error) { return false, nil }},
		{"cancelled", func(string) (bool, error) { return false, ErrUserCancelled }},
		{"timed out", func(string) (bool, error) { return false, context.DeadlineExceeded }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newFakePrompter(false)
			p.answer = c.answer
			f := newGate(t, nil, nil, p)
			ctx := context.Background()

			wantCode(t, f.gate.Admit(ctx, unknown), CodeOriginNotAllowed)
			f.clock.advance(RefusalMemory - time.Second)
			wantCode(t, f.gate.Admit(ctx, unknown), CodeOriginBlocked)
			if c := p.count(unknown); c != 1 {
				t.Fatalf("%d prompts within the refusal memory, want 1", c)
			}
			f.clock.advance(2 * time.Second)
			p.answer = func(string) (bool, error) { return true, nil }
			wantCode(t, f.gate.Admit(ctx, unknown), "")
			if c := p.count(unknown); c != 2 {
				t.Errorf("%d prompts after the refusal expired, want 2", c)
			}
		})
	}
}

func TestGateNeverPrompts(t *testing.T) {
	no := false
	cases := []struct {
		name   string
		policy *Policy
		origin string
		code   string
	}{
		{"policy exact", &Policy{Schema: PolicySchema, AllowedOrigins: []string{"https://qlvb.example.gov.vn"}}, "https://qlvb.example.gov.vn", ""},
		{"policy default port", &Policy{Schema: PolicySchema, AllowedOrigins: []string{"https://qlvb.example.gov.vn:443"}}, "https://qlvb.example.gov.vn", ""},
		{"policy wildcard", &Policy{Schema: PolicySchema, AllowedOrigins: []string{"https://*.example.gov.vn"}}, "https://a.example.gov.vn", ""},
		{"users may not approve", &Policy{Schema: PolicySchema, UserMayApprove: &no}, unknown, CodeOriginNotAllowed},
		{"wildcard not bare", &Policy{Schema: PolicySchema, AllowedOrigins: []string{"https://*.example.gov.vn"}, UserMayApprove: &no}, "https://example.gov.vn", CodeOriginNotAllowed},
		{"look-alike", &Policy{Schema: PolicySchema, AllowedOrigins: []string{"https://gov.vn"}, UserMayApprove: &no}, "https://gov.vn.evil.com", CodeOriginNotAllowed},
		{"null", nil, "null", CodeOriginNotAllowed},
		{"empty", nil, "", CodeOriginNotAllowed},
		{"path", nil, "https://gov.vn/", CodeOriginNotAllowed},
		{"plain http", nil, "http://gov.vn", CodeOriginNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newFakePrompter(true)
			f := newGate(t, c.policy, nil, p)
			for range 3 {
				wantCode(t, f.gate.Admit(context.Background(), c.origin), c.code)
			}
			if n := p.total(); n != 0 {
				t.Errorf("%d prompts, want none", n)
			}
			if got := f.gate.OriginAllowed(c.origin); got != (c.code == "") {
				t.Errorf("OriginAllowed = %v", got)
			}
		})
	}
}

func TestGateRevoke(t *testing.T) {
	p := newFakePrompter(true)
	user := &UserConfig{Schema: UserConfigSchema, ApprovedOrigins: []ApprovedOrigin{
		{Origin: "https://a.example.vn", Approved: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Origin: "https://b.example.vn", Approved: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
	}}
	f := newGate(t, nil, user, p)
	ctx := context.Background()

	wantCode(t, f.gate.Admit(ctx, "https://a.example.vn"), "")
	wantCode(t, f.gate.Admit(ctx, "https://b.example.vn:443"), "")
	if p.total() != 0 {
		t.Fatal("a listed origin prompted")
	}
	if got := f.gate.Approved(); len(got) != 2 || got[0].Origin != "https://a.example.vn" {
		t.Fatalf("Approved = %+v", got)
	}

	if err := f.gate.Revoke("https://a.example.vn:443"); err != nil {
		t.Fatal(err)
	}
	if f.gate.OriginAllowed("https://a.example.vn") {
		t.Error("revoked origin still allowed")
	}
	saved, err := LoadUserConfig(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.ApprovedOrigins) != 1 || saved.ApprovedOrigins[0].Origin != "https://b.example.vn" {
		t.Errorf("saved after revoke = %+v", saved.ApprovedOrigins)
	}
	wantCode(t, f.gate.Admit(ctx, "https://a.example.vn"), "")
	if c := p.count("https://a.example.vn"); c != 1 {
		t.Errorf("revoked origin prompted %d times, want 1", c)
	}

	if err := f.gate.Revoke("https://never.example.vn"); err != nil {
		t.Errorf("revoking an unlisted origin: %v", err)
	}
	if err := f.gate.Revoke("not an origin"); err == nil {
		t.Error("revoking garbage succeeded")
	}
	if err := f.gate.RevokeAll(); err != nil {
		t.Fatal(err)
	}
	if len(f.gate.Approved()) != 0 || f.gate.OriginAllowed("https://b.example.vn") {
		t.Error("RevokeAll left approvals")
	}
	saved, err = LoadUserConfig(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.ApprovedOrigins) != 0 {
		t.Errorf("saved after RevokeAll = %+v", saved.ApprovedOrigins)
	}
}

func TestGateKeepsOtherUserSettings(t *testing.T) {
	p := newFakePrompter(true)
	f := newGate(t, nil, nil, p)
	// The user edits their file while the agent runs.
	edited := &UserConfig{Schema: UserConfigSchema, Language: "en", TSA: "http://tsa.example.vn"}
	if err := edited.Save(f.path); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.gate.Admit(context.Background(), unknown), "")
	saved, err := LoadUserConfig(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Language != "en" || saved.TSA != "http://tsa.example.vn" || len(saved.ApprovedOrigins) != 1 {
		t.Errorf("saved = %+v", saved)
	}
}

func TestGateRateLimit(t *testing.T) {
	p := newFakePrompter(false)
	f := newGate(t, nil, nil, p)
	ctx := context.Background()
	origins := []string{"https://a.example.vn", "https://b.example.vn", "https://c.example.vn", "https://d.example.vn", "https://e.example.vn"}

	for i, o := range origins {
		want := CodeOriginNotAllowed // prompted and refused
		if i >= approvalBurst {
			want = CodeOriginBlocked // not even prompted
		}
		wantCode(t, f.gate.Admit(ctx, o), want)
	}
	if n := p.total(); n != approvalBurst {
		t.Errorf("%d prompts, want %d", n, approvalBurst)
	}
	f.clock.advance(approvalWindow)
	wantCode(t, f.gate.Admit(ctx, origins[3]), CodeOriginNotAllowed)
	if c := p.count(origins[3]); c != 1 {
		t.Errorf("after the window: %d prompts for %s, want 1", c, origins[3])
	}
}

func TestGateOneDialogAtATime(t *testing.T) {
	p := newFakePrompter(true)
	p.gate = make(chan struct{})
	p.started = make(chan string, 2)
	f := newGate(t, nil, nil, p)

	errs := make(chan error, 2)
	go func() { errs <- f.gate.Admit(context.Background(), "https://a.example.vn") }()
	first := <-p.started
	go func() { errs <- f.gate.Admit(context.Background(), "https://b.example.vn") }()
	// The second dialog cannot open while the first is: a release lets
	// exactly one dialog finish, after which the second one starts.
	p.gate <- struct{}{}
	second := <-p.started
	if first == second {
		t.Fatalf("the same origin prompted twice: %s", first)
	}
	p.gate <- struct{}{}
	for range 2 {
		wantCode(t, <-errs, "")
	}
}

func TestGateAbandonedDialog(t *testing.T) {
	p := newFakePrompter(true)
	p.gate = make(chan struct{})
	p.started = make(chan string, 2)
	f := newGate(t, nil, nil, p)

	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { errs <- f.gate.Admit(ctx, unknown) }()
	<-p.started
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned Admit = %v, want context.Canceled", err)
	}
	// The page went away: that is not a refusal, and the dialog closes
	// (its ctx ends), freeing the slot for the next request.
	p.mu.Lock()
	p.gate = nil
	p.mu.Unlock()
	wantCode(t, f.gate.Admit(context.Background(), unknown), "")
	if c := p.count(unknown); c != 2 {
		t.Errorf("%d prompts, want 2", c)
	}
}

func TestGateHashSigning(t *testing.T) {
	policy := &Policy{
		Schema:             PolicySchema,
		AllowedOrigins:     []string{"https://*.example.gov.vn"},
		HashSigningOrigins: []string{"https://qlvb.example.gov.vn"},
	}
	f := newGate(t, policy, nil, newFakePrompter(true))
	for o, want := range map[string]bool{
		"https://qlvb.example.gov.vn":     true,
		"https://qlvb.example.gov.vn:443": true,
		"https://other.example.gov.vn":    false,
		"https://qlvb.example.gov.vn:444": false,
		"null":                            false,
	} {
		if got := f.gate.HashSigningAllowed(o); got != want {
			t.Errorf("HashSigningAllowed(%s) = %v, want %v", o, got, want)
		}
	}
	// A user approval never grants hash signing.
	wantCode(t, f.gate.Admit(context.Background(), unknown), "")
	if f.gate.HashSigningAllowed(unknown) {
		t.Error("user-approved origin may sign hashes")
	}
}

// TestEditUserConfig: the user's file has one writer. Settings edits and
// the gate's saves of the approved list, also at once, keep each other's
// change, and an edit cannot change the approved list behind the gate.
func TestEditUserConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	user := &UserConfig{Schema: UserConfigSchema, Language: "vi", ApprovedOrigins: []ApprovedOrigin{
		{Origin: "https://a.example.vn", Approved: time.Now()},
		{Origin: "https://b.example.vn", Approved: time.Now()},
		{Origin: "https://c.example.vn", Approved: time.Now()},
	}}
	if err := user.Save(path); err != nil {
		t.Fatal(err)
	}
	g := NewOriginGate(nil, user, path, nil, nil, nil)
	var wg sync.WaitGroup
	for _, f := range []func() error{
		func() error { return g.EditUserConfig(func(u *UserConfig) { u.Language = "en" }) },
		func() error { return g.Revoke("https://a.example.vn") },
		func() error { return g.EditUserConfig(func(u *UserConfig) { u.TSA = "http://127.0.0.1:9/tsa" }) },
		func() error { return g.Revoke("https://b.example.vn") },
		func() error {
			return g.EditUserConfig(func(u *UserConfig) {
				u.ApprovedOrigins = append(u.ApprovedOrigins, ApprovedOrigin{Origin: "https://evil.example"})
			})
		},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := LoadUserConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Language != "en" || got.TSA != "http://127.0.0.1:9/tsa" {
		t.Errorf("settings lost: language %q, tsa %q", got.Language, got.TSA)
	}
	if len(got.ApprovedOrigins) != 1 || got.ApprovedOrigins[0].Origin != "https://c.example.vn" {
		t.Errorf("approved = %+v, want only c", got.ApprovedOrigins)
	}
	// An edit that makes the file invalid is refused and changes nothing.
	if err := g.EditUserConfig(func(u *UserConfig) { u.DefaultLevel = "B-X" }); err == nil {
		t.Error("an invalid level was saved")
	}
	if again, _ := LoadUserConfig(path); again.DefaultLevel != "" {
		t.Errorf("level %q after a refused edit", again.DefaultLevel)
	}
}
