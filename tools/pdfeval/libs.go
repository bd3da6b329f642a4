package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/digitorus/pdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// maxDepth bounds page-tree recursion: a cyclic /Kids must end in an
// error, not a stack overflow that would be blamed on the library.
const maxDepth = 64

// parsePdfcpu reads the file the way a signer would use pdfcpu: the
// default configuration (with pdfcpu's config folder disabled, so nothing
// is written to the user's home), relaxed mode, no validation, then the
// catalog, the AcroForm's fields and the page tree.
func parsePdfcpu(path string) (pages, fields int, err error) {
	// A pdfcpu package variable; this child process does nothing else.
	model.ConfigPath = "disable"
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	ctx, err := api.ReadContext(f, conf)
	if err != nil {
		return 0, 0, err
	}
	root, err := ctx.Catalog()
	if err != nil {
		return 0, 0, fmt.Errorf("catalog: %w", err)
	}
	pagesRef, ok := root.Find("Pages")
	if !ok {
		return 0, 0, errors.New("catalog has no /Pages")
	}
	if pages, err = countPdfcpu(ctx.XRefTable, pagesRef, 0); err != nil {
		return 0, 0, err
	}
	if af, ok := root.Find("AcroForm"); ok {
		d, err := ctx.DereferenceDict(af)
		if err != nil {
			return 0, 0, fmt.Errorf("AcroForm: %w", err)
		}
		if fo, ok := d.Find("Fields"); ok {
			arr, err := ctx.DereferenceArray(fo)
			if err != nil {
				return 0, 0, fmt.Errorf("AcroForm fields: %w", err)
			}
			fields = len(arr)
		}
	}
	return pages, fields, nil
}

// countPdfcpu counts the leaves under a page tree node.
func countPdfcpu(x *model.XRefTable, o types.Object, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("page tree too deep (cycle?)")
	}
	d, err := x.DereferenceDict(o)
	if err != nil {
		return 0, fmt.Errorf("page tree node %v: %w", o, err)
	}
	if d == nil {
		return 0, fmt.Errorf("page tree node %v is missing", o)
	}
	kidsObj, ok := d.Find("Kids")
	if !ok {
		if t := d.Type(); t == nil || *t != "Page" {
			return 0, fmt.Errorf("page tree leaf %v is not a /Page", o)
		}
		return 1, nil
	}
	kids, err := x.DereferenceArray(kidsObj)
	if err != nil {
		return 0, fmt.Errorf("page tree node %v /Kids: %w", o, err)
	}
	n := 0
	for _, k := range kids {
		c, err := countPdfcpu(x, k, depth+1)
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

// parseDigitorus reads the file with digitorus/pdf: NewReader (which reads
// the cross-reference chain), then Trailer → Root → AcroForm and Pages →
// Kids. Objects are loaded lazily, on each Key.
func parseDigitorus(path string) (pages, fields int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	r, err := pdf.NewReader(f, fi.Size())
	if err != nil {
		return 0, 0, err
	}
	root := r.Trailer().Key("Root")
	if root.IsNull() {
		return 0, 0, errors.New("trailer has no /Root")
	}
	if pages, err = countDigitorus(root.Key("Pages"), 0); err != nil {
		return 0, 0, err
	}
	return pages, root.Key("AcroForm").Key("Fields").Len(), nil
}

// countDigitorus counts the leaves under a page tree node. The library
// turns an object it cannot find into null rather than an error, so null
// is reported here.
func countDigitorus(v pdf.Value, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("page tree too deep (cycle?)")
	}
	if v.IsNull() {
		return 0, errors.New("page tree node resolves to null (object not found)")
	}
	kids := v.Key("Kids")
	if kids.IsNull() {
		if v.Key("Type").Name() != "Page" {
			return 0, fmt.Errorf("page tree leaf is not a /Page: %v", v)
		}
		return 1, nil
	}
	n := 0
	for i := 0; i < kids.Len(); i++ {
		c, err := countDigitorus(kids.Index(i), depth+1)
		if err != nil {
			return 0, fmt.Errorf("kid %d: %w", i, err)
		}
		n += c
	}
	return n, nil
}
