package tray

import (
	"context"
	"errors"
	"reflect"
	"sync"

	"github.com/kyso-vn/kyso/internal/i18n"
)

// Config is what a Tray shows and where its clicks go.
type Config struct {
	// State returns the state to show now; it is called at start and on
	// every Refresh.
	State func() State
	// Dispatch is called with an item's ID (see the ID constants) when the
	// user clicks it. It runs on its own goroutine per click and may call
	// Refresh.
	Dispatch func(id string)
	// Icon returns the icon image for a state; nil uses IconBytes.
	Icon func(Icon) []byte
	// Lang is the menu's language when the state names none.
	Lang i18n.Lang
}

// ErrRan is returned by Run on Windows and macOS when the tray already ran
// in this process: there the desktop tray (fyne.io/systray) keeps its state
// once per process. On Linux and the BSDs every Run has a D-Bus connection
// and item of its own, and the tray can run any number of times.
var ErrRan = errors.New("tray: the tray can run only once per process")

// Tray owns the tray icon and its menu: it renders Build(State) into the
// desktop's tray and dispatches clicks by item ID. On Linux and the BSDs
// that is a StatusNotifierItem with a com.canonical.dbusmenu menu on the
// D-Bus session bus (sni.go); on Windows and macOS fyne.io/systray draws
// it (tray_systray.go).
type Tray struct {
	mu sync.Mutex
	// runs holds the refresh channel of each Run in progress: Refresh
	// pokes them all.
	runs map[chan struct{}]struct{}
}

// drawn is one rendering's content. Each Run keeps the last one it drew:
// a refresh that would draw the same again is skipped, so that a menu the
// user has open is not rebuilt (and closed) under them by every token or
// activity event.
type drawn struct {
	menu    Menu
	icon    Icon
	tooltip string
}

// same reports whether d draws what o drew.
func (d *drawn) same(o *drawn) bool {
	return o != nil && d.icon == o.icon && d.tooltip == o.tooltip && reflect.DeepEqual(d.menu, o.menu)
}

// New returns a Tray that is not running yet.
func New() *Tray {
	return &Tray{}
}

// Refresh rebuilds the menu, icon and tooltip from a fresh State. It does
// not block; refreshes asked for while one is pending are merged. A
// Refresh while no Run is in progress does nothing: Run draws a fresh
// State when it starts.
func (t *Tray) Refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ch := range t.runs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribe returns the channel on which a Run hears Refresh, and the
// function that ends that. Subscribe before reading the first State, so
// that no change between the two is missed.
func (t *Tray) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.runs == nil {
		t.runs = map[chan struct{}]struct{}{}
	}
	t.runs[ch] = struct{}{}
	return ch, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.runs, ch)
	}
}

// Run shows the tray and blocks until ctx is done, then removes it.
//
// On Linux and the BSDs each Run opens a private session-bus connection
// for its own StatusNotifierItem, so Runs may follow each other or overlap
// (each has its own icon). Run fails at once when there is no D-Bus session
// bus; a desktop without a StatusNotifierWatcher (no tray host) is not an
// error: the item registers whenever a watcher appears. Run also returns
// when the session bus goes away.
//
// On Windows and macOS it can be called once per process (ErrRan after
// that), and on macOS it must run on the main goroutine.
func (t *Tray) Run(ctx context.Context, cfg Config) error {
	if cfg.State == nil || cfg.Dispatch == nil {
		return errors.New("tray: Config needs State and Dispatch")
	}
	if cfg.Icon == nil {
		cfg.Icon = IconBytes
	}
	return t.run(ctx, cfg)
}

// state is the config's state with the language filled in.
func (cfg Config) state() State {
	s := cfg.State()
	if s.Lang == "" {
		s.Lang = cfg.Lang
	}
	return s
}

// draw builds what the current state shows.
func (cfg Config) draw() *drawn {
	s := cfg.state()
	return &drawn{menu: Build(s), icon: IconState(s), tooltip: Tooltip(s)}
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
