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

// consent is one request's approval: the dialog it shows and whether the
// user answered it.
type consent struct {
	a      *Agent
	prompt SignPrompt
	given  atomic.Bool
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

// begin takes the chosen certificate's token for one request, logs it out
// and returns the signer whose first login shows prompt. end logs the
// token out again and releases it; it must be called once begin
// succeeded.
func (a *Agent) begin(ctx context.Context, ch *chosen, prompt SignPrompt) (s *consentSigner, end func(), err error) {
	tokenID := ch.cert.TokenID
	release, err := a.acquire(ctx, tokenID)
	if err != nil {
		return nil, nil, err
	}
	end = func() { a.relock(ctx, tokenID, release) }
	if err := a.keys.Lock(ctx, tokenID); err != nil {
		end()
		return nil, nil, err
	}
	pinpad := false
	prompt.TokenLabel = ch.info.TokenLabel
	prompt.RetriesLeft = -1
	if toks, err := a.keys.Tokens(ctx); err == nil {
		for _, t := range toks {
			if t.ID == tokenID {
				prompt.TokenLabel = t.Label
				prompt.RetriesLeft = t.PIN.RetriesLeft()
				prompt.FinalTry = t.PIN.FinalTry
				pinpad = t.Flags.ProtectedAuthPath
			}
		}
	}
	k := &consent{a: a, prompt: prompt}
	if pinpad {
		if err := k.confirm(ctx); err != nil {
			end()
			return nil, nil, err
		}
	}
	signer, err := a.keys.SignerOn(ctx, tokenID, ch.cert.Handle, k)
	if err != nil {
		end()
		return nil, nil, err
	}
	return &consentSigner{Signer: signer, k: k}, end, nil
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
	defer end()

	var res BatchResult
	stop := func(i int, err error) BatchResult {
		code := resultOf(err)
		a.log.Warn("signing stopped", "method", action, "caller", c.String(), "document", names[i], "signed", len(res.Signed), "of", len(docs), "code", code, "err", err)
		r := base
		r.Document, r.SHA256, r.Result = names[i], sums[i], code
		_ = a.record(r)
		res.Err = err
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
	h, err := parseHash(req.Hash)
	if err != nil {
		return fail(err)
	}
	if len(req.Digest) != h.Size() {
		return fail(badRequest("digest of %d bytes for %s (want %d)", len(req.Digest), h, h.Size()))
	}
	if req.Timestamp && a.tsa == nil {
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
	defer end()
	der, err := cms.Sign(ctx, signer, ch.cert.X509, req.Digest, cms.Options{Hash: h, PSS: req.PSS, Chain: ch.chain})
	if err != nil {
		return fail(removedMidRequest(err))
	}
	if req.Timestamp {
		if der, err = cms.AddTimestamp(ctx, der, a.tsa); err != nil {
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
