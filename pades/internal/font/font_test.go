package font

import (
	"encoding/binary"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// loadFace loads an embedded face or fails the test.
func loadFace(t testing.TB, style Style) *Face {
	t.Helper()
	f, err := Load(style)
	if err != nil {
		t.Fatalf("Load(%d): %v", style, err)
	}
	return f
}

// fontBytes returns a copy of an embedded font file.
func fontBytes(t testing.TB, style Style) []byte {
	t.Helper()
	name, ok := style.fileName()
	if !ok {
		t.Fatalf("no file for style %d", style)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dirEntry returns the offset of tag's table directory entry in a font.
func dirEntry(t *testing.T, ttf []byte, tag string) int {
	t.Helper()
	n := int(binary.BigEndian.Uint16(ttf[4:]))
	for i := range n {
		if string(ttf[12+16*i:16+16*i]) == tag {
			return 12 + 16*i
		}
	}
	t.Fatalf("no %q table", tag)
	return 0
}

// tableOf returns the bytes of tag's table in a font.
func tableOf(t *testing.T, ttf []byte, tag string) []byte {
	t.Helper()
	e := dirEntry(t, ttf, tag)
	off, n := binary.BigEndian.Uint32(ttf[e+8:]), binary.BigEndian.Uint32(ttf[e+12:])
	return ttf[off : off+n]
}

func TestLoad(t *testing.T) {
	tests := []struct {
		style  Style
		name   string
		italic bool
		flags  int
	}{
		{Regular, "LiberationSerif", false, 34},
		{Italic, "LiberationSerif-Italic", true, 98},
		{Bold, "LiberationSerif-Bold", false, 34},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := loadFace(t, tt.style)
			if got := f.Name(); got != tt.name {
				t.Errorf("Name() = %q, want %q", got, tt.name)
			}
			if f.italic != tt.italic {
				t.Errorf("italic = %v, want %v", f.italic, tt.italic)
			}
			if got := f.flags(); got != tt.flags {
				t.Errorf("flags() = %d, want %d", got, tt.flags)
			}
			// Liberation Serif: hhea 1825/-443/87 in a 2048 em.
			asc, desc, gap := f.Metrics(12)
			for _, m := range []struct {
				name      string
				got, want float64
			}{
				{"ascent", asc, 1825 * 12 / 2048.0},
				{"descent", desc, -443 * 12 / 2048.0},
				{"lineGap", gap, 87 * 12 / 2048.0},
			} {
				if math.Abs(m.got-m.want) > 1e-9 {
					t.Errorf("Metrics(12) %s = %v, want %v", m.name, m.got, m.want)
				}
			}
			if err := f.HasGlyphs(vietNFC + vietNFD + " 0123456789:/-,."); err != nil {
				t.Errorf("HasGlyphs(Vietnamese alphabet): %v", err)
			}
		})
	}
	if _, err := Load(Style(7)); err == nil || !strings.Contains(err.Error(), "unknown style 7") {
		t.Errorf("Load(7) error = %v, want unknown style", err)
	}
}

func TestWidth(t *testing.T) {
	const text = "Nguyễn Văn Ánh"
	// timesWidths are advance widths from Adobe's Times AFM files (the
	// standard 14 fonts), in 1000 units, for the letters of the test name;
	// Liberation Serif is designed to match them. Accented letters take the
	// width of their base letter.
	timesWidths := map[Style]map[rune]int{
		Regular: {'N': 722, 'g': 500, 'u': 500, 'y': 500, 'e': 444, 'n': 500, ' ': 250, 'V': 722, 'a': 444, 'A': 722, 'h': 500},
		Italic:  {'N': 667, 'g': 500, 'u': 500, 'y': 444, 'e': 444, 'n': 500, ' ': 250, 'V': 611, 'a': 500, 'A': 611, 'h': 500},
		Bold:    {'N': 722, 'g': 500, 'u': 556, 'y': 500, 'e': 444, 'n': 556, ' ': 250, 'V': 722, 'a': 500, 'A': 722, 'h': 556},
	}
	base := map[rune]rune{'ễ': 'e', 'ă': 'a', 'Á': 'A'}
	for _, style := range []Style{Regular, Italic, Bold} {
		f := loadFace(t, style)
		t.Run(f.Name(), func(t *testing.T) {
			got := f.Width(text, 12)

			// Second method: raw hmtx advances read straight from the
			// file through the cmap, unrounded.
			raw := fontBytes(t, style)
			hmtx := tableOf(t, raw, "hmtx")
			units := 0
			for _, r := range text {
				g := f.lookup(r)
				if g == 0 {
					t.Fatalf("no glyph for %q", r)
				}
				units += int(binary.BigEndian.Uint16(hmtx[4*int(g):]))
			}
			exact := float64(units) * 12 / 2048
			if math.Abs(got-exact) > exact*0.001 {
				t.Errorf("Width = %.4f, hmtx sum gives %.4f", got, exact)
			}

			// Third: Times metrics.
			times := 0
			for _, r := range text {
				if b, ok := base[r]; ok {
					r = b
				}
				times += timesWidths[style][r]
			}
			want := float64(times) * 12 / 1000
			if math.Abs(got-want) > want*0.01 {
				t.Errorf("Width = %.4f, Times metrics give %.4f", got, want)
			}
			t.Logf("Width(%q, 12) = %.3f pt (hmtx %.3f, Times %.3f)", text, got, exact, want)

			if d := f.Width("Nguye\u0302\u0303n Va\u0306n A\u0301nh", 12); d != got {
				t.Errorf("decomposed text width %v, precomposed %v", d, got)
			}
			if w := f.Width("", 12); w != 0 {
				t.Errorf("Width(\"\") = %v", w)
			}
		})
	}
}

func TestHasGlyphs(t *testing.T) {
	f := loadFace(t, Regular)
	tests := []struct {
		name, text string
		missing    string // substring of the error; "" for none
	}{
		{"vietnamese", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", ""},
		{"decomposed", "Vie\u0323\u0302t Nam", ""},
		{"empty", "", ""},
		{"cjk", "Việt 国", `'国' (U+56FD)`},
		{"emoji", "ok 😀", `'😀' (U+1F600)`},
		{"newline", "a\nb", `'\n' (U+000A)`},
		{"first of several", "日本", `'日' (U+65E5)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.HasGlyphs(tt.text)
			switch {
			case tt.missing == "" && err != nil:
				t.Errorf("HasGlyphs(%q) = %v, want nil", tt.text, err)
			case tt.missing != "" && (err == nil || !strings.Contains(err.Error(), tt.missing)):
				t.Errorf("HasGlyphs(%q) = %v, want an error naming %s", tt.text, err, tt.missing)
			case err != nil && !strings.Contains(err.Error(), "LiberationSerif"):
				t.Errorf("error %q does not name the font", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	good := fontBytes(t, Regular)
	patch := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	header := func(tag string) []byte {
		return append([]byte(tag), make([]byte, 200)...)
	}
	tests := []struct {
		name string
		ttf  []byte
		want string
	}{
		{"empty", nil, "shorter than"},
		{"garbage", []byte("this is certainly not a font, just text"), "unknown sfnt version"},
		{"cff", header("OTTO"), "CFF"},
		{"collection", header("ttcf"), "collection"},
		{"woff", header("wOFF"), "WOFF"},
		{"woff2", header("wOF2"), "WOFF"},
		{"no tables", append([]byte{0, 1, 0, 0}, make([]byte, 20)...), "table count 0"},
		{"truncated directory", good[:100], "directory"},
		{"truncated file", good[:len(good)/2], "past the end"},
		{"missing glyf", patch(func(b []byte) { copy(b[dirEntry(t, b, "glyf"):], "xxxx") }), `"glyf" is missing`},
		{"cff instead of glyf", patch(func(b []byte) { copy(b[dirEntry(t, b, "glyf"):], "CFF ") }), "CFF outlines"},
		{"missing cmap", patch(func(b []byte) { copy(b[dirEntry(t, b, "cmap"):], "xxxx") }), `"cmap" is missing`},
		{"bad head magic", patch(func(b []byte) { tableOf(t, b, "head")[12] = 0 }), "magic"},
		{"zero glyphs", patch(func(b []byte) { copy(tableOf(t, b, "maxp")[4:], []byte{0, 0}) }), "no glyphs"},
		{"bad loca format", patch(func(b []byte) { tableOf(t, b, "head")[51] = 7 }), "indexToLocFormat"},
		{"loca decreasing", patch(func(b []byte) { copy(tableOf(t, b, "loca")[40:], []byte{0xff, 0xff, 0xff, 0xff}) }), "decrease"},
		{"symbol cmap only", patch(func(b []byte) {
			c := tableOf(t, b, "cmap")
			for i := range int(binary.BigEndian.Uint16(c[2:])) {
				copy(c[4+8*i:], []byte{0, 3, 0, 0}) // platform 3, encoding 0: symbol
			}
		}), "no Unicode subtable"},
		{"no postscript name", patch(func(b []byte) {
			n := tableOf(t, b, "name")
			for i := range int(binary.BigEndian.Uint16(n[2:])) {
				copy(n[6+12*i+6:], []byte{0, 99})
			}
		}), "PostScript name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.ttf)
			if err == nil {
				t.Fatalf("Parse succeeded (font %q), want error containing %q", f.Name(), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "font: ") {
				t.Errorf("Parse error = %q, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseCopiesInput(t *testing.T) {
	b := fontBytes(t, Regular)
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := f.Width("Việt Nam", 10)
	clear(b)
	if got := f.Width("Việt Nam", 10); got != want {
		t.Errorf("width changed from %v to %v after the caller reused its buffer", want, got)
	}
}

// tinyFont builds a minimal TrueType font by hand: .notdef, a triangle
// for "A" and a composite "Á" made of two triangles, with the least the
// parser requires. It is a small seed for fuzzing and exercises
// composite handling independently of Liberation.
func tinyFont(t testing.TB) []byte {
	t.Helper()
	var glyf []byte
	neg := func(v uint16) uint16 { return -v } // two's complement int16
	// A simple glyph: one contour of three on-curve points (0,0),
	// (250,700), (500,0) with 2-byte coordinate deltas.
	triangle := be16(nil, 1, 0, 0, 500, 700) // contours, bbox
	triangle = be16(triangle, 2, 0)          // endPtsOfContours, instructionLength
	triangle = append(triangle, 1, 1, 1)     // flags: on curve
	triangle = be16(triangle, 0, 250, 250, 0, 700, neg(700))
	composite := be16(nil, neg(1), 0, 0, 500, 900)   // -1 contours: composite
	composite = be16(composite, 0x0023, 1, 0, 0)     // words, xy values, more components
	composite = be16(composite, 0x0003, 1, 100, 200) // words, xy values
	loca := []uint16{0}
	for _, g := range [][]byte{nil, triangle, composite} {
		glyf = append(glyf, g...)
		for len(glyf)%4 != 0 {
			glyf = append(glyf, 0)
		}
		loca = append(loca, uint16(len(glyf)/2))
	}
	head := be32(nil, 0x00010000, 0x00010000, 0, 0x5F0F3CF5)
	head = be16(head, 0, 1000)                              // flags, unitsPerEm
	head = append(head, make([]byte, 16)...)                // created, modified
	head = be16(head, 0, neg(200), 500, 900, 0, 8, 2, 0, 0) // bbox, macStyle, lowestRecPPEM, direction, loca, glyf formats
	hhea := be32(nil, 0x00010000)
	hhea = be16(hhea, 800, neg(200), 100, 600) // ascender, descender, lineGap, advanceWidthMax
	hhea = append(hhea, make([]byte, 22)...)
	hhea = be16(hhea, 3)
	maxp := be16(be32(nil, 0x00005000), 3)
	hmtx := be16(nil, 500, 0, 500, 0, 600, 0)
	name := be16(nil, 0, 1, 18, 3, 1, 0x409, 6, 8, 0)
	name = be16(name, 'T', 'i', 'n', 'y')
	cmap, err := buildCmap(map[rune]uint16{'A': 1, 'Á': 2})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := assemble(map[string][]byte{
		"cmap": cmap, "glyf": glyf, "head": head, "hhea": hhea,
		"hmtx": hmtx, "loca": be16(nil, loca...), "maxp": maxp, "name": name,
	})
	return out
}

func TestTinyFont(t *testing.T) {
	f, err := Parse(tinyFont(t))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f.Name() != "Tiny" || f.numGlyphs != 3 {
		t.Fatalf("parsed %q with %d glyphs", f.Name(), f.numGlyphs)
	}
	if w := f.Width("AÁ", 10); w != 11 {
		t.Errorf("Width = %v, want 11", w)
	}
	if err := f.HasGlyphs("B"); err == nil || !strings.Contains(err.Error(), "'B' (U+0042)") {
		t.Errorf("HasGlyphs(B) = %v", err)
	}
	tests := []struct {
		text string
		keep []bool
	}{
		{"", []bool{true, false, false}},
		{"A", []bool{true, true, false}},
		{"Á", []bool{true, true, true}}, // the component comes along
		{"A\u0301", []bool{true, true, true}},
	}
	for _, tt := range tests {
		s := f.NewSubset()
		s.Encode(tt.text)
		keep, err := s.closure()
		if err != nil {
			t.Fatalf("%q: %v", tt.text, err)
		}
		if !slices.Equal(keep, tt.keep) {
			t.Errorf("%q keeps %v, want %v", tt.text, keep, tt.keep)
		}
		program, err := s.program()
		if err != nil {
			t.Fatalf("%q: %v", tt.text, err)
		}
		sf, err := Parse(program)
		if err != nil {
			t.Fatalf("%q: subset does not parse: %v", tt.text, err)
		}
		for g, k := range tt.keep {
			if got := len(sf.glyphData(uint16(g))) > 0; got != (k && g > 0) {
				t.Errorf("%q: glyph %d has outline %v", tt.text, g, got)
			}
		}
	}
}
