//go:build linux

package tray

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/testimages"
	"github.com/kyso-vn/kyso/internal/xvfbtest"
	"github.com/kyso-vn/kyso/token"
)

// shown is one window the App opened.
type shown struct {
	kind, title, text string
	warning           bool
}

// fakeDialogs answers the App's dialogs from queues and records what it
// was shown; with show set, ShowText opens a real window too.
type fakeDialogs struct {
	mu      sync.Mutex
	files   []string
	choices []string
	texts   []string
	shown   []shown
	opened  []string
	show    Dialogs
}

func pop(q *[]string) (string, error) {
	if len(*q) == 0 {
		return "", agent.ErrUserCancelled
	}
	v := (*q)[0]
	*q = (*q)[1:]
	return v, nil
}

func (d *fakeDialogs) PickFile(_ context.Context, title string, _ FileFilter) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shown = append(d.shown, shown{kind: "pick", title: title})
	return pop(&d.files)
}

func (d *fakeDialogs) Choose(_ context.Context, title, text string, options []Choice) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var labels []string
	for _, o := range options {
		labels = append(labels, o.ID+"="+o.Label)
	}
	d.shown = append(d.shown, shown{kind: "choose", title: title, text: text + "\n" + strings.Join(labels, "\n")})
	return pop(&d.choices)
}

func (d *fakeDialogs) AskText(_ context.Context, title, text, initial string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shown = append(d.shown, shown{kind: "ask", title: title, text: text + "\n" + initial})
	return pop(&d.texts)
}

func (d *fakeDialogs) ShowText(ctx context.Context, title, text string) error {
	d.mu.Lock()
	d.shown = append(d.shown, shown{kind: "text", title: title, text: text})
	real := d.show
	d.mu.Unlock()
	if real != nil {
		return real.ShowText(ctx, title, text)
	}
	return nil
}

func (d *fakeDialogs) Message(_ context.Context, title, text string, warning bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shown = append(d.shown, shown{kind: "message", title: title, text: text, warning: warning})
	return nil
}

func (d *fakeDialogs) Open(_ context.Context, path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opened = append(d.opened, path)
	return nil
}

// take returns the windows shown since the last call.
func (d *fakeDialogs) take() []shown {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.shown
	d.shown = nil
	return s
}

type note struct{ title, body string }

type fakeNotifier struct {
	mu    sync.Mutex
	notes []note
}

func (n *fakeNotifier) Notify(_ context.Context, title, body string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notes = append(n.notes, note{title, body})
	return nil
}

func (n *fakeNotifier) take() []note {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.notes
	n.notes = nil
	return s
}

// countingAgent counts the token listings the App makes.
type countingAgent struct {
	*agent.Agent
	statuses atomic.Int32
}

func (c *countingAgent) Status(ctx context.Context, cl agent.Caller) (*agent.Status, error) {
	c.statuses.Add(1)
	return c.Agent.Status(ctx, cl)
}

// countingAutostart counts how often the App asks whether it is on.
type countingAutostart struct {
	on    atomic.Bool
	reads atomic.Int32
}

func (a *countingAutostart) Enabled() bool {
	a.reads.Add(1)
	return a.on.Load()
}
func (a *countingAutostart) SetEnabled(on bool) error { a.on.Store(on); return nil }

type fakeAutostart struct{ on bool }

func (f *fakeAutostart) Enabled() bool            { return f.on }
func (f *fakeAutostart) SetEnabled(on bool) error { f.on = on; return nil }

// appFixture is an App over the actions fixture's agent, with fake
// dialogs, notifications and site list.
type appFixture struct {
	*actionsFixture
	app      *App
	agent    *agent.Agent
	dialogs  *fakeDialogs
	notifier *fakeNotifier
	sites    *agent.OriginGate
	notices  chan agent.Notice
	config   string
	tpl      string
	redraws  chan struct{}
	langs    []i18n.Lang
}

func newAppFixture(t *testing.T) *appFixture {
	t.Helper()
	fx := newActionsFixture(t)
	ag := fx.actions.Service.(*agent.Agent)
	dir := t.TempDir()
	f := &appFixture{
		actionsFixture: fx,
		agent:          ag,
		dialogs:        &fakeDialogs{},
		notifier:       &fakeNotifier{},
		notices:        make(chan agent.Notice, 8),
		config:         filepath.Join(dir, "config.json"),
		tpl:            filepath.Join(dir, "templates.json"),
		redraws:        make(chan struct{}, 64),
	}
	managed, err := agent.ParsePattern("https://*.hanoi.gov.vn")
	if err != nil {
		t.Fatal(err)
	}
	// The real gate over the user's file: the sites the user approved
	// earlier, and the one writer of that file.
	user := &agent.UserConfig{Schema: agent.UserConfigSchema, ApprovedOrigins: []agent.ApprovedOrigin{
		{Origin: "https://dms.example.vn", Approved: time.Now()},
		{Origin: "https://qlvb.example.gov.vn", Approved: time.Now()},
	}}
	if err := user.Save(f.config); err != nil {
		t.Fatal(err)
	}
	f.sites = agent.NewOriginGate(nil, user, f.config, nil, nil, nil)
	f.app = NewApp(AppConfig{
		Agent:          ag,
		Sites:          f.sites,
		Managed:        []agent.OriginPattern{managed},
		Notices:        f.notices,
		EditUserConfig: f.sites.EditUserConfig,
		Templates:      f.tpl,
		AuditDir:       filepath.Join(dir, "audit"),
		Actions:        fx.actions,
		Dialogs:        f.dialogs,
		Notifier:       f.notifier,
		Autostart:      &fakeAutostart{},
		OnLanguage:     func(l i18n.Lang) { f.langs = append(f.langs, l) },
		Port:           19571,
		Version:        "test",
		Lang:           i18n.Vietnamese,
	})
	f.app.SetRefresh(func() {
		select {
		case f.redraws <- struct{}{}:
		default:
		}
	})
	return f
}

// appChildEnv marks the child process that runs TestApp's body (SoftHSM
// reads its configuration once per process).
const appChildEnv = "KYSO_TRAY_APP_CHILD"

// TestApp drives the tray's behaviour through App.Dispatch, the function
// the menu's clicks call, over a real agent on SoftHSM: local signing and
// verification, revoking sites, settings, locking the token, pictures,
// and the notifications of the agent's notices.
func TestApp(t *testing.T) {
	if os.Getenv(appChildEnv) == "1" {
		testApp(t)
		return
	}
	runInChild(t, "TestApp", appChildEnv)
}

func testApp(t *testing.T) {
	f := newAppFixture(t)
	work := t.TempDir()
	in := filepath.Join(work, "to-trinh.pdf")
	if err := os.WriteFile(in, f.letter, 0o644); err != nil {
		t.Fatal(err)
	}
	inSum := fileSum(t, in)

	t.Run("state", func(t *testing.T) {
		s := f.app.State()
		if len(s.Tokens) != 1 || len(s.Certificates) == 0 || s.Port != 19571 || s.Lang != i18n.Vietnamese {
			t.Fatalf("state = %d tokens, %d certificates, port %d, %s", len(s.Tokens), len(s.Certificates), s.Port, s.Lang)
		}
		var origins []string
		for _, site := range s.Approved {
			origins = append(origins, site.Origin)
		}
		if want := []string{"https://*.hanoi.gov.vn", "https://dms.example.vn", "https://qlvb.example.gov.vn"}; !slices.Equal(origins, want) {
			t.Errorf("sites %v, want %v", origins, want)
		}
		if !s.Approved[0].Managed || s.Approved[1].Managed {
			t.Errorf("managed flags %+v", s.Approved)
		}
		if s.Busy || s.WaitingForUser || s.Settings.DefaultLevel != "B-B" {
			t.Errorf("state busy %v waiting %v level %q", s.Busy, s.WaitingForUser, s.Settings.DefaultLevel)
		}
	})

	t.Run("state is read again only when stale", func(t *testing.T) {
		// Redraws come with every dialog and token taken or released; the
		// tokens, the audit log and the autostart are read again only
		// after a token event, a finished request, or the switch.
		ca := &countingAgent{Agent: f.agent}
		auto := &countingAutostart{}
		dir := t.TempDir()
		app := NewApp(AppConfig{Agent: ca, AuditDir: dir, Autostart: auto, Lang: i18n.Vietnamese})
		for range 3 {
			app.State()
		}
		if ca.statuses.Load() != 1 || auto.reads.Load() != 1 {
			t.Fatalf("3 redraws read the tokens %d and the autostart %d times, want once", ca.statuses.Load(), auto.reads.Load())
		}
		audit, err := agent.OpenAuditLog(dir, agent.AuditOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer audit.Close()
		if err := audit.Record(agent.AuditRecord{Time: time.Now(), Caller: "local", Method: "signPdf", Document: "moi.pdf", Result: "ok"}); err != nil {
			t.Fatal(err)
		}
		if s := app.State(); len(s.Recent) != 0 {
			t.Errorf("the audit log was read again without a notice: %+v", s.Recent)
		}
		ctx := context.Background()
		app.onNotice(ctx, agent.Notice{Kind: agent.NoticeSigned, Caller: "local", Total: 1, Signed: 1})
		if s := app.State(); len(s.Recent) != 1 || s.Recent[0].Document != "moi.pdf" {
			t.Errorf("recent after a signature = %+v", s.Recent)
		}
		app.onEvent(ctx, agent.Event{Type: string(token.EventTokenRemoved)})
		if app.State(); ca.statuses.Load() != 2 {
			t.Errorf("the tokens were read %d times after a token event, want 2", ca.statuses.Load())
		}
		app.Dispatch(IDStartAtLogin)
		if s := app.State(); !s.Settings.StartAtLogin || auto.reads.Load() != 3 {
			t.Errorf("start at login %v after the switch, autostart read %d times", s.Settings.StartAtLogin, auto.reads.Load())
		}
	})

	t.Run("sign a file", func(t *testing.T) {
		f.dialogs.files = []string{in}
		f.dialogs.choices = []string{"profile:approved"}
		f.app.Dispatch(IDSignFile)
		out := filepath.Join(work, "to-trinh-da-ky.pdf")
		signed, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("no signed copy next to the input: %v (windows: %+v)", err, f.dialogs.take())
		}
		if fileSum(t, in) != inSum {
			t.Error("the input changed")
		}
		if !bytes.HasPrefix(signed, f.letter) {
			t.Error("the signed copy does not start with the input")
		}
		if res := pdfcheck.Pdfsig(t, f.nss, out); len(res) != 1 || !res[0].Valid {
			t.Errorf("pdfsig: %+v", res)
		}
		win := f.dialogs.take()
		if len(win) != 2 || win[0].kind != "pick" || win[1].kind != "choose" || !strings.Contains(win[1].text, "profile:approved="+ProfileLabel(i18n.Vietnamese, "approved")) {
			t.Errorf("windows = %+v", win)
		}
		notes := f.notifier.take()
		if len(notes) != 1 || !strings.Contains(notes[0].body, "to-trinh-da-ky.pdf") {
			t.Errorf("notifications = %+v", notes)
		}
		if p := f.prompter.prompts(); len(p) == 0 || p[len(p)-1].Caller != "local" || p[len(p)-1].Profile != "approved" {
			t.Errorf("the agent's dialog = %+v", p)
		}
	})

	t.Run("sign cancelled at the file chooser", func(t *testing.T) {
		before := dirNames(t, work)
		f.app.Dispatch(IDSignFile) // no file queued: the chooser is cancelled
		if after := dirNames(t, work); !slices.Equal(before, after) {
			t.Errorf("files %v, then %v", before, after)
		}
		for _, w := range f.dialogs.take() {
			if w.kind == "message" {
				t.Errorf("a cancel was reported as an error: %+v", w)
			}
		}
	})

	t.Run("sign a file that is not a PDF", func(t *testing.T) {
		bad := filepath.Join(work, "ghi-chu.txt")
		if err := os.WriteFile(bad, []byte("không phải PDF"), 0o644); err != nil {
			t.Fatal(err)
		}
		f.dialogs.files = []string{bad}
		f.dialogs.choices = []string{"profile:"}
		f.app.Dispatch(IDSignFile)
		win := f.dialogs.take()
		if len(win) != 3 || win[2].kind != "message" || !win[2].warning || !strings.Contains(win[2].text, "ghi-chu.txt") {
			t.Errorf("windows = %+v", win)
		}
		if _, err := os.Stat(filepath.Join(work, "ghi-chu-da-ky.pdf")); err == nil {
			t.Error("an output was written for a bad input")
		}
		if s := f.app.State(); s.LastError == "" {
			t.Error("the failure is not shown in the menu")
		}
	})

	t.Run("verify a file", func(t *testing.T) {
		f.dialogs.files = []string{filepath.Join(work, "to-trinh-da-ky.pdf")}
		f.app.Dispatch(IDVerifyFile)
		win := f.dialogs.take()
		if len(win) != 2 || win[1].kind != "text" {
			t.Fatalf("windows = %+v", win)
		}
		if !strings.Contains(win[1].title, "to-trinh-da-ky.pdf") || !strings.Contains(win[1].text, "Kết luận:") || !strings.Contains(win[1].text, "Người ký:") {
			t.Errorf("report window %q:\n%s", win[1].title, win[1].text)
		}
	})

	t.Run("verify a file: the report window", func(t *testing.T) {
		// The menu's action with the real report window under Xvfb: the
		// window shows the Vietnamese report (screenshot in the artifacts)
		// and the action ends when the user closes it.
		xvfbtest.Start(t, xvfbtest.Options{})
		f.dialogs.show = NewDialogs(i18n.Vietnamese, 2*time.Minute)
		defer func() { f.dialogs.show = nil }()
		f.dialogs.files = []string{filepath.Join(work, "to-trinh-da-ky.pdf")}
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.app.Dispatch(IDVerifyFile)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), xvfbtest.Bound)
		defer cancel()
		title := i18n.Vietnamese.T("tray.report.title", "to-trinh-da-ky.pdf")
		wid := xvfbtest.WaitWindow(ctx, t, title)
		img, rect := xvfbtest.Screenshot(ctx, t, wid, "tray-verify-report")
		if colours, ink, area := xvfbtest.InkStats(img, rect); colours <= 10 || ink*100 <= area {
			t.Errorf("the report window looks blank: %d colours, %d of %d pixels not background", colours, ink, area)
		}
		p := xvfbtest.TheDialog(t)
		if !slices.Contains(p.Args, "--text-info") {
			t.Errorf("the report is not in a text window: %q", p.Args)
		}
		select {
		case <-done:
			t.Fatal("the action ended before the report was closed")
		default:
		}
		xvfbtest.Xdo(ctx, t, "windowfocus", "--sync", wid)
		xvfbtest.Xdo(ctx, t, "key", "Escape")
		select {
		case <-done:
		case <-time.After(xvfbtest.Bound):
			t.Fatal("the action did not end when the report was closed")
		}
		win := f.dialogs.take()
		if len(win) != 2 || win[1].kind != "text" || !strings.Contains(win[1].text, "Người ký:") {
			t.Errorf("windows = %+v", win)
		}
		for _, w := range win {
			if w.kind == "message" {
				t.Errorf("closing the report was reported: %+v", w)
			}
		}
	})

	t.Run("revoke", func(t *testing.T) {
		f.app.Dispatch(PrefixRevoke + "https://dms.example.vn")
		if got := f.sites.Approved(); len(got) != 1 || got[0].Origin != "https://qlvb.example.gov.vn" {
			t.Errorf("sites after revoke = %+v", got)
		}
		f.app.Dispatch(IDRevokeAll)
		if got := f.sites.Approved(); len(got) != 0 {
			t.Errorf("sites after revoke-all = %+v", got)
		}
		// The managed pattern stays in the menu.
		if s := f.app.State(); len(s.Approved) != 1 || !s.Approved[0].Managed {
			t.Errorf("menu sites = %+v", s.Approved)
		}
	})

	t.Run("settings", func(t *testing.T) {
		// B-T without a timestamp server is refused; nothing changes.
		f.app.Dispatch(PrefixLevel + "B-T")
		if _, lvl := f.agent.Defaults(); lvl != "B-B" {
			t.Errorf("level %s after a refused change", lvl)
		}
		if win := f.dialogs.take(); len(win) != 1 || !win[0].warning {
			t.Errorf("windows = %+v", win)
		}
		// The TSA, then B-T, are applied to the agent and saved.
		f.dialogs.texts = []string{"  http://127.0.0.1:9/tsa  "}
		f.app.Dispatch(IDSetTSA)
		f.app.Dispatch(PrefixLevel + "B-T")
		if tsa, lvl := f.agent.Defaults(); tsa != "http://127.0.0.1:9/tsa" || lvl != "B-T" {
			t.Errorf("agent defaults %q %q", tsa, lvl)
		}
		// A bad URL is refused with a message.
		f.dialogs.take()
		f.dialogs.texts = []string{"ftp://tsa"}
		f.app.Dispatch(IDSetTSA)
		if win := f.dialogs.take(); len(win) != 2 || !win[1].warning {
			t.Errorf("windows = %+v", win)
		}
		f.app.Dispatch(PrefixLang + "en")
		u, err := agent.LoadUserConfig(f.config)
		if err != nil {
			t.Fatal(err)
		}
		if u.TSA != "http://127.0.0.1:9/tsa" || u.DefaultLevel != "B-T" || u.Language != "en" {
			t.Errorf("saved %+v", u)
		}
		if f.app.Lang() != i18n.English || f.app.State().Lang != i18n.English {
			t.Error("the menu did not switch to English")
		}
		if !slices.Equal(f.langs, []i18n.Lang{i18n.English}) {
			t.Errorf("the dialogs were told %v, want [en]", f.langs)
		}
		f.app.Dispatch(IDStartAtLogin)
		if !f.app.State().Settings.StartAtLogin {
			t.Error("start at login not turned on")
		}
		f.app.Dispatch(PrefixLang + "vi")
	})

	t.Run("lock token", func(t *testing.T) {
		s := f.app.State()
		f.notifier.take()
		f.app.Dispatch(PrefixLock + s.Tokens[0].ID)
		if notes := f.notifier.take(); len(notes) != 1 || notes[0].title != i18n.Vietnamese.T("tray.lock.done") {
			t.Errorf("notifications = %+v", notes)
		}
		f.app.Dispatch(PrefixLock + "no-such-token")
		if win := f.dialogs.take(); len(win) != 1 || !win[0].warning {
			t.Errorf("locking a missing token: windows = %+v", win)
		}
	})

	t.Run("pictures", func(t *testing.T) {
		png, err := testimages.EncodePNG(testimages.Signature(300, 120), 300, testimages.PNGOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pic := filepath.Join(work, "chu-ky.png")
		if err := os.WriteFile(pic, png, 0o644); err != nil {
			t.Fatal(err)
		}
		handle := f.app.State().Certificates[0].Handle
		f.dialogs.files = []string{pic}
		f.app.Dispatch(PrefixSignatureImage + handle)
		tpl, err := agent.LoadTemplates(f.tpl)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := f.agent.ListCertificates(context.Background(), agent.Caller{Local: true}, agent.CertificateFilter{Handle: token.Handle(handle)})
		if err != nil || len(certs) != 1 {
			t.Fatalf("certificate %s: %v", handle, err)
		}
		cert, err := x509.ParseCertificate(certs[0].Certificate)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tpl.For(cert); !ok {
			t.Errorf("no template for %s after picking its picture", handle)
		}
	})

	t.Run("notices", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			f.app.Watch(ctx)
			close(done)
		}()
		defer func() {
			cancel()
			<-done
		}()
		f.notifier.take()
		f.notices <- agent.Notice{Kind: agent.NoticeSigned, Caller: "https://dms.example.vn", Total: 1, Signed: 1}
		f.notices <- agent.Notice{Kind: agent.NoticeSigned, Caller: "https://dms.example.vn", Total: 12, Signed: 12}
		f.notices <- agent.Notice{Kind: agent.NoticeSignFailed, Caller: "https://dms.example.vn", Total: 5, Signed: 2, Code: "TOKEN_REMOVED"}
		f.notices <- agent.Notice{Kind: agent.NoticeSignFailed, Caller: "local", Total: 1, Code: agent.CodeUserCancelled}
		f.notices <- agent.Notice{Kind: agent.NoticeTSASlow, URL: "http://tsa.example.vn", Took: 7 * time.Second}
		var notes []note
		deadline := time.Now().Add(10 * time.Second)
		for len(notes) < 3 && time.Now().Before(deadline) {
			notes = append(notes, f.notifier.take()...)
			time.Sleep(10 * time.Millisecond)
		}
		l := i18n.Vietnamese
		want := []string{l.T("tray.notify.batchDone", 12), l.T("tray.notify.failed"), l.T("tray.notify.tsaSlow")}
		var titles []string
		for _, n := range notes {
			titles = append(titles, n.title)
		}
		if !slices.Equal(titles, want) {
			t.Errorf("notifications %q, want %q", titles, want)
		}
		if len(notes) > 1 && !strings.Contains(notes[1].body, "2/5") {
			t.Errorf("failure body %q", notes[1].body)
		}
		if s := f.app.State(); !strings.Contains(s.LastError, l.T("err.TOKEN_REMOVED")) {
			t.Errorf("last error %q", s.LastError)
		}
	})
}
