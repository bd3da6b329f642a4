//go:build linux || freebsd || openbsd || netbsd

package tray

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"slices"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/kyso-vn/kyso/internal/dbustest"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// idsByItem returns the protocol ID of every item of the menu as built.
func idsByItem(ms *menuState) map[string]int32 {
	out := map[string]int32{}
	for itemID, id := range ms.ids {
		if _, ok := ms.byID[id]; ok {
			out[itemID] = id
		}
	}
	return out
}

func TestMenuStateKeepsIDs(t *testing.T) {
	const a, b = "https://a.example.vn", "https://b.example.vn"
	s := State{Version: "test", Lang: i18n.Vietnamese, Approved: []SiteView{{Origin: a}, {Origin: b}}}
	ms := newMenuState()
	ms.rebuild(Build(s))
	if ms.revision != 1 {
		t.Errorf("revision %d after the first build, want 1", ms.revision)
	}
	before := idsByItem(&ms)
	seen := map[int32]bool{}
	for itemID, id := range before {
		if id <= 0 || seen[id] {
			t.Errorf("%s has ID %d: want positive and unique (0 is the root)", itemID, id)
		}
		seen[id] = true
	}

	// Site a goes, a token comes.
	s.Approved = s.Approved[1:]
	s.Tokens = []TokenView{{ID: "tok1", Label: "VNPT-CA"}}
	ms.rebuild(Build(s))
	if ms.revision != 2 {
		t.Errorf("revision %d after the second build, want 2", ms.revision)
	}
	after := idsByItem(&ms)
	for _, itemID := range []string{PrefixRevoke + b, "site:" + b, IDQuit, "settings", PrefixLang + "vi"} {
		if after[itemID] == 0 || after[itemID] != before[itemID] {
			t.Errorf("%s: ID %d before, %d after", itemID, before[itemID], after[itemID])
		}
	}
	if _, ok := ms.byID[before[PrefixRevoke+a]]; ok {
		t.Error("the removed site's revoke ID is still in the menu")
	}
	lock := after[PrefixLock+"tok1"]
	if lock == 0 || seen[lock] {
		t.Errorf("the new lock item has ID %d, want a new one", lock)
	}

	// Site a comes back: it gets its old ID again.
	s.Approved = append(s.Approved, SiteView{Origin: a})
	ms.rebuild(Build(s))
	if got := idsByItem(&ms)[PrefixRevoke+a]; got != before[PrefixRevoke+a] {
		t.Errorf("site a's revoke item came back as %d, was %d", got, before[PrefixRevoke+a])
	}
}

func TestMenuStateRepeatedID(t *testing.T) {
	ms := newMenuState()
	ms.rebuild(Menu{Items: []Item{
		action("x", "first", true),
		action("x", "second", true),
	}})
	kids := ms.root.children
	if len(kids) != 2 || kids[0].id == kids[1].id || kids[0].id == rootID || kids[1].id == rootID {
		t.Fatalf("repeated item IDs got protocol IDs %d and %d", kids[0].id, kids[1].id)
	}
	if ms.ids["x"] != kids[0].id {
		t.Errorf("x maps to %d, want the first item's %d", ms.ids["x"], kids[0].id)
	}
}

// TestMenuStateActions: only enabled actions dispatch; information lines,
// submenus, separators and disabled actions do not.
func TestMenuStateActions(t *testing.T) {
	s := State{Version: "test", Lang: i18n.Vietnamese, Approved: []SiteView{{Origin: "https://*.gov.vn", Managed: true}}}
	ms := newMenuState()
	ms.rebuild(Build(s))
	dispatches := func(itemID string) string { return ms.byID[ms.ids[itemID]].action }
	for itemID, want := range map[string]string{
		IDQuit:                  IDQuit,
		IDVerifyFile:            IDVerifyFile,
		PrefixLang + "vi":       PrefixLang + "vi", // radio items dispatch
		IDStartAtLogin:          IDStartAtLogin,    // and checkboxes
		IDSignFile:              "",                // no token: disabled
		IDLock:                  "",                // disabled
		IDRevokeAll:             "",                // no site of the user's: disabled
		"status:version":        "",                // information
		"site:https://*.gov.vn": "",                // a managed site: information
		"settings":              "",                // submenu
		"sep:1":                 "",                // separator
	} {
		id, ok := ms.ids[itemID]
		if !ok {
			t.Errorf("%s is not in the menu", itemID)
			continue
		}
		if got := dispatches(itemID); got != want {
			t.Errorf("%s (ID %d) dispatches %q, want %q", itemID, id, got, want)
		}
	}
}

func TestNodeProps(t *testing.T) {
	str := func(p map[string]dbus.Variant, k string) any {
		if v, ok := p[k]; ok {
			return v.Value()
		}
		return nil
	}
	sep := nodeProps(Item{ID: "sep:1", Kind: KindSeparator})
	if str(sep, "type") != "separator" || str(sep, "label") != nil {
		t.Errorf("separator %v", sep)
	}
	line := nodeProps(info("i", "a_b"))
	if str(line, "enabled") != false || str(line, "label") != "a__b" || str(line, "type") != nil {
		t.Errorf("info line %v", line)
	}
	off := nodeProps(action("a", "x", false))
	if str(off, "enabled") != false || str(off, "toggle-type") != nil {
		t.Errorf("disabled action %v", off)
	}
	on := nodeProps(action("a", "x", true))
	if str(on, "enabled") != true || str(on, "visible") != true || str(on, "children-display") != nil {
		t.Errorf("action %v", on)
	}
	sub := nodeProps(submenu("s", "menu", action("a", "x", true)))
	if str(sub, "children-display") != "submenu" || str(sub, "enabled") != true {
		t.Errorf("submenu %v", sub)
	}
	radio := action("r", "x", true)
	radio.Toggle, radio.Checked = ToggleRadio, true
	if p := nodeProps(radio); str(p, "toggle-type") != "radio" || str(p, "toggle-state") != int32(1) {
		t.Errorf("checked radio item %v", p)
	}
	box := action("c", "x", true)
	box.Toggle = ToggleCheckbox
	if p := nodeProps(box); str(p, "toggle-type") != "checkmark" || str(p, "toggle-state") != int32(0) {
		t.Errorf("unchecked checkbox %v", p)
	}
	if got := menuLabel("__a_b"); got != "____a__b" {
		t.Errorf("menuLabel = %q", got)
	}
}

func TestIconPixmaps(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.SetNRGBA(0, 0, color.NRGBA{R: 0xff, A: 0xff})
	img.SetNRGBA(1, 0, color.NRGBA{B: 0xff, G: 0x10, A: 0x80})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	got, err := iconPixmaps(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	// ARGB, alpha first, not premultiplied.
	want := []byte{0xff, 0xff, 0, 0, 0x80, 0, 0x10, 0xff}
	if len(got) != 1 || got[0].W != 2 || got[0].H != 1 || !slices.Equal(got[0].Pix, want) {
		t.Errorf("iconPixmaps = %+v, want 2×1 %x", got, want)
	}
	if _, err := iconPixmaps([]byte("not an image")); err == nil {
		t.Error("iconPixmaps of garbage succeeded")
	}
}

// TestSNIRender: a refresh that would draw the same draws nothing (no new
// revision, so a host's open menu stays open); one that changes the state
// redraws.
func TestSNIRender(t *testing.T) {
	conn := dbustest.Session(t)
	st := &mutableState{s: State{Version: "test", Port: 18765, Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	s, err := startSNI(conn, Config{State: st.get, Dispatch: func(string) {}, Icon: IconBytes, Lang: i18n.Vietnamese}, func(*sni) {})
	if err != nil {
		t.Fatal(err)
	}
	revision := func() uint32 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.menu.revision
	}
	if err := s.render(); err != nil || revision() != 1 {
		t.Errorf("render of the same state: %v, revision %d; want nothing redrawn (1)", err, revision())
	}
	st.set(func(s *State) { s.Port = 18766 })
	if err := s.render(); err != nil || revision() != 2 {
		t.Errorf("render of a new port: %v, revision %d; want 2", err, revision())
	}
	// A bad icon is reported and leaves the icon as it was; the rest is
	// drawn.
	s.cfg.Icon = func(Icon) []byte { return []byte("not an image") }
	before := s.props.GetMust(sniIface, "IconPixmap")
	st.set(func(s *State) { s.Tokens = []TokenView{{ID: "t"}} })
	if err := s.render(); err == nil {
		t.Error("render with an undecodable icon succeeded")
	}
	if after := s.props.GetMust(sniIface, "IconPixmap"); !slices.EqualFunc(after.([]pixmap), before.([]pixmap), func(a, b pixmap) bool { return bytes.Equal(a.Pix, b.Pix) }) {
		t.Error("the icon changed to an undecodable one")
	}
	if revision() != 3 {
		t.Errorf("revision %d, want the menu redrawn (3)", revision())
	}
}
