package appearance

import (
	"math"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// MM converts millimetres to PDF points (1/72 inch).
func MM(v float64) float64 { return v * 72 / 25.4 }

// ToMM converts PDF points to millimetres.
func ToMM(pt float64) float64 { return pt * 25.4 / 72 }

// Rect is a rectangle in PDF coordinates, lower-left and upper-right
// corners, as /Rect and /BBox write it.
type Rect struct{ LLX, LLY, URX, URY float64 }

// Width returns URX − LLX.
func (r Rect) Width() float64 { return r.URX - r.LLX }

// Height returns URY − LLY.
func (r Rect) Height() float64 { return r.URY - r.LLY }

// Array returns r as a PDF rectangle array of four reals.
func (r Rect) Array() pdf.Array {
	return pdf.Array{number(r.LLX), number(r.LLY), number(r.URX), number(r.URY)}
}

// normalized returns r with LL below and left of UR.
func (r Rect) normalized() Rect {
	return Rect{math.Min(r.LLX, r.URX), math.Min(r.LLY, r.URY), math.Max(r.LLX, r.URX), math.Max(r.LLY, r.URY)}
}

// PageGeometry describes how a page is displayed: its boxes in default
// user space and its /Rotate. Lengths are in default user space units,
// taken to be points (1/72 inch): a page with a /UserUnit other than 1 —
// rare outside posters — would need its sizes divided by that unit.
type PageGeometry struct {
	// MediaBox and CropBox are [llx lly urx ury] as the page dictionary
	// (or an ancestor) gives them; corners in any order. A zero CropBox
	// means the page has none, and the MediaBox is shown.
	MediaBox, CropBox [4]float64
	// Rotate is the number of degrees the page is turned clockwise when
	// displayed: 0, 90, 180 or 270. The methods accept any multiple of 90,
	// negative ones included, and read anything else as 0, as viewers do;
	// NewPageGeometry normalises and checks it.
	Rotate int
}

// NewPageGeometry checks the page attributes and returns them normalised:
// boxes with their corners in order, the CropBox clipped to the MediaBox
// (zero when it was absent), Rotate reduced to 0, 90, 180 or 270.
func NewPageGeometry(mediaBox, cropBox [4]float64, rotate int) (PageGeometry, error) {
	const op = "page geometry"
	for _, v := range append(mediaBox[:], cropBox[:]...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return PageGeometry{}, errorf(ErrInvalid, op, nil, "box coordinate %v is not a finite number", v)
		}
	}
	m := boxRect(mediaBox)
	if m.Width() <= 0 || m.Height() <= 0 {
		return PageGeometry{}, errorf(ErrInvalid, op, nil, "MediaBox %v has no area", mediaBox)
	}
	if rotate%90 != 0 {
		return PageGeometry{}, errorf(ErrInvalid, op, nil, "/Rotate %d is not a multiple of 90", rotate)
	}
	g := PageGeometry{MediaBox: [4]float64{m.LLX, m.LLY, m.URX, m.URY}, Rotate: normalizeRotate(rotate)}
	if cropBox != [4]float64{} {
		g.CropBox = cropBox
		v := g.visible()
		g.CropBox = [4]float64{v.LLX, v.LLY, v.URX, v.URY}
	}
	return g, nil
}

// BoxFromArray reads a PDF rectangle (four numbers) such as a /MediaBox
// value, already resolved.
func BoxFromArray(a pdf.Array) ([4]float64, error) {
	var box [4]float64
	if len(a) != 4 {
		return box, errorf(ErrInvalid, "page geometry", nil, "rectangle has %d elements, not 4", len(a))
	}
	for i, o := range a {
		v, ok := pdf.Number(o)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			return box, errorf(ErrInvalid, "page geometry", nil, "rectangle element %d is not a number", i)
		}
		box[i] = v
	}
	return box, nil
}

func boxRect(b [4]float64) Rect { return Rect{b[0], b[1], b[2], b[3]}.normalized() }

func normalizeRotate(r int) int {
	if r%90 != 0 {
		return 0
	}
	return (r%360 + 360) % 360
}

// visible returns the part of user space the viewer shows: the CropBox
// clipped to the MediaBox, or the MediaBox when there is no CropBox or
// the two do not overlap.
func (g PageGeometry) visible() Rect {
	m := boxRect(g.MediaBox)
	if g.CropBox == [4]float64{} {
		return m
	}
	c := boxRect(g.CropBox)
	v := Rect{math.Max(c.LLX, m.LLX), math.Max(c.LLY, m.LLY), math.Min(c.URX, m.URX), math.Min(c.URY, m.URY)}
	if v.Width() <= 0 || v.Height() <= 0 {
		return m
	}
	return v
}

// DisplaySize returns the width and height in points of the page as
// displayed: the visible box, turned by /Rotate.
func (g PageGeometry) DisplaySize() (w, h float64) {
	v := g.visible()
	if r := normalizeRotate(g.Rotate); r == 90 || r == 270 {
		return v.Height(), v.Width()
	}
	return v.Width(), v.Height()
}

// userPoint maps a displayed point (points from the top-left corner of
// the displayed page, y downwards) to default user space. Turning the page
// clockwise by 90° makes user +y point right and user +x point down, and
// so on for the other angles.
func (g PageGeometry) userPoint(x, y float64) (ux, uy float64) {
	v := g.visible()
	switch normalizeRotate(g.Rotate) {
	case 90:
		return v.LLX + y, v.LLY + x
	case 180:
		return v.URX - x, v.LLY + y
	case 270:
		return v.URX - y, v.URY - x
	}
	return v.LLX + x, v.URY - y
}

// DisplayPt is the inverse of the placement: it maps a point of default
// user space to points from the top-left corner of the displayed page
// (x to the right, y downwards). Use it to place a signature relative to
// an anchor found in the page content.
func (g PageGeometry) DisplayPt(ux, uy float64) (x, y float64) {
	v := g.visible()
	switch normalizeRotate(g.Rotate) {
	case 90:
		return uy - v.LLY, ux - v.LLX
	case 180:
		return v.URX - ux, uy - v.LLY
	case 270:
		return v.URY - uy, v.URX - ux
	}
	return ux - v.LLX, v.URY - uy
}

// DisplayMM is DisplayPt in millimetres.
func (g PageGeometry) DisplayMM(ux, uy float64) (xMM, yMM float64) {
	x, y := g.DisplayPt(ux, uy)
	return ToMM(x), ToMM(y)
}

// DisplayRectMM maps a rectangle of default user space (an anchor's box,
// an existing widget's /Rect) to the displayed page: the top-left corner
// in millimetres from the displayed top-left corner, and the width and
// height as displayed. It is the inverse of PlaceMM's rect.
func (g PageGeometry) DisplayRectMM(r Rect) (xMM, yMM, wMM, hMM float64) {
	x0, y0 := g.DisplayPt(r.LLX, r.LLY)
	x1, y1 := g.DisplayPt(r.URX, r.URY)
	return ToMM(math.Min(x0, x1)), ToMM(math.Min(y0, y1)), ToMM(math.Abs(x1 - x0)), ToMM(math.Abs(y1 - y0))
}

// PlaceMM converts a rectangle given as the person sees the page — x, y
// of its top-left corner in mm from the top-left corner of the visible
// page (the CropBox, after /Rotate), width and height in mm — to the
// widget rectangle in default user space (what /Rect needs), plus the
// /Matrix the appearance form needs so its content reads upright on a
// rotated page. The form's /BBox is then [0 0 bboxW bboxH]: the box as
// displayed, in points, so the appearance is drawn as if the page were not
// rotated. Negative sizes are taken as their magnitude.
//
// The matrix includes the translation that maps the BBox exactly onto
// [0 0 rectW rectH], so viewers that apply the standard's BBox-to-Rect
// fitting and those that only translate to the /Rect corner agree, and so
// does drawing the form with "1 0 0 1 rect.LLX rect.LLY cm" in a content
// stream.
func (g PageGeometry) PlaceMM(xMM, yMM, wMM, hMM float64) (rect Rect, matrix [6]float64, bboxW, bboxH float64) {
	return g.PlacePt(MM(xMM), MM(yMM), MM(wMM), MM(hMM))
}

// PlacePt is PlaceMM with every length in points.
func (g PageGeometry) PlacePt(x, y, w, h float64) (rect Rect, matrix [6]float64, bboxW, bboxH float64) {
	w, h = math.Abs(w), math.Abs(h)
	x0, y0 := g.userPoint(x, y)
	x1, y1 := g.userPoint(x+w, y+h)
	rect = Rect{x0, y0, x1, y1}.normalized()
	// The columns of the matrix are the user-space directions of the
	// form's +x (displayed right) and +y (displayed up).
	switch normalizeRotate(g.Rotate) {
	case 90:
		matrix = [6]float64{0, 1, -1, 0, h, 0}
	case 180:
		matrix = [6]float64{-1, 0, 0, -1, w, h}
	case 270:
		matrix = [6]float64{0, -1, 1, 0, 0, w}
	default:
		matrix = [6]float64{1, 0, 0, 1, 0, 0}
	}
	return rect, matrix, w, h
}

// FitSize returns the largest width and height, in the units of maxW and
// maxH, that fit in maxW × maxH and keep the image's aspect ratio as
// printed: when the file gives different horizontal and vertical
// resolutions, the ratio of the physical sizes. An image without pixels
// or a box without area gives 0, 0.
func FitSize(img *Image, maxW, maxH float64) (w, h float64) {
	if img == nil || img.Width <= 0 || img.Height <= 0 || !(maxW > 0) || !(maxH > 0) {
		return 0, 0
	}
	iw, ih := float64(img.Width), float64(img.Height)
	if img.DPIX > 0 && img.DPIY > 0 {
		iw, ih = iw/img.DPIX, ih/img.DPIY
	}
	s := math.Min(maxW/iw, maxH/ih)
	return iw * s, ih * s
}

// PhysicalSize returns the size in points at which img prints at its real
// size. When diameterMM > 0 — a seal declared N mm across — the larger
// side of the image measures that many millimetres (a seal image is
// cropped to the seal) and the other side follows the aspect ratio.
// Otherwise the image's resolution decides. An error of kind
// ErrNoPhysicalSize says that neither is known, ErrInvalid that
// diameterMM is negative or not a number.
func PhysicalSize(img *Image, diameterMM float64) (w, h float64, err error) {
	const op = "physical size"
	if img == nil || img.Width <= 0 || img.Height <= 0 {
		return 0, 0, errorf(ErrInvalid, op, nil, "image has no pixels")
	}
	if math.IsNaN(diameterMM) || math.IsInf(diameterMM, 0) || diameterMM < 0 {
		return 0, 0, errorf(ErrInvalid, op, nil, "declared size %v mm is not a positive number", diameterMM)
	}
	if diameterMM > 0 {
		d := MM(diameterMM)
		w, h = FitSize(img, d, d)
		return w, h, nil
	}
	if img.DPIX > 0 && img.DPIY > 0 {
		return float64(img.Width) / img.DPIX * 72, float64(img.Height) / img.DPIY * 72, nil
	}
	return 0, 0, errorf(ErrNoPhysicalSize, op, nil, "the %d×%d image declares no resolution and no size was given", img.Width, img.Height)
}
