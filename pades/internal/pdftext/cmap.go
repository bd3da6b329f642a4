package pdftext

import (
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Limits of CMap parsing. The largest real CMaps (Adobe's CJK ones) have
// tens of thousands of entries.
const (
	// maxCMapEntries bounds the char and range entries of one CMap.
	maxCMapEntries = 1 << 18
	// maxCMapData bounds the decoded size of an embedded CMap stream.
	maxCMapData = 16 << 20
	// maxUnicodeUnits bounds one destination string of a ToUnicode map
	// (a ligature maps to a few characters, never more).
	maxUnicodeUnits = 64
)

// codespace is a codespace range: codes of n bytes whose every byte lies
// between the matching bytes of lo and hi.
type codespace struct {
	n      int
	lo, hi [4]byte
}

// cidRange maps the codes lo…hi (of one length) to consecutive CIDs from
// cid on.
type cidRange struct {
	lo, hi, cid uint32
}

// uniRange maps the codes lo…hi to Unicode: either each code to an entry
// of list, or code lo to base and later codes to base with its last
// UTF-16 unit incremented, as a ToUnicode bfrange says.
type uniRange struct {
	lo, hi uint32
	base   []uint16
	list   []string
}

// cmap is a parsed CMap: an encoding CMap (codespace and CID mappings) of
// a composite font, or a ToUnicode CMap (codespace and Unicode mappings).
// One type serves both because the syntax is the same and a few writers
// put both kinds of mapping in one stream.
type cmap struct {
	spaces    []codespace
	cidChars  map[uint32]uint32
	cidRanges []cidRange
	uniChars  map[uint32]string
	uniRanges []uniRange
	// identity: codes are two bytes and the CID is the code (Identity-H,
	// Identity-V, or a usecmap of one of them).
	identity bool
	// ucs2: codes are UTF-16BE and their own Unicode text (the predefined
	// Uni…-UCS2 and Uni…-UTF16 CMaps); CIDs are unknown.
	ucs2     bool
	vertical bool
}

// identityCMap returns the CMap of the predefined Identity-H (or, when
// vertical, Identity-V) encoding.
func identityCMap(vertical bool) *cmap {
	return &cmap{
		spaces:   []codespace{{n: 2, lo: [4]byte{0, 0}, hi: [4]byte{0xff, 0xff}}},
		identity: true,
		vertical: vertical,
	}
}

// predefinedCMap returns the CMap a composite font's /Encoding name
// selects. Only the Identity CMaps and the Unicode-based ones are known
// exactly; other predefined CMaps (Shift-JIS, GBK, …) would need Adobe's
// CMap files, and are approximated as two-byte codes whose CIDs are
// unknown, which keeps the text from /ToUnicode and the widths at /DW.
func predefinedCMap(name pdf.Name) *cmap {
	s := string(name)
	vertical := strings.HasSuffix(s, "-V")
	switch {
	case s == "Identity-H" || s == "Identity-V":
		return identityCMap(vertical)
	case strings.HasPrefix(s, "Uni") && (strings.Contains(s, "-UCS2-") || strings.Contains(s, "-UTF16-")):
		c := identityCMap(vertical)
		c.identity, c.ucs2 = false, true
		if strings.Contains(s, "-UTF16-") {
			// High surrogates start four-byte codes.
			c.spaces = []codespace{
				{n: 2, lo: [4]byte{0x00, 0x00}, hi: [4]byte{0xd7, 0xff}},
				{n: 4, lo: [4]byte{0xd8, 0x00, 0xdc, 0x00}, hi: [4]byte{0xdb, 0xff, 0xdf, 0xff}},
				{n: 2, lo: [4]byte{0xe0, 0x00}, hi: [4]byte{0xff, 0xff}},
			}
		}
		return c
	}
	c := identityCMap(vertical)
	c.identity = false
	return c
}

// next splits the first code off s: the shortest codespace range that
// matches decides its length. Bytes that match no range are consumed as
// the shortest code length whose first byte fits, or one byte, so that
// text after a stray byte is still read.
func (c *cmap) next(s []byte) (code uint32, n int) {
	if c == nil || len(c.spaces) == 0 {
		return uint32(s[0]), 1
	}
	for size := 1; size <= 4; size++ {
		if size > len(s) {
			break
		}
		for _, sp := range c.spaces {
			if sp.n != size {
				continue
			}
			ok := true
			for i := range size {
				if s[i] < sp.lo[i] || s[i] > sp.hi[i] {
					ok = false
					break
				}
			}
			if ok {
				return beCode(s[:size]), size
			}
		}
	}
	n = 0
	for _, sp := range c.spaces {
		if s[0] >= sp.lo[0] && s[0] <= sp.hi[0] && (n == 0 || sp.n < n) {
			n = sp.n
		}
	}
	if n == 0 || n > len(s) {
		n = 1
	}
	return beCode(s[:n]), n
}

// beCode reads up to four bytes as a big-endian number.
func beCode(b []byte) uint32 {
	var v uint32
	for _, x := range b {
		v = v<<8 | uint32(x)
	}
	return v
}

// cid returns the CID of a code (0, the .notdef CID, when unmapped).
func (c *cmap) cid(code uint32) uint32 {
	if c.identity {
		return code
	}
	if v, ok := c.cidChars[code]; ok {
		return v
	}
	for i := len(c.cidRanges) - 1; i >= 0; i-- {
		r := c.cidRanges[i]
		if code >= r.lo && code <= r.hi {
			return r.cid + (code - r.lo)
		}
	}
	return 0
}

// unicode returns the text a ToUnicode CMap gives a code.
func (c *cmap) unicode(code uint32) (string, bool) {
	if c == nil {
		return "", false
	}
	if s, ok := c.uniChars[code]; ok {
		return s, true
	}
	// Ranges are sorted by their first code; a binary search finds the
	// last range starting at or before code, and overlapping ranges
	// (which the specification forbids but writers produce) are looked
	// through backwards from there.
	i, _ := slices.BinarySearchFunc(c.uniRanges, code, func(r uniRange, code uint32) int {
		if r.lo <= code {
			return -1
		}
		return 1
	})
	for j := i - 1; j >= 0 && j >= i-8; j-- {
		r := c.uniRanges[j]
		if code < r.lo || code > r.hi {
			continue
		}
		off := code - r.lo
		if r.list != nil {
			if int(off) < len(r.list) {
				return r.list[off], true
			}
			return "", false
		}
		u := slices.Clone(r.base)
		u[len(u)-1] += uint16(off)
		return string(utf16.Decode(u)), true
	}
	return "", false
}

// parseCMap reads a CMap stream's data. It is lenient in the way of
// viewers: unknown operators are ignored, malformed entries skipped.
func parseCMap(data []byte) *cmap {
	c := &cmap{}
	p := parser{lex: lexer{data: data}}
	var ops []pdf.Object
	entries := 0
	for {
		it := p.next()
		if it.op == nil && it.obj == nil {
			break
		}
		if it.obj != nil {
			if len(ops) < 4*maxCMapEntries {
				ops = append(ops, it.obj)
			}
			continue
		}
		switch string(it.op) {
		case "endcodespacerange":
			for i := 0; i+1 < len(ops); i += 2 {
				lo, ok1 := ops[i].(pdf.String)
				hi, ok2 := ops[i+1].(pdf.String)
				n := len(lo.Bytes)
				if !ok1 || !ok2 || n == 0 || n > 4 || len(hi.Bytes) != n || len(c.spaces) >= 256 {
					continue
				}
				sp := codespace{n: n}
				copy(sp.lo[:], lo.Bytes)
				copy(sp.hi[:], hi.Bytes)
				c.spaces = append(c.spaces, sp)
			}
		case "endcidchar":
			for i := 0; i+1 < len(ops) && entries < maxCMapEntries; i += 2 {
				src, ok1 := ops[i].(pdf.String)
				cid, ok2 := pdf.Number(ops[i+1])
				if !ok1 || !ok2 || len(src.Bytes) == 0 || len(src.Bytes) > 4 || cid < 0 {
					continue
				}
				if c.cidChars == nil {
					c.cidChars = map[uint32]uint32{}
				}
				c.cidChars[beCode(src.Bytes)] = uint32(cid)
				entries++
			}
		case "endcidrange":
			for i := 0; i+2 < len(ops) && entries < maxCMapEntries; i += 3 {
				lo, ok1 := ops[i].(pdf.String)
				hi, ok2 := ops[i+1].(pdf.String)
				cid, ok3 := pdf.Number(ops[i+2])
				if !ok1 || !ok2 || !ok3 || len(lo.Bytes) == 0 || len(lo.Bytes) > 4 || len(hi.Bytes) > 4 || cid < 0 {
					continue
				}
				c.cidRanges = append(c.cidRanges, cidRange{beCode(lo.Bytes), beCode(hi.Bytes), uint32(cid)})
				entries++
			}
		case "endbfchar":
			for i := 0; i+1 < len(ops) && entries < maxCMapEntries; i += 2 {
				src, ok := ops[i].(pdf.String)
				if !ok || len(src.Bytes) == 0 || len(src.Bytes) > 4 {
					continue
				}
				var text string
				switch d := ops[i+1].(type) {
				case pdf.String:
					text = utf16Text(d.Bytes)
				case pdf.Name:
					// A glyph name, which older writers put here.
					text = glyphText(string(d))
				default:
					continue
				}
				if c.uniChars == nil {
					c.uniChars = map[uint32]string{}
				}
				c.uniChars[beCode(src.Bytes)] = text
				entries++
			}
		case "endbfrange":
			for i := 0; i+2 < len(ops) && entries < maxCMapEntries; i += 3 {
				lo, ok1 := ops[i].(pdf.String)
				hi, ok2 := ops[i+1].(pdf.String)
				if !ok1 || !ok2 || len(lo.Bytes) == 0 || len(lo.Bytes) > 4 || len(hi.Bytes) > 4 {
					continue
				}
				r := uniRange{lo: beCode(lo.Bytes), hi: beCode(hi.Bytes)}
				if r.hi < r.lo {
					continue
				}
				switch d := ops[i+2].(type) {
				case pdf.String:
					u := utf16Units(d.Bytes)
					if len(u) == 0 {
						continue
					}
					r.base = u
				case pdf.Array:
					if len(d) > maxCMapEntries {
						d = d[:maxCMapEntries]
					}
					r.list = make([]string, len(d))
					for k, e := range d {
						if s, ok := e.(pdf.String); ok {
							r.list[k] = utf16Text(s.Bytes)
						}
					}
				default:
					continue
				}
				c.uniRanges = append(c.uniRanges, r)
				entries++
			}
		case "usecmap":
			if len(ops) > 0 {
				if n, ok := ops[len(ops)-1].(pdf.Name); ok {
					base := predefinedCMap(n)
					c.identity = c.identity || base.identity
					c.ucs2 = c.ucs2 || base.ucs2
					if len(c.spaces) == 0 {
						c.spaces = base.spaces
					}
				}
			}
		case "def":
			if len(ops) >= 2 {
				if k, ok := ops[len(ops)-2].(pdf.Name); ok && k == "WMode" {
					if v, ok := pdf.Number(ops[len(ops)-1]); ok {
						c.vertical = v == 1
					}
				}
			}
		}
		ops = ops[:0]
	}
	slices.SortStableFunc(c.uniRanges, func(a, b uniRange) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	return c
}

// utf16Units reads big-endian UTF-16 code units (a trailing odd byte is
// dropped), at most maxUnicodeUnits of them.
func utf16Units(b []byte) []uint16 {
	n := min(len(b)/2, maxUnicodeUnits)
	u := make([]uint16, n)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	if len(b) == 1 {
		// A one-byte destination: writers mean the character itself.
		return []uint16{uint16(b[0])}
	}
	return u
}

// utf16Text decodes a ToUnicode destination string.
func utf16Text(b []byte) string {
	return string(utf16.Decode(utf16Units(b)))
}
