package pdftext

import (
	"errors"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// handmadeToUnicode maps the CIDs of the composite test font: a bfchar
// to a letter, to a decomposed Vietnamese letter (e, circumflex, acute)
// and to a character outside the BMP (a surrogate pair); a bfrange in
// array form (one entry two characters long) and one in the incrementing
// form.
const handmadeToUnicode = `/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Kyso-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
3 beginbfchar
<0001> <0041>
<0002> <006503020301>
<0003> <D834DD1E>
endbfchar
2 beginbfrange
<0004> <0005> [<0062> <00630063>]
<0006> <0008> <0078>
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end`

// handmadeContent exercises the text operators. The numbers in the
// comments of handmadeCases follow from it and the fonts: F1 has every
// glyph 500 units wide, ascent 800, descent -200.
const handmadeContent = "" +
	// TJ with a word gap (-500: +5 pt) and a back kern (200: -2 pt).
	"BT /F1 10 Tf 100 700 Td [(ab) -500 (cd) 200 (ef)] TJ ET\n" +
	// Horizontal scaling 50 %.
	"q BT /F1 10 Tf 50 Tz 100 650 Td (ghij) Tj ET Q\n" +
	// Text rise 5 and character spacing 1.
	"q BT /F1 10 Tf 5 Ts 1 Tc 100 600 Td (kl) Tj ET Q\n" +
	// A cm doubling everything and moving right by 50.
	"q 2 0 0 2 50 0 cm BT /F1 10 Tf 25 275 Td (mn) Tj ET Q\n" +
	// A form XObject with /Matrix [1 0 0 1 100 500], drawn as it is and
	// moved by a cm.
	"q /Fm1 Do Q q 1 0 0 1 10 -100 cm /Fm1 Do Q\n" +
	// Inline images: unfiltered data whose computed length (12 bytes)
	// hides an "EI" followed by what reads as content; DCT data with an
	// "EI" followed by binary, and text operators inside; ASCIIHex data.
	"q 10 0 0 10 300 300 cm BI /W 12 /H 1 /BPC 8 /CS /G ID \x00 EI (zz) Tj\nEI Q\n" +
	"q BI /W 8 /H 8 /BPC 8 /CS /RGB /F /DCT ID \xff\xd8\xff EI \x01\x02 BT /F1 10 Tf 100 380 Td (zz) Tj ET \x80 EI\nQ\n" +
	"q BI /W 2 /H 1 /BPC 8 /CS /G /F /AHx ID 00 EI 20> EI Q\n" +
	"BT /F1 10 Tf 100 450 Td (qr) Tj ET\n" +
	// A simple font with /Differences: glyph names uni1EA1, ohorn, the
	// ligature f_i and Adieresis, widths 400, 600, 800 and 700.
	"BT /F3 10 Tf 100 350 Td (ABCD) Tj ET\n" +
	// Word spacing 3 on the space.
	"q BT /F1 10 Tf 3 Tw 100 300 Td (u v) Tj ET Q\n" +
	// The composite font: CIDs 1 and 2 are 600 and 700 wide, 3 to 5 900,
	// the rest 1000 (/DW); ascent 900, descent -100.
	"BT /F2 10 Tf 100 250 Td <0001000200030004000500060007> Tj ET\n" +
	// ' and ".
	"q BT /F1 10 Tf 12 TL 100 200 Td (w1) Tj (w2) ' 1 2 (w3) \" ET Q\n" +
	// Text turned 90° by the text matrix.
	"BT /F1 10 Tf 0 1 -1 0 500 100 Tm (rot) Tj ET\n" +
	// A Type 3 font with a 1/100 /FontMatrix, widths 50 and 100, bounding
	// box from -20 to 80.
	"BT /F4 10 Tf 300 700 Td (ab) Tj ET\n" +
	// Vertical writing (Identity-V): default /DW2 [880 -1000].
	"BT /F5 10 Tf 550 600 Td <00060007> Tj ET\n"

// handmadePDF is a one-page document drawing handmadeContent.
func handmadePDF(content string) []byte {
	widths := strings.TrimSpace(strings.Repeat("500 ", 95))
	return pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R /F2 6 0 R /F3 7 0 R /F4 14 0 R /F5 15 0 R >> /XObject << /Fm1 8 0 R >> >> /Contents 4 0 R >>",
		"stream:\x00" + content,
		"<< /Type /Font /Subtype /Type1 /BaseFont /KysoTest /FirstChar 32 /LastChar 126 /Widths [" + widths + "] /FontDescriptor 9 0 R >>",
		"<< /Type /Font /Subtype /Type0 /BaseFont /KysoCID /Encoding /Identity-H /DescendantFonts [10 0 R] /ToUnicode 11 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /KysoDiff /FirstChar 65 /LastChar 68 /Widths [400 600 800 700] /Encoding << /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [65 /uni1EA1 /ohorn /f_i /Adieresis] >> /FontDescriptor 13 0 R >>",
		"stream:/Type /XObject /Subtype /Form /BBox [0 0 100 100] /Matrix [1 0 0 1 100 500] /Resources << /Font << /FX 5 0 R >> >>\x00BT /FX 10 Tf 0 0 Td (op) Tj ET",
		"<< /Type /FontDescriptor /FontName /KysoTest /Flags 32 /FontBBox [0 -200 500 800] /Ascent 800 /Descent -200 /ItalicAngle 0 /StemV 80 /CapHeight 700 >>",
		"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /KysoCID /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor 12 0 R /DW 1000 /W [1 [600 700] 3 5 900] >>",
		"stream:\x00" + handmadeToUnicode,
		"<< /Type /FontDescriptor /FontName /KysoCID /Flags 4 /FontBBox [0 -100 1000 900] /Ascent 900 /Descent -100 /ItalicAngle 0 /StemV 80 /CapHeight 700 >>",
		"<< /Type /FontDescriptor /FontName /KysoDiff /Flags 32 /FontBBox [0 -300 800 700] /Ascent 700 /Descent -300 /ItalicAngle 0 /StemV 80 /CapHeight 700 >>",
		"<< /Type /Font /Subtype /Type3 /FontMatrix [0.01 0 0 0.01 0 0] /FontBBox [0 -20 100 80] /CharProcs << /a 16 0 R /b 16 0 R >> /Encoding << /Type /Encoding /Differences [97 /a /b] >> /FirstChar 97 /LastChar 98 /Widths [50 100] /Resources << >> >>",
		"<< /Type /Font /Subtype /Type0 /BaseFont /KysoCID /Encoding /Identity-V /DescendantFonts [10 0 R] /ToUnicode 11 0 R >>",
		"stream:\x0050 0 d0",
	})
}

func TestHandmade(t *testing.T) {
	t.Parallel()
	r := readPDF(t, handmadePDF(handmadeContent))
	spans, err := PageSpansAt(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, needle string
		want         []Rect
	}{
		// a 100–105, b 105–110; +5: c 115–120, d 120–125; -2: e 123–128,
		// f 128–133. The wide move splits the TJ and reads as a space;
		// the Type 3 "ab" on the same baseline comes after it.
		{"TJ word gap", "ab cdef", []Rect{{100, 698, 133, 708}}},
		{"TJ back kern", "cdef", []Rect{{115, 698, 133, 708}}},
		{"TJ gap is not nothing", "abcd", nil},
		{"same line left to right", "ab", []Rect{{100, 698, 110, 708}, {300, 698, 315, 708}}},
		// Four glyphs of 2.5 pt.
		{"Tz 50%", "ghij", []Rect{{100, 648, 110, 658}}},
		// Raised by 5; l starts 1 pt after k ends, its box without the
		// spacing.
		{"Ts and Tc", "kl", []Rect{{100, 603, 111, 613}}},
		// Origin (2·25+50, 2·275), glyphs 10 pt, box -4…+16.
		{"cm scaling", "mn", []Rect{{100, 546, 120, 566}}},
		{"form XObject", "op", []Rect{{100, 498, 110, 508}, {110, 398, 120, 408}}},
		{"inline images skipped", "qr", []Rect{{100, 448, 110, 458}}},
		{"inline image data not read", "zz", nil},
		// ạ 100–104, ơ 104–110, f 110–114 and i 114–118 (the ligature's 8
		// pt shared), Ä 118–125; ascent 700, descent -300.
		{"Differences", "ạơfiÄ", []Rect{{100, 347, 125, 357}}},
		{"ligature split", "iÄ", []Rect{{114, 347, 125, 357}}},
		// u 100–105, space 105–110 plus 3, v 113–118.
		{"Tw", "u v", []Rect{{100, 298, 118, 308}}},
		// A 100–106, ế 106–113, 𝄞 113–122, b 122–131, cc 131–140, x
		// 140–150, y 150–160.
		{"Type0", "Aế𝄞bccxy", []Rect{{100, 249, 160, 259}}},
		{"ToUnicode decomposed", "ế", []Rect{{106, 249, 113, 259}}},
		{"needle decomposed", "e\u0302\u0301", []Rect{{106, 249, 113, 259}}},
		{"surrogate pair", "𝄞", []Rect{{113, 249, 122, 259}}},
		{"bfrange array", "ccx", []Rect{{131, 249, 150, 259}}},
		{"case matters", "Ế", nil},
		{"T*", "w2", []Rect{{100, 186, 110, 196}}},
		{"quote operators", "w3", []Rect{{100, 174, 112, 184}}},
		// Up the page from (500, 100): x from 500-8 to 500+2.
		{"rotated text", "rot", []Rect{{492, 100, 502, 115}}},
		// Vertical: each glyph centred on x 550, hanging 0.88 em below
		// its origin, advancing 10 pt down.
		{"vertical writing", "xy", []Rect{{545, 580.2, 555, 600.2}, {140, 249, 160, 259}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Find(spans, tc.needle)
			if len(got) != len(tc.want) {
				t.Fatalf("Find(%q) = %v, want %v", tc.needle, got, tc.want)
			}
			for i := range got {
				if !rectsEqual(got[i], tc.want[i]) {
					t.Errorf("Find(%q) #%d = %s, want %s", tc.needle, i+1, fmtRect(got[i]), fmtRect(tc.want[i]))
				}
			}
		})
	}

	sizes := map[string]float64{"mn": 20, "ghij": 10, "op": 10, "rot": 10, "xy": 10, "ab": 10}
	for _, s := range spans {
		if want, ok := sizes[s.Text]; ok && s.FontSize != want {
			t.Errorf("span %q: FontSize %v, want %v", s.Text, s.FontSize, want)
		}
	}
}

// TestPartialContent checks that a content stream that cannot be decoded
// is reported with a typed error, and the rest of the page still read.
func TestPartialContent(t *testing.T) {
	t.Parallel()
	data := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 /Resources << /Font << /F1 6 0 R >> >> >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [4 0 R 5 0 R] >>",
		"stream:\x00BT /F1 12 Tf 72 700 Td (readable) Tj ET",
		"stream:/Filter /LZWDecode\x00\x80\x0b\x60\x50",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	})
	spans, err := PageSpansAt(readPDF(t, data), 1)
	var e *Error
	if !errors.As(err, &e) || e.Page != 1 || e.Object != (pdf.Ref{Num: 5}) || !errors.Is(err, pdf.ErrUnsupported) {
		t.Fatalf("error %v (%T), want a page 1 *Error about object 5 wrapping pdf.ErrUnsupported", err, err)
	}
	// Helvetica's widths: r 333, e 556, a 556, d 556, b 556, l 222.
	got := Find(spans, "readable")
	want := Rect{72, 72*0 + 700 - 0.207*12, 72 + 12*(0.333+0.556+0.556+0.556+0.556+0.556+0.222+0.556), 700 + 0.718*12}
	if len(got) != 1 || deviation(got[0], want) > 1e-9 {
		t.Errorf("Find(readable) = %v, want %s", got, fmtRect(want))
	}
}

// TestPageLookup checks page numbers beyond the document and the page
// tree's inherited resources (used by TestPartialContent as well).
func TestPageLookup(t *testing.T) {
	t.Parallel()
	r := readPDF(t, handmadePDF("BT /F1 10 Tf 1 0 0 1 10 10 Tm (x) Tj ET"))
	for _, n := range []int{0, -1, 2} {
		_, err := PageSpansAt(r, n)
		var e *Error
		if !errors.As(err, &e) || e.Page != n {
			t.Errorf("page %d: error %v, want an *Error for that page", n, err)
		}
	}
	if _, err := PageSpans(r, nil, nil); err == nil {
		t.Error("PageSpans with no page: no error")
	}
}

// TestHostileContent runs content that a careless interpreter would loop
// on, overflow with, or crash on.
func TestHostileContent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, content, find string
	}{
		{"deep q", strings.Repeat("q ", 100000) + "BT /F1 10 Tf (ok) Tj ET" + strings.Repeat(" Q", 100000), "ok"},
		{"deep arrays", strings.Repeat("[", 100000) + " BT /F1 10 Tf (ok) Tj ET", "ok"},
		{"deep dicts", strings.Repeat("<<", 100000) + " BT /F1 10 Tf (ok) Tj ET", "ok"},
		{"unbalanced", "] >> ) } { Q Q ET BT /F1 10 Tf (ok) Tj ET EMC", "ok"},
		{"huge numbers", "1e308 1e308 1e308 1e308 1e308 1e308 cm 9999999999999999999999 0 0 1 0 0 Tm BT /F1 10 Tf (ok) Tj ET", "ok"},
		{"no font", "BT 12 0 0 12 10 10 Tm (ok) Tj ET", "ok"},
		{"unknown font", "BT /Nope 12 Tf (ok) Tj ET", "ok"},
		{"operands overflow", strings.Repeat("1 ", 100000) + "BT /F1 10 Tf (ok) Tj ET", "ok"},
		{"truncated string", "BT /F1 10 Tf (ok) Tj ET BT (unterminated", "ok"},
		{"truncated inline image", "BT /F1 10 Tf (ok) Tj ET BI /W 10 /H 10 /BPC 8 /CS /G ID \x01\x02", "ok"},
		{"self-drawing form", "/Fm1 Do BT /F1 10 Tf (ok) Tj ET", "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans, err := PageSpansAt(readPDF(t, handmadePDF(tc.content)), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(Find(spans, tc.find)) == 0 {
				t.Errorf("%q not found in %v", tc.find, spans)
			}
		})
	}
}

// TestFormRecursion checks that a form drawing itself stops.
func TestFormRecursion(t *testing.T) {
	t.Parallel()
	data := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources 5 0 R /Contents 4 0 R >>",
		"stream:\x00/Me Do",
		"<< /XObject << /Me 6 0 R >> /Font << /F1 7 0 R >> >>",
		"stream:/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Matrix [1 0 0 1 1 0]\x00BT /F1 10 Tf (x) Tj ET /Me Do",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
	})
	spans, err := PageSpansAt(readPDF(t, data), 1)
	if err != nil {
		t.Fatal(err)
	}
	// Drawn once: the form is not entered again while it runs.
	if got := Find(spans, "x"); len(got) != 1 || !rectsEqual(got[0], Rect{1, -1.57, 7, 6.29}) {
		t.Errorf("Find(x) = %v", got)
	}
}
