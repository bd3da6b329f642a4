package font

import "slices"

// Vietnamese text reaches kyso both precomposed (NFC, one code point per
// letter: "ệ" U+1EC7) and decomposed (a base letter followed by combining
// marks: "e" U+0323 U+0302, or "ê" U+0323), since TCVN 6909 allows both
// and Windows keyboards and legacy converters produce either. A font
// without GPOS positioning (we drop GPOS, and PDF shows glyphs one after
// another anyway) renders a base plus marks poorly, so text is composed to
// the precomposed letters first. Go's standard library has no Unicode
// normalisation, so this file implements canonical composition (NFC) for
// exactly the part of Unicode Vietnamese uses: the 134 letters below and
// the combining marks that build them.

// vietLower and vietUpper list the Vietnamese vowels, one row of six per
// base: the bare letter, then with grave, acute, hook above, tilde and dot
// below. Rows follow vietBases. Together with đ/Đ (which has no
// decomposition) these are the 134 precomposed Vietnamese letters plus the
// 12 ASCII vowels they are built on.
const (
	vietLower = "aàáảãạ" + "ăằắẳẵặ" + "âầấẩẫậ" + "eèéẻẽẹ" + "êềếểễệ" + "iìíỉĩị" +
		"oòóỏõọ" + "ôồốổỗộ" + "ơờớởỡợ" + "uùúủũụ" + "ưừứửữự" + "yỳýỷỹỵ"
	vietUpper = "AÀÁẢÃẠ" + "ĂẰẮẲẴẶ" + "ÂẦẤẨẪẬ" + "EÈÉẺẼẸ" + "ÊỀẾỂỄỆ" + "IÌÍỈĨỊ" +
		"OÒÓỎÕỌ" + "ÔỒỐỔỖỘ" + "ƠỜỚỞỠỢ" + "UÙÚỦŨỤ" + "ƯỪỨỬỮỰ" + "YỲÝỶỸỴ"
	// vietBases is the ASCII base of each row.
	vietBases = "aaaeeiooouuy"
)

// The combining marks of Vietnamese.
const (
	markGrave      = 0x0300
	markAcute      = 0x0301
	markCircumflex = 0x0302
	markTilde      = 0x0303
	markBreve      = 0x0306
	markHook       = 0x0309
	markHorn       = 0x031B
	markDotBelow   = 0x0323
	// U+0340 and U+0341 are deprecated tone marks that canonically
	// decompose to U+0300 and U+0301; NFC never keeps them.
	markGraveTone = 0x0340
	markAcuteTone = 0x0341
)

// rowModifier returns the mark that turns the row's ASCII base into its
// letter (ă, â, ê, ô, ơ, ư), or 0 for the rows of bare vowels.
func rowModifier(row int) rune {
	switch row {
	case 1:
		return markBreve
	case 2, 4, 7:
		return markCircumflex
	case 8, 10:
		return markHorn
	}
	return 0
}

// toneMark returns the mark of tone column t (1..5).
func toneMark(t int) rune {
	return [...]rune{0, markGrave, markAcute, markHook, markTilde, markDotBelow}[t]
}

// toneOf returns the tone column for mark m, or 0 if m is not a tone.
func toneOf(m rune) int {
	switch m {
	case markGrave:
		return 1
	case markAcute:
		return 2
	case markHook:
		return 3
	case markTilde:
		return 4
	case markDotBelow:
		return 5
	}
	return 0
}

// ccc returns the Unicode canonical combining class of a Vietnamese mark,
// which decides the canonical order of marks and which compositions
// happen: the horn (216) sits before the dot below (220), which sits
// before every mark above (230).
func ccc(m rune) int {
	switch m {
	case markHorn:
		return 216
	case markDotBelow:
		return 220
	}
	return 230
}

// isVietMark reports whether r is a combining mark this file composes.
func isVietMark(r rune) bool {
	switch r {
	case markGrave, markAcute, markCircumflex, markTilde, markBreve, markHook,
		markHorn, markDotBelow, markGraveTone, markAcuteTone:
		return true
	}
	return false
}

// vietLetter is a Vietnamese vowel as row (base and modifier), tone column
// and case.
type vietLetter struct {
	row, tone int
	upper     bool
}

// letterOf finds r in the vowel tables.
func letterOf(r rune) (vietLetter, bool) {
	if r < 'A' || r > 0x1EF9 { // fast path: outside every table entry
		return vietLetter{}, false
	}
	for _, tc := range []struct {
		table string
		upper bool
	}{{vietLower, false}, {vietUpper, true}} {
		i := 0
		for _, c := range tc.table {
			if c == r {
				return vietLetter{row: i / 6, tone: i % 6, upper: tc.upper}, true
			}
			i++
		}
	}
	return vietLetter{}, false
}

// rune returns the precomposed code point of l.
func (l vietLetter) rune() rune {
	table := vietLower
	if l.upper {
		table = vietUpper
	}
	want, i := l.row*6+l.tone, 0
	for _, c := range table {
		if i == want {
			return c
		}
		i++
	}
	panic("font: vietnamese letter out of range") // rows and tones are bounded by construction
}

// baseRow returns the row of the bare ASCII vowel the row is built on.
func baseRow(row int) int {
	return [...]int{0, 0, 0, 3, 3, 5, 6, 6, 6, 9, 9, 11}[row]
}

// nfd returns the marks of l's canonical decomposition, in canonical
// order.
func (l vietLetter) nfd() []rune {
	var marks []rune
	if m := rowModifier(l.row); m != 0 {
		marks = append(marks, m)
	}
	if l.tone != 0 {
		marks = append(marks, toneMark(l.tone))
	}
	// A stable sort by class puts a dot below before a circumflex or
	// breve (ậ = a U+0323 U+0302) while a horn stays first (ợ = o U+031B
	// U+0323), and keeps the modifier first among equal classes.
	slices.SortStableFunc(marks, func(a, b rune) int { return ccc(a) - ccc(b) })
	return marks
}

// with returns l combined with mark m if Unicode defines that pair as a
// primary composite. The pairs follow the canonical decompositions: a
// letter with both a modifier and a tone decomposes into the letter
// carrying whichever of the two comes first in canonical order, plus the
// other one.
func (l vietLetter) with(m rune) (vietLetter, bool) {
	mod := rowModifier(l.row)
	if t := toneOf(m); t != 0 {
		if l.tone != 0 {
			return l, false
		}
		// With a modifier present the tone must come after it in
		// canonical order: â + U+0323 is not a composite (ậ is ạ + U+0302).
		if mod != 0 && ccc(mod) > ccc(m) {
			return l, false
		}
		l.tone = t
		return l, true
	}
	if mod != 0 {
		return l, false
	}
	row := -1
	switch {
	case l.row == 0 && m == markBreve:
		row = 1
	case l.row == 0 && m == markCircumflex:
		row = 2
	case l.row == 3 && m == markCircumflex:
		row = 4
	case l.row == 6 && m == markCircumflex:
		row = 7
	case l.row == 6 && m == markHorn:
		row = 8
	case l.row == 9 && m == markHorn:
		row = 10
	}
	if row < 0 {
		return l, false
	}
	// A tone already present must precede the modifier in canonical
	// order, which only a dot below before a circumflex or breve does.
	if l.tone != 0 && ccc(toneMark(l.tone)) >= ccc(m) {
		return l, false
	}
	l.row = row
	return l, true
}

// composeVietnamese returns rs with every Vietnamese vowel and the
// Vietnamese combining marks after it composed as NFC would, and U+0340
// and U+0341 replaced by U+0300 and U+0301. Other characters pass
// unchanged: a mark outside the Vietnamese set ends the run of marks
// considered, as an unknown combining class would have to be respected.
func composeVietnamese(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); {
		r := rs[i]
		l, ok := letterOf(r)
		j := i + 1
		for j < len(rs) && isVietMark(rs[j]) {
			j++
		}
		if !ok || j == i+1 {
			out = append(out, canonicalMark(r))
			i++
			continue
		}
		// Decompose fully, append the following marks, order them
		// canonically, then compose from the bare vowel.
		marks := l.nfd()
		for _, m := range rs[i+1 : j] {
			marks = append(marks, canonicalMark(m))
		}
		slices.SortStableFunc(marks, func(a, b rune) int { return ccc(a) - ccc(b) })
		cur := vietLetter{row: baseRow(l.row), upper: l.upper}
		var rest []rune
		for _, m := range marks {
			// A mark is blocked from the base by an uncomposed mark of
			// the same or higher class before it.
			if k := len(rest); k > 0 && ccc(rest[k-1]) >= ccc(m) {
				rest = append(rest, m)
				continue
			}
			if next, ok := cur.with(m); ok {
				cur = next
				continue
			}
			rest = append(rest, m)
		}
		out = append(out, cur.rune())
		out = append(out, rest...)
		i = j
	}
	return out
}

func canonicalMark(r rune) rune {
	switch r {
	case markGraveTone:
		return markGrave
	case markAcuteTone:
		return markAcute
	}
	return r
}

// decomposeVietnamese returns the canonical decomposition of a
// precomposed Vietnamese vowel (base letter then marks), for fonts that
// lack the precomposed glyph.
func decomposeVietnamese(r rune) ([]rune, bool) {
	l, ok := letterOf(r)
	if !ok || (l.tone == 0 && rowModifier(l.row) == 0) {
		return nil, false
	}
	base := rune(vietBases[l.row])
	if l.upper {
		base -= 'a' - 'A'
	}
	return append([]rune{base}, l.nfd()...), true
}
