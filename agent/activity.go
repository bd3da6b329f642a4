package agent

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/kyso-vn/kyso/cms"
)

// NoticeKind names what a Notice reports.
type NoticeKind string

// Notice kinds.
const (
	// NoticeActivity: a dialog opened or closed, or a token was taken or
	// released; Agent.Activity tells the state now.
	NoticeActivity NoticeKind = "activity"
	// NoticeSigned: a signing request finished; Signed of Total documents
	// were signed (all of them).
	NoticeSigned NoticeKind = "signed"
	// NoticeSignFailed: a signing request stopped with Code after the
	// user's consent, having signed Signed of Total documents; or was
	// refused before it (Signed is 0).
	NoticeSignFailed NoticeKind = "signFailed"
	// NoticeTSASlow: an answer from the timestamp authority took Took,
	// more than TSASlowAfter.
	NoticeTSASlow NoticeKind = "tsaSlow"
)

// TSASlowAfter is how long a timestamp authority may take to answer
// before the agent reports it as slow: users wait on it for every B-T
// signature and should know why.
const TSASlowAfter = 5 * time.Second

// Notice tells the desktop edge (the tray) what the agent is doing, so
// that it can redraw its icon and tell the user about long operations.
type Notice struct {
	Kind   NoticeKind
	Caller string // the origin, or "local"
	Action string // signPdf or signPdfs
	Total  int
	Signed int
	Code   string        // NoticeSignFailed: the error code
	Took   time.Duration // NoticeTSASlow
	URL    string        // NoticeTSASlow: the authority's URL
}

// Activity is what the agent is doing now.
type Activity struct {
	// Busy is set while a token is in use or a dialog is open.
	Busy bool
	// WaitingForUser is set while one of the agent's dialogs is open.
	WaitingForUser bool
}

// Activity tells whether a signature is being made and whether a dialog
// waits for the user.
func (a *Agent) Activity() Activity {
	return Activity{Busy: a.busy.Load() > 0, WaitingForUser: a.dialogs.Load() > 0}
}

// runtimeSettings are the settings the user may change while the agent
// runs; requests read one snapshot.
type runtimeSettings struct {
	tsa   *cms.TSA
	level string
}

// SetDefaults changes the timestamp authority (empty: none) and the
// default PAdES level of requests that name none (empty: B-B). Requests
// already under way keep the values they started with. A level that
// needs a timestamp authority without one is refused and nothing changes.
func (a *Agent) SetDefaults(tsaURL, level string) error {
	if level == "" {
		level = DefaultPAdESLevel
	}
	lvl, err := parseLevel(level)
	if err != nil {
		return fmt.Errorf("agent: default level: %w", err)
	}
	var tsa *cms.TSA
	if tsaURL != "" {
		if err := validateCommon(nil, tsaURL, ""); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		tsa = &cms.TSA{URL: tsaURL, HTTPClient: &http.Client{Transport: &slowReporter{
			base:   http.DefaultTransport,
			after:  TSASlowAfter,
			notify: a.notify,
		}}}
	}
	if lvl.needsTSA() && tsa == nil {
		return fmt.Errorf("agent: default level %s needs a timestamp authority", lvl.final)
	}
	a.settings.Store(&runtimeSettings{tsa: tsa, level: level})
	return nil
}

// Defaults returns the timestamp authority's URL and the default level in
// use.
func (a *Agent) Defaults() (tsaURL, level string) {
	s := a.settings.Load()
	if s.tsa != nil {
		tsaURL = s.tsa.URL
	}
	return tsaURL, s.level
}

// LockToken logs the token out now ("lock token" in the tray), ending its
// PIN session: the next signature asks for the PIN again. A signature
// under way on the token finishes first; LockToken waits for it until ctx
// ends.
func (a *Agent) LockToken(ctx context.Context, tokenID string) error {
	g := a.guard(tokenID)
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("agent: lock token: waiting for the signature under way: %w", ctx.Err())
	}
	defer func() { <-g.sem }()
	a.mu.Lock()
	g.stopLocked()
	a.mu.Unlock()
	if err := a.keys.Lock(ctx, tokenID); err != nil {
		return fmt.Errorf("agent: lock token %s: %w", tokenID, err)
	}
	a.log.Info("token locked by the user", "token", tokenID)
	return nil
}

// slowReporter times the timestamp authority's answers and reports slow
// ones; it does not change them.
type slowReporter struct {
	base   http.RoundTripper
	after  time.Duration
	notify func(Notice)
}

func (s *slowReporter) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := s.base.RoundTrip(req)
	if took := time.Since(start); took > s.after {
		s.notify(Notice{Kind: NoticeTSASlow, Took: took, URL: req.URL.Redacted()})
	}
	return resp, err
}
