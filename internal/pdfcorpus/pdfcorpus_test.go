package pdfcorpus_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
)

func newPKI(t *testing.T) *devpki.PKI {
	t.Helper()
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP384})
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGenerate makes the corpus, checks that each file has the shape its
// name promises and passes qpdf --check, then generates again to show
// reuse: same files, untouched, except the signed one under a new PKI.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	pki := newPKI(t)
	dir := filepath.Join(t.TempDir(), "corpus")
	start := time.Now()
	samples, err := pdfcorpus.Generate(ctx, dir, pki)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Generate (first run): %v", time.Since(start).Round(time.Millisecond))

	want := []string{
		pdfcorpus.TemplateName, pdfcorpus.LetterName, pdfcorpus.LetterPDFAName, pdfcorpus.GhostscriptName, pdfcorpus.ClassicName,
		pdfcorpus.XRefStreamName, pdfcorpus.LinearizedName, pdfcorpus.PDF20Name, pdfcorpus.Rotate90Name,
		pdfcorpus.Rotate270Name, pdfcorpus.ManyPagesName, pdfcorpus.MutoolGarbageName, pdfcorpus.MutoolCompressedName,
		pdfcorpus.IncrementalName, pdfcorpus.IncrementalXRefName, pdfcorpus.ScanName, pdfcorpus.HybridName,
		pdfcorpus.SignedName,
	}
	var names []string
	by := map[string]pdfcorpus.Sample{}
	for _, s := range samples {
		names = append(names, s.Name)
		by[s.Name] = s
		fi, err := os.Stat(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-28s %4d pages %9d bytes  %s", s.Name, s.Pages, fi.Size(), s.Producer)
		if s.Producer == "" || s.Notes == "" || filepath.Dir(s.Path) != dir {
			t.Errorf("%s: incomplete sample %+v", s.Name, s)
		}
		wantPages := 2
		switch s.Name {
		case pdfcorpus.ManyPagesName:
			wantPages = pdfcorpus.ManyPages
		case pdfcorpus.HybridName:
			wantPages = 1
		}
		if s.Pages != wantPages {
			t.Errorf("%s: %d pages, want %d", s.Name, s.Pages, wantPages)
		}
		if err := pdfcheck.QpdfCheck(s.Path); err != nil {
			t.Error(err)
		}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("samples %v, want %v", names, want)
	}

	// Each variant has the feature it is named after.
	contains := map[string][]string{
		pdfcorpus.LetterName:           {"LiberationSerif", "/Producer"},
		pdfcorpus.LetterPDFAName:       {"<pdfaid:part>2</pdfaid:part>", "<pdfaid:conformance>B</pdfaid:conformance>", "/OutputIntents"},
		pdfcorpus.XRefStreamName:       {"/Type /XRef", "/Type /ObjStm"},
		pdfcorpus.LinearizedName:       {"/Linearized 1"},
		pdfcorpus.Rotate90Name:         {"/Rotate 90"},
		pdfcorpus.Rotate270Name:        {"/Rotate 270"},
		pdfcorpus.HybridName:           {"/XRefStm", "/Type /ObjStm"},
		pdfcorpus.SignedName:           {"/ByteRange", "/SubFilter /adbe.pkcs7.detached"},
		pdfcorpus.ScanName:             {"/DCTDecode", "img2pdf"},
		pdfcorpus.IncrementalName:      {"/Prev"},
		pdfcorpus.IncrementalXRefName:  {"/Prev", "/Type /XRef"},
		pdfcorpus.MutoolCompressedName: {"/FlateDecode"},
	}
	for name, needles := range contains {
		data := readFile(t, by[name].Path)
		for _, n := range needles {
			if !bytes.Contains(data, []byte(n)) {
				t.Errorf("%s lacks %q", name, n)
			}
		}
	}
	if data := readFile(t, by[pdfcorpus.PDF20Name].Path); !bytes.HasPrefix(data, []byte("%PDF-2.0")) {
		t.Errorf("%s starts %q", pdfcorpus.PDF20Name, data[:8])
	}

	// Incremental samples: the base file is an exact prefix and one more
	// revision follows it, in the base's cross-reference flavour.
	for upd, base := range map[string]string{
		pdfcorpus.IncrementalName:     pdfcorpus.ClassicName,
		pdfcorpus.IncrementalXRefName: pdfcorpus.XRefStreamName,
		pdfcorpus.SignedName:          pdfcorpus.LetterName,
	} {
		if err := pdfcheck.IsPrefix(by[base].Path, by[upd].Path); err != nil {
			t.Error(err)
		}
		b, u := readFile(t, by[base].Path), readFile(t, by[upd].Path)
		if got, want := bytes.Count(u, []byte("%%EOF")), bytes.Count(b, []byte("%%EOF"))+1; got != want {
			t.Errorf("%s: %d %%%%EOF markers, want %d", upd, got, want)
		}
	}
	// The update's xref stream is chained to the previous stream.
	upd := readFile(t, by[pdfcorpus.IncrementalXRefName].Path)
	tail := upd[len(readFile(t, by[pdfcorpus.XRefStreamName].Path)):]
	if !regexp.MustCompile(`/Type /XRef [^\n]*/Prev \d+`).Match(tail) || bytes.Contains(tail, []byte("trailer")) {
		t.Errorf("xref-stream update is not an xref stream with /Prev:\n%s", tail)
	}

	// pdfsig's own signature verifies with the caller's root.
	db := pdfcheck.NewNSSDB(t, pki.Root.Cert)
	sigs := pdfcheck.Pdfsig(t, db, by[pdfcorpus.SignedName].Path)
	if len(sigs) != 1 || !sigs[0].Valid || !sigs[0].CertValid || !sigs[0].TotalDocumentSigned {
		t.Errorf("signed sample: %+v", sigs)
	}

	// Reuse: nothing is rewritten.
	mtimes := map[string]time.Time{}
	for _, s := range samples {
		fi, err := os.Stat(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		mtimes[s.Name] = fi.ModTime()
	}
	time.Sleep(10 * time.Millisecond) // so a rewrite would show in the mtime
	start = time.Now()
	again, err := pdfcorpus.Generate(ctx, dir, pki)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Generate (reuse): %v", time.Since(start).Round(time.Millisecond))
	if !slices.Equal(again, samples) {
		t.Errorf("reuse returned %+v, first run %+v", again, samples)
	}
	changed := func() []string {
		var c []string
		for _, s := range samples {
			fi, err := os.Stat(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.ModTime().Equal(mtimes[s.Name]) {
				c = append(c, s.Name)
			}
		}
		return c
	}
	if c := changed(); len(c) != 0 {
		t.Errorf("reuse rewrote %v", c)
	}

	// Another PKI: only the signed sample is made again, for its roots.
	other := newPKI(t)
	if _, err := pdfcorpus.Generate(ctx, dir, other); err != nil {
		t.Fatal(err)
	}
	if c := changed(); !slices.Equal(c, []string{pdfcorpus.SignedName}) {
		t.Errorf("with another PKI, rewrote %v, want only %s", c, pdfcorpus.SignedName)
	}
	db = pdfcheck.NewNSSDB(t, other.Root.Cert)
	if sigs := pdfcheck.Pdfsig(t, db, by[pdfcorpus.SignedName].Path); len(sigs) != 1 || !sigs[0].CertValid {
		t.Errorf("re-signed sample under the new PKI: %+v", sigs)
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".work-") || strings.Contains(e.Name(), ".tmp") {
				t.Errorf("left behind %s", e.Name())
			}
		}
	}
}

func TestGenerateNeedsPKI(t *testing.T) {
	if _, err := pdfcorpus.Generate(context.Background(), t.TempDir(), nil); err == nil {
		t.Fatal("no error without a PKI")
	}
}

func TestRequireTools(t *testing.T) {
	err := pdfcorpus.RequireTools("qpdf", "kyso-no-such-tool")
	if err == nil || !strings.Contains(err.Error(), "kyso-no-such-tool (apt-get install kyso-no-such-tool)") || strings.Contains(err.Error(), "qpdf") {
		t.Fatalf("RequireTools: %v", err)
	}
	if err := pdfcorpus.RequireTools("mutool"); err != nil {
		t.Fatalf("mupdf-tools must be installed for the corpus: %v", err)
	}
}

func TestGenerateLargeScan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scan.pdf")
	const target = 4 << 20
	start := time.Now()
	if err := pdfcorpus.GenerateLargeScan(context.Background(), path, target); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := pdfcorpus.PageCount(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes, %d pages in %v", fi.Size(), pages, time.Since(start).Round(time.Millisecond))
	// It stops after the page that reaches the target; a noisy page is a
	// few megabytes.
	if fi.Size() < target || fi.Size() > target+8<<20 {
		t.Errorf("size %d, want about %d", fi.Size(), target)
	}
	if err := pdfcheck.QpdfCheck(path); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pdfcorpus.GenerateLargeScan(ctx, filepath.Join(t.TempDir(), "x.pdf"), target); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestGenerateBroken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// The broken files only need a classic and an xref-stream PDF; a
	// minimal one and qpdf's rewrite of it spare LibreOffice's start-up.
	classic := pdfcorpus.Sample{Name: pdfcorpus.ClassicName, Path: filepath.Join(dir, "classic.pdf")}
	xref := pdfcorpus.Sample{Name: pdfcorpus.XRefStreamName, Path: filepath.Join(dir, "xref.pdf")}
	if err := os.WriteFile(classic.Path, minimalPDF(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qpdf", "--object-streams=generate", classic.Path, xref.Path).CombinedOutput(); err != nil {
		t.Fatalf("qpdf (apt-get install qpdf): %v\n%s", err, out)
	}
	if _, err := pdfcorpus.GenerateBroken(ctx, dir, []pdfcorpus.Sample{classic}); err == nil {
		t.Fatal("no error without the xref-stream sample")
	}
	bad, err := pdfcorpus.GenerateBroken(ctx, filepath.Join(dir, "bad"), []pdfcorpus.Sample{classic, xref})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 8 {
		t.Fatalf("%d broken samples", len(bad))
	}
	for _, s := range bad {
		err := pdfcheck.QpdfCheck(s.Path)
		t.Logf("%s: %v", s.Name, firstLine(err))
		switch s.Name {
		case pdfcorpus.EncryptedName:
			// Valid, but encrypted: qpdf opens it, and the trailer says so.
			if err != nil || !bytes.Contains(readFile(t, s.Path), []byte("/Encrypt")) {
				t.Errorf("%s: %v", s.Name, err)
			}
		default:
			if err == nil {
				t.Errorf("%s passed qpdf --check", s.Name)
			}
		}
	}
	// Reuse: a second call rewrites nothing.
	again, err := pdfcorpus.GenerateBroken(ctx, filepath.Join(dir, "bad"), []pdfcorpus.Sample{classic, xref})
	if err != nil || !slices.Equal(again, bad) {
		t.Fatalf("reuse: %v", err)
	}
}

// firstLine shortens an error for the log.
func firstLine(err error) string {
	if err == nil {
		return "clean"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// minimalPDF is a one-page classic-xref PDF, enough to derive broken files
// from without running LibreOffice.
func minimalPDF() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	var offs []int
	for _, o := range []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
	} {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}

func TestGenerateSeeds(t *testing.T) {
	seeds, err := pdfcorpus.GenerateSeeds(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) < 8 {
		t.Fatalf("%d seeds", len(seeds))
	}
	for _, s := range seeds {
		fi, err := os.Stat(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 4<<10 {
			t.Errorf("%s is %d bytes: seeds must stay small", s.Name, fi.Size())
		}
		if out, err := exec.Command("qpdf", "--check", s.Path).CombinedOutput(); err != nil {
			t.Errorf("%s: qpdf --check: %v: %s", s.Name, err, out)
		}
	}
}
