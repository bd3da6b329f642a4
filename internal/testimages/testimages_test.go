package testimages

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

// inkBounds returns the bounding box of the pixels whose alpha exceeds
// half.
func inkBounds(t *testing.T, img image.Image) image.Rectangle {
	t.Helper()
	var r image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a > 0x8000 {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

func alphaAt(img image.Image, x, y int) uint8 {
	_, _, _, a := img.At(x, y).RGBA()
	return uint8(a >> 8)
}

func TestSignature(t *testing.T) {
	tests := []struct{ w, h int }{{600, 240}, {300, 120}, {90, 40}, {1200, 300}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.w, tt.h), func(t *testing.T) {
			img := Signature(tt.w, tt.h).(*image.NRGBA)
			if got := img.Bounds(); got != image.Rect(0, 0, tt.w, tt.h) {
				t.Fatalf("bounds %v", got)
			}
			for _, p := range []image.Point{{0, 0}, {tt.w - 1, 0}, {0, tt.h - 1}, {tt.w - 1, tt.h - 1}} {
				if a := alphaAt(img, p.X, p.Y); a != 0 {
					t.Errorf("corner %v has alpha %d, want transparent", p, a)
				}
			}
			ink := SignatureInk()
			inked, partial := 0, 0
			for i := 0; i < len(img.Pix); i += 4 {
				if img.Pix[i] != ink.R || img.Pix[i+1] != ink.G || img.Pix[i+2] != ink.B {
					t.Fatalf("pixel %d has colour %v, want the ink everywhere", i/4, img.Pix[i:i+3])
				}
				switch a := img.Pix[i+3]; {
				case a == 255:
					inked++
				case a > 0:
					partial++
				}
			}
			total := tt.w * tt.h
			if inked < total/30 || inked > total/3 {
				t.Errorf("%d of %d pixels inked: not a signature", inked, total)
			}
			if partial == 0 {
				t.Error("no partially covered pixel: strokes are not anti-aliased")
			}
			// Asymmetry the rendering tests rely on: the capital at the
			// left reaches higher than the dot at the right, and the
			// ink spans most of the image.
			bb := inkBounds(t, img)
			if bb.Dx() < tt.w*8/10 || bb.Dy() < tt.h*7/10 {
				t.Errorf("ink bounds %v too small for %dx%d", bb, tt.w, tt.h)
			}
			leftTop, rightTop := tt.h, tt.h
			for y := tt.h - 1; y >= 0; y-- {
				for x := range tt.w {
					if alphaAt(img, x, y) > 128 {
						if x < tt.w/4 {
							leftTop = y
						} else if x > tt.w*3/4 {
							rightTop = y
						}
					}
				}
			}
			if leftTop >= rightTop {
				t.Errorf("top of the left quarter %d, of the right quarter %d: want the capital higher", leftTop, rightTop)
			}
		})
	}
	if b := Signature(0, 10).Bounds(); !b.Empty() {
		t.Errorf("Signature(0, 10) bounds %v", b)
	}
}

func TestSeal(t *testing.T) {
	for _, d := range []int{236, 300, 101, 40} {
		t.Run(fmt.Sprint(d), func(t *testing.T) {
			img := Seal(d)
			if got := img.Bounds(); got != image.Rect(0, 0, d, d) {
				t.Fatalf("bounds %v", got)
			}
			// The outer ring touches every edge, so the seal is exactly
			// d pixels across.
			if bb := inkBounds(t, img); bb != img.Bounds() {
				t.Errorf("ink bounds %v, want %v", bb, img.Bounds())
			}
			c := d / 2
			tests := []struct {
				name   string
				x, y   int
				opaque bool
			}{
				{"corner", 0, 0, false},
				{"centre (star)", c, c, true},
				{"top of the outer ring", c, 1, true},
				{"left of the outer ring", 1, c, true},
				{"between the star and the inner ring", c + d*24/100, c, false},
			}
			for _, p := range tests {
				a := alphaAt(img, p.x, p.y)
				if p.opaque && a < 200 || !p.opaque && a != 0 {
					t.Errorf("%s (%d,%d): alpha %d", p.name, p.x, p.y, a)
				}
			}
			r, g, b, _ := img.At(c, c).RGBA()
			if want := SealInk(); uint8(r>>8) != want.R || uint8(g>>8) != want.G || uint8(b>>8) != want.B {
				t.Errorf("centre colour %d,%d,%d, want %v", r>>8, g>>8, b>>8, want)
			}
		})
	}
}

// chunks lists the chunk types of a PNG file in order, checking lengths.
func chunks(t *testing.T, data []byte) (types []string, body map[string][]byte) {
	t.Helper()
	body = map[string][]byte{}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("no PNG signature")
	}
	for off := 8; off < len(data); {
		if off+12 > len(data) {
			t.Fatalf("truncated chunk at %d", off)
		}
		n := int(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		types = append(types, typ)
		if _, ok := body[typ]; !ok {
			body[typ] = data[off+8 : off+8+n]
		}
		off += 12 + n
	}
	return types, body
}

// expected returns what a decoder should give for the source pixel in
// model m, as 16-bit non-premultiplied values, and the tolerance.
func expected(src color.NRGBA64, opts PNGOptions) (color.NRGBA64, uint16) {
	depth := opts.Depth
	if depth == 0 {
		depth = 8
	}
	tol := uint16(0x101) // one 8-bit step
	if depth == 16 {
		tol = 1
	} else if depth < 8 {
		tol = uint16(0xffff/(1<<depth-1)/2 + 1)
	}
	switch opts.Model {
	case RGB:
		o := overWhite(src)
		return o, tol
	case Gray:
		g := luma(overWhite(src))
		return color.NRGBA64{R: g, G: g, B: g, A: 0xffff}, tol
	case GrayAlpha:
		g := luma(src)
		return color.NRGBA64{R: g, G: g, B: g, A: src.A}, tol
	case Paletted:
		// Quantised to coarser steps the fewer entries there are: at
		// worst to 0/255 for two bits.
		return src, map[int]uint16{8: 0x2000, 4: 0x4080, 2: 0x8080, 1: 0x8080}[depth]
	}
	return src, tol
}

func TestEncodePNG(t *testing.T) {
	src := Signature(150, 60)
	tests := []struct {
		opts      PNGOptions
		colorType byte
		depth     byte
		wantTRNS  bool
	}{
		{PNGOptions{}, 6, 8, false},
		{PNGOptions{Model: RGBA, Depth: 16}, 6, 16, false},
		{PNGOptions{Model: RGB}, 2, 8, false},
		{PNGOptions{Model: RGB, Depth: 16}, 2, 16, false},
		{PNGOptions{Model: RGB, WhiteKey: true}, 2, 8, true},
		{PNGOptions{Model: Gray}, 0, 8, false},
		{PNGOptions{Model: Gray, Depth: 16}, 0, 16, false},
		{PNGOptions{Model: Gray, Depth: 1}, 0, 1, false},
		{PNGOptions{Model: Gray, Depth: 2}, 0, 2, false},
		{PNGOptions{Model: Gray, Depth: 4, WhiteKey: true}, 0, 4, true},
		{PNGOptions{Model: GrayAlpha}, 4, 8, false},
		{PNGOptions{Model: GrayAlpha, Depth: 16}, 4, 16, false},
		{PNGOptions{Model: Paletted}, 3, 8, true},
		{PNGOptions{Model: Paletted, Depth: 4}, 3, 4, true},
		{PNGOptions{Model: Paletted, Depth: 2}, 3, 2, true},
		{PNGOptions{Model: RGBA, Interlaced: true}, 6, 8, false},
		{PNGOptions{Model: Gray, Depth: 2, Interlaced: true}, 0, 2, false},
		{PNGOptions{Model: Paletted, Interlaced: true}, 3, 8, true},
		{PNGOptions{Model: GrayAlpha, Depth: 16, Interlaced: true}, 4, 16, false},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%v-%d-interlaced=%v-key=%v", tt.opts.Model, tt.depth, tt.opts.Interlaced, tt.opts.WhiteKey)
		t.Run(name, func(t *testing.T) {
			data, err := EncodePNG(src, 300, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			types, body := chunks(t, data)
			if types[0] != "IHDR" || types[1] != "pHYs" || types[len(types)-1] != "IEND" {
				t.Errorf("chunk order %v: want IHDR, pHYs first and IEND last", types)
			}
			ihdr := body["IHDR"]
			if ihdr[8] != tt.depth || ihdr[9] != tt.colorType || (ihdr[12] == 1) != tt.opts.Interlaced {
				t.Errorf("IHDR depth %d colour type %d interlace %d", ihdr[8], ihdr[9], ihdr[12])
			}
			if _, ok := body["tRNS"]; ok != tt.wantTRNS {
				t.Errorf("tRNS present %v, want %v", ok, tt.wantTRNS)
			}
			ppm := binary.BigEndian.Uint32(body["pHYs"])
			if dpi := float64(ppm) * 0.0254; math.Abs(dpi-300) > 0.5 || body["pHYs"][8] != 1 {
				t.Errorf("pHYs %v = %.2f dpi, want 300 per metre", body["pHYs"], dpi)
			}
			got, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("image/png: %v", err)
			}
			if got.Bounds() != src.Bounds() {
				t.Fatalf("bounds %v, want %v", got.Bounds(), src.Bounds())
			}
			var worst uint16
			for y := range src.Bounds().Dy() {
				for x := range src.Bounds().Dx() {
					s := nrgba64At(src, x, y)
					want, tol := expected(s, tt.opts)
					g := color.NRGBA64Model.Convert(got.At(x, y)).(color.NRGBA64)
					if tt.opts.WhiteKey && keyed(want, tt.opts) {
						want.A = 0
					}
					if g.A == 0 && want.A <= tol {
						continue // the colour of a transparent pixel is free
					}
					for _, d := range []uint16{diff(g.R, want.R), diff(g.G, want.G), diff(g.B, want.B), diff(g.A, want.A)} {
						worst = max(worst, d)
						if d > tol {
							t.Fatalf("pixel (%d,%d): got %v, want %v ± %d", x, y, g, want, tol)
						}
					}
				}
			}
			t.Logf("%d bytes, chunks %v, worst difference %d/65535", len(data), types, worst)
		})
	}
}

// keyed reports whether the pixel is white at the file's depth, which
// the white colour key makes transparent.
func keyed(c color.NRGBA64, opts PNGOptions) bool {
	depth := cmp.Or(opts.Depth, 8)
	maxV := uint32(1)<<depth - 1
	white := func(v uint16) bool { return (uint32(v)*maxV+32767)/65535 == maxV }
	return white(c.R) && white(c.G) && white(c.B)
}

func diff(a, b uint16) uint16 {
	if a > b {
		return a - b
	}
	return b - a
}

// threeColours returns an image of pure red, green and blue pixels, which
// no quantisation step fits in a two-entry palette.
func threeColours() image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	img.SetNRGBA(0, 0, color.NRGBA{R: 255, A: 255})
	img.SetNRGBA(1, 0, color.NRGBA{G: 255, A: 255})
	img.SetNRGBA(2, 0, color.NRGBA{B: 255, A: 255})
	return img
}

func TestEncodePNGErrors(t *testing.T) {
	img := Signature(20, 10)
	tests := []struct {
		name string
		img  image.Image
		dpi  float64
		opts PNGOptions
	}{
		{"paletted 16-bit", img, 0, PNGOptions{Model: Paletted, Depth: 16}},
		{"RGBA 4-bit", img, 0, PNGOptions{Model: RGBA, Depth: 4}},
		{"unknown model", img, 0, PNGOptions{Model: 99}},
		{"key on RGBA", img, 0, PNGOptions{WhiteKey: true}},
		{"negative dpi", img, -1, PNGOptions{}},
		{"NaN dpi", img, math.NaN(), PNGOptions{}},
		{"empty", image.NewNRGBA(image.Rect(0, 0, 0, 5)), 0, PNGOptions{}},
		{"too many colours for 1 bit", threeColours(), 0, PNGOptions{Model: Paletted, Depth: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodePNG(tt.img, tt.dpi, tt.opts)
			var e *EncodeError
			if !errors.As(err, &e) || e.Format != "PNG" {
				t.Fatalf("got %v, want an *EncodeError for PNG", err)
			}
		})
	}
}

// jfif returns the APP0 JFIF segment body of a JPEG file, which must be
// the first segment.
func jfif(t *testing.T, data []byte) []byte {
	t.Helper()
	if len(data) < 20 || data[0] != 0xff || data[1] != 0xd8 || data[2] != 0xff || data[3] != 0xe0 {
		t.Fatalf("file does not start with SOI, APP0: % x", data[:min(len(data), 4)])
	}
	n := int(binary.BigEndian.Uint16(data[4:]))
	seg := data[6 : 4+n]
	if !bytes.HasPrefix(seg, []byte("JFIF\x00")) {
		t.Fatalf("APP0 is not JFIF: %q", seg)
	}
	return seg
}

func TestEncodeJPEG(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 64, 32))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	tests := []struct {
		name      string
		img       image.Image
		dpi       float64
		wantUnits byte
		wantDens  uint16
		wantModel color.Model
		// whiteCorner: the transparent corner must come out white.
		whiteCorner bool
	}{
		{"signature 300 dpi", Signature(300, 120), 300, 1, 300, color.YCbCrModel, true},
		{"seal 600 dpi", Seal(200), 600, 1, 600, color.YCbCrModel, true},
		{"gray 72 dpi", gray, 72, 1, 72, color.GrayModel, false},
		{"unknown resolution", Seal(50), 0, 0, 1, color.YCbCrModel, true},
		{"fractional dpi rounds", Seal(50), 299.6, 1, 300, color.YCbCrModel, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := EncodeJPEG(tt.img, 90, tt.dpi)
			if err != nil {
				t.Fatal(err)
			}
			seg := jfif(t, data)
			units, x, y := seg[7], binary.BigEndian.Uint16(seg[8:]), binary.BigEndian.Uint16(seg[10:])
			if units != tt.wantUnits || x != tt.wantDens || y != tt.wantDens {
				t.Errorf("JFIF units %d density %d×%d, want %d, %d", units, x, y, tt.wantUnits, tt.wantDens)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			b := tt.img.Bounds()
			if cfg.Width != b.Dx() || cfg.Height != b.Dy() || cfg.ColorModel != tt.wantModel {
				t.Errorf("config %dx%d %v", cfg.Width, cfg.Height, cfg.ColorModel)
			}
			got, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			// Transparent corners were composited over white.
			if r, g, bl, _ := got.At(0, 0).RGBA(); tt.whiteCorner && (r>>8 < 240 || g>>8 < 240 || bl>>8 < 240) {
				t.Errorf("corner %d,%d,%d, want white", r>>8, g>>8, bl>>8)
			}
		})
	}
	for _, q := range []int{0, 101} {
		if _, err := EncodeJPEG(gray, q, 0); err == nil {
			t.Errorf("quality %d accepted", q)
		}
	}
}

func TestEncodeCMYKJPEG(t *testing.T) {
	// Four vertical bands of uniform 8-pixel-wide blocks, one ink each,
	// plus a partial last block column to exercise cropping.
	img := image.NewCMYK(image.Rect(0, 0, 37, 20))
	for y := range 20 {
		for x := range 37 {
			var c color.CMYK
			switch x / 8 {
			case 0:
				c = color.CMYK{C: 255}
			case 1:
				c = color.CMYK{M: 200}
			case 2:
				c = color.CMYK{Y: 100, K: 30}
			case 3:
				c = color.CMYK{K: 255}
			default:
				c = color.CMYK{}
			}
			img.SetCMYK(x, y, c)
		}
	}
	for _, adobe := range []bool{true, false} {
		t.Run(fmt.Sprintf("adobe=%v", adobe), func(t *testing.T) {
			data, err := EncodeCMYKJPEG(img, 254, adobe)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(data, []byte("\xff\xee\x00\x0eAdobe")); got != adobe {
				t.Errorf("APP14 present %v", got)
			}
			if !bytes.Contains(data, []byte("Exif\x00\x00MM")) {
				t.Error("no EXIF segment")
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Width != 37 || cfg.Height != 20 || cfg.ColorModel != color.CMYKModel {
				t.Errorf("config %dx%d %v", cfg.Width, cfg.Height, cfg.ColorModel)
			}
			got, err := jpeg.Decode(bytes.NewReader(data))
			if !adobe {
				// Go refuses four components without APP14; the header
				// check above is what can be verified.
				if err == nil {
					t.Error("image/jpeg decoded a CMYK JPEG without APP14")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cm, ok := got.(*image.CMYK)
			if !ok {
				t.Fatalf("decoded %T", got)
			}
			for y := range 20 {
				for x := range 37 {
					if g, w := cm.CMYKAt(x, y), img.CMYKAt(x, y); g != w {
						t.Fatalf("(%d,%d): got %v, want %v", x, y, g, w)
					}
				}
			}
		})
	}
}
