package agent

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ncruces/zenity"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/token"
)

// NewZenityPrompter returns the Prompter of the desktop agent: native
// dialogs (Win32 on Windows, the zenity program on Linux, osascript on
// macOS). Every dialog closes after timeout (none when 0) and when its
// request is cancelled.
func NewZenityPrompter(lang i18n.Lang, timeout time.Duration) Prompter {
	z := &zenityPrompter{timeout: timeout}
	z.lang.Store(&lang)
	return z
}

type zenityPrompter struct {
	// lang changes when the user picks another language in the tray.
	lang    atomic.Pointer[i18n.Lang]
	timeout time.Duration
}

// SetLanguage makes the next dialogs speak lang.
func (z *zenityPrompter) SetLanguage(lang i18n.Lang) { z.lang.Store(&lang) }

func (z *zenityPrompter) language() i18n.Lang { return *z.lang.Load() }

func (z *zenityPrompter) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if z.timeout > 0 {
		return context.WithTimeout(ctx, z.timeout)
	}
	return context.WithCancel(ctx)
}

// dialogErr maps a zenity error: the cancel button or closing the window
// is ErrUserCancelled, a dismissal by ctx is ctx's error.
func dialogErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, zenity.ErrCanceled) {
		return ErrUserCancelled
	}
	return fmt.Errorf("agent: dialog: %w", err)
}

// zenityEntryText prepares an entry dialog's label for the platform. The
// Linux zenity program expands backslash escapes (g_strcompress) in it,
// so a document named `a\nTrang web: https://…` could draw fake lines;
// doubling backslashes shows them literally.
func zenityEntryText(s string) string {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		return s
	}
	return strings.ReplaceAll(s, `\`, `\\`)
}

// zenityListText prepares a list dialog's label: on Linux it is Pango
// markup after backslash expansion, so markup characters are escaped too.
func zenityListText(s string) string {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		return s
	}
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(zenityEntryText(s)))
	return b.String()
}

// ApproveOrigin asks with the deny button as the default, so that a
// reflexive Enter refuses.
func (z *zenityPrompter) ApproveOrigin(ctx context.Context, origin string) (bool, error) {
	ctx, cancel := z.bound(ctx)
	defer cancel()
	err := zenity.Question(FormatApproveOrigin(z.language(), origin),
		zenity.Title(z.language().T("prompt.title")),
		zenity.OKLabel(z.language().T("prompt.origin.allow")),
		zenity.CancelLabel(z.language().T("prompt.origin.deny")),
		zenity.DefaultCancel(),
		zenity.Icon(zenity.WarningIcon),
		zenity.Context(ctx))
	if err == nil {
		return true, nil
	}
	err = dialogErr(ctx, err)
	if errors.Is(err, ErrUserCancelled) {
		return false, nil // "Deny" and closing the window both refuse
	}
	return false, err
}

// ChooseCertificate shows one line per certificate, numbered so that two
// certificates with the same description stay distinct.
func (z *zenityPrompter) ChooseCertificate(ctx context.Context, p ChoosePrompt) (token.Handle, error) {
	if len(p.Certificates) == 0 {
		return "", &Error{Code: CodeNoCertificate, Message: "no certificate to choose from"}
	}
	ctx, cancel := z.bound(ctx)
	defer cancel()
	items := make([]string, len(p.Certificates))
	for i, c := range p.Certificates {
		items[i] = strconv.Itoa(i+1) + ". " + FormatCertificateChoice(z.language(), c)
	}
	text := z.language().T("prompt.choose.text") + "\n" + z.language().T("prompt.choose.caller", callerText(z.language(), p.Caller))
	got, err := zenity.List(zenityListText(text), items,
		zenity.Title(z.language().T("prompt.title")),
		zenity.OKLabel(z.language().T("prompt.choose.ok")),
		zenity.CancelLabel(z.language().T("prompt.cancel")),
		zenity.DisallowEmpty(),
		zenity.Width(640), zenity.Height(360),
		zenity.Context(ctx))
	if err != nil {
		return "", dialogErr(ctx, err)
	}
	for i, it := range items {
		if it == got {
			return p.Certificates[i].Handle, nil
		}
	}
	return "", ErrUserCancelled // nothing selected
}

// Sign shows the signing dialog. On Linux and macOS one entry dialog
// carries the whole text and the hidden PIN field. Windows' entry dialog
// has room for one line only, so there the full text is a question
// first ("Sign" / "Cancel") and the PIN entry follows with a short label.
func (z *zenityPrompter) Sign(ctx context.Context, p SignPrompt) ([]byte, error) {
	ctx, cancel := z.bound(ctx)
	defer cancel()
	title := zenity.Title(z.language().T("prompt.title"))
	ok := zenity.OKLabel(z.language().T("prompt.sign"))
	no := zenity.CancelLabel(z.language().T("prompt.cancel"))
	details := FormatSignDetails(z.language(), p)

	if !p.PINNeeded || runtime.GOOS == "windows" {
		footer := z.language().T("prompt.confirm")
		if p.PINNeeded {
			footer = z.language().T("prompt.confirm.pin")
		}
		icon := zenity.QuestionIcon
		if p.FinalTry {
			icon = zenity.WarningIcon
		}
		if err := zenity.Question(details+"\n\n"+footer, title, ok, no, zenity.Icon(icon), zenity.Context(ctx)); err != nil {
			return nil, dialogErr(ctx, err)
		}
		if !p.PINNeeded {
			return nil, nil
		}
	}

	text := zenityEntryText(FormatSignPrompt(z.language(), p))
	if runtime.GOOS == "windows" {
		text = z.language().T("prompt.pin.short")
		if p.RetriesLeft >= 0 {
			text = z.language().T("prompt.pin.short.left", p.RetriesLeft)
		}
	}
	for {
		// zenity hands the PIN over as a string, which cannot be wiped;
		// it is converted once and not kept.
		pin, err := zenity.Entry(text, title, ok, no, zenity.HideText(), zenity.Width(560), zenity.Context(ctx))
		if err != nil {
			return nil, dialogErr(ctx, err)
		}
		if pin != "" {
			return []byte(pin), nil
		}
		// An empty PIN is a slip of the Enter key, not an attempt: ask
		// again rather than spend one of the token's tries.
	}
}

// FormatApproveOrigin is the text of the origin approval dialog.
func FormatApproveOrigin(lang i18n.Lang, origin string) string {
	return lang.T("prompt.origin.question", cleanText(origin, 200))
}

// FormatCertificateChoice is one line of the certificate choice list.
func FormatCertificateChoice(lang i18n.Lang, c CertificateInfo) string {
	return lang.T("prompt.choose.item", holderText(c), cleanText(c.Issuer, 80), formatDate(c.NotAfter), cleanText(c.TokenLabel, 40))
}

// FormatSignPrompt is the full text of the signing dialog: the details
// and what to do (type the PIN, or press Sign).
func FormatSignPrompt(lang i18n.Lang, p SignPrompt) string {
	footer := lang.T("prompt.confirm")
	if p.PINNeeded {
		footer = lang.T("prompt.pin.enter")
	}
	return FormatSignDetails(lang, p) + "\n\n" + footer
}

// maxPromptDocuments documents are listed by name in a batch; the rest
// are counted, so that the dialog fits on the screen.
const maxPromptDocuments = 8

// FormatSignDetails describes a signing request: who asks, what is
// signed (each document's name, pages, size and SHA-256, or the digest
// and the caller's unverifiable description), the profile, the
// certificate and token, and the PIN tries left. Every string that comes
// from the caller or a certificate is cleaned of control and bidi
// characters and shortened, so it cannot draw fake lines or reorder the
// text.
func FormatSignDetails(lang i18n.Lang, p SignPrompt) string {
	var b strings.Builder
	line := func(s string) { b.WriteString(s); b.WriteByte('\n') }

	line(callerLine(lang, p.Caller))
	line("")
	switch p.Action {
	case "signHash":
		line(lang.T("prompt.action.signHash"))
		line(lang.T("prompt.hash.digest", shortHex(p.Digest)))
		if p.HashDescription != "" {
			line(lang.T("prompt.hash.description", cleanText(p.HashDescription, 200)))
		}
		line(lang.T("prompt.hash.warning"))
	default:
		if p.Action == "signPdfs" || len(p.Documents) > 1 {
			line(lang.T("prompt.action.signPdfs", len(p.Documents)))
		} else {
			line(lang.T("prompt.action.signPdf"))
		}
		var total int64
		for i, d := range p.Documents {
			total += d.Size
			if i >= maxPromptDocuments {
				continue
			}
			line(lang.T("prompt.doc.name", cleanText(d.Name, 100)))
			if d.Pages > 0 {
				line(lang.T("prompt.doc.facts", d.Pages, formatSize(lang, d.Size), shortHex(d.SHA256)))
			} else {
				line(lang.T("prompt.doc.facts.nopages", formatSize(lang, d.Size), shortHex(d.SHA256)))
			}
		}
		if n := len(p.Documents) - maxPromptDocuments; n > 0 {
			line(lang.T("prompt.doc.more", n))
		}
		if len(p.Documents) > 1 {
			line(lang.T("prompt.doc.total", formatSize(lang, total)))
		}
		line(lang.T("prompt.profile", profileText(lang, p.Profile)))
	}
	line("")
	line(lang.T("prompt.cert", holderText(p.Certificate)))
	line(lang.T("prompt.cert.issuer", cleanText(p.Certificate.Issuer, 120)))
	line(lang.T("prompt.cert.validity", formatDate(p.Certificate.NotBefore), formatDate(p.Certificate.NotAfter)))
	label := p.TokenLabel
	if label == "" {
		label = p.Certificate.TokenLabel
	}
	if label != "" {
		line(lang.T("prompt.token", cleanText(label, 60)))
	}
	if p.PINNeeded && (p.Retry || p.RetriesLeft >= 0 || p.FinalTry) {
		line("")
		if p.Retry {
			line(lang.T("prompt.pin.retry"))
		}
		if p.FinalTry {
			line(lang.T("prompt.pin.final"))
		} else if p.RetriesLeft >= 0 {
			line(lang.T("prompt.pin.left", p.RetriesLeft))
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func callerText(lang i18n.Lang, caller string) string {
	if caller == "local" || caller == "" {
		return lang.T("prompt.caller.local")
	}
	return cleanText(caller, 200)
}

func callerLine(lang i18n.Lang, caller string) string {
	if caller == "local" || caller == "" {
		return lang.T("prompt.caller.local")
	}
	return lang.T("prompt.caller.web", cleanText(caller, 200))
}

func holderText(c CertificateInfo) string {
	s := cleanText(c.Identity.Name, 80)
	if org := cleanText(c.Identity.Organization, 80); org != "" && org != s {
		s += " (" + org + ")"
	}
	return s
}

func profileText(lang i18n.Lang, profile string) string {
	if profile == "" {
		return lang.T("prompt.profile.none")
	}
	if k := "prompt.profile." + profile; i18n.Has(k) {
		return lang.T(k)
	}
	return cleanText(profile, 40)
}

// shortHex shows a digest as its first 16 and last 8 hex digits: enough
// to compare with what the website shows, short enough for one line.
func shortHex(h string) string {
	h = strings.ToLower(cleanText(h, 256))
	if len(h) <= 32 {
		return h
	}
	return h[:16] + "…" + h[len(h)-8:]
}

func formatDate(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.In(vietnamTime).Format("02/01/2006")
}

// formatSize writes n bytes with the language's decimal separator.
func formatSize(lang i18n.Lang, n int64) string {
	var s string
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		s = strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KB"
	case n < 1<<30:
		s = strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	default:
		s = strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GB"
	}
	if lang == i18n.Vietnamese {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// cleanText makes a caller- or certificate-supplied string safe to show:
// control characters (newlines, terminal escapes), bidi overrides and
// invisible format characters become U+FFFD, so a name cannot forge a
// line or reorder what the user reads; it is cut to max runes, keeping
// the end, where a file's extension is.
func cleanText(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return '\uFFFD'
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	head := max * 2 / 3
	tail := max - head - 1
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}
