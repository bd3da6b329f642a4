package tray

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/ncruces/zenity"
)

// Notifier shows a desktop notification ("batch finished", "token removed").
type Notifier interface {
	// Notify shows a notification with a title and a line or two of plain
	// text, and returns once the desktop took it or ctx is done.
	Notify(ctx context.Context, title, body string) error
}

// NewNotifier returns the platform's notifier: on Linux/BSD
// org.freedesktop.Notifications over the session bus (app name "kyso", a
// 10 s expire timeout, hint "desktop-entry" = "kyso"), elsewhere
// github.com/ncruces/zenity's zenity.Notify (Windows balloon).
//
// The D-Bus notifier connects on its first Notify and keeps its own
// connection (reconnecting if the bus drops it); every notifier returned
// is an io.Closer whose Close releases that connection. A missing
// notification server or session bus is an error that names
// org.freedesktop.Notifications, for the caller to log: notifications are
// a convenience and nothing should depend on them.
func NewNotifier() Notifier {
	if speaksDBus(runtime.GOOS) {
		return &busNotifier{lock: make(chan struct{}, 1)}
	}
	return zenityNotifier{}
}

// speaksDBus reports whether the desktop on goos is reached over the D-Bus
// session bus: the systems where the tray is kyso's own StatusNotifierItem
// (sni.go).
func speaksDBus(goos string) bool {
	switch goos {
	case "linux", "freebsd", "openbsd", "netbsd":
		return true
	}
	return false
}

// The Desktop Notifications Specification's names, and what kyso sends.
const (
	notificationsName = "org.freedesktop.Notifications"
	notificationsPath = "/org/freedesktop/Notifications"
	notifyAppName     = "kyso"
	// notifyExpire is in milliseconds. Ten seconds is long enough to read
	// a result line; the server's default can be a few seconds.
	notifyExpire = int32(10_000)
	// notifyDesktopEntry is the base name of kyso's .desktop file, which
	// the server uses for the icon and per-application settings.
	notifyDesktopEntry = "kyso"
)

// busNotifier sends org.freedesktop.Notifications.Notify on a private
// session-bus connection of its own, as each tray Run has its own: one
// failing or closing never takes the other down.
type busNotifier struct {
	// lock is a one-slot semaphore rather than a sync.Mutex so that a
	// Notify waiting behind another one (say, one still connecting) gives
	// up when its own ctx is done.
	lock chan struct{}
	// conn is nil until the first Notify. Guarded by lock.
	conn *dbus.Conn
	// closed is set by Close. Guarded by lock.
	closed bool
}

func (n *busNotifier) Notify(ctx context.Context, title, body string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tray: notification via %s: %w", notificationsName, err)
	}
	select {
	case n.lock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("tray: notification via %s: %w", notificationsName, ctx.Err())
	}
	defer func() { <-n.lock }()
	if n.closed {
		return fmt.Errorf("tray: notification via %s: the notifier is closed", notificationsName)
	}
	if n.conn == nil || !n.conn.Connected() {
		conn, err := connectSession(ctx)
		if err != nil {
			return fmt.Errorf("tray: no D-Bus session bus for %s: %w", notificationsName, err)
		}
		n.conn = conn
	}
	obj := n.conn.Object(notificationsName, notificationsPath)
	// Servers with "body-markup" read the body as XML-like markup, where a
	// file name such as "Hợp đồng A&B.pdf" would break the parse. Asking
	// every time is one more round trip on a rare event, and stays right
	// when the desktop's server is replaced. The call also finds out
	// whether there is a server at all.
	var caps []string
	if err := obj.CallWithContext(ctx, notificationsName+".GetCapabilities", 0).Store(&caps); err != nil {
		return notifyError(err)
	}
	if slices.Contains(caps, "body-markup") {
		body = escapeMarkup(body)
	}
	hints := map[string]dbus.Variant{"desktop-entry": dbus.MakeVariant(notifyDesktopEntry)}
	var id uint32
	err := obj.CallWithContext(ctx, notificationsName+".Notify", 0,
		notifyAppName, uint32(0), "", title, body, []string{}, hints, notifyExpire).Store(&id)
	if err != nil {
		return notifyError(err)
	}
	return nil
}

// Close closes the notifier's bus connection, after any Notify in
// progress. Notify fails after Close.
func (n *busNotifier) Close() error {
	n.lock <- struct{}{}
	defer func() { <-n.lock }()
	n.closed = true
	if n.conn == nil {
		return nil
	}
	err := n.conn.Close()
	n.conn = nil
	return err
}

// notifyError names the notification service in a failed call's error, and
// says plainly when the desktop has no notification server at all.
func notifyError(err error) error {
	if unowned(err) {
		return fmt.Errorf("tray: no desktop notification server (%s) on the session bus: %w", notificationsName, err)
	}
	return fmt.Errorf("tray: notification via %s: %w", notificationsName, err)
}

// unowned reports whether err is the bus saying that nobody owns the name
// called (and no service file could start one).
func unowned(err error) bool {
	var de dbus.Error
	return errors.As(err, &de) &&
		(de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner")
}

// escapeMarkup escapes the characters that the notification body markup (a
// small XML subset) gives a meaning to.
func escapeMarkup(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// connectSession opens a private, ready connection to the session bus, or
// fails when ctx is done first.
func connectSession(ctx context.Context, opts ...dbus.ConnOption) (*dbus.Conn, error) {
	// NoAutoStartup: with no session bus at all, godbus would otherwise run
	// dbus-launch and leave a bus daemon behind that no desktop listens on.
	conn, err := dbus.SessionBusPrivateNoAutoStartup(opts...)
	if err != nil {
		return nil, err
	}
	// The handshake takes no context: closing the connection ends it when
	// ctx is done, say with a bus that accepts but never answers.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err = conn.Auth(nil)
	if err == nil {
		err = conn.Hello()
	}
	if !stop() {
		return nil, ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// zenityNotifier shows notifications with zenity: a balloon from the
// notification area on Windows, Notification Center on macOS.
type zenityNotifier struct{}

func (zenityNotifier) Notify(ctx context.Context, title, body string) error {
	if err := zenity.Notify(body, zenity.Title(title), zenity.Context(ctx)); err != nil {
		return fmt.Errorf("tray: notification: %w", err)
	}
	return nil
}

// Close does nothing: zenity holds nothing between notifications. It is
// there so that every Notifier from NewNotifier is an io.Closer.
func (zenityNotifier) Close() error { return nil }

// The StatusNotifierWatcher is the desktop's registry of tray items; a
// panel that shows them registers with it as a host.
const (
	watcherName = "org.kde.StatusNotifierWatcher"
	watcherPath = "/StatusNotifierWatcher"
)

// HostPresent reports whether the desktop shows tray icons: on Linux/BSD
// whether org.kde.StatusNotifierWatcher is owned on the session bus and
// its IsStatusNotifierHostRegistered property is true; elsewhere true.
//
// Without a host nobody draws the tray's icon (GNOME without the
// AppIndicator extension has none), so the caller can reach the user
// another way. No session bus is an error (and false); so is ctx ending
// before the answer. Each call opens and closes a connection of its own.
func HostPresent(ctx context.Context) (bool, error) {
	if !speaksDBus(runtime.GOOS) {
		return true, nil
	}
	conn, err := connectSession(ctx)
	if err != nil {
		return false, fmt.Errorf("tray: no D-Bus session bus to look for a tray host: %w", err)
	}
	defer conn.Close()
	// NoAutoStart: asking must not start a watcher; the call fails at
	// once when nobody owns the name, which is the answer.
	var v dbus.Variant
	err = conn.Object(watcherName, watcherPath).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", dbus.FlagNoAutoStart,
		watcherName, "IsStatusNotifierHostRegistered").Store(&v)
	if unowned(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("tray: asking %s for a tray host: %w", watcherName, err)
	}
	present, ok := v.Value().(bool)
	if !ok {
		return false, fmt.Errorf("tray: %s.IsStatusNotifierHostRegistered is %s, want a boolean", watcherName, v.Signature())
	}
	return present, nil
}
