package testimages

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
)

// EncodeJPEG writes img as a baseline JPEG at quality (1…100) with a JFIF
// APP0 segment right after SOI. When dpi > 0 the segment records it as the
// density in dots per inch (rounded); otherwise it says "aspect ratio
// 1:1, no unit", the usual marker of an unknown resolution. Go's
// image/jpeg writes no APP0 at all.
//
// JPEG has no alpha channel: the image is composited over white, as a
// signature on paper would be photographed. An *image.Gray (or Gray16)
// gives a one-component file, anything else a YCbCr one.
func EncodeJPEG(img image.Image, quality int, dpi float64) ([]byte, error) {
	if quality < 1 || quality > 100 {
		return nil, &EncodeError{Format: "JPEG", Reason: fmt.Sprintf("quality %d outside 1…100", quality)}
	}
	density, err := jfifDensity(dpi)
	if err != nil {
		return nil, err
	}
	var src image.Image
	switch m := img.(type) {
	case *image.Gray:
		src = m
	case *image.Gray16:
		g := image.NewGray(m.Bounds())
		for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
			for x := m.Rect.Min.X; x < m.Rect.Max.X; x++ {
				g.SetGray(x, y, color.GrayModel.Convert(m.At(x, y)).(color.Gray))
			}
		}
		src = g
	default:
		src = flatten(img)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: quality}); err != nil {
		return nil, &EncodeError{Format: "JPEG", Reason: "encoding", Err: err}
	}
	enc := buf.Bytes()
	if len(enc) < 2 || enc[0] != 0xff || enc[1] != 0xd8 {
		return nil, &EncodeError{Format: "JPEG", Reason: "image/jpeg output does not start with SOI"}
	}
	units := byte(0)
	if dpi > 0 {
		units = 1
	}
	app0 := []byte{0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 2, units}
	app0 = binary.BigEndian.AppendUint16(app0, density)
	app0 = binary.BigEndian.AppendUint16(app0, density)
	app0 = append(app0, 0, 0)
	out := make([]byte, 0, len(enc)+len(app0))
	out = append(out, enc[:2]...)
	out = append(out, app0...)
	return append(out, enc[2:]...), nil
}

// jfifDensity converts dpi to the 16-bit JFIF density; 1 (with unit 0)
// when the resolution is unknown.
func jfifDensity(dpi float64) (uint16, error) {
	if math.IsNaN(dpi) || dpi < 0 || math.Round(dpi) > math.MaxUint16 {
		return 0, &EncodeError{Format: "JPEG", Reason: fmt.Sprintf("resolution %v dpi out of range", dpi)}
	}
	if dpi == 0 {
		return 1, nil
	}
	return uint16(max(1, math.Round(dpi))), nil
}

// flatten composites img over white into an opaque RGBA image.
func flatten(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := overWhite(nrgba64At(img, x, y))
			out.SetRGBA(x, y, color.RGBA{R: uint8(c.R >> 8), G: uint8(c.G >> 8), B: uint8(c.B >> 8), A: 0xff})
		}
	}
	return out
}

// EncodeCMYKJPEG writes img as a four-component (CMYK) baseline JPEG,
// which Go's image/jpeg cannot write. The resolution, when dpi > 0, is
// recorded in an EXIF APP1 segment (XResolution, YResolution,
// ResolutionUnit inch), as Photoshop does, rather than in JFIF, which
// only describes one- and three-component images.
//
// With adobe set the file carries an Adobe APP14 segment (transform 0: no
// colour conversion) and stores the inks inverted, 255 meaning no ink,
// which is what Photoshop writes and every Adobe-aware decoder expects.
// Without it the inks are stored as they are and no APP14 is written; Go's
// decoder refuses such files, PDF viewers take the values literally.
//
// The encoder is deliberately tiny: every 8×8 block is coded by its
// average colour alone (DC coefficients, no AC), so the image comes out
// blocky but exact wherever a block is uniform. An *image.CMYK is used as
// it is; anything else is composited over white and converted with
// image/color's RGB to CMYK formula.
func EncodeCMYKJPEG(img image.Image, dpi float64, adobe bool) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 || w > math.MaxUint16 || h > math.MaxUint16 {
		return nil, &EncodeError{Format: "JPEG", Reason: fmt.Sprintf("image size %d×%d outside 1…65535", w, h)}
	}
	if math.IsNaN(dpi) || dpi < 0 || dpi > 1e6 {
		return nil, &EncodeError{Format: "JPEG", Reason: fmt.Sprintf("resolution %v dpi out of range", dpi)}
	}
	cmyk, ok := img.(*image.CMYK)
	if !ok {
		flat := flatten(img)
		cmyk = image.NewCMYK(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := flat.RGBAAt(x, y)
				k0, k1, k2, k3 := color.RGBToCMYK(c.R, c.G, c.B)
				cmyk.SetCMYK(x, y, color.CMYK{C: k0, M: k1, Y: k2, K: k3})
			}
		}
	}

	out := []byte{0xff, 0xd8}
	if dpi > 0 {
		out = append(out, exifResolution(dpi)...)
	}
	if adobe {
		// "Adobe", version 100, flags0, flags1, transform 0.
		out = append(out, 0xff, 0xee, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0)
	}
	// One quantisation table of 8s: a DC coefficient 8·(v−128) quantises
	// to exactly v−128, so uniform blocks decode to their exact value.
	out = append(out, 0xff, 0xdb, 0, 67, 0)
	out = append(out, bytes.Repeat([]byte{8}, 64)...)
	// SOF0: 8-bit precision, four components sampled 1×1 with table 0.
	out = append(out, 0xff, 0xc0, 0, 8+3*4, 8)
	out = binary.BigEndian.AppendUint16(out, uint16(h))
	out = binary.BigEndian.AppendUint16(out, uint16(w))
	out = append(out, 4)
	for id := byte(1); id <= 4; id++ {
		out = append(out, id, 0x11, 0)
	}
	// DHT: DC table 0 gives the twelve size categories 0…11 four-bit
	// codes equal to the category; AC table 0 has only EOB, code "0".
	dc := []byte{0xff, 0xc4, 0, 3 + 16 + 12, 0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for s := range byte(12) {
		dc = append(dc, s)
	}
	out = append(out, dc...)
	out = append(out, 0xff, 0xc4, 0, 3+16+1, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00)
	// SOS: all four components, tables 0/0, spectral 0…63.
	out = append(out, 0xff, 0xda, 0, 6+2*4, 4)
	for id := byte(1); id <= 4; id++ {
		out = append(out, id, 0x00)
	}
	out = append(out, 0, 63, 0)

	var bw bitWriter
	var pred [4]int
	for by := 0; by < (h+7)/8; by++ {
		for bx := 0; bx < (w+7)/8; bx++ {
			avg := blockAverage(cmyk, bx, by)
			for c := range 4 {
				v := avg[c]
				if adobe {
					v = 255 - v
				}
				diff := v - 128 - pred[c]
				pred[c] = v - 128
				size := bitsFor(diff)
				bw.put(uint32(size), 4)
				if size > 0 {
					extra := diff
					if diff < 0 {
						extra = diff + (1 << size) - 1
					}
					bw.put(uint32(extra), size)
				}
				bw.put(0, 1) // EOB
			}
		}
	}
	out = append(out, bw.flush()...)
	return append(out, 0xff, 0xd9), nil
}

// blockAverage returns the rounded mean of each ink over block (bx, by),
// counting only the pixels inside the image (the decoder crops the rest).
func blockAverage(img *image.CMYK, bx, by int) [4]int {
	var sum [4]int
	n := 0
	r := img.Rect
	for y := r.Min.Y + by*8; y < min(r.Min.Y+by*8+8, r.Max.Y); y++ {
		for x := r.Min.X + bx*8; x < min(r.Min.X+bx*8+8, r.Max.X); x++ {
			c := img.CMYKAt(x, y)
			sum[0] += int(c.C)
			sum[1] += int(c.M)
			sum[2] += int(c.Y)
			sum[3] += int(c.K)
			n++
		}
	}
	var avg [4]int
	for i := range sum {
		avg[i] = (sum[i] + n/2) / n
	}
	return avg
}

// bitsFor is the JPEG size category of a DC difference: the number of bits
// of its magnitude.
func bitsFor(v int) int {
	if v < 0 {
		v = -v
	}
	n := 0
	for v > 0 {
		n++
		v >>= 1
	}
	return n
}

// bitWriter collects entropy-coded bits, most significant first, with the
// 0xFF byte stuffing JPEG requires.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc int
}

func (b *bitWriter) put(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		b.acc = b.acc<<1 | (v>>i)&1
		b.nacc++
		if b.nacc == 8 {
			b.emit(byte(b.acc))
			b.acc, b.nacc = 0, 0
		}
	}
}

func (b *bitWriter) emit(c byte) {
	b.out = append(b.out, c)
	if c == 0xff {
		b.out = append(b.out, 0)
	}
}

// flush pads the last byte with one bits, as the standard asks.
func (b *bitWriter) flush() []byte {
	if b.nacc > 0 {
		b.emit(byte(b.acc<<(8-b.nacc)) | byte(0xff>>b.nacc))
		b.acc, b.nacc = 0, 0
	}
	return b.out
}

// exifResolution builds an APP1 "Exif" segment whose IFD0 holds
// XResolution and YResolution (dpi as a rational over 100) and
// ResolutionUnit 2 (inch), in big-endian TIFF byte order.
func exifResolution(dpi float64) []byte {
	num := uint32(math.Round(dpi * 100))
	var tiff []byte
	tiff = append(tiff, 'M', 'M', 0, 42, 0, 0, 0, 8)
	const entries = 3
	ifdEnd := 8 + 2 + entries*12 + 4
	tiff = binary.BigEndian.AppendUint16(tiff, entries)
	entry := func(tag, typ uint16, count, value uint32) {
		tiff = binary.BigEndian.AppendUint16(tiff, tag)
		tiff = binary.BigEndian.AppendUint16(tiff, typ)
		tiff = binary.BigEndian.AppendUint32(tiff, count)
		tiff = binary.BigEndian.AppendUint32(tiff, value)
	}
	entry(0x011a, 5, 1, uint32(ifdEnd))   // XResolution → first rational
	entry(0x011b, 5, 1, uint32(ifdEnd+8)) // YResolution → second rational
	entry(0x0128, 3, 1, 2<<16)            // ResolutionUnit: SHORT 2, left-justified
	tiff = binary.BigEndian.AppendUint32(tiff, 0)
	for range 2 {
		tiff = binary.BigEndian.AppendUint32(tiff, num)
		tiff = binary.BigEndian.AppendUint32(tiff, 100)
	}
	seg := []byte{0xff, 0xe1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(2+6+len(tiff)))
	seg = append(seg, 'E', 'x', 'i', 'f', 0, 0)
	return append(seg, tiff...)
}
