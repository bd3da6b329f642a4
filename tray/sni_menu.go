//go:build linux || freebsd || openbsd || netbsd

package tray

// The tray's menu as a com.canonical.dbusmenu object (the protocol of
// libdbusmenu, which KDE Plasma's libdbusmenu-qt, GNOME's AppIndicator
// extension and XFCE's status notifier plugin speak). Each rebuild replaces
// the whole tree and announces it with LayoutUpdated; hosts then read it
// again with GetLayout or GetGroupProperties.

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

const (
	menuIface = "com.canonical.dbusmenu"
	// menuVersion is the protocol version of the dbusmenu interface this
	// implements (its Version property).
	menuVersion = uint32(3)
	// rootID is the ID of the menu's invisible root item, fixed by the
	// protocol.
	rootID = int32(0)
)

// menuLayout is a node of GetLayout's answer, (ia{sv}av): the item's ID,
// its properties and its children, each a variant holding a menuLayout.
type menuLayout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// itemProps is an entry of GetGroupProperties's answer, (ia{sv}).
type itemProps struct {
	ID    int32
	Props map[string]dbus.Variant
}

// menuEvent is an entry of EventGroup's argument, (isvu).
type menuEvent struct {
	ID        int32
	EventID   string
	Data      dbus.Variant
	Timestamp uint32
}

// menuNode is an item of the menu as the protocol shows it.
type menuNode struct {
	id    int32
	props map[string]dbus.Variant
	// action is the Item's ID when a click on the node dispatches it
	// (enabled actions); empty otherwise.
	action   string
	children []*menuNode
}

// menuState is the menu as last built. It is guarded by sni.mu.
type menuState struct {
	// revision counts rebuilds. Hosts compare the one in LayoutUpdated
	// with the one GetLayout gave them (libdbusmenu reads the layout
	// again only when the signal's is higher), so it only grows.
	revision uint32
	root     *menuNode
	byID     map[int32]*menuNode
	// ids gives each Item ID the int32 the protocol knows it by, for the
	// Run's lifetime: an item keeps its ID across rebuilds, so hosts keep
	// their widget for it and a click on an item that was rebuilt while
	// the menu was open still reaches it. It grows by the items ever
	// shown (sites, tokens, certificates come and go): a few hundred at
	// most over a session.
	ids  map[string]int32
	next int32
}

func newMenuState() menuState {
	return menuState{ids: map[string]int32{}}
}

// rebuild replaces the menu with m and counts a new revision.
func (ms *menuState) rebuild(m Menu) {
	ms.revision++
	ms.root = &menuNode{id: rootID, props: map[string]dbus.Variant{
		"children-display": dbus.MakeVariant("submenu"),
	}}
	ms.byID = map[int32]*menuNode{rootID: ms.root}
	ms.add(ms.root, m.Items)
}

func (ms *menuState) add(parent *menuNode, items []Item) {
	for _, it := range items {
		n := &menuNode{id: ms.idOf(it.ID), props: nodeProps(it)}
		if it.Kind == KindAction && it.Enabled {
			n.action = it.ID
		}
		parent.children = append(parent.children, n)
		ms.byID[n.id] = n
		ms.add(n, it.Children)
	}
}

// idOf returns the protocol ID of the item with the given ID, allocating
// one on first sight. Item IDs are unique in a menu (model.go); should one
// be repeated, the repeat gets an ID of its own for this build rather than
// sharing the first's.
func (ms *menuState) idOf(itemID string) int32 {
	if id, ok := ms.ids[itemID]; ok {
		if _, taken := ms.byID[id]; !taken {
			return id
		}
		ms.next++
		return ms.next
	}
	ms.next++
	ms.ids[itemID] = ms.next
	return ms.next
}

// nodeProps are the dbusmenu properties of an item. Properties at their
// default are sent anyway where a rebuild may change them ("enabled",
// "visible"), so that no host has to work out that a property that is no
// longer sent went back to its default. "type" is the exception: it is
// left out for standard items, as libdbusmenu's own servers do, because
// libdbusmenu keeps a host's widget for an item across layouts only when
// its "type" is the same, absent counting as its own value.
func nodeProps(it Item) map[string]dbus.Variant {
	if it.Kind == KindSeparator {
		return map[string]dbus.Variant{
			"type":    dbus.MakeVariant("separator"),
			"visible": dbus.MakeVariant(true),
		}
	}
	p := map[string]dbus.Variant{
		"label": dbus.MakeVariant(menuLabel(it.Label)),
		// Information lines are greyed out: they are not meant to be
		// clicked. Submenus are enabled when they have something in them.
		"enabled": dbus.MakeVariant(it.Enabled && it.Kind != KindInfo),
		"visible": dbus.MakeVariant(true),
	}
	if it.Kind == KindSubmenu {
		p["children-display"] = dbus.MakeVariant("submenu")
	}
	if it.Kind == KindAction && it.Toggle != ToggleNone {
		kind := "checkmark"
		if it.Toggle == ToggleRadio {
			kind = "radio"
		}
		state := int32(0)
		if it.Checked {
			state = 1
		}
		p["toggle-type"] = dbus.MakeVariant(kind)
		// toggle-state is an int32 (i): 0 off, 1 on, -1 unknown.
		p["toggle-state"] = dbus.MakeVariant(state)
	}
	return p
}

// menuLabel escapes a label for dbusmenu, where "_" marks the next
// character as the mnemonic (as in GTK) and "__" is a literal underscore:
// a token label such as "VNPT_CA" would otherwise lose its underscore and
// underline the C.
func menuLabel(label string) string {
	return strings.ReplaceAll(label, "_", "__")
}

// menuEqual reports whether two built menus draw the same.
func menuEqual(a, b Menu) bool {
	return reflect.DeepEqual(a, b)
}

// layout is n's subtree down to depth levels (negative: all of them) with
// the properties named (none: all of them).
func (n *menuNode) layout(depth int32, names []string) menuLayout {
	l := menuLayout{ID: n.id, Props: pick(n.props, names), Children: []dbus.Variant{}}
	if depth == 0 {
		return l
	}
	for _, c := range n.children {
		l.Children = append(l.Children, dbus.MakeVariant(c.layout(depth-1, names)))
	}
	return l
}

// walk calls f for n and every node under it, depth first, in order.
func (n *menuNode) walk(f func(*menuNode)) {
	f(n)
	for _, c := range n.children {
		c.walk(f)
	}
}

// pick returns the properties named (all of them when names is empty), a
// copy: the answer is encoded after the lock is let go.
func pick(props map[string]dbus.Variant, names []string) map[string]dbus.Variant {
	out := make(map[string]dbus.Variant, len(props))
	if len(names) == 0 {
		for k, v := range props {
			out[k] = v
		}
		return out
	}
	for _, k := range names {
		if v, ok := props[k]; ok {
			out[k] = v
		}
	}
	return out
}

// unknownID is the error for an ID that is not in the menu now.
func unknownID(id int32) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs",
		[]any{fmt.Sprintf("no menu item %d in this menu (it may have been removed)", id)})
}

// exportMenu serves com.canonical.dbusmenu at menuPath.
//
// The methods are answered by interceptMenu, in the order the calls
// arrive; what is exported here are stubs that do nothing. godbus would
// run each call on a goroutine of its own, so that answers to calls sent
// one after the other could go out in any order, and libdbusmenu-gtk (the
// menus of XFCE's status notifier plugin and of the Ayatana indicators)
// needs them in order: after a layout it asks for the new items'
// properties in several pipelined GetGroupProperties calls, and builds
// each item when its answer arrives, dropping an item whose parent's
// answer has not arrived yet. The submenus then stay empty for good.
// (fyne.io/systray, on godbus too, papered over this by answering the
// first GetLayout one level deep and the rest after a timer.) The stubs
// make godbus check the arguments, and answer bad ones with InvalidArgs,
// as interceptMenu leaves those calls alone.
func (s *sni) exportMenu() error {
	stubs := map[string]any{
		"GetLayout": func(parentID, recursionDepth int32, propertyNames []string) (uint32, menuLayout, *dbus.Error) {
			return 0, menuLayout{}, nil
		},
		"GetGroupProperties": func(ids []int32, propertyNames []string) ([]itemProps, *dbus.Error) { return nil, nil },
		"GetProperty":        func(id int32, name string) (dbus.Variant, *dbus.Error) { return dbus.MakeVariant(""), nil },
		"Event":              func(id int32, eventID string, data dbus.Variant, timestamp uint32) *dbus.Error { return nil },
		"EventGroup":         func(events []menuEvent) ([]int32, *dbus.Error) { return nil, nil },
		"AboutToShow":        func(id int32) (bool, *dbus.Error) { return false, nil },
		"AboutToShowGroup":   func(ids []int32) ([]int32, []int32, *dbus.Error) { return nil, nil, nil },
	}
	if err := s.conn.ExportMethodTable(stubs, menuPath, menuIface); err != nil {
		return fmt.Errorf("tray: exporting %s: %w", menuIface, err)
	}
	constant := func(v any) *prop.Prop { return &prop.Prop{Value: v, Emit: prop.EmitConst} }
	_, err := prop.Export(s.conn, menuPath, prop.Map{menuIface: {
		"Version":       constant(menuVersion),
		"TextDirection": constant("ltr"),
		"Status":        constant("normal"),
		"IconThemePath": constant([]string{}),
	}})
	if err != nil {
		return fmt.Errorf("tray: exporting %s properties: %w", menuIface, err)
	}
	node := introspect.Introspectable(introspectHeader + menuIntrospection + introspectFooter)
	if err := s.conn.Export(node, menuPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return fmt.Errorf("tray: exporting %s introspection: %w", menuPath, err)
	}
	return nil
}

// interceptMenu answers a com.canonical.dbusmenu call to menuPath (see
// exportMenu). godbus calls it on its connection's reader goroutine for
// every message, in the order they arrive, before it dispatches method
// calls (on goroutines of their own, to the stubs); each answer is sent
// before the next message is read, so answers leave in the order the
// calls came. An answered call is marked as expecting no reply, which
// keeps godbus from answering it again. Other messages, and calls whose
// arguments do not decode, are left to godbus.
func (s *sni) interceptMenu(msg *dbus.Message) {
	if msg.Type != dbus.TypeMethodCall {
		return
	}
	path, _ := msg.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	// The interface is optional in a method call; godbus then looks the
	// member up in every interface of the object, and the dbusmenu
	// members' names are the object's only ones of that name.
	iface, _ := msg.Headers[dbus.FieldInterface].Value().(string)
	if path != menuPath || (iface != menuIface && iface != "") {
		return
	}
	member, _ := msg.Headers[dbus.FieldMember].Value().(string)
	values, derr, ok := s.callMenu(member, msg.Body)
	if !ok {
		return
	}
	if msg.Flags&dbus.FlagNoReplyExpected == 0 {
		s.reply(msg, values, derr)
	}
	msg.Flags |= dbus.FlagNoReplyExpected
}

// callMenu decodes the arguments of a dbusmenu method call and runs it. ok
// is false for members it does not know and for arguments of the wrong
// types.
func (s *sni) callMenu(member string, body []any) (values []any, derr *dbus.Error, ok bool) {
	switch member {
	case "GetLayout":
		var parentID, depth int32
		var names []string
		if dbus.Store(body, &parentID, &depth, &names) != nil {
			return nil, nil, false
		}
		revision, layout, derr := s.getLayout(parentID, depth, names)
		return []any{revision, layout}, derr, true
	case "GetGroupProperties":
		var ids []int32
		var names []string
		if dbus.Store(body, &ids, &names) != nil {
			return nil, nil, false
		}
		return []any{s.getGroupProperties(ids, names)}, nil, true
	case "GetProperty":
		var id int32
		var name string
		if dbus.Store(body, &id, &name) != nil {
			return nil, nil, false
		}
		v, derr := s.getProperty(id, name)
		return []any{v}, derr, true
	case "Event":
		var id int32
		var eventID string
		var data dbus.Variant
		var timestamp uint32
		if dbus.Store(body, &id, &eventID, &data, &timestamp) != nil {
			return nil, nil, false
		}
		s.click(id, eventID)
		return nil, nil, true
	case "EventGroup":
		var events []menuEvent
		if dbus.Store(body, &events) != nil {
			return nil, nil, false
		}
		return []any{s.eventGroup(events)}, nil, true
	case "AboutToShow":
		var id int32
		if dbus.Store(body, &id) != nil {
			return nil, nil, false
		}
		// The menu is always complete (nothing is filled in when a
		// submenu opens), so no update is needed: true would make hosts
		// read the whole layout again for every submenu opened.
		return []any{false}, nil, true
	case "AboutToShowGroup":
		var ids []int32
		if dbus.Store(body, &ids) != nil {
			return nil, nil, false
		}
		// No updates needed (see AboutToShow); unknown IDs are told.
		return []any{[]int32{}, s.unknownIDs(ids)}, nil, true
	}
	return nil, nil, false
}

// reply sends the answer to a method call: values, or derr when it is not
// nil.
func (s *sni) reply(call *dbus.Message, values []any, derr *dbus.Error) {
	m := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(call.Serial()),
	}}
	if sender, ok := call.Headers[dbus.FieldSender].Value().(string); ok && sender != "" {
		m.Headers[dbus.FieldDestination] = dbus.MakeVariant(sender)
	}
	if derr != nil {
		m.Type = dbus.TypeError
		m.Headers[dbus.FieldErrorName] = dbus.MakeVariant(derr.Name)
		values = derr.Body
	}
	m.Body = values
	if len(values) > 0 {
		m.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(values...))
	}
	// A failed send means the connection is closing: Run is ending.
	s.conn.Send(m, nil)
}

// getLayout is GetLayout: the subtree under parentID, recursionDepth
// levels deep (-1: all; 0: the item alone; 1: it and its children, which
// is what libdbusmenu-qt asks for a submenu about to open), with the
// properties named (none: all).
func (s *sni) getLayout(parentID, recursionDepth int32, propertyNames []string) (uint32, menuLayout, *dbus.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.menu.byID[parentID]
	if !ok {
		return 0, menuLayout{}, unknownID(parentID)
	}
	return s.menu.revision, n.layout(recursionDepth, propertyNames), nil
}

// getGroupProperties is GetGroupProperties: the properties of the items
// asked for (none: every item), skipping IDs that are gone. libdbusmenu
// reads the properties of items it already shows this way after every
// LayoutUpdated.
func (s *sni) getGroupProperties(ids []int32, propertyNames []string) []itemProps {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []itemProps{}
	if len(ids) == 0 {
		s.menu.root.walk(func(n *menuNode) {
			out = append(out, itemProps{ID: n.id, Props: pick(n.props, propertyNames)})
		})
		return out
	}
	for _, id := range ids {
		if n, ok := s.menu.byID[id]; ok {
			out = append(out, itemProps{ID: id, Props: pick(n.props, propertyNames)})
		}
	}
	return out
}

// getProperty is GetProperty: one property of one item.
func (s *sni) getProperty(id int32, name string) (dbus.Variant, *dbus.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.menu.byID[id]
	if !ok {
		return dbus.Variant{}, unknownID(id)
	}
	v, ok := n.props[name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs",
			[]any{fmt.Sprintf("menu item %d has no property %q", id, name)})
	}
	return v, nil
}

// click handles an Event: a "clicked" on an enabled action dispatches the
// action's Item ID on a goroutine of its own, so that the host's call
// returns at once whatever the action does (it may open a dialog). Other
// events ("opened", "closed", "hovered") and IDs that are not in the menu
// (any more) are ignored: a click that raced a rebuild which removed its
// item has nothing left to do. It reports whether id is in the menu.
func (s *sni) click(id int32, eventID string) bool {
	s.mu.Lock()
	n, ok := s.menu.byID[id]
	action := ""
	if ok {
		action = n.action
	}
	s.mu.Unlock()
	if eventID == "clicked" && action != "" {
		go s.cfg.Dispatch(action)
	}
	return ok
}

// eventGroup is EventGroup: Event for each entry; it returns the IDs that
// are not in the menu.
func (s *sni) eventGroup(events []menuEvent) []int32 {
	idErrors := []int32{}
	for _, e := range events {
		if !s.click(e.ID, e.EventID) {
			idErrors = append(idErrors, e.ID)
		}
	}
	return idErrors
}

// unknownIDs returns the IDs that are not in the menu.
func (s *sni) unknownIDs(ids []int32) []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []int32{}
	for _, id := range ids {
		if _, ok := s.menu.byID[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

const menuIntrospection = `
	<interface name="com.canonical.dbusmenu">
		<property name="Version" type="u" access="read"/>
		<property name="TextDirection" type="s" access="read"/>
		<property name="Status" type="s" access="read"/>
		<property name="IconThemePath" type="as" access="read"/>
		<method name="GetLayout">
			<arg name="parentId" type="i" direction="in"/>
			<arg name="recursionDepth" type="i" direction="in"/>
			<arg name="propertyNames" type="as" direction="in"/>
			<arg name="revision" type="u" direction="out"/>
			<arg name="layout" type="(ia{sv}av)" direction="out"/>
		</method>
		<method name="GetGroupProperties">
			<arg name="ids" type="ai" direction="in"/>
			<arg name="propertyNames" type="as" direction="in"/>
			<arg name="properties" type="a(ia{sv})" direction="out"/>
		</method>
		<method name="GetProperty">
			<arg name="id" type="i" direction="in"/>
			<arg name="name" type="s" direction="in"/>
			<arg name="value" type="v" direction="out"/>
		</method>
		<method name="Event">
			<arg name="id" type="i" direction="in"/>
			<arg name="eventId" type="s" direction="in"/>
			<arg name="data" type="v" direction="in"/>
			<arg name="timestamp" type="u" direction="in"/>
		</method>
		<method name="EventGroup">
			<arg name="events" type="a(isvu)" direction="in"/>
			<arg name="idErrors" type="ai" direction="out"/>
		</method>
		<method name="AboutToShow">
			<arg name="id" type="i" direction="in"/>
			<arg name="needUpdate" type="b" direction="out"/>
		</method>
		<method name="AboutToShowGroup">
			<arg name="ids" type="ai" direction="in"/>
			<arg name="updatesNeeded" type="ai" direction="out"/>
			<arg name="idErrors" type="ai" direction="out"/>
		</method>
		<signal name="ItemsPropertiesUpdated">
			<arg name="updatedProps" type="a(ia{sv})"/>
			<arg name="removedProps" type="a(ias)"/>
		</signal>
		<signal name="LayoutUpdated">
			<arg name="revision" type="u"/>
			<arg name="parent" type="i"/>
		</signal>
		<signal name="ItemActivationRequested">
			<arg name="id" type="i"/>
			<arg name="timestamp" type="u"/>
		</signal>
	</interface>
`
