package pdftext

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// tolerance is the largest difference, in points, allowed between a box
// found here and the one pdftotext reports. Horizontal positions agree to
// rounding; vertically pdftotext uses its own default ascent and descent
// (0.95 and -0.35 em) where LibreOffice writes zeros in the font
// descriptor, and this package the font's bounding box.
const tolerance = 1.5

// anchor is a string to find on the letter.
type anchor struct {
	needle string
	page   int
	count  int // occurrences on the page
}

// letterAnchors are the anchors an integrator would use on the decision
// letter, on the pages pdftotext -layout shows them.
func letterAnchors() []anchor {
	return []anchor{
		{"QUYẾT ĐỊNH", 1, 2}, // the title, and "QUYẾT ĐỊNH:" before the articles
		{"Số: 15/QĐ-UBND", 1, 1},
		{"Bình Phước, ngày 05 tháng 01 năm 2026", 1, 1},
		{"CHỦ TỊCH", 1, 1}, // "CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH BÌNH PHƯỚC"
		{"CHỦ TỊCH", 2, 1}, // the signer's title
		{"Nguyễn Văn Ánh", 2, 1},
		{"Nguyễn   Văn\tÁnh", 2, 1},                      // white space runs differ
		{"Nguye\u0302\u0303n Va\u0306n A\u0301nh", 2, 1}, // decomposed spelling
		{"Nguye\u0303\u0302n Văn Ánh", 2, 0},             // marks in another order: another letter
		{"nguyễn văn ánh", 2, 0},                         // case matters
		{"Nguyễn Văn Ánh", 1, 0},
	}
}

// expected is a box pdftotext gives for an occurrence of a needle: the
// union of consecutive words. When the last word runs on past the needle
// ("ĐỊNH:" for "ĐỊNH"), the right edge is only an upper bound.
type expected struct {
	box        Rect
	rightBound bool
}

// pdftotextOccurrences finds needle in pdftotext's words: a run of words
// equal to the needle's words, the last one possibly followed by
// punctuation.
func pdftotextOccurrences(words []ptWord, needle string) []expected {
	want := strings.Fields(normalizeString(needle))
	var out []expected
	for i := 0; i+len(want) <= len(words); i++ {
		box := emptyRect
		ok, bound := true, false
		for k, w := range want {
			got := words[i+k].text
			switch {
			case got == w:
			case k == len(want)-1 && strings.HasPrefix(got, w) && strings.Trim(got[len(w):], ".,:;") == "":
				bound = true
			default:
				ok = false
			}
			if !ok {
				break
			}
			box = unionBox(box, words[i+k].box)
		}
		if ok {
			out = append(out, expected{box, bound})
		}
	}
	return out
}

// matches reports whether got agrees with want within tolerance, and
// the deviation.
func (want expected) matches(got Rect) (bool, float64) {
	if !want.rightBound {
		d := deviation(got, want.box)
		return d <= tolerance, d
	}
	d := max(abs(got.LLX-want.box.LLX), abs(got.LLY-want.box.LLY), abs(got.URY-want.box.URY))
	return d <= tolerance && got.URX <= want.box.URX+tolerance, d
}

func abs(v float64) float64 { return max(v, -v) }

// letterVariants are the letter and rewrites of it by other tools, which
// re-encode fonts and content differently; each is compared with what
// pdftotext reads from that very file.
func letterVariants(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"libreoffice":    samplePath,
		"gs-pdfwrite":    rewrite(t, "gs-letter.pdf", "gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-o", "OUT", "IN"),
		"mutool-clean-z": rewrite(t, "mutool-clean-z.pdf", "mutool", "clean", "-z", "IN", "OUT"),
		"mutool-gggg":    rewrite(t, "mutool-clean-gggg.pdf", "mutool", "clean", "-gggg", "IN", "OUT"),
		"qpdf-objstm":    rewrite(t, "qpdf-xrefstream.pdf", "qpdf", "--object-streams=generate", "IN", "OUT"),
		// Cairo redraws the text with composite (Type0, Identity-H) fonts:
		// two-byte codes, /W widths.
		"pdftocairo": rewrite(t, "cairo-letter.pdf", "pdftocairo", "-pdf", "IN", "OUT"),
	}
}

// TestLetterVariants finds the anchors on the letter and its rewrites,
// and looks up every word pdftotext reads there, comparing the boxes with
// pdftotext's.
func TestLetterVariants(t *testing.T) {
	t.Parallel()
	for name, path := range letterVariants(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := openPDF(t, path)
			t.Run("anchors", func(t *testing.T) { checkAnchors(t, r, path) })
			t.Run("every-word", func(t *testing.T) { checkEveryWord(t, r, path) })
		})
	}
}

// checkAnchors compares the boxes of the letter's anchors with
// pdftotext's.
func checkAnchors(t *testing.T, r *pdf.Reader, path string) {
	worst := 0.0
	for _, a := range letterAnchors() {
		spans := pageSpans(t, r, a.page)
		words := pdftotextWords(t, path, a.page, cropBox(t, r, a.page))
		got := Find(spans, a.needle)
		if len(got) != a.count {
			t.Errorf("page %d: Find(%q) found %d occurrences, want %d: %v", a.page, a.needle, len(got), a.count, got)
			continue
		}
		if a.count == 0 {
			continue
		}
		want := pdftotextOccurrences(words, a.needle)
		if len(want) != len(got) {
			t.Fatalf("page %d: pdftotext has %d occurrences of %q, Find %d", a.page, len(want), a.needle, len(got))
		}
		for i := range got {
			ok, d := want[i].matches(got[i])
			worst = max(worst, d)
			if !ok {
				t.Errorf("page %d: %q #%d: box %s, pdftotext %s (deviation %.2f pt)", a.page, a.needle, i+1, fmtRect(got[i]), fmtRect(want[i].box), d)
			}
		}
	}
	t.Logf("largest deviation from pdftotext over the anchors: %.3f pt", worst)
}

// checkEveryWord looks up every word pdftotext reads on the letter and
// checks that one of the boxes Find returns for it is pdftotext's.
func checkEveryWord(t *testing.T, r *pdf.Reader, path string) {
	worstX, worstY, n := 0.0, 0.0, 0
	for page := 1; page <= 2; page++ {
		spans := pageSpans(t, r, page)
		for _, w := range pdftotextWords(t, path, page, cropBox(t, r, page)) {
			best, bestDev := Rect{}, -1.0
			for _, b := range Find(spans, w.text) {
				if d := deviation(b, w.box); bestDev < 0 || d < bestDev {
					best, bestDev = b, d
				}
			}
			if bestDev < 0 || bestDev > tolerance {
				t.Errorf("page %d: word %q at %s: closest box found %s", page, w.text, fmtRect(w.box), fmtRect(best))
				continue
			}
			worstX = max(worstX, abs(best.LLX-w.box.LLX), abs(best.URX-w.box.URX))
			worstY = max(worstY, abs(best.LLY-w.box.LLY), abs(best.URY-w.box.URY))
			n++
		}
	}
	t.Logf("%d words: largest deviation from pdftotext %.3f pt in x, %.3f pt in y", n, worstX, worstY)
}

// TestLetterLines compares the first lines of the letter, as this package
// assembles them from spans, with pdftotext -layout.
func TestLetterLines(t *testing.T) {
	t.Parallel()
	r := openPDF(t, samplePath)
	want := pdftotextLines(t, samplePath, 1)
	lines := buildLines(pageSpans(t, r, 1))
	if len(lines) < 10 || len(want) < 10 {
		t.Fatalf("%d lines, pdftotext %d", len(lines), len(want))
	}
	for i := range 10 {
		if got := lines[i].text(); got != want[i] {
			t.Errorf("line %d: %q, pdftotext %q", i+1, got, want[i])
		}
	}
}

// TestLetterReadingOrder checks that repeated needles come top to bottom,
// and left to right on one line.
func TestLetterReadingOrder(t *testing.T) {
	t.Parallel()
	r := openPDF(t, samplePath)
	spans := pageSpans(t, r, 1)
	for _, tc := range []struct {
		needle string
		min    int
	}{
		{"QUYẾT ĐỊNH", 2},
		{"tỉnh", 5},
		{"ngày", 5},
		{"Điều", 4},
		{"-", 4}, // "Độc lập - Tự do - Hạnh phúc": several on one line
	} {
		got := Find(spans, tc.needle)
		if len(got) < tc.min {
			t.Errorf("Find(%q): %d occurrences, want at least %d", tc.needle, len(got), tc.min)
		}
		for i := 1; i < len(got); i++ {
			a, b := got[i-1], got[i]
			sameLine := abs(a.LLY-b.LLY) < 1
			if !(b.URY < a.URY-1 || sameLine && b.LLX > a.LLX) {
				t.Errorf("Find(%q): %s before %s is not reading order", tc.needle, fmtRect(a), fmtRect(b))
			}
		}
	}
	// The two dashes of the motto's line come in order.
	dashes := Find(spans, "-")
	if len(dashes) < 2 || abs(dashes[0].LLY-dashes[1].LLY) > 1 || dashes[0].LLX >= dashes[1].LLX {
		t.Errorf("dashes of the motto out of order: %v", dashes)
	}
}

// TestRotatedPage checks that /Rotate does not move boxes: they are in
// default user space, the same as in the unrotated file.
func TestRotatedPage(t *testing.T) {
	t.Parallel()
	for _, rot := range []string{"+90", "270", "180"} {
		t.Run(rot, func(t *testing.T) {
			t.Parallel()
			path := rewrite(t, "rotate.pdf", "qpdf", "--rotate="+rot, "IN", "OUT")
			r, orig := openPDF(t, path), openPDF(t, samplePath)
			for page := 1; page <= 2; page++ {
				p, _, err := lookupPage(r, page)
				if err != nil {
					t.Fatal(err)
				}
				if v, _ := r.Resolve(p.Get("Rotate")); v == (pdf.Null{}) || v == pdf.Int(0) {
					t.Fatalf("page %d of the rotated file has /Rotate %v", page, v)
				}
				got, want := pageSpans(t, r, page), pageSpans(t, orig, page)
				if len(got) != len(want) {
					t.Fatalf("page %d: %d spans, unrotated %d", page, len(got), len(want))
				}
				for i := range got {
					if got[i].Text != want[i].Text || !rectsEqual(got[i].Box, want[i].Box) || got[i].FontSize != want[i].FontSize {
						t.Errorf("page %d span %d: %q %s, unrotated %q %s", page, i, got[i].Text, fmtRect(got[i].Box), want[i].Text, fmtRect(want[i].Box))
					}
				}
			}
			for _, a := range letterAnchors() {
				got, want := Find(pageSpans(t, r, a.page), a.needle), Find(pageSpans(t, orig, a.page), a.needle)
				if len(got) != a.count || len(got) != len(want) {
					t.Fatalf("Find(%q) on page %d: %d boxes, unrotated %d", a.needle, a.page, len(got), len(want))
				}
				for i := range got {
					if !rectsEqual(got[i], want[i]) {
						t.Errorf("Find(%q) #%d: %s, unrotated %s", a.needle, i+1, fmtRect(got[i]), fmtRect(want[i]))
					}
				}
			}
		})
	}
}

// TestCorpusSeeds reads the one-line seeds of the corpus package (a
// standard 14 Helvetica font without /Widths, through qpdf's and
// MuPDF's rewrites) and compares with pdftotext.
func TestCorpusSeeds(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "seeds")
	seeds, err := pdfcorpus.GenerateSeeds(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// Each seed draws one line; those of the same text must agree.
	reference := map[string]Rect{}
	for _, s := range seeds {
		lines := pdftotextLines(t, s.Path, 1)
		if len(lines) != 1 {
			t.Fatalf("%s: pdftotext reads %q", s.Name, lines)
		}
		needle := lines[0]
		r := openPDF(t, s.Path)
		got := Find(pageSpans(t, r, 1), needle)
		if len(got) != 1 {
			t.Errorf("%s: Find(%q) = %v, want one box", s.Name, needle, got)
			continue
		}
		if ref, ok := reference[needle]; !ok {
			reference[needle] = got[0]
		} else if !rectsEqual(got[0], ref) {
			t.Errorf("%s: box %s, other seed %s", s.Name, fmtRect(got[0]), fmtRect(ref))
		}
		p, _, err := lookupPage(r, 1)
		if err != nil {
			t.Fatal(err)
		}
		if rot, _ := r.Resolve(p.Get("Rotate")); rot != (pdf.Null{}) && rot != pdf.Int(0) {
			continue // pdftotext reports the rotated page
		}
		want := pdftotextOccurrences(pdftotextWords(t, s.Path, 1, cropBox(t, r, 1)), needle)
		if len(want) != 1 {
			t.Fatalf("%s: pdftotext finds %d occurrences", s.Name, len(want))
		}
		if ok, d := want[0].matches(got[0]); !ok {
			t.Errorf("%s: box %s, pdftotext %s (deviation %.2f)", s.Name, fmtRect(got[0]), fmtRect(want[0].box), d)
		}
	}
}
