package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// KeyStore is what the agent needs from the token layer; *token.Manager
// satisfies it. Tests may put a fake in its place.
type KeyStore interface {
	// Certificates lists every certificate on every present token.
	Certificates(ctx context.Context) ([]*token.Certificate, error)
	// Tokens lists the tokens present.
	Tokens(ctx context.Context) ([]token.TokenInfo, error)
	// SignerOn returns a signer for the certificate h on the token
	// tokenID; PINs are asked from pins when the token logs in.
	SignerOn(ctx context.Context, tokenID string, h token.Handle, pins token.PINSource) (token.Signer, error)
	// Lock logs the token out so the next signature asks for the PIN.
	Lock(ctx context.Context, tokenID string) error
	// Watch delivers token events until ctx ends.
	Watch(ctx context.Context) <-chan token.Event
	// Loaded is the number of PKCS#11 modules loaded.
	Loaded() int
}

var _ KeyStore = (*token.Manager)(nil)

// Gate decides who may use the agent: the origin allowlist and approval
// (Admit), and the machine policy's list of origins allowed to sign
// digests.
type Gate interface {
	Admit(ctx context.Context, origin string) error
	HashSigningAllowed(origin string) bool
}

// Auditor appends records to the audit log. Record returns only once the
// record is durable.
type Auditor interface {
	Record(AuditRecord) error
}

// Config is what an Agent is built from.
type Config struct {
	Keys     KeyStore
	Gate     Gate
	Prompter Prompter
	// Audit receives one record per signature, refusal or failure; nil
	// keeps no audit log (tests).
	Audit Auditor
	// TSA is the timestamp authority's URL for B-T, B-LT, B-LTA and
	// timestamped signHash; empty means none.
	TSA string
	// DefaultLevel is the PAdES level of requests that name none: B-B
	// (when empty), B-T, B-LT or B-LTA.
	DefaultLevel string
	// TemplatesPath is the kyso.templates/v1 file with the signers' images,
	// used by profile signatures whose request carries no image (as `kyso
	// sign --profile` uses --templates); empty means no templates. It is
	// read for every request, so edits take effect without a restart.
	TemplatesPath string
	// Verify is the trust and revocation setup of verifyPdf and of the
	// B-LT/B-LTA extension.
	Verify VerifyConfig
	// DialogTimeout bounds every dialog; a dialog not answered in time is a
	// cancel (DIALOG_TIMEOUT). Zero means DefaultDialogTimeout.
	DialogTimeout time.Duration
	Version       string
	// Logger receives diagnostics; nil discards them. PINs are never
	// logged.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PINSession, when positive, keeps a token logged in after a request
	// whose PIN login succeeded, for at most this long after that login:
	// later requests on the token show a confirmation without a PIN field
	// (still one dialog per request). Zero logs the token out before and
	// after every request. Only the machine policy sets it
	// (pinSessionSeconds); at most MaxPINSession.
	PINSession time.Duration
	// Notify receives the agent's notices (activity changes, finished and
	// failed requests, a slow timestamp authority) for the desktop edge.
	// It is called synchronously from the requests and must not block.
	Notify func(Notice)
}

// MaxPINSession caps Config.PINSession: a working day.
const MaxPINSession = 8 * time.Hour

// relockTimeout bounds the logout after a request: a driver stuck in a
// cancelled signature must not hold the token forever.
const relockTimeout = 30 * time.Second

// Agent is the signing agent: it implements Service over a KeyStore, asks
// the user through a Prompter and records to an Auditor.
type Agent struct {
	// verifiedKeys holds "tokenID/handle" of key and certificate pairs that
	// produced a signature the certificate's key verified.
	verifiedKeys sync.Map
	keys         KeyStore
	gate         Gate
	prompter     Prompter
	audit        Auditor
	// settings holds the TSA and default level, which the tray's settings
	// change while the agent runs (SetDefaults).
	settings      atomic.Pointer[runtimeSettings]
	notify        func(Notice)
	dialogs       atomic.Int64
	templatesPath string
	verify        VerifyConfig
	dialogTimeout time.Duration
	version       string
	log           *slog.Logger
	now           func() time.Time

	pinSession time.Duration

	// tokens serialises signing per token (one dialog and one login per
	// token at a time) and holds each token's PIN session.
	mu     sync.Mutex
	tokens map[string]*tokenGuard
	closed bool
	// busy counts held token semaphores and open dialogs, for Status.
	busy atomic.Int64

	// cacheMu guards what requests remember between them, so that a
	// request in a PIN session that names its certificate usually neither
	// scans the slots nor checks a certificate signature (each dearer
	// than the token's own signature on SoftHSM): known is what the last
	// listing said about each token (label, pinpad, PIN state); chains
	// holds the chain built for each certificate from a given set of CA
	// certificates (a pure function of them).
	cacheMu sync.Mutex
	known   map[string]token.TokenInfo
	chains  map[token.Handle]chainEntry
	// certs is the last certificate listing of a signing request, made
	// at certsAt (real time), for recentCertificates.
	certs   []*token.Certificate
	certsAt time.Time
}

// certsMaxAge is how long a signing request that names its certificate
// may sign from the previous request's certificate listing rather than
// scan every slot (the dearest part of a request after the signature and
// the audit log's sync). Token events and failed requests end it sooner.
const certsMaxAge = 250 * time.Millisecond

// chainEntry is a certificate's chain built from the CA certificates
// whose handles, in order, make pool.
type chainEntry struct {
	pool  string
	chain []*x509.Certificate
}

// maxChains bounds the chain cache: certificates of tokens that come and
// go should not pile up in a long-running agent.
const maxChains = 256

var _ Service = (*Agent)(nil)

// New checks cfg and builds an Agent.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Keys == nil:
		return nil, errors.New("agent: Config.Keys is required")
	case cfg.Gate == nil:
		return nil, errors.New("agent: Config.Gate is required")
	case cfg.Prompter == nil:
		return nil, errors.New("agent: Config.Prompter is required")
	}
	a := &Agent{
		keys:          cfg.Keys,
		gate:          cfg.Gate,
		prompter:      cfg.Prompter,
		audit:         cfg.Audit,
		templatesPath: cfg.TemplatesPath,
		verify:        cfg.Verify,
		dialogTimeout: cfg.DialogTimeout,
		version:       cfg.Version,
		log:           cfg.Logger,
		now:           cfg.Now,
		pinSession:    cfg.PINSession,
		tokens:        map[string]*tokenGuard{},
		known:         map[string]token.TokenInfo{},
		chains:        map[token.Handle]chainEntry{},
	}
	if a.dialogTimeout <= 0 {
		a.dialogTimeout = DefaultDialogTimeout
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.notify = cfg.Notify
	if a.notify == nil {
		a.notify = func(Notice) {}
	}
	if a.pinSession < 0 || a.pinSession > MaxPINSession {
		return nil, fmt.Errorf("agent: PIN session %s is outside 0 to %s", a.pinSession, MaxPINSession)
	}
	if err := a.SetDefaults(cfg.TSA, cfg.DefaultLevel); err != nil {
		return nil, err
	}
	return a, nil
}

// Admit asks the gate whether origin may connect.
func (a *Agent) Admit(ctx context.Context, origin string) error {
	return a.gate.Admit(ctx, origin)
}

// OriginAllowed reports, without asking anyone, whether origin is already
// allowed (machine policy or the user's list). The bridge's hello endpoint
// uses it to answer CORS only for such origins; a gate that cannot tell
// allows nothing.
func (a *Agent) OriginAllowed(origin string) bool {
	g, ok := a.gate.(interface{ OriginAllowed(string) bool })
	return ok && g.OriginAllowed(origin)
}

// checkCaller refuses a caller that is neither local nor an origin: the
// bridge never makes one, so it is a bug at the edge, and dialogs and the
// audit log must always name who asked.
func checkCaller(c Caller) error {
	if !c.Local && c.Origin == "" {
		return badRequest("the caller has no origin")
	}
	return nil
}

// ListCertificates lists the end-entity certificates on the tokens that
// match f.
func (a *Agent) ListCertificates(ctx context.Context, c Caller, f CertificateFilter) ([]CertificateInfo, error) {
	if err := checkCaller(c); err != nil {
		return nil, err
	}
	certs, err := a.keys.Certificates(ctx)
	if err != nil {
		return nil, err
	}
	labels := a.labelsFor(ctx, certs)
	now := a.now()
	out := []CertificateInfo{}
	for _, ce := range certs {
		if ce.IsCA || !f.match(ce, now) {
			continue
		}
		out = append(out, certInfo(ce, labels[ce.TokenID]))
	}
	return out, nil
}

// match applies the filter; zero fields do not filter.
func (f CertificateFilter) match(ce *token.Certificate, now time.Time) bool {
	switch {
	case f.Kind != "" && ce.Identity.Kind != f.Kind:
		return false
	case f.Issuer != "" && !strings.Contains(strings.ToLower(ce.Issuer), strings.ToLower(f.Issuer)):
		return false
	case f.ValidNow && !ce.ValidAt(now):
		return false
	case f.Signing && !ce.CanSign():
		return false
	case f.WithKey && !ce.HasPrivateKey:
		return false
	case f.TokenID != "" && ce.TokenID != f.TokenID:
		return false
	case f.Handle != "" && !strings.EqualFold(string(ce.Handle), string(f.Handle)):
		return false
	}
	return true
}

// tokenLabels maps token IDs to labels; a failed listing only costs the
// labels.
func (a *Agent) tokenLabels(ctx context.Context) map[string]string {
	toks, err := a.listTokens(ctx)
	if err != nil {
		a.log.Debug("listing tokens", "err", err)
	}
	m := make(map[string]string, len(toks))
	for _, t := range toks {
		m[t.ID] = t.Label
	}
	return m
}

// listTokens lists the tokens present (a rescan of the slots) and
// remembers what it saw.
func (a *Agent) listTokens(ctx context.Context) ([]token.TokenInfo, error) {
	toks, err := a.keys.Tokens(ctx)
	if err == nil {
		a.cacheMu.Lock()
		clear(a.known)
		for _, t := range toks {
			a.known[t.ID] = t
		}
		a.cacheMu.Unlock()
	}
	return toks, err
}

// labelsFor maps the tokens of certs to their labels as last listed, and
// lists the tokens again only when one of them was not known then: a
// token's label is set when it is initialised, and Certificates has just
// rescanned the slots anyway.
func (a *Agent) labelsFor(ctx context.Context, certs []*token.Certificate) map[string]string {
	a.cacheMu.Lock()
	m := make(map[string]string, len(a.known))
	for id, t := range a.known {
		m[id] = t.Label
	}
	a.cacheMu.Unlock()
	for _, ce := range certs {
		if _, ok := m[ce.TokenID]; !ok {
			return a.tokenLabels(ctx)
		}
	}
	return m
}

// knownToken is what the last listing said about a token.
func (a *Agent) knownToken(tokenID string) (token.TokenInfo, bool) {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	t, ok := a.known[tokenID]
	return t, ok
}

// chainOf returns the chain of ce built from the CA certificates in all,
// building it only when this certificate and these CA certificates have
// not been seen together before: every link is a signature check.
func (a *Agent) chainOf(ce *token.Certificate, all []*token.Certificate) []*x509.Certificate {
	var pool strings.Builder
	for _, c := range all {
		if c.IsCA {
			pool.WriteString(string(c.Handle))
			pool.WriteByte(' ')
		}
	}
	a.cacheMu.Lock()
	e, ok := a.chains[ce.Handle]
	a.cacheMu.Unlock()
	if ok && e.pool == pool.String() {
		return e.chain
	}
	chain := chainFor(ce.X509, all)
	a.cacheMu.Lock()
	if len(a.chains) >= maxChains {
		clear(a.chains)
	}
	a.chains[ce.Handle] = chainEntry{pool: pool.String(), chain: chain}
	a.cacheMu.Unlock()
	return chain
}

func certInfo(ce *token.Certificate, tokenLabel string) CertificateInfo {
	return CertificateInfo{
		Handle:      ce.Handle,
		Identity:    ce.Identity,
		Issuer:      ce.Issuer,
		Serial:      ce.Serial,
		NotBefore:   ce.NotBefore,
		NotAfter:    ce.NotAfter,
		KeyType:     ce.KeyType,
		KeySize:     ce.KeySize,
		KeyUsage:    ce.KeyUsage,
		TokenID:     ce.TokenID,
		TokenLabel:  tokenLabel,
		Certificate: ce.X509.Raw,
	}
}

// publicToken is a token as pages see it: without the module's path on
// disk (which tells about the machine, not the token) and the hardware
// serial number (an identifier that follows the user across sites). The
// token ID is a digest of both and stays.
func publicToken(t token.TokenInfo) token.TokenInfo {
	t.Module = ""
	t.Serial = ""
	return t
}

// VerifyPDF verifies a document with the configured trust.
func (a *Agent) VerifyPDF(ctx context.Context, c Caller, doc Document) (*VerificationReport, error) {
	if err := checkCaller(c); err != nil {
		return nil, err
	}
	rep, err := VerifyDocument(ctx, bytes.NewReader(doc.Data), int64(len(doc.Data)), a.verify)
	if err != nil {
		return nil, err
	}
	rep.File = displayName(doc.Name)
	return rep, nil
}

// Status tells the caller the agent's version, the tokens present, how
// many modules are loaded and whether a signature is under way.
func (a *Agent) Status(ctx context.Context, c Caller) (*Status, error) {
	if err := checkCaller(c); err != nil {
		return nil, err
	}
	toks, err := a.listTokens(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{Version: a.version, Tokens: make([]token.TokenInfo, 0, len(toks)), Modules: a.keys.Loaded(), Busy: a.busy.Load() > 0}
	for _, t := range toks {
		st.Tokens = append(st.Tokens, publicToken(t))
	}
	return st, nil
}

// Events translates the token layer's events until ctx ends. Each call
// gets its own channel; fanning out to connections is the bridge's job.
func (a *Agent) Events(ctx context.Context) <-chan Event {
	in := a.keys.Watch(ctx)
	out := make(chan Event, 16)
	go func() {
		defer close(out)
		for {
			var ev token.Event
			var ok bool
			select {
			case <-ctx.Done():
				return
			case ev, ok = <-in:
				if !ok {
					return
				}
			}
			a.forgetCertificates()
			if ev.Type == token.EventTokenRemoved {
				// A token pulled out loses its login; whatever comes back
				// in that slot must ask for the PIN.
				a.forgetSession(ev.Token.ID)
			}
			e := Event{Type: string(ev.Type)}
			switch ev.Type {
			case token.EventCertificatesChanged:
				list := []CertificateInfo{}
				for _, ce := range ev.Certificates {
					if !ce.IsCA {
						list = append(list, certInfo(ce, ev.Token.Label))
					}
				}
				e.Data = list
			default:
				e.Data = publicToken(ev.Token)
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// chosen is the certificate a request signs with.
type chosen struct {
	cert  *token.Certificate
	chain []*x509.Certificate
	info  CertificateInfo
}

// choose picks the certificate: the one the caller named (present, with
// its key, able to sign and valid now), else the only one that can sign
// now, else the one the user picks. want narrows an automatic choice to
// the kind a profile needs, when certificates of that kind exist.
func (a *Agent) choose(ctx context.Context, c Caller, named token.Handle, want token.Kind) (*chosen, error) {
	if named != "" {
		if all := a.recentCertificates(); all != nil {
			if ce := findNamed(all, named); ce != nil && ce.HasPrivateKey && ce.CanSign() && ce.ValidAt(a.now()) {
				labels := a.labelsFor(ctx, all)
				return &chosen{cert: ce, chain: a.chainOf(ce, all), info: certInfo(ce, labels[ce.TokenID])}, nil
			}
		}
	}
	all, err := a.keys.Certificates(ctx)
	if err != nil {
		return nil, err
	}
	a.rememberCertificates(all)
	labels := a.labelsFor(ctx, all)
	now := a.now()
	pick := func(ce *token.Certificate) *chosen {
		return &chosen{cert: ce, chain: a.chainOf(ce, all), info: certInfo(ce, labels[ce.TokenID])}
	}
	if named != "" {
		found := findNamed(all, named)
		switch {
		case found == nil:
			return nil, &Error{Code: CodeNoCertificate, Message: "no present token holds certificate " + string(named)}
		case !found.HasPrivateKey:
			return nil, &Error{Code: CodeNoCertificate, Message: "the private key of certificate " + string(named) + " is not on the token"}
		case !found.CanSign():
			return nil, &Error{Code: CodeNoCertificate, Message: "certificate " + string(named) + " may not sign documents (key usage)"}
		case !found.ValidAt(now):
			return nil, &Error{Code: CodeCertExpired, Message: fmt.Sprintf("certificate %s is valid from %s to %s",
				named, found.NotBefore.Format(time.DateOnly), found.NotAfter.Format(time.DateOnly)),
				Details: map[string]any{"notBefore": found.NotBefore, "notAfter": found.NotAfter}}
		}
		return pick(found), nil
	}
	// The same certificate seen through two modules is one choice.
	seen := map[token.Handle]bool{}
	var usable, kind []*token.Certificate
	for _, ce := range all {
		if ce.IsCA || !ce.HasPrivateKey || !ce.CanSign() || !ce.ValidAt(now) || seen[ce.Handle] {
			continue
		}
		seen[ce.Handle] = true
		usable = append(usable, ce)
		if want != "" && ce.Identity.Kind == want {
			kind = append(kind, ce)
		}
	}
	if len(kind) > 0 {
		usable = kind
	}
	switch len(usable) {
	case 0:
		return nil, &Error{Code: CodeNoCertificate, Message: "no certificate on the tokens can sign now"}
	case 1:
		return pick(usable[0]), nil
	}
	p := ChoosePrompt{Caller: c.String()}
	for _, ce := range usable {
		p.Certificates = append(p.Certificates, certInfo(ce, labels[ce.TokenID]))
	}
	var h token.Handle
	err = a.dialog(ctx, func(dctx context.Context) error {
		var err error
		h, err = a.prompter.ChooseCertificate(dctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	if h == "" {
		return nil, &Error{Code: CodeCertificateChoice, Message: "no certificate was chosen"}
	}
	for _, ce := range usable {
		if ce.Handle == h {
			return pick(ce), nil
		}
	}
	return nil, &Error{Code: CodeNoCertificate, Message: "the chosen certificate was not offered"}
}

// findNamed returns the end-entity certificate with handle named,
// preferring a copy whose private key is on its token.
func findNamed(all []*token.Certificate, named token.Handle) *token.Certificate {
	var found *token.Certificate
	for _, ce := range all {
		if !ce.IsCA && strings.EqualFold(string(ce.Handle), string(named)) {
			found = ce
			if ce.HasPrivateKey {
				break
			}
		}
	}
	return found
}

// recentCertificates returns the certificates of a listing made less than
// certsMaxAge ago, if no token event or failed request came since; nil
// otherwise. A request naming its certificate signs from it instead of
// scanning every slot again: a token pulled out since fails the
// signature, and a certificate not in it is looked for afresh.
func (a *Agent) recentCertificates() []*token.Certificate {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	if a.certs == nil || time.Since(a.certsAt) >= certsMaxAge {
		return nil
	}
	return a.certs
}

// rememberCertificates keeps a listing for recentCertificates.
func (a *Agent) rememberCertificates(all []*token.Certificate) {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	a.certs, a.certsAt = all, time.Now()
}

// forgetCertificates makes the next request list the certificates again.
func (a *Agent) forgetCertificates() {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	a.certs = nil
}

// dialog runs one dialog under the dialog timeout and turns its ending
// into the agent's codes: the caller going away is CANCELLED, nobody
// answering is DIALOG_TIMEOUT, the user's cancel is USER_CANCELLED.
func (a *Agent) dialog(ctx context.Context, show func(context.Context) error) error {
	dctx, cancel := context.WithTimeout(ctx, a.dialogTimeout)
	defer cancel()
	a.busy.Add(1)
	a.dialogs.Add(1)
	a.notify(Notice{Kind: NoticeActivity})
	defer func() {
		a.dialogs.Add(-1)
		a.busy.Add(-1)
		a.notify(Notice{Kind: NoticeActivity})
	}()
	err := show(dctx)
	switch {
	case ctx.Err() != nil:
		// Also when the prompter answered: the request is gone, and so is
		// the consent it asked for.
		return fmt.Errorf("agent: dialog: %w", ctx.Err())
	case dctx.Err() != nil:
		return &Error{Code: CodeDialogTimeout, Message: "nobody answered the dialog in time", Err: err}
	case err == nil:
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) && ae.Code == CodeUserCancelled {
		return err
	}
	return &Error{Code: CodeInternal, Message: "the dialog failed", Err: err}
}

// acquire takes the token's semaphore, waiting for a request already
// signing on it, until ctx ends.
func (a *Agent) acquire(ctx context.Context, tokenID string) (g *tokenGuard, release func(), err error) {
	g = a.guard(tokenID)
	select {
	case g.sem <- struct{}{}:
		a.busy.Add(1)
		a.notify(Notice{Kind: NoticeActivity})
		return g, func() {
			a.busy.Add(-1)
			<-g.sem
			a.notify(Notice{Kind: NoticeActivity})
		}, nil
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("agent: waiting for the token: %w", ctx.Err())
	}
}

// relock logs the token out after a request, so the next one asks for the
// PIN again, and then releases it. It runs even when ctx has ended; the
// caller waits for it unless the request was cancelled, in which case the
// token stays held until the logout is done.
func (a *Agent) relock(ctx context.Context, tokenID string, release func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer release()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relockTimeout)
		defer cancel()
		if err := a.keys.Lock(lctx, tokenID); err != nil {
			a.log.Debug("logging the token out after a request", "token", tokenID, "err", err)
		}
	}()
	if ctx.Err() == nil {
		<-done
	}
}

// record writes an audit record, stamped with the time; without an
// Auditor there is no audit log.
func (a *Agent) record(r AuditRecord) error {
	r.Time = a.now()
	if a.audit == nil {
		return nil
	}
	if err := a.audit.Record(r); err != nil {
		a.log.Error("audit log", "err", err)
		return &Error{Code: CodeInternal, Message: "the audit log cannot be written", Err: err}
	}
	return nil
}

// resultOf is the audit Result of err.
func resultOf(err error) string {
	if err == nil {
		return "ok"
	}
	code, _ := CodeOf(err)
	return code
}

// displayName makes a caller-given name safe to show and log: control and
// formatting characters (line breaks, bidirectional overrides that make
// "gpj.exe" read "exe.jpg") are dropped, and the length is capped.
func displayName(s string) string {
	const maxRunes = 200
	var b strings.Builder
	n := 0
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			continue
		}
		if n == maxRunes {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// checkDocument refuses a document kyso cannot sign before anyone is
// asked anything; the error keeps pades' code and names the document.
func checkDocument(i int, doc Document) error {
	if err := pades.Check(bytes.NewReader(doc.Data), int64(len(doc.Data))); err != nil {
		code := string(pades.CodeOf(err))
		if code == "" {
			code = string(pades.CodeBadDocument)
		}
		name := displayName(doc.Name)
		return &Error{Code: code, Message: fmt.Sprintf("document %d (%s)", i+1, name),
			Details: map[string]any{"document": name, "index": i}, Err: err}
	}
	return nil
}
