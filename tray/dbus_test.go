//go:build linux

package tray

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/kyso-vn/kyso/internal/dbustest"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// runWait is how long a test waits for a tray to stop or a click to be
// dispatched before failing: generous, for a loaded CI machine.
const runWait = 10 * time.Second

// trayRun is a Tray running in the test, on the test's session bus.
type trayRun struct {
	tr     *Tray
	clicks chan string
	cancel context.CancelFunc
	done   chan error
}

// runTray runs a Tray with the given state until the test ends (or stop).
// Clicks are dispatched to the run's clicks channel.
func runTray(t *testing.T, state func() State) *trayRun {
	t.Helper()
	r := &trayRun{tr: New(), clicks: make(chan string, 16), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- r.tr.Run(ctx, Config{
			State:    state,
			Dispatch: func(id string) { r.clicks <- id },
			Lang:     i18n.Vietnamese,
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the run and waits for Run to return, failing the test if
// it returned an error or did not return. Later calls do nothing.
func (r *trayRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if r.done == nil {
		return
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(runWait):
		t.Error("Run did not return after the context was cancelled")
	}
	r.done = nil
}

// click clicks the item with the given D-Bus ID and returns the ID that
// was dispatched.
func (r *trayRun) click(t *testing.T, menu dbus.BusObject, id int32) string {
	t.Helper()
	dbustest.Click(t, menu, id)
	select {
	case got := <-r.clicks:
		return got
	case <-time.After(runWait):
		t.Fatalf("the click on %d was not dispatched", id)
	}
	return ""
}

// mutableState is a State the test changes between refreshes.
type mutableState struct {
	mu sync.Mutex
	s  State
}

func (m *mutableState) get() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.s
	s.Approved = slices.Clone(s.Approved)
	s.Tokens = slices.Clone(s.Tokens)
	return s
}

func (m *mutableState) set(f func(s *State)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.s)
}

// TestTrayDBus runs the tray against a private session bus and a fake
// StatusNotifierWatcher, reads its properties and menu back over D-Bus the
// way a tray host does, and clicks items.
func TestTrayDBus(t *testing.T) {
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)

	const site1, site2 = "https://dms.example.vn", "https://hop.example.gov.vn"
	st := &mutableState{s: State{Version: "test", Port: 18765, Approved: []SiteView{
		{Origin: site1, Approved: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)},
		{Origin: site2, Approved: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)},
	}}}
	r := runTray(t, st.get)

	// The item registers itself with the watcher under its bus name, as
	// the specification has it, and owns that name.
	item, menu := dbustest.Item(t, conn, w)
	reg := w.Registered()
	sender, service, _ := strings.Cut(reg[0], " ")
	if want := fmt.Sprintf("org.kde.StatusNotifierItem-%d-", os.Getpid()); !strings.HasPrefix(service, want) {
		t.Errorf("registered %q, want a bus name %s<n>", service, want)
	}
	var owner string
	if err := conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, service).Store(&owner); err != nil || owner != sender {
		t.Errorf("%s is owned by %q (%v), want the registering connection %s", service, owner, err, sender)
	}
	if menu.Path() != "/MenuBar" {
		t.Errorf("Menu = %s, want /MenuBar", menu.Path())
	}

	// The item's fixed properties.
	for name, want := range map[string]any{
		"Category":   "ApplicationStatus",
		"Id":         "kyso",
		"Title":      "kyso",
		"Status":     "Active",
		"IconName":   "",
		"ItemIsMenu": true,
		"WindowId":   int32(0),
	} {
		v, err := item.GetProperty("org.kde.StatusNotifierItem." + name)
		if err != nil || v.Value() != want {
			t.Errorf("%s = %v (%v), want %#v", name, v, err, want)
		}
	}

	// Hosts read them all at once, each specified one there.
	var props map[string]dbus.Variant
	if err := item.Call("org.freedesktop.DBus.Properties.GetAll", 0, "org.kde.StatusNotifierItem").Store(&props); err != nil {
		t.Fatalf("GetAll: %v", err)
	}
	for _, name := range []string{"Category", "Id", "Title", "Status", "WindowId", "IconName", "IconThemePath", "IconPixmap",
		"OverlayIconName", "OverlayIconPixmap", "AttentionIconName", "AttentionIconPixmap", "AttentionMovieName", "ToolTip", "ItemIsMenu", "Menu"} {
		if _, ok := props[name]; !ok {
			t.Errorf("GetAll has no %s", name)
		}
	}

	// The tooltip says no token is plugged in (the state has none).
	tip := readToolTip(t, item)
	if want := i18n.Vietnamese.T("tray.tip.notoken"); tip.Title != "kyso" || tip.Text != want {
		t.Errorf("ToolTip = %+v, want title kyso and text %q", tip, want)
	}
	// The icon is the grey disc of "no token", IconSize pixels wide.
	icon := readIcon(t, item)
	checkIcon(t, icon, IconNoToken)

	// The menu, read back whole, lists the sites.
	root := dbustest.GetLayout(t, menu)
	sites, ok := root.Find(i18n.Vietnamese.T("tray.sites"))
	if !ok {
		t.Fatalf("no %q in the menu: %+v", i18n.Vietnamese.T("tray.sites"), root)
	}
	if _, ok := root.Find(i18n.Vietnamese.T("tray.quit")); !ok {
		t.Errorf("no %q in the menu", i18n.Vietnamese.T("tray.quit"))
	}
	revoke1 := revokeItem(t, sites, site1)
	revoke2 := revokeItem(t, sites, site2)

	// Clicking "Thu hồi" under the first site dispatches its ID.
	if got := r.click(t, menu, revoke1.ID); got != PrefixRevoke+site1 {
		t.Errorf("dispatched %q, want %q", got, PrefixRevoke+site1)
	}

	// After the revocation a refresh drops the site from the menu.
	st.set(func(s *State) { s.Approved = s.Approved[1:] })
	r.tr.Refresh()
	dbustest.Eventually(t, "the refreshed menu to drop the revoked site", func() bool {
		root = dbustest.GetLayout(t, menu)
		_, gone := root.Find(site1)
		_, kept := root.Find(site2)
		return !gone && kept
	})

	// The second site's revoke item kept its D-Bus ID through the
	// rebuild: a click on the ID read before it (a host showing the old
	// menu, or a click racing the rebuild) still reaches it.
	sites, _ = root.Find(i18n.Vietnamese.T("tray.sites"))
	if again := revokeItem(t, sites, site2); again.ID != revoke2.ID {
		t.Errorf("the revoke item of %s has ID %d after the rebuild, %d before", site2, again.ID, revoke2.ID)
	}
	if got := r.click(t, menu, revoke2.ID); got != PrefixRevoke+site2 {
		t.Errorf("click on the revoke item's old ID dispatched %q, want %q", got, PrefixRevoke+site2)
	}
	// The first site's item is gone: a click on its ID is ignored (no
	// error for the host either), and the next click is the next
	// dispatched.
	all, ok := sites.Find(i18n.Vietnamese.T("tray.revokeAll"))
	if !ok {
		t.Fatal("no revoke-all item after the refresh")
	}
	dbustest.Click(t, menu, revoke1.ID)
	if got := r.click(t, menu, all.ID); got != IDRevokeAll {
		t.Errorf("dispatched %q, want %q (a click on a removed item must not dispatch)", got, IDRevokeAll)
	}
}

// revokeItem returns the enabled revoke item under a site in the sites
// submenu.
func revokeItem(t *testing.T, sites dbustest.MenuItem, origin string) dbustest.MenuItem {
	t.Helper()
	site, ok := sites.Find(origin)
	if !ok {
		t.Fatalf("no %q under %q: %+v", origin, sites.Label, sites)
	}
	revoke, ok := site.Find(i18n.Vietnamese.T("tray.revoke"))
	if !ok || !revoke.Enabled {
		t.Fatalf("no enabled revoke item under %q: %+v", origin, site)
	}
	return revoke
}

// sniToolTip is the ToolTip property, (sa(iiay)ss).
type sniToolTip struct {
	IconName string
	Icon     []sniPixmap
	Title    string
	Text     string
}

// sniPixmap is an IconPixmap entry, (iiay).
type sniPixmap struct {
	W, H int32
	Pix  []byte
}

func readToolTip(t *testing.T, item dbus.BusObject) sniToolTip {
	t.Helper()
	v, err := item.GetProperty("org.kde.StatusNotifierItem.ToolTip")
	if err != nil {
		t.Fatalf("reading the ToolTip: %v", err)
	}
	var tip sniToolTip
	if err := dbus.Store([]any{v.Value()}, &tip); err != nil {
		t.Fatalf("ToolTip is %s: %v", v.Signature(), err)
	}
	return tip
}

func readIcon(t *testing.T, item dbus.BusObject) []sniPixmap {
	t.Helper()
	v, err := item.GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		t.Fatalf("reading the IconPixmap: %v", err)
	}
	var icon []sniPixmap
	if err := dbus.Store([]any{v.Value()}, &icon); err != nil {
		t.Fatalf("IconPixmap is %s: %v", v.Signature(), err)
	}
	return icon
}

// checkIcon checks that icon is the state's disc: IconSize pixels square,
// ARGB in network byte order, a transparent corner and an opaque centre
// of the state's colour.
func checkIcon(t *testing.T, icon []sniPixmap, state Icon) {
	t.Helper()
	if len(icon) != 1 || icon[0].W != IconSize || icon[0].H != IconSize || len(icon[0].Pix) != 4*IconSize*IconSize {
		t.Fatalf("IconPixmap: %d images, want one of %d×%d ARGB32 pixels", len(icon), IconSize, IconSize)
	}
	px := func(x, y int) []byte { i := 4 * (y*IconSize + x); return icon[0].Pix[i : i+4] }
	if a := px(0, 0)[0]; a != 0 {
		t.Errorf("corner alpha %d, want 0", a)
	}
	c := iconColor(state)
	if got, want := px(IconSize/2, IconSize/2), []byte{0xff, c.R, c.G, c.B}; !slices.Equal(got, want) {
		t.Errorf("centre pixel %x, want ARGB %x (%v)", got, want, state)
	}
}

// TestTrayDBusLayout reads the menu the ways hosts do: parts of it
// (GetLayout with a parent and a depth, as libdbusmenu-qt does for a
// submenu about to open), single items (GetGroupProperties, GetProperty)
// and the properties that tell a checkbox, a radio item, a separator and
// a greyed line apart.
func TestTrayDBusLayout(t *testing.T) {
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)
	st := &mutableState{s: State{
		Version:  "test",
		Port:     18765,
		Tokens:   []TokenView{{ID: "tok1", Label: "VNPT_CA"}},
		Approved: []SiteView{{Origin: "https://dms.example.vn", Approved: time.Now()}},
		Settings: SettingsView{Language: i18n.Vietnamese, StartAtLogin: true},
	}}
	runTray(t, st.get)
	item, menu := dbustest.Item(t, conn, w)
	l := i18n.Vietnamese

	// The menu object's properties.
	for name, want := range map[string]any{"Version": uint32(3), "TextDirection": "ltr", "Status": "normal"} {
		v, err := menu.GetProperty("com.canonical.dbusmenu." + name)
		if err != nil || v.Value() != want {
			t.Errorf("%s = %v (%v), want %#v", name, v, err, want)
		}
	}
	if v, err := menu.GetProperty("com.canonical.dbusmenu.IconThemePath"); err != nil || v.Signature().String() != "as" {
		t.Errorf("IconThemePath = %v (%v), want an empty string array", v, err)
	}

	// The whole menu, and the same read level by level.
	rev, all := dbustest.GetLayoutOf(t, menu, 0, -1)
	if all.ID != 0 || all.Props["children-display"].Value() != "submenu" {
		t.Errorf("root %d %v, want ID 0 showing its children as a submenu", all.ID, all.Props)
	}
	m := Build(stateWithLang(st.get(), l))
	if len(all.Children) != len(m.Items) {
		t.Fatalf("root has %d items, want %d", len(all.Children), len(m.Items))
	}
	_, top := dbustest.GetLayoutOf(t, menu, 0, 0)
	if top.ID != 0 || len(top.Children) != 0 {
		t.Errorf("depth 0: %+v, want the root alone", top)
	}
	rev1, one := dbustest.GetLayoutOf(t, menu, 0, 1)
	if rev1 != rev || len(one.Children) != len(all.Children) {
		t.Fatalf("depth 1: revision %d, %d items; want %d, %d", rev1, len(one.Children), rev, len(all.Children))
	}
	for _, c := range one.Children {
		if len(c.Children) != 0 {
			t.Errorf("depth 1: %q came with its children", c.Label)
		}
	}
	settings, ok := all.Find(l.T("tray.settings"))
	if !ok || settings.Props["children-display"].Value() != "submenu" || len(settings.Children) == 0 {
		t.Fatalf("settings submenu %+v", settings)
	}
	if s1, ok := one.Find(l.T("tray.settings")); !ok || s1.ID != settings.ID {
		t.Errorf("settings at depth 1: %+v, want ID %d", s1, settings.ID)
	}
	// A submenu as its own parent: its children, one level.
	_, sub := dbustest.GetLayoutOf(t, menu, settings.ID, 1)
	if sub.ID != settings.ID || len(sub.Children) != len(settings.Children) {
		t.Fatalf("GetLayout(settings, 1): %+v", sub)
	}
	language, ok := sub.Find(l.T("tray.settings.language"))
	if !ok || len(language.Children) != 0 {
		t.Errorf("language under settings at depth 1: %+v (found %v), want it without children", language, ok)
	}
	_, sub = dbustest.GetLayoutOf(t, menu, settings.ID, -1)
	if language, _ = sub.Find(l.T("tray.settings.language")); len(language.Children) != 2 {
		t.Errorf("language submenu %+v, want its two languages", language)
	}
	// Only the properties asked for.
	_, labels := dbustest.GetLayoutOf(t, menu, settings.ID, -1, "label")
	labels.Walk(func(it dbustest.MenuItem) {
		for k := range it.Props {
			if k != "label" {
				t.Errorf("asked for labels, got %q of %d", k, it.ID)
			}
		}
	})
	// An ID that is not in the menu is an error, not an empty answer.
	err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(99999), int32(-1), []string{}).Err
	if err == nil {
		t.Error("GetLayout of an unknown parent succeeded")
	}

	// Radio items for the language, checked for the one in use.
	vi, _ := all.Find("Tiếng Việt")
	en, _ := all.Find("English")
	checkToggle(t, vi, "radio", 1)
	checkToggle(t, en, "radio", 0)
	// The start-at-login checkbox, on.
	start, _ := all.Find(l.T("tray.settings.startAtLogin"))
	checkToggle(t, start, "checkmark", 1)
	// Plain actions are not toggles.
	quit, _ := all.Find(l.T("tray.quit"))
	if _, ok := quit.Props["toggle-type"]; ok || !quit.Enabled {
		t.Errorf("quit %+v, want an enabled plain item", quit)
	}

	// Separators are typed as such, and only they.
	seps := 0
	all.Walk(func(it dbustest.MenuItem) {
		typ, ok := it.Props["type"]
		switch {
		case !ok:
		case typ.Value() == "separator":
			seps++
			if _, labelled := it.Props["label"]; labelled {
				t.Errorf("separator %d has a label", it.ID)
			}
		default:
			t.Errorf("item %d of type %v", it.ID, typ)
		}
	})
	want := 0
	m.Walk(func(_ []string, it Item) bool {
		if it.Kind == KindSeparator {
			want++
		}
		return true
	})
	if seps != want || want == 0 {
		t.Errorf("%d separators, want %d", seps, want)
	}

	// Information lines are greyed out; the token's label keeps its
	// underscore, doubled, as dbusmenu reads a single one as a mnemonic.
	version, ok := all.Find(l.T("tray.status.version", "test"))
	if !ok || version.Enabled {
		t.Errorf("version line %+v (found %v), want it disabled", version, ok)
	}
	token, ok := all.Find(l.T("tray.status.token", "VNPT__CA"))
	if !ok || token.Enabled {
		t.Errorf("token line %+v (found %v), want %q disabled", token, ok, l.T("tray.status.token", "VNPT__CA"))
	}
	if _, raw := all.Find(l.T("tray.status.token", "VNPT_CA")); raw {
		t.Error("the token's label was sent with a bare underscore")
	}

	// GetGroupProperties and GetProperty agree with the layout.
	var group []struct {
		ID    int32
		Props map[string]dbus.Variant
	}
	err = menu.Call("com.canonical.dbusmenu.GetGroupProperties", 0, []int32{start.ID, 99999, quit.ID}, []string{}).Store(&group)
	if err != nil || len(group) != 2 || group[0].ID != start.ID || group[1].ID != quit.ID {
		t.Fatalf("GetGroupProperties: %+v, %v", group, err)
	}
	if group[0].Props["toggle-state"].Value() != int32(1) || group[1].Props["label"].Value() != l.T("tray.quit") {
		t.Errorf("GetGroupProperties: %+v", group)
	}
	err = menu.Call("com.canonical.dbusmenu.GetGroupProperties", 0, []int32{}, []string{"label"}).Store(&group)
	if n := countItems(all); err != nil || len(group) != n {
		t.Errorf("GetGroupProperties of every item: %d items (%v), want %d", len(group), err, n)
	}
	var label dbus.Variant
	if err := menu.Call("com.canonical.dbusmenu.GetProperty", 0, quit.ID, "label").Store(&label); err != nil || label.Value() != l.T("tray.quit") {
		t.Errorf("GetProperty(quit, label) = %v, %v", label, err)
	}
	if err := menu.Call("com.canonical.dbusmenu.GetProperty", 0, quit.ID, "no-such").Err; err == nil {
		t.Error("GetProperty of a missing property succeeded")
	}

	// Nothing is filled in when a menu opens, and unknown IDs are told.
	var update bool
	if err := menu.Call("com.canonical.dbusmenu.AboutToShow", 0, settings.ID).Store(&update); err != nil || update {
		t.Errorf("AboutToShow = %v, %v; want false", update, err)
	}
	var updates, idErrors []int32
	err = menu.Call("com.canonical.dbusmenu.AboutToShowGroup", 0, []int32{0, settings.ID, 99999}).Store(&updates, &idErrors)
	if err != nil || len(updates) != 0 || !slices.Equal(idErrors, []int32{99999}) {
		t.Errorf("AboutToShowGroup = %v, %v, %v", updates, idErrors, err)
	}

	// Introspection shows the interfaces, for hosts that look for items
	// by walking the bus.
	var xml string
	if err := item.Call("org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&xml); err != nil ||
		!strings.Contains(xml, `<interface name="org.kde.StatusNotifierItem">`) || !strings.Contains(xml, `name="ToolTip" type="(sa(iiay)ss)"`) {
		t.Errorf("Introspect %s: %v\n%s", item.Path(), err, xml)
	}
	if err := menu.Call("org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&xml); err != nil ||
		!strings.Contains(xml, `<interface name="com.canonical.dbusmenu">`) || !strings.Contains(xml, `<method name="GetLayout">`) {
		t.Errorf("Introspect %s: %v\n%s", menu.Path(), err, xml)
	}
	rootNode := conn.Object(item.Destination(), "/")
	if err := rootNode.Call("org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&xml); err != nil ||
		!strings.Contains(xml, `<node name="StatusNotifierItem"/>`) || !strings.Contains(xml, `<node name="MenuBar"/>`) {
		t.Errorf("Introspect /: %v\n%s", err, xml)
	}
}

func stateWithLang(s State, l i18n.Lang) State {
	if s.Lang == "" {
		s.Lang = l
	}
	return s
}

func countItems(m dbustest.MenuItem) int {
	n := 0
	m.Walk(func(dbustest.MenuItem) { n++ })
	return n
}

// checkToggle checks a toggle item's type and state.
func checkToggle(t *testing.T, it dbustest.MenuItem, typ string, state int32) {
	t.Helper()
	if it.Props["toggle-type"].Value() != typ || it.Props["toggle-state"].Value() != state || !it.Enabled {
		t.Errorf("%q: toggle-type %v, toggle-state %v, enabled %v; want %s, %d, enabled",
			it.Label, it.Props["toggle-type"], it.Props["toggle-state"], it.Enabled, typ, state)
	}
}

// TestTrayDBusSignals: a change of state redraws what changed and says so
// with the specification's signals: NewIcon, NewToolTip and LayoutUpdated
// with a higher revision.
func TestTrayDBusSignals(t *testing.T) {
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)
	st := &mutableState{s: State{Version: "test", Port: 18765}}
	r := runTray(t, st.get)
	item, menu := dbustest.Item(t, conn, w)
	rev, _ := dbustest.GetLayoutOf(t, menu, 0, -1)

	signals := make(chan *dbus.Signal, 16)
	conn.Signal(signals)
	if err := conn.AddMatchSignal(dbus.WithMatchSender(item.Destination())); err != nil {
		t.Fatal(err)
	}
	st.set(func(s *State) { s.Tokens = []TokenView{{ID: "tok1", Label: "VNPT-CA"}} })
	r.tr.Refresh()
	seen := map[string]bool{}
	var newRev uint32
	for !seen["NewIcon"] || !seen["NewToolTip"] || !seen["LayoutUpdated"] {
		select {
		case sig := <-signals:
			name := sig.Name[strings.LastIndex(sig.Name, ".")+1:]
			seen[name] = true
			if name == "LayoutUpdated" {
				newRev = sig.Body[0].(uint32)
				if parent := sig.Body[1].(int32); parent != 0 {
					t.Errorf("LayoutUpdated for parent %d, want 0", parent)
				}
			}
		case <-time.After(runWait):
			t.Fatalf("signals seen: %v; want NewIcon, NewToolTip and LayoutUpdated", seen)
		}
	}
	if newRev <= rev {
		t.Errorf("LayoutUpdated revision %d, want more than %d", newRev, rev)
	}
	if got, _ := dbustest.GetLayoutOf(t, menu, 0, -1); got != newRev {
		t.Errorf("GetLayout revision %d, want the signalled %d", got, newRev)
	}
	checkIcon(t, readIcon(t, item), IconReady)
	if tip := readToolTip(t, item); tip.Text != i18n.Vietnamese.T("tray.tip.ready") {
		t.Errorf("tooltip %q after a token came", tip.Text)
	}
}

// TestTrayDBusWatcherLater: with no watcher at start (the panel starts
// after kyso) the item waits, exported under its name, and registers when
// a watcher appears; when the watcher restarts it registers again.
func TestTrayDBusWatcherLater(t *testing.T) {
	conn := dbustest.Session(t)
	runTray(t, func() State { return State{Version: "test", Port: 18765} })

	name := ""
	dbustest.Eventually(t, "the item to own its bus name", func() bool {
		name = itemName(t, conn)
		return name != ""
	})

	watcherConn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	w := dbustest.ExportWatcher(t, watcherConn)
	item, _ := dbustest.Item(t, conn, w)
	if reg := w.Registered(); len(reg) != 1 || !strings.HasSuffix(reg[0], " "+name) || item.Destination() != name {
		t.Errorf("registered %q, want %s", reg, name)
	}

	// The watcher restarts: the old one gives its name up and goes, a new
	// one takes the name.
	if _, err := watcherConn.ReleaseName("org.kde.StatusNotifierWatcher"); err != nil {
		t.Fatal(err)
	}
	watcherConn.Close()
	again, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	w2 := dbustest.ExportWatcher(t, again)
	dbustest.Item(t, conn, w2)
	if reg := w2.Registered(); !strings.HasSuffix(reg[0], " "+name) {
		t.Errorf("registered with the new watcher as %q, want %s", reg, name)
	}
}

// itemName returns the bus name of the one item on the bus, or "".
func itemName(t *testing.T, conn *dbus.Conn) string {
	t.Helper()
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		t.Fatal(err)
	}
	found := ""
	for _, n := range names {
		if strings.HasPrefix(n, "org.kde.StatusNotifierItem-") {
			if found != "" {
				t.Fatalf("two items on the bus: %s and %s", found, n)
			}
			found = n
		}
	}
	return found
}

// TestTrayDBusTwoTrays: on Linux trays do not share state, so two can run
// at once in one process; each has its own connection and bus name and
// dispatches its own clicks.
func TestTrayDBusTwoTrays(t *testing.T) {
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)
	state := func() State { return State{Version: "test", Port: 18765} }
	a := runTray(t, state)
	b := runTray(t, state)
	dbustest.Eventually(t, "both items to register", func() bool { return len(w.Registered()) == 2 })
	reg := w.Registered()
	senderA, nameA, _ := strings.Cut(reg[0], " ")
	senderB, nameB, _ := strings.Cut(reg[1], " ")
	if nameA == nameB || senderA == senderB {
		t.Fatalf("registrations %q: want two bus names from two connections", reg)
	}
	prefix := fmt.Sprintf("org.kde.StatusNotifierItem-%d-", os.Getpid())
	for _, n := range []string{nameA, nameB} {
		if !strings.HasPrefix(n, prefix) {
			t.Errorf("bus name %s, want %s<n>", n, prefix)
		}
	}
	// Each menu dispatches to its own tray: find which is which by
	// clicking.
	quit := i18n.Vietnamese.T("tray.quit")
	got := map[string]bool{}
	for _, name := range []string{nameA, nameB} {
		menu := conn.Object(name, "/MenuBar")
		q, ok := dbustest.GetLayout(t, menu).Find(quit)
		if !ok {
			t.Fatalf("no %q in %s's menu", quit, name)
		}
		dbustest.Click(t, menu, q.ID)
		select {
		case id := <-a.clicks:
			got["a:"+id] = true
		case id := <-b.clicks:
			got["b:"+id] = true
		case <-time.After(runWait):
			t.Fatalf("the click in %s's menu was not dispatched", name)
		}
	}
	if !got["a:"+IDQuit] || !got["b:"+IDQuit] {
		t.Errorf("dispatched %v, want quit once by each tray", got)
	}
}

// TestTrayDBusStop: Run returns when its context ends, and the item's bus
// name is gone by then; the same Tray can run again afterwards.
func TestTrayDBusStop(t *testing.T) {
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)
	r := runTray(t, func() State { return State{Version: "test", Port: 18765} })
	item, _ := dbustest.Item(t, conn, w)
	name := item.Destination()
	r.stop(t)
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err != nil || has {
		t.Errorf("%s still owned after Run returned (%v)", name, err)
	}

	// Again, with the same Tray.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.tr.Run(ctx, Config{State: func() State { return State{} }, Dispatch: func(string) {}})
	}()
	dbustest.Eventually(t, "the second run to register", func() bool { return len(w.Registered()) == 2 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("second Run: %v", err)
		}
	case <-time.After(runWait):
		t.Fatal("the second Run did not return")
	}
}

// TestTrayDBusNoSessionBus: without a session bus Run fails at once and
// says so, so that kyso run can go on without its icon.
func TestTrayDBusNoSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	err := New().Run(context.Background(), Config{State: func() State { return State{} }, Dispatch: func(string) {}})
	if err == nil || !strings.Contains(err.Error(), "session bus") {
		t.Errorf("Run without a session bus: %v; want an error naming the session bus", err)
	}
}

// TestTrayDBusMenuAnswersInOrder: calls sent one after the other without
// waiting (as libdbusmenu sends GetGroupProperties after a layout) are
// answered in the order sent, once each. libdbusmenu-gtk builds an item
// when its properties arrive and drops it when its parent's have not, so
// answers that overtake each other leave submenus empty (godbus on its own
// answers each call on a goroutine of its own, in any order).
func TestTrayDBusMenuAnswersInOrder(t *testing.T) {
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)
	runTray(t, func() State {
		return State{Version: "test", Port: 18765, Tokens: []TokenView{{ID: "tok1", Label: "VNPT-CA"}},
			Approved: []SiteView{{Origin: "https://a.example.vn"}, {Origin: "https://b.example.vn"}}}
	})
	item, _ := dbustest.Item(t, conn, w)
	var owner string
	if err := conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, item.Destination()).Store(&owner); err != nil {
		t.Fatal(err)
	}
	replies := checkAnswerOrder(t, owner, func(obj dbus.BusObject, i int, ch chan *dbus.Call) {
		ids := []int32{} // every item: a long answer
		if i%2 == 1 {
			ids = []int32{1} // a short one, to overtake it if it can
		}
		obj.Go("com.canonical.dbusmenu.GetGroupProperties", 0, ch, ids, []string{})
	})
	for _, c := range replies {
		var props []itemProps
		if err := c.Store(&props); err != nil || len(props) == 0 {
			t.Fatalf("GetGroupProperties: %v (%d items)", err, len(props))
		}
	}
}

// checkAnswerOrder sends n calls with send on a connection of its own to
// dest's /MenuBar, without waiting in between, and checks that the answers
// come back in the order the calls went, one each. It returns the calls.
func checkAnswerOrder(t *testing.T, dest string, send func(obj dbus.BusObject, i int, ch chan *dbus.Call)) []*dbus.Call {
	t.Helper()
	// n stays under dbus-daemon's default limit of 128 calls awaiting an
	// answer per connection.
	const n = 100
	var mu sync.Mutex
	var answered []uint32 // reply serials, in the order the answers came
	client, err := dbus.SessionBusPrivate(dbus.WithIncomingInterceptor(func(msg *dbus.Message) {
		if msg.Type != dbus.TypeMethodReply && msg.Type != dbus.TypeError {
			return
		}
		if sender, _ := msg.Headers[dbus.FieldSender].Value().(string); sender != dest {
			return
		}
		serial, _ := msg.Headers[dbus.FieldReplySerial].Value().(uint32)
		mu.Lock()
		answered = append(answered, serial)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := client.Auth(nil); err != nil {
		t.Fatal(err)
	}
	if err := client.Hello(); err != nil {
		t.Fatal(err)
	}
	obj := client.Object(dest, "/MenuBar")
	ch := make(chan *dbus.Call, n)
	for i := range n {
		send(obj, i, ch)
	}
	calls := make([]*dbus.Call, 0, n)
	for range n {
		select {
		case c := <-ch:
			calls = append(calls, c)
		case <-time.After(runWait):
			t.Fatalf("%d of %d calls answered", len(calls), n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(answered) != n {
		t.Errorf("%d answers to %d calls", len(answered), n)
	}
	for i := 1; i < len(answered); i++ {
		if answered[i] <= answered[i-1] {
			t.Fatalf("answer %d is to call serial %d, after the answer to %d: answers overtook each other", i, answered[i], answered[i-1])
		}
	}
	return calls
}

// TestTrayDBusMenuCalls: the calls as hosts really send them. libdbusmenu
// sends Event expecting no answer; EventGroup batches events; a call may
// leave out the interface; arguments of the wrong types get InvalidArgs.
func TestTrayDBusMenuCalls(t *testing.T) {
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)
	r := runTray(t, func() State { return State{Version: "test", Port: 18765} })
	_, menu := dbustest.Item(t, conn, w)
	root := dbustest.GetLayout(t, menu)
	quit, _ := root.Find(i18n.Vietnamese.T("tray.quit"))
	about, _ := root.Find(i18n.Vietnamese.T("tray.about"))

	// Event with no answer expected.
	call := menu.Call("com.canonical.dbusmenu.Event", dbus.FlagNoReplyExpected, quit.ID, "clicked", dbus.MakeVariant(int32(0)), uint32(0))
	if call.Err != nil {
		t.Fatalf("Event without a reply: %v", call.Err)
	}
	select {
	case id := <-r.clicks:
		if id != IDQuit {
			t.Errorf("dispatched %q, want %q", id, IDQuit)
		}
	case <-time.After(runWait):
		t.Fatal("an Event sent expecting no answer was not dispatched")
	}

	// EventGroup: the known IDs are dispatched, the others told.
	type event struct {
		ID        int32
		EventID   string
		Data      dbus.Variant
		Timestamp uint32
	}
	var idErrors []int32
	err := menu.Call("com.canonical.dbusmenu.EventGroup", 0, []event{
		{about.ID, "clicked", dbus.MakeVariant(""), 0},
		{99999, "clicked", dbus.MakeVariant(""), 0},
		{quit.ID, "hovered", dbus.MakeVariant(""), 0},
	}).Store(&idErrors)
	if err != nil || !slices.Equal(idErrors, []int32{99999}) {
		t.Errorf("EventGroup: %v, %v; want the unknown ID 99999 back", idErrors, err)
	}
	select {
	case id := <-r.clicks:
		if id != IDAbout {
			t.Errorf("EventGroup dispatched %q, want %q (a hover is not a click)", id, IDAbout)
		}
	case <-time.After(runWait):
		t.Fatal("EventGroup's click was not dispatched")
	}

	// GetLayout without an interface in the call.
	msg := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldDestination: dbus.MakeVariant(menu.Destination()),
		dbus.FieldPath:        dbus.MakeVariant(menu.Path()),
		dbus.FieldMember:      dbus.MakeVariant("GetLayout"),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf(int32(0), int32(0), []string{})),
	}, Body: []any{int32(0), int32(0), []string{}}}
	select {
	case c := <-conn.Send(msg, make(chan *dbus.Call, 1)).Done:
		var rev uint32
		var l struct {
			ID       int32
			Props    map[string]dbus.Variant
			Children []dbus.Variant
		}
		if err := c.Store(&rev, &l); err != nil || rev == 0 || l.Props["children-display"].Value() != "submenu" {
			t.Errorf("GetLayout without an interface: %v, revision %d, root %+v", err, rev, l)
		}
	case <-time.After(runWait):
		t.Fatal("GetLayout without an interface was not answered")
	}

	// Arguments of the wrong types.
	err = menu.Call("com.canonical.dbusmenu.GetLayout", 0, "0", "-1", "label").Err
	var derr dbus.Error
	if !errors.As(err, &derr) || derr.Name != "org.freedesktop.DBus.Error.InvalidArgs" {
		t.Errorf("GetLayout with strings: %v, want InvalidArgs", err)
	}
}
