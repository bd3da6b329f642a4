package pdftext

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

func TestLexer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []pdf.Object // operators as Name("op:…")
	}{
		{"1 -2 +3 4. -.5 .25 0", []pdf.Object{pdf.Int(1), pdf.Int(-2), pdf.Int(3), pdf.Real(4), pdf.Real(-0.5), pdf.Real(0.25), pdf.Int(0)}},
		{"--2 1.2.3 - .", []pdf.Object{pdf.Real(-2), pdf.Real(1.2), pdf.Int(0), pdf.Int(0)}},
		{`(a\(b\)c) (x\ny) (\101\60\7) (l1\
l2) (a(b)c) (\q)`, []pdf.Object{str("a(b)c"), str("x\ny"), str("A0\x07"), str("l1l2"), str("a(b)c"), str("q")}},
		{"(cr\r\nlf)", []pdf.Object{str("cr\nlf")}},
		{"<48 65\n6c6C6f> <7> <>", []pdf.Object{hex("Hello"), hex("p"), pdf.String{Hex: true}}},
		{"/Name /A#42C /a#2", []pdf.Object{pdf.Name("Name"), pdf.Name("ABC"), pdf.Name("a#2")}},
		{"[1 (x) [/y]] <</K [1] /L <</M 2>>>>", []pdf.Object{
			pdf.Array{pdf.Int(1), str("x"), pdf.Array{pdf.Name("y")}},
			pdf.Dict{"K": pdf.Array{pdf.Int(1)}, "L": pdf.Dict{"M": pdf.Int(2)}},
		}},
		{"true false null Tj T* ' \" % comment\nBT", []pdf.Object{pdf.Bool(true), pdf.Bool(false), pdf.Null{}, op("Tj"), op("T*"), op("'"), op(`"`), op("BT")}},
		// An operator inside an array ends it.
		{"[(a) Tj", []pdf.Object{pdf.Array{str("a")}, op("Tj")}},
	} {
		p := parser{lex: lexer{data: []byte(tc.in)}}
		var got []pdf.Object
		for {
			it := p.next()
			if it.obj == nil && it.op == nil {
				break
			}
			if it.op != nil {
				got = append(got, op(string(it.op)))
				continue
			}
			got = append(got, it.obj)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tc.in, got, tc.want)
		}
	}
}

func str(s string) pdf.String { return pdf.String{Bytes: []byte(s)} }
func hex(s string) pdf.String { return pdf.String{Bytes: []byte(s), Hex: true} }
func op(s string) pdf.Name    { return pdf.Name("op:" + s) }

func TestGlyphText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, want string }{
		{"A", "A"},
		{"ohorn", "ơ"},
		{"Dcroat", "Đ"},
		{"dotbelowcomb", "\u0323"},
		{"uni1EA1", "ạ"},
		{"uni00410301", "A\u0301"},
		{"uni1ea1", ""}, // lower-case hexadecimal is not a uni name
		{"u1F600", "😀"},
		{"f_i", "fi"},
		{"Aacute.sc", "Á"},
		{"g123", ""},
		{".notdef", ""},
	} {
		if got := glyphText(tc.name); got != tc.want {
			t.Errorf("glyphText(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// vietnameseLetters are the letters of Vietnamese with tone marks, in
// precomposed form.
const vietnameseLetters = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ" +
	"ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ"

// decomposeFully spells r with its canonical decomposition.
func decomposeFully(r rune) []rune {
	d, ok := lookupDecomposition(r)
	if !ok {
		return []rune{r}
	}
	out := decomposeFully(d.a)
	if d.b != 0 {
		out = append(out, decomposeFully(d.b)...)
	}
	return out
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Nguye\u0302\u0303n", "Nguyễn"},
		{"a\u0302\u0323", "ậ"},       // marks out of canonical order
		{"a\u0323\u0302", "ậ"},       // in order
		{"u\u031b\u0323", "ự"},       // horn (216) before dot below (220)
		{"u\u0323\u031b", "ự"},       // reordered
		{"e\u0303\u0302", "ẽ\u0302"}, // tilde first: a different, unencoded letter
		{"\u0301a", "\u0301a"},       // a mark with no base stays
		{"A\u0340", "À"},             // the tone-mark singleton
		{"\u212b", "Å"},              // Angstrom sign
		{"ASCII only", "ASCII only"},
		{"Đ", "Đ"}, // no decomposition
	} {
		if got := normalizeString(tc.in); got != tc.want {
			t.Errorf("normalize(%+q) = %+q, want %+q", tc.in, got, tc.want)
		}
	}
	for _, r := range vietnameseLetters {
		if got := normalizeString(string(decomposeFully(r))); got != string(r) {
			t.Errorf("normalize(%+q) = %+q, want %q", string(decomposeFully(r)), got, r)
		}
		if got := normalizeString(string(r)); got != string(r) {
			t.Errorf("normalize(%q) = %+q", r, got)
		}
	}
	// Every primary composite recomposes from its pair.
	for _, d := range decompositions {
		if d.comp {
			if got := normalizeString(string([]rune{d.a, d.b})); got != string(d.cp) {
				t.Errorf("U+%04X U+%04X compose to %+q, want U+%04X", d.a, d.b, got, d.cp)
			}
		}
	}
}

// TestQuickCheck checks the shortcut of normalize against the full
// algorithm for every character the tables cover.
func TestQuickCheck(t *testing.T) {
	t.Parallel()
	for r := rune(0); r < 0x3000; r++ {
		cs := []char{{r: 'a'}, {r: r}}
		if !isNFC(cs) {
			continue
		}
		if got := composeNFC(cs); len(got) != 2 || got[1].r != r {
			t.Errorf("U+%04X passes the quick check, but NFC changes it", r)
		}
	}
}

// TestNormalizeBoxes checks that a composed letter covers the boxes of
// the glyphs it was drawn with.
func TestNormalizeBoxes(t *testing.T) {
	t.Parallel()
	got := normalize([]char{
		{r: 'e', box: Rect{0, 0, 5, 10}},
		{r: '\u0302', box: Rect{1, 10, 4, 12}},
		{r: '\u0301', box: Rect{2, 12, 6, 14}},
		{r: 'x', box: Rect{5, 0, 10, 10}},
	})
	want := []char{{r: 'ế', box: Rect{0, 0, 6, 14}}, {r: 'x', box: Rect{5, 0, 10, 10}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalize = %+v, want %+v", got, want)
	}
}

func TestCMap(t *testing.T) {
	t.Parallel()
	c := parseCMap([]byte(`2 begincodespacerange <00> <80> <8140> <9FFC> endcodespacerange
2 begincidrange <00> <7f> 1 <8140> <817e> 633 endcidrange
1 begincidchar <80> 99 endcidchar
2 beginbfchar <41> <0041> <8140> /Adieresis endbfchar
1 beginbfrange <8141> <8143> <D83DDE00> endbfrange
/WMode 1 def`))
	for _, tc := range []struct {
		in       string
		code     uint32
		n        int
		cid      uint32
		text     string
		hasText  bool
		wantNext int
	}{
		{"A", 0x41, 1, 0x42, "A", true, 1},
		{"\x81\x40", 0x8140, 2, 633, "Ä", true, 2},
		{"\x81\x42", 0x8142, 2, 635, "😁", true, 2},
		{"\x80", 0x80, 1, 99, "", false, 1},
		// 0xA0 is in no range: one byte.
		{"\xa0\x40", 0xa0, 1, 0, "", false, 1},
		// 0x81 0x20: the second byte is out of range; the first byte
		// starts two-byte codes.
		{"\x81\x20", 0x8120, 2, 0, "", false, 2},
	} {
		code, n := c.next([]byte(tc.in))
		if code != tc.code || n != tc.n {
			t.Errorf("next(%+q) = %#x, %d; want %#x, %d", tc.in, code, n, tc.code, tc.n)
			continue
		}
		if cid := c.cid(code); cid != tc.cid {
			t.Errorf("cid(%#x) = %d, want %d", code, cid, tc.cid)
		}
		if text, ok := c.unicode(code); text != tc.text || ok != tc.hasText {
			t.Errorf("unicode(%#x) = %q, %v; want %q, %v", code, text, ok, tc.text, tc.hasText)
		}
	}
	if !c.vertical {
		t.Error("/WMode 1 not read")
	}
}

func TestPredefinedCMaps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     pdf.Name
		identity bool
		ucs2     bool
		vertical bool
	}{
		{"Identity-H", true, false, false},
		{"Identity-V", true, false, true},
		{"UniGB-UCS2-H", false, true, false},
		{"UniJIS-UTF16-V", false, true, true},
		{"90ms-RKSJ-H", false, false, false},
	} {
		c := predefinedCMap(tc.name)
		if c.identity != tc.identity || c.ucs2 != tc.ucs2 || c.vertical != tc.vertical {
			t.Errorf("%s: identity %v ucs2 %v vertical %v", tc.name, c.identity, c.ucs2, c.vertical)
		}
	}
	// UTF-16 codes: surrogate pairs are one four-byte code.
	c := predefinedCMap("UniJIS-UTF16-H")
	if code, n := c.next([]byte{0xd8, 0x3d, 0xde, 0x00}); n != 4 || code != 0xd83dde00 {
		t.Errorf("UTF-16 surrogate pair read as %#x, %d bytes", code, n)
	}
}

// TestFindCallerSpans checks Find on spans a caller made, which carry
// no glyph boxes: characters share the span's box evenly.
func TestFindCallerSpans(t *testing.T) {
	t.Parallel()
	spans := []Span{
		{Text: "Ký bởi:", Box: Rect{300, 100, 335, 112}, FontSize: 12},
		{Text: "Nguyễn", Box: Rect{100, 200, 160, 212}, FontSize: 12},
		{Text: "Văn Ánh", Box: Rect{163, 200.5, 233, 212.5}, FontSize: 12},
	}
	for _, tc := range []struct {
		needle string
		want   []Rect
	}{
		{"Nguyễn Văn Ánh", []Rect{{100, 200, 233, 212.5}}},
		{"Nguyễn Văn", []Rect{{100, 200, 193, 212.5}}},
		{"bởi", []Rect{{315, 100, 330, 112}}},
		{"  ", nil},
		{"", nil},
	} {
		got := Find(spans, tc.needle)
		if len(got) != len(tc.want) {
			t.Errorf("Find(%q) = %v, want %v", tc.needle, got, tc.want)
			continue
		}
		for i := range got {
			if !rectsEqual(got[i], tc.want[i]) {
				t.Errorf("Find(%q) = %s, want %s", tc.needle, fmtRect(got[i]), fmtRect(tc.want[i]))
			}
		}
	}
}

// TestFindOccurrences checks that occurrences do not overlap and that
// repetitive text is searched correctly.
func TestFindOccurrences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text, needle string
		want         int
	}{
		{"aaaa", "aa", 2},
		{"aaa", "aa", 1},
		{"abab", "aba", 1},
		{"aabaabaaab", "aaab", 1},
		{"abcabd", "abd", 1},
		{"ab", "abc", 0},
	} {
		spans := []Span{{Text: tc.text, Box: Rect{0, 0, float64(len(tc.text)), 1}, FontSize: 1}}
		if got := Find(spans, tc.needle); len(got) != tc.want {
			t.Errorf("Find(%q in %q) = %v, want %d boxes", tc.needle, tc.text, got, tc.want)
		}
	}
}

// TestLimits checks that each limit stops the reading with ErrLimit and
// keeps what was read before it.
func TestLimits(t *testing.T) {
	t.Parallel()
	small := limits{streamData: 1 << 20, pageData: 1 << 20, operators: 1000, chars: 1000}
	before := "BT /F1 1 Tf (first) Tj ET\n"
	for _, tc := range []struct {
		name, content string
		lim           limits
	}{
		{"characters", before + "BT /F1 1 Tf (" + strings.Repeat("a", 1000) + ") Tj ET", small},
		{"operators", before + strings.Repeat("q Q ", 500), small},
		{"forms drawn over and over", before + strings.Repeat("/Fm1 Do ", 500), small},
		{"stream size", before + strings.Repeat(" ", 1<<20), small},
		{"page size", before + "/Fm1 Do", limits{streamData: 1 << 20, pageData: int64(len(before)) + 20, operators: 1000, chars: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := readPDF(t, handmadePDF(tc.content))
			page, res, err := lookupPage(r, 1)
			if err != nil {
				t.Fatal(err)
			}
			spans, err := pageSpansWithin(r, page, res, tc.lim)
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v, want ErrLimit", err)
			}
			if tc.name != "stream size" && len(Find(spans, "first")) != 1 {
				t.Error("the text before the limit is lost")
			}
		})
	}
	// The real limits leave a real page alone.
	if lim := defaultLimits(); lim.chars < 100_000 || lim.operators < 1_000_000 || lim.streamData < 16<<20 {
		t.Errorf("default limits %+v are too tight for real pages", lim)
	}
}

// FuzzParseCMap feeds arbitrary CMaps to the parser and the lookups.
func FuzzParseCMap(f *testing.F) {
	f.Add([]byte(handmadeToUnicode))
	f.Add([]byte("1 begincodespacerange <00> <FF> endcodespacerange 1 beginbfrange <00> <FF> [<0041> <D800>] endbfrange /usecmap Identity-H usecmap"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := parseCMap(data)
		for _, s := range [][]byte{{0}, {0x41}, {0x81, 0x40}, {0xff, 0xff, 0xff, 0xff}} {
			code, n := c.next(s)
			if n < 1 || n > len(s) {
				t.Fatalf("next(%x) = %#x, %d", s, code, n)
			}
			c.cid(code)
			if text, _ := c.unicode(code); !utf8.ValidString(text) {
				t.Fatalf("unicode(%#x) = %q", code, text)
			}
		}
	})
}

// FuzzPageSpans feeds arbitrary content streams to PageSpans (with the
// fonts and form of the hand-made page as resources) and Find: neither may
// panic or return boxes that are not finite.
func FuzzPageSpans(f *testing.F) {
	f.Add([]byte(handmadeContent))
	f.Add([]byte("BT /F2 12 Tf <0001000200030004> Tj ET"))
	f.Add([]byte("q 1 0 0 1 5 5 cm /Fm1 Do Q BI /W 1 /H 1 ID x EI"))
	f.Add([]byte("BT /F3 10 Tf [(AB) -300 (CD)] TJ 0 1 -1 0 0 0 Tm (ABCD) ' ET"))
	f.Fuzz(func(t *testing.T, content []byte) {
		data := handmadePDF(string(content))
		r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return // content that breaks the file's own structure
		}
		spans, _ := PageSpansAt(r, 1)
		for _, s := range spans {
			if !utf8.ValidString(s.Text) {
				t.Fatalf("invalid UTF-8 in %q", s.Text)
			}
			if !finiteRect(s.Box) {
				t.Fatalf("span %q box %v", s.Text, s.Box)
			}
		}
		for _, needle := range []string{"a", "ab cd", "ế"} {
			for _, b := range Find(spans, needle) {
				if !finiteRect(b) || math.IsNaN(b.LLX) {
					t.Fatalf("Find(%q) box %v", needle, b)
				}
			}
		}
	})
}
