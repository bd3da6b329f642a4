package pdftext

import "math"

// Rect is an axis-aligned rectangle in the default user space of a page:
// the coordinates a PDF page's content is drawn in before /Rotate turns it
// for display, with y growing upwards. LLX <= URX and LLY <= URY.
type Rect struct{ LLX, LLY, URX, URY float64 }

// emptyRect is the identity of unionBox: it contains nothing.
var emptyRect = Rect{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}

// isEmpty reports whether r is emptyRect or otherwise contains nothing.
func (r Rect) isEmpty() bool { return !(r.LLX <= r.URX && r.LLY <= r.URY) }

// unionBox returns the smallest rectangle holding a and b; an empty
// argument is ignored.
func unionBox(a, b Rect) Rect {
	switch {
	case a.isEmpty():
		return b
	case b.isEmpty():
		return a
	}
	return Rect{min(a.LLX, b.LLX), min(a.LLY, b.LLY), max(a.URX, b.URX), max(a.URY, b.URY)}
}

// matrix is a PDF transformation matrix [a b c d e f], mapping (x, y) to
// (a·x + c·y + e, b·x + d·y + f).
type matrix [6]float64

// identity is the identity matrix.
var identity = matrix{1, 0, 0, 1, 0, 0}

// mul returns m × n: the transformation that applies m, then n. In PDF
// terms, "m n mul" is how a cm operand m combines with the current
// transformation matrix n.
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2],
		m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2],
		m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4],
		m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

// apply transforms the point (x, y).
func (m matrix) apply(x, y float64) (float64, float64) {
	return m[0]*x + m[2]*y + m[4], m[1]*x + m[3]*y + m[5]
}

// finite reports whether every entry is a finite number: a hostile matrix
// with infinities or NaNs would poison every box computed from it.
func (m matrix) finite() bool {
	for _, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e15 {
			return false
		}
	}
	return true
}

// box returns the bounding box of the rectangle [x0, x1] × [y0, y1]
// transformed by m.
func (m matrix) box(x0, y0, x1, y1 float64) Rect {
	r := emptyRect
	for _, p := range [4][2]float64{{x0, y0}, {x1, y0}, {x0, y1}, {x1, y1}} {
		x, y := m.apply(p[0], p[1])
		r = unionBox(r, Rect{x, y, x, y})
	}
	return r
}
