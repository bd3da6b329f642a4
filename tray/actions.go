package tray

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/atomicfile"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/pades"
)

// SignedSuffix is appended to a signed file's name, before ".pdf": "đã ký"
// without diacritics, so the name survives every file system and mail
// gateway.
const SignedSuffix = "-da-ky"

// maxOutputAttempts bounds the search for a free output name
// ("<name>-da-ky.pdf", "<name>-da-ky-2.pdf", …).
const maxOutputAttempts = 1000

// Actions are what the menu's local items do, over the agent: "Ký tệp
// PDF…" (IDSignFile) signs a file the user picked as the local user, and
// "Kiểm tra chữ ký…" (IDVerifyFile) verifies one. The code that shows the
// file chooser and the result calls these, so tests drive the same path.
type Actions struct {
	// Service signs; the request is made as Caller{Local: true}, so the
	// agent shows its own dialog (certificate choice, PIN) as for any
	// request.
	Service agent.Service
	// Verify is the trust and revocation setup of VerifyFile.
	Verify agent.VerifyConfig
	// Lang is the language of the messages and of the text report.
	Lang i18n.Lang
	// Now is the clock of verifications; nil means time.Now.
	Now func() time.Time
	// MaxBytes caps the file to sign or verify; zero means
	// agent.DefaultMaxDocumentBytes.
	MaxBytes int64
}

// SignFile signs the PDF at path with opts (profile, certificate) as the
// local user and writes the result next to the input, never overwriting
// anything: "<name>-da-ky.pdf", else "<name>-da-ky-2.pdf", and so on. The
// output is written atomically with mode 0644; the input is only read.
// It returns the output path.
//
// A missing, unreadable or non-PDF input is refused with a BAD_DOCUMENT
// error (agent.CodeOf) before anyone is asked anything, and nothing is
// written. A cancelled dialog or a failed signature writes nothing either.
func (a *Actions) SignFile(ctx context.Context, path string, opts agent.SignPDFOptions) (string, error) {
	if a.Service == nil {
		return "", &agent.Error{Code: agent.CodeInternal, Message: "tray: no signing service"}
	}
	data, err := a.readInput(path)
	if err != nil {
		return "", err
	}
	doc := agent.Document{Name: filepath.Base(path), Data: data}
	signed, err := a.Service.SignPDF(ctx, agent.Caller{Local: true}, doc, opts)
	if err != nil {
		return "", err
	}
	if len(signed.Data) == 0 {
		return "", &agent.Error{Code: agent.CodeInternal, Message: "tray: the agent returned an empty document"}
	}
	return writeNextTo(path, signed.Data)
}

// VerifyFile verifies the PDF at path locally with a.Verify and returns
// the report as text in a.Lang (Vietnamese unless English), and the
// report itself. A missing, unreadable or non-PDF input is a BAD_DOCUMENT
// error.
func (a *Actions) VerifyFile(ctx context.Context, path string) (string, *agent.VerificationReport, error) {
	cfg := a.Verify
	if a.Now != nil {
		cfg.Now = a.Now()
	}
	cfg.Lang = string(a.lang())
	f, size, err := a.openInput(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	rep, err := agent.VerifyDocument(ctx, f, size, cfg)
	if err != nil {
		if pades.CodeOf(err) == "" && ctx.Err() == nil {
			err = &pades.Error{Code: pades.CodeBadDocument, Reason: filepath.Base(path) + " cannot be verified", Err: err}
		}
		return "", nil, err
	}
	rep.File = path
	var b strings.Builder
	if err := rep.WriteText(&b, string(a.lang())); err != nil {
		return "", nil, err
	}
	return b.String(), rep, nil
}

// SignedMessage is what the tray tells the user once SignFile wrote out.
func (a *Actions) SignedMessage(out string) string {
	return a.lang().T("tray.signFile.done", filepath.Base(out), filepath.Dir(out))
}

// FailureMessage is what the tray tells the user when an action on the
// file at path failed; nothing is shown for a cancelled dialog (the user
// knows), so it returns "" then.
func (a *Actions) FailureMessage(id, path string, err error) string {
	code, _ := agent.CodeOf(err)
	if code == agent.CodeUserCancelled {
		return ""
	}
	l := a.lang()
	var reason string
	switch code {
	case string(pades.CodeBadDocument):
		reason = l.T("tray.action.badDocument")
	case string(pades.CodeEncrypted):
		reason = l.T("tray.action.encrypted")
	case agent.CodeDialogTimeout:
		reason = l.T("tray.action.timeout")
	case agent.CodeNoCertificate:
		reason = l.T("tray.action.noCertificate")
	default:
		reason = l.T("tray.action.code", code)
	}
	key := "tray.signFile.failed"
	if id == IDVerifyFile {
		key = "tray.verifyFile.failed"
	}
	return l.T(key, filepath.Base(path), reason)
}

func (a *Actions) lang() i18n.Lang {
	if a.Lang == i18n.English {
		return i18n.English
	}
	return i18n.Vietnamese
}

func (a *Actions) maxBytes() int64 {
	if a.MaxBytes > 0 {
		return a.MaxBytes
	}
	return agent.DefaultMaxDocumentBytes
}

// openInput opens the regular file at path for reading, refusing folders,
// missing files and files over the cap with BAD_DOCUMENT.
func (a *Actions) openInput(path string) (*os.File, int64, error) {
	bad := func(reason string, err error) error {
		return &pades.Error{Code: pades.CodeBadDocument, Reason: reason, Err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, bad(filepath.Base(path)+" cannot be read", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, bad(filepath.Base(path)+" cannot be read", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, bad(filepath.Base(path)+" is not a regular file", nil)
	}
	if st.Size() > a.maxBytes() {
		f.Close()
		return nil, 0, bad(fmt.Sprintf("%s is %d bytes, over the %d-byte cap", filepath.Base(path), st.Size(), a.maxBytes()), nil)
	}
	return f, st.Size(), nil
}

// readInput reads the PDF at path and checks that kyso can sign it, so
// that a wrong file is refused before the token is touched.
func (a *Actions) readInput(path string) ([]byte, error) {
	f, _, err := a.openInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte more than the cap tells a file that grew since Stat.
	data, err := io.ReadAll(io.LimitReader(f, a.maxBytes()+1))
	if err != nil {
		return nil, &pades.Error{Code: pades.CodeBadDocument, Reason: filepath.Base(path) + " cannot be read", Err: err}
	}
	if int64(len(data)) > a.maxBytes() {
		return nil, &pades.Error{Code: pades.CodeBadDocument, Reason: filepath.Base(path) + " is over the size cap"}
	}
	if err := pades.Check(bytes.NewReader(data), int64(len(data))); err != nil {
		if pades.CodeOf(err) == "" {
			err = &pades.Error{Code: pades.CodeBadDocument, Reason: filepath.Base(path), Err: err}
		}
		return nil, err
	}
	return data, nil
}

// OutputPath is the n-th candidate name (n ≥ 1) for the signed copy of
// the PDF at path: "<dir>/<name>-da-ky.pdf" for n = 1, then
// "<dir>/<name>-da-ky-<n>.pdf". The input's ".pdf" extension (any case)
// is replaced; another extension is kept in the name.
func OutputPath(path string, n int) string {
	dir, base := filepath.Split(path)
	if ext := filepath.Ext(base); strings.EqualFold(ext, ".pdf") {
		base = strings.TrimSuffix(base, ext)
	}
	name := base + SignedSuffix
	if n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	return filepath.Join(dir, name+".pdf")
}

// writeNextTo writes data to the first free OutputPath of in. The name is
// reserved first with an exclusive create, so two signatures finishing at
// once never take the same name and no existing file is ever replaced;
// the signed bytes then replace the empty reservation atomically. On any
// failure the reservation is removed and no output remains.
func writeNextTo(in string, data []byte) (string, error) {
	for n := 1; n <= maxOutputAttempts; n++ {
		out := OutputPath(in, n)
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("tray: reserve %s: %w", out, err)
		}
		f.Close()
		if err := atomicfile.WriteFile(out, data, 0o644); err != nil {
			os.Remove(out)
			return "", fmt.Errorf("tray: write %s: %w", out, err)
		}
		return out, nil
	}
	return "", fmt.Errorf("tray: no free name for the signed copy of %s after %d tries", in, maxOutputAttempts)
}
