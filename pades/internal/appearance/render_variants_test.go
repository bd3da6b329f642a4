package appearance

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/kyso-vn/kyso/internal/testimages"
)

// TestRenderPNGVariants draws the signature from every kind of PNG file
// on one page and checks that each renders at its place, keeps its shape
// and leaves the page white where it is transparent.
func TestRenderPNGVariants(t *testing.T) {
	src := testimages.Signature(300, 120)
	variants := []struct {
		name string
		opts testimages.PNGOptions
		ink  ink
	}{
		{"RGBA 8", testimages.PNGOptions{}, inkBlue},
		{"RGBA 16", testimages.PNGOptions{Depth: 16}, inkBlue},
		{"RGB 8 + tRNS key", testimages.PNGOptions{Model: testimages.RGB, WhiteKey: true}, inkBlue},
		{"RGB 16 + tRNS key", testimages.PNGOptions{Model: testimages.RGB, Depth: 16, WhiteKey: true}, inkBlue},
		{"Gray 8 + tRNS key", testimages.PNGOptions{Model: testimages.Gray, WhiteKey: true}, inkDark},
		{"Gray 4 + tRNS key", testimages.PNGOptions{Model: testimages.Gray, Depth: 4, WhiteKey: true}, inkDark},
		{"GrayAlpha 8", testimages.PNGOptions{Model: testimages.GrayAlpha}, inkDark},
		{"GrayAlpha 16", testimages.PNGOptions{Model: testimages.GrayAlpha, Depth: 16}, inkDark},
		{"Paletted 8 + tRNS", testimages.PNGOptions{Model: testimages.Paletted}, inkBlue},
		{"Paletted 4 + tRNS", testimages.PNGOptions{Model: testimages.Paletted, Depth: 4}, inkBlue},
		{"interlaced RGBA 8", testimages.PNGOptions{Interlaced: true}, inkBlue},
		{"interlaced Paletted 4", testimages.PNGOptions{Model: testimages.Paletted, Depth: 4, Interlaced: true}, inkBlue},
		{"interlaced GrayAlpha 16", testimages.PNGOptions{Model: testimages.GrayAlpha, Depth: 16, Interlaced: true}, inkDark},
		{"interlaced RGB 16 + tRNS key", testimages.PNGOptions{Model: testimages.RGB, Depth: 16, Interlaced: true, WhiteKey: true}, inkBlue},
	}
	var scene []placement
	for i, v := range variants {
		data, err := testimages.EncodePNG(src, 300, v.opts)
		if err != nil {
			t.Fatal(err)
		}
		img, err := DecodePNG(data)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if img.SMask == nil {
			t.Fatalf("%s: no soft mask", v.name)
		}
		box := mmBox{15 + float64(i%3)*62, 15 + float64(i/3)*50, 50, 25}
		w, h := FitSize(img, box.w, box.h)
		scene = append(scene, placement{v.name, "stamp", box, []drawn{
			{v.name, img, src, v.ink, mmBox{box.x + (box.w-w)/2, box.y + (box.h-h)/2, w, h}},
		}})
	}
	res, page := measure(t, "variants", PageGeometry{MediaBox: a4()}, scene)
	checkImages(t, writeTemp(t, "variants-list.pdf", buildPage(t, PageGeometry{MediaBox: a4()}, scene)), len(variants), len(variants))
	ref := res[variants[0].name]
	worst := 0.0
	for _, p := range scene {
		d := p.draws[0]
		m := res[d.name]
		checkTransparency(t, page, p)
		if m.err > 1.5 {
			t.Errorf("%s: ink at %v, want %v: off by %.2f mm", d.name, m.got, m.want, m.err)
		}
		if req := p.box.pixels(0, page.Bounds()).Inset(-1); !m.found.box.In(req) {
			t.Errorf("%s: ink %v spills out of %v", d.name, m.found.box, req)
		}
		shape := mismatch(m.found.mask, ref.found.mask)
		if shape > 0.25 {
			t.Errorf("%s: drawing differs from the RGBA rendering by %.2f", d.name, shape)
		}
		worst = max(worst, m.err)
		t.Logf("%-30s ink at %v, error %.2f mm, shape mismatch %.3f", d.name, m.got, m.err, shape)
	}
	t.Logf("worst position error %.3f mm", worst)
}

// bands returns a CMYK test image of five 16×16 px bands: cyan, magenta,
// no ink, yellow, black. Each band is made of whole 8×8 blocks, so the
// DC-only encoder reproduces it exactly.
func bands() *image.CMYK {
	inks := []color.CMYK{{C: 255}, {M: 255}, {}, {Y: 255}, {K: 255}}
	img := image.NewCMYK(image.Rect(0, 0, 16*len(inks), 16))
	for y := range 16 {
		for x := range img.Rect.Dx() {
			img.SetCMYK(x, y, inks[x/16])
		}
	}
	return img
}

// TestRenderJPEG places JPEG images — YCbCr, grey and CMYK with and
// without the Adobe marker — and checks their position, physical size and
// colours.
func TestRenderJPEG(t *testing.T) {
	sig := testimages.Signature(600, 240)
	flat := image.NewGray(sig.Bounds())
	for y := range flat.Rect.Dy() {
		for x := range flat.Rect.Dx() {
			_, _, _, a := sig.At(x, y).RGBA()
			// Ink luminance over white paper.
			flat.SetGray(x, y, color.Gray{Y: uint8(255 - (255-61)*a/0xffff)})
		}
	}
	enc := func(data []byte, err error) *Image {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		img, err := DecodeImage(data)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	rgb := enc(testimages.EncodeJPEG(sig, 92, 300))
	gray := enc(testimages.EncodeJPEG(flat, 92, 300))
	// 25.4 dpi in EXIF: one pixel per millimetre.
	cmykAdobe := enc(testimages.EncodeCMYKJPEG(bands(), 25.4, true))
	cmykPlain := enc(testimages.EncodeCMYKJPEG(bands(), 25.4, false))

	fit := func(img *Image, b mmBox) mmBox {
		w, h := FitSize(img, b.w, b.h)
		return mmBox{b.x + (b.w-w)/2, b.y + (b.h-h)/2, w, h}
	}
	physical := func(img *Image, x, y float64) mmBox {
		w, h, err := PhysicalSize(img, 0)
		if err != nil {
			t.Fatal(err)
		}
		return boxOf(x, y, w, h)
	}
	rgbBox, grayBox := mmBox{20, 20, 60, 30}, mmBox{110, 20, 60, 30}
	adobeBox, plainBox := physical(cmykAdobe, 20, 80), physical(cmykPlain, 110, 80)
	// The first two are measured by ink class, the CMYK ones (which
	// have no single ink) by their extent and band colours.
	all := []placement{
		{"YCbCr JPEG", "widget", rgbBox, []drawn{{"YCbCr JPEG", rgb, sig, inkBlue, fit(rgb, rgbBox)}}},
		{"grey JPEG", "stamp", grayBox, []drawn{{"grey JPEG", gray, sig, inkDark, fit(gray, grayBox)}}},
		{"CMYK Adobe", "content", adobeBox, []drawn{{"CMYK Adobe", cmykAdobe, nil, 0, adobeBox}}},
		{"CMYK plain", "stamp", plainBox, []drawn{{"CMYK plain", cmykPlain, nil, 0, plainBox}}},
	}
	scene, cmykScene := all[:2], all[2:]
	// A landscape page, to exercise the rotation with JPEG data too.
	g := PageGeometry{MediaBox: a4(), Rotate: 90}

	path := writeTemp(t, "jpeg.pdf", buildPage(t, g, all))
	qpdfCheck(t, path)
	colors := map[string]int{}
	for _, r := range checkImages(t, path, 4, 0) {
		if r.enc != "jpeg" {
			t.Errorf("pdfimages row %+v: not passed through as JPEG", r)
		}
		colors[r.color]++
	}
	if colors["rgb"] != 1 || colors["gray"] != 1 || colors["cmyk"] != 2 {
		t.Errorf("pdfimages colour spaces %v, want 1 rgb, 1 gray, 2 cmyk", colors)
	}
	page := render(t, path)

	for _, p := range scene {
		d := p.draws[0]
		f := find(page, p.box.pixels(5, page.Bounds()), d.ink)
		got, want := pxBoxMM(f.box), expectedInk(d)
		if e := edgeError(got, want); e > 1.5 {
			t.Errorf("%s: ink at %v, want %v: off by %.2f mm", d.name, got, want, e)
		} else {
			t.Logf("%s: ink at %v, expected %v, error %.2f mm", d.name, got, want, e)
		}
	}

	for _, p := range cmykScene {
		// The whole image is inked but for the middle band: its extent
		// is its physical size, 80 × 16 mm from the EXIF resolution.
		var bb image.Rectangle
		search := p.box.pixels(5, page.Bounds())
		for y := search.Min.Y; y < search.Max.Y; y++ {
			for x := search.Min.X; x < search.Max.X; x++ {
				if c := page.NRGBAAt(x, y); c.R < 200 || c.G < 200 || c.B < 200 {
					bb = bb.Union(image.Rect(x, y, x+1, y+1))
				}
			}
		}
		got := pxBoxMM(bb)
		if e := edgeError(got, p.box); e > 1.5 || math.Abs(got.w/80-1) > 0.02 || math.Abs(got.h/16-1) > 0.02 {
			t.Errorf("%s: drawn at %v, want %v (80 × 16 mm)", p.name, got, p.box)
		} else {
			t.Logf("%s: drawn at %v, expected %v, error %.2f mm", p.name, got, p.box, e)
		}
		// Sample the middle of each band. Without the /Decode array the
		// inverted Adobe data would come out as its complement (white
		// for black, and so on).
		checks := []struct {
			band string
			ok   func(r, g, b int) bool
		}{
			{"cyan", func(r, g, b int) bool { return r < 100 && g > 100 && b > 180 }},
			{"magenta", func(r, g, b int) bool { return r > 180 && g < 100 && b > 80 }},
			{"no ink", func(r, g, b int) bool { return r > 245 && g > 245 && b > 245 }},
			{"yellow", func(r, g, b int) bool { return r > 200 && g > 200 && b < 100 }},
			{"black", func(r, g, b int) bool { return r < 80 && g < 80 && b < 80 }},
		}
		for i, c := range checks {
			x := int(px(p.box.x + (float64(i)+0.5)*p.box.w/5))
			y := int(px(p.box.y + p.box.h/2))
			col := page.NRGBAAt(x, y)
			if !c.ok(int(col.R), int(col.G), int(col.B)) {
				t.Errorf("%s: %s band renders as %v", p.name, c.band, col)
			}
		}
	}
}
