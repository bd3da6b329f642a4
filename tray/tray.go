package tray

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync/atomic"

	"fyne.io/systray"
	"github.com/godbus/dbus/v5"

	"github.com/kyso-vn/kyso/internal/i18n"
)

// Config is what a Tray shows and where its clicks go.
type Config struct {
	// State returns the state to show now; it is called at start and on
	// every Refresh.
	State func() State
	// Dispatch is called with an item's ID (see the ID constants) when the
	// user clicks it. It runs on its own goroutine per item and may call
	// Refresh.
	Dispatch func(id string)
	// Icon returns the icon image for a state; nil uses IconBytes.
	Icon func(Icon) []byte
	// Lang is the menu's language when the state names none.
	Lang i18n.Lang
}

// ErrRan is returned by Run when the tray already ran in this process:
// the desktop tray (systray) can be started only once per process.
var ErrRan = errors.New("tray: the tray can run only once per process")

// ran is set by the first Run: systray's lifecycle is process-global.
var ran atomic.Bool

// Tray owns the tray icon and its menu: it renders Build(State) into the
// desktop's tray (fyne.io/systray: D-Bus StatusNotifierItem on Linux, the
// shell notification area on Windows) and dispatches clicks by item ID.
type Tray struct {
	refresh chan struct{}
	// last is what was drawn last: a refresh that would draw the same
	// again is skipped, so that a menu the user has open is not rebuilt
	// (and closed) under them by every token or activity event.
	last *drawn
}

// drawn is one rendering's content.
type drawn struct {
	menu    Menu
	icon    Icon
	tooltip string
}

// New returns a Tray that is not running yet.
func New() *Tray {
	return &Tray{refresh: make(chan struct{}, 1)}
}

// Refresh rebuilds the menu, icon and tooltip from a fresh State. It does
// not block; refreshes asked for while one is pending are merged.
func (t *Tray) Refresh() {
	select {
	case t.refresh <- struct{}{}:
	default:
	}
}

// Run shows the tray and blocks until ctx is done, then removes it. It can
// be called once per process (ErrRan after that). On macOS it must run on
// the main goroutine; elsewhere any goroutine will do. On Linux and the
// BSDs it fails at once when there is no D-Bus session bus; a desktop
// without a StatusNotifierWatcher (no tray host) is not an error: the item
// is registered whenever a watcher appears.
func (t *Tray) Run(ctx context.Context, cfg Config) error {
	if cfg.State == nil || cfg.Dispatch == nil {
		return errors.New("tray: Config needs State and Dispatch")
	}
	if !ran.CompareAndSwap(false, true) {
		return ErrRan
	}
	if cfg.Icon == nil {
		cfg.Icon = IconBytes
	}
	// loop redraws on Refresh until ctx is done, then calls stop.
	loop := func(stop func()) {
		for {
			select {
			case <-ctx.Done():
				stop()
				return
			case <-t.refresh:
				t.render(cfg)
			}
		}
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		// The tray's window and message loop stay on this thread.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		systray.Run(func() {
			t.render(cfg)
			go loop(systray.Quit)
		}, nil)
		return nil
	}
	// D-Bus (StatusNotifierItem): systray.Run starts onReady while it is
	// still exporting the item, and an icon or tooltip set before the
	// item's properties are stored is lost (systray v1.12.2). Start the
	// item first, then draw. systray only logs a missing session bus: look
	// for one first so that the caller can do without a tray.
	if _, err := dbus.SessionBus(); err != nil {
		return fmt.Errorf("tray: no D-Bus session bus: %w", err)
	}
	start, end := systray.RunWithExternalLoop(nil, nil)
	start()
	t.render(cfg)
	loop(end)
	return nil
}

// state is the config's state with the language filled in.
func (cfg Config) state() State {
	s := cfg.State()
	if s.Lang == "" {
		s.Lang = cfg.Lang
	}
	return s
}

// render replaces the tray's menu, icon and tooltip with the current
// state's.
func (t *Tray) render(cfg Config) {
	s := cfg.state()
	d := &drawn{menu: Build(s), icon: IconState(s), tooltip: Tooltip(s)}
	last := t.last
	t.last = d
	if last == nil || last.icon != d.icon {
		systray.SetIcon(cfg.Icon(d.icon))
	}
	if last == nil || last.tooltip != d.tooltip {
		systray.SetTooltip(d.tooltip)
	}
	if last != nil && reflect.DeepEqual(last.menu, d.menu) {
		return
	}
	m := d.menu
	systray.ResetMenu() // closes the old items' ClickedCh: their goroutines end
	items := renderMenu(m.Items, (*systray.MenuItem)(nil), systrayAdd, systraySeparator)
	for id, it := range items {
		go func() {
			for range it.ClickedCh {
				cfg.Dispatch(id)
			}
		}()
	}
}

// renderMenu adds the items under parent (the zero H is the menu's root),
// depth first and in order, and returns the clickable ones (actions) by
// ID. Separators go through sep; every other item through add.
func renderMenu[H comparable](items []Item, parent H, add func(parent H, it Item) H, sep func(parent H)) map[string]H {
	out := map[string]H{}
	var walk func(parent H, items []Item)
	walk = func(parent H, items []Item) {
		for _, it := range items {
			if it.Kind == KindSeparator {
				sep(parent)
				continue
			}
			h := add(parent, it)
			if it.Kind == KindAction {
				out[it.ID] = h
			}
			if len(it.Children) > 0 {
				walk(h, it.Children)
			}
		}
	}
	walk(parent, items)
	return out
}

// systrayAdd adds one item to systray under parent (nil: the root).
func systrayAdd(parent *systray.MenuItem, it Item) *systray.MenuItem {
	var mi *systray.MenuItem
	checkable := it.Kind == KindAction && it.Toggle != ToggleNone
	switch {
	case parent == nil && checkable:
		mi = systray.AddMenuItemCheckbox(it.Label, it.Tooltip, it.Checked)
	case parent == nil:
		mi = systray.AddMenuItem(it.Label, it.Tooltip)
	case checkable:
		mi = parent.AddSubMenuItemCheckbox(it.Label, it.Tooltip, it.Checked)
	default:
		mi = parent.AddSubMenuItem(it.Label, it.Tooltip)
	}
	// Information lines are shown greyed; submenus open even when their
	// own click does nothing.
	if !it.Enabled || it.Kind == KindInfo {
		mi.Disable()
	}
	return mi
}

func systraySeparator(parent *systray.MenuItem) {
	if parent == nil {
		systray.AddSeparator()
		return
	}
	parent.AddSeparator()
}
