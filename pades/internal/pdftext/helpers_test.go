package pdftext

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// samplePath is the LibreOffice letter shipped with the repository.
const samplePath = "../../../testdata/sample/quyet-dinh.pdf"

// debianPackage names the Debian package of an external tool the tests
// run.
func debianPackage(tool string) string {
	switch tool {
	case "pdftotext", "pdftocairo":
		return "poppler-utils"
	case "mutool":
		return "mupdf-tools"
	case "gs":
		return "ghostscript"
	}
	return tool
}

// runTool runs an external tool and returns its standard output; a
// missing tool fails the test with the package to install.
func runTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is required: apt-get install %s", name, debianPackage(name))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// qpdf exits 3 for warnings with a usable output.
		if ee, ok := err.(*exec.ExitError); !(ok && name == "qpdf" && ee.ExitCode() == 3) {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
		}
	}
	return stdout.Bytes()
}

// openPDF opens a file with kyso's reader; the file is closed when the
// test ends.
func openPDF(t *testing.T, path string) *pdf.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := pdf.NewReader(f, fi.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// readPDF opens PDF bytes with kyso's reader.
func readPDF(t testing.TB, data []byte) *pdf.Reader {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("reading generated PDF: %v", err)
	}
	return r
}

// pageSpans returns the spans of page n of r, failing on any error.
func pageSpans(t *testing.T, r *pdf.Reader, n int) []Span {
	t.Helper()
	spans, err := PageSpansAt(r, n)
	if err != nil {
		t.Fatalf("page %d: %v", n, err)
	}
	return spans
}

// cropBox returns the crop box (or media box) of page n, looking up the
// page tree for inherited values.
func cropBox(t *testing.T, r *pdf.Reader, n int) Rect {
	t.Helper()
	page, _, err := lookupPage(r, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"CropBox", "MediaBox"} {
		for d, depth := page, 0; d != nil && depth < 32; depth++ {
			if o, err := r.Resolve(d.Get(key)); err == nil {
				if a, ok := o.(pdf.Array); ok && len(a) == 4 {
					var v [4]float64
					for i := range v {
						v[i], _ = pdf.Number(a[i])
					}
					return Rect{min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]), max(v[1], v[3])}
				}
			}
			parent, _ := r.Resolve(d.Get("Parent"))
			d, _ = parent.(pdf.Dict)
		}
	}
	t.Fatalf("page %d has no media box", n)
	return Rect{}
}

// ptWord is a word as pdftotext -bbox reports it, converted to default
// user space.
type ptWord struct {
	text string
	box  Rect
}

var wordRE = regexp.MustCompile(`<word xMin="([-0-9.]+)" yMin="([-0-9.]+)" xMax="([-0-9.]+)" yMax="([-0-9.]+)">([^<]*)</word>`)

// pdftotextWords runs pdftotext -bbox on page n of path. pdftotext
// measures y downwards from the top of the crop box; the boxes are turned
// back into user space with crop, for an unrotated page.
func pdftotextWords(t *testing.T, path string, n int, crop Rect) []ptWord {
	t.Helper()
	out := runTool(t, "pdftotext", "-bbox", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), path, "-")
	var words []ptWord
	for _, m := range wordRE.FindAllStringSubmatch(string(out), -1) {
		var v [4]float64
		for i := range v {
			f, err := strconv.ParseFloat(m[i+1], 64)
			if err != nil {
				t.Fatalf("pdftotext: bad number %q", m[i+1])
			}
			v[i] = f
		}
		words = append(words, ptWord{
			text: normalizeString(html.UnescapeString(m[5])),
			box:  Rect{crop.LLX + v[0], crop.URY - v[3], crop.LLX + v[2], crop.URY - v[1]},
		})
	}
	if len(words) == 0 {
		t.Fatalf("pdftotext found no words on page %d of %s", n, path)
	}
	return words
}

// pdftotextLines runs pdftotext -layout on page n and returns its
// non-empty lines with white space collapsed.
func pdftotextLines(t *testing.T, path string, n int) []string {
	t.Helper()
	out := runTool(t, "pdftotext", "-layout", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), path, "-")
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(strings.Trim(l, "\f")); len(f) > 0 {
			lines = append(lines, normalizeString(strings.Join(f, " ")))
		}
	}
	return lines
}

// deviation returns the largest difference between the coordinates of a
// and b.
func deviation(a, b Rect) float64 {
	return max(math.Abs(a.LLX-b.LLX), math.Abs(a.LLY-b.LLY), math.Abs(a.URX-b.URX), math.Abs(a.URY-b.URY))
}

// rectsEqual reports whether a and b are equal up to rounding errors.
func rectsEqual(a, b Rect) bool { return deviation(a, b) < 1e-6 }

func fmtRect(r Rect) string {
	return fmt.Sprintf("[%.3f %.3f %.3f %.3f]", r.LLX, r.LLY, r.URX, r.URY)
}

// rewrite runs a tool that rewrites the sample letter and returns the
// path of the result.
func rewrite(t *testing.T, name string, tool string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	full := make([]string, 0, len(args)+2)
	for _, a := range args {
		switch a {
		case "IN":
			a = samplePath
		case "OUT":
			a = out
		}
		full = append(full, a)
	}
	runTool(t, tool, full...)
	return out
}

// pdfObjects assembles a PDF file from numbered object bodies (object i+1
// is objs[i]) with a correct cross-reference table; object 1 is the
// catalog. A body written as "stream:DICT\x00DATA" becomes a stream with
// that dictionary (without /Length, which is added) and data.
func pdfObjects(objs []string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n", i+1)
		if rest, ok := strings.CutPrefix(o, "stream:"); ok {
			dict, data, _ := strings.Cut(rest, "\x00")
			fmt.Fprintf(&b, "<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
		} else {
			b.WriteString(o)
		}
		b.WriteString("\nendobj\n")
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
