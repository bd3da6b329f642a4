//go:build linux

package agent

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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/p11fault"
	"github.com/kyso-vn/kyso/internal/xwd"
	"github.com/kyso-vn/kyso/token"
)

// These tests drive the real desktop dialogs: the zenity prompter runs the
// zenity program on a private Xvfb display, xdotool finds the window and
// types into it as a user would, and xwd takes a screenshot of what the
// user sees (kept as a PNG in $KYSO_ARTIFACTS, or the test's temporary
// directory). They need Xvfb, xdotool, zenity and xwd; a missing program
// fails the test, naming the Debian package that provides it.

// x11Bound bounds every wait on the X server, the dialog and the
// signature. It only guards against hangs; nothing is asserted about time.
const x11Bound = 2 * time.Minute

var x11Tools = []struct{ bin, pkg string }{
	{"Xvfb", "xvfb"},
	{"xdotool", "xdotool"},
	{"zenity", "zenity"},
	{"xwd", "x11-apps"},
}

func requireX11Tools(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range x11Tools {
		if _, err := exec.LookPath(tool.bin); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool.bin, tool.pkg))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing programs for the dialog tests: %s; install them with apt-get install xvfb xdotool zenity x11-apps",
			strings.Join(missing, ", "))
	}
}

// startXvfb starts Xvfb on the first free display from :90 to :140 and
// points this test's DISPLAY at it; it is stopped when the test ends.
// Readiness comes from -displayfd: Xvfb writes its display number there
// once it accepts connections, and closes it by exiting when the display
// is taken.
func startXvfb(t *testing.T) string {
	t.Helper()
	requireX11Tools(t)
	logPath := filepath.Join(t.TempDir(), "xvfb.log")
	var lastErr error
	for n := 90; n <= 140; n++ {
		if fileExists(fmt.Sprintf("/tmp/.X%d-lock", n)) || fileExists(fmt.Sprintf("/tmp/.X11-unix/X%d", n)) {
			continue
		}
		display, err := tryXvfb(t, n, logPath)
		if err == nil {
			t.Setenv("DISPLAY", display)
			// GTK must use this display, not a Wayland compositor the
			// environment may name, and need not look for the
			// accessibility bus.
			t.Setenv("GDK_BACKEND", "x11")
			t.Setenv("WAYLAND_DISPLAY", "")
			t.Setenv("NO_AT_BRIDGE", "1")
			return display
		}
		lastErr = err
	}
	t.Fatalf("no display from :90 to :140 could be started: %v", lastErr)
	return ""
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func tryXvfb(t *testing.T, n int, logPath string) (string, error) {
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
	cmd := exec.Command("Xvfb", ":"+strconv.Itoa(n), "-screen", "0", "1024x768x24", "-nolisten", "tcp", "-displayfd", "3")
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close() // Xvfb holds the only write end: EOF means it exited
	_ = r.SetReadDeadline(time.Now().Add(x11Bound))
	line, readErr := bufio.NewReader(r).ReadString('\n')
	if got := strings.TrimSpace(line); readErr == nil && got == strconv.Itoa(n) {
		t.Cleanup(func() { stopProcess(t, cmd) })
		return ":" + got, nil
	}
	stopProcess(t, cmd)
	out, _ := os.ReadFile(logPath)
	return "", fmt.Errorf("Xvfb :%d did not start (%q, %v): %s", n, line, readErr, lastLines(out, 5))
}

// stopProcess ends a process this test started: SIGTERM, so that Xvfb
// removes its lock file, then SIGKILL if it lingers.
func stopProcess(t *testing.T, cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
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

// xdo runs xdotool and returns its standard output.
func xdo(ctx context.Context, t *testing.T, args ...string) string {
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

// waitDialog waits until a visible window whose name contains kyso (every
// prompter dialog's title) is mapped and returns its id.
func waitDialog(ctx context.Context, t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, x11Bound)
	defer cancel()
	ids := strings.Fields(xdo(ctx, t, "search", "--sync", "--onlyvisible", "--name", "kyso"))
	if len(ids) != 1 {
		t.Fatalf("windows named kyso: %q, want one", ids)
	}
	return ids[0]
}

// dialogProc is a dialog program this test process started.
type dialogProc struct {
	pid  int
	args []string // argv, argv[0] included
}

// dialogChildren lists the dialog programs (zenity, or the qarma and
// matedialog the zenity library prefers when installed) that are children
// of this process.
func dialogChildren(t *testing.T) []dialogProc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var out []dialogProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(self) {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		switch filepath.Base(args[0]) {
		case "zenity", "qarma", "matedialog":
			out = append(out, dialogProc{pid: pid, args: args})
		}
	}
	return out
}

// killDialogs ends the dialog programs this process started that are
// still running, each by its pid.
func killDialogs(t *testing.T) {
	for _, p := range dialogChildren(t) {
		t.Logf("killing dialog left running: pid %d %s", p.pid, p.args[0])
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// theDialog returns the one dialog program running and the value of its
// option --name (--text, --title).
func theDialog(t *testing.T) (dialogProc, func(name string) string) {
	t.Helper()
	procs := dialogChildren(t)
	if len(procs) != 1 {
		t.Fatalf("%d dialog programs running, want 1: %+v", len(procs), procs)
	}
	p := procs[0]
	opt := func(name string) string {
		for i, a := range p.args {
			if a == name && i+1 < len(p.args) {
				return p.args[i+1]
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
		t.Fatalf("the dialog has no %s option: %q", name, p.args)
		return ""
	}
	return p, opt
}

// artifactDir is where screenshots go: $KYSO_ARTIFACTS when set (CI keeps
// it), else the test's temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KYSO_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// windowRect is the window's rectangle on the root window.
func windowRect(ctx context.Context, t *testing.T, wid string) image.Rectangle {
	t.Helper()
	vals := map[string]int{}
	for _, line := range strings.Fields(xdo(ctx, t, "getwindowgeometry", "--shell", wid)) {
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

func distinctColors(img image.Image, r image.Rectangle) int {
	seen := map[color.RGBA]bool{}
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			seen[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)] = true
		}
	}
	return len(seen)
}

// grabScreen dumps the root window with xwd and decodes it.
func grabScreen(ctx context.Context, t *testing.T) image.Image {
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
		t.Fatal(err)
	}
	return img
}

// screenshotDialog saves the screen as name.png once the dialog's window
// is drawn: a drawn dialog (text, entry, buttons) has many colours, an
// undrawn one is a flat rectangle, so the screen is dumped until the
// window holds more than 10 colours, within the hang bound.
func screenshotDialog(ctx context.Context, t *testing.T, wid, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, x11Bound)
	defer cancel()
	rect := windowRect(ctx, t, wid)
	var img image.Image
	var n int
	for {
		img = grabScreen(ctx, t)
		if n = distinctColors(img, rect); n > 10 || ctx.Err() != nil {
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
	path := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the dialog (window %v): %s", rect, path)
	if n <= 10 {
		t.Fatalf("the dialog window %v holds %d colours: it was not drawn", rect, n)
	}
	if all := distinctColors(img, img.Bounds()); all <= 10 {
		t.Fatalf("the screen holds %d colours", all)
	}
	return path
}

// typeInto focuses the window and types text then presses key, as a user
// would. xdotool's --window sends synthetic events, which GTK ignores, so
// the window gets the focus and the keys go through XTEST.
func typeInto(ctx context.Context, t *testing.T, wid, text, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, x11Bound)
	defer cancel()
	xdo(ctx, t, "windowfocus", "--sync", wid)
	if text != "" {
		xdo(ctx, t, "type", "--delay", "20", text)
	}
	xdo(ctx, t, "key", key)
}

func TestZenityPINDialogUnderXvfb(t *testing.T) {
	startXvfb(t)
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, func(c *Config) {
		c.Prompter = NewZenityPrompter(i18n.Vietnamese, 2*time.Minute)
		c.DialogTimeout = 3 * time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)

	const docName = "quyet-dinh-15.pdf"
	type result struct {
		doc *SignedDocument
		err error
	}
	done := make(chan result, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		doc, err := h.agent.SignPDF(ctx, Caller{Origin: "https://qlvb.example.gov.vn"},
			Document{Name: docName, Data: svcFx.letter},
			SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)})
		done <- result{doc, err}
	}()
	// Registered after the harness, so this runs first: the dialog is
	// closed (cancelling the request kills zenity) and the request has
	// ended before the token manager closes.
	t.Cleanup(func() {
		cancel()
		select {
		case <-ended:
		case <-time.After(x11Bound):
			t.Error("SignPDF did not return after its request was cancelled")
		}
		killDialogs(t)
	})

	wid := waitDialog(ctx, t)
	p, opt := theDialog(t)
	t.Logf("dialog: pid %d, window %s, %s", p.pid, wid, strings.Join(p.args[:2], " "))
	if !slices.Contains(p.args, "--entry") || !slices.Contains(p.args, "--hide-text") {
		t.Errorf("the PIN dialog is not a hidden entry: %q", p.args)
	}
	if got := opt("--title"); got != "kyso — Ký số" {
		t.Errorf("title %q", got)
	}
	text := opt("--text")
	t.Logf("dialog text:\n%s", text)
	sum := sha256Hex(svcFx.letter)
	for _, want := range []string{
		"Trang web yêu cầu: https://qlvb.example.gov.vn", // who asks
		"Ký số văn bản:",                                 // what
		"• " + docName,                                   // the document's name
		"SHA-256 " + sum[:16] + "…" + sum[56:],           // its digest, as shortHex shows it
		" trang, ",                                       // its page count
		"Nhập mã PIN để đồng ý ký:",                      // what to do
		"Thiết bị ký (token): " + testLabel,              // the token
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the dialog text lacks %q", want)
		}
	}
	if got := opt("--ok-label"); got != "Ký" {
		t.Errorf("OK label %q, want Ký", got)
	}
	if got := opt("--cancel-label"); got != "Hủy" {
		t.Errorf("cancel label %q, want Hủy", got)
	}
	screenshotDialog(ctx, t, wid, "zenity-pin-dialog")

	typeInto(ctx, t, wid, testPIN, "Return")
	var r result
	select {
	case r = <-done:
	case <-time.After(x11Bound):
		t.Fatal("SignPDF did not return after the PIN was typed")
	}
	if r.err != nil {
		t.Fatalf("SignPDF: %v", r.err)
	}
	checkSignedPDF(t, nil, svcFx.letter, r.doc.Data, 1)
	if r.doc.Name != docName || r.doc.Signer != token.HandleOf(svcFx.personal) || r.doc.SHA256 != sha256Hex(r.doc.Data) {
		t.Errorf("result = name %q, signer %s, sha256 %s", r.doc.Name, r.doc.Signer, r.doc.SHA256)
	}
	// One login: the PIN typed into the dialog was the token's, first time.
	if n := svcFx.steer.Calls(t, "C_Login"); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
	if recs := h.audit.records(t); len(recs) != 1 || recs[0].Result != "ok" || recs[0].Caller != testOrigin {
		t.Errorf("audit records = %+v", recs)
	}
	if procs := dialogChildren(t); len(procs) != 0 {
		t.Errorf("dialogs still running after the signature: %+v", procs)
	}
	// The PIN went from the dialog to the token and nowhere else.
	if bytes.Contains(h.logs.Bytes(), []byte(testPIN)) {
		t.Error("the PIN is in the logs")
	}
}

// TestZenityApprovalDialogDeniesByDefault: the origin approval dialog names
// the origin, and neither a reflexive Enter (the deny button is the
// default) nor Escape allows it.
func TestZenityApprovalDialogDeniesByDefault(t *testing.T) {
	startXvfb(t)
	pr := NewZenityPrompter(i18n.Vietnamese, 2*time.Minute)
	const origin = "https://dms.example.gov.vn"
	for i, key := range []string{"Return", "Escape"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		type answer struct {
			ok  bool
			err error
		}
		done := make(chan answer, 1)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			ok, err := pr.ApproveOrigin(ctx, origin)
			done <- answer{ok, err}
		}()
		t.Cleanup(func() {
			cancel()
			select {
			case <-ended:
			case <-time.After(x11Bound):
				t.Error("ApproveOrigin did not return after its context was cancelled")
			}
			killDialogs(t)
		})

		wid := waitDialog(ctx, t)
		p, opt := theDialog(t)
		if !slices.Contains(p.args, "--question") || !slices.Contains(p.args, "--default-cancel") {
			t.Errorf("the approval dialog is not a question with deny as the default: %q", p.args)
		}
		text := opt("--text")
		for _, want := range []string{"Trang web", origin, "muốn dùng kyso để yêu cầu ký số văn bản"} {
			if !strings.Contains(text, want) {
				t.Errorf("the approval text lacks %q:\n%s", want, text)
			}
		}
		if got := opt("--ok-label"); got != "Cho phép" {
			t.Errorf("allow label %q", got)
		}
		if got := opt("--cancel-label"); got != "Từ chối" {
			t.Errorf("deny label %q", got)
		}
		if i == 0 {
			screenshotDialog(ctx, t, wid, "zenity-approve-origin")
		}

		typeInto(ctx, t, wid, "", key)
		select {
		case a := <-done:
			if a.ok || a.err != nil {
				t.Errorf("%s: ApproveOrigin = %v, %v; want false, nil", key, a.ok, a.err)
			}
		case <-time.After(x11Bound):
			t.Fatalf("%s: ApproveOrigin did not return", key)
		}
		if procs := dialogChildren(t); len(procs) != 0 {
			t.Fatalf("%s: dialogs still running: %+v", key, procs)
		}
	}
}
