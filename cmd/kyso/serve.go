package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/bridge"
	"github.com/kyso-vn/kyso/installer"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/token"
	"golang.org/x/term"
)

var serveSummary = [2]string{"chạy tác tử ký số cho các trang web (không có biểu tượng khay)", "run the signing agent for web pages (without the tray icon)"}

// serveFlags are kyso serve's flags; serve_kysotest.go adds the scripted
// prompter in test builds only.
type serveFlags struct {
	headless bool
	// unattended (kyso serve only) takes PINs from pinFile instead of a
	// person: a system service on a server (docs/deployment.md).
	unattended bool
	pinFile    string
	port       int
	config     string
	policy     string
	auditDir   string
	secretPath string
	modules    stringList
	noDiscover bool
	trust      stringList
	logLevel   string
	// prompter, when set by a test build, replaces the dialogs.
	prompter func(lang i18n.Lang) (agent.Prompter, error)
	// profile, set by a test build, starts profiling the server and
	// returns what stops it at a clean shutdown.
	profile func() (stop func(), err error)
}

func runServe(c *cli, args []string) int {
	fs := c.flagSet("serve", serveSummary, "[--headless [--unattended --pin-file F]] [--port P] [--config F]")
	var sf serveFlags
	fs.BoolVar(&sf.headless, "headless", false, c.pick([2]string{"không dùng hộp thoại đồ họa: hỏi PIN trên terminal", "no graphical dialogs: ask for the PIN on the terminal"}))
	fs.BoolVar(&sf.unattended, "unattended", false, c.pick([2]string{
		"chỉ cho máy chủ (dịch vụ hệ thống, HSM): lấy PIN từ --pin-file, không hỏi ai; chỉ các trang trong chính sách của máy được kết nối; cần --headless",
		"servers only (a system service with an HSM): take the PIN from --pin-file and ask nobody; only the machine policy's origins connect; needs --headless"}))
	fs.StringVar(&sf.pinFile, "pin-file", "", c.pick([2]string{
		"với --unattended: tệp chứa mã PIN (chỉ chủ sở hữu đọc được, ví dụ %d/pin của LoadCredential= trong systemd)",
		"with --unattended: the file holding the PIN (readable by its owner only, e.g. %d/pin from systemd's LoadCredential=)"}))
	sf.register(c, fs)
	if code, done := c.parse(fs, "serve", args); done {
		return code
	}
	if err := sf.checkUnattended(); err != nil {
		c.usageError("serve", c.describe(err))
		return exitUsage
	}
	if sf.unattended {
		// Started by the Windows service control manager: it runs the
		// server and stops it (no signals there).
		if managed, code := sf.serveManaged(c); managed {
			return code
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := sf.serve(ctx, c); err != nil {
		fmt.Fprintln(c.stderr, "kyso: "+c.describe(err))
		return exitCodeFor(err)
	}
	return exitOK
}

// checkUnattended refuses the unattended flags where they make no sense.
func (sf *serveFlags) checkUnattended() error {
	switch {
	case sf.unattended && !sf.headless:
		return usageErr("--unattended needs --headless: it is for a server without a desktop session")
	case sf.unattended && sf.pinFile == "":
		return usageErr("--unattended needs --pin-file FILE: nobody is there to type the PIN")
	case sf.pinFile != "" && !sf.unattended:
		return usageErr("--pin-file goes with --unattended (a server); the desktop agent asks for the PIN in its dialog")
	case sf.unattended && sf.prompter != nil:
		return usageErr("--unattended and --scripted-prompter exclude each other")
	}
	return nil
}

// serveManaged runs the server under the Windows service control manager
// when it started this process, and reports whether it did.
func (sf *serveFlags) serveManaged(c *cli) (bool, int) {
	managed, err := installer.RunUnderServiceManager(installer.DefaultSystemServiceName, func(log io.Writer) (func(context.Context) error, error) {
		if log != nil {
			// A service has no console: its output goes to the event log.
			c.stdout, c.stderr = log, log
		}
		st, err := sf.start(c, nil)
		if err != nil {
			fmt.Fprintln(c.stderr, "kyso: "+c.describe(err))
			return nil, err
		}
		return func(ctx context.Context) error {
			defer st.close()
			return st.serve(ctx, c)
		}, nil
	})
	if !managed {
		return false, 0
	}
	if err != nil {
		return true, exitCodeFor(err)
	}
	return true, exitOK
}

// register adds the flags kyso serve and kyso run share.
func (sf *serveFlags) register(c *cli, fs *flag.FlagSet) {
	fs.IntVar(&sf.port, "port", bridge.DefaultPort, c.pick([2]string{"cổng chính trên 127.0.0.1 (nếu bận dùng cổng dự phòng)", "primary port on 127.0.0.1 (the fallback is used when it is taken)"}))
	fs.StringVar(&sf.config, "config", agent.DefaultUserConfigPath(), c.pick([2]string{"tệp cấu hình của người dùng", "the user's configuration file"}))
	fs.StringVar(&sf.policy, "policy", "", c.pick([2]string{"tệp chính sách thay cho chính sách của máy (mặc định /etc/kyso/policy.json, trên Windows HKLM\\Software\\Policies\\kyso)", "a policy file instead of the machine policy (default /etc/kyso/policy.json; on Windows HKLM\\Software\\Policies\\kyso)"}))
	fs.StringVar(&sf.auditDir, "audit-dir", defaultAuditDir(), c.pick([2]string{"thư mục nhật ký ký số", "folder of the signing audit log"}))
	fs.StringVar(&sf.secretPath, "secret", agent.DefaultSecretPath(), c.pick([2]string{"tệp khóa bí mật cho ứng dụng cục bộ", "the local clients' secret file"}))
	fs.Var(&sf.modules, "module", c.pick([2]string{"nạp thêm thư viện PKCS#11 (lặp lại được)", "also load this PKCS#11 library (repeatable)"}))
	fs.BoolVar(&sf.noDiscover, "no-discover", false, c.pick([2]string{"không tự tìm thư viện PKCS#11", "do not discover PKCS#11 libraries"}))
	fs.Var(&sf.trust, "trust", c.pick([2]string{"thêm CA gốc tin cậy cho kiểm tra chữ ký (PEM, lặp lại được)", "trust the root CAs in this PEM file for verification (repeatable)"}))
	fs.StringVar(&sf.logLevel, "log", "info", "debug | info | warn | error")
	registerTestFlags(fs, sf)
}

// auditSyncDelay groups the audit log's fsyncs: every record is written
// before its signature is handed out (so it survives the agent being
// killed), and reaches the disk within this delay even if the power fails.
// An fsync per record cost 0.2–0.3 ms of every request.
const auditSyncDelay = 20 * time.Millisecond

func defaultAuditDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "kyso-audit"
	}
	return filepath.Join(dir, "kyso", "audit")
}

func (sf *serveFlags) serve(ctx context.Context, c *cli) error {
	st, err := sf.start(c, nil)
	if err != nil {
		return err
	}
	defer st.close()
	return st.serve(ctx, c)
}

// agentStack is the agent and its loopback bridge, listening: what kyso
// serve runs, and kyso run with the tray on top.
type agentStack struct {
	agent      *agent.Agent
	gate       *agent.OriginGate
	prompter   agent.Prompter
	settings   *agent.Settings
	policy     *agent.Policy
	keys       *token.Manager
	srv        *bridge.Server
	ln         net.Listener
	logger     *slog.Logger
	configPath string
	auditDir   string
	verify     agent.VerifyConfig
	closers    []func()
}

// start builds the agent from the flags, the policy and the user's
// configuration and starts listening; notify receives the agent's
// notices (nil: none). close undoes it.
func (sf *serveFlags) start(c *cli, notify func(agent.Notice)) (st *agentStack, err error) {
	st = &agentStack{configPath: sf.config, auditDir: sf.auditDir}
	// The error returns below give a nil st: undo through this copy.
	stack := st
	defer func() {
		if err != nil {
			stack.close()
		}
	}()
	if sf.profile != nil {
		stop, err := sf.profile()
		if err != nil {
			return nil, err
		}
		st.closers = append(st.closers, stop)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(sf.logLevel)); err != nil {
		return nil, usageErr("--log %s: use debug, info, warn or error", sf.logLevel)
	}
	st.logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))

	if sf.policy != "" {
		st.policy, err = agent.LoadPolicy(sf.policy)
	} else {
		st.policy, err = agent.LoadMachinePolicy()
	}
	if err != nil {
		return nil, err
	}
	user, err := agent.LoadUserConfig(sf.config)
	if err != nil {
		return nil, err
	}
	st.settings, err = agent.NewSettings(st.policy, user)
	if err != nil {
		return nil, err
	}
	settings := st.settings
	lang := settings.Language
	c.lang = lang

	var prompter agent.Prompter
	var unattended *agent.UnattendedPrompter
	if sf.unattended {
		pin, err := agent.ReadPINFile(sf.pinFile)
		if err != nil {
			return nil, err
		}
		unattended = agent.NewUnattendedPrompter(pin, st.logger)
		st.closers = append(st.closers, unattended.Close)
		prompter = unattended
	} else if prompter, err = sf.newPrompter(c, lang, settings.DialogTimeout); err != nil {
		return nil, err
	}
	st.prompter = prompter
	userPath := sf.config
	if unattended != nil {
		// Nobody approves origins: only the machine policy's connect,
		// whatever userMayApprove says, and a user's approved list (there
		// is no user) is neither read nor written.
		settings.UserMayApprove = false
		if len(user.ApprovedOrigins) > 0 {
			st.logger.Warn("unattended: ignoring the approved origins of the configuration file; only the machine policy's allowedOrigins connect",
				"config", sf.config, "origins", len(user.ApprovedOrigins))
		}
		user = &agent.UserConfig{Schema: agent.UserConfigSchema, Language: user.Language}
		userPath = ""
		st.logger.Info("unattended: PINs come from the PIN file; origins only from the machine policy; no retry after a refused PIN",
			"pinFile", sf.pinFile, "allowedOrigins", len(st.policy.AllowedOrigins), "hashSigningOrigins", len(st.policy.HashSigningOrigins))
	}
	st.gate = agent.NewOriginGate(settings, user, userPath, prompter, nil, st.logger)
	audit, err := agent.OpenAuditLog(sf.auditDir, agent.AuditOptions{SyncDelay: auditSyncDelay})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { audit.Close() })
	secret, err := agent.LoadOrCreateSecret(sf.secretPath)
	if err != nil {
		return nil, err
	}
	st.keys = token.NewManager(token.Options{Modules: append(append([]string(nil), settings.Modules...), sf.modules...), Discover: !sf.noDiscover, Logger: st.logger})
	st.closers = append(st.closers, func() { st.keys.Close() })
	var keys agent.KeyStore = st.keys
	if unattended != nil {
		// Watches the logins made with the PIN file, so that a refused
		// PIN is never tried again.
		keys = unattended.KeyStore(st.keys)
	}

	for _, p := range sf.trust {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, usageErr("--trust %s: %v", p, err)
		}
		st.verify.TrustPEM = append(st.verify.TrustPEM, data)
	}
	st.agent, err = agent.New(agent.Config{
		Keys:          keys,
		Gate:          st.gate,
		Prompter:      prompter,
		Audit:         audit,
		TSA:           settings.TSA,
		DefaultLevel:  settings.DefaultLevel,
		TemplatesPath: settings.Templates,
		Verify:        st.verify,
		DialogTimeout: settings.DialogTimeout,
		PINSession:    settings.PINSession,
		Version:       version,
		Logger:        st.logger,
		Notify:        notify,
	})
	if err != nil {
		return nil, err
	}
	// Ends the PIN sessions (logs the tokens out) once the bridge has shut
	// down and no request is left.
	st.closers = append(st.closers, func() { st.agent.Close() })
	st.srv, err = bridge.New(bridge.Config{
		Port:             sf.port,
		FallbackPort:     fallbackFor(sf.port),
		Service:          st.agent,
		ClientSecret:     secret,
		MaxDocumentBytes: settings.MaxDocumentBytes,
		Version:          version,
		Logger:           st.logger,
	})
	if err != nil {
		return nil, err
	}
	st.ln, err = st.srv.Listen()
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(c.stdout, c.lang.T("serve.listening", "ws://"+st.ln.Addr().String()+"/v1", st.keys.Loaded(), sf.secretPath))
	return st, nil
}

// port is the port the bridge listens on.
func (st *agentStack) port() int {
	return st.ln.Addr().(*net.TCPAddr).Port
}

// serve answers requests until ctx ends, then shuts the bridge down,
// letting requests under way finish for up to 10 seconds.
func (st *agentStack) serve(ctx context.Context, c *cli) error {
	done := make(chan error, 1)
	go func() { done <- st.srv.Serve(st.ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, c.lang.T("serve.stopped"))
	return nil
}

// close releases what start acquired, last first.
func (st *agentStack) close() {
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
	st.closers = nil
}

// fallbackFor keeps the documented pair together: the default port falls
// back to the default fallback; a port chosen by hand (or 0 in tests) has
// none.
func fallbackFor(port int) int {
	if port == bridge.DefaultPort {
		return bridge.DefaultFallbackPort
	}
	return 0
}

func (sf *serveFlags) newPrompter(c *cli, lang i18n.Lang, timeout time.Duration) (agent.Prompter, error) {
	if sf.prompter != nil {
		return sf.prompter(lang)
	}
	tty := term.IsTerminal(int(os.Stdin.Fd()))
	if !sf.headless && runtime.GOOS == "linux" && os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		// No desktop session to show dialogs in (ssh, a console): the
		// terminal is the only place left to ask.
		if !tty {
			return nil, usageErr("no display for the agent's dialogs and stdin is not a terminal; run kyso serve in the desktop session, or --headless on a terminal")
		}
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("serve.nodisplay"))
		sf.headless = true
	}
	if sf.headless {
		if !tty {
			return nil, usageErr("--headless asks for PINs on the terminal, and stdin is not one")
		}
		return agent.NewTerminalPrompter(os.Stdin, c.stderr, lang), nil
	}
	return agent.NewZenityPrompter(lang, timeout), nil
}
