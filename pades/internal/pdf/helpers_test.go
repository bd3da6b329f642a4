package pdf

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pdfWriter assembles PDF files by hand for tests, recording object
// offsets so that cross-reference sections can be written.
type pdfWriter struct {
	b    bytes.Buffer
	offs map[uint32]int64
	free map[uint32]bool // listed as free in the next classic table
}

// newPDF starts a file with a header (and the customary binary comment).
func newPDF(version string) *pdfWriter {
	w := &pdfWriter{offs: map[uint32]int64{}}
	fmt.Fprintf(&w.b, "%%PDF-%s\n%%\xe2\xe3\xcf\xd3\n", version)
	return w
}

// appendTo continues an existing file (for incremental updates).
func appendTo(data []byte) *pdfWriter {
	w := &pdfWriter{offs: map[uint32]int64{}}
	w.b.Write(data)
	if len(data) > 0 && data[len(data)-1] != '\n' && data[len(data)-1] != '\r' {
		w.b.WriteByte('\n')
	}
	return w
}

func (w *pdfWriter) obj(num uint32, body string) {
	w.offs[num] = int64(w.b.Len())
	fmt.Fprintf(&w.b, "%d 0 obj\n%s\nendobj\n", num, body)
}

// stream writes a stream object; dict is the dictionary body without the
// angle brackets and without /Length, which is added (direct) unless the
// body already has one.
func (w *pdfWriter) stream(num uint32, dict string, data []byte) {
	w.offs[num] = int64(w.b.Len())
	if !strings.Contains(dict, "/Length") {
		dict += fmt.Sprintf(" /Length %d", len(data))
	}
	fmt.Fprintf(&w.b, "%d 0 obj\n<< %s >>\nstream\n", num, dict)
	w.b.Write(data)
	w.b.WriteString("\nendstream\nendobj\n")
}

// subsections groups sorted object numbers into contiguous runs.
func subsections(nums []uint32) [][2]uint32 {
	slices.Sort(nums)
	var out [][2]uint32
	for _, n := range nums {
		if k := len(out); k > 0 && out[k-1][0]+out[k-1][1] == n {
			out[k-1][1]++
			continue
		}
		out = append(out, [2]uint32{n, 1})
	}
	return out
}

// xrefTable writes a classic section for the objects written through w
// (plus the head of the free list when full is set), the trailer, the
// startxref and %%EOF, and returns the section's offset. eol is the
// two-byte end of the 20-byte entries (" \n", "\r\n"), or "\n" for the
// common 19-byte variant.
func (w *pdfWriter) xrefTable(trailer string, full bool, eol string) int64 {
	at := int64(w.b.Len())
	nums := make([]uint32, 0, len(w.offs)+1)
	for n := range w.offs {
		nums = append(nums, n)
	}
	if full {
		nums = append(nums, 0)
	}
	for n := range w.free {
		nums = append(nums, n)
	}
	w.b.WriteString("xref\n")
	for _, ss := range subsections(nums) {
		fmt.Fprintf(&w.b, "%d %d\n", ss[0], ss[1])
		for n := ss[0]; n < ss[0]+ss[1]; n++ {
			if n == 0 {
				fmt.Fprintf(&w.b, "%010d %05d f%s", 0, 65535, eol)
				continue
			}
			if w.free[n] {
				fmt.Fprintf(&w.b, "%010d %05d f%s", 0, 1, eol)
				continue
			}
			fmt.Fprintf(&w.b, "%010d %05d n%s", w.offs[n], 0, eol)
		}
	}
	fmt.Fprintf(&w.b, "trailer\n<< %s >>\nstartxref\n%d\n%%%%EOF\n", trailer, at)
	return at
}

// xent is one entry of an xref stream written by hand.
type xent struct {
	typ byte
	f2  uint32
	f3  uint16
}

// writeXrefStream writes xref stream object num holding entries, compressed
// with the PNG Up predictor, and returns its offset. trailer is added to
// its dictionary.
func (w *pdfWriter) writeXrefStream(num uint32, entries map[uint32]xent, trailer string) int64 {
	at := int64(w.b.Len())
	nums := make([]uint32, 0, len(entries))
	for n := range entries {
		nums = append(nums, n)
	}
	var rows []byte
	var index []string
	var prev [7]byte
	for _, ss := range subsections(nums) {
		index = append(index, fmt.Sprint(ss[0]), fmt.Sprint(ss[1]))
		for n := ss[0]; n < ss[0]+ss[1]; n++ {
			e := entries[n]
			row := [7]byte{e.typ, byte(e.f2 >> 24), byte(e.f2 >> 16), byte(e.f2 >> 8), byte(e.f2), byte(e.f3 >> 8), byte(e.f3)}
			rows = append(rows, 2) // PNG Up
			for i := range row {
				rows = append(rows, row[i]-prev[i])
			}
			prev = row
		}
	}
	dict := fmt.Sprintf("/Type /XRef /W [1 4 2] /Index [%s] /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 7 >> %s",
		strings.Join(index, " "), trailer)
	w.stream(num, dict, deflate(rows))
	return at
}

// xrefStream writes an xref stream object num for the objects written
// through w (and itself) plus extra entries, then startxref and %%EOF, and
// returns its offset.
func (w *pdfWriter) xrefStream(num uint32, trailer string, extra map[uint32]xent) int64 {
	entries := map[uint32]xent{num: {typ: 1, f2: uint32(w.b.Len())}}
	for n, o := range w.offs {
		entries[n] = xent{typ: 1, f2: uint32(o)}
	}
	for n, e := range extra {
		entries[n] = e
	}
	at := w.writeXrefStream(num, entries, trailer)
	fmt.Fprintf(&w.b, "startxref\n%d\n%%%%EOF\n", at)
	return at
}

func deflate(b []byte) []byte {
	var out bytes.Buffer
	zw := zlib.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// basePDF is a small valid document with a nested page tree of three
// pages, a compressed content stream, a stream with an indirect /Length,
// a font, and an Info dictionary.
func basePDF() []byte {
	w := newPDF("1.7")
	w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
	w.obj(2, "<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 3 /MediaBox [0 0 595.28 841.89] >>")
	w.obj(3, "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 9 0 R >> >> >>")
	content := []byte("BT /F1 24 Tf 72 720 Td (Xin ch\\340o \\(1\\)) Tj ET")
	w.stream(4, "/Filter /FlateDecode", deflate(content))
	w.obj(5, "<< /Type /Pages /Parent 2 0 R /Kids [6 0 R 8 0 R] /Count 2 >>")
	w.obj(6, "<< /Type /Page /Parent 5 0 R /Contents 7 0 R /Rotate 90 >>")
	data := []byte("0 0 m 100 100 l S")
	w.stream(7, "/Length 11 0 R", data)
	w.obj(8, "<< /Type /Page /Parent 5 0 R /MediaBox [0 0 200 200] >>")
	w.obj(9, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	w.obj(10, "<< /Producer (kyso test) /Title <FEFF0058> /CreationDate (D:20261122140509+07'00') >>")
	w.obj(11, strconv.Itoa(len(data)))
	w.xrefTable("/Size 12 /Root 1 0 R /Info 10 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>]", true, " \n")
	return w.b.Bytes()
}

// requireTool fails (never skips) when an external program is missing.
func requireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it with apt-get install -y %s", name, pkg)
	}
	return p
}

// runTool runs an external program and returns its standard output. qpdf
// exits with 3 for warnings, which is accepted when allowWarnings is set.
func runTool(t testing.TB, allowWarnings bool, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(allowWarnings && errors.As(err, &ee) && ee.ExitCode() == 3) {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openBytes(t testing.TB, data []byte) *Reader {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	return r
}

// countPages walks the page tree from the catalog and returns the number
// of leaves, failing on loops and unreadable nodes.
func countPages(t testing.TB, r *Reader) int {
	t.Helper()
	root, err := r.Resolve(r.Trailer().Get("Root"))
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	cat, ok := root.(Dict)
	if !ok {
		t.Fatalf("catalog is %T", root)
	}
	if tp, _ := cat.GetName("Type"); tp != "Catalog" {
		t.Fatalf("catalog /Type is %q", tp)
	}
	seen := map[Ref]bool{}
	var walk func(o Object, depth int) int
	walk = func(o Object, depth int) int {
		if depth > 64 {
			t.Fatal("page tree too deep")
		}
		if ref, ok := o.(Ref); ok {
			if seen[ref] {
				t.Fatalf("page tree loop at %v", ref)
			}
			seen[ref] = true
		}
		v, err := r.Resolve(o)
		if err != nil {
			t.Fatalf("page tree node: %v", err)
		}
		d, ok := v.(Dict)
		if !ok {
			t.Fatalf("page tree node is %T", v)
		}
		if tp, _ := d.GetName("Type"); tp == "Page" {
			return 1
		}
		kv, err := r.Resolve(d.Get("Kids"))
		if err != nil {
			t.Fatalf("/Kids: %v", err)
		}
		kids, ok := kv.(Array)
		if !ok {
			t.Fatalf("/Kids is %T", kv)
		}
		n := 0
		for _, k := range kids {
			n += walk(k, depth+1)
		}
		return n
	}
	return walk(cat.Get("Pages"), 0)
}

// isFormatError reports whether err carries a *FormatError.
func isFormatError(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}
