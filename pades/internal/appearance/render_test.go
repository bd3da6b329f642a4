package appearance

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/kyso-vn/kyso/internal/testimages"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// ink is a class of rendered pixels.
type ink int

const (
	inkBlue ink = iota + 1 // the signature
	inkRed                 // the seal
	inkDark                // a grey signature
)

func (k ink) String() string {
	return map[ink]string{inkBlue: "blue", inkRed: "red", inkDark: "dark"}[k]
}

// is classifies a rendered pixel. The thresholds pick the stroke cores
// (over about half coverage for the anti-aliased edges).
func (k ink) is(c color.NRGBA) bool {
	r, g, b := int(c.R), int(c.G), int(c.B)
	switch k {
	case inkBlue:
		return b > r+60 && b > g+30
	case inkRed:
		return r > g+60 && r > b+60
	case inkDark:
		return r < 160 && g < 160 && b < 160 && abs(r-b) < 40 && abs(r-g) < 40
	}
	return false
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// mmBox is a rectangle on the displayed page in millimetres from its
// top-left corner, y downwards.
type mmBox struct{ x, y, w, h float64 }

func (b mmBox) String() string { return fmt.Sprintf("(%.2f, %.2f) %.2f×%.2f mm", b.x, b.y, b.w, b.h) }

// px converts millimetres to rendered pixels.
func px(mm float64) float64 { return mm * renderDPI / 25.4 }

// toMMpx converts rendered pixels to millimetres.
func toMMpx(p float64) float64 { return p * 25.4 / renderDPI }

// pixels returns the pixel rectangle covering b, grown by grow mm, clipped
// to bounds.
func (b mmBox) pixels(grow float64, bounds image.Rectangle) image.Rectangle {
	r := image.Rect(
		int(math.Floor(px(b.x-grow))), int(math.Floor(px(b.y-grow))),
		int(math.Ceil(px(b.x+b.w+grow))), int(math.Ceil(px(b.y+b.h+grow))))
	return r.Intersect(bounds)
}

// drawn is one image drawn inside a placement, at a box given in
// displayed millimetres.
type drawn struct {
	name string
	img  *Image
	src  image.Image // the drawing, to know where its ink lies
	ink  ink
	box  mmBox
}

// placement is one appearance on the page: a requested box and the images
// drawn in it, embedded in one of three ways.
type placement struct {
	name  string
	how   string // "widget" (signature field), "stamp" (annotation) or "content" (page content Do)
	box   mmBox
	draws []drawn
}

// buildPage writes a one-page PDF with the placements on a page of the
// given geometry. The page dictionary carries g.Rotate exactly as given,
// so a -90 reaches the renderer as -90.
func buildPage(t *testing.T, g PageGeometry, ps []placement) []byte {
	t.Helper()
	f := newPDFFile()
	catalog, pages, page, contents := f.alloc(), f.alloc(), f.alloc(), f.alloc()
	var annots, fields pdf.Array
	xobjects := pdf.Dict{}
	var content strings.Builder
	for i, p := range ps {
		rect, m, bw, bh := g.PlaceMM(p.box.x, p.box.y, p.box.w, p.box.h)
		form := Form{BBox: Rect{0, 0, bw, bh}, Matrix: m}
		for j, d := range p.draws {
			name := fmt.Sprintf("Im%d", j+1)
			form.AddImage(name, f.image(t, d.img))
			// Form space is the box as displayed, y upwards.
			form.DrawImage(name, MM(d.box.x-p.box.x), bh-MM(d.box.y-p.box.y+d.box.h), MM(d.box.w), MM(d.box.h))
		}
		formRef := f.alloc()
		f.putStream(t, formRef, form.Dict(), form.Content)
		switch p.how {
		case "widget", "stamp":
			ref := f.alloc()
			a := pdf.Dict{
				"Type": pdf.Name("Annot"), "Rect": rect.Array(), "F": pdf.Int(4), "P": page,
				"AP": pdf.Dict{"N": formRef},
			}
			if p.how == "widget" {
				a["Subtype"], a["FT"] = pdf.Name("Widget"), pdf.Name("Sig")
				a["T"] = pdf.String{Bytes: []byte(p.name)}
				fields = append(fields, ref)
			} else {
				a["Subtype"] = pdf.Name("Stamp")
			}
			f.put(t, ref, a)
			annots = append(annots, ref)
		case "content":
			name := fmt.Sprintf("Fm%d", i+1)
			xobjects[pdf.Name(name)] = formRef
			fmt.Fprintf(&content, "q 1 0 0 1 %s %s cm /%s Do Q\n", appendNumber(nil, rect.LLX), appendNumber(nil, rect.LLY), name)
		default:
			t.Fatalf("unknown embedding %q", p.how)
		}
	}
	f.putStream(t, contents, pdf.Dict{}, []byte(content.String()))
	pd := pdf.Dict{
		"Type": pdf.Name("Page"), "Parent": pages, "Contents": contents,
		"MediaBox":  Rect{g.MediaBox[0], g.MediaBox[1], g.MediaBox[2], g.MediaBox[3]}.Array(),
		"Resources": pdf.Dict{"XObject": xobjects},
	}
	if g.CropBox != [4]float64{} {
		pd["CropBox"] = Rect{g.CropBox[0], g.CropBox[1], g.CropBox[2], g.CropBox[3]}.Array()
	}
	if g.Rotate != 0 {
		pd["Rotate"] = pdf.Int(g.Rotate)
	}
	if len(annots) > 0 {
		pd["Annots"] = annots
	}
	f.put(t, page, pd)
	f.put(t, pages, pdf.Dict{"Type": pdf.Name("Pages"), "Kids": pdf.Array{page}, "Count": pdf.Int(1)})
	cat := pdf.Dict{"Type": pdf.Name("Catalog"), "Pages": pages}
	if len(fields) > 0 {
		cat["AcroForm"] = pdf.Dict{"Fields": fields}
	}
	f.put(t, catalog, cat)
	return f.finish(t, catalog)
}

// inkBox returns the bounding box, in source pixels, of the pixels of src
// whose alpha exceeds half (for an opaque image: whose colour is not
// near white).
func inkBox(src image.Image) image.Rectangle {
	var r image.Rectangle
	b := src.Bounds()
	if m, ok := src.(*image.NRGBA); ok {
		// The drawings of testimages: alpha alone decides, and direct
		// access keeps the race-instrumented test fast.
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+4*b.Dx()]
			for x := range b.Dx() {
				if row[4*x+3] > 0x80 {
					r = r.Union(image.Rect(x, y, x+1, y+1))
				}
			}
		}
		return r
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			cr, cg, cb, a := src.At(x, y).RGBA()
			if a > 0x8000 && (cr < 0xc000 || cg < 0xc000 || cb < 0xc000) {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r.Sub(b.Min)
}

// expectedInk maps the ink box of d's drawing to displayed millimetres.
func expectedInk(d drawn) mmBox {
	ib := inkBox(d.src)
	sw, sh := float64(d.src.Bounds().Dx()), float64(d.src.Bounds().Dy())
	return mmBox{
		d.box.x + float64(ib.Min.X)/sw*d.box.w,
		d.box.y + float64(ib.Min.Y)/sh*d.box.h,
		float64(ib.Dx()) / sw * d.box.w,
		float64(ib.Dy()) / sh * d.box.h,
	}
}

// mask is a binary image of the classified pixels inside a bounding box.
type mask struct {
	w, h int
	on   []bool
}

func (m mask) at(x, y int) bool { return x >= 0 && y >= 0 && x < m.w && y < m.h && m.on[y*m.w+x] }

// rotate180 and mirror give the mask as it would look if the appearance
// were drawn upside down or mirrored.
func (m mask) rotate180() mask {
	o := mask{m.w, m.h, make([]bool, len(m.on))}
	for i, v := range m.on {
		o.on[len(m.on)-1-i] = v
	}
	return o
}

func (m mask) mirror() mask {
	o := mask{m.w, m.h, make([]bool, len(m.on))}
	for y := range m.h {
		for x := range m.w {
			o.on[y*m.w+x] = m.on[y*m.w+m.w-1-x]
		}
	}
	return o
}

// mismatch is |a XOR b| / |a OR b| with both masks aligned at their
// top-left corners: 0 for identical drawings, near 1 for unrelated ones.
func mismatch(a, b mask) float64 {
	xor, union := 0, 0
	for y := range max(a.h, b.h) {
		for x := range max(a.w, b.w) {
			p, q := a.at(x, y), b.at(x, y)
			if p != q {
				xor++
			}
			if p || q {
				union++
			}
		}
	}
	if union == 0 {
		return 1
	}
	return float64(xor) / float64(union)
}

// found is what a rendering shows of one drawn image.
type found struct {
	box  image.Rectangle // bounding box of its ink, in pixels
	mask mask
}

// find locates the pixels of class k inside the search rectangle.
func find(page *raster, search image.Rectangle, k ink) found {
	var bb image.Rectangle
	for y := search.Min.Y; y < search.Max.Y; y++ {
		for x := search.Min.X; x < search.Max.X; x++ {
			if k.is(page.NRGBAAt(x, y)) {
				bb = bb.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	m := mask{bb.Dx(), bb.Dy(), make([]bool, bb.Dx()*bb.Dy())}
	for y := bb.Min.Y; y < bb.Max.Y; y++ {
		for x := bb.Min.X; x < bb.Max.X; x++ {
			m.on[(y-bb.Min.Y)*m.w+x-bb.Min.X] = k.is(page.NRGBAAt(x, y))
		}
	}
	return found{bb, m}
}

// pxBoxMM converts a pixel rectangle to displayed millimetres.
func pxBoxMM(r image.Rectangle) mmBox {
	return mmBox{toMMpx(float64(r.Min.X)), toMMpx(float64(r.Min.Y)), toMMpx(float64(r.Dx())), toMMpx(float64(r.Dy()))}
}

// edgeError is the largest distance, in mm, between corresponding edges of
// two boxes.
func edgeError(got, want mmBox) float64 {
	return max(math.Abs(got.x-want.x), math.Abs(got.y-want.y),
		math.Abs(got.x+got.w-want.x-want.w), math.Abs(got.y+got.h-want.y-want.h))
}

// checkTransparency verifies that inside the placement's box the page
// stays white wherever the images are transparent: every pixel that is
// not white must lie within 3 px of a stroke core, and the corners of
// the box, where all test images are transparent, must be pure white.
func checkTransparency(t *testing.T, page *raster, p placement) {
	t.Helper()
	box := p.box.pixels(-0.3, page.Bounds())
	const reach = 3
	// Stroke cores in the box grown by reach, dilated by reach pixels
	// (a separable maximum filter: rows, then columns).
	area := box.Inset(-reach).Intersect(page.Bounds())
	w, h := area.Dx(), area.Dy()
	core := make([]bool, w*h)
	for y := range h {
		for x := range w {
			c := page.NRGBAAt(area.Min.X+x, area.Min.Y+y)
			for _, d := range p.draws {
				if d.ink.is(c) {
					core[y*w+x] = true
					break
				}
			}
		}
	}
	rows := make([]bool, w*h)
	for y := range h {
		for x := range w {
			for dx := max(0, x-reach); dx <= min(w-1, x+reach) && !rows[y*w+x]; dx++ {
				rows[y*w+x] = core[y*w+dx]
			}
		}
	}
	near := make([]bool, w*h)
	for y := range h {
		for x := range w {
			for dy := max(0, y-reach); dy <= min(h-1, y+reach) && !near[y*w+x]; dy++ {
				near[y*w+x] = rows[dy*w+x]
			}
		}
	}
	stray := 0
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			c := page.NRGBAAt(x, y)
			if (c.R < 250 || c.G < 250 || c.B < 250) && !near[(y-area.Min.Y)*w+x-area.Min.X] {
				stray++
				if stray <= 3 {
					t.Errorf("%s: pixel (%d,%d) is %v far from any stroke: transparency lost", p.name, x, y, c)
				}
			}
		}
	}
	if stray > 3 {
		t.Errorf("%s: %d stray pixels in all", p.name, stray)
	}
	for _, c := range []image.Point{box.Min, {box.Max.X - 1, box.Min.Y}, {box.Min.X, box.Max.Y - 1}, box.Max.Sub(image.Pt(1, 1))} {
		if got := page.NRGBAAt(c.X, c.Y); got != (color.NRGBA{255, 255, 255, 255}) {
			t.Errorf("%s: corner pixel %v is %v, want the white page", p.name, c, got)
		}
	}
}

// fixture holds the decoded test images, shared by the rendering tests.
type fixture struct {
	sigSrc, sealSrc, seal472Src, smallSealSrc image.Image
	sig, seal, seal472, smallSeal             *Image
}

// newFixture encodes and decodes the images the scenes use.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{
		sigSrc:       testimages.Signature(600, 240),
		sealSrc:      testimages.Seal(400),
		seal472Src:   testimages.Seal(472),
		smallSealSrc: testimages.Seal(300),
	}
	dec := func(src image.Image, dpi float64, opts testimages.PNGOptions) *Image {
		data, err := testimages.EncodePNG(src, dpi, opts)
		if err != nil {
			t.Fatal(err)
		}
		img, err := DecodeImage(data)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	fx.sig = dec(fx.sigSrc, 300, testimages.PNGOptions{})
	// 400 px at 72 dpi would be 141 mm: the declared 40 mm must win.
	fx.seal = dec(fx.sealSrc, 72, testimages.PNGOptions{Model: testimages.Paletted})
	// 472 px at 11800 px/m (299.72 dpi) is 40.00 mm.
	fx.seal472 = dec(fx.seal472Src, 299.72, testimages.PNGOptions{Interlaced: true})
	// No resolution: only the declared size can place it.
	fx.smallSeal = dec(fx.smallSealSrc, 0, testimages.PNGOptions{Depth: 16})
	return fx
}

// boxOf returns the displayed box of an image of w × h points whose
// top-left corner is at (x, y) mm.
func boxOf(x, y, wPt, hPt float64) mmBox { return mmBox{x, y, ToMM(wPt), ToMM(hPt)} }

// scene is the set of placements every geometry gets, in displayed
// millimetres: the same for a portrait, landscape, rotated or offset page.
func (fx *fixture) scene(t *testing.T) []placement {
	t.Helper()
	fitCentered := func(img *Image, b mmBox) mmBox {
		w, h := FitSize(img, b.w, b.h)
		return mmBox{b.x + (b.w-w)/2, b.y + (b.h-h)/2, w, h}
	}
	physical := func(img *Image, diameter, x, y float64) mmBox {
		w, h, err := PhysicalSize(img, diameter)
		if err != nil {
			t.Fatal(err)
		}
		return boxOf(x, y, w, h)
	}
	sigBox := mmBox{30, 40, 60, 30}
	sealBox := physical(fx.seal, 40, 110, 35)
	dpiBox := physical(fx.seal472, 0, 30, 100)
	comboBox := mmBox{100, 100, 90, 40}
	return []placement{
		{"signature", "widget", sigBox, []drawn{
			{"signature", fx.sig, fx.sigSrc, inkBlue, fitCentered(fx.sig, sigBox)},
		}},
		{"seal 40 mm declared", "stamp", sealBox, []drawn{
			{"seal 40 mm declared", fx.seal, fx.sealSrc, inkRed, sealBox},
		}},
		{"seal 40 mm from DPI", "content", dpiBox, []drawn{
			{"seal 40 mm from DPI", fx.seal472, fx.seal472Src, inkRed, dpiBox},
		}},
		{"seal and signature", "widget", comboBox, []drawn{
			{"combo seal 30 mm", fx.smallSeal, fx.smallSealSrc, inkRed, physical(fx.smallSeal, 30, 100, 105)},
			{"combo signature", fx.sig, fx.sigSrc, inkBlue, fitCentered(fx.sig, mmBox{132, 100, 58, 40})},
		}},
	}
}

// measurement is what one rendering shows of one drawn image.
type measurement struct {
	got, want mmBox
	err       float64 // largest edge error, mm
	found     found
}

// measure renders the page and locates every drawn image.
func measure(t *testing.T, name string, g PageGeometry, ps []placement) (map[string]measurement, *raster) {
	t.Helper()
	path := writeTemp(t, name+".pdf", buildPage(t, g, ps))
	qpdfCheck(t, path)
	page := render(t, path)
	dw, dh := g.DisplaySize()
	if w, h := page.Bounds().Dx(), page.Bounds().Dy(); math.Abs(float64(w)-dw*renderDPI/72) > 1 || math.Abs(float64(h)-dh*renderDPI/72) > 1 {
		t.Fatalf("rendered %d×%d px, displayed page is %.1f×%.1f pt", w, h, dw, dh)
	}
	res := map[string]measurement{}
	for _, p := range ps {
		for _, d := range p.draws {
			f := find(page, p.box.pixels(5, page.Bounds()), d.ink)
			if f.box.Empty() {
				t.Fatalf("%s: no %v pixel near %v", d.name, d.ink, p.box)
			}
			m := measurement{got: pxBoxMM(f.box), want: expectedInk(d), found: f}
			m.err = edgeError(m.got, m.want)
			res[d.name] = m
		}
	}
	return res, page
}

// TestRenderPlacement renders the same scene on pages of every
// orientation and box layout and checks that each image lands where it
// was asked to on the displayed page, at its real size, upright, with its
// transparency intact.
func TestRenderPlacement(t *testing.T) {
	fx := newFixture(t)
	scene := fx.scene(t)
	portrait := a4()

	// The reference: a plain portrait A4 page.
	ref, refPage := measure(t, "reference", PageGeometry{MediaBox: portrait}, scene)
	for _, p := range scene {
		checkTransparency(t, refPage, p)
	}
	// The masks must be able to tell an upright drawing from a turned or
	// mirrored one, or the orientation checks below prove nothing.
	for name, m := range ref {
		if strings.Contains(name, "signature") {
			if e := mismatch(m.found.mask, m.found.mask.rotate180()); e < 0.5 {
				t.Fatalf("%s: mask differs from its 180° turn by only %.2f", name, e)
			}
			if e := mismatch(m.found.mask, m.found.mask.mirror()); e < 0.5 {
				t.Fatalf("%s: mask differs from its mirror image by only %.2f", name, e)
			}
		}
	}

	geoms := []struct {
		name string
		g    PageGeometry
	}{
		{"A4", PageGeometry{MediaBox: portrait}},
		{"A4 rotate 90", PageGeometry{MediaBox: portrait, Rotate: 90}},
		{"A4 rotate 180", PageGeometry{MediaBox: portrait, Rotate: 180}},
		{"A4 rotate 270", PageGeometry{MediaBox: portrait, Rotate: 270}},
		{"offset crop", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop()}},
		{"offset crop rotate 90", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: 90}},
		{"offset crop rotate 180", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: 180}},
		{"offset crop rotate 270", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: 270}},
		{"offset crop rotate -90", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: -90}},
		{"offset media only rotate 450", PageGeometry{MediaBox: offsetMedia(), Rotate: 450}},
	}
	var mu sync.Mutex
	worst := map[string]float64{}
	t.Cleanup(func() {
		for _, k := range []string{"position", "seal size", "shape"} {
			t.Logf("worst %s error over all geometries: %.3f", k, worst[k])
		}
	})
	for _, gt := range geoms {
		t.Run(gt.name, func(t *testing.T) {
			t.Parallel()
			res, page := measure(t, strings.ReplaceAll(gt.name, " ", "_"), gt.g, scene)
			for _, p := range scene {
				checkTransparency(t, page, p)
			}
			for _, p := range scene {
				for _, d := range p.draws {
					m := res[d.name]
					r := ref[d.name]
					// (d) At the expected place as displayed.
					if m.err > 1.5 {
						t.Errorf("%s: ink at %v, want %v: off by %.2f mm", d.name, m.got, m.want, m.err)
					}
					// (a) Inside the requested box, ±1 px.
					req := p.box.pixels(0, page.Bounds())
					if in := req.Inset(-1); !m.found.box.In(in) {
						t.Errorf("%s: ink %v spills out of the requested box %v", d.name, m.found.box, req)
					}
					// Upright: the same drawing as on the portrait page.
					shape := mismatch(m.found.mask, r.found.mask)
					if shape > 0.2 {
						t.Errorf("%s: drawing differs from the upright reference by %.2f (turned or mirrored?)", d.name, shape)
					}
					sealSize := 0.0
					if d.ink == inkRed {
						// (b) Real size: the seal's red pixels span its
						// declared diameter, ±2 %.
						want := px(d.box.w)
						for _, got := range []int{m.found.box.Dx(), m.found.box.Dy()} {
							e := math.Abs(float64(got)-want) / want
							sealSize = max(sealSize, e)
							if e > 0.02 {
								t.Errorf("%s: %d px across, want %.1f px (%.1f mm) ± 2 %%", d.name, got, want, d.box.w)
							}
						}
						t.Logf("%s: %.2f × %.2f mm (declared %.2f)", d.name, toMMpx(float64(m.found.box.Dx())), toMMpx(float64(m.found.box.Dy())), d.box.w)
					}
					if d.ink == inkBlue {
						// (a) The aspect ratio is kept, and the signature
						// fills its box along one side.
						ib := inkBox(d.src)
						wantAspect := float64(ib.Dx()) / float64(ib.Dy())
						gotAspect := float64(m.found.box.Dx()) / float64(m.found.box.Dy())
						if e := math.Abs(gotAspect/wantAspect - 1); e > 0.02 {
							t.Errorf("%s: aspect %.3f, want %.3f (%.1f %% off)", d.name, gotAspect, wantAspect, e*100)
						}
						if m.got.w < 0.8*d.box.w && m.got.h < 0.8*d.box.h {
							t.Errorf("%s: ink %v fills too little of %v", d.name, m.got, d.box)
						}
					}
					t.Logf("%s: ink at %v, expected %v, error %.2f mm, shape mismatch %.3f", d.name, m.got, m.want, m.err, shape)
					mu.Lock()
					worst["position"] = max(worst["position"], m.err)
					worst["seal size"] = max(worst["seal size"], sealSize)
					worst["shape"] = max(worst["shape"], shape)
					mu.Unlock()
				}
			}
			if gt.name == "A4" {
				// Five image draws (the signature is drawn twice), each
				// with its soft mask.
				checkImages(t, writeTemp(t, "list.pdf", buildPage(t, gt.g, scene)), 5, 5)
			}
		})
	}
}

// checkImages runs pdfimages -list and checks that the page has the
// expected number of images and that each image with alpha is followed by
// its smask.
func checkImages(t *testing.T, path string, images, smasks int) []imageRow {
	t.Helper()
	rows := pdfImages(t, path)
	gotImages, gotMasks := 0, 0
	for i, r := range rows {
		switch r.kind {
		case "image":
			gotImages++
		case "smask":
			gotMasks++
			if i == 0 || rows[i-1].kind != "image" || rows[i-1].width != r.width || rows[i-1].height != r.height || r.color != "gray" || r.bpc != 8 {
				t.Errorf("smask row %+v does not follow an image of its size", r)
			}
		default:
			t.Errorf("unexpected pdfimages row %+v", r)
		}
	}
	if gotImages != images || gotMasks != smasks {
		t.Errorf("pdfimages lists %d images and %d smasks, want %d and %d: %+v", gotImages, gotMasks, images, smasks, rows)
	}
	return rows
}
