package xwd

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"strings"
	"testing"
)

// build writes an XWD file as xwd(1) does: the big-endian header, the
// window name with its NUL, the colormap, then height lines of
// bytesPerLine bytes, each pixel written by put.
func build(h Header, name string, cmap []Color, pixels [][]uint32) []byte {
	var b bytes.Buffer
	h.FileVersion = 7
	h.HeaderSize = uint32(HeaderSize + len(name) + 1)
	h.PixmapFormat = ZPixmap
	h.PixmapHeight = uint32(len(pixels))
	h.PixmapWidth = uint32(len(pixels[0]))
	h.WindowWidth, h.WindowHeight = h.PixmapWidth, h.PixmapHeight
	h.NColors = uint32(len(cmap))
	h.ColormapEntries = h.NColors
	step := int(h.BitsPerPixel / 8)
	if h.BytesPerLine == 0 {
		h.BytesPerLine = uint32((len(pixels[0])*step + 3) &^ 3) // padded to 32 bits
	}
	binary.Write(&b, binary.BigEndian, h)
	b.WriteString(name)
	b.WriteByte(0)
	for _, c := range cmap {
		binary.Write(&b, binary.BigEndian, c.Pixel)
		binary.Write(&b, binary.BigEndian, [3]uint16{c.Red, c.Green, c.Blue})
		b.Write([]byte{c.Flags, 0})
	}
	for _, row := range pixels {
		line := make([]byte, h.BytesPerLine)
		for x, p := range row {
			for i := 0; i < step; i++ {
				shift := 8 * i
				if h.ByteOrder == MSBFirst {
					shift = 8 * (step - 1 - i)
				}
				line[x*step+i] = byte(p >> shift)
			}
		}
		// Padding bytes carry garbage in real dumps.
		for i := len(row) * step; i < len(line); i++ {
			line[i] = 0xa5
		}
		b.Write(line)
	}
	return b.Bytes()
}

func checkPixels(t *testing.T, img image.Image, want [][]color.RGBA) {
	t.Helper()
	if got := img.Bounds(); got != image.Rect(0, 0, len(want[0]), len(want)) {
		t.Fatalf("bounds %v", got)
	}
	for y, row := range want {
		for x, w := range row {
			if got := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); got != w {
				t.Errorf("pixel (%d,%d) = %v, want %v", x, y, got, w)
			}
		}
	}
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 0xff} }

func TestZenityXWDTrueColor32(t *testing.T) {
	// What Xvfb's 24-bit screen dumps: 32 bits per pixel, LSBFirst, masks
	// 0xff0000/0xff00/0xff, and a 256-entry colormap that TrueColor
	// ignores.
	h := Header{PixmapDepth: 24, ByteOrder: LSBFirst, BitmapUnit: 32, BitmapPad: 32, BitsPerPixel: 32,
		VisualClass: TrueColor, RedMask: 0xff0000, GreenMask: 0xff00, BlueMask: 0xff, BitsPerRGB: 8}
	cmap := make([]Color, 256)
	for i := range cmap {
		cmap[i] = Color{Pixel: uint32(i), Red: 0xffff, Flags: 7}
	}
	pix := [][]uint32{
		{0xff0000, 0x00ff00, 0x0000ff},
		{0x000000, 0xffffff, 0x123456},
	}
	data := build(h, "xwdump", cmap, pix)
	if got := binary.BigEndian.Uint32(data[0:]); got != 107 {
		t.Fatalf("header_size = %d, want 107 (100 + \"xwdump\\x00\")", got)
	}
	hd, name, err := DecodeHeader(bytes.NewReader(data))
	if err != nil || name != "xwdump" || hd.BitsPerPixel != 32 || hd.NColors != 256 || hd.BytesPerLine != 12 {
		t.Fatalf("header = %+v, name %q, err %v", hd, name, err)
	}
	img, err := Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	checkPixels(t, img, [][]color.RGBA{
		{rgb(0xff, 0, 0), rgb(0, 0xff, 0), rgb(0, 0, 0xff)},
		{rgb(0, 0, 0), rgb(0xff, 0xff, 0xff), rgb(0x12, 0x34, 0x56)},
	})
}

func TestZenityXWDTrueColor16MSB(t *testing.T) {
	// RGB 565, big-endian pixels, odd width so lines are padded.
	h := Header{PixmapDepth: 16, ByteOrder: MSBFirst, BitsPerPixel: 16,
		VisualClass: TrueColor, RedMask: 0xf800, GreenMask: 0x07e0, BlueMask: 0x001f}
	pix := [][]uint32{{0xf800, 0x07e0, 0x001f}, {0xffff, 0x0000, 0x8410}}
	img, err := Decode(bytes.NewReader(build(h, "", nil, pix)))
	if err != nil {
		t.Fatal(err)
	}
	checkPixels(t, img, [][]color.RGBA{
		{rgb(0xff, 0, 0), rgb(0, 0xff, 0), rgb(0, 0, 0xff)},
		{rgb(0xff, 0xff, 0xff), rgb(0, 0, 0), rgb(0x84, 0x82, 0x84)},
	})
}

func TestZenityXWDPseudoColor(t *testing.T) {
	h := Header{PixmapDepth: 8, BitsPerPixel: 8, VisualClass: PseudoColor}
	cmap := []Color{
		{Pixel: 0, Red: 0x0000, Green: 0x0000, Blue: 0x0000},
		{Pixel: 1, Red: 0xffff, Green: 0x8000, Blue: 0x0100},
		{Pixel: 7, Red: 0x1234, Green: 0x5678, Blue: 0x9abc},
	}
	pix := [][]uint32{{1, 7}, {0, 1}}
	img, err := Decode(bytes.NewReader(build(h, "pc", cmap, pix)))
	if err != nil {
		t.Fatal(err)
	}
	checkPixels(t, img, [][]color.RGBA{
		{rgb(0xff, 0x80, 0x01), rgb(0x12, 0x56, 0x9a)},
		{rgb(0, 0, 0), rgb(0xff, 0x80, 0x01)},
	})
}

func TestZenityXWDErrors(t *testing.T) {
	good := Header{PixmapDepth: 24, BitsPerPixel: 32, VisualClass: TrueColor, RedMask: 0xff0000, GreenMask: 0xff00, BlueMask: 0xff}
	data := build(good, "w", nil, [][]uint32{{1, 2}, {3, 4}})
	if _, err := Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"empty", func([]byte) []byte { return nil }, "header"},
		{"version", func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], 6); return b }, "not an XWD"},
		{"xypixmap", func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 1); return b }, "ZPixmap"},
		{"zero width", func(b []byte) []byte { binary.BigEndian.PutUint32(b[16:], 0); return b }, "bad size"},
		{"huge", func(b []byte) []byte { binary.BigEndian.PutUint32(b[20:], 1<<30); return b }, "bad size"},
		{"bpp", func(b []byte) []byte { binary.BigEndian.PutUint32(b[44:], 12); return b }, "bits per pixel"},
		{"short lines", func(b []byte) []byte { binary.BigEndian.PutUint32(b[48:], 4); return b }, "bytes per line"},
		{"no masks", func(b []byte) []byte { binary.BigEndian.PutUint32(b[56:], 0); return b }, "masks"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tt.edit(bytes.Clone(data))))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
