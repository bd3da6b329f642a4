//go:build linux

package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/dbustest"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// startRun starts `kyso run` on the fixture's token with its tray on the
// test's private session bus (the process inherits
// DBUS_SESSION_BUS_ADDRESS) and a lock folder of its own.
func startRun(t *testing.T, name string, spec serverSpec) (*kysoServer, string) {
	t.Helper()
	fx := newServeFixture(t)
	lockDir := filepath.Join(t.TempDir(), "instance")
	spec.name = name
	spec.command = "run"
	spec.args = append(spec.args, "--instance-dir", lockDir)
	return fx.startServer(t, spec), lockDir
}

// TestRunTray is the acceptance test of the tray in `kyso run`: the item
// registers with the desktop's watcher, its menu (read back over D-Bus)
// lists the approved site, clicking "revoke" removes it from the user's
// list so that the next WebSocket upgrade from that origin is refused,
// and a second `kyso run` hands over to the first and exits.
func TestRunTray(t *testing.T) {
	conn := dbustest.Session(t)
	w := dbustest.ExportWatcher(t, conn)
	notes := dbustest.ExportNotifications(t, conn)

	const site, other = "https://dms.example.vn", "https://hop.example.gov.vn"
	s, lockDir := startRun(t, "run-tray", serverSpec{
		// The user approved both sites earlier; asked again, they refuse
		// the revoked one.
		user: &agent.UserConfig{ApprovedOrigins: []agent.ApprovedOrigin{
			{Origin: site, Approved: time.Now().Add(-time.Hour)},
			{Origin: other, Approved: time.Now().Add(-time.Hour)},
		}},
		script: serveScript{Origins: map[string]bool{site: false}},
	})

	// Both sites connect without a dialog.
	for _, o := range []string{site, other} {
		c := connectWS(t, s.url, originHeader(o))
		c.Close()
	}

	_, menu := dbustest.Item(t, conn, w)
	l := i18n.English // the test servers run with KYSO_LANG=en
	root := menuWith(t, menu, site, other, l.T("tray.quit"))
	for _, label := range []string{l.T("tray.signFile"), l.T("tray.verifyFile"), l.T("tray.recent"), l.T("tray.settings"), l.T("tray.certs"), l.T("tray.sites")} {
		if _, ok := root.Find(label); !ok {
			t.Errorf("the menu has no %q", label)
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("kyso run's log:\n%s", s.logTail())
		}
	}()

	revoked := func() bool {
		u, err := agent.LoadUserConfig(s.configPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range u.ApprovedOrigins {
			if a.Origin == site {
				return false
			}
		}
		return len(u.ApprovedOrigins) == 1 && u.ApprovedOrigins[0].Origin == other
	}
	// Item IDs stay the same for the item's lifetime (tray/sni_menu.go), so
	// a click on an ID read before a redraw still reaches its item.
	root = menuWith(t, menu, site, l.T("tray.quit"))
	sites, _ := root.Find(l.T("tray.sites"))
	entry, ok := sites.Find(site)
	if !ok {
		t.Fatalf("%s is not under %q: %+v", site, l.T("tray.sites"), sites)
	}
	revoke, ok := entry.Find(l.T("tray.revoke"))
	if !ok || !revoke.Enabled {
		t.Fatalf("no revoke item under %s: %+v", site, entry)
	}
	dbustest.Click(t, menu, revoke.ID)
	dbustest.Eventually(t, "the revoked site to leave the user's list", revoked)
	// The next upgrade from the revoked site is refused before any
	// WebSocket exists (the user, asked again, says no); the other site
	// still connects without a dialog.
	_, status, body, err := dialWS(s.url, originHeader(site))
	if err == nil || status != http.StatusForbidden {
		t.Fatalf("upgrade after revoke: status %d, err %v, body %s", status, err, body)
	}
	if code := refusalCode(body); code != agent.CodeOriginNotAllowed {
		t.Errorf("refusal code %q, want %s", code, agent.CodeOriginNotAllowed)
	}
	c := connectWS(t, s.url, originHeader(other))
	c.Close()
	dbustest.Eventually(t, "the menu to drop the revoked site", func() bool {
		_, found := dbustest.GetLayout(t, menu).Find(site)
		return !found
	})

	// A second kyso run asks the first to show itself and exits; the first
	// is still the one listening.
	second := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	second.Env = s.cmd.Env
	out, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("second kyso run: %v\n%s", err, out)
	}
	port := s.hostPort[strings.LastIndex(s.hostPort, ":")+1:]
	if !strings.Contains(string(out), "already running") || !strings.Contains(string(out), "port "+port) {
		t.Errorf("second kyso run said %q, want the first's port %s", out, port)
	}
	if strings.Contains(string(out), "ws://") {
		t.Errorf("the second kyso run started listening: %s", out)
	}
	c = connectWS(t, s.url, originHeader(other))
	c.Close()
	dbustest.Eventually(t, "the first to show itself", func() bool {
		for _, n := range notes.Received() {
			if n.Summary == l.T("tray.notify.running") && n.AppName == "kyso" {
				return true
			}
		}
		return false
	})
	if _, err := os.Stat(filepath.Join(lockDir, "instance.lock")); err != nil {
		t.Errorf("lock file: %v", err)
	}
	for _, n := range notes.Received() {
		if n.Summary == l.T("tray.notify.noTray") {
			t.Errorf("told the user there is no tray while a host is registered: %+v", n)
		}
	}
}

// TestRunWithoutTrayHost: on a desktop that shows no tray icons (no
// StatusNotifierWatcher: GNOME without the AppIndicator extension) kyso run
// keeps serving and says so once in a notification.
func TestRunWithoutTrayHost(t *testing.T) {
	conn := dbustest.Session(t)
	notes := dbustest.ExportNotifications(t, conn)
	const site = "https://dms.example.vn"
	s, _ := startRun(t, "run-no-host", serverSpec{policy: agent.Policy{AllowedOrigins: []string{site}}})
	l := i18n.English
	dbustest.Eventually(t, "the no-tray notification", func() bool {
		for _, n := range notes.Received() {
			if n.Summary == l.T("tray.notify.noTray") && strings.Contains(n.Body, "AppIndicator") {
				return true
			}
		}
		return false
	})
	c := connectWS(t, s.url, originHeader(site))
	c.Close()
	if n := len(notes.Received()); n != 1 {
		t.Errorf("%d notifications, want the one: %+v", n, notes.Received())
	}
}

// menuWith reads the tray's menu until every label is in it: the first
// reads can come before the tray drew it whole.
func menuWith(t *testing.T, menu dbus.BusObject, labels ...string) dbustest.MenuItem {
	t.Helper()
	var root dbustest.MenuItem
	dbustest.Eventually(t, fmt.Sprintf("the menu to show %q", labels), func() bool {
		root = dbustest.GetLayout(t, menu)
		for _, l := range labels {
			if _, ok := root.Find(l); !ok {
				return false
			}
		}
		return true
	})
	return root
}
