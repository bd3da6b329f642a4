package font

import (
	"errors"
	"fmt"
	"sort"
)

// cmapTable is the Unicode subtable chosen from the font's cmap. Lookups
// read the subtable directly (binary search) instead of expanding it into
// a map, so a hostile font claiming a million mapped characters costs no
// memory.
type cmapTable struct {
	format int
	data   []byte // the subtable, from its format field to the cmap's end
	n      int    // segCount (format 4) or numGroups (format 12)
}

// parseCmap picks the best Unicode subtable: full-repertoire (format 12)
// before BMP-only (format 4), Windows before Unicode platform since
// Windows subtables are the ones font tools test most.
func (f *Face) parseCmap(t []byte) error {
	if len(t) < 4 {
		return errTruncated
	}
	n := int(u16(t, 2))
	if len(t) < 4+8*n {
		return fmt.Errorf("%d encoding records: %w", n, errTruncated)
	}
	bestRank := 0
	var best cmapTable
	var lastErr error
	for i := range n {
		platform, encoding, off := u16(t, 4+8*i), u16(t, 6+8*i), int64(u32(t, 8+8*i))
		if off+2 > int64(len(t)) {
			continue
		}
		sub := t[off:]
		format := int(u16(sub, 0))
		rank := 0
		switch {
		case format == 12 && platform == 3 && encoding == 10:
			rank = 6
		case format == 12 && platform == 0:
			rank = 5
		case format == 4 && platform == 3 && encoding == 1:
			rank = 4
		case format == 4 && platform == 0:
			rank = 3
		}
		if rank <= bestRank {
			continue
		}
		c, err := newCmapTable(format, sub)
		if err != nil {
			lastErr = fmt.Errorf("subtable (%d,%d) format %d: %w", platform, encoding, format, err)
			continue
		}
		best, bestRank = c, rank
	}
	if bestRank == 0 {
		if lastErr != nil {
			return lastErr
		}
		return errors.New("no Unicode subtable in format 4 or 12 (symbol fonts are not supported)")
	}
	f.cmap = best
	return nil
}

// newCmapTable checks the structure of a format 4 or 12 subtable: its
// arrays fit, and its ranges ascend without overlap, which the binary
// search relies on.
func newCmapTable(format int, sub []byte) (cmapTable, error) {
	c := cmapTable{format: format, data: sub}
	switch format {
	case 4:
		if len(sub) < 14 {
			return c, errTruncated
		}
		c.n = int(u16(sub, 6)) / 2
		if c.n == 0 || len(sub) < 16+8*c.n {
			return c, fmt.Errorf("%d segments: %w", c.n, errTruncated)
		}
		prevEnd := -1
		for i := range c.n {
			start, end := int(u16(sub, 16+2*c.n+2*i)), int(u16(sub, 14+2*i))
			if start > end || start <= prevEnd {
				return c, fmt.Errorf("segment %d (U+%04X..U+%04X) is out of order", i, start, end)
			}
			prevEnd = end
		}
	case 12:
		if len(sub) < 16 {
			return c, errTruncated
		}
		n := u32(sub, 12)
		if n > maxCmapRanges || int64(len(sub)) < 16+12*int64(n) {
			return c, fmt.Errorf("%d groups: %w", n, errTruncated)
		}
		c.n = int(n)
		prevEnd := int64(-1)
		for i := range c.n {
			start, end := int64(u32(sub, 16+12*i)), int64(u32(sub, 20+12*i))
			if start > end || start <= prevEnd || end > 0x10FFFF {
				return c, fmt.Errorf("group %d (U+%04X..U+%04X) is out of order", i, start, end)
			}
			prevEnd = end
		}
	default:
		return c, fmt.Errorf("unsupported format %d", format)
	}
	return c, nil
}

// lookup returns the glyph for r, or 0 (.notdef) when the font has none.
func (f *Face) lookup(r rune) uint16 {
	g := f.cmap.lookup(r)
	if int(g) >= f.numGlyphs {
		return 0
	}
	return g
}

func (c *cmapTable) lookup(r rune) uint16 {
	switch c.format {
	case 4:
		if r < 0 || r > 0xFFFF {
			return 0
		}
		d, n := c.data, c.n
		// The first segment whose end is >= r is the only candidate.
		i := sort.Search(n, func(i int) bool { return rune(u16(d, 14+2*i)) >= r })
		if i == n {
			return 0
		}
		start := rune(u16(d, 16+2*n+2*i))
		if r < start {
			return 0
		}
		delta := u16(d, 16+4*n+2*i)
		rangeOffPos := 16 + 6*n + 2*i
		rangeOff := int(u16(d, rangeOffPos))
		if rangeOff == 0 {
			return uint16(r) + delta
		}
		// idRangeOffset is relative to its own position in the array.
		p := rangeOffPos + rangeOff + 2*int(r-start)
		if p+2 > len(d) {
			return 0
		}
		g := u16(d, p)
		if g == 0 {
			return 0
		}
		return g + delta
	case 12:
		d, n := c.data, c.n
		i := sort.Search(n, func(i int) bool { return rune(u32(d, 20+12*i)) >= r })
		if i == n {
			return 0
		}
		start := rune(u32(d, 16+12*i))
		if r < start {
			return 0
		}
		g := int64(u32(d, 24+12*i)) + int64(r-start)
		if g > 0xFFFF {
			return 0
		}
		return uint16(g)
	}
	return 0
}

// buildCmap writes a cmap for the characters a subset shows: a Windows
// Unicode BMP subtable in format 4, plus a format 12 one when a character
// lies outside the BMP. PDF viewers do not need it (the CIDToGIDMap
// reaches the glyphs directly), but a TrueType program without a cmap is
// invalid, and some consumers (font sanitisers in browsers, preflight
// tools, printers that rasterise the program as a standalone font) reject
// it. Listing only the used characters keeps it a few hundred bytes.
func buildCmap(m map[rune]uint16) ([]byte, error) {
	runes := make([]rune, 0, len(m))
	for r := range m {
		runes = append(runes, r)
	}
	sort.Slice(runes, func(i, j int) bool { return runes[i] < runes[j] })

	// Format 4: segments of consecutive characters with consecutive
	// glyphs use idDelta alone, which keeps the subtable simple.
	type seg struct{ start, end, delta uint16 }
	var segs []seg
	wide := false
	for _, r := range runes {
		if r > 0xFFFF {
			wide = true
			continue
		}
		if r == 0xFFFF {
			continue // reserved for the final segment
		}
		g := m[r]
		delta := g - uint16(r)
		if k := len(segs) - 1; k >= 0 && segs[k].end+1 == uint16(r) && segs[k].delta == delta {
			segs[k].end++
			continue
		}
		segs = append(segs, seg{uint16(r), uint16(r), delta})
	}
	segs = append(segs, seg{0xFFFF, 0xFFFF, 1})
	segCount := len(segs)
	length := 16 + 8*segCount
	if length > 0xFFFF {
		return nil, fmt.Errorf("cmap: %d segments do not fit a format 4 subtable", segCount)
	}
	searchRange, entrySelector := 1, 0
	for searchRange*2 <= segCount {
		searchRange *= 2
		entrySelector++
	}
	searchRange *= 2
	f4 := make([]byte, 0, length)
	f4 = be16(f4, 4, uint16(length), 0, uint16(2*segCount), uint16(searchRange), uint16(entrySelector), uint16(2*segCount-searchRange))
	for _, s := range segs {
		f4 = be16(f4, s.end)
	}
	f4 = be16(f4, 0)
	for _, s := range segs {
		f4 = be16(f4, s.start)
	}
	for _, s := range segs {
		f4 = be16(f4, s.delta)
	}
	for range segs {
		f4 = be16(f4, 0) // idRangeOffset
	}

	var f12 []byte
	if wide {
		type group struct{ start, end, gid uint32 }
		var groups []group
		for _, r := range runes {
			g := uint32(m[r])
			if k := len(groups) - 1; k >= 0 && groups[k].end+1 == uint32(r) && groups[k].gid+(uint32(r)-groups[k].start) == g {
				groups[k].end++
				continue
			}
			groups = append(groups, group{uint32(r), uint32(r), g})
		}
		f12 = be16(f12, 12, 0)
		f12 = be32(f12, uint32(16+12*len(groups)), 0, uint32(len(groups)))
		for _, g := range groups {
			f12 = be32(f12, g.start, g.end, g.gid)
		}
	}

	numTables := 1
	if wide {
		numTables = 2
	}
	out := be16(nil, 0, uint16(numTables))
	headerLen := uint32(4 + 8*numTables)
	out = be16(out, 3, 1)
	out = be32(out, headerLen)
	if wide {
		out = be16(out, 3, 10)
		out = be32(out, headerLen+uint32(len(f4)))
	}
	out = append(out, f4...)
	return append(out, f12...), nil
}

func be16(b []byte, vs ...uint16) []byte {
	for _, v := range vs {
		b = append(b, byte(v>>8), byte(v))
	}
	return b
}

func be32(b []byte, vs ...uint32) []byte {
	for _, v := range vs {
		b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return b
}
