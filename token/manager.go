package token

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
)

// Options configures a Manager.
type Options struct {
	// Modules are PKCS#11 library paths to load (from configuration or the
	// command line).
	Modules []string
	// Discover adds the modules found in the standard folders of this
	// operating system under the names Vietnamese CAs ship (see Discover).
	Discover bool
	// PollInterval is how often the slot list of a module without
	// C_WaitForSlotEvent is rescanned while someone watches for events.
	// Zero means one second, which is also the minimum: some drivers talk to
	// the card reader on every C_GetSlotList.
	PollInterval time.Duration
	// Logger receives diagnostics; nil discards them. PINs are never logged.
	Logger *slog.Logger
}

// Manager is the PKCS#11 key store: it loads modules, follows the tokens in
// their slots, lists certificates with their keys, and signs. It is safe for
// concurrent use; each token's session is used by one goroutine at a time.
type Manager struct {
	log          *slog.Logger
	pollInterval time.Duration
	status       []ModuleStatus
	mods         []*module

	scanMu map[*module]*sync.Mutex // one rescan of a module at a time

	mu       sync.Mutex
	tokens   map[string]*tokenState // present tokens by TokenInfo.ID
	watchers map[chan Event]struct{}
	watching bool

	closeOnce sync.Once
	closed    chan struct{}
}

// NewManager loads the configured (and, with Options.Discover, the
// discovered) modules. A module that cannot be loaded is reported in
// Modules() with its reason and does not stop the others; NewManager itself
// does not fail.
func NewManager(opts Options) *Manager {
	m := &Manager{
		log:          opts.Logger,
		pollInterval: max(opts.PollInterval, time.Second),
		scanMu:       map[*module]*sync.Mutex{},
		tokens:       map[string]*tokenState{},
		watchers:     map[chan Event]struct{}{},
		closed:       make(chan struct{}),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	paths := opts.Modules
	if opts.Discover {
		paths = Discover(opts.Modules)
	}
	seen := map[*module]bool{}
	for _, p := range paths {
		mod, err := loadModule(p)
		if err != nil {
			m.log.Warn("PKCS#11 module not loaded", "path", p, "err", err)
			m.status = append(m.status, ModuleStatus{Path: p, Error: err.Error()})
			continue
		}
		if seen[mod] {
			continue
		}
		seen[mod] = true
		m.mods = append(m.mods, mod)
		m.scanMu[mod] = &sync.Mutex{}
		m.status = append(m.status, mod.status())
	}
	return m
}

// Modules reports every module the manager tried to load.
func (m *Manager) Modules() []ModuleStatus {
	return append([]ModuleStatus(nil), m.status...)
}

// Loaded reports how many modules are loaded.
func (m *Manager) Loaded() int { return len(m.mods) }

// Close stops watching for events. Modules stay loaded: see loadModule.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		close(m.closed)
		m.mu.Lock()
		for ch := range m.watchers {
			close(ch)
			delete(m.watchers, ch)
		}
		m.mu.Unlock()
	})
	return nil
}

// Tokens rescans every module and returns the tokens present, sorted by
// module and slot. Modules are scanned concurrently; when ctx ends before a
// module answers, the tokens last seen in it are returned, so a token that
// hangs does not hold up the others.
func (m *Manager) Tokens(ctx context.Context) ([]TokenInfo, error) {
	m.rescanAll(ctx, false)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TokenInfo, 0, len(m.tokens))
	for _, ts := range m.tokens {
		out = append(out, ts.snapshot())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Module != out[j].Module {
			return out[i].Module < out[j].Module
		}
		return out[i].SlotID < out[j].SlotID
	})
	return out, ctx.Err()
}

// Certificates rescans the modules and returns every certificate on every
// present token.
func (m *Manager) Certificates(ctx context.Context) ([]*Certificate, error) {
	toks, err := m.Tokens(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Certificate
	for _, t := range toks {
		if ts := m.tokens[t.ID]; ts != nil {
			out = append(out, ts.certs...)
		}
	}
	return out, err
}

// Certificate returns the certificate with handle h on a present token.
func (m *Manager) Certificate(ctx context.Context, h Handle) (*Certificate, error) {
	s, err := m.SignerOn(ctx, "", h, nil)
	if err != nil {
		return nil, err
	}
	return s.Certificate(), nil
}

// Lock logs the token out now, so the next signature asks for the PIN again.
func (m *Manager) Lock(ctx context.Context, tokenID string) error {
	m.mu.Lock()
	ts := m.tokens[tokenID]
	m.mu.Unlock()
	if ts == nil {
		return &Error{Code: CodeTokenAbsent, Op: "lock"}
	}
	if err := ts.acquire(ctx); err != nil {
		return err
	}
	defer ts.release()
	ts.dropSession(true)
	return nil
}

// locate finds a present token holding the certificate with handle h,
// preferring the token named by tokenID: the same token can be visible
// through two modules, and the same certificate can sit on two tokens.
func (m *Manager) locate(h Handle, tokenID string) (*tokenState, *Certificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ts := m.tokens[tokenID]; ts != nil {
		for _, c := range ts.certs {
			if c.Handle == h {
				return ts, c
			}
		}
	}
	for _, ts := range m.tokens {
		for _, c := range ts.certs {
			if c.Handle == h {
				return ts, c
			}
		}
	}
	return nil, nil
}

// rescanAll rescans every module concurrently, until ctx ends. Events it
// finds go to the watchers like the watcher's own: whichever rescan sees a
// change first must report it. With wait set, a rescan already running on
// a module is waited for rather than skipped, so a lookup sees the token
// that scan is loading.
func (m *Manager) rescanAll(ctx context.Context, wait bool) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, mod := range m.mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.broadcast(m.rescan(mod, wait))
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// rescan compares the tokens present in mod's slots with the known ones and
// returns the resulting events. With wait false, when another rescan of the
// module is running, it waits for that one to finish instead of scanning
// again: its result will do. Returning before it finished would answer
// from a state the scan is still filling in (no certificates yet, right
// after the agent starts and its event watcher scans first).
func (m *Manager) rescan(mod *module, wait bool) []Event {
	mu := m.scanMu[mod]
	if wait {
		mu.Lock()
	} else if !mu.TryLock() {
		mu.Lock()
		//lint:ignore SA2001 waiting for the running scan is the point
		mu.Unlock()
		return nil
	}
	defer mu.Unlock()

	slots, err := mod.ctx.GetSlotList(true)
	if err != nil {
		m.log.Warn("C_GetSlotList failed", "module", mod.path, "rv", RVName(rvOf(err)))
		return nil
	}
	type found struct {
		info TokenInfo
		slot uint
	}
	var present []found
	for _, s := range slots {
		si, err := mod.ctx.GetSlotInfo(s)
		if err != nil {
			continue
		}
		ti, err := mod.ctx.GetTokenInfo(s)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			// Pulled out between the two calls, not a token we can read,
			// or a blank token that cannot hold certificates.
			continue
		}
		present = append(present, found{makeTokenInfo(mod.path, s, si, ti), s})
	}

	var events []Event
	m.mu.Lock()
	seen := map[string]bool{}
	var fresh []found
	for _, f := range present {
		seen[f.info.ID] = true
		if ts := m.tokens[f.info.ID]; ts != nil {
			ts.update(f.info)
			continue
		}
		fresh = append(fresh, f)
	}
	var gone []*tokenState
	for id, ts := range m.tokens {
		if ts.mod == mod && !seen[id] {
			delete(m.tokens, id)
			gone = append(gone, ts)
			events = append(events, Event{Type: EventTokenRemoved, Token: ts.snapshot()})
		}
	}
	m.mu.Unlock()
	// Closing sessions talks to the driver, which may be slow on a dead
	// device; nothing else waits on it.
	for _, ts := range gone {
		ts.markRemoved()
	}

	// Reading certificates talks to the token; do it without holding the
	// manager's lock so other tokens stay usable meanwhile.
	for _, f := range fresh {
		ts := newTokenState(mod, f.slot, f.info, m.log)
		ts.load()
		m.mu.Lock()
		if m.tokens[f.info.ID] == nil {
			m.tokens[f.info.ID] = ts
			snap := ts.snapshot()
			events = append(events,
				Event{Type: EventTokenInserted, Token: snap},
				Event{Type: EventCertificatesChanged, Token: snap, Certificates: append([]*Certificate(nil), ts.certs...)})
		}
		m.mu.Unlock()
	}
	return events
}

// EventType names a change in the tokens.
type EventType string

// Event types.
const (
	EventTokenInserted       EventType = "tokenInserted"
	EventTokenRemoved        EventType = "tokenRemoved"
	EventCertificatesChanged EventType = "certificatesChanged"
)

// Event is a change seen in a module's slots.
type Event struct {
	Type  EventType
	Token TokenInfo
	// Certificates is the token's new certificate list, for
	// EventCertificatesChanged.
	Certificates []*Certificate
}

// Watch returns a channel of token events until ctx ends or the manager is
// closed. Modules with C_WaitForSlotEvent push their events; the others are
// polled every PollInterval. Events are delivered in order; a watcher that
// falls more than 64 events behind loses the oldest ones.
func (m *Manager) Watch(ctx context.Context) <-chan Event {
	ch := make(chan Event, 64)
	m.mu.Lock()
	select {
	case <-m.closed:
		close(ch)
		m.mu.Unlock()
		return ch
	default:
	}
	m.watchers[ch] = struct{}{}
	start := !m.watching
	m.watching = true
	m.mu.Unlock()
	if start {
		// Establish the baseline so the first events are real changes.
		m.rescanAll(context.Background(), true)
		for _, mod := range m.mods {
			go m.watchModule(mod)
		}
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-m.closed:
			return
		}
		m.mu.Lock()
		if _, ok := m.watchers[ch]; ok {
			delete(m.watchers, ch)
			close(ch)
		}
		m.mu.Unlock()
	}()
	return ch
}

func (m *Manager) watchModule(mod *module) {
	pushed, cancel := mod.subscribe()
	defer cancel()
	var tick <-chan time.Time
	poll := func() {
		t := time.NewTicker(m.pollInterval)
		tick = t.C
		go func() { <-m.closed; t.Stop() }()
	}
	if pushed == nil {
		poll()
	}
	for {
		select {
		case <-m.closed:
			return
		case <-tick:
		case _, ok := <-pushed:
			if !ok {
				// The module stopped supporting waits: poll instead.
				pushed = nil
				poll()
				continue
			}
		}
		m.broadcast(m.rescan(mod, true))
	}
}

func (m *Manager) broadcast(events []Event) {
	if len(events) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range events {
		m.log.Info("token event", "type", e.Type, "token", e.Token.Label, "slot", e.Token.SlotID)
		for ch := range m.watchers {
			select {
			case ch <- e:
				continue
			default:
			}
			// Full: drop the oldest event so the newest state arrives.
			select {
			case old := <-ch:
				m.log.Warn("token event dropped: watcher is not reading", "type", old.Type)
			default:
			}
			select {
			case ch <- e:
			default:
			}
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// tokenState is what the manager knows about one present token.
type tokenState struct {
	mod  *module
	slot uint
	log  *slog.Logger

	// Guarded by the Manager's mu.
	info  TokenInfo
	certs []*Certificate
	keys  map[Handle]keyRef
	mechs map[uint]bool

	label   string      // fixed at insertion; safe to read without a lock
	removed atomic.Bool // set when the token left its slot

	// sem serialises use of the session: PKCS#11 sessions are not meant for
	// concurrent operations, and real tokens sign one request at a time.
	sem chan struct{}
	// Guarded by sem.
	session    pkcs11.SessionHandle
	hasSession bool
	keyHandles map[Handle]keyHandle
}

// keyRef says how to find a certificate's private key once logged in.
type keyRef struct {
	id  []byte // CKA_ID of the key pair (the certificate's, or that of the matching public key)
	pub any    // the certificate's public key, for matching by value
}

type keyHandle struct {
	obj        pkcs11.ObjectHandle
	alwaysAuth bool
}

func newTokenState(mod *module, slot uint, info TokenInfo, log *slog.Logger) *tokenState {
	return &tokenState{mod: mod, slot: slot, info: info, label: info.Label, log: log, sem: make(chan struct{}, 1), keys: map[Handle]keyRef{}, mechs: map[uint]bool{}}
}

func (ts *tokenState) snapshot() TokenInfo {
	info := ts.info
	info.Mechanisms = append([]string(nil), ts.info.Mechanisms...)
	return info
}

func (ts *tokenState) update(info TokenInfo) {
	mechs := ts.info.Mechanisms
	ts.info = info
	ts.info.Mechanisms = mechs
}

func (ts *tokenState) markRemoved() {
	ts.removed.Store(true)
	// Drop the session if nobody is using it; a signature in flight finds
	// the token gone and drops it itself.
	select {
	case ts.sem <- struct{}{}:
		ts.dropSession(false)
		<-ts.sem
	default:
	}
}

// load reads the token's mechanisms and certificates, pairing each
// certificate with its key. It runs before the state is published, so it
// needs no lock.
func (ts *tokenState) load() {
	ctx := ts.mod.ctx
	if ms, err := ctx.GetMechanismList(ts.slot); err == nil {
		var names []string
		for _, mm := range ms {
			ts.mechs[mm.Mechanism] = true
			if _, ok := mechanismNames[mm.Mechanism]; ok {
				names = append(names, mechanismName(mm.Mechanism))
			}
		}
		sort.Strings(names)
		ts.info.Mechanisms = names
	}
	if ts.info.Mechanisms == nil {
		ts.info.Mechanisms = []string{}
	}
	s, err := ctx.OpenSession(ts.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		ts.log.Warn("cannot open a session to read certificates", "token", ts.info.Label, "rv", RVName(rvOf(err)))
		return
	}
	defer ctx.CloseSession(s)

	certObjs := findObjects(ctx, s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	})
	pubs := readKeyObjects(ctx, s, pkcs11.CKO_PUBLIC_KEY)
	privs := readKeyObjects(ctx, s, pkcs11.CKO_PRIVATE_KEY) // often empty before login
	for _, o := range certObjs {
		der := attr(ctx, s, o, pkcs11.CKA_VALUE)
		if der == nil {
			continue
		}
		x, err := x509.ParseCertificate(der)
		if err != nil {
			ts.log.Warn("unparsable certificate on token", "token", ts.info.Label, "err", err)
			continue
		}
		c := newCertificate(x)
		id := attr(ctx, s, o, pkcs11.CKA_ID)
		c.ID = hex.EncodeToString(id)
		c.Label = string(attr(ctx, s, o, pkcs11.CKA_LABEL))
		c.TokenID = ts.info.ID
		// The ref is kept even when no key object is visible yet: many
		// tokens show private keys only after login, and the CKA_ID is
		// then the only way to find an EC key.
		ref, ok := pairKey(x, id, pubs, privs)
		c.HasPrivateKey = ok
		ts.keys[c.Handle] = ref
		ts.certs = append(ts.certs, c)
	}
	sort.Slice(ts.certs, func(i, j int) bool { return ts.certs[i].Label < ts.certs[j].Label })
}

// acquire takes the token's session for the caller.
func (ts *tokenState) acquire(ctx context.Context) error {
	select {
	case ts.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &Error{Code: CodeCancelled, Op: "wait for token", Token: ts.label, Err: ctx.Err()}
	}
}

func (ts *tokenState) release() { <-ts.sem }

// dropSession closes the session (logging the token out when logout is
// set, or when it was the application's last session). Caller holds sem.
func (ts *tokenState) dropSession(logout bool) {
	if !ts.hasSession {
		if logout {
			// Another session of this process may still hold the login.
			_ = ts.mod.ctx.CloseAllSessions(ts.slot)
		}
		return
	}
	if logout {
		_ = ts.mod.ctx.Logout(ts.session)
	}
	_ = ts.mod.ctx.CloseSession(ts.session)
	ts.hasSession = false
	ts.keyHandles = nil
}

func findObjects(ctx *pkcs11.Ctx, s pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) []pkcs11.ObjectHandle {
	if err := ctx.FindObjectsInit(s, tmpl); err != nil {
		return nil
	}
	defer ctx.FindObjectsFinal(s)
	var out []pkcs11.ObjectHandle
	for {
		objs, _, err := ctx.FindObjects(s, 64)
		if err != nil || len(objs) == 0 {
			return out
		}
		out = append(out, objs...)
	}
}

// attr reads one attribute; nil when the object does not have it. Reading
// attributes one by one keeps one absent attribute from hiding the others,
// which is how several modules answer a multi-attribute query.
func attr(ctx *pkcs11.Ctx, s pkcs11.SessionHandle, o pkcs11.ObjectHandle, typ uint) []byte {
	as, err := ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil || len(as) == 0 {
		return nil
	}
	return as[0].Value
}

func trimPad(s string) string { return strings.TrimRight(s, " \x00") }
