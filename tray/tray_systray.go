//go:build windows || darwin

package tray

import (
	"context"
	"reflect"
	"runtime"
	"sync/atomic"

	"fyne.io/systray"
)

// ran is set by the first Run: fyne.io/systray's lifecycle is
// process-global (its menu, its items' IDs, its quit channel), so it can
// be started only once per process.
var ran atomic.Bool

// run shows the tray through fyne.io/systray: the shell notification area
// on Windows, the menu bar on macOS.
func (t *Tray) run(ctx context.Context, cfg Config) error {
	if !ran.CompareAndSwap(false, true) {
		return ErrRan
	}
	refresh, done := t.subscribe()
	defer done()
	// The tray's window and message loop stay on this thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	systray.Run(func() {
		last := systrayRender(cfg, nil)
		// loop redraws on Refresh until ctx is done, then ends
		// systray.Run. It owns last from here on.
		go func() {
			for {
				select {
				case <-ctx.Done():
					systray.Quit()
					return
				case <-refresh:
					last = systrayRender(cfg, last)
				}
			}
		}()
	}, nil)
	return nil
}

// systrayRender replaces the tray's menu, icon and tooltip with the current
// state's, leaving alone what did not change since last, and returns what
// it drew.
func systrayRender(cfg Config, last *drawn) *drawn {
	d := cfg.draw()
	if d.same(last) {
		return last
	}
	if last == nil || last.icon != d.icon {
		systray.SetIcon(cfg.Icon(d.icon))
	}
	if last == nil || last.tooltip != d.tooltip {
		systray.SetTooltip(d.tooltip)
	}
	if last != nil && reflect.DeepEqual(last.menu, d.menu) {
		return d
	}
	systray.ResetMenu() // closes the old items' ClickedCh: their goroutines end
	items := renderMenu(d.menu.Items, (*systray.MenuItem)(nil), systrayAdd, systraySeparator)
	for id, it := range items {
		go func() {
			for range it.ClickedCh {
				cfg.Dispatch(id)
			}
		}()
	}
	return d
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
