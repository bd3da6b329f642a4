//go:build linux

package main

import (
	"testing"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/dbustest"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// BenchmarkRunIdle is BenchmarkServeIdle for `kyso run`: the agent with its
// tray item registered on a session bus (a private one, with the test's
// StatusNotifierWatcher), so the two sets of figures compare the tray's
// cost.
func BenchmarkRunIdle(b *testing.B) {
	conn := dbustest.Session(b)
	w := dbustest.ExportWatcher(b, conn)
	dbustest.ExportNotifications(b, conn)
	f := newServeFixture(b)
	srv := f.startServer(b, serverSpec{name: "run-idle", command: "run", args: []string{"--instance-dir", b.TempDir()},
		policy: agent.Policy{AllowedOrigins: []string{qlvbOrigin}},
		script: serveScript{PIN: servePIN}, logLevel: "info", noDialogRecord: true})
	// The tray is up and drawn before the measurement starts.
	_, menu := dbustest.Item(b, conn, w)
	dbustest.ReadMenu(b, menu, i18n.English.T("tray.quit"))
	measureIdle(b, srv, "BenchmarkRunIdle")
}
