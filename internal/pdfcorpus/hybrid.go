package pdfcorpus

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"

	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// hybridPDF builds a hybrid-reference file the way Microsoft Word writes
// them (ISO 32000-1 §7.5.8.4): a main classic cross-reference table in
// which the compressed objects, the object stream and the cross-reference
// stream are marked free, followed by an empty update section ("xref 0 0")
// whose trailer has /Prev pointing at the main table and /XRefStm pointing
// at the cross-reference stream that knows where the hidden objects are.
//
// The hidden objects are the only page and its font, so a reader that
// ignores /XRefStm finds a page tree whose kid is a free object and fails
// visibly instead of passing by luck.
func hybridPDF() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	offsets := map[int]int{}
	obj := func(num int, body string) {
		offsets[num] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", num, body)
	}
	stream := func(num int, dict string, data []byte) {
		offsets[num] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n<< %s /Length %d >>\nstream\n", num, dict, len(data))
		b.Write(data)
		b.WriteString("\nendstream\nendobj\n")
	}
	deflate := func(data []byte) ([]byte, error) {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		if _, err := zw.Write(data); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return z.Bytes(), nil
	}

	const (
		catalog = 1
		pages   = 2
		page    = 3 // hidden: in the object stream
		font    = 4 // hidden: in the object stream
		content = 5
		objstm  = 6 // hidden: free in the table
		xrefstm = 7 // hidden: free in the table
		info    = 8
		size    = 9
	)
	id := fileID("hybrid-xrefstm")
	obj(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	obj(pages, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", page))
	stream(content, "", []byte("BT /F1 18 Tf 72 770 Td (Hybrid-reference file: classic table + /XRefStm) Tj ET"))
	obj(info, "<< /Title "+utf16Hex("Tệp tham chiếu lai (bảng xref cổ điển + /XRefStm)")+" /Producer (Microsoft Word for Microsoft 365, imitated by kyso pdfcorpus) >>")

	// The object stream: "objnum offset" pairs, then the objects.
	objs := []string{
		fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595.32 841.92] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", pages, font, content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	}
	var head, body bytes.Buffer
	for i, o := range objs {
		fmt.Fprintf(&head, "%d %d ", page+i, body.Len())
		body.WriteString(o + "\n")
	}
	raw := append(head.Bytes(), body.Bytes()...)
	z, err := deflate(raw)
	if err != nil {
		return nil, err
	}
	stream(objstm, fmt.Sprintf("/Type /ObjStm /N %d /First %d /Filter /FlateDecode", len(objs), head.Len()), z)

	// The cross-reference stream: entries for objects 3..7, W [1 4 2].
	xsOff := b.Len()
	var rows []byte
	row := func(typ byte, f2 uint32, f3 uint16) {
		rows = append(rows, typ)
		rows = binary.BigEndian.AppendUint32(rows, f2)
		rows = binary.BigEndian.AppendUint16(rows, f3)
	}
	row(2, objstm, 0)                   // 3: page, index 0
	row(2, objstm, 1)                   // 4: font, index 1
	row(1, uint32(offsets[content]), 0) // 5: also in the table; harmless duplicate
	row(1, uint32(offsets[objstm]), 0)  // 6
	row(1, uint32(xsOff), 0)            // 7: the stream itself
	if z, err = deflate(rows); err != nil {
		return nil, err
	}
	stream(xrefstm, fmt.Sprintf("/Type /XRef /Size %d /Index [%d 5] /W [1 4 2] /Filter /FlateDecode", size, page), z)

	// Main table: hidden objects are free entries, chained 0 → 3 → 4 → 6 → 7 → 0.
	mainOff := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n", size)
	next := map[int]int{0: page, page: font, font: objstm, objstm: xrefstm, xrefstm: 0}
	for n := 0; n < size; n++ {
		if nx, free := next[n]; free {
			fmt.Fprintf(&b, "%010d 65535 f \n", nx)
		} else {
			fmt.Fprintf(&b, "%010d 00000 n \n", offsets[n])
		}
	}
	trailer := fmt.Sprintf("/Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>]", size, catalog, info, id, id)
	fmt.Fprintf(&b, "trailer\n<< %s >>\nstartxref\n%d\n%%%%EOF\n", trailer, mainOff)

	// Update section: no entries, only the pointer to the stream.
	updOff := b.Len()
	fmt.Fprintf(&b, "xref\n0 0\ntrailer\n<< %s /Prev %d /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n", trailer, mainOff, xsOff, updOff)
	return b.Bytes(), nil
}

// writeHybrid writes the hybrid-reference sample to path.
func writeHybrid(path string) error {
	data, err := hybridPDF()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}
