package tray

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/ncruces/zenity"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// Choice is one option of Dialogs.Choose.
type Choice struct {
	// ID is what Choose returns when the user picks this option.
	ID string
	// Label is what the user sees.
	Label string
}

// FileFilter is the kind of file Dialogs.PickFile offers.
type FileFilter int

// File filters of PickFile. Extensions match in any case: scanners and
// Windows machines write "SCAN.PDF" and "ANH.JPG".
const (
	FilterPDF   FileFilter = iota // *.pdf
	FilterImage                   // *.png, *.jpg, *.jpeg
)

// Dialogs are the tray's windows. Every method blocks until the user
// answers, ctx ends, or the dialog timeout passes. A cancel (button or
// closed window) returns agent.ErrUserCancelled; a timeout returns an
// *agent.Error with Code agent.CodeDialogTimeout (a timeout is a cancel,
// the tray says so); ctx ending returns ctx's error.
type Dialogs interface {
	// PickFile lets the user pick an existing file of the filter's kind
	// and returns its path.
	PickFile(ctx context.Context, title string, filter FileFilter) (string, error)
	// Choose shows text and the options' labels and returns the ID of
	// the option picked.
	Choose(ctx context.Context, title, text string, options []Choice) (string, error)
	// AskText asks for one line of text, proposing initial.
	AskText(ctx context.Context, title, text, initial string) (string, error)
	// ShowText shows a long, scrollable, read-only text (the
	// verification report). Closing it is the expected answer: nil. The
	// dialog timeout does not apply: it asks nothing.
	ShowText(ctx context.Context, title, text string) error
	// Message shows a short information or warning box with one button.
	Message(ctx context.Context, title, text string, warning bool) error
	// Open opens a file or folder in the desktop's default application
	// and returns once that is started, without waiting for it to exit.
	Open(ctx context.Context, path string) error
}

// ZenityDialogs are the Dialogs of the desktop: native dialogs through
// github.com/ncruces/zenity (Win32 on Windows, osascript on macOS, the
// zenity program elsewhere), the zenity program's text window for
// ShowText on Linux, and the desktop's opener for Open.
//
// Every text shown is plain text: strings that come from documents or
// certificates (file and signer names) cannot draw markup, expand escapes
// or reorder lines with control and bidi characters.
type ZenityDialogs struct {
	// lang changes when the user picks another language in the menu.
	lang    atomic.Pointer[i18n.Lang]
	timeout time.Duration
}

var _ Dialogs = (*ZenityDialogs)(nil)

// NewDialogs returns the tray's dialogs with their buttons in lang. Every
// dialog closes after timeout (none when 0), as a cancel would.
func NewDialogs(lang i18n.Lang, timeout time.Duration) *ZenityDialogs {
	d := &ZenityDialogs{timeout: timeout}
	d.SetLanguage(lang)
	return d
}

// SetLanguage makes the next dialogs speak lang (Vietnamese unless
// English).
func (d *ZenityDialogs) SetLanguage(lang i18n.Lang) {
	if lang != i18n.English {
		lang = i18n.Vietnamese
	}
	d.lang.Store(&lang)
}

func (d *ZenityDialogs) language() i18n.Lang { return *d.lang.Load() }

// PickFile shows the system's file chooser with filter's files.
func (d *ZenityDialogs) PickFile(ctx context.Context, title string, filter FileFilter) (string, error) {
	filters, err := filter.zenityFilters(d.language())
	if err != nil {
		return "", err
	}
	var path string
	err = d.run(ctx, func(ctx context.Context) error {
		var err error
		path, err = zenity.SelectFile(zenity.Title(cleanLine(title)), filters, zenity.Context(ctx))
		return err
	})
	if err != nil {
		return "", err
	}
	if path == "" {
		return "", agent.ErrUserCancelled // nothing chosen
	}
	return path, nil
}

// Choose lists the options' labels, the first one selected where the
// platform allows (Windows and macOS), and maps the label picked back to
// its option's ID. Options with the same label are told apart by a
// number, so that each line leads to exactly one ID. An empty list is
// refused: there would be nothing to answer.
func (d *ZenityDialogs) Choose(ctx context.Context, title, text string, options []Choice) (string, error) {
	if len(options) == 0 {
		return "", errors.New("tray: Choose needs at least one option")
	}
	items := choiceItems(options)
	var got string
	err := d.run(ctx, func(ctx context.Context) error {
		var err error
		got, err = zenity.List(zenityListText(cleanText(text)), items,
			zenity.Title(cleanLine(title)),
			zenity.OKLabel(d.language().T("tray.dialog.choose")),
			zenity.CancelLabel(d.language().T("tray.dialog.cancel")),
			zenity.DefaultItems(items[0]),
			zenity.DisallowEmpty(),
			zenity.Width(560), zenity.Height(360),
			zenity.Context(ctx))
		return err
	})
	if err != nil {
		return "", err
	}
	id, ok := choiceID(options, items, got)
	if !ok {
		// The zenity program answers "" when OK is pressed with no line
		// selected (DisallowEmpty works on Windows and macOS only): the
		// user chose nothing.
		return "", agent.ErrUserCancelled
	}
	return id, nil
}

// AskText asks for one line, proposing initial, and returns what the user
// typed, possibly empty.
func (d *ZenityDialogs) AskText(ctx context.Context, title, text, initial string) (string, error) {
	var got string
	err := d.run(ctx, func(ctx context.Context) error {
		var err error
		got, err = zenity.Entry(zenityEntryText(cleanText(text)),
			zenity.Title(cleanLine(title)),
			zenity.EntryText(cleanLine(initial)),
			zenity.OKLabel(d.language().T("tray.dialog.ok")),
			zenity.CancelLabel(d.language().T("tray.dialog.cancel")),
			zenity.Width(480),
			zenity.Context(ctx))
		return err
	})
	if err != nil {
		return "", err
	}
	return got, nil
}

// Message shows text in an information box, or a warning box when
// warning is set. The text wraps (zenity.NoWrap is not used) so that a
// long file name cannot widen the box past the screen. Closing the box
// instead of pressing its button is a cancel, as for every dialog; the
// caller of an information box may well ignore it.
func (d *ZenityDialogs) Message(ctx context.Context, title, text string, warning bool) error {
	return d.run(ctx, func(ctx context.Context) error {
		show := zenity.Info
		if warning {
			show = zenity.Warning
		}
		// On Linux zenity.Info and zenity.Warning pass --no-markup and the
		// zenity program then neither parses markup nor expands escapes,
		// so the text needs no quoting.
		return show(cleanText(text),
			zenity.Title(cleanLine(title)),
			zenity.OKLabel(d.language().T("tray.dialog.close")),
			zenity.Context(ctx))
	})
}

// bound derives the context of one dialog: ctx, cut at the dialog
// timeout.
func (d *ZenityDialogs) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.timeout > 0 {
		return context.WithTimeout(ctx, d.timeout)
	}
	return context.WithCancel(ctx)
}

// run shows one dialog under the dialog timeout and maps how it ended.
func (d *ZenityDialogs) run(ctx context.Context, show func(context.Context) error) error {
	dctx, cancel := d.bound(ctx)
	defer cancel()
	return dialogResult(ctx, dctx, show(dctx))
}

// runUntimed shows a window that asks nothing (a report): it stays until
// the user closes it or ctx ends, however long they read.
func (d *ZenityDialogs) runUntimed(ctx context.Context, show func(context.Context) error) error {
	return dialogResult(ctx, ctx, show(ctx))
}

// dialogResult maps how a dialog shown under dctx (ctx cut at the dialog
// timeout) ended. ctx ending wins over anything else, even an answer that
// raced it: the caller is gone (the tray is quitting) and must not act
// on the answer. dctx ending alone is the dialog timeout. The zenity
// library reports a dialog it closed because its context ended with that
// context's error, not ErrCanceled, so the order matters.
func dialogResult(ctx, dctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case dctx.Err() != nil:
		return &agent.Error{Code: agent.CodeDialogTimeout, Message: "nobody answered the dialog in time", Err: dctx.Err()}
	case err == nil:
		return nil
	case errors.Is(err, zenity.ErrCanceled):
		return agent.ErrUserCancelled
	}
	var ae *agent.Error
	if errors.As(err, &ae) {
		return err
	}
	return &agent.Error{Code: agent.CodeInternal, Message: "the dialog failed", Err: err}
}

// zenityFilters are the file chooser's filters for f, with names in lang.
// Patterns are lower case and folded by the zenity library where the
// platform matches case-sensitively (the GTK file chooser).
func (f FileFilter) zenityFilters(lang i18n.Lang) (zenity.FileFilters, error) {
	switch f {
	case FilterPDF:
		return zenity.FileFilters{{Name: lang.T("tray.dialog.filter.pdf"), Patterns: []string{"*.pdf"}, CaseFold: true}}, nil
	case FilterImage:
		return zenity.FileFilters{{Name: lang.T("tray.dialog.filter.image"), Patterns: []string{"*.png", "*.jpg", "*.jpeg"}, CaseFold: true}}, nil
	}
	return nil, fmt.Errorf("tray: unknown file filter %d", int(f))
}

// choiceItems are the lines Choose shows for options: each label on one
// line (the ID when the label is empty), a label seen before numbered
// " (2)", " (3)"…, so every line is distinct and maps back to one option.
func choiceItems(options []Choice) []string {
	items := make([]string, len(options))
	seen := make(map[string]bool, len(options))
	for i, o := range options {
		base := strings.TrimSpace(cleanLine(o.Label))
		if base == "" {
			base = strings.TrimSpace(cleanLine(o.ID))
		}
		item := base
		for n := 2; seen[item]; n++ {
			item = base + " (" + strconv.Itoa(n) + ")"
		}
		seen[item] = true
		items[i] = zenityListItem(item)
	}
	return items
}

// choiceID is the ID of the option whose line is got.
func choiceID(options []Choice, items []string, got string) (string, bool) {
	for i, it := range items {
		if it == got {
			return options[i].ID, true
		}
	}
	return "", false
}

// usesZenityProgram reports whether the zenity library runs the zenity
// program (or qarma, matedialog), whose command line and GTK labels need
// the quoting below; Windows and macOS dialogs take text as is.
func usesZenityProgram() bool {
	return runtime.GOOS != "windows" && runtime.GOOS != "darwin"
}

// zenityListText prepares the list dialog's text: the zenity program
// expands backslash escapes in it, then parses it as Pango markup, so a
// document named "<b>a</b>\nb" would draw bold text and a fake line.
func zenityListText(s string) string {
	if !usesZenityProgram() {
		return s
	}
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(zenityEntryText(s))) // a Builder does not fail
	return b.String()
}

// zenityEntryText prepares the entry dialog's label: the zenity program
// expands backslash escapes in it (it is not markup), so backslashes are
// doubled to show as themselves.
func zenityEntryText(s string) string {
	if !usesZenityProgram() {
		return s
	}
	return strings.ReplaceAll(s, `\`, `\\`)
}

// zenityListItem prepares one line of the list dialog. The lines are
// plain text, but they are arguments of the zenity program, which takes
// one that starts with "-" for an unknown option and fails; an invisible
// WORD JOINER in front keeps it a line and shows the same text.
func zenityListItem(s string) string {
	if usesZenityProgram() && strings.HasPrefix(s, "-") {
		return "\u2060" + s
	}
	return s
}

// cleanText makes text safe to show as plain text: invalid UTF-8,
// control characters other than newline and tab, and invisible format
// characters (bidi overrides, which could reorder what the user reads)
// become U+FFFD; CRLF line ends become LF.
func cleanText(s string) string {
	return clean(strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\r\n", "\n"), true)
}

// cleanLine is cleanText for one line (titles, list lines, entry text):
// newlines and tabs are replaced too.
func cleanLine(s string) string {
	return clean(strings.ToValidUTF8(s, "\uFFFD"), false)
}

func clean(s string, multiline bool) string {
	return strings.Map(func(r rune) rune {
		switch {
		case multiline && (r == '\n' || r == '\t'):
			return r
		case r == '\t':
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			return '\uFFFD'
		}
		return r
	}, s)
}

// startOpener starts the desktop's opener program name with args and
// reaps it in the background: openers may live as long as the
// application they start (xdg-open's generic fallback does). A missing
// program is an error naming it and where it comes from.
func startOpener(path, name, from string, args ...string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("tray: open %s: %w", path, err)
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("tray: cannot open %s: the %s program is missing (%s): %w", path, name, from, err)
	}
	cmd := exec.Command(bin, args...)
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("tray: open %s with %s: %w", path, name, err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// absPath makes path absolute, so that an opener never reads a relative
// name starting with "-" as an option.
func absPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("tray: open %s: %w", path, err)
	}
	return abs, nil
}
