// Package pdfcorpus makes real-world-shaped input PDFs for tests: files
// produced by the programs people actually use (LibreOffice, scanners via
// img2pdf, Ghostscript, qpdf, MuPDF, poppler's pdfsig), plus a few written
// by hand where no tool makes the shape on demand (incremental updates,
// hybrid cross-reference files, broken files).
//
// Nothing is committed to the repository: every file is generated from
// code and the Debian tools at test time, so the corpus follows the
// installed tool versions the way users' files do.
package pdfcorpus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/kyso-vn/kyso/internal/devpki"
)

// Sample is one file of the corpus.
type Sample struct {
	// Name is the file name inside the corpus folder, e.g. "lo-letter.pdf".
	// Names are stable, so tests may pick a sample by name.
	Name string
	// Path is the file's full path.
	Path string
	// Pages is the page count as `qpdf --show-npages` reports it.
	Pages int
	// Producer is the program that made the file.
	Producer string
	// Notes says what makes the file interesting to a PDF reader or signer.
	Notes string
}

// Sample names, for tests that need one particular shape.
const (
	LetterName           = "lo-letter.pdf"
	TemplateName         = "lo-letter-template.pdf"
	LetterPDFAName       = "lo-letter-pdfa2b.pdf"
	ScanName             = "img2pdf-scan.pdf"
	GhostscriptName      = "gs-letter.pdf"
	ClassicName          = "qpdf-classic.pdf"
	XRefStreamName       = "qpdf-xrefstream.pdf"
	LinearizedName       = "qpdf-linearized.pdf"
	PDF20Name            = "qpdf-pdf20.pdf"
	Rotate90Name         = "qpdf-rotate90.pdf"
	Rotate270Name        = "qpdf-rotate270.pdf"
	ManyPagesName        = "qpdf-260pages.pdf"
	MutoolGarbageName    = "mutool-clean-gggg.pdf"
	MutoolCompressedName = "mutool-clean-z.pdf"
	IncrementalName      = "incremental-classic.pdf"
	IncrementalXRefName  = "incremental-xrefstream.pdf"
	HybridName           = "hybrid-xrefstm.pdf"
	SignedName           = "pdfsig-signed.pdf"
)

// signerCertName is kept next to the pdfsig-signed sample: the signer's
// certificate, so that a reused corpus is re-signed when the caller's PKI
// is not the one that signed it (its trust anchors would not verify it).
const signerCertName = "pdfsig-signer.der"

// ManyPages is the page count of the ManyPagesName sample.
const ManyPages = 260

// commandTimeout bounds every tool run: LibreOffice in particular can hang
// on a broken profile, and a test should fail rather than wait forever.
const commandTimeout = 3 * time.Minute

// debianPackage names the Debian package that ships a tool, for the error
// a missing tool produces.
func debianPackage(tool string) string {
	switch tool {
	case "soffice":
		return "libreoffice-writer-nogui"
	case "gs":
		return "ghostscript"
	case "mutool":
		return "mupdf-tools"
	case "pdfsig":
		return "poppler-utils"
	case "certutil", "pk12util":
		return "libnss3-tools"
	default:
		return tool // qpdf, img2pdf
	}
}

// RequireTools reports, in one error, every tool among names that is not
// on PATH, naming the Debian package to install for each.
func RequireTools(names ...string) error {
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", n, debianPackage(n)))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("pdfcorpus: missing tools: %s", strings.Join(missing, ", "))
	}
	return nil
}

// allTools are the programs Generate runs.
func allTools() []string {
	return []string{"soffice", "qpdf", "gs", "img2pdf", "mutool", "pdfsig", "certutil", "pk12util"}
}

// letterFont is the font the letter is typeset in; the PDF must embed it,
// or LibreOffice silently substituted another font.
const letterFont = "LiberationSerif"

// recipe makes one sample. make writes the file at out (a temporary path
// on the corpus folder's file system, renamed into place on success).
type recipe struct {
	name, producer, notes string
	make                  func(ctx context.Context, g *generator, out string) error
	// stale, when set, tells whether an existing file must be made again.
	stale func(g *generator) bool
}

// generator carries what the recipes share during one Generate call.
type generator struct {
	dir  string // the corpus folder
	work string // scratch folder inside dir, removed at the end
	pki  *devpki.PKI
}

// path returns the corpus path of a sample made by an earlier recipe.
func (g *generator) path(name string) string { return filepath.Join(g.dir, name) }

// recipes lists the samples in dependency order: a recipe only reads
// samples listed before it.
func recipes() []recipe {
	qpdf := func(args ...string) func(context.Context, *generator, string) error {
		return func(ctx context.Context, g *generator, out string) error {
			_, err := run(ctx, g.work, "qpdf", append(append(args, g.path(LetterName)), out)...)
			return err
		}
	}
	return []recipe{
		{TemplateName, "LibreOffice Writer (soffice --convert-to pdf)",
			"the letter as it reaches the clerk: number and date left blank after \"Số:\" and \"Bình Phước,\"",
			makeLetterVariant(false, true), nil},
		{LetterName, "LibreOffice Writer (soffice --convert-to pdf)",
			"Vietnamese decision letter typeset in embedded Liberation Serif subsets, 2 pages, classic xref table",
			makeLetter(false), nil},
		{LetterPDFAName, "LibreOffice Writer (PDF/A-2b export)",
			"same letter as PDF/A-2b: XMP metadata with pdfaid part 2 conformance B, output intent",
			makeLetter(true), nil},
		{GhostscriptName, "Ghostscript pdfwrite",
			"the letter re-distilled by gs -sDEVICE=pdfwrite: new object layout, fonts re-subset",
			func(ctx context.Context, g *generator, out string) error {
				_, err := run(ctx, g.work, "gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-o", out, g.path(LetterName))
				return err
			}, nil},
		{ClassicName, "qpdf --object-streams=disable", "classic xref table, no object streams", qpdf("--object-streams=disable"), nil},
		{XRefStreamName, "qpdf --object-streams=generate", "cross-reference stream, most objects inside object streams", qpdf("--object-streams=generate"), nil},
		{LinearizedName, "qpdf --linearize", "linearized: first-page xref section near the top, hint stream, startxref pointing at the first section", qpdf("--linearize"), nil},
		{PDF20Name, "qpdf --force-version=2.0", "header %PDF-2.0", qpdf("--force-version=2.0"), nil},
		{Rotate90Name, "qpdf --rotate=+90", "every page /Rotate 90", qpdf("--rotate=+90"), nil},
		{Rotate270Name, "qpdf --rotate=270", "every page /Rotate 270", qpdf("--rotate=270"), nil},
		{ManyPagesName, "qpdf --empty --pages",
			fmt.Sprintf("%d pages: the letter's pages repeated, a page tree with many kids", ManyPages),
			makeManyPages, nil},
		{MutoolGarbageName, "mutool clean -gggg", "garbage-collected, renumbered and deduplicated by MuPDF", func(ctx context.Context, g *generator, out string) error {
			_, err := run(ctx, g.work, "mutool", "clean", "-gggg", g.path(LetterName), out)
			return err
		}, nil},
		{MutoolCompressedName, "mutool clean -z", "all streams deflated by MuPDF", func(ctx context.Context, g *generator, out string) error {
			_, err := run(ctx, g.work, "mutool", "clean", "-z", g.path(LetterName), out)
			return err
		}, nil},
		{IncrementalName, "qpdf + kyso pdfcorpus incremental update",
			"classic-xref letter with one earlier incremental update: new /Info (UTF-16BE Vietnamese /Title), xref table with /Prev",
			func(ctx context.Context, g *generator, out string) error {
				return appendInfoUpdate(g.path(ClassicName), out)
			}, nil},
		{IncrementalXRefName, "qpdf + kyso pdfcorpus incremental update",
			"xref-stream letter with one earlier incremental update written as an xref stream with /Prev",
			func(ctx context.Context, g *generator, out string) error {
				return appendInfoUpdate(g.path(XRefStreamName), out)
			}, nil},
		{ScanName, "img2pdf", "image-only: 2 A4 pages, 200 dpi colour JPEG (DCTDecode) passed through", makeScan, nil},
		{HybridName, "kyso pdfcorpus (hand-written)",
			"hybrid-reference file: classic table plus trailer /XRefStm; the page and its font live in an object stream only the xref stream knows",
			func(ctx context.Context, g *generator, out string) error { return writeHybrid(out) }, nil},
		{SignedName, "poppler pdfsig -add-signature (NSS)",
			"the letter signed once by another tool: adbe.pkcs7.detached, RSA-2048, SHA-256, invisible field, embedded font",
			makeSigned, signedStale},
	}
}

// Generate makes the corpus in dir, creating the folder if needed. Files
// already there are reused, so several tests (or test packages, one after
// the other: a lock file serialises concurrent calls on one system) can
// share a folder. The pdfsig-signed sample is signed with a key issued
// by pki; it is re-made when a reused one was signed under another PKI.
// A missing tool fails the whole call with an error naming its Debian
// package.
func Generate(ctx context.Context, dir string, pki *devpki.PKI) (samples []Sample, err error) {
	if pki == nil {
		return nil, errors.New("pdfcorpus: generate: no PKI for the signed sample")
	}
	if err := RequireTools(allTools()...); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pdfcorpus: generate: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pdfcorpus: generate: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pdfcorpus: generate: %w", err)
	}
	defer unlock()
	work, err := os.MkdirTemp(dir, ".work-")
	if err != nil {
		return nil, fmt.Errorf("pdfcorpus: generate: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(work); rerr != nil && err == nil {
			err = fmt.Errorf("pdfcorpus: generate: clean up: %w", rerr)
		}
	}()
	g := &generator{dir: dir, work: work, pki: pki}

	for _, r := range recipes() {
		final := g.path(r.name)
		if fi, err := os.Stat(final); err == nil && fi.Size() > 0 && (r.stale == nil || !r.stale(g)) {
			// Reused.
		} else {
			tmp := filepath.Join(work, "out-"+r.name)
			if err := r.make(ctx, g, tmp); err != nil {
				return nil, fmt.Errorf("pdfcorpus: make %s: %w", r.name, err)
			}
			if err := os.Rename(tmp, final); err != nil {
				return nil, fmt.Errorf("pdfcorpus: make %s: %w", r.name, err)
			}
		}
		pages, err := PageCount(ctx, final)
		if err != nil {
			return nil, fmt.Errorf("pdfcorpus: %s: %w", r.name, err)
		}
		samples = append(samples, Sample{Name: r.name, Path: final, Pages: pages, Producer: r.producer, Notes: r.notes})
	}
	return samples, nil
}

// PageCount returns the number of pages as `qpdf --show-npages` counts
// them.
func PageCount(ctx context.Context, path string) (int, error) {
	out, err := run(ctx, "", "qpdf", "--show-npages", path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, fmt.Errorf("qpdf --show-npages %s: unexpected output %q", path, out)
	}
	return n, nil
}

// run runs a tool in dir and returns its standard output. On failure the
// error carries the command line and the end of its output.
func run(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("%s not found (apt-get install %s): %w", name, debianPackage(name), err)
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(stdout.String()+stderr.String()))
	}
	return stdout.Bytes(), nil
}

// tail keeps the last lines of a tool's output for an error message.
func tail(s string) string {
	const max = 2000
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}

// makeLetter converts the letter with LibreOffice, as a plain PDF or as
// PDF/A-2b, and checks that the font really is Liberation Serif (LibreOffice
// substitutes silently) and that the PDF/A export carries its
// identification.
func makeLetter(pdfa bool) func(context.Context, *generator, string) error {
	return makeLetterVariant(pdfa, false)
}

// makeLetterVariant is makeLetter, optionally for the template with the
// number and date left blank.
func makeLetterVariant(pdfa, template bool) func(context.Context, *generator, string) error {
	return func(ctx context.Context, g *generator, out string) error {
		src, err := letterFODT(template)
		if err != nil {
			return err
		}
		name := "letter"
		if template {
			name = "letter-template"
		}
		filter := "pdf:writer_pdf_Export"
		if pdfa {
			name = "letter-pdfa"
			filter = `pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}`
		}
		in := filepath.Join(g.work, name+".fodt")
		if err := os.WriteFile(in, src, 0o644); err != nil {
			return err
		}
		// A private profile: LibreOffice refuses to start, or hands the job
		// to an already running instance, when two share one.
		profile := fileURL(filepath.Join(g.work, "lo-profile"))
		if _, err := run(ctx, g.work, "soffice", "-env:UserInstallation="+profile, "--headless", "--norestore",
			"--convert-to", filter, "--outdir", g.work, in); err != nil {
			return err
		}
		pdf := filepath.Join(g.work, name+".pdf")
		data, err := os.ReadFile(pdf)
		if err != nil {
			return fmt.Errorf("soffice wrote no PDF: %w", err)
		}
		if !bytes.Contains(data, []byte(letterFont)) {
			return fmt.Errorf("soffice did not embed %s (apt-get install fonts-liberation2)", letterFont)
		}
		if pdfa && !bytes.Contains(data, []byte("<pdfaid:part>2</pdfaid:part>")) && !bytes.Contains(data, []byte(`pdfaid:part="2"`)) {
			return errors.New("soffice PDF/A export has no pdfaid:part 2 metadata")
		}
		return os.Rename(pdf, out)
	}
}

// fileURL renders an absolute path as a file URL, the form LibreOffice's
// -env:UserInstallation takes.
func fileURL(path string) string { return "file://" + filepath.ToSlash(path) }

// makeManyPages repeats the letter's pages up to ManyPages pages.
func makeManyPages(ctx context.Context, g *generator, out string) error {
	n, err := PageCount(ctx, g.path(LetterName))
	if err != nil {
		return err
	}
	sel := make([]string, ManyPages)
	for i := range sel {
		sel[i] = strconv.Itoa(i%n + 1)
	}
	_, err = run(ctx, g.work, "qpdf", "--empty", "--pages", g.path(LetterName), strings.Join(sel, ","), "--", out)
	return err
}

// makeScan writes two scanned pages as JPEG files carrying their 200 dpi
// in a JFIF header, as scanner drivers do, and lets img2pdf assemble them:
// it derives the A4 page size from the resolution. The pages are drawn in
// parallel: under the race detector each takes seconds.
func makeScan(ctx context.Context, g *generator, out string) error {
	files := make([]string, 2)
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i := range files {
		files[i] = filepath.Join(g.work, fmt.Sprintf("scan-%d.jpg", i+1))
		wg.Go(func() {
			jpg, err := scanJPEG(uint64(i+1), 6)
			if err == nil {
				err = os.WriteFile(files[i], withJFIF(jpg, scanDPI), 0o644)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	_, err := run(ctx, g.work, "img2pdf", append([]string{"--output", out}, files...)...)
	return err
}

// withJFIF inserts a JFIF APP0 segment stating dpi after the SOI marker:
// Go's encoder writes none, and without it img2pdf would assume 96 dpi.
func withJFIF(jpg []byte, dpi int) []byte {
	app0 := []byte{0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x02, 0x01,
		byte(dpi >> 8), byte(dpi), byte(dpi >> 8), byte(dpi), 0x00, 0x00}
	res := make([]byte, 0, len(jpg)+len(app0))
	res = append(res, jpg[:2]...)
	res = append(res, app0...)
	return append(res, jpg[2:]...)
}

// utf16Hex renders a PDF text string as a UTF-16BE hex string with the
// byte order mark, the form that never needs escaping.
func utf16Hex(s string) string {
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteString(">")
	return b.String()
}

// fileID derives a deterministic 16-byte file identifier, as hex, from a
// seed string.
func fileID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return strings.ToUpper(hex.EncodeToString(sum[:16]))
}
