//go:build !linux

package tray

import (
	"context"
	"errors"
	"os/exec"
	"runtime"

	"github.com/ncruces/zenity"

	"github.com/kyso-vn/kyso/agent"
)

// ShowText shows text in an information box: a message box on Windows, a
// dialog on macOS, the zenity program elsewhere (with --no-markup, so the
// text shows as it is). Closing it is how the user is done with it: nil,
// not a cancel. It asks nothing, so the dialog timeout does not
// close it: it stays until closed or ctx ends.
func (d *ZenityDialogs) ShowText(ctx context.Context, title, text string) error {
	err := d.runUntimed(ctx, func(ctx context.Context) error {
		return zenity.Info(cleanText(text),
			zenity.Title(cleanLine(title)),
			zenity.OKLabel(d.language().T("tray.dialog.close")),
			zenity.NoIcon,
			zenity.Context(ctx))
	})
	if errors.Is(err, agent.ErrUserCancelled) {
		return nil // closed rather than confirmed: the same for a report
	}
	return err
}

// Open opens path in the default application: through the shell's file
// protocol handler on Windows, open on macOS, xdg-open elsewhere.
func (d *ZenityDialogs) Open(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	abs, err := absPath(path)
	if err != nil {
		return err
	}
	switch runtime.GOOS {
	case "windows":
		return startOpener(abs, "rundll32", "part of Windows", "url.dll,FileProtocolHandler", abs)
	case "darwin":
		return startOpener(abs, "open", "part of macOS", abs)
	}
	return startOpener(abs, "xdg-open", "package xdg-utils", abs)
}

// detach does nothing here: Windows has no process groups to leave, and
// macOS's open returns at once.
func detach(*exec.Cmd) {}
