package agent

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/pades"
)

type translator struct{ lang i18n.Lang }

func newTranslator(lang string) translator { return translator{i18n.Parse(lang)} }

func (t translator) T(key string, args ...any) string { return t.lang.T(key, args...) }

// finding is the message of a finding code; an unknown code (a newer
// verifier's) is shown as itself rather than hidden.
func (t translator) finding(code string) string {
	key := "verify.finding." + code
	if !i18n.Has(key) {
		return code
	}
	return t.T(key)
}

// vietnamTime shows times the way the people reading the report live them.
var vietnamTime = time.FixedZone("GMT+7", 7*3600)

func (t translator) when(tm time.Time) string {
	return tm.In(vietnamTime).Format("02/01/2006 15:04:05") + " (GMT+7)"
}

func (t translator) day(tm time.Time) string { return tm.In(vietnamTime).Format("02/01/2006") }

// WriteText writes the report for people, in lang ("vi" by default): per
// signature what Thông tư 15/2025 asks a verifier to show — issuing CA,
// signer, managing organisation, signing time or timestamp, integrity,
// validity at signing time, certificate validity period — then the
// findings.
func (r *VerificationReport) WriteText(w io.Writer, lang string) error {
	t := newTranslator(lang)
	var b strings.Builder
	name := r.File
	if name == "" {
		name = "-"
	}
	fmt.Fprintln(&b, t.T("verify.file", name, r.Size, len(r.Signatures)))
	fmt.Fprintln(&b, t.T("verify.sha256", r.SHA256))
	if len(r.Signatures) == 0 {
		fmt.Fprintln(&b, t.T("verify.none"))
	}
	fmt.Fprintln(&b, t.T("verify.overall", t.T("verify.verdict."+string(r.Verdict))))
	if r.Offline {
		fmt.Fprintln(&b, t.T("verify.offline"))
	}
	for _, s := range r.Signatures {
		b.WriteString("\n")
		kind := t.T("verify.kind.signature")
		if s.Type == pades.TypeDocTimestamp {
			kind = t.T("verify.kind.doctimestamp")
		}
		fmt.Fprintln(&b, t.T("verify.sig.head", kind, s.Index, s.Field, t.T("verify.verdict."+string(s.Verdict))))
		row := func(label, value string) {
			if value != "" {
				fmt.Fprintf(&b, "  %-26s %s\n", t.T(label)+":", value)
			}
		}
		if s.Type == pades.TypeSignature && s.Signer != nil {
			who := s.Signer.Name
			var ids []string
			for _, id := range s.Signer.IDs {
				ids = append(ids, id.Type+" "+id.Value)
			}
			if len(ids) > 0 {
				who += " (" + strings.Join(ids, ", ") + ")"
			}
			row("verify.signer", who)
			row("verify.kindof", t.T("verify.signerkind."+string(s.Signer.Kind)))
			row("verify.title", strings.Trim(strings.Join([]string{s.Signer.Title, s.Signer.OrganizationalUnit}, " — "), " —"))
			row("verify.org", s.Signer.Organization)
		}
		row("verify.issuer", s.Issuer)
		if s.Timestamp != nil && s.Type == pades.TypeDocTimestamp {
			row("verify.tsa", s.Timestamp.Authority)
		}
		switch s.SigningTimeSource {
		case "timestamp":
			row("verify.time", t.when(*s.SigningTime)+" — "+t.T("verify.time.timestamp"))
		case "claimed":
			row("verify.time", t.when(*s.SigningTime)+" — "+t.T("verify.time.claimed"))
		case "verification":
			row("verify.time", t.T("verify.time.none"))
		}
		if s.Timestamp != nil && s.Type == pades.TypeSignature {
			ts := t.when(s.Timestamp.Time)
			if s.Timestamp.Authority != "" {
				ts += " — " + s.Timestamp.Authority
			}
			row("verify.timestamp", ts)
		}
		row("verify.integrity", t.integrity(s))
		row("verify.validity", t.validity(s))
		if s.SignerCert != nil {
			row("verify.period", t.T("verify.period.value", t.day(s.SignerCert.NotBefore), t.day(s.SignerCert.NotAfter)))
		}
		if len(s.Chain) > 0 {
			var names []string
			for _, c := range s.Chain {
				names = append(names, c.Name)
			}
			row("verify.chain", strings.Join(names, " → "))
		}
		for _, rv := range s.Revocation {
			row("verify.revocation", t.revocation(rv))
		}
		if s.Reason != "" {
			row("verify.reason", s.Reason)
		}
		said := map[string]bool{} // one line per code: the chain's certificates often share one
		for _, f := range s.Findings {
			if said[f.Code] {
				continue
			}
			said[f.Code] = true
			fmt.Fprintf(&b, "  %s %s\n", t.T("verify.severity."+string(f.Severity)), t.finding(f.Code))
		}
		// What changed, when something not permitted did: the clerk must
		// be able to say what was altered, not only that something was.
		for _, c := range s.Changes {
			if !c.Permitted {
				fmt.Fprintf(&b, "    – %s\n", t.change(c))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (t translator) integrity(s SignatureVerification) string {
	if !s.Intact {
		return t.T("verify.integrity.broken")
	}
	if s.CoversWholeFile {
		return t.T("verify.integrity.whole")
	}
	for _, c := range s.Changes {
		if !c.Permitted {
			return t.T("verify.integrity.modified", s.RevisionsAfter)
		}
	}
	return t.T("verify.integrity.permitted", s.RevisionsAfter)
}

func (t translator) validity(s SignatureVerification) string {
	if !s.Intact {
		return ""
	}
	switch {
	case !s.Trusted:
		return t.T("verify.validity.untrusted")
	case s.Verdict == pades.Valid:
		return t.T("verify.validity.ok")
	case s.Verdict == pades.Invalid:
		return t.T("verify.validity.bad")
	}
	return t.T("verify.validity.unknown")
}

func (t translator) revocation(rv RevocationSummary) string {
	src := ""
	if rv.Source != "" {
		src = " — " + t.T("verify.source."+rv.Source)
	}
	switch rv.Status {
	case "good":
		return t.T("verify.rev.good", rv.Subject) + src
	case "revoked":
		at := ""
		if rv.RevokedAt != nil {
			at = t.when(*rv.RevokedAt)
		}
		return t.T("verify.rev.revoked", rv.Subject, at) + src
	}
	return t.T("verify.rev.unknown", rv.Subject)
}

// change names a change after signing for people.
func (t translator) change(c ChangeReport) string {
	what := c.Kind
	if key := "verify.change." + c.Kind; i18n.Has(key) {
		what = t.T(key)
	}
	if c.Page > 0 {
		what += " " + t.T("verify.change.page", c.Page)
	}
	if c.Field != "" {
		what += " " + t.T("verify.change.field", c.Field)
	}
	return what
}
