package appearance

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/internal/testimages"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// inflate decompresses /FlateDecode data.
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

// checkDict verifies the entries every image dictionary must have.
func checkDict(t *testing.T, img *Image, colorSpace, filter pdf.Name) {
	t.Helper()
	d := img.Dict
	want := pdf.Dict{
		"Type": pdf.Name("XObject"), "Subtype": pdf.Name("Image"),
		"Width": pdf.Int(img.Width), "Height": pdf.Int(img.Height),
		"ColorSpace": colorSpace, "BitsPerComponent": pdf.Int(8),
		"Filter": filter, "Length": pdf.Int(len(img.Data)),
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("/%s = %v, want %v", k, d[k], v)
		}
	}
	if _, ok := d["SMask"]; ok {
		t.Error("Dict has /SMask: the writer adds it")
	}
	if err := pdf.CheckSerializable(d); err != nil {
		t.Error(err)
	}
}

func TestDecodePNG(t *testing.T) {
	sig := testimages.Signature(120, 48)
	// An opaque photo-like image: a gradient, to check that opaque files
	// get no soft mask.
	opaque := image.NewNRGBA(image.Rect(0, 0, 33, 17))
	for y := range 17 {
		for x := range 33 {
			opaque.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 7), G: uint8(y * 15), B: 99, A: 255})
		}
	}
	tests := []struct {
		name      string
		img       image.Image
		dpi       float64
		opts      testimages.PNGOptions
		gray      bool
		wantSMask bool
	}{
		{"RGBA 8", sig, 300, testimages.PNGOptions{}, false, true},
		{"RGBA 16", sig, 600, testimages.PNGOptions{Depth: 16}, false, true},
		{"RGB 8 opaque", opaque, 72, testimages.PNGOptions{Model: testimages.RGB}, false, false},
		{"RGB 16 opaque", opaque, 0, testimages.PNGOptions{Model: testimages.RGB, Depth: 16}, false, false},
		{"RGBA 8 opaque", opaque, 96, testimages.PNGOptions{}, false, false},
		{"RGB with tRNS key", sig, 150, testimages.PNGOptions{Model: testimages.RGB, WhiteKey: true}, false, true},
		{"Gray 8", sig, 300, testimages.PNGOptions{Model: testimages.Gray}, true, false},
		{"Gray 16", sig, 300, testimages.PNGOptions{Model: testimages.Gray, Depth: 16}, true, false},
		{"Gray 1", sig, 300, testimages.PNGOptions{Model: testimages.Gray, Depth: 1}, true, false},
		{"Gray 2", sig, 300, testimages.PNGOptions{Model: testimages.Gray, Depth: 2}, true, false},
		{"Gray 4 with tRNS key", sig, 300, testimages.PNGOptions{Model: testimages.Gray, Depth: 4, WhiteKey: true}, true, true},
		{"Gray 8 with tRNS key", sig, 300, testimages.PNGOptions{Model: testimages.Gray, WhiteKey: true}, true, true},
		{"GrayAlpha 8", sig, 300, testimages.PNGOptions{Model: testimages.GrayAlpha}, true, true},
		{"GrayAlpha 16", sig, 1200, testimages.PNGOptions{Model: testimages.GrayAlpha, Depth: 16}, true, true},
		{"Paletted 8 with tRNS", sig, 300, testimages.PNGOptions{Model: testimages.Paletted}, false, true},
		{"Paletted 4 with tRNS", sig, 300, testimages.PNGOptions{Model: testimages.Paletted, Depth: 4}, false, true},
		{"Paletted 2 with tRNS", sig, 300, testimages.PNGOptions{Model: testimages.Paletted, Depth: 2}, false, true},
		{"Paletted 8 opaque", opaque, 300, testimages.PNGOptions{Model: testimages.Paletted}, false, false},
		{"Paletted 1 opaque", image.NewGray(image.Rect(0, 0, 9, 9)), 300, testimages.PNGOptions{Model: testimages.Paletted, Depth: 1}, false, false},
		{"interlaced RGBA 8", sig, 300, testimages.PNGOptions{Interlaced: true}, false, true},
		{"interlaced RGBA 16", sig, 300, testimages.PNGOptions{Depth: 16, Interlaced: true}, false, true},
		{"interlaced GrayAlpha 8", sig, 300, testimages.PNGOptions{Model: testimages.GrayAlpha, Interlaced: true}, true, true},
		{"interlaced Paletted 4", sig, 300, testimages.PNGOptions{Model: testimages.Paletted, Depth: 4, Interlaced: true}, false, true},
		{"interlaced Gray 1 tiny", image.NewGray(image.Rect(0, 0, 3, 2)), 300, testimages.PNGOptions{Model: testimages.Gray, Depth: 1, Interlaced: true}, true, false},
		{"seal 300 dpi", testimages.Seal(118), 299.72, testimages.PNGOptions{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := testimages.EncodePNG(tt.img, tt.dpi, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			img, err := DecodePNG(data)
			if err != nil {
				t.Fatal(err)
			}
			b := tt.img.Bounds()
			if img.Width != b.Dx() || img.Height != b.Dy() {
				t.Fatalf("size %d×%d, want %v", img.Width, img.Height, b.Size())
			}
			if math.Abs(img.DPIX-tt.dpi) > 0.5 || math.Abs(img.DPIY-tt.dpi) > 0.5 {
				t.Errorf("DPI %.3f×%.3f, want %v", img.DPIX, img.DPIY, tt.dpi)
			}
			cs, channels := pdf.Name("DeviceRGB"), 3
			if tt.gray {
				cs, channels = "DeviceGray", 1
			}
			checkDict(t, img, cs, "FlateDecode")
			if (img.SMask != nil) != tt.wantSMask {
				t.Fatalf("SMask present %v, want %v", img.SMask != nil, tt.wantSMask)
			}

			// The samples must be what image/png decodes, in 8 bits.
			ref, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			pix := inflate(t, img.Data)
			if len(pix) != img.Width*img.Height*channels {
				t.Fatalf("%d bytes of samples, want %d", len(pix), img.Width*img.Height*channels)
			}
			var alpha []byte
			if img.SMask != nil {
				checkDict(t, img.SMask, "DeviceGray", "FlateDecode")
				if img.SMask.SMask != nil || img.SMask.Width != img.Width || img.SMask.Height != img.Height {
					t.Fatalf("bad soft mask %+v", img.SMask)
				}
				alpha = inflate(t, img.SMask.Data)
			}
			transparent := 0
			for y := range img.Height {
				for x := range img.Width {
					c := color.NRGBA64Model.Convert(ref.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
					i := y*img.Width + x
					want := []uint16{c.R, c.G, c.B}[:channels]
					for ch, w := range want {
						if c.A == 0 {
							break // colour under full transparency is free
						}
						if d := int(pix[i*channels+ch]) - int(w>>8); d < -1 || d > 1 {
							t.Fatalf("pixel (%d,%d) channel %d = %d, want %d", x, y, ch, pix[i*channels+ch], w>>8)
						}
					}
					if alpha != nil {
						if d := int(alpha[i]) - int(c.A>>8); d < -1 || d > 1 {
							t.Fatalf("pixel (%d,%d) alpha %d, want %d", x, y, alpha[i], c.A>>8)
						}
						if alpha[i] == 0 {
							transparent++
						}
					}
				}
			}
			if tt.wantSMask && transparent == 0 {
				t.Error("soft mask has no transparent pixel")
			}
		})
	}
}

func TestDecodePNGErrors(t *testing.T) {
	good, err := testimages.EncodePNG(testimages.Signature(40, 20), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wide, err := testimages.EncodePNG(image.NewGray(image.Rect(0, 0, MaxSide+1, 1)), 0, testimages.PNGOptions{Model: testimages.Gray})
	if err != nil {
		t.Fatal(err)
	}
	tall, err := testimages.EncodePNG(image.NewGray(image.Rect(0, 0, 2, MaxSide+1)), 0, testimages.PNGOptions{Model: testimages.Gray})
	if err != nil {
		t.Fatal(err)
	}
	edge, err := testimages.EncodePNG(image.NewGray(image.Rect(0, 0, MaxSide, 1)), 0, testimages.PNGOptions{Model: testimages.Gray})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodePNG(edge); err != nil {
		t.Errorf("%d pixels wide refused: %v", MaxSide, err)
	}
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-20] ^= 0xff // inside the last IDAT

	tests := []struct {
		name string
		data []byte
		kind ErrorKind
		text string
	}{
		{"empty", nil, ErrMalformed, "signature"},
		{"JPEG bytes", []byte{0xff, 0xd8, 0xff, 0xe0}, ErrMalformed, "signature"},
		{"truncated header", good[:20], ErrMalformed, "IHDR"},
		{"truncated data", good[:len(good)/2], ErrMalformed, "decoding"},
		{"corrupt data", badCRC, ErrMalformed, ""},
		{"too wide", wide, ErrTooLarge, "10001×1"},
		{"too tall", tall, ErrTooLarge, "2×10001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePNG(tt.data)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.kind) || e.Op != "decode PNG" {
				t.Fatalf("got %v, want an *Error of kind %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func TestPNGDPIUnits(t *testing.T) {
	data, err := testimages.EncodePNG(testimages.Seal(20), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Turn the pHYs unit into 0 (aspect ratio only) and fix the CRC.
	i := bytes.Index(data, []byte("pHYs"))
	data[i+4+8] = 0
	binary.BigEndian.PutUint32(data[i+4+9:], crc(data[i:i+4+9]))
	img, err := DecodePNG(data)
	if err != nil {
		t.Fatal(err)
	}
	if img.DPIX != 0 || img.DPIY != 0 {
		t.Errorf("pHYs without unit gave %v×%v dpi, want unknown", img.DPIX, img.DPIY)
	}
	noDPI, err := testimages.EncodePNG(testimages.Seal(20), 0, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img, err := DecodePNG(noDPI); err != nil || img.DPIX != 0 {
		t.Errorf("no pHYs: %v, %v", img, err)
	}
}

// crc is the PNG chunk CRC (CRC-32/IEEE) computed bit by bit, so the test
// does not share code with the encoder.
func crc(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xedb88320
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

// patchSegment returns a copy of a JPEG file with f applied to the body of
// each segment with the given marker (before the first scan included).
func patchSegment(t *testing.T, data []byte, marker byte, f func(seg []byte)) []byte {
	t.Helper()
	out := bytes.Clone(data)
	for off := 2; off+4 <= len(out); {
		if out[off] != 0xff {
			t.Fatalf("no marker at %d", off)
		}
		m := out[off+1]
		n := int(binary.BigEndian.Uint16(out[off+2:]))
		if m == marker {
			f(out[off+4 : off+2+n])
		}
		if m == 0xda {
			return out
		}
		off += 2 + n
	}
	t.Fatal("no scan found")
	return nil
}

// dropSegment removes the first segment with the given marker.
func dropSegment(t *testing.T, data []byte, marker byte) []byte {
	t.Helper()
	for off := 2; off+4 <= len(data); {
		n := int(binary.BigEndian.Uint16(data[off+2:]))
		if data[off+1] == marker {
			return append(bytes.Clone(data[:off]), data[off+2+n:]...)
		}
		off += 2 + n
	}
	t.Fatalf("marker %02X not found", marker)
	return nil
}

func TestDecodeJPEG(t *testing.T) {
	sig := testimages.Signature(160, 64)
	gray := image.NewGray(image.Rect(0, 0, 40, 24))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 3)
	}
	cmyk := image.NewCMYK(image.Rect(0, 0, 32, 16))
	enc := func(f func() ([]byte, error)) []byte {
		t.Helper()
		b, err := f()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rgb300 := enc(func() ([]byte, error) { return testimages.EncodeJPEG(sig, 85, 300) })
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, sig, nil); err != nil {
		t.Fatal(err)
	}
	// Components renamed R, G, B, as some encoders write RGB JPEGs.
	namedRGB := patchSegment(t, plain.Bytes(), 0xc0, func(s []byte) { s[6], s[9], s[12] = 'R', 'G', 'B' })
	namedRGB = patchSegment(t, namedRGB, 0xda, func(s []byte) { s[1], s[3], s[5] = 'R', 'G', 'B' })

	tests := []struct {
		name         string
		data         []byte
		w, h         int
		colorSpace   pdf.Name
		dpi          float64
		decode       bool
		colorTransf0 bool
	}{
		{"YCbCr JFIF 300 dpi", rgb300, 160, 64, "DeviceRGB", 300, false, false},
		{"YCbCr JFIF no unit", enc(func() ([]byte, error) { return testimages.EncodeJPEG(sig, 85, 0) }), 160, 64, "DeviceRGB", 0, false, false},
		{"YCbCr JFIF dots per cm", patchSegment(t, rgb300, 0xe0, func(s []byte) {
			s[7] = 2
			binary.BigEndian.PutUint16(s[8:], 118)
			binary.BigEndian.PutUint16(s[10:], 118)
		}), 160, 64, "DeviceRGB", 299.72, false, false},
		{"YCbCr without APP0", plain.Bytes(), 160, 64, "DeviceRGB", 0, false, false},
		{"components named RGB", namedRGB, 160, 64, "DeviceRGB", 0, false, true},
		{"gray 96 dpi", enc(func() ([]byte, error) { return testimages.EncodeJPEG(gray, 90, 96) }), 40, 24, "DeviceGray", 96, false, false},
		{"CMYK Adobe EXIF 254 dpi", enc(func() ([]byte, error) { return testimages.EncodeCMYKJPEG(cmyk, 254, true) }), 32, 16, "DeviceCMYK", 254, true, false},
		{"CMYK without Adobe", enc(func() ([]byte, error) { return testimages.EncodeCMYKJPEG(cmyk, 0, false) }), 32, 16, "DeviceCMYK", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := DecodeJPEG(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if img.Width != tt.w || img.Height != tt.h {
				t.Errorf("size %d×%d, want %d×%d", img.Width, img.Height, tt.w, tt.h)
			}
			if math.Abs(img.DPIX-tt.dpi) > 0.5 || math.Abs(img.DPIY-tt.dpi) > 0.5 {
				t.Errorf("DPI %v×%v, want %v", img.DPIX, img.DPIY, tt.dpi)
			}
			checkDict(t, img, tt.colorSpace, "DCTDecode")
			if !bytes.Equal(img.Data, tt.data) {
				t.Error("JPEG data was not passed through unchanged")
			}
			if img.SMask != nil {
				t.Error("JPEG got a soft mask")
			}
			_, hasDecode := img.Dict["Decode"]
			if hasDecode != tt.decode {
				t.Errorf("/Decode present %v, want %v", hasDecode, tt.decode)
			}
			if tt.decode {
				want := pdf.Array{pdf.Int(1), pdf.Int(0), pdf.Int(1), pdf.Int(0), pdf.Int(1), pdf.Int(0), pdf.Int(1), pdf.Int(0)}
				if got := string(pdf.AppendObject(nil, img.Dict["Decode"])); got != string(pdf.AppendObject(nil, want)) {
					t.Errorf("/Decode %s", got)
				}
			}
			parms, hasParms := img.Dict.GetDict("DecodeParms")
			if hasParms != tt.colorTransf0 || hasParms && parms["ColorTransform"] != pdf.Int(0) {
				t.Errorf("/DecodeParms %v", img.Dict["DecodeParms"])
			}
		})
	}
}

func TestDecodeJPEGErrors(t *testing.T) {
	good, err := testimages.EncodeJPEG(testimages.Seal(32), 90, 300)
	if err != nil {
		t.Fatal(err)
	}
	big, err := testimages.EncodeJPEG(image.NewGray(image.Rect(0, 0, MaxSide+1, 8)), 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The APP0 length runs past the end of the file.
	longAPP0 := bytes.Clone(good)
	binary.BigEndian.PutUint16(longAPP0[4:], 0xfff0)
	setSOF := func(f func(s []byte)) []byte { return patchSegment(t, good, 0xc0, f) }
	changeMarker := func(from, to byte) []byte {
		out := bytes.Clone(good)
		i := bytes.Index(out, []byte{0xff, from})
		out[i+1] = to
		return out
	}
	tests := []struct {
		name string
		data []byte
		kind ErrorKind
		text string
	}{
		{"empty", nil, ErrMalformed, "SOI"},
		{"PNG bytes", []byte("\x89PNG\r\n\x1a\n"), ErrMalformed, "SOI"},
		{"truncated in headers", good[:30], ErrMalformed, ""},
		{"no frame header", dropSegment(t, good, 0xc0), ErrMalformed, "SOF"},
		{"12-bit", setSOF(func(s []byte) { s[0] = 12 }), ErrUnsupported, "12-bit"},
		{"arithmetic", changeMarker(0xc0, 0xc9), ErrUnsupported, "arithmetic"},
		{"lossless", changeMarker(0xc0, 0xc3), ErrUnsupported, "lossless"},
		{"hierarchical", changeMarker(0xc0, 0xc5), ErrUnsupported, "hierarchical"},
		{"two components", setSOF(func(s []byte) { s[5] = 2 }), ErrUnsupported, ""},
		{"height from DNL", setSOF(func(s []byte) { s[1], s[2] = 0, 0 }), ErrUnsupported, "not given"},
		{"too large", big, ErrTooLarge, "10001×8"},
		{"segment past the end", longAPP0, ErrMalformed, "bad length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeJPEG(tt.data)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.kind) || e.Op != "decode JPEG" {
				t.Fatalf("got %v, want an *Error of kind %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func TestDecodeImage(t *testing.T) {
	pngData, err := testimages.EncodePNG(testimages.Seal(30), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jpegData, err := testimages.EncodeJPEG(testimages.Seal(30), 90, 300)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		data   []byte
		filter pdf.Name
		err    string // substring of the error, "" for success
	}{
		{"PNG", pngData, "FlateDecode", ""},
		{"JPEG", jpegData, "DCTDecode", ""},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00"), "", "GIF images are not supported"},
		{"BMP", []byte("BM\x36\x00\x00\x00"), "", "BMP"},
		{"TIFF", []byte("II*\x00\x08\x00\x00\x00"), "", "TIFF"},
		{"WebP", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), "", "WebP"},
		{"HEIC", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), "", "HEIC"},
		{"AVIF", []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00"), "", "AVIF"},
		{"PDF", []byte("%PDF-1.7\n"), "", "PDF"},
		{"SVG", []byte("<svg xmlns="), "", "SVG"},
		{"JPEG 2000", []byte("\x00\x00\x00\x0cjP  \r\n\x87\n"), "", "JPEG 2000"},
		{"unknown", []byte("hello, world"), "", "unrecognised image format (first bytes 68 65 6c 6c 6f 2c 20 77)"},
		{"empty", nil, "", "unrecognised"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := DecodeImage(tt.data)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if img.Dict["Filter"] != tt.filter {
					t.Errorf("filter %v", img.Dict["Filter"])
				}
				return
			}
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want ErrUnsupported mentioning %q", err, tt.err)
			}
			if !strings.Contains(err.Error(), "use PNG or JPEG") {
				t.Errorf("error %q does not say what to do", err)
			}
		})
	}
}

func TestWithSMask(t *testing.T) {
	data, err := testimages.EncodePNG(testimages.Seal(30), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := DecodePNG(data)
	if err != nil {
		t.Fatal(err)
	}
	d := img.WithSMask(pdf.Ref{Num: 7})
	if d["SMask"] != (pdf.Ref{Num: 7}) {
		t.Errorf("/SMask = %v", d["SMask"])
	}
	if _, ok := img.Dict["SMask"]; ok {
		t.Error("WithSMask changed img.Dict")
	}
	if len(d) != len(img.Dict)+1 {
		t.Errorf("copy has %d keys, original %d", len(d), len(img.Dict))
	}
}

func TestErrorKinds(t *testing.T) {
	for k := ErrUnsupported; k <= ErrInvalid; k++ {
		e := fmt.Errorf("wrapped: %w", &Error{Kind: k, Op: "op", Reason: "r"})
		for other := ErrUnsupported; other <= ErrInvalid; other++ {
			if got := errors.Is(e, other); got != (other == k) {
				t.Errorf("errors.Is(%v, %v) = %v", k, other, got)
			}
		}
		if k.Error() == "" || strings.Contains(k.Error(), "kind") {
			t.Errorf("kind %d has no description", int(k))
		}
	}
	cause := errors.New("cause")
	e := &Error{Kind: ErrMalformed, Op: "decode PNG", Reason: "bad", Err: cause}
	if !errors.Is(e, cause) || e.Error() != "appearance: decode PNG: bad: cause" {
		t.Errorf("%q", e)
	}
}
