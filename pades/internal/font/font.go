// Package font parses TrueType fonts and embeds subsets of them in PDF
// documents, so that visible signatures can show Vietnamese text in any
// viewer without relying on fonts installed on the reader's machine.
//
// The package ships Liberation Serif (metric-compatible with Times New
// Roman, which Vietnamese administrative documents use) in three styles;
// Parse accepts other glyf-based TrueType fonts too.
//
// Text is written with a Type0 font, Identity-H encoding and a
// CIDFontType2 descendant whose CIDs are the glyph IDs of the font, which
// is the simplest arrangement that reaches every glyph of a large font and
// keeps copy and paste working through a ToUnicode CMap.
package font

import (
	"embed"
	"fmt"
	"math"
)

//go:embed fonts/*.ttf
var fontFiles embed.FS

// Style selects one of the embedded Liberation Serif faces.
type Style int

// The embedded faces. The values match the order callers list them in
// (regular text first), so a zero Style is the regular face.
const (
	Regular Style = iota
	Italic
	Bold
)

// fileName returns the embedded file holding the face for s.
func (s Style) fileName() (string, bool) {
	switch s {
	case Regular:
		return "fonts/LiberationSerif-Regular.ttf", true
	case Italic:
		return "fonts/LiberationSerif-Italic.ttf", true
	case Bold:
		return "fonts/LiberationSerif-Bold.ttf", true
	}
	return "", false
}

// Load parses the embedded Liberation Serif face of the given style. Each
// call parses the font anew (a few hundred microseconds); callers that
// need the face repeatedly should keep the *Face, which is immutable and
// safe for concurrent use.
func Load(style Style) (*Face, error) {
	name, ok := style.fileName()
	if !ok {
		return nil, fmt.Errorf("font: unknown style %d", int(style))
	}
	data, err := fontFiles.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("font: read embedded %s: %w", name, err)
	}
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("font: embedded %s: %w", name, err)
	}
	return f, nil
}

// Parse parses a TrueType font (one with glyf outlines). It rejects
// CFF-flavoured OpenType, font collections, WOFF, and fonts that lack a
// table the subsetter needs, with an error saying which. ttf is copied, so
// the caller may reuse it.
func Parse(ttf []byte) (*Face, error) {
	f, err := parse(append([]byte(nil), ttf...))
	if err != nil {
		return nil, fmt.Errorf("font: %w", err)
	}
	return f, nil
}

// Name returns the font's PostScript name, e.g. "LiberationSerif" or
// "LiberationSerif-Italic", restricted to characters that are safe in a
// PDF name.
func (f *Face) Name() string { return f.name }

// Width returns the advance width of s set at size points, in points.
// Text is composed first (see Subset.Encode), so decomposed Vietnamese
// measures the same as precomposed. The widths are the ones written to the
// PDF /W array (rounded to 1/1000 em), because those decide where a viewer
// places the glyphs, so text laid out with Width lines up exactly. Runes
// the font lacks count with the width of the .notdef glyph; use HasGlyphs
// to reject them.
func (f *Face) Width(s string, size float64) float64 {
	total := 0
	for _, g := range f.glyphs(s) {
		total += f.pdfWidth(g.gid)
	}
	return float64(total) * size / 1000
}

// Metrics returns the font's ascent (positive, above the baseline),
// descent (negative, below the baseline) and line gap at size points.
// They come from the hhea table, which is what most renderers use for line
// spacing, unless the OS/2 table asks for its typographic metrics to be
// used instead (USE_TYPO_METRICS).
func (f *Face) Metrics(size float64) (ascent, descent, lineGap float64) {
	scale := size / float64(f.unitsPerEm)
	return float64(f.ascent) * scale, float64(f.descent) * scale, float64(f.lineGap) * scale
}

// HasGlyphs returns nil when the font can show every character of s, and
// otherwise an error naming the first character it cannot show. Control
// characters such as a newline count as missing: text is drawn one line
// at a time.
func (f *Face) HasGlyphs(s string) error {
	for _, g := range f.glyphs(s) {
		if g.gid == 0 {
			return fmt.Errorf("font: %s has no glyph for %q (U+%04X)", f.name, g.r, g.r)
		}
	}
	return nil
}

// pdfWidth returns the advance width of glyph gid in the 1000-unit glyph
// space of PDF, rounded to an integer as written to /W.
func (f *Face) pdfWidth(gid uint16) int {
	return int(math.Round(float64(f.advance(gid)) * 1000 / float64(f.unitsPerEm)))
}

// toPDF scales a value in font units to the 1000-unit glyph space.
func (f *Face) toPDF(v int) int {
	return int(math.Round(float64(v) * 1000 / float64(f.unitsPerEm)))
}

// runeGlyph is one character of composed text and the glyph showing it;
// gid 0 means the font has no glyph for r.
type runeGlyph struct {
	r   rune
	gid uint16
}

// glyphs composes s (see composeVietnamese) and maps each rune to a glyph.
// A precomposed Vietnamese letter the font lacks is shown as its base
// letter plus combining marks when the font has those, which looks worse
// than a designed precomposed glyph but far better than a missing one.
func (f *Face) glyphs(s string) []runeGlyph {
	rs := composeVietnamese([]rune(s))
	out := make([]runeGlyph, 0, len(rs))
	for _, r := range rs {
		g := f.lookup(r)
		if g == 0 {
			if parts, ok := decomposeVietnamese(r); ok {
				alt := make([]runeGlyph, 0, len(parts))
				for _, p := range parts {
					pg := f.lookup(p)
					if pg == 0 {
						break
					}
					alt = append(alt, runeGlyph{p, pg})
				}
				if len(alt) == len(parts) {
					out = append(out, alt...)
					continue
				}
			}
		}
		out = append(out, runeGlyph{r, g})
	}
	return out
}
