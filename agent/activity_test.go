package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/p11fault"
	"github.com/kyso-vn/kyso/token"
)

// noticeLog records notices, with the agent's activity seen at each.
type noticeLog struct {
	mu       sync.Mutex
	notices  []Notice
	activity []Activity
	agent    func() *Agent
}

func (l *noticeLog) add(n Notice) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notices = append(l.notices, n)
	if a := l.agent(); a != nil && n.Kind == NoticeActivity {
		l.activity = append(l.activity, a.Activity())
	}
}

func (l *noticeLog) kinds(k NoticeKind) []Notice {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Notice
	for _, n := range l.notices {
		if n.Kind == k {
			out = append(out, n)
		}
	}
	return out
}

func newNoticeHarness(t *testing.T) (*svcHarness, *noticeLog) {
	t.Helper()
	var h *svcHarness
	var mu sync.Mutex
	log := &noticeLog{agent: func() *Agent {
		mu.Lock()
		defer mu.Unlock()
		if h == nil {
			return nil
		}
		return h.agent
	}}
	hh := newSvcHarness(t, func(c *Config) { c.Notify = log.add })
	mu.Lock()
	h = hh
	mu.Unlock()
	return hh, log
}

func TestNotices(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h, log := newNoticeHarness(t)
	ctx := testContext(t)
	docs := make([]Document, 3)
	for i := range docs {
		docs[i] = Document{Name: fmt.Sprintf("n%d.pdf", i+1), Data: svcFx.letter}
	}
	if a := h.agent.Activity(); a.Busy || a.WaitingForUser {
		t.Fatalf("activity before any request = %+v", a)
	}
	r := h.agent.SignPDFs(ctx, webCaller(), docs, SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}, nil)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	signed := log.kinds(NoticeSigned)
	if len(signed) != 1 || signed[0].Total != 3 || signed[0].Signed != 3 || signed[0].Caller != testOrigin || signed[0].Action != "signPdfs" {
		t.Errorf("signed notices = %+v", signed)
	}
	// The dialog was seen open (waiting) and the token in use, and both
	// ended.
	log.mu.Lock()
	acts := slices.Clone(log.activity)
	log.mu.Unlock()
	if !slices.Contains(acts, Activity{Busy: true, WaitingForUser: true}) {
		t.Errorf("no notice while the dialog was open: %+v", acts)
	}
	if len(acts) == 0 || acts[len(acts)-1] != (Activity{}) {
		t.Errorf("last activity = %+v, want idle", acts)
	}

	// A cancelled dialog is a failure notice with the code, nothing signed.
	h.prompter.mu.Lock()
	h.prompter.cancel = true
	h.prompter.mu.Unlock()
	if _, err := h.agent.SignPDF(ctx, webCaller(), docs[0], SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}); codeOfErr(err) != CodeUserCancelled {
		t.Fatalf("err = %v, want %s", err, CodeUserCancelled)
	}
	failed := log.kinds(NoticeSignFailed)
	if len(failed) != 1 || failed[0].Code != CodeUserCancelled || failed[0].Signed != 0 || failed[0].Total != 1 {
		t.Errorf("failure notices = %+v", failed)
	}
}

func TestNoticeTokenRemovedMidBatch(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h, log := newNoticeHarness(t)
	docs := make([]Document, 4)
	for i := range docs {
		docs[i] = Document{Name: fmt.Sprintf("r%d.pdf", i+1), Data: svcFx.letter}
	}
	r := h.agent.SignPDFs(testContext(t), webCaller(), docs, SignPDFOptions{Certificate: token.HandleOf(svcFx.org)}, func(p Progress) {
		if p.Done == 2 {
			if err := svcFx.steer.Write(p11fault.Control{Present: false}); err != nil {
				t.Error(err)
			}
		}
	})
	if codeOfErr(r.Err) != "TOKEN_REMOVED" {
		t.Fatalf("err = %v", r.Err)
	}
	failed := log.kinds(NoticeSignFailed)
	if len(failed) != 1 || failed[0].Code != "TOKEN_REMOVED" || failed[0].Signed != 2 || failed[0].Total != 4 {
		t.Errorf("failure notices = %+v", failed)
	}
	if len(log.kinds(NoticeSigned)) != 0 {
		t.Error("a stopped batch was reported as finished")
	}
}

func TestSetDefaults(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	if tsa, lvl := h.agent.Defaults(); tsa != "" || lvl != "B-B" {
		t.Fatalf("defaults = %q, %q", tsa, lvl)
	}
	for _, tc := range []struct{ tsa, level string }{
		{"", "B-T"},           // needs a TSA
		{"ftp://x", "B-B"},    // not http
		{"", "B-X"},           // unknown level
		{"http://tsa", "B-Q"}, // unknown level with a TSA
	} {
		if err := h.agent.SetDefaults(tc.tsa, tc.level); err == nil {
			t.Errorf("SetDefaults(%q, %q) accepted", tc.tsa, tc.level)
		}
	}
	if tsa, lvl := h.agent.Defaults(); tsa != "" || lvl != "B-B" {
		t.Errorf("a refused change changed the defaults to %q, %q", tsa, lvl)
	}
	// A request naming no level now needs the TSA it was given.
	if err := h.agent.SetDefaults("http://127.0.0.1:1/tsa", "B-T"); err != nil {
		t.Fatal(err)
	}
	if tsa, lvl := h.agent.Defaults(); tsa != "http://127.0.0.1:1/tsa" || lvl != "B-T" {
		t.Errorf("defaults = %q, %q", tsa, lvl)
	}
	p, err := h.agent.planSign(SignPDFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.level.final != "B-T" || p.base.TSA == nil || p.base.TSA.URL != "http://127.0.0.1:1/tsa" {
		t.Errorf("plan = %s with TSA %+v", p.level.final, p.base.TSA)
	}
}

func TestLockToken(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h, _ := newSessionHarness(t, 5*time.Minute)
	ctx := testContext(t)
	signedHash(t, h, "one")
	signedHash(t, h, "two") // within the PIN session: no PIN
	id := tokenIDOf(t, h)
	if err := h.agent.LockToken(ctx, id); err != nil {
		t.Fatal(err)
	}
	signedHash(t, h, "three") // locked: the PIN again
	wantDialogs(t, h, true, false, true)
}

func TestSlowTSAReported(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	var mu sync.Mutex
	var got []Notice
	s := &slowReporter{base: http.DefaultTransport, after: time.Second, notify: func(n Notice) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, n)
	}}
	client := &http.Client{Transport: s}
	do := func(path string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTeapot {
			t.Errorf("status %d: the reporter changed the answer", resp.StatusCode)
		}
	}
	do("/fast")
	go func() {
		time.Sleep(1200 * time.Millisecond) // longer than after: a slow answer
		close(release)
	}()
	do("/slow")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Kind != NoticeTSASlow || got[0].URL != srv.URL+"/slow" || got[0].Took < time.Second {
		t.Errorf("notices = %+v, want one tsaSlow for /slow", got)
	}
}
