package pdfcorpus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// Names of the files GenerateBroken makes.
const (
	TruncatedName      = "bad-truncated.pdf"
	WrongStartxrefName = "bad-startxref.pdf"
	WrongXRefEntryName = "bad-xref-entry.pdf"
	BadObjStmName      = "bad-objstm.pdf"
	PrevLoopName       = "bad-prev-loop.pdf"
	EmptyName          = "bad-empty.pdf"
	NotPDFName         = "bad-not-a-pdf.pdf"
	EncryptedName      = "bad-encrypted.pdf"
)

// GenerateBroken makes, in dir, files a signer must refuse with a clear
// error (or, where a repair is unambiguous, read correctly) rather than
// guess, hang or crash. They are derived from two samples Generate made,
// which must be in samples: the classic-xref one (ClassicName) and the
// xref-stream one (XRefStreamName).
//
//   - bad-truncated.pdf: the first two thirds of the classic file: no
//     trailer, no startxref.
//   - bad-startxref.pdf: the final startxref points 7 bytes past the table.
//   - bad-xref-entry.pdf: every in-use table entry points 3 bytes past its
//     object, so each lookup lands inside "n 0 obj".
//   - bad-objstm.pdf: the xref-stream file with the compressed data of its
//     first object stream overwritten: the catalog cannot be inflated.
//   - bad-prev-loop.pdf: the xref-stream file plus an update whose xref
//     stream's /Prev points to itself.
//   - bad-empty.pdf, bad-not-a-pdf.pdf (an HTML page).
//   - bad-encrypted.pdf: AES-256 (qpdf --encrypt) with an empty user
//     password: it opens without asking, and still must not be signed.
//
// Existing files are reused. Pages is 0 for all of them.
func GenerateBroken(ctx context.Context, dir string, samples []Sample) ([]Sample, error) {
	if err := RequireTools("qpdf"); err != nil {
		return nil, err
	}
	var classic, xrefStream Sample
	for _, s := range samples {
		switch s.Name {
		case ClassicName:
			classic = s
		case XRefStreamName:
			xrefStream = s
		}
	}
	if classic.Path == "" || xrefStream.Path == "" {
		return nil, fmt.Errorf("pdfcorpus: broken samples need %s and %s", ClassicName, XRefStreamName)
	}
	cdata, err := os.ReadFile(classic.Path)
	if err != nil {
		return nil, fmt.Errorf("pdfcorpus: broken samples: %w", err)
	}
	xdata, err := os.ReadFile(xrefStream.Path)
	if err != nil {
		return nil, fmt.Errorf("pdfcorpus: broken samples: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pdfcorpus: broken samples: %w", err)
	}
	type bad struct {
		name, producer, notes string
		make                  func(out string) ([]byte, error) // nil content: make wrote out itself
	}
	bads := []bad{
		{TruncatedName, "kyso pdfcorpus", "the first two thirds of " + classic.Name + ": no trailer, no startxref",
			func(string) ([]byte, error) { return cdata[:len(cdata)*2/3], nil }},
		{WrongStartxrefName, "kyso pdfcorpus", classic.Name + " with its final startxref 7 bytes past the real table",
			func(string) ([]byte, error) { return shiftStartxref(cdata, 7) }},
		{WrongXRefEntryName, "kyso pdfcorpus", classic.Name + " with every in-use xref entry 3 bytes past its object",
			func(string) ([]byte, error) { return shiftXRefEntries(cdata, 3) }},
		{BadObjStmName, "kyso pdfcorpus", xrefStream.Name + " with the deflated data of its first object stream overwritten",
			func(string) ([]byte, error) { return corruptObjStm(xdata) }},
		{PrevLoopName, "kyso pdfcorpus", xrefStream.Name + " plus an update whose xref stream's /Prev is its own offset",
			func(string) ([]byte, error) { return withInfoUpdate(xdata, true) }},
		{EmptyName, "kyso pdfcorpus", "zero bytes",
			func(string) ([]byte, error) { return []byte{}, nil }},
		{NotPDFName, "kyso pdfcorpus", "an HTML page saved with a .pdf extension",
			func(string) ([]byte, error) {
				return []byte("<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Lỗi 404</title></head><body><p>Không tìm thấy văn bản.</p></body></html>\n"), nil
			}},
		{EncryptedName, "qpdf --encrypt (AES-256)", classic.Name + " encrypted with an empty user password and owner password \"owner\"",
			func(out string) ([]byte, error) {
				tmp := out + ".tmp"
				if _, err := run(ctx, dir, "qpdf", "--encrypt", "", "owner", "256", "--", classic.Path, tmp); err != nil {
					return nil, err
				}
				return nil, os.Rename(tmp, out)
			}},
	}
	var res []Sample
	for _, b := range bads {
		path := filepath.Join(dir, b.name)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			content, err := b.make(path)
			if err == nil && content != nil {
				err = atomicfile.WriteFile(path, content, 0o644)
			}
			if err != nil {
				return nil, fmt.Errorf("pdfcorpus: make %s: %w", b.name, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("pdfcorpus: %w", err)
		}
		res = append(res, Sample{Name: b.name, Path: path, Producer: b.producer, Notes: b.notes})
	}
	return res, nil
}

// startxrefNumber locates the digits after the final startxref keyword.
func startxrefNumber(data []byte) (start, end int, off int64, err error) {
	i := bytes.LastIndex(data, []byte("startxref"))
	if i < 0 {
		return 0, 0, 0, errors.New("no startxref")
	}
	j := i + len("startxref")
	for j < len(data) && (data[j] == '\r' || data[j] == '\n' || data[j] == ' ') {
		j++
	}
	k := j
	for k < len(data) && data[k] >= '0' && data[k] <= '9' {
		k++
	}
	off, err = strconv.ParseInt(string(data[j:k]), 10, 64)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("startxref offset: %w", err)
	}
	return j, k, off, nil
}

// shiftStartxref rewrites the number after the final startxref keyword to
// point delta bytes further, keeping everything else.
func shiftStartxref(data []byte, delta int64) ([]byte, error) {
	j, k, off, err := startxrefNumber(data)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(data[:j])
	b.WriteString(strconv.FormatInt(off+delta, 10))
	b.Write(data[k:])
	return b.Bytes(), nil
}

// shiftXRefEntries adds delta to the offset of every in-use entry of the
// classic table the final startxref names. Entries keep their 20 bytes.
func shiftXRefEntries(data []byte, delta int64) ([]byte, error) {
	_, _, off, err := startxrefNumber(data)
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(data)
	if off < 0 || off >= int64(len(out)) || !bytes.HasPrefix(out[off:], []byte("xref")) {
		return nil, errors.New("startxref does not name a classic table")
	}
	p := int(off) + len("xref")
	line := func() []byte { // the next non-empty line, advancing p
		for p < len(out) && (out[p] == '\r' || out[p] == '\n' || out[p] == ' ') {
			p++
		}
		e := p
		for e < len(out) && out[e] != '\r' && out[e] != '\n' {
			e++
		}
		l := out[p:e]
		return l
	}
	for {
		hdr := bytes.Fields(line())
		if len(hdr) != 2 {
			break // "trailer"
		}
		n, err := strconv.Atoi(string(hdr[1]))
		if err != nil {
			return nil, fmt.Errorf("xref subsection header %q: %w", hdr, err)
		}
		for ; p < len(out) && out[p] != '\r' && out[p] != '\n'; p++ {
		}
		for range n {
			for p < len(out) && (out[p] == '\r' || out[p] == '\n') {
				p++
			}
			if p+20 > len(out) {
				return nil, errors.New("xref table runs past the end")
			}
			entry := out[p : p+18]
			if entry[17] == 'n' {
				v, err := strconv.ParseInt(string(entry[:10]), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("xref entry %q: %w", entry, err)
				}
				copy(entry[:10], fmt.Sprintf("%010d", v+delta))
			}
			p += 20 // entries are exactly 20 bytes, end of line included
		}
	}
	return out, nil
}

// corruptObjStm overwrites bytes in the middle of the first object
// stream's data, leaving its length and everything else intact.
func corruptObjStm(data []byte) ([]byte, error) {
	i := bytes.Index(data, []byte("/Type /ObjStm"))
	if i < 0 {
		return nil, errors.New("no object stream")
	}
	j := bytes.Index(data[i:], []byte("stream\n"))
	if j < 0 {
		return nil, errors.New("object stream without data")
	}
	start := i + j + len("stream\n")
	out := bytes.Clone(data)
	end := min(start+64, len(out))
	for k := start + 8; k < end; k++ {
		out[k] = 'X'
	}
	return out, nil
}
