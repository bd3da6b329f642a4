// Package xwd decodes X Window Dump files, the screenshots `xwd` writes,
// into images. It reads what X servers hand out in practice: ZPixmap
// dumps of TrueColor or DirectColor visuals at 8 to 32 bits per pixel
// (colours taken from the visual's masks), and PseudoColor, StaticColor,
// GrayScale and StaticGray dumps at up to 8 bits per pixel (colours
// taken from the dump's colormap). It is a test helper: kyso's tests
// screenshot dialogs drawn under Xvfb.
package xwd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math/bits"
)

// HeaderSize is the size of the fixed part of the header: 25 big-endian
// 32-bit fields. The window name follows, up to the header_size field.
const HeaderSize = 100

// Header is the fixed part of an XWD (version 7) header.
type Header struct {
	HeaderSize      uint32 // fixed part + window name (with its NUL)
	FileVersion     uint32 // 7
	PixmapFormat    uint32 // 0 XYBitmap, 1 XYPixmap, 2 ZPixmap
	PixmapDepth     uint32
	PixmapWidth     uint32
	PixmapHeight    uint32
	XOffset         uint32
	ByteOrder       uint32 // of the pixels: 0 LSBFirst, 1 MSBFirst
	BitmapUnit      uint32
	BitmapBitOrder  uint32
	BitmapPad       uint32
	BitsPerPixel    uint32
	BytesPerLine    uint32
	VisualClass     uint32 // 0 StaticGray … 5 DirectColor
	RedMask         uint32
	GreenMask       uint32
	BlueMask        uint32
	BitsPerRGB      uint32
	ColormapEntries uint32
	NColors         uint32
	WindowWidth     uint32
	WindowHeight    uint32
	WindowX         int32
	WindowY         int32
	WindowBdrWidth  uint32
}

// Pixmap formats and visual classes, as X11 numbers them.
const (
	ZPixmap = 2

	StaticGray  = 0
	GrayScale   = 1
	StaticColor = 2
	PseudoColor = 3
	TrueColor   = 4
	DirectColor = 5
)

// Pixel byte orders.
const (
	LSBFirst = 0
	MSBFirst = 1
)

// Color is one colormap entry: 16-bit channels.
type Color struct {
	Pixel            uint32
	Red, Green, Blue uint16
	Flags            uint8
}

// ColorSize is the size of one colormap entry in the file.
const ColorSize = 12

// Limits that keep a damaged or hostile file from allocating wildly.
const (
	maxSide      = 1 << 15
	maxNameBytes = 1 << 16
	maxColors    = 1 << 16
)

var errFormat = errors.New("xwd: not an XWD version 7 file")

// DecodeHeader reads the fixed header and the window name.
func DecodeHeader(r io.Reader) (Header, string, error) {
	var h Header
	if err := binary.Read(r, binary.BigEndian, &h); err != nil {
		return h, "", fmt.Errorf("xwd: header: %w", err)
	}
	if h.FileVersion != 7 || h.HeaderSize < HeaderSize || h.HeaderSize-HeaderSize > maxNameBytes {
		return h, "", errFormat
	}
	name := make([]byte, h.HeaderSize-HeaderSize)
	if _, err := io.ReadFull(r, name); err != nil {
		return h, "", fmt.Errorf("xwd: window name: %w", err)
	}
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	return h, string(name), nil
}

// Decode reads an XWD file and returns its pixels as an *image.RGBA.
func Decode(r io.Reader) (image.Image, error) {
	h, _, err := DecodeHeader(r)
	if err != nil {
		return nil, err
	}
	w, ht := int(h.PixmapWidth), int(h.PixmapHeight)
	switch {
	case h.PixmapFormat != ZPixmap:
		return nil, fmt.Errorf("xwd: pixmap format %d is not supported (only ZPixmap)", h.PixmapFormat)
	case w <= 0 || ht <= 0 || w > maxSide || ht > maxSide:
		return nil, fmt.Errorf("xwd: bad size %dx%d", w, ht)
	case h.NColors > maxColors:
		return nil, fmt.Errorf("xwd: %d colormap entries", h.NColors)
	case h.ByteOrder != LSBFirst && h.ByteOrder != MSBFirst:
		return nil, fmt.Errorf("xwd: bad byte order %d", h.ByteOrder)
	}
	bpp := int(h.BitsPerPixel)
	switch bpp {
	case 8, 16, 24, 32:
	default:
		return nil, fmt.Errorf("xwd: %d bits per pixel is not supported", bpp)
	}
	if int64(h.BytesPerLine) < int64(w)*int64(bpp/8) {
		return nil, fmt.Errorf("xwd: %d bytes per line is too few for %d pixels of %d bits", h.BytesPerLine, w, bpp)
	}

	cmap := make([]Color, h.NColors)
	raw := make([]byte, ColorSize)
	for i := range cmap {
		if _, err := io.ReadFull(r, raw); err != nil {
			return nil, fmt.Errorf("xwd: colormap: %w", err)
		}
		cmap[i] = Color{
			Pixel: binary.BigEndian.Uint32(raw[0:]),
			Red:   binary.BigEndian.Uint16(raw[4:]),
			Green: binary.BigEndian.Uint16(raw[6:]),
			Blue:  binary.BigEndian.Uint16(raw[8:]),
			Flags: raw[10],
		}
	}

	var toRGBA func(p uint32) color.RGBA
	switch h.VisualClass {
	case TrueColor, DirectColor:
		if h.RedMask == 0 || h.GreenMask == 0 || h.BlueMask == 0 {
			return nil, errors.New("xwd: a colour visual without channel masks")
		}
		rc, gc, bc := channel(h.RedMask), channel(h.GreenMask), channel(h.BlueMask)
		toRGBA = func(p uint32) color.RGBA {
			return color.RGBA{R: rc.value(p), G: gc.value(p), B: bc.value(p), A: 0xff}
		}
	case StaticGray, GrayScale, StaticColor, PseudoColor:
		if bpp != 8 {
			return nil, fmt.Errorf("xwd: colormapped visual with %d bits per pixel is not supported", bpp)
		}
		byPixel := make(map[uint32]color.RGBA, len(cmap))
		for _, c := range cmap {
			byPixel[c.Pixel] = color.RGBA{R: uint8(c.Red >> 8), G: uint8(c.Green >> 8), B: uint8(c.Blue >> 8), A: 0xff}
		}
		toRGBA = func(p uint32) color.RGBA {
			return byPixel[p] // pixels missing from the colormap are black
		}
	default:
		return nil, fmt.Errorf("xwd: visual class %d is not supported", h.VisualClass)
	}

	img := image.NewRGBA(image.Rect(0, 0, w, ht))
	line := make([]byte, h.BytesPerLine)
	step := bpp / 8
	for y := 0; y < ht; y++ {
		if _, err := io.ReadFull(r, line); err != nil {
			return nil, fmt.Errorf("xwd: pixels, line %d: %w", y, err)
		}
		for x := 0; x < w; x++ {
			b := line[x*step : x*step+step]
			var p uint32
			for i := range b {
				if h.ByteOrder == LSBFirst {
					p |= uint32(b[i]) << (8 * i)
				} else {
					p = p<<8 | uint32(b[i])
				}
			}
			img.SetRGBA(x, y, toRGBA(p))
		}
	}
	return img, nil
}

// chanMask describes one colour channel of a TrueColor pixel.
type chanMask struct {
	mask  uint32
	shift int
	max   uint32 // the channel's largest value
}

func channel(mask uint32) chanMask {
	shift := bits.TrailingZeros32(mask)
	return chanMask{mask: mask, shift: shift, max: mask >> shift}
}

// value scales the channel to 8 bits.
func (c chanMask) value(p uint32) uint8 {
	v := (p & c.mask) >> c.shift
	if c.max == 0xff {
		return uint8(v)
	}
	return uint8((uint64(v)*0xff + uint64(c.max)/2) / uint64(c.max))
}
