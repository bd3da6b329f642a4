package font

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// docLines returns the text of a Vietnamese decision header and
// signature, precomposed (NFC).
func docLines() []string {
	return []string{
		"CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
		"Độc lập - Tự do - Hạnh phúc",
		"Số: 15/QĐ-UBND",
		"Bình Phước, ngày 05 tháng 01 năm 2026",
		"Ký bởi: Ủy ban nhân dân tỉnh Bình Phước",
	}
}

// docLinesNFD returns docLines with combining marks (NFD), generated
// independently of this package and written as escapes.
func docLinesNFD() []string {
	return []string{
		"CO\u0323\u0302NG HO\u0300A XA\u0303 HO\u0323\u0302I CHU\u0309 NGHI\u0303A VIE\u0323\u0302T NAM",
		"\u0110o\u0323\u0302c la\u0323\u0302p - Tu\u031b\u0323 do - Ha\u0323nh phu\u0301c",
		"So\u0302\u0301: 15/Q\u0110-UBND",
		"Bi\u0300nh Phu\u031bo\u031b\u0301c, nga\u0300y 05 tha\u0301ng 01 na\u0306m 2026",
		"Ky\u0301 bo\u031b\u0309i: U\u0309y ban nha\u0302n da\u0302n ti\u0309nh Bi\u0300nh Phu\u031bo\u031b\u0301c",
	}
}

// refAllocator returns an alloc function numbering objects from first.
func refAllocator(first uint32) func() pdf.Ref {
	n := first - 1
	return func() pdf.Ref { n++; return pdf.Ref{Num: n} }
}

// buildObjects encodes lines into a fresh subset of face and returns its
// objects.
func buildObjects(t *testing.T, face *Face, lines []string) (pdf.Ref, []Object, *Subset) {
	t.Helper()
	s := face.NewSubset()
	for _, l := range lines {
		s.Encode(l)
	}
	ref, objs, err := s.Objects(refAllocator(10))
	if err != nil {
		t.Fatalf("Objects: %v", err)
	}
	return ref, objs, s
}

// serialize writes objects as "n g obj … endobj" blocks.
func serialize(objs []Object) []byte {
	var b []byte
	for _, o := range objs {
		b = fmt.Appendf(b, "%d %d obj\n", o.Ref.Num, o.Ref.Gen)
		b = pdf.AppendObject(b, o.Dict)
		if o.Stream {
			b = append(b, "\nstream\n"...)
			b = append(b, o.Data...)
			b = append(b, "\nendstream"...)
		}
		b = append(b, "\nendobj\n"...)
	}
	return b
}

// inflate decodes a FlateDecode stream.
func inflate(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objectsByType indexes the five font objects by their role.
type fontObjects struct {
	type0, cid, descriptor, file, toUnicode Object
}

func splitObjects(t *testing.T, ref pdf.Ref, objs []Object) fontObjects {
	t.Helper()
	if len(objs) != 5 {
		t.Fatalf("%d objects, want 5", len(objs))
	}
	byRef := map[pdf.Ref]Object{}
	for _, o := range objs {
		byRef[o.Ref] = o
	}
	var fo fontObjects
	fo.type0 = byRef[ref]
	cidRef, _ := fo.type0.Dict["DescendantFonts"].(pdf.Array)[0].(pdf.Ref)
	fo.cid = byRef[cidRef]
	fo.descriptor = byRef[fo.cid.Dict["FontDescriptor"].(pdf.Ref)]
	fo.file = byRef[fo.descriptor.Dict["FontFile2"].(pdf.Ref)]
	fo.toUnicode = byRef[fo.type0.Dict["ToUnicode"].(pdf.Ref)]
	for _, o := range []Object{fo.type0, fo.cid, fo.descriptor, fo.file, fo.toUnicode} {
		if o.Dict == nil {
			t.Fatalf("a font object is not among the returned objects")
		}
		if err := pdf.CheckSerializable(o.Dict); err != nil {
			t.Fatalf("object %v: %v", o.Ref, err)
		}
	}
	return fo
}

func TestObjectsStructure(t *testing.T) {
	face := loadFace(t, Italic)
	ref, objs, _ := buildObjects(t, face, docLines())
	fo := splitObjects(t, ref, objs)

	base, _ := fo.type0.Dict.GetName("BaseFont")
	if !regexp.MustCompile(`^[A-Z]{6}\+LiberationSerif-Italic$`).MatchString(string(base)) {
		t.Errorf("BaseFont = %q", base)
	}
	checks := []struct {
		obj  Object
		key  string
		want string // serialized value
	}{
		{fo.type0, "Subtype", "/Type0"},
		{fo.type0, "Encoding", "/Identity-H"},
		{fo.cid, "Subtype", "/CIDFontType2"},
		{fo.cid, "CIDToGIDMap", "/Identity"},
		{fo.cid, "CIDSystemInfo", "<</Ordering (Identity)/Registry (Adobe)/Supplement 0>>"},
		{fo.cid, "DW", "1000"},
		{fo.cid, "BaseFont", "/" + string(base)},
		{fo.descriptor, "FontName", "/" + string(base)},
		{fo.descriptor, "Flags", "98"},
		{fo.descriptor, "ItalicAngle", "-16.33"},
		{fo.descriptor, "Ascent", "891"},
		{fo.descriptor, "Descent", "-216"},
		{fo.descriptor, "CapHeight", "655"},
		{fo.file, "Filter", "/FlateDecode"},
		{fo.toUnicode, "Filter", "/FlateDecode"},
	}
	for _, c := range checks {
		if got := string(pdf.AppendObject(nil, c.obj.Dict.Get(c.key))); got != c.want {
			t.Errorf("/%s = %s, want %s", c.key, got, c.want)
		}
	}
	for _, o := range []Object{fo.file, fo.toUnicode} {
		if !o.Stream {
			t.Errorf("object %v is not a stream", o.Ref)
		}
		if n, _ := o.Dict.GetInt("Length"); n != int64(len(o.Data)) {
			t.Errorf("object %v: /Length %d, data %d bytes", o.Ref, n, len(o.Data))
		}
	}
	program := inflate(t, fo.file.Data)
	if n, _ := fo.file.Dict.GetInt("Length1"); n != int64(len(program)) {
		t.Errorf("/Length1 = %d, program is %d bytes", n, len(program))
	}

	// /W holds every used glyph with the width Width uses.
	widths := map[int]int{}
	w, _ := fo.cid.Dict.GetArray("W")
	for i := 0; i+1 < len(w); i += 2 {
		first := int(w[i].(pdf.Int))
		for k, v := range w[i+1].(pdf.Array) {
			widths[first+k] = int(v.(pdf.Int))
		}
	}
	for _, l := range docLines() {
		for _, g := range face.glyphs(l) {
			if got, ok := widths[int(g.gid)]; !ok || got != face.pdfWidth(g.gid) {
				t.Errorf("/W for glyph %d (%q) = %d (present %v), want %d", g.gid, g.r, got, ok, face.pdfWidth(g.gid))
			}
		}
	}
}

func TestSubsetProgram(t *testing.T) {
	face := loadFace(t, Regular)
	ref, objs, sub := buildObjects(t, face, docLines())
	program := inflate(t, splitObjects(t, ref, objs).file.Data)

	// The directory lists exactly the kept tables, with correct
	// checksums, and the whole font sums to the magic number.
	n := int(binary.BigEndian.Uint16(program[4:]))
	var tags []string
	for i := range n {
		e := program[12+16*i:]
		tag := string(e[:4])
		tags = append(tags, tag)
		sum, off, length := binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:])
		if off%4 != 0 {
			t.Errorf("table %q at unaligned offset %d", tag, off)
		}
		data := append([]byte(nil), program[off:off+length]...)
		if tag == "head" {
			clear(data[8:12])
		}
		if got := checksum(data); got != sum {
			t.Errorf("table %q checksum %08X, directory says %08X", tag, got, sum)
		}
	}
	want := []string{"OS/2", "cmap", "cvt ", "fpgm", "gasp", "glyf", "head", "hhea", "hmtx", "loca", "maxp", "name", "post", "prep"}
	if !slices.Equal(tags, want) {
		t.Errorf("tables %q, want %q", tags, want)
	}
	if got := checksum(program); got != 0xB1B0AFBA {
		t.Errorf("font checksum %08X, want B1B0AFBA", got)
	}

	sf, err := Parse(program)
	if err != nil {
		t.Fatalf("Parse(subset): %v", err)
	}
	if sf.Name() != face.Name() || sf.numGlyphs != face.numGlyphs {
		t.Errorf("subset %q with %d glyphs, want %q with %d", sf.Name(), sf.numGlyphs, face.Name(), face.numGlyphs)
	}
	if format := i16(sf.tables["head"], 50); format != 0 {
		t.Errorf("indexToLocFormat %d, want 0 (short) for a small subset", format)
	}
	if v := u32(sf.tables["post"], 0); v != 0x00030000 {
		t.Errorf("post version %08X, want 3.0", v)
	}

	keep, err := sub.closure()
	if err != nil {
		t.Fatal(err)
	}
	kept, composites := 0, 0
	for g := range face.numGlyphs {
		orig, got := face.glyphData(uint16(g)), sf.glyphData(uint16(g))
		if !keep[g] {
			if len(got) != 0 {
				t.Errorf("unused glyph %d kept %d bytes", g, len(got))
			}
			continue
		}
		kept++
		// Kept outlines are unchanged apart from padding.
		if len(got) < len(orig) || !bytes.Equal(got[:len(orig)], orig) {
			t.Errorf("glyph %d outline changed", g)
		}
		if len(orig) > 0 && i16(orig, 0) < 0 {
			composites++
		}
		if sf.advance(uint16(g)) != face.advance(uint16(g)) {
			t.Errorf("glyph %d advance %d, want %d", g, sf.advance(uint16(g)), face.advance(uint16(g)))
		}
	}
	t.Logf("subset keeps %d of %d glyphs (%d composites), program %d bytes", kept, face.numGlyphs, composites, len(program))
	if composites == 0 {
		t.Errorf("no composite glyph kept; the test text should need some")
	}

	// The subset's own cmap reaches the used glyphs, and Width agrees.
	for _, l := range docLines() {
		for _, r := range l {
			if got, want := sf.lookup(r), face.lookup(r); got != want {
				t.Errorf("subset cmap maps %q to %d, font to %d", r, got, want)
			}
		}
		if got, want := sf.Width(l, 12), face.Width(l, 12); got != want {
			t.Errorf("subset Width(%q) = %v, font %v", l, got, want)
		}
	}
	if g := sf.lookup('Z'); g != 0 {
		t.Errorf("subset cmap maps unused 'Z' to %d", g)
	}
}

func TestDeterministic(t *testing.T) {
	face := loadFace(t, Regular)
	reversed := slices.Clone(docLines())
	slices.Reverse(reversed)
	_, ref, _ := buildObjects(t, face, docLines())
	want := serialize(ref)
	tests := []struct {
		name  string
		lines []string
	}{
		{"same text", docLines()},
		{"decomposed text", docLinesNFD()},
		{"other order", reversed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, objs, _ := buildObjects(t, face, tt.lines)
			if got := serialize(objs); !bytes.Equal(got, want) {
				t.Errorf("output differs (%d bytes vs %d)", len(got), len(want))
			}
		})
	}
	// A different glyph set must get a different tag.
	_, other, _ := buildObjects(t, face, []string{"Khác"})
	tag := func(objs []Object) string {
		n, _ := objs[0].Dict.GetName("BaseFont")
		return string(n)
	}
	if tag(other) == tag(ref) {
		t.Errorf("different subsets share the name %s", tag(ref))
	}
}

func TestEncode(t *testing.T) {
	face := loadFace(t, Regular)
	nfd := docLinesNFD()
	for i, line := range docLines() {
		t.Run(line, func(t *testing.T) {
			s := face.NewSubset()
			pre, dec := s.Encode(line), s.Encode(nfd[i])
			if !bytes.Equal(pre, dec) {
				t.Errorf("precomposed %X, decomposed %X", pre, dec)
			}
			if n := len([]rune(line)); len(pre) != 2*n {
				t.Errorf("%d code bytes for %d characters", len(pre), n)
			}
			for k := 0; k+1 < len(pre); k += 2 {
				if pre[k] == 0 && pre[k+1] == 0 {
					t.Errorf(".notdef at character %d", k/2)
				}
			}
		})
	}
	s := face.NewSubset()
	got := string(s.ShowText([]byte("BT "), "A\u00c1"))
	want := fmt.Sprintf("BT <%04X%04X> Tj\n", face.lookup('A'), face.lookup('\u00c1'))
	if got != want {
		t.Errorf("ShowText = %q, want %q", got, want)
	}
	if code := s.Encode("国"); !bytes.Equal(code, []byte{0, 0}) {
		t.Errorf("missing character encoded as %X, want .notdef 0000", code)
	}
}

// parseToUnicode reads the bfchar and bfrange entries of a CMap.
func parseToUnicode(t *testing.T, cmap string) map[int]string {
	t.Helper()
	hex := func(s string) []byte {
		b := make([]byte, len(s)/2)
		for i := range b {
			v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
			if err != nil {
				t.Fatalf("bad hex %q", s)
			}
			b[i] = byte(v)
		}
		return b
	}
	utf16be := func(b []byte) []rune {
		var u []uint16
		for i := 0; i+1 < len(b); i += 2 {
			u = append(u, binary.BigEndian.Uint16(b[i:]))
		}
		var rs []rune
		for i := 0; i < len(u); i++ {
			if u[i] >= 0xD800 && u[i] < 0xDC00 && i+1 < len(u) {
				rs = append(rs, (rune(u[i])-0xD800)<<10+rune(u[i+1])-0xDC00+0x10000)
				i++
				continue
			}
			rs = append(rs, rune(u[i]))
		}
		return rs
	}
	m := map[int]string{}
	section := ""
	entry := regexp.MustCompile(`^<([0-9A-F]+)>\s*<([0-9A-F]+)>(?:\s*<([0-9A-F]+)>)?$`)
	for _, line := range strings.Split(cmap, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasSuffix(line, "beginbfchar"), strings.HasSuffix(line, "beginbfrange"):
			section = line[strings.LastIndex(line, " ")+1:]
			continue
		case strings.HasPrefix(line, "end"):
			section = ""
			continue
		}
		sm := entry.FindStringSubmatch(line)
		if sm == nil || section == "" {
			continue
		}
		lo := int(binary.BigEndian.Uint16(hex(sm[1])))
		if section == "beginbfchar" {
			m[lo] = string(utf16be(hex(sm[2])))
			continue
		}
		hi := int(binary.BigEndian.Uint16(hex(sm[2])))
		dst := utf16be(hex(sm[3]))
		if hi>>8 != lo>>8 || len(dst) != 1 || int(dst[0]&0xFF)+hi-lo > 0xFF {
			t.Errorf("bfrange %q breaks the CMap rules", line)
		}
		for c := lo; c <= hi; c++ {
			m[c] = string(dst[0] + rune(c-lo))
		}
	}
	return m
}

func TestToUnicode(t *testing.T) {
	face := loadFace(t, Regular)
	// A run of consecutive glyphs with consecutive characters (digits,
	// capitals), Vietnamese letters, and a character outside the BMP
	// forced into the map, to cover bfrange, bfchar and surrogates.
	text := append(slices.Clone(docLines()), "0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz", vietNFC)
	s := face.NewSubset()
	for _, l := range text {
		s.Encode(l)
	}
	s.toUnicode[2000] = 0x1D400 // MATHEMATICAL BOLD CAPITAL A
	cmap := string(s.toUnicodeCMap(s.glyphIDs()))
	if !strings.Contains(cmap, "beginbfrange") || !strings.Contains(cmap, "beginbfchar") {
		t.Errorf("CMap lacks bfrange or bfchar sections:\n%s", cmap)
	}
	got := parseToUnicode(t, cmap)
	want := map[int]string{2000: "\U0001D400"}
	for _, l := range text {
		for _, g := range face.glyphs(l) {
			if _, ok := want[int(g.gid)]; !ok {
				want[int(g.gid)] = string(g.r)
			}
		}
	}
	for g, w := range want {
		if got[g] != w {
			t.Errorf("CID %d maps to %+q, want %+q", g, got[g], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("CMap maps %d CIDs, want %d", len(got), len(want))
	}
}

func TestObjectsEdgeCases(t *testing.T) {
	regular := fontBytes(t, Regular)
	withFsType := func(v uint16) *Face {
		b := append([]byte(nil), regular...)
		binary.BigEndian.PutUint16(tableOf(t, b, "OS/2")[8:], v)
		f, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name  string
		face  *Face
		lines []string
		err   string
	}{
		{"empty subset", loadFace(t, Regular), nil, ""},
		{"installable", withFsType(0), docLines(), ""},
		{"print and preview", withFsType(0x0004), docLines(), ""},
		{"restricted", withFsType(0x0002), docLines(), "forbids embedding"},
		{"no subsetting", withFsType(0x0100), docLines(), "forbids subsetting"},
		{"bitmap only", withFsType(0x0200), docLines(), "bitmap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.face.NewSubset()
			for _, l := range tt.lines {
				s.Encode(l)
			}
			_, objs, err := s.Objects(refAllocator(1))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("Objects error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Objects: %v", err)
			}
			if _, err := Parse(inflate(t, objs[3].Data)); err != nil {
				t.Errorf("subset program does not parse: %v", err)
			}
		})
	}
}

func TestWholeRepertoireSubset(t *testing.T) {
	// Every character the font maps: the glyph data no longer fits the
	// short loca format, so the subset must switch to the long one.
	face := loadFace(t, Bold)
	var all []rune
	for r := rune(0x20); r <= 0xFFFF; r++ {
		// U+0340 and U+0341 normalise to U+0300 and U+0301.
		if face.lookup(r) != 0 && r != markGraveTone && r != markAcuteTone {
			all = append(all, r)
		}
	}
	s := face.NewSubset()
	for _, r := range all {
		s.Encode(string(r))
	}
	program, err := s.program()
	if err != nil {
		t.Fatal(err)
	}
	sf, err := Parse(program)
	if err != nil {
		t.Fatalf("Parse(subset): %v", err)
	}
	if format := i16(sf.tables["head"], 50); format != 1 {
		t.Errorf("indexToLocFormat %d, want 1 (long)", format)
	}
	for _, r := range all {
		g := face.lookup(r)
		if got := sf.lookup(r); got != g {
			t.Fatalf("subset cmap maps U+%04X to %d, want %d", r, got, g)
		}
		if !bytes.HasPrefix(sf.glyphData(g), face.glyphData(g)) {
			t.Fatalf("glyph %d (U+%04X) outline changed", g, r)
		}
	}
	t.Logf("%d characters, subset program %d bytes (font file %d)", len(all), len(program), len(face.data))
}
