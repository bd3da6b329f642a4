package pdftext

import (
	"bytes"
	"math"
	"strconv"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Limits of the content-stream parser. Real content streams nest arrays
// one deep (TJ) and dictionaries two deep (marked-content properties);
// the limits are far above that and far below what would let hostile
// input exhaust the stack or memory.
const (
	// maxNesting bounds arrays and dictionaries inside an operand.
	maxNesting = 32
	// maxOperandObjects bounds the number of objects in one operand,
	// counting nested ones: a TJ array of a long line has a few hundred.
	maxOperandObjects = 1 << 16
	// maxOperands bounds the operands kept before an operator; surplus
	// operands are dropped from the bottom of the stack, as no operator
	// takes more than a handful.
	maxOperands = 64
	// maxInlineImageKeys bounds the entries of an inline image dictionary.
	maxInlineImageKeys = 64
)

// tokenKind classifies a token of a content stream or CMap.
type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokObject
	tokKeyword
	tokArrayOpen
	tokArrayClose
	tokDictOpen
	tokDictClose
)

// token is one lexical element. For tokObject, obj holds the number,
// string, name or boolean; for tokKeyword, kw holds the operator.
type token struct {
	kind tokenKind
	obj  pdf.Object
	kw   []byte
}

// lexer splits a content stream (or a CMap, which has the same
// PostScript syntax) into tokens. It never fails: malformed bytes become
// keywords the interpreter does not know and ignores, the way viewers
// skip what they cannot read.
type lexer struct {
	data []byte
	pos  int
}

func isWhite(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() {
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		switch {
		case isWhite(c):
			l.pos++
		case c == '%':
			for l.pos < len(l.data) && l.data[l.pos] != '\n' && l.data[l.pos] != '\r' {
				l.pos++
			}
		default:
			return
		}
	}
}

// next returns the next token.
func (l *lexer) next() token {
	l.skipSpace()
	if l.pos >= len(l.data) {
		return token{kind: tokEOF}
	}
	c := l.data[l.pos]
	switch c {
	case '[':
		l.pos++
		return token{kind: tokArrayOpen}
	case ']':
		l.pos++
		return token{kind: tokArrayClose}
	case '(':
		l.pos++
		return token{kind: tokObject, obj: l.literalString()}
	case '<':
		if l.pos+1 < len(l.data) && l.data[l.pos+1] == '<' {
			l.pos += 2
			return token{kind: tokDictOpen}
		}
		l.pos++
		return token{kind: tokObject, obj: l.hexString()}
	case '>':
		if l.pos+1 < len(l.data) && l.data[l.pos+1] == '>' {
			l.pos += 2
			return token{kind: tokDictClose}
		}
		l.pos++
		return token{kind: tokKeyword, kw: l.data[l.pos-1 : l.pos]}
	case '/':
		l.pos++
		return token{kind: tokObject, obj: l.name()}
	case ')', '{', '}':
		// A stray ")" is junk; braces delimit PostScript procedures in
		// CMaps. Either way a one-byte keyword nobody acts on.
		l.pos++
		return token{kind: tokKeyword, kw: l.data[l.pos-1 : l.pos]}
	}
	start := l.pos
	for l.pos < len(l.data) && !isWhite(l.data[l.pos]) && !isDelim(l.data[l.pos]) {
		l.pos++
	}
	word := l.data[start:l.pos]
	if n, ok := parseNumber(word); ok {
		return token{kind: tokObject, obj: n}
	}
	switch string(word) {
	case "true":
		return token{kind: tokObject, obj: pdf.Bool(true)}
	case "false":
		return token{kind: tokObject, obj: pdf.Bool(false)}
	case "null":
		return token{kind: tokObject, obj: pdf.Null{}}
	}
	return token{kind: tokKeyword, kw: word}
}

// parseNumber reads a PDF number leniently: real files contain "-.5",
// "4.", "+3" and, from broken writers, "--2" or "1.2.3"; the longest
// prefix that makes sense is taken, as viewers do.
func parseNumber(b []byte) (pdf.Object, bool) {
	if len(b) == 0 {
		return nil, false
	}
	c := b[0]
	if !(c >= '0' && c <= '9') && c != '-' && c != '+' && c != '.' {
		return nil, false
	}
	if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return pdf.Int(i), true
	}
	// Collapse repeated signs, cut at the second period or a stray sign.
	neg := false
	for len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = neg || b[0] == '-'
		b = b[1:]
	}
	end, dot := 0, false
	for end < len(b) {
		c := b[end]
		if c == '.' && !dot {
			dot = true
		} else if c < '0' || c > '9' {
			break
		}
		end++
	}
	digits := string(b[:end])
	if digits == "" || digits == "." {
		if end == len(b) {
			// A lone sign or period: the number 0, as Acrobat reads it.
			return pdf.Int(0), true
		}
		return nil, false
	}
	f, err := strconv.ParseFloat(digits, 64)
	if err != nil || math.IsInf(f, 0) {
		f = 0
	}
	if neg {
		f = -f
	}
	return pdf.Real(f), true
}

// literalString reads a (string) after its opening parenthesis, leniently:
// an unclosed string at the end of the data keeps what was read.
func (l *lexer) literalString() pdf.String {
	r := bytes.NewReader(l.data[l.pos:])
	b, _, _ := pdf.ReadLiteral(r, 0)
	l.pos = len(l.data) - r.Len()
	return pdf.String{Bytes: b}
}

// hexString reads a <hex string> after its opening bracket. Non-hex bytes
// are skipped; an odd final digit is followed by an implied 0.
func (l *lexer) hexString() pdf.String {
	var out []byte
	var hi byte
	half := false
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		l.pos++
		if c == '>' {
			break
		}
		v, ok := unhex(c)
		if !ok {
			continue
		}
		if half {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		out = append(out, hi<<4)
	}
	return pdf.String{Bytes: out, Hex: true}
}

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

// name reads a /Name after its slash, resolving #xx escapes.
func (l *lexer) name() pdf.Name {
	start := l.pos
	for l.pos < len(l.data) && !isWhite(l.data[l.pos]) && !isDelim(l.data[l.pos]) {
		l.pos++
	}
	raw := l.data[start:l.pos]
	if bytes.IndexByte(raw, '#') < 0 {
		return pdf.Name(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '#' && i+2 < len(raw) {
			h, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, raw[i])
	}
	return pdf.Name(out)
}

// parser builds operands (including arrays and dictionaries) from tokens.
type parser struct {
	lex lexer
	// objects counts the objects of the operand being built, against
	// maxOperandObjects.
	objects int
}

// item is what parser.next returns: an operand object, or an operator
// keyword, or the end of the data.
type item struct {
	obj pdf.Object // nil for an operator or the end
	op  []byte     // the operator; nil at the end
}

// next returns the next operand or operator.
func (p *parser) next() item {
	for {
		t := p.lex.next()
		switch t.kind {
		case tokEOF:
			return item{}
		case tokKeyword:
			return item{op: t.kw}
		case tokArrayClose, tokDictClose:
			// Unbalanced closers are junk.
			continue
		}
		p.objects = 0
		return item{obj: p.complete(t, 0)}
	}
}

// complete turns t into an object, reading the rest of an array or a
// dictionary it opens. Past the nesting or size limits the remainder of
// the container is read and dropped, so the stream stays in step.
func (p *parser) complete(t token, depth int) pdf.Object {
	p.objects++
	switch t.kind {
	case tokObject:
		return t.obj
	case tokArrayOpen:
		var arr pdf.Array
		for {
			u := p.lex.next()
			switch u.kind {
			case tokEOF, tokArrayClose:
				return arr
			case tokDictClose:
				continue
			case tokKeyword:
				// Operators cannot appear inside arrays; broken streams
				// that forget a "]" are cut here rather than swallowing the
				// rest of the page.
				p.lex.pos -= len(u.kw)
				return arr
			}
			if depth >= maxNesting || p.objects >= maxOperandObjects {
				p.skip(u)
				continue
			}
			arr = append(arr, p.complete(u, depth+1))
		}
	case tokDictOpen:
		d := pdf.Dict{}
		var key pdf.Name
		haveKey := false
		for {
			u := p.lex.next()
			switch u.kind {
			case tokEOF, tokDictClose:
				return d
			case tokArrayClose:
				continue
			case tokKeyword:
				p.lex.pos -= len(u.kw)
				return d
			}
			if depth >= maxNesting || p.objects >= maxOperandObjects {
				p.skip(u)
				continue
			}
			v := p.complete(u, depth+1)
			if !haveKey {
				if n, ok := v.(pdf.Name); ok {
					key, haveKey = n, true
				}
				continue
			}
			if _, null := v.(pdf.Null); !null {
				d[key] = v
			}
			haveKey = false
		}
	}
	return pdf.Null{}
}

// skip consumes t and, when t opens an array or a dictionary, everything
// up to its matching closer, without building objects or recursing: the
// nesting past maxNesting is only counted.
func (p *parser) skip(t token) {
	depth := 0
	for {
		switch t.kind {
		case tokArrayOpen, tokDictOpen:
			depth++
		case tokArrayClose, tokDictClose:
			depth--
		case tokEOF:
			return
		case tokKeyword:
			if depth > 0 {
				p.lex.pos -= len(t.kw)
				return
			}
		}
		if depth <= 0 {
			return
		}
		t = p.lex.next()
	}
}

// skipInlineImage skips an inline image after its BI operator: the
// dictionary up to ID, the image data, and the EI that ends it. The data
// is binary and may itself contain "EI", so its end is found, in order of
// reliability, from its length (PDF 2.0 /L, or computed for unfiltered
// data), from the end marker of an ASCII filter, or by looking for an EI
// that is followed by what reads as content again.
func (p *parser) skipInlineImage() {
	d := pdf.Dict{}
	for n := 0; ; n++ {
		it := p.next()
		if it.op != nil && string(it.op) == "ID" {
			break
		}
		if (it.obj == nil && it.op == nil) || n > 2*maxInlineImageKeys {
			return // truncated, or not an inline image at all
		}
		if it.op != nil {
			// An operator inside the dictionary: give up on the image and
			// carry on with what follows as content.
			p.lex.pos -= len(it.op)
			return
		}
		key, ok := it.obj.(pdf.Name)
		if !ok {
			continue
		}
		v := p.next()
		if v.obj == nil {
			if v.op != nil {
				p.lex.pos -= len(v.op)
			}
			continue
		}
		d[key] = v.obj
	}
	data := p.lex.data
	start := p.lex.pos
	// One white-space byte separates ID from the data.
	if start < len(data) && isWhite(data[start]) {
		start++
	}
	if n, ok := inlineImageLength(d); ok && n >= 0 && n <= len(data)-start {
		if end, ok := eiAt(data, start+n); ok {
			p.lex.pos = end
			return
		}
	}
	filter := inlineFilter(d)
	switch filter {
	case "ASCIIHexDecode", "AHx":
		if i := bytes.IndexByte(data[start:], '>'); i >= 0 {
			if end, ok := eiAt(data, start+i+1); ok {
				p.lex.pos = end
				return
			}
		}
	case "ASCII85Decode", "A85":
		if i := bytes.Index(data[start:], []byte("~>")); i >= 0 {
			if end, ok := eiAt(data, start+i+2); ok {
				p.lex.pos = end
				return
			}
		}
	}
	for i := start; i+2 <= len(data); i++ {
		if data[i] != 'E' || data[i+1] != 'I' || (i > start && !isWhite(data[i-1])) {
			continue
		}
		end := i + 2
		if end < len(data) && !isWhite(data[end]) {
			continue
		}
		if looksLikeContent(data[end:]) {
			p.lex.pos = end
			return
		}
	}
	// No end found: the rest of the stream is image data.
	p.lex.pos = len(data)
}

// eiAt reports whether "EI" (after optional white space) is at pos,
// followed by white space, a delimiter or the end, and returns the
// position after it.
func eiAt(data []byte, pos int) (int, bool) {
	for pos < len(data) && isWhite(data[pos]) {
		pos++
	}
	if pos+2 > len(data) || data[pos] != 'E' || data[pos+1] != 'I' {
		return 0, false
	}
	if pos+2 < len(data) && !isWhite(data[pos+2]) && !isDelim(data[pos+2]) {
		return 0, false
	}
	return pos + 2, true
}

// inlineFilter returns the single filter of an inline image, or "".
func inlineFilter(d pdf.Dict) pdf.Name {
	f := d.Get("F")
	if _, null := f.(pdf.Null); null {
		f = d.Get("Filter")
	}
	switch v := f.(type) {
	case pdf.Name:
		return v
	case pdf.Array:
		if len(v) == 1 {
			n, _ := v[0].(pdf.Name)
			return n
		}
		if len(v) > 1 {
			return "?"
		}
	}
	return ""
}

// inlineImageLength returns the byte length of an inline image's data
// when it can be known: the /L (or /Length) entry of PDF 2.0, or the size
// of unfiltered samples.
func inlineImageLength(d pdf.Dict) (int, bool) {
	for _, k := range []string{"L", "Length"} {
		if v, ok := pdf.Number(d.Get(k)); ok && v >= 0 && v < 1<<31 {
			return int(v), true
		}
	}
	if inlineFilter(d) != "" {
		return 0, false
	}
	get := func(short, long string) (float64, bool) {
		if v, ok := pdf.Number(d.Get(short)); ok {
			return v, true
		}
		return pdf.Number(d.Get(long))
	}
	w, ok1 := get("W", "Width")
	h, ok2 := get("H", "Height")
	if !ok1 || !ok2 || w <= 0 || h <= 0 || w > 1<<16 || h > 1<<16 {
		return 0, false
	}
	bpc, comps := 1.0, 1.0
	mask := d.Get("IM")
	if _, null := mask.(pdf.Null); null {
		mask = d.Get("ImageMask")
	}
	if m, _ := mask.(pdf.Bool); !m {
		var ok bool
		if bpc, ok = get("BPC", "BitsPerComponent"); !ok {
			return 0, false
		}
		cs := d.Get("CS")
		if _, null := cs.(pdf.Null); null {
			cs = d.Get("ColorSpace")
		}
		switch v := cs.(type) {
		case pdf.Name:
			switch v {
			case "G", "DeviceGray", "I", "Indexed":
				comps = 1
			case "RGB", "DeviceRGB":
				comps = 3
			case "CMYK", "DeviceCMYK":
				comps = 4
			default:
				// A named colour space from the resources: its component
				// count is not known here.
				return 0, false
			}
		case pdf.Array:
			if len(v) == 0 {
				return 0, false
			}
			if n, _ := v[0].(pdf.Name); n != "I" && n != "Indexed" {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	row := (int(w)*int(comps)*int(bpc) + 7) / 8
	return row * int(h), true
}

// looksLikeContent reports whether data, which follows a candidate EI,
// reads as content: the end of the stream, or operands followed by a
// known operator within a few tokens, all in printable ASCII.
func looksLikeContent(data []byte) bool {
	l := lexer{data: data}
	for range 8 {
		l.skipSpace()
		if l.pos >= len(data) {
			return true
		}
		if c := data[l.pos]; c >= 0x80 || (c < 0x20 && !isWhite(c)) {
			return false
		}
		t := l.next()
		switch t.kind {
		case tokEOF:
			return true
		case tokKeyword:
			return isOperator(t.kw)
		}
	}
	return false
}

// isOperator reports whether kw is a content stream operator of ISO
// 32000-2 (Table 50).
func isOperator(kw []byte) bool {
	switch string(kw) {
	case "b", "B", "b*", "B*", "BDC", "BI", "BMC", "BT", "BX", "c", "cm", "CS", "cs",
		"d", "d0", "d1", "Do", "DP", "EI", "EMC", "ET", "EX", "f", "F", "f*", "G", "g",
		"gs", "h", "i", "ID", "j", "J", "K", "k", "l", "m", "M", "MP", "n", "q", "Q",
		"re", "RG", "rg", "ri", "s", "S", "SC", "sc", "SCN", "scn", "sh", "T*", "Tc",
		"Td", "TD", "Tf", "Tj", "TJ", "TL", "Tm", "Tr", "Ts", "Tw", "Tz", "v", "w",
		"W", "W*", "y", "'", `"`:
		return true
	}
	return false
}
