package pdfcorpus

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// GenerateSeeds makes small versions of the corpus's structural variants —
// a one-page document through the same tools (qpdf object and xref streams,
// linearisation, PDF 2.0, rotation, mutool clean, an incremental update, the
// hybrid layout) — each a few hundred bytes to a few KB. Fuzzers need small
// seeds: Go's fuzzing engine slows to a crawl on 50 KB inputs, while these
// keep every structure the real corpus has.
func GenerateSeeds(ctx context.Context, dir string) ([]Sample, error) {
	if err := RequireTools("qpdf", "mutool"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pdfcorpus: seeds: %w", err)
	}
	base := filepath.Join(dir, "seed-classic.pdf")
	if err := os.WriteFile(base, minimalPDF(), 0o644); err != nil {
		return nil, fmt.Errorf("pdfcorpus: seeds: %w", err)
	}
	out := []Sample{{Name: "seed-classic.pdf", Path: base, Pages: 1, Producer: "kyso (hand-written)"}}
	variants := []struct {
		name string
		args []string
	}{
		{"seed-xrefstream.pdf", []string{"--object-streams=generate"}},
		{"seed-linearized.pdf", []string{"--linearize"}},
		{"seed-pdf20.pdf", []string{"--force-version=2.0"}},
		{"seed-rotate90.pdf", []string{"--rotate=+90"}},
	}
	for _, v := range variants {
		p := filepath.Join(dir, v.name)
		args := append(append([]string{}, v.args...), base, p)
		if _, err := run(ctx, dir, "qpdf", args...); err != nil {
			return nil, fmt.Errorf("pdfcorpus: seed %s: %w", v.name, err)
		}
		out = append(out, Sample{Name: v.name, Path: p, Pages: 1, Producer: "qpdf"})
	}
	mu := filepath.Join(dir, "seed-mutool.pdf")
	if _, err := run(ctx, dir, "mutool", "clean", "-gggg", base, mu); err != nil {
		return nil, fmt.Errorf("pdfcorpus: seed mutool: %w", err)
	}
	out = append(out, Sample{Name: "seed-mutool.pdf", Path: mu, Pages: 1, Producer: "mutool"})
	inc := filepath.Join(dir, "seed-incremental.pdf")
	if err := appendInfoUpdate(base, inc); err != nil {
		return nil, fmt.Errorf("pdfcorpus: seed incremental: %w", err)
	}
	out = append(out, Sample{Name: "seed-incremental.pdf", Path: inc, Pages: 1, Producer: "kyso (update)"})
	hy, err := hybridPDF()
	if err != nil {
		return nil, fmt.Errorf("pdfcorpus: seed hybrid: %w", err)
	}
	hp := filepath.Join(dir, "seed-hybrid.pdf")
	if err := os.WriteFile(hp, hy, 0o644); err != nil {
		return nil, fmt.Errorf("pdfcorpus: seed hybrid: %w", err)
	}
	out = append(out, Sample{Name: "seed-hybrid.pdf", Path: hp, Pages: 1, Producer: "kyso (hand-written)"})
	return out, nil
}

// minimalPDF is a one-page document with one line of text, with a classic
// cross-reference table whose offsets are computed, not typed.
func minimalPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
		"", // the content stream, below
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	content := "BT /F1 14 Tf 72 760 Td (So: 15/QD-UBND) Tj ET"
	objs[3] = fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /ID [<6b79736f2d73656564> <6b79736f2d73656564>] >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
