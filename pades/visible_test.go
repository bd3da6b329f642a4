package pades

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/internal/testimages"
)

// renderDPI is the resolution pages are rendered at for raster checks.
const renderDPI = 100

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

			x0, y0, x1, y1, n := pixelBox(renderPage(t, out, 1), blue)
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

// wordBoxMM returns the union box, in mm from the page's top-left, of the
// consecutive words of phrase on page n as pdftotext -bbox reports them.
func wordBoxMM(t *testing.T, path string, n int, phrase string) (x0, y0, x1, y1 float64) {
	t.Helper()
	out, err := exec.Command("pdftotext", "-bbox", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>`)
	type word struct {
		text           string
		x0, y0, x1, y1 float64
	}
	var words []word
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v * 25.4 / 72 }
		words = append(words, word{m[5], f(m[1]), f(m[2]), f(m[3]), f(m[4])})
	}
	want := strings.Fields(phrase)
	for i := 0; i+len(want) <= len(words); i++ {
		ok := true
		for k, w := range want {
			ok = ok && words[i+k].text == w
		}
		if ok {
			x0, y0, x1, y1 = words[i].x0, words[i].y0, words[i].x1, words[i].y1
			for _, w := range words[i : i+len(want)] {
				x0, y0, x1, y1 = min(x0, w.x0), min(y0, w.y0), max(x1, w.x1), max(y1, w.y1)
			}
			return
		}
	}
	t.Fatalf("pdftotext does not find %q on page %d", phrase, n)
	return
}

func TestAnchorPlacesSignatureAboveName(t *testing.T) {
	sig, err := testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := sample(t, pdfcorpus.LetterName)
	opts := baseOptions()
	opts.Field.Page = 2
	opts.Field.Anchor = &Anchor{Text: "Nguyễn Văn Ánh", W: 50, H: 20, OffsetY: -22, CenterX: true}
	opts.Field.Appearance = &Appearance{Images: []PlacedImage{{Data: sig, W: mmToPt(50), H: mmToPt(20)}}}
	out, _ := signFile(t, in, fx.personal, opts)

	nx0, ny0, nx1, _ := wordBoxMM(t, out, 2, "Nguyễn Văn Ánh")
	img := renderPage(t, out, 2)
	x0, y0, x1, y1, n := pixelBox(img, blue)
	if n < 100 {
		t.Fatalf("only %d blue pixels on page 2", n)
	}
	t.Logf("name at x %.1f–%.1f, top %.1f mm; signature ink at x %.1f–%.1f, y %.1f–%.1f mm", nx0, nx1, ny0, x0, x1, y0, y1)
	if y1 > ny0+0.5 || y0 < ny0-25 {
		t.Errorf("the signature (y %.1f–%.1f mm) is not just above the name (top %.1f mm)", y0, y1, ny0)
	}
	if c, nc := (x0+x1)/2, (nx0+nx1)/2; c < nc-6 || c > nc+6 {
		t.Errorf("the signature is centred at x %.1f mm, the name at %.1f mm", c, nc)
	}

	opts.Field.Anchor = &Anchor{Text: "Không có trên trang", W: 50, H: 20}
	if _, err := SignFile(testContext(t), in, filepath.Join(t.TempDir(), "x.pdf"), fx.personal.key, fx.personal.cert, opts); !errors.Is(err, ErrAnchorNotFound) {
		t.Errorf("missing anchor: err = %v, want ANCHOR_NOT_FOUND", err)
	}
}

// renderPage renders page n of path as viewers show it (the crop box).
func renderPage(t *testing.T, path string, n int) image.Image {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "page")
	if out, err := exec.Command("pdftoppm", "-r", "100", "-cropbox", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), "-png", path, prefix).CombinedOutput(); err != nil {
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

// TestVisibleOnOffsetBoxes: a page whose MediaBox does not start at (0,0)
// and whose CropBox is smaller; the box lands where asked on the page as
// displayed (pdftoppm renders the CropBox).
func TestVisibleOnOffsetBoxes(t *testing.T) {
	var base []byte
	for _, s := range fx.seeds {
		if s.Name == "seed-classic.pdf" {
			b, err := os.ReadFile(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			base = b
		}
	}
	if base == nil {
		t.Fatal("no classic seed")
	}
	edited := bytes.Replace(base, []byte("/MediaBox [0 0 595 842]"), []byte("/MediaBox [100 200 695 1042] /CropBox [120 230 675 1000]"), 1)
	if bytes.Equal(edited, base) {
		t.Fatal("the seed's MediaBox was not found")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.pdf")
	in := filepath.Join(dir, "offset.pdf")
	if err := os.WriteFile(raw, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	// qpdf rewrites the file with a correct cross-reference table.
	if out, err := exec.Command("qpdf", raw, in).CombinedOutput(); err != nil && !strings.Contains(string(out), "operation succeeded") {
		t.Fatalf("qpdf: %v: %s", err, out)
	}
	sig, err := testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	box := RectMM{X: 60, Y: 100, W: 50, H: 20}
	opts := baseOptions()
	opts.Field.RectMM = box
	opts.Field.Appearance = &Appearance{Images: []PlacedImage{{Data: sig, W: mmToPt(50), H: mmToPt(20)}}}
	out, _ := signFile(t, in, fx.personal, opts)
	x0, y0, x1, y1, n := pixelBox(renderPage(t, out, 1), blue)
	if n < 100 {
		t.Fatalf("only %d blue pixels", n)
	}
	const tol = 1.5
	if x0 < box.X-tol || y0 < box.Y-tol || x1 > box.X+box.W+tol || y1 > box.Y+box.H+tol || x1-x0 < box.W/2 {
		t.Errorf("ink at %.1f–%.1f × %.1f–%.1f mm, asked %+v", x0, x1, y0, y1, box)
	}
}
