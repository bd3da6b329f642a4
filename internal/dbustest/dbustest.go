// Package dbustest runs a private D-Bus session bus for tests and fakes the
// desktop services kyso talks to on it: a StatusNotifierWatcher (the tray
// host) and a notification server (org.freedesktop.Notifications). It also
// reads and clicks the com.canonical.dbusmenu menu of a tray item.
//
// The bus is a dbus-daemon child process listening on a socket in the
// test's temporary directory, so tests never touch the user's desktop
// session. It needs the dbus-daemon program (Debian package dbus).
package dbustest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// waitFor is how long Eventually and the helpers built on it wait: long
// enough for a loaded CI machine, short enough that a broken test fails
// well within go test's own timeout.
const waitFor = 10 * time.Second

// StartSessionBus runs a private dbus-daemon for the rest of the test,
// points DBUS_SESSION_BUS_ADDRESS at it (t.Setenv, so the test cannot be
// parallel) and returns its address. Child processes started by the test
// inherit the variable and so use the same bus. The daemon is killed when
// the test ends. A missing dbus-daemon fails the test rather than skipping
// it: the D-Bus code would otherwise go untested without anyone noticing.
func StartSessionBus(t testing.TB) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatalf("dbus-daemon is needed for the D-Bus tests (Debian package dbus): %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "session.conf")
	// A session bus that lets anyone own any name: the fakes take the
	// desktop's well-known names.
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=`+dir+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--print-address", "--nofork")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatal("dbus-daemon printed no address")
		}
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", a)
		return a
	case <-time.After(waitFor):
		t.Fatal("dbus-daemon did not print its address")
	}
	return ""
}

// Session starts a private session bus (StartSessionBus) and returns a
// connection to it, closed when the test ends.
func Session(t testing.TB) *dbus.Conn {
	t.Helper()
	StartSessionBus(t)
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatalf("connecting to the test's session bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Eventually retries f every 20 ms until it returns true, and fails the
// test naming what it waited for if that takes more than 10 s. D-Bus
// peers answer asynchronously, so tests poll rather than sleep.
func Eventually(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// own makes conn the primary owner of name, failing the test when someone
// else has it already.
func own(t testing.TB, conn *dbus.Conn, name string) {
	t.Helper()
	reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s: %v (reply %v)", name, err, reply)
	}
}
