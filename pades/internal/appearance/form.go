package appearance

import (
	"math"
	"strconv"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Form is an appearance stream (a form XObject) under construction.
type Form struct {
	// BBox is the form's bounding box in form space, normally
	// [0 0 bboxW bboxH] from PlaceMM.
	BBox Rect
	// Matrix maps form space to the annotation's space, normally the
	// matrix from PlaceMM. The zero matrix, which would flatten the form
	// to nothing, is written as the identity.
	Matrix [6]float64
	// Resources is the form's resource dictionary; AddImage fills its
	// /XObject entry.
	Resources pdf.Dict
	// Content is the content stream, unencoded.
	Content []byte
}

// AddImage records in the form's resources that name refers to the image
// XObject ref, so that DrawImage(name, …) can paint it.
func (f *Form) AddImage(name string, ref pdf.Ref) {
	if f.Resources == nil {
		f.Resources = pdf.Dict{}
	}
	xo, ok := f.Resources.GetDict("XObject")
	if !ok {
		xo = pdf.Dict{}
		f.Resources["XObject"] = xo
	}
	xo[pdf.Name(name)] = ref
}

// DrawImage appends the operators that paint the image XObject registered
// as name into the rectangle of form space whose lower-left corner is
// (x, y) and whose size is w × h: "q w 0 0 h x y cm /name Do Q". An image
// XObject occupies the unit square, so the cm operator scales it to the
// rectangle; the q/Q pair keeps the scaling from leaking into what is
// drawn next.
func (f *Form) DrawImage(name string, x, y, w, h float64) {
	c := append(f.Content, "q "...)
	for _, v := range []float64{w, 0, 0, h, x, y} {
		c = appendNumber(c, v)
		c = append(c, ' ')
	}
	c = append(c, "cm "...)
	c = pdf.AppendObject(c, pdf.Name(name))
	f.Content = append(c, " Do Q\n"...)
}

// Dict returns the form's stream dictionary: /Type /XObject /Subtype
// /Form /BBox /Matrix /Resources. /Length is left to the writer, which
// knows whether it compresses Content. The resource dictionary is shared,
// not copied.
func (f *Form) Dict() pdf.Dict {
	m := f.Matrix
	if m == [6]float64{} {
		m = [6]float64{1, 0, 0, 1, 0, 0}
	}
	matrix := make(pdf.Array, 0, 6)
	for _, v := range m {
		matrix = append(matrix, number(v))
	}
	res := f.Resources
	if res == nil {
		res = pdf.Dict{}
	}
	return pdf.Dict{
		"Type":      pdf.Name("XObject"),
		"Subtype":   pdf.Name("Form"),
		"FormType":  pdf.Int(1),
		"BBox":      f.BBox.Array(),
		"Matrix":    matrix,
		"Resources": res,
	}
}

// precision is the number of decimals kept in written coordinates:
// 1/10000 pt is 35 nm, far below anything a printer resolves, and short
// numbers keep old readers that choke on long fractions happy.
const precision = 1e4

// round drops the digits beyond precision (and turns −0 into 0).
func round(v float64) float64 {
	r := math.Round(v*precision) / precision
	if r == 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		// NaN and infinities have no PDF syntax; 0 keeps the output
		// valid, and callers never pass them for a sane placement.
		return 0
	}
	return r
}

// number returns v as a PDF number: an Int when it is integral after
// rounding, a Real otherwise.
func number(v float64) pdf.Object {
	r := round(v)
	if r == math.Trunc(r) && math.Abs(r) < 1<<53 {
		return pdf.Int(int64(r))
	}
	return pdf.Real(r)
}

// appendNumber writes v for a content stream, in plain decimal notation.
func appendNumber(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, round(v), 'f', -1, 64)
}
