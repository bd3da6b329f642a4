package pdftext

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// glyphName is one entry of the glyph list.
type glyphName struct {
	name string
	r    rune
}

// runeWidth is the advance width of a character in a standard font, in
// thousandths of the font size.
type runeWidth struct {
	r rune
	w uint16
}

// decomposition is a canonical decomposition: cp decomposes into a (and b
// when b is not 0); comp tells whether NFC composes a and b back into cp.
type decomposition struct {
	cp, a, b rune
	comp     bool
}

// composition is a primary composite: second following first composes
// into cp.
type composition struct {
	second, first, cp rune
}

// combiningClass is a canonical combining class other than 0.
type combiningClass struct {
	cp    rune
	class uint8
}

// glyphRune maps a glyph name to text the way the Adobe Glyph List
// specification describes: a suffix after the first period is dropped,
// ligature components joined by underscores are mapped one by one, and
// "uniXXXX…" (one or more UTF-16 units) and "uXXXX[XX]" names carry their
// code points. Names it cannot map give "".
func glyphText(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	if strings.Contains(name, "_") {
		var b strings.Builder
		for _, part := range strings.Split(name, "_") {
			b.WriteString(glyphText(part))
		}
		return b.String()
	}
	if name == "" {
		return ""
	}
	if i, ok := slices.BinarySearchFunc(glyphList[:], name, func(g glyphName, n string) int {
		return strings.Compare(g.name, n)
	}); ok {
		return string(glyphList[i].r)
	}
	if hex, ok := strings.CutPrefix(name, "uni"); ok && len(hex) >= 4 && len(hex)%4 == 0 {
		var b strings.Builder
		for i := 0; i < len(hex); i += 4 {
			v, err := strconv.ParseUint(hex[i:i+4], 16, 16)
			// Upper-case hexadecimal only, and no surrogates, per the
			// specification.
			if err != nil || strings.ToUpper(hex[i:i+4]) != hex[i:i+4] || (v >= 0xd800 && v <= 0xdfff) {
				return ""
			}
			b.WriteRune(rune(v))
		}
		return b.String()
	}
	if hex, ok := strings.CutPrefix(name, "u"); ok && len(hex) >= 4 && len(hex) <= 6 && strings.ToUpper(hex) == hex {
		v, err := strconv.ParseUint(hex, 16, 32)
		if err == nil && utf8.ValidRune(rune(v)) {
			return string(rune(v))
		}
	}
	return ""
}

// lookupDecomposition returns the canonical decomposition of r.
func lookupDecomposition(r rune) (decomposition, bool) {
	if r < 0xc0 || r >= 0x3000 {
		return decomposition{}, false
	}
	i, ok := slices.BinarySearchFunc(decompositions[:], r, func(d decomposition, r rune) int { return int(d.cp - r) })
	if !ok {
		return decomposition{}, false
	}
	return decompositions[i], true
}

// combining returns the canonical combining class of r (0 for starters
// and for everything outside the table's range).
func combining(r rune) uint8 {
	if r < 0x300 || r >= 0x3000 {
		return 0
	}
	i, ok := slices.BinarySearchFunc(combiningClasses[:], r, func(c combiningClass, r rune) int { return int(c.cp - r) })
	if !ok {
		return 0
	}
	return combiningClasses[i].class
}

// compose returns the primary composite of a and b, if any.
func compose(a, b rune) (rune, bool) {
	i, ok := slices.BinarySearchFunc(compositions[:], [2]rune{b, a}, func(c composition, k [2]rune) int {
		if c.second != k[0] {
			return int(c.second - k[0])
		}
		return int(c.first - k[1])
	})
	if !ok {
		return 0, false
	}
	return compositions[i].cp, true
}

// composesWithPrevious reports whether r is the second part of some
// primary composite.
func composesWithPrevious(r rune) bool {
	_, ok := slices.BinarySearchFunc(compositions[:], r, func(c composition, r rune) int { return int(c.second - r) })
	return ok
}

// isNFC is the quick check of Unicode Annex #15 for the characters the
// tables cover: no combining mark, nothing that composes with what
// precedes it, nothing that NFC replaces. Most extracted text passes, and
// then needs no work.
func isNFC(cs []char) bool {
	for _, c := range cs {
		if c.r < 0x300 {
			continue
		}
		if combining(c.r) != 0 || composesWithPrevious(c.r) {
			return false
		}
		if d, ok := lookupDecomposition(c.r); ok && !d.comp {
			return false
		}
	}
	return true
}

// char is one character of extracted text with the box of the glyph (or
// the part of a glyph) that drew it. Virtual characters (spaces inserted
// for gaps between spans) have no box.
type char struct {
	r       rune
	box     Rect
	virtual bool
}

// normalize puts cs into Unicode Normalization Form C, for the scripts the
// decomposition table covers (Latin with Vietnamese, Greek, Cyrillic and
// the symbols below U+3000; Hangul and CJK compatibility characters are
// left as they are). A character composed from several keeps the union of
// their boxes, so a tone mark drawn as its own glyph still counts towards
// the box of its letter.
func normalize(cs []char) []char {
	if isNFC(cs) {
		return cs
	}
	return composeNFC(cs)
}

// composeNFC normalizes cs the long way: full canonical decomposition,
// canonical ordering, canonical composition.
func composeNFC(cs []char) []char {
	// Full canonical decomposition.
	out := make([]char, 0, len(cs)+len(cs)/4)
	var decompose func(c char, depth int)
	decompose = func(c char, depth int) {
		d, ok := lookupDecomposition(c.r)
		if !ok || depth > 8 {
			out = append(out, c)
			return
		}
		decompose(char{r: d.a, box: c.box, virtual: c.virtual}, depth+1)
		if d.b != 0 {
			decompose(char{r: d.b, box: c.box, virtual: c.virtual}, depth+1)
		}
	}
	for _, c := range cs {
		decompose(c, 0)
	}
	// Canonical ordering: a stable sort of each run of marks by class.
	for i := 0; i < len(out); {
		if combining(out[i].r) == 0 {
			i++
			continue
		}
		j := i
		for j < len(out) && combining(out[j].r) != 0 {
			j++
		}
		slices.SortStableFunc(out[i:j], func(x, y char) int { return int(combining(x.r)) - int(combining(y.r)) })
		i = j
	}
	// Canonical composition.
	res := out[:0]
	starter := -1 // index in res of the last starter
	var lastClass uint8
	for _, c := range out {
		cc := combining(c.r)
		if starter >= 0 {
			blocked := len(res)-1 != starter && (lastClass == 0 || lastClass >= cc)
			if !blocked {
				if p, ok := compose(res[starter].r, c.r); ok {
					res[starter].r = p
					res[starter].box = unionBox(res[starter].box, c.box)
					res[starter].virtual = res[starter].virtual && c.virtual
					continue
				}
			}
		}
		if cc == 0 {
			starter = len(res)
			lastClass = 0
		} else {
			lastClass = cc
		}
		res = append(res, c)
	}
	return res
}

// isSpace reports whether r separates words.
func isSpace(r rune) bool { return unicode.IsSpace(r) }

// NormalizeString returns s in Normalization Form C as normalize computes
// it.
func normalizeString(s string) string {
	cs := make([]char, 0, len(s))
	for _, r := range s {
		cs = append(cs, char{r: r})
	}
	cs = normalize(cs)
	var b strings.Builder
	for _, c := range cs {
		b.WriteRune(c.r)
	}
	return b.String()
}
