package font

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"fmt"
	"math"
	"sort"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Subset collects the text a document shows with one Face and then writes
// the PDF objects of a font holding just the glyphs that text needs. Call
// Encode (or ShowText) for every piece of text first and Objects once at
// the end: glyphs encoded after Objects would be missing from the written
// font. A Subset is not safe for concurrent use.
type Subset struct {
	face *Face
	// toUnicode maps each used glyph to the character it was first used
	// for; a glyph shared by several characters (a font may draw U+00D0
	// and U+0110 alike) can carry only one in a ToUnicode CMap.
	toUnicode map[uint16]rune
	// chars maps every character shown to its glyph, for the subset's
	// own cmap.
	chars map[rune]uint16
}

// Object is one indirect PDF object to write: a dictionary, or a stream
// (Stream set) whose Data is already encoded as its Dict says (/Filter
// and /Length filled in).
type Object struct {
	Ref    pdf.Ref
	Dict   pdf.Dict
	Stream bool
	Data   []byte
}

// NewSubset starts an empty subset of f.
func (f *Face) NewSubset() *Subset {
	return &Subset{face: f, toUnicode: map[uint16]rune{}, chars: map[rune]uint16{}}
}

// Encode returns text as the 2-byte big-endian glyph IDs that a Type0
// font with Identity-H encoding shows, ready to go into a hex string for
// the Tj operator, and records the glyphs for the subset. Vietnamese
// written with combining marks is composed first, so it encodes exactly
// like precomposed text. Characters the font lacks become glyph 0
// (.notdef, drawn as an empty box or nothing); check text with
// Face.HasGlyphs beforehand.
func (s *Subset) Encode(text string) []byte {
	gs := s.face.glyphs(text)
	out := make([]byte, 0, 2*len(gs))
	for _, g := range gs {
		out = append(out, byte(g.gid>>8), byte(g.gid))
		if g.gid == 0 {
			continue
		}
		if _, ok := s.toUnicode[g.gid]; !ok {
			s.toUnicode[g.gid] = g.r
		}
		s.chars[g.r] = g.gid
	}
	return out
}

// ShowText appends "<glyph IDs in hex> Tj" and a newline for text to the
// content stream dst, recording the glyphs like Encode.
func (s *Subset) ShowText(dst []byte, text string) []byte {
	const hex = "0123456789ABCDEF"
	dst = append(dst, '<')
	for _, c := range s.Encode(text) {
		dst = append(dst, hex[c>>4], hex[c&15])
	}
	return append(dst, "> Tj\n"...)
}

// Objects writes the font: a Type0 font (the object to name in a
// resource dictionary, whose reference is returned as fontRef), its
// CIDFontType2 descendant, the font descriptor, the subset TrueType
// program (FontFile2) and the ToUnicode CMap. alloc is called once per
// object, in that order. The output depends only on the font and the set
// of glyphs used, so the same text yields the same bytes.
func (s *Subset) Objects(alloc func() pdf.Ref) (fontRef pdf.Ref, objects []Object, err error) {
	program, err := s.program()
	if err != nil {
		return pdf.Ref{}, nil, fmt.Errorf("font: subset %s: %w", s.face.name, err)
	}
	return s.objects(alloc, program)
}

// objects builds the PDF objects around a TrueType program; tests pass
// the complete font here to compare its rendering with the subset's.
func (s *Subset) objects(alloc func() pdf.Ref, program []byte) (pdf.Ref, []Object, error) {
	f := s.face
	gids := s.glyphIDs()
	baseFont := pdf.Name(s.tag(gids) + "+" + f.name)

	type0Ref, cidRef, fdRef, fileRef, cmapRef := alloc(), alloc(), alloc(), alloc(), alloc()

	fileData, err := deflate(program)
	if err != nil {
		return pdf.Ref{}, nil, fmt.Errorf("font: compress %s program: %w", f.name, err)
	}
	cmapData, err := deflate(s.toUnicodeCMap(gids))
	if err != nil {
		return pdf.Ref{}, nil, fmt.Errorf("font: compress %s ToUnicode: %w", f.name, err)
	}

	type0 := pdf.Dict{
		"Type":            pdf.Name("Font"),
		"Subtype":         pdf.Name("Type0"),
		"BaseFont":        baseFont,
		"Encoding":        pdf.Name("Identity-H"),
		"DescendantFonts": pdf.Array{cidRef},
		"ToUnicode":       cmapRef,
	}
	cid := pdf.Dict{
		"Type":     pdf.Name("Font"),
		"Subtype":  pdf.Name("CIDFontType2"),
		"BaseFont": baseFont,
		"CIDSystemInfo": pdf.Dict{
			"Registry":   pdf.String{Bytes: []byte("Adobe")},
			"Ordering":   pdf.String{Bytes: []byte("Identity")},
			"Supplement": pdf.Int(0),
		},
		"FontDescriptor": fdRef,
		"CIDToGIDMap":    pdf.Name("Identity"),
		"DW":             pdf.Int(1000),
		"W":              s.widths(gids),
	}
	fd := pdf.Dict{
		"Type":     pdf.Name("FontDescriptor"),
		"FontName": baseFont,
		"Flags":    pdf.Int(f.flags()),
		"FontBBox": pdf.Array{
			pdf.Int(f.toPDF(f.bbox[0])), pdf.Int(f.toPDF(f.bbox[1])),
			pdf.Int(f.toPDF(f.bbox[2])), pdf.Int(f.toPDF(f.bbox[3])),
		},
		"ItalicAngle": pdf.Real(math.Round(f.italicAngle*100) / 100),
		"Ascent":      pdf.Int(f.toPDF(f.ascent)),
		"Descent":     pdf.Int(f.toPDF(f.descent)),
		"CapHeight":   pdf.Int(f.toPDF(f.capHeightUnits())),
		"StemV":       pdf.Int(f.stemV()),
		"FontFile2":   fileRef,
	}
	file := pdf.Dict{
		"Length":  pdf.Int(len(fileData)),
		"Length1": pdf.Int(len(program)),
		"Filter":  pdf.Name("FlateDecode"),
	}
	cmap := pdf.Dict{
		"Length": pdf.Int(len(cmapData)),
		"Filter": pdf.Name("FlateDecode"),
	}
	return type0Ref, []Object{
		{Ref: type0Ref, Dict: type0},
		{Ref: cidRef, Dict: cid},
		{Ref: fdRef, Dict: fd},
		{Ref: fileRef, Dict: file, Stream: true, Data: fileData},
		{Ref: cmapRef, Dict: cmap, Stream: true, Data: cmapData},
	}, nil
}

// glyphIDs returns the used glyphs in ascending order.
func (s *Subset) glyphIDs() []uint16 {
	gids := make([]uint16, 0, len(s.toUnicode))
	for g := range s.toUnicode {
		gids = append(gids, g)
	}
	sort.Slice(gids, func(i, j int) bool { return gids[i] < gids[j] })
	return gids
}

// tag derives the six-letter subset prefix from the font and its glyph
// set, so equal subsets get equal names (and equal bytes) while different
// subsets of one font in a document get different names, as PDF requires.
func (s *Subset) tag(gids []uint16) string {
	h := sha256.New()
	h.Write([]byte(s.face.name))
	h.Write([]byte{0})
	for _, g := range gids {
		h.Write([]byte{byte(g >> 8), byte(g)})
	}
	sum := h.Sum(nil)
	tag := make([]byte, 6)
	for i := range tag {
		tag[i] = 'A' + sum[i]%26
	}
	return string(tag)
}

// widths builds the /W array: runs of consecutive glyph IDs share one
// "first [w1 w2 …]" entry, which is the compact form for scattered IDs.
func (s *Subset) widths(gids []uint16) pdf.Array {
	w := pdf.Array{}
	for i := 0; i < len(gids); {
		j := i + 1
		for j < len(gids) && gids[j] == gids[j-1]+1 {
			j++
		}
		run := make(pdf.Array, 0, j-i)
		for _, g := range gids[i:j] {
			run = append(run, pdf.Int(s.face.pdfWidth(g)))
		}
		w = append(w, pdf.Int(gids[i]), run)
		i = j
	}
	return w
}

// flags returns the font descriptor flags: FixedPitch, Serif, Nonsymbolic
// and Italic as the font says. Nonsymbolic is right for text fonts even
// with Vietnamese letters outside the standard Latin set, because with a
// CIDFont the flag only informs font substitution, which an embedded font
// never needs.
func (f *Face) flags() int {
	const (
		fixedPitch  = 1 << 0
		serif       = 1 << 1
		nonsymbolic = 1 << 5
		italic      = 1 << 6
	)
	fl := nonsymbolic
	if f.fixedPitch {
		fl |= fixedPitch
	}
	if f.serif {
		fl |= serif
	}
	if f.italic {
		fl |= italic
	}
	return fl
}

// capHeightUnits returns the cap height from OS/2, or the top of "H" for
// fonts whose OS/2 table predates the field.
func (f *Face) capHeightUnits() int {
	if f.capHeight > 0 {
		return f.capHeight
	}
	if d := f.glyphData(f.lookup('H')); len(d) >= 10 {
		return i16(d, 8)
	}
	return f.ascent
}

// stemV estimates the vertical stem width, which TrueType fonts do not
// record; the estimate from the weight class is the usual one and only
// matters to viewers that substitute the font, which an embedded font
// avoids.
func (f *Face) stemV() int {
	w := f.weightClass
	if w == 0 {
		w = 400
	}
	return int(math.Round(10 + 220*float64(w-50)/900))
}

// deflate compresses data for /FlateDecode. compress/zlib produces the
// same bytes for the same input, which keeps the output deterministic.
func deflate(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
