package pades

import (
	"fmt"
	"io"
	"strings"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Limits that keep a hostile document from making the walk endless.
const (
	maxTreeDepth = 64
	maxFields    = 100000
	maxPages     = 1000000
)

// document is what the signer knows about the input: where its objects are
// and the parts an incremental update touches.
type document struct {
	r        *pdf.Reader
	size     int64
	trailer  pdf.Dict
	rootRef  pdf.Ref
	catalog  pdf.Dict
	fields   map[string]bool // full names of existing fields
	sigCount int             // signature fields that carry a value
	// sigFields are those fields, with their /V, in field-tree order.
	sigFields []sigField
	docMDP    int // P of an existing certification signature, 0 if none
}

// openDocument reads the structure of in. Every parse failure becomes a
// BAD_DOCUMENT error naming the problem; encryption is ENCRYPTED_DOCUMENT.
func openDocument(in io.ReaderAt, size int64) (*document, error) {
	if size == 0 {
		return nil, badDocument(nil, "the file is empty")
	}
	r, err := pdf.NewReader(in, size)
	if err != nil {
		return nil, badDocument(err, "cannot read the PDF structure")
	}
	if off := r.HeaderOffset(); off != 0 {
		// Such files count offsets from the header or from byte 0 depending
		// on the producer; an update would have to guess which, and a wrong
		// guess breaks the file for every reader.
		return nil, badDocument(nil, "the file has %d bytes before its %%PDF- header; save it again from a PDF program before signing", off)
	}
	d := &document{r: r, size: size, trailer: r.Trailer(), fields: map[string]bool{}}
	if _, ok := d.trailer["Encrypt"]; ok {
		return nil, &Error{Code: CodeEncrypted, Reason: "the document is encrypted; remove the protection before signing"}
	}
	ref, ok := d.trailer["Root"].(pdf.Ref)
	if !ok {
		return nil, badDocument(nil, "the trailer has no /Root reference")
	}
	d.rootRef = ref
	if d.catalog, err = d.dict(ref); err != nil {
		return nil, badDocument(err, "cannot read the document catalog %d %d R", ref.Num, ref.Gen)
	}
	if err := d.readFields(); err != nil {
		return nil, err
	}
	if err := d.readDocMDP(); err != nil {
		return nil, err
	}
	return d, nil
}

// dict resolves o and requires a dictionary (a stream's dictionary counts).
func (d *document) dict(o pdf.Object) (pdf.Dict, error) {
	v, err := d.r.Resolve(o)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case pdf.Dict:
		return v, nil
	case *pdf.Stream:
		return v.Dict, nil
	case pdf.Null:
		return nil, nil
	}
	return nil, fmt.Errorf("expected a dictionary, found %T", v)
}

func (d *document) array(o pdf.Object) (pdf.Array, error) {
	v, err := d.r.Resolve(o)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case pdf.Array:
		return v, nil
	case pdf.Null:
		return nil, nil
	}
	return nil, fmt.Errorf("expected an array, found %T", v)
}

func (d *document) integer(o pdf.Object) (int64, bool) {
	v, err := d.r.Resolve(o)
	if err != nil {
		return 0, false
	}
	switch v := v.(type) {
	case pdf.Int:
		return int64(v), true
	case pdf.Real:
		return int64(v), true
	}
	return 0, false
}

// sigField is a signature field that carries a value.
type sigField struct {
	name  string
	value pdf.Object
	page  pdf.Ref    // the widget's /P, when it says
	rect  [4]float64 // the widget's /Rect in user space; zero when invisible
}

// page is a page found in the page tree.
type page struct {
	ref  pdf.Ref
	dict pdf.Dict
	// inherited holds /MediaBox, /CropBox, /Rotate and /Resources as found
	// on the page or its ancestors, for appearance placement.
	inherited pdf.Dict
}

// page returns page n (1-based), descending the tree by /Count so that a
// 1000-page register does not need every page read.
func (d *document) page(n int) (*page, error) {
	if n < 1 {
		return nil, &Error{Code: CodeBadPage, Reason: fmt.Sprintf("page %d: pages are numbered from 1", n)}
	}
	node, ok := d.catalog["Pages"].(pdf.Ref)
	if !ok {
		return nil, badDocument(nil, "the catalog has no /Pages reference")
	}
	inherited := pdf.Dict{}
	remaining := n
	seen := map[pdf.Ref]bool{}
	for depth := 0; depth < maxTreeDepth; depth++ {
		if seen[node] {
			return nil, badDocument(nil, "the page tree has a loop at %d %d R", node.Num, node.Gen)
		}
		seen[node] = true
		nd, err := d.dict(node)
		if err != nil || nd == nil {
			return nil, badDocument(err, "cannot read page tree node %d %d R", node.Num, node.Gen)
		}
		for _, k := range []pdf.Name{"MediaBox", "CropBox", "Rotate", "Resources"} {
			if v, ok := nd[k]; ok {
				inherited[k] = v
			}
		}
		if t, _ := nd["Type"].(pdf.Name); t == "Page" || (nd["Kids"] == nil && nd["Count"] == nil) {
			if remaining != 1 {
				return nil, &Error{Code: CodeBadPage, Reason: fmt.Sprintf("page %d does not exist", n)}
			}
			return &page{ref: node, dict: nd, inherited: inherited}, nil
		}
		kids, err := d.array(nd["Kids"])
		if err != nil {
			return nil, badDocument(err, "cannot read /Kids of %d %d R", node.Num, node.Gen)
		}
		next := pdf.Ref{}
		found := false
		for _, k := range kids {
			kref, ok := k.(pdf.Ref)
			if !ok {
				return nil, badDocument(nil, "page tree node %d %d R has a direct kid", node.Num, node.Gen)
			}
			kd, err := d.dict(kref)
			if err != nil || kd == nil {
				return nil, badDocument(err, "cannot read page tree node %d %d R", kref.Num, kref.Gen)
			}
			count := int64(1)
			if t, _ := kd["Type"].(pdf.Name); t != "Page" && kd["Kids"] != nil {
				c, ok := d.integer(kd["Count"])
				if !ok || c < 0 || c > maxPages {
					return nil, badDocument(nil, "page tree node %d %d R has no valid /Count", kref.Num, kref.Gen)
				}
				count = c
			}
			if int64(remaining) <= count {
				next, found = kref, true
				break
			}
			remaining -= int(count)
		}
		if !found {
			return nil, &Error{Code: CodeBadPage, Reason: fmt.Sprintf("page %d does not exist", n)}
		}
		node = next
	}
	return nil, badDocument(nil, "the page tree is deeper than %d levels", maxTreeDepth)
}

// acroForm returns the catalog's /AcroForm dictionary (nil if absent) and
// its reference when it is an indirect object.
func (d *document) acroForm() (pdf.Dict, *pdf.Ref, error) {
	v, ok := d.catalog["AcroForm"]
	if !ok {
		return nil, nil, nil
	}
	af, err := d.dict(v)
	if err != nil {
		return nil, nil, badDocument(err, "cannot read /AcroForm")
	}
	if ref, ok := v.(pdf.Ref); ok && af != nil {
		return af, &ref, nil
	}
	return af, nil, nil
}

// readFields collects the full names of all fields (so a new field never
// reuses a name) and counts signed signature fields.
func (d *document) readFields() error {
	af, _, err := d.acroForm()
	if err != nil || af == nil {
		return err
	}
	fields, err := d.array(af["Fields"])
	if err != nil {
		return badDocument(err, "cannot read /AcroForm /Fields")
	}
	type item struct {
		o      pdf.Object
		prefix string
		ft     pdf.Name
		depth  int
	}
	stack := make([]item, 0, len(fields))
	for i := len(fields) - 1; i >= 0; i-- {
		stack = append(stack, item{o: fields[i]})
	}
	seen := map[pdf.Ref]bool{}
	for n := 0; len(stack) > 0; n++ {
		if n > maxFields {
			return badDocument(nil, "more than %d form fields", maxFields)
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if ref, ok := it.o.(pdf.Ref); ok {
			if seen[ref] {
				continue
			}
			seen[ref] = true
		}
		f, err := d.dict(it.o)
		if err != nil || f == nil || it.depth > maxTreeDepth {
			continue // a broken field must not stop signing; it just is not a name we can collide with
		}
		name := it.prefix
		if t, ok := f["T"].(pdf.String); ok {
			if name != "" {
				name += "."
			}
			name += decodeText(t.Bytes)
			d.fields[name] = true
		}
		ft := it.ft
		if v, ok := f["FT"].(pdf.Name); ok {
			ft = v
		}
		if ft == "Sig" && f["V"] != nil {
			d.sigCount++
			sf := sigField{name: name, value: f["V"]}
			if p, ok := f["P"].(pdf.Ref); ok {
				sf.page = p
			}
			if arr, err := d.array(f["Rect"]); err == nil && len(arr) == 4 {
				for i, v := range arr {
					if rv, err := d.r.Resolve(v); err == nil {
						sf.rect[i], _ = pdf.Number(rv)
					}
				}
			}
			d.sigFields = append(d.sigFields, sf)
		}
		if kids, err := d.array(f["Kids"]); err == nil {
			for i := len(kids) - 1; i >= 0; i-- {
				stack = append(stack, item{o: kids[i], prefix: name, ft: ft, depth: it.depth + 1})
			}
		}
	}
	return nil
}

// readDocMDP finds a certification signature's permissions
// (/Perms /DocMDP → /Reference → /TransformParams /P, default 2).
func (d *document) readDocMDP() error {
	perms, err := d.dict(d.catalog["Perms"])
	if err != nil || perms == nil {
		return nil
	}
	sig, err := d.dict(perms["DocMDP"])
	if err != nil || sig == nil {
		return nil
	}
	d.docMDP = d.certificationLevel(sig)
	return nil
}

// uniqueFieldName returns the name to use: want when it is free, or the
// first free SignatureN.
func (d *document) uniqueFieldName(want string) (string, error) {
	if want != "" {
		if strings.ContainsAny(want, ".") {
			return "", &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("field name %q must not contain a period", want)}
		}
		if d.fields[want] {
			return "", &Error{Code: CodeFieldExists, Reason: fmt.Sprintf("a field named %q already exists", want)}
		}
		return want, nil
	}
	for i := 1; ; i++ {
		n := fmt.Sprintf("Signature%d", i)
		if !d.fields[n] {
			return n, nil
		}
	}
}

// Check reads a PDF's structure the way Sign does and reports why it could
// not be signed: BAD_DOCUMENT, ENCRYPTED_DOCUMENT or DOCUMENT_LOCKED. Callers
// use it to refuse bad input before asking anyone for a PIN.
// PageCount returns the number of pages the document's page tree
// declares, for showing people what they are about to sign.
func PageCount(in io.ReaderAt, size int64) (int, error) {
	d, err := openDocument(in, size)
	if err != nil {
		return 0, err
	}
	root, err := d.dict(d.catalog["Pages"])
	if err != nil || root == nil {
		return 0, badDocument(err, "the catalog has no page tree")
	}
	n, ok := d.integer(root["Count"])
	if !ok || n < 1 || n > maxPages {
		return 0, badDocument(nil, "the page tree has no valid /Count")
	}
	return int(n), nil
}

func Check(in io.ReaderAt, size int64) error {
	d, err := openDocument(in, size)
	if err != nil {
		return err
	}
	if d.docMDP == int(NoChanges) {
		return &Error{Code: CodeLocked, Reason: "the document is certified with no changes allowed (DocMDP P=1)"}
	}
	if _, err := d.page(1); err != nil {
		return err
	}
	return nil
}
