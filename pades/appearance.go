package pades

import (
	"bytes"
	"fmt"

	"github.com/kyso-vn/kyso/pades/internal/appearance"
	"github.com/kyso-vn/kyso/pades/internal/font"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
	"github.com/kyso-vn/kyso/pades/internal/pdftext"
)

// Appearance is what a visible signature shows. Everything is drawn in the
// box's own space: (0, 0) is the lower-left corner of the box, units are
// points. Placed with RectMM or an Anchor, the box is upright as the reader
// sees the page, even on a rotated page.
type Appearance struct {
	Images []PlacedImage
	Text   []TextLine
	// Frame draws a rectangle along the box's edges, as on a rubber stamp.
	Frame *Frame
}

// Frame is a box outline.
type Frame struct {
	Width float64    // line width in points
	Color [3]float64 // RGB 0..1
}

// PlacedImage is a PNG or JPEG drawn at X, Y (lower-left) with size W×H
// points.
type PlacedImage struct {
	Data       []byte
	X, Y, W, H float64
}

// FontStyle selects the face of the embedded Liberation Serif (metric
// compatible with Times New Roman, which Nghị định 30/2020 names).
type FontStyle int

// Font styles.
const (
	Regular FontStyle = iota
	Italic
	Bold
)

// TextLine is one line of text with its baseline starting at X, Y.
type TextLine struct {
	Text  string
	X, Y  float64
	Size  float64 // points; 0 means 10
	Style FontStyle
	// Color is RGB in 0..1; the zero value is black.
	Color [3]float64
	// Align says what X is: the left end (default), the centre or the
	// right end of the line.
	Align Align
}

// Align is a text line's horizontal alignment.
type Align int

// Alignments.
const (
	AlignLeft Align = iota
	AlignCenter
	AlignRight
)

// ImageSize returns the pixel size of a PNG or JPEG, or why it cannot be
// used in an appearance.
func ImageSize(data []byte) (w, h int, err error) {
	img, err := appearance.DecodeImage(data)
	if err != nil {
		return 0, 0, err
	}
	return img.Width, img.Height, nil
}

// RectMM is a box the way people measure a printed page: the top-left
// corner's distance from the top-left corner of the page as displayed
// (after /Rotate, within the CropBox), and the size, in millimetres.
type RectMM struct{ X, Y, W, H float64 }

// IsZero reports whether r is unset.
func (r RectMM) IsZero() bool { return r == RectMM{} }

// geometry reads the page boxes and rotation the placement math needs.
func (d *document) geometry(pg *page) (appearance.PageGeometry, error) {
	box := func(k pdf.Name) ([4]float64, bool) {
		var b [4]float64
		arr, err := d.array(pg.inherited[k])
		if err != nil || len(arr) != 4 {
			return b, false
		}
		for i, v := range arr {
			rv, err := d.r.Resolve(v)
			if err != nil {
				return b, false
			}
			f, ok := pdf.Number(rv)
			if !ok {
				return b, false
			}
			b[i] = f
		}
		// Normalise so that LL < UR whatever order the file uses.
		if b[0] > b[2] {
			b[0], b[2] = b[2], b[0]
		}
		if b[1] > b[3] {
			b[1], b[3] = b[3], b[1]
		}
		return b, true
	}
	media, ok := box("MediaBox")
	if !ok {
		// A4 portrait, what readers assume for a page without one.
		media = [4]float64{0, 0, 595.28, 841.89}
	}
	crop, ok := box("CropBox")
	if !ok {
		crop = media
	}
	rotate := int64(0)
	if r, ok := d.integer(pg.inherited["Rotate"]); ok {
		rotate = r
	}
	g, err := appearance.NewPageGeometry(media, crop, int(rotate))
	if err != nil {
		return g, badDocument(err, "page geometry")
	}
	return g, nil
}

// place turns a box in millimetres, or an anchor, into the widget
// rectangle, the form matrix and the form's size. Zero box and no anchor
// give a zero rectangle.
func (d *document) place(pg *page, pageNum int, box RectMM, a *Anchor) (Rect, [6]float64, float64, float64, error) {
	identity := [6]float64{1, 0, 0, 1, 0, 0}
	if box.IsZero() && a == nil {
		return Rect{}, identity, 0, 0, nil
	}
	g, err := d.geometry(pg)
	if err != nil {
		return Rect{}, identity, 0, 0, err
	}
	if a != nil {
		if box, err = d.anchorRectMM(pg, pageNum, g, a); err != nil {
			return Rect{}, identity, 0, 0, err
		}
	}
	r, m, w, h := g.PlaceMM(box.X, box.Y, box.W, box.H)
	return Rect(r), m, w, h, nil
}

// anchorRectMM finds the anchor text on the page and returns the box it
// places, in millimetres as displayed.
func (d *document) anchorRectMM(pg *page, pageNum int, g appearance.PageGeometry, a *Anchor) (RectMM, error) {
	if a.Text == "" || a.W <= 0 || a.H <= 0 {
		return RectMM{}, &Error{Code: CodeBadRequest, Reason: "an anchor needs a text and a box size"}
	}
	res, err := d.dict(pg.inherited["Resources"])
	if err != nil {
		return RectMM{}, badDocument(err, "cannot read the page's resources")
	}
	spans, err := pdftext.PageSpans(d.r, pg.dict, res)
	if err != nil && len(spans) == 0 {
		return RectMM{}, badDocument(err, "cannot read the text of page %d", pageNum)
	}
	found := pdftext.Find(spans, a.Text)
	if len(found) == 0 {
		return RectMM{}, &Error{Code: CodeAnchorNotFound, Reason: fmt.Sprintf("%q is not on page %d", a.Text, pageNum)}
	}
	occ := a.Occurrence
	if occ == 0 {
		occ = -1
	}
	i := occ - 1
	if occ < 0 {
		i = len(found) + occ
	}
	if i < 0 || i >= len(found) {
		return RectMM{}, &Error{Code: CodeAnchorNotFound, Reason: fmt.Sprintf("%q occurs %d times on page %d, not %d", a.Text, len(found), pageNum, a.Occurrence)}
	}
	r := found[i]
	x, y, w, _ := g.DisplayRectMM(appearance.Rect{LLX: r.LLX, LLY: r.LLY, URX: r.URX, URY: r.URY})
	out := RectMM{X: x + a.OffsetX, Y: y + a.OffsetY, W: a.W, H: a.H}
	switch {
	case a.CenterX:
		out.X = x + (w-a.W)/2 + a.OffsetX
	case a.After:
		out.X = x + w + a.OffsetX
	}
	return out, nil
}

// appearanceObjects builds the widget's normal appearance: the form
// XObject and the image and font objects it uses.
type builtAppearance struct {
	bbox    [4]float64
	matrix  [6]float64
	res     pdf.Dict
	content []byte
	objects []font.Object
}

func buildAppearance(a *Appearance, bboxW, bboxH float64, matrix [6]float64, alloc func() pdf.Ref) (*builtAppearance, error) {
	b := &builtAppearance{bbox: [4]float64{0, 0, bboxW, bboxH}, matrix: matrix, res: pdf.Dict{}}
	var content bytes.Buffer
	xobjs := pdf.Dict{}
	for i, im := range a.Images {
		img, err := appearance.DecodeImage(im.Data)
		if err != nil {
			return nil, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("appearance image %d", i+1), Err: err}
		}
		ref := alloc()
		dict := copyDict(img.Dict)
		if img.SMask != nil {
			sref := alloc()
			b.objects = append(b.objects, font.Object{Ref: sref, Dict: img.SMask.Dict, Stream: true, Data: img.SMask.Data})
			dict["SMask"] = sref
		}
		b.objects = append(b.objects, font.Object{Ref: ref, Dict: dict, Stream: true, Data: img.Data})
		name := pdf.Name(fmt.Sprintf("Im%d", i+1))
		xobjs[name] = ref
		fmt.Fprintf(&content, "q %s 0 0 %s %s %s cm /%s Do Q\n", num(im.W), num(im.H), num(im.X), num(im.Y), name)
	}
	if len(xobjs) > 0 {
		b.res["XObject"] = xobjs
	}
	if len(a.Text) > 0 {
		subsets := map[FontStyle]*font.Subset{}
		type line struct {
			TextLine
			codes []byte
		}
		faces := map[FontStyle]*font.Face{}
		var lines []line
		for _, t := range a.Text {
			sub := subsets[t.Style]
			if sub == nil {
				face, err := font.Load(font.Style(t.Style))
				if err != nil {
					return nil, fmt.Errorf("pades: load font: %w", err)
				}
				sub = face.NewSubset()
				subsets[t.Style] = sub
				faces[t.Style] = face
			}
			// Every line, not only the first of a style: a missing glyph
			// would print as an empty box on a legal document.
			if err := faces[t.Style].HasGlyphs(t.Text); err != nil {
				return nil, &Error{Code: CodeBadRequest, Reason: "the text cannot be shown with the embedded font", Err: err}
			}
			size := t.Size
			if size == 0 {
				size = 10
			}
			switch t.Align {
			case AlignCenter:
				t.X -= faces[t.Style].Width(t.Text, size) / 2
			case AlignRight:
				t.X -= faces[t.Style].Width(t.Text, size)
			}
			lines = append(lines, line{t, sub.Encode(t.Text)})
		}
		fonts := pdf.Dict{}
		// A fixed order keeps object numbers, and so the output bytes,
		// the same from run to run.
		for _, style := range []FontStyle{Regular, Italic, Bold} {
			sub := subsets[style]
			if sub == nil {
				continue
			}
			ref, objs, err := sub.Objects(alloc)
			if err != nil {
				return nil, fmt.Errorf("pades: embed font: %w", err)
			}
			b.objects = append(b.objects, objs...)
			fonts[pdf.Name(fmt.Sprintf("F%d", style+1))] = ref
		}
		b.res["Font"] = fonts
		for _, l := range lines {
			size := l.Size
			if size == 0 {
				size = 10
			}
			fmt.Fprintf(&content, "BT %s %s %s rg /F%d %s Tf %s %s Td <%x> Tj ET\n",
				num(l.Color[0]), num(l.Color[1]), num(l.Color[2]), l.Style+1, num(size), num(l.X), num(l.Y), l.codes)
		}
	}
	if f := a.Frame; f != nil {
		lw := f.Width
		if lw <= 0 {
			lw = 1
		}
		fmt.Fprintf(&content, "q %s w %s %s %s RG %s %s %s %s re S Q\n", num(lw), num(f.Color[0]), num(f.Color[1]), num(f.Color[2]),
			num(lw/2), num(lw/2), num(bboxW-lw), num(bboxH-lw))
	}
	b.content = content.Bytes()
	return b, nil
}

// num formats a number the way content streams want it: no exponent, no
// needless zeros.
func num(f float64) string {
	return string(pdf.AppendObject(nil, pdf.Real(f)))
}
