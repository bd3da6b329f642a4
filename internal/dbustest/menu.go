package dbustest

import (
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

const menuIface = "com.canonical.dbusmenu"

// MenuItem is a com.canonical.dbusmenu menu node read back over D-Bus.
type MenuItem struct {
	ID      int32
	Label   string
	Enabled bool
	// Props are all the properties the server sent for the item, as
	// they came (Label and Enabled are read from them).
	Props map[string]dbus.Variant
	// Children are the items of the submenu this item opens, in order.
	Children []MenuItem
}

// Find returns the first item labelled label, depth first, m itself
// included.
func (m MenuItem) Find(label string) (MenuItem, bool) {
	if m.Label == label {
		return m, true
	}
	for _, c := range m.Children {
		if f, ok := c.Find(label); ok {
			return f, true
		}
	}
	return MenuItem{}, false
}

// Walk calls f for m and every item under it, depth first, in order.
func (m MenuItem) Walk(f func(MenuItem)) {
	f(m)
	for _, c := range m.Children {
		c.Walk(f)
	}
}

// layout is a com.canonical.dbusmenu layout node: (ia{sv}av).
type layout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

func decodeLayout(t testing.TB, l layout) MenuItem {
	t.Helper()
	// "enabled" is left out when true, its default.
	m := MenuItem{ID: l.ID, Enabled: true, Props: l.Props}
	if v, ok := l.Props["label"]; ok {
		m.Label, _ = v.Value().(string)
	}
	if v, ok := l.Props["enabled"]; ok {
		m.Enabled, _ = v.Value().(bool)
	}
	for _, c := range l.Children {
		var cl layout
		if err := dbus.Store([]any{c.Value()}, &cl); err != nil {
			t.Fatalf("decoding a menu node: %v", err)
		}
		m.Children = append(m.Children, decodeLayout(t, cl))
	}
	return m
}

// GetLayout reads the whole menu once (GetLayout from the root, all
// levels) and returns its root.
func GetLayout(t testing.TB, menu dbus.BusObject) MenuItem {
	t.Helper()
	var rev uint32
	var l layout
	err := menu.Call(menuIface+".GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &l)
	if err != nil {
		t.Fatalf("GetLayout: %v", err)
	}
	return decodeLayout(t, l)
}

// GetLayoutOf calls GetLayout for the subtree under parentID, depth levels
// deep (-1: all), with the properties named (none: all), and returns the
// revision and the subtree's root.
func GetLayoutOf(t testing.TB, menu dbus.BusObject, parentID, depth int32, props ...string) (uint32, MenuItem) {
	t.Helper()
	var rev uint32
	var l layout
	if props == nil {
		props = []string{}
	}
	err := menu.Call(menuIface+".GetLayout", 0, parentID, depth, props).Store(&rev, &l)
	if err != nil {
		t.Fatalf("GetLayout(%d, %d, %q): %v", parentID, depth, props, err)
	}
	return rev, decodeLayout(t, l)
}

// ReadMenu reads the menu until an item labelled wantLabel shows up at any
// depth, and returns the root of that reading. Polling is needed because
// the item may register before its menu shows what the test waits for
// (tokens found later, a refresh under way).
func ReadMenu(t testing.TB, menu dbus.BusObject, wantLabel string) MenuItem {
	t.Helper()
	var root MenuItem
	Eventually(t, "the menu item "+wantLabel, func() bool {
		root = GetLayout(t, menu)
		_, ok := root.Find(wantLabel)
		return ok
	})
	return root
}

// Click sends the "clicked" event for the item with the given ID, as a
// tray host does when the user picks it.
func Click(t testing.TB, menu dbus.BusObject, id int32) {
	t.Helper()
	err := menu.Call(menuIface+".Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix())).Err
	if err != nil {
		t.Fatalf("clicking menu item %d: %v", id, err)
	}
}
