package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Limits of the approval dialog, so that a page cannot use it to flood
// the user with questions until one is answered carelessly.
const (
	// RefusalMemory is how long a refused (or unanswered) origin gets
	// ORIGIN_BLOCKED without a new dialog.
	RefusalMemory = 10 * time.Minute
	// approvalBurst approval dialogs for distinct origins may be opened
	// per approvalWindow; the extra requests get ORIGIN_BLOCKED.
	approvalBurst  = 3
	approvalWindow = time.Minute
)

// OriginGate decides which origins may talk to the agent: those the
// machine policy allows, those the user approved earlier, and, when the
// policy lets users decide, those the user approves now in the agent's
// own dialog. It owns the user's approved list and persists it. It is
// safe for concurrent use.
type OriginGate struct {
	settings *Settings
	prompter Prompter
	now      func() time.Time
	log      *slog.Logger
	userPath string

	// dialog is held while an approval dialog is open: one at a time.
	dialog chan struct{}

	// saveMu serialises the read-modify-write of the user's file, so that
	// the last snapshot taken is the last one written and no edit is lost.
	saveMu sync.Mutex

	mu       sync.Mutex
	list     []ApprovedOrigin // the user's approved origins, oldest first
	approved map[Origin]bool  // the same, as a set
	refused  map[Origin]time.Time
	inflight map[Origin]*approval
	prompts  []time.Time // when recent approval dialogs were requested
}

// approval is one pending approval dialog, shared by every Admit call
// for its origin.
type approval struct {
	done    chan struct{}
	err     error // set before done is closed
	waiters int   // Admit calls still waiting; guarded by OriginGate.mu
	cancel  context.CancelFunc
}

// NewOriginGate returns a gate over settings (the merged policy) and the
// user's configuration user, saved to userPath after every change ("" to
// keep changes in memory only). The gate takes over the approved list:
// other writers of the user's file must not change ApprovedOrigins. clock
// may be nil for time.Now, logger nil for no logging. Invalid entries in
// user.ApprovedOrigins are ignored with a warning. A nil settings means
// the built-in defaults (no policy).
func NewOriginGate(settings *Settings, user *UserConfig, userPath string, prompter Prompter, clock func() time.Time, logger *slog.Logger) *OriginGate {
	if clock == nil {
		clock = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if user == nil {
		user = &UserConfig{Schema: UserConfigSchema}
	}
	if settings == nil {
		// Built-in defaults only; NewSettings cannot fail on them.
		settings, _ = NewSettings(nil, nil)
	}
	g := &OriginGate{
		settings: settings,
		prompter: prompter,
		now:      clock,
		log:      logger,
		userPath: userPath,
		dialog:   make(chan struct{}, 1),
		approved: map[Origin]bool{},
		refused:  map[Origin]time.Time{},
		inflight: map[Origin]*approval{},
	}
	for _, a := range user.ApprovedOrigins {
		o, err := ParseOrigin(a.Origin)
		if err != nil {
			logger.Warn("ignoring an invalid approved origin", "origin", a.Origin, "err", err)
			continue
		}
		if g.approved[o] {
			continue
		}
		g.approved[o] = true
		g.list = append(g.list, ApprovedOrigin{Origin: o.String(), Approved: a.Approved})
	}
	return g
}

func gateError(code, msg, origin string, err error) *Error {
	return &Error{Code: code, Message: msg, Details: map[string]any{"origin": origin}, Err: err}
}

// Admit lets origin in when the machine policy or the user's list allows
// it. Otherwise, when the policy lets users decide, it asks the user in
// one dialog: concurrent calls for the same origin share that dialog's
// answer, dialogs for distinct origins open one at a time, and at most a
// few per minute. A refused or unanswered origin gets ORIGIN_BLOCKED for
// RefusalMemory without a new dialog. An approval is saved to the user's
// configuration.
//
// Errors are *Error with code ORIGIN_NOT_ALLOWED or ORIGIN_BLOCKED, or
// ctx's error when the caller gave up waiting.
func (g *OriginGate) Admit(ctx context.Context, origin string) error {
	o, err := ParseOrigin(origin)
	if err != nil {
		return gateError(CodeOriginNotAllowed, "invalid origin", origin, err)
	}
	if g.settings.PolicyAllows(o) {
		return nil
	}

	g.mu.Lock()
	if g.approved[o] {
		g.mu.Unlock()
		return nil
	}
	if !g.settings.UserMayApprove {
		g.mu.Unlock()
		return gateError(CodeOriginNotAllowed, "the machine policy does not allow this origin", o.String(), nil)
	}
	now := g.now()
	g.forget(now)
	if t, ok := g.refused[o]; ok {
		g.mu.Unlock()
		return &Error{Code: CodeOriginBlocked, Message: "the user refused this origin recently",
			Details: map[string]any{"origin": o.String(), "until": t.Add(RefusalMemory).UTC()}}
	}
	a := g.inflight[o]
	if a == nil {
		if len(g.prompts) >= approvalBurst {
			g.mu.Unlock()
			g.log.Warn("approval dialog rate limit reached", "origin", o.String())
			return gateError(CodeOriginBlocked, "too many approval requests; try again later", o.String(), nil)
		}
		g.prompts = append(g.prompts, now)
		pctx, cancel := context.WithCancel(context.Background())
		a = &approval{done: make(chan struct{}), cancel: cancel}
		g.inflight[o] = a
		go g.ask(pctx, o, a)
	}
	a.waiters++
	g.mu.Unlock()

	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		g.mu.Lock()
		a.waiters--
		if a.waiters == 0 {
			// Nobody waits for the answer any more (the page went away):
			// close the dialog rather than leave a question nobody asked,
			// and let a later Admit start afresh.
			a.cancel()
			if g.inflight[o] == a {
				delete(g.inflight, o)
			}
		}
		g.mu.Unlock()
		return ctx.Err()
	}
}

// forget drops refusals and dialog times that no longer count. g.mu held.
func (g *OriginGate) forget(now time.Time) {
	for o, t := range g.refused {
		if now.Sub(t) >= RefusalMemory {
			delete(g.refused, o)
		}
	}
	g.prompts = slices.DeleteFunc(g.prompts, func(t time.Time) bool { return now.Sub(t) >= approvalWindow })
}

// ask shows the approval dialog for o and publishes the answer in a.
func (g *OriginGate) ask(ctx context.Context, o Origin, a *approval) {
	defer a.cancel()
	approved, err := g.prompt(ctx, o)
	origin := o.String()

	g.mu.Lock()
	if g.inflight[o] == a {
		delete(g.inflight, o)
	}
	switch {
	case err == nil && approved:
		if !g.approved[o] {
			g.approved[o] = true
			g.list = append(g.list, ApprovedOrigin{Origin: origin, Approved: g.now().UTC()})
		}
		delete(g.refused, o)
	case err == nil || errors.Is(err, ErrUserCancelled) || errors.Is(err, context.DeadlineExceeded):
		// Refused, closed, or left unanswered until the dialog timed out:
		// the same answer as far as the page is concerned.
		g.refused[o] = g.now()
		if err == nil {
			err = gateError(CodeOriginNotAllowed, "the user refused this origin", origin, nil)
		} else {
			err = gateError(CodeOriginNotAllowed, "the approval dialog was not answered", origin, err)
		}
	case ctx.Err() != nil:
		// Every caller went away; not the user's answer, so no refusal.
		err = gateError(CodeOriginNotAllowed, "the request was withdrawn", origin, err)
	default:
		err = &Error{Code: CodeInternal, Message: "approval dialog failed", Details: map[string]any{"origin": origin}, Err: err}
	}
	g.mu.Unlock()

	if err == nil {
		g.log.Info("origin approved by the user", "origin", origin)
		if perr := g.persist(); perr != nil {
			// The approval holds for this session; say so in the log
			// rather than refusing what the user just allowed.
			g.log.Error("saving the approved origin failed", "origin", origin, "err", perr)
		}
	} else {
		g.log.Info("origin not approved", "origin", origin, "err", err)
	}
	a.err = err
	close(a.done)
}

// prompt waits for the dialog slot, then shows the dialog bounded by the
// configured dialog timeout.
func (g *OriginGate) prompt(ctx context.Context, o Origin) (bool, error) {
	select {
	case g.dialog <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-g.dialog }()
	if g.prompter == nil {
		return false, errors.New("agent: no prompter")
	}
	if d := g.settings.DialogTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	ok, err := g.prompter.ApproveOrigin(ctx, o.String())
	if err != nil {
		return false, fmt.Errorf("agent: approve %s: %w", o, err)
	}
	return ok, nil
}

// OriginAllowed reports, without asking anyone, whether origin is allowed
// by the machine policy or the user's list. The hello endpoint uses it.
func (g *OriginGate) OriginAllowed(origin string) bool {
	o, err := ParseOrigin(origin)
	if err != nil {
		return false
	}
	if g.settings.PolicyAllows(o) {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.approved[o]
}

// HashSigningAllowed reports whether the machine policy lists origin,
// exactly, for signHash. Users cannot approve hash signing.
func (g *OriginGate) HashSigningAllowed(origin string) bool {
	o, err := ParseOrigin(origin)
	return err == nil && g.settings.HashSigningAllowed(o)
}

// Approved returns the origins the user approved, oldest first.
func (g *OriginGate) Approved() []ApprovedOrigin {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.list)
}

// Revoke removes origin from the user's list and saves it; the next Admit
// asks again. Revoking an origin that is not in the list does nothing;
// origins the machine policy allows stay allowed.
func (g *OriginGate) Revoke(origin string) error {
	o, err := ParseOrigin(origin)
	if err != nil {
		return fmt.Errorf("agent: revoke: %w", err)
	}
	g.mu.Lock()
	if !g.approved[o] {
		g.mu.Unlock()
		return nil
	}
	delete(g.approved, o)
	g.list = slices.DeleteFunc(g.list, func(a ApprovedOrigin) bool { return a.Origin == o.String() })
	g.mu.Unlock()
	g.log.Info("origin approval revoked", "origin", o.String())
	return g.persist()
}

// RevokeAll empties the user's list and saves it.
func (g *OriginGate) RevokeAll() error {
	g.mu.Lock()
	clear(g.approved)
	g.list = nil
	g.mu.Unlock()
	g.log.Info("all origin approvals revoked")
	return g.persist()
}

// persist writes the approved list to the user's file.
func (g *OriginGate) persist() error {
	if err := g.EditUserConfig(func(*UserConfig) {}); err != nil {
		return fmt.Errorf("agent: save approved origins: %w", err)
	}
	return nil
}

// EditUserConfig changes the user's file: it re-reads it, applies edit,
// checks the result and saves it, one change at a time, so that an edit
// (the tray's language, TSA, level) and the gate's own saves of the
// approved list never lose each other's change. ApprovedOrigins belongs
// to the gate: an edit's change to it is replaced by the gate's list. If
// the file has become unreadable it is left alone and the error returned,
// since overwriting it would lose the user's edit. Without a file
// (userPath "") it does nothing.
func (g *OriginGate) EditUserConfig(edit func(*UserConfig)) error {
	if g.userPath == "" {
		return nil
	}
	g.saveMu.Lock()
	defer g.saveMu.Unlock()
	cur, err := LoadUserConfig(g.userPath)
	if err != nil {
		return err
	}
	edit(cur)
	g.mu.Lock()
	cur.ApprovedOrigins = slices.Clone(g.list)
	g.mu.Unlock()
	if err := cur.Validate(); err != nil {
		return err
	}
	return cur.Save(g.userPath)
}
