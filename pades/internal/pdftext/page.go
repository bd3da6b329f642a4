package pdftext

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Limits of the page tree walk.
const (
	// maxTreeDepth bounds the nesting of /Pages nodes.
	maxTreeDepth = 64
	// maxKids bounds the /Kids of one node that are looked at.
	maxKids = 1 << 20
)

// PageSpansAt returns the spans of page number n (1-based) of the
// document r reads, as PageSpans does, finding the page by walking the
// page tree from the catalog with /Count and inheriting /Resources.
func PageSpansAt(r *pdf.Reader, n int) ([]Span, error) {
	page, res, err := lookupPage(r, n)
	if err != nil {
		return nil, err
	}
	spans, err := PageSpans(r, page, res)
	if e := (*Error)(nil); errors.As(err, &e) {
		e.Page = n
	}
	return spans, err
}

// lookupPage finds page n (1-based) and its (possibly inherited)
// resources.
func lookupPage(r *pdf.Reader, n int) (page, resources pdf.Dict, err error) {
	if r == nil {
		return nil, nil, &Error{Page: n, Reason: "no document"}
	}
	fail := func(reason string, cause error) (pdf.Dict, pdf.Dict, error) {
		return nil, nil, &Error{Page: n, Reason: reason, Err: cause}
	}
	if n < 1 {
		return fail(fmt.Sprintf("invalid page number %d", n), nil)
	}
	catalog, err := r.Resolve(r.Trailer().Get("Root"))
	if err != nil {
		return fail("cannot read the catalog", err)
	}
	cat, ok := catalog.(pdf.Dict)
	if !ok {
		return fail("the trailer has no catalog dictionary", nil)
	}
	node, err := r.Resolve(cat.Get("Pages"))
	if err != nil {
		return fail("cannot read the page tree", err)
	}
	var seen []pdf.Ref
	var res pdf.Object = pdf.Null{}
	remaining := n - 1 // pages to skip before the one wanted
	for depth := 0; depth < maxTreeDepth; depth++ {
		d, ok := node.(pdf.Dict)
		if !ok {
			return fail("the page tree holds a non-dictionary", nil)
		}
		if v := d.Get("Resources"); v != (pdf.Null{}) {
			res = v
		}
		kids, isNode := resolveArray(r, d.Get("Kids"))
		if !isNode {
			if remaining != 0 {
				return fail(fmt.Sprintf("the document has fewer than %d pages", n), nil)
			}
			rd, err := r.Resolve(res)
			if err != nil {
				return fail("cannot read the page's resources", err)
			}
			resDict, _ := rd.(pdf.Dict)
			return d, resDict, nil
		}
		found := false
		for i, kid := range kids {
			if i >= maxKids {
				break
			}
			if ref, ok := kid.(pdf.Ref); ok {
				if slices.Contains(seen, ref) {
					return fail("the page tree has a loop", nil)
				}
			}
			kd, err := r.Resolve(kid)
			if err != nil {
				return fail("cannot read the page tree", err)
			}
			kdict, ok := kd.(pdf.Dict)
			if !ok {
				continue
			}
			// A node's /Count says how many pages it holds; a leaf is one
			// page. A node without a usable count is entered.
			count := int64(1)
			if _, isNode := resolveArray(r, kdict.Get("Kids")); isNode {
				c, ok := resolveInt(r, kdict.Get("Count"))
				if !ok || c < 0 {
					c = int64(remaining) + 1
				}
				count = c
			}
			if int64(remaining) >= count {
				remaining -= int(count)
				continue
			}
			if ref, ok := kid.(pdf.Ref); ok {
				seen = append(seen, ref)
			}
			node, found = kdict, true
			break
		}
		if !found {
			return fail(fmt.Sprintf("the document has fewer than %d pages", n), nil)
		}
	}
	return fail("the page tree is nested too deeply", nil)
}

func resolveArray(r *pdf.Reader, o pdf.Object) (pdf.Array, bool) {
	v, err := r.Resolve(o)
	if err != nil {
		return nil, false
	}
	a, ok := v.(pdf.Array)
	return a, ok
}

func resolveInt(r *pdf.Reader, o pdf.Object) (int64, bool) {
	v, err := r.Resolve(o)
	if err != nil {
		return 0, false
	}
	n, ok := v.(pdf.Int)
	return int64(n), ok
}
