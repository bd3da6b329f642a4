package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/installer"
	"github.com/kyso-vn/kyso/installer/doctor"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/instance"
	"github.com/kyso-vn/kyso/tray"
)

var runSummary = [2]string{"chạy kyso trong phiên làm việc: tác tử ký số và biểu tượng ở khay", "run kyso in the desktop session: the signing agent with its tray icon"}

// runFlags are kyso run's flags: serve's, and where the single-instance
// lock lives (tests).
type runFlags struct {
	serveFlags
	instanceDir string
	noTray      bool
}

func runRun(c *cli, args []string) int {
	fs := c.flagSet("run", runSummary, "[--port P] [--config F]")
	var rf runFlags
	sf := &rf.serveFlags
	sf.register(c, fs)
	fs.StringVar(&rf.instanceDir, "instance-dir", "", c.pick([2]string{"thư mục khóa một phiên bản (mặc định theo người dùng)", "folder of the single-instance lock (default: per user)"}))
	fs.BoolVar(&rf.noTray, "no-tray", false, c.pick([2]string{"không hiện biểu tượng khay", "do not show the tray icon"}))
	if code, done := c.parse(fs, "run", args); done {
		return code
	}
	hideOwnConsole()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rf.run(ctx, c); err != nil {
		fmt.Fprintln(c.stderr, "kyso: "+c.describe(err))
		return exitCodeFor(err)
	}
	return exitOK
}

// run is kyso run: one per user. A second launch asks the first to show
// itself and exits 0.
func (rf *runFlags) run(ctx context.Context, c *cli) error {
	dir := rf.instanceDir
	if dir == "" {
		var err error
		if dir, err = instance.DefaultDir(); err != nil {
			return err
		}
	}
	ctx, quit := context.WithCancel(ctx)
	defer quit()

	// The handler needs the tray, which needs the agent, which must not
	// start before the lock is ours: it is filled in below.
	show := make(chan struct{}, 1)
	// port is set once the bridge listens; a second launch may ask before.
	var port atomic.Int64
	handler := func(req instance.Request) instance.Info {
		if req.Command == instance.CommandShow {
			select {
			case show <- struct{}{}:
			default:
			}
		}
		return instance.Info{PID: os.Getpid(), Port: int(port.Load()), Version: version}
	}
	var inst *instance.Instance
	var err error
	// Twice: the running instance may exit between our Acquire and our
	// Signal, and then the lock is ours to take.
	for attempt := 0; attempt < 2; attempt++ {
		inst, err = instance.Acquire(dir, handler)
		if !errors.Is(err, instance.ErrRunning) {
			break
		}
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		info, serr := instance.Signal(sctx, dir, instance.Request{Command: instance.CommandShow})
		cancel()
		if errors.Is(serr, instance.ErrNotRunning) {
			continue
		}
		if serr != nil {
			return fmt.Errorf("another kyso run holds %s but does not answer: %w", dir, serr)
		}
		fmt.Fprintln(c.stdout, c.lang.T("run.already", info.PID, info.Port))
		return nil
	}
	if err != nil {
		return err
	}
	defer inst.Close()

	notices := make(chan agent.Notice, 64)
	st, err := rf.start(c, func(n agent.Notice) {
		// The agent must never wait on the desktop: a notice that does
		// not fit is dropped (the next one redraws anyway).
		select {
		case notices <- n:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer st.close()
	port.Store(int64(st.port()))

	notifier := tray.NewNotifier()
	if cl, ok := notifier.(interface{ Close() error }); ok {
		defer cl.Close()
	}
	dialogs := tray.NewDialogs(c.lang, st.settings.DialogTimeout)
	app := tray.NewApp(tray.AppConfig{
		Agent:          st.agent,
		Sites:          st.gate,
		Managed:        st.settings.AllowedPatterns(),
		Notices:        notices,
		EditUserConfig: st.gate.EditUserConfig,
		Templates:      st.settings.Templates,
		AuditDir:       st.auditDir,
		TSALocked:      st.policy.TSA != "",
		LevelLocked:    st.policy.DefaultLevel != "",
		Actions: &tray.Actions{
			Service:  st.agent,
			Verify:   st.verify,
			Lang:     c.lang,
			MaxBytes: st.settings.MaxDocumentBytes,
		},
		Dialogs:   dialogs,
		Notifier:  notifier,
		Autostart: autostartToggle{installer.Autostart{Exe: executable()}},
		Diagnose:  func(ctx context.Context, l i18n.Lang) string { return diagnose(ctx, l, &rf.serveFlags, st) },
		OnLanguage: func(l i18n.Lang) {
			dialogs.SetLanguage(l)
			if p, ok := st.prompter.(interface{ SetLanguage(i18n.Lang) }); ok {
				p.SetLanguage(l)
			}
		},
		Quit:    quit,
		Port:    st.port(),
		Version: version,
		Lang:    c.lang,
		Logger:  st.logger,
	})
	go app.Watch(ctx)

	tr := tray.New()
	app.SetRefresh(tr.Refresh)
	trayDone := make(chan error, 1)
	if rf.noTray {
		trayDone <- nil
	} else {
		go func() {
			trayDone <- tr.Run(ctx, tray.Config{State: app.State, Dispatch: app.Dispatch, Lang: c.lang})
		}()
		go rf.checkHost(ctx, app.Lang(), st, notifier)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-show:
				st.logger.Info("another kyso run asked this one to show itself")
				nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := notifier.Notify(nctx, app.Lang().T("tray.notify.running"), app.Lang().T("tray.notify.running.body", st.port())); err != nil {
					st.logger.Info("notification not shown", "err", err)
				}
				cancel()
				tr.Refresh()
			}
		}
	}()

	err = st.serve(ctx, c)
	quit()
	if terr := <-trayDone; terr != nil {
		st.logger.Info("tray ended", "err", terr)
	}
	return err
}

// checkHost tells the user once when the desktop shows no tray icons
// (GNOME without the AppIndicator extension): kyso keeps working without
// its icon.
func (rf *runFlags) checkHost(ctx context.Context, l i18n.Lang, st *agentStack, n tray.Notifier) {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := tray.HostPresent(hctx)
	if ok {
		return
	}
	st.logger.Warn("no tray host: kyso runs without its icon", "err", err)
	if err := n.Notify(hctx, l.T("tray.notify.noTray"), l.T("tray.notify.noTray.body")); err != nil {
		st.logger.Info("notification not shown", "err", err)
	}
}

// autostartToggle is the tray's start-at-login switch over the installer's
// per-user autostart.
type autostartToggle struct{ a installer.Autostart }

func (t autostartToggle) Enabled() bool {
	s, err := t.a.Status()
	return err == nil && s.Installed()
}

func (t autostartToggle) SetEnabled(on bool) error {
	var err error
	if on {
		_, err = t.a.Install()
	} else {
		_, err = t.a.Uninstall()
	}
	return err
}

func executable() string {
	exe, err := os.Executable()
	if err != nil {
		return "kyso"
	}
	return exe
}

// diagnose is what the tray's "Chẩn đoán" shows: kyso doctor's report on
// this running agent (its own token manager, policy and port; the agent
// is this process, so it is not asked through the instance lock).
func diagnose(ctx context.Context, l i18n.Lang, sf *serveFlags, st *agentStack) string {
	var b strings.Builder
	rep := doctor.Run(ctx, doctor.Config{
		Version:    version,
		Keys:       st.keys,
		Modules:    append(append([]string(nil), st.settings.Modules...), sf.modules...),
		TrustFiles: sf.trust,
		LoadPolicy: func() (*agent.Policy, error) { return st.policy, nil },
		ConfigPath: st.configPath,
		AuditDir:   st.auditDir,
		Ports:      []int{st.port()},
		Agent: func(context.Context) (instance.Info, error) {
			return instance.Info{PID: os.Getpid(), Port: st.port(), Version: version}, nil
		},
		Exe: executable(),
	})
	if err := rep.WriteText(&b, l); err != nil {
		return err.Error()
	}
	return b.String()
}
