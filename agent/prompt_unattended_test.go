package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kyso-vn/kyso/internal/p11fault"
	"github.com/kyso-vn/kyso/token"
)

// newUnattended returns a prompter for pin logging at debug level to a
// buffer, and checks when the test ends that the PIN never reached it.
func newUnattended(t *testing.T, pin string) (*UnattendedPrompter, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	u := NewUnattendedPrompter([]byte(pin), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if bytes.Contains(logs.Bytes(), []byte(pin)) {
			t.Errorf("the PIN is in the log:\n%s", logs.Bytes())
		}
	})
	return u, logs
}

// errorLines counts the log's error-level lines.
func errorLines(logs *logBuffer) int {
	return strings.Count(string(logs.Bytes()), "level=ERROR")
}

// wantRefusal checks a Sign that must not hand out the PIN.
func wantRefusal(t *testing.T, pin []byte, err error) {
	t.Helper()
	if pin != nil {
		t.Fatalf("Sign returned a PIN (%d bytes) with %v", len(pin), err)
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != CodeUserCancelled || ae.Details["reason"] != CodePINFileRefused {
		t.Fatalf("Sign: %v, want USER_CANCELLED with reason %s", err, CodePINFileRefused)
	}
	if !strings.Contains(ae.Message, "restart") && !strings.Contains(ae.Message, "final PIN try") {
		t.Errorf("the message does not say what to do: %q", ae.Message)
	}
}

func TestUnattendedPrompter(t *testing.T) {
	const pin = "unattended-PIN-5530"
	ctx := context.Background()
	signPIN := SignPrompt{Caller: hashSite, Action: "signHash", TokenLabel: "hsm", PINNeeded: true, RetriesLeft: -1}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, u *UnattendedPrompter, logs *logBuffer)
	}{
		{"OriginRefused", func(t *testing.T, u *UnattendedPrompter, logs *logBuffer) {
			ok, err := u.ApproveOrigin(ctx, "https://evil.example.com")
			if ok || err != nil {
				t.Errorf("ApproveOrigin = %v, %v; want a refusal", ok, err)
			}
			if !strings.Contains(string(logs.Bytes()), "https://evil.example.com") {
				t.Errorf("the refusal is not logged:\n%s", logs.Bytes())
			}
		}},
		{"ChooseRefused", func(t *testing.T, u *UnattendedPrompter, _ *logBuffer) {
			h, err := u.ChooseCertificate(ctx, ChoosePrompt{Caller: hashSite, Certificates: []CertificateInfo{{Handle: "a"}, {Handle: "b"}}})
			// No handle and no error: the agent answers CERTIFICATE_REQUIRED
			// (an error would come out of the dialog as INTERNAL).
			if h != "" || err != nil {
				t.Errorf("ChooseCertificate = %q, %v; want none", h, err)
			}
		}},
		{"PINIsACopy", func(t *testing.T, u *UnattendedPrompter, _ *logBuffer) {
			a, err := u.Sign(ctx, signPIN)
			if err != nil || string(a) != pin {
				t.Fatalf("Sign = %q, %v", a, err)
			}
			clear(a) // what the token layer does after C_Login
			b, err := u.Sign(ctx, signPIN)
			if err != nil || string(b) != pin {
				t.Fatalf("second Sign = %q, %v: wiping the first answer changed the PIN", b, err)
			}
			if &a[0] == &b[0] {
				t.Error("two answers share their bytes")
			}
		}},
		{"ConfirmWithoutPIN", func(t *testing.T, u *UnattendedPrompter, _ *logBuffer) {
			// A pinpad or a PIN session: a plain confirmation.
			p := signPIN
			p.PINNeeded = false
			got, err := u.Sign(ctx, p)
			if got != nil || err != nil {
				t.Errorf("Sign = %q, %v; want a confirmation", got, err)
			}
		}},
		{"WrongPINRefusesForGood", func(t *testing.T, u *UnattendedPrompter, logs *logBuffer) {
			p := signPIN
			p.Retry = true // the agent says the PIN it was given was wrong
			got, err := u.Sign(ctx, p)
			wantRefusal(t, got, err)
			if !u.Refused() {
				t.Error("not Refused")
			}
			for i := range 3 {
				got, err := u.Sign(ctx, signPIN)
				if i == 0 {
					wantRefusal(t, got, err)
				} else if got != nil || err == nil {
					t.Fatalf("Sign %d after the refusal = %d bytes, %v", i+2, len(got), err)
				}
			}
			if n := errorLines(logs); n != 1 {
				t.Errorf("%d error lines, want the refusal said once:\n%s", n, logs.Bytes())
			}
		}},
		{"FinalTryNotRisked", func(t *testing.T, u *UnattendedPrompter, logs *logBuffer) {
			p := signPIN
			p.FinalTry, p.RetriesLeft = true, 1
			got, err := u.Sign(ctx, p)
			wantRefusal(t, got, err)
			if errorLines(logs) == 0 {
				t.Error("the refusal is not logged at error level")
			}
			// Not for good: once the token is back to normal (the PIN
			// was typed right elsewhere), the file is tried.
			if u.Refused() {
				t.Error("Refused after a final-try refusal")
			}
			if got, err := u.Sign(ctx, signPIN); err != nil || string(got) != pin {
				t.Errorf("Sign after = %q, %v", got, err)
			}
		}},
		{"Closed", func(t *testing.T, u *UnattendedPrompter, _ *logBuffer) {
			u.Close()
			if got, err := u.Sign(ctx, signPIN); got != nil || err == nil {
				t.Errorf("Sign after Close = %q, %v", got, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, logs := newUnattended(t, pin)
			tc.run(t, u, logs)
		})
	}
}

// fakeKeys is a KeyStore whose signers log in through the PIN source
// given to SignerOn and then fail with login's error, if any.
type fakeKeys struct {
	KeyStore // nil: only SignerOn is used
	signers  atomic.Int32
	logins   atomic.Int32
	status   token.PINStatus
	loginErr error // what C_Login answers
	pins     [][]byte
}

func (k *fakeKeys) SignerOn(_ context.Context, _ string, h token.Handle, pins token.PINSource) (token.Signer, error) {
	k.signers.Add(1)
	return &fakeSigner{k: k, pins: pins}, nil
}

type fakeSigner struct {
	token.Signer
	k    *fakeKeys
	pins token.PINSource
}

func (s *fakeSigner) Sign(_ io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), d, o)
}

func (s *fakeSigner) SignContext(ctx context.Context, _ []byte, _ crypto.SignerOpts) ([]byte, error) {
	pin, err := s.pins.PIN(ctx, token.PINRequest{Token: token.TokenInfo{Label: "hsm"}, Status: s.k.status})
	if err != nil {
		return nil, &token.Error{Code: token.CodeCancelled, Op: "login", Token: "hsm", Err: err}
	}
	s.k.logins.Add(1)
	s.k.pins = append(s.k.pins, bytes.Clone(pin))
	clear(pin)
	if s.k.loginErr != nil {
		return nil, s.k.loginErr
	}
	return []byte("signature"), nil
}

// TestUnattendedKeyStore drives the wrapper the way the agent does: the
// agent's consent asks the prompter from within the token layer's login.
func TestUnattendedKeyStore(t *testing.T) {
	const pin = "unattended-PIN-8127"
	ctx := context.Background()
	sign := func(ks KeyStore, u *UnattendedPrompter) error {
		t.Helper()
		s, err := ks.SignerOn(ctx, "tok", "cert", token.PINFunc(func(ctx context.Context, req token.PINRequest) ([]byte, error) {
			return u.Sign(ctx, SignPrompt{PINNeeded: true, TokenLabel: req.Token.Label, FinalTry: req.Status.FinalTry, RetriesLeft: req.Status.RetriesLeft()})
		}))
		if err != nil {
			return err
		}
		_, err = s.(crypto.Signer).Sign(nil, make([]byte, 32), crypto.SHA256)
		return err
	}

	t.Run("RefusedLoginIsNotRepeated", func(t *testing.T) {
		u, logs := newUnattended(t, pin)
		fk := &fakeKeys{loginErr: &token.Error{Code: token.CodePINIncorrect, Op: "login", Token: "hsm"}}
		ks := u.KeyStore(fk)
		if err := sign(ks, u); token.CodeOf(err) != token.CodePINIncorrect {
			t.Fatalf("first signature: %v, want PIN_INCORRECT", err)
		}
		for range 3 {
			err := sign(ks, u)
			if code, _ := CodeOf(err); code != CodePINFileRefused {
				t.Fatalf("later signature: %v, want %s", err, CodePINFileRefused)
			}
		}
		if n := fk.logins.Load(); n != 1 {
			t.Errorf("%d logins, want 1", n)
		}
		if n := fk.signers.Load(); n != 1 {
			t.Errorf("the key store was asked for %d signers: later requests reached the token", n)
		}
		if len(fk.pins) != 1 || string(fk.pins[0]) != pin {
			t.Errorf("PINs handed out: %q", fk.pins)
		}
		if n := errorLines(logs); n != 1 || !strings.Contains(string(logs.Bytes()), "hsm") {
			t.Errorf("%d error lines, want one naming the token:\n%s", n, logs.Bytes())
		}
	})

	t.Run("FinalTryOnlyAfterSuccess", func(t *testing.T) {
		u, _ := newUnattended(t, pin)
		fk := &fakeKeys{status: token.PINStatus{FinalTry: true}}
		ks := u.KeyStore(fk)
		// Never accepted yet: the final try is not risked, and the refusal
		// is told with PIN_FILE_REFUSED (through the token layer's error).
		err := sign(ks, u)
		if code, _ := CodeOf(err); code != CodePINFileRefused || fk.logins.Load() != 0 {
			t.Fatalf("on the final try: %v after %d logins, want %s and none", err, fk.logins.Load(), CodePINFileRefused)
		}
		// Accepted once: the PIN is known good, so a token on its final
		// try (someone else's wrong PIN) gets it, which resets the count.
		fk.status = token.PINStatus{}
		if err := sign(ks, u); err != nil {
			t.Fatal(err)
		}
		fk.status = token.PINStatus{CountLow: true, FinalTry: true}
		if err := sign(ks, u); err != nil {
			t.Fatalf("after a good login: %v", err)
		}
		if n := fk.logins.Load(); n != 2 {
			t.Errorf("%d logins, want 2", n)
		}
		// A login whose outcome is unknown (cancelled, token pulled out)
		// makes the PIN unproven again.
		fk.status = token.PINStatus{}
		fk.loginErr = &token.Error{Code: token.CodeTokenRemoved, Op: "login"}
		if err := sign(ks, u); token.CodeOf(err) != token.CodeTokenRemoved {
			t.Fatalf("token removed: %v", err)
		}
		fk.loginErr = nil
		fk.status = token.PINStatus{FinalTry: true}
		if code, _ := CodeOf(sign(ks, u)); code != CodePINFileRefused {
			t.Errorf("final try after an unknown outcome: %s, want %s", code, CodePINFileRefused)
		}
	})
}

// TestUnattendedAgent runs the real agent on the fault module's token:
// a wrong PIN file costs one C_Login, never more.
func TestUnattendedAgent(t *testing.T) {
	digest := sha256.Sum256([]byte("batch from the DMS server"))
	req := SignHashRequest{Certificate: token.HandleOf(svcFx.personal), Digest: digest[:], Description: "batch"}
	unattended := func(t *testing.T, pin string) (*svcHarness, *logBuffer) {
		t.Helper()
		u, logs := newUnattended(t, pin)
		h := newSvcHarness(t, func(c *Config) {
			c.Prompter = u
			c.Keys = u.KeyStore(c.Keys)
		})
		t.Cleanup(func() {
			if bytes.Contains(h.logs.Bytes(), []byte(pin)) {
				t.Error("the PIN is in the agent's log")
			}
		})
		return h, logs
	}

	t.Run("RightPIN", func(t *testing.T) {
		svcFx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 3})
		h, _ := unattended(t, testPIN)
		ctx := testContext(t)
		for range 2 {
			if _, err := h.agent.SignHash(ctx, Caller{Origin: hashSite}, req); err != nil {
				t.Fatal(err)
			}
		}
		if n := svcFx.steer.Calls(t, "C_Login"); n != 2 {
			t.Errorf("%d C_Login calls for 2 requests", n)
		}
		// Two certificates fit and none is named: refused, not chosen.
		unnamed := req
		unnamed.Certificate = ""
		if _, err := h.agent.SignHash(ctx, Caller{Origin: hashSite}, unnamed); codeOfErr(err) != CodeCertificateChoice {
			t.Errorf("no certificate named: %v, want %s", err, CodeCertificateChoice)
		}
	})

	t.Run("WrongPIN", func(t *testing.T) {
		svcFx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 3})
		h, logs := unattended(t, wrongPIN)
		ctx := testContext(t)
		if _, err := h.agent.SignHash(ctx, Caller{Origin: hashSite}, req); codeOfErr(err) != "PIN_INCORRECT" {
			t.Fatalf("first request: %v, want PIN_INCORRECT", err)
		}
		for range 3 {
			if _, err := h.agent.SignHash(ctx, Caller{Origin: hashSite}, req); codeOfErr(err) != CodePINFileRefused {
				t.Fatalf("later request: %v, want %s", err, CodePINFileRefused)
			}
		}
		if _, err := h.agent.SignPDF(ctx, webCaller(), Document{Name: "qd.pdf", Data: svcFx.letter}, SignPDFOptions{Certificate: token.HandleOf(svcFx.org)}); codeOfErr(err) != CodePINFileRefused {
			t.Fatalf("signPdf: %v, want %s", err, CodePINFileRefused)
		}
		if n := svcFx.steer.Calls(t, "C_Login"); n != 1 {
			t.Errorf("%d C_Login calls: the refused PIN was tried again", n)
		}
		if n := errorLines(logs); n != 1 {
			t.Errorf("%d error lines, want 1:\n%s", n, logs.Bytes())
		}
		var results []string
		for _, r := range h.audit.records(t) {
			results = append(results, r.Result)
		}
		if strings.Join(results, " ") != "PIN_INCORRECT PIN_FILE_REFUSED PIN_FILE_REFUSED PIN_FILE_REFUSED PIN_FILE_REFUSED" {
			t.Errorf("audit results %q", results)
		}
	})

	t.Run("FinalTry", func(t *testing.T) {
		// One more wrong PIN locks the token: someone typed one wrong
		// already. The unattended server, whose PIN was never accepted
		// yet, does not risk it, even with the right PIN in its file.
		svcFx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 2})
		other := newSvcHarness(t, nil)
		other.prompter.pins = []string{wrongPIN}
		ctx := testContext(t)
		if _, err := other.agent.SignHash(ctx, Caller{Origin: hashSite}, req); codeOfErr(err) != "PIN_INCORRECT" {
			t.Fatalf("someone's wrong PIN: %v", err)
		}
		h, _ := unattended(t, testPIN)
		before := svcFx.steer.Calls(t, "C_Login")
		if _, err := h.agent.SignHash(ctx, Caller{Origin: hashSite}, req); codeOfErr(err) != CodePINFileRefused {
			t.Fatalf("on the final try: %v, want %s", err, CodePINFileRefused)
		}
		if n := svcFx.steer.Calls(t, "C_Login") - before; n != 0 {
			t.Errorf("%d C_Login calls on the final try", n)
		}
		// Typed right elsewhere, the count resets and the server signs.
		if _, err := other.agent.SignHash(ctx, Caller{Origin: hashSite}, req); err != nil {
			t.Fatal(err)
		}
		if _, err := h.agent.SignHash(ctx, Caller{Origin: hashSite}, req); err != nil {
			t.Fatalf("after the count was reset: %v", err)
		}
	})
}

func TestUnattendedReadPINFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string // the PIN, or a part of the error
		ok      bool
	}{
		{"newline", "123456\n", 0o600, "123456", true},
		{"crlf", "123456\r\n", 0o600, "123456", true},
		{"no newline", "123456", 0o400, "123456", true},
		{"blanks kept", " 12 34 \n", 0o600, " 12 34 ", true},
		{"group readable", "123456\n", 0o640, "has mode 0640", false},
		{"world readable", "123456\n", 0o644, "has mode 0644", false},
		{"empty", "", 0o600, "is empty", false},
		{"only a newline", "\n", 0o600, "is empty", false},
		{"two lines", "123456\n\n", 0o600, "more than one line", false},
		{"too large", strings.Repeat("1", 5000), 0o600, "larger than", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "pin")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPINFile(p)
			switch {
			case tc.ok && (err != nil || string(got) != tc.want):
				t.Errorf("ReadPINFile = %q, %v; want %q", got, err, tc.want)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ReadPINFile = %q, %v; want an error saying %q", got, err, tc.want)
			case !tc.ok && strings.Contains(err.Error(), "123456"):
				t.Errorf("the error shows the PIN: %v", err)
			}
		})
	}
	if _, err := ReadPINFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a folder: %v", err)
	}
	if _, err := ReadPINFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
