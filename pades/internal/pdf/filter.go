package pdf

import (
	"bufio"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// Limits on decode parameters; real files use Columns of a few thousand at
// most, Colors of 1 to 4.
const (
	maxColumns = 1 << 24
	maxColors  = 32
	// maxRowBytes bounds one predictor row (two are held while
	// decoding); 4 MiB is a 100,000-pixel row of 16-bit CMYK.
	maxRowBytes = 4 << 20
)

// limitReader returns ErrTooLarge (inside a *FormatError) once more than n
// bytes have been read, so a decompression bomb is stopped after n bytes.
type limitReader struct {
	r    io.Reader
	n    int64 // bytes still allowed
	what string
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, &FormatError{Offset: -1, Reason: l.what, Err: ErrTooLarge}
	}
	if int64(len(p)) > l.n+1 {
		// Read one byte past the limit to tell "exactly n" from "more".
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, &FormatError{Offset: -1, Reason: l.what, Err: ErrTooLarge}
	}
	return n, err
}

// checksumTolerant hides a bad Adler-32 checksum at the end of a zlib
// stream: the data is complete by then, and real writers get it wrong.
type checksumTolerant struct{ r io.Reader }

func (c checksumTolerant) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, zlib.ErrChecksum) {
		err = io.EOF
	}
	return n, err
}

// newFlateReader returns a reader of the inflated data in raw. Streams
// written without the two-byte zlib header (raw deflate) are accepted too.
func newFlateReader(raw io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(raw, 4096)
	hdr, err := br.Peek(2)
	if err != nil && len(hdr) < 2 {
		if len(hdr) == 0 {
			// An empty compressed stream decodes to nothing.
			return br, nil
		}
		return nil, err
	}
	cmf, flg := hdr[0], hdr[1]
	if cmf&0x0f == 8 && (uint16(cmf)<<8|uint16(flg))%31 == 0 && flg&0x20 == 0 {
		zr, err := zlib.NewReader(br)
		if err != nil {
			return nil, err
		}
		return checksumTolerant{zr}, nil
	}
	return flate.NewReader(br), nil
}

// predictorParams are the /DecodeParms entries that matter for FlateDecode.
type predictorParams struct {
	predictor int64
	colors    int64
	bpc       int64
	columns   int64
}

func parsePredictorParams(d Dict) (predictorParams, error) {
	p := predictorParams{predictor: 1, colors: 1, bpc: 8, columns: 1}
	get := func(key string, dst *int64) error {
		switch v := d[Name(key)].(type) {
		case nil:
		case Int:
			*dst = int64(v)
		default:
			return fmt.Errorf("/%s is not an integer", key)
		}
		return nil
	}
	for _, kv := range []struct {
		key string
		dst *int64
	}{{"Predictor", &p.predictor}, {"Colors", &p.colors}, {"BitsPerComponent", &p.bpc}, {"Columns", &p.columns}} {
		if err := get(kv.key, kv.dst); err != nil {
			return p, err
		}
	}
	if p.predictor == 1 {
		return p, nil
	}
	if p.predictor != 2 && (p.predictor < 10 || p.predictor > 15) {
		return p, fmt.Errorf("unknown /Predictor %d", p.predictor)
	}
	if p.colors < 1 || p.colors > maxColors {
		return p, fmt.Errorf("/Colors %d out of range", p.colors)
	}
	switch p.bpc {
	case 1, 2, 4, 8, 16:
	default:
		return p, fmt.Errorf("/BitsPerComponent %d out of range", p.bpc)
	}
	if p.columns < 1 || p.columns > maxColumns {
		return p, fmt.Errorf("/Columns %d out of range", p.columns)
	}
	if (p.colors*p.bpc*p.columns+7)/8 > maxRowBytes {
		return p, fmt.Errorf("predictor rows of %d bytes: %w", (p.colors*p.bpc*p.columns+7)/8, ErrTooLarge)
	}
	if p.predictor == 2 && p.bpc != 8 {
		return p, fmt.Errorf("TIFF predictor with %d bits per component: %w", p.bpc, ErrUnsupported)
	}
	return p, nil
}

// predictorReader undoes a PNG (10–15) or TIFF (2) predictor one row at a
// time, so decoding needs memory for two rows only.
type predictorReader struct {
	r      io.Reader
	png    bool
	bpp    int // bytes per complete pixel, at least 1
	prev   []byte
	cur    []byte // for PNG: filter type byte + row
	out    []byte // decoded bytes not yet returned
	err    error
	offset int64 // decoded bytes consumed so far, for error reports
}

func newPredictorReader(r io.Reader, p predictorParams) io.Reader {
	rowBytes := int((p.colors*p.bpc*p.columns + 7) / 8)
	bpp := int((p.colors*p.bpc + 7) / 8)
	pr := &predictorReader{r: r, png: p.predictor >= 10, bpp: bpp, prev: make([]byte, rowBytes)}
	if pr.png {
		pr.cur = make([]byte, rowBytes+1)
	} else {
		pr.cur = make([]byte, rowBytes)
	}
	return pr
}

func (pr *predictorReader) Read(p []byte) (int, error) {
	for len(pr.out) == 0 {
		if pr.err != nil {
			return 0, pr.err
		}
		pr.nextRow()
	}
	n := copy(p, pr.out)
	pr.out = pr.out[n:]
	return n, nil
}

// nextRow decodes one row into out, or sets err. A short final row is
// decoded as far as it goes, as other readers do.
func (pr *predictorReader) nextRow() {
	n, err := io.ReadFull(pr.r, pr.cur)
	switch {
	case errors.Is(err, io.EOF):
		pr.err = io.EOF
		return
	case errors.Is(err, io.ErrUnexpectedEOF):
		pr.err = io.EOF
	case err != nil:
		pr.err = err
		return
	}
	rowStart := pr.offset
	pr.offset += int64(n)
	if !pr.png {
		row := pr.cur[:n]
		for i := pr.bpp; i < len(row); i++ {
			row[i] += row[i-pr.bpp]
		}
		pr.out = row
		return
	}
	if n < 1 {
		return
	}
	ft, row := pr.cur[0], pr.cur[1:n]
	prev, bpp := pr.prev, pr.bpp
	switch ft {
	case 0: // None
	case 1: // Sub
		for i := bpp; i < len(row); i++ {
			row[i] += row[i-bpp]
		}
	case 2: // Up
		for i := range row {
			row[i] += prev[i]
		}
	case 3: // Average
		for i := range row {
			var left byte
			if i >= bpp {
				left = row[i-bpp]
			}
			row[i] += byte((int(left) + int(prev[i])) / 2)
		}
	case 4: // Paeth
		for i := range row {
			var left, upLeft byte
			if i >= bpp {
				left, upLeft = row[i-bpp], prev[i-bpp]
			}
			row[i] += paeth(left, prev[i], upLeft)
		}
	default:
		pr.err = &FormatError{Offset: rowStart, Reason: fmt.Sprintf("invalid PNG predictor row type %d", ft)}
		return
	}
	copy(pr.prev, row)
	pr.out = row
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := absInt(p-int(a)), absInt(p-int(b)), absInt(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
