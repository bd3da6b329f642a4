package pdftext

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Span is one run of text as drawn: the text of one text-showing operator
// (Tj, ', " or TJ), or a piece of a TJ that a wide gap splits into words.
type Span struct {
	// Text is the Unicode text of the run, in Normalization Form C.
	Text string
	// Box holds every glyph of the run: horizontally the glyphs'
	// advances, vertically the font's ascent to its descent, in default
	// user space.
	Box Rect
	// FontSize is the size the text appears at in user space: the Tf size
	// scaled by the text and current transformation matrices.
	FontSize float64

	// chars are the characters of Text with their own boxes; nil for a
	// Span made by a caller, whose characters are then assumed to share
	// Box evenly.
	chars []char
	// dir is the writing direction (see direction).
	dir uint8
	// base is the baseline's offset across the writing direction, in the
	// reading frame of dir.
	base float64
}

// line is the text of the spans on one baseline, left to right in the
// reading frame, with white space collapsed.
type line struct {
	dir   uint8
	base  float64
	size  float64
	spans []*Span
	chars []char
	// top and left order the lines for reading.
	top, left float64
}

// text returns the line's text.
func (l *line) text() string {
	var b strings.Builder
	for _, c := range l.chars {
		b.WriteRune(c.r)
	}
	return b.String()
}

// spanChars returns the characters of s, sharing out Box among them when
// s carries none of its own.
func spanChars(s *Span) []char {
	if s.chars != nil {
		return s.chars
	}
	n := utf8.RuneCountInString(s.Text)
	cs := make([]char, 0, n)
	w := (s.Box.URX - s.Box.LLX) / float64(max(n, 1))
	i := 0
	for _, r := range s.Text {
		cs = append(cs, char{r: r, box: Rect{s.Box.LLX + w*float64(i), s.Box.LLY, s.Box.LLX + w*float64(i+1), s.Box.URY}})
		i++
	}
	return normalize(cs)
}

// spanBase returns the baseline of s in its reading frame; for a Span
// made by a caller, the bottom of its box stands in for it.
func spanBase(s *Span) float64 {
	if s.chars != nil {
		return s.base
	}
	return s.Box.LLY
}

// buildLines groups spans into lines: spans of one writing direction
// whose baselines are less than sameLine × their font size apart. Lines
// come in reading order: top to bottom, then left to right.
func buildLines(spans []Span) []*line {
	order := make([]*Span, 0, len(spans))
	for i := range spans {
		s := &spans[i]
		if s.Box.isEmpty() || s.Text == "" || !finiteRect(s.Box) {
			continue
		}
		order = append(order, s)
	}
	slices.SortStableFunc(order, func(a, b *Span) int {
		if c := cmp.Compare(a.dir, b.dir); c != 0 {
			return c
		}
		return cmp.Compare(spanBase(b), spanBase(a))
	})
	var lines []*line
	var cur *line
	for _, s := range order {
		size := s.FontSize
		if size <= 0 {
			size = s.Box.URY - s.Box.LLY
		}
		if cur != nil && cur.dir == s.dir && math.Abs(cur.base-spanBase(s)) <= sameLine*min(size, cur.size) {
			cur.spans = append(cur.spans, s)
			cur.size = min(cur.size, size)
			continue
		}
		cur = &line{dir: s.dir, base: spanBase(s), size: size, spans: []*Span{s}}
		lines = append(lines, cur)
	}
	for _, l := range lines {
		l.layout()
	}
	slices.SortStableFunc(lines, func(a, b *line) int {
		if c := cmp.Compare(b.top, a.top); c != 0 {
			return c
		}
		return cmp.Compare(a.left, b.left)
	})
	return lines
}

func finiteRect(r Rect) bool {
	for _, v := range [4]float64{r.LLX, r.LLY, r.URX, r.URY} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// layout orders a line's spans along the writing direction and builds its
// characters: a space where a gap between spans is wider than wordGap,
// white space runs collapsed to one space, none at either end.
func (l *line) layout() {
	slices.SortStableFunc(l.spans, func(a, b *Span) int {
		return cmp.Compare(readingBox(l.dir, a.Box).LLX, readingBox(l.dir, b.Box).LLX)
	})
	l.top, l.left = math.Inf(-1), math.Inf(1)
	var cs []char
	right := math.Inf(-1)
	for _, s := range l.spans {
		l.top = max(l.top, s.Box.URY)
		l.left = min(l.left, s.Box.LLX)
		sc := spanChars(s)
		if len(sc) == 0 {
			continue
		}
		rb := readingBox(l.dir, s.Box)
		if len(cs) > 0 && rb.LLX-right > wordGap*l.size && !isSpace(cs[len(cs)-1].r) && !isSpace(sc[0].r) {
			cs = append(cs, char{r: ' ', box: emptyRect, virtual: true})
		}
		right = max(right, rb.URX)
		cs = append(cs, sc...)
	}
	// A span may start with a combining mark drawn over the last letter
	// of the previous one.
	cs = normalize(cs)
	out := cs[:0]
	for _, c := range cs {
		if isSpace(c.r) {
			if len(out) == 0 || out[len(out)-1].r == ' ' {
				continue
			}
			c = char{r: ' ', box: emptyRect, virtual: true}
		}
		out = append(out, c)
	}
	if len(out) > 0 && out[len(out)-1].r == ' ' {
		out = out[:len(out)-1]
	}
	l.chars = out
}

// prepareNeedle normalises a search string the way line text is: NFC,
// white space runs as one space, none at the ends.
func prepareNeedle(needle string) []rune {
	var out []rune
	space := false
	for _, r := range normalizeString(needle) {
		if isSpace(r) {
			space = len(out) > 0
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, r)
	}
	return out
}

// Find returns the box of every occurrence of needle in the text of
// spans, in reading order: top to bottom, then left to right. An
// occurrence may run across spans on the same line (never across lines);
// runs of white space match runs of white space of any length, including
// the gap between two spans that are drawn apart without a space
// character; text is compared in Unicode Normalization Form C, so
// precomposed and combining-mark spellings of Vietnamese letters match;
// case matters. Occurrences do not overlap. Each box is the union of the
// boxes of the matched glyphs (white space excluded).
func Find(spans []Span, needle string) []Rect {
	want := prepareNeedle(needle)
	if len(want) == 0 {
		return nil
	}
	// Knuth–Morris–Pratt: linear in the text whatever it holds, where a
	// naive search of a hostile page ("aaaa…" against "aaa…ab") would be
	// quadratic.
	fail := make([]int, len(want))
	for i, k := 1, 0; i < len(want); i++ {
		for k > 0 && want[i] != want[k] {
			k = fail[k-1]
		}
		if want[i] == want[k] {
			k++
		}
		fail[i] = k
	}
	var out []Rect
	for _, l := range buildLines(spans) {
		cs := l.chars
		k := 0
		for i, c := range cs {
			for k > 0 && c.r != want[k] {
				k = fail[k-1]
			}
			if c.r == want[k] {
				k++
			}
			if k < len(want) {
				continue
			}
			box := emptyRect
			for _, m := range cs[i+1-len(want) : i+1] {
				if !m.virtual && !isSpace(m.r) {
					box = unionBox(box, m.box)
				}
			}
			if !box.isEmpty() {
				out = append(out, box)
			}
			// Occurrences do not overlap: start afresh after this one.
			k = 0
		}
	}
	return out
}
