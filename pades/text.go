package pades

import (
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// vietnam is UTC+07:00 all year; PDF dates are written in it because that
// is the time the people reading the document live in.
var vietnam = time.FixedZone("ICT", 7*3600)

// textString encodes s as a PDF text string: as is when every character is
// printable ASCII (the part of PDFDocEncoding that matches Unicode), else as
// UTF-16BE with a byte-order mark, written in hex so no byte needs escaping.
// Vietnamese always takes the UTF-16 path.
func textString(s string) pdf.String {
	ascii := true
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		return pdf.String{Bytes: []byte(s)}
	}
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xFE, 0xFF
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return pdf.String{Bytes: b, Hex: true}
}

// decodeText is the inverse of textString for the encodings kyso writes
// and the PDFDocEncoding subset that matches ASCII.
func decodeText(b []byte) string {
	if len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF {
		u := make([]uint16, 0, (len(b)-2)/2)
		for i := 2; i+1 < len(b); i += 2 {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		}
		return string(utf16.Decode(u))
	}
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { // PDF 2.0 UTF-8
		return string(b[3:])
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c) // PDFDocEncoding agrees with Latin-1 on the printable range
	}
	return string(r)
}

// pdfDate formats t as a PDF date in Vietnam time: D:20261122140509+07'00'.
func pdfDate(t time.Time) string {
	t = t.In(vietnam)
	return fmt.Sprintf("D:%s+07'00'", t.Format("20060102150405"))
}
