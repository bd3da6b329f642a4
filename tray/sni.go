//go:build linux || freebsd || openbsd || netbsd

package tray

// The tray on Linux and the BSDs is a StatusNotifierItem (the KDE /
// freedesktop.org specification that GNOME's AppIndicator extension, KDE
// Plasma, XFCE's status notifier plugin and others host) whose menu is a
// com.canonical.dbusmenu object (sni_menu.go), both served by kyso itself
// over github.com/godbus/dbus/v5. Every Run has a private session-bus
// connection, its own bus name and all its state in one sni value: there is
// no package-level state, so the tray can run more than once per process.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

// The StatusNotifierItem specification's names. The watcher's name and
// path are in notify.go (HostPresent asks it too).
const (
	sniIface = "org.kde.StatusNotifierItem"
	// sniPath is where hosts look for the item when they are given a bus
	// name: the specification fixes it.
	sniPath = dbus.ObjectPath("/StatusNotifierItem")
	// menuPath is the dbusmenu object that the item's Menu property names.
	menuPath = dbus.ObjectPath("/MenuBar")
	// sniMaxNames bounds the search for a free item name; each Run in the
	// process holds one, so a few would do.
	sniMaxNames = 1000
	// releaseTimeout bounds giving the bus name back when Run ends.
	releaseTimeout = 5 * time.Second
)

// pixmap is one image of an icon property, (iiay): width, height and
// ARGB32 pixels, row by row, each in network byte order (A, R, G, B), not
// premultiplied, as the specification's IconPixmap has it.
type pixmap struct {
	W, H int32
	Pix  []byte
}

// toolTip is the ToolTip property, (sa(iiay)ss): an icon name, icon
// pixmaps, a title and a text.
type toolTip struct {
	IconName string
	Icon     []pixmap
	Title    string
	Text     string
}

// sni is one Run's StatusNotifierItem and its menu.
type sni struct {
	conn  *dbus.Conn
	cfg   Config
	props *prop.Properties // the item's properties; prop locks them itself

	// mu guards everything below: the menu's calls are answered on the
	// connection's reader goroutine (interceptMenu) while Run redraws.
	mu   sync.Mutex
	last *drawn
	menu menuState
}

// run shows the tray as a StatusNotifierItem until ctx is done.
func (t *Tray) run(ctx context.Context, cfg Config) error {
	// Subscribe before the first State is read (in startSNI): a change in
	// between then refreshes instead of being lost.
	refresh, unsubscribe := t.subscribe()
	defer unsubscribe()
	// A private connection: the item's objects, name and signal matches
	// belong to this Run alone, and closing it takes them all away. The
	// interceptor answers the menu's calls in order (see exportMenu); it
	// sees the sni once startSNI has made it, before anything is exported.
	var item atomic.Pointer[sni]
	conn, err := connectSession(ctx, dbus.WithIncomingInterceptor(func(msg *dbus.Message) {
		if s := item.Load(); s != nil {
			s.interceptMenu(msg)
		}
	}))
	if err != nil {
		return fmt.Errorf("tray: no D-Bus session bus: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	s, err := startSNI(conn, cfg, item.Store)
	if err != nil {
		return err
	}
	// The name comes after the objects are exported and drawn: a host
	// that sees the name appear reads a complete item at once.
	name, err := requestItemName(conn)
	if err != nil {
		return err
	}
	defer s.releaseName(name)
	if err := s.stayRegistered(ctx, &wg, name); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-conn.Context().Done():
			return errors.New("tray: the D-Bus session bus connection closed")
		case <-refresh:
			if err := s.render(); err != nil {
				slog.Warn("tray: redrawing the tray", "err", err)
			}
		}
	}
}

// startSNI draws the current state and exports the item and its menu on
// conn. It hands the sni to publish before it exports anything: conn's
// incoming interceptor must pass the messages to that sni's interceptMenu,
// which answers the menu's calls (the exported methods are stubs).
func startSNI(conn *dbus.Conn, cfg Config, publish func(*sni)) (*sni, error) {
	s := &sni{conn: conn, cfg: cfg, menu: newMenuState()}
	d := cfg.draw()
	icon, err := iconPixmaps(cfg.Icon(d.icon))
	if err != nil {
		return nil, fmt.Errorf("tray: the %s icon: %w", d.icon, err)
	}
	// Nobody calls in before the objects are exported below; the lock is
	// for the race detector's sake and costs nothing.
	s.mu.Lock()
	s.last = d
	s.menu.rebuild(d.menu)
	s.mu.Unlock()
	publish(s)
	if err := s.exportItem(icon, d.tooltip); err != nil {
		return nil, err
	}
	if err := s.exportMenu(); err != nil {
		return nil, err
	}
	return s, nil
}

// exportItem serves org.kde.StatusNotifierItem at sniPath.
func (s *sni) exportItem(icon []pixmap, tooltip string) error {
	// The item's own methods do nothing: ItemIsMenu tells hosts that the
	// menu is all there is, and hosts that call Activate on a left click
	// anyway (some do) must not get an error.
	methods := map[string]any{
		"Activate":          func(x, y int32) *dbus.Error { return nil },
		"SecondaryActivate": func(x, y int32) *dbus.Error { return nil },
		"ContextMenu":       func(x, y int32) *dbus.Error { return nil },
		"Scroll":            func(delta int32, orientation string) *dbus.Error { return nil },
	}
	if err := s.conn.ExportMethodTable(methods, sniPath, sniIface); err != nil {
		return fmt.Errorf("tray: exporting %s: %w", sniIface, err)
	}
	constant := func(v any) *prop.Prop { return &prop.Prop{Value: v, Emit: prop.EmitConst} }
	// IconPixmap and ToolTip change; the specification's NewIcon and
	// NewToolTip signals (which hosts listen to) announce that, so
	// PropertiesChanged, which no host needs, is not sent as well.
	changing := func(v any) *prop.Prop { return &prop.Prop{Value: v, Emit: prop.EmitFalse} }
	props, err := prop.Export(s.conn, sniPath, prop.Map{sniIface: {
		"Category": constant("ApplicationStatus"),
		"Id":       constant("kyso"),
		"Title":    constant("kyso"),
		// Always Active: the icon is kyso's only window, so it is never
		// Passive (hidden) and NewStatus is never sent.
		"Status":   constant("Active"),
		"WindowId": constant(int32(0)),
		// No themed icon: the pixmaps are drawn by kyso (icons.go).
		// Hosts prefer IconName when it is set, so it stays empty.
		"IconName":      constant(""),
		"IconThemePath": constant(""),
		"IconPixmap":    changing(icon),
		// The overlay and attention icons are not used; they are here
		// because some hosts read each property on its own and log every
		// one that is missing.
		"OverlayIconName":     constant(""),
		"OverlayIconPixmap":   constant([]pixmap{}),
		"AttentionIconName":   constant(""),
		"AttentionIconPixmap": constant([]pixmap{}),
		"AttentionMovieName":  constant(""),
		"ToolTip":             changing(newToolTip(tooltip)),
		// ItemIsMenu: a click anywhere on the icon opens the menu
		// (KDE Plasma, GNOME) instead of calling Activate.
		"ItemIsMenu": constant(true),
		"Menu":       constant(menuPath),
	}})
	if err != nil {
		return fmt.Errorf("tray: exporting %s properties: %w", sniIface, err)
	}
	s.props = props
	// Introspection: hosts that find items by walking the bus (GNOME's
	// AppIndicator extension when it starts after the item) look for the
	// interface in it.
	node := introspect.Introspectable(introspectHeader + sniIntrospection + introspectFooter)
	if err := s.conn.Export(node, sniPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return fmt.Errorf("tray: exporting %s introspection: %w", sniPath, err)
	}
	return nil
}

// newToolTip is the ToolTip property for a tooltip text. The text goes in
// as it is: the specification lets hosts read it as a subset of HTML, but
// KDE Plasma guesses whether it is markup and would show escaped entities
// literally, and the texts (Tooltip) hold no tags.
func newToolTip(text string) toolTip {
	return toolTip{Icon: []pixmap{}, Title: "kyso", Text: text}
}

// requestItemName takes the first free bus name of the form the
// specification gives items, org.kde.StatusNotifierItem-<pid>-<n>. The bus
// picks n: another Run in this process holds the lower ones (the bus says
// so), so no counter is kept in the process.
func requestItemName(conn *dbus.Conn) (string, error) {
	pid := os.Getpid()
	for n := 1; n <= sniMaxNames; n++ {
		name := fmt.Sprintf("%s-%d-%d", sniIface, pid, n)
		reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
		if err != nil {
			return "", fmt.Errorf("tray: asking for the bus name %s: %w", name, err)
		}
		if reply == dbus.RequestNameReplyPrimaryOwner {
			return name, nil
		}
	}
	return "", fmt.Errorf("tray: no free bus name %s-%d-<n> up to n=%d", sniIface, pid, sniMaxNames)
}

// releaseName gives the item's name back before the connection closes, so
// that the item is gone from the bus (and its host) when Run returns rather
// than when the bus gets round to noticing the closed connection.
func (s *sni) releaseName(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	err := s.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ReleaseName", 0, name).Err
	if err != nil && s.conn.Connected() {
		slog.Warn("tray: giving back the bus name", "name", name, "err", err)
	}
}

// stayRegistered registers the item with the StatusNotifierWatcher now and
// whenever a watcher appears later: at start the desktop's panel may not
// have started yet, and a watcher that restarts (Plasma's does with the
// shell) forgets its items. The watching goroutine is counted in wg and
// ends with ctx.
func (s *sni) stayRegistered(ctx context.Context, wg *sync.WaitGroup, name string) error {
	signals := make(chan *dbus.Signal, 8)
	s.conn.Signal(signals)
	// The match is in place before the first attempt, so a watcher
	// appearing in between is seen either way.
	err := s.conn.AddMatchSignalContext(ctx,
		dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchObjectPath("/org/freedesktop/DBus"),
		dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, watcherName),
	)
	if err != nil {
		return fmt.Errorf("tray: watching for %s: %w", watcherName, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer s.conn.RemoveSignal(signals)
		s.register(ctx, name)
		for {
			select {
			case <-ctx.Done():
				return
			case sig, ok := <-signals:
				if !ok {
					return // the connection closed
				}
				if watcherAppeared(sig) {
					s.register(ctx, name)
				}
			}
		}
	}()
	return nil
}

// watcherAppeared reports whether sig says that the watcher's name has a
// new owner: NameOwnerChanged(name, old owner, new owner).
func watcherAppeared(sig *dbus.Signal) bool {
	if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
		return false
	}
	name, _ := sig.Body[0].(string)
	owner, _ := sig.Body[2].(string)
	return name == watcherName && owner != ""
}

// register calls RegisterStatusNotifierItem with the item's bus name. The
// specification has the item send its service (bus) name; hosts then find
// the item at sniPath under it. No watcher is not an error: stayRegistered
// registers when one appears.
func (s *sni) register(ctx context.Context, name string) {
	err := s.conn.Object(watcherName, watcherPath).CallWithContext(ctx,
		watcherName+".RegisterStatusNotifierItem", 0, name).Err
	if err == nil || ctx.Err() != nil || unowned(err) {
		return
	}
	slog.Warn("tray: registering with the tray host", "watcher", watcherName, "err", err)
}

// render redraws the item and its menu with the current state, changing
// and announcing only what differs from what was drawn last.
func (s *sni) render() error {
	d := s.cfg.draw()
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if d.same(last) {
		return nil
	}
	var errs []error
	if d.icon != last.icon {
		icon, err := iconPixmaps(s.cfg.Icon(d.icon))
		if err != nil {
			// Keep the icon shown and still draw the rest.
			errs = append(errs, fmt.Errorf("tray: the %s icon: %w", d.icon, err))
			d.icon = last.icon
		} else {
			s.props.SetMust(sniIface, "IconPixmap", icon)
			errs = append(errs, s.emit(sniPath, sniIface+".NewIcon"))
		}
	}
	if d.tooltip != last.tooltip {
		s.props.SetMust(sniIface, "ToolTip", newToolTip(d.tooltip))
		errs = append(errs, s.emit(sniPath, sniIface+".NewToolTip"))
	}
	rebuilt := false
	var revision uint32
	s.mu.Lock()
	s.last = d
	if !menuEqual(d.menu, last.menu) {
		s.menu.rebuild(d.menu)
		rebuilt, revision = true, s.menu.revision
	}
	s.mu.Unlock()
	if rebuilt {
		// parent 0: the whole menu changed, as the rebuild replaces every
		// node (the IDs of items that stayed are kept, though).
		errs = append(errs, s.emit(menuPath, menuIface+".LayoutUpdated", revision, int32(0)))
	}
	return errors.Join(errs...)
}

// emit sends a signal from the item's connection.
func (s *sni) emit(path dbus.ObjectPath, name string, body ...any) error {
	if err := s.conn.Emit(path, name, body...); err != nil {
		return fmt.Errorf("tray: sending %s: %w", name, err)
	}
	return nil
}

// iconPixmaps decodes an icon image (PNG, as IconBytes gives on these
// systems) into the IconPixmap property's form.
func iconPixmaps(b []byte) ([]pixmap, error) {
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decoding the image: %w", err)
	}
	r := img.Bounds()
	pix := make([]byte, 0, 4*r.Dx()*r.Dy())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			pix = append(pix, c.A, c.R, c.G, c.B)
		}
	}
	return []pixmap{{W: int32(r.Dx()), H: int32(r.Dy()), Pix: pix}}, nil
}

// Introspection data. godbus answers Introspect on the paths in between
// (such as /) with the child nodes by itself.
const (
	introspectHeader = introspect.IntrospectDeclarationString + "<node>" +
		introspect.IntrospectDataString + prop.IntrospectDataString
	introspectFooter = "</node>"

	sniIntrospection = `
	<interface name="org.kde.StatusNotifierItem">
		<property name="Category" type="s" access="read"/>
		<property name="Id" type="s" access="read"/>
		<property name="Title" type="s" access="read"/>
		<property name="Status" type="s" access="read"/>
		<property name="WindowId" type="i" access="read"/>
		<property name="IconName" type="s" access="read"/>
		<property name="IconThemePath" type="s" access="read"/>
		<property name="IconPixmap" type="a(iiay)" access="read"/>
		<property name="OverlayIconName" type="s" access="read"/>
		<property name="OverlayIconPixmap" type="a(iiay)" access="read"/>
		<property name="AttentionIconName" type="s" access="read"/>
		<property name="AttentionIconPixmap" type="a(iiay)" access="read"/>
		<property name="AttentionMovieName" type="s" access="read"/>
		<property name="ToolTip" type="(sa(iiay)ss)" access="read"/>
		<property name="ItemIsMenu" type="b" access="read"/>
		<property name="Menu" type="o" access="read"/>
		<method name="ContextMenu">
			<arg name="x" type="i" direction="in"/>
			<arg name="y" type="i" direction="in"/>
		</method>
		<method name="Activate">
			<arg name="x" type="i" direction="in"/>
			<arg name="y" type="i" direction="in"/>
		</method>
		<method name="SecondaryActivate">
			<arg name="x" type="i" direction="in"/>
			<arg name="y" type="i" direction="in"/>
		</method>
		<method name="Scroll">
			<arg name="delta" type="i" direction="in"/>
			<arg name="orientation" type="s" direction="in"/>
		</method>
		<signal name="NewTitle"/>
		<signal name="NewIcon"/>
		<signal name="NewAttentionIcon"/>
		<signal name="NewOverlayIcon"/>
		<signal name="NewToolTip"/>
		<signal name="NewStatus">
			<arg name="status" type="s"/>
		</signal>
	</interface>
`
)
