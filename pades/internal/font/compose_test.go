package font

import (
	"fmt"
	"testing"
)

// The 134 precomposed Vietnamese letters (lower case, then upper case,
// each ending with đ/Đ) and their canonical decompositions. Both strings
// were produced independently of this package (by a Unicode-complete NFC
// and NFD implementation) and are written as escapes so that no editor
// can normalise them.
const (
	vietNFC = "\u00e0\u00e1\u1ea3\u00e3\u1ea1\u0103\u1eb1\u1eaf\u1eb3\u1eb5\u1eb7\u00e2\u1ea7\u1ea5\u1ea9\u1eab\u1ead" +
		"\u00e8\u00e9\u1ebb\u1ebd\u1eb9\u00ea\u1ec1\u1ebf\u1ec3\u1ec5\u1ec7\u00ec\u00ed\u1ec9\u0129\u1ecb" +
		"\u00f2\u00f3\u1ecf\u00f5\u1ecd\u00f4\u1ed3\u1ed1\u1ed5\u1ed7\u1ed9\u01a1\u1edd\u1edb\u1edf\u1ee1\u1ee3" +
		"\u00f9\u00fa\u1ee7\u0169\u1ee5\u01b0\u1eeb\u1ee9\u1eed\u1eef\u1ef1\u1ef3\u00fd\u1ef7\u1ef9\u1ef5\u0111" +
		"\u00c0\u00c1\u1ea2\u00c3\u1ea0\u0102\u1eb0\u1eae\u1eb2\u1eb4\u1eb6\u00c2\u1ea6\u1ea4\u1ea8\u1eaa\u1eac" +
		"\u00c8\u00c9\u1eba\u1ebc\u1eb8\u00ca\u1ec0\u1ebe\u1ec2\u1ec4\u1ec6\u00cc\u00cd\u1ec8\u0128\u1eca" +
		"\u00d2\u00d3\u1ece\u00d5\u1ecc\u00d4\u1ed2\u1ed0\u1ed4\u1ed6\u1ed8\u01a0\u1edc\u1eda\u1ede\u1ee0\u1ee2" +
		"\u00d9\u00da\u1ee6\u0168\u1ee4\u01af\u1eea\u1ee8\u1eec\u1eee\u1ef0\u1ef2\u00dd\u1ef6\u1ef8\u1ef4\u0110"
	vietNFD = "a\u0300a\u0301a\u0309a\u0303a\u0323a\u0306a\u0306\u0300a\u0306\u0301a\u0306\u0309a\u0306\u0303a\u0323\u0306" +
		"a\u0302a\u0302\u0300a\u0302\u0301a\u0302\u0309a\u0302\u0303a\u0323\u0302e\u0300e\u0301e\u0309e\u0303e\u0323" +
		"e\u0302e\u0302\u0300e\u0302\u0301e\u0302\u0309e\u0302\u0303e\u0323\u0302i\u0300i\u0301i\u0309i\u0303i\u0323" +
		"o\u0300o\u0301o\u0309o\u0303o\u0323o\u0302o\u0302\u0300o\u0302\u0301o\u0302\u0309o\u0302\u0303o\u0323\u0302" +
		"o\u031bo\u031b\u0300o\u031b\u0301o\u031b\u0309o\u031b\u0303o\u031b\u0323u\u0300u\u0301u\u0309u\u0303u\u0323" +
		"u\u031bu\u031b\u0300u\u031b\u0301u\u031b\u0309u\u031b\u0303u\u031b\u0323y\u0300y\u0301y\u0309y\u0303y\u0323\u0111" +
		"A\u0300A\u0301A\u0309A\u0303A\u0323A\u0306A\u0306\u0300A\u0306\u0301A\u0306\u0309A\u0306\u0303A\u0323\u0306" +
		"A\u0302A\u0302\u0300A\u0302\u0301A\u0302\u0309A\u0302\u0303A\u0323\u0302E\u0300E\u0301E\u0309E\u0303E\u0323" +
		"E\u0302E\u0302\u0300E\u0302\u0301E\u0302\u0309E\u0302\u0303E\u0323\u0302I\u0300I\u0301I\u0309I\u0303I\u0323" +
		"O\u0300O\u0301O\u0309O\u0303O\u0323O\u0302O\u0302\u0300O\u0302\u0301O\u0302\u0309O\u0302\u0303O\u0323\u0302" +
		"O\u031bO\u031b\u0300O\u031b\u0301O\u031b\u0309O\u031b\u0303O\u031b\u0323U\u0300U\u0301U\u0309U\u0303U\u0323" +
		"U\u031bU\u031b\u0300U\u031b\u0301U\u031b\u0309U\u031b\u0303U\u031b\u0323Y\u0300Y\u0301Y\u0309Y\u0303Y\u0323\u0110"
)

func TestVietnameseTable(t *testing.T) {
	letters := []rune(vietNFC)
	if len(letters) != 134 {
		t.Fatalf("reference list has %d letters, want 134", len(letters))
	}
	seen := map[rune]bool{}
	var decomposed []rune
	for _, r := range letters {
		if seen[r] {
			t.Errorf("%q listed twice", r)
		}
		seen[r] = true
		if r == 'đ' || r == 'Đ' {
			if _, ok := decomposeVietnamese(r); ok {
				t.Errorf("%q has no canonical decomposition, got one", r)
			}
			decomposed = append(decomposed, r)
			continue
		}
		parts, ok := decomposeVietnamese(r)
		if !ok {
			t.Errorf("decomposeVietnamese(%q) failed", r)
			continue
		}
		decomposed = append(decomposed, parts...)
	}
	if got := string(decomposed); got != vietNFD {
		t.Errorf("decompositions differ from the reference NFD:\n got %+q\nwant %+q", got, vietNFD)
	}
	// Every table entry that is not ASCII must be one of the 134.
	for _, table := range []string{vietLower, vietUpper} {
		for _, r := range table {
			if r >= 0x80 && !seen[r] {
				t.Errorf("table letter %q is not a Vietnamese letter", r)
			}
		}
	}
}

func TestComposeVietnamese(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"all letters NFD", vietNFD, vietNFC},
		{"all letters NFC unchanged", vietNFC, vietNFC},
		{"ascii unchanged", "Hello, World 123", "Hello, World 123"},
		{"dot below then circumflex", "e\u0323\u0302", "\u1ec7"},
		{"circumflex then dot below (reordered)", "e\u0302\u0323", "\u1ec7"},
		{"precomposed circumflex plus dot below", "\u00ea\u0323", "\u1ec7"},
		{"precomposed dot below plus circumflex", "\u1eb9\u0302", "\u1ec7"},
		{"horn then dot below", "u\u031b\u0323", "\u1ef1"},
		{"dot below then horn (reordered)", "u\u0323\u031b", "\u1ef1"},
		{"precomposed horn plus tone", "\u01a1\u0309", "\u1edf"},
		{"breve plus hook", "A\u0306\u0309", "\u1eb2"},
		{"deprecated tone marks", "a\u0341 e\u0340", "\u00e1 \u00e8"},
		{"lone deprecated mark", "\u0341", "\u0301"},
		// Two marks of class 230: the second is blocked, as in NFC.
		{"acute before circumflex stays apart", "a\u0301\u0302", "\u00e1\u0302"},
		{"two tones", "a\u0301\u0300", "\u00e1\u0300"},
		{"tone on composed letter", "\u1ec7\u0301", "\u1ec7\u0301"},
		{"consonant with tilde untouched", "n\u0303", "n\u0303"},
		{"i cannot take a circumflex", "i\u0302", "i\u0302"},
		{"foreign mark ends the run", "a\u0308\u0301", "a\u0308\u0301"},
		{"mark at start", "\u0301a", "\u0301a"},
		{"d stroke", "\u0110\u0111", "\u0110\u0111"},
		{"mixed sentence", "Ng\u01b0o\u031b\u0300i ky\u0301", "Ng\u01b0\u1eddi k\u00fd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(composeVietnamese([]rune(tt.in))); got != tt.want {
				t.Errorf("composeVietnamese(%+q) = %+q, want %+q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecomposedFallback(t *testing.T) {
	face := loadFace(t, Regular)
	// A copy of the face whose cmap lacks U+1EC7 (ệ), to exercise the
	// fallback to base letter plus marks that fonts without precomposed
	// Vietnamese need.
	crippled := *face
	crippled.cmap = cmapWithout(t, face, '\u1ec7')
	tests := []struct {
		name string
		face *Face
		want []rune
	}{
		{"precomposed glyph", face, []rune{'\u1ec7'}},
		{"base plus marks", &crippled, []rune{'e', '\u0323', '\u0302'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, in := range []string{"\u1ec7", "e\u0302\u0323"} {
				gs := tt.face.glyphs(in)
				var got []rune
				for _, g := range gs {
					if g.gid == 0 {
						t.Errorf("%+q: %q has no glyph", in, g.r)
					}
					got = append(got, g.r)
				}
				if string(got) != string(tt.want) {
					t.Errorf("glyphs(%+q) show %+q, want %+q", in, string(got), string(tt.want))
				}
			}
			if err := tt.face.HasGlyphs("\u1ec7"); err != nil {
				t.Errorf("HasGlyphs: %v", err)
			}
		})
	}
}

// cmapWithout returns a format 12 cmap with every character of face's
// cmap that the test uses except the excluded one.
func cmapWithout(t *testing.T, face *Face, exclude rune) cmapTable {
	t.Helper()
	m := map[rune]uint16{}
	for r := rune(0x20); r < 0x2000; r++ {
		if g := face.lookup(r); g != 0 && r != exclude {
			m[r] = g
		}
	}
	m[0x1F600] = 1 // force a format 12 subtable too
	data, err := buildCmap(m)
	if err != nil {
		t.Fatal(err)
	}
	var c Face
	c.numGlyphs = face.numGlyphs
	if err := c.parseCmap(data); err != nil {
		t.Fatalf("parse built cmap: %v", err)
	}
	if c.cmap.format != 12 {
		t.Fatalf("built cmap chose format %d, want 12", c.cmap.format)
	}
	for r, g := range m {
		if got := c.lookup(r); got != g {
			t.Fatalf("built cmap maps %s to %d, want %d", fmt.Sprintf("U+%04X", r), got, g)
		}
	}
	return c.cmap
}
