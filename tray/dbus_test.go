//go:build linux

package tray

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/kyso-vn/kyso/internal/dbustest"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// dbusChildEnv marks the child process that runs TestTrayDBus's body.
const dbusChildEnv = "KYSO_TRAY_DBUS_CHILD"

// TestTrayDBus runs the real tray (systray, once per test binary) against a
// private session bus and a fake StatusNotifierWatcher, reads its menu back
// over com.canonical.dbusmenu and clicks an item.
func TestTrayDBus(t *testing.T) {
	// systray runs once per process: every run of the test (also under
	// -count=N) gets a fresh child process of the test binary.
	if os.Getenv(dbusChildEnv) != "1" {
		runInChild(t, "TestTrayDBus", dbusChildEnv)
		return
	}
	if ran.Load() {
		t.Fatal("systray already ran in this child process")
	}
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)

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
	item, menu := dbustest.Item(t, conn, w)

	// The tooltip says no token is plugged in (the state has none). The
	// item registers before the tray draws it: wait for the tooltip.
	want := i18n.Vietnamese.T("tray.tip.notoken")
	var tip dbus.Variant
	var err error
	dbustest.Eventually(t, "the tooltip", func() bool {
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

	var root, sites dbustest.MenuItem
	// systray answers the first GetLayout one level deep only (for
	// libdbusmenu-gtk3), so ask until the submenus are there.
	dbustest.Eventually(t, "the menu to list the sites", func() bool {
		root = dbustest.GetLayout(t, menu)
		var ok bool
		sites, ok = root.Find(i18n.Vietnamese.T("tray.sites"))
		_, done := root.Find(i18n.Vietnamese.T("tray.quit")) // the last item
		return ok && len(sites.Children) > 0 && done
	})
	site, ok := sites.Find(site1)
	if !ok {
		t.Fatalf("no %q under %q: %+v", site1, sites.Label, sites)
	}
	if _, ok := sites.Find(site2); !ok {
		t.Errorf("no %q under %q", site2, sites.Label)
	}
	revoke, ok := site.Find(i18n.Vietnamese.T("tray.revoke"))
	if !ok || !revoke.Enabled {
		t.Fatalf("no enabled revoke item under %q: %+v", site1, site)
	}

	// Clicking "Thu hồi" under the first site dispatches its ID.
	dbustest.Click(t, menu, revoke.ID)
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
	dbustest.Eventually(t, "the refreshed menu to drop the revoked site", func() bool {
		root = dbustest.GetLayout(t, menu)
		_, gone := root.Find(site1)
		_, kept := root.Find(site2)
		_, done := root.Find(i18n.Vietnamese.T("tray.quit")) // the last item
		return !gone && kept && done
	})

	// Items of the rebuilt menu dispatch too.
	sites, _ = root.Find(i18n.Vietnamese.T("tray.sites"))
	all, ok := sites.Find(i18n.Vietnamese.T("tray.revokeAll"))
	if !ok {
		t.Fatal("no revoke-all item after the refresh")
	}
	dbustest.Click(t, menu, all.ID)
	select {
	case id := <-clicks:
		if id != IDRevokeAll {
			t.Errorf("dispatched %q, want %q", id, IDRevokeAll)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the click on the rebuilt menu was not dispatched")
	}
}
