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
	EmptyName          = "bad-empty.pdf"
	NotPDFName         = "bad-not-a-pdf.pdf"
	EncryptedName      = "bad-encrypted.pdf"
)

// GenerateBroken makes, in dir, files a signer must refuse with a clear
// error rather than a guess or a crash, derived from base (a valid sample
// with a classic cross-reference table, such as the ClassicName one):
// truncated to two thirds, a final startxref that points 7 bytes past the
// real table, an empty file, an HTML page named .pdf, and an AES-256
// encrypted copy (qpdf --encrypt, empty user password: it opens without
// asking, and still must not be signed). Existing files are reused.
// Pages is 0 for all of them: they have no trustworthy page count.
func GenerateBroken(ctx context.Context, dir string, base Sample) ([]Sample, error) {
	if err := RequireTools("qpdf"); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(base.Path)
	if err != nil {
		return nil, fmt.Errorf("pdfcorpus: broken samples: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pdfcorpus: broken samples: %w", err)
	}
	write := func(name string, content []byte) error {
		return atomicfile.WriteFile(filepath.Join(dir, name), content, 0o644)
	}
	type bad struct {
		name, producer, notes string
		make                  func(out string) error
	}
	bads := []bad{
		{TruncatedName, "kyso pdfcorpus", "the first two thirds of " + base.Name + ": no trailer, no startxref",
			func(string) error { return write(TruncatedName, data[:len(data)*2/3]) }},
		{WrongStartxrefName, "kyso pdfcorpus", base.Name + " with its final startxref 7 bytes past the real cross-reference table",
			func(string) error {
				bad, err := shiftStartxref(data, 7)
				if err != nil {
					return fmt.Errorf("%s: %w", base.Name, err)
				}
				return write(WrongStartxrefName, bad)
			}},
		{EmptyName, "kyso pdfcorpus", "zero bytes",
			func(string) error { return write(EmptyName, nil) }},
		{NotPDFName, "kyso pdfcorpus", "an HTML page saved with a .pdf extension",
			func(string) error {
				return write(NotPDFName, []byte("<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Lỗi 404</title></head><body><p>Không tìm thấy văn bản.</p></body></html>\n"))
			}},
		{EncryptedName, "qpdf --encrypt (AES-256)", base.Name + " encrypted with an empty user password and owner password \"owner\"",
			func(out string) error {
				tmp := out + ".tmp"
				if _, err := run(ctx, dir, "qpdf", "--encrypt", "", "owner", "256", "--", base.Path, tmp); err != nil {
					return err
				}
				return os.Rename(tmp, out)
			}},
	}
	var samples []Sample
	for _, b := range bads {
		path := filepath.Join(dir, b.name)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := b.make(path); err != nil {
				return nil, fmt.Errorf("pdfcorpus: make %s: %w", b.name, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("pdfcorpus: %w", err)
		}
		samples = append(samples, Sample{Name: b.name, Path: path, Producer: b.producer, Notes: b.notes})
	}
	return samples, nil
}

// shiftStartxref rewrites the number after the final startxref keyword to
// point delta bytes further, keeping everything else.
func shiftStartxref(data []byte, delta int64) ([]byte, error) {
	i := bytes.LastIndex(data, []byte("startxref"))
	if i < 0 {
		return nil, errors.New("no startxref")
	}
	j := i + len("startxref")
	for j < len(data) && (data[j] == '\r' || data[j] == '\n' || data[j] == ' ') {
		j++
	}
	k := j
	for k < len(data) && data[k] >= '0' && data[k] <= '9' {
		k++
	}
	off, err := strconv.ParseInt(string(data[j:k]), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("startxref offset: %w", err)
	}
	var b bytes.Buffer
	b.Write(data[:j])
	b.WriteString(strconv.FormatInt(off+delta, 10))
	b.Write(data[k:])
	return b.Bytes(), nil
}
