package dbustest

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

const (
	watcherName = "org.kde.StatusNotifierWatcher"
	watcherPath = "/StatusNotifierWatcher"
	itemIface   = "org.kde.StatusNotifierItem"
	itemPath    = "/StatusNotifierItem"
)

// Watcher is a minimal org.kde.StatusNotifierWatcher, the desktop's tray
// host registry: it records which items registered and says that a host
// (a panel showing tray icons) is present.
type Watcher struct {
	conn  *dbus.Conn
	props *prop.Properties

	mu    sync.Mutex
	items []string // "sender service"
}

// ExportWatcher serves a Watcher on conn at /StatusNotifierWatcher and
// makes conn the owner of org.kde.StatusNotifierWatcher. Its
// IsStatusNotifierHostRegistered property is true.
func ExportWatcher(t testing.TB, conn *dbus.Conn) *Watcher {
	t.Helper()
	w := &Watcher{conn: conn}
	if err := conn.Export(w, watcherPath, watcherName); err != nil {
		t.Fatal(err)
	}
	props, err := prop.Export(conn, watcherPath, prop.Map{watcherName: {
		"IsStatusNotifierHostRegistered": {Value: true},
		"ProtocolVersion":                {Value: int32(0)},
		"RegisteredStatusNotifierItems":  {Value: []string{}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.props = props
	own(t, conn, watcherName)
	return w
}

// RegisterStatusNotifierItem is the D-Bus method items call to register;
// service is a bus name, as the specification has it, or an object path
// under the sender's unique name, as libappindicator and fyne.io/systray
// send. A bus name must belong to the sender already, as real watchers
// check (GNOME's AppIndicator extension looks its owner up; KDE's
// ignores names nobody owns): an item that registers before taking its
// name is refused.
func (w *Watcher) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	if !strings.HasPrefix(service, "/") {
		var owner string
		err := w.conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, service).Store(&owner)
		if err != nil || owner != string(sender) {
			return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs",
				[]any{"service " + service + " is not owned by " + string(sender)})
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.items = append(w.items, string(sender)+" "+service)
	return nil
}

// RegisterStatusNotifierHost is the D-Bus method hosts call to register;
// the fake ignores it.
func (w *Watcher) RegisterStatusNotifierHost(service string) *dbus.Error { return nil }

// Registered returns the registrations so far, oldest first, each as the
// sender's unique bus name, a space and the service it gave.
func (w *Watcher) Registered() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.items)
}

// SetHostRegistered sets the IsStatusNotifierHostRegistered property, as a
// desktop does when its panel starts or goes away. The property stays
// read-only on the bus, as the specification has it, and no signal is
// sent: a client reading the property sees the change.
func (w *Watcher) SetHostRegistered(present bool) {
	w.props.SetMust(watcherName, "IsStatusNotifierHostRegistered", present)
}

// Item waits for the first item to register with w and returns its
// org.kde.StatusNotifierItem object and the com.canonical.dbusmenu object
// its Menu property names, both as seen through conn.
func Item(t testing.TB, conn *dbus.Conn, w *Watcher) (item, menu dbus.BusObject) {
	t.Helper()
	Eventually(t, "an item to register with the watcher", func() bool { return len(w.Registered()) > 0 })
	sender, service, _ := strings.Cut(w.Registered()[0], " ")
	// The specification has the item send its bus name; fyne.io/systray
	// sends its object path and is found by the sender's name instead.
	switch {
	case service == itemPath:
		item = conn.Object(sender, itemPath)
	case strings.HasPrefix(service, itemIface+"-"):
		item = conn.Object(service, itemPath)
	default:
		t.Errorf("registered service %q", service)
		item = conn.Object(sender, itemPath)
	}
	v, err := item.GetProperty(itemIface + ".Menu")
	if err != nil {
		t.Fatalf("reading the item's Menu: %v", err)
	}
	menuPath, ok := v.Value().(dbus.ObjectPath)
	if !ok {
		t.Fatalf("Menu is %T, want an object path", v.Value())
	}
	return item, conn.Object(item.Destination(), menuPath)
}
