//go:build linux

package xvfbtest

import (
	"context"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInkStats: the background is the most common colour; everything else
// is ink, counted within the rectangle as far as it lies on the image.
func TestInkStats(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 10, 10))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.Set(1, 1, color.Black)
	img.Set(2, 2, color.RGBA{R: 0xff, A: 0xff})
	img.Set(9, 9, color.Black)
	if c, ink, area := InkStats(img, image.Rect(0, 0, 5, 5)); c != 3 || ink != 2 || area != 25 {
		t.Errorf("InkStats(0,0-5,5) = %d colours, %d ink, %d area; want 3, 2, 25", c, ink, area)
	}
	if c, ink, area := InkStats(img, image.Rect(5, 5, 20, 20)); c != 2 || ink != 1 || area != 25 {
		t.Errorf("InkStats(5,5-20,20) = %d colours, %d ink, %d area; want 2, 1, 25", c, ink, area)
	}
}

func TestProcOpt(t *testing.T) {
	p := Proc{Args: []string{"zenity", "--title", "kyso — Ký số", "--text=a=b", "--last"}}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"--title", "kyso — Ký số", true},
		{"--text", "a=b", true},
		{"--last", "", false}, // nothing follows
		{"--width", "", false},
	} {
		if got, ok := p.Opt(tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("Opt(%s) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestStartShowsADialog: on the display Start gives the test, a zenity
// window is found by its title, listed with its arguments, screenshot at
// the screen's size once drawn, and killed by CleanupCall.
func TestStartShowsADialog(t *testing.T) {
	home := os.Getenv("HOME")
	display := Start(t, Options{Width: 800, Height: 600})
	if os.Getenv("DISPLAY") != display || !strings.HasPrefix(display, ":") {
		t.Errorf("DISPLAY %q, Start returned %q", os.Getenv("DISPLAY"), display)
	}
	if h := os.Getenv("HOME"); h == home || !strings.HasPrefix(h, os.TempDir()) {
		t.Errorf("HOME %q is not a temporary directory of the test", h)
	}

	const title = "xvfbtest — thử"
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	cmd := exec.CommandContext(ctx, "zenity", "--info", "--title", title, "--text=Xin chào, thế giới")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(ended)
		_ = cmd.Wait()
	}()
	CleanupCall(t, "zenity", cancel, ended)

	wid := WaitWindow(ctx, t, title)
	p := TheDialog(t)
	if p.PID != cmd.Process.Pid || filepath.Base(p.Args[0]) != "zenity" {
		t.Errorf("the dialog is pid %d %q, want pid %d", p.PID, p.Args, cmd.Process.Pid)
	}
	if got, _ := p.Opt("--text"); got != "Xin chào, thế giới" {
		t.Errorf("--text %q", got)
	}
	img, rect := Screenshot(ctx, t, wid, "xvfbtest-info")
	if img.Bounds() != image.Rect(0, 0, 800, 600) {
		t.Errorf("the screenshot is %v, want the 800×600 screen", img.Bounds())
	}
	if !rect.In(img.Bounds()) {
		t.Errorf("the window %v is not on the screen %v", rect, img.Bounds())
	}
	if colours, ink, area := InkStats(img, rect); colours <= 10 || ink*100 <= area {
		t.Errorf("the window looks blank: %d colours, %d of %d pixels not background", colours, ink, area)
	}
}
