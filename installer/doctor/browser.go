package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kyso-vn/kyso/agent"
)

// BrowserPolicy is what one browser's enterprise policies say about
// pages reaching the agent on 127.0.0.1 (Local Network Access).
type BrowserPolicy struct {
	// Browser is "chrome", "chromium", "edge", "brave" or "firefox".
	Browser string `json:"browser"`
	// Name is the browser's name for people ("Google Chrome").
	Name string `json:"name"`
	// Family is "chromium" (URL patterns, Chrome's syntax) or "firefox"
	// (SkipDomains).
	Family string `json:"family"`
	// Installed says the browser was found on this machine.
	Installed bool `json:"installed"`
	// Sources are the files (or registry keys) the policies came from.
	Sources []string `json:"sources"`
	// Allowed are the entries that exempt pages from the Local Network
	// Access checks: LoopbackNetworkAllowedForUrls and
	// LocalNetworkAccessAllowedForUrls (Chromium family), or
	// LocalNetworkAccess.SkipDomains (Firefox).
	Allowed []string `json:"allowed"`
	// Blocked are LoopbackNetworkBlockedForUrls and
	// LocalNetworkAccessBlockedForUrls, which win over the allowed lists.
	Blocked []string `json:"blocked,omitempty"`
	// LNADisabled: Firefox's LocalNetworkAccess.Enabled is false, so no
	// page is checked.
	LNADisabled bool `json:"lnaDisabled,omitempty"`
	// Errors are the policy sources that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// The Chromium policies that list pages allowed, or refused, to reach
// loopback. LoopbackNetwork* are Chrome 146+, LocalNetworkAccess* 139+;
// both cover WebSockets.
var (
	chromiumAllowPolicies = []string{"LoopbackNetworkAllowedForUrls", "LocalNetworkAccessAllowedForUrls"}
	chromiumBlockPolicies = []string{"LoopbackNetworkBlockedForUrls", "LocalNetworkAccessBlockedForUrls"}
)

// firefoxPolicies is the part of Firefox's policies.json read here.
type firefoxPolicies struct {
	Policies struct {
		LocalNetworkAccess *struct {
			Enabled     *bool    `json:"Enabled"`
			SkipDomains []string `json:"SkipDomains"`
		} `json:"LocalNetworkAccess"`
	} `json:"policies"`
}

// addFirefoxJSON merges one policies.json into bp.
func (bp *BrowserPolicy) addFirefoxJSON(source string, data []byte) {
	var doc firefoxPolicies
	if err := json.Unmarshal(data, &doc); err != nil {
		bp.Errors = append(bp.Errors, fmt.Sprintf("%s: %v", source, err))
		return
	}
	bp.Sources = append(bp.Sources, source)
	if lna := doc.Policies.LocalNetworkAccess; lna != nil {
		bp.Allowed = append(bp.Allowed, lna.SkipDomains...)
		if lna.Enabled != nil && !*lna.Enabled {
			bp.LNADisabled = true
		}
	}
}

// site is a configured origin or wildcard origin, ready for matching:
// Port is explicit (the scheme's default filled in); Wildcard means every
// subdomain of Host.
type site struct {
	Scheme   string
	Host     string
	Port     int
	Wildcard bool
}

// siteOf reads a policy allowedOrigins entry.
func siteOf(entry string) (site, error) {
	p, err := agent.ParsePattern(entry)
	if err != nil {
		return site{}, err
	}
	if p.Wildcard() {
		return site{Scheme: p.Scheme(), Host: p.Domain(), Port: p.EffectivePort(), Wildcard: true}, nil
	}
	o := p.Origin()
	return site{Scheme: o.Scheme, Host: o.Host, Port: o.EffectivePort()}, nil
}

// chromePattern is an entry of a Chromium URL-pattern policy, in the
// content-settings syntax: [scheme://][[*.]]host[:port][/path], "*" for
// every page. A pattern with a scheme and no port means the scheme's
// default port; without a scheme, any scheme and any port.
type chromePattern struct {
	anyScheme, anyHost, subdomains, anyPort bool
	scheme, host                            string
	port                                    int
}

func parseChromePattern(s string) (chromePattern, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "*" {
		return chromePattern{anyScheme: true, anyHost: true, anyPort: true}, true
	}
	var p chromePattern
	rest := s
	if scheme, r, ok := strings.Cut(s, "://"); ok {
		p.scheme, rest = scheme, r
		p.anyScheme = scheme == "*"
	} else {
		p.anyScheme = true
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") && !strings.HasPrefix(rest, "[*.]") {
		// An IPv6 literal: [::1]:port.
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return chromePattern{}, false
		}
		host, port = rest[:end+1], strings.TrimPrefix(rest[end+1:], ":")
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
	}
	switch {
	case port == "*" || (port == "" && (p.anyScheme || agent.DefaultPort(p.scheme) == 0)):
		p.anyPort = true
	case port == "":
		p.port = agent.DefaultPort(p.scheme)
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return chromePattern{}, false
		}
		p.port = n
	}
	switch {
	case host == "*":
		p.anyHost = true
	case strings.HasPrefix(host, "[*.]"):
		p.subdomains, p.host = true, host[len("[*.]"):]
	default:
		p.host = host
	}
	if !p.anyHost && p.host == "" {
		return chromePattern{}, false
	}
	return p, true
}

// covers reports whether the pattern matches every page of s.
func (p chromePattern) covers(s site) bool {
	if !p.anyScheme && p.scheme != s.Scheme {
		return false
	}
	if !p.anyPort && p.port != s.Port {
		return false
	}
	switch {
	case p.anyHost:
		return true
	case s.Wildcard:
		// Every subdomain of s.Host: only a domain wildcard at or above it.
		return p.subdomains && domainWithin(s.Host, p.host)
	case p.subdomains:
		return domainWithin(s.Host, p.host)
	}
	return s.Host == p.host
}

// domainWithin reports whether host is domain or one of its subdomains.
func domainWithin(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// firefoxCovers reports whether a SkipDomains entry matches every page of
// s. Entries are host names, "*.domain" for subdomains, or whole URLs, of
// which the host counts.
func firefoxCovers(entry string, s site) bool {
	e := strings.ToLower(strings.TrimSpace(entry))
	if _, r, ok := strings.Cut(e, "://"); ok {
		e = r
	}
	if i := strings.IndexAny(e, "/:"); i >= 0 {
		e = e[:i]
	}
	if d, ok := strings.CutPrefix(e, "*."); ok {
		if s.Wildcard {
			return domainWithin(s.Host, d)
		}
		return strings.HasSuffix(s.Host, "."+d)
	}
	return !s.Wildcard && s.Host == e
}

// judge splits origins into those bp lets reach the agent, those it does
// not mention, and those it blocks.
func (bp BrowserPolicy) judge(origins []string, sites []site) (allowed, missing, blocked []string) {
	for i, s := range sites {
		o := origins[i]
		if bp.Family == "firefox" {
			if bp.LNADisabled || slices.ContainsFunc(bp.Allowed, func(e string) bool { return firefoxCovers(e, s) }) {
				allowed = append(allowed, o)
			} else {
				missing = append(missing, o)
			}
			continue
		}
		matches := func(list []string) bool {
			return slices.ContainsFunc(list, func(e string) bool {
				p, ok := parseChromePattern(e)
				return ok && p.covers(s)
			})
		}
		// The blocked lists win over the allowed ones.
		switch {
		case matches(bp.Blocked):
			blocked = append(blocked, o)
		case matches(bp.Allowed):
			allowed = append(allowed, o)
		default:
			missing = append(missing, o)
		}
	}
	return allowed, missing, blocked
}

// checkBrowsers reports, for each browser found, which of the policy's
// allowedOrigins its managed policies let reach the agent without the
// Local Network Access prompt.
func checkBrowsers(_ context.Context, e *env) []Finding {
	origins := e.policy.AllowedOrigins
	if len(origins) == 0 {
		return []Finding{{ID: "browser.no-origins", Severity: SeverityInfo, Message: T("doctor.browser.noOrigins"), Details: map[string]any{}}}
	}
	sites := make([]site, 0, len(origins))
	var usable []string
	for _, o := range origins {
		s, err := siteOf(o)
		if err != nil {
			// The policy check already reported an invalid entry.
			continue
		}
		sites = append(sites, s)
		usable = append(usable, o)
	}
	read := e.cfg.BrowserPolicies
	if read == nil {
		read = func() ([]BrowserPolicy, error) { return defaultBrowserPolicies(e.cfg.Root) }
	}
	bps, err := read()
	if err != nil {
		return []Finding{{ID: "browser.unreadable", Severity: SeverityWarning, Message: T("doctor.browser.unreadable", err.Error()),
			Fix: T("doctor.browser.unreadable.fix"), Details: map[string]any{"error": err.Error()}}}
	}
	var out []Finding
	for _, bp := range bps {
		if !bp.Installed && len(bp.Sources) == 0 && len(bp.Errors) == 0 {
			continue
		}
		allowed, missing, blocked := bp.judge(usable, sites)
		d := map[string]any{"browser": bp.Browser, "sources": nonNil(bp.Sources), "allowed": nonNil(allowed), "missing": nonNil(missing),
			"blocked": nonNil(blocked), "installed": bp.Installed}
		for _, msg := range bp.Errors {
			out = append(out, Finding{ID: "browser.unreadable", Severity: SeverityWarning, Message: T("doctor.browser.bad", bp.Name, msg),
				Fix: T("doctor.browser.bad.fix"), Details: map[string]any{"browser": bp.Browser, "error": msg}})
		}
		switch {
		case len(blocked) > 0:
			out = append(out, Finding{ID: "browser.blocked", Severity: SeverityWarning, Message: T("doctor.browser.blocked", bp.Name, strings.Join(blocked, ", ")),
				Fix: T("doctor.browser.blocked.fix", bp.Name), Details: d})
		case len(missing) > 0:
			out = append(out, Finding{ID: "browser.missing", Severity: SeverityWarning, Message: T("doctor.browser.missing", bp.Name, strings.Join(missing, ", ")),
				Fix: T("doctor.browser.missing.fix"), Details: d})
		case bp.LNADisabled:
			out = append(out, Finding{ID: "browser.allowed", Severity: SeverityOK, Message: T("doctor.browser.lnaOff", bp.Name), Details: d})
		default:
			out = append(out, Finding{ID: "browser.allowed", Severity: SeverityOK, Message: T("doctor.browser.allowed", bp.Name, strings.Join(allowed, ", ")), Details: d})
		}
	}
	if len(out) == 0 {
		out = append(out, Finding{ID: "browser.none", Severity: SeverityInfo, Message: T("doctor.browser.none"), Details: map[string]any{}})
	}
	return out
}
