//go:build linux

package tray

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ShowText shows text in the zenity program's text window: scrollable,
// read-only, in a monospaced font because the verification report aligns
// its columns with spaces. The text goes in on standard input, which the
// window shows as plain text (no markup, no escapes), so signer and file
// names from the document show as they are. Closing the window (its
// button, Escape, the window's close box) is how the user is done with
// it: nil, not a cancel. It asks nothing, so the dialog timeout does not
// close it: it stays until closed or ctx ends.
func (d *ZenityDialogs) ShowText(ctx context.Context, title, text string) error {
	bin, err := exec.LookPath("zenity")
	if err != nil {
		return fmt.Errorf("tray: the report window needs the zenity program (Debian package zenity): %w", err)
	}
	return d.runUntimed(ctx, func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, bin, textInfoArgs(d, title)...)
		cmd.Stdin = strings.NewReader(cleanText(text))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		// Killed at ctx's end, zenity might leave a helper holding its
		// stderr; Wait must not wait for that one.
		cmd.WaitDelay = 5 * time.Second
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return nil // closed: Escape, the close box or the cancel button
		}
		if err != nil {
			return fmt.Errorf("zenity --text-info: %w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return nil
	})
}

// textInfoArgs are the zenity program's arguments for ShowText. The
// title is joined to its option so that no title can be read as another
// option.
func textInfoArgs(d *ZenityDialogs, title string) []string {
	return []string{
		"--text-info",
		"--title=" + cleanLine(title),
		"--width=900", "--height=560",
		"--font=monospace",
		"--ok-label=" + d.language().T("tray.dialog.close"),
		"--cancel-label=" + d.language().T("tray.dialog.cancel"),
	}
}

// Open opens path with xdg-open, the desktop's default application.
func (d *ZenityDialogs) Open(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	abs, err := absPath(path)
	if err != nil {
		return err
	}
	return startOpener(abs, "xdg-open", "Debian package xdg-utils", abs)
}

// detach puts the opener in a session of its own, so that the Ctrl-C of a
// terminal running kyso, sent to kyso's process group, does not close the
// document the user opened.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
