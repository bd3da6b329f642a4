//go:build kysotest

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/kyso-vn/kyso/token"
)

// This file exists only in test builds (-tags kysotest): a Prompter that
// answers from a script, so end-to-end tests can drive the agent without a
// person. The shipped binary is built without the tag and cannot contain
// it, so no configuration or request can make the desktop agent sign
// without its user; the only unattended mode is the server's
// (UnattendedPrompter), chosen on its command line with a PIN file.

// ScriptedAnswers is what a ScriptedPrompter answers. It reads from JSON
// too, so a test binary can take a script file.
type ScriptedAnswers struct {
	// Origins approves (true) or refuses (false) origins by exact
	// serialized origin; others get DefaultApprove.
	Origins        map[string]bool `json:"origins,omitempty"`
	DefaultApprove bool            `json:"defaultApprove,omitempty"`
	// Certificate is chosen when offered; empty picks the first offered,
	// and a handle not offered cancels.
	Certificate token.Handle `json:"certificate,omitempty"`
	// PINs are the answers to successive Sign dialogs that need a PIN;
	// when they run out, PIN is used.
	PINs []string `json:"pins,omitempty"`
	PIN  string   `json:"pin,omitempty"`
	// CancelAt makes the Nth call (1-based, counting every method) answer
	// ErrUserCancelled; CancelSignAt does so for the Nth Sign call. 0
	// never cancels.
	CancelAt     int `json:"cancelAt,omitempty"`
	CancelSignAt int `json:"cancelSignAt,omitempty"`
	// Delay is waited before every answer, as a person would; ctx ends
	// it early with ctx's error. A Delay longer than the dialog timeout
	// tests timeouts. "2s" in JSON.
	Delay Duration `json:"delay,omitempty"`
	// RecordTo, when set, is a file to which every dialog shown is
	// appended as one JSON line (ScriptedRecord), so a test of a separate
	// process can count and inspect the dialogs. PINs are never written.
	RecordTo string `json:"recordTo,omitempty"`
}

// ScriptedRecord is one dialog as RecordTo writes it.
type ScriptedRecord struct {
	// Kind is "approve" (ApproveOrigin), "choose" (ChooseCertificate) or
	// "sign" (Sign).
	Kind string `json:"kind"`
	// Caller is the origin asked about, or the caller of the request.
	Caller       string                   `json:"caller"`
	Action       string                   `json:"action,omitempty"`
	Documents    []ScriptedRecordDocument `json:"documents,omitempty"`
	Profile      string                   `json:"profile,omitempty"`
	Digest       string                   `json:"digest,omitempty"`
	Certificate  token.Handle             `json:"certificate,omitempty"`
	Certificates []token.Handle           `json:"certificates,omitempty"` // offered by a choice
	PINNeeded    bool                     `json:"pinNeeded"`
	RetriesLeft  int                      `json:"retriesLeft"`
}

// ScriptedRecordDocument is a document of a recorded signing dialog.
type ScriptedRecordDocument struct {
	Name   string `json:"name"`
	Pages  int    `json:"pages"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// record appends r to RecordTo; s.mu is held, so lines never interleave.
// A dialog that cannot be recorded fails: a test counting dialogs must
// not miss one.
func (s *ScriptedPrompter) record(r ScriptedRecord) error {
	if s.script.RecordTo == "" {
		return nil
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(s.script.RecordTo, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ScriptedPrompter is a Prompter answering from ScriptedAnswers and
// recording every dialog it was shown. It is safe for concurrent use.
type ScriptedPrompter struct {
	mu        sync.Mutex
	script    ScriptedAnswers
	calls     int
	signCalls int
	origins   []string
	choices   []ChoosePrompt
	signs     []SignPrompt
}

// NewScriptedPrompter returns a prompter following script.
func NewScriptedPrompter(script ScriptedAnswers) *ScriptedPrompter {
	script.PINs = slices.Clone(script.PINs)
	return &ScriptedPrompter{script: script}
}

// begin counts a call and reports whether the script cancels it.
func (s *ScriptedPrompter) begin(sign bool) (cancel bool) {
	s.calls++
	if sign {
		s.signCalls++
		if s.script.CancelSignAt > 0 && s.signCalls == s.script.CancelSignAt {
			return true
		}
	}
	return s.script.CancelAt > 0 && s.calls == s.script.CancelAt
}

func (s *ScriptedPrompter) wait(ctx context.Context) error {
	if s.script.Delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(time.Duration(s.script.Delay))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ApproveOrigin answers from Origins or DefaultApprove.
func (s *ScriptedPrompter) ApproveOrigin(ctx context.Context, origin string) (bool, error) {
	s.mu.Lock()
	s.origins = append(s.origins, origin)
	cancel := s.begin(false)
	answer, ok := s.script.Origins[origin]
	if !ok {
		answer = s.script.DefaultApprove
	}
	err := s.record(ScriptedRecord{Kind: "approve", Caller: origin, RetriesLeft: -1})
	s.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("recording the dialog: %w", err)
	}
	if err := s.wait(ctx); err != nil {
		return false, err
	}
	if cancel {
		return false, ErrUserCancelled
	}
	return answer, nil
}

// ChooseCertificate picks Certificate, or the first one offered.
func (s *ScriptedPrompter) ChooseCertificate(ctx context.Context, p ChoosePrompt) (token.Handle, error) {
	s.mu.Lock()
	p.Certificates = slices.Clone(p.Certificates)
	s.choices = append(s.choices, p)
	cancel := s.begin(false)
	want := s.script.Certificate
	rec := ScriptedRecord{Kind: "choose", Caller: p.Caller, RetriesLeft: -1}
	for _, c := range p.Certificates {
		rec.Certificates = append(rec.Certificates, c.Handle)
	}
	err := s.record(rec)
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("recording the dialog: %w", err)
	}
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	if cancel || len(p.Certificates) == 0 {
		return "", ErrUserCancelled
	}
	if want == "" {
		return p.Certificates[0].Handle, nil
	}
	for _, c := range p.Certificates {
		if c.Handle == want {
			return want, nil
		}
	}
	return "", ErrUserCancelled
}

// Sign records p and answers the next PIN (nil when p.PINNeeded is
// false).
func (s *ScriptedPrompter) Sign(ctx context.Context, p SignPrompt) ([]byte, error) {
	s.mu.Lock()
	p.Documents = slices.Clone(p.Documents)
	s.signs = append(s.signs, p)
	cancel := s.begin(true)
	var pin string
	if p.PINNeeded && !cancel {
		pin = s.script.PIN
		if len(s.script.PINs) > 0 {
			pin, s.script.PINs = s.script.PINs[0], s.script.PINs[1:]
		}
	}
	rec := ScriptedRecord{Kind: "sign", Caller: p.Caller, Action: p.Action, Profile: p.Profile, Digest: p.Digest,
		Certificate: p.Certificate.Handle, PINNeeded: p.PINNeeded, RetriesLeft: p.RetriesLeft}
	for _, d := range p.Documents {
		rec.Documents = append(rec.Documents, ScriptedRecordDocument(d))
	}
	err := s.record(rec)
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("recording the dialog: %w", err)
	}
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	if cancel {
		return nil, ErrUserCancelled
	}
	if !p.PINNeeded {
		return nil, nil
	}
	return []byte(pin), nil
}

// Calls counts every dialog shown.
func (s *ScriptedPrompter) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// OriginPrompts returns the origins ApproveOrigin was asked about, in
// order.
func (s *ScriptedPrompter) OriginPrompts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.origins)
}

// ChoosePrompts returns the certificate choice dialogs shown, in order.
func (s *ScriptedPrompter) ChoosePrompts() []ChoosePrompt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.choices)
}

// SignPrompts returns the signing dialogs shown, in order, so a test can
// check that the user saw the right origin, documents, SHA-256 and tries
// left.
func (s *ScriptedPrompter) SignPrompts() []SignPrompt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.signs)
}
