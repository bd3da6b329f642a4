//go:build linux

package tray

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/xwd"
)

// These tests show the tray's dialogs for real: the zenity program on a
// private Xvfb display, found and driven with xdotool as a user would,
// screenshot with xwd (kept as PNGs in $KYSO_ARTIFACTS when set). They
// need Xvfb, xdotool, zenity and xwd; a missing program fails the test,
// naming the Debian package that provides it. The helpers are small
// equivalents of agent/zenity_xvfb_test.go's, which that package does
// not export.

// dlgBound bounds every wait on the X server and the dialogs. It only
// guards against hangs; nothing is asserted about time.
const dlgBound = 2 * time.Minute

func dlgRequireTools(t *testing.T) {
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

// dlgStartXvfb starts Xvfb on the first free display from :141 to :190
// (the agent's tests take :90 to :140) and gives this test an environment
// of its own: that display, no Wayland, no session bus (so GTK neither
// waits for one nor autolaunches one that outlives the test), and a
// temporary home, so the file chooser's recent files and settings stay
// out of the user's.
func dlgStartXvfb(t *testing.T) {
	t.Helper()
	dlgRequireTools(t)
	tmp := t.TempDir()
	logPath := filepath.Join(tmp, "xvfb.log")
	var lastErr error
	for n := 141; n <= 190; n++ {
		if dlgExists(fmt.Sprintf("/tmp/.X%d-lock", n)) || dlgExists(fmt.Sprintf("/tmp/.X11-unix/X%d", n)) {
			continue
		}
		err := dlgTryXvfb(t, n, logPath)
		if err != nil {
			lastErr = err
			continue
		}
		t.Setenv("DISPLAY", ":"+strconv.Itoa(n))
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
		return
	}
	t.Fatalf("no display from :141 to :190 could be started: %v", lastErr)
}

func dlgExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// dlgTryXvfb starts Xvfb on display n. Xvfb writes the display number on
// -displayfd once it accepts connections, and exits (EOF) when the
// display is taken.
func dlgTryXvfb(t *testing.T, n int, logPath string) error {
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
	// 1280×1024: the GTK file chooser opens at about 1100×820, and one
	// larger than the screen (no window manager moves it) ignored the
	// typed path.
	cmd := exec.Command("Xvfb", ":"+strconv.Itoa(n), "-screen", "0", "1280x1024x24", "-nolisten", "tcp", "-displayfd", "3")
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close() // Xvfb holds the only write end
	_ = r.SetReadDeadline(time.Now().Add(dlgBound))
	line, readErr := bufio.NewReader(r).ReadString('\n')
	if got := strings.TrimSpace(line); readErr == nil && got == strconv.Itoa(n) {
		t.Cleanup(func() { dlgStop(cmd) })
		return nil
	}
	dlgStop(cmd)
	out, _ := os.ReadFile(logPath)
	return fmt.Errorf("Xvfb :%d did not start (%q, %v): %s", n, line, readErr, strings.TrimSpace(string(out)))
}

// dlgStop ends a process this test started: SIGTERM, so that Xvfb
// removes its lock file, then SIGKILL if it lingers.
func dlgStop(cmd *exec.Cmd) {
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

// dlgXdo runs xdotool and returns its standard output.
func dlgXdo(ctx context.Context, t *testing.T, args ...string) string {
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

// dlgWaitWindow waits for the one visible window whose whole title is
// title, as xdotool search --name finds it, and returns its id.
func dlgWaitWindow(ctx context.Context, t *testing.T, title string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, dlgBound)
	defer cancel()
	ids := strings.Fields(dlgXdo(ctx, t, "search", "--sync", "--onlyvisible", "--name", "^"+regexp.QuoteMeta(title)+"$"))
	if len(ids) != 1 {
		t.Fatalf("windows titled %q: %q, want one", title, ids)
	}
	if got := strings.TrimSpace(dlgXdo(ctx, t, "getwindowname", ids[0])); got != title {
		t.Fatalf("window %s is titled %q, want %q", ids[0], got, title)
	}
	return ids[0]
}

// dlgProc is a dialog program this test process started.
type dlgProc struct {
	pid  int
	args []string // argv, argv[0] included
}

// opt is the value of the option name (--title, --text), given as
// "name value" or "name=value".
func (p dlgProc) opt(name string) (string, bool) {
	for i, a := range p.args {
		if a == name && i+1 < len(p.args) {
			return p.args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// dlgChildren lists the dialog programs (zenity, or the qarma and
// matedialog the zenity library prefers when installed) that are children
// of this process.
func dlgChildren(t *testing.T) []dlgProc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	var out []dlgProc
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
			out = append(out, dlgProc{pid: pid, args: args})
		}
	}
	return out
}

// dlgTheDialog returns the one dialog program running.
func dlgTheDialog(t *testing.T) dlgProc {
	t.Helper()
	procs := dlgChildren(t)
	if len(procs) != 1 {
		t.Fatalf("%d dialog programs running, want 1: %+v", len(procs), procs)
	}
	return procs[0]
}

// dlgCleanup registers, to run first, the end of a dialog call running in
// the background: cancel its context, wait for it to return, and kill, by
// pid, any dialog program still running.
func dlgCleanup(t *testing.T, cancel context.CancelFunc, ended <-chan struct{}) {
	t.Cleanup(func() {
		cancel()
		select {
		case <-ended:
		case <-time.After(dlgBound):
			t.Error("the dialog call did not return after its context was cancelled")
		}
		for _, p := range dlgChildren(t) {
			t.Logf("killing dialog left running: pid %d %q", p.pid, p.args)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
}

// dlgWindowRect is the window's rectangle on the root window.
func dlgWindowRect(ctx context.Context, t *testing.T, wid string) image.Rectangle {
	t.Helper()
	vals := map[string]int{}
	for _, line := range strings.Fields(dlgXdo(ctx, t, "getwindowgeometry", "--shell", wid)) {
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

// dlgGrabScreen dumps the root window with xwd and decodes it.
func dlgGrabScreen(ctx context.Context, t *testing.T) image.Image {
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

// inkStats counts, within r, the distinct colours and the pixels that
// differ from the most common colour (the background): text, frames,
// buttons.
func inkStats(img image.Image, r image.Rectangle) (colours, ink, area int) {
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

// dlgScreenshot waits until the window is drawn (an undrawn window is a
// flat rectangle; a drawn one has text in many colours: antialiasing),
// saves the screen as name.png in the test's temporary directory and, when
// KYSO_ARTIFACTS is set, there too, and returns the saved image as read
// back from the PNG.
func dlgScreenshot(ctx context.Context, t *testing.T, wid, name string) (image.Image, image.Rectangle) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, dlgBound)
	defer cancel()
	rect := dlgWindowRect(ctx, t, wid)
	var img image.Image
	for {
		img = dlgGrabScreen(ctx, t)
		colours, ink, area := inkStats(img, rect)
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

// reportText is a verification report as the tray shows it, with what a
// signed document could smuggle into it: markup, escapes, entities.
const reportText = `Tệp: hop-dong-mua-ban-15.pdf (48213 byte, 2 chữ ký)
SHA-256: 9f2c4e0b7a1d3c5e8f6a2b4d6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e
Kết luận chung: Chữ ký hợp lệ

Chữ ký số 1 (trường Signature1): Chữ ký hợp lệ
  Người ký:                  Nguyễn Văn An (CCCD 001085012345)
  Cơ quan quản lý:           Sở Tài chính <b>Hà Nội</b> & "Ban" \n Quản lý
  Tổ chức cấp chứng thư:     VNPT Certification Authority
  Thời điểm ký:              15/03/2025 09:41:07 (GMT+7)
  Toàn vẹn:                  Văn bản không bị thay đổi sau khi ký
  Hiệu lực chứng thư:        01/01/2024 → 31/12/2026

Chữ ký số 2 (trường Signature2): Chữ ký hợp lệ
  Người ký:                  Trần Thị Bích Ngọc &amp; Đặng Quốc Hưng
  Dấu thời gian:             15/03/2025 10:02:55 (GMT+7)
`

// TestShowTextDialogUnderXvfb: the report opens in a text window titled
// as asked, shows its text (screenshot), and closes when ctx ends, which
// ShowText then reports.
func TestShowTextDialogUnderXvfb(t *testing.T) {
	dlgStartXvfb(t)
	d := NewDialogs(i18n.Vietnamese, 10*time.Minute)
	const title = "kyso — Kết quả kiểm tra chữ ký"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		done <- d.ShowText(ctx, title, reportText)
	}()
	dlgCleanup(t, cancel, ended)

	wid := dlgWaitWindow(ctx, t, title)
	p := dlgTheDialog(t)
	t.Logf("report window %s: pid %d %q", wid, p.pid, p.args)
	if !slices.Contains(p.args, "--text-info") || !slices.Contains(p.args, "--font=monospace") {
		t.Errorf("the report is not a monospaced text window: %q", p.args)
	}
	if got, _ := p.opt("--title"); got != title {
		t.Errorf("--title %q", got)
	}
	if got, _ := p.opt("--ok-label"); got != "Đóng" {
		t.Errorf("--ok-label %q, want Đóng", got)
	}

	img, rect := dlgScreenshot(ctx, t, wid, "tray-report-window")
	colours, ink, area := inkStats(img, rect)
	t.Logf("the window holds %d colours; %d of its %d pixels are not background", colours, ink, area)
	if colours <= 10 || ink*100 <= area {
		t.Errorf("the report window looks blank: %d colours, %d of %d pixels not background", colours, ink, area)
	}
	if rect.Dx() < 600 || rect.Dy() < 400 {
		t.Errorf("the report window is %v, want about 720×560", rect.Size())
	}

	select {
	case err := <-done:
		t.Fatalf("ShowText returned before anyone closed the window: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ShowText after ctx was cancelled: %v, want context.Canceled", err)
		}
	case <-time.After(dlgBound):
		t.Fatal("ShowText did not return after ctx was cancelled")
	}
	if procs := dlgChildren(t); len(procs) != 0 {
		t.Errorf("the report window is still running: %+v", procs)
	}
}

// TestShowTextDialogShowsPlainText: the text window shows what ShowText
// feeds it exactly: no Pango markup, no backslash escapes, no entities.
// The window's text cannot be read from the screen, so the same window,
// made editable, prints its buffer when its own timeout closes it.
func TestShowTextDialogShowsPlainText(t *testing.T) {
	dlgStartXvfb(t)
	ctx, cancel := context.WithTimeout(context.Background(), dlgBound)
	defer cancel()
	in := cleanText(reportText + "<span foreground='red'>x</span> \\t \\\\ &lt; \u202Eabc\n")
	args := append(textInfoArgs(NewDialogs(i18n.Vietnamese, 0), "kyso — văn bản thô"), "--editable", "--timeout=1")
	cmd := exec.CommandContext(ctx, "zenity", args...)
	cmd.Stdin = strings.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 { // 5: closed by --timeout
		t.Fatalf("zenity %q: %v, want exit status 5: %s", args, err, stderr.String())
	}
	if got := stdout.String(); got != in {
		t.Errorf("the window's text differs from its input:\n got %q\nwant %q", got, in)
	}
	if !strings.Contains(in, "<b>Hà Nội</b> & \"Ban\" \\n") || !strings.Contains(in, "\uFFFDabc") {
		t.Errorf("the input lost its hostile parts: %q", in)
	}
}

// TestDialogTimeoutClosesChooseAndMessage: a dialog nobody answers closes
// at the dialog timeout and reports DIALOG_TIMEOUT, not a cancel.
func TestDialogTimeoutClosesChooseAndMessage(t *testing.T) {
	dlgStartXvfb(t)
	d := NewDialogs(i18n.Vietnamese, time.Second)
	for _, tc := range []struct {
		name, title, kind string
		show              func(ctx context.Context) error
	}{
		{"Choose", "kyso — Chọn chứng thư số", "--list", func(ctx context.Context) error {
			_, err := d.Choose(ctx, "kyso — Chọn chứng thư số", "Chọn chứng thư số để ký:", []Choice{
				{ID: "a", Label: "Nguyễn Văn An (VNPT-CA)"}, {ID: "b", Label: "Nguyễn Văn An (Viettel-CA)"},
			})
			return err
		}},
		{"Message", "kyso — Thông báo", "--warning", func(ctx context.Context) error {
			return d.Message(ctx, "kyso — Thông báo", "Không ký được tệp «hop-dong.pdf»", true)
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), dlgBound)
		done := make(chan error, 1)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			done <- tc.show(ctx)
		}()
		dlgCleanup(t, cancel, ended)

		// The dialog program runs until the timeout kills it: watch for
		// it, to know the timeout closed a dialog that was shown.
		var seen []dlgProc
		var err error
	wait:
		for {
			for _, p := range dlgChildren(t) {
				if title, _ := p.opt("--title"); title == tc.title && slices.Contains(p.args, tc.kind) && !slices.ContainsFunc(seen, func(q dlgProc) bool { return q.pid == p.pid }) {
					seen = append(seen, p)
				}
			}
			select {
			case err = <-done:
				break wait
			case <-ctx.Done():
				t.Fatalf("%s did not return", tc.name)
			case <-time.After(20 * time.Millisecond):
			}
		}
		if len(seen) != 1 {
			t.Errorf("%s: saw %d %s dialogs titled %q, want 1", tc.name, len(seen), tc.kind, tc.title)
		}
		if !isTimeout(err) {
			t.Errorf("%s: %v, want DIALOG_TIMEOUT", tc.name, err)
		}
		if errors.Is(err, agent.ErrUserCancelled) || ctx.Err() != nil {
			t.Errorf("%s: the timeout is reported as the caller's end or a cancel: %v", tc.name, err)
		}
		if procs := dlgChildren(t); len(procs) != 0 {
			t.Errorf("%s: dialogs still running after the timeout: %+v", tc.name, procs)
		}
	}
}

// TestPickFileDialogUnderXvfb: the file chooser offers PDF files, and a
// path typed into its location bar (Ctrl+L) is what PickFile returns.
func TestPickFileDialogUnderXvfb(t *testing.T) {
	dlgStartXvfb(t)
	dir := t.TempDir()
	want := filepath.Join(dir, "hop dong 01.PDF")
	for _, name := range []string{filepath.Base(want), "anh.png"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("%PDF-1.7\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDialogs(i18n.Vietnamese, 10*time.Minute)
	const title = "kyso — Chọn tệp PDF để ký"
	ctx, cancel := context.WithCancel(context.Background())
	type answer struct {
		path string
		err  error
	}
	done := make(chan answer, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		path, err := d.PickFile(ctx, title, FilterPDF)
		done <- answer{path, err}
	}()
	dlgCleanup(t, cancel, ended)

	wid := dlgWaitWindow(ctx, t, title)
	p := dlgTheDialog(t)
	t.Logf("file chooser %s: pid %d %q", wid, p.pid, p.args)
	if !slices.Contains(p.args, "--file-selection") || slices.Contains(p.args, "--save") {
		t.Errorf("not a file chooser for an existing file: %q", p.args)
	}
	if got, _ := p.opt("--file-filter"); got != "Tệp PDF|*.[pP][dD][fF]" {
		t.Errorf("--file-filter %q", got)
	}
	dlgScreenshot(ctx, t, wid, "tray-pick-file")

	bctx, bcancel := context.WithTimeout(ctx, dlgBound)
	defer bcancel()
	dlgXdo(bctx, t, "windowfocus", "--sync", wid)
	dlgXdo(bctx, t, "key", "ctrl+l")
	dlgXdo(bctx, t, "type", "--delay", "20", want)
	dlgScreenshot(ctx, t, wid, "tray-pick-file-typed")
	dlgXdo(bctx, t, "key", "Return")
	select {
	case a := <-done:
		if a.err != nil || a.path != want {
			t.Errorf("PickFile = %q, %v; want %q", a.path, a.err, want)
		}
	case <-time.After(dlgBound):
		t.Fatal("PickFile did not return after a path was typed")
	}
}

// TestChooseDialogUnderXvfb: the list shows one line per option, lines
// with the same label numbered, and the line the user picks with the
// keyboard maps back to its option's ID, also for a label that starts
// with "-" and one with markup characters.
func TestChooseDialogUnderXvfb(t *testing.T) {
	dlgStartXvfb(t)
	d := NewDialogs(i18n.Vietnamese, 10*time.Minute)
	const title = "kyso — Chọn chứng thư số"
	options := []Choice{
		{ID: "vnpt", Label: "Nguyễn Văn An"},
		{ID: "viettel", Label: "Nguyễn Văn An"},
		{ID: "dash", Label: "-Trần <b>Bình</b> & Co"},
	}
	for i, tc := range []struct{ keys, want string }{
		{"Home Down Return", "viettel"}, // the second "Nguyễn Văn An"
		{"End Return", "dash"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		type answer struct {
			id  string
			err error
		}
		done := make(chan answer, 1)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			id, err := d.Choose(ctx, title, "Chọn chứng thư số để ký «hop-dong <01>.pdf»:", options)
			done <- answer{id, err}
		}()
		dlgCleanup(t, cancel, ended)

		wid := dlgWaitWindow(ctx, t, title)
		p := dlgTheDialog(t)
		if i == 0 {
			t.Logf("list %s: pid %d %q", wid, p.pid, p.args)
			if got, _ := p.opt("--text"); got != "Chọn chứng thư số để ký «hop-dong &lt;01&gt;.pdf»:" {
				t.Errorf("--text %q", got)
			}
			for _, line := range []string{"Nguyễn Văn An", "Nguyễn Văn An (2)", "\u2060-Trần <b>Bình</b> & Co"} {
				if !slices.Contains(p.args, line) {
					t.Errorf("the list lacks the line %q: %q", line, p.args)
				}
			}
			for opt, want := range map[string]string{"--ok-label": "Chọn", "--cancel-label": "Hủy"} {
				if got, _ := p.opt(opt); got != want {
					t.Errorf("%s %q, want %q", opt, got, want)
				}
			}
			dlgScreenshot(ctx, t, wid, "tray-choose-window")
		}
		bctx, bcancel := context.WithTimeout(ctx, dlgBound)
		dlgXdo(bctx, t, "windowfocus", "--sync", wid)
		dlgXdo(bctx, t, append([]string{"key", "--delay", "100"}, strings.Fields(tc.keys)...)...)
		bcancel()
		select {
		case a := <-done:
			if a.err != nil || a.id != tc.want {
				t.Errorf("keys %s: Choose = %q, %v; want %q", tc.keys, a.id, a.err, tc.want)
			}
		case <-time.After(dlgBound):
			t.Fatalf("keys %s: Choose did not return", tc.keys)
		}
	}
}

// TestAskTextDialogUnderXvfb: the entry proposes the initial text, which
// the user edits; AskText returns what the entry holds on Enter.
func TestAskTextDialogUnderXvfb(t *testing.T) {
	dlgStartXvfb(t)
	d := NewDialogs(i18n.Vietnamese, 10*time.Minute)
	const title = "kyso — Máy chủ dấu thời gian"
	ctx, cancel := context.WithCancel(context.Background())
	type answer struct {
		text string
		err  error
	}
	done := make(chan answer, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		got, err := d.AskText(ctx, title, `Địa chỉ máy chủ dấu thời gian (vd. http://tsa.example.vn\tsa):`, "http://ca.gov.vn/tsa")
		done <- answer{got, err}
	}()
	dlgCleanup(t, cancel, ended)

	wid := dlgWaitWindow(ctx, t, title)
	p := dlgTheDialog(t)
	if got, _ := p.opt("--text"); got != `Địa chỉ máy chủ dấu thời gian (vd. http://tsa.example.vn\\tsa):` {
		t.Errorf("--text %q: the backslash is not doubled", got)
	}
	if got, _ := p.opt("--entry-text"); got != "http://ca.gov.vn/tsa" {
		t.Errorf("--entry-text %q", got)
	}
	dlgScreenshot(ctx, t, wid, "tray-ask-text")
	bctx, bcancel := context.WithTimeout(ctx, dlgBound)
	defer bcancel()
	dlgXdo(bctx, t, "windowfocus", "--sync", wid)
	dlgXdo(bctx, t, "key", "End")
	dlgXdo(bctx, t, "type", "--delay", "20", "/v2")
	dlgXdo(bctx, t, "key", "Return")
	select {
	case a := <-done:
		if a.err != nil || a.text != "http://ca.gov.vn/tsa/v2" {
			t.Errorf("AskText = %q, %v; want the edited text", a.text, a.err)
		}
	case <-time.After(dlgBound):
		t.Fatal("AskText did not return")
	}
}

// TestDialogOpen: Open starts xdg-open with the absolute path and returns
// while it still runs; a missing xdg-open or file is an error naming it.
// A stand-in xdg-open records its arguments, then runs as long as a hold
// file exists, as xdg-open's generic fallback runs as long as the viewer;
// the hold goes with the test's temporary directory, and the stand-in
// with it. It needs no display; it is here because the stand-in is a
// shell script.
func TestDialogOpen(t *testing.T) {
	bin, work, state := t.TempDir(), t.TempDir(), t.TempDir()
	record, hold := filepath.Join(state, "args"), filepath.Join(state, "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nprintf '%s\\n' $$ \"$@\" > " + record + ".tmp && mv " + record + ".tmp " + record + "\n" +
		"while [ -e " + hold + " ]; do sleep 0.05; done\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(work, "-hop dong.pdf") // a name an opener could take for an option
	if err := os.WriteFile(doc, []byte("%PDF-1.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	d := NewDialogs(i18n.Vietnamese, time.Minute)

	t.Setenv("PATH", bin+":/usr/bin:/bin")
	if err := d.Open(context.Background(), "-hop dong.pdf"); err != nil {
		t.Fatalf("Open: %v", err)
	}
	deadline := time.Now().Add(dlgBound)
	var got []byte
	for {
		var err error
		if got, err = os.ReadFile(record); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	pidLine, args, _ := strings.Cut(string(got), "\n")
	if args != doc+"\n" {
		t.Errorf("xdg-open got %q, want the absolute path %q", args, doc)
	}
	pid, err := strconv.Atoi(pidLine)
	if err != nil {
		t.Fatalf("the stand-in's record %q: %v", got, err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("the stand-in xdg-open (pid %d) is gone: Open waited for it? %v", pid, err)
	}
	// Release the stand-in and see it reaped, so that it does not outlive
	// the test.
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in xdg-open (pid %d) still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := d.Open(context.Background(), filepath.Join(work, "missing.pdf")); err == nil || !strings.Contains(err.Error(), "missing.pdf") {
		t.Errorf("Open of a missing file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Open(ctx, doc); err != context.Canceled {
		t.Errorf("Open with a cancelled ctx: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	err = d.Open(context.Background(), doc)
	if err == nil || !strings.Contains(err.Error(), "xdg-open") || !strings.Contains(err.Error(), "xdg-utils") {
		t.Errorf("Open without xdg-open: %v, want an error naming xdg-open and xdg-utils", err)
	}
}
