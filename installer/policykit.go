package installer

// The enterprise policy kit: one list of DMS origins, turned into every
// file IT deploys so that those sites reach the agent without a question
// to the user — the agent's own machine policy (Linux JSON, Windows .reg,
// ADMX templates) and the browsers' Local Network Access exemptions
// (Chrome/Chromium/Edge managed policies, Firefox policies.json).
// docs/deployment.md describes how IT uses it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kyso-vn/kyso/agent"
)

// Paths of the policy kit's files, relative to the kit's folder, as keys
// of PolicyKit.Files (always with forward slashes).
const (
	// KitPolicyJSON is the agent's machine policy for Linux
	// (/etc/kyso/policy.json).
	KitPolicyJSON = "kyso/policy.json"
	// KitPolicyReg is the same policy for Windows
	// (HKLM\Software\Policies\kyso).
	KitPolicyReg = "kyso/kyso-policy.reg"
	// KitChromiumJSON is the Chrome/Chromium/Edge managed policy for Linux.
	KitChromiumJSON = "chromium/kyso-local-network.json"
	// KitChromeReg is the Google Chrome policy for Windows.
	KitChromeReg = "windows/chrome-local-network.reg"
	// KitEdgeReg is the Microsoft Edge policy for Windows.
	KitEdgeReg = "windows/edge-local-network.reg"
	// KitFirefoxJSON is Firefox's policies.json.
	KitFirefoxJSON = "firefox/policies.json"
	// KitADMX is the Group Policy template of the agent's settings.
	KitADMX = "windows/PolicyDefinitions/kyso.admx"
	// KitADMLVietnamese and KitADMLEnglish are its language resources.
	KitADMLVietnamese = "windows/PolicyDefinitions/vi-VN/kyso.adml"
	KitADMLEnglish    = "windows/PolicyDefinitions/en-US/kyso.adml"
	// KitReadme says where each file goes, in Vietnamese then English.
	KitReadme = "README.txt"
)

// Chrome's two policy names that exempt a site from Local Network Access
// checks towards loopback: LoopbackNetworkAllowedForUrls (Chrome 146+,
// loopback only, the narrow one) and LocalNetworkAccessAllowedForUrls
// (Chrome 139+, which older browsers still in the fleet understand). The
// kit sets both to the same list.
const (
	// ChromeLoopbackPolicy exempts the listed sites' requests to loopback.
	ChromeLoopbackPolicy = "LoopbackNetworkAllowedForUrls"
	// ChromeLNAPolicy exempts the listed sites' requests to loopback and
	// the local network.
	ChromeLNAPolicy = "LocalNetworkAccessAllowedForUrls"
)

// Registry keys the kit's .reg files write, under HKEY_LOCAL_MACHINE.
const (
	// AgentPolicyKey is where agent.LoadMachinePolicy reads on Windows.
	AgentPolicyKey = `Software\Policies\kyso`
	// ChromePolicyKey holds Google Chrome's machine policies.
	ChromePolicyKey = `SOFTWARE\Policies\Google\Chrome`
	// EdgePolicyKey holds Microsoft Edge's machine policies.
	EdgePolicyKey = `SOFTWARE\Policies\Microsoft\Edge`
)

// PolicyKit is what IT decides once for its fleet: the DMS origins that
// may use the agent, and the few agent settings that go with them.
type PolicyKit struct {
	// Origins may connect to the agent without asking the user, and are
	// exempted from the browsers' Local Network Access prompt. Entries are
	// what agent.ParsePattern accepts: exact origins
	// ("https://qlvb.example.gov.vn", "https://dms.example.vn:8443") or
	// one leading wildcard label ("https://*.example.gov.vn").
	Origins []string
	// HashOrigins may call signHash (exact origins only); each must be
	// covered by Origins, since a page that cannot connect cannot sign.
	HashOrigins []string
	// UserMayApprove lets users approve sites outside Origins in the
	// agent's dialog. The zero value (false) is the strict setting.
	UserMayApprove bool
	// TSA is the timestamp authority's URL, or "" for none.
	TSA string
}

// ErrNoOrigins is returned for a kit or an origin list without origins:
// a kit that allows nothing would only switch user approval off.
var ErrNoOrigins = errors.New("no origin listed")

// LineError is an invalid entry of an origin list: its 1-based line
// number, the entry as written and why it was refused.
type LineError struct {
	Line int
	Text string
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the reason (wrapping agent.ErrInvalidOrigin).
func (e *LineError) Unwrap() error { return e.Err }

// HashOriginError is a hash-signing origin that no entry of Origins
// admits.
type HashOriginError struct {
	Origin string
}

func (e *HashOriginError) Error() string {
	return fmt.Sprintf("hash-signing origin %s is not among the allowed origins", e.Origin)
}

// ReadOrigins reads an origin list: one origin per line, blank lines and
// lines starting with "#" ignored, surrounding spaces trimmed. With
// exact, entries are read with agent.ParseOrigin (hash-signing lists),
// otherwise with agent.ParsePattern (which also accepts one leading
// wildcard label). Entries come back in canonical form (lowercase, no
// default port), in order, each once. The first invalid line is a
// *LineError; a list without entries is ErrNoOrigins.
func ReadOrigins(r io.Reader, exact bool) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			// Windows Notepad starts UTF-8 files with a byte order mark.
			line = strings.TrimSpace(strings.TrimPrefix(line, "\uFEFF"))
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		canon, err := canonicalOrigin(line, exact)
		if err != nil {
			return nil, &LineError{Line: n, Text: line, Err: err}
		}
		if !slices.Contains(out, canon) {
			out = append(out, canon)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	if len(out) == 0 {
		return nil, ErrNoOrigins
	}
	return out, nil
}

func canonicalOrigin(s string, exact bool) (string, error) {
	if exact {
		o, err := agent.ParseOrigin(s)
		if err != nil {
			return "", err
		}
		return o.String(), nil
	}
	p, err := agent.ParsePattern(s)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// normalized is a validated kit: origins parsed and de-duplicated.
type normalized struct {
	patterns []agent.OriginPattern
	policy   agent.Policy
}

// normalize checks every entry of k the way the agent will and returns
// the policy the kit stands for.
func (k PolicyKit) normalize() (*normalized, error) {
	n := &normalized{policy: agent.Policy{Schema: agent.PolicySchema}}
	for i, s := range k.Origins {
		p, err := agent.ParsePattern(s)
		if err != nil {
			return nil, fmt.Errorf("origins[%d]: %w", i, err)
		}
		if !slices.Contains(n.policy.AllowedOrigins, p.String()) {
			n.patterns = append(n.patterns, p)
			n.policy.AllowedOrigins = append(n.policy.AllowedOrigins, p.String())
		}
	}
	if len(n.patterns) == 0 {
		return nil, ErrNoOrigins
	}
	for i, s := range k.HashOrigins {
		o, err := agent.ParseOrigin(s)
		if err != nil {
			return nil, fmt.Errorf("hashOrigins[%d]: %w", i, err)
		}
		if !slices.ContainsFunc(n.patterns, func(p agent.OriginPattern) bool { return p.Match(o) }) {
			return nil, &HashOriginError{Origin: o.String()}
		}
		if !slices.Contains(n.policy.HashSigningOrigins, o.String()) {
			n.policy.HashSigningOrigins = append(n.policy.HashSigningOrigins, o.String())
		}
	}
	if k.TSA != "" {
		// Refused here rather than escaped: a line break or a quote has no
		// business in a URL, and would have to survive JSON, .reg and the
		// Group Policy editor alike.
		if strings.ContainsFunc(k.TSA, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' || r == '\\' }) {
			return nil, fmt.Errorf("tsa %q: spaces, control characters, quotes and backslashes are not allowed", k.TSA)
		}
		if _, err := url.Parse(k.TSA); err != nil {
			return nil, fmt.Errorf("tsa %q: %w", k.TSA, err)
		}
	}
	approve := k.UserMayApprove
	n.policy.UserMayApprove = &approve
	n.policy.TSA = k.TSA
	// The agent's own checks, so that what the kit writes is what the
	// agent loads.
	if err := n.policy.Validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// Files returns every file of the kit, keyed by its slash-separated path
// in the kit's folder (the Kit* constants). Nothing is written.
func (k PolicyKit) Files() (map[string][]byte, error) {
	n, err := k.normalize()
	if err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}
	files := map[string][]byte{}

	pj, err := json.MarshalIndent(&n.policy, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}
	files[KitPolicyJSON] = append(pj, '\n')
	files[KitPolicyReg] = agentPolicyReg(&n.policy)

	chrome := make([]string, len(n.patterns))
	for i, p := range n.patterns {
		chrome[i] = chromePattern(p)
	}
	cj, err := json.MarshalIndent(map[string][]string{
		ChromeLoopbackPolicy: chrome,
		ChromeLNAPolicy:      chrome,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}
	files[KitChromiumJSON] = append(cj, '\n')
	files[KitChromeReg] = browserListReg(ChromePolicyKey, "Google Chrome", chrome)
	files[KitEdgeReg] = browserListReg(EdgePolicyKey, "Microsoft Edge", chrome)

	var skip []string
	for _, p := range n.patterns {
		if d, ok := firefoxDomain(p); ok && !slices.Contains(skip, d) {
			skip = append(skip, d)
		}
	}
	fj, err := firefoxPolicies(skip)
	if err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}
	files[KitFirefoxJSON] = fj

	admx, vi, en, err := policyTemplates()
	if err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}
	files[KitADMX], files[KitADMLVietnamese], files[KitADMLEnglish] = admx, vi, en
	files[KitReadme] = kitReadme(len(n.patterns), len(skip))
	return files, nil
}

// kitPaths is every path Files returns: Write recognises an earlier kit
// by them.
func kitPaths() []string {
	return []string{
		KitPolicyJSON, KitPolicyReg, KitChromiumJSON, KitChromeReg, KitEdgeReg,
		KitFirefoxJSON, KitADMX, KitADMLVietnamese, KitADMLEnglish, KitReadme,
	}
}

// chromePattern writes p in Chrome's enterprise URL pattern format
// (https://cloud.google.com/docs/chrome-enterprise/policies/url-patterns,
// the same for Edge): "scheme://host:port", where "[*.]" before a domain
// matches it and every subdomain. The port is always written: a pattern
// without one matches every port of the host, wider than the origin the
// agent admits.
//
// Chrome has no pattern for "subdomains only", so "https://*.example.gov.vn"
// becomes "https://[*.]example.gov.vn:443", which also exempts
// example.gov.vn itself from the prompt; the agent's own allowlist stays
// exact and does not admit that origin.
func chromePattern(p agent.OriginPattern) string {
	host := p.Origin().Host
	if p.Wildcard() {
		host = "[*.]" + p.Domain()
	}
	return p.Scheme() + "://" + host + ":" + strconv.Itoa(p.EffectivePort())
}

// firefoxDomain is p's entry of Firefox's LocalNetworkAccess SkipDomains:
// a host name, no scheme or port ("dms.example.vn"), or "*.example.gov.vn",
// which Firefox also applies to example.gov.vn itself. ok is false for
// loopback hosts: SkipDomains lists targets as well as sources, so
// "127.0.0.1" or "localhost" there would let every web site reach the
// agent without a prompt — and a page served from loopback needs no
// exemption to reach loopback.
func firefoxDomain(p agent.OriginPattern) (string, bool) {
	if p.Wildcard() {
		return "*." + p.Domain(), true
	}
	h := p.Origin().Host
	switch h {
	case "127.0.0.1", "localhost", "[::1]":
		return "", false
	}
	// Firefox compares the URI's host, written without brackets.
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), true
}

// firefoxPolicies is Firefox's policies.json. Only SkipDomains is set:
// with Enabled present, Firefox would also switch BlockTrackers and
// EnablePrompting on, which is not the kit's business.
func firefoxPolicies(skip []string) ([]byte, error) {
	if skip == nil {
		skip = []string{} // an empty list, never null
	}
	type lna struct {
		SkipDomains []string `json:"SkipDomains"`
	}
	data, err := json.MarshalIndent(map[string]map[string]lna{
		"policies": {"LocalNetworkAccess": {SkipDomains: skip}},
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// kitReadme is README.txt: where each file goes, Vietnamese first.
func kitReadme(origins, firefox int) []byte {
	var b bytes.Buffer
	vi := []struct{ path, where string }{
		{KitPolicyJSON, "Linux: chép thành /etc/kyso/policy.json (chủ sở hữu root, quyền 0644)."},
		{KitPolicyReg, `Windows: nhập bằng quyền quản trị (reg import kyso-policy.reg), ghi vào HKLM\Software\Policies\kyso.`},
		{KitChromiumJSON, "Linux: chép vào /etc/chromium/policies/managed/ (Chromium), /etc/opt/chrome/policies/managed/ (Google Chrome) và /etc/opt/edge/policies/managed/ (Microsoft Edge)."},
		{KitChromeReg, `Windows, Google Chrome: reg import, ghi vào HKLM\SOFTWARE\Policies\Google\Chrome.`},
		{KitEdgeReg, `Windows, Microsoft Edge: reg import, ghi vào HKLM\SOFTWARE\Policies\Microsoft\Edge.`},
		{KitFirefoxJSON, `Firefox: Linux /etc/firefox/policies/policies.json; Windows thư mục distribution cạnh firefox.exe (C:\Program Files\Mozilla Firefox\distribution\).`},
		{KitADMX, `Group Policy: chép vào C:\Windows\PolicyDefinitions\ hoặc kho trung tâm \\<miền>\SYSVOL\<miền>\Policies\PolicyDefinitions\.`},
		{KitADMLVietnamese, `Group Policy: chép vào thư mục vi-VN\ cạnh kyso.admx.`},
		{KitADMLEnglish, `Group Policy: chép vào thư mục en-US\ cạnh kyso.admx.`},
	}
	en := []struct{ path, where string }{
		{KitPolicyJSON, "Linux: copy to /etc/kyso/policy.json (owned by root, mode 0644)."},
		{KitPolicyReg, `Windows: import as an administrator (reg import kyso-policy.reg); writes HKLM\Software\Policies\kyso.`},
		{KitChromiumJSON, "Linux: copy into /etc/chromium/policies/managed/ (Chromium), /etc/opt/chrome/policies/managed/ (Google Chrome) and /etc/opt/edge/policies/managed/ (Microsoft Edge)."},
		{KitChromeReg, `Windows, Google Chrome: reg import; writes HKLM\SOFTWARE\Policies\Google\Chrome.`},
		{KitEdgeReg, `Windows, Microsoft Edge: reg import; writes HKLM\SOFTWARE\Policies\Microsoft\Edge.`},
		{KitFirefoxJSON, `Firefox: Linux /etc/firefox/policies/policies.json; Windows the distribution folder next to firefox.exe (C:\Program Files\Mozilla Firefox\distribution\).`},
		{KitADMX, `Group Policy: copy to C:\Windows\PolicyDefinitions\ or the central store \\<domain>\SYSVOL\<domain>\Policies\PolicyDefinitions\.`},
		{KitADMLVietnamese, `Group Policy: copy into the vi-VN\ folder next to kyso.admx.`},
		{KitADMLEnglish, `Group Policy: copy into the en-US\ folder next to kyso.admx.`},
	}
	fmt.Fprintf(&b, "Bộ chính sách kyso cho %d nguồn (trang web) được phép, tạo bởi \"kyso policy generate\".\n\n", origins)
	for _, f := range vi {
		fmt.Fprintf(&b, "%s — %s\n", f.path, f.where)
	}
	b.WriteString("\nLưu ý: các tệp của trình duyệt thay cho cả danh sách của chính sách đó (và policies.json thay cho tệp policies.json đang có); nếu máy đã cho phép trang khác, hãy gộp danh sách trước khi cài.\n")
	if firefox == 0 {
		b.WriteString("Firefox: không có tên miền nào cần miễn kiểm tra (chỉ có nguồn 127.0.0.1/localhost).\n")
	}
	fmt.Fprintf(&b, "\nkyso policy kit for %d allowed origins (web sites), made by \"kyso policy generate\".\n\n", origins)
	for _, f := range en {
		fmt.Fprintf(&b, "%s — %s\n", f.path, f.where)
	}
	b.WriteString("\nNote: each browser file replaces that policy's whole list (and policies.json replaces an existing policies.json); if the machines already allow other sites, merge the lists before deploying.\n")
	if firefox == 0 {
		b.WriteString("Firefox: no domain needs an exemption (only 127.0.0.1/localhost origins).\n")
	}
	return b.Bytes()
}
