package pdftext

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Limits of one page's interpretation. They are generous for real pages
// (a dense page has a few hundred kilobytes of content and tens of
// thousands of operators) and stop hostile ones: a form drawn a million
// times, a decompression bomb, a page of nothing but glyphs.
const (
	// maxStreamData bounds the decoded size of one content stream.
	maxStreamData = 64 << 20
	// maxPageData bounds the decoded content of a page, its form
	// XObjects included.
	maxPageData = 256 << 20
	// maxOperators bounds the operators executed for a page, counting
	// each execution of a form's content again.
	maxOperators = 10_000_000
	// maxChars bounds the characters extracted from a page.
	maxChars = 1_000_000
	// maxFormDepth bounds form XObjects nested in form XObjects.
	maxFormDepth = 12
	// maxSaveDepth bounds the q (save graphics state) nesting; deeper
	// saves are counted, not stored, so that Q still pairs up.
	maxSaveDepth = 256
)

// limits are the per-page limits in force: the constants above, or
// smaller ones in tests, which cannot afford pages of a million glyphs.
type limits struct {
	streamData, pageData int64
	operators, chars     int
}

// defaultLimits returns the limits PageSpans applies.
func defaultLimits() limits {
	return limits{streamData: maxStreamData, pageData: maxPageData, operators: maxOperators, chars: maxChars}
}

// Thresholds of the layout analysis, as fractions of the font size.
const (
	// wordGap is the horizontal gap between two runs of text (or a TJ
	// displacement inside one) that counts as a space between words.
	// pdftotext uses the same value.
	wordGap = 0.1
	// sameLine is how far apart two baselines may be (measured across
	// the writing direction) for their runs to be on one line.
	sameLine = 0.4
)

// ErrLimit is the cause carried by an *Error when a limit of this package
// stopped the reading of a page.
var ErrLimit = errors.New("limit exceeded")

// Error reports text that could not be read: a content stream that could
// not be decoded (a broken or unsupported stream, found in Err as a
// *pdf.FormatError), or a limit of this package (Err is ErrLimit). The
// spans returned with it are everything that could be read.
type Error struct {
	// Page is the 1-based page number, or 0 when the page was passed as
	// a dictionary.
	Page int
	// Object is the stream concerned, when there is one.
	Object pdf.Ref
	// Reason says what went wrong, in plain English.
	Reason string
	// Err is the underlying cause, or nil.
	Err error
}

// Error returns the reason with the page and object, prefixed "pdftext: ".
func (e *Error) Error() string {
	s := "pdftext: "
	if e.Page > 0 {
		s += fmt.Sprintf("page %d: ", e.Page)
	}
	if e.Object != (pdf.Ref{}) {
		s += fmt.Sprintf("object %d %d: ", e.Object.Num, e.Object.Gen)
	}
	s += e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// gstate is the part of the graphics state text extraction needs: the
// CTM and the text state parameters, which q and Q save and restore.
type gstate struct {
	ctm                                                matrix
	font                                               *font
	fontSize, charSpace, wordSpace, hscale, lead, rise float64
}

// interp interprets the content of one page.
type interp struct {
	r      *pdf.Reader
	loader fontLoader
	lim    limits
	// fonts caches fonts by object, so a font shared by a page and its
	// forms (or used a thousand times) is read once.
	fonts    map[pdf.Ref]*font
	fallback *font
	// forms caches decoded form XObject content.
	forms    map[pdf.Ref][]byte
	dataUsed int64
	ops      int
	chars    int
	stopped  bool
	spans    []Span
	err      error
	// active lists the forms being executed, to refuse recursion.
	active []pdf.Ref
}

// runState is the state of one content stream's execution.
type runState struct {
	gs    gstate
	saved []gstate
	// overflow counts q operators beyond maxSaveDepth.
	overflow int
	tm, tlm  matrix
	res      pdf.Dict
	// byName caches this stream's fonts by resource name.
	byName map[pdf.Name]*font
	depth  int
	// cur collects the characters of the text being shown by one
	// operator.
	cur spanBuilder
}

// note records a problem to report; the first one is kept.
func (in *interp) note(err error) {
	if in.err == nil {
		in.err = err
	}
}

// limit stops the interpretation with ErrLimit.
func (in *interp) limit(reason string) {
	in.note(&Error{Reason: reason, Err: ErrLimit})
	in.stopped = true
}

// resolve follows references; a broken reference reads as null, since
// one broken resource should not cost the rest of the page.
func (in *interp) resolve(o pdf.Object) pdf.Object {
	v, err := in.r.Resolve(o)
	if err != nil || v == nil {
		return pdf.Null{}
	}
	return v
}

func (in *interp) resolveDict(o pdf.Object) pdf.Dict {
	d, _ := in.resolve(o).(pdf.Dict)
	return d
}

// streamData decodes a content stream within the page's budget.
func (in *interp) streamData(s *pdf.Stream, ref pdf.Ref) ([]byte, error) {
	budget := min(in.lim.streamData, in.lim.pageData-in.dataUsed)
	data, err := in.r.StreamData(s, budget)
	if err != nil {
		if errors.Is(err, pdf.ErrTooLarge) {
			in.limit(fmt.Sprintf("decoded content exceeds the limit (%d bytes a stream, %d a page)", in.lim.streamData, in.lim.pageData))
		}
		return nil, &Error{Object: ref, Reason: "cannot decode content stream", Err: err}
	}
	in.dataUsed += int64(len(data))
	return data, nil
}

// PageSpans returns the text drawn by a page's content stream(s) and the
// form XObjects it draws, as runs in content order. page is the page
// dictionary; resources is its /Resources, inherited from the page tree
// when the page itself has none (nil means none).
//
// Boxes are in the default user space of the page: /Rotate, /UserUnit and
// the crop box do not change them. When part of the page cannot be read
// (a stream that cannot be decoded, a limit reached), PageSpans returns
// what it could read together with an *Error; malformed operators and
// unreadable fonts are skipped or approximated without an error.
func PageSpans(r *pdf.Reader, page pdf.Dict, resources pdf.Dict) ([]Span, error) {
	return pageSpansWithin(r, page, resources, defaultLimits())
}

// pageSpansWithin is PageSpans with the given limits.
func pageSpansWithin(r *pdf.Reader, page pdf.Dict, resources pdf.Dict, lim limits) ([]Span, error) {
	if r == nil || page == nil {
		return nil, &Error{Reason: "no page"}
	}
	in := &interp{r: r, loader: fontLoader{r: r}, lim: lim, fonts: map[pdf.Ref]*font{}, forms: map[pdf.Ref][]byte{}}
	var data []byte
	addStream := func(o pdf.Object) {
		ref, _ := o.(pdf.Ref)
		s, ok := in.resolve(o).(*pdf.Stream)
		if !ok || in.stopped {
			return
		}
		d, err := in.streamData(s, ref)
		if err != nil {
			in.note(err)
			return
		}
		data = append(data, d...)
		// Streams of an array are one content stream; white space keeps
		// the last token of one from joining the first of the next.
		data = append(data, '\n')
	}
	switch c := in.resolve(page.Get("Contents")).(type) {
	case *pdf.Stream:
		addStream(page.Get("Contents"))
	case pdf.Array:
		for _, o := range c {
			addStream(o)
		}
	}
	in.run(data, resources, gstate{ctm: identity, hscale: 1}, 0)
	return in.spans, in.err
}

// run executes one content stream.
func (in *interp) run(data []byte, res pdf.Dict, gs gstate, depth int) {
	st := &runState{gs: gs, tm: identity, tlm: identity, res: res, depth: depth}
	p := parser{lex: lexer{data: data}}
	ops := make([]pdf.Object, 0, 8)
	for !in.stopped {
		it := p.next()
		if it.obj != nil {
			if len(ops) >= maxOperands {
				// Keep the top of the stack, which is what operators use.
				copy(ops, ops[len(ops)/2:])
				ops = ops[:len(ops)-len(ops)/2]
			}
			ops = append(ops, it.obj)
			continue
		}
		if it.op == nil {
			break
		}
		in.ops++
		if in.ops > in.lim.operators {
			in.limit(fmt.Sprintf("more than %d operators", in.lim.operators))
			break
		}
		in.operator(st, &p, it.op, ops)
		ops = ops[:0]
	}
}

// numbers returns the last n operands as numbers, if they all are finite
// numbers.
func numbers(ops []pdf.Object, n int) ([]float64, bool) {
	if len(ops) < n {
		return nil, false
	}
	out := make([]float64, n)
	for i, o := range ops[len(ops)-n:] {
		v, ok := pdf.Number(o)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// last returns the last operand, or Null.
func last(ops []pdf.Object) pdf.Object {
	if len(ops) == 0 {
		return pdf.Null{}
	}
	return ops[len(ops)-1]
}

// operator executes one operator with its operands. Operators that do not
// affect text (paths, colours, images, shadings) and unknown ones are
// ignored; so is an operator whose operands are wrong.
func (in *interp) operator(st *runState, p *parser, op []byte, ops []pdf.Object) {
	gs := &st.gs
	switch string(op) {
	case "q":
		if len(st.saved) >= maxSaveDepth {
			st.overflow++
			return
		}
		st.saved = append(st.saved, *gs)
	case "Q":
		switch {
		case st.overflow > 0:
			st.overflow--
		case len(st.saved) > 0:
			*gs = st.saved[len(st.saved)-1]
			st.saved = st.saved[:len(st.saved)-1]
		}
	case "cm":
		if v, ok := numbers(ops, 6); ok {
			m := matrix(v)
			if n := m.mul(gs.ctm); n.finite() {
				gs.ctm = n
			}
		}
	case "BT":
		st.tm, st.tlm = identity, identity
	case "Tf":
		if v, ok := numbers(ops, 1); ok && len(ops) >= 2 {
			if name, ok := ops[len(ops)-2].(pdf.Name); ok {
				gs.font = in.font(st, name)
				gs.fontSize = v[0]
			}
		}
	case "Tc":
		if v, ok := numbers(ops, 1); ok {
			gs.charSpace = v[0]
		}
	case "Tw":
		if v, ok := numbers(ops, 1); ok {
			gs.wordSpace = v[0]
		}
	case "Tz":
		if v, ok := numbers(ops, 1); ok {
			gs.hscale = v[0] / 100
		}
	case "TL":
		if v, ok := numbers(ops, 1); ok {
			gs.lead = v[0]
		}
	case "Ts":
		if v, ok := numbers(ops, 1); ok {
			gs.rise = v[0]
		}
	case "Td":
		if v, ok := numbers(ops, 2); ok {
			st.moveLine(v[0], v[1])
		}
	case "TD":
		if v, ok := numbers(ops, 2); ok {
			gs.lead = -v[1]
			st.moveLine(v[0], v[1])
		}
	case "Tm":
		if v, ok := numbers(ops, 6); ok {
			if m := matrix(v); m.finite() {
				st.tm, st.tlm = m, m
			}
		}
	case "T*":
		st.moveLine(0, -gs.lead)
	case "Tj":
		if s, ok := last(ops).(pdf.String); ok {
			in.show(st, s.Bytes)
			in.flush(st)
		}
	case "'":
		if s, ok := last(ops).(pdf.String); ok {
			st.moveLine(0, -gs.lead)
			in.show(st, s.Bytes)
			in.flush(st)
		}
	case `"`:
		if v, ok := numbers(ops[:max(len(ops)-1, 0)], 2); ok {
			if s, ok := last(ops).(pdf.String); ok {
				gs.wordSpace, gs.charSpace = v[0], v[1]
				st.moveLine(0, -gs.lead)
				in.show(st, s.Bytes)
				in.flush(st)
			}
		}
	case "TJ":
		if arr, ok := last(ops).(pdf.Array); ok {
			for _, e := range arr {
				switch v := e.(type) {
				case pdf.String:
					in.show(st, v.Bytes)
				case pdf.Int, pdf.Real:
					n, _ := pdf.Number(v)
					in.displace(st, n)
				}
			}
			in.flush(st)
		}
	case "Do":
		if name, ok := last(ops).(pdf.Name); ok {
			in.xobject(st, name)
		}
	case "BI":
		p.skipInlineImage()
	}
}

// moveLine starts a new line offset by (tx, ty) from the start of the
// current one (Td).
func (st *runState) moveLine(tx, ty float64) {
	m := matrix{1, 0, 0, 1, tx, ty}.mul(st.tlm)
	if m.finite() {
		st.tlm, st.tm = m, m
	}
}

// font returns the font a Tf operand names in the current resources.
func (in *interp) font(st *runState, name pdf.Name) *font {
	if f, ok := st.byName[name]; ok {
		return f
	}
	fonts := in.resolveDict(st.res.Get("Font"))
	entry := fonts.Get(string(name))
	var f *font
	ref, isRef := entry.(pdf.Ref)
	if isRef {
		f = in.fonts[ref]
	}
	if f == nil {
		if d := in.resolveDict(entry); d != nil {
			f = in.loader.load(d)
		}
		if f == nil {
			if in.fallback == nil {
				in.fallback = fallbackFont()
			}
			f = in.fallback
		}
		if isRef {
			in.fonts[ref] = f
		}
	}
	if st.byName == nil {
		st.byName = map[pdf.Name]*font{}
	}
	st.byName[name] = f
	return f
}

// xobject executes a form XObject (images and other kinds hold no text).
func (in *interp) xobject(st *runState, name pdf.Name) {
	entry := in.resolveDict(st.res.Get("XObject")).Get(string(name))
	ref, _ := entry.(pdf.Ref)
	s, ok := in.resolve(entry).(*pdf.Stream)
	if !ok {
		return
	}
	if sub, _ := in.resolve(s.Dict.Get("Subtype")).(pdf.Name); sub != "Form" {
		return
	}
	if st.depth >= maxFormDepth {
		return
	}
	if ref != (pdf.Ref{}) {
		for _, a := range in.active {
			if a == ref {
				return // a form that draws itself
			}
		}
	}
	data, cached := in.forms[ref]
	if !cached || ref == (pdf.Ref{}) {
		var err error
		data, err = in.streamData(s, ref)
		if err != nil {
			in.note(err)
			return
		}
		if ref != (pdf.Ref{}) {
			in.forms[ref] = data
		}
	}
	gs := st.gs
	if m, ok := in.resolve(s.Dict.Get("Matrix")).(pdf.Array); ok {
		if v, ok := numbers(m, 6); ok && len(m) == 6 {
			if n := matrix(v).mul(gs.ctm); n.finite() {
				gs.ctm = n
			}
		}
	}
	res := in.resolveDict(s.Dict.Get("Resources"))
	if res == nil {
		// Forms without resources use their parent's, as older files
		// assume.
		res = st.res
	}
	in.active = append(in.active, ref)
	in.run(data, res, gs, st.depth+1)
	in.active = in.active[:len(in.active)-1]
}

// spanBuilder collects the characters shown by one text operator.
type spanBuilder struct {
	chars []char
	size  float64
	dir   uint8
	base  float64
}

// show draws the glyphs of s, advancing the text matrix.
func (in *interp) show(st *runState, s []byte) {
	gs := &st.gs
	f := gs.font
	if f == nil {
		if in.fallback == nil {
			in.fallback = fallbackFont()
		}
		f = in.fallback
	}
	fs, th := gs.fontSize, gs.hscale
	for len(s) > 0 && !in.stopped {
		g := f.next(s)
		s = s[g.n:]
		trm := matrix{fs * th, 0, 0, fs, 0, gs.rise}.mul(st.tm).mul(gs.ctm)
		spacing := gs.charSpace
		if g.n == 1 && g.code == 32 {
			spacing += gs.wordSpace
		}
		var x0, x1, y0, y1 float64
		var adv matrix
		if !f.vertical {
			x0, x1, y0, y1 = 0, g.width, f.descent, f.ascent
			adv = matrix{1, 0, 0, 1, (g.width*fs + spacing) * th, 0}
		} else {
			// The glyph hangs from its vertical origin, which the
			// position vector places relative to the horizontal one.
			x0, x1 = -g.vx, g.width-g.vx
			y0, y1 = f.descent-g.vy, f.ascent-g.vy
			adv = matrix{1, 0, 0, 1, 0, g.vAdvance*fs + spacing}
		}
		if trm.finite() {
			in.addGlyph(st, trm, g.text, x0, y0, x1, y1, f.vertical)
		}
		if m := adv.mul(st.tm); m.finite() {
			st.tm = m
		}
	}
}

// displace applies a TJ number: a move against the writing direction by
// n thousandths of the font size. A move of more than wordGap ends the
// current span, as writers use such moves for the gaps between words.
func (in *interp) displace(st *runState, n float64) {
	gs := &st.gs
	vertical := gs.font != nil && gs.font.vertical
	var m matrix
	if vertical {
		m = matrix{1, 0, 0, 1, 0, -n / 1000 * gs.fontSize}
	} else {
		m = matrix{1, 0, 0, 1, -n / 1000 * gs.fontSize * gs.hscale, 0}
	}
	if t := m.mul(st.tm); t.finite() {
		st.tm = t
	}
	th := gs.hscale
	if vertical {
		th = 1
	}
	if math.Abs(n/1000*th) > wordGap {
		in.flush(st)
	}
}

// addGlyph records the characters of one glyph drawn with the text
// rendering matrix trm over the glyph-space box [x0, x1] × [y0, y1].
func (in *interp) addGlyph(st *runState, trm matrix, text string, x0, y0, x1, y1 float64, vertical bool) {
	// Characters that carry no text of their own are dropped; ligatures
	// are spelt out so that a search for "fi" finds "ﬁ".
	runes := make([]rune, 0, 4)
	for _, r := range text {
		switch {
		case r == '\t':
			runes = append(runes, ' ')
		case r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError || invisible(r):
		case r >= 0xfb00 && r <= 0xfb06:
			runes = append(runes, []rune(ligatures[r-0xfb00])...)
		default:
			runes = append(runes, r)
		}
	}
	if len(runes) == 0 {
		return
	}
	in.chars += len(runes)
	if in.chars > in.lim.chars {
		in.limit(fmt.Sprintf("more than %d characters", in.lim.chars))
		return
	}
	b := &st.cur
	if len(b.chars) == 0 {
		// The first glyph sets the span's direction, size and baseline.
		ox, oy := trm.apply(0, 0)
		var dx, dy float64
		if vertical {
			ex, ey := trm.apply(0, -1)
			dx, dy = ex-ox, ey-oy
			ox, oy = trm.apply(x0+(x1-x0)/2, 0)
		} else {
			ex, ey := trm.apply(1, 0)
			dx, dy = ex-ox, ey-oy
		}
		b.dir = direction(dx, dy)
		// The size is the glyph's height as drawn: the length of the text
		// space's unit upward vector.
		px, py := trm.apply(0, 0)
		qx, qy := trm.apply(0, 1)
		b.size = math.Hypot(qx-px, qy-py)
		_, b.base = toReading(b.dir, ox, oy)
	}
	// A glyph standing for several characters is shared out among them
	// along the writing direction.
	k := float64(len(runes))
	for i, r := range runes {
		var box Rect
		if vertical {
			h := (y1 - y0) / k
			box = trm.box(x0, y1-h*float64(i+1), x1, y1-h*float64(i))
		} else {
			w := (x1 - x0) / k
			box = trm.box(x0+w*float64(i), y0, x0+w*float64(i+1), y1)
		}
		b.chars = append(b.chars, char{r: r, box: box})
	}
}

// invisible reports whether r is a format character that draws nothing
// and separates nothing: zero-width spaces and joiners, the word joiner,
// the byte order mark.
func invisible(r rune) bool {
	return (r >= 0x200b && r <= 0x200f) || r == 0x2060 || r == 0xfeff
}

// ligatures spells out U+FB00…U+FB06.
var ligatures = [...]string{"ff", "fi", "fl", "ffi", "ffl", "ſt", "st"}

// flush turns the collected characters into a span.
func (in *interp) flush(st *runState) {
	b := &st.cur
	if len(b.chars) == 0 {
		return
	}
	chars := normalize(b.chars)
	sp := Span{Box: emptyRect, FontSize: b.size, chars: chars, dir: b.dir, base: b.base}
	text := make([]byte, 0, len(chars)*2)
	for _, c := range chars {
		text = utf8.AppendRune(text, c.r)
		sp.Box = unionBox(sp.Box, c.box)
	}
	sp.Text = string(text)
	if !sp.Box.isEmpty() {
		in.spans = append(in.spans, sp)
	}
	st.cur = spanBuilder{chars: b.chars[:0:0]}
}

// direction quantises a writing direction to 0 (left to right), 1
// (upwards), 2 (right to left, upside down) or 3 (downwards).
func direction(dx, dy float64) uint8 {
	if math.Abs(dx) >= math.Abs(dy) {
		if dx >= 0 {
			return 0
		}
		return 2
	}
	if dy > 0 {
		return 1
	}
	return 3
}

// toReading maps a point of user space to the reading frame of direction
// dir: the frame, rotated by a multiple of 90°, in which that text runs
// left to right with y upwards.
func toReading(dir uint8, x, y float64) (float64, float64) {
	switch dir {
	case 1:
		return y, -x
	case 2:
		return -x, -y
	case 3:
		return -y, x
	}
	return x, y
}

// readingBox maps a rectangle to the reading frame of direction dir.
func readingBox(dir uint8, r Rect) Rect {
	x0, y0 := toReading(dir, r.LLX, r.LLY)
	x1, y1 := toReading(dir, r.URX, r.URY)
	return Rect{min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)}
}
