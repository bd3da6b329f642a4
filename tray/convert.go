package tray

import (
	"slices"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/token"
)

// TokensFrom turns the agent's token list into menu views; holders are
// left to be taken from the certificates.
func TokensFrom(tokens []token.TokenInfo) []TokenView {
	out := make([]TokenView, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, TokenView{ID: t.ID, Label: t.Label})
	}
	return out
}

// CertificatesFrom turns the agent's certificate list into menu views.
func CertificatesFrom(certs []agent.CertificateInfo) []CertView {
	out := make([]CertView, 0, len(certs))
	for _, c := range certs {
		out = append(out, CertView{
			Handle:    string(c.Handle),
			Holder:    c.Identity.Name,
			Kind:      string(c.Identity.Kind),
			Issuer:    c.Issuer,
			NotBefore: c.NotBefore,
			NotAfter:  c.NotAfter,
			TokenID:   c.TokenID,
		})
	}
	return out
}

// SitesFrom lists the machine policy's allowed patterns
// (Settings.AllowedPatterns; managed, first) and then the user's approved
// origins (OriginGate.Approved) that the policy does not already name.
func SitesFrom(patterns []agent.OriginPattern, approved []agent.ApprovedOrigin) []SiteView {
	out := make([]SiteView, 0, len(patterns)+len(approved))
	policy := make([]string, 0, len(patterns))
	for _, p := range patterns {
		policy = append(policy, p.String())
		out = append(out, SiteView{Origin: p.String(), Managed: true})
	}
	for _, a := range approved {
		if slices.Contains(policy, a.Origin) {
			continue
		}
		out = append(out, SiteView{Origin: a.Origin, Approved: a.Approved})
	}
	return out
}

// ActivityFrom keeps the last n audit records (ReadAudit returns them
// oldest first) and returns them newest first.
func ActivityFrom(records []agent.AuditRecord, n int) []ActivityView {
	if n < 0 {
		n = 0
	}
	if len(records) > n {
		records = records[len(records)-n:]
	}
	out := make([]ActivityView, 0, len(records))
	for i := len(records) - 1; i >= 0; i-- {
		r := records[i]
		out = append(out, ActivityView{Time: r.Time, Site: r.Caller, Document: r.Document, Profile: r.Profile, Result: r.Result})
	}
	return out
}
