// Package tray holds kyso's tray: the icon next to the clock and its menu.
//
// This file is the display-free part: the menu is a pure function of a
// State snapshot, so it is tested as plain Go. The code that talks to the
// desktop (D-Bus StatusNotifierItem, Windows shell) renders a Menu and
// dispatches clicks by the items' stable IDs.
package tray

import (
	"fmt"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// PAdESLevels returns the default signature levels the settings offer, in
// order.
func PAdESLevels() []string { return []string{"B-B", "B-T", "B-LT", "B-LTA"} }

// Stable IDs of the menu's fixed action items. Per-object actions are built
// from a prefix and the object's identifier: "lock:<tokenID>",
// "revoke:<origin>", "lang:<vi|en>", "level:<B-B…>".
const (
	IDRevokeAll    = "revoke-all"
	IDSignFile     = "sign-file"
	IDVerifyFile   = "verify-file"
	IDOpenAudit    = "open-audit"
	IDStartAtLogin = "start-at-login"
	IDSetTSA       = "set-tsa"
	IDDiagnostics  = "diagnostics"
	IDAbout        = "about"
	IDQuit         = "quit"

	PrefixLock   = "lock:"
	PrefixRevoke = "revoke:"
	PrefixLang   = "lang:"
	PrefixLevel  = "level:"
	// PrefixSignatureImage and PrefixSealImage are followed by a
	// certificate's handle: pick the image shown with its signatures.
	PrefixSignatureImage = "signature-image:"
	PrefixSealImage      = "seal-image:"
)

// IDLock is the ID of the disabled "lock token" item shown when no token is
// plugged in.
const IDLock = "lock"

// State is everything the menu and the icon show, captured at one moment.
type State struct {
	Version string
	Port    int
	// Tokens are the tokens plugged in now.
	Tokens []TokenView
	// Certificates are the certificates on those tokens.
	Certificates []CertView
	// Approved are the sites allowed to ask for signatures: the user's list
	// and the machine policy's patterns (Managed).
	Approved []SiteView
	// Recent is the last few audit records, newest first.
	Recent []ActivityView
	// Busy is set while a signature is being made; WaitingForUser while a
	// dialog waits for an answer; LastError is the last failure shown to
	// the user, empty once cleared.
	Busy           bool
	WaitingForUser bool
	LastError      string
	// Lang is the language of the menu; anything but English is Vietnamese.
	Lang i18n.Lang
	// Now is the time expiry warnings are computed against.
	Now      time.Time
	Settings SettingsView
}

// TokenView is a token plugged in.
type TokenView struct {
	ID    string
	Label string
	// Holders are the names on the token's certificates; when nil they
	// are taken from State.Certificates.
	Holders []string
}

// CertView is a certificate on a token.
type CertView struct {
	Handle    string
	Holder    string // the certificate's CN
	Kind      string // personal, organisation, unknown
	Issuer    string
	NotBefore time.Time
	NotAfter  time.Time
	TokenID   string
}

// SiteView is a site allowed to ask for signatures.
type SiteView struct {
	Origin   string
	Approved time.Time // when the user approved it; zero for managed sites
	// Managed sites come from the machine policy: shown, not removable.
	Managed bool
}

// ActivityView is one audit record as the menu shows it.
type ActivityView struct {
	Time     time.Time
	Site     string // origin, or "local"
	Document string
	Profile  string // approved, issued, appendix, copy, income, comment, or ""
	Result   string // "ok" or an error code
}

// SettingsView is the user's settings as the menu shows them.
type SettingsView struct {
	Language     i18n.Lang
	TSA          string
	DefaultLevel string
	StartAtLogin bool
	// TSALocked and LevelLocked are set when the machine policy fixes the
	// timestamp server or the default level: shown, not changeable.
	TSALocked   bool
	LevelLocked bool
}

// Kind is what a menu item is.
type Kind int

// Menu item kinds.
const (
	KindAction Kind = iota
	KindSeparator
	KindSubmenu
	KindInfo
)

// String names the kind, for tests and logs.
func (k Kind) String() string {
	switch k {
	case KindAction:
		return "action"
	case KindSeparator:
		return "separator"
	case KindSubmenu:
		return "submenu"
	case KindInfo:
		return "info"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Toggle is how an action item shows its Checked state.
type Toggle int

// Toggle types, as in the D-Bus menu protocol ("checkmark", "radio").
const (
	ToggleNone Toggle = iota
	ToggleCheckbox
	ToggleRadio
)

// Item is one menu entry. IDs are unique across a menu and stable between
// builds, so a click is dispatched by ID whatever changed meanwhile.
type Item struct {
	ID       string
	Kind     Kind
	Label    string // empty only for separators
	Tooltip  string
	Enabled  bool
	Toggle   Toggle
	Checked  bool
	Children []Item // submenus only
}

// Menu is the tray's menu: top-level items in order.
type Menu struct {
	Items []Item
}

// Walk calls f for every item of the menu, depth first, with its parents'
// IDs. It stops early when f returns false.
func (m Menu) Walk(f func(parents []string, it Item) bool) {
	var walk func(parents []string, items []Item) bool
	walk = func(parents []string, items []Item) bool {
		for _, it := range items {
			if !f(parents, it) {
				return false
			}
			if len(it.Children) > 0 && !walk(append(parents[:len(parents):len(parents)], it.ID), it.Children) {
				return false
			}
		}
		return true
	}
	walk(nil, m.Items)
}

// Find returns the item with the given ID.
func (m Menu) Find(id string) (Item, bool) {
	var found Item
	ok := false
	m.Walk(func(_ []string, it Item) bool {
		if it.ID == id {
			found, ok = it, true
			return false
		}
		return true
	})
	return found, ok
}

// Icon is the tray icon's state.
type Icon int

// Icon states.
const (
	IconReady   Icon = iota // a token is plugged in
	IconNoToken             // no token
	IconSigning             // a signature is being made
	IconWaiting             // a dialog waits for the user
	IconError               // the last operation failed
)

// String names the icon state; it is also the base name of the icon files.
func (i Icon) String() string {
	switch i {
	case IconReady:
		return "ready"
	case IconNoToken:
		return "no-token"
	case IconSigning:
		return "signing"
	case IconWaiting:
		return "waiting"
	case IconError:
		return "error"
	}
	return fmt.Sprintf("Icon(%d)", int(i))
}

// IconState picks the icon. What needs the user comes first: a waiting
// dialog, then a signature in progress, then an error, then whether a
// token is plugged in.
func IconState(s State) Icon {
	switch {
	case s.WaitingForUser:
		return IconWaiting
	case s.Busy:
		return IconSigning
	case s.LastError != "":
		return IconError
	case len(s.Tokens) == 0:
		return IconNoToken
	}
	return IconReady
}

// Tooltip is the icon's tooltip for the state, in s.Lang (Vietnamese by
// default).
func Tooltip(s State) string {
	l := s.Lang
	switch IconState(s) {
	case IconWaiting:
		return l.T("tray.tip.waiting")
	case IconSigning:
		return l.T("tray.tip.signing")
	case IconError:
		return l.T("tray.tip.error", s.LastError)
	case IconNoToken:
		return l.T("tray.tip.notoken")
	}
	var names []string
	for _, t := range s.Tokens {
		names = append(names, holders(s, t)...)
	}
	if len(names) == 0 {
		return l.T("tray.tip.ready")
	}
	return l.T("tray.tip.ready.holders", strings.Join(names, ", "))
}

// vnZone is GMT+7, the time zone the menu shows times in.
func vnZone() *time.Location { return time.FixedZone("GMT+7", 7*60*60) }

// builder numbers separators so that their IDs are unique too.
type builder struct {
	s    State
	l    i18n.Lang
	zone *time.Location
	seps int
}

func (b *builder) sep() Item {
	b.seps++
	return Item{ID: fmt.Sprintf("sep:%d", b.seps), Kind: KindSeparator}
}

func info(id, label string) Item {
	return Item{ID: id, Kind: KindInfo, Label: label}
}

func action(id, label string, enabled bool) Item {
	return Item{ID: id, Kind: KindAction, Label: label, Enabled: enabled}
}

func submenu(id, label string, children ...Item) Item {
	return Item{ID: id, Kind: KindSubmenu, Label: label, Enabled: len(children) > 0, Children: children}
}

// Build makes the menu for the state, in s.Lang.
func Build(s State) Menu {
	b := &builder{s: s, l: s.Lang, zone: vnZone()}
	if b.s.Now.IsZero() {
		b.s.Now = time.Now()
	}
	l := b.l
	items := b.status()
	items = append(items,
		b.sep(),
		b.certificates(),
		b.sites(),
		b.recent(),
		b.sep(),
	)
	sign := action(IDSignFile, l.T("tray.signFile"), len(s.Tokens) > 0 && !s.Busy)
	if len(s.Tokens) == 0 {
		sign.Tooltip = l.T("tray.signFile.notoken")
	}
	items = append(items,
		sign,
		action(IDVerifyFile, l.T("tray.verifyFile"), true),
		b.sep(),
		b.settings(),
		action(IDDiagnostics, l.T("tray.diagnostics"), true),
		action(IDAbout, l.T("tray.about"), true),
		b.sep(),
		action(IDQuit, l.T("tray.quit"), true),
	)
	return Menu{Items: items}
}

func (b *builder) status() []Item {
	l := b.l
	items := []Item{
		info("status:version", l.T("tray.status.version", orDash(b.s.Version))),
		info("status:port", l.T("tray.status.port", b.s.Port)),
	}
	if len(b.s.Tokens) == 0 {
		items = append(items, info("status:no-token", l.T("tray.status.notoken")))
	}
	for _, t := range b.s.Tokens {
		names := holders(b.s, t)
		label := l.T("tray.status.token", b.tokenLabel(t))
		if len(names) > 0 {
			label = l.T("tray.status.token.holders", b.tokenLabel(t), strings.Join(names, ", "))
		}
		items = append(items, info("status:token:"+t.ID, label))
	}
	if b.s.LastError != "" {
		items = append(items, info("status:error", l.T("tray.status.error", b.s.LastError)))
	}
	return items
}

func (b *builder) tokenLabel(t TokenView) string {
	if t.Label == "" {
		return b.l.T("tray.token.unnamed")
	}
	return t.Label
}

// holders returns the names on a token's certificates, without repeats.
func holders(s State, t TokenView) []string {
	names := t.Holders
	if names == nil {
		for _, c := range s.Certificates {
			if c.TokenID == t.ID && c.Holder != "" {
				names = append(names, c.Holder)
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func (b *builder) certificates() Item {
	l := b.l
	var children []Item
	if len(b.s.Tokens) == 0 {
		children = append(children,
			info("certs:no-token", l.T("tray.status.notoken")),
			action(IDLock, l.T("tray.lock"), false),
		)
		return submenu("certs", l.T("tray.certs"), children...)
	}
	for i, t := range b.s.Tokens {
		if i > 0 {
			children = append(children, b.sep())
		}
		children = append(children, info("token:"+t.ID, l.T("tray.token", b.tokenLabel(t))))
		n := 0
		for _, c := range b.s.Certificates {
			if c.TokenID != t.ID {
				continue
			}
			n++
			children = append(children, b.certificate(c))
		}
		if n == 0 {
			children = append(children, info("token:"+t.ID+":no-certs", l.T("tray.certs.none")))
		}
		lock := action(PrefixLock+t.ID, l.T("tray.lock"), true)
		lock.Tooltip = l.T("tray.lock.tip")
		children = append(children, lock)
	}
	return submenu("certs", l.T("tray.certs"), children...)
}

func (b *builder) certificate(c CertView) Item {
	l := b.l
	id := "cert:" + c.Handle
	holder := c.Holder
	if holder == "" {
		holder = l.T("kind.unknown")
	}
	kind := c.Kind
	if kind == "" || !i18n.Has("kind."+kind) {
		kind = "unknown"
	}
	label := l.T("tray.cert", holder, l.T("kind."+kind))
	details := []Item{
		info(id+":holder", l.T("tray.cert.holder", holder)),
		info(id+":issuer", l.T("tray.cert.issuer", orDash(c.Issuer))),
		info(id+":validity", l.T("tray.cert.validity", b.date(c.NotBefore), b.date(c.NotAfter))),
	}
	warn := ""
	now := b.s.Now
	switch {
	case !c.NotAfter.IsZero() && !now.Before(c.NotAfter):
		warn = l.T("tray.cert.expired")
	case !c.NotBefore.IsZero() && now.Before(c.NotBefore):
		warn = l.T("tray.cert.notyet")
	case !c.NotAfter.IsZero() && c.NotAfter.Sub(now) < agent.ExpiryWarning:
		days := int(c.NotAfter.Sub(now) / (24 * time.Hour))
		warn = l.T("tray.cert.expiring", days)
	}
	if warn != "" {
		label += " — " + warn
		details = append(details, info(id+":warning", warn))
	}
	details = append(details, action(PrefixSignatureImage+c.Handle, l.T("tray.cert.signatureImage"), c.Handle != ""))
	if c.Kind == "organisation" {
		details = append(details, action(PrefixSealImage+c.Handle, l.T("tray.cert.sealImage"), c.Handle != ""))
	}
	it := submenu(id, label, details...)
	it.Tooltip = warn
	return it
}

func (b *builder) date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(b.zone).Format("02/01/2006")
}

func (b *builder) sites() Item {
	l := b.l
	var children []Item
	user := 0
	for _, s := range b.s.Approved {
		if s.Managed {
			it := info("site:"+s.Origin, l.T("tray.site.managed", s.Origin))
			it.Tooltip = l.T("tray.site.managed.tip")
			children = append(children, it)
			continue
		}
		user++
		var sub []Item
		if !s.Approved.IsZero() {
			sub = append(sub, info("site:"+s.Origin+":approved",
				l.T("tray.site.approved", s.Approved.In(b.zone).Format("15:04 02/01/2006"))))
		}
		sub = append(sub, action(PrefixRevoke+s.Origin, l.T("tray.revoke"), true))
		children = append(children, submenu("site:"+s.Origin, s.Origin, sub...))
	}
	if len(b.s.Approved) == 0 {
		children = append(children, info("sites:none", l.T("tray.sites.none")))
	}
	children = append(children, b.sep(), action(IDRevokeAll, l.T("tray.revokeAll"), user > 0))
	return submenu("sites", l.T("tray.sites"), children...)
}

func (b *builder) recent() Item {
	l := b.l
	var children []Item
	for i, a := range b.s.Recent {
		it := info(fmt.Sprintf("activity:%d", i), ActivityLabel(l, a))
		if a.Result != "ok" && a.Result != "" && i18n.Has("err."+a.Result) {
			it.Tooltip = l.T("err." + a.Result)
		}
		children = append(children, it)
	}
	if len(b.s.Recent) == 0 {
		children = append(children, info("activity:none", l.T("tray.recent.none")))
	}
	children = append(children, b.sep(), action(IDOpenAudit, l.T("tray.openAudit"), true))
	return submenu("recent", l.T("tray.recent"), children...)
}

// ActivityLabel is one line of recent activity: time (GMT+7), site,
// document, profile and result.
func ActivityLabel(l i18n.Lang, a ActivityView) string {
	site := a.Site
	switch site {
	case "", "local":
		site = l.T("tray.activity.local")
	}
	parts := []string{
		a.Time.In(vnZone()).Format("15:04 02/01/2006"),
		site,
		orDash(a.Document),
		ProfileLabel(l, a.Profile),
		resultLabel(l, a.Result),
	}
	return strings.Join(parts, " · ")
}

// ProfileLabel names a signature profile (approved, issued, …) briefly;
// "" is a plain signature, an unknown profile is shown as is.
func ProfileLabel(l i18n.Lang, profile string) string {
	if profile == "" {
		profile = "none"
	}
	if key := "tray.profile." + profile; i18n.Has(key) {
		return l.T(key)
	}
	return profile
}

func resultLabel(l i18n.Lang, result string) string {
	switch result {
	case "ok":
		return l.T("audit.result.ok")
	case "CANCELLED":
		return l.T("tray.result.cancelled")
	case "":
		return "—"
	}
	return l.T("tray.result.failed", result)
}

func (b *builder) settings() Item {
	l := b.l
	st := b.s.Settings
	lang := st.Language
	if lang == "" {
		lang = b.s.Lang
	}
	lang = i18n.Parse(string(lang))
	radio := func(id, label string, checked bool) Item {
		it := action(id, label, true)
		it.Toggle, it.Checked = ToggleRadio, checked
		return it
	}
	language := submenu("settings:language", l.T("tray.settings.language"),
		radio(PrefixLang+string(i18n.Vietnamese), "Tiếng Việt", lang == i18n.Vietnamese),
		radio(PrefixLang+string(i18n.English), "English", lang == i18n.English),
	)
	tsa := l.T("tray.settings.tsa.none")
	if st.TSA != "" {
		tsa = l.T("tray.settings.tsa", st.TSA)
	}
	level := st.DefaultLevel
	if level == "" {
		level = PAdESLevels()[0]
	}
	var levels []Item
	for _, lv := range PAdESLevels() {
		it := radio(PrefixLevel+lv, l.T("tray.level."+lv), lv == level)
		if st.LevelLocked {
			it.Enabled, it.Tooltip = false, l.T("tray.settings.locked")
		}
		levels = append(levels, it)
	}
	tsaItem := action(IDSetTSA, tsa, !st.TSALocked)
	if st.TSALocked {
		tsaItem.Tooltip = l.T("tray.settings.locked")
	}
	start := action(IDStartAtLogin, l.T("tray.settings.startAtLogin"), true)
	start.Toggle, start.Checked = ToggleCheckbox, st.StartAtLogin
	return submenu("settings", l.T("tray.settings"),
		language,
		tsaItem,
		submenu("settings:level", l.T("tray.settings.level", level), levels...),
		start,
	)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
