package tray

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/token"
)

// AgentControl is what the App needs of the running agent (*agent.Agent).
type AgentControl interface {
	agent.Service
	Activity() agent.Activity
	Defaults() (tsaURL, level string)
	SetDefaults(tsaURL, level string) error
	LockToken(ctx context.Context, tokenID string) error
}

// SiteList is the user's approved sites (*agent.OriginGate).
type SiteList interface {
	Approved() []agent.ApprovedOrigin
	Revoke(origin string) error
	RevokeAll() error
}

// Autostart turns starting at login on and off (the installer's per-user
// autostart).
type Autostart interface {
	Enabled() bool
	SetEnabled(on bool) error
}

// AppConfig is what an App shows and acts on.
type AppConfig struct {
	Agent AgentControl
	Sites SiteList
	// Managed are the machine policy's allowed patterns: shown, not
	// removable.
	Managed []agent.OriginPattern
	// Notices are the agent's notices (agent.Config.Notify feeds them);
	// Watch reads them.
	Notices <-chan agent.Notice
	// EditUserConfig changes the user's configuration file, where settings
	// changed from the menu are saved (OriginGate.EditUserConfig: one
	// writer for the file, so that the gate's saves of the approved sites
	// and the menu's never undo each other).
	EditUserConfig func(edit func(*agent.UserConfig)) error
	// Templates is the templates file the certificates' pictures go to.
	Templates string
	// AuditDir is the audit log's folder (recent activity, "open audit
	// log").
	AuditDir string
	// TSALocked and LevelLocked: the machine policy fixes them.
	TSALocked, LevelLocked bool
	Actions                *Actions
	Dialogs                Dialogs
	Notifier               Notifier
	Autostart              Autostart // nil: the item shows off and does nothing
	// Diagnose returns the diagnostics report shown by "Chẩn đoán".
	Diagnose func(ctx context.Context, lang i18n.Lang) string
	// OnLanguage is told when the user picks another language, for the
	// windows the App does not own (the agent's dialogs, its own).
	OnLanguage func(i18n.Lang)
	// Quit stops kyso run.
	Quit    func()
	Port    int
	Version string
	Lang    i18n.Lang
	Logger  *slog.Logger
}

// recentCount is how many audit records the menu shows.
const recentCount = 8

// App is the tray's behaviour over a running agent: it builds the menu's
// State from the agent, the approved sites, the settings and the audit
// log, carries out the menu's clicks, and turns the agent's notices and
// token events into desktop notifications.
type App struct {
	cfg AppConfig
	log *slog.Logger

	mu      sync.Mutex
	lang    i18n.Lang
	lastErr string
	refresh func()
	// view is what State shows of the tokens, the audit log and the
	// autostart, read again only when stale: the tray redraws on every
	// dialog and token taken or released, and none of those change them,
	// while reading them means PKCS#11 calls, the whole audit log and a
	// systemctl process.
	view appView
}

// appView is the part of State read from outside the process, and which
// parts need reading again.
type appView struct {
	tokens       []TokenView
	certs        []CertView
	recent       []ActivityView
	startAtLogin bool
	// stale is the parts to read again.
	stale viewPart
}

// viewPart names parts of appView.
type viewPart uint8

const (
	partTokens    viewPart = 1 << iota // tokens and certificates
	partRecent                         // recent activity
	partAutostart                      // start at login
	partAll       = partTokens | partRecent | partAutostart
)

// NewApp returns an App; SetRefresh connects it to the tray it drives.
func NewApp(cfg AppConfig) *App {
	a := &App{cfg: cfg, log: cfg.Logger, lang: cfg.Lang, refresh: func() {},
		view: appView{stale: partAll}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.lang != i18n.English {
		a.lang = i18n.Vietnamese
	}
	return a
}

// SetRefresh sets what redraws the tray (Tray.Refresh) when the state
// changes.
func (a *App) SetRefresh(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refresh = f
}

func (a *App) redraw() {
	a.mu.Lock()
	f := a.refresh
	a.mu.Unlock()
	f()
}

// Lang is the language the menu and messages use now.
func (a *App) Lang() i18n.Lang {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lang
}

// State captures what the menu shows now.
func (a *App) State() State {
	s := State{Version: a.cfg.Version, Port: a.cfg.Port, Lang: a.Lang(), Now: time.Now()}
	v := a.readView()
	s.Tokens, s.Certificates, s.Recent = v.tokens, v.certs, v.recent
	if a.cfg.Sites != nil {
		s.Approved = SitesFrom(a.cfg.Managed, a.cfg.Sites.Approved())
	}
	act := a.cfg.Agent.Activity()
	s.Busy, s.WaitingForUser = act.Busy, act.WaitingForUser
	a.mu.Lock()
	s.LastError = a.lastErr
	a.mu.Unlock()
	tsa, level := a.cfg.Agent.Defaults()
	s.Settings = SettingsView{Language: s.Lang, TSA: tsa, DefaultLevel: level, TSALocked: a.cfg.TSALocked,
		LevelLocked: a.cfg.LevelLocked, StartAtLogin: v.startAtLogin}
	return s
}

// stale marks parts of the view to be read again at the next State.
func (a *App) stale(parts viewPart) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.view.stale |= parts
}

// readView reads the stale parts of the view again and returns it. The
// reads happen outside the lock; a part marked stale meanwhile stays
// stale.
func (a *App) readView() appView {
	a.mu.Lock()
	v := a.view
	a.view.stale = 0
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	local := agent.Caller{Local: true}
	if v.stale&partTokens != 0 {
		v.tokens, v.certs = nil, nil
		if st, err := a.cfg.Agent.Status(ctx, local); err == nil {
			v.tokens = TokensFrom(st.Tokens)
		} else {
			a.log.Warn("tray: listing tokens", "err", err)
			a.stale(partTokens)
		}
		if len(v.tokens) > 0 {
			if certs, err := a.cfg.Agent.ListCertificates(ctx, local, agent.CertificateFilter{}); err == nil {
				v.certs = CertificatesFrom(certs)
			} else {
				a.log.Warn("tray: listing certificates", "err", err)
				a.stale(partTokens)
			}
		}
	}
	if v.stale&partRecent != 0 && a.cfg.AuditDir != "" {
		if recs, _, err := agent.ReadAudit(a.cfg.AuditDir); err == nil {
			v.recent = ActivityFrom(recs, recentCount)
		}
	}
	if v.stale&partAutostart != 0 && a.cfg.Autostart != nil {
		v.startAtLogin = a.cfg.Autostart.Enabled()
	}
	a.mu.Lock()
	a.view.tokens, a.view.certs, a.view.recent, a.view.startAtLogin = v.tokens, v.certs, v.recent, v.startAtLogin
	a.mu.Unlock()
	return v
}

// Dispatch carries out the menu item id; it returns when the action is
// done (a file signed, a dialog closed). Failures are told to the user,
// never returned: there is nobody else to tell.
func (a *App) Dispatch(id string) {
	ctx := context.Background()
	defer a.redraw()
	l := a.Lang()
	switch {
	case strings.HasPrefix(id, PrefixRevoke):
		origin := strings.TrimPrefix(id, PrefixRevoke)
		if err := a.cfg.Sites.Revoke(origin); err != nil {
			a.fail(ctx, l.T("tray.revoke.failed", origin), err)
		}
	case id == IDRevokeAll:
		if err := a.cfg.Sites.RevokeAll(); err != nil {
			a.fail(ctx, l.T("tray.revoke.failed", "*"), err)
		}
	case strings.HasPrefix(id, PrefixLock):
		a.lockToken(ctx, strings.TrimPrefix(id, PrefixLock))
	case id == IDSignFile:
		a.signFile(ctx)
	case id == IDVerifyFile:
		a.verifyFile(ctx)
	case id == IDOpenAudit:
		if err := a.cfg.Dialogs.Open(ctx, a.cfg.AuditDir); err != nil {
			a.fail(ctx, l.T("tray.openAudit"), err)
		}
	case strings.HasPrefix(id, PrefixLang):
		a.setLanguage(ctx, i18n.Parse(strings.TrimPrefix(id, PrefixLang)))
	case strings.HasPrefix(id, PrefixLevel):
		tsa, _ := a.cfg.Agent.Defaults()
		a.setDefaults(ctx, tsa, strings.TrimPrefix(id, PrefixLevel))
	case id == IDSetTSA:
		a.askTSA(ctx)
	case strings.HasPrefix(id, PrefixSignatureImage):
		a.setImage(ctx, strings.TrimPrefix(id, PrefixSignatureImage), agent.SignatureImage)
	case strings.HasPrefix(id, PrefixSealImage):
		a.setImage(ctx, strings.TrimPrefix(id, PrefixSealImage), agent.SealImage)
	case id == IDStartAtLogin:
		defer a.stale(partAutostart)
		if a.cfg.Autostart != nil {
			if err := a.cfg.Autostart.SetEnabled(!a.cfg.Autostart.Enabled()); err != nil {
				a.fail(ctx, l.T("tray.settings.startAtLogin"), err)
			}
		}
	case id == IDDiagnostics:
		text := l.T("tray.diagnostics.none")
		if a.cfg.Diagnose != nil {
			text = a.cfg.Diagnose(ctx, l)
		}
		a.show(ctx, a.cfg.Dialogs.ShowText(ctx, l.T("tray.diagnostics"), text))
	case id == IDAbout:
		a.show(ctx, a.cfg.Dialogs.Message(ctx, l.T("tray.about"), l.T("tray.about.text", a.cfg.Version, a.cfg.Port, a.cfg.AuditDir), false))
	case id == IDQuit:
		if a.cfg.Quit != nil {
			a.cfg.Quit()
		}
	default:
		a.log.Warn("tray: unknown menu item", "id", id)
	}
}

// show logs a dialog that could not be shown; cancelling it is fine.
func (a *App) show(_ context.Context, err error) {
	if err != nil && !quiet(err) {
		a.log.Warn("tray: dialog", "err", err)
	}
}

// fail tells the user that what they asked for did not happen, and keeps
// it as the menu's last error.
func (a *App) fail(ctx context.Context, what string, err error) {
	a.log.Warn("tray: action failed", "action", what, "err", err)
	a.mu.Lock()
	a.lastErr = what
	a.mu.Unlock()
	a.show(ctx, a.cfg.Dialogs.Message(ctx, "kyso", what+"\n\n"+err.Error(), true))
}

func (a *App) notify(ctx context.Context, title, body string) {
	if a.cfg.Notifier == nil {
		return
	}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.cfg.Notifier.Notify(nctx, title, body); err != nil {
		a.log.Info("tray: notification not shown", "title", title, "err", err)
	}
}

func (a *App) lockToken(ctx context.Context, tokenID string) {
	l := a.Lang()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.cfg.Agent.LockToken(lctx, tokenID); err != nil {
		a.fail(ctx, l.T("tray.lock.failed"), err)
		return
	}
	a.notify(ctx, l.T("tray.lock.done"), l.T("tray.lock.done.body"))
}

// signProfiles are the choices of "Ký tệp PDF…": a plain signature first.
var signProfiles = []string{"", "approved", "issued", "appendix", "copy", "income", "comment"}

func (a *App) signFile(ctx context.Context) {
	l := a.Lang()
	path, err := a.cfg.Dialogs.PickFile(ctx, l.T("tray.pick.sign"), FilterPDF)
	if err != nil {
		a.show(ctx, err)
		return
	}
	choices := make([]Choice, 0, len(signProfiles))
	for _, p := range signProfiles {
		choices = append(choices, Choice{ID: "profile:" + p, Label: ProfileLabel(l, p)})
	}
	pick, err := a.cfg.Dialogs.Choose(ctx, l.T("tray.signFile"), l.T("tray.choose.profile", filepath.Base(path)), choices)
	if err != nil {
		a.show(ctx, err)
		return
	}
	opts := agent.SignPDFOptions{Profile: strings.TrimPrefix(pick, "profile:")}
	if opts.Profile == "issued" || opts.Profile == "income" {
		num, err := a.cfg.Dialogs.AskText(ctx, l.T("tray.signFile"), l.T("tray.ask.docNumber"), "")
		if err != nil {
			a.show(ctx, err)
			return
		}
		opts.DocNumber = strings.TrimSpace(num)
	}
	out, err := a.cfg.Actions.SignFile(ctx, path, opts)
	if err != nil {
		if msg := a.cfg.Actions.FailureMessage(IDSignFile, path, err); msg != "" {
			a.fail(ctx, msg, err)
		}
		return
	}
	a.notify(ctx, l.T("tray.signFile"), a.cfg.Actions.SignedMessage(out))
}

func (a *App) verifyFile(ctx context.Context) {
	l := a.Lang()
	path, err := a.cfg.Dialogs.PickFile(ctx, l.T("tray.pick.verify"), FilterPDF)
	if err != nil {
		a.show(ctx, err)
		return
	}
	text, _, err := a.cfg.Actions.VerifyFile(ctx, path)
	if err != nil {
		if msg := a.cfg.Actions.FailureMessage(IDVerifyFile, path, err); msg != "" {
			a.fail(ctx, msg, err)
		}
		return
	}
	a.show(ctx, a.cfg.Dialogs.ShowText(ctx, l.T("tray.report.title", filepath.Base(path)), text))
}

func (a *App) setLanguage(ctx context.Context, lang i18n.Lang) {
	if err := a.saveUser(func(u *agent.UserConfig) { u.Language = string(lang) }); err != nil {
		a.fail(ctx, lang.T("tray.settings.failed"), err)
		return
	}
	a.mu.Lock()
	a.lang = lang
	a.mu.Unlock()
	if a.cfg.Actions != nil {
		a.cfg.Actions.Lang = lang
	}
	if a.cfg.OnLanguage != nil {
		a.cfg.OnLanguage(lang)
	}
}

// setDefaults applies a new TSA and level to the running agent and saves
// them; a refused combination (B-T without a TSA) changes nothing.
func (a *App) setDefaults(ctx context.Context, tsa, level string) {
	l := a.Lang()
	oldTSA, oldLevel := a.cfg.Agent.Defaults()
	if err := a.cfg.Agent.SetDefaults(tsa, level); err != nil {
		a.fail(ctx, l.T("tray.settings.failed"), err)
		return
	}
	if err := a.saveUser(func(u *agent.UserConfig) { u.TSA, u.DefaultLevel = tsa, level }); err != nil {
		// Keep what runs and what is saved the same.
		_ = a.cfg.Agent.SetDefaults(oldTSA, oldLevel)
		a.fail(ctx, l.T("tray.settings.failed"), err)
	}
}

func (a *App) askTSA(ctx context.Context) {
	l := a.Lang()
	tsa, level := a.cfg.Agent.Defaults()
	v, err := a.cfg.Dialogs.AskText(ctx, l.T("tray.tsa.title"), l.T("tray.tsa.text"), tsa)
	if err != nil {
		a.show(ctx, err)
		return
	}
	a.setDefaults(ctx, strings.TrimSpace(v), level)
}

func (a *App) setImage(ctx context.Context, handle string, kind agent.ImageKind) {
	l := a.Lang()
	path, err := a.cfg.Dialogs.PickFile(ctx, l.T("tray.pick.image"), FilterImage)
	if err != nil {
		a.show(ctx, err)
		return
	}
	if _, err := agent.SetTemplateImage(a.cfg.Templates, handle, kind, path); err != nil {
		a.fail(ctx, l.T("tray.image.failed", filepath.Base(path)), err)
		return
	}
	a.notify(ctx, l.T("tray.image.done"), filepath.Base(path))
}

// saveUser changes the user's configuration file, keeping what it does
// not change (approved sites included).
func (a *App) saveUser(edit func(*agent.UserConfig)) error {
	if a.cfg.EditUserConfig == nil {
		return fmt.Errorf("tray: no user configuration file")
	}
	return a.cfg.EditUserConfig(edit)
}

// Watch redraws the tray and notifies the user on the agent's notices and
// token events until ctx ends.
func (a *App) Watch(ctx context.Context) {
	events := a.cfg.Agent.Events(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-a.cfg.Notices:
			if !ok {
				a.cfg.Notices = nil
				continue
			}
			a.onNotice(ctx, n)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			a.onEvent(ctx, ev)
		}
	}
}

func (a *App) onNotice(ctx context.Context, n agent.Notice) {
	l := a.Lang()
	switch n.Kind {
	case agent.NoticeSigned:
		a.stale(partRecent) // a new audit record
		// A single signature is seen where it was asked for; a batch runs
		// long enough for the user to look elsewhere.
		if n.Total > 1 {
			a.notify(ctx, l.T("tray.notify.batchDone", n.Signed), l.T("tray.notify.from", callerName(l, n.Caller)))
		}
		a.mu.Lock()
		a.lastErr = ""
		a.mu.Unlock()
	case agent.NoticeSignFailed:
		a.stale(partRecent)
		switch n.Code {
		case agent.CodeUserCancelled, "CANCELLED":
			// The user or the page stopped it: they know.
		default:
			a.notify(ctx, l.T("tray.notify.failed"), l.T("tray.notify.failed.body", callerName(l, n.Caller), n.Signed, n.Total, codeText(l, n.Code)))
			a.mu.Lock()
			a.lastErr = codeText(l, n.Code)
			a.mu.Unlock()
		}
	case agent.NoticeTSASlow:
		a.notify(ctx, l.T("tray.notify.tsaSlow"), l.T("tray.notify.tsaSlow.body", n.URL, int(n.Took.Round(time.Second)/time.Second)))
	}
	a.redraw()
}

func (a *App) onEvent(ctx context.Context, ev agent.Event) {
	a.stale(partTokens)
	if ev.Type == string(token.EventTokenRemoved) {
		l := a.Lang()
		label := ""
		if t, ok := ev.Data.(token.TokenInfo); ok {
			label = t.Label
		}
		a.notify(ctx, l.T("tray.notify.tokenRemoved"), label)
	}
	a.redraw()
}

func callerName(l i18n.Lang, caller string) string {
	if caller == "" || caller == "local" {
		return l.T("tray.activity.local")
	}
	return caller
}

// codeText is an error code as the user reads it: the catalog's message
// when there is one.
func codeText(l i18n.Lang, code string) string {
	if i18n.Has("err." + code) {
		return l.T("err." + code)
	}
	return code
}

// quiet reports errors the user caused and already knows about: a
// cancelled or unanswered dialog.
func quiet(err error) bool {
	code, _ := agent.CodeOf(err)
	return code == agent.CodeUserCancelled || code == agent.CodeDialogTimeout
}
