package tray

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
	"runtime"
)

// IconSize is the side of the generated tray icons, in pixels.
const IconSize = 32

// iconColor is the colour of the icon's disc in each state.
func iconColor(i Icon) color.NRGBA {
	switch i {
	case IconReady:
		return color.NRGBA{R: 0x2e, G: 0x9e, B: 0x44, A: 0xff} // green
	case IconSigning:
		return color.NRGBA{R: 0x1f, G: 0x6f, B: 0xd1, A: 0xff} // blue
	case IconWaiting:
		return color.NRGBA{R: 0xf0, G: 0xa2, B: 0x02, A: 0xff} // amber
	case IconError:
		return color.NRGBA{R: 0xd1, G: 0x24, B: 0x2f, A: 0xff} // red
	}
	return color.NRGBA{R: 0x8c, G: 0x95, B: 0x9f, A: 0xff} // grey: no token
}

// IconPNG draws the icon for a state: a 32×32 PNG of a coloured disc on a
// transparent background, with an anti-aliased edge.
func IconPNG(i Icon) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, IconSize, IconSize))
	c := iconColor(i)
	const r = IconSize/2 - 1.5
	centre := float64(IconSize) / 2
	for y := 0; y < IconSize; y++ {
		for x := 0; x < IconSize; x++ {
			dx, dy := float64(x)+0.5-centre, float64(y)+0.5-centre
			// coverage falls from 1 to 0 over one pixel at the edge.
			d := r + 0.5 - math.Sqrt(dx*dx+dy*dy)
			if d <= 0 {
				continue
			}
			if d > 1 {
				d = 1
			}
			px := c
			px.A = uint8(float64(c.A) * d)
			img.SetNRGBA(x, y, px)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic("tray: encoding an icon: " + err.Error()) // cannot fail on a bytes.Buffer
	}
	return buf.Bytes()
}

// IconICO wraps the state's PNG icon in a .ico container (a PNG-compressed
// entry, which Windows reads since Vista): the Windows tray wants .ico.
func IconICO(i Icon) []byte {
	p := IconPNG(i)
	var buf bytes.Buffer
	le := binary.LittleEndian
	// ICONDIR: reserved, type 1 (icon), one image.
	buf.Write(le.AppendUint16(nil, 0))
	buf.Write(le.AppendUint16(nil, 1))
	buf.Write(le.AppendUint16(nil, 1))
	// ICONDIRENTRY: width, height, colours, reserved, planes, bpp, size, offset.
	buf.WriteByte(IconSize)
	buf.WriteByte(IconSize)
	buf.WriteByte(0)
	buf.WriteByte(0)
	buf.Write(le.AppendUint16(nil, 1))
	buf.Write(le.AppendUint16(nil, 32))
	buf.Write(le.AppendUint32(nil, uint32(len(p))))
	buf.Write(le.AppendUint32(nil, 6+16))
	buf.Write(p)
	return buf.Bytes()
}

// IconBytes is the state's icon in the format this platform's tray takes:
// .ico on Windows, PNG elsewhere.
func IconBytes(i Icon) []byte {
	if runtime.GOOS == "windows" {
		return IconICO(i)
	}
	return IconPNG(i)
}
