package pdf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Limits of the cross-reference chain.
const (
	// maxSections bounds the sections followed through /Prev.
	maxSections = 4096
	// maxXrefEntries bounds the distinct object numbers held.
	maxXrefEntries = 4 << 20
	// maxXrefWork bounds the entries read over all sections, duplicates
	// included, so a long chain of large sections cannot take forever.
	maxXrefWork = 32 << 20
)

// EntryKind says where a cross-reference entry puts its object.
type EntryKind uint8

// Kinds of cross-reference entries.
const (
	// EntryFree: the object number is not in use.
	EntryFree EntryKind = iota
	// EntryOffset: the object is "n g obj" at a file offset.
	EntryOffset
	// EntryInStream: the object is stored in an object stream.
	EntryInStream
)

// String returns "free", "offset" or "in-stream".
func (k EntryKind) String() string {
	switch k {
	case EntryFree:
		return "free"
	case EntryOffset:
		return "offset"
	case EntryInStream:
		return "in-stream"
	}
	return fmt.Sprintf("EntryKind(%d)", uint8(k))
}

// XrefEntry is the newest cross-reference entry of one object.
type XrefEntry struct {
	Ref  Ref
	Kind EntryKind
	// Offset is the absolute file offset of "n g obj" (EntryOffset).
	Offset int64
	// Stream is the number of the object stream holding the object, and
	// Index its index there (EntryInStream).
	Stream uint32
	Index  int
}

// xrefEntry is the stored form of an entry.
type xrefEntry struct {
	off  int64  // EntryOffset: offset as written; EntryInStream: stream number
	idx  uint32 // EntryInStream: index in the stream
	gen  uint16
	kind EntryKind
	sec  uint16 // section that supplied it, 0 = newest
}

// XrefEntries returns the entries of all objects in use, sorted by object
// number, newest revision only.
func (r *Reader) XrefEntries() []XrefEntry {
	out := make([]XrefEntry, 0, len(r.xref))
	for num, e := range r.xref {
		switch e.kind {
		case EntryOffset:
			out = append(out, XrefEntry{Ref: Ref{Num: num, Gen: e.gen}, Kind: EntryOffset, Offset: e.off + r.base})
		case EntryInStream:
			out = append(out, XrefEntry{Ref: Ref{Num: num}, Kind: EntryInStream, Stream: uint32(e.off), Index: int(e.idx)})
		}
	}
	slices.SortFunc(out, func(a, b XrefEntry) int {
		switch {
		case a.Ref.Num < b.Ref.Num:
			return -1
		case a.Ref.Num > b.Ref.Num:
			return 1
		}
		return 0
	})
	return out
}

// xrefBuilder merges sections, newest first.
type xrefBuilder struct {
	r    *Reader
	work int
}

// add records an entry unless a newer section already gave one. Within a
// hybrid section, an entry of its /XRefStm stream replaces a free entry of
// its own table: writers mark objects that live in object streams as free
// in the table that older readers see.
func (b *xrefBuilder) add(num uint64, e xrefEntry, fromXRefStm bool, at int64) error {
	b.work++
	if b.work > maxXrefWork {
		return &FormatError{Offset: at, Reason: "too many cross-reference entries", Err: ErrTooLarge}
	}
	if num >= math.MaxUint32 {
		return errorf(at, "object number %d out of range in cross-reference section", num)
	}
	n := uint32(num)
	if n+1 > b.r.maxSize {
		b.r.maxSize = n + 1
	}
	old, ok := b.r.xref[n]
	if ok {
		if fromXRefStm && old.sec == e.sec && old.kind == EntryFree {
			b.r.xref[n] = e
		}
		return nil
	}
	if len(b.r.xref) >= maxXrefEntries {
		return &FormatError{Offset: at, Reason: "too many objects", Err: ErrTooLarge}
	}
	b.r.xref[n] = e
	return nil
}

// readXref follows the chain of cross-reference sections from startxref.
func (r *Reader) readXref() error {
	b := &xrefBuilder{r: r}
	off := r.startXref
	if !r.isSection(off) {
		// Offsets may count from the header when junk precedes it.
		if r.headerOffset > 0 && r.isSection(off+r.headerOffset) {
			r.base = r.headerOffset
		} else if off < 0 || off >= r.size {
			return errorf(-1, "startxref offset %d is outside the file", off)
		} else {
			return errorf(off, "startxref does not point to a cross-reference section")
		}
	}
	visited := map[int64]bool{}
	for sec := 0; ; sec++ {
		if visited[off] {
			return errorf(off+r.base, "/Prev loop: the cross-reference section at offset %d is reached twice", off)
		}
		visited[off] = true
		if sec >= maxSections {
			return &FormatError{Offset: off + r.base, Reason: "too many cross-reference sections", Err: ErrTooLarge}
		}
		abs := off + r.base
		if abs < 0 || abs >= r.size {
			return errorf(-1, "/Prev offset %d is outside the file", off)
		}
		trailer, isStream, err := r.readSection(b, abs, uint16(sec))
		if err != nil {
			return err
		}
		if sz, ok := trailer["Size"].(Int); ok {
			if sz < 0 || sz > math.MaxUint32 {
				return errorf(abs, "trailer /Size %d out of range", sz)
			}
			r.maxSize = max(r.maxSize, uint32(sz))
		}
		if sec == 0 {
			r.trailer, r.xrefStream = trailer, isStream
		} else {
			for _, k := range []Name{"Root", "Info", "ID", "Encrypt"} {
				if _, has := r.trailer[k]; !has {
					if v, ok := trailer[k]; ok {
						r.trailer[k] = v
					}
				}
			}
		}
		prev, ok := trailer["Prev"]
		if !ok {
			return nil
		}
		p, ok := prev.(Int)
		if !ok {
			return errorf(abs, "/Prev is not an integer offset")
		}
		off = int64(p)
	}
}

// isSection reports whether a cross-reference section (the keyword xref,
// or an object header) starts at off, after optional white space.
func (r *Reader) isSection(off int64) bool {
	if off < 0 || off >= r.size {
		return false
	}
	l := newFileLexer(r.src, r.size, off, 64)
	kw, _, err := l.keyword()
	if err != nil {
		return false
	}
	if kw == "xref" {
		return true
	}
	l.pos = off
	_, err = readObjHeader(l)
	return err == nil
}

// readSection reads the section at abs and returns its trailer.
func (r *Reader) readSection(b *xrefBuilder, abs int64, sec uint16) (Dict, bool, error) {
	l := newFileLexer(r.src, r.size, abs, tableWindow)
	kw, _, err := l.keyword()
	if err != nil {
		return nil, false, err
	}
	if kw != "xref" {
		if !r.isSection(abs) {
			return nil, false, errorf(abs, "no cross-reference section at offset %d", abs)
		}
		d, err := r.readXrefStream(b, abs, sec, false)
		return d, true, err
	}
	trailer, err := r.readTable(b, l, sec)
	if err != nil {
		return nil, false, err
	}
	if v, ok := trailer["XRefStm"]; ok {
		// A hybrid file: the stream lists the objects of this same
		// section that live in object streams. Its own /Prev, if any,
		// is ignored; the table's /Prev continues the chain.
		p, ok := v.(Int)
		if !ok {
			return nil, false, errorf(abs, "/XRefStm is not an integer offset")
		}
		if p < 0 || int64(p)+r.base >= r.size {
			return nil, false, errorf(abs, "/XRefStm offset %d is outside the file", p)
		}
		if !r.isSection(int64(p) + r.base) {
			return nil, false, errorf(int64(p)+r.base, "no cross-reference section at the /XRefStm offset %d", p)
		}
		if _, err := r.readXrefStream(b, int64(p)+r.base, sec, true); err != nil {
			return nil, false, err
		}
	}
	return trailer, false, nil
}

// readTable reads a classic table after its "xref" keyword, and the
// trailer dictionary. Entries are read as tokens, so the 19- and 20-byte
// variants and any end-of-line style are all accepted.
func (r *Reader) readTable(b *xrefBuilder, l *lexer, sec uint16) (Dict, error) {
	first := true
	for {
		l.skipSpace()
		at := l.pos
		c, ok := l.peek()
		if !ok {
			return nil, l.eof(at, "cross-reference table")
		}
		if c == 't' {
			kw, _, err := l.keyword()
			if err != nil {
				return nil, err
			}
			if kw != "trailer" {
				return nil, l.errAt(at, "broken cross-reference table: expected trailer, found %q", kw)
			}
			break
		}
		start, _, err := l.uint("first object number of a cross-reference subsection")
		if err != nil {
			return nil, err
		}
		count, _, err := l.uint("entry count of a cross-reference subsection")
		if err != nil {
			return nil, err
		}
		if start+count > math.MaxUint32 {
			return nil, l.errAt(at, "cross-reference subsection %d %d out of range", start, count)
		}
		for i := uint64(0); i < count; i++ {
			l.skipSpace()
			if c, ok := l.peek(); ok && c == 't' {
				// Fewer entries than the subsection header says: the
				// ones present are still right.
				break
			}
			entryAt := l.pos
			off, _, err := l.uint("cross-reference entry offset")
			if err != nil {
				return nil, err
			}
			gen, _, err := l.uint("cross-reference entry generation")
			if err != nil {
				return nil, err
			}
			kw, kwAt, err := l.keyword()
			if err != nil {
				return nil, err
			}
			if kw != "n" && kw != "f" {
				return nil, l.errAt(kwAt, "broken cross-reference table: entry type %q is neither n nor f", kw)
			}
			if gen > math.MaxUint16 {
				if kw == "n" {
					return nil, l.errAt(entryAt, "generation number %d out of range in cross-reference table", gen)
				}
				// MuPDF writes 65536 for the head of the free list; the
				// generation of a free entry is never used.
				gen = math.MaxUint16
			}
			if first && i == 0 && start == 1 && kw == "f" && off == 0 && gen == math.MaxUint16 {
				// A common writer bug numbers the first subsection from
				// 1 although it starts with the entry of object 0.
				start = 0
			}
			e := xrefEntry{off: int64(off), gen: uint16(gen), kind: EntryOffset, sec: sec}
			if kw == "f" || off == 0 {
				// Offset 0 holds the header, never an object: writers
				// use "0000000000 00000 n" for objects they dropped.
				e = xrefEntry{gen: uint16(gen), kind: EntryFree, sec: sec}
			}
			if err := b.add(start+i, e, false, entryAt); err != nil {
				return nil, err
			}
		}
		first = false
	}
	o, err := l.object(0)
	if err != nil {
		return nil, err
	}
	d, ok := o.(Dict)
	if !ok {
		return nil, l.errAt(l.pos, "trailer is not a dictionary")
	}
	return d, nil
}

// readXrefStream reads the cross-reference stream object at abs, adds its
// entries and returns its dictionary.
func (r *Reader) readXrefStream(b *xrefBuilder, abs int64, sec uint16, hybrid bool) (Dict, error) {
	_, o, err := r.parseIndirect(abs, nil, 0)
	if err != nil {
		return nil, err
	}
	s, ok := o.(*Stream)
	if !ok {
		return nil, errorf(abs, "no cross-reference section at offset %d (object is not a stream)", abs)
	}
	if t, _ := s.Dict.GetName("Type"); t != "XRef" {
		return nil, errorf(abs, "no cross-reference section at offset %d (stream is not /Type /XRef)", abs)
	}
	var w [3]int
	wa, ok := s.Dict.GetArray("W")
	if !ok || len(wa) != 3 {
		return nil, errorf(abs, "cross-reference stream /W is not an array of three integers")
	}
	entrySize := 0
	for i, v := range wa {
		n, ok := v.(Int)
		if !ok || n < 0 || n > 8 {
			return nil, errorf(abs, "cross-reference stream /W has an invalid width")
		}
		w[i] = int(n)
		entrySize += int(n)
	}
	if entrySize == 0 {
		return nil, errorf(abs, "cross-reference stream /W widths are all zero")
	}
	size, ok := s.Dict.GetInt("Size")
	if !ok || size < 0 || size > math.MaxUint32 {
		return nil, errorf(abs, "cross-reference stream has no valid /Size")
	}
	index := Array{Int(0), Int(size)}
	if v, ok := s.Dict["Index"]; ok {
		if index, ok = v.(Array); !ok || len(index)%2 != 0 {
			return nil, errorf(abs, "cross-reference stream /Index is not an array of pairs")
		}
	}
	rd, err := r.streamReader(s, 0)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rd, 4096)
	buf := make([]byte, entrySize)
	for i := 0; i < len(index); i += 2 {
		start, ok1 := index[i].(Int)
		count, ok2 := index[i+1].(Int)
		if !ok1 || !ok2 || start < 0 || count < 0 || int64(start)+int64(count) > math.MaxUint32 {
			return nil, errorf(abs, "cross-reference stream /Index has an invalid subsection")
		}
		for j := int64(0); j < int64(count); j++ {
			if _, err := io.ReadFull(br, buf); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, errorf(abs, "cross-reference stream data too short for its /Index")
				}
				return nil, decodeError(err, s, "cross-reference stream")
			}
			f := buf
			typ := uint64(1) // the default when the type field is absent
			if w[0] > 0 {
				typ = beUint(f[:w[0]])
			}
			f2 := beUint(f[w[0] : w[0]+w[1]])
			f3 := beUint(f[w[0]+w[1]:])
			var e xrefEntry
			switch typ {
			case 1:
				if f2 > math.MaxInt64 || f3 > math.MaxUint16 {
					return nil, errorf(abs, "cross-reference stream entry %d out of range", int64(start)+j)
				}
				e = xrefEntry{off: int64(f2), gen: uint16(f3), kind: EntryOffset, sec: sec}
			case 2:
				if f2 >= math.MaxUint32 || f3 > math.MaxUint32 {
					return nil, errorf(abs, "cross-reference stream entry %d out of range", int64(start)+j)
				}
				e = xrefEntry{off: int64(f2), idx: uint32(f3), kind: EntryInStream, sec: sec}
			default:
				// Type 0 is free; unknown types are references to null.
				e = xrefEntry{kind: EntryFree, sec: sec}
			}
			if err := b.add(uint64(start)+uint64(j), e, hybrid, abs); err != nil {
				return nil, err
			}
		}
	}
	return s.Dict, nil
}

// beUint decodes a big-endian unsigned field of up to 8 bytes.
func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}
