//go:build linux

package tray

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"github.com/kyso-vn/kyso/internal/i18n"
)

// startSessionBus runs a private dbus-daemon for the test and points
// DBUS_SESSION_BUS_ADDRESS at it.
func startSessionBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatalf("dbus-daemon is needed for the tray's D-Bus test (Debian package dbus): %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "session.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=`+dir+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--print-address", "--nofork")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatal("dbus-daemon printed no address")
		}
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", a)
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon did not print its address")
	}
	return ""
}

// watcher is a minimal org.kde.StatusNotifierWatcher: it records who
// registered.
type watcher struct {
	mu    sync.Mutex
	items []string // "sender service"
}

func (w *watcher) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.items = append(w.items, string(sender)+" "+service)
	return nil
}

func (w *watcher) RegisterStatusNotifierHost(service string) *dbus.Error { return nil }

func (w *watcher) registered() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.items)
}

func exportWatcher(t *testing.T, conn *dbus.Conn) *watcher {
	t.Helper()
	w := &watcher{}
	const iface = "org.kde.StatusNotifierWatcher"
	if err := conn.Export(w, "/StatusNotifierWatcher", iface); err != nil {
		t.Fatal(err)
	}
	_, err := prop.Export(conn, "/StatusNotifierWatcher", prop.Map{iface: {
		"IsStatusNotifierHostRegistered": {Value: true},
		"ProtocolVersion":                {Value: int32(0)},
		"RegisteredStatusNotifierItems":  {Value: []string{}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(iface, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s: %v (reply %v)", iface, err, reply)
	}
	return w
}

// layout is a com.canonical.dbusmenu layout node: (ia{sv}av).
type layout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// menuItem is a layout node read back, with its children decoded.
type menuItem struct {
	id       int32
	label    string
	enabled  bool
	children []menuItem
}

func decodeLayout(t *testing.T, l layout) menuItem {
	t.Helper()
	m := menuItem{id: l.ID, enabled: true}
	if v, ok := l.Props["label"]; ok {
		m.label, _ = v.Value().(string)
	}
	if v, ok := l.Props["enabled"]; ok {
		m.enabled, _ = v.Value().(bool)
	}
	for _, c := range l.Children {
		var cl layout
		if err := dbus.Store([]any{c.Value()}, &cl); err != nil {
			t.Fatalf("decoding a menu node: %v", err)
		}
		m.children = append(m.children, decodeLayout(t, cl))
	}
	return m
}

func (m menuItem) find(label string) (menuItem, bool) {
	if m.label == label {
		return m, true
	}
	for _, c := range m.children {
		if f, ok := c.find(label); ok {
			return f, true
		}
	}
	return menuItem{}, false
}

func getLayout(t *testing.T, menu dbus.BusObject) menuItem {
	t.Helper()
	var rev uint32
	var l layout
	err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &l)
	if err != nil {
		t.Fatalf("GetLayout: %v", err)
	}
	return decodeLayout(t, l)
}

// eventually retries f until it returns true or the time is up.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dbusChildEnv marks the child process that runs TestTrayDBus's body.
const dbusChildEnv = "KYSO_TRAY_DBUS_CHILD"

// TestTrayDBus runs the real tray (systray, once per test binary) against a
// private session bus and a fake StatusNotifierWatcher, reads its menu back
// over com.canonical.dbusmenu and clicks an item.
func TestTrayDBus(t *testing.T) {
	// systray runs once per process: every run of the test (also under
	// -count=N) gets a fresh child process of the test binary.
	if os.Getenv(dbusChildEnv) != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTrayDBus$", "-test.count=1", "-test.v", "-test.timeout=5m")
		cmd.Env = append(os.Environ(), dbusChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("--- PASS: TestTrayDBus")) {
			t.Fatalf("the child process did not run the test:\n%s", out)
		}
		t.Logf("child process:\n%s", out)
		return
	}
	if ran.Load() {
		t.Fatal("systray already ran in this child process")
	}
	startSessionBus(t)
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := exportWatcher(t, conn)

	const site1, site2 = "https://dms.example.vn", "https://hop.example.gov.vn"
	var mu sync.Mutex
	approved := []SiteView{
		{Origin: site1, Approved: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)},
		{Origin: site2, Approved: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)},
	}
	state := func() State {
		mu.Lock()
		defer mu.Unlock()
		return State{Version: "test", Port: 18765, Approved: slices.Clone(approved)}
	}
	clicks := make(chan string, 10)
	tr := New()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() {
		runErr <- tr.Run(ctx, Config{
			State:    state,
			Dispatch: func(id string) { clicks <- id },
			Lang:     i18n.Vietnamese,
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after the context was cancelled")
		}
	}()

	// The item registers itself with the watcher.
	eventually(t, "the item to register with the watcher", func() bool { return len(w.registered()) > 0 })
	reg := w.registered()[0]
	sender, service, _ := strings.Cut(reg, " ")
	if service != "/StatusNotifierItem" && !strings.HasPrefix(service, "org.kde.StatusNotifierItem-") {
		t.Errorf("registered service %q", service)
	}
	item := conn.Object(sender, "/StatusNotifierItem")

	v, err := item.GetProperty("org.kde.StatusNotifierItem.Menu")
	if err != nil {
		t.Fatalf("reading the item's Menu: %v", err)
	}
	menuPath, ok := v.Value().(dbus.ObjectPath)
	if !ok {
		t.Fatalf("Menu is %T, want an object path", v.Value())
	}
	menu := conn.Object(sender, menuPath)

	// The tooltip says no token is plugged in (the state has none). The
	// item registers before the tray draws it: wait for the tooltip.
	want := i18n.Vietnamese.T("tray.tip.notoken")
	var tip dbus.Variant
	eventually(t, "the tooltip", func() bool {
		tip, err = item.GetProperty("org.kde.StatusNotifierItem.ToolTip")
		if err != nil {
			t.Fatalf("reading the ToolTip: %v", err)
		}
		return strings.Contains(fmt.Sprint(tip.Value()), want)
	})
	icon, err := item.GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		t.Fatalf("reading the IconPixmap: %v", err)
	}
	if s := fmt.Sprint(icon.Value()); !strings.Contains(s, fmt.Sprint(IconSize)) {
		t.Errorf("IconPixmap = %.60s…, want a %d-pixel icon", s, IconSize)
	}

	var root menuItem
	var sites menuItem
	// systray answers the first GetLayout one level deep only (for
	// libdbusmenu-gtk3), so ask until the submenus are there.
	eventually(t, "the menu to list the sites", func() bool {
		root = getLayout(t, menu)
		var ok bool
		sites, ok = root.find(i18n.Vietnamese.T("tray.sites"))
		_, done := root.find(i18n.Vietnamese.T("tray.quit")) // the last item
		return ok && len(sites.children) > 0 && done
	})
	site, ok := sites.find(site1)
	if !ok {
		t.Fatalf("no %q under %q: %+v", site1, sites.label, sites)
	}
	if _, ok := sites.find(site2); !ok {
		t.Errorf("no %q under %q", site2, sites.label)
	}
	revoke, ok := site.find(i18n.Vietnamese.T("tray.revoke"))
	if !ok || !revoke.enabled {
		t.Fatalf("no enabled revoke item under %q: %+v", site1, site)
	}

	// Clicking "Thu hồi" under the first site dispatches its ID.
	err = menu.Call("com.canonical.dbusmenu.Event", 0, revoke.id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix())).Err
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	select {
	case id := <-clicks:
		if want := PrefixRevoke + site1; id != want {
			t.Errorf("dispatched %q, want %q", id, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the click was not dispatched")
	}

	// After the revocation a refresh drops the site from the menu.
	mu.Lock()
	approved = approved[1:]
	mu.Unlock()
	tr.Refresh()
	eventually(t, "the refreshed menu to drop the revoked site", func() bool {
		root = getLayout(t, menu)
		_, gone := root.find(site1)
		_, kept := root.find(site2)
		_, done := root.find(i18n.Vietnamese.T("tray.quit")) // the last item
		return !gone && kept && done
	})

	// Items of the rebuilt menu dispatch too.
	sites, _ = root.find(i18n.Vietnamese.T("tray.sites"))
	all, ok := sites.find(i18n.Vietnamese.T("tray.revokeAll"))
	if !ok {
		t.Fatal("no revoke-all item after the refresh")
	}
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, all.id, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatalf("Event: %v", err)
	}
	select {
	case id := <-clicks:
		if id != IDRevokeAll {
			t.Errorf("dispatched %q, want %q", id, IDRevokeAll)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the click on the rebuilt menu was not dispatched")
	}
}
