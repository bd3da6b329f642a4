package appearance

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// pngSignature starts every PNG file.
const pngSignature = "\x89PNG\r\n\x1a\n"

// PNG colour types (IHDR byte 9).
const (
	pngGray      = 0
	pngGrayAlpha = 4
)

// DecodePNG converts a PNG file of any colour type, bit depth and
// interlacing to an image XObject: 8-bit /DeviceGray for the grey colour
// types, 8-bit /DeviceRGB for the others (palettes are expanded),
// compressed with /FlateDecode. Alpha, whether from an alpha channel or a
// tRNS chunk, becomes an 8-bit soft mask; an image whose pixels are all
// opaque gets none. A pHYs chunk in pixels per metre gives the
// resolution. Images wider or taller than MaxSide are refused before their
// pixels are decoded.
//
// Colour values are stored as the file has them, not premultiplied by
// alpha, which is what a PDF soft mask without /Matte expects. Gamma and
// ICC profiles are ignored: the colours are taken as device colours.
func DecodePNG(data []byte) (*Image, error) {
	const op = "decode PNG"
	if !bytes.HasPrefix(data, []byte(pngSignature)) {
		return nil, errorf(ErrMalformed, op, nil, "missing PNG signature")
	}
	// IHDR must be the first chunk: 8 signature bytes, length, "IHDR",
	// then width, height, depth, colour type.
	if len(data) < 33 || string(data[12:16]) != "IHDR" {
		return nil, errorf(ErrMalformed, op, nil, "first chunk is not IHDR")
	}
	colorType := data[25]
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, errorf(ErrMalformed, op, err, "reading the header")
	}
	if cfg.Width > MaxSide || cfg.Height > MaxSide {
		return nil, errorf(ErrTooLarge, op, nil, "image is %d×%d pixels, more than the %d×%d accepted", cfg.Width, cfg.Height, MaxSide, MaxSide)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, errorf(ErrMalformed, op, nil, "image has no pixels (%d×%d)", cfg.Width, cfg.Height)
	}
	src, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, errorf(ErrMalformed, op, err, "decoding the pixels")
	}
	gray := colorType == pngGray || colorType == pngGrayAlpha
	channels := 3
	colorSpace := pdf.Name("DeviceRGB")
	if gray {
		channels, colorSpace = 1, "DeviceGray"
	}
	pix, alpha, opaque := samples(src, channels)

	img := &Image{Width: cfg.Width, Height: cfg.Height}
	img.DPIX, img.DPIY = pngDPI(data)
	if img.Data, err = deflate(pix); err != nil {
		return nil, errorf(ErrMalformed, op, err, "compressing the pixels")
	}
	img.Dict = imageDict(img.Width, img.Height, colorSpace, "FlateDecode", len(img.Data))
	if !opaque {
		mask := &Image{Width: img.Width, Height: img.Height, DPIX: img.DPIX, DPIY: img.DPIY}
		if mask.Data, err = deflate(alpha); err != nil {
			return nil, errorf(ErrMalformed, op, err, "compressing the alpha channel")
		}
		mask.Dict = imageDict(mask.Width, mask.Height, "DeviceGray", "FlateDecode", len(mask.Data))
		img.SMask = mask
	}
	return img, nil
}

// samples extracts 8-bit colour samples (channels per pixel: 1 takes the
// red channel of a grey image, 3 takes RGB) and 8-bit alpha from src,
// with fast paths for the types image/png returns most often. opaque
// reports whether every alpha is 255.
func samples(src image.Image, channels int) (pix, alpha []byte, opaque bool) {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	pix = make([]byte, 0, w*h*channels)
	alpha = make([]byte, 0, w*h)
	put := func(r, g, bl, a uint8) {
		if channels == 1 {
			pix = append(pix, r)
		} else {
			pix = append(pix, r, g, bl)
		}
		alpha = append(alpha, a)
	}
	switch m := src.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for _, v := range row {
				put(v, v, v, 0xff)
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < len(row); x += 4 {
				put(row[x], row[x+1], row[x+2], row[x+3])
			}
		}
	case *image.Paletted:
		pal := make([]color.NRGBA, 256)
		for i, c := range m.Palette {
			pal[i] = color.NRGBAModel.Convert(c).(color.NRGBA)
		}
		for y := range h {
			for _, i := range m.Pix[y*m.Stride : y*m.Stride+w] {
				c := pal[i]
				put(c.R, c.G, c.B, c.A)
			}
		}
	default:
		// Sixteen-bit images and anything else: convert through the
		// 16-bit non-premultiplied model and round to 8 bits.
		to8 := func(v uint16) uint8 { return uint8((uint32(v)*255 + 32895) >> 16) }
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBA64Model.Convert(src.At(x, y)).(color.NRGBA64)
				put(to8(c.R), to8(c.G), to8(c.B), to8(c.A))
			}
		}
	}
	opaque = true
	for _, a := range alpha {
		if a != 0xff {
			opaque = false
			break
		}
	}
	return pix, alpha, opaque
}

// pngDPI returns the resolution of a pHYs chunk whose unit is the metre,
// or zeros. Only the chunks before the first IDAT are read: pHYs must
// precede the image data.
func pngDPI(data []byte) (x, y float64) {
	for off := len(pngSignature); off+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		if n < 0 || n > len(data)-off-12 || typ == "IDAT" || typ == "IEND" {
			return 0, 0
		}
		if typ == "pHYs" && n == 9 {
			c := data[off+8 : off+17]
			if c[8] != 1 {
				// Unit 0 gives only the pixel aspect ratio.
				return 0, 0
			}
			return float64(binary.BigEndian.Uint32(c)) * 0.0254, float64(binary.BigEndian.Uint32(c[4:])) * 0.0254
		}
		off += 12 + n
	}
	return 0, 0
}

// deflate compresses b in the zlib format /FlateDecode reads.
func deflate(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
