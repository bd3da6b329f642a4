package tray

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/zenity"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// These tests cover what the dialogs decide without a display: the lines
// of a choice and the IDs they map back to, the file filters, the quoting
// of text for the zenity program and how a dialog's end becomes an error.
// dialogs_xvfb_test.go shows the real windows.

func TestDialogChoiceItems(t *testing.T) {
	options := []Choice{
		{ID: "vi", Label: "Tiếng Việt"},
		{ID: "en", Label: "English"},
		{ID: "cert-a", Label: "Nguyễn Văn An"},
		{ID: "cert-b", Label: "Nguyễn Văn An"},     // same holder, two certificates
		{ID: "cert-c", Label: "Nguyễn Văn An"},     // and a third
		{ID: "cert-d", Label: "Nguyễn Văn An (2)"}, // a label that looks like a numbered one
		{ID: "no-label", Label: ""},
		{ID: "multi", Label: "a\nb\u202Ec"},
	}
	items := choiceItems(options)
	want := []string{
		"Tiếng Việt", "English",
		"Nguyễn Văn An", "Nguyễn Văn An (2)", "Nguyễn Văn An (3)", "Nguyễn Văn An (2) (2)",
		"no-label",
		"a\uFFFDb\uFFFDc", // no second line, no reordering
	}
	if !slices.Equal(items, want) {
		t.Fatalf("items:\n got %q\nwant %q", items, want)
	}
	for i, it := range items {
		id, ok := choiceID(options, items, it)
		if !ok || id != options[i].ID {
			t.Errorf("line %q maps to %q, %v; want %q", it, id, ok, options[i].ID)
		}
	}
	for _, got := range []string{"", "Nguyễn Văn", "nguyễn văn an"} {
		if id, ok := choiceID(options, items, got); ok {
			t.Errorf("answer %q maps to %q; want no option", got, id)
		}
	}
}

// TestDialogChoiceItemLeadingDash: the zenity program would take a line
// starting with "-" for an option and fail; the line keeps its text
// behind an invisible joiner and still maps back.
func TestDialogChoiceItemLeadingDash(t *testing.T) {
	options := []Choice{{ID: "dash", Label: "-Nguyễn"}, {ID: "help", Label: "--help"}}
	items := choiceItems(options)
	for i, it := range items {
		if usesZenityProgram() {
			if it != "\u2060"+options[i].Label {
				t.Errorf("line %q, want a word joiner before %q", it, options[i].Label)
			}
		} else if it != options[i].Label {
			t.Errorf("line %q, want %q as is", it, options[i].Label)
		}
		if id, _ := choiceID(options, items, it); id != options[i].ID {
			t.Errorf("line %q maps to %q", it, id)
		}
	}
}

func TestDialogChooseRefusesNoOptions(t *testing.T) {
	d := NewDialogs(i18n.Vietnamese, time.Minute)
	for _, options := range [][]Choice{nil, {}} {
		// Refused before any window: this needs no display.
		if id, err := d.Choose(context.Background(), "kyso", "Chọn", options); err == nil || id != "" {
			t.Errorf("Choose(%v) = %q, %v; want an error", options, id, err)
		}
	}
}

func TestDialogFileFilters(t *testing.T) {
	tests := []struct {
		filter   FileFilter
		lang     i18n.Lang
		name     string
		patterns []string
	}{
		{FilterPDF, i18n.Vietnamese, "Tệp PDF", []string{"*.pdf"}},
		{FilterPDF, i18n.English, "PDF files", []string{"*.pdf"}},
		{FilterImage, i18n.Vietnamese, "Ảnh (PNG, JPEG)", []string{"*.png", "*.jpg", "*.jpeg"}},
		{FilterImage, i18n.English, "Images (PNG, JPEG)", []string{"*.png", "*.jpg", "*.jpeg"}},
	}
	for _, tt := range tests {
		fs, err := tt.filter.zenityFilters(tt.lang)
		if err != nil {
			t.Fatalf("filter %d: %v", tt.filter, err)
		}
		if len(fs) != 1 {
			t.Fatalf("filter %d: %d filters, want 1", tt.filter, len(fs))
		}
		f := fs[0]
		if f.Name != tt.name || !slices.Equal(f.Patterns, tt.patterns) || !f.CaseFold {
			t.Errorf("filter %d in %s = %+v; want %q %q folding case", tt.filter, tt.lang, f, tt.name, tt.patterns)
		}
	}
	// The zenity library folds the patterns in place: every call must
	// hand out fresh ones.
	a, _ := FilterPDF.zenityFilters(i18n.Vietnamese)
	a[0].Patterns[0] = "*.[pP][dD][fF]"
	if b, _ := FilterPDF.zenityFilters(i18n.Vietnamese); b[0].Patterns[0] != "*.pdf" {
		t.Errorf("the filters share their patterns: %q", b[0].Patterns)
	}
	if _, err := FileFilter(99).zenityFilters(i18n.Vietnamese); err == nil {
		t.Error("an unknown filter is accepted")
	}
	if _, err := NewDialogs(i18n.Vietnamese, time.Minute).PickFile(context.Background(), "kyso", FileFilter(-1)); err == nil {
		t.Error("PickFile accepts an unknown filter")
	}
}

func TestDialogTextQuoting(t *testing.T) {
	hostile := "Ký: <b>Nguyễn</b> & \"An\" 'x' \\n C:\\tep_moi.pdf"
	list, entry := zenityListText(hostile), zenityEntryText(hostile)
	if usesZenityProgram() {
		// Markup characters are entities, backslashes doubled (the zenity
		// program halves them before parsing the markup).
		if want := "Ký: &lt;b&gt;Nguyễn&lt;/b&gt; &amp; &#34;An&#34; &#39;x&#39; \\\\n C:\\\\tep_moi.pdf"; list != want {
			t.Errorf("list text\n got %q\nwant %q", list, want)
		}
		if want := "Ký: <b>Nguyễn</b> & \"An\" 'x' \\\\n C:\\\\tep_moi.pdf"; entry != want {
			t.Errorf("entry text\n got %q\nwant %q", entry, want)
		}
	} else if list != hostile || entry != hostile {
		t.Errorf("Windows and macOS take the text as is: list %q, entry %q", list, entry)
	}

	in := "Chữ ký hợp lệ\r\nNgười ký:\tNguyễn Văn An\x00\x1b[31m\u202Egpj.exe\u2028x\xff"
	if got, want := cleanText(in), "Chữ ký hợp lệ\nNgười ký:\tNguyễn Văn An\uFFFD\uFFFD[31m\uFFFDgpj.exe\uFFFDx\uFFFD"; got != want {
		t.Errorf("cleanText\n got %q\nwant %q", got, want)
	}
	if got, want := cleanLine("a\nb\tc"), "a\uFFFDb c"; got != want {
		t.Errorf("cleanLine = %q, want %q", got, want)
	}
}

// TestDialogResult: how a dialog's end maps to the Dialogs errors.
func TestDialogResult(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	expired, cancel2 := context.WithDeadline(live, time.Unix(1, 0))
	defer cancel2()
	// A dialog cut by its own timeout: the caller's ctx lives on.
	timedOut, cancel3 := context.WithDeadline(live, time.Unix(1, 0))
	defer cancel3()
	other := errors.New("zenity: exit status 255: cannot open display")

	tests := []struct {
		name      string
		ctx, dctx context.Context
		err       error
		check     func(error) bool
	}{
		{"answered", live, live, nil, func(e error) bool { return e == nil }},
		{"cancel button", live, live, zenity.ErrCanceled, func(e error) bool { return e == agent.ErrUserCancelled }},
		{"timeout", live, timedOut, context.DeadlineExceeded, isTimeout},
		{"timeout racing an answer", live, timedOut, nil, isTimeout},
		{"timeout racing a cancel", live, timedOut, zenity.ErrCanceled, isTimeout},
		{"ctx cancelled", cancelled, cancelled, context.Canceled, func(e error) bool { return e == context.Canceled }},
		{"ctx cancelled racing an answer", cancelled, cancelled, nil, func(e error) bool { return e == context.Canceled }},
		{"ctx cancelled racing a cancel", cancelled, cancelled, zenity.ErrCanceled, func(e error) bool { return e == context.Canceled }},
		{"ctx deadline", expired, expired, context.DeadlineExceeded, func(e error) bool { return e == context.DeadlineExceeded }},
		{"dialog failed", live, live, other, func(e error) bool {
			code, _ := agent.CodeOf(e)
			return code == agent.CodeInternal && errors.Is(e, other)
		}},
		{"agent error passes", live, live, agent.ErrUserCancelled, func(e error) bool { return e == agent.ErrUserCancelled }},
	}
	for _, tt := range tests {
		if got := dialogResult(tt.ctx, tt.dctx, tt.err); !tt.check(got) {
			t.Errorf("%s: dialogResult(%v) = %v", tt.name, tt.err, got)
		}
	}
}

func isTimeout(err error) bool {
	var ae *agent.Error
	return errors.As(err, &ae) && ae.Code == agent.CodeDialogTimeout
}

// TestDialogRunBounds: run gives each dialog a context cut at the dialog
// timeout, and a dialog that ends when its context does (as the zenity
// library's do) reports a timeout, or the caller's own end.
func TestDialogRunBounds(t *testing.T) {
	waitForEnd := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err() // what the zenity library returns for a dialog it closed
	}
	d := NewDialogs(i18n.Vietnamese, 10*time.Millisecond)
	if err := d.run(context.Background(), waitForEnd); !isTimeout(err) {
		t.Errorf("a dialog nobody answers: %v, want DIALOG_TIMEOUT", err)
	}
	if code, _ := agent.CodeOf(d.run(context.Background(), waitForEnd)); code != agent.CodeDialogTimeout {
		t.Errorf("agent.CodeOf of the timeout = %s", code)
	}

	d = NewDialogs(i18n.Vietnamese, 0) // no timeout: only ctx ends it
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- d.run(ctx, func(dctx context.Context) error {
			if _, ok := dctx.Deadline(); ok {
				t.Error("a dialog without timeout has a deadline")
			}
			close(started)
			return waitForEnd(dctx)
		})
	}()
	<-started
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("ctx cancelled: %v, want context.Canceled", err)
	}

	d = NewDialogs(i18n.Vietnamese, time.Hour)
	err := d.run(context.Background(), func(context.Context) error { return zenity.ErrCanceled })
	if err != agent.ErrUserCancelled {
		t.Errorf("cancel: %v", err)
	}
	if code, _ := agent.CodeOf(err); code != agent.CodeUserCancelled {
		t.Errorf("agent.CodeOf of the cancel = %s", code)
	}
}

func TestDialogLanguage(t *testing.T) {
	d := NewDialogs("fr", 0)
	if got := d.language(); got != i18n.Vietnamese {
		t.Errorf("an unknown language gives %q, want Vietnamese", got)
	}
	d.SetLanguage(i18n.English)
	if got := d.language(); got != i18n.English {
		t.Errorf("after SetLanguage(en): %q", got)
	}
	for _, key := range []string{"tray.dialog.choose", "tray.dialog.ok", "tray.dialog.cancel", "tray.dialog.close", "tray.dialog.filter.pdf", "tray.dialog.filter.image"} {
		if !i18n.Has(key) {
			t.Errorf("no message %s", key)
		}
		if vi, en := i18n.Vietnamese.T(key), i18n.English.T(key); strings.TrimSpace(vi) == "" || vi == en {
			t.Errorf("%s: vi %q, en %q", key, vi, en)
		}
	}
}
