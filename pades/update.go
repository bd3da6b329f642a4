package pades

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// byteRangeWidth is the width each /ByteRange number is padded to in the
// placeholder, so the real numbers can be written in place later. Twelve
// digits reach 1 TB.
const byteRangeWidth = 12

// sigUpdate is a planned incremental update that adds one signature field.
type sigUpdate struct {
	// tail is everything appended after the input: new and changed objects,
	// the cross-reference section, the trailer.
	tail []byte
	// contentsAt and contentsEnd delimit the /Contents hex string in tail,
	// from its '<' to just after its '>'.
	contentsAt, contentsEnd int
	// byteRangeAt is where the four padded numbers of /ByteRange start in
	// tail.
	byteRangeAt int
	fieldName   string
}

// sigDictSpec is what goes into the signature dictionary.
type sigDictSpec struct {
	docTimeStamp bool // /Type /DocTimeStamp, /SubFilter /ETSI.RFC3161 (B-LTA)
	info         Info
	when         time.Time
	certify      DocMDP
	contentsSize int // bytes of DER the placeholder can hold
}

// objWriter accumulates objects of an update and their offsets.
type objWriter struct {
	base    int64 // offset in the output file where buf starts
	buf     bytes.Buffer
	offsets map[uint32]int64
	gens    map[uint32]uint16
}

// written reports whether ref is already in this update. The page's
// /Annots and the AcroForm's /Fields can be one and the same array; both
// writes would add the same widget to it, so the second is skipped.
func (w *objWriter) written(ref pdf.Ref) bool {
	_, ok := w.offsets[ref.Num]
	return ok
}

func (w *objWriter) begin(ref pdf.Ref) {
	w.offsets[ref.Num] = w.base + int64(w.buf.Len())
	w.gens[ref.Num] = ref.Gen
	fmt.Fprintf(&w.buf, "%d %d obj\n", ref.Num, ref.Gen)
}

func (w *objWriter) object(ref pdf.Ref, o pdf.Object) {
	if w.written(ref) {
		return
	}
	w.begin(ref)
	w.buf.Write(pdf.AppendObject(nil, o))
	w.buf.WriteString("\nendobj\n")
}

// stream writes a stream object; data is already encoded as dict's
// /Filter says (or unfiltered).
func (w *objWriter) stream(ref pdf.Ref, dict pdf.Dict, data []byte) {
	d := pdf.Dict{}
	for k, v := range dict {
		d[k] = v
	}
	d["Length"] = pdf.Int(len(data))
	w.begin(ref)
	w.buf.Write(pdf.AppendObject(nil, d))
	w.buf.WriteString("\nstream\n")
	w.buf.Write(data)
	w.buf.WriteString("\nendstream\nendobj\n")
}

// planSignature builds the update that adds a signature field with a
// placeholder. It reads only the objects it changes.
func planSignature(d *document, f Field, spec sigDictSpec) (*sigUpdate, error) {
	// PDF 2.0 (ISO 32000-2 12.8.2.2.2) and PAdES exempt document
	// timestamps (and DSS updates) from DocMDP P=1: they add proof, not
	// content, and are what keeps a certified document verifiable.
	if d.docMDP == int(NoChanges) && !spec.docTimeStamp {
		return nil, &Error{Code: CodeLocked, Reason: "the document is certified with no changes allowed (DocMDP P=1); another signature would invalidate it"}
	}
	if spec.certify != 0 {
		if spec.certify < NoChanges || spec.certify > AnnotateFillSign {
			return nil, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("certification level %d: use 1, 2 or 3", spec.certify)}
		}
		if d.sigCount > 0 || d.docMDP != 0 {
			return nil, &Error{Code: CodeBadRequest, Reason: "only the first signature of a document may certify it; this document is already signed"}
		}
	}
	name, err := d.uniqueFieldName(f.Name)
	if err != nil {
		return nil, err
	}
	pageNum := f.Page
	if pageNum == 0 {
		pageNum = 1
	}
	pg, err := d.page(pageNum)
	if err != nil {
		return nil, err
	}

	next := d.r.Size()
	alloc := func() pdf.Ref { r := pdf.Ref{Num: next}; next++; return r }
	sigRef, widgetRef, apRef := alloc(), alloc(), alloc()

	w := &objWriter{base: d.size, offsets: map[uint32]int64{}, gens: map[uint32]uint16{}}
	if !d.r.EndsWithEOL() {
		// Outside the original bytes, so the input stays an exact prefix.
		w.buf.WriteByte('\n')
	}
	u := &sigUpdate{fieldName: name}

	// The field, merged with its widget. /F 132 = Print + Locked.
	rect, err := normalRect(f.Rect)
	if err != nil {
		return nil, err
	}
	matrix := [6]float64{1, 0, 0, 1, 0, 0}
	bboxW, bboxH := rect.URX-rect.LLX, rect.URY-rect.LLY
	if !f.RectMM.IsZero() || f.Anchor != nil {
		if rect, matrix, bboxW, bboxH, err = d.place(pg, pageNum, f.RectMM, f.Anchor); err != nil {
			return nil, err
		}
	}
	widget := pdf.Dict{
		"Type":    pdf.Name("Annot"),
		"Subtype": pdf.Name("Widget"),
		"FT":      pdf.Name("Sig"),
		"T":       textString(name),
		"V":       sigRef,
		"Rect":    pdf.Array{pdf.Real(rect.LLX), pdf.Real(rect.LLY), pdf.Real(rect.URX), pdf.Real(rect.URY)},
		"F":       pdf.Int(132),
		"P":       pg.ref,
		"AP":      pdf.Dict{"N": apRef},
	}
	w.object(widgetRef, widget)
	// Invisible signatures also get an (empty) appearance: some validators
	// want every widget to have one.
	var res pdf.Dict
	var content []byte
	if f.Appearance != nil {
		if rect.IsZero() {
			return nil, &Error{Code: CodeBadRequest, Reason: "a visible appearance needs a rectangle (Rect or RectMM)"}
		}
		ap, err := buildAppearance(f.Appearance, bboxW, bboxH, matrix, alloc)
		if err != nil {
			return nil, err
		}
		for _, o := range ap.objects {
			if o.Stream {
				w.stream(o.Ref, o.Dict, o.Data)
			} else {
				w.object(o.Ref, o.Dict)
			}
		}
		res = ap.res
		content = ap.content
	}
	w.stream(apRef, formDict(bboxW, bboxH, matrix, res), content)

	// Annotations to add, per page, in order: the widget, then stamps.
	type pageAnnots struct {
		pg  *page
		add pdf.Array
	}
	pages := []*pageAnnots{{pg: pg, add: pdf.Array{widgetRef}}}
	onPage := func(n int) (*pageAnnots, error) {
		p, err := d.page(n)
		if err != nil {
			return nil, err
		}
		for _, pa := range pages {
			if pa.pg.ref == p.ref {
				return pa, nil
			}
		}
		pa := &pageAnnots{pg: p}
		pages = append(pages, pa)
		return pa, nil
	}
	for i, st := range f.Stamps {
		spg, sNum := pg, pageNum
		pa := pages[0]
		if st.Page != 0 && st.Page != pageNum {
			if pa, err = onPage(st.Page); err != nil {
				return nil, err
			}
			spg, sNum = pa.pg, st.Page
		}
		srect, smatrix, sw, sh, err := d.place(spg, sNum, st.RectMM, st.Anchor)
		if err != nil {
			return nil, err
		}
		if srect.IsZero() {
			return nil, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("stamp %d has no position", i+1)}
		}
		ap, err := buildAppearance(&st.Appearance, sw, sh, smatrix, alloc)
		if err != nil {
			return nil, err
		}
		for _, o := range ap.objects {
			if o.Stream {
				w.stream(o.Ref, o.Dict, o.Data)
			} else {
				w.object(o.Ref, o.Dict)
			}
		}
		stampRef, formRef := alloc(), alloc()
		// /F 196 = Print + ReadOnly + Locked: shown, printed, not editable.
		w.object(stampRef, pdf.Dict{
			"Type":    pdf.Name("Annot"),
			"Subtype": pdf.Name("Stamp"),
			"Rect":    pdf.Array{pdf.Real(srect.LLX), pdf.Real(srect.LLY), pdf.Real(srect.URX), pdf.Real(srect.URY)},
			"F":       pdf.Int(196),
			"P":       spg.ref,
			"Name":    pdf.Name("kyso"),
			"AP":      pdf.Dict{"N": formRef},
		})
		w.stream(formRef, formDict(sw, sh, smatrix, ap.res), ap.content)
		pa.add = append(pa.add, stampRef)
	}

	// Each page's /Annots: an indirect array is rewritten under its own
	// number and the page stays as it is; otherwise the page is rewritten.
	for _, pa := range pages {
		switch a := pa.pg.dict["Annots"].(type) {
		case pdf.Ref:
			arr, err := d.array(a)
			if err != nil {
				return nil, badDocument(err, "cannot read the page's /Annots")
			}
			w.object(a, append(append(pdf.Array{}, arr...), pa.add...))
		default:
			arr, _ := a.(pdf.Array)
			pd := copyDict(pa.pg.dict)
			pd["Annots"] = append(append(pdf.Array{}, arr...), pa.add...)
			w.object(pa.pg.ref, pd)
		}
	}

	// The AcroForm: extended where it lives, created when absent.
	catalog := copyDict(d.catalog)
	catalogChanged := false
	af, afRef, err := d.acroForm()
	if err != nil {
		return nil, err
	}
	newAF := copyDict(af)
	if newAF == nil {
		newAF = pdf.Dict{}
	}
	newAF["SigFlags"] = pdf.Int(3)
	switch fl := newAF["Fields"].(type) {
	case pdf.Ref:
		arr, err := d.array(fl)
		if err != nil {
			return nil, badDocument(err, "cannot read /AcroForm /Fields")
		}
		w.object(fl, append(append(pdf.Array{}, arr...), widgetRef))
	default:
		arr, _ := fl.(pdf.Array)
		newAF["Fields"] = append(append(pdf.Array{}, arr...), widgetRef)
	}
	if afRef != nil {
		w.object(*afRef, newAF)
	} else {
		ref := alloc()
		w.object(ref, newAF)
		catalog["AcroForm"] = ref
		catalogChanged = true
	}
	if spec.certify != 0 {
		perms, _ := d.dict(catalog["Perms"])
		np := copyDict(perms)
		if np == nil {
			np = pdf.Dict{}
		}
		np["DocMDP"] = sigRef
		catalog["Perms"] = np
		catalogChanged = true
	}
	if catalogChanged {
		w.object(d.rootRef, catalog)
	}

	// The signature dictionary, written by hand so the placeholders'
	// positions are known, and last: nothing after it but the
	// cross-reference section, so hash mode finds it from the end of the
	// file whatever the appearance holds (a field name cannot imitate it,
	// a large image cannot push it out of reach).
	w.begin(sigRef)
	b := &w.buf
	if spec.docTimeStamp {
		b.WriteString("<</Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161")
	} else {
		b.WriteString("<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached")
		fmt.Fprintf(b, " /M %s", pdf.AppendObject(nil, pdf.String{Bytes: []byte(pdfDate(spec.when))}))
		for _, kv := range []struct {
			k pdf.Name
			v string
		}{{"Name", spec.info.Name}, {"Reason", spec.info.Reason}, {"Location", spec.info.Location}, {"ContactInfo", spec.info.ContactInfo}} {
			if kv.v != "" {
				b.Write(pdf.AppendObject([]byte(" "), kv.k))
				b.WriteByte(' ')
				b.Write(pdf.AppendObject(nil, textString(kv.v)))
			}
		}
		if spec.certify != 0 {
			ref := pdf.Dict{
				"Type":            pdf.Name("SigRef"),
				"TransformMethod": pdf.Name("DocMDP"),
				"TransformParams": pdf.Dict{"Type": pdf.Name("TransformParams"), "P": pdf.Int(spec.certify), "V": pdf.Name("1.2")},
			}
			b.WriteString(" /Reference ")
			b.Write(pdf.AppendObject(nil, pdf.Array{ref}))
		}
		b.WriteString(" /Prop_Build <</App <</Name /kyso>>>>")
	}
	b.WriteString(" /ByteRange [0 ")
	u.byteRangeAt = b.Len()
	for i := 0; i < 3; i++ {
		b.WriteString(fmt.Sprintf("%-*s", byteRangeWidth, "0"))
		if i < 2 {
			b.WriteByte(' ')
		}
	}
	b.WriteString("] /Contents ")
	u.contentsAt = b.Len()
	b.WriteByte('<')
	b.Write(bytes.Repeat([]byte{'0'}, 2*spec.contentsSize))
	b.WriteByte('>')
	u.contentsEnd = b.Len()
	b.WriteString(">>\nendobj\n")

	if err := writeXref(w, d, &next); err != nil {
		return nil, err
	}
	u.tail = w.buf.Bytes()
	return u, nil
}

// writeXref appends the cross-reference section and trailer, in the same
// flavour as the input's newest section.
func writeXref(w *objWriter, d *document, next *uint32) error {
	// /Size covers every number written, including objects rewritten
	// under numbers above the old /Size (a dangling reference the input
	// pointed at).
	for n := range w.offsets {
		if n+1 > *next {
			*next = n + 1
		}
	}
	id, _ := d.r.Resolve(d.trailer["ID"]) // an indirect /ID keeps its first element too
	trailer := pdf.Dict{
		"Root": d.rootRef,
		"Prev": pdf.Int(d.r.StartXref()),
		"ID":   updatedID(id),
	}
	if info, ok := d.trailer["Info"]; ok {
		trailer["Info"] = info
	}
	if d.r.XrefStream() {
		ref := pdf.Ref{Num: *next}
		*next++
		offset := w.base + int64(w.buf.Len())
		w.offsets[ref.Num] = offset
		w.gens[ref.Num] = 0
		nums := sortedNums(w.offsets)
		index, data := xrefStreamData(nums, w.offsets, w.gens)
		trailer["Type"] = pdf.Name("XRef")
		trailer["Size"] = pdf.Int(maxNum(maxNum(*next, ref.Num+1), d.r.Size()))
		trailer["W"] = pdf.Array{pdf.Int(1), pdf.Int(8), pdf.Int(2)}
		trailer["Index"] = index
		w.stream(ref, trailer, data)
		fmt.Fprintf(&w.buf, "startxref\n%d\n%%%%EOF\n", offset)
		return nil
	}
	offset := w.base + int64(w.buf.Len())
	w.buf.WriteString("xref\n")
	nums := sortedNums(w.offsets)
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		fmt.Fprintf(&w.buf, "%d %d\n", nums[i], j-i+1)
		for k := i; k <= j; k++ {
			fmt.Fprintf(&w.buf, "%010d %05d n\r\n", w.offsets[nums[k]], w.gens[nums[k]])
		}
		i = j + 1
	}
	trailer["Size"] = pdf.Int(maxNum(*next, d.r.Size()))
	w.buf.WriteString("trailer\n")
	w.buf.Write(pdf.AppendObject(nil, trailer))
	fmt.Fprintf(&w.buf, "\nstartxref\n%d\n%%%%EOF\n", offset)
	return nil
}

func maxNum(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

func sortedNums(m map[uint32]int64) []uint32 {
	nums := make([]uint32, 0, len(m))
	for n := range m {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	return nums
}

// xrefStreamData encodes type-1 entries with /W [1 8 2].
func xrefStreamData(nums []uint32, offsets map[uint32]int64, gens map[uint32]uint16) (pdf.Array, []byte) {
	var index pdf.Array
	var data []byte
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		index = append(index, pdf.Int(nums[i]), pdf.Int(j-i+1))
		for k := i; k <= j; k++ {
			off := uint64(offsets[nums[k]])
			g := gens[nums[k]]
			data = append(data, 1,
				byte(off>>56), byte(off>>48), byte(off>>40), byte(off>>32), byte(off>>24), byte(off>>16), byte(off>>8), byte(off),
				byte(g>>8), byte(g))
		}
		i = j + 1
	}
	return index, data
}

// updatedID keeps the first element of the file identifier (it names the
// document) and renews the second (it names this version). A file without
// an identifier gets one.
func updatedID(old pdf.Object) pdf.Array {
	fresh := make([]byte, 16)
	if _, err := rand.Read(fresh); err != nil {
		sum := sha256.Sum256([]byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
		copy(fresh, sum[:])
	}
	if arr, ok := old.(pdf.Array); ok && len(arr) == 2 {
		if first, ok := arr[0].(pdf.String); ok {
			return pdf.Array{pdf.String{Bytes: first.Bytes, Hex: true}, pdf.String{Bytes: fresh, Hex: true}}
		}
	}
	return pdf.Array{pdf.String{Bytes: fresh, Hex: true}, pdf.String{Bytes: fresh, Hex: true}}
}

// formDict is an appearance form XObject's dictionary.
func formDict(w, h float64, matrix [6]float64, res pdf.Dict) pdf.Dict {
	form := pdf.Dict{
		"Type":    pdf.Name("XObject"),
		"Subtype": pdf.Name("Form"),
		"BBox":    pdf.Array{pdf.Int(0), pdf.Int(0), pdf.Real(w), pdf.Real(h)},
	}
	if res != nil {
		form["Resources"] = res
	}
	if matrix != [6]float64{1, 0, 0, 1, 0, 0} {
		m := pdf.Array{}
		for _, v := range matrix {
			m = append(m, pdf.Real(v))
		}
		form["Matrix"] = m
	}
	return form
}

// normalRect orders a rectangle's corners and refuses values PDF cannot
// carry.
func normalRect(r Rect) (Rect, error) {
	for _, v := range []float64{r.LLX, r.LLY, r.URX, r.URY} {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
			return r, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("rectangle %+v is not a usable position", r)}
		}
	}
	if r.LLX > r.URX {
		r.LLX, r.URX = r.URX, r.LLX
	}
	if r.LLY > r.URY {
		r.LLY, r.URY = r.URY, r.LLY
	}
	return r, nil
}

func copyDict(d pdf.Dict) pdf.Dict {
	if d == nil {
		return nil
	}
	c := make(pdf.Dict, len(d)+2)
	for k, v := range d {
		c[k] = v
	}
	return c
}

// setByteRange writes the final /ByteRange numbers into the placeholder.
func (u *sigUpdate) setByteRange(inputSize int64) error {
	a := inputSize + int64(u.contentsAt)
	b := inputSize + int64(u.contentsEnd)
	c := inputSize + int64(len(u.tail)) - b
	var buf bytes.Buffer
	for i, v := range []int64{a, b, c} {
		if len(strconv.FormatInt(v, 10)) > byteRangeWidth {
			return &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("the signed file would be larger than /ByteRange can describe (%d)", v)}
		}
		fmt.Fprintf(&buf, "%-*d", byteRangeWidth, v)
		if i < 2 {
			buf.WriteByte(' ')
		}
	}
	copy(u.tail[u.byteRangeAt:], buf.Bytes())
	return nil
}

// byteRange returns the final [0 a b c].
func (u *sigUpdate) byteRange(inputSize int64) [4]int64 {
	a := inputSize + int64(u.contentsAt)
	b := inputSize + int64(u.contentsEnd)
	return [4]int64{0, a, b, inputSize + int64(len(u.tail)) - b}
}
