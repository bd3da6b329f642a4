package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/token"
)

// configuredModules are the modules the policy, the user and the command
// line name, in that order, each once.
func (e *env) configuredModules() []string {
	var out []string
	for _, m := range slices.Concat(e.settings.Modules, e.cfg.Modules) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// samePath reports whether two module paths name the same file: the token
// package reports a loaded module by its resolved path.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, rb := resolve(a), resolve(b)
	return ra == rb
}

func resolve(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p
}

// checkTokens loads the modules (or reads Config.Keys) and reports each
// module, each token and each certificate with a private key: its expiry
// and whether its chain reaches a trust anchor.
func checkTokens(ctx context.Context, e *env) []Finding {
	configured := e.configuredModules()
	keys := e.cfg.Keys
	if keys == nil {
		m := token.NewManager(token.Options{Modules: configured, Discover: e.cfg.Discover})
		defer m.Close()
		keys = m
	}
	var out []Finding
	loaded := 0
	statuses := keys.Modules()
	for _, st := range statuses {
		isConfigured := slices.ContainsFunc(configured, func(c string) bool { return samePath(c, st.Path) })
		if st.Loaded {
			loaded++
			out = append(out, Finding{ID: "module.loaded", Severity: SeverityOK,
				Message: T("doctor.module.loaded", st.Path, st.Manufacturer, st.Description, st.CryptokiVersion),
				Details: map[string]any{"path": st.Path, "configured": isConfigured, "manufacturer": st.Manufacturer,
					"description": st.Description, "cryptokiVersion": st.CryptokiVersion, "libraryVersion": st.LibraryVersion}})
			continue
		}
		out = append(out, moduleFailure(st, isConfigured))
	}
	if loaded == 0 {
		fix := T("doctor.module.none.fix")
		if !e.cfg.Discover && e.cfg.Keys == nil {
			fix = T("doctor.module.none.fix.discover")
		}
		out = append(out, Finding{ID: "module.none", Severity: SeverityError, Message: T("doctor.module.none", len(statuses)),
			Fix: fix, Details: map[string]any{"tried": len(statuses)}})
		return out
	}

	toks, terr := keys.Tokens(ctx)
	certs, cerr := keys.Certificates(ctx)
	if err := errors.Join(terr, cerr); err != nil {
		out = append(out, Finding{ID: "token.timeout", Severity: SeverityWarning, Message: T("doctor.token.timeout", err.Error()),
			Fix: T("doctor.token.timeout.fix"), Details: map[string]any{"error": err.Error()}})
	}
	if len(toks) == 0 {
		out = append(out, Finding{ID: "token.none", Severity: SeverityWarning, Message: T("doctor.token.none"),
			Fix: T("doctor.token.none.fix"), Details: map[string]any{}})
		return out
	}
	trust := e.trust()
	// The CA certificates on the tokens complete the chains, as they do
	// when the agent signs.
	inter := slices.Clone(trust.intermediates)
	for _, c := range certs {
		if c.IsCA && c.X509 != nil {
			inter = append(inter, c.X509)
		}
	}
	seen := map[token.Handle]bool{}
	for _, t := range toks {
		out = append(out, tokenFinding(t))
		n := 0
		for _, c := range certs {
			if c.TokenID != t.ID || c.IsCA || !c.HasPrivateKey {
				continue
			}
			n++
			// The same token seen through two modules lists its
			// certificates twice.
			if seen[c.Handle] {
				continue
			}
			seen[c.Handle] = true
			out = append(out, certFinding(c, t, e.now))
			out = append(out, chainFinding(c, inter, trust, e.now))
		}
		if n == 0 {
			out = append(out, Finding{ID: "token.no-certificate", Severity: SeverityWarning, Message: T("doctor.token.noCert", t.Label),
				Fix: T("doctor.token.noCert.fix"), Details: map[string]any{"token": t.Label, "tokenId": t.ID}})
		}
	}
	return out
}

// moduleFailure explains a module that did not load: the file's own
// problem when its header tells one, else what the loader said.
func moduleFailure(st token.ModuleStatus, configured bool) Finding {
	in := InspectModule(st.Path)
	problem, dependency := in.Problem, ""
	if problem == ModuleOK {
		problem, dependency = loadProblem(st.Error)
	}
	// A configured module that does not load is what someone meant to
	// use; a discovered one is often a 32-bit twin of a module that did
	// load (SysWOW64) and only worth a warning.
	sev := SeverityError
	if !configured {
		sev = SeverityWarning
	}
	d := map[string]any{"path": st.Path, "configured": configured, "reason": string(problem), "error": st.Error}
	if in.Detail != "" {
		d["detail"] = in.Detail
	}
	if in.Arch != "" {
		d["arch"] = in.Arch
	}
	if dependency != "" {
		d["dependency"] = dependency
	}
	return Finding{ID: "module." + string(problem), Severity: sev,
		Message: T("doctor.module.failed", st.Path, moduleReason(problem, in.Arch, dependency), st.Error),
		Fix:     moduleFix(problem, st.Path, in.Arch, dependency, runtime.GOOS, runtime.GOARCH), Details: d}
}

// moduleReason says in a few words why a module did not load.
func moduleReason(p ModuleProblem, arch, dependency string) Text {
	switch p {
	case ModuleWrongArch:
		return T("doctor.module.reason.wrong-arch", arch, runtime.GOARCH)
	case ModuleWrongOS:
		return T("doctor.module.reason.wrong-os", runtime.GOOS)
	case ModuleDependency:
		if dependency != "" {
			return T("doctor.module.reason.dependency", dependency)
		}
		return T("doctor.module.reason.dependency.unknown")
	}
	return T("doctor.module.reason." + string(p))
}

// tokenFinding reports a present token and its PIN state.
func tokenFinding(t token.TokenInfo) Finding {
	d := map[string]any{"label": t.Label, "tokenId": t.ID, "module": t.Module, "slot": t.SlotID, "manufacturer": t.Manufacturer,
		"model": t.Model, "serial": t.Serial, "pin": t.PIN}
	f := Finding{ID: "token.present", Severity: SeverityOK, Message: T("doctor.token.present", t.Label, t.Manufacturer, t.Model, t.Serial), Details: d}
	switch {
	case t.PIN.Locked:
		f.ID, f.Severity, f.Message, f.Fix = "token.pin-locked", SeverityError, T("doctor.token.pinLocked", t.Label), T("doctor.token.pinLocked.fix")
	case t.PIN.FinalTry:
		f.ID, f.Severity, f.Message, f.Fix = "token.pin-final-try", SeverityWarning, T("doctor.token.pinFinalTry", t.Label), T("doctor.token.pinFinalTry.fix")
	case t.PIN.CountLow:
		f.ID, f.Severity, f.Message, f.Fix = "token.pin-count-low", SeverityWarning, T("doctor.token.pinCountLow", t.Label), T("doctor.token.pinCountLow.fix")
	case t.PIN.ToBeChanged:
		f.ID, f.Severity, f.Message, f.Fix = "token.pin-change", SeverityWarning, T("doctor.token.pinChange", t.Label), T("doctor.token.pinChange.fix")
	}
	return f
}

// certFinding grades a certificate's validity period at now.
func certFinding(c *token.Certificate, t token.TokenInfo, now time.Time) Finding {
	const day = "2006-01-02"
	holder := c.Identity.Name
	if holder == "" && c.X509 != nil {
		holder = c.X509.Subject.String()
	}
	days := int(c.NotAfter.Sub(now).Hours() / 24)
	d := map[string]any{"holder": holder, "kind": string(c.Identity.Kind), "issuer": c.Issuer, "serial": c.Serial, "handle": string(c.Handle),
		"token": t.Label, "notBefore": c.NotBefore.UTC(), "notAfter": c.NotAfter.UTC(), "daysLeft": days}
	f := Finding{Details: d}
	switch {
	case now.After(c.NotAfter):
		f.ID, f.Severity = "cert.expired", SeverityError
		f.Message, f.Fix = T("doctor.cert.expired", holder, c.NotAfter.Format(day)), T("doctor.cert.expired.fix", c.Issuer)
	case now.Before(c.NotBefore):
		f.ID, f.Severity = "cert.not-yet-valid", SeverityWarning
		f.Message, f.Fix = T("doctor.cert.notYet", holder, c.NotBefore.Format(day)), T("doctor.cert.notYet.fix")
	case c.NotAfter.Sub(now) < agent.ExpiryWarning:
		f.ID, f.Severity = "cert.expiring", SeverityWarning
		f.Message, f.Fix = T("doctor.cert.expiring", holder, c.NotAfter.Format(day), days), T("doctor.cert.expiring.fix", c.Issuer, c.NotAfter.Format(day))
	default:
		f.ID, f.Severity = "cert.valid", SeverityOK
		f.Message = T("doctor.cert.valid", holder, c.NotAfter.Format(day), days)
	}
	return f
}

// chainFinding says whether c's chain reaches the shipped Vietnamese roots
// (or a configured trust file), else the system's CA bundle. The chain is
// judged at a time inside c's own validity, so an expired certificate is
// reported once, by certFinding, and not again as a chain problem.
func chainFinding(c *token.Certificate, inter []*x509.Certificate, trust *trustEnv, now time.Time) Finding {
	holder := c.Identity.Name
	at := now
	if at.After(c.NotAfter) {
		at = c.NotAfter.Add(-time.Minute)
	} else if at.Before(c.NotBefore) {
		at = c.NotBefore.Add(time.Minute)
	}
	d := map[string]any{"holder": holder, "handle": string(c.Handle), "issuer": c.Issuer}
	if trust.err != nil || c.X509 == nil {
		err := trust.err
		if err == nil {
			err = errors.New("no certificate")
		}
		d["error"] = err.Error()
		return Finding{ID: "chain.unchecked", Severity: SeverityWarning, Message: T("doctor.chain.unchecked", holder, err.Error()),
			Fix: T("doctor.chain.unchecked.fix"), Details: d}
	}
	chain, err := trust.store.Verify(c.X509, inter, at)
	if err == nil {
		anchor := chain.Certificates[len(chain.Certificates)-1]
		d["anchor"] = anchor.Subject.CommonName
		d["legacySHA1"] = chain.LegacySHA1
		d["source"] = "kyso"
		msg := T("doctor.chain.trusted", holder, anchor.Subject.CommonName)
		if chain.LegacySHA1 {
			msg = T("doctor.chain.legacy", holder, anchor.Subject.CommonName)
		}
		return Finding{ID: "chain.trusted", Severity: SeverityOK, Message: msg, Details: d}
	}
	code := cms.CodeChainUntrusted
	var ce *cms.ChainError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	d["code"] = code
	d["error"] = err.Error()
	if trust.system != nil {
		if chain, serr := trust.system.Verify(c.X509, inter, at); serr == nil {
			anchor := chain.Certificates[len(chain.Certificates)-1]
			d["anchor"] = anchor.Subject.CommonName
			d["source"] = "system"
			return Finding{ID: "chain.system", Severity: SeverityInfo, Message: T("doctor.chain.system", holder, anchor.Subject.CommonName),
				Fix: T("doctor.chain.system.fix"), Details: d}
		}
	}
	if code == cms.CodeChainUntrusted {
		return Finding{ID: "chain.untrusted", Severity: SeverityWarning, Message: T("doctor.chain.untrusted", holder, c.Issuer),
			Fix: T("doctor.chain.untrusted.fix", c.Issuer), Details: d}
	}
	return Finding{ID: "chain.problem", Severity: SeverityWarning, Message: T("doctor.chain.problem", holder, code, err.Error()),
		Fix: T("doctor.chain.problem.fix", c.Issuer), Details: d}
}
