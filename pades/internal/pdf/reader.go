package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// Limits of the reader; see also the parser limits in lexer.go.
const (
	// headerScan is how far into the file the "%PDF-" header may start
	// (Acrobat accepts up to 1024 bytes of junk before it).
	headerScan = 1024
	// tailScan is how far back from the end the final "startxref" is
	// looked for, allowing garbage after %%EOF.
	tailScan = 4096
	// maxResolveDepth bounds a chain of references followed by Resolve.
	maxResolveDepth = 32
	// maxInternalDepth bounds the lookups one object read may trigger: an
	// indirect /Length, the object stream holding an object, that
	// stream's /Length, and so on. Loops among them end here.
	maxInternalDepth = 8
	// maxObjStmData bounds the decoded size of one object stream.
	maxObjStmData = 64 << 20
	// Decoded object streams kept for reuse: the last few, within a byte
	// budget (a single larger stream is still kept while it is in use).
	objStmCacheCount = 8
	objStmCacheBytes = 64 << 20
	// endstreamWindow is the read size when searching for "endstream".
	endstreamWindow = 64 << 10
)

// Reader reads the structure of a PDF file through an io.ReaderAt. It
// holds the cross-reference information and a small cache of decoded
// object streams; everything else is read on demand. A Reader is safe for
// concurrent use when its io.ReaderAt is.
type Reader struct {
	src          io.ReaderAt
	size         int64
	version      string
	headerOffset int64
	// base is added to every offset found in the file: 0 normally, or
	// headerOffset when the file's offsets turn out to count from the
	// "%PDF-" header rather than from the first byte (files with junk
	// prepended).
	base        int64
	startXref   int64
	trailer     Dict
	xrefStream  bool
	xref        map[uint32]xrefEntry
	maxSize     uint32
	endsWithEOL bool

	// windows recycles the read windows of object lookups: a walk over
	// thousands of objects would otherwise allocate one per object.
	windows sync.Pool

	mu sync.Mutex
	// stms are decoded object streams, least recently used first.
	stms     []*objStm
	stmBytes int
	// noEndstreamFrom is the lowest offset from which a search found no
	// "endstream" up to the end of the file, or -1; a later search from a
	// higher offset cannot succeed either, which keeps hostile files with
	// many unterminated streams from costing quadratic time.
	noEndstreamFrom int64
}

// NewReader reads the header, the final startxref and the whole chain of
// cross-reference sections of the size-byte file src. Only those parts are
// read; objects are read when asked for.
func NewReader(src io.ReaderAt, size int64) (*Reader, error) {
	if size <= 0 {
		return nil, errorf(0, "empty file")
	}
	r := &Reader{src: src, size: size, xref: map[uint32]xrefEntry{}, noEndstreamFrom: -1}
	if err := r.readHeader(); err != nil {
		return nil, err
	}
	if err := r.readTail(); err != nil {
		return nil, err
	}
	if err := r.readXref(); err != nil {
		return nil, err
	}
	return r, nil
}

// readAt reads len(p) bytes at off; a short read is a truncated file.
func (r *Reader) readAt(p []byte, off int64) error {
	n, err := r.src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return errorf(off+int64(n), "truncated file: the file is shorter than its stated size %d", r.size)
	}
	return fmt.Errorf("pdf: reading %d bytes at offset %d: %w", len(p), off, err)
}

func (r *Reader) readHeader() error {
	n := min(r.size, headerScan+32)
	buf := make([]byte, n)
	if err := r.readAt(buf, 0); err != nil {
		return err
	}
	i := bytes.Index(buf, []byte("%PDF-"))
	if i < 0 || i > headerScan {
		return errorf(0, "not a PDF (no %%PDF- header)")
	}
	v := buf[i+5:]
	j := 0
	for j < len(v) && j < 8 && (isDigit(v[j]) || v[j] == '.') {
		j++
	}
	ver := string(v[:j])
	if dot := bytes.IndexByte(v[:j], '.'); dot < 1 || dot == j-1 || bytes.Count(v[:j], []byte(".")) != 1 {
		return errorf(int64(i), "malformed %%PDF- header (version %q)", ver)
	}
	r.version, r.headerOffset = ver, int64(i)
	return nil
}

// readTail finds the offset named by the file's final startxref.
func (r *Reader) readTail() error {
	n := min(r.size, tailScan)
	buf := make([]byte, n)
	start := r.size - n
	if err := r.readAt(buf, start); err != nil {
		return err
	}
	last := buf[len(buf)-1]
	r.endsWithEOL = last == '\n' || last == '\r'
	i := bytes.LastIndex(buf, []byte("startxref"))
	if i < 0 {
		return errorf(r.size, "no startxref in the last %d bytes (truncated file?)", n)
	}
	l := newBytesLexer(buf, 0)
	l.pos = int64(i + len("startxref"))
	off, at, err := l.uint("offset after startxref")
	if err != nil {
		return errorf(start+at, "startxref is not followed by an offset (truncated file?)")
	}
	r.startXref = int64(off)
	return nil
}

// Version returns the version in the file header, such as "1.7" or "2.0".
// A /Version entry in the catalog may raise it; that is for the caller.
func (r *Reader) Version() string { return r.version }

// HeaderOffset returns the offset of "%PDF-" (non-zero when junk precedes
// the header).
func (r *Reader) HeaderOffset() int64 { return r.headerOffset }

// StartXref returns the offset named by the file's final startxref, as
// written: it is what the /Prev of an appended update must say.
func (r *Reader) StartXref() int64 { return r.startXref }

// XrefStream reports whether the newest cross-reference section is a
// cross-reference stream (false for a classic table, hybrid or not). An
// incremental update should use the same kind.
func (r *Reader) XrefStream() bool { return r.xrefStream }

// Size returns the number of object slots in use: the largest trailer
// /Size of any section, or the highest object number listed anywhere plus
// one when that is larger. New objects of an update are numbered from it.
func (r *Reader) Size() uint32 { return r.maxSize }

// EndsWithEOL reports whether the file's last byte is '\n' or '\r'.
func (r *Reader) EndsWithEOL() bool { return r.endsWithEOL }

// Trailer returns a copy of the newest trailer dictionary (for an xref
// stream, the stream's dictionary), including its /Prev. When the newest
// trailer lacks /Root, /Info, /ID or /Encrypt, the value from the newest
// older trailer that has it is filled in: the document still has them.
func (r *Reader) Trailer() Dict {
	d := make(Dict, len(r.trailer))
	for k, v := range r.trailer {
		d[k] = v
	}
	return d
}

// Object returns the object ref refers to. Free, missing and
// generation-mismatched entries give Null{}, as the standard says. Streams
// are returned as *Stream without their data. Objects stored in object
// streams are decoded from them.
func (r *Reader) Object(ref Ref) (Object, error) {
	return r.object(ref, 0)
}

// Resolve follows references until it reaches a direct object, which it
// returns; non-references are returned as they are.
func (r *Reader) Resolve(o Object) (Object, error) {
	ref, ok := o.(Ref)
	if !ok {
		return o, nil
	}
	seen := make([]Ref, 0, 4)
	for range maxResolveDepth {
		if slices.Contains(seen, ref) {
			return nil, errorf(-1, "reference loop at object %d %d", ref.Num, ref.Gen)
		}
		seen = append(seen, ref)
		v, err := r.Object(ref)
		if err != nil {
			return nil, err
		}
		next, ok := v.(Ref)
		if !ok {
			return v, nil
		}
		ref = next
	}
	return nil, errorf(-1, "reference chain from object %d %d is too long", seen[0].Num, seen[0].Gen)
}

func (r *Reader) object(ref Ref, depth int) (Object, error) {
	if depth > maxInternalDepth {
		return nil, errorf(-1, "object %d %d: lookups nested too deeply (reference loop?)", ref.Num, ref.Gen)
	}
	e, ok := r.xref[ref.Num]
	if !ok || ref.Num == 0 {
		return Null{}, nil
	}
	switch e.kind {
	case EntryOffset:
		if e.gen != ref.Gen {
			return Null{}, nil
		}
		abs := e.off + r.base
		if abs < 0 || abs >= r.size {
			return nil, errorf(-1, "broken cross-reference: object %d %d is at offset %d, outside the file", ref.Num, ref.Gen, abs)
		}
		_, o, err := r.parseIndirect(abs, &ref, depth)
		return o, err
	case EntryInStream:
		if ref.Gen != 0 {
			return Null{}, nil
		}
		return r.objectInStream(ref.Num, e, depth)
	}
	return Null{}, nil
}

// parseIndirect parses "n g obj … endobj" at abs. With want set, a header
// that does not match is a broken cross-reference.
func (r *Reader) parseIndirect(abs int64, want *Ref, depth int) (Ref, Object, error) {
	l := r.objectLexer(abs)
	defer r.release(l)
	hdr, err := readObjHeader(l)
	if err != nil {
		if want != nil {
			if fe := (*FormatError)(nil); errors.As(err, &fe) {
				return hdr, nil, &FormatError{Offset: abs, Reason: fmt.Sprintf("broken cross-reference: object %d %d not found at offset %d", want.Num, want.Gen, abs), Err: err}
			}
		}
		return hdr, nil, err
	}
	if want != nil && hdr != *want {
		return hdr, nil, errorf(abs, "broken cross-reference: object %d %d not found at offset %d (found object %d %d)", want.Num, want.Gen, abs, hdr.Num, hdr.Gen)
	}
	o, err := l.object(0)
	if err != nil {
		return hdr, nil, err
	}
	kw, _, err := l.keyword()
	if err != nil || kw != "stream" {
		// endobj, or a missing endobj: either way the object is complete.
		return hdr, o, nil
	}
	d, ok := o.(Dict)
	if !ok {
		return hdr, nil, l.errAt(l.pos, "stream keyword after a non-dictionary in object %d %d", hdr.Num, hdr.Gen)
	}
	s, err := r.finishStream(l, d, hdr, depth)
	if err != nil {
		return hdr, nil, err
	}
	return hdr, s, nil
}

// objectLexer returns a file lexer at abs with a recycled window.
func (r *Reader) objectLexer(abs int64) *lexer {
	l := newFileLexer(r.src, r.size, abs, objectWindow)
	if p, ok := r.windows.Get().(*[]byte); ok {
		l.buf, l.pooled = (*p)[:0], p
	}
	return l
}

// release recycles the window of a lexer made by objectLexer. Parsed
// objects never alias the window (every token is copied), so this is safe
// once parsing is done.
func (r *Reader) release(l *lexer) {
	if l.pooled == nil && cap(l.buf) != objectWindow {
		return
	}
	p := l.pooled
	if p == nil {
		p = new([]byte)
	}
	*p = l.buf[:0]
	l.buf = nil
	r.windows.Put(p)
}

// readObjHeader reads "n g obj".
func readObjHeader(l *lexer) (Ref, error) {
	num, numAt, err := l.uint("object number")
	if err != nil {
		return Ref{}, err
	}
	gen, genAt, err := l.uint("generation number")
	if err != nil {
		return Ref{}, err
	}
	kw, kwAt, err := l.keyword()
	if err != nil {
		return Ref{}, err
	}
	if kw != "obj" {
		return Ref{}, l.errAt(kwAt, "expected obj, found %q", kw)
	}
	if num >= math.MaxUint32 {
		return Ref{}, l.errAt(numAt, "object number %d out of range", num)
	}
	if gen > math.MaxUint16 {
		return Ref{}, l.errAt(genAt, "generation number %d out of range", gen)
	}
	return Ref{Num: uint32(num), Gen: uint16(gen)}, nil
}

// finishStream locates the data of a stream whose "stream" keyword l has
// just read. The declared /Length is used when "endstream" follows it;
// otherwise the data ends where "endstream" is found, since real files
// carry wrong lengths.
func (r *Reader) finishStream(l *lexer, d Dict, hdr Ref, depth int) (*Stream, error) {
	// The keyword is followed by CRLF or LF; a lone CR is tolerated.
	if c, ok := l.peek(); ok && c == '\r' {
		l.pos++
		if c, ok := l.peek(); ok && c == '\n' {
			l.pos++
		}
	} else if ok && c == '\n' {
		l.pos++
	}
	start := l.pos
	length := int64(-1)
	switch v := d["Length"].(type) {
	case Int:
		length = int64(v)
	case Ref:
		if o, err := r.object(v, depth+1); err == nil {
			if n, ok := o.(Int); ok {
				length = int64(n)
			}
		}
	}
	declaredFits := length >= 0 && length <= r.size-start
	if declaredFits {
		ok, err := r.endstreamAt(start + length)
		if err != nil {
			return nil, err
		}
		if ok {
			return &Stream{Dict: d, Offset: start, Length: length}, nil
		}
	}
	end, found, err := r.findEndstream(start)
	if err != nil {
		return nil, err
	}
	switch {
	case found:
		length = end - start
	case !declaredFits:
		return nil, errorf(start, "stream of object %d %d has no endstream (truncated file?)", hdr.Num, hdr.Gen)
	}
	return &Stream{Dict: d, Offset: start, Length: length}, nil
}

// endstreamAt reports whether "endstream" follows pos after optional white
// space.
func (r *Reader) endstreamAt(pos int64) (bool, error) {
	var buf [48]byte
	n := min(int64(len(buf)), r.size-pos)
	if n <= 0 {
		return false, nil
	}
	if err := r.readAt(buf[:n], pos); err != nil {
		return false, err
	}
	b := buf[:n]
	for len(b) > 0 && isWhite(b[0]) {
		b = b[1:]
	}
	return bytes.HasPrefix(b, []byte("endstream")), nil
}

// findEndstream searches forward from start for "endstream" and returns
// where the data before it ends (without the end-of-line that precedes
// the keyword).
func (r *Reader) findEndstream(start int64) (int64, bool, error) {
	r.mu.Lock()
	miss := r.noEndstreamFrom
	r.mu.Unlock()
	if miss >= 0 && start >= miss {
		return 0, false, nil
	}
	const kw = "endstream"
	buf := make([]byte, endstreamWindow)
	for pos := start; pos < r.size; {
		n := min(int64(len(buf)), r.size-pos)
		if err := r.readAt(buf[:n], pos); err != nil {
			return 0, false, err
		}
		if i := bytes.Index(buf[:n], []byte(kw)); i >= 0 {
			end := pos + int64(i)
			// Drop one end-of-line before the keyword.
			var eol [2]byte
			if k := min(end-start, 2); k > 0 {
				if err := r.readAt(eol[2-k:], end-k); err != nil {
					return 0, false, err
				}
				if eol[1] == '\n' {
					end--
					if k == 2 && eol[0] == '\r' {
						end--
					}
				} else if eol[1] == '\r' {
					end--
				}
			}
			return end, true, nil
		}
		if pos+n >= r.size {
			break
		}
		// Overlap windows so a keyword across the boundary is found.
		pos += n - int64(len(kw)-1)
	}
	r.mu.Lock()
	if r.noEndstreamFrom < 0 || start < r.noEndstreamFrom {
		r.noEndstreamFrom = start
	}
	r.mu.Unlock()
	return 0, false, nil
}
