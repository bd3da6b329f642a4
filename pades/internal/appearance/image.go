package appearance

import (
	"bytes"
	"maps"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// MaxSide is the largest width or height, in pixels, of an image this
// package embeds. A signature or seal scanned at 1200 dpi is still far
// below it; anything larger is a wrong file, and decoding it would cost
// hundreds of megabytes.
const MaxSide = 10000

// Image is a PDF image XObject ready to be written.
type Image struct {
	// Width and Height are the size in pixels.
	Width, Height int
	// DPIX and DPIY are the resolution the file declares, in pixels per
	// inch, or 0 when it declares none.
	DPIX, DPIY float64
	// Dict is the stream dictionary: /Type /XObject /Subtype /Image,
	// /Width, /Height, /ColorSpace, /BitsPerComponent, /Filter and /Length
	// (of Data), and /Decode or /DecodeParms where needed. It has no
	// /SMask: the soft mask is a separate object whose number only the
	// writer knows (see WithSMask).
	Dict pdf.Dict
	// Data is the stream data, already encoded with Dict's /Filter.
	Data []byte
	// SMask is the soft mask carrying the image's transparency, an 8-bit
	// /DeviceGray image, or nil when the image is opaque.
	SMask *Image
}

// WithSMask returns a copy of img.Dict whose /SMask refers to ref, the
// object the writer gave img.SMask. The copy is shallow: the values of
// the other keys are shared with img.Dict.
func (img *Image) WithSMask(ref pdf.Ref) pdf.Dict {
	d := maps.Clone(img.Dict)
	d["SMask"] = ref
	return d
}

// DecodeImage recognises PNG and JPEG data by their signatures and decodes
// them with DecodePNG or DecodeJPEG. Any other data is refused with an
// ErrUnsupported error that names the format when it is a known one, so
// that the user learns to export the image as PNG or JPEG.
func DecodeImage(data []byte) (*Image, error) {
	switch {
	case bytes.HasPrefix(data, []byte(pngSignature)):
		return DecodePNG(data)
	case len(data) >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff:
		return DecodeJPEG(data)
	}
	if name := sniff(data); name != "" {
		return nil, errorf(ErrUnsupported, "decode image", nil, "%s images are not supported: use PNG or JPEG", name)
	}
	return nil, errorf(ErrUnsupported, "decode image", nil, "unrecognised image format (first bytes % x): use PNG or JPEG", data[:min(len(data), 8)])
}

// sniff names the formats people are likely to upload instead of PNG or
// JPEG, or returns "".
func sniff(data []byte) string {
	has := func(prefix string) bool { return bytes.HasPrefix(data, []byte(prefix)) }
	at := func(off int, s string) bool { return len(data) >= off+len(s) && string(data[off:off+len(s)]) == s }
	switch {
	case has("GIF87a"), has("GIF89a"):
		return "GIF"
	case has("BM"):
		return "BMP"
	case has("II*\x00"), has("MM\x00*"):
		return "TIFF"
	case has("RIFF") && at(8, "WEBP"):
		return "WebP"
	case at(4, "ftypavif"), at(4, "ftypavis"):
		return "AVIF"
	case at(4, "ftypheic"), at(4, "ftypheix"), at(4, "ftypmif1"), at(4, "ftyphevc"):
		return "HEIC"
	case has("\x00\x00\x00\x0cjP  \r\n\x87\n"), has("\xff\x4f\xff\x51"):
		return "JPEG 2000"
	case has("%PDF-"):
		return "PDF"
	case has("\x00\x00\x01\x00"):
		return "ICO"
	case has("<svg"), has("<?xml"), has("\xef\xbb\xbf<?xml"):
		return "SVG/XML"
	}
	return ""
}

// imageDict returns the common entries of an image XObject dictionary.
func imageDict(w, h int, colorSpace pdf.Name, filter pdf.Name, length int) pdf.Dict {
	return pdf.Dict{
		"Type":             pdf.Name("XObject"),
		"Subtype":          pdf.Name("Image"),
		"Width":            pdf.Int(w),
		"Height":           pdf.Int(h),
		"ColorSpace":       colorSpace,
		"BitsPerComponent": pdf.Int(8),
		"Filter":           filter,
		"Length":           pdf.Int(length),
	}
}
