package font

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// requireTool returns the path of an external program the test needs,
// failing (never skipping) with the Debian package to install.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (install the Debian package %s): %v", name, debianPackage, err)
	}
	return p
}

// runTool runs a program and returns its standard output; any other output
// on standard error fails the test, since poppler and MuPDF report font
// problems there while still exiting 0.
func runTool(t *testing.T, name, debianPackage string, args ...string) string {
	t.Helper()
	cmd := exec.Command(requireTool(t, name, debianPackage), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	// Ignore diagnostics that say nothing about the PDF: a MuPDF build
	// without colour management says so on every run.
	benign := regexp.MustCompile(`(?m)^warning: ICC support is not available\n?`)
	if msg := benign.ReplaceAllString(stderr.String(), ""); msg != "" {
		t.Errorf("%s %s complained:\n%s", name, strings.Join(args, " "), msg)
	}
	return stdout.String()
}

// textLine is one line of the test page.
type textLine struct {
	font  pdf.Name // resource name
	style Style
	text  string
	y     float64 // baseline, PDF user space
}

const (
	pageWidth, pageHeight = 595, 842 // A4
	fontSize              = 12
	leftMargin            = 72
)

// testPageLines lays out the decision header twice: precomposed, then
// with combining marks. The date line uses the italic face.
func testPageLines() []textLine {
	var lines []textLine
	y := 780.0
	for _, set := range [][]string{docLines(), docLinesNFD()} {
		for i, s := range set {
			l := textLine{font: "F1", style: Regular, text: s, y: y}
			if i == 3 {
				l.font, l.style = "F2", Italic
			}
			lines = append(lines, l)
			y -= 20
		}
		y -= 20
	}
	return lines
}

// pageFont supplies the program embedded for a face; nil means the
// subset Objects builds.
type pageFont struct {
	name    pdf.Name
	style   Style
	program []byte
}

// writeTestPDF builds a one-page PDF showing lines, with its own small
// writer: catalog, page tree, page, content stream, then the font objects.
func writeTestPDF(t *testing.T, lines []textLine, fonts []pageFont) []byte {
	t.Helper()
	subsets := map[pdf.Name]*Subset{}
	for _, f := range fonts {
		subsets[f.name] = loadFace(t, f.style).NewSubset()
	}
	var content []byte
	for _, l := range lines {
		content = fmt.Appendf(content, "BT /%s %d Tf %d %s Td ", l.font, fontSize, leftMargin, strconv.FormatFloat(l.y, 'f', -1, 64))
		content = subsets[l.font].ShowText(content, l.text)
		content = append(content, "ET\n"...)
	}
	alloc := refAllocator(5)
	fontRes := pdf.Dict{}
	objs := []Object{
		{Ref: pdf.Ref{Num: 1}, Dict: pdf.Dict{"Type": pdf.Name("Catalog"), "Pages": pdf.Ref{Num: 2}}},
		{Ref: pdf.Ref{Num: 2}, Dict: pdf.Dict{"Type": pdf.Name("Pages"), "Kids": pdf.Array{pdf.Ref{Num: 3}}, "Count": pdf.Int(1)}},
		{Ref: pdf.Ref{Num: 3}, Dict: pdf.Dict{
			"Type":      pdf.Name("Page"),
			"Parent":    pdf.Ref{Num: 2},
			"MediaBox":  pdf.Array{pdf.Int(0), pdf.Int(0), pdf.Int(pageWidth), pdf.Int(pageHeight)},
			"Resources": pdf.Dict{"Font": fontRes},
			"Contents":  pdf.Ref{Num: 4},
		}},
		{Ref: pdf.Ref{Num: 4}, Dict: pdf.Dict{"Length": pdf.Int(len(content))}, Stream: true, Data: content},
	}
	for _, f := range fonts {
		s := subsets[f.name]
		var ref pdf.Ref
		var fobjs []Object
		var err error
		if f.program != nil {
			ref, fobjs, err = s.objects(alloc, f.program)
		} else {
			ref, fobjs, err = s.Objects(alloc)
		}
		if err != nil {
			t.Fatalf("font %s: %v", f.name, err)
		}
		fontRes[f.name] = ref
		objs = append(objs, fobjs...)
	}
	return writePDF(t, objs)
}

// writePDF serialises objects numbered 1..n into a complete file with a
// classic cross-reference table.
func writePDF(t *testing.T, objs []Object) []byte {
	t.Helper()
	slices.SortFunc(objs, func(a, b Object) int { return int(a.Ref.Num) - int(b.Ref.Num) })
	b := []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		if o.Ref.Num != uint32(i+1) {
			t.Fatalf("object numbers are not 1..%d: found %d at %d", len(objs), o.Ref.Num, i)
		}
		offsets[i] = len(b)
		b = append(b, serialize([]Object{o})...)
	}
	xref := len(b)
	b = fmt.Appendf(b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		b = fmt.Appendf(b, "%010d 00000 n \n", off)
	}
	b = fmt.Appendf(b, "trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b
}

func TestPDFWithTools(t *testing.T) {
	// The expected lines must be precomposed (NFC), which is what the
	// ToUnicode CMap yields; a combining mark would mean an editor or a
	// copy step decomposed them.
	for _, l := range docLines() {
		for _, r := range l {
			if r >= 0x0300 && r <= 0x036F {
				t.Fatalf("expected line %q is not NFC: it contains U+%04X", l, r)
			}
		}
	}
	lines := testPageLines()
	doc := writeTestPDF(t, lines, []pageFont{{name: "F1", style: Regular}, {name: "F2", style: Italic}})
	dir := t.TempDir()
	file := filepath.Join(dir, "test.pdf")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("qpdf", func(t *testing.T) {
		out := runTool(t, "qpdf", "qpdf", "--check", file)
		if !strings.Contains(out, "No syntax or stream encoding errors found") {
			t.Errorf("qpdf --check:\n%s", out)
		}
	})

	t.Run("pdffonts", func(t *testing.T) {
		out := runTool(t, "pdffonts", "poppler-utils", file)
		row := regexp.MustCompile(`(?m)^([A-Z]{6}\+LiberationSerif(?:-Italic)?)\s+CID TrueType\s+Identity-H\s+yes\s+yes\s+yes\s+\d+\s+0\s*$`)
		rows := row.FindAllStringSubmatch(out, -1)
		var names []string
		for _, r := range rows {
			names = append(names, strings.SplitN(r[1], "+", 2)[1])
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"LiberationSerif", "LiberationSerif-Italic"}) {
			t.Errorf("pdffonts does not list both subset fonts as embedded, subset, with ToUnicode:\n%s", out)
		}
	})

	t.Run("pdftotext", func(t *testing.T) {
		out := runTool(t, "pdftotext", "poppler-utils", "-layout", "-enc", "UTF-8", file, "-")
		for _, l := range docLines() {
			if n := strings.Count(out, l); n != 2 {
				t.Errorf("pdftotext shows %q %d times, want 2 (precomposed and decomposed input):\n%s", l, n, out)
			}
		}
	})

	t.Run("pdftotext bbox widths", func(t *testing.T) {
		out := runTool(t, "pdftotext", "poppler-utils", "-bbox", "-enc", "UTF-8", file, "-")
		faces := map[Style]*Face{Regular: loadFace(t, Regular), Italic: loadFace(t, Italic)}
		word := regexp.MustCompile(`<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>`)
		words := word.FindAllStringSubmatch(out, -1)
		if len(words) < 40 {
			t.Fatalf("pdftotext -bbox found %d words:\n%s", len(words), out)
		}
		worst := 0.0
		for _, w := range words {
			xMin, _ := strconv.ParseFloat(w[1], 64)
			yMax, _ := strconv.ParseFloat(w[4], 64)
			xMax, _ := strconv.ParseFloat(w[3], 64)
			text := html.UnescapeString(w[5])
			// The line is the one whose baseline is nearest the box
			// bottom (top-down coordinates in pdftotext).
			line := lines[0]
			for _, l := range lines {
				if math.Abs(pageHeight-l.y-yMax) < math.Abs(pageHeight-line.y-yMax) {
					line = l
				}
			}
			got, want := xMax-xMin, faces[line.style].Width(text, fontSize)
			diff := math.Abs(got-want) / want
			worst = max(worst, diff)
			if diff > 0.02 {
				t.Errorf("word %q: pdftotext width %.2f, Width %.2f", text, got, want)
			}
		}
		t.Logf("%d words, largest width difference %.3f %%", len(words), worst*100)
	})

	t.Run("mutool", func(t *testing.T) {
		out := runTool(t, "mutool", "mupdf-tools", "draw", "-q", "-F", "txt", "-o", "-", file)
		for _, l := range docLines() {
			if n := strings.Count(out, l); n != 2 {
				t.Errorf("mutool shows %q %d times, want 2:\n%s", l, n, out)
			}
		}
	})

	t.Run("pdftoppm", func(t *testing.T) {
		img := renderPage(t, file, 72)
		for _, l := range lines {
			// The band between the cap height and the baseline of each
			// line holds ink; a band between the two blocks holds none.
			top := int(pageHeight - l.y - 9)
			if n := img.dark(leftMargin, top, pageWidth-leftMargin, int(pageHeight-l.y)); n < 50 {
				t.Errorf("line %q: only %d dark pixels", l.text, n)
			}
		}
		if n := img.dark(0, 0, pageWidth, 40); n != 0 {
			t.Errorf("%d dark pixels above the text", n)
		}
		if n := img.dark(0, 400, pageWidth, pageHeight); n != 0 {
			t.Errorf("%d dark pixels below the text", n)
		}
	})
}

// TestSubsetRendersLikeFullFont renders the page with the subset fonts and
// with the complete fonts embedded; identical pixels show that no outline
// (a component of a composite accent in particular) or hinting data the
// glyphs need was lost.
func TestSubsetRendersLikeFullFont(t *testing.T) {
	lines := testPageLines()
	dir := t.TempDir()
	var images []*grayImage
	for i, full := range []bool{false, true} {
		fonts := []pageFont{{name: "F1", style: Regular}, {name: "F2", style: Italic}}
		if full {
			for k := range fonts {
				fonts[k].program = fontBytes(t, fonts[k].style)
			}
		}
		file := filepath.Join(dir, fmt.Sprintf("page%d.pdf", i))
		if err := os.WriteFile(file, writeTestPDF(t, lines, fonts), 0o600); err != nil {
			t.Fatal(err)
		}
		images = append(images, renderPage(t, file, 150))
	}
	if images[0].w != images[1].w || images[0].h != images[1].h {
		t.Fatalf("image sizes differ: %dx%d, %dx%d", images[0].w, images[0].h, images[1].w, images[1].h)
	}
	differ := 0
	for i := range images[0].pix {
		if images[0].pix[i] != images[1].pix[i] {
			differ++
		}
	}
	if differ != 0 {
		t.Errorf("%d pixels differ between subset and full font rendering", differ)
	}
	if images[0].dark(0, 0, images[0].w, images[0].h) < 1000 {
		t.Errorf("the rendered page is nearly blank")
	}
}

// grayImage is a rendered page, one byte per pixel, 0 black.
type grayImage struct {
	w, h int
	pix  []byte
}

// dark counts pixels darker than mid-grey in [x0,x1)×[y0,y1).
func (g *grayImage) dark(x0, y0, x1, y1 int) int {
	n := 0
	for y := max(y0, 0); y < min(y1, g.h); y++ {
		for x := max(x0, 0); x < min(x1, g.w); x++ {
			if g.pix[y*g.w+x] < 128 {
				n++
			}
		}
	}
	return n
}

// renderPage renders page 1 with pdftoppm as a binary PGM.
func renderPage(t *testing.T, file string, dpi int) *grayImage {
	t.Helper()
	prefix := strings.TrimSuffix(file, ".pdf")
	runTool(t, "pdftoppm", "poppler-utils", "-gray", "-r", strconv.Itoa(dpi), "-singlefile", file, prefix)
	data, err := os.ReadFile(prefix + ".pgm")
	if err != nil {
		t.Fatal(err)
	}
	// Header: "P5", width, height, maxval, each followed by whitespace.
	var fields []string
	p := 0
	for len(fields) < 4 && p < len(data) {
		for p < len(data) && (data[p] == ' ' || data[p] == '\n' || data[p] == '\r' || data[p] == '\t') {
			p++
		}
		start := p
		for p < len(data) && !(data[p] == ' ' || data[p] == '\n' || data[p] == '\r' || data[p] == '\t') {
			p++
		}
		fields = append(fields, string(data[start:p]))
	}
	p++ // the single whitespace byte before the pixels
	if len(fields) != 4 || fields[0] != "P5" || fields[3] != "255" {
		t.Fatalf("unexpected PGM header %q", fields)
	}
	w, _ := strconv.Atoi(fields[1])
	h, _ := strconv.Atoi(fields[2])
	if w <= 0 || h <= 0 || len(data) < p+w*h {
		t.Fatalf("PGM %dx%d with %d bytes", w, h, len(data))
	}
	return &grayImage{w: w, h: h, pix: data[p : p+w*h]}
}

func TestSubsetSize(t *testing.T) {
	tests := []struct {
		name   string
		styles []Style
		limit  int
	}{
		{"regular", []Style{Regular}, 60 << 10},
		{"regular and italic", []Style{Regular, Italic}, 120 << 10},
		{"all three styles", []Style{Regular, Italic, Bold}, 180 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, program := 0, 0
			for _, style := range tt.styles {
				_, objs, _ := buildObjects(t, loadFace(t, style), docLines())
				total += len(serialize(objs))
				program += len(objs[3].Data)
			}
			t.Logf("%s: %d bytes in all font objects (%d of them the compressed programs)", tt.name, total, program)
			if total > tt.limit {
				t.Errorf("fonts take %d bytes, limit %d", total, tt.limit)
			}
		})
	}
}
