package pdfcorpus

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"

	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// trailerInfo is what an incremental update must carry over from the
// section it follows.
type trailerInfo struct {
	startxref int64  // offset the file's final startxref names: the new /Prev
	stream    bool   // that section is a cross-reference stream
	root      string // the /Root reference as written, e.g. "1 0 R"
	size      int    // /Size: the first free object number
	id        string // the /ID array as written, empty when absent
}

var (
	reRoot = regexp.MustCompile(`/Root\s+(\d+\s+\d+\s+R)`)
	reSize = regexp.MustCompile(`/Size\s+(\d+)`)
	reID   = regexp.MustCompile(`/ID\s*(\[[^\]]*\])`)
	reObj  = regexp.MustCompile(`^\s*\d+\s+\d+\s+obj\b`)
)

// readTrailer finds the final startxref and reads the trailer dictionary of
// the section it names: the classic "trailer" dictionary or the
// dictionary of the cross-reference stream. The corpus only feeds it files
// qpdf wrote, so a small scan is enough; kyso's own reader is the one that
// must cope with everything.
func readTrailer(data []byte) (trailerInfo, error) {
	var t trailerInfo
	i := bytes.LastIndex(data, []byte("startxref"))
	if i < 0 {
		return t, errors.New("no startxref")
	}
	fields := bytes.Fields(data[i+len("startxref"):])
	if len(fields) == 0 {
		return t, errors.New("no offset after startxref")
	}
	off, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil || off < 0 || off >= int64(len(data)) {
		return t, fmt.Errorf("bad startxref offset %q", fields[0])
	}
	t.startxref = off
	sec := data[off:]
	var dictStart int
	switch {
	case bytes.HasPrefix(bytes.TrimLeft(sec, " \t\r\n"), []byte("xref")):
		j := bytes.Index(sec, []byte("trailer"))
		if j < 0 {
			return t, errors.New("xref table without trailer")
		}
		dictStart = j
	case reObj.Match(sec[:min(len(sec), 64)]):
		t.stream = true
	default:
		return t, fmt.Errorf("startxref %d names neither a table nor a stream", off)
	}
	k := bytes.Index(sec[dictStart:], []byte("<<"))
	if k < 0 {
		return t, errors.New("no trailer dictionary")
	}
	dict, err := dictionary(sec[dictStart+k:])
	if err != nil {
		return t, err
	}
	m := reRoot.FindSubmatch(dict)
	if m == nil {
		return t, errors.New("trailer has no /Root")
	}
	t.root = string(m[1])
	m = reSize.FindSubmatch(dict)
	if m == nil {
		return t, errors.New("trailer has no /Size")
	}
	if t.size, err = strconv.Atoi(string(m[1])); err != nil {
		return t, fmt.Errorf("trailer /Size: %w", err)
	}
	if m = reID.FindSubmatch(dict); m != nil {
		t.id = string(m[1])
	}
	return t, nil
}

// dictionary returns the dictionary starting at b[0:2] == "<<", up to and
// including its closing ">>", skipping nested dictionaries, hex strings and
// literal strings (which may contain unbalanced brackets).
func dictionary(b []byte) ([]byte, error) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '<':
			if i+1 < len(b) && b[i+1] == '<' {
				depth++
				i++
				continue
			}
			j := bytes.IndexByte(b[i:], '>')
			if j < 0 {
				return nil, errors.New("unterminated hex string")
			}
			i += j
		case '>':
			if i+1 < len(b) && b[i+1] == '>' {
				depth--
				i++
				if depth == 0 {
					return b[:i+1], nil
				}
			}
		case '(':
			nest := 0
			for ; i < len(b); i++ {
				switch b[i] {
				case '\\':
					i++
				case '(':
					nest++
				case ')':
					nest--
				}
				if nest == 0 {
					break
				}
			}
		}
	}
	return nil, errors.New("unterminated dictionary")
}

// updatedTitle is the /Title the earlier incremental update sets: non-Latin-1
// characters force UTF-16BE.
const updatedTitle = "Quyết định số 15/QĐ-UBND về Quy chế văn bản điện tử có ký số (đã cập nhật)"

// appendInfoUpdate copies the PDF at in to out and appends one incremental
// update that replaces the document information dictionary, in the same
// flavour as the file's last cross-reference section: a classic table and
// trailer after a table, an xref stream after a stream (a classic section
// chained to a stream would hide the stream's objects from classic-only
// readers and confuse the others).
func appendInfoUpdate(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	upd, err := withInfoUpdate(data, false)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return atomicfile.WriteFile(out, upd, 0o644)
}

// withInfoUpdate returns data with the update appended. selfPrev makes the
// new section's /Prev point at the new section itself, a cross-reference
// loop, for the broken samples.
func withInfoUpdate(data []byte, selfPrev bool) ([]byte, error) {
	t, err := readTrailer(data)
	if err != nil {
		return nil, err
	}
	id := t.id
	if id == "" {
		// No /ID to keep: derive one from the file's start.
		h := fileID(string(data[:min(len(data), 1024)]))
		id = fmt.Sprintf("[<%s> <%s>]", h, h)
	}

	var b bytes.Buffer
	b.Write(data)
	if n := len(data); n > 0 && data[n-1] != '\n' && data[n-1] != '\r' {
		b.WriteByte('\n')
	}
	info := t.size
	infoOff := b.Len()
	fmt.Fprintf(&b, "%d 0 obj\n<< /Title %s /Author %s /Producer (kyso pdfcorpus) /ModDate (D:20260105091500+07'00') >>\nendobj\n",
		info, utf16Hex(updatedTitle), utf16Hex("Văn phòng UBND tỉnh Bình Phước"))
	prev := func(xref int) int64 {
		if selfPrev {
			return int64(xref)
		}
		return t.startxref
	}
	if !t.stream {
		xref := b.Len()
		fmt.Fprintf(&b, "xref\n%d 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root %s /Info %d 0 R /ID %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n",
			info, infoOff, info+1, t.root, info, id, prev(xref), xref)
	} else {
		xrefNum := info + 1
		xref := b.Len()
		// Entries for the new info dictionary and the stream itself: type 1
		// (in use, at offset), W [1 4 2].
		var rows []byte
		for _, off := range []int{infoOff, xref} {
			rows = append(rows, 1)
			rows = binary.BigEndian.AppendUint32(rows, uint32(off))
			rows = append(rows, 0, 0)
		}
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		if _, err := zw.Write(rows); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /Index [%d 2] /W [1 4 2] /Root %s /Info %d 0 R /ID %s /Prev %d /Filter /FlateDecode /Length %d >>\nstream\n",
			xrefNum, xrefNum+1, info, t.root, info, id, prev(xref), z.Len())
		b.Write(z.Bytes())
		fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", xref)
	}
	return b.Bytes(), nil
}
