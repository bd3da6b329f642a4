package pdf

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// fuzzSeeds are the generated files (tools included) and small broken
// ones.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, v := range variants() {
		seeds = append(seeds, v.make(f, f.TempDir()))
	}
	base := basePDF()
	seeds = append(seeds,
		nil,
		[]byte("%PDF-1.7\n"),
		[]byte("%PDF-1.7\nstartxref\n9\n%%EOF"),
		[]byte("%PDF-1.7\nxref\n0 1\n0000000000 65535 f \ntrailer<</Size 1/Prev 9>>startxref\n9\n%%EOF"),
		cut(base, len(base)/2),
		withStartxref(base, "5"),
		oneStream("/Length 3", "\n", []byte("abcdef"), "\n", ""),
		oneStream("/Length 2 0 R /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 2 >>", "\r\n", deflate([]byte{2, 1, 1, 2, 1, 1}), "\r\n", "9"),
		objStmFile("/N 2 /First 8", "3 0 9 2 1 0 R", 0),
		xrefStreamFile("/W [1 2 1] /Size 3", make([]byte, 12)),
	)
	return seeds
}

func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !isFormatError(err) {
				t.Fatalf("NewReader: %v is not a *FormatError", err)
			}
			return
		}
		_, _, _, _ = r.Version(), r.StartXref(), r.Size(), r.EndsWithEOL()
		for i, e := range r.XrefEntries() {
			if i >= 500 {
				break
			}
			fuzzObject(t, r, e.Ref)
		}
		// Walk what the trailer reaches, as a signer does.
		w := &fuzzWalker{t: t, r: r, seen: map[Ref]bool{}, budget: 2000}
		w.walk(r.Trailer(), 0)
	})
}

// fuzzObject reads one object and checks the invariants: errors are
// *FormatError, stream data decodes or fails cleanly, and every direct
// object survives AppendObject and a new parse unchanged.
func fuzzObject(t *testing.T, r *Reader, ref Ref) {
	t.Helper()
	o, err := r.Object(ref)
	if err != nil {
		if !isFormatError(err) {
			t.Fatalf("object %v: %v is not a *FormatError", ref, err)
		}
		return
	}
	if s, ok := o.(*Stream); ok {
		if _, err := r.StreamData(s, 1<<20); err != nil && !isFormatError(err) {
			t.Fatalf("object %v data: %v is not a *FormatError", ref, err)
		}
		o = s.Dict
	}
	if err := CheckSerializable(o); err != nil {
		t.Fatalf("object %v: %v", ref, err)
	}
	text := AppendObject(nil, o)
	back, err := parseOne(string(text))
	if err != nil {
		t.Fatalf("object %v: reparsing %q: %v", ref, text, err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Fatalf("object %v: round trip through %q gave %#v, want %#v", ref, text, back, o)
	}
}

type fuzzWalker struct {
	t      *testing.T
	r      *Reader
	seen   map[Ref]bool
	budget int
}

func (w *fuzzWalker) walk(o Object, depth int) {
	w.budget--
	if w.budget < 0 || depth > 100 {
		return
	}
	switch v := o.(type) {
	case Ref:
		if w.seen[v] {
			return
		}
		w.seen[v] = true
		res, err := w.r.Resolve(v)
		if err != nil {
			if !isFormatError(err) {
				w.t.Fatalf("resolve %v: %v is not a *FormatError", v, err)
			}
			return
		}
		w.walk(res, depth+1)
	case Dict:
		for _, e := range v {
			w.walk(e, depth+1)
		}
	case Array:
		for _, e := range v {
			w.walk(e, depth+1)
		}
	case *Stream:
		w.walk(v.Dict, depth+1)
	case Null, Bool, Int, Real, String, Name:
	default:
		panic(fmt.Sprintf("object of type %T outside the model", o))
	}
}
