package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/p11fault"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pkitest"
	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/kyso-vn/kyso/internal/testimages"
	"github.com/kyso-vn/kyso/internal/tsatest"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// The fixture: one SoftHSM environment per test binary (SoftHSM reads its
// configuration once per process) with the token kyso-agent holding a
// personal RSA-2048 key and an organisation EC P-256 key, certificates
// from a devpki hierarchy and the intermediate stored on the token for
// chain building. The agent reaches the token only through the
// fault-injecting module, so tests can pull the token out, count logins
// and emulate PIN lockout or a pinpad. Tests run one after another: the
// module's control file is shared.

const (
	testPIN    = "pin-Zq7-4821" // distinctive, so a leak is found by searching for it
	wrongPIN   = "wrong-Kx9-0357"
	testSOPIN  = "12345678"
	testLabel  = "kyso-agent"
	testOrigin = "https://qlvb.example.gov.vn"
	hashSite   = "https://dms.example.gov.vn"
)

// hangBound is how long a test waits for an event before declaring a
// hang. It guards against deadlock; it is not a timing assertion.
const eventBound = 30 * time.Second

type svcFixture struct {
	dir        string
	fault      string // path of the fault module
	steer      *p11fault.Steering
	pki        *devpki.PKI
	personal   *x509.Certificate
	org        *x509.Certificate
	letter     []byte // testdata/sample/quyet-dinh.pdf
	unnumbered []byte // testdata/sample/quyet-dinh-chua-so.pdf: the leader signs it on page 2
	sigPNG     []byte
	templates  string // templates file with the organisation's seal
	rootPEM    []byte
}

var svcFx svcFixture

func TestMain(m *testing.M) {
	code, err := setupSvcFixture(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent tests: fixture:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setupSvcFixture(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "kyso-agent-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	svcFx.dir = dir
	env, err := softhsm.New(filepath.Join(dir, "softhsm"))
	if err != nil {
		return 0, err
	}
	if err := env.InitToken(context.Background(), testLabel, testSOPIN, testPIN); err != nil {
		return 0, err
	}
	if err := env.Setenv(); err != nil {
		return 0, err
	}
	module, err := softhsm.ModulePath()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "fault"), 0o755); err != nil {
		return 0, err
	}
	if svcFx.fault, err = p11fault.Build(filepath.Join(dir, "fault")); err != nil {
		return 0, err
	}
	svcFx.steer = &p11fault.Steering{Control: p11fault.ControlPath(svcFx.fault), Log: filepath.Join(dir, "fault", "calls.log"), PIN: testPIN}
	// Slot events on from the start: the module decides once whether it
	// supports C_WaitForSlotEvent.
	if err := svcFx.steer.Write(p11fault.Control{Present: true}); err != nil {
		return 0, err
	}
	// The PKI publishes its CA certificates, CRLs and OCSP answers on
	// 127.0.0.1 for the test binary's lifetime, so B-LT collects
	// revocation data for real.
	pub, err := pkitest.New(pkitest.Options{KeyKind: devpki.ECP384})
	if err != nil {
		return 0, err
	}
	defer pub.Stop()
	svcFx.pki = pub.PKI
	got, err := devpki.ProvisionToken(module, testLabel, testPIN, svcFx.pki, []devpki.KeySpec{
		{Label: "personal", ID: []byte{1}, Kind: devpki.RSA2048, Profile: devpki.Personal()},
		{Label: "organisation", ID: []byte{2}, Kind: devpki.ECP256, Profile: devpki.Organisation()},
	}, devpki.WithIntermediateCert(""))
	if err != nil {
		return 0, err
	}
	svcFx.personal, svcFx.org = got[0].Cert, got[1].Cert
	svcFx.rootPEM = devpki.EncodeCertificatesPEM(svcFx.pki.Root.Cert)
	if svcFx.letter, err = os.ReadFile("../testdata/sample/quyet-dinh.pdf"); err != nil {
		return 0, err
	}
	if svcFx.unnumbered, err = os.ReadFile("../testdata/sample/quyet-dinh-chua-so.pdf"); err != nil {
		return 0, err
	}
	if svcFx.sigPNG, err = testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{}); err != nil {
		return 0, err
	}
	seal, err := testimages.EncodePNG(testimages.Seal(480), 300, testimages.PNGOptions{})
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "con-dau.png"), seal, 0o644); err != nil {
		return 0, err
	}
	// The organisation's seal comes from the templates file, found by the
	// certificate's handle, as a deployment would set it up.
	svcFx.templates = filepath.Join(dir, "templates.json")
	tmpl := fmt.Sprintf(`{"schema":"kyso.templates/v1","templates":[{"cert":%q,"sealImage":"con-dau.png","sealMM":40}]}`, token.HandleOf(svcFx.org))
	if err := os.WriteFile(svcFx.templates, []byte(tmpl), 0o644); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// svcPrompter records every dialog. Sign answers PINs from a queue (then
// the default PIN), or cancels; a pinpad confirmation returns no PIN.
type svcPrompter struct {
	mu       sync.Mutex
	pins     []string
	def      string
	cancel   bool
	block    bool // wait until the dialog's context ends
	choice   token.Handle
	signs    []SignPrompt
	chooses  []ChoosePrompt
	origins  []string
	approved bool
}

func (p *svcPrompter) ApproveOrigin(_ context.Context, o string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.origins = append(p.origins, o)
	return p.approved, nil
}

func (p *svcPrompter) ChooseCertificate(_ context.Context, cp ChoosePrompt) (token.Handle, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chooses = append(p.chooses, cp)
	if p.cancel {
		return "", ErrUserCancelled
	}
	return p.choice, nil
}

func (p *svcPrompter) Sign(ctx context.Context, sp SignPrompt) ([]byte, error) {
	p.mu.Lock()
	p.signs = append(p.signs, sp)
	cancel, block := p.cancel, p.block
	pin := p.def
	if len(p.pins) > 0 {
		pin, p.pins = p.pins[0], p.pins[1:]
	}
	p.mu.Unlock()
	switch {
	case block:
		<-ctx.Done()
		return nil, ctx.Err()
	case cancel:
		return nil, ErrUserCancelled
	case !sp.PINNeeded:
		return nil, nil
	}
	return []byte(pin), nil
}

func (p *svcPrompter) signPrompts() []SignPrompt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]SignPrompt(nil), p.signs...)
}

// svcGate admits every origin and lets the listed ones sign digests.
type svcGate struct{ hash map[string]bool }

func (g svcGate) Admit(context.Context, string) error { return nil }
func (g svcGate) HashSigningAllowed(o string) bool    { return g.hash[o] }

// fileAudit appends JSON lines to a file, as the real audit log does.
type fileAudit struct {
	mu   sync.Mutex
	path string
}

func (a *fileAudit) Record(r AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(b, '\n'))
	return err
}

func (a *fileAudit) records(t *testing.T) []AuditRecord {
	t.Helper()
	data, err := os.ReadFile(a.path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []AuditRecord
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r AuditRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// logBuffer is a bytes.Buffer safe for the logger's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

type svcHarness struct {
	agent    *Agent
	keys     *token.Manager
	prompter *svcPrompter
	audit    *fileAudit
	logs     *logBuffer
}

// newSvcHarness builds an agent over a fresh token manager on the fault
// module, with a recording prompter, a file audit log and debug logging to
// a buffer (the token layer's too).
func newSvcHarness(t *testing.T, edit func(*Config)) *svcHarness {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := token.NewManager(token.Options{Modules: []string{svcFx.fault}, Logger: logger})
	t.Cleanup(func() { m.Close() })
	if m.Loaded() != 1 {
		t.Fatalf("fault module not loaded: %+v", m.Modules())
	}
	h := &svcHarness{
		keys:     m,
		prompter: &svcPrompter{def: testPIN},
		audit:    &fileAudit{path: filepath.Join(t.TempDir(), "audit.jsonl")},
		logs:     logs,
	}
	cfg := Config{
		Keys:          m,
		Gate:          svcGate{hash: map[string]bool{hashSite: true}},
		Prompter:      h.prompter,
		Audit:         h.audit,
		TemplatesPath: svcFx.templates,
		Verify:        VerifyConfig{TrustPEM: [][]byte{svcFx.rootPEM}, NoShippedRoots: true, Offline: true, Lang: "en"},
		Version:       "test",
		Logger:        logger,
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.agent = a
	return h
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func webCaller() Caller { return Caller{Origin: testOrigin} }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func codeOfErr(err error) string {
	c, _ := CodeOf(err)
	return c
}

// checkSignedPDF fails unless out extends in and every signature of out is
// intact, by kyso's own check and, when db is given, by poppler's pdfsig.
func checkSignedPDF(t *testing.T, db *pdfcheck.NSSDB, in, out []byte, wantSigs int) {
	t.Helper()
	if !bytes.HasPrefix(out, in) {
		t.Fatal("the input is not a prefix of the output")
	}
	checks, err := pades.CheckSignatures(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != wantSigs {
		t.Fatalf("%d signatures, want %d", len(checks), wantSigs)
	}
	for _, c := range checks {
		if !c.Intact() {
			t.Errorf("signature %s broken: %v", c.Field, c.Err)
		}
	}
	if db == nil {
		return
	}
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	sigs := pdfcheck.Pdfsig(t, db, path)
	if len(sigs) != wantSigs {
		t.Fatalf("pdfsig sees %d signatures, want %d", len(sigs), wantSigs)
	}
	for _, s := range sigs {
		if !s.Valid || s.SubFilter != "ETSI.CAdES.detached" {
			t.Errorf("pdfsig: signature #%d: %s\n%s", s.Index, s.SignatureValidation, s.Raw)
		}
	}
	if !sigs[len(sigs)-1].TotalDocumentSigned {
		t.Error("pdfsig: the last signature does not cover the whole document")
	}
}

func TestSignPDFProfiles(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	db := pdfcheck.NewNSSDB(t, svcFx.pki.Root.Cert)
	personal, org := token.HandleOf(svcFx.personal), token.HandleOf(svcFx.org)

	var approved []byte
	tests := []struct {
		name     string
		in       func() []byte
		opts     SignPDFOptions
		signer   token.Handle
		sigs     int
		chooses  int
		prepared func(t *testing.T, out []byte)
	}{
		// W2: the leader approves with the handwritten image, then the
		// clerk issues with number, date and the seal from the templates.
		{name: "approved", in: func() []byte { return svcFx.unnumbered },
			opts: SignPDFOptions{Profile: "approved", Page: 2, SignatureImage: svcFx.sigPNG}, signer: personal, sigs: 1,
			prepared: func(_ *testing.T, out []byte) { approved = out }},
		{name: "issued", in: func() []byte { return approved },
			opts:   SignPDFOptions{Profile: "issued", DocNumber: "27/QĐ-UBND", IssuedDate: "2026-11-22", Place: "Bình Phước"},
			signer: org, sigs: 2},
		{name: "appendix", in: func() []byte { return svcFx.letter },
			opts: SignPDFOptions{Profile: "appendix", DocNumber: "16/QĐ-UBND", Certificate: org}, signer: org, sigs: 1},
		{name: "copy", in: func() []byte { return svcFx.letter },
			opts: SignPDFOptions{Profile: "copy", CopyForm: "SAO LỤC"}, signer: org, sigs: 1},
		{name: "income", in: func() []byte { return svcFx.letter },
			opts: SignPDFOptions{Profile: "income", DocNumber: "123"}, signer: org, sigs: 1},
		{name: "comment", in: func() []byte { return svcFx.letter },
			opts: SignPDFOptions{Profile: "comment", Reason: "Đã xem"}, signer: personal, sigs: 1},
		// No profile and no certificate named: two certificates fit, so
		// the user chooses.
		{name: "plain invisible", in: func() []byte { return svcFx.letter },
			opts: SignPDFOptions{Reason: "Phê duyệt", Location: "Bình Phước"}, signer: personal, sigs: 1, chooses: 1},
		{name: "plain visible", in: func() []byte { return svcFx.letter },
			opts:   SignPDFOptions{Certificate: personal, RectMM: &[4]float64{120, 200, 50, 20}, SignatureImage: svcFx.sigPNG},
			signer: personal, sigs: 1},
	}
	h.prompter.choice = personal
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in()
			if in == nil {
				t.Fatal("input missing: an earlier step failed")
			}
			before := len(h.prompter.signPrompts())
			beforeChoose := len(h.prompter.chooses)
			name := "Quyết định " + tt.name + ".pdf"
			got, err := h.agent.SignPDF(ctx, webCaller(), Document{Name: name, Data: in}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkSignedPDF(t, db, in, got.Data, tt.sigs)
			if got.Signer != tt.signer {
				t.Errorf("signed by %s, want %s", got.Signer, tt.signer)
			}
			if got.Name != name || got.SHA256 != sha256Hex(got.Data) || got.Level != "B-B" || got.Field == "" {
				t.Errorf("result = %+v", got)
			}
			prompts := h.prompter.signPrompts()[before:]
			if len(prompts) != 1 {
				t.Fatalf("%d signing dialogs, want 1", len(prompts))
			}
			p := prompts[0]
			if p.Caller != testOrigin || p.Action != "signPdf" || p.Profile != tt.opts.Profile || !p.PINNeeded ||
				p.TokenLabel != testLabel || p.Certificate.Handle != tt.signer {
				t.Errorf("dialog = %+v", p)
			}
			if len(p.Documents) != 1 || p.Documents[0].Name != name || p.Documents[0].SHA256 != sha256Hex(in) || p.Documents[0].Size != int64(len(in)) || p.Documents[0].Pages < 1 {
				t.Errorf("dialog documents = %+v", p.Documents)
			}
			if n := len(h.prompter.chooses) - beforeChoose; n != tt.chooses {
				t.Errorf("%d certificate choices, want %d", n, tt.chooses)
			}
			if tt.prepared != nil {
				tt.prepared(t, got.Data)
			}
		})
	}
	// Every signature was recorded with the document's digest.
	recs := h.audit.records(t)
	if len(recs) != len(tests) {
		t.Fatalf("%d audit records, want %d", len(recs), len(tests))
	}
	for i, r := range recs {
		if r.Result != "ok" || r.Caller != testOrigin || r.Method != "signPdf" || r.SHA256 == "" || r.Certificate == "" || r.Level != "B-B" {
			t.Errorf("audit record %d = %+v", i, r)
		}
	}
}

func TestSignPDFsOnePINForFifty(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	const n = 50
	docs := make([]Document, n)
	for i := range docs {
		docs[i] = Document{Name: fmt.Sprintf("cv-%02d.pdf", i+1), Data: svcFx.letter}
	}
	var progress []Progress
	r := h.agent.SignPDFs(ctx, webCaller(), docs, SignPDFOptions{Certificate: token.HandleOf(svcFx.personal), Reason: "Lô"}, func(p Progress) {
		progress = append(progress, p)
	})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(r.Signed) != n {
		t.Fatalf("%d signed, want %d", len(r.Signed), n)
	}
	db := pdfcheck.NewNSSDB(t, svcFx.pki.Root.Cert)
	for i, d := range r.Signed {
		if d.Name != docs[i].Name {
			t.Errorf("document %d is %s", i, d.Name)
		}
		var check *pdfcheck.NSSDB
		if i == 0 || i == n/2 || i == n-1 {
			check = db
		}
		checkSignedPDF(t, check, svcFx.letter, d.Data, 1)
	}
	prompts := h.prompter.signPrompts()
	if len(prompts) != 1 {
		t.Fatalf("%d dialogs for a batch, want 1", len(prompts))
	}
	if p := prompts[0]; p.Action != "signPdfs" || len(p.Documents) != n || p.Documents[n-1].Name != "cv-50.pdf" || p.Documents[7].SHA256 != sha256Hex(svcFx.letter) {
		t.Errorf("batch dialog = %s with %d documents", p.Action, len(p.Documents))
	}
	if got := svcFx.steer.Calls(t, "C_Login"); got != 1 {
		t.Errorf("C_Login called %d times, want 1", got)
	}
	if len(progress) != n {
		t.Fatalf("progress called %d times, want %d", len(progress), n)
	}
	for i, p := range progress {
		if p.Done != i+1 || p.Total != n || p.Document != docs[i].Name {
			t.Errorf("progress %d = %+v", i, p)
		}
	}
	if recs := h.audit.records(t); len(recs) != n {
		t.Errorf("%d audit records, want %d", len(recs), n)
	}
	// The token was logged out after the batch: the next request asks.
	if _, err := h.agent.SignPDF(ctx, webCaller(), docs[0], SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}); err != nil {
		t.Fatal(err)
	}
	if len(h.prompter.signPrompts()) != 2 {
		t.Errorf("the request after the batch did not ask for the PIN")
	}
}

func TestBatchRefusesBadDocumentBeforeAsking(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	docs := []Document{
		{Name: "good.pdf", Data: svcFx.letter},
		{Name: "truncated.pdf", Data: svcFx.letter[:len(svcFx.letter)/2]},
		{Name: "good2.pdf", Data: svcFx.letter},
	}
	r := h.agent.SignPDFs(testContext(t), webCaller(), docs, SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}, nil)
	if codeOfErr(r.Err) != "BAD_DOCUMENT" || !strings.Contains(r.Err.Error(), "truncated.pdf") {
		t.Fatalf("err = %v, want BAD_DOCUMENT naming truncated.pdf", r.Err)
	}
	if _, d := CodeOf(r.Err); d["document"] != "truncated.pdf" {
		t.Errorf("details = %v", d)
	}
	if len(r.Signed) != 0 || len(h.prompter.signPrompts()) != 0 || svcFx.steer.Calls(t, "C_Login") != 0 {
		t.Error("something was signed or asked")
	}
}

func TestWrongPINIsNotRetried(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 3})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	doc := Document{Name: "qd.pdf", Data: svcFx.letter}
	opts := SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}

	h.prompter.pins = []string{wrongPIN, wrongPIN}
	for i, wantRetries := range []int{-1, 1} { // count low (the token does not say), then final try
		_, err := h.agent.SignPDF(ctx, webCaller(), doc, opts)
		code, details := CodeOf(err)
		if code != "PIN_INCORRECT" {
			t.Fatalf("attempt %d: err = %v, want PIN_INCORRECT", i+1, err)
		}
		if got, ok := details["retriesLeft"]; !ok || got != wantRetries {
			t.Errorf("attempt %d: retriesLeft = %v, want %d", i+1, got, wantRetries)
		}
		if n := len(h.prompter.signPrompts()); n != i+1 {
			t.Fatalf("attempt %d: %d dialogs: the agent asked again on its own", i+1, n)
		}
		if n := svcFx.steer.Calls(t, "C_Login"); n != i+1 {
			t.Fatalf("attempt %d: %d C_Login calls", i+1, n)
		}
	}
	// The right PIN on the last try: the dialog warned, and the token is
	// not locked out.
	got, err := h.agent.SignPDF(ctx, webCaller(), doc, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSignedPDF(t, nil, svcFx.letter, got.Data, 1)
	p := h.prompter.signPrompts()[2]
	if !p.FinalTry || p.RetriesLeft != 1 {
		t.Errorf("third dialog: finalTry %v, retriesLeft %d", p.FinalTry, p.RetriesLeft)
	}
	recs := h.audit.records(t)
	if len(recs) != 3 || recs[0].Result != "PIN_INCORRECT" || recs[2].Result != "ok" {
		t.Errorf("audit = %+v", recs)
	}
}

func TestTokenRemovedMidBatch(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	const n, pulled = 6, 3
	docs := make([]Document, n)
	for i := range docs {
		docs[i] = Document{Name: fmt.Sprintf("d%d.pdf", i+1), Data: svcFx.letter}
	}
	r := h.agent.SignPDFs(testContext(t), webCaller(), docs, SignPDFOptions{Certificate: token.HandleOf(svcFx.org)}, func(p Progress) {
		if p.Done == pulled {
			if err := svcFx.steer.Write(p11fault.Control{Present: false}); err != nil {
				t.Error(err)
			}
		}
	})
	if codeOfErr(r.Err) != "TOKEN_REMOVED" {
		t.Fatalf("err = %v, want TOKEN_REMOVED", r.Err)
	}
	if len(r.Signed) != pulled {
		t.Fatalf("%d documents returned, want %d", len(r.Signed), pulled)
	}
	for i, d := range r.Signed {
		if d.Name != docs[i].Name {
			t.Errorf("returned %s as document %d", d.Name, i+1)
		}
		checkSignedPDF(t, nil, svcFx.letter, d.Data, 1)
	}
	recs := h.audit.records(t)
	if len(recs) != pulled+1 || recs[pulled].Result != "TOKEN_REMOVED" || recs[pulled].Document != "d4.pdf" {
		t.Errorf("audit = %+v", recs)
	}
}

func TestCancelMidBatch(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	const n, k = 5, 2
	docs := make([]Document, n)
	for i := range docs {
		docs[i] = Document{Name: fmt.Sprintf("c%d.pdf", i+1), Data: svcFx.letter}
	}
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	r := h.agent.SignPDFs(ctx, webCaller(), docs, SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}, func(p Progress) {
		if p.Done == k {
			cancel()
		}
	})
	if codeOfErr(r.Err) != "CANCELLED" {
		t.Fatalf("err = %v, want CANCELLED", r.Err)
	}
	if len(r.Signed) != k {
		t.Fatalf("%d documents returned, want %d", len(r.Signed), k)
	}
	for _, d := range r.Signed {
		checkSignedPDF(t, nil, svcFx.letter, d.Data, 1)
	}
	// The cancelled request still logs the token out: the next one asks.
	if _, err := h.agent.SignPDF(testContext(t), webCaller(), docs[0], SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}); err != nil {
		t.Fatal(err)
	}
	if len(h.prompter.signPrompts()) != 2 {
		t.Errorf("%d dialogs, want 2", len(h.prompter.signPrompts()))
	}
}

func TestDialogCancelAndTimeout(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	doc := Document{Name: "x.pdf", Data: svcFx.letter}
	opts := SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}

	h := newSvcHarness(t, nil)
	h.prompter.cancel = true
	if _, err := h.agent.SignPDF(testContext(t), webCaller(), doc, opts); codeOfErr(err) != CodeUserCancelled {
		t.Fatalf("cancel: err = %v, want USER_CANCELLED", err)
	}
	if n := svcFx.steer.Calls(t, "C_Login"); n != 0 {
		t.Errorf("C_Login called %d times after a cancel", n)
	}

	h = newSvcHarness(t, func(c *Config) { c.DialogTimeout = 50 * time.Millisecond })
	h.prompter.block = true
	if _, err := h.agent.SignPDF(testContext(t), webCaller(), doc, opts); codeOfErr(err) != CodeDialogTimeout {
		t.Fatalf("timeout: err = %v, want DIALOG_TIMEOUT", err)
	}
	if recs := h.audit.records(t); len(recs) != 1 || recs[0].Result != CodeDialogTimeout {
		t.Errorf("audit = %+v", recs)
	}
}

func TestPinpadConfirmsBeforeSigning(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true, Pinpad: true})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	doc := Document{Name: "pinpad.pdf", Data: svcFx.letter}
	opts := SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}
	got, err := h.agent.SignPDF(ctx, webCaller(), doc, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSignedPDF(t, nil, svcFx.letter, got.Data, 1)
	prompts := h.prompter.signPrompts()
	if len(prompts) != 1 || prompts[0].PINNeeded || prompts[0].Documents[0].SHA256 != sha256Hex(svcFx.letter) {
		t.Fatalf("pinpad dialogs = %+v", prompts)
	}
	// Refusing the confirmation: the token is never asked to log in.
	before := svcFx.steer.Calls(t, "C_Login")
	h.prompter.cancel = true
	if _, err := h.agent.SignPDF(ctx, webCaller(), doc, opts); codeOfErr(err) != CodeUserCancelled {
		t.Fatalf("err = %v, want USER_CANCELLED", err)
	}
	if svcFx.steer.Calls(t, "C_Login") != before {
		t.Error("the token logged in although the user refused")
	}
}

func TestSignHash(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	digest := sha256.Sum256([]byte("prepared by the DMS server"))
	req := SignHashRequest{Certificate: token.HandleOf(svcFx.personal), Digest: digest[:], Description: "Công văn 15/UBND\nline two"}

	if _, err := h.agent.SignHash(ctx, webCaller(), req); codeOfErr(err) != CodeHashNotAllowed {
		t.Fatalf("err = %v, want HASH_SIGNING_NOT_ALLOWED", err)
	}
	if len(h.prompter.signPrompts()) != 0 {
		t.Fatal("a dialog was shown for a refused origin")
	}
	short := req
	short.Digest = digest[:20]
	if _, err := h.agent.SignHash(ctx, Caller{Origin: hashSite}, short); codeOfErr(err) != CodeBadRequest {
		t.Fatalf("short digest: err = %v, want BAD_REQUEST", err)
	}

	res, err := h.agent.SignHash(ctx, Caller{Origin: hashSite}, req)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(res.CMS)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Signers) != 1 || !bytes.Equal(sd.Signers[0].MessageDigest, digest[:]) {
		t.Fatal("the CMS does not sign the digest sent")
	}
	if err := sd.Signers[0].VerifySignature(); err != nil {
		t.Fatal(err)
	}
	if len(sd.Certificates) < 2 {
		t.Errorf("the CMS carries %d certificates, want the signer's and the intermediate", len(sd.Certificates))
	}
	prompts := h.prompter.signPrompts()
	if len(prompts) != 1 {
		t.Fatalf("%d dialogs", len(prompts))
	}
	if p := prompts[0]; p.Action != "signHash" || p.Digest != hex.EncodeToString(digest[:]) || p.Caller != hashSite ||
		p.HashDescription != "Công văn 15/UBNDline two" || len(p.Documents) != 0 {
		t.Errorf("dialog = %+v", p)
	}
	recs := h.audit.records(t)
	if len(recs) != 3 || recs[0].Result != CodeHashNotAllowed || recs[2].Result != "ok" || recs[2].SHA256 != hex.EncodeToString(digest[:]) {
		t.Errorf("audit = %+v", recs)
	}
}

func TestVerifyPDFAfterSigning(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	got, err := h.agent.SignPDF(ctx, webCaller(), Document{Name: "v.pdf", Data: svcFx.letter}, SignPDFOptions{Certificate: token.HandleOf(svcFx.org)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := h.agent.VerifyPDF(ctx, webCaller(), Document{Name: "v.pdf", Data: got.Data})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Signatures) != 1 {
		t.Fatalf("%d signatures in the report", len(rep.Signatures))
	}
	s := rep.Signatures[0]
	if !s.Intact || !s.Trusted || !s.CoversWholeFile || s.Signer == nil || s.Signer.Kind != token.KindOrganisation {
		t.Errorf("signature report = %+v", s)
	}
	if rep.SHA256 != got.SHA256 {
		t.Errorf("report digest %s, signed document %s", rep.SHA256, got.SHA256)
	}
}

func TestTimestampedLevel(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	doc := Document{Name: "bt.pdf", Data: svcFx.letter}
	opts := SignPDFOptions{Certificate: token.HandleOf(svcFx.personal), Level: "B-T"}

	h := newSvcHarness(t, nil)
	if _, err := h.agent.SignPDF(testContext(t), webCaller(), doc, opts); codeOfErr(err) != CodeBadRequest {
		t.Fatalf("B-T without a TSA: err = %v, want BAD_REQUEST", err)
	}
	if len(h.prompter.signPrompts()) != 0 {
		t.Fatal("a dialog was shown for an impossible request")
	}

	tsa := tsatest.Start(t, svcFx.pki, tsatest.Options{})
	h = newSvcHarness(t, func(c *Config) { c.TSA = tsa.URL })
	got, err := h.agent.SignPDF(testContext(t), webCaller(), doc, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSignedPDF(t, pdfcheck.NewNSSDB(t, svcFx.pki.Root.Cert), svcFx.letter, got.Data, 1)
	rep, err := h.agent.VerifyPDF(testContext(t), webCaller(), Document{Data: got.Data})
	if err != nil {
		t.Fatal(err)
	}
	if got.Level != "B-T" || rep.Signatures[0].Timestamp == nil || !rep.Signatures[0].Timestamp.Intact {
		t.Errorf("level %s, timestamp %+v", got.Level, rep.Signatures[0].Timestamp)
	}
}

func TestPINNeverLoggedOrAudited(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 3})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	doc := Document{Name: "secret.pdf", Data: svcFx.letter}
	h.prompter.pins = []string{wrongPIN}
	if _, err := h.agent.SignPDF(ctx, webCaller(), doc, SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}); codeOfErr(err) != "PIN_INCORRECT" {
		t.Fatalf("err = %v", err)
	}
	if _, err := h.agent.SignPDF(ctx, webCaller(), doc, SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}); err != nil {
		t.Fatal(err)
	}
	if err := h.agent.SignPDFs(ctx, webCaller(), []Document{doc, doc}, SignPDFOptions{Certificate: token.HandleOf(svcFx.org)}, nil).Err; err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	if _, err := h.agent.SignHash(ctx, Caller{Local: true}, SignHashRequest{Certificate: token.HandleOf(svcFx.org), Digest: digest[:]}); err != nil {
		t.Fatal(err)
	}
	audit, err := os.ReadFile(h.audit.path)
	if err != nil {
		t.Fatal(err)
	}
	logs := h.logs.Bytes()
	if len(audit) == 0 || len(logs) == 0 {
		t.Fatal("nothing was audited or logged: the test proves nothing")
	}
	for _, pin := range []string{testPIN, wrongPIN} {
		if bytes.Contains(audit, []byte(pin)) {
			t.Errorf("the audit log holds the PIN %q", pin)
		}
		if bytes.Contains(logs, []byte(pin)) {
			t.Errorf("the log holds the PIN %q", pin)
		}
	}
	if recs := h.audit.records(t); len(recs) != 5 {
		t.Errorf("%d audit records, want 5", len(recs))
	}
}

func TestListCertificatesAndStatus(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	all, err := h.agent.ListCertificates(ctx, webCaller(), CertificateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("%d certificates, want the two end-entity ones (CA certificates skipped)", len(all))
	}
	for _, c := range all {
		if c.TokenLabel != testLabel || len(c.Certificate) == 0 || c.TokenID == "" {
			t.Errorf("certificate = %+v", c)
		}
	}
	tests := []struct {
		f    CertificateFilter
		want []token.Handle
	}{
		{CertificateFilter{Kind: token.KindOrganisation}, []token.Handle{token.HandleOf(svcFx.org)}},
		{CertificateFilter{Kind: token.KindPersonal, ValidNow: true, Signing: true, WithKey: true}, []token.Handle{token.HandleOf(svcFx.personal)}},
		{CertificateFilter{Issuer: strings.ToUpper(svcFx.personal.Issuer.CommonName[:6])}, []token.Handle{token.HandleOf(svcFx.personal), token.HandleOf(svcFx.org)}},
		{CertificateFilter{Issuer: "no such CA"}, nil},
		{CertificateFilter{Handle: token.HandleOf(svcFx.org)}, []token.Handle{token.HandleOf(svcFx.org)}},
		{CertificateFilter{TokenID: "nope"}, nil},
	}
	for i, tt := range tests {
		got, err := h.agent.ListCertificates(ctx, webCaller(), tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var hs []token.Handle
		for _, c := range got {
			hs = append(hs, c.Handle)
		}
		if !sameHandleSet(hs, tt.want) {
			t.Errorf("filter %d %+v: %v, want %v", i, tt.f, hs, tt.want)
		}
	}
	st, err := h.agent.Status(ctx, webCaller())
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "test" || st.Modules != 1 || st.Busy || len(st.Tokens) != 1 || st.Tokens[0].Label != testLabel ||
		st.Tokens[0].Module != "" || st.Tokens[0].Serial != "" {
		t.Errorf("status = %+v", st)
	}
}

func sameHandleSet(a, b []token.Handle) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[token.Handle]int{}
	for _, h := range a {
		seen[h]++
	}
	for _, h := range b {
		seen[h]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// waitEvent reads events until one of type typ comes, and fails the test
// when the channel closes or none comes within eventBound.
func waitEvent(t *testing.T, events <-chan Event, typ string) Event {
	t.Helper()
	deadline := time.After(eventBound)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("events closed while waiting for %s", typ)
			}
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestEvents(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	events := h.agent.Events(ctx)
	// The manager knows the token before it is pulled out.
	if _, err := h.agent.ListCertificates(ctx, webCaller(), CertificateFilter{}); err != nil {
		t.Fatal(err)
	}
	expect := func(typ string) Event { t.Helper(); return waitEvent(t, events, typ) }
	if err := svcFx.steer.Write(p11fault.Control{Present: false}); err != nil {
		t.Fatal(err)
	}
	e := expect("tokenRemoved")
	ti, ok := e.Data.(token.TokenInfo)
	if !ok || ti.Label != testLabel || ti.Module != "" || ti.Serial != "" {
		t.Errorf("tokenRemoved data = %#v", e.Data)
	}
	if err := svcFx.steer.Write(p11fault.Control{Present: true}); err != nil {
		t.Fatal(err)
	}
	expect("tokenInserted")
	e = expect("certificatesChanged")
	certs, ok := e.Data.([]CertificateInfo)
	if !ok {
		t.Fatalf("certificatesChanged data = %#v", e.Data)
	}
	var hs []token.Handle
	for _, c := range certs {
		hs = append(hs, c.Handle)
	}
	if !sameHandleSet(hs, []token.Handle{token.HandleOf(svcFx.personal), token.HandleOf(svcFx.org)}) {
		t.Errorf("certificatesChanged lists %v", hs)
	}
	cancel()
	for range events {
		// Drained: the channel closes once ctx ends.
	}
}

func TestRequestChecks(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	h := newSvcHarness(t, nil)
	ctx := testContext(t)
	doc := Document{Name: "r.pdf", Data: svcFx.letter}
	tests := []struct {
		name string
		c    Caller
		opts SignPDFOptions
		want string
	}{
		{"no caller", Caller{}, SignPDFOptions{}, CodeBadRequest},
		{"unknown profile", webCaller(), SignPDFOptions{Profile: "stamp"}, CodeBadRequest},
		{"bad level", webCaller(), SignPDFOptions{Level: "B-X"}, CodeBadRequest},
		{"bad hash", webCaller(), SignPDFOptions{Hash: "md5"}, CodeBadRequest},
		{"image without box", webCaller(), SignPDFOptions{SignatureImage: svcFx.sigPNG}, CodeBadRequest},
		{"rect and anchor", webCaller(), SignPDFOptions{RectMM: &[4]float64{1, 1, 10, 10}, Anchor: &AnchorOptions{Text: "x"}}, CodeBadRequest},
		{"bad date", webCaller(), SignPDFOptions{Profile: "issued", IssuedDate: "22/11/2026"}, CodeBadRequest},
		{"unknown certificate", webCaller(), SignPDFOptions{Certificate: "00ff"}, CodeNoCertificate},
		{"organisation approves", webCaller(), SignPDFOptions{Profile: "approved", Certificate: token.HandleOf(svcFx.org)}, string(pades.CodeOrder)},
		{"page out of range", webCaller(), SignPDFOptions{Certificate: token.HandleOf(svcFx.personal), Page: 99, RectMM: &[4]float64{10, 10, 40, 15}}, string(pades.CodeBadPage)},
		{"anchor not on the page", webCaller(), SignPDFOptions{Certificate: token.HandleOf(svcFx.personal), Anchor: &AnchorOptions{Text: "không có dòng này"}}, string(pades.CodeAnchorNotFound)},
	}
	for _, tt := range tests {
		if _, err := h.agent.SignPDF(ctx, tt.c, doc, tt.opts); codeOfErr(err) != tt.want {
			t.Errorf("%s: err = %v, want %s", tt.name, err, tt.want)
		}
	}
	if len(h.prompter.signPrompts()) != 0 || svcFx.steer.Calls(t, "C_Login") != 0 {
		t.Error("a refused request reached the dialog or the token")
	}
	// An expired certificate named explicitly.
	h = newSvcHarness(t, func(c *Config) { c.Now = func() time.Time { return svcFx.personal.NotAfter.Add(time.Hour) } })
	if _, err := h.agent.SignPDF(ctx, webCaller(), doc, SignPDFOptions{Certificate: token.HandleOf(svcFx.personal)}); codeOfErr(err) != CodeCertExpired {
		t.Errorf("expired: err = %v, want CERT_EXPIRED", err)
	}
	if _, err := h.agent.SignPDF(ctx, webCaller(), doc, SignPDFOptions{}); codeOfErr(err) != CodeNoCertificate {
		t.Errorf("all expired: err = %v, want NO_CERTIFICATE", err)
	}
	if _, err := New(Config{Keys: h.keys, Gate: svcGate{}, Prompter: h.prompter, DefaultLevel: "B-LT"}); err == nil {
		t.Error("a default level needing a TSA was accepted without one")
	}
}

func TestLongTermLevels(t *testing.T) {
	svcFx.steer.Set(t, p11fault.Control{Present: true})
	tsa := tsatest.Start(t, svcFx.pki, tsatest.Options{})
	h := newSvcHarness(t, func(c *Config) { c.TSA = tsa.URL })
	db := pdfcheck.NewNSSDB(t, svcFx.pki.Root.Cert)
	tmp := os.TempDir()
	before, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []string{"B-LT", "B-LTA"} {
		t.Run(level, func(t *testing.T) {
			got, err := h.agent.SignPDF(testContext(t), webCaller(), Document{Name: "lt.pdf", Data: svcFx.letter},
				SignPDFOptions{Certificate: token.HandleOf(svcFx.personal), Level: level})
			if err != nil {
				t.Fatal(err)
			}
			sigs := 1
			if level == "B-LTA" {
				sigs = 2 // and the document timestamp
			}
			if !bytes.HasPrefix(got.Data, svcFx.letter) {
				t.Fatal("the input is not a prefix of the output")
			}
			rep, err := h.agent.VerifyPDF(testContext(t), webCaller(), Document{Data: got.Data})
			if err != nil {
				t.Fatal(err)
			}
			if got.Level != level || !rep.HasDSS || len(rep.Signatures) != sigs || !rep.Signatures[0].Intact || !rep.Signatures[0].Trusted {
				t.Errorf("level %s, DSS %v, %d signatures, first %+v", got.Level, rep.HasDSS, len(rep.Signatures), rep.Signatures[0])
			}
			path := filepath.Join(t.TempDir(), "lt.pdf")
			if err := os.WriteFile(path, got.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			if ps := pdfcheck.Pdfsig(t, db, path); len(ps) == 0 || !ps[0].Valid {
				t.Errorf("pdfsig: %+v", ps)
			}
		})
	}
	// The temporary files of the extension are gone.
	after, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range before {
		seen[e.Name()] = true
	}
	for _, e := range after {
		if !seen[e.Name()] && strings.HasPrefix(e.Name(), "kyso-ltv-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
