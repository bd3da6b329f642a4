package pdfcorpus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"runtime"
	"strconv"
	"sync"

	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// A4 at 200 dpi, the resolution office scanners default to for colour.
const (
	scanDPI    = 200
	scanWidth  = 1654 // 210 mm
	scanHeight = 2339 // 297 mm
	// scanQuality is high enough that sensor noise survives compression,
	// which is what makes real colour scans large.
	scanQuality = 92
)

// A4 in points, the page size the scans are placed on.
const (
	a4Width  = 595.28
	a4Height = 841.89
)

// rng is a xorshift64* generator: the pages need millions of cheap random
// numbers, and math/rand's locking and interface calls would dominate the
// time spent drawing.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

// intn returns a number in [0, n).
func (r *rng) intn(n int) int { return int(r.next() >> 33 % uint64(n)) }

// scanPage draws one page of a scanned, hand-filled register: yellowish
// paper lit unevenly, a printed header band, a ruled grid, rows of
// handwriting-like ink strokes and a red stamp, plus per-pixel sensor noise
// of amplitude ±noise. Noise is what decides the JPEG size: 6 gives the
// few hundred kilobytes of a typical office scan, 40 the several megabytes
// of a cheap scanner at high quality.
func scanPage(seed uint64, noise int) *image.YCbCr {
	r := rng(seed*0x9E3779B97F4A7C15 | 1)
	img := image.NewYCbCr(image.Rect(0, 0, scanWidth, scanHeight), image.YCbCrSubsampleRatio420)

	// Ink layer first, as luma/chroma targets per pixel; 0 means paper.
	ink := make([]uint8, scanWidth*scanHeight)
	const (
		inkPaper = iota
		inkRule
		inkPen
		inkPrint
		inkStamp
	)
	set := func(x, y int, v uint8) {
		if x >= 0 && y >= 0 && x < scanWidth && y < scanHeight {
			ink[y*scanWidth+x] = v
		}
	}
	// Printed header: blocks of "words" in black.
	for line := 0; line < 3; line++ {
		y0 := 140 + line*55
		for x := 180; x < scanWidth-180; {
			w := 30 + r.intn(120)
			for dx := 0; dx < w; dx++ {
				h := 18 + r.intn(14)
				for dy := 0; dy < h; dy++ {
					if r.intn(4) != 0 {
						set(x+dx, y0+30-dy, inkPrint)
					}
				}
			}
			x += w + 18
		}
	}
	// Ruled grid.
	cols := []int{120, 260, 700, 1000, 1300, 1534}
	for y := 360; y < scanHeight-120; y += 64 {
		for x := cols[0]; x <= cols[len(cols)-1]; x++ {
			set(x, y, inkRule)
			set(x, y+1, inkRule)
		}
	}
	for _, x := range cols {
		for y := 360; y < scanHeight-120-64; y++ {
			set(x, y, inkRule)
			set(x+1, y, inkRule)
		}
	}
	// Handwriting: in most cells, a wobbling pen trace.
	for y := 360; y+64 < scanHeight-120; y += 64 {
		for c := 0; c+1 < len(cols); c++ {
			if r.intn(5) == 0 {
				continue
			}
			x0, x1 := cols[c]+12, cols[c+1]-12-r.intn((cols[c+1]-cols[c])/2)
			py := y + 40
			for x := x0; x < x1; x++ {
				py += r.intn(5) - 2
				py = max(y+14, min(y+54, py))
				for t := 0; t < 3; t++ {
					set(x, py+t, inkPen)
				}
			}
		}
	}
	// A round red stamp near the bottom right, as on signed registers.
	cx, cy, rad := scanWidth-360, scanHeight-330, 150
	for y := cy - rad; y <= cy+rad; y++ {
		for x := cx - rad; x <= cx+rad; x++ {
			d := (x-cx)*(x-cx) + (y-cy)*(y-cy)
			if (d <= rad*rad && d >= (rad-10)*(rad-10)) || (d <= (rad-40)*(rad-40) && r.intn(3) == 0) {
				set(x, y, inkStamp)
			}
		}
	}

	// Colours in YCbCr: paper, rule (blue), pen (dark blue), print, stamp.
	type ycc struct{ y, cb, cr int }
	palette := [...]ycc{
		inkPaper: ycbcr(242, 236, 220),
		inkRule:  ycbcr(150, 170, 215),
		inkPen:   ycbcr(35, 45, 120),
		inkPrint: ycbcr(30, 30, 30),
		inkStamp: ycbcr(210, 40, 50),
	}
	clamp := func(v int) uint8 { return uint8(max(0, min(255, v))) }
	span := 2*noise + 1
	for y := 0; y < scanHeight; y++ {
		// Uneven lighting: darker towards the bottom and the binding edge.
		shade := -(y * 14 / scanHeight)
		row := y * img.YStride
		for x := 0; x < scanWidth; x++ {
			p := palette[ink[y*scanWidth+x]]
			n := 0
			if noise > 0 {
				n = r.intn(span) - noise
			}
			img.Y[row+x] = clamp(p.y + shade - (x*10)/scanWidth + n)
		}
	}
	for y := 0; y < scanHeight/2; y++ {
		for x := 0; x < scanWidth/2; x++ {
			p := palette[ink[(2*y)*scanWidth+2*x]]
			n := 0
			if noise > 0 {
				n = (r.intn(span) - noise) / 3
			}
			i := y*img.CStride + x
			img.Cb[i] = clamp(p.cb + n)
			img.Cr[i] = clamp(p.cr - n)
		}
	}
	return img
}

// ycbcr converts an RGB colour to integer YCbCr components.
func ycbcr(r, g, b uint8) struct{ y, cb, cr int } {
	y, cb, cr := color.RGBToYCbCr(r, g, b)
	return struct{ y, cb, cr int }{int(y), int(cb), int(cr)}
}

// scanJPEG draws and encodes one page.
func scanJPEG(seed uint64, noise int) ([]byte, error) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, scanPage(seed, noise), &jpeg.Options{Quality: scanQuality}); err != nil {
		return nil, fmt.Errorf("encode scan page %d: %w", seed, err)
	}
	return b.Bytes(), nil
}

// GenerateLargeScan writes to path an image-only PDF of about targetBytes
// (it stops after the first page that reaches the target): A4 pages, each a
// 200 dpi colour JPEG of a noisy scanned register, as cheap scanners
// produce. The PDF is written directly, one page at a time, so neither this
// process nor img2pdf ever holds the whole file; pages are encoded in
// parallel. The file appears at path only when complete.
func GenerateLargeScan(ctx context.Context, path string, targetBytes int64) error {
	if targetBytes <= 0 {
		return fmt.Errorf("pdfcorpus: large scan %s: target size %d is not positive", path, targetBytes)
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return fmt.Errorf("pdfcorpus: large scan: %w", err)
	}
	defer f.Abort()
	w := newPDFWriter(bufio.NewWriterSize(f, 1<<20))
	w.header()

	workers := max(1, runtime.GOMAXPROCS(0))
	var pages []int
	// At least one page, whatever the target: a PDF without pages is not a
	// scan.
	for seed := uint64(1); len(pages) == 0 || w.n < targetBytes; seed += uint64(workers) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pdfcorpus: large scan %s: %w", path, err)
		}
		// Encode one batch in parallel, then write it in order: at most
		// `workers` pages are held in memory at once.
		batch := make([][]byte, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { batch[i], errs[i] = scanJPEG(seed+uint64(i), 40) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("pdfcorpus: large scan %s: %w", path, err)
		}
		for _, jpg := range batch {
			if len(pages) > 0 && w.n >= targetBytes {
				break
			}
			pages = append(pages, w.imagePage(jpg))
		}
	}
	w.finish(pages, "Sổ đăng ký văn bản đến (bản quét)")
	if w.err != nil {
		return fmt.Errorf("pdfcorpus: large scan %s: %w", path, w.err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("pdfcorpus: large scan: %w", err)
	}
	return nil
}

// pdfWriter writes a simple classic-xref PDF sequentially, remembering each
// object's offset. The first write error sticks and ends all output, so
// callers check err once at the end.
type pdfWriter struct {
	bw      *bufio.Writer
	n       int64   // bytes written so far
	offsets []int64 // offsets[i] is object i+1
	err     error
}

func newPDFWriter(bw *bufio.Writer) *pdfWriter { return &pdfWriter{bw: bw} }

func (w *pdfWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	n, err := w.bw.Write(p)
	w.n += int64(n)
	w.err = err
}

func (w *pdfWriter) printf(format string, args ...any) {
	w.write(fmt.Appendf(nil, format, args...))
}

// header writes the version line and the binary comment that tells
// transfer programs the file is binary, and reserves object 1 for the page
// tree, which finish writes once every page is known.
func (w *pdfWriter) header() {
	w.write([]byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"))
	w.reserve()
}

// reserve allocates an object number to be written later.
func (w *pdfWriter) reserve() int {
	w.offsets = append(w.offsets, -1)
	return len(w.offsets)
}

// begin starts object num at the current offset.
func (w *pdfWriter) begin(num int) {
	w.offsets[num-1] = w.n
	w.printf("%d 0 obj\n", num)
}

// object writes a whole non-stream object and returns its number.
func (w *pdfWriter) object(body string) int {
	num := w.reserve()
	w.begin(num)
	w.printf("%s\nendobj\n", body)
	return num
}

// stream writes a stream object with dictionary entries extra.
func (w *pdfWriter) stream(extra string, data []byte) int {
	num := w.reserve()
	w.begin(num)
	w.printf("<< %s /Length %d >>\nstream\n", extra, len(data))
	w.write(data)
	w.write([]byte("\nendstream\nendobj\n"))
	return num
}

// imagePage writes a JPEG as an A4 page and returns the page's object
// number; its /Parent is object 1, the page tree written by finish.
func (w *pdfWriter) imagePage(jpg []byte) int {
	im := w.stream(fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode", scanWidth, scanHeight), jpg)
	content := w.stream("", fmt.Appendf(nil, "q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q", a4Width, a4Height))
	return w.object(fmt.Sprintf("<< /Type /Page /Parent 1 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>", a4Width, a4Height, im, content))
}

// finish writes the page tree (object 1, reserved by header), catalog,
// info, cross-reference table and trailer, and flushes.
func (w *pdfWriter) finish(pages []int, title string) {
	w.begin(1)
	var kids bytes.Buffer
	for _, p := range pages {
		kids.WriteString(strconv.Itoa(p) + " 0 R ")
	}
	w.printf("<< /Type /Pages /Kids [ %s] /Count %d >>\nendobj\n", kids.String(), len(pages))
	catalog := w.object("<< /Type /Catalog /Pages 1 0 R >>")
	info := w.object("<< /Title " + utf16Hex(title) + " /Producer (kyso pdfcorpus scan writer) /Creator (Canon DR-C225 II) >>")
	xref := w.n
	w.printf("xref\n0 %d\n0000000000 65535 f \n", len(w.offsets)+1)
	for _, off := range w.offsets {
		w.printf("%010d 00000 n \n", off)
	}
	w.printf("trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n",
		len(w.offsets)+1, catalog, info, fileID(title), fileID(title), xref)
	if w.err == nil {
		w.err = w.bw.Flush()
	}
}
