package font

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Face is a parsed TrueType font. It is immutable once parsed and safe for
// concurrent use; every Subset made from it shares it read-only.
type Face struct {
	data   []byte
	tables map[string][]byte // table tag -> table bytes (sub-slices of data)

	name       string
	unitsPerEm int
	numGlyphs  int
	numHMetric int
	hmtx       []byte
	glyf       []byte
	loca       []uint32 // numGlyphs+1 offsets into glyf, validated monotonic
	cmap       cmapTable

	ascent, descent, lineGap int // font units, descent negative
	bbox                     [4]int
	italicAngle              float64
	capHeight                int
	weightClass              int
	fixedPitch               bool
	serif                    bool
	italic                   bool
	fsType                   uint16
}

// Limits that keep hostile input from making the parser do unbounded work.
const (
	maxTables = 256
	// maxCmapRanges bounds the segments/groups of a cmap subtable; real
	// fonts have a few hundred.
	maxCmapRanges = 1 << 16
)

// errTruncated reports a table too short for the fields it must hold.
var errTruncated = errors.New("truncated")

func u16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }
func u32(b []byte, off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }
func i16(b []byte, off int) int    { return int(int16(binary.BigEndian.Uint16(b[off:]))) }

// parse reads the table directory and the tables Face needs. data must not
// be modified afterwards: the Face keeps sub-slices of it.
func parse(data []byte) (*Face, error) {
	if len(data) < 12 {
		return nil, errors.New("not a TrueType font: shorter than the 12-byte header")
	}
	switch v := u32(data, 0); v {
	case 0x00010000, 0x74727565: // 1.0 and Apple's 'true'
	case 0x4F54544F: // 'OTTO'
		return nil, errors.New("OpenType font with CFF outlines (OTTO) is not supported: a TrueType font with glyf outlines is needed")
	case 0x74746366: // 'ttcf'
		return nil, errors.New("TrueType collection (ttcf) is not supported: extract a single font first")
	case 0x774F4646, 0x774F4632: // 'wOFF', 'wOF2'
		return nil, errors.New("WOFF font is not supported: decompress it to TrueType first")
	default:
		return nil, fmt.Errorf("not a TrueType font: unknown sfnt version 0x%08X", v)
	}
	n := int(u16(data, 4))
	if n == 0 || n > maxTables {
		return nil, fmt.Errorf("implausible table count %d", n)
	}
	if len(data) < 12+16*n {
		return nil, fmt.Errorf("table directory of %d entries is truncated", n)
	}
	f := &Face{data: data, tables: make(map[string][]byte, n)}
	for i := range n {
		e := data[12+16*i:]
		tag := string(e[:4])
		off, length := uint64(u32(e, 8)), uint64(u32(e, 12))
		if off+length > uint64(len(data)) {
			return nil, fmt.Errorf("table %q (offset %d, length %d) extends past the end of the %d-byte file", tag, off, length, len(data))
		}
		if _, dup := f.tables[tag]; dup {
			return nil, fmt.Errorf("table %q appears twice", tag)
		}
		f.tables[tag] = data[off : off+length : off+length]
	}
	if _, ok := f.tables["glyf"]; !ok {
		if _, cff := f.tables["CFF "]; cff {
			return nil, errors.New("font has CFF outlines, not TrueType glyf outlines")
		}
	}
	for _, tag := range []string{"head", "hhea", "hmtx", "maxp", "loca", "glyf", "cmap"} {
		if _, ok := f.tables[tag]; !ok {
			return nil, fmt.Errorf("required table %q is missing", tag)
		}
	}
	steps := []struct {
		tag   string
		parse func([]byte) error
	}{
		{"head", f.parseHead}, // before loca: it holds the loca format
		{"maxp", f.parseMaxp}, // before hmtx, loca: it holds the glyph count
		{"hhea", f.parseHhea},
		{"hmtx", f.parseHmtx},
		{"loca", f.parseLoca},
		{"cmap", f.parseCmap},
		{"post", f.parsePost},
		{"OS/2", f.parseOS2},
		{"name", f.parseName},
	}
	for _, s := range steps {
		t, ok := f.tables[s.tag]
		if !ok {
			continue // only optional tables can be absent here
		}
		if err := s.parse(t); err != nil {
			return nil, fmt.Errorf("table %q: %w", s.tag, err)
		}
	}
	if f.name == "" {
		return nil, errors.New(`table "name" has no usable PostScript name (name ID 6)`)
	}
	return f, nil
}

func (f *Face) parseHead(t []byte) error {
	if len(t) < 54 {
		return errTruncated
	}
	if m := u32(t, 12); m != 0x5F0F3CF5 {
		return fmt.Errorf("bad magic number 0x%08X", m)
	}
	f.unitsPerEm = int(u16(t, 18))
	if f.unitsPerEm < 16 || f.unitsPerEm > 16384 {
		return fmt.Errorf("unitsPerEm %d outside 16..16384", f.unitsPerEm)
	}
	f.bbox = [4]int{i16(t, 36), i16(t, 38), i16(t, 40), i16(t, 42)}
	if u16(t, 44)&2 != 0 { // macStyle italic
		f.italic = true
	}
	if format := i16(t, 50); format != 0 && format != 1 {
		return fmt.Errorf("unknown indexToLocFormat %d", format)
	}
	return nil
}

func (f *Face) parseMaxp(t []byte) error {
	if len(t) < 6 {
		return errTruncated
	}
	f.numGlyphs = int(u16(t, 4))
	if f.numGlyphs == 0 {
		return errors.New("font has no glyphs")
	}
	return nil
}

func (f *Face) parseHhea(t []byte) error {
	if len(t) < 36 {
		return errTruncated
	}
	f.ascent, f.descent, f.lineGap = i16(t, 4), i16(t, 6), i16(t, 8)
	f.numHMetric = int(u16(t, 34))
	if f.numHMetric == 0 || f.numHMetric > f.numGlyphs {
		return fmt.Errorf("numberOfHMetrics %d outside 1..%d", f.numHMetric, f.numGlyphs)
	}
	return nil
}

func (f *Face) parseHmtx(t []byte) error {
	if need := 4*f.numHMetric + 2*(f.numGlyphs-f.numHMetric); len(t) < need {
		return fmt.Errorf("%d bytes, need %d for %d glyphs: %w", len(t), need, f.numGlyphs, errTruncated)
	}
	f.hmtx = t
	return nil
}

func (f *Face) parseLoca(t []byte) error {
	long := i16(f.tables["head"], 50) == 1
	glyf := f.tables["glyf"]
	f.loca = make([]uint32, f.numGlyphs+1)
	if long {
		if len(t) < 4*(f.numGlyphs+1) {
			return errTruncated
		}
		for i := range f.loca {
			f.loca[i] = u32(t, 4*i)
		}
	} else {
		if len(t) < 2*(f.numGlyphs+1) {
			return errTruncated
		}
		for i := range f.loca {
			f.loca[i] = 2 * uint32(u16(t, 2*i))
		}
	}
	for i := 1; i < len(f.loca); i++ {
		if f.loca[i] < f.loca[i-1] {
			return fmt.Errorf("offsets decrease at glyph %d", i-1)
		}
	}
	if last := f.loca[f.numGlyphs]; uint64(last) > uint64(len(glyf)) {
		return fmt.Errorf("glyph data ends at %d, past the %d-byte glyf table", last, len(glyf))
	}
	f.glyf = glyf
	return nil
}

func (f *Face) parsePost(t []byte) error {
	if len(t) < 16 {
		return errTruncated
	}
	f.italicAngle = float64(int32(u32(t, 4))) / 65536
	f.fixedPitch = u32(t, 12) != 0
	if f.italicAngle != 0 {
		f.italic = true
	}
	return nil
}

func (f *Face) parseOS2(t []byte) error {
	if len(t) < 78 {
		return errTruncated
	}
	version := u16(t, 0)
	f.weightClass = int(u16(t, 4))
	f.fsType = u16(t, 8)
	familyClass := u16(t, 30) >> 8
	panoseFamily, panoseSerif := t[32], t[33]
	if panoseFamily == 2 { // Latin text: the serif style digit is meaningful
		f.serif = panoseSerif >= 2 && panoseSerif <= 10
	} else {
		switch familyClass {
		case 1, 2, 3, 4, 5, 7: // the IBM serif classes
			f.serif = true
		}
	}
	fsSelection := u16(t, 62)
	if fsSelection&1 != 0 {
		f.italic = true
	}
	if fsSelection&(1<<7) != 0 { // USE_TYPO_METRICS
		f.ascent, f.descent, f.lineGap = i16(t, 68), i16(t, 70), i16(t, 72)
	}
	if version >= 2 && len(t) >= 90 {
		f.capHeight = i16(t, 88)
	}
	return nil
}

// parseName finds the PostScript name (ID 6), falling back to the full
// name (ID 4) without spaces, which is what PDF producers conventionally
// use when a font lacks one.
func (f *Face) parseName(t []byte) error {
	if len(t) < 6 {
		return errTruncated
	}
	count, storage := int(u16(t, 2)), int(u16(t, 4))
	if len(t) < 6+12*count {
		return fmt.Errorf("%d records: %w", count, errTruncated)
	}
	best := map[int]int{} // name ID -> rank of the record found so far
	names := map[int]string{}
	for i := range count {
		r := t[6+12*i:]
		platform, encoding, lang, id := u16(r, 0), u16(r, 2), u16(r, 4), int(u16(r, 6))
		length, off := int(u16(r, 8)), int(u16(r, 10))
		if id != 6 && id != 4 {
			continue
		}
		start := storage + off
		if start+length > len(t) {
			continue // skip a bad record rather than reject the font
		}
		raw := t[start : start+length]
		var s string
		rank := 0
		switch {
		case platform == 3 && (encoding == 1 || encoding == 10) || platform == 0:
			s = decodeUTF16BE(raw)
			rank = 2
			if platform == 3 && lang == 0x409 {
				rank = 3
			}
		case platform == 1 && encoding == 0:
			s = string(raw) // Mac Roman; only its ASCII part survives sanitising
			rank = 1
		default:
			continue
		}
		s = sanitizePostScriptName(s)
		if s != "" && rank > best[id] {
			best[id], names[id] = rank, s
		}
	}
	f.name = names[6]
	if f.name == "" {
		f.name = names[4]
	}
	return nil
}

func decodeUTF16BE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = u16(b, 2*i)
	}
	return string(utf16.Decode(u))
}

// sanitizePostScriptName keeps the characters a PostScript name may hold
// (printable ASCII other than the PDF and PostScript delimiters), so the
// name can go into /BaseFont and /FontName unescaped and unchanged, and
// caps it at the 63 characters PostScript allows.
func sanitizePostScriptName(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r <= ' ' || r > '~' {
			continue
		}
		switch r {
		case '[', ']', '(', ')', '{', '}', '<', '>', '/', '%', '#':
			continue
		}
		b = append(b, byte(r))
		if len(b) == 63 {
			break
		}
	}
	return string(b)
}

// advance returns the advance width of glyph gid in font units.
func (f *Face) advance(gid uint16) int {
	g := int(gid)
	if g >= f.numHMetric {
		g = f.numHMetric - 1
	}
	return int(u16(f.hmtx, 4*g))
}

// glyphData returns the outline bytes of glyph gid (empty for a glyph with
// no outline, such as the space).
func (f *Face) glyphData(gid uint16) []byte {
	if int(gid) >= f.numGlyphs {
		return nil
	}
	return f.glyf[f.loca[gid]:f.loca[gid+1]]
}

// components returns the glyphs a composite glyph is built from, or nil
// for a simple glyph. Vietnamese precomposed letters are usually
// composites (a base letter plus one or two marks), so a subset must carry
// their components too.
func (f *Face) components(gid uint16) ([]uint16, error) {
	d := f.glyphData(gid)
	if len(d) == 0 {
		return nil, nil
	}
	if len(d) < 10 {
		return nil, fmt.Errorf("glyph %d: header %w", gid, errTruncated)
	}
	if i16(d, 0) >= 0 {
		return nil, nil
	}
	const (
		argsAreWords   = 0x0001
		haveScale      = 0x0008
		moreComponents = 0x0020
		haveXYScale    = 0x0040
		haveTwoByTwo   = 0x0080
	)
	var out []uint16
	for p := 10; ; {
		if p+4 > len(d) {
			return nil, fmt.Errorf("glyph %d: composite record %w", gid, errTruncated)
		}
		flags, comp := u16(d, p), u16(d, p+2)
		p += 4
		if flags&argsAreWords != 0 {
			p += 4
		} else {
			p += 2
		}
		switch {
		case flags&haveScale != 0:
			p += 2
		case flags&haveXYScale != 0:
			p += 4
		case flags&haveTwoByTwo != 0:
			p += 8
		}
		if p > len(d) {
			return nil, fmt.Errorf("glyph %d: composite record %w", gid, errTruncated)
		}
		if int(comp) >= f.numGlyphs {
			return nil, fmt.Errorf("glyph %d: component glyph %d does not exist", gid, comp)
		}
		out = append(out, comp)
		if flags&moreComponents == 0 {
			return out, nil
		}
	}
}
