package appearance

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// jpegInfo is what DecodeJPEG learns from the segments before the first
// scan.
type jpegInfo struct {
	sawSOF         bool
	sof            byte // the SOFn marker
	precision      int
	width, height  int
	components     int
	ids            []byte // component identifiers, in SOF order
	jfif           bool
	adobe          bool
	adobeTransform byte
	// dpiX and dpiY come from JFIF when it gives a unit, else from EXIF;
	// 0 when unknown.
	dpiX, dpiY         float64
	jfifDPIX, jfifDPIY float64
	sawJFIFUnits       bool
	exifDPIX, exifDPIY float64
}

// DecodeJPEG wraps a JPEG file as a /DCTDecode image XObject. The data is
// passed through byte for byte — never decoded and re-encoded, which would
// lose quality — so only the headers are read: image/jpeg's DecodeConfig
// checks them, and the SOF segment gives the precision and components.
//
// One component gives /DeviceGray, three /DeviceRGB, four /DeviceCMYK.
// Photoshop and most other Adobe-aware software store CMYK inverted (255
// = no ink) and mark such files with an Adobe APP14 segment; for a
// four-component file with that segment the dictionary gets /Decode
// [1 0 1 0 1 0 1 0] so that PDF readers, which take DCT samples
// literally, invert them back. The resolution comes from the JFIF APP0
// density (dots per inch or per centimetre) or, failing that, from the
// EXIF XResolution/YResolution.
//
// Only 8-bit baseline, extended sequential and progressive Huffman JPEGs
// are accepted, the kinds every PDF reader decodes. The EXIF orientation
// is not applied: the image is placed as its pixels are stored. The
// returned Image's Data is data itself, not a copy.
func DecodeJPEG(data []byte) (*Image, error) {
	const op = "decode JPEG"
	info, err := scanJPEG(data)
	if err != nil {
		return nil, err
	}
	if !info.sawSOF {
		return nil, errorf(ErrMalformed, op, nil, "no frame header (SOF) before the first scan")
	}
	switch info.sof {
	case 0xc0, 0xc1, 0xc2:
	case 0xc3, 0xc7, 0xcb, 0xcf:
		return nil, errorf(ErrUnsupported, op, nil, "lossless JPEG (SOF%d) is not supported", info.sof-0xc0)
	case 0xc9, 0xca:
		return nil, errorf(ErrUnsupported, op, nil, "arithmetic-coded JPEG (SOF%d) is not supported", info.sof-0xc0)
	default:
		return nil, errorf(ErrUnsupported, op, nil, "hierarchical JPEG (SOF%d) is not supported", info.sof-0xc0)
	}
	if info.precision != 8 {
		return nil, errorf(ErrUnsupported, op, nil, "%d-bit JPEG is not supported, only 8-bit", info.precision)
	}
	if info.width > MaxSide || info.height > MaxSide {
		return nil, errorf(ErrTooLarge, op, nil, "image is %d×%d pixels, more than the %d×%d accepted", info.width, info.height, MaxSide, MaxSide)
	}
	if info.width == 0 || info.height == 0 {
		// A height of 0 defers it to a DNL marker, which PDF readers
		// handle poorly.
		return nil, errorf(ErrUnsupported, op, nil, "image size %d×%d is not given in the frame header", info.width, info.height)
	}
	var colorSpace pdf.Name
	switch info.components {
	case 1:
		colorSpace = "DeviceGray"
	case 3:
		colorSpace = "DeviceRGB"
	case 4:
		colorSpace = "DeviceCMYK"
	default:
		return nil, errorf(ErrUnsupported, op, nil, "%d colour components (only 1, 3 or 4 are supported)", info.components)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, errorf(ErrMalformed, op, err, "reading the headers")
	}
	if cfg.Width != info.width || cfg.Height != info.height {
		return nil, errorf(ErrMalformed, op, nil, "frame header says %d×%d, image/jpeg reads %d×%d", info.width, info.height, cfg.Width, cfg.Height)
	}

	img := &Image{Width: info.width, Height: info.height, DPIX: info.dpiX, DPIY: info.dpiY, Data: data}
	img.Dict = imageDict(info.width, info.height, colorSpace, "DCTDecode", len(data))
	switch {
	case info.components == 4 && info.adobe:
		img.Dict["Decode"] = pdf.Array{pdf.Int(1), pdf.Int(0), pdf.Int(1), pdf.Int(0), pdf.Int(1), pdf.Int(0), pdf.Int(1), pdf.Int(0)}
	case info.components == 3 && !info.adobe && !info.jfif && bytes.Equal(info.ids, []byte("RGB")):
		// Components named R, G, B without JFIF or Adobe markers hold RGB
		// directly (libjpeg's convention); PDF's default for three
		// components is to undo a YCbCr transform, so say there is none.
		img.Dict["DecodeParms"] = pdf.Dict{"ColorTransform": pdf.Int(0)}
	}
	return img, nil
}

// scanJPEG walks the marker segments from SOI to the first SOS.
func scanJPEG(data []byte) (jpegInfo, error) {
	const op = "decode JPEG"
	var info jpegInfo
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return info, errorf(ErrMalformed, op, nil, "missing SOI marker")
	}
	off := 2
	for {
		// Markers may be preceded by any number of 0xFF fill bytes.
		if off >= len(data) || data[off] != 0xff {
			return info, errorf(ErrMalformed, op, nil, "expected a marker at offset %d", off)
		}
		for off < len(data) && data[off] == 0xff {
			off++
		}
		if off >= len(data) {
			return info, errorf(ErrMalformed, op, nil, "truncated before the first scan")
		}
		marker := data[off]
		off++
		switch {
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7):
			continue // no length
		case marker == 0xd8 || marker == 0xd9 || marker == 0x00:
			return info, errorf(ErrMalformed, op, nil, "unexpected marker %02X at offset %d", marker, off-1)
		}
		if off+2 > len(data) {
			return info, errorf(ErrMalformed, op, nil, "truncated segment length at offset %d", off)
		}
		n := int(binary.BigEndian.Uint16(data[off:]))
		if n < 2 || off+n > len(data) {
			return info, errorf(ErrMalformed, op, nil, "segment %02X at offset %d has a bad length %d", marker, off-2, n)
		}
		seg := data[off+2 : off+n]
		off += n
		switch {
		case marker == 0xda: // SOS: the headers are over.
			info.dpiX, info.dpiY = info.exifDPIX, info.exifDPIY
			if info.sawJFIFUnits {
				info.dpiX, info.dpiY = info.jfifDPIX, info.jfifDPIY
			}
			return info, nil
		case marker == 0xe0 && bytes.HasPrefix(seg, []byte("JFIF\x00")) && len(seg) >= 12:
			info.jfif = true
			units := seg[7]
			x, y := float64(binary.BigEndian.Uint16(seg[8:])), float64(binary.BigEndian.Uint16(seg[10:]))
			if (units == 1 || units == 2) && x > 0 && y > 0 {
				if units == 2 {
					x, y = x*2.54, y*2.54
				}
				info.jfifDPIX, info.jfifDPIY, info.sawJFIFUnits = x, y, true
			}
		case marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
			info.exifDPIX, info.exifDPIY = exifDPI(seg[6:])
		case marker == 0xee && bytes.HasPrefix(seg, []byte("Adobe")) && len(seg) >= 12:
			info.adobe, info.adobeTransform = true, seg[11]
		case marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc:
			if info.sawSOF {
				return info, errorf(ErrMalformed, op, nil, "second frame header at offset %d", off-n-2)
			}
			if len(seg) < 6 {
				return info, errorf(ErrMalformed, op, nil, "frame header too short")
			}
			info.sawSOF, info.sof = true, marker
			info.precision = int(seg[0])
			info.height = int(binary.BigEndian.Uint16(seg[1:]))
			info.width = int(binary.BigEndian.Uint16(seg[3:]))
			info.components = int(seg[5])
			if len(seg) < 6+3*info.components {
				return info, errorf(ErrMalformed, op, nil, "frame header too short for %d components", info.components)
			}
			for i := range info.components {
				info.ids = append(info.ids, seg[6+3*i])
			}
		}
	}
}

// exifDPI reads XResolution, YResolution and ResolutionUnit from IFD0 of
// the TIFF structure inside an EXIF segment. Anything unexpected yields
// zeros: the resolution is a nicety, never a reason to refuse the image.
func exifDPI(tiff []byte) (x, y float64) {
	if len(tiff) < 8 {
		return 0, 0
	}
	var bo binary.ByteOrder
	switch string(tiff[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0, 0
	}
	ifd := int(bo.Uint32(tiff[4:]))
	if ifd < 8 || ifd+2 > len(tiff) {
		return 0, 0
	}
	count := int(bo.Uint16(tiff[ifd:]))
	rational := func(entry []byte) float64 {
		if bo.Uint16(entry[2:]) != 5 { // RATIONAL
			return 0
		}
		at := int(bo.Uint32(entry[8:]))
		if at < 0 || at+8 > len(tiff) {
			return 0
		}
		num, den := bo.Uint32(tiff[at:]), bo.Uint32(tiff[at+4:])
		if den == 0 {
			return 0
		}
		return float64(num) / float64(den)
	}
	unit := uint16(2) // TIFF's default: inch
	for i := range count {
		e := ifd + 2 + 12*i
		if e+12 > len(tiff) {
			break
		}
		entry := tiff[e : e+12]
		switch bo.Uint16(entry) {
		case 0x011a:
			x = rational(entry)
		case 0x011b:
			y = rational(entry)
		case 0x0128:
			if bo.Uint16(entry[2:]) == 3 { // SHORT, stored in the first two value bytes
				unit = bo.Uint16(entry[8:])
			}
		}
	}
	switch unit {
	case 2:
	case 3:
		x, y = x*2.54, y*2.54
	default:
		return 0, 0
	}
	if x <= 0 || y <= 0 {
		return 0, 0
	}
	return x, y
}
