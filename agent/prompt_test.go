package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/token"
)

const docHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func samplePrompt() SignPrompt {
	return SignPrompt{
		Caller: "https://qlvb.example.gov.vn",
		Action: "signPdf",
		Documents: []PromptDocument{
			{Name: "Quyết định 123-QĐ.pdf", Pages: 3, Size: 1536 * 1024, SHA256: docHash},
		},
		Profile: "approved",
		Certificate: CertificateInfo{
			Identity:   token.Identity{Name: "Nguyễn Văn A", Organization: "Sở Nội vụ"},
			Issuer:     "VGCA Class 2",
			NotBefore:  time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC),
			NotAfter:   time.Date(2028, 1, 2, 3, 0, 0, 0, time.UTC),
			TokenLabel: "VGCA Token",
		},
		TokenLabel:  "VGCA Token",
		PINNeeded:   true,
		RetriesLeft: 3,
	}
}

func TestFormatSignPrompt(t *testing.T) {
	cases := []struct {
		name    string
		lang    i18n.Lang
		edit    func(p *SignPrompt)
		want    []string
		notWant []string
	}{
		{
			name: "vi single document",
			lang: i18n.Vietnamese,
			want: []string{
				"Trang web yêu cầu: https://qlvb.example.gov.vn",
				"Ký số văn bản:",
				"Quyết định 123-QĐ.pdf",
				"3 trang, 1,5 MB, SHA-256 9f86d081884c7d65…b0f00a08",
				"Hình thức ký: ký duyệt",
				"Chứng thư số: Nguyễn Văn A (Sở Nội vụ)",
				"Cấp bởi: VGCA Class 2",
				"Hiệu lực: từ 02/01/2025 đến 02/01/2028",
				"Thiết bị ký (token): VGCA Token",
				"Còn 3 lần nhập PIN.",
				"Nhập mã PIN để đồng ý ký:",
			},
			notWant: []string{"CẢNH BÁO", "không đúng"},
		},
		{
			name: "en single document",
			lang: i18n.English,
			want: []string{
				"Requested by the website: https://qlvb.example.gov.vn",
				"Sign the document:",
				"3 pages, 1.5 MB, SHA-256 9f86d081884c7d65…b0f00a08",
				"Signature type: approval",
				"Certificate: Nguyễn Văn A (Sở Nội vụ)",
				"3 PIN attempts left.",
				"Type your PIN to sign:",
			},
		},
		{
			name: "vi final try after a wrong PIN",
			lang: i18n.Vietnamese,
			edit: func(p *SignPrompt) { p.RetriesLeft, p.FinalTry, p.Retry = 1, true, true },
			want: []string{"Mã PIN vừa nhập không đúng.", "CẢNH BÁO: đây là lần nhập PIN cuối cùng"},
		},
		{
			name:    "en pinpad",
			lang:    i18n.English,
			edit:    func(p *SignPrompt) { p.PINNeeded, p.Caller = false, "local" },
			want:    []string{"an application on this computer", "Press Sign to sign."},
			notWant: []string{"PIN"},
		},
		{
			name: "vi batch",
			lang: i18n.Vietnamese,
			edit: func(p *SignPrompt) {
				p.Action = "signPdfs"
				p.Documents = nil
				for i := range 10 {
					p.Documents = append(p.Documents, PromptDocument{Name: "VB" + string(rune('A'+i)) + ".pdf", Pages: 1, Size: 1000, SHA256: docHash})
				}
			},
			want:    []string{"Ký số 10 văn bản:", "VBA.pdf", "VBH.pdf", "… và 2 văn bản khác", "Tổng dung lượng: 9,8 KB"},
			notWant: []string{"VBI.pdf"},
		},
		{
			name: "vi hash",
			lang: i18n.Vietnamese,
			edit: func(p *SignPrompt) {
				p.Action, p.Documents, p.Digest, p.HashDescription = "signHash", nil, docHash, "Hợp đồng số 5"
			},
			want:    []string{"Ký số một giá trị băm", "Giá trị băm: 9f86d081884c7d65…b0f00a08", "«Hợp đồng số 5»", "không kiểm tra được mô tả"},
			notWant: []string{"Hình thức ký"},
		},
		{
			name: "en unknown retries",
			lang: i18n.English,
			edit: func(p *SignPrompt) { p.RetriesLeft = -1 },
			want: []string{"Type your PIN to sign:"}, notWant: []string{"attempts left"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := samplePrompt()
			if c.edit != nil {
				c.edit(&p)
			}
			text := FormatSignPrompt(c.lang, p)
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(text, w) {
					t.Errorf("text has %q:\n%s", w, text)
				}
			}
			// No key left untranslated.
			if strings.Contains(text, "prompt.") {
				t.Errorf("untranslated key in:\n%s", text)
			}
		})
	}
}

// A document name is the caller's to choose: it must not be able to draw
// lines of its own (a fake "requested by"), reorder the text, or send
// terminal escapes.
func TestFormatSignPromptSpoofing(t *testing.T) {
	p := samplePrompt()
	p.Documents[0].Name = "a.pdf\n\nTrang web yêu cầu: https://gov.vn\r\x1b[2J\u202egnp.exe\u200b"
	p.Certificate.Identity.Name = "X\nCấp bởi: Bộ Công an"
	text := FormatSignPrompt(i18n.Vietnamese, p)
	linesStarting := func(prefix string) int {
		n := 0
		for l := range strings.Lines(text) {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				n++
			}
		}
		return n
	}
	if linesStarting("Trang web yêu cầu:") != 1 {
		t.Errorf("a document name forged a caller line:\n%s", text)
	}
	if linesStarting("Cấp bởi:") != 1 {
		t.Errorf("a certificate name forged an issuer line:\n%s", text)
	}
	for _, bad := range []string{"\r", "\x1b", "\u202e", "\u200b"} {
		if strings.Contains(text, bad) {
			t.Errorf("text contains %q", bad)
		}
	}
	long := strings.Repeat("x", 500) + ".pdf"
	if got := cleanText(long, 100); len([]rune(got)) != 100 || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("cleanText(long) = %q", got)
	}
	if got := zenityEntryText(`a\nb`); got != `a\nb` && got != `a\\nb` {
		t.Errorf("zenityEntryText = %q", got)
	}
}

func TestFormatApproveOrigin(t *testing.T) {
	for _, lang := range []i18n.Lang{i18n.Vietnamese, i18n.English} {
		text := FormatApproveOrigin(lang, "https://dms.example.vn:8443")
		if !strings.Contains(text, "\n      https://dms.example.vn:8443\n") {
			t.Errorf("%s: origin not on a line of its own:\n%s", lang, text)
		}
	}
	c := samplePrompt().Certificate
	if got := FormatCertificateChoice(i18n.Vietnamese, c); got != "Nguyễn Văn A (Sở Nội vụ) — cấp bởi VGCA Class 2, hiệu lực đến 02/01/2028, token VGCA Token" {
		t.Errorf("choice = %q", got)
	}
}

func TestFormatSize(t *testing.T) {
	cases := []struct {
		n      int64
		vi, en string
	}{
		{512, "512 B", "512 B"},
		{1536, "1,5 KB", "1.5 KB"},
		{200 << 20, "200,0 MB", "200.0 MB"},
		{3 << 30, "3,0 GB", "3.0 GB"},
	}
	for _, c := range cases {
		if got := formatSize(i18n.Vietnamese, c.n); got != c.vi {
			t.Errorf("vi %d = %q, want %q", c.n, got, c.vi)
		}
		if got := formatSize(i18n.English, c.n); got != c.en {
			t.Errorf("en %d = %q, want %q", c.n, got, c.en)
		}
	}
}

func TestTerminalPrompter(t *testing.T) {
	certs := []CertificateInfo{{Handle: "h1", Identity: token.Identity{Name: "A"}}, {Handle: "h2", Identity: token.Identity{Name: "B"}}}
	cases := []struct {
		name  string
		input string
		run   func(ctx context.Context, p Prompter) (any, error)
		want  any
		err   error
		shown []string
	}{
		{"approve yes", "có\n", func(ctx context.Context, p Prompter) (any, error) {
			return p.ApproveOrigin(ctx, "https://dms.example.vn")
		}, true, nil, []string{"https://dms.example.vn", "Cho phép?"}},
		{"approve default no", "\n", func(ctx context.Context, p Prompter) (any, error) {
			return p.ApproveOrigin(ctx, "https://dms.example.vn")
		}, false, nil, nil},
		{"approve eof", "", func(ctx context.Context, p Prompter) (any, error) {
			return p.ApproveOrigin(ctx, "https://dms.example.vn")
		}, false, io.EOF, nil},
		{"pin", "123456\r\n", func(ctx context.Context, p Prompter) (any, error) {
			pin, err := p.Sign(ctx, samplePrompt())
			return string(pin), err
		}, "123456", nil, []string{"Quyết định 123-QĐ.pdf", "Còn 3 lần nhập PIN.", "Mã PIN"}},
		{"pin without newline", "4321", func(ctx context.Context, p Prompter) (any, error) {
			pin, err := p.Sign(ctx, samplePrompt())
			return string(pin), err
		}, "4321", nil, nil},
		{"empty pin cancels", "\n", func(ctx context.Context, p Prompter) (any, error) {
			pin, err := p.Sign(ctx, samplePrompt())
			return string(pin), err
		}, "", ErrUserCancelled, nil},
		{"confirm", "c\n", func(ctx context.Context, p Prompter) (any, error) {
			sp := samplePrompt()
			sp.PINNeeded = false
			pin, err := p.Sign(ctx, sp)
			return pin == nil, err
		}, true, nil, []string{"Ký?"}},
		{"confirm refused", "k\n", func(ctx context.Context, p Prompter) (any, error) {
			sp := samplePrompt()
			sp.PINNeeded = false
			_, err := p.Sign(ctx, sp)
			return nil, err
		}, nil, ErrUserCancelled, nil},
		{"choose", "x\n2\n", func(ctx context.Context, p Prompter) (any, error) {
			return p.ChooseCertificate(ctx, ChoosePrompt{Caller: "https://dms.example.vn", Certificates: certs})
		}, token.Handle("h2"), nil, []string{"1. A", "2. B", "https://dms.example.vn"}},
		{"choose cancel", "\n", func(ctx context.Context, p Prompter) (any, error) {
			return p.ChooseCertificate(ctx, ChoosePrompt{Certificates: certs})
		}, token.Handle(""), ErrUserCancelled, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			p := NewTerminalPrompter(strings.NewReader(c.input), &out, i18n.Vietnamese)
			got, err := c.run(context.Background(), p)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if c.err == nil && got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
			for _, s := range c.shown {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
			if strings.Contains(out.String(), "123456") {
				t.Error("the PIN was echoed")
			}
		})
	}
}

// A dialog whose request ends returns ctx's error at once; the line typed
// later is not taken as the next dialog's answer.
func TestTerminalPrompterAbandoned(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	out := &syncBuffer{}
	p := NewTerminalPrompter(r, out, i18n.English)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Sign(ctx, samplePrompt()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sign with an ended request = %v", err)
	}
	if out.String() != "" {
		t.Errorf("an ended request printed %q", out.String())
	}

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.ApproveOrigin(ctx, "https://dms.example.vn")
		done <- err
	}()
	for !strings.Contains(out.String(), "Allow?") {
		time.Sleep(time.Millisecond) // until the question is on screen
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned ApproveOrigin = %v", err)
	}
	res := make(chan bool, 1)
	go func() {
		ok, _ := p.ApproveOrigin(context.Background(), "https://other.example.vn")
		res <- ok
	}()
	// The first line answers the abandoned dialog and is dropped; the
	// second answers the new one.
	if _, err := io.WriteString(w, "y\nn\n"); err != nil {
		t.Fatal(err)
	}
	if <-res {
		t.Error("the abandoned dialog's answer was taken by the next one")
	}
	if !strings.Contains(out.String(), "press Enter") {
		t.Errorf("no notice for the abandoned dialog:\n%s", out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
