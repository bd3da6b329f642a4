package tray

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/kyso-vn/kyso/internal/dbustest"
)

// testCtx bounds a test's D-Bus calls so that a hang fails the test rather
// than running into go test's timeout; no test expects to come near it.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func sessionConn(t *testing.T) *dbus.Conn {
	t.Helper()
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// newNotifier returns NewNotifier's notifier, closed when the test ends.
func newNotifier(t *testing.T) Notifier {
	t.Helper()
	n := NewNotifier()
	c, ok := n.(io.Closer)
	if !ok {
		t.Fatalf("%T is not an io.Closer", n)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

// clients counts the connections on the bus other than the bus itself.
func clients(t *testing.T, conn *dbus.Conn) int {
	t.Helper()
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range names {
		if strings.HasPrefix(name, ":") {
			n++
		}
	}
	return n
}

func TestNotifyReachesTheServer(t *testing.T) {
	dbustest.StartSessionBus(t)
	conn := sessionConn(t)
	srv := dbustest.ExportNotifications(t, conn)
	ctx := testCtx(t)

	n := NewNotifier()
	if got := clients(t, conn); got != 1 {
		t.Errorf("%d connections before the first Notify, want 1 (the notifier connects lazily)", got)
	}
	if err := n.Notify(ctx, "Ký xong", "Đã ký 3 tệp: Hợp đồng A&B.pdf, <nháp>.pdf"); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if err := n.Notify(ctx, "Đã rút thiết bị ký", "VNPT-CA"); err != nil {
		t.Fatalf("second Notify: %v", err)
	}
	if got := clients(t, conn); got != 2 {
		t.Errorf("%d connections after two Notify calls, want 2 (the notifier's own, reused)", got)
	}

	got := srv.Received()
	if len(got) != 2 {
		t.Fatalf("the server received %d notifications, want 2: %+v", len(got), got)
	}
	// The fake server takes body markup, so the body comes escaped.
	want := []struct{ summary, body string }{
		{"Ký xong", "Đã ký 3 tệp: Hợp đồng A&amp;B.pdf, &lt;nháp&gt;.pdf"},
		{"Đã rút thiết bị ký", "VNPT-CA"},
	}
	for i, g := range got {
		if g.AppName != "kyso" || g.Summary != want[i].summary || g.Body != want[i].body {
			t.Errorf("notification %d: app %q, summary %q, body %q; want kyso, %q, %q", i, g.AppName, g.Summary, g.Body, want[i].summary, want[i].body)
		}
		if g.ExpireTimeout != 10_000 {
			t.Errorf("notification %d expires after %d ms, want 10000", i, g.ExpireTimeout)
		}
		if v, ok := g.Hints["desktop-entry"]; !ok || v.Value() != "kyso" {
			t.Errorf("notification %d: desktop-entry hint %v (present %v), want kyso", i, v, ok)
		}
	}

	// Close hangs up; Notify fails after it.
	if err := n.(io.Closer).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	dbustest.Eventually(t, "the notifier's connection to close", func() bool { return clients(t, conn) == 1 })
	if err := n.Notify(ctx, "x", "y"); err == nil {
		t.Error("Notify after Close succeeded")
	}
}

func TestNotifyWithoutServer(t *testing.T) {
	dbustest.StartSessionBus(t)
	n := newNotifier(t)
	err := n.Notify(testCtx(t), "Ký xong", "Đã ký 3 tệp")
	if err == nil {
		t.Fatal("Notify succeeded with no notification server on the bus")
	}
	if !strings.Contains(err.Error(), "org.freedesktop.Notifications") || !strings.Contains(err.Error(), "no desktop notification server") {
		t.Errorf("error %q does not say that there is no org.freedesktop.Notifications", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q: the bus should say at once that nobody owns the name", err)
	}

	// A server that starts later is found by the same notifier.
	srv := dbustest.ExportNotifications(t, sessionConn(t))
	if err := n.Notify(testCtx(t), "Ký xong", "Đã ký 3 tệp"); err != nil {
		t.Fatalf("Notify once the server is up: %v", err)
	}
	if got := srv.Received(); len(got) != 1 {
		t.Errorf("the server received %d notifications, want 1", len(got))
	}
}

// stuckNotifications owns the notification server's name and never
// answers, until release is closed. Each call sends on entered once it is
// in.
type stuckNotifications struct {
	release <-chan struct{}
	entered chan<- struct{}
}

func (s stuckNotifications) GetCapabilities() ([]string, *dbus.Error) {
	s.entered <- struct{}{}
	<-s.release
	return nil, nil
}

func (s stuckNotifications) Notify(appName string, replacesID uint32, appIcon, summary, body string, actions []string, hints map[string]dbus.Variant, expireTimeout int32) (uint32, *dbus.Error) {
	<-s.release
	return 1, nil
}

func TestNotifyBoundedByContext(t *testing.T) {
	dbustest.StartSessionBus(t)
	conn := sessionConn(t)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	entered := make(chan struct{}, 10)
	stuck := stuckNotifications{release: release, entered: entered}
	if err := conn.Export(stuck, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning org.freedesktop.Notifications: %v (reply %v)", err, reply)
	}

	n := newNotifier(t)
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	err := n.Notify(ctx, "Ký xong", "Đã ký 3 tệp")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "org.freedesktop.Notifications") {
		t.Fatalf("Notify to a server that never answers: %v, want the context's deadline, naming the service", err)
	}
	<-entered

	// A Notify queued behind a stuck one gives up with its own context.
	first := make(chan error, 1)
	go func() { first <- n.Notify(testCtx(t), "1", "1") }()
	<-entered // the first Notify holds the notifier
	ctx2, cancel2 := context.WithCancel(testCtx(t))
	cancel2()
	if err := n.Notify(ctx2, "2", "2"); !errors.Is(err, context.Canceled) {
		t.Errorf("queued Notify with its context cancelled: %v, want context.Canceled", err)
	}
	free()
	if err := <-first; err != nil {
		t.Errorf("Notify once the server answers: %v", err)
	}
}

// silentBus is a socket that accepts connections and never says a word:
// a session bus that hangs during the handshake.
func silentBus(t *testing.T) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bus")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+path)
}

func TestNotifyWithoutBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "none"))
	err := newNotifier(t).Notify(testCtx(t), "Ký xong", "Đã ký 3 tệp")
	if err == nil || !strings.Contains(err.Error(), "org.freedesktop.Notifications") {
		t.Errorf("Notify with no session bus: %v, want an error naming org.freedesktop.Notifications", err)
	}

	silentBus(t)
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	err = newNotifier(t).Notify(ctx, "Ký xong", "Đã ký 3 tệp")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "org.freedesktop.Notifications") {
		t.Errorf("Notify on a bus that never answers: %v, want the context's deadline, naming the service", err)
	}
}

func TestHostPresent(t *testing.T) {
	dbustest.StartSessionBus(t)
	ctx := testCtx(t)
	present, err := HostPresent(ctx)
	if err != nil || present {
		t.Errorf("HostPresent with no watcher = %v, %v; want false, nil", present, err)
	}

	w := dbustest.ExportWatcher(t, sessionConn(t))
	present, err = HostPresent(ctx)
	if err != nil || !present {
		t.Errorf("HostPresent with a watcher and a host = %v, %v; want true, nil", present, err)
	}

	// A watcher whose host (the panel) went away.
	w.SetHostRegistered(false)
	present, err = HostPresent(ctx)
	if err != nil || present {
		t.Errorf("HostPresent with a watcher and no host = %v, %v; want false, nil", present, err)
	}
}

func TestHostPresentWithoutBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "none"))
	if present, err := HostPresent(testCtx(t)); err == nil || present {
		t.Errorf("HostPresent with no session bus = %v, %v; want false and an error", present, err)
	}

	silentBus(t)
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	if present, err := HostPresent(ctx); !errors.Is(err, context.DeadlineExceeded) || present {
		t.Errorf("HostPresent on a bus that never answers = %v, %v; want false and the context's deadline", present, err)
	}
}

func TestSpeaksDBus(t *testing.T) {
	for goos, want := range map[string]bool{
		"linux": true, "freebsd": true, "openbsd": true, "netbsd": true,
		"windows": false, "darwin": false, "android": false,
	} {
		if got := speaksDBus(goos); got != want {
			t.Errorf("speaksDBus(%q) = %v, want %v", goos, got, want)
		}
	}
}
