package pades

import (
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/internal/testimages"
)

// renderDPI is the resolution pages are rendered at for raster checks.
const renderDPI = 100

// render renders page 1 of path and returns it.
func render(t *testing.T, path string) image.Image {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "page")
	if out, err := exec.Command("pdftoppm", "-r", "100", "-f", "1", "-l", "1", "-png", path, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	matches, _ := filepath.Glob(prefix + "*.png")
	if len(matches) != 1 {
		t.Fatalf("pdftoppm wrote %v", matches)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pixelBox returns the bounding box, in millimetres from the top-left of
// the rendered page, of the pixels keep selects, and how many there are.
func pixelBox(img image.Image, keep func(r, g, b uint32) bool) (x0, y0, x1, y1 float64, n int) {
	bounds := img.Bounds()
	minX, minY, maxX, maxY := bounds.Max.X, bounds.Max.Y, -1, -1
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if keep(r>>8, g>>8, b>>8) {
				n++
				minX, minY = min(minX, x), min(minY, y)
				maxX, maxY = max(maxX, x), max(maxY, y)
			}
		}
	}
	px := 25.4 / renderDPI
	return float64(minX) * px, float64(minY) * px, float64(maxX+1) * px, float64(maxY+1) * px, n
}

func blue(r, g, b uint32) bool { return b > r+60 && b > g+30 }

func TestVisibleSignatureImageAndText(t *testing.T) {
	sig, err := testimages.EncodePNG(testimages.Signature(600, 240), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   string
	}{
		{"portrait", sample(t, pdfcorpus.LetterName)},
		{"rotate 90", sample(t, pdfcorpus.Rotate90Name)},
		{"rotate 270", sample(t, pdfcorpus.Rotate270Name)},
	}
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Inside the page whether it is displayed portrait (210×297 mm) or
			// landscape (297×210 mm).
			box := RectMM{X: 110, Y: 150, W: 60, H: 24}
			opts := baseOptions()
			opts.Field.RectMM = box
			opts.Field.Appearance = &Appearance{
				Images: []PlacedImage{{Data: sig, X: 0, Y: 0, W: mmToPt(60), H: mmToPt(24)}},
				Text:   []TextLine{{Text: "Ký bởi: Nguyễn Văn Ánh", X: 2, Y: 2, Size: 7}},
			}
			out, _ := signFile(t, tc.in, fx.personal, opts)
			validate(t, db, tc.in, out, 1)

			x0, y0, x1, y1, n := pixelBox(render(t, out), blue)
			if n < 100 {
				t.Fatalf("only %d blue pixels: the signature image is not drawn", n)
			}
			const tol = 1.5 // mm
			if x0 < box.X-tol || y0 < box.Y-tol || x1 > box.X+box.W+tol || y1 > box.Y+box.H+tol {
				t.Errorf("blue pixels span [%.1f,%.1f]-[%.1f,%.1f] mm, outside the box %+v", x0, y0, x1, y1, box)
			}
			if x1-x0 < box.W/2 || y1-y0 < box.H/2 {
				t.Errorf("the image covers only [%.1f,%.1f]-[%.1f,%.1f] mm of the box %+v", x0, y0, x1, y1, box)
			}
			txt, err := exec.Command("pdftotext", "-f", "1", "-l", "1", out, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(txt), "Ký bởi: Nguyễn Văn Ánh") {
				t.Errorf("pdftotext does not find the signature text")
			}
		})
	}
}

// mmToPt converts millimetres to points, for test readability.
func mmToPt(v float64) float64 { return v * 72 / 25.4 }

func TestVisibleTextIsSubset(t *testing.T) {
	in := sample(t, pdfcorpus.LetterName)
	_, resPlain := signFile(t, in, fx.org, baseOptions())
	opts := baseOptions()
	opts.Field.RectMM = RectMM{X: 130, Y: 10, W: 70, H: 14}
	opts.Field.Appearance = &Appearance{Text: []TextLine{
		{Text: "Số: 15/QĐ-UBND", X: 2, Y: 28, Size: 10},
		{Text: "Bình Phước, ngày 05 tháng 01 năm 2026", X: 2, Y: 16, Size: 10, Style: Italic},
		{Text: "2026-11-22T14:05:09+07:00", X: 2, Y: 4, Size: 10},
	}}
	out, res := signFile(t, in, fx.org, opts)
	extra := res.Size - resPlain.Size
	t.Logf("three lines in two styles add %d bytes over an invisible signature", extra)
	if extra > 60*1024 {
		t.Errorf("a text appearance added %d bytes; the font is not subset (budget 60 KB)", extra)
	}
	txt, err := exec.Command("pdftotext", "-f", "1", "-l", "1", out, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Số: 15/QĐ-UBND", "Bình Phước, ngày 05 tháng 01 năm 2026", "2026-11-22T14:05:09+07:00"} {
		if !strings.Contains(string(txt), want) {
			t.Errorf("pdftotext does not find %q", want)
		}
	}
	fonts, err := exec.Command("pdffonts", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(fonts), "+LiberationSerif ") || !strings.Contains(string(fonts), "+LiberationSerif-Italic") {
		t.Errorf("pdffonts does not list the embedded subsets:\n%s", fonts)
	}
}
