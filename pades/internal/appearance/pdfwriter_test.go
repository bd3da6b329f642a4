package appearance

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// pdfFile is a minimal PDF writer for the tests: numbered objects, a
// classic cross-reference table, nothing else. It stands in for the
// signer's incremental writer, which adds an Image's soft mask the same
// way.
type pdfFile struct {
	buf     bytes.Buffer
	offsets []int // offsets[n] is the offset of object n; 0 unused
	images  map[*Image]pdf.Ref
}

func newPDFFile() *pdfFile {
	f := &pdfFile{offsets: []int{0}, images: map[*Image]pdf.Ref{}}
	// The binary comment marks the file as binary for transfer tools.
	f.buf.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	return f
}

// alloc reserves the next object number.
func (f *pdfFile) alloc() pdf.Ref {
	f.offsets = append(f.offsets, 0)
	return pdf.Ref{Num: uint32(len(f.offsets) - 1)}
}

func (f *pdfFile) begin(t *testing.T, ref pdf.Ref) {
	t.Helper()
	if f.offsets[ref.Num] != 0 {
		t.Fatalf("object %d written twice", ref.Num)
	}
	f.offsets[ref.Num] = f.buf.Len()
	fmt.Fprintf(&f.buf, "%d 0 obj\n", ref.Num)
}

// put writes a non-stream object.
func (f *pdfFile) put(t *testing.T, ref pdf.Ref, o pdf.Object) {
	t.Helper()
	if err := pdf.CheckSerializable(o); err != nil {
		t.Fatal(err)
	}
	f.begin(t, ref)
	f.buf.Write(pdf.AppendObject(nil, o))
	f.buf.WriteString("\nendobj\n")
}

// putStream writes a stream object, setting /Length.
func (f *pdfFile) putStream(t *testing.T, ref pdf.Ref, d pdf.Dict, data []byte) {
	t.Helper()
	d = maps.Clone(d)
	d["Length"] = pdf.Int(len(data))
	if err := pdf.CheckSerializable(d); err != nil {
		t.Fatal(err)
	}
	f.begin(t, ref)
	f.buf.Write(pdf.AppendObject(nil, d))
	f.buf.WriteString("\nstream\n")
	f.buf.Write(data)
	f.buf.WriteString("\nendstream\nendobj\n")
}

// image writes img (and its soft mask first) once and returns its
// reference.
func (f *pdfFile) image(t *testing.T, img *Image) pdf.Ref {
	t.Helper()
	if ref, ok := f.images[img]; ok {
		return ref
	}
	if img.Dict["Length"] != pdf.Int(len(img.Data)) {
		t.Fatalf("image /Length %v, data %d bytes", img.Dict["Length"], len(img.Data))
	}
	d := img.Dict
	if img.SMask != nil {
		mref := f.alloc()
		f.putStream(t, mref, img.SMask.Dict, img.SMask.Data)
		d = img.WithSMask(mref)
	}
	ref := f.alloc()
	f.putStream(t, ref, d, img.Data)
	f.images[img] = ref
	return ref
}

// finish writes the cross-reference table and trailer.
func (f *pdfFile) finish(t *testing.T, root pdf.Ref) []byte {
	t.Helper()
	xref := f.buf.Len()
	fmt.Fprintf(&f.buf, "xref\n0 %d\n0000000000 65535 f \n", len(f.offsets))
	for n, off := range f.offsets[1:] {
		if off == 0 {
			t.Fatalf("object %d allocated but never written", n+1)
		}
		fmt.Fprintf(&f.buf, "%010d 00000 n \n", off)
	}
	trailer := pdf.Dict{"Size": pdf.Int(len(f.offsets)), "Root": root}
	fmt.Fprintf(&f.buf, "trailer\n%s\nstartxref\n%d\n%%%%EOF\n", pdf.AppendObject(nil, trailer), xref)
	return f.buf.Bytes()
}

// requireTool returns the path of an external program, failing the test
// with the Debian package to install when it is missing.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it with apt-get install -y %s", name, pkg)
	}
	return p
}

// run runs a tool with a timeout and returns its standard output.
func run(t *testing.T, name, pkg string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(t, name, pkg), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), err
}

// writeTemp stores a generated PDF under the test's temporary directory.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// qpdfCheck fails the test unless qpdf --check finds the file clean.
func qpdfCheck(t *testing.T, path string) {
	t.Helper()
	out, err := run(t, "qpdf", "qpdf", "--check", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "No syntax or stream encoding errors found") || strings.Contains(out, "WARNING") {
		t.Fatalf("qpdf --check:\n%s", out)
	}
}

// imageRow is one line of pdfimages -list.
type imageRow struct {
	kind, color, enc string
	width, height    int
	comp, bpc        int
	object           int
}

// pdfImages lists the images of page 1 as pdfimages sees them.
func pdfImages(t *testing.T, path string) []imageRow {
	t.Helper()
	out, err := run(t, "pdfimages", "poppler-utils", "-list", path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []imageRow
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(strings.TrimSpace(lines[0]), "page") {
		t.Fatalf("unexpected pdfimages output:\n%s", out)
	}
	for _, l := range lines[2:] {
		var page, num, id, obj int
		var r imageRow
		var interp string
		if _, err := fmt.Sscan(l, &page, &num, &r.kind, &r.width, &r.height, &r.color, &r.comp, &r.bpc, &r.enc, &interp, &obj, &id); err != nil {
			t.Fatalf("pdfimages line %q: %v", l, err)
		}
		r.object = obj
		rows = append(rows, r)
	}
	return rows
}

// renderDPI is the resolution of every rendering, so a millimetre is
// 150/25.4 ≈ 5.9 pixels.
const renderDPI = 150

// raster is a page rendered by pdftoppm: 8-bit RGB samples, row by row,
// as the PPM format stores them. Reading the file as is, rather than
// decoding a PNG into an image.Image, keeps the race-enabled tests fast.
type raster struct {
	w, h int
	pix  []byte
}

// Bounds returns the page rectangle in pixels.
func (r *raster) Bounds() image.Rectangle { return image.Rect(0, 0, r.w, r.h) }

// NRGBAAt returns the colour of pixel (x, y); outside the page, white.
func (r *raster) NRGBAAt(x, y int) color.NRGBA {
	if x < 0 || y < 0 || x >= r.w || y >= r.h {
		return color.NRGBA{255, 255, 255, 255}
	}
	p := r.pix[3*(y*r.w+x):]
	return color.NRGBA{p[0], p[1], p[2], 255}
}

// render rasterises page 1 of the PDF at path with pdftoppm at renderDPI,
// showing the CropBox as a viewer does (pdftoppm's default is the
// MediaBox).
func render(t *testing.T, path string) *raster {
	t.Helper()
	prefix := strings.TrimSuffix(path, ".pdf")
	if _, err := run(t, "pdftoppm", "poppler-utils", "-r", fmt.Sprint(renderDPI), "-cropbox", "-singlefile", path, prefix); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(prefix + ".ppm")
	if err != nil {
		t.Fatal(err)
	}
	// Header: "P6", width, height, maxval 255, each followed by white
	// space; pdftoppm writes no comments.
	var w, h, maxval int
	var magic string
	n, err := fmt.Sscan(string(data[:min(len(data), 64)]), &magic, &w, &h, &maxval)
	if err != nil || n != 4 || magic != "P6" || maxval != 255 {
		t.Fatalf("unexpected PPM header %q: %v", data[:min(len(data), 20)], err)
	}
	// The samples start after the single white-space byte that ends the
	// fourth header field.
	space := func(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }
	hdr, fields := 0, 0
	for ; fields < 4 && hdr < len(data); hdr++ {
		if space(data[hdr]) && hdr > 0 && !space(data[hdr-1]) {
			fields++
		}
	}
	if len(data)-hdr != 3*w*h {
		t.Fatalf("PPM has %d sample bytes, want %d for %d×%d", len(data)-hdr, 3*w*h, w, h)
	}
	return &raster{w, h, data[hdr:]}
}
