package appearance

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// a4 returns an A4 page box in points.
func a4() [4]float64 { return [4]float64{0, 0, 595.276, 841.89} }

// offsetMedia and offsetCrop return the boxes of a page that does not
// start at the origin and whose CropBox is smaller than its MediaBox.
func offsetMedia() [4]float64 { return [4]float64{100, 200, 695, 1042} }
func offsetCrop() [4]float64  { return [4]float64{120, 230, 675, 1000} }

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// apply maps form-space point (x, y) through m and then the translation
// to the rectangle's lower-left corner, as a viewer draws an appearance
// whose transformed BBox already starts at the origin.
func apply(m [6]float64, r Rect, x, y float64) (ux, uy float64) {
	return r.LLX + m[0]*x + m[2]*y + m[4], r.LLY + m[1]*x + m[3]*y + m[5]
}

func TestPlaceMM(t *testing.T) {
	geoms := []struct {
		name string
		g    PageGeometry
	}{
		{"A4", PageGeometry{MediaBox: a4()}},
		{"A4 rotate 90", PageGeometry{MediaBox: a4(), Rotate: 90}},
		{"A4 rotate 180", PageGeometry{MediaBox: a4(), Rotate: 180}},
		{"A4 rotate 270", PageGeometry{MediaBox: a4(), Rotate: 270}},
		{"A4 rotate -90", PageGeometry{MediaBox: a4(), Rotate: -90}},
		{"A4 rotate 450", PageGeometry{MediaBox: a4(), Rotate: 450}},
		{"A4 rotate -540", PageGeometry{MediaBox: a4(), Rotate: -540}},
		{"offset", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop()}},
		{"offset rotate 90", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: 90}},
		{"offset rotate 180", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: 180}},
		{"offset rotate 270", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: 270}},
		{"reversed corners", PageGeometry{MediaBox: [4]float64{695, 1042, 100, 200}, CropBox: [4]float64{675, 1000, 120, 230}, Rotate: 90}},
		{"crop beyond media", PageGeometry{MediaBox: offsetMedia(), CropBox: [4]float64{0, 0, 675, 1000}, Rotate: 270}},
	}
	boxes := [][4]float64{{10, 20, 30, 40}, {30, 40, 60, 30}, {0, 0, 5, 5}, {100.5, 7.25, 0.1, 80}}
	for _, gt := range geoms {
		for _, b := range boxes {
			t.Run(fmt.Sprintf("%s/%v", gt.name, b), func(t *testing.T) {
				g := gt.g
				x, y, w, h := b[0], b[1], b[2], b[3]
				rect, m, bw, bh := g.PlaceMM(x, y, w, h)
				const tol = 1e-9
				if !near(bw, MM(w), tol) || !near(bh, MM(h), tol) {
					t.Fatalf("bbox %v×%v, want %v×%v", bw, bh, MM(w), MM(h))
				}
				if rect.Width() < 0 || rect.Height() < 0 {
					t.Fatalf("rect %v not normalised", rect)
				}
				// The matrix must be a rotation by a multiple of 90°.
				if m[0]*m[3]-m[1]*m[2] != 1 || math.Abs(m[0])+math.Abs(m[1]) != 1 {
					t.Fatalf("matrix %v is not a rotation", m)
				}
				// The transformed BBox is exactly [0 0 rectW rectH]: the
				// standard's BBox-to-Rect fit is then a pure translation.
				lx, ly, ux, uy := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
				for _, c := range [][2]float64{{0, 0}, {bw, 0}, {0, bh}, {bw, bh}} {
					px, py := m[0]*c[0]+m[2]*c[1]+m[4], m[1]*c[0]+m[3]*c[1]+m[5]
					lx, ly, ux, uy = math.Min(lx, px), math.Min(ly, py), math.Max(ux, px), math.Max(uy, py)
				}
				if !near(lx, 0, tol) || !near(ly, 0, tol) || !near(ux, rect.Width(), tol) || !near(uy, rect.Height(), tol) {
					t.Errorf("transformed BBox [%v %v %v %v], want [0 0 %v %v]", lx, ly, ux, uy, rect.Width(), rect.Height())
				}
				// Upright: the form's top-left corner appears at the
				// requested top-left corner, its bottom-right corner at
				// the bottom-right, its top-right at the top-right.
				corners := []struct{ fx, fy, dx, dy float64 }{
					{0, bh, x, y},
					{bw, 0, x + w, y + h},
					{bw, bh, x + w, y},
					{0, 0, x, y + h},
				}
				for _, c := range corners {
					dx, dy := g.DisplayMM(apply(m, rect, c.fx, c.fy))
					if !near(dx, c.dx, 1e-9) || !near(dy, c.dy, 1e-9) {
						t.Errorf("form point (%v,%v) displayed at (%v,%v) mm, want (%v,%v)", c.fx, c.fy, dx, dy, c.dx, c.dy)
					}
				}
				gx, gy, gw, gh := g.DisplayRectMM(rect)
				if !near(gx, x, 1e-9) || !near(gy, y, 1e-9) || !near(gw, w, 1e-9) || !near(gh, h, 1e-9) {
					t.Errorf("DisplayRectMM = %v %v %v %v, want %v", gx, gy, gw, gh, b)
				}
				// PlacePt agrees with PlaceMM.
				r2, m2, bw2, bh2 := g.PlacePt(MM(x), MM(y), MM(w), MM(h))
				if r2 != rect || m2 != m || bw2 != bw || bh2 != bh {
					t.Errorf("PlacePt differs: %v %v %v %v", r2, m2, bw2, bh2)
				}
			})
		}
	}
}

// TestPlaceMMValues pins the rectangles and matrices for hand-computed
// cases, so that a change to the conventions cannot slip through both the
// code and the round-trip test.
func TestPlaceMMValues(t *testing.T) {
	W, H := a4()[2], a4()[3]
	tests := []struct {
		name   string
		g      PageGeometry
		rect   Rect
		matrix [6]float64
	}{
		{"A4", PageGeometry{MediaBox: a4()}, Rect{MM(10), H - MM(60), MM(40), H - MM(20)}, [6]float64{1, 0, 0, 1, 0, 0}},
		// Turned clockwise: displayed right is user up, displayed down
		// is user right.
		{"A4 rotate 90", PageGeometry{MediaBox: a4(), Rotate: 90}, Rect{MM(20), MM(10), MM(60), MM(40)}, [6]float64{0, 1, -1, 0, MM(40), 0}},
		{"A4 rotate 180", PageGeometry{MediaBox: a4(), Rotate: 180}, Rect{W - MM(40), MM(20), W - MM(10), MM(60)}, [6]float64{-1, 0, 0, -1, MM(30), MM(40)}},
		{"A4 rotate 270", PageGeometry{MediaBox: a4(), Rotate: 270}, Rect{W - MM(60), H - MM(40), W - MM(20), H - MM(10)}, [6]float64{0, -1, 1, 0, 0, MM(30)}},
		{"offset crop", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop()}, Rect{120 + MM(10), 1000 - MM(60), 120 + MM(40), 1000 - MM(20)}, [6]float64{1, 0, 0, 1, 0, 0}},
		{"offset crop rotate 90", PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: 90}, Rect{120 + MM(20), 230 + MM(10), 120 + MM(60), 230 + MM(40)}, [6]float64{0, 1, -1, 0, MM(40), 0}},
		{"no crop box", PageGeometry{MediaBox: offsetMedia()}, Rect{100 + MM(10), 1042 - MM(60), 100 + MM(40), 1042 - MM(20)}, [6]float64{1, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rect, m, _, _ := tt.g.PlaceMM(10, 20, 30, 40)
			for i, v := range [4]float64{rect.LLX, rect.LLY, rect.URX, rect.URY} {
				want := [4]float64{tt.rect.LLX, tt.rect.LLY, tt.rect.URX, tt.rect.URY}[i]
				if !near(v, want, 1e-9) {
					t.Errorf("rect %v, want %v", rect, tt.rect)
					break
				}
			}
			for i := range m {
				if !near(m[i], tt.matrix[i], 1e-9) {
					t.Errorf("matrix %v, want %v", m, tt.matrix)
					break
				}
			}
		})
	}
}

func TestDisplayRoundTrip(t *testing.T) {
	for _, rot := range []int{0, 90, 180, 270, -90, -180, -270, 360, 630, 45} {
		g := PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: rot}
		for _, p := range [][2]float64{{120, 230}, {675, 1000}, {300.25, 512.5}, {0, 0}} {
			x, y := g.DisplayPt(p[0], p[1])
			ux, uy := g.userPoint(x, y)
			if !near(ux, p[0], 1e-9) || !near(uy, p[1], 1e-9) {
				t.Errorf("rotate %d: %v → (%v,%v) → (%v,%v)", rot, p, x, y, ux, uy)
			}
		}
	}
}

func TestDisplaySize(t *testing.T) {
	tests := []struct {
		g    PageGeometry
		w, h float64
	}{
		{PageGeometry{MediaBox: a4()}, a4()[2], a4()[3]},
		{PageGeometry{MediaBox: a4(), Rotate: 90}, a4()[3], a4()[2]},
		{PageGeometry{MediaBox: a4(), Rotate: -270}, a4()[3], a4()[2]},
		{PageGeometry{MediaBox: a4(), Rotate: 180}, a4()[2], a4()[3]},
		{PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop()}, 555, 770},
		{PageGeometry{MediaBox: offsetMedia(), CropBox: offsetCrop(), Rotate: 270}, 770, 555},
		// A CropBox is clipped to the MediaBox; one outside it is ignored.
		{PageGeometry{MediaBox: offsetMedia(), CropBox: [4]float64{0, 0, 300, 400}}, 200, 200},
		{PageGeometry{MediaBox: offsetMedia(), CropBox: [4]float64{0, 0, 50, 50}}, 595, 842},
		// A /Rotate that is not a multiple of 90 is read as 0.
		{PageGeometry{MediaBox: a4(), Rotate: 45}, a4()[2], a4()[3]},
	}
	for _, tt := range tests {
		if w, h := tt.g.DisplaySize(); !near(w, tt.w, 1e-9) || !near(h, tt.h, 1e-9) {
			t.Errorf("%+v: %v×%v, want %v×%v", tt.g, w, h, tt.w, tt.h)
		}
	}
}

func TestNewPageGeometry(t *testing.T) {
	tests := []struct {
		name        string
		media, crop [4]float64
		rotate      int
		want        PageGeometry
		err         bool
	}{
		{"plain", a4(), [4]float64{}, 0, PageGeometry{MediaBox: a4()}, false},
		{"negative rotate", a4(), [4]float64{}, -90, PageGeometry{MediaBox: a4(), Rotate: 270}, false},
		{"large rotate", a4(), [4]float64{}, 810, PageGeometry{MediaBox: a4(), Rotate: 90}, false},
		{"very negative", a4(), [4]float64{}, -720, PageGeometry{MediaBox: a4()}, false},
		{"reversed corners", [4]float64{595, 842, 0, 0}, [4]float64{}, 0, PageGeometry{MediaBox: [4]float64{0, 0, 595, 842}}, false},
		{"crop clipped", offsetMedia(), [4]float64{0, 0, 600, 2000}, 180, PageGeometry{MediaBox: offsetMedia(), CropBox: [4]float64{100, 200, 600, 1042}, Rotate: 180}, false},
		{"rotate 45", a4(), [4]float64{}, 45, PageGeometry{}, true},
		{"no area", [4]float64{0, 0, 0, 842}, [4]float64{}, 0, PageGeometry{}, true},
		{"NaN", [4]float64{0, 0, math.NaN(), 842}, [4]float64{}, 0, PageGeometry{}, true},
		{"infinite crop", a4(), [4]float64{0, 0, math.Inf(1), 842}, 0, PageGeometry{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewPageGeometry(tt.media, tt.crop, tt.rotate)
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g != tt.want {
				t.Errorf("got %+v, want %+v", g, tt.want)
			}
		})
	}
}

func TestBoxFromArray(t *testing.T) {
	tests := []struct {
		a    pdf.Array
		want [4]float64
		err  bool
	}{
		{pdf.Array{pdf.Int(0), pdf.Int(0), pdf.Real(595.5), pdf.Int(842)}, [4]float64{0, 0, 595.5, 842}, false},
		{pdf.Array{pdf.Int(0), pdf.Int(0), pdf.Int(1)}, [4]float64{}, true},
		{pdf.Array{pdf.Int(0), pdf.Name("x"), pdf.Int(1), pdf.Int(1)}, [4]float64{}, true},
		{pdf.Array{pdf.Int(0), pdf.Int(0), pdf.Real(math.Inf(1)), pdf.Int(1)}, [4]float64{}, true},
	}
	for _, tt := range tests {
		got, err := BoxFromArray(tt.a)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("BoxFromArray(%v) = %v, %v", tt.a, got, err)
		}
	}
}

func TestFitSize(t *testing.T) {
	tests := []struct {
		name       string
		img        *Image
		maxW, maxH float64
		w, h       float64
	}{
		{"wide image, wide box", &Image{Width: 600, Height: 240}, 60, 30, 60, 24},
		{"wide image, tall box", &Image{Width: 600, Height: 240}, 30, 60, 30, 12},
		{"square image", &Image{Width: 100, Height: 100}, 50, 20, 20, 20},
		{"anisotropic resolution", &Image{Width: 100, Height: 100, DPIX: 200, DPIY: 100}, 100, 100, 50, 100},
		{"one resolution only is ignored", &Image{Width: 100, Height: 50, DPIX: 200}, 100, 100, 100, 50},
		{"empty image", &Image{}, 10, 10, 0, 0},
		{"nil image", nil, 10, 10, 0, 0},
		{"empty box", &Image{Width: 1, Height: 1}, 0, 10, 0, 0},
		{"NaN box", &Image{Width: 1, Height: 1}, math.NaN(), 10, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h := FitSize(tt.img, tt.maxW, tt.maxH)
			if !near(w, tt.w, 1e-9) || !near(h, tt.h, 1e-9) {
				t.Errorf("got %v×%v, want %v×%v", w, h, tt.w, tt.h)
			}
		})
	}
}

func TestPhysicalSize(t *testing.T) {
	tests := []struct {
		name     string
		img      *Image
		diameter float64
		w, h     float64
		kind     ErrorKind
	}{
		{"declared 40 mm", &Image{Width: 500, Height: 500}, 40, MM(40), MM(40), 0},
		{"declared wins over resolution", &Image{Width: 500, Height: 500, DPIX: 72, DPIY: 72}, 40, MM(40), MM(40), 0},
		{"declared, not square", &Image{Width: 400, Height: 500}, 40, MM(32), MM(40), 0},
		{"from 299.72 dpi", &Image{Width: 472, Height: 472, DPIX: 299.72, DPIY: 299.72}, 0, 472 / 299.72 * 72, 472 / 299.72 * 72, 0},
		{"from 300×150 dpi", &Image{Width: 300, Height: 150, DPIX: 300, DPIY: 150}, 0, 72, 72, 0},
		{"unknown", &Image{Width: 500, Height: 500}, 0, 0, 0, ErrNoPhysicalSize},
		{"negative", &Image{Width: 500, Height: 500}, -1, 0, 0, ErrInvalid},
		{"NaN", &Image{Width: 500, Height: 500}, math.NaN(), 0, 0, ErrInvalid},
		{"no pixels", &Image{}, 40, 0, 0, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h, err := PhysicalSize(tt.img, tt.diameter)
			if tt.kind != 0 {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("got %v, want %v", err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !near(w, tt.w, 1e-9) || !near(h, tt.h, 1e-9) {
				t.Errorf("got %v×%v pt, want %v×%v", w, h, tt.w, tt.h)
			}
		})
	}
}

func TestMM(t *testing.T) {
	if !near(MM(25.4), 72, 1e-12) || !near(ToMM(72), 25.4, 1e-12) || !near(ToMM(MM(40)), 40, 1e-12) {
		t.Errorf("MM(25.4) = %v, ToMM(72) = %v", MM(25.4), ToMM(72))
	}
}
