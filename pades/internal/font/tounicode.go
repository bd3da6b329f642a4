package font

import (
	"fmt"
	"unicode/utf16"
)

// toUnicodeCMap writes the CMap that lets viewers extract, search and copy
// the text: each CID (= glyph ID) maps to the UTF-16BE form of the
// character it shows. Runs of consecutive CIDs showing consecutive BMP
// characters become bfrange entries, everything else bfchar entries;
// both come in blocks of at most 100, the limit the CMap format sets.
func (s *Subset) toUnicodeCMap(gids []uint16) []byte {
	type rng struct {
		lo, hi uint16
		r      rune
	}
	var ranges []rng // single entries have lo == hi
	for _, g := range gids {
		r := s.toUnicode[g]
		if k := len(ranges) - 1; k >= 0 {
			p := &ranges[k]
			// A bfrange may only vary the last byte of the source code
			// and must not carry out of the last byte of the target.
			if p.hi+1 == g && g&0xFF != 0 && r < 0xFFFF && r > 0 && !isSurrogate(r) &&
				p.r+rune(p.hi-p.lo)+1 == r && r&0xFF != 0 && p.r <= 0xFFFF {
				p.hi++
				continue
			}
		}
		ranges = append(ranges, rng{g, g, r})
	}
	var chars, multi []rng
	for _, r := range ranges {
		if r.lo == r.hi {
			chars = append(chars, r)
		} else {
			multi = append(multi, r)
		}
	}

	b := []byte(`/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
`)
	for len(chars) > 0 {
		n := min(len(chars), 100)
		b = fmt.Appendf(b, "%d beginbfchar\n", n)
		for _, c := range chars[:n] {
			b = fmt.Appendf(b, "<%04X> <%s>\n", c.lo, utf16Hex(c.r))
		}
		b = append(b, "endbfchar\n"...)
		chars = chars[n:]
	}
	for len(multi) > 0 {
		n := min(len(multi), 100)
		b = fmt.Appendf(b, "%d beginbfrange\n", n)
		for _, c := range multi[:n] {
			b = fmt.Appendf(b, "<%04X> <%04X> <%s>\n", c.lo, c.hi, utf16Hex(c.r))
		}
		b = append(b, "endbfrange\n"...)
		multi = multi[n:]
	}
	return append(b, `endcmap
CMapName currentdict /CMap defineresource pop
end
end
`...)
}

func isSurrogate(r rune) bool { return r >= 0xD800 && r <= 0xDFFF }

// utf16Hex returns r in UTF-16BE as hex digits (a surrogate pair outside
// the BMP).
func utf16Hex(r rune) string {
	var s string
	for _, u := range utf16.Encode([]rune{r}) {
		s += fmt.Sprintf("%04X", u)
	}
	return s
}
