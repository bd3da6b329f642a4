package pdf

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// oneStream makes a file whose object 1 is a stream written exactly as
// given, with an optional object 2 (for indirect lengths).
func oneStream(dict, afterKeyword string, data []byte, beforeEnd, obj2 string) []byte {
	w := newPDF("1.7")
	w.offs[1] = int64(w.b.Len())
	fmt.Fprintf(&w.b, "1 0 obj\n<< %s >>\nstream%s", dict, afterKeyword)
	w.b.Write(data)
	w.b.WriteString(beforeEnd + "endstream\nendobj\n")
	if obj2 != "" {
		w.obj(2, obj2)
	}
	w.xrefTable("/Size 3", true, " \n")
	return w.b.Bytes()
}

func TestStreamLength(t *testing.T) {
	data := []byte("q 1 0 0 1 0 0 cm\n(text with endstrea) Tj Q")
	n := len(data)
	tests := []struct {
		name         string
		dict         string
		afterKeyword string
		data         []byte
		beforeEnd    string
		obj2         string
		want         []byte
	}{
		{"direct", fmt.Sprintf("/Length %d", n), "\n", data, "\n", "", data},
		{"CRLF after keyword", fmt.Sprintf("/Length %d", n), "\r\n", data, "\r\n", "", data},
		{"CR after keyword", fmt.Sprintf("/Length %d", n), "\r", data, "\r", "", data},
		{"no EOL before endstream", fmt.Sprintf("/Length %d", n), "\n", data, "", "", data},
		{"white space before endstream", fmt.Sprintf("/Length %d", n), "\n", data, " \r\n \n", "", data},
		{"too short", "/Length 3", "\n", data, "\n", "", data},
		{"too long", fmt.Sprintf("/Length %d", n+30), "\n", data, "\n", "", data},
		{"beyond the file", "/Length 999999999", "\n", data, "\r\n", "", data},
		{"negative", "/Length -4", "\n", data, "\n", "", data},
		{"missing", "", "\n", data, "\n", "", data},
		{"not a number", "/Length /Foo", "\n", data, "\n", "", data},
		{"indirect", "/Length 2 0 R", "\n", data, "\n", fmt.Sprint(n), data},
		{"indirect wrong", "/Length 2 0 R", "\n", data, "\n", "5", data},
		{"indirect missing", "/Length 9 0 R", "\n", data, "\n", "", data},
		{"indirect to itself", "/Length 1 0 R", "\n", data, "\n", "", data},
		{"indirect not a number", "/Length 2 0 R", "\n", data, "\n", "(x)", data},
		{"empty", "/Length 0", "\n", nil, "\n", "", []byte{}},
		{"empty without length", "", "\n", nil, "", "", []byte{}},
		{"keyword inside data, correct length", fmt.Sprintf("/Length %d", n+22), "\n", append([]byte("abc\nendstream\nxyz 123 "), data...), "\n", "",
			append([]byte("abc\nendstream\nxyz 123 "), data...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := oneStream(tc.dict, tc.afterKeyword, tc.data, tc.beforeEnd, tc.obj2)
			r := openBytes(t, file)
			o, err := r.Object(Ref{Num: 1})
			if err != nil {
				t.Fatal(err)
			}
			s, ok := o.(*Stream)
			if !ok {
				t.Fatalf("object is %T", o)
			}
			if s.Length != int64(len(tc.want)) {
				t.Errorf("Length = %d, want %d", s.Length, len(tc.want))
			}
			if !bytes.Equal(file[s.Offset:s.Offset+int64(len(tc.want))], tc.want) {
				t.Errorf("Offset %d does not start the data", s.Offset)
			}
			got, err := r.StreamData(s, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("data = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStreamWithoutEndstream(t *testing.T) {
	w := newPDF("1.7")
	w.offs[1] = int64(w.b.Len())
	w.b.WriteString("1 0 obj\n<< /Length 999999 >>\nstream\nsome data that never ends\n")
	w.xrefTable("/Size 2", true, " \n")
	r := openBytes(t, w.b.Bytes())
	for range 2 { // the second time answers from the memo
		_, err := r.Object(Ref{Num: 1})
		if !isFormatError(err) {
			t.Fatalf("got %v, want a *FormatError", err)
		}
	}
}

// refPaeth is the Paeth predictor as the PNG specification writes it.
func refPaeth(a, b, c int) int {
	p := a + b - c
	pa, pb, pc := p-a, p-b, p-c
	if pa < 0 {
		pa = -pa
	}
	if pb < 0 {
		pb = -pb
	}
	if pc < 0 {
		pc = -pc
	}
	if pa <= pb && pa <= pc {
		return a
	}
	if pb <= pc {
		return b
	}
	return c
}

// pngPredict encodes rows with PNG filter types taken in turn from types.
func pngPredict(data []byte, rowLen, bpp int, types []byte) []byte {
	var out []byte
	prev := make([]byte, rowLen)
	for i := 0; i*rowLen < len(data); i++ {
		row := data[i*rowLen : min(len(data), (i+1)*rowLen)]
		ft := types[i%len(types)]
		out = append(out, ft)
		for j := range row {
			left, up, ul := 0, int(prev[j]), 0
			if j >= bpp {
				left, ul = int(row[j-bpp]), int(prev[j-bpp])
			}
			var p int
			switch ft {
			case 1:
				p = left
			case 2:
				p = up
			case 3:
				p = (left + up) / 2
			case 4:
				p = refPaeth(left, up, ul)
			}
			out = append(out, row[j]-byte(p))
		}
		copy(prev, row)
	}
	return out
}

func tiffPredict(data []byte, rowLen, bpp int) []byte {
	out := append([]byte{}, data...)
	for i := 0; i*rowLen < len(data); i++ {
		row := out[i*rowLen : min(len(out), (i+1)*rowLen)]
		for j := len(row) - 1; j >= bpp; j-- {
			row[j] -= row[j-bpp]
		}
	}
	return out
}

func rawDeflate(b []byte) []byte {
	var out bytes.Buffer
	fw, _ := flate.NewWriter(&out, flate.BestCompression)
	fw.Write(b)
	fw.Close()
	return out.Bytes()
}

func TestStreamFilters(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	plain := make([]byte, 15*40) // 40 rows of 5 RGB pixels
	for i := range plain {
		plain[i] = byte(rng.IntN(256))
	}
	bits := make([]byte, 3*33) // 1-bit rows of 17 pixels, plus a short last row
	for i := range bits {
		bits[i] = byte(rng.IntN(256))
	}
	badChecksum := deflate(plain)
	badChecksum[len(badChecksum)-1] ^= 0xff
	tests := []struct {
		name string
		dict string
		raw  []byte
		want []byte
		is   error // expected cause, nil for success
	}{
		{"no filter", "", plain, plain, nil},
		{"flate", "/Filter /FlateDecode", deflate(plain), plain, nil},
		{"flate abbreviated", "/Filter /Fl", deflate(plain), plain, nil},
		{"flate in array", "/Filter [/FlateDecode] /DecodeParms [null]", deflate(plain), plain, nil},
		{"flate twice", "/Filter [/FlateDecode /FlateDecode]", deflate(deflate(plain)), plain, nil},
		{"raw deflate", "/Filter /FlateDecode", rawDeflate(plain), plain, nil},
		{"bad checksum", "/Filter /FlateDecode", badChecksum, plain, nil},
		{"empty flate", "/Filter /FlateDecode", nil, []byte{}, nil},
		{"png predictors", "/Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 3 /Columns 5 >>",
			deflate(pngPredict(plain, 15, 3, []byte{0, 1, 2, 3, 4, 4, 3, 2, 1})), plain, nil},
		{"png predictors in array", "/Filter [/FlateDecode] /DecodeParms [<< /Predictor 12 /Colors 3 /Columns 5 >>]",
			deflate(pngPredict(plain, 15, 3, []byte{2})), plain, nil},
		{"png 16 bit", "/Filter /FlateDecode /DecodeParms << /Predictor 11 /Colors 1 /BitsPerComponent 16 /Columns 10 >>",
			deflate(pngPredict(plain, 20, 2, []byte{4, 1, 3})), plain, nil},
		{"png 1 bit short last row", "/Filter /FlateDecode /DecodeParms << /Predictor 10 /BitsPerComponent 1 /Columns 17 >>",
			deflate(pngPredict(bits, 3, 1, []byte{4, 3, 2, 1, 0})), bits, nil},
		{"tiff predictor", "/Filter /FlateDecode /DecodeParms << /Predictor 2 /Colors 3 /Columns 5 >>",
			deflate(tiffPredict(plain, 15, 3)), plain, nil},
		{"bad png row type", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >>", deflate([]byte{7, 1, 2, 3, 4}), nil, nil},
		{"bad predictor", "/Filter /FlateDecode /DecodeParms << /Predictor 7 >>", deflate(plain), nil, nil},
		{"bad columns", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 0 >>", deflate(plain), nil, nil},
		{"huge rows", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Colors 32 /BitsPerComponent 16 /Columns 16000000 >>", deflate(plain), nil, ErrTooLarge},
		{"tiff 4 bit", "/Filter /FlateDecode /DecodeParms << /Predictor 2 /BitsPerComponent 4 >>", deflate(plain), nil, ErrUnsupported},
		{"corrupt flate", "/Filter /FlateDecode", append([]byte{0x78, 0x9c}, bytes.Repeat([]byte{0xff}, 20)...), nil, nil},
		{"truncated flate", "/Filter /FlateDecode", deflate(plain)[:40], nil, nil},
		{"unsupported filter", "/Filter /DCTDecode", plain, nil, ErrUnsupported},
		{"unsupported second filter", "/Filter [/FlateDecode /LZWDecode]", deflate(plain), nil, ErrUnsupported},
		{"filter not a name", "/Filter 12", plain, nil, nil},
		{"too large raw", "", bytes.Repeat([]byte("x"), 5000), nil, ErrTooLarge},
		{"decompression bomb", "/Filter /FlateDecode", deflate(make([]byte, 1<<20)), nil, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := oneStream(fmt.Sprintf("%s /Length %d", tc.dict, len(tc.raw)), "\n", tc.raw, "\n", "")
			r := openBytes(t, file)
			o, err := r.Object(Ref{Num: 1})
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.StreamData(o.(*Stream), 4096)
			if tc.want != nil {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.want) {
					t.Fatalf("decoded %d bytes, want %d: %x", len(got), len(tc.want), got)
				}
				return
			}
			if err == nil {
				t.Fatal("decoded without error")
			}
			if !isFormatError(err) {
				t.Fatalf("%v is not a *FormatError", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("%v is not %v", err, tc.is)
			}
		})
	}
}
