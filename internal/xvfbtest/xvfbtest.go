// Package xvfbtest shows desktop dialogs to tests for real: it runs a
// private Xvfb display, finds and drives windows on it with xdotool as a
// user would, and screenshots them with xwd (kept as PNGs in the test's
// temporary directory and in $KYSO_ARTIFACTS when set, for CI to keep).
// It also lists the dialog programs (zenity, qarma, matedialog) a test
// started, from /proc, so that tests can read what a dialog was asked to
// show and kill one left running.
//
// It needs Linux and the programs Xvfb, xdotool, zenity and xwd; a
// missing program fails the test rather than skipping it, naming the
// Debian package that provides it, so that the dialogs never go untested
// without anyone noticing.
package xvfbtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/xwd"
)

// Bound bounds every wait on the X server, the dialogs and the calls that
// show them. It only guards against hangs: nothing is asserted about time.
const Bound = 2 * time.Minute

// Options configures Start.
type Options struct {
	// Width and Height are the screen's size in pixels; zero means
	// 1280×1024. No window manager runs, so nothing moves a window larger
	// than the screen into view: GTK's file chooser opens at about
	// 1100×820, and one larger than the screen ignored the typed path.
	Width, Height int
}

// Start starts Xvfb on a free display (Xvfb picks it) and gives
// the test an environment of its own (t.Setenv, so the test cannot be
// parallel): DISPLAY names that display; GTK uses it, not a Wayland
// compositor the environment may name, and does not look for the
// accessibility bus; the session bus address leads nowhere, so that GTK
// neither waits for the user's bus nor autolaunches one that outlives the
// test; settings stay in memory; and HOME and the XDG directories are
// temporary, so that recent files and settings stay out of the user's.
// Xvfb is stopped when the test ends. Start returns the display's name.
func Start(t testing.TB, opts Options) string {
	t.Helper()
	requireTools(t)
	if opts.Width == 0 || opts.Height == 0 {
		opts.Width, opts.Height = 1280, 1024
	}
	tmp := t.TempDir()
	n := startXvfb(t, opts, filepath.Join(tmp, "xvfb.log"))
	display := ":" + strconv.Itoa(n)
	t.Setenv("DISPLAY", display)
	t.Setenv("GDK_BACKEND", "x11")
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("NO_AT_BRIDGE", "1")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(tmp, "no-bus"))
	t.Setenv("GSETTINGS_BACKEND", "memory")
	home := filepath.Join(tmp, "home")
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, ".local", "share"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	return display
}

// requireTools fails the test, naming the Debian packages to install,
// when a program the dialog tests need is missing.
func requireTools(t testing.TB) {
	t.Helper()
	var missing []string
	for _, tool := range []struct{ bin, pkg string }{
		{"Xvfb", "xvfb"}, {"xdotool", "xdotool"}, {"zenity", "zenity"}, {"xwd", "x11-apps"},
	} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool.bin, tool.pkg))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing programs for the dialog tests: %s; install them with apt-get install xvfb xdotool zenity x11-apps (scripts/install-deps.sh)",
			strings.Join(missing, ", "))
	}
}

// startXvfb starts Xvfb on a display number it picks itself and returns
// that number. Xvfb is given no display: with -displayfd it takes the
// first free one under its own lock files and writes the number there
// once it accepts connections. Choosing the number here instead raced with
// the other test processes of `go test ./...` (the agent's and the tray's
// dialog tests run at once): a second Xvfb started on a taken display
// exits, and on its way out it unlinks the first one's socket, so that
// later clients of the first display cannot connect.
func startXvfb(t testing.TB, opts Options, logPath string) int {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	screen := fmt.Sprintf("%dx%dx24", opts.Width, opts.Height)
	cmd := exec.Command("Xvfb", "-screen", "0", screen, "-nolisten", "tcp", "-displayfd", "3")
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close() // Xvfb holds the only write end: EOF means it exited
	_ = r.SetReadDeadline(time.Now().Add(Bound))
	line, readErr := bufio.NewReader(r).ReadString('\n')
	n, convErr := strconv.Atoi(strings.TrimSpace(line))
	if readErr != nil || convErr != nil {
		stop(cmd)
		out, _ := os.ReadFile(logPath)
		t.Fatalf("Xvfb did not start (%q, %v): %s", line, readErr, lastLines(out, 5))
	}
	t.Cleanup(func() { stop(cmd) })
	return n
}

// stop ends a process the test started: SIGTERM, so that Xvfb removes its
// lock file, then SIGKILL if it lingers.
func stop(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Xdo runs xdotool with args and returns its standard output; a failure
// fails the test with xdotool's own message. xdotool's --window sends
// synthetic events, which GTK ignores: to type into a window, focus it
// (windowfocus --sync) and send the keys without --window, through XTEST.
func Xdo(ctx context.Context, t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "xdotool", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xdotool %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out)
}

// WaitWindow waits, within Bound, for the one visible window whose whole
// title is title and returns its id.
func WaitWindow(ctx context.Context, t testing.TB, title string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, Bound)
	defer cancel()
	// xdotool matches --name as a regular expression anywhere in the
	// title; the exact title is checked again below, as the window has it.
	ids := strings.Fields(Xdo(ctx, t, "search", "--sync", "--onlyvisible", "--name", "^"+regexp.QuoteMeta(title)+"$"))
	if len(ids) != 1 {
		t.Fatalf("windows titled %q: %q, want one", title, ids)
	}
	if got := strings.TrimSpace(Xdo(ctx, t, "getwindowname", ids[0])); got != title {
		t.Fatalf("window %s is titled %q, want %q", ids[0], got, title)
	}
	return ids[0]
}

// WindowRect is the window's rectangle on the root window.
func WindowRect(ctx context.Context, t testing.TB, wid string) image.Rectangle {
	t.Helper()
	vals := map[string]int{}
	for _, line := range strings.Fields(Xdo(ctx, t, "getwindowgeometry", "--shell", wid)) {
		k, v, ok := strings.Cut(line, "=")
		if n, err := strconv.Atoi(v); ok && err == nil {
			vals[k] = n
		}
	}
	r := image.Rect(vals["X"], vals["Y"], vals["X"]+vals["WIDTH"], vals["Y"]+vals["HEIGHT"])
	if r.Empty() {
		t.Fatalf("window %s has no area: %v", wid, vals)
	}
	return r
}

// GrabScreen dumps the root window with xwd and decodes it.
func GrabScreen(ctx context.Context, t testing.TB) image.Image {
	t.Helper()
	path := filepath.Join(t.TempDir(), "screen.xwd")
	cmd := exec.CommandContext(ctx, "xwd", "-root", "-silent", "-out", path)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xwd: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := xwd.Decode(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	return img
}

// InkStats counts, within r, the distinct colours and the pixels that
// differ from the most common colour (the background): text, frames,
// buttons. area is the number of pixels of r within the image.
func InkStats(img image.Image, r image.Rectangle) (colours, ink, area int) {
	count := map[color.RGBA]int{}
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			count[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	area = r.Dx() * r.Dy()
	most := 0
	for _, n := range count {
		most = max(most, n)
	}
	return len(count), area - most, area
}

// Screenshot waits, within Bound, until the window is drawn, saves the
// screen as name.png in the test's temporary directory and, when
// KYSO_ARTIFACTS is set, there too, and returns the saved image as read
// back from the PNG with the window's rectangle on it. An undrawn window
// is a flat rectangle; a drawn one has text in many colours
// (antialiasing) over more than 1% of it. Screenshot does not fail a
// window that stays undrawn: the caller judges the image it returns.
func Screenshot(ctx context.Context, t testing.TB, wid, name string) (image.Image, image.Rectangle) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, Bound)
	defer cancel()
	rect := WindowRect(ctx, t, wid)
	var img image.Image
	for {
		img = GrabScreen(ctx, t)
		colours, ink, area := InkStats(img, rect)
		if colours > 10 && ink*100 > area || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("KYSO_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		path := filepath.Join(d, name+".png")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of window %s at %v: %s", wid, rect, path)
	}
	back, err := png.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("the saved screenshot does not decode: %v", err)
	}
	return back, rect
}

// Proc is a dialog program the test process started.
type Proc struct {
	PID  int
	Args []string // argv, argv[0] included
}

// Opt is the value of the option name (--title, --text), given as
// "name value" or "name=value", and whether the program was given it.
func (p Proc) Opt(name string) (string, bool) {
	for i, a := range p.Args {
		if a == name && i+1 < len(p.Args) {
			return p.Args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Dialogs lists the dialog programs (zenity, or the qarma and matedialog
// the zenity library prefers when installed) that are children of this
// process, as /proc shows them.
func Dialogs(t testing.TB) []Proc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != self {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		switch filepath.Base(args[0]) {
		case "zenity", "qarma", "matedialog":
			out = append(out, Proc{PID: pid, Args: args})
		}
	}
	return out
}

// TheDialog returns the one dialog program running, and fails the test
// when there are none or several.
func TheDialog(t testing.TB) Proc {
	t.Helper()
	procs := Dialogs(t)
	if len(procs) != 1 {
		t.Fatalf("%d dialog programs running, want 1: %+v", len(procs), procs)
	}
	return procs[0]
}

// CleanupCall registers the end of call, a dialog call running in the
// background until ended is closed, as a cleanup of t: it cancels the
// call's context, waits (within Bound) for the call to return, and kills,
// by pid, any dialog program still running. Cleanups run last registered
// first, so it runs before those of fixtures set up earlier (Start's
// display, a token the call uses), which must outlive the call.
func CleanupCall(t testing.TB, call string, cancel context.CancelFunc, ended <-chan struct{}) {
	t.Helper()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ended:
		case <-time.After(Bound):
			t.Errorf("%s did not return after its context was cancelled", call)
		}
		for _, p := range Dialogs(t) {
			t.Logf("killing dialog left running: pid %d %q", p.PID, p.Args)
			if proc, err := os.FindProcess(p.PID); err == nil {
				_ = proc.Kill()
				_ = proc.Release()
			}
		}
	})
}
