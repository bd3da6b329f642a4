package dbustest_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"github.com/kyso-vn/kyso/internal/dbustest"
)

func connect(t *testing.T) *dbus.Conn {
	t.Helper()
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestStartSessionBus(t *testing.T) {
	addr := dbustest.StartSessionBus(t)
	if got := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); got != addr || !strings.HasPrefix(addr, "unix:") {
		t.Fatalf("address %q, DBUS_SESSION_BUS_ADDRESS %q", addr, got)
	}
	conn := connect(t)
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		t.Fatal(err)
	}
	// A fresh bus: the daemon and this connection, nobody else.
	if len(names) != 2 {
		t.Errorf("names on the bus: %q", names)
	}
}

// fatalRecorder is a testing.TB whose Fatal ends the calling goroutine
// after noting the message, so that a helper's failure can be looked at.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func TestStartSessionBusNamesThePackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		dbustest.StartSessionBus(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	if !strings.Contains(r.msg, "dbus-daemon") || !strings.Contains(r.msg, "Debian package dbus") {
		t.Errorf("failure %q, want it to name dbus-daemon and its Debian package", r.msg)
	}
}

func TestNotifications(t *testing.T) {
	dbustest.StartSessionBus(t)
	n := dbustest.ExportNotifications(t, connect(t))
	client := connect(t)
	obj := client.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
	const iface = "org.freedesktop.Notifications"

	var caps []string
	if err := obj.Call(iface+".GetCapabilities", 0).Store(&caps); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(caps, " "), "body-markup") {
		t.Errorf("capabilities %q", caps)
	}
	var name, vendor, version, spec string
	if err := obj.Call(iface+".GetServerInformation", 0).Store(&name, &vendor, &version, &spec); err != nil {
		t.Fatal(err)
	}
	if spec != "1.2" {
		t.Errorf("spec version %q", spec)
	}

	var id uint32
	hints := map[string]dbus.Variant{"urgency": dbus.MakeVariant(byte(1))}
	err := obj.Call(iface+".Notify", 0, "app", uint32(0), "", "Tiêu đề", "Nội dung", []string{}, hints, int32(5000)).Store(&id)
	if err != nil {
		t.Fatal(err)
	}
	if id == 0 {
		t.Error("Notify returned ID 0")
	}
	got := n.Received()
	if len(got) != 1 {
		t.Fatalf("received %d notifications, want 1", len(got))
	}
	if g := got[0]; g.AppName != "app" || g.Summary != "Tiêu đề" || g.Body != "Nội dung" || g.ExpireTimeout != 5000 || g.Hints["urgency"].Value() != byte(1) {
		t.Errorf("received %+v", g)
	}

	if err := client.AddMatchSignal(dbus.WithMatchInterface(iface), dbus.WithMatchMember("NotificationClosed")); err != nil {
		t.Fatal(err)
	}
	signals := make(chan *dbus.Signal, 1)
	client.Signal(signals)
	if err := obj.Call(iface+".CloseNotification", 0, id).Err; err != nil {
		t.Fatal(err)
	}
	dbustest.Eventually(t, "NotificationClosed", func() bool {
		select {
		case s := <-signals:
			return s.Name == iface+".NotificationClosed" && s.Body[0] == id
		default:
			return false
		}
	})
}

// fakeMenu is a two-level com.canonical.dbusmenu that, like fyne.io/systray,
// answers its first GetLayout one level deep only.
type fakeMenu struct {
	mu      sync.Mutex
	calls   int
	clicked []int32
}

type node struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

func (m *fakeMenu) GetLayout(parentID, depth int32, props []string) (uint32, node, *dbus.Error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	leaf := node{ID: 3, Props: map[string]dbus.Variant{"label": dbus.MakeVariant("Thu hồi"), "enabled": dbus.MakeVariant(false)}}
	sub := node{ID: 2, Props: map[string]dbus.Variant{"label": dbus.MakeVariant("Trang web")}}
	if m.calls > 1 {
		sub.Children = []dbus.Variant{dbus.MakeVariant(leaf)}
	}
	quit := node{ID: 4, Props: map[string]dbus.Variant{"label": dbus.MakeVariant("Thoát")}}
	return uint32(m.calls), node{Children: []dbus.Variant{dbus.MakeVariant(sub), dbus.MakeVariant(quit)}}, nil
}

func (m *fakeMenu) Event(id int32, event string, data dbus.Variant, timestamp uint32) *dbus.Error {
	if event == "clicked" {
		m.mu.Lock()
		m.clicked = append(m.clicked, id)
		m.mu.Unlock()
	}
	return nil
}

func TestWatcherAndMenu(t *testing.T) {
	dbustest.StartSessionBus(t)
	host := connect(t)
	w := dbustest.ExportWatcher(t, host)

	// An item the way fyne.io/systray makes one: registered by object
	// path, its menu at /StatusNotifierMenu.
	app := connect(t)
	m := &fakeMenu{}
	if err := app.Export(m, "/StatusNotifierMenu", "com.canonical.dbusmenu"); err != nil {
		t.Fatal(err)
	}
	_, err := prop.Export(app, "/StatusNotifierItem", prop.Map{"org.kde.StatusNotifierItem": {
		"Menu": {Value: dbus.ObjectPath("/StatusNotifierMenu")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = app.Object("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher").
		Call("org.kde.StatusNotifierWatcher.RegisterStatusNotifierItem", 0, "/StatusNotifierItem").Err
	if err != nil {
		t.Fatal(err)
	}
	if reg := w.Registered(); len(reg) != 1 || reg[0] != app.Names()[0]+" /StatusNotifierItem" {
		t.Errorf("registered %q", reg)
	}

	item, menu := dbustest.Item(t, host, w)
	if item.Destination() != app.Names()[0] || menu.Path() != "/StatusNotifierMenu" {
		t.Errorf("item %s %s, menu %s %s", item.Destination(), item.Path(), menu.Destination(), menu.Path())
	}

	root := dbustest.ReadMenu(t, menu, "Thu hồi")
	revoke, ok := root.Find("Thu hồi")
	if !ok || revoke.ID != 3 || revoke.Enabled {
		t.Errorf("revoke item %+v (found %v)", revoke, ok)
	}
	if sites, _ := root.Find("Trang web"); !sites.Enabled || len(sites.Children) != 1 {
		t.Errorf("sites item %+v", sites)
	}
	if _, ok := root.Find("Không có"); ok {
		t.Error("found an item that is not there")
	}

	dbustest.Click(t, menu, 4)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.clicked) != 1 || m.clicked[0] != 4 {
		t.Errorf("clicked %v, want [4]", m.clicked)
	}
}

func TestWatcherHostProperty(t *testing.T) {
	dbustest.StartSessionBus(t)
	w := dbustest.ExportWatcher(t, connect(t))
	watcher := connect(t).Object("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher")
	host := func() bool {
		v, err := watcher.GetProperty("org.kde.StatusNotifierWatcher.IsStatusNotifierHostRegistered")
		if err != nil {
			t.Fatal(err)
		}
		return v.Value() == true
	}
	if !host() {
		t.Error("no host registered at first")
	}
	w.SetHostRegistered(false)
	if host() {
		t.Error("a host registered after SetHostRegistered(false)")
	}
}

// TestWatcherBusName: an item that registers by bus name, as the
// specification has it, is found under that name; a name the item does not
// own is refused.
func TestWatcherBusName(t *testing.T) {
	dbustest.StartSessionBus(t)
	host := connect(t)
	w := dbustest.ExportWatcher(t, host)
	app := connect(t)
	const name = "org.kde.StatusNotifierItem-1-1"
	register := func() error {
		return app.Object("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher").
			Call("org.kde.StatusNotifierWatcher.RegisterStatusNotifierItem", 0, name).Err
	}
	if err := register(); err == nil {
		t.Fatal("registering a bus name nobody owns succeeded")
	}
	if len(w.Registered()) != 0 {
		t.Fatalf("registered %q", w.Registered())
	}
	_, err := prop.Export(app, "/StatusNotifierItem", prop.Map{"org.kde.StatusNotifierItem": {
		"Menu": {Value: dbus.ObjectPath("/MenuBar")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := app.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s: %v, %v", name, reply, err)
	}
	if err := register(); err != nil {
		t.Fatalf("registering an owned bus name: %v", err)
	}
	item, menu := dbustest.Item(t, host, w)
	if item.Destination() != name || item.Path() != "/StatusNotifierItem" || menu.Destination() != name || menu.Path() != "/MenuBar" {
		t.Errorf("item %s %s, menu %s %s", item.Destination(), item.Path(), menu.Destination(), menu.Path())
	}
}
