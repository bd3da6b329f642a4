package dbustest

import (
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
)

const (
	notificationsName = "org.freedesktop.Notifications"
	notificationsPath = "/org/freedesktop/Notifications"
)

// Notification is one Notify call the fake notification server received.
type Notification struct {
	AppName string
	Summary string
	Body    string
	Hints   map[string]dbus.Variant
	// ExpireTimeout is in milliseconds; -1 leaves it to the server, 0
	// never expires.
	ExpireTimeout int32
}

// Notifications is a fake org.freedesktop.Notifications server (Desktop
// Notifications Specification 1.2): it records what it is asked to show
// and shows nothing. It advertises the "body" and "body-markup"
// capabilities, as GNOME Shell, KDE Plasma and dunst do, so a client must
// escape its body text.
type Notifications struct {
	conn *dbus.Conn

	mu       sync.Mutex
	received []Notification
	lastID   uint32
}

// ExportNotifications serves a Notifications on conn at
// /org/freedesktop/Notifications and makes conn the owner of
// org.freedesktop.Notifications.
func ExportNotifications(t testing.TB, conn *dbus.Conn) *Notifications {
	t.Helper()
	n := &Notifications{conn: conn}
	if err := conn.Export(n, notificationsPath, notificationsName); err != nil {
		t.Fatal(err)
	}
	own(t, conn, notificationsName)
	return n
}

// Notify is the D-Bus method that shows a notification; it records the
// call and returns a new notification ID (or replacesID when not 0).
func (n *Notifications) Notify(appName string, replacesID uint32, appIcon, summary, body string, actions []string, hints map[string]dbus.Variant, expireTimeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.received = append(n.received, Notification{
		AppName:       appName,
		Summary:       summary,
		Body:          body,
		Hints:         hints,
		ExpireTimeout: expireTimeout,
	})
	if replacesID != 0 {
		return replacesID, nil
	}
	n.lastID++
	return n.lastID, nil
}

// GetCapabilities is the D-Bus method that lists the server's optional
// features.
func (n *Notifications) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"body", "body-markup"}, nil
}

// GetServerInformation is the D-Bus method that names the server.
func (n *Notifications) GetServerInformation() (name, vendor, version, specVersion string, err *dbus.Error) {
	return "kyso-dbustest", "kyso", "0", "1.2", nil
}

// CloseNotification is the D-Bus method that withdraws a notification; the
// fake answers with the NotificationClosed signal (reason 3, closed by a
// call to CloseNotification) as a real server does.
func (n *Notifications) CloseNotification(id uint32) *dbus.Error {
	if err := n.conn.Emit(notificationsPath, notificationsName+".NotificationClosed", id, uint32(3)); err != nil {
		return dbus.MakeFailedError(err)
	}
	return nil
}

// Received returns the notifications received so far, oldest first.
func (n *Notifications) Received() []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := slices.Clone(n.received)
	for i := range out {
		out[i].Hints = maps.Clone(out[i].Hints)
	}
	return out
}
