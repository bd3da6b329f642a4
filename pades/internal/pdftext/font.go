package pdftext

import (
	"math"
	"slices"
	"strings"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Font defaults, in text space units (fractions of the font size).
const (
	// defaultAscent and defaultDescent are used when neither the font
	// descriptor nor the font bounding box nor a standard font's metrics
	// say how far glyphs reach.
	defaultAscent  = 0.8
	defaultDescent = -0.2
	// unknownWidth is the advance of a glyph whose width no table gives:
	// half an em is the average Latin glyph.
	unknownWidth = 0.5
	// maxWidthEntries bounds the elements read from /Widths and /W.
	maxWidthEntries = 1 << 17
)

// font is what text extraction needs of a PDF font: how to split a
// string into codes, each code's advance and text, and the vertical
// extent of its glyphs. All lengths are in text space units, that is in
// fractions of the font size (glyph units ÷ 1000, or scaled by a Type 3
// /FontMatrix).
type font struct {
	// composite fonts (Type0) split strings with enc; simple fonts read
	// one byte per code.
	composite bool
	enc       *cmap
	toUnicode *cmap

	// Simple fonts.
	firstChar    int
	widths       []float64 // from /Widths, indexed by code - firstChar
	missingWidth float64
	std          []runeWidth // standard 14 metrics, for fonts without /Widths
	codeText     [256]string // text of each code from the encoding

	// Composite fonts.
	dw       float64
	w        []cidWidth
	dw2      [2]float64 // vertical: position vector y and advance
	w2       []cidVWidth
	vertical bool

	ascent, descent float64
}

// cidWidth is an entry of /W: CIDs lo…hi have width w.
type cidWidth struct {
	lo, hi uint32
	w      float64
}

// cidVWidth is an entry of /W2: vertical advance w1 and position vector
// (vx, vy) for CIDs lo…hi.
type cidVWidth struct {
	lo, hi     uint32
	w1, vx, vy float64
}

// glyph is one code read from a string.
type glyph struct {
	code uint32
	// n is the code length in bytes: word spacing applies to the one-byte
	// code 32 only.
	n int
	// width is the horizontal advance; for vertical fonts, vAdvance is
	// the (negative, downwards) vertical one and vx, vy the position
	// vector from the horizontal to the vertical origin.
	width            float64
	vAdvance, vx, vy float64
	text             string
}

// next reads the first code of s.
func (f *font) next(s []byte) glyph {
	if !f.composite {
		c := s[0]
		g := glyph{code: uint32(c), n: 1, width: f.simpleWidth(c)}
		if t, ok := f.toUnicode.unicode(uint32(c)); ok {
			g.text = t
		} else {
			g.text = f.codeText[c]
		}
		return g
	}
	code, n := f.enc.next(s)
	g := glyph{code: code, n: n}
	cid := f.enc.cid(code)
	g.width = f.dw
	if i, ok := findRange(f.w, cid, func(w cidWidth) (uint32, uint32) { return w.lo, w.hi }); ok {
		g.width = f.w[i].w
	}
	if f.vertical {
		g.vAdvance, g.vx, g.vy = f.dw2[1], g.width/2, f.dw2[0]
		if i, ok := findRange(f.w2, cid, func(w cidVWidth) (uint32, uint32) { return w.lo, w.hi }); ok {
			g.vAdvance, g.vx, g.vy = f.w2[i].w1, f.w2[i].vx, f.w2[i].vy
		}
	}
	switch t, ok := f.toUnicode.unicode(code); {
	case ok:
		g.text = t
	case f.enc.ucs2:
		g.text = utf16Text(s[:n])
	}
	return g
}

// findRange returns the index of the entry of sorted, non-overlapping
// ranges that holds v.
func findRange[T any](rs []T, v uint32, bounds func(T) (uint32, uint32)) (int, bool) {
	i, _ := slices.BinarySearchFunc(rs, v, func(r T, v uint32) int {
		lo, _ := bounds(r)
		if lo <= v {
			return -1
		}
		return 1
	})
	if i == 0 {
		return 0, false
	}
	if _, hi := bounds(rs[i-1]); v <= hi {
		return i - 1, true
	}
	return 0, false
}

// simpleWidth returns the advance of code c of a simple font.
func (f *font) simpleWidth(c byte) float64 {
	if i := int(c) - f.firstChar; f.widths != nil {
		if i >= 0 && i < len(f.widths) {
			return f.widths[i]
		}
		return f.missingWidth
	}
	if f.std != nil {
		if r := []rune(f.codeText[c]); len(r) == 1 {
			if j, ok := slices.BinarySearchFunc(f.std, r[0], func(w runeWidth, r rune) int { return int(w.r - r) }); ok {
				return float64(f.std[j].w) / 1000
			}
		}
		return f.missingWidth
	}
	return f.missingWidth
}

// fallbackFont stands in for a font that cannot be loaded: Latin-1 text
// with Helvetica's widths, which keeps ASCII text findable.
func fallbackFont() *font {
	f := &font{std: helveticaWidths[:], missingWidth: unknownWidth, ascent: 0.718, descent: -0.207}
	for c := range 256 {
		if r := winAnsiEncoding[c]; r != 0 {
			f.codeText[c] = string(r)
		}
	}
	return f
}

// standardFont describes one of the standard 14 fonts (and the common
// names that stand for them).
type standardFont struct {
	widths          []runeWidth // nil for Courier: every glyph is 600
	ascent, descent float64
	symbolic        bool
}

// lookupStandardFont maps a /BaseFont to the metrics of the standard font
// it is or resembles. Fonts that are none of the standard 14 get the
// closest family by name (serif, monospaced, or sans-serif), which is an
// approximation only used when a font lacks /Widths.
func lookupStandardFont(base string) standardFont {
	if i := strings.IndexByte(base, '+'); i == 6 {
		base = base[i+1:] // subset tag
	}
	n := strings.ToLower(base)
	bold := strings.Contains(n, "bold") || strings.Contains(n, "black") || strings.Contains(n, "heavy")
	italic := strings.Contains(n, "italic") || strings.Contains(n, "oblique")
	switch {
	case strings.HasPrefix(n, "symbol"):
		// Widths approximate: Symbol's glyphs are not in the tables.
		return standardFont{ascent: 1.010, descent: -0.293, symbolic: true}
	case strings.HasPrefix(n, "zapfdingbats") || strings.Contains(n, "dingbat"):
		return standardFont{ascent: 0.820, descent: -0.143, symbolic: true}
	case strings.Contains(n, "courier") || strings.Contains(n, "mono"):
		return standardFont{ascent: 0.629, descent: -0.157}
	case strings.Contains(n, "times") || strings.Contains(n, "roman") || strings.Contains(n, "serif") && !strings.Contains(n, "sans"):
		switch {
		case bold && italic:
			return standardFont{widths: timesBoldItalicWidths[:], ascent: 0.683, descent: -0.217}
		case bold:
			return standardFont{widths: timesBoldWidths[:], ascent: 0.683, descent: -0.217}
		case italic:
			return standardFont{widths: timesItalicWidths[:], ascent: 0.683, descent: -0.217}
		}
		return standardFont{widths: timesRomanWidths[:], ascent: 0.683, descent: -0.217}
	}
	if bold {
		return standardFont{widths: helveticaBoldWidths[:], ascent: 0.718, descent: -0.207}
	}
	return standardFont{widths: helveticaWidths[:], ascent: 0.718, descent: -0.207}
}

// fontLoader reads fonts through a Reader.
type fontLoader struct {
	r *pdf.Reader
}

// resolve follows references; failures give Null, since a broken font
// entry should cost only its own text.
func (l fontLoader) resolve(o pdf.Object) pdf.Object {
	v, err := l.r.Resolve(o)
	if err != nil || v == nil {
		return pdf.Null{}
	}
	return v
}

func (l fontLoader) dict(o pdf.Object) pdf.Dict {
	if d, ok := l.resolve(o).(pdf.Dict); ok {
		return d
	}
	if s, ok := l.resolve(o).(*pdf.Stream); ok {
		return s.Dict
	}
	return nil
}

func (l fontLoader) number(o pdf.Object) (float64, bool) {
	v, ok := pdf.Number(l.resolve(o))
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// cmapStream parses the CMap stream o refers to, or returns nil.
func (l fontLoader) cmapStream(o pdf.Object) *cmap {
	s, ok := l.resolve(o).(*pdf.Stream)
	if !ok {
		return nil
	}
	data, err := l.r.StreamData(s, maxCMapData)
	if err != nil {
		return nil
	}
	return parseCMap(data)
}

// load builds a font from its dictionary. It never fails: what cannot
// be read is approximated (see the package documentation).
func (l fontLoader) load(d pdf.Dict) *font {
	subtype, _ := l.resolve(d.Get("Subtype")).(pdf.Name)
	if subtype == "Type0" {
		return l.loadComposite(d)
	}
	f := &font{missingWidth: unknownWidth}
	f.toUnicode = l.cmapStream(d.Get("ToUnicode"))
	base, _ := l.resolve(d.Get("BaseFont")).(pdf.Name)
	std := lookupStandardFont(string(base))
	desc := l.dict(d.Get("FontDescriptor"))

	// Type 3 glyphs are measured in glyph space, which /FontMatrix maps
	// to text space; other simple fonts use thousandths.
	scaleX, scaleY := 0.001, 0.001
	if subtype == "Type3" {
		if fm, ok := l.resolve(d.Get("FontMatrix")).(pdf.Array); ok && len(fm) == 6 {
			a, _ := l.number(fm[0])
			dd, _ := l.number(fm[3])
			if a != 0 {
				scaleX = a
			}
			if dd != 0 {
				scaleY = dd
			}
		}
	}

	if w, ok := l.resolve(d.Get("Widths")).(pdf.Array); ok {
		fc, _ := l.number(d.Get("FirstChar"))
		if fc >= 0 && fc < 256 {
			f.firstChar = int(fc)
		}
		w = w[:min(len(w), 256)]
		f.widths = make([]float64, len(w))
		for i, o := range w {
			v, _ := l.number(o)
			f.widths[i] = v * scaleX
		}
	} else {
		f.std = std.widths
		if f.std == nil && !std.symbolic {
			// Courier: fixed pitch.
			f.missingWidth = 0.6
		}
	}
	if desc != nil {
		if mw, ok := l.number(desc.Get("MissingWidth")); ok && mw > 0 {
			f.missingWidth = mw * scaleX
		}
	}
	f.ascent, f.descent = l.verticalMetrics(desc, d, std, subtype == "Type3", scaleY)

	// Encoding: a base table, then /Differences.
	var table *[256]rune
	var diffs pdf.Array
	switch e := l.resolve(d.Get("Encoding")).(type) {
	case pdf.Name:
		table = namedEncoding(e)
	case pdf.Dict:
		if n, ok := l.resolve(e.Get("BaseEncoding")).(pdf.Name); ok {
			table = namedEncoding(n)
		}
		diffs, _ = l.resolve(e.Get("Differences")).(pdf.Array)
	}
	if table == nil {
		// No base encoding: the font's built-in one, which only the font
		// program knows. Standard encoding is what Type 1 text fonts
		// have built in; TrueType fonts without an encoding are nearly
		// always Windows fonts, so WinAnsi is the better guess for them.
		table = &standardEncoding
		if subtype == "TrueType" {
			table = &winAnsiEncoding
		}
	}
	for c, r := range table {
		if r != 0 {
			f.codeText[c] = string(r)
		}
	}
	code := -1
	for i, o := range diffs {
		if i >= 4096 {
			break
		}
		switch v := l.resolve(o).(type) {
		case pdf.Int:
			code = int(v)
		case pdf.Real:
			code = int(v)
		case pdf.Name:
			if code >= 0 && code < 256 {
				f.codeText[code] = glyphText(string(v))
			}
			code++
		}
	}
	return f
}

// namedEncoding returns the table of a predefined simple-font encoding.
// MacExpertEncoding (small capitals and old-style figures) is read as
// StandardEncoding, an approximation.
func namedEncoding(n pdf.Name) *[256]rune {
	switch n {
	case "WinAnsiEncoding":
		return &winAnsiEncoding
	case "MacRomanEncoding":
		return &macRomanEncoding
	case "StandardEncoding", "MacExpertEncoding":
		return &standardEncoding
	}
	return nil
}

// verticalMetrics returns the ascent and descent of a font: from the
// descriptor when it states them, else from the font bounding box (LibreOffice
// writes /Ascent 0 /Descent 0 but a true /FontBBox), else from the
// standard font's metrics, else the defaults.
func (l fontLoader) verticalMetrics(desc, fontDict pdf.Dict, std standardFont, type3 bool, scale float64) (float64, float64) {
	if desc != nil {
		a, okA := l.number(desc.Get("Ascent"))
		dd, okD := l.number(desc.Get("Descent"))
		a, dd = math.Abs(a)*math.Abs(scale), -math.Abs(dd)*math.Abs(scale)
		if okA && okD && a > 0 && a < 3 && dd < 0 && dd > -3 {
			return a, dd
		}
	}
	bboxOwner := desc
	if type3 {
		bboxOwner = fontDict
	}
	if bboxOwner != nil {
		if bb, ok := l.resolve(bboxOwner.Get("FontBBox")).(pdf.Array); ok && len(bb) == 4 {
			y0, ok0 := l.number(bb[1])
			y1, ok1 := l.number(bb[3])
			y0, y1 = min(y0, y1)*scale, max(y0, y1)*scale
			if scale < 0 {
				y0, y1 = y1, y0
			}
			if ok0 && ok1 && y1 > 0 && y1 < 3 && y0 <= 0 && y0 > -3 {
				return y1, y0
			}
		}
	}
	if std.ascent != 0 {
		return std.ascent, std.descent
	}
	return defaultAscent, defaultDescent
}

// loadComposite builds a Type0 font.
func (l fontLoader) loadComposite(d pdf.Dict) *font {
	f := &font{composite: true, dw: 1, dw2: [2]float64{0.88, -1}}
	f.toUnicode = l.cmapStream(d.Get("ToUnicode"))
	switch e := l.resolve(d.Get("Encoding")).(type) {
	case pdf.Name:
		f.enc = predefinedCMap(e)
	case *pdf.Stream:
		f.enc = l.cmapStream(e)
		if f.enc != nil && len(f.enc.spaces) == 0 {
			f.enc.spaces = identityCMap(false).spaces
		}
	}
	if f.enc == nil {
		f.enc = identityCMap(false)
	}
	f.vertical = f.enc.vertical
	var cid pdf.Dict
	if arr, ok := l.resolve(d.Get("DescendantFonts")).(pdf.Array); ok && len(arr) > 0 {
		cid = l.dict(arr[0])
	}
	if cid == nil {
		f.ascent, f.descent = defaultAscent, defaultDescent
		return f
	}
	if v, ok := l.number(cid.Get("DW")); ok {
		f.dw = v / 1000
	}
	if w, ok := l.resolve(cid.Get("W")).(pdf.Array); ok {
		f.w = l.parseW(w)
	}
	if a, ok := l.resolve(cid.Get("DW2")).(pdf.Array); ok && len(a) == 2 {
		vy, ok1 := l.number(a[0])
		w1, ok2 := l.number(a[1])
		if ok1 && ok2 {
			f.dw2 = [2]float64{vy / 1000, w1 / 1000}
		}
	}
	if w2, ok := l.resolve(cid.Get("W2")).(pdf.Array); ok {
		f.w2 = l.parseW2(w2)
	}
	base, _ := l.resolve(d.Get("BaseFont")).(pdf.Name)
	f.ascent, f.descent = l.verticalMetrics(l.dict(cid.Get("FontDescriptor")), cid, lookupStandardFont(string(base)), false, 0.001)
	return f
}

// parseW reads a /W array: "c [w1 w2 …]" and "cfirst clast w" entries.
// The result is sorted and free of overlaps (an earlier entry wins).
func (l fontLoader) parseW(arr pdf.Array) []cidWidth {
	var out []cidWidth
	count := 0
	for i := 0; i < len(arr) && count < maxWidthEntries; {
		first, ok := l.number(arr[i])
		if !ok || first < 0 || first > math.MaxUint32 || i+1 >= len(arr) {
			break
		}
		if list, ok := l.resolve(arr[i+1]).(pdf.Array); ok {
			for k, o := range list {
				if count >= maxWidthEntries {
					break
				}
				w, _ := l.number(o)
				c := uint64(first) + uint64(k)
				if c > math.MaxUint32 {
					break
				}
				out = append(out, cidWidth{uint32(c), uint32(c), w / 1000})
				count++
			}
			i += 2
			continue
		}
		if i+2 >= len(arr) {
			break
		}
		last, ok1 := l.number(arr[i+1])
		w, ok2 := l.number(arr[i+2])
		if ok1 && ok2 && last >= first && last <= math.MaxUint32 {
			out = append(out, cidWidth{uint32(first), uint32(last), w / 1000})
			count++
		}
		i += 3
	}
	return sortRanges(out, func(w cidWidth) (uint32, uint32) { return w.lo, w.hi })
}

// parseW2 reads a /W2 array: "c [w1y vx vy …]" and "cfirst clast w1y vx
// vy" entries.
func (l fontLoader) parseW2(arr pdf.Array) []cidVWidth {
	var out []cidVWidth
	for i := 0; i < len(arr) && len(out) < maxWidthEntries; {
		first, ok := l.number(arr[i])
		if !ok || first < 0 || first > math.MaxUint32 || i+1 >= len(arr) {
			break
		}
		if list, ok := l.resolve(arr[i+1]).(pdf.Array); ok {
			for k := 0; k+2 < len(list) && len(out) < maxWidthEntries; k += 3 {
				c := uint64(first) + uint64(k/3)
				if c > math.MaxUint32 {
					break
				}
				w1, _ := l.number(list[k])
				vx, _ := l.number(list[k+1])
				vy, _ := l.number(list[k+2])
				out = append(out, cidVWidth{uint32(c), uint32(c), w1 / 1000, vx / 1000, vy / 1000})
			}
			i += 2
			continue
		}
		if i+4 >= len(arr) {
			break
		}
		last, _ := l.number(arr[i+1])
		w1, _ := l.number(arr[i+2])
		vx, _ := l.number(arr[i+3])
		vy, _ := l.number(arr[i+4])
		if last >= first && last <= math.MaxUint32 {
			out = append(out, cidVWidth{uint32(first), uint32(last), w1 / 1000, vx / 1000, vy / 1000})
		}
		i += 5
	}
	return sortRanges(out, func(w cidVWidth) (uint32, uint32) { return w.lo, w.hi })
}

// sortRanges sorts ranges by their first value and drops those that
// overlap an earlier one, so that findRange's binary search is exact.
func sortRanges[T any](rs []T, bounds func(T) (uint32, uint32)) []T {
	slices.SortStableFunc(rs, func(a, b T) int {
		la, _ := bounds(a)
		lb, _ := bounds(b)
		switch {
		case la < lb:
			return -1
		case la > lb:
			return 1
		}
		return 0
	})
	out := rs[:0]
	for _, r := range rs {
		lo, _ := bounds(r)
		if len(out) > 0 {
			if _, hi := bounds(out[len(out)-1]); lo <= hi {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}
