//go:build linux

package tray

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/xvfbtest"
)

// These tests show the tray's dialogs for real: the zenity program on a
// private Xvfb display, found and driven with xdotool as a user would,
// screenshot with xwd (internal/xvfbtest). A missing program fails the
// test, naming the Debian package that provides it.

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
	xvfbtest.Start(t, xvfbtest.Options{})
	d := NewDialogs(i18n.Vietnamese, 10*time.Minute)
	const title = "kyso — Kết quả kiểm tra chữ ký"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		done <- d.ShowText(ctx, title, reportText)
	}()
	xvfbtest.CleanupCall(t, "ShowText", cancel, ended)

	wid := xvfbtest.WaitWindow(ctx, t, title)
	p := xvfbtest.TheDialog(t)
	t.Logf("report window %s: pid %d %q", wid, p.PID, p.Args)
	if !slices.Contains(p.Args, "--text-info") || !slices.Contains(p.Args, "--font=monospace") {
		t.Errorf("the report is not a monospaced text window: %q", p.Args)
	}
	if got, _ := p.Opt("--title"); got != title {
		t.Errorf("--title %q", got)
	}
	if got, _ := p.Opt("--ok-label"); got != "Đóng" {
		t.Errorf("--ok-label %q, want Đóng", got)
	}

	img, rect := xvfbtest.Screenshot(ctx, t, wid, "tray-report-window")
	colours, ink, area := xvfbtest.InkStats(img, rect)
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
	case <-time.After(xvfbtest.Bound):
		t.Fatal("ShowText did not return after ctx was cancelled")
	}
	if procs := xvfbtest.Dialogs(t); len(procs) != 0 {
		t.Errorf("the report window is still running: %+v", procs)
	}
}

// TestShowTextDialogShowsPlainText: the text window shows what ShowText
// feeds it exactly: no Pango markup, no backslash escapes, no entities.
// The window's text cannot be read from the screen, so the same window,
// made editable, prints its buffer when its own timeout closes it.
func TestShowTextDialogShowsPlainText(t *testing.T) {
	xvfbtest.Start(t, xvfbtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), xvfbtest.Bound)
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
	xvfbtest.Start(t, xvfbtest.Options{})
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
		ctx, cancel := context.WithTimeout(context.Background(), xvfbtest.Bound)
		done := make(chan error, 1)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			done <- tc.show(ctx)
		}()
		xvfbtest.CleanupCall(t, tc.name, cancel, ended)

		// The dialog program runs until the timeout kills it: watch for
		// it, to know the timeout closed a dialog that was shown.
		var seen []xvfbtest.Proc
		var err error
	wait:
		for {
			for _, p := range xvfbtest.Dialogs(t) {
				if title, _ := p.Opt("--title"); title == tc.title && slices.Contains(p.Args, tc.kind) && !slices.ContainsFunc(seen, func(q xvfbtest.Proc) bool { return q.PID == p.PID }) {
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
		if procs := xvfbtest.Dialogs(t); len(procs) != 0 {
			t.Errorf("%s: dialogs still running after the timeout: %+v", tc.name, procs)
		}
	}
}

// TestPickFileDialogUnderXvfb: the file chooser offers PDF files, and a
// path typed into its location bar (Ctrl+L) is what PickFile returns.
func TestPickFileDialogUnderXvfb(t *testing.T) {
	xvfbtest.Start(t, xvfbtest.Options{})
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
	xvfbtest.CleanupCall(t, "PickFile", cancel, ended)

	wid := xvfbtest.WaitWindow(ctx, t, title)
	p := xvfbtest.TheDialog(t)
	t.Logf("file chooser %s: pid %d %q", wid, p.PID, p.Args)
	if !slices.Contains(p.Args, "--file-selection") || slices.Contains(p.Args, "--save") {
		t.Errorf("not a file chooser for an existing file: %q", p.Args)
	}
	if got, _ := p.Opt("--file-filter"); got != "Tệp PDF|*.[pP][dD][fF]" {
		t.Errorf("--file-filter %q", got)
	}
	xvfbtest.Screenshot(ctx, t, wid, "tray-pick-file")

	bctx, bcancel := context.WithTimeout(ctx, xvfbtest.Bound)
	defer bcancel()
	xvfbtest.Xdo(bctx, t, "windowfocus", "--sync", wid)
	xvfbtest.Xdo(bctx, t, "key", "ctrl+l")
	xvfbtest.Xdo(bctx, t, "type", "--delay", "20", want)
	xvfbtest.Screenshot(ctx, t, wid, "tray-pick-file-typed")
	xvfbtest.Xdo(bctx, t, "key", "Return")
	select {
	case a := <-done:
		if a.err != nil || a.path != want {
			t.Errorf("PickFile = %q, %v; want %q", a.path, a.err, want)
		}
	case <-time.After(xvfbtest.Bound):
		t.Fatal("PickFile did not return after a path was typed")
	}
}

// TestChooseDialogUnderXvfb: the list shows one line per option, lines
// with the same label numbered, and the line the user picks with the
// keyboard maps back to its option's ID, also for a label that starts
// with "-" and one with markup characters.
func TestChooseDialogUnderXvfb(t *testing.T) {
	xvfbtest.Start(t, xvfbtest.Options{})
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
		xvfbtest.CleanupCall(t, "Choose", cancel, ended)

		wid := xvfbtest.WaitWindow(ctx, t, title)
		p := xvfbtest.TheDialog(t)
		if i == 0 {
			t.Logf("list %s: pid %d %q", wid, p.PID, p.Args)
			if got, _ := p.Opt("--text"); got != "Chọn chứng thư số để ký «hop-dong &lt;01&gt;.pdf»:" {
				t.Errorf("--text %q", got)
			}
			for _, line := range []string{"Nguyễn Văn An", "Nguyễn Văn An (2)", "\u2060-Trần <b>Bình</b> & Co"} {
				if !slices.Contains(p.Args, line) {
					t.Errorf("the list lacks the line %q: %q", line, p.Args)
				}
			}
			for opt, want := range map[string]string{"--ok-label": "Chọn", "--cancel-label": "Hủy"} {
				if got, _ := p.Opt(opt); got != want {
					t.Errorf("%s %q, want %q", opt, got, want)
				}
			}
			xvfbtest.Screenshot(ctx, t, wid, "tray-choose-window")
		}
		bctx, bcancel := context.WithTimeout(ctx, xvfbtest.Bound)
		xvfbtest.Xdo(bctx, t, "windowfocus", "--sync", wid)
		xvfbtest.Xdo(bctx, t, append([]string{"key", "--delay", "100"}, strings.Fields(tc.keys)...)...)
		bcancel()
		select {
		case a := <-done:
			if a.err != nil || a.id != tc.want {
				t.Errorf("keys %s: Choose = %q, %v; want %q", tc.keys, a.id, a.err, tc.want)
			}
		case <-time.After(xvfbtest.Bound):
			t.Fatalf("keys %s: Choose did not return", tc.keys)
		}
	}
}

// TestAskTextDialogUnderXvfb: the entry proposes the initial text, which
// the user edits; AskText returns what the entry holds on Enter.
func TestAskTextDialogUnderXvfb(t *testing.T) {
	xvfbtest.Start(t, xvfbtest.Options{})
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
	xvfbtest.CleanupCall(t, "AskText", cancel, ended)

	wid := xvfbtest.WaitWindow(ctx, t, title)
	p := xvfbtest.TheDialog(t)
	if got, _ := p.Opt("--text"); got != `Địa chỉ máy chủ dấu thời gian (vd. http://tsa.example.vn\\tsa):` {
		t.Errorf("--text %q: the backslash is not doubled", got)
	}
	if got, _ := p.Opt("--entry-text"); got != "http://ca.gov.vn/tsa" {
		t.Errorf("--entry-text %q", got)
	}
	xvfbtest.Screenshot(ctx, t, wid, "tray-ask-text")
	bctx, bcancel := context.WithTimeout(ctx, xvfbtest.Bound)
	defer bcancel()
	xvfbtest.Xdo(bctx, t, "windowfocus", "--sync", wid)
	xvfbtest.Xdo(bctx, t, "key", "End")
	xvfbtest.Xdo(bctx, t, "type", "--delay", "20", "/v2")
	xvfbtest.Xdo(bctx, t, "key", "Return")
	select {
	case a := <-done:
		if a.err != nil || a.text != "http://ca.gov.vn/tsa/v2" {
			t.Errorf("AskText = %q, %v; want the edited text", a.text, a.err)
		}
	case <-time.After(xvfbtest.Bound):
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
	deadline := time.Now().Add(xvfbtest.Bound)
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
