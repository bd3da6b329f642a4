package pdf

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Limits that keep hostile input from exhausting memory or the stack. They
// are far above what real documents need.
const (
	// maxDepth bounds the nesting of arrays and dictionaries.
	maxDepth = 256
	// maxStringLen bounds one decoded string (signature /Contents are
	// tens of kilobytes).
	maxStringLen = 16 << 20
	// maxNameLen bounds one decoded name (the standard's own limit is 127).
	maxNameLen = 64 << 10
	// maxTokenLen bounds a number or keyword; long enough for every
	// float64 that AppendObject writes (up to 326 characters).
	maxTokenLen = 512
	// maxContainerLen bounds the elements of one array or the entries of
	// one dictionary.
	maxContainerLen = 1 << 20
	// maxValues bounds the values created while parsing one top-level
	// object, so nested containers cannot multiply the previous limit.
	maxValues = 1 << 21
)

// Window sizes for reading the file: small for objects, larger where long
// runs are read sequentially (cross-reference tables).
const (
	objectWindow = 4 << 10
	tableWindow  = 64 << 10
)

func isWhite(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return false
}

func isDelimiter(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func isRegular(c byte) bool { return !isWhite(c) && !isDelimiter(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// lexer reads PDF tokens and objects either from a file through an
// io.ReaderAt, one window at a time, or from a byte slice (decoded object
// stream data). Positions are absolute offsets in that source, so the
// parser can step back (to undo a failed "n g R" look-ahead) by assigning
// pos.
type lexer struct {
	src    io.ReaderAt // nil when buf holds the whole source
	size   int64       // end of the readable source
	buf    []byte
	bufOff int64 // source offset of buf[0]
	pos    int64
	window int

	// stream is the object stream whose decoded data is being read, for
	// error reports; 0 for the file itself.
	stream uint32
	// ioErr is a read failure other than end of file.
	ioErr error
	// short is set when the source ended before size: the file is
	// truncated (or the caller's size was wrong).
	short bool

	values  int    // values created for the current top-level object
	scratch []byte // token buffer, reused
	pooled  *[]byte
}

func newFileLexer(src io.ReaderAt, size, pos int64, window int) *lexer {
	return &lexer{src: src, size: size, pos: pos, window: window}
}

func newBytesLexer(data []byte, stream uint32) *lexer {
	return &lexer{buf: data, size: int64(len(data)), stream: stream}
}

// fill loads the window that contains pos; false at end of source.
func (l *lexer) fill() bool {
	if l.src == nil || l.pos < 0 || l.pos >= l.size {
		return false
	}
	n := int64(l.window)
	if rem := l.size - l.pos; n > rem {
		n = rem
	}
	if int64(cap(l.buf)) < n {
		l.buf = make([]byte, n, l.window)
	}
	l.buf = l.buf[:n]
	m, err := l.src.ReadAt(l.buf, l.pos)
	if int64(m) < n {
		if err == nil || errors.Is(err, io.EOF) {
			l.short = true
			l.size = l.pos + int64(m)
		} else {
			l.ioErr = err
		}
	}
	// Guard against an io.ReaderAt that misreports its count.
	m = max(0, min(m, int(n)))
	l.buf = l.buf[:m]
	l.bufOff = l.pos
	return m > 0
}

// peek returns the byte at pos without consuming it.
func (l *lexer) peek() (byte, bool) {
	if i := l.pos - l.bufOff; i >= 0 && i < int64(len(l.buf)) && l.pos < l.size {
		return l.buf[i], true
	}
	if !l.fill() {
		return 0, false
	}
	return l.buf[l.pos-l.bufOff], true
}

// next consumes and returns the byte at pos.
func (l *lexer) next() (byte, bool) {
	c, ok := l.peek()
	if ok {
		l.pos++
	}
	return c, ok
}

// errAt builds the error for a problem at off in this lexer's source.
func (l *lexer) errAt(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, InStream: l.stream, Reason: fmt.Sprintf(format, args...)}
}

// eof reports running out of input while reading what, distinguishing a
// read failure (returned as is, wrapped) from a short source.
func (l *lexer) eof(start int64, what string) error {
	if l.ioErr != nil {
		return fmt.Errorf("pdf: reading %s at offset %d: %w", what, start, l.ioErr)
	}
	if l.stream == 0 {
		return l.errAt(start, "truncated file: unexpected end of file in %s", what)
	}
	return l.errAt(start, "unexpected end of data in %s", what)
}

func (l *lexer) tooLarge(start int64, what string) error {
	return &FormatError{Offset: start, InStream: l.stream, Reason: what, Err: ErrTooLarge}
}

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() {
	for {
		c, ok := l.peek()
		if !ok {
			return
		}
		switch {
		case isWhite(c):
			l.pos++
		case c == '%':
			for {
				c, ok := l.next()
				if !ok || c == '\r' || c == '\n' {
					break
				}
			}
		default:
			return
		}
	}
}

// token reads a run of regular characters (a number or keyword), at most
// maxTokenLen long; empty when pos is not at one. The result is only valid
// until the next call: it lives in a scratch buffer reused to spare an
// allocation per token.
func (l *lexer) token() ([]byte, error) {
	start := l.pos
	tok := l.scratch[:0]
	for {
		c, ok := l.peek()
		if !ok || !isRegular(c) {
			l.scratch = tok[:0]
			return tok, nil
		}
		if len(tok) >= maxTokenLen {
			return nil, l.tooLarge(start, "token too long")
		}
		tok = append(tok, c)
		l.pos++
	}
}

// keyword reads the next token after white space, for matching keywords
// such as obj, endobj, stream, xref and trailer.
func (l *lexer) keyword() (string, int64, error) {
	l.skipSpace()
	start := l.pos
	tok, err := l.token()
	return string(tok), start, err
}

// uint reads the next token as an unsigned decimal integer (no sign, no
// point), as used by object headers and cross-reference tables.
func (l *lexer) uint(what string) (uint64, int64, error) {
	l.skipSpace()
	start := l.pos
	tok, err := l.token()
	if err != nil {
		return 0, start, err
	}
	if len(tok) == 0 {
		if _, ok := l.peek(); !ok {
			return 0, start, l.eof(start, what)
		}
		return 0, start, l.errAt(start, "expected %s", what)
	}
	n, ok := parseUint(tok)
	if !ok {
		return 0, start, l.errAt(start, "expected %s, found %q", what, tok)
	}
	return n, start, nil
}

// parseUint parses decimal digits only; false on anything else or on
// overflow of int64 (offsets and counts never need more).
func parseUint(tok []byte) (uint64, bool) {
	if len(tok) == 0 || len(tok) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range tok {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= math.MaxInt64
}

// count charges one value against the per-object budget.
func (l *lexer) count(start int64) error {
	l.values++
	if l.values > maxValues {
		return l.tooLarge(start, "object has too many elements")
	}
	return nil
}

// object parses one direct object (or an "n g R" reference) at pos.
// Keywords other than true, false and null are errors here; callers that
// expect endobj or stream read them with keyword.
func (l *lexer) object(depth int) (Object, error) {
	l.skipSpace()
	start := l.pos
	if err := l.count(start); err != nil {
		return nil, err
	}
	c, ok := l.peek()
	if !ok {
		return nil, l.eof(start, "object")
	}
	switch c {
	case '/':
		return l.name()
	case '(':
		return l.literalString()
	case '<':
		l.pos++
		if c2, ok := l.peek(); ok && c2 == '<' {
			l.pos = start
			return l.dict(depth)
		}
		l.pos = start
		return l.hexString()
	case '[':
		return l.array(depth)
	case ')', '>', ']', '{', '}':
		return nil, l.errAt(start, "unexpected %q", c)
	}
	tok, err := l.token()
	if err != nil {
		return nil, err
	}
	if len(tok) == 0 {
		return nil, l.errAt(start, "unexpected %q", c)
	}
	switch string(tok) {
	case "true":
		return Bool(true), nil
	case "false":
		return Bool(false), nil
	case "null":
		return Null{}, nil
	}
	if first := tok[0]; isDigit(first) || first == '+' || first == '-' || first == '.' {
		return l.number(tok, start)
	}
	return nil, l.errAt(start, "unexpected keyword %q", tok)
}

// number parses a numeric token and, when it is an unsigned integer,
// looks ahead for "gen R" to make a reference.
func (l *lexer) number(tok []byte, start int64) (Object, error) {
	if n, ok := parseUint(tok); ok {
		if ref, ok, err := l.refAfter(n, start); err != nil || ok {
			return ref, err
		}
		return Int(n), nil
	}
	o, ok := parseNumber(tok)
	if !ok {
		return nil, l.errAt(start, "malformed number %q", tok)
	}
	return o, nil
}

// refAfter tries to read " gen R" after the integer num; on failure it
// restores pos and reports false.
func (l *lexer) refAfter(num uint64, start int64) (Object, bool, error) {
	save := l.pos
	l.skipSpace()
	genStart := l.pos
	gtok, err := l.token()
	if err != nil || len(gtok) == 0 {
		l.pos = save
		return nil, false, nil
	}
	gen, ok := parseUint(gtok)
	if !ok {
		l.pos = save
		return nil, false, nil
	}
	l.skipSpace()
	if c, ok := l.peek(); !ok || c != 'R' {
		l.pos = save
		return nil, false, nil
	}
	l.pos++
	if c, ok := l.peek(); ok && isRegular(c) {
		// "Rx…" is some other keyword.
		l.pos = save
		return nil, false, nil
	}
	if num > math.MaxUint32 {
		return nil, false, l.errAt(start, "object number %d out of range in reference", num)
	}
	if gen > math.MaxUint16 {
		return nil, false, l.errAt(genStart, "generation number %d out of range in reference", gen)
	}
	return Ref{Num: uint32(num), Gen: uint16(gen)}, true, nil
}

// parseNumber parses the PDF number syntax: an optional sign, digits, and
// at most one point, with at least one digit (".5", "-.5", "+3", "4.").
// Integers that overflow int64 become reals, as the standard allows.
func parseNumber(tok []byte) (Object, bool) {
	i := 0
	if tok[0] == '+' || tok[0] == '-' {
		i++
	}
	digits, points := 0, 0
	for _, c := range tok[i:] {
		switch {
		case isDigit(c):
			digits++
		case c == '.':
			points++
		default:
			return nil, false
		}
	}
	if digits == 0 || points > 1 {
		return nil, false
	}
	if points == 0 {
		if n, err := strconv.ParseInt(string(tok), 10, 64); err == nil {
			return Int(n), true
		}
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil || math.IsInf(f, 0) {
		// Overflow beyond float64: no PDF producer writes such a number.
		return nil, false
	}
	return Real(f), true
}

// name parses "/Name" with #xx escapes. A '#' not followed by two hex
// digits is kept as is, as PDF 1.1 files wrote it.
func (l *lexer) name() (Object, error) {
	start := l.pos
	l.pos++ // '/'
	var b []byte
	for {
		c, ok := l.peek()
		if !ok || !isRegular(c) {
			break
		}
		l.pos++
		if c == '#' {
			save := l.pos
			h, ok1 := l.next()
			lo, ok2 := l.next()
			hv, okh := unhex(h)
			lv, okl := unhex(lo)
			if ok1 && ok2 && okh && okl {
				c = hv<<4 | lv
			} else {
				l.pos = save
			}
		}
		if len(b) >= maxNameLen {
			return nil, l.tooLarge(start, "name too long")
		}
		b = append(b, c)
	}
	return Name(b), nil
}

// literalString parses "( … )" with ReadLiteral.
func (l *lexer) literalString() (Object, error) {
	start := l.pos
	l.pos++ // '('
	b, closed, err := ReadLiteral(lexerBytes{l}, maxStringLen)
	switch {
	case err != nil:
		return nil, l.tooLarge(start, "string too long")
	case !closed:
		return nil, l.eof(start, "literal string")
	}
	return String{Bytes: b}, nil
}

// lexerBytes reads the lexer's input as an io.ByteScanner.
type lexerBytes struct{ l *lexer }

func (b lexerBytes) ReadByte() (byte, error) {
	c, ok := b.l.next()
	if !ok {
		return 0, io.EOF
	}
	return c, nil
}

func (b lexerBytes) UnreadByte() error {
	b.l.pos--
	return nil
}

// hexString parses "< … >": white space is ignored and an odd final digit
// is padded with 0.
func (l *lexer) hexString() (Object, error) {
	start := l.pos
	l.pos++ // '<'
	b := []byte{}
	var hi byte
	odd := false
	for {
		c, ok := l.next()
		if !ok {
			return nil, l.eof(start, "hex string")
		}
		if c == '>' {
			if odd {
				b = append(b, hi<<4)
			}
			return String{Bytes: b, Hex: true}, nil
		}
		if isWhite(c) {
			continue
		}
		v, ok := unhex(c)
		if !ok {
			return nil, l.errAt(l.pos-1, "invalid character %q in hex string", c)
		}
		if !odd {
			hi, odd = v, true
			continue
		}
		if len(b) >= maxStringLen {
			return nil, l.tooLarge(start, "string too long")
		}
		b = append(b, hi<<4|v)
		odd = false
	}
}

func (l *lexer) array(depth int) (Object, error) {
	start := l.pos
	if depth >= maxDepth {
		return nil, l.tooLarge(start, "objects nested too deeply")
	}
	l.pos++ // '['
	a := Array{}
	for {
		l.skipSpace()
		c, ok := l.peek()
		if !ok {
			return nil, l.eof(start, "array")
		}
		if c == ']' {
			l.pos++
			return a, nil
		}
		if len(a) >= maxContainerLen {
			return nil, l.tooLarge(start, "array too long")
		}
		o, err := l.object(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, o)
	}
}

func (l *lexer) dict(depth int) (Object, error) {
	start := l.pos
	if depth >= maxDepth {
		return nil, l.tooLarge(start, "objects nested too deeply")
	}
	l.pos += 2 // "<<"
	d := Dict{}
	n := 0
	for {
		l.skipSpace()
		keyStart := l.pos
		c, ok := l.peek()
		if !ok {
			return nil, l.eof(start, "dictionary")
		}
		if c == '>' {
			l.pos++
			if c2, ok := l.next(); !ok || c2 != '>' {
				return nil, l.errAt(keyStart, "malformed dictionary end (expected >>)")
			}
			return d, nil
		}
		if c != '/' {
			return nil, l.errAt(keyStart, "dictionary key is not a name")
		}
		if n >= maxContainerLen {
			return nil, l.tooLarge(start, "dictionary too long")
		}
		key, err := l.name()
		if err != nil {
			return nil, err
		}
		l.skipSpace()
		if c, ok := l.peek(); ok && c == '>' {
			return nil, l.errAt(l.pos, "dictionary key /%s has no value", key.(Name))
		}
		v, err := l.object(depth + 1)
		if err != nil {
			return nil, err
		}
		n++
		if _, isNull := v.(Null); isNull {
			// A null value is the same as an absent key.
			delete(d, key.(Name))
			continue
		}
		d[key.(Name)] = v
	}
}
