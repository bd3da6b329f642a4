package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/installer"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/instance"
	"github.com/kyso-vn/kyso/token"
)

// Schema names the JSON layout WriteJSON prints. Fields are only added
// within it, never renamed or given another meaning.
const Schema = "kyso.doctor/v1"

// Severity grades a finding.
type Severity string

// The severities, from good to bad. Only SeverityError makes `kyso doctor`
// exit non-zero: a warning is something the helpdesk should look at, an
// error is something that stops signing.
const (
	SeverityOK      Severity = "ok"
	SeverityInfo    Severity = "info"
	SeverityWarning Severity = "warning"
	SeverityError   Severity = "error"
)

// Text is a message in the i18n catalog with its arguments, rendered in
// the reader's language only when the report is written, so that one
// Report can be shown in either language. An argument that is itself a
// Text is rendered in the same language first.
type Text struct {
	Key  string
	Args []any
}

// T makes a Text.
func T(key string, args ...any) Text { return Text{Key: key, Args: args} }

// String renders t in l; the zero Text is "".
func (t Text) String(l i18n.Lang) string {
	if t.Key == "" {
		return ""
	}
	args := make([]any, len(t.Args))
	for i, a := range t.Args {
		if nested, ok := a.(Text); ok {
			a = nested.String(l)
		}
		args[i] = a
	}
	return l.T(t.Key, args...)
}

// Finding is one result of a check.
type Finding struct {
	// ID says what was found, as "area.outcome" ("module.missing",
	// "port.other", "cert.expiring"); it is stable, so scripts and the
	// helpdesk's notes can rely on it. Several findings may share an ID
	// (one per module, per certificate…); Details tells them apart.
	ID       string
	Severity Severity
	// Message says what was found, in one line.
	Message Text
	// Fix says what to do about it, in one line; empty for SeverityOK.
	Fix Text
	// Details are the facts behind the message, for JSON readers: paths,
	// ports, pids, dates. Keys are stable within an ID.
	Details map[string]any
}

// Report is what Run found.
type Report struct {
	// Version is the kyso version that made the report (Config.Version).
	Version  string
	Findings []Finding
}

// HasErrors reports whether any finding is an error.
func (r Report) HasErrors() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Severity == SeverityError })
}

// ExitCode is `kyso doctor`'s exit status: 1 when any finding is an
// error, else 0.
func (r Report) ExitCode() int {
	if r.HasErrors() {
		return 1
	}
	return 0
}

// Count returns how many findings have severity s.
func (r Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// ByID returns the findings with the given id, in report order.
func (r Report) ByID(id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

// jsonReport and jsonFinding are the kyso.doctor/v1 document.
type jsonReport struct {
	Schema   string        `json:"schema"`
	Version  string        `json:"version"`
	Findings []jsonFinding `json:"findings"`
}

type jsonFinding struct {
	ID       string         `json:"id"`
	Severity Severity       `json:"severity"`
	Message  string         `json:"message"`
	Fix      string         `json:"fix"`
	Details  map[string]any `json:"details"`
}

// WriteJSON writes the report as a kyso.doctor/v1 document with messages
// in l. Every finding has all five fields; details is {} when there are
// none, so readers need no presence checks.
func (r Report) WriteJSON(w io.Writer, l i18n.Lang) error {
	doc := jsonReport{Schema: Schema, Version: r.Version, Findings: []jsonFinding{}}
	for _, f := range r.Findings {
		d := f.Details
		if d == nil {
			d = map[string]any{}
		}
		doc.Findings = append(doc.Findings, jsonFinding{ID: f.ID, Severity: f.Severity, Message: f.Message.String(l), Fix: f.Fix.String(l), Details: d})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("doctor: write JSON: %w", err)
	}
	return nil
}

// marks are the text form's severity marks.
var marks = map[Severity]string{SeverityOK: "✓", SeverityInfo: "i", SeverityWarning: "!", SeverityError: "✗"}

// groups orders the text form's sections by the findings' id prefixes.
var groups = []struct {
	prefixes []string
	title    string
}{
	{[]string{"version", "config"}, "doctor.group.general"},
	{[]string{"agent", "port"}, "doctor.group.agent"},
	{[]string{"module"}, "doctor.group.modules"},
	{[]string{"token", "cert", "chain"}, "doctor.group.tokens"},
	{[]string{"trust"}, "doctor.group.trust"},
	{[]string{"tsa"}, "doctor.group.tsa"},
	{[]string{"browser"}, "doctor.group.browsers"},
	{[]string{"autostart"}, "doctor.group.autostart"},
}

func groupOf(id string) int {
	area, _, _ := strings.Cut(id, ".")
	for i, g := range groups {
		if slices.Contains(g.prefixes, area) {
			return i
		}
	}
	return len(groups)
}

// WriteText writes the report for a person, in l: the findings grouped
// by area, each with its mark (✓ ok, i info, ! warning, ✗ error) and,
// below it, the fix; then a one-line summary.
func (r Report) WriteText(w io.Writer, l i18n.Lang) error {
	ew := &errWriter{w: w}
	buckets := make([][]Finding, len(groups)+1)
	for _, f := range r.Findings {
		g := groupOf(f.ID)
		buckets[g] = append(buckets[g], f)
	}
	for i, fs := range buckets {
		if len(fs) == 0 {
			continue
		}
		title := "doctor.group.other"
		if i < len(groups) {
			title = groups[i].title
		}
		ew.printf("%s\n", l.T(title))
		for _, f := range fs {
			ew.printf("  %s %s\n", marks[f.Severity], f.Message.String(l))
			if fix := f.Fix.String(l); fix != "" {
				ew.printf("      → %s\n", fix)
			}
		}
	}
	errs, warns := r.Count(SeverityError), r.Count(SeverityWarning)
	if errs == 0 && warns == 0 {
		ew.printf("%s\n", l.T("doctor.summary.ok"))
	} else {
		ew.printf("%s\n", l.T("doctor.summary", errs, warns))
	}
	if ew.err != nil {
		return fmt.Errorf("doctor: write report: %w", ew.err)
	}
	return nil
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// KeyStore is what the token checks read: a *token.Manager. The tray
// passes the agent's own manager, so the report shows what the agent
// sees without loading anything twice.
type KeyStore interface {
	Modules() []token.ModuleStatus
	Tokens(ctx context.Context) ([]token.TokenInfo, error)
	Certificates(ctx context.Context) ([]*token.Certificate, error)
}

// Config says what to check and how to reach the system. The zero value
// checks this machine with the machine policy, no user configuration and
// module discovery off; `kyso doctor` fills it from its flags.
type Config struct {
	// Version is the version of the kyso making the report.
	Version string

	// PolicyPath is the policy file to read; "" means the machine policy
	// (/etc/kyso/policy.json, or the registry on Windows).
	PolicyPath string
	// ConfigPath is the user's configuration file; "" means none.
	ConfigPath string
	// LoadPolicy and LoadUserConfig replace the readers of PolicyPath
	// and ConfigPath (the tray passes what it loaded at start).
	LoadPolicy     func() (*agent.Policy, error)
	LoadUserConfig func() (*agent.UserConfig, error)

	// Modules are PKCS#11 libraries to load besides the policy's and the
	// user's (kyso doctor --module).
	Modules []string
	// Discover also loads the modules found in the standard folders.
	Discover bool
	// Keys, when set, is used instead of a token.Manager made from the
	// modules above; the modules are then only used to tell configured
	// modules from discovered ones.
	Keys KeyStore

	// AuditDir is the signing audit log's folder, reported so the
	// helpdesk knows where to look; "" leaves it out.
	AuditDir string

	// TrustFiles are extra trust anchors (PEM files), as given to
	// kyso run --trust.
	TrustFiles []string

	// TSACheck asks the timestamp authority for a real timestamp. It is
	// off by default because it reaches the network.
	TSACheck bool
	// HTTPClient is used for the timestamp request; nil means the default
	// client (which honours the proxy environment variables).
	HTTPClient *http.Client

	// Ports are the loopback ports the agent may listen on; nil means
	// bridge.DefaultPort and bridge.DefaultFallbackPort.
	Ports []int
	// InstanceDir is the folder of kyso run's single-instance lock; ""
	// means the user's default.
	InstanceDir string
	// Agent asks the running kyso run for its pid, port and version. nil
	// signals the instance in InstanceDir, which makes that instance show
	// its "kyso is running" notification; the tray, asking about itself,
	// answers directly.
	Agent func(ctx context.Context) (instance.Info, error)
	// ProcRoot is where the process table is read on Linux to name the
	// program holding a port; "" means /proc.
	ProcRoot string

	// Root prefixes the system paths read (browser policies, the system CA
	// bundle, the all-users autostart entries); "" is /.
	Root string
	// Exe is the kyso program the autostart entries should start; "" means
	// the one they name, else this program.
	Exe string
	// Autostart replaces the autostart status reader (tests).
	Autostart func(scope installer.Scope) (installer.Status, error)
	// BrowserPolicies replaces the reader of the browsers' managed
	// policies (tests on Windows, where they are in the registry).
	BrowserPolicies func() ([]BrowserPolicy, error)

	// Now is the time certificates are judged at; zero means time.Now.
	Now time.Time
}

// Budgets of the checks. The agent check waits at most instanceTimeout
// for the instance and probeTimeout for each port, concurrently; the TSA
// gets tsaTimeout (the government TSA has been seen to take two minutes,
// so a slow answer here is a warning, not an error).
const (
	instanceTimeout = 2 * time.Second
	probeTimeout    = 2 * time.Second
	tokenTimeout    = 20 * time.Second
	tsaTimeout      = 5 * time.Second
	// grace is how long a check may overrun its budget before Run stops
	// waiting for it (a PKCS#11 library hanging in C_Initialize cannot be
	// interrupted).
	grace = 2 * time.Second
)

// check is one independent check and its time budget.
type check struct {
	// name is the id area of its findings, and of "name.timeout" when it
	// overruns.
	name    string
	budget  time.Duration
	run     func(ctx context.Context, e *env) []Finding
	timeout Text
}

// env is what the checks share, computed once before they run: the
// configuration as loaded. It is read-only while the checks run.
type env struct {
	cfg      Config
	now      time.Time
	policy   *agent.Policy
	user     *agent.UserConfig
	settings *agent.Settings
	// trust loads the trust anchors once, for whichever check asks first.
	trust func() *trustEnv
}

// Run makes every check and returns the findings in a fixed order:
// version and configuration, agent and ports, modules, tokens and
// certificates, trust anchors, TSA, browsers, autostart. Checks that wait
// on something (the instance, ports, tokens, the TSA, systemd) run
// concurrently, each within its own budget and within ctx; a check that
// overruns is reported as such and left behind.
func Run(ctx context.Context, cfg Config) Report {
	e := &env{cfg: cfg, now: cfg.Now, trust: sync.OnceValue(func() *trustEnv { return loadTrust(cfg) })}
	if e.now.IsZero() {
		e.now = time.Now()
	}
	rep := Report{Version: cfg.Version}
	rep.Findings = append(rep.Findings, versionFinding(cfg.Version))
	rep.Findings = append(rep.Findings, e.loadConfig()...)

	checks := []check{
		{"agent", instanceTimeout + 2*probeTimeout, checkAgent, T("doctor.timeout.agent")},
		{"module", tokenTimeout, checkTokens, T("doctor.timeout.tokens")},
		{"trust", 5 * time.Second, checkTrust, T("doctor.timeout.trust")},
		{"tsa", tsaTimeout, checkTSA, T("doctor.timeout.tsa")},
		{"browser", 5 * time.Second, checkBrowsers, T("doctor.timeout.browsers")},
		{"autostart", 10 * time.Second, checkAutostart, T("doctor.timeout.autostart")},
	}
	results := make([][]Finding, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, c.budget)
			defer cancel()
			done := make(chan []Finding, 1)
			go func() { done <- c.run(cctx, e) }()
			select {
			case fs := <-done:
				results[i] = fs
				return
			case <-cctx.Done():
			}
			// Most checks return promptly once their context ends; give
			// them a moment to say what they found before giving up.
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case fs := <-done:
				results[i] = fs
			case <-t.C:
				results[i] = []Finding{{ID: c.name + ".timeout", Severity: SeverityWarning, Message: c.timeout, Fix: T("doctor.timeout.fix"),
					Details: map[string]any{"seconds": int(c.budget / time.Second)}}}
			}
		})
	}
	wg.Wait()
	for _, fs := range results {
		rep.Findings = append(rep.Findings, fs...)
	}
	return rep
}

// loadConfig reads the policy and the user's configuration, as the agent
// does at start: a file the agent would refuse is an error, because the
// agent does not start with it.
func (e *env) loadConfig() []Finding {
	var out []Finding
	cfg := e.cfg
	// The policy is a file, except the machine policy on Windows, which
	// is a registry key.
	file := cfg.PolicyPath
	if file == "" {
		file = agent.DefaultPolicyPath()
	}
	where := file
	if where == "" {
		where = `HKLM\Software\Policies\kyso`
	}
	load := cfg.LoadPolicy
	if load == nil {
		load = func() (*agent.Policy, error) {
			if cfg.PolicyPath != "" {
				return agent.LoadPolicy(cfg.PolicyPath)
			}
			return agent.LoadMachinePolicy()
		}
	}
	p, err := load()
	if err != nil {
		out = append(out, Finding{ID: "config.policy", Severity: SeverityError, Message: T("doctor.policy.bad", where, err.Error()),
			Fix: T("doctor.policy.bad.fix", where), Details: map[string]any{"path": where, "error": err.Error()}})
		p = &agent.Policy{Schema: agent.PolicySchema}
	} else {
		msg := T("doctor.policy.ok", where, len(p.AllowedOrigins))
		if cfg.LoadPolicy == nil && file != "" && absentFile(file) {
			msg = T("doctor.policy.none", where)
		}
		out = append(out, Finding{ID: "config.policy", Severity: SeverityOK, Message: msg,
			Details: map[string]any{"path": where, "allowedOrigins": nonNil(p.AllowedOrigins)}})
	}
	e.policy = p

	u := &agent.UserConfig{Schema: agent.UserConfigSchema}
	loadUser := cfg.LoadUserConfig
	if loadUser == nil && cfg.ConfigPath != "" {
		loadUser = func() (*agent.UserConfig, error) { return agent.LoadUserConfig(cfg.ConfigPath) }
	}
	if loadUser != nil {
		if lu, err := loadUser(); err != nil {
			out = append(out, Finding{ID: "config.user", Severity: SeverityError, Message: T("doctor.user.bad", cfg.ConfigPath, err.Error()),
				Fix: T("doctor.user.bad.fix", cfg.ConfigPath), Details: map[string]any{"path": cfg.ConfigPath, "error": err.Error()}})
		} else {
			u = lu
			msg := T("doctor.user.ok", cfg.ConfigPath)
			if cfg.LoadUserConfig == nil && absentFile(cfg.ConfigPath) {
				msg = T("doctor.user.none", cfg.ConfigPath)
			}
			out = append(out, Finding{ID: "config.user", Severity: SeverityOK, Message: msg,
				Details: map[string]any{"path": cfg.ConfigPath}})
		}
	}
	e.user = u

	if cfg.AuditDir != "" {
		msg := T("doctor.audit", cfg.AuditDir)
		if absentFile(cfg.AuditDir) {
			msg = T("doctor.audit.none", cfg.AuditDir)
		}
		out = append(out, Finding{ID: "config.audit", Severity: SeverityInfo, Message: msg, Details: map[string]any{"path": cfg.AuditDir}})
	}

	s, err := agent.NewSettings(p, u)
	if err != nil {
		out = append(out, Finding{ID: "config.settings", Severity: SeverityError, Message: T("doctor.settings.bad", err.Error()),
			Fix: T("doctor.settings.bad.fix"), Details: map[string]any{"error": err.Error()}})
		// The checks below still need the modules and the TSA named.
		s = &agent.Settings{TSA: firstNonEmpty(p.TSA, u.TSA), DefaultLevel: firstNonEmpty(p.DefaultLevel, u.DefaultLevel, agent.DefaultPAdESLevel)}
		for _, m := range slices.Concat(p.Modules, u.Modules) {
			if !slices.Contains(s.Modules, m) {
				s.Modules = append(s.Modules, m)
			}
		}
	}
	e.settings = s
	return out
}

// absentFile reports whether path names no file: the loaders take that
// for an empty policy or configuration, which the message should say.
func absentFile(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// nonNil makes a nil slice an empty one, so JSON says [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
