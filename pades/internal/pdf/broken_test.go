package pdf

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// cut returns data[:n] as a fresh slice.
func cut(data []byte, n int) []byte { return append([]byte{}, data[:n]...) }

// replaceOnce replaces the last occurrence of old (the part near the end
// is what the tests tamper with).
func replaceLast(data []byte, old, new string) []byte {
	i := bytes.LastIndex(data, []byte(old))
	if i < 0 {
		panic("replaceLast: " + old + " not found")
	}
	return append(append(append([]byte{}, data[:i]...), new...), data[i+len(old):]...)
}

// withStartxref rewrites the final startxref value.
func withStartxref(data []byte, off string) []byte {
	i := bytes.LastIndex(data, []byte("startxref\n"))
	return append(cut(data, i), "startxref\n"+off+"\n%%EOF\n"...)
}

// entryOffset returns the offset of object num in a file.
func entryOffset(data []byte, num uint32) int64 {
	for _, e := range openBytesNoT(data).XrefEntries() {
		if e.Ref.Num == num {
			return e.Offset
		}
	}
	panic("no object")
}

// updateWith appends a section holding one object (an Info dictionary)
// whose trailer carries prev (a /Prev value as text, "" for none) and
// returns the data and the section's offset.
func updateWith(data []byte, trailerExtra string) ([]byte, int64) {
	w := appendTo(data)
	w.obj(20, "<< /Producer (update) >>")
	at := w.xrefTable("/Size 21 /Root 1 0 R "+trailerExtra, false, " \n")
	return w.b.Bytes(), at
}

// xrefStreamFile builds a file whose only section is a hand-written xref
// stream with the given dictionary entries and decoded data.
func xrefStreamFile(dict string, decoded []byte) []byte {
	w := newPDF("1.5")
	w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
	at := int64(w.b.Len())
	w.stream(2, "/Type /XRef /Filter /FlateDecode "+dict, deflate(decoded))
	fmt.Fprintf(&w.b, "startxref\n%d\n%%%%EOF\n", at)
	return w.b.Bytes()
}

// objStmFile builds a file whose object 3 is looked up as index idx of
// the object stream 2 with the given dictionary entries and data.
func objStmFile(dict, data string, idx uint16) []byte {
	w := newPDF("1.5")
	w.obj(1, "<< /Type /Catalog >>")
	w.stream(2, "/Type /ObjStm "+dict, []byte(data))
	w.xrefStream(4, "/Size 5 /Root 1 0 R", map[uint32]xent{3: {2, 2, idx}, 5: {2, 1, 0}})
	return w.b.Bytes()
}

func TestBrokenInputs(t *testing.T) {
	base := basePDF()
	xrefAt := bytes.LastIndex(base, []byte("\nxref\n")) + 1
	rng := rand.New(rand.NewPCG(3, 4))
	garbage := make([]byte, 600)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
	}
	loop1, at1 := updateWith(base, "")
	loop1 = replaceLast(loop1, "/Root 1 0 R ", fmt.Sprintf("/Root 1 0 R /Prev %d", at1))
	// Two updates whose /Prev name each other: the second's /Prev is the
	// first, and the first's is patched to name the second.
	loopA, atA := updateWith(base, "/Prev 0000000000")
	loopB, atB := updateWith(loopA, fmt.Sprintf("/Prev %d", atA))
	loopB = bytes.Replace(loopB, []byte("/Prev 0000000000"), []byte(fmt.Sprintf("/Prev %010d", atB)), 1)
	outside, _ := updateWith(base, "/Prev 99999999")
	notInt, _ := updateWith(base, "/Prev (874)")
	notSection, _ := updateWith(base, "/Prev 20")
	moved := replaceLast(base, fmt.Sprintf("%010d 00000 n", entryOffset(base, 3)), fmt.Sprintf("%010d 00000 n", entryOffset(base, 5)))
	pastEnd := replaceLast(base, fmt.Sprintf("%010d 00000 n", entryOffset(base, 3)), fmt.Sprintf("%010d 00000 n", 999999))
	intoGarbage := replaceLast(base, fmt.Sprintf("%010d 00000 n", entryOffset(base, 3)), fmt.Sprintf("%010d 00000 n", 2))
	deep := newPDF("1.7")
	deep.obj(1, strings.Repeat("[", 20000))
	deep.xrefTable("/Size 2", true, " \n")
	hugeInt := newPDF("1.7")
	hugeInt.obj(1, "<< /Kids [1 0 R 99999999999 0 R] >>")
	hugeInt.xrefTable("/Size 2", true, " \n")

	tests := []struct {
		name   string
		data   []byte
		object uint32 // when non-zero, NewReader succeeds and this object fails
		reason string // expected in the error text
	}{
		{name: "empty", data: nil, reason: "empty file"},
		{name: "not a PDF", data: []byte("hello, world\n"), reason: "not a PDF"},
		{name: "header too late", data: append(bytes.Repeat([]byte(" "), 1100), base...), reason: "not a PDF"},
		{name: "malformed version", data: append([]byte("%PDF-x\n"), base[9:]...), reason: "malformed %PDF- header"},
		{name: "malformed version two points", data: append([]byte("%PDF-1.7.1\n"), base[9:]...), reason: "malformed %PDF- header"},
		{name: "header only", data: []byte("%PDF-1.7\n"), reason: "no startxref"},
		{name: "truncated at 10%", data: cut(base, len(base)/10), reason: "no startxref"},
		{name: "truncated at half", data: cut(base, len(base)/2), reason: "no startxref"},
		{name: "truncated in the table", data: cut(base, xrefAt+60), reason: "no startxref"},
		{name: "truncated in startxref", data: cut(base, bytes.LastIndex(base, []byte("startxref"))+5), reason: "no startxref"},
		{name: "truncated after startxref", data: cut(base, bytes.LastIndex(base, []byte("startxref"))+10), reason: "not followed by an offset"},
		{name: "truncated table with startxref", data: append(cut(base, xrefAt+70), fmt.Sprintf("\nstartxref\n%d\n%%%%EOF\n", xrefAt)...), reason: "cross-reference entry"},
		{name: "no trailer keyword", data: replaceLast(base, "trailer", "trailor"), reason: "expected trailer"},
		{name: "trailer not a dictionary", data: replaceLast(base, "trailer\n<<", "trailer\n[<<"), reason: ""},
		{name: "bad entry type", data: replaceLast(base, "00000 n \n", "00000 x \n"), reason: "neither n nor f"},
		{name: "garbage after header", data: append(append([]byte("%PDF-1.7\n"), garbage...), "\nstartxref\n9\n%%EOF\n"...), reason: ""},
		{name: "startxref into header", data: withStartxref(base, "5"), reason: "does not point to a cross-reference section"},
		{name: "startxref past end", data: withStartxref(base, "999999"), reason: "outside the file"},
		{name: "startxref into an object", data: withStartxref(base, fmt.Sprint(entryOffset(base, 3)+3)), reason: "does not point"},
		{name: "startxref at a dictionary object", data: withStartxref(base, fmt.Sprint(entryOffset(base, 1))), reason: "not a stream"},
		{name: "startxref at a non-xref stream", data: withStartxref(base, fmt.Sprint(entryOffset(base, 4))), reason: "not /Type /XRef"},
		{name: "Prev loop to itself", data: loop1, reason: "/Prev loop"},
		{name: "Prev loop of two", data: loopB, reason: "/Prev loop"},
		{name: "Prev outside the file", data: outside, reason: "outside the file"},
		{name: "Prev not an integer", data: notInt, reason: "/Prev is not an integer"},
		{name: "Prev not at a section", data: notSection, reason: "no cross-reference section"},
		{name: "negative Size", data: replaceLast(base, "/Size 12", "/Size -1"), reason: "/Size"},
		{name: "XRefStm not at a stream", data: replaceLast(base, "/Size 12", "/Size 12 /XRefStm 20"), reason: "no cross-reference section"},
		{name: "XRefStm outside", data: replaceLast(base, "/Size 12", "/Size 12 /XRefStm 99999"), reason: "outside the file"},
		{name: "xref stream zero widths", data: xrefStreamFile("/W [0 0 0] /Size 3", []byte{1, 2, 3}), reason: "all zero"},
		{name: "xref stream wide field", data: xrefStreamFile("/W [1 9 1] /Size 3", make([]byte, 33)), reason: "invalid width"},
		{name: "xref stream W not array", data: xrefStreamFile("/W 5 /Size 3", nil), reason: "/W"},
		{name: "xref stream odd Index", data: xrefStreamFile("/W [1 2 1] /Size 3 /Index [0]", nil), reason: "/Index"},
		{name: "xref stream data too short", data: xrefStreamFile("/W [1 2 1] /Size 3 /Index [0 1000]", make([]byte, 40)), reason: "too short"},
		{name: "xref stream huge Index", data: xrefStreamFile("/W [1 2 1] /Size 3 /Index [4294967290 100]", make([]byte, 40)), reason: "/Index"},
		{name: "xref stream no Size", data: xrefStreamFile("/W [1 2 1]", make([]byte, 40)), reason: "/Size"},
		{name: "object moved", data: moved, object: 3, reason: "broken cross-reference: object 3 0 not found at offset"},
		{name: "object past end", data: pastEnd, object: 3, reason: "outside the file"},
		{name: "object offset into header", data: intoGarbage, object: 3, reason: "broken cross-reference"},
		{name: "deep nesting", data: deep.b.Bytes(), object: 1, reason: "nested too deeply"},
		{name: "reference number too large", data: hugeInt.b.Bytes(), object: 1, reason: "out of range"},
		{name: "object stream not a stream", data: objStmFile("", "", 0), object: 5, reason: "not a stream"},
		{name: "object stream without N", data: objStmFile("/First 4", "3 0 42", 0), object: 3, reason: "/N and /First"},
		{name: "object stream First beyond data", data: objStmFile("/N 1 /First 400", "3 0 42", 0), object: 3, reason: "/First"},
		{name: "object stream header garbage", data: objStmFile("/N 1 /First 4", "x 0 42", 0), object: 3, reason: "object number in object stream header"},
		{name: "object stream header short", data: objStmFile("/N 3 /First 4", "3 0 42", 0), object: 3, reason: "object stream header"},
		{name: "object stream offset past data", data: objStmFile("/N 1 /First 4", "3 9 42", 0), object: 3, reason: "out of range"},
		{name: "object stream lacks the object", data: objStmFile("/N 1 /First 4", "7 0 42", 0), object: 3, reason: "not found in object stream"},
		{name: "object stream huge N", data: objStmFile("/N 99999999 /First 4", "3 0 42", 0), object: 3, reason: "too many"},
		{name: "object stream wrong type", data: objStmFile("/N 1 /First 4 /Type /XObject", "3 0 42", 0), object: 3, reason: "not /Type /ObjStm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data), int64(len(tc.data)))
			if tc.object != 0 {
				if err != nil {
					t.Fatalf("NewReader: %v", err)
				}
				var o Object
				o, err = r.Object(Ref{Num: tc.object})
				if err == nil {
					t.Fatalf("object %d = %#v, want an error", tc.object, o)
				}
			} else if err == nil {
				t.Fatal("NewReader succeeded")
			}
			if !isFormatError(err) {
				t.Fatalf("%v is not a *FormatError", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q does not mention %q", err, tc.reason)
			}
		})
	}
}

// TestTolerated covers oddities that must not make a file unreadable.
func TestTolerated(t *testing.T) {
	t.Run("object stream index wrong but number present", func(t *testing.T) {
		r := openBytes(t, objStmFile("/N 2 /First 8", "9 0 3 3 41 42", 0))
		if o, err := r.Object(Ref{Num: 3}); err != nil || o != Int(42) {
			t.Fatalf("got %#v, %v", o, err)
		}
	})
	t.Run("objects in a stream are bounded by the next one", func(t *testing.T) {
		// Object 3 is "1" and object 9 is "0 R"; reading 3 must not
		// swallow the next object into a reference.
		r := openBytes(t, objStmFile("/N 2 /First 8", "3 0 9 2 1 0 R", 0))
		if o, err := r.Object(Ref{Num: 3}); err != nil || o != Int(1) {
			t.Fatalf("got %#v, %v", o, err)
		}
	})
	t.Run("subsection count larger than its entries", func(t *testing.T) {
		r := openBytes(t, replaceLast(basePDF(), "xref\n0 12\n", "xref\n0 15\n"))
		if n := countPages(t, r); n != 3 {
			t.Fatalf("%d pages", n)
		}
	})
	t.Run("generation mismatch is null", func(t *testing.T) {
		r := openBytes(t, basePDF())
		if o, err := r.Object(Ref{Num: 1, Gen: 1}); err != nil || o != (Null{}) {
			t.Fatalf("got %#v, %v", o, err)
		}
	})
	t.Run("missing and free objects are null", func(t *testing.T) {
		r := openBytes(t, basePDF())
		for _, ref := range []Ref{{Num: 0}, {Num: 0, Gen: 65535}, {Num: 500}} {
			if o, err := r.Object(ref); err != nil || o != (Null{}) {
				t.Fatalf("%v: got %#v, %v", ref, o, err)
			}
		}
	})
	t.Run("object freed by an update", func(t *testing.T) {
		w := appendTo(basePDF())
		w.free = map[uint32]bool{10: true}
		w.xrefTable("/Size 12 /Root 1 0 R /Prev 874", false, " \n")
		r := openBytes(t, w.b.Bytes())
		if o, err := r.Object(Ref{Num: 10}); err != nil || o != (Null{}) {
			t.Fatalf("got %#v, %v", o, err)
		}
		for _, e := range r.XrefEntries() {
			if e.Ref.Num == 10 {
				t.Fatal("freed object listed as live")
			}
		}
	})
	t.Run("zero offset in-use entry is free", func(t *testing.T) {
		base := basePDF()
		data := replaceLast(base, fmt.Sprintf("%010d 00000 n", entryOffset(base, 9)), fmt.Sprintf("%010d 00000 n", 0))
		r := openBytes(t, data)
		if o, err := r.Object(Ref{Num: 9}); err != nil || o != (Null{}) {
			t.Fatalf("got %#v, %v", o, err)
		}
	})
	t.Run("trailer keys inherited from older sections", func(t *testing.T) {
		w := appendTo(basePDF())
		w.obj(12, "<< >>")
		w.xrefTable("/Size 13 /Prev 874", false, " \n")
		r := openBytes(t, w.b.Bytes())
		tr := r.Trailer()
		if _, ok := tr.GetRef("Root"); !ok {
			t.Fatal("no /Root")
		}
		if _, ok := tr.GetRef("Info"); !ok {
			t.Fatal("no /Info")
		}
		if p, _ := tr.GetInt("Prev"); p != 874 {
			t.Fatalf("/Prev = %d", p)
		}
		if r.Size() != 13 {
			t.Fatalf("Size = %d", r.Size())
		}
	})
	t.Run("Size covers numbers beyond the trailer", func(t *testing.T) {
		w := newPDF("1.7")
		w.obj(1, "<< /Type /Catalog >>")
		w.obj(40, "<< >>")
		w.xrefTable("/Size 2 /Root 1 0 R", true, " \n")
		if n := openBytes(t, w.b.Bytes()).Size(); n != 41 {
			t.Fatalf("Size = %d, want 41", n)
		}
	})
	t.Run("missing endobj", func(t *testing.T) {
		w := newPDF("1.7")
		w.offs[1] = int64(w.b.Len())
		w.b.WriteString("1 0 obj << /A 1 >>\n")
		w.obj(2, "(two)")
		w.xrefTable("/Size 3", true, " \n")
		r := openBytes(t, w.b.Bytes())
		if o, err := r.Object(Ref{Num: 1}); err != nil || o.(Dict)["A"] != Int(1) {
			t.Fatalf("got %#v, %v", o, err)
		}
	})
	t.Run("resolve chain and loop", func(t *testing.T) {
		w := newPDF("1.7")
		w.obj(1, "2 0 R")
		w.obj(2, "3 0 R")
		w.obj(3, "(end)")
		w.obj(4, "5 0 R")
		w.obj(5, "4 0 R")
		w.xrefTable("/Size 6", true, " \n")
		r := openBytes(t, w.b.Bytes())
		if o, err := r.Resolve(Ref{Num: 1}); err != nil || string(o.(String).Bytes) != "end" {
			t.Fatalf("got %#v, %v", o, err)
		}
		if _, err := r.Resolve(Ref{Num: 4}); !isFormatError(err) || !strings.Contains(err.Error(), "loop") {
			t.Fatalf("loop: %v", err)
		}
		if o, err := r.Resolve(Int(7)); err != nil || o != Int(7) {
			t.Fatalf("direct: %#v, %v", o, err)
		}
	})
}

// TestShortSource: a size larger than the data, as for a file truncated
// after its size was taken.
func TestShortSource(t *testing.T) {
	base := basePDF()
	_, err := NewReader(bytes.NewReader(base), int64(len(base))+100)
	if !isFormatError(err) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("got %v", err)
	}
}
