package testimages

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"math"
	"slices"
)

// EncodeError reports arguments an encoder of this package cannot honour.
type EncodeError struct {
	// Format is "PNG" or "JPEG".
	Format string
	// Reason says what is wrong, in plain English.
	Reason string
	// Err is an underlying cause (from compress/zlib or image/jpeg), or nil.
	Err error
}

// Error returns "testimages: FORMAT: reason[: cause]".
func (e *EncodeError) Error() string {
	s := "testimages: " + e.Format + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *EncodeError) Unwrap() error { return e.Err }

// ColorModel is the PNG colour type EncodePNG writes.
type ColorModel int

// Colour models. The zero value is RGBA.
const (
	// RGBA writes colour type 6 (truecolour with alpha), the image's
	// non-premultiplied colours.
	RGBA ColorModel = iota
	// RGB writes colour type 2; the image is composited over white first.
	RGB
	// Gray writes colour type 0; the image is composited over white first.
	Gray
	// GrayAlpha writes colour type 4 (grey with alpha), which Go's own
	// encoder never produces.
	GrayAlpha
	// Paletted writes colour type 3. Colours are quantised until they fit
	// the palette, and a tRNS chunk carries the alpha of the entries that
	// are not opaque.
	Paletted
)

// String returns the name of the model.
func (m ColorModel) String() string {
	switch m {
	case RGBA:
		return "RGBA"
	case RGB:
		return "RGB"
	case Gray:
		return "Gray"
	case GrayAlpha:
		return "GrayAlpha"
	case Paletted:
		return "Paletted"
	}
	return fmt.Sprintf("ColorModel(%d)", int(m))
}

// PNGOptions selects the form of the PNG file EncodePNG writes.
type PNGOptions struct {
	// Model is the colour type.
	Model ColorModel
	// Depth is the bit depth: 0 means 8. 16 is allowed for every model but
	// Paletted (giving the Gray16 and NRGBA64 kinds of file); 1, 2 and 4
	// for Gray and Paletted.
	Depth int
	// Interlaced writes the pixels in the seven Adam7 passes.
	Interlaced bool
	// WhiteKey adds, for Gray and RGB, a tRNS chunk that makes pure white
	// transparent: the old "colour key" form of transparency.
	WhiteKey bool
}

// maxPNGSide bounds the images EncodePNG accepts; test images are small
// and a huge size is a mistake in the test.
const maxPNGSide = 1 << 14

// idatChunkSize is deliberately small so that ordinary test images span
// several IDAT chunks, as files from real encoders often do.
const idatChunkSize = 8192

// EncodePNG writes img as a PNG file in the colour model, bit depth and
// interlacing of opts. When dpi > 0 a pHYs chunk (in pixels per metre,
// right after IHDR) records the resolution; Go's image/png never writes
// one, which is why this encoder exists. Every filter type is used, row
// after row in turn, so decoders are exercised on all of them.
func EncodePNG(img image.Image, dpi float64, opts PNGOptions) ([]byte, error) {
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, &EncodeError{Format: "PNG", Reason: fmt.Sprintf(format, args...)}
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 || w > maxPNGSide || h > maxPNGSide {
		return fail("image size %d×%d outside 1…%d", w, h, maxPNGSide)
	}
	if math.IsNaN(dpi) || math.IsInf(dpi, 0) || dpi < 0 || dpi > 1e6 {
		return fail("resolution %v dpi out of range", dpi)
	}
	depth := cmp.Or(opts.Depth, 8)
	var colorType byte
	var channels int
	var okDepth []int
	switch opts.Model {
	case RGBA:
		colorType, channels, okDepth = 6, 4, []int{8, 16}
	case RGB:
		colorType, channels, okDepth = 2, 3, []int{8, 16}
	case Gray:
		colorType, channels, okDepth = 0, 1, []int{1, 2, 4, 8, 16}
	case GrayAlpha:
		colorType, channels, okDepth = 4, 2, []int{8, 16}
	case Paletted:
		colorType, channels, okDepth = 3, 1, []int{1, 2, 4, 8}
	default:
		return fail("unknown colour model %v", opts.Model)
	}
	if !slices.Contains(okDepth, depth) {
		return fail("bit depth %d not allowed for %v (allowed: %v)", depth, opts.Model, okDepth)
	}
	if opts.WhiteKey && opts.Model != Gray && opts.Model != RGB {
		return fail("WhiteKey needs the Gray or RGB model, not %v", opts.Model)
	}

	px := make([]color.NRGBA64, 0, w*h)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			px = append(px, nrgba64At(img, x, y))
		}
	}

	var plte, trns []byte
	var index []uint8
	if opts.Model == Paletted {
		var err error
		index, plte, trns, err = quantise(px, 1<<depth)
		if err != nil {
			return nil, err
		}
	}
	maxV := uint32(1)<<depth - 1
	scale := func(v uint16) uint32 { return (uint32(v)*maxV + 32767) / 65535 }
	if opts.WhiteKey {
		for range channels {
			trns = binary.BigEndian.AppendUint16(trns, uint16(maxV))
		}
	}

	// sample returns the channel values of pixel i at the file's depth.
	var sampleBuf [4]uint32
	sample := func(i int) []uint32 {
		c := px[i]
		s := sampleBuf[:0]
		switch opts.Model {
		case RGBA:
			s = append(s, scale(c.R), scale(c.G), scale(c.B), scale(c.A))
		case RGB:
			o := overWhite(c)
			s = append(s, scale(o.R), scale(o.G), scale(o.B))
		case Gray:
			s = append(s, scale(luma(overWhite(c))))
		case GrayAlpha:
			s = append(s, scale(luma(c)), scale(c.A))
		case Paletted:
			s = append(s, uint32(index[i]))
		}
		return s
	}

	var raw bytes.Buffer
	bpp := max(1, channels*depth/8)
	row := 0
	for _, p := range passes(opts.Interlaced) {
		pw := (w - p.x0 + p.dx - 1) / p.dx
		ph := (h - p.y0 + p.dy - 1) / p.dy
		if pw <= 0 || ph <= 0 {
			// An empty pass has no rows at all, not even filter bytes.
			continue
		}
		rowBytes := (pw*channels*depth + 7) / 8
		prev := make([]byte, rowBytes)
		cur := make([]byte, rowBytes)
		out := make([]byte, rowBytes)
		for py := range ph {
			clear(cur)
			bit := 0
			for px := range pw {
				i := (p.y0+py*p.dy)*w + p.x0 + px*p.dx
				for _, v := range sample(i) {
					bit = putSample(cur, bit, v, depth)
				}
			}
			ft := byte(row % 5)
			row++
			filterRow(ft, out, cur, prev, bpp)
			raw.WriteByte(ft)
			raw.Write(out)
			prev, cur = cur, prev
		}
	}

	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, &EncodeError{Format: "PNG", Reason: "compressing pixel data", Err: err}
	}
	if err := zw.Close(); err != nil {
		return nil, &EncodeError{Format: "PNG", Reason: "compressing pixel data", Err: err}
	}

	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	interlace := byte(0)
	if opts.Interlaced {
		interlace = 1
	}
	ihdr = append(ihdr, byte(depth), colorType, 0, 0, interlace)
	out = appendChunk(out, "IHDR", ihdr)
	if dpi > 0 {
		out = appendChunk(out, "pHYs", phys(dpi))
	}
	if plte != nil {
		out = appendChunk(out, "PLTE", plte)
	}
	if len(trns) > 0 {
		out = appendChunk(out, "tRNS", trns)
	}
	data := z.Bytes()
	for len(data) > 0 {
		n := min(len(data), idatChunkSize)
		out = appendChunk(out, "IDAT", data[:n])
		data = data[n:]
	}
	return appendChunk(out, "IEND", nil), nil
}

// nrgba64At returns the non-premultiplied colour of a pixel. Converting
// through color.Color's RGBA method would premultiply and so lose the
// colour of fully transparent pixels, which this package's drawings set
// to the ink on purpose.
func nrgba64At(img image.Image, x, y int) color.NRGBA64 {
	switch m := img.(type) {
	case *image.NRGBA:
		c := m.NRGBAAt(x, y)
		return color.NRGBA64{R: uint16(c.R) * 0x101, G: uint16(c.G) * 0x101, B: uint16(c.B) * 0x101, A: uint16(c.A) * 0x101}
	case *image.NRGBA64:
		return m.NRGBA64At(x, y)
	}
	return color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
}

// phys returns the data of a pHYs chunk for dpi: pixels per metre in both
// directions, unit 1 (metre).
func phys(dpi float64) []byte {
	ppm := uint32(math.Round(dpi / 0.0254))
	d := binary.BigEndian.AppendUint32(nil, ppm)
	d = binary.BigEndian.AppendUint32(d, ppm)
	return append(d, 1)
}

// appendChunk appends a PNG chunk: length, type, data, CRC of type+data.
func appendChunk(dst []byte, typ string, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	start := len(dst)
	dst = append(dst, typ...)
	dst = append(dst, data...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// pass is one Adam7 pass: its first pixel and its steps.
type pass struct{ x0, y0, dx, dy int }

func passes(interlaced bool) []pass {
	if !interlaced {
		return []pass{{0, 0, 1, 1}}
	}
	return []pass{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
}

// putSample writes v with depth bits at bit offset bit of row (most
// significant bits first, as PNG packs samples) and returns the next
// offset.
func putSample(row []byte, bit int, v uint32, depth int) int {
	switch depth {
	case 16:
		binary.BigEndian.PutUint16(row[bit/8:], uint16(v))
	case 8:
		row[bit/8] = byte(v)
	default:
		row[bit/8] |= byte(v) << (8 - depth - bit%8)
	}
	return bit + depth
}

// filterRow applies PNG filter ft to cur (prev is the previous row of the
// same pass, zero for the first) into out.
func filterRow(ft byte, out, cur, prev []byte, bpp int) {
	for i := range cur {
		var left, upLeft byte
		if i >= bpp {
			left, upLeft = cur[i-bpp], prev[i-bpp]
		}
		up := prev[i]
		switch ft {
		case 0:
			out[i] = cur[i]
		case 1:
			out[i] = cur[i] - left
		case 2:
			out[i] = cur[i] - up
		case 3:
			out[i] = cur[i] - byte((int(left)+int(up))/2)
		case 4:
			out[i] = cur[i] - paeth(left, up, upLeft)
		}
	}
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// overWhite composites c over an opaque white background.
func overWhite(c color.NRGBA64) color.NRGBA64 {
	a := uint32(c.A)
	f := func(v uint16) uint16 { return uint16((uint32(v)*a + 0xffff*(0xffff-a) + 0x7fff) / 0xffff) }
	return color.NRGBA64{R: f(c.R), G: f(c.G), B: f(c.B), A: 0xffff}
}

// luma is the grey level of c with the weights image/color uses.
func luma(c color.NRGBA64) uint16 {
	return uint16((19595*uint32(c.R) + 38470*uint32(c.G) + 7471*uint32(c.B) + 1<<15) >> 16)
}

// quantise maps the pixels to at most size palette entries. It rounds all
// four 8-bit channels to coarser and coarser steps until the distinct
// colours fit, which suits the test images (one ink at many alpha levels)
// without a general colour quantiser. Entries that are not opaque come
// first so that the tRNS chunk stays short.
func quantise(px []color.NRGBA64, size int) (index []uint8, plte, trns []byte, err error) {
	for step := 1; step <= 256; step *= 2 {
		q := func(v uint16) uint8 {
			return uint8(min(255, int(math.Round(float64(v>>8)/float64(step)))*step))
		}
		seen := make(map[color.NRGBA]int)
		var entries []color.NRGBA
		keys := make([]color.NRGBA, len(px))
		for i, c := range px {
			k := color.NRGBA{R: q(c.R), G: q(c.G), B: q(c.B), A: q(c.A)}
			keys[i] = k
			if _, ok := seen[k]; !ok {
				seen[k] = 0
				entries = append(entries, k)
				if len(entries) > size {
					break
				}
			}
		}
		if len(entries) > size {
			continue
		}
		slices.SortStableFunc(entries, func(a, b color.NRGBA) int { return cmp.Compare(a.A, b.A) })
		for i, e := range entries {
			seen[e] = i
			plte = append(plte, e.R, e.G, e.B)
			if e.A != 255 {
				trns = append(trns, e.A)
			}
		}
		index = make([]uint8, len(px))
		for i, k := range keys {
			index[i] = uint8(seen[k])
		}
		return index, plte, trns, nil
	}
	return nil, nil, nil, &EncodeError{Format: "PNG", Reason: fmt.Sprintf("image has too many colours for a palette of %d entries", size)}
}
