package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/token"
)

// NewTerminalPrompter returns a Prompter for `kyso serve --headless` on a
// terminal: it prints the same text as the desktop dialogs to out and
// reads answers from in, the PIN without echo when in is a terminal.
// Dialogs take turns; one abandoned by its request (ctx) keeps the
// terminal until its line is entered, and that line is discarded.
func NewTerminalPrompter(in io.Reader, out io.Writer, lang i18n.Lang) Prompter {
	t := &terminalPrompter{in: in, out: out, lang: lang, br: bufio.NewReader(in), turn: make(chan struct{}, 1)}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.tty = f
	}
	return t
}

type terminalPrompter struct {
	in   io.Reader
	out  io.Writer
	lang i18n.Lang
	br   *bufio.Reader
	tty  *os.File
	// turn is held from a question until its answer is read.
	turn chan struct{}
}

type lineResult struct {
	line []byte
	err  error
}

// ask prints text and reads one line (without echo when secret and in is
// a terminal). The reading runs in its own goroutine because a terminal
// read cannot be interrupted; if ctx ends first, the caller gets ctx's
// error and the late answer is wiped.
func (t *terminalPrompter) ask(ctx context.Context, text string, secret bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case t.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fmt.Fprint(t.out, text)
	res := make(chan lineResult, 1)
	go func() {
		defer func() { <-t.turn }()
		var r lineResult
		if secret && t.tty != nil {
			r.line, r.err = term.ReadPassword(int(t.tty.Fd()))
			fmt.Fprintln(t.out)
		} else {
			r.line, r.err = t.readLine()
		}
		res <- r
	}()
	select {
	case r := <-res:
		if r.err != nil && !(r.err == io.EOF && len(r.line) > 0) {
			return nil, fmt.Errorf("agent: read answer: %w", r.err)
		}
		return r.line, nil
	case <-ctx.Done():
		fmt.Fprintln(t.out, t.lang.T("prompt.terminal.abandoned"))
		go func() {
			r := <-res
			clear(r.line)
		}()
		return nil, ctx.Err()
	}
}

// readLine reads up to a newline, without the line ending.
func (t *terminalPrompter) readLine() ([]byte, error) {
	line, err := t.br.ReadBytes('\n')
	out := bytes.TrimRight(line, "\r\n")
	cp := append([]byte(nil), out...)
	clear(line)
	return cp, err
}

func isYes(b []byte) bool {
	switch strings.ToLower(strings.TrimSpace(string(b))) {
	case "c", "co", "có", "y", "yes":
		return true
	}
	return false
}

func (t *terminalPrompter) ApproveOrigin(ctx context.Context, origin string) (bool, error) {
	text := "\n" + FormatApproveOrigin(t.lang, origin) + "\n\n" + t.lang.T("prompt.terminal.approve")
	line, err := t.ask(ctx, text, false)
	if err != nil {
		return false, err
	}
	return isYes(line), nil
}

func (t *terminalPrompter) ChooseCertificate(ctx context.Context, p ChoosePrompt) (token.Handle, error) {
	if len(p.Certificates) == 0 {
		return "", &Error{Code: CodeNoCertificate, Message: "no certificate to choose from"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n%s\n", t.lang.T("prompt.choose.text"), t.lang.T("prompt.choose.caller", callerText(t.lang, p.Caller)))
	for i, c := range p.Certificates {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, FormatCertificateChoice(t.lang, c))
	}
	b.WriteString(t.lang.T("prompt.terminal.choose", len(p.Certificates)))
	text := b.String()
	for {
		line, err := t.ask(ctx, text, false)
		if err != nil {
			return "", err
		}
		s := strings.TrimSpace(string(line))
		if s == "" {
			return "", ErrUserCancelled
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(p.Certificates) {
			return p.Certificates[n-1].Handle, nil
		}
		text = t.lang.T("prompt.terminal.choose", len(p.Certificates))
	}
}

// Sign prints the signing text and reads the PIN; an empty line cancels.
func (t *terminalPrompter) Sign(ctx context.Context, p SignPrompt) ([]byte, error) {
	details := "\n" + FormatSignDetails(t.lang, p) + "\n\n"
	if !p.PINNeeded {
		line, err := t.ask(ctx, details+t.lang.T("prompt.terminal.confirm"), false)
		if err != nil {
			return nil, err
		}
		if !isYes(line) {
			return nil, ErrUserCancelled
		}
		return nil, nil
	}
	pin, err := t.ask(ctx, details+t.lang.T("prompt.terminal.pin"), true)
	if err != nil {
		return nil, err
	}
	if len(pin) == 0 {
		return nil, ErrUserCancelled
	}
	return pin, nil
}
