//go:build linux

package agent

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/p11fault"
	"github.com/kyso-vn/kyso/internal/xvfbtest"
	"github.com/kyso-vn/kyso/token"
)

// These tests drive the real desktop dialogs: the zenity prompter runs the
// zenity program on a private Xvfb display, xdotool finds the window and
// types into it as a user would, and xwd takes a screenshot of what the
// user sees (internal/xvfbtest). A missing program fails the test, naming
// the Debian package that provides it.

// startXvfb gives the test a private display. The prompter's dialogs are
// small: a smaller screen than the file chooser needs keeps the
// screenshots small.
func startXvfb(t *testing.T) {
	t.Helper()
	xvfbtest.Start(t, xvfbtest.Options{Width: 1024, Height: 768})
}

// waitDialog waits for the prompter's dialog window and returns its id.
func waitDialog(ctx context.Context, t *testing.T) string {
	t.Helper()
	return xvfbtest.WaitWindow(ctx, t, i18n.Vietnamese.T("prompt.title"))
}

// theDialog returns the one dialog program running and the value of its
// option --name (--text, --title), which fails the test when the dialog
// was not given it.
func theDialog(t *testing.T) (xvfbtest.Proc, func(name string) string) {
	t.Helper()
	p := xvfbtest.TheDialog(t)
	opt := func(name string) string {
		v, ok := p.Opt(name)
		if !ok {
			t.Fatalf("the dialog has no %s option: %q", name, p.Args)
		}
		return v
	}
	return p, opt
}

// screenshotDialog saves the screen as name.png once the dialog's window
// is drawn, and fails the test when it was not: a drawn dialog (text,
// entry, buttons) has many colours, an undrawn one is a flat rectangle.
func screenshotDialog(ctx context.Context, t *testing.T, wid, name string) {
	t.Helper()
	img, rect := xvfbtest.Screenshot(ctx, t, wid, name)
	if n, _, _ := xvfbtest.InkStats(img, rect); n <= 10 {
		t.Fatalf("the dialog window %v holds %d colours: it was not drawn", rect, n)
	}
	if all, _, _ := xvfbtest.InkStats(img, img.Bounds()); all <= 10 {
		t.Fatalf("the screen holds %d colours", all)
	}
}

// typeInto focuses the window and types text then presses key, as a user
// would: through XTEST, as GTK ignores xdotool's synthetic --window events.
func typeInto(ctx context.Context, t *testing.T, wid, text, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, xvfbtest.Bound)
	defer cancel()
	xvfbtest.Xdo(ctx, t, "windowfocus", "--sync", wid)
	if text != "" {
		xvfbtest.Xdo(ctx, t, "type", "--delay", "20", text)
	}
	xvfbtest.Xdo(ctx, t, "key", key)
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
	xvfbtest.CleanupCall(t, "SignPDF", cancel, ended)

	wid := waitDialog(ctx, t)
	p, opt := theDialog(t)
	t.Logf("dialog: pid %d, window %s, %s", p.PID, wid, strings.Join(p.Args[:2], " "))
	if !slices.Contains(p.Args, "--entry") || !slices.Contains(p.Args, "--hide-text") {
		t.Errorf("the PIN dialog is not a hidden entry: %q", p.Args)
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
	case <-time.After(xvfbtest.Bound):
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
	if procs := xvfbtest.Dialogs(t); len(procs) != 0 {
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
		xvfbtest.CleanupCall(t, "ApproveOrigin", cancel, ended)

		wid := waitDialog(ctx, t)
		p, opt := theDialog(t)
		if !slices.Contains(p.Args, "--question") || !slices.Contains(p.Args, "--default-cancel") {
			t.Errorf("the approval dialog is not a question with deny as the default: %q", p.Args)
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
		case <-time.After(xvfbtest.Bound):
			t.Fatalf("%s: ApproveOrigin did not return", key)
		}
		if procs := xvfbtest.Dialogs(t); len(procs) != 0 {
			t.Fatalf("%s: dialogs still running: %+v", key, procs)
		}
	}
}
