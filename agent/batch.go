package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// How consent works. A signature needs the user's approval in the agent's
// own dialog, and typing the PIN there is that approval. The agent makes
// sure the dialog cannot be skipped: before a request signs it takes the
// token (one request per token at a time) and logs it out (KeyStore.Lock),
// so the token layer must log in again and asks the request's PIN source,
// which shows the dialog with everything about the request. On a pinpad
// reader the token asks for the PIN itself, so the agent shows the dialog
// as a plain confirmation first. After the request the token is logged out
// again, so an idle token never stays unlocked. As a last guard, a
// signature made without the dialog having been answered is thrown away.
//
// A batch shows one dialog listing every document: the first signature
// logs in, the others reuse the session. A wrong PIN ends the request with
// PIN_INCORRECT and the tries left; the agent never asks again on its own,
// since every try counts towards the token's lockout.
//
// PIN session (Config.PINSession, machine policy only). A clerk whose DMS
// sends digests one by one would type the PIN for each. With a session the
// token is not logged out after a request whose login succeeded, and for
// PINSession after that login the next requests on the token show the same
// dialog as a plain confirmation, before anything is signed: the consent
// stays per request, only the PIN is not asked again. The session ends, and
// the token is logged out, when the window has passed (on a timer, so an
// idle token does not stay unlocked), when a request on the token fails
// (a wrong PIN, a refused confirmation, a removed token, anything), when
// the token is seen pulled out, and when the agent closes. Should the token
// lose its login anyway (pulled out and back in between two looks), the
// token layer asks for the PIN and the dialog comes with a PIN field.

// consent is one request's approval: the dialog it shows and whether the
// user answered it.
type consent struct {
	a      *Agent
	prompt SignPrompt
	given  atomic.Bool
	// loginAt is when the user typed a PIN for a login of this request
	// (zero when none was asked), the start of a PIN session.
	loginAt atomic.Pointer[time.Time]
	// confirmedAt is when the confirmation was answered (set before the
	// token is used, read after).
	confirmedAt time.Time
}

// PIN shows the signing dialog for a login and returns the PIN typed; the
// token layer wipes it after C_Login. It is asked once per login and never
// retries.
func (k *consent) PIN(ctx context.Context, req token.PINRequest) ([]byte, error) {
	p := k.prompt
	p.PINNeeded = true
	p.RetriesLeft = req.Status.RetriesLeft()
	p.FinalTry = req.Status.FinalTry
	var pin []byte
	err := k.a.dialog(ctx, func(dctx context.Context) error {
		var err error
		pin, err = k.a.prompter.Sign(dctx, p)
		return err
	})
	if err != nil {
		zeroPIN(pin)
		return nil, err
	}
	k.given.Store(true)
	at := k.a.now()
	k.loginAt.Store(&at)
	return pin, nil
}

// confirm shows the signing dialog without a PIN field, for tokens that
// take the PIN on their own pinpad.
func (k *consent) confirm(ctx context.Context) error {
	p := k.prompt
	p.PINNeeded = false
	err := k.a.dialog(ctx, func(dctx context.Context) error {
		pin, err := k.a.prompter.Sign(dctx, p)
		zeroPIN(pin)
		return err
	})
	if err != nil {
		return err
	}
	k.given.Store(true)
	k.confirmedAt = k.a.now()
	return nil
}

func zeroPIN(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// consentSigner refuses to hand out a signature the user did not approve.
type consentSigner struct {
	token.Signer
	k *consent
}

func (s *consentSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

func (s *consentSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.SignContext(ctx, digest, opts)
	if err != nil {
		return nil, err
	}
	if !s.k.given.Load() {
		return nil, &Error{Code: CodeInternal, Message: "the token signed without the user's approval; the signature was discarded"}
	}
	return sig, nil
}

// begin takes the chosen certificate's token for one request and returns
// the signer whose signatures need the user's approval: without a PIN
// session the token is logged out first, so the first signature logs in
// and shows prompt with a PIN field; within a PIN session (or on a pinpad)
// prompt is shown as a confirmation now. end must be called once begin
// succeeded, with whether the request succeeded: it keeps or ends the PIN
// session, logs the token out unless a session goes on, and releases it.
func (a *Agent) begin(ctx context.Context, ch *chosen, prompt SignPrompt) (s *consentSigner, end func(ok bool), err error) {
	tokenID := ch.cert.TokenID
	g, release, err := a.acquire(ctx, tokenID)
	if err != nil {
		return nil, nil, err
	}
	// The session is decided while the token is held, so an expiry or
	// another request cannot end it in between. Within a session the
	// token is described as the last listing saw it: choose has just
	// found the certificate on it, the PIN is not asked, and a token
	// pulled out since fails the signature anyway. Otherwise the slots
	// are read again, for the PIN's state before the PIN is asked.
	session := a.inSession(g)
	info, present := a.knownToken(tokenID)
	if !session {
		info, present = token.TokenInfo{}, false
		if toks, err := a.listTokens(ctx); err == nil {
			for _, t := range toks {
				if t.ID == tokenID {
					info, present = t, true
				}
			}
		}
	}
	session = session && present
	pinpad := false
	prompt.TokenLabel = ch.info.TokenLabel
	prompt.RetriesLeft = -1
	if present {
		prompt.TokenLabel = info.Label
		prompt.RetriesLeft = info.PIN.RetriesLeft()
		prompt.FinalTry = info.PIN.FinalTry
		pinpad = info.Flags.ProtectedAuthPath
	}
	k := &consent{a: a, prompt: prompt}
	end = func(ok bool) {
		if ok && a.pinSession > 0 {
			var at time.Time
			switch {
			case k.loginAt.Load() != nil:
				at = *k.loginAt.Load()
			case pinpad && !session:
				// Logged in on the reader's pinpad after the confirmation.
				at = k.confirmedAt
			}
			if a.keepSession(tokenID, g, at) {
				release()
				return
			}
		}
		a.endSession(g)
		if !ok {
			// The failure may come from a token that went away: the
			// next request looks at the slots again.
			a.forgetCertificates()
		}
		a.relock(ctx, tokenID, release)
	}
	if !session {
		a.endSession(g)
		if err := a.keys.Lock(ctx, tokenID); err != nil {
			end(false)
			return nil, nil, err
		}
	}
	if pinpad || session {
		if err := k.confirm(ctx); err != nil {
			end(false)
			return nil, nil, err
		}
	}
	signer, err := a.keys.SignerOn(ctx, tokenID, ch.cert.Handle, k)
	if err != nil {
		end(false)
		return nil, nil, err
	}
	return &consentSigner{Signer: signer, k: k}, end, nil
}

// tokenGuard is one token's place in the agent: the semaphore that lets
// one request at a time use it, and its PIN session.
type tokenGuard struct {
	sem chan struct{}
	// Guarded by Agent.mu. loginAt is when the PIN of the session was
	// typed (zero: no session); gen changes with every session, so that
	// the expiry timer of an ended one does nothing.
	loginAt time.Time
	gen     uint64
	expiry  *time.Timer
}

// guard returns the token's guard, creating it on first use.
func (a *Agent) guard(tokenID string) *tokenGuard {
	a.mu.Lock()
	defer a.mu.Unlock()
	g := a.tokens[tokenID]
	if g == nil {
		g = &tokenGuard{sem: make(chan struct{}, 1)}
		a.tokens[tokenID] = g
	}
	return g
}

// inSession reports whether the token has a PIN session that is still
// within its window. A clock that went back ends it too: the window
// cannot be told any more.
func (a *Agent) inSession(g *tokenGuard) bool {
	if a.pinSession <= 0 {
		return false
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	return !g.loginAt.IsZero() && !now.Before(g.loginAt) && now.Sub(g.loginAt) < a.pinSession
}

// keepSession records a successful request: a PIN typed at loginAt starts
// a new session (a zero loginAt keeps the current one, when the request
// reused it). It reports whether the token stays logged in; the caller
// holds the token.
func (a *Agent) keepSession(tokenID string, g *tokenGuard, loginAt time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	if loginAt.IsZero() {
		return !g.loginAt.IsZero()
	}
	if g.expiry != nil {
		g.expiry.Stop()
	}
	g.gen++
	g.loginAt = loginAt
	gen := g.gen
	// The timer runs on the real clock from now; the window itself is
	// judged on Agent.now by inSession, so a late timer never extends it.
	left := a.pinSession - a.now().Sub(loginAt)
	g.expiry = time.AfterFunc(max(left, 0), func() { a.expire(tokenID, g, gen) })
	a.log.Debug("PIN session started", "token", tokenID, "for", a.pinSession)
	return true
}

// endSession forgets the token's PIN session; the caller logs the token
// out.
func (a *Agent) endSession(g *tokenGuard) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g.stopLocked()
}

func (g *tokenGuard) stopLocked() {
	if g.expiry != nil {
		g.expiry.Stop()
		g.expiry = nil
	}
	g.loginAt = time.Time{}
	g.gen++
}

// forgetSession ends the PIN session of a token that was pulled out. Its
// login went with it; the next request logs it out again anyway.
func (a *Agent) forgetSession(tokenID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := a.tokens[tokenID]; g != nil && !g.loginAt.IsZero() {
		g.stopLocked()
		a.log.Debug("PIN session ended: token removed", "token", tokenID)
	}
}

// expire logs the token out when its PIN session's window has passed,
// waiting for a request using the token to finish first.
func (a *Agent) expire(tokenID string, g *tokenGuard, gen uint64) {
	g.sem <- struct{}{}
	defer func() { <-g.sem }()
	a.mu.Lock()
	live := g.gen == gen && !g.loginAt.IsZero()
	if live {
		g.stopLocked()
	}
	a.mu.Unlock()
	if !live {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), relockTimeout)
	defer cancel()
	if err := a.keys.Lock(ctx, tokenID); err != nil {
		a.log.Debug("logging the token out at the end of its PIN session", "token", tokenID, "err", err)
	}
	a.log.Debug("PIN session ended", "token", tokenID)
}

// Close ends every PIN session, logging the tokens out once the requests
// using them have finished; requests after Close start no session. A
// token still held after relockTimeout (a driver stuck in a signature) is
// left to its request, which logs it out itself when it ends.
func (a *Agent) Close() error {
	a.mu.Lock()
	a.closed = true
	var open []string
	for id, g := range a.tokens {
		if !g.loginAt.IsZero() {
			open = append(open, id)
		}
	}
	a.mu.Unlock()
	for _, id := range open {
		g := a.guard(id)
		t := time.NewTimer(relockTimeout)
		select {
		case g.sem <- struct{}{}:
			t.Stop()
		case <-t.C:
			a.log.Warn("token still in use at close; its request logs it out", "token", id)
			continue
		}
		a.mu.Lock()
		live := !g.loginAt.IsZero()
		g.stopLocked()
		a.mu.Unlock()
		if live {
			ctx, cancel := context.WithTimeout(context.Background(), relockTimeout)
			if err := a.keys.Lock(ctx, id); err != nil {
				a.log.Debug("logging the token out on close", "token", id, "err", err)
			}
			cancel()
		}
		<-g.sem
	}
	return nil
}

// removedMidRequest reports a token that was present when the request
// took it and is gone now as removed, which is what happened: the token
// layer says TOKEN_ABSENT when it finds the slot empty before a signature.
func removedMidRequest(err error) error {
	if token.CodeOf(err) == token.CodeTokenAbsent {
		return &token.Error{Code: token.CodeTokenRemoved, Op: "sign", Err: err}
	}
	return err
}

// SignPDF signs one document after the user's approval.
func (a *Agent) SignPDF(ctx context.Context, c Caller, doc Document, opts SignPDFOptions) (*SignedDocument, error) {
	r := a.signDocs(ctx, c, "signPdf", []Document{doc}, opts, nil)
	if r.Err != nil {
		return nil, r.Err
	}
	return &r.Signed[0], nil
}

// SignPDFs signs a batch with one certificate, one approval and one PIN.
// Every document is checked before anyone is asked; the batch stops at
// the first failure or when ctx ends, returning the documents signed
// before, each one whole.
func (a *Agent) SignPDFs(ctx context.Context, c Caller, docs []Document, opts SignPDFOptions, progress func(Progress)) BatchResult {
	return a.signDocs(ctx, c, "signPdfs", docs, opts, progress)
}

func (a *Agent) signDocs(ctx context.Context, c Caller, action string, docs []Document, opts SignPDFOptions, progress func(Progress)) BatchResult {
	names := make([]string, len(docs))
	sums := make([]string, len(docs))
	for i, d := range docs {
		names[i] = displayName(d.Name)
		sum := sha256.Sum256(d.Data)
		sums[i] = hex.EncodeToString(sum[:])
	}
	base := AuditRecord{Caller: c.String(), Method: action, Profile: opts.Profile}
	// refuse ends a request in which nothing was signed: every document
	// is recorded as refused with the reason.
	refuse := func(err error) BatchResult {
		code := resultOf(err)
		a.log.Warn("signing refused", "method", action, "caller", c.String(), "documents", len(docs), "code", code, "err", err)
		if len(docs) == 0 {
			r := base
			r.Result = code
			_ = a.record(r)
		}
		for i := range docs {
			r := base
			r.Document, r.SHA256, r.Result = names[i], sums[i], code
			_ = a.record(r)
		}
		a.notify(Notice{Kind: NoticeSignFailed, Caller: c.String(), Action: action, Total: len(docs), Code: code})
		return BatchResult{Err: err}
	}

	if err := checkCaller(c); err != nil {
		return refuse(err)
	}
	if len(docs) == 0 {
		return refuse(badRequest("no documents"))
	}
	plan, err := a.planSign(opts)
	if err != nil {
		return refuse(err)
	}
	base.Level = string(plan.level.final)
	// Every document is checked before anyone is asked anything.
	for i, d := range docs {
		if err := checkDocument(i, d); err != nil {
			return refuse(err)
		}
	}
	var tpl *Templates
	if opts.Profile != "" && a.templatesPath != "" {
		if tpl, err = LoadTemplates(a.templatesPath); err != nil {
			return refuse(&Error{Code: CodeInternal, Message: "templates", Err: err})
		}
	}
	ch, err := a.choose(ctx, c, opts.Certificate, profileKind(opts.Profile))
	if err != nil {
		return refuse(err)
	}
	base.Certificate = string(ch.cert.Handle)
	base.Signer = ch.cert.Identity.Name
	base.Kind = string(ch.cert.Identity.Kind)
	// The legal form is laid out for every document before the dialog, so
	// that an order rule or a missing anchor is told without a PIN typed.
	now := a.now()
	padesOpts := make([]pades.Options, len(docs))
	for i, d := range docs {
		o, err := plan.options(d.Data, ch.cert.X509, ch.chain, tpl, now)
		if err != nil {
			return refuse(fmt.Errorf("agent: document %d (%s): %w", i+1, names[i], err))
		}
		padesOpts[i] = o
	}

	prompt := SignPrompt{Caller: c.String(), Action: action, Profile: opts.Profile, Certificate: ch.info}
	for i, d := range docs {
		pages, _ := pades.PageCount(bytes.NewReader(d.Data), int64(len(d.Data))) // checked readable above
		prompt.Documents = append(prompt.Documents, PromptDocument{Name: names[i], Pages: pages, Size: int64(len(d.Data)), SHA256: sums[i]})
	}
	signer, end, err := a.begin(ctx, ch, prompt)
	if err != nil {
		return refuse(err)
	}
	var res BatchResult
	defer func() { end(res.Err == nil) }()

	stop := func(i int, err error) BatchResult {
		code := resultOf(err)
		a.log.Warn("signing stopped", "method", action, "caller", c.String(), "document", names[i], "signed", len(res.Signed), "of", len(docs), "code", code, "err", err)
		r := base
		r.Document, r.SHA256, r.Result = names[i], sums[i], code
		_ = a.record(r)
		res.Err = err
		a.notify(Notice{Kind: NoticeSignFailed, Caller: c.String(), Action: action, Total: len(docs), Signed: len(res.Signed), Code: code})
		return res
	}
	for i, d := range docs {
		if err := ctx.Err(); err != nil {
			return stop(i, &token.Error{Code: token.CodeCancelled, Op: "sign batch", Err: err})
		}
		out, pr, err := a.signOne(ctx, d.Data, signer, ch.cert.X509, padesOpts[i], plan.level)
		if err != nil {
			return stop(i, removedMidRequest(err))
		}
		r := base
		r.Document, r.SHA256, r.Result = names[i], sums[i], "ok"
		if err := a.record(r); err != nil {
			// An unrecorded signature is not handed out.
			return stop(i, err)
		}
		sum := sha256.Sum256(out)
		res.Signed = append(res.Signed, SignedDocument{
			Name:   d.Name,
			Field:  pr.FieldName,
			Level:  string(plan.level.final),
			Data:   out,
			SHA256: hex.EncodeToString(sum[:]),
			Signer: ch.cert.Handle,
		})
		a.log.Info("signed", "method", action, "caller", c.String(), "document", names[i], "sha256", sums[i],
			"certificate", ch.cert.Handle, "level", plan.level.final, "field", pr.FieldName)
		if progress != nil {
			progress(Progress{Done: i + 1, Total: len(docs), Document: d.Name})
		}
	}
	a.notify(Notice{Kind: NoticeSigned, Caller: c.String(), Action: action, Total: len(docs), Signed: len(res.Signed)})
	return res
}

// SignHash signs a digest a server prepared, as a CMS SignedData, for
// callers the machine policy allows; the dialog shows the digest and says
// that the caller's description of it cannot be checked.
func (a *Agent) SignHash(ctx context.Context, c Caller, req SignHashRequest) (*SignHashResult, error) {
	desc := displayName(req.Description)
	base := AuditRecord{Caller: c.String(), Method: "signHash", Document: desc, SHA256: hex.EncodeToString(req.Digest)}
	fail := func(err error) (*SignHashResult, error) {
		code := resultOf(err)
		a.log.Warn("signHash refused", "caller", c.String(), "code", code, "err", err)
		r := base
		r.Result = code
		_ = a.record(r)
		return nil, err
	}
	if err := checkCaller(c); err != nil {
		return fail(err)
	}
	// Blind signing is off unless the machine policy names the origin;
	// local clients authenticated by the per-user secret may.
	if !c.Local && !a.gate.HashSigningAllowed(c.Origin) {
		return fail(&Error{Code: CodeHashNotAllowed, Message: "the machine policy does not let " + c.Origin + " sign digests"})
	}
	h, err := ParseHash(req.Hash)
	if err != nil {
		return fail(err)
	}
	if len(req.Digest) != h.Size() {
		return fail(badRequest("digest of %d bytes for %s (want %d)", len(req.Digest), h, h.Size()))
	}
	tsa := a.settings.Load().tsa
	if req.Timestamp && tsa == nil {
		return fail(badRequest("a timestamp needs a timestamp authority and none is configured"))
	}
	ch, err := a.choose(ctx, c, req.Certificate, "")
	if err != nil {
		return fail(err)
	}
	base.Certificate = string(ch.cert.Handle)
	base.Signer = ch.cert.Identity.Name
	base.Kind = string(ch.cert.Identity.Kind)
	prompt := SignPrompt{Caller: c.String(), Action: "signHash", HashDescription: desc, Digest: hex.EncodeToString(req.Digest), Certificate: ch.info}
	signer, end, err := a.begin(ctx, ch, prompt)
	if err != nil {
		return fail(err)
	}
	// The first signature of a key and certificate pair is checked against
	// the certificate (a token holding a mismatched pair fails there);
	// later ones from the same token skip that ≈0.1 ms.
	pair := ch.cert.TokenID + "/" + string(ch.cert.Handle)
	_, verified := a.verifiedKeys.Load(pair)
	der, err := cms.Sign(ctx, signer, ch.cert.X509, req.Digest, cms.Options{Hash: h, PSS: req.PSS, Chain: ch.chain, KeyVerified: verified})
	if err == nil {
		a.verifiedKeys.Store(pair, true)
	}
	// The token's part is done. It is released now (and logged out unless
	// a PIN session goes on) rather than after the timestamp and the audit
	// log's sync, which do not need it and would hold up the next request
	// on the token: under load the sync of one request overlaps the next
	// one's signature. Neither of them is the token failing, so they do
	// not end a PIN session.
	end(err == nil)
	if err != nil {
		return fail(removedMidRequest(err))
	}
	if req.Timestamp {
		if der, err = cms.AddTimestamp(ctx, der, tsa); err != nil {
			return fail(err)
		}
	}
	r := base
	r.Result = "ok"
	if err := a.record(r); err != nil {
		return nil, err
	}
	a.log.Info("signed", "method", "signHash", "caller", c.String(), "digest", base.SHA256, "certificate", ch.cert.Handle)
	return &SignHashResult{CMS: der, Signer: ch.cert.Handle}, nil
}
