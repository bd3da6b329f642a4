package font

import (
	"errors"
	"sort"
)

// keptTables returns the tables copied into a subset unchanged. Everything
// else is dropped: kern, GPOS, GSUB and GDEF serve layout engines, which a
// PDF viewer is not (positions are fixed by the content stream and /W);
// DSIG would no longer match; FFTM, hdmx, LTSH, VDMX, vhea/vmtx and the
// like are optional caches or metadata a viewer does not need.
//
//   - hhea, maxp: required; their maxima stay valid upper bounds for a
//     subset.
//   - OS/2: required on Windows and holds the embedding permissions and
//     metrics some rasterisers read.
//   - name: required by the TrueType format, and it carries the copyright
//     and licence notices, which the SIL Open Font License asks to keep
//     with the font.
//   - cvt, fpgm, prep, gasp: the hinting programs and their data. The
//     instructions of the kept glyphs call functions in fpgm and read cvt
//     entries, so these must stay consistent; keeping them whole is the
//     only safe choice and costs about 3 KB before compression.
func keptTables() []string {
	return []string{"OS/2", "cvt ", "fpgm", "gasp", "hhea", "maxp", "name", "prep"}
}

// program builds the subset TrueType font. Glyph IDs stay unchanged, so
// the PDF can use /CIDToGIDMap /Identity; the glyphs not used (and not
// needed as components of used composites) get empty outlines and zero
// metrics, which compress to almost nothing. Tables are rebuilt:
//
//   - glyf, loca: the kept outlines; loca in the short format when it
//     fits, with head.indexToLocFormat set to match.
//   - hmtx: same layout, unused entries zeroed.
//   - cmap: only the characters shown (see buildCmap).
//   - post: version 3 (no glyph names), which keeps the italic angle and
//     underline metrics but drops 26 KB of names.
//   - head: checkSumAdjustment recomputed over the new font.
func (s *Subset) program() ([]byte, error) {
	f := s.face
	if err := f.embeddable(); err != nil {
		return nil, err
	}
	keep, err := s.closure()
	if err != nil {
		return nil, err
	}

	// glyf with 4-byte aligned glyphs, which rasterisers prefer and the
	// short loca format (offsets/2) needs at least 2 of.
	var glyf []byte
	offsets := make([]uint32, f.numGlyphs+1)
	for g := range f.numGlyphs {
		offsets[g] = uint32(len(glyf))
		if keep[g] {
			glyf = append(glyf, f.glyphData(uint16(g))...)
			for len(glyf)%4 != 0 {
				glyf = append(glyf, 0)
			}
		}
	}
	offsets[f.numGlyphs] = uint32(len(glyf))
	short := len(glyf)/2 <= 0xFFFF
	var loca []byte
	for _, o := range offsets {
		if short {
			loca = be16(loca, uint16(o/2))
		} else {
			loca = be32(loca, o)
		}
	}

	hmtx := append([]byte(nil), f.hmtx...)
	for g := range f.numGlyphs {
		if keep[g] {
			continue
		}
		if g < f.numHMetric {
			copy(hmtx[4*g:4*g+4], []byte{0, 0, 0, 0})
		} else {
			p := 4*f.numHMetric + 2*(g-f.numHMetric)
			copy(hmtx[p:p+2], []byte{0, 0})
		}
	}

	cmap, err := buildCmap(s.chars)
	if err != nil {
		return nil, err
	}

	post := make([]byte, 32)
	if p, ok := f.tables["post"]; ok && len(p) >= 16 {
		copy(post[4:16], p[4:16]) // italicAngle, underline position/thickness, isFixedPitch
	}
	post[1] = 3 // version 3.0

	head := append([]byte(nil), f.tables["head"][:54]...)
	copy(head[8:12], []byte{0, 0, 0, 0}) // checkSumAdjustment, computed last
	head[50], head[51] = 0, 1
	if short {
		head[51] = 0
	}

	tables := map[string][]byte{
		"cmap": cmap,
		"glyf": glyf,
		"head": head,
		"hmtx": hmtx,
		"loca": loca,
		"post": post,
	}
	for _, tag := range keptTables() {
		if t, ok := f.tables[tag]; ok {
			tables[tag] = t
		}
	}
	out, headOff := assemble(tables)
	adj := 0xB1B0AFBA - checksum(out)
	copy(out[headOff+8:], be32(nil, adj))
	return out, nil
}

// embeddable checks the OS/2 embedding permissions: a font whose licence
// forbids embedding or subsetting must not end up in a document.
func (f *Face) embeddable() error {
	const (
		restricted   = 0x0002
		lessRestrict = 0x000C // preview & print, editable
		noSubsetting = 0x0100
		bitmapOnly   = 0x0200
	)
	switch {
	case f.fsType&restricted != 0 && f.fsType&lessRestrict == 0:
		return errors.New("the font's licence forbids embedding (OS/2 fsType restricted)")
	case f.fsType&noSubsetting != 0:
		return errors.New("the font's licence forbids subsetting (OS/2 fsType)")
	case f.fsType&bitmapOnly != 0:
		return errors.New("the font's licence allows only bitmap embedding (OS/2 fsType)")
	}
	return nil
}

// closure returns which glyphs the subset keeps: .notdef (required as
// glyph 0), the used glyphs and, transitively, the components of
// composite glyphs among them.
func (s *Subset) closure() ([]bool, error) {
	f := s.face
	keep := make([]bool, f.numGlyphs)
	keep[0] = true
	stack := []uint16{0}
	for g := range s.toUnicode {
		if !keep[g] {
			keep[g] = true
			stack = append(stack, g)
		}
	}
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		comps, err := f.components(g)
		if err != nil {
			return nil, err
		}
		for _, c := range comps {
			if !keep[c] { // the keep check also stops cyclic composites
				keep[c] = true
				stack = append(stack, c)
			}
		}
	}
	return keep, nil
}

// assemble writes the table directory and the tables (sorted by tag, as
// the directory must be; each padded to 4 bytes) and returns the font and
// the offset of the head table.
func assemble(tables map[string][]byte) ([]byte, int) {
	tags := make([]string, 0, len(tables))
	for t := range tables {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	n := len(tags)
	searchRange, entrySelector := 1, 0
	for searchRange*2 <= n {
		searchRange *= 2
		entrySelector++
	}
	searchRange *= 16
	out := be32(nil, 0x00010000)
	out = be16(out, uint16(n), uint16(searchRange), uint16(entrySelector), uint16(16*n-searchRange))
	off := 12 + 16*n
	headOff := 0
	for _, tag := range tags {
		t := tables[tag]
		if tag == "head" {
			headOff = off
		}
		out = append(out, tag...)
		out = be32(out, checksum(t), uint32(off), uint32(len(t)))
		off += (len(t) + 3) &^ 3
	}
	for _, tag := range tags {
		out = append(out, tables[tag]...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out, headOff
}

// checksum is the TrueType table checksum: the sum of the data as
// big-endian uint32s, the last one zero-padded.
func checksum(b []byte) uint32 {
	var sum uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		sum += uint32(w[0])<<24 | uint32(w[1])<<16 | uint32(w[2])<<8 | uint32(w[3])
	}
	return sum
}
