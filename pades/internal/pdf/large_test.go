package pdf

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// writeLargePDF writes a document of pages pages, each showing its own
// uncompressed image of imageBytes pseudo-random bytes, and returns its
// path and size. The data is written directly, never held in memory.
func writeLargePDF(tb testing.TB, dir string, pages, imageBytes int) (string, int64) {
	tb.Helper()
	path := filepath.Join(dir, "large.pdf")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var off int64
	write := func(format string, args ...any) {
		n, err := fmt.Fprintf(bw, format, args...)
		if err != nil {
			tb.Fatal(err)
		}
		off += int64(n)
	}
	offs := make([]int64, 3+3*pages)
	write("%%PDF-1.7\n%%\xe2\xe3\xcf\xd3\n")
	offs[1] = off
	write("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	offs[2] = off
	write("2 0 obj\n<< /Type /Pages /Count %d /Kids [", pages)
	for i := range pages {
		write(" %d 0 R", 3+3*i)
	}
	write(" ] >>\nendobj\n")
	x := uint64(0x9e3779b97f4a7c15)
	row := make([]byte, 4096)
	for i := range pages {
		page, content, image := 3+3*i, 4+3*i, 5+3*i
		offs[page] = off
		write("%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R /Resources << /XObject << /Im1 %d 0 R >> >> >>\nendobj\n", page, content, image)
		cs := "q 595 0 0 842 0 0 cm /Im1 Do Q"
		offs[content] = off
		write("%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", content, len(cs), cs)
		offs[image] = off
		write("%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n",
			image, len(row), imageBytes/len(row), imageBytes)
		for left := imageBytes; left > 0; left -= len(row) {
			for j := 0; j < len(row); j += 8 {
				// xorshift64: incompressible, and fast to make.
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				for k := range 8 {
					row[j+k] = byte(x >> (8 * k))
				}
			}
			n, err := bw.Write(row[:min(left, len(row))])
			if err != nil {
				tb.Fatal(err)
			}
			off += int64(n)
		}
		write("\nendstream\nendobj\n")
	}
	xref := off
	write("xref\n0 %d\n0000000000 65535 f \n", len(offs))
	for _, o := range offs[1:] {
		write("%010d 00000 n \n", o)
	}
	write("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs), xref)
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	return path, off
}

// openAndWalk opens the file, walks the page tree and looks up every
// page's image (without reading its data).
func openAndWalk(tb testing.TB, path string, pages int) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	r, err := NewReader(f, st.Size())
	if err != nil {
		tb.Fatal(err)
	}
	if n := countPages(tb, r); n != pages {
		tb.Fatalf("%d pages, want %d", n, pages)
	}
	for i := range pages {
		o, err := r.Object(Ref{Num: uint32(5 + 3*i)})
		if err != nil {
			tb.Fatal(err)
		}
		if _, ok := o.(*Stream); !ok {
			tb.Fatalf("image %d is %T", i, o)
		}
	}
}

// TestLargeFileMemory checks that opening a large file costs memory in
// proportion to its structure, not its size.
func TestLargeFileMemory(t *testing.T) {
	const pages, image = 64, 512 << 10 // 32 MiB
	path, size := writeLargePDF(t, t.TempDir(), pages, image)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	openAndWalk(t, path, pages)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("opened and walked %d MiB with %d KiB allocated", size>>20, allocated>>10)
	if allocated > 2<<20 {
		t.Fatalf("allocated %d bytes to open a %d-byte file", allocated, size)
	}
}

// BenchmarkOpenLarge opens a file, walks its page tree and finds each
// page's image, for two files with the same structure and different sizes
// (about 24 and 96 MiB): time and allocations must not depend on the size.
func BenchmarkOpenLarge(b *testing.B) {
	const pages = 384
	for _, image := range []int{64 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("image=%dKiB", image>>10), func(b *testing.B) {
			path, size := writeLargePDF(b, b.TempDir(), pages, image)
			b.ReportAllocs()
			for b.Loop() {
				openAndWalk(b, path, pages)
			}
			b.ReportMetric(float64(size)/(1<<20), "file-MiB")
		})
	}
}

// TestManyObjects opens files with 100,000 objects listed in a classic
// table (read across many windows) and in an xref stream.
func TestManyObjects(t *testing.T) {
	const n = 100000
	for _, xrefStream := range []bool{false, true} {
		t.Run(fmt.Sprintf("xrefStream=%v", xrefStream), func(t *testing.T) {
			w := newPDF("1.7")
			w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
			w.obj(2, "<< /Type /Pages /Kids [] /Count 0 >>")
			for i := uint32(3); i < n; i++ {
				w.obj(i, fmt.Sprintf("<< /N %d >>", i))
			}
			if xrefStream {
				w.xrefStream(n, fmt.Sprintf("/Size %d /Root 1 0 R", n+1), nil)
			} else {
				w.xrefTable(fmt.Sprintf("/Size %d /Root 1 0 R", n), true, " \n")
			}
			r := openBytes(t, w.b.Bytes())
			entries := r.XrefEntries()
			if len(entries) != n-1+btoi(xrefStream) {
				t.Fatalf("%d entries", len(entries))
			}
			for i := uint32(3); i < n; i += 7 {
				o, err := r.Object(Ref{Num: i})
				if err != nil {
					t.Fatal(err)
				}
				if v, _ := o.(Dict).GetInt("N"); v != int64(i) {
					t.Fatalf("object %d has /N %d", i, v)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
