package tray

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

const (
	actionsTokenLabel = "kyso-tray"
	actionsSOPIN      = "12345678"
	actionsPIN        = "123456"
)

// scriptedPrompter answers the agent's dialogs from a script: each Sign
// takes the next answer (a PIN, or an error such as
// agent.ErrUserCancelled); with the script exhausted it types pin. It
// records what each signing dialog showed.
type scriptedPrompter struct {
	pin string

	mu      sync.Mutex
	answers []error // nil means "type the PIN"
	signs   []agent.SignPrompt
}

func (p *scriptedPrompter) ApproveOrigin(context.Context, string) (bool, error) {
	return false, errors.New("tray test: no origin dialog expected for a local request")
}

func (p *scriptedPrompter) ChooseCertificate(_ context.Context, cp agent.ChoosePrompt) (token.Handle, error) {
	if len(cp.Certificates) == 0 {
		return "", agent.ErrUserCancelled
	}
	return cp.Certificates[0].Handle, nil
}

func (p *scriptedPrompter) Sign(ctx context.Context, sp agent.SignPrompt) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signs = append(p.signs, sp)
	if len(p.answers) > 0 {
		err := p.answers[0]
		p.answers = p.answers[1:]
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !sp.PINNeeded {
		return nil, nil
	}
	return []byte(p.pin), nil
}

func (p *scriptedPrompter) script(answers ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers = append(p.answers, answers...)
}

func (p *scriptedPrompter) prompts() []agent.SignPrompt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.signs)
}

// refuseGate admits no origin: the tray's requests are local and never
// reach it.
type refuseGate struct{}

func (refuseGate) Admit(context.Context, string) error {
	return &agent.Error{Code: agent.CodeOriginNotAllowed}
}
func (refuseGate) HashSigningAllowed(string) bool { return false }

// actionsFixture is a SoftHSM token with a personal key certified by a
// devpki hierarchy, an agent over it and the tray's Actions over the agent.
type actionsFixture struct {
	pki      *devpki.PKI
	prompter *scriptedPrompter
	actions  *Actions
	nss      *pdfcheck.NSSDB
	letter   []byte // testdata/sample/quyet-dinh.pdf
}

// newActionsFixture builds the fixture. SoftHSM reads its configuration
// once per process, so a process builds at most one (TestLocalActions runs
// in a child process of its own for that).
func newActionsFixture(t *testing.T) *actionsFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	env, err := softhsm.New(filepath.Join(dir, "softhsm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken(ctx, actionsTokenLabel, actionsSOPIN, actionsPIN); err != nil {
		t.Fatal(err)
	}
	t.Setenv(softhsm.ConfEnvVar, env.ConfPath)
	module, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP384})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devpki.ProvisionToken(module, actionsTokenLabel, actionsPIN, pki, []devpki.KeySpec{
		{Label: "personal", ID: []byte{1}, Kind: devpki.RSA2048, Profile: devpki.Personal()},
	}, devpki.WithIntermediateCert("")); err != nil {
		t.Fatal(err)
	}
	keys := token.NewManager(token.Options{Modules: []string{module}})
	t.Cleanup(func() { keys.Close() })
	if keys.Loaded() != 1 {
		t.Fatalf("SoftHSM not loaded: %+v", keys.Modules())
	}
	verify := agent.VerifyConfig{
		TrustPEM:       [][]byte{devpki.EncodeCertificatesPEM(pki.Root.Cert)},
		NoShippedRoots: true,
		Offline:        true,
	}
	prompter := &scriptedPrompter{pin: actionsPIN}
	ag, err := agent.New(agent.Config{
		Keys:     keys,
		Gate:     refuseGate{},
		Prompter: prompter,
		Verify:   verify,
		Version:  "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Close() })
	letter, err := os.ReadFile("../testdata/sample/quyet-dinh.pdf")
	if err != nil {
		t.Fatal(err)
	}
	return &actionsFixture{
		pki:      pki,
		prompter: prompter,
		actions:  &Actions{Service: ag, Verify: verify, Lang: i18n.Vietnamese},
		nss:      pdfcheck.NewNSSDB(t, pki.Root.Cert),
		letter:   letter,
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func codeOf(err error) string {
	c, _ := agent.CodeOf(err)
	return c
}

// actionsChildEnv marks the child process that runs TestLocalActions'
// body: SoftHSM reads its configuration once per process, so each run
// (also under -count=N) gets a fresh process and a fresh token.
const actionsChildEnv = "KYSO_TRAY_ACTIONS_CHILD"

// TestLocalActions is the acceptance test of the tray's "Ký tệp PDF…" and
// "Kiểm tra chữ ký…": the test drives Actions, the code the menu items
// call, with a scripted prompter typing the PIN. The body runs in a child
// process of the test binary (see actionsChildEnv).
func TestLocalActions(t *testing.T) {
	if os.Getenv(actionsChildEnv) == "1" {
		testLocalActions(t)
		return
	}
	runInChild(t, "TestLocalActions", actionsChildEnv)
}

// runInChild runs the test named name in a fresh process of the test
// binary with childEnv=1 set (and without the parent's SoftHSM
// configuration), for state a library keeps once per process (SoftHSM's
// configuration, systray), and fails when it fails or did not run.
func runInChild(t *testing.T, name, childEnv string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v", "-test.timeout=5m")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, softhsm.ConfEnvVar+"=") && !strings.HasPrefix(kv, childEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+name)) {
		t.Fatalf("the child process did not run the test:\n%s", out)
	}
	t.Logf("child process:\n%s", out)
}

func testLocalActions(t *testing.T) {
	fx := newActionsFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	work := t.TempDir()
	in := filepath.Join(work, "quyet-dinh.pdf")
	if err := os.WriteFile(in, fx.letter, 0o644); err != nil {
		t.Fatal(err)
	}
	inSum := fileSum(t, in)
	first := filepath.Join(work, "quyet-dinh-da-ky.pdf")
	second := filepath.Join(work, "quyet-dinh-da-ky-2.pdf")

	t.Run("sign writes a valid signed copy next to the input", func(t *testing.T) {
		out, err := fx.actions.SignFile(ctx, in, agent.SignPDFOptions{Reason: "Phê duyệt"})
		if err != nil {
			t.Fatalf("SignFile: %v", err)
		}
		if out != first {
			t.Fatalf("output %s, want %s", out, first)
		}
		if fileSum(t, in) != inSum {
			t.Fatal("the input changed")
		}
		signed, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(signed, fx.letter) || len(signed) <= len(fx.letter) {
			t.Fatal("the output is not an incremental update of the input")
		}
		if runtime.GOOS != "windows" {
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o644 {
				t.Errorf("output mode %v, want 0644", st.Mode().Perm())
			}
		}
		sigs := pdfcheck.Pdfsig(t, fx.nss, out)
		if len(sigs) != 1 {
			t.Fatalf("pdfsig sees %d signatures, want 1", len(sigs))
		}
		if s := sigs[0]; !s.Valid || !s.TotalDocumentSigned || !s.CertValid {
			t.Errorf("pdfsig: %s / %s\n%s", s.SignatureValidation, s.CertificateValidation, s.Raw)
		}
		prompts := fx.prompter.prompts()
		if len(prompts) != 1 {
			t.Fatalf("%d signing dialogs, want 1", len(prompts))
		}
		p := prompts[0]
		if p.Caller != "local" || p.Action != "signPdf" || len(p.Documents) != 1 || p.Documents[0].Name != "quyet-dinh.pdf" || !p.PINNeeded {
			t.Errorf("dialog: %+v", p)
		}
		if got := fx.actions.SignedMessage(out); !strings.Contains(got, "quyet-dinh-da-ky.pdf") || !strings.Contains(got, work) {
			t.Errorf("SignedMessage: %q", got)
		}
		// No temporary file is left next to the output.
		if names := dirNames(t, work); !slices.Equal(names, []string{"quyet-dinh-da-ky.pdf", "quyet-dinh.pdf"}) {
			t.Errorf("folder holds %q", names)
		}
	})

	t.Run("a second signature never overwrites the first", func(t *testing.T) {
		firstSum := fileSum(t, first)
		out, err := fx.actions.SignFile(ctx, in, agent.SignPDFOptions{})
		if err != nil {
			t.Fatalf("SignFile: %v", err)
		}
		if out != second {
			t.Fatalf("output %s, want %s", out, second)
		}
		if fileSum(t, first) != firstSum {
			t.Error("the first signed copy changed")
		}
		if fileSum(t, in) != inSum {
			t.Error("the input changed")
		}
		if sigs := pdfcheck.Pdfsig(t, fx.nss, out); len(sigs) != 1 || !sigs[0].Valid {
			t.Errorf("pdfsig: %+v", sigs)
		}
	})

	t.Run("a cancelled dialog writes nothing", func(t *testing.T) {
		before := dirNames(t, work)
		fx.prompter.script(agent.ErrUserCancelled)
		_, err := fx.actions.SignFile(ctx, in, agent.SignPDFOptions{})
		if codeOf(err) != agent.CodeUserCancelled {
			t.Fatalf("err %v, want USER_CANCELLED", err)
		}
		if after := dirNames(t, work); !slices.Equal(after, before) {
			t.Errorf("folder changed: %q → %q", before, after)
		}
		if msg := fx.actions.FailureMessage(IDSignFile, in, err); msg != "" {
			t.Errorf("a cancel is reported as %q", msg)
		}
	})

	t.Run("a non-PDF is refused before any dialog and writes nothing", func(t *testing.T) {
		dir := t.TempDir()
		notes := filepath.Join(dir, "ghi-chu.pdf")
		if err := os.WriteFile(notes, []byte("đây không phải PDF\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		dialogs := len(fx.prompter.prompts())
		for _, path := range []string{notes, filepath.Join(dir, "khong-co.pdf"), dir} {
			_, err := fx.actions.SignFile(ctx, path, agent.SignPDFOptions{})
			if codeOf(err) != string(pades.CodeBadDocument) {
				t.Errorf("SignFile(%s): err %v, want BAD_DOCUMENT", filepath.Base(path), err)
			}
			if !errors.Is(err, pades.ErrBadDocument) {
				t.Errorf("SignFile(%s): %v is not pades.ErrBadDocument", filepath.Base(path), err)
			}
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"ghi-chu.pdf"}) {
			t.Errorf("folder holds %q", names)
		}
		if n := len(fx.prompter.prompts()); n != dialogs {
			t.Errorf("%d dialogs shown for refused files", n-dialogs)
		}
		_, err := fx.actions.SignFile(ctx, notes, agent.SignPDFOptions{})
		msg := fx.actions.FailureMessage(IDSignFile, notes, err)
		if !strings.Contains(msg, "ghi-chu.pdf") || !strings.Contains(msg, "không phải PDF") {
			t.Errorf("FailureMessage: %q", msg)
		}
		if _, _, err := fx.actions.VerifyFile(ctx, notes); codeOf(err) != string(pades.CodeBadDocument) {
			t.Errorf("VerifyFile(non-PDF): err %v, want BAD_DOCUMENT", err)
		}
		if _, _, err := fx.actions.VerifyFile(ctx, filepath.Join(dir, "khong-co.pdf")); codeOf(err) != string(pades.CodeBadDocument) {
			t.Errorf("VerifyFile(missing): err %v, want BAD_DOCUMENT", err)
		}
	})

	t.Run("verify reports the signed copy intact", func(t *testing.T) {
		text, rep, err := fx.actions.VerifyFile(ctx, first)
		if err != nil {
			t.Fatalf("VerifyFile: %v", err)
		}
		if !strings.Contains(text, "HỢP LỆ") && !strings.Contains(text, "CHƯA XÁC ĐỊNH") {
			t.Errorf("no verdict in the report:\n%s", text)
		}
		if !strings.Contains(text, "nội dung không bị thay đổi") {
			t.Errorf("no integrity line in the report:\n%s", text)
		}
		if strings.Contains(text, "KHÔNG HỢP LỆ") {
			t.Errorf("the signed copy is reported invalid:\n%s", text)
		}
		if rep.File != first || len(rep.Signatures) != 1 || !rep.Signatures[0].Intact || !rep.Signatures[0].Trusted {
			t.Errorf("report: file %s, signatures %+v", rep.File, rep.Signatures)
		}
		if rep.Verdict == pades.Verdict("invalid") {
			t.Errorf("verdict %s", rep.Verdict)
		}

		en := *fx.actions
		en.Lang = i18n.English
		en.Now = func() time.Time { return time.Now().Add(time.Hour) }
		text, rep, err = en.VerifyFile(ctx, first)
		if err != nil {
			t.Fatalf("VerifyFile (English): %v", err)
		}
		if !strings.Contains(text, "unchanged since signing") {
			t.Errorf("English report:\n%s", text)
		}
		if rep.VerifiedAt.Before(time.Now().Add(30 * time.Minute)) {
			t.Errorf("VerifiedAt %v does not follow Actions.Now", rep.VerifiedAt)
		}
	})

	t.Run("the input is untouched by everything above", func(t *testing.T) {
		if fileSum(t, in) != inSum {
			t.Error("the input changed")
		}
	})
}

func TestOutputPath(t *testing.T) {
	dir := filepath.Join("a", "b")
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"quyet-dinh.pdf", 1, "quyet-dinh-da-ky.pdf"},
		{"quyet-dinh.pdf", 2, "quyet-dinh-da-ky-2.pdf"},
		{"Cong Van.PDF", 1, "Cong Van-da-ky.pdf"},
		{"bao-cao", 3, "bao-cao-da-ky-3.pdf"},
		{"v1.2.docx", 1, "v1.2.docx-da-ky.pdf"},
	} {
		if got := OutputPath(filepath.Join(dir, c.in), c.n); got != filepath.Join(dir, c.want) {
			t.Errorf("OutputPath(%q, %d) = %q, want %q", c.in, c.n, got, filepath.Join(dir, c.want))
		}
	}
}

// TestSignFileRefusesWithoutService checks the zero Actions fails cleanly.
func TestSignFileRefusesWithoutService(t *testing.T) {
	var a Actions
	if _, err := a.SignFile(context.Background(), "x.pdf", agent.SignPDFOptions{}); codeOf(err) != agent.CodeInternal {
		t.Errorf("err %v, want INTERNAL", err)
	}
}

// TestWriteNextToSkipsTakenNames checks that existing files, including a
// name a concurrent writer reserved, are never replaced.
func TestWriteNextToSkipsTakenNames(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "to-trinh.pdf")
	for _, name := range []string{"to-trinh.pdf", "to-trinh-da-ky.pdf", "to-trinh-da-ky-2.pdf"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := writeNextTo(in, []byte("signed"))
	if err != nil {
		t.Fatal(err)
	}
	if out != filepath.Join(dir, "to-trinh-da-ky-3.pdf") {
		t.Fatalf("output %s", out)
	}
	for _, name := range []string{"to-trinh.pdf", "to-trinh-da-ky.pdf", "to-trinh-da-ky-2.pdf"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != name {
			t.Errorf("%s was overwritten", name)
		}
	}
	if b, _ := os.ReadFile(out); string(b) != "signed" {
		t.Errorf("output holds %q", b)
	}
	var wg sync.WaitGroup
	outs := make([]string, 8)
	for i := range outs {
		wg.Go(func() {
			o, err := writeNextTo(in, []byte("concurrent"))
			if err != nil {
				t.Error(err)
			}
			outs[i] = o
		})
	}
	wg.Wait()
	slices.Sort(outs)
	if len(slices.Compact(slices.Clone(outs))) != len(outs) {
		t.Errorf("concurrent writers shared a name: %q", outs)
	}
}
