package pdf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// objStmPDF is written by hand: a catalog and a content stream as plain
// objects, the page tree inside an object stream, and either an xref
// stream or a hybrid classic table with /XRefStm. With freeInTable the
// hybrid table lists the compressed objects as free, as some writers do.
func objStmPDF(hybrid, freeInTable bool) []byte {
	w := newPDF("1.5")
	w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
	objs := []string{
		"<< /Type /Pages /Kids [3 0 R 7 0 R] /Count 2 >>",
		"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /MediaBox [0 0 100 100] >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Rotate 180 >>",
		"15", // the /Length of object 4
	}
	nums := []int{2, 3, 7, 8}
	var hdr, body strings.Builder
	for i, o := range objs {
		fmt.Fprintf(&hdr, "%d %d ", nums[i], body.Len())
		body.WriteString(o)
		body.WriteString("\n")
	}
	data := hdr.String() + body.String()
	w.stream(5, fmt.Sprintf("/Type /ObjStm /N %d /First %d /Filter /FlateDecode", len(objs), hdr.Len()), deflate([]byte(data)))
	w.stream(4, "/Length 8 0 R", []byte("0 0 m 10 10 l S"))
	inStream := map[uint32]xent{2: {2, 5, 0}, 3: {2, 5, 1}, 7: {2, 5, 2}, 8: {2, 5, 3}}
	if !hybrid {
		w.xrefStream(6, "/Size 9 /Root 1 0 R", inStream)
		return w.b.Bytes()
	}
	at := w.writeXrefStream(6, inStream, "/Size 9")
	if freeInTable {
		w.free = map[uint32]bool{2: true, 3: true, 7: true, 8: true}
	}
	w.xrefTable(fmt.Sprintf("/Size 9 /Root 1 0 R /XRefStm %d", at), true, "\r\n")
	return w.b.Bytes()
}

// appendPage appends an incremental update that adds a page to the root
// of the page tree, rewriting the root node from the values read by the
// Reader (so it also exercises AppendObject). The update uses an xref
// stream or a classic table.
func appendPage(t testing.TB, data []byte, xrefStream bool) []byte {
	t.Helper()
	r := openBytes(t, data)
	tr := r.Trailer()
	rootRef, _ := tr.GetRef("Root")
	root, err := r.Resolve(rootRef)
	if err != nil {
		t.Fatal(err)
	}
	pagesRef, ok := root.(Dict).GetRef("Pages")
	if !ok {
		t.Fatal("no /Pages reference")
	}
	po, err := r.Object(pagesRef)
	if err != nil {
		t.Fatal(err)
	}
	pages := Dict{}
	for k, v := range po.(Dict) {
		pages[k] = v
	}
	kids, err := r.Resolve(pages["Kids"])
	if err != nil {
		t.Fatal(err)
	}
	count, _ := pages.GetInt("Count")
	size := r.Size()
	pages["Kids"] = append(append(Array{}, kids.(Array)...), Ref{Num: size})
	pages["Count"] = Int(count + 1)

	w := appendTo(data)
	w.offs[pagesRef.Num] = int64(w.b.Len())
	fmt.Fprintf(&w.b, "%d %d obj\n%s\nendobj\n", pagesRef.Num, pagesRef.Gen, AppendObject(nil, pages))
	w.obj(size, fmt.Sprintf("<< /Type /Page /Parent %s /MediaBox [0 0 300 300] >>", AppendObject(nil, pagesRef)))
	trailer := fmt.Sprintf("/Root %s /Prev %d", AppendObject(nil, rootRef), r.StartXref())
	for _, k := range []string{"Info", "ID"} {
		if v, ok := tr[Name(k)]; ok {
			trailer += fmt.Sprintf(" /%s %s", k, AppendObject(nil, v))
		}
	}
	if xrefStream {
		w.xrefStream(size+1, fmt.Sprintf("/Size %d %s", size+2, trailer), nil)
	} else {
		w.xrefTable(fmt.Sprintf("/Size %d %s", size+1, trailer), false, "\r\n")
	}
	return w.b.Bytes()
}

// variant is one test file: how to make it, and what to expect of it.
type variant struct {
	name       string
	make       func(t testing.TB, dir string) []byte
	pages      int
	xrefStream bool
	version    string
	// qpdfXref: compare the entries with qpdf --show-xref (off where
	// qpdf must repair the file to read it).
	qpdfXref bool
	// noQpdf: qpdf cannot read the file at all; the page count is only
	// compared with pages.
	noQpdf bool
}

// toolVariant runs a tool on the base document (or another variant's
// output) and returns the result.
func toolVariant(from func(t testing.TB, dir string) []byte, name string, args ...string) func(t testing.TB, dir string) []byte {
	return func(t testing.TB, dir string) []byte {
		t.Helper()
		in := writeFile(t, dir, "in.pdf", from(t, dir))
		out := filepath.Join(dir, "out.pdf")
		full := make([]string, 0, len(args)+2)
		for _, a := range args {
			a = strings.ReplaceAll(a, "IN", in)
			full = append(full, strings.ReplaceAll(a, "OUT", out))
		}
		requireTool(t, name, map[string]string{"qpdf": "qpdf", "mutool": "mupdf-tools", "gs": "ghostscript"}[name])
		runTool(t, false, name, full...)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
}

func fixed(b func() []byte) func(testing.TB, string) []byte {
	return func(testing.TB, string) []byte { return b() }
}

func updated(from func(testing.TB, string) []byte, xrefStream bool) func(testing.TB, string) []byte {
	return func(t testing.TB, dir string) []byte {
		t.Helper()
		return appendPage(t, from(t, dir), xrefStream)
	}
}

func variants() []variant {
	base := fixed(basePDF)
	objstm := toolVariant(base, "qpdf", "--object-streams=generate", "IN", "OUT")
	lin := toolVariant(base, "qpdf", "--linearize", "IN", "OUT")
	linObjstm := toolVariant(base, "qpdf", "--linearize", "--object-streams=generate", "IN", "OUT")
	return []variant{
		{name: "hand classic", make: base, pages: 3, version: "1.7", qpdfXref: true},
		{name: "qpdf object streams", make: objstm, pages: 3, xrefStream: true, version: "1.7", qpdfXref: true},
		{name: "qpdf linearized", make: lin, pages: 3, version: "1.7", qpdfXref: true},
		{name: "qpdf linearized object streams", make: linObjstm, pages: 3, xrefStream: true, version: "1.7", qpdfXref: true},
		{name: "qpdf version 2.0", make: toolVariant(base, "qpdf", "--force-version=2.0", "IN", "OUT"), pages: 3, version: "2.0", qpdfXref: true},
		{name: "qpdf qdf", make: toolVariant(base, "qpdf", "--qdf", "IN", "OUT"), pages: 3, version: "1.7", qpdfXref: true},
		{name: "qpdf uncompressed", make: toolVariant(base, "qpdf", "--stream-data=uncompress", "--object-streams=disable", "IN", "OUT"), pages: 3, version: "1.7", qpdfXref: true},
		{name: "qpdf object streams 2.0", make: toolVariant(base, "qpdf", "--object-streams=generate", "--force-version=2.0", "IN", "OUT"), pages: 3, xrefStream: true, version: "2.0", qpdfXref: true},
		{name: "mutool clean", make: toolVariant(base, "mutool", "clean", "-gggg", "IN", "OUT"), pages: 3, version: "1.7", qpdfXref: true},
		{name: "mutool clean deflate", make: toolVariant(base, "mutool", "clean", "-gggg", "-z", "IN", "OUT"), pages: 3, version: "1.7", qpdfXref: true},
		{name: "mutool clean objstm input", make: toolVariant(objstm, "mutool", "clean", "-gggg", "IN", "OUT"), pages: 3, version: "1.7", qpdfXref: true},
		{name: "ghostscript pdfwrite", make: toolVariant(base, "gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite", "-sOutputFile=OUT", "IN"), pages: 3, version: "1.7", qpdfXref: true},
		{name: "hand xref stream", make: fixed(func() []byte { return objStmPDF(false, false) }), pages: 2, xrefStream: true, version: "1.5", qpdfXref: true},
		{name: "hand hybrid", make: fixed(func() []byte { return objStmPDF(true, false) }), pages: 2, version: "1.5", qpdfXref: true},
		{name: "hand hybrid free in table", make: fixed(func() []byte { return objStmPDF(true, true) }), pages: 2, version: "1.5", qpdfXref: true},
		{name: "update classic", make: updated(base, false), pages: 4, version: "1.7", qpdfXref: true},
		{name: "update classic twice", make: updated(updated(base, false), false), pages: 5, version: "1.7", qpdfXref: true},
		{name: "update xref stream", make: updated(objstm, true), pages: 4, xrefStream: true, version: "1.7", qpdfXref: true},
		{name: "update linearized", make: updated(lin, false), pages: 4, version: "1.7", qpdfXref: true},
		{name: "update linearized object streams", make: updated(linObjstm, true), pages: 4, xrefStream: true, version: "1.7", qpdfXref: true},
		{name: "update hybrid", make: updated(fixed(func() []byte { return objStmPDF(true, false) }), false), pages: 3, version: "1.5", qpdfXref: true},
		{name: "update classic over xref stream", make: updated(objstm, false), pages: 4, version: "1.7", qpdfXref: true},
		{name: "19-byte entries", make: fixed(func() []byte { return tableVariant("\n") }), pages: 3, version: "1.7", qpdfXref: true},
		{name: "CRLF entries", make: fixed(func() []byte { return tableVariant("\r\n") }), pages: 3, version: "1.7", qpdfXref: true},
		{name: "first subsection numbered from 1", make: fixed(firstSubsectionFromOne), pages: 3, version: "1.7", noQpdf: true},
		{name: "garbage after EOF", make: fixed(func() []byte {
			return append(basePDF(), "\x00\x00\r\n  some garbage\x00 after the end %%EOF trailing"...)
		}), pages: 3, version: "1.7", qpdfXref: true},
		{name: "no final EOL", make: fixed(func() []byte { return bytes.TrimRight(basePDF(), "\n") }), pages: 3, version: "1.7", qpdfXref: true},
		{name: "junk before header, absolute offsets", make: fixed(func() []byte { return junkPrefixed(false) }), pages: 3, version: "1.7", qpdfXref: false},
		{name: "junk before header, relative offsets", make: fixed(func() []byte { return junkPrefixed(true) }), pages: 3, version: "1.7", qpdfXref: false},
	}
}

// tableVariant is the base document with another entry line end.
func tableVariant(eol string) []byte {
	data := basePDF()
	i := bytes.LastIndex(data, []byte("\nxref\n")) + 1
	w := newPDF("1.7")
	w.b.Reset()
	w.b.Write(data[:i])
	r := openBytesNoT(data)
	for _, e := range r.XrefEntries() {
		w.offs[e.Ref.Num] = e.Offset
	}
	w.xrefTable("/Size 12 /Root 1 0 R /Info 10 0 R", true, eol)
	return w.b.Bytes()
}

// firstSubsectionFromOne reproduces the writer bug that numbers the first
// subsection from 1 while it starts with the entry of object 0.
func firstSubsectionFromOne() []byte {
	data := basePDF()
	i := bytes.LastIndex(data, []byte("xref\n0 12\n"))
	return append(append(append([]byte{}, data[:i]...), "xref\n1 12\n"...), data[i+len("xref\n0 12\n"):]...)
}

// junkPrefixed puts 100 bytes of junk before the header. With relative
// set, every offset in the file counts from the header, as the file was
// before the junk was prepended; otherwise offsets count from the first
// byte.
func junkPrefixed(relative bool) []byte {
	junk := bytes.Repeat([]byte("junk "), 20)
	data := basePDF()
	if relative {
		return append(junk, data...)
	}
	r := openBytesNoT(data)
	w := &pdfWriter{offs: map[uint32]int64{}}
	w.b.Write(junk)
	i := bytes.LastIndex(data, []byte("\nxref\n")) + 1
	w.b.Write(data[:i])
	for _, e := range r.XrefEntries() {
		w.offs[e.Ref.Num] = e.Offset + int64(len(junk))
	}
	w.xrefTable("/Size 12 /Root 1 0 R", true, " \n")
	return w.b.Bytes()
}

func openBytesNoT(data []byte) *Reader {
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		panic(err)
	}
	return r
}

// qpdfXref parses qpdf --show-xref into "num/gen" -> description of the
// in-use entries in the same words as describeEntry.
func qpdfXref(t *testing.T, path string) map[string]string {
	t.Helper()
	out := runTool(t, false, "qpdf", "--show-xref", path)
	re := regexp.MustCompile(`^(\d+)/(\d+): (uncompressed; offset = (\d+)|compressed; stream = (\d+), index = (\d+))$`)
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		g := re.FindStringSubmatch(sc.Text())
		if g == nil {
			t.Fatalf("unexpected qpdf --show-xref line %q", sc.Text())
		}
		key := g[1] + "/" + g[2]
		if g[4] != "" {
			m[key] = "offset " + g[4]
		} else {
			m[key] = "stream " + g[5] + " index " + g[6]
		}
	}
	return m
}

func describeEntry(e XrefEntry) string {
	if e.Kind == EntryOffset {
		return "offset " + strconv.FormatInt(e.Offset, 10)
	}
	return fmt.Sprintf("stream %d index %d", e.Stream, e.Index)
}

// checkAllObjects resolves every live entry, and decodes every stream.
func checkAllObjects(t *testing.T, r *Reader) {
	t.Helper()
	for _, e := range r.XrefEntries() {
		o, err := r.Object(e.Ref)
		if err != nil {
			t.Fatalf("object %v: %v", e.Ref, err)
		}
		if _, isNull := o.(Null); isNull {
			t.Fatalf("object %v (%v) is null", e.Ref, describeEntry(e))
		}
		if s, ok := o.(*Stream); ok {
			if _, err := r.StreamData(s, 16<<20); err != nil && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("object %v stream data: %v", e.Ref, err)
			}
		}
		if e.Ref.Num >= r.Size() {
			t.Fatalf("object %v at or above Size %d", e.Ref, r.Size())
		}
	}
}

func TestRealFiles(t *testing.T) {
	requireTool(t, "qpdf", "qpdf")
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			data := v.make(t, dir)
			path := writeFile(t, dir, "test.pdf", data)
			r := openBytes(t, data)
			if got := r.Version(); got != v.version {
				t.Errorf("Version = %q, want %q", got, v.version)
			}
			if got := r.XrefStream(); got != v.xrefStream {
				t.Errorf("XrefStream = %v, want %v", got, v.xrefStream)
			}
			if got := r.EndsWithEOL(); got != (data[len(data)-1] == '\n' || data[len(data)-1] == '\r') {
				t.Errorf("EndsWithEOL = %v", got)
			}
			if !bytes.Contains(data[r.StartXref()+r.base:], []byte("xref")) && !bytes.Contains(data[r.StartXref()+r.base:], []byte("XRef")) {
				t.Errorf("StartXref %d does not name a section", r.StartXref())
			}
			if _, ok := r.Trailer().GetRef("Root"); !ok {
				t.Errorf("trailer without /Root: %v", r.Trailer())
			}
			want := v.pages
			if !v.noQpdf {
				n, err := strconv.Atoi(strings.TrimSpace(runTool(t, true, "qpdf", "--show-npages", path)))
				if err != nil {
					t.Fatal(err)
				}
				if n != v.pages {
					t.Fatalf("qpdf counts %d pages, the test expects %d", n, v.pages)
				}
			}
			if got := countPages(t, r); got != want {
				t.Fatalf("page tree has %d pages, want %d", got, want)
			}
			checkAllObjects(t, r)
			if v.qpdfXref {
				// A file qpdf reads without repair is also valid for it.
				runTool(t, false, "qpdf", "--check", path)
				theirs := qpdfXref(t, path)
				ours := map[string]string{}
				for _, e := range r.XrefEntries() {
					ours[fmt.Sprintf("%d/%d", e.Ref.Num, e.Ref.Gen)] = describeEntry(e)
				}
				for k, d := range theirs {
					if ours[k] != d {
						t.Errorf("object %s: qpdf says %q, we say %q", k, d, ours[k])
					}
				}
				for k, d := range ours {
					if _, ok := theirs[k]; !ok {
						t.Errorf("object %s: we say %q, qpdf does not list it", k, d)
					}
				}
			}
		})
	}
}
