package pades

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// ChangeKind names what a later revision did. The strings are stable: they
// appear in JSON reports.
type ChangeKind string

// Kinds of change after a signature.
const (
	// ChangeSignature: a later signature (its field, widget, appearance,
	// /V on an empty signature field, /AcroForm /Fields and /Annots
	// growing for it).
	ChangeSignature ChangeKind = "signature"
	// ChangeDocTimestamp: a later document timestamp.
	ChangeDocTimestamp ChangeKind = "doc-timestamp"
	// ChangeDSS: /DSS in the catalog and its dictionaries and streams.
	ChangeDSS ChangeKind = "dss"
	// ChangeFormFill: the value (/V, and the widget /AP that goes with it)
	// of a non-signature field.
	ChangeFormFill ChangeKind = "form-fill"
	// ChangeAnnotation: a non-widget annotation added, or an existing
	// markup annotation changed.
	ChangeAnnotation ChangeKind = "annotation"
	// ChangeMetadata: the trailer /Info dictionary or the catalog
	// /Metadata stream.
	ChangeMetadata ChangeKind = "metadata"
	// ChangePageContent: a page's /Contents, /Resources, boxes, /Rotate,
	// or an object reachable from them.
	ChangePageContent ChangeKind = "page-content"
	// ChangePagesAdded and ChangePagesRemoved: the page tree gained or
	// lost pages.
	ChangePagesAdded   ChangeKind = "pages-added"
	ChangePagesRemoved ChangeKind = "pages-removed"
	// ChangeAnnotationRemoved: an annotation of the signed revision is
	// gone from its page.
	ChangeAnnotationRemoved ChangeKind = "annotation-removed"
	// ChangeFormField: fields added (non-signature), removed, or changed
	// other than in their value.
	ChangeFormField ChangeKind = "form-field"
	// ChangeCatalog: catalog entries other than /AcroForm, /DSS,
	// /Metadata, /Extensions and /Version changed (/OpenAction, /Names,
	// /AA, /Perms, …).
	ChangeCatalog ChangeKind = "catalog"
	// ChangeOther: an object changed that none of the above explains.
	ChangeOther ChangeKind = "other"
)

// Violation codes of a Change that is not permitted.
const (
	ViolationModified = "MODIFIED_AFTER_SIGNING"
	ViolationDocMDP   = "DOCMDP_VIOLATION"
	ViolationFieldMDP = "FIELDMDP_VIOLATION"
)

// Change is one thing a revision after a signature did to the document,
// judged against the rules that bind that signature.
type Change struct {
	Kind ChangeKind
	// Page is the 1-based page in the final document, 0 when the change
	// is not about a page (or the page is gone).
	Page int
	// Field is the fully qualified field name when the change is about a
	// field.
	Field string
	// Detail is a short English description for developers, such as
	// "object 12 0 (/Contents of page 1) changed".
	Detail    string
	Permitted bool
	// Violation is "" when Permitted, else ViolationModified,
	// ViolationDocMDP or ViolationFieldMDP.
	Violation string
}

// Limits that keep a hostile file from making the comparison endless.
const (
	// maxChangedObjects bounds the objects compared between revisions.
	maxChangedObjects = 100000
	// maxRoleWalk bounds the objects visited while finding out what the
	// changed objects were in the signed revision.
	maxRoleWalk = 200000
	// maxRevisionsCounted bounds the walk of the cross-reference chain
	// that counts updates.
	maxRevisionsCounted = 256
	// maxCompareData bounds the decoded size of one stream compared.
	maxCompareData = 64 << 20
	// maxValueDepth bounds the nesting of direct objects compared.
	maxValueDepth = 64
)

// changesAfter compares the document as signed (the prefix [0,revEnd)) with
// the whole file (size bytes) and returns what changed, judged against the
// rules that bind the signature in field sigField. revisions is the number
// of incremental updates after revEnd.
func changesAfter(in io.ReaderAt, size, revEnd int64, sigField string) (changes []Change, revisions int, err error) {
	if revEnd <= 0 || revEnd > size {
		return nil, 0, badDocument(nil, "the signed revision ends at byte %d, outside the %d-byte file", revEnd, size)
	}
	oldR, err := pdf.NewReader(io.NewSectionReader(in, 0, revEnd), revEnd)
	if err != nil {
		return nil, 0, badDocument(err, "cannot read the signed revision (the first %d bytes)", revEnd)
	}
	old, err := readRevision(oldR)
	if err != nil {
		return nil, 0, badDocument(err, "cannot read the signed revision")
	}
	if size == revEnd {
		return nil, 0, nil
	}
	c := &changeScan{in: in, old: old, rules: readRules(old, sigField), seen: map[changeKey]int{}}
	newR, err := pdf.NewReader(in, size)
	if err != nil {
		// The signed part is fine; what follows it is not a PDF update a
		// reader could make sense of, and so nothing anyone can vouch for.
		c.add(ChangeOther, 0, "", fmt.Sprintf("the data after the signed revision cannot be read as an update: %v", err))
		return c.result(), countAppended(in, revEnd, size), nil
	}
	revisions = countRevisions(in, size, revEnd, newR)
	c.new = &revision{r: newR, trailer: newR.Trailer()}
	if err := c.new.readCatalog(); err != nil {
		c.add(ChangeOther, 0, "", fmt.Sprintf("the catalog of the final document cannot be read: %v", err))
		return c.result(), revisions, nil
	}
	if err := c.new.walkPages(); err != nil {
		c.new.pageErr = err
	}
	c.compare()
	if revisions == 0 && len(c.out) == 0 && !onlyWhitespace(in, revEnd, size) {
		c.add(ChangeOther, 0, "", fmt.Sprintf("%d bytes after the signed revision are not an incremental update", size-revEnd))
	}
	return c.result(), revisions, nil
}

// changeKey deduplicates changes: a rewritten page yields one entry, not
// one per object.
type changeKey struct {
	kind  ChangeKind
	page  int
	field string
}

// changeScan is one comparison of a signed revision with the final file.
type changeScan struct {
	in    io.ReaderAt
	old   *revision
	new   *revision
	rules mdpRules
	out   []Change
	seen  map[changeKey]int

	// content maps every object reachable from a page of the signed
	// revision (other than through its annotations) to that page; roles
	// maps the other objects reached from the document's structure to
	// what they are. Both are built on first need.
	walked    bool
	exhausted bool
	content   map[pdf.Ref]role
	roles     map[pdf.Ref]role
	budget    int
	fieldPage map[string]int
}

// role is what an object was in the signed revision.
type role struct {
	kind  ChangeKind
	page  pdf.Ref // the page of the signed revision it belongs to, if any
	field string
	what  string
}

func (c *changeScan) add(kind ChangeKind, page int, field, detail string) {
	if field != "" {
		// A field's change is found both through /AcroForm (no page) and
		// through /Annots (a page): one entry per field, with the page
		// when known.
		for i := range c.out {
			if c.out[i].Kind == kind && c.out[i].Field == field {
				if c.out[i].Page == 0 {
					c.out[i].Page = page
				}
				return
			}
		}
	}
	k := changeKey{kind, page, field}
	if _, ok := c.seen[k]; ok && field == "" {
		return
	}
	permitted, violation := c.rules.judge(kind, field)
	c.seen[k] = len(c.out)
	c.out = append(c.out, Change{Kind: kind, Page: page, Field: field, Detail: detail, Permitted: permitted, Violation: violation})
}

// result returns the changes, violations first, otherwise in the order
// they were found.
func (c *changeScan) result() []Change {
	out := slices.Clone(c.out)
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Permitted && out[j].Permitted })
	return out
}

// newPage translates a page of the signed revision to its number in the
// final document (0 when it is gone).
func (c *changeScan) newPage(ref pdf.Ref) int {
	if c.new == nil {
		return 0
	}
	return c.new.pageNum[ref]
}

// compare runs the whole comparison.
func (c *changeScan) compare() {
	c.compareTrailers()
	c.diffCatalog(c.old.catalog, c.new.catalog)
	c.comparePages()

	oldE := entryMap(c.old.r.XrefEntries())
	newE := entryMap(c.new.r.XrefEntries())
	type candidate struct {
		ref    pdf.Ref
		oldObj bool // defined in the signed revision
		newObj bool // defined in the final document
	}
	var cands []candidate
	unchanged := func(o, n pdf.XrefEntry) bool {
		if o != n {
			return false
		}
		if o.Kind != pdf.EntryInStream {
			// Same offset in the signed prefix: the same bytes.
			return true
		}
		// The object stream holding it must not have been rewritten.
		oc, ok1 := oldE[o.Stream]
		nc, ok2 := newE[o.Stream]
		return ok1 && ok2 && oc == nc
	}
	for _, ne := range c.new.r.XrefEntries() {
		oe, ok := oldE[ne.Ref.Num]
		switch {
		case !ok:
			cands = append(cands, candidate{ref: ne.Ref, newObj: true})
		case oe.Ref.Gen != ne.Ref.Gen:
			cands = append(cands, candidate{ref: oe.Ref, oldObj: true}, candidate{ref: ne.Ref, newObj: true})
		case !unchanged(oe, ne):
			cands = append(cands, candidate{ref: ne.Ref, oldObj: true, newObj: true})
		}
	}
	for _, oe := range c.old.r.XrefEntries() {
		if _, ok := newE[oe.Ref.Num]; !ok {
			cands = append(cands, candidate{ref: oe.Ref, oldObj: true})
		}
	}
	if len(cands) > maxChangedObjects {
		c.add(ChangeOther, 0, "", fmt.Sprintf("too many changes: %d objects differ, only the first %d were examined", len(cands), maxChangedObjects))
		cands = cands[:maxChangedObjects]
	}
	for _, cd := range cands {
		var oldObj, newObj pdf.Object = pdf.Null{}, pdf.Null{}
		if cd.oldObj {
			o, err := c.old.r.Object(cd.ref)
			if err != nil {
				c.add(ChangeOther, 0, "", fmt.Sprintf("object %d %d of the signed revision cannot be read: %v", cd.ref.Num, cd.ref.Gen, err))
				continue
			}
			oldObj = o
		}
		if cd.newObj {
			o, err := c.new.r.Object(cd.ref)
			if err != nil {
				c.add(ChangeOther, 0, "", fmt.Sprintf("object %d %d of the final document cannot be read: %v", cd.ref.Num, cd.ref.Gen, err))
				continue
			}
			newObj = o
		}
		if c.equalObjects(oldObj, newObj) {
			continue // an identical rewrite
		}
		c.classify(cd.ref, oldObj, newObj, cd.oldObj)
	}
}

func entryMap(es []pdf.XrefEntry) map[uint32]pdf.XrefEntry {
	m := make(map[uint32]pdf.XrefEntry, len(es))
	for _, e := range es {
		m[e.Ref.Num] = e
	}
	return m
}

// objectDesc names an object in details.
func objectDesc(ref pdf.Ref) string { return fmt.Sprintf("object %d %d", ref.Num, ref.Gen) }

func changedVerb(existed bool) string {
	if existed {
		return "changed"
	}
	return "defined (the signed revision referred to it but did not define it)"
}

// classify says what the change of one object means, by what the object
// was in the signed revision.
func (c *changeScan) classify(ref pdf.Ref, oldObj, newObj pdf.Object, existed bool) {
	c.walk()
	verb := changedVerb(existed)
	if r, ok := c.content[ref]; ok {
		// Page content comes first: whatever else the object also is, a
		// change to it changes what a page shows.
		c.add(ChangePageContent, c.newPage(r.page), "", fmt.Sprintf("%s (%s) %s", objectDesc(ref), r.what, verb))
		return
	}
	if s, ok := oldObj.(*pdf.Stream); ok {
		if t, _ := s.Dict.GetName("Type"); t == "XRef" || t == "ObjStm" {
			return // structure, not content: what it holds is compared object by object
		}
	}
	od, _ := dictOf(oldObj)
	nd, _ := dictOf(newObj)
	old := c.old
	switch {
	case ref == old.root:
		// Compared as the catalog in diffCatalog (even when /Root moved).
		return
	case old.nodes[ref] != nil:
		c.pageNodeChanged(ref, od, nd)
		return
	case old.kidsArrays[ref]:
		return // the page order is compared in comparePages
	case old.pageNum[ref] != 0:
		c.pageChanged(ref, od, nd)
		return
	case old.annotArrays[ref] != (pdf.Ref{}):
		page := old.annotArrays[ref]
		oa, _ := oldObj.(pdf.Array)
		na, _ := newObj.(pdf.Array)
		c.diffAnnots(c.newPage(page), oa, na)
		return
	case old.acroForm == ref && ref != (pdf.Ref{}):
		c.diffAcroForm(od, nd)
		return
	case old.fieldsArray == ref && ref != (pdf.Ref{}):
		oa, _ := oldObj.(pdf.Array)
		na, _ := newObj.(pdf.Array)
		c.diffFields(oa, na)
		return
	case old.fields[ref] != nil:
		c.fieldChanged(ref, old.fields[ref], od, nd)
		return
	case old.sigValues[ref] != "":
		name := old.sigValues[ref]
		c.add(ChangeFormField, c.fieldPage[name], name, fmt.Sprintf("%s (signature dictionary of field %q) %s", objectDesc(ref), name, verb))
		return
	case old.annots[ref] != (pdf.Ref{}):
		page := old.annots[ref]
		st, _ := od.GetName("Subtype")
		if nd == nil && existed {
			c.add(ChangeAnnotationRemoved, c.newPage(page), "", fmt.Sprintf("%s (/%s annotation on page %d) deleted", objectDesc(ref), st, old.pageNum[page]))
			return
		}
		c.add(ChangeAnnotation, c.newPage(page), "", fmt.Sprintf("%s (/%s annotation on page %d) %s", objectDesc(ref), st, old.pageNum[page], verb))
		return
	}
	if r, ok := c.roles[ref]; ok {
		if c.exhausted {
			// The page walk stopped early: the object may be page content
			// too, so a permissive role cannot be trusted.
			c.add(ChangeOther, 0, "", fmt.Sprintf("%s (%s) %s; the document has too many objects to rule out page content", objectDesc(ref), r.what, verb))
			return
		}
		c.add(r.kind, c.newPage(r.page), r.field, fmt.Sprintf("%s (%s) %s", objectDesc(ref), r.what, verb))
		return
	}
	if !existed {
		return // a new object: it matters only through what refers to it
	}
	detail := fmt.Sprintf("%s %s", objectDesc(ref), verb)
	if c.exhausted {
		detail += " (the document is too large to tell what it is)"
	}
	c.add(ChangeOther, 0, "", detail)
}

// dictOf returns the dictionary of a dictionary or stream object.
func dictOf(o pdf.Object) (pdf.Dict, bool) {
	switch v := o.(type) {
	case pdf.Dict:
		return v, true
	case *pdf.Stream:
		return v.Dict, true
	}
	return nil, false
}

// compareTrailers looks at what the trailer itself says.
func (c *changeScan) compareTrailers() {
	ot, nt := c.old.trailer, c.new.trailer
	oi, _ := c.old.r.Resolve(ot.Get("Info"))
	ni, _ := c.new.r.Resolve(nt.Get("Info"))
	if !c.equalObjects(orNull(oi), orNull(ni)) {
		c.add(ChangeMetadata, 0, "", "the document information dictionary (/Info) changed")
	}
	if !c.equalValues(ot.Get("Encrypt"), nt.Get("Encrypt"), 0) {
		c.add(ChangeOther, 0, "", "the trailer's /Encrypt changed")
	}
}

func orNull(o pdf.Object) pdf.Object {
	if o == nil {
		return pdf.Null{}
	}
	return o
}

// diffCatalog compares the catalog of the signed revision with the final
// one key by key.
func (c *changeScan) diffCatalog(od, nd pdf.Dict) {
	if c.old.root != c.new.root {
		if !c.equalValues(od, nd, 0) {
			c.add(ChangeCatalog, 0, "", fmt.Sprintf("the trailer's /Root moved from %s to %s", objectDesc(c.old.root), objectDesc(c.new.root)))
		}
	}
	for _, k := range c.diffKeys(od, nd) {
		switch k {
		case "AcroForm":
			oa, _ := c.old.r.Resolve(od.Get("AcroForm"))
			na, _ := c.new.r.Resolve(nd.Get("AcroForm"))
			oad, _ := dictOf(oa)
			nad, _ := dictOf(na)
			c.diffAcroForm(oad, nad)
		case "DSS":
			c.add(ChangeDSS, 0, "", "catalog /DSS "+keyVerb(od, nd, k))
		case "Metadata":
			c.add(ChangeMetadata, 0, "", "catalog /Metadata "+keyVerb(od, nd, k))
		case "Extensions", "Version":
			// Declarations that go with DSS and timestamps.
		case "Pages":
			// The pages are compared as lists in comparePages.
		default:
			c.add(ChangeCatalog, 0, "", fmt.Sprintf("catalog /%s %s", k, keyVerb(od, nd, k)))
		}
	}
}

func keyVerb(od, nd pdf.Dict, k pdf.Name) string {
	_, inOld := od[k]
	_, inNew := nd[k]
	switch {
	case !inOld:
		return "added"
	case !inNew:
		return "removed"
	}
	return "changed"
}

// comparePages compares the ordered lists of pages and what each common
// page inherits.
func (c *changeScan) comparePages() {
	if c.new.pageErr != nil {
		c.add(ChangeOther, 0, "", fmt.Sprintf("the page tree of the final document cannot be read: %v", c.new.pageErr))
		return
	}
	old, nw := c.old, c.new
	for i, ref := range nw.pages {
		if old.pageNum[ref] == 0 {
			c.add(ChangePagesAdded, i+1, "", fmt.Sprintf("page %d (%s) added", i+1, objectDesc(ref)))
		}
	}
	for i, ref := range old.pages {
		if nw.pageNum[ref] == 0 {
			c.add(ChangePagesRemoved, 0, "", fmt.Sprintf("page %d of the signed revision (%s) removed", i+1, objectDesc(ref)))
		}
	}
	// The pages both have must keep their order.
	var a, b []pdf.Ref
	for _, ref := range old.pages {
		if nw.pageNum[ref] != 0 {
			a = append(a, ref)
		}
	}
	for _, ref := range nw.pages {
		if old.pageNum[ref] != 0 {
			b = append(b, ref)
		}
	}
	for i := range a {
		if a[i] != b[i] {
			c.add(ChangePageContent, nw.pageNum[b[i]], "", fmt.Sprintf("pages reordered: page %d of the signed revision is now page %d", old.pageNum[b[i]], nw.pageNum[b[i]]))
			break
		}
	}
	for _, ref := range a {
		oi, ni := old.inherited[ref], nw.inherited[ref]
		for _, k := range inheritable() {
			if !c.equalValues(oi.Get(string(k)), ni.Get(string(k)), 0) {
				n := nw.pageNum[ref]
				c.add(ChangePageContent, n, "", fmt.Sprintf("/%s of page %d changed", k, n))
			}
		}
	}
}

// pageNodeChanged judges a rewritten intermediate node of the page tree.
// /Kids and inherited attributes are judged per page in comparePages.
func (c *changeScan) pageNodeChanged(ref pdf.Ref, od, nd pdf.Dict) {
	for _, k := range c.diffKeys(od, nd) {
		switch k {
		case "Kids", "Parent", "Type", "MediaBox", "CropBox", "Rotate", "Resources":
		case "Count":
			// A /Count that disagrees with /Kids hides or invents pages in
			// readers that trust it.
			n, ok := nd.GetInt("Count")
			if node := c.new.nodes[ref]; node == nil || !ok || n != int64(node.count) {
				c.add(ChangeOther, 0, "", fmt.Sprintf("page tree node %s: /Count no longer matches its pages", objectDesc(ref)))
			}
		default:
			c.add(ChangeOther, 0, "", fmt.Sprintf("page tree node %s: /%s %s", objectDesc(ref), k, keyVerb(od, nd, k)))
		}
	}
}

// pageChanged judges a rewritten page dictionary: only /Annots may change.
func (c *changeScan) pageChanged(ref pdf.Ref, od, nd pdf.Dict) {
	if nd == nil {
		return // the page is gone: comparePages reports it
	}
	n := c.newPage(ref)
	for _, k := range c.diffKeys(od, nd) {
		switch k {
		case "Annots":
			oa, _ := c.old.r.Resolve(od.Get("Annots"))
			na, _ := c.new.r.Resolve(nd.Get("Annots"))
			oarr, _ := oa.(pdf.Array)
			narr, _ := na.(pdf.Array)
			c.diffAnnots(n, oarr, narr)
		case "Parent":
			// Where the page hangs is judged by comparePages.
		default:
			c.add(ChangePageContent, n, "", fmt.Sprintf("/%s of page %d %s (%s)", k, n, keyVerb(od, nd, k), objectDesc(ref)))
		}
	}
}

// diffAnnots compares a page's annotation lists.
func (c *changeScan) diffAnnots(page int, oa, na pdf.Array) {
	oldRefs := map[pdf.Ref]bool{}
	var oldDirect []pdf.Object
	for _, a := range oa {
		if r, ok := a.(pdf.Ref); ok {
			oldRefs[r] = true
		} else {
			oldDirect = append(oldDirect, a)
		}
	}
	newRefs := map[pdf.Ref]bool{}
	matched := make([]bool, len(oldDirect))
	for _, a := range na {
		if r, ok := a.(pdf.Ref); ok {
			newRefs[r] = true
			if !oldRefs[r] {
				c.annotAdded(page, a)
			}
			continue
		}
		found := false
		for i, o := range oldDirect {
			if !matched[i] && c.equalValues(o, a, 0) {
				matched[i], found = true, true
				break
			}
		}
		if !found {
			c.annotAdded(page, a)
		}
	}
	for _, a := range oa {
		if r, ok := a.(pdf.Ref); ok && !newRefs[r] {
			c.add(ChangeAnnotationRemoved, page, "", fmt.Sprintf("annotation %s removed from page %d", objectDesc(r), page))
		}
	}
	for _, ok := range matched {
		if !ok {
			c.add(ChangeAnnotationRemoved, page, "", fmt.Sprintf("a direct annotation removed from page %d", page))
		}
	}
}

// annotAdded judges an annotation that appears on a page.
func (c *changeScan) annotAdded(page int, a pdf.Object) {
	desc := "a direct annotation"
	if r, ok := a.(pdf.Ref); ok {
		desc = "annotation " + objectDesc(r)
	}
	o, err := c.new.r.Resolve(a)
	d, ok := dictOf(o)
	if err != nil || !ok {
		c.add(ChangeOther, page, "", fmt.Sprintf("%s added to page %d cannot be read", desc, page))
		return
	}
	st, _ := d.GetName("Subtype")
	if st != "Widget" {
		c.add(ChangeAnnotation, page, "", fmt.Sprintf("%s (/%s) added to page %d", desc, st, page))
		return
	}
	f := fieldOf(c.new.r, d)
	switch {
	case f.ft == "Sig":
		kind := ChangeSignature
		if isDocTimestamp(c.new.r, f.v) {
			kind = ChangeDocTimestamp
		}
		c.add(kind, page, f.name, fmt.Sprintf("signature field %q with its widget (%s) added to page %d", f.name, desc, page))
	case c.old.fieldNames[f.name] != nil:
		c.add(ChangeFormField, page, f.name, fmt.Sprintf("a widget (%s) of field %q added to page %d", desc, f.name, page))
	default:
		c.add(ChangeFormField, page, f.name, fmt.Sprintf("field %q added with a widget (%s) on page %d", f.name, desc, page))
	}
}

// diffAcroForm compares the interactive form dictionaries.
func (c *changeScan) diffAcroForm(od, nd pdf.Dict) {
	for _, k := range c.diffKeys(od, nd) {
		switch k {
		case "Fields":
			oa, _ := c.old.r.Resolve(od.Get("Fields"))
			na, _ := c.new.r.Resolve(nd.Get("Fields"))
			oarr, _ := oa.(pdf.Array)
			narr, _ := na.(pdf.Array)
			c.diffFields(oarr, narr)
		case "SigFlags", "NeedAppearances":
			// Set by signing.
		case "DR", "DA":
			// Signing may add default resources; it must not change
			// those the form already uses.
			if !c.extends(od.Get(string(k)), nd.Get(string(k)), 0) {
				c.add(ChangeFormField, 0, "", fmt.Sprintf("/AcroForm /%s %s", k, keyVerb(od, nd, k)))
			}
		default:
			c.add(ChangeFormField, 0, "", fmt.Sprintf("/AcroForm /%s %s", k, keyVerb(od, nd, k)))
		}
	}
}

// extends reports whether nv (final document) keeps every entry of ov
// (signed revision): equal values, or dictionaries that only gained keys.
func (c *changeScan) extends(ov, nv pdf.Object, depth int) bool {
	if _, ok := ov.(pdf.Null); ok {
		return true
	}
	if c.equalValues(ov, nv, 0) {
		return true
	}
	if depth > 2 {
		return false
	}
	o, err1 := c.old.r.Resolve(ov)
	n, err2 := c.new.r.Resolve(nv)
	od, ok1 := o.(pdf.Dict)
	nd, ok2 := n.(pdf.Dict)
	if err1 != nil || err2 != nil || !ok1 || !ok2 {
		return false
	}
	for k, v := range od {
		if !c.extends(v, nd.Get(string(k)), depth+1) {
			return false
		}
	}
	return true
}

// diffFields compares the top-level field lists.
func (c *changeScan) diffFields(oa, na pdf.Array) {
	oldRefs := map[pdf.Ref]bool{}
	for _, f := range oa {
		if r, ok := f.(pdf.Ref); ok {
			oldRefs[r] = true
		}
	}
	newRefs := map[pdf.Ref]bool{}
	for _, f := range na {
		r, ok := f.(pdf.Ref)
		if !ok {
			c.add(ChangeFormField, 0, "", "a direct field dictionary in /AcroForm /Fields")
			continue
		}
		newRefs[r] = true
		if oldRefs[r] {
			continue
		}
		o, err := c.new.r.Resolve(r)
		d, ok := dictOf(o)
		if err != nil || !ok {
			c.add(ChangeFormField, 0, "", fmt.Sprintf("field %s added to /AcroForm cannot be read", objectDesc(r)))
			continue
		}
		f := fieldOf(c.new.r, d)
		if f.ft == "" {
			// A non-terminal field: its kind is its kids'.
			if kids, ok := d.GetArray("Kids"); ok && len(kids) > 0 {
				if ko, err := c.new.r.Resolve(kids[0]); err == nil {
					if kd, ok := dictOf(ko); ok {
						if ft, ok := kd.GetName("FT"); ok {
							f.ft = ft
						}
					}
				}
			}
		}
		page := c.widgetPage(d)
		switch {
		case f.ft == "Sig":
			kind := ChangeSignature
			if isDocTimestamp(c.new.r, f.v) {
				kind = ChangeDocTimestamp
			}
			c.add(kind, page, f.name, fmt.Sprintf("signature field %q (%s) added", f.name, objectDesc(r)))
		default:
			c.add(ChangeFormField, page, f.name, fmt.Sprintf("field %q (%s) added", f.name, objectDesc(r)))
		}
	}
	for _, f := range oa {
		if r, ok := f.(pdf.Ref); ok && !newRefs[r] {
			name := ""
			if fi := c.old.fields[r]; fi != nil {
				name = fi.name
			}
			c.add(ChangeFormField, 0, name, fmt.Sprintf("field %q (%s) removed from /AcroForm", name, objectDesc(r)))
		}
	}
}

// widgetPage returns the final page of a merged field and widget, by /P.
func (c *changeScan) widgetPage(d pdf.Dict) int {
	if p, ok := d.GetRef("P"); ok {
		return c.new.pageNum[p]
	}
	return 0
}

// fieldChanged judges a rewritten field or widget dictionary.
func (c *changeScan) fieldChanged(ref pdf.Ref, fi *fieldInfo, od, nd pdf.Dict) {
	page := 0
	if p, ok := od.GetRef("P"); ok {
		page = c.newPage(p)
	}
	what := fmt.Sprintf("field %q (%s)", fi.name, objectDesc(ref))
	if fi.widgetOnly {
		what = fmt.Sprintf("a widget of field %q (%s)", fi.name, objectDesc(ref))
	}
	if nd == nil {
		c.add(ChangeFormField, page, fi.name, what+" deleted")
		return
	}
	for _, k := range c.diffKeys(od, nd) {
		detail := fmt.Sprintf("%s: /%s %s", what, k, keyVerb(od, nd, k))
		switch {
		case fi.sig && !fi.signed && (k == "V" && !fi.widgetOnly || k == "AP" || k == "AS" || k == "M"):
			// Signing a field that was left empty for it.
			kind := ChangeSignature
			if isDocTimestamp(c.new.r, fieldOf(c.new.r, nd).v) {
				kind = ChangeDocTimestamp
			}
			c.add(kind, page, fi.name, detail)
		case fi.sig:
			c.add(ChangeFormField, page, fi.name, detail)
		case k == "V" || k == "AP" || k == "AS" || k == "I" || k == "RV" || k == "M":
			c.add(ChangeFormFill, page, fi.name, detail)
		default:
			c.add(ChangeFormField, page, fi.name, detail)
		}
	}
}

// newField is what fieldOf finds about a field in the final document.
type newField struct {
	name string
	ft   pdf.Name
	v    pdf.Object
}

// fieldOf walks from a field or widget dictionary up its /Parent chain
// for the fully qualified name and the inherited /FT and /V.
func fieldOf(r *pdf.Reader, d pdf.Dict) newField {
	var f newField
	var parts []string
	for depth := 0; d != nil && depth < maxTreeDepth; depth++ {
		if t, ok := d.GetString("T"); ok {
			parts = append(parts, decodeText(t.Bytes))
		}
		if f.ft == "" {
			f.ft, _ = d.GetName("FT")
		}
		if f.v == nil {
			if v, ok := d["V"]; ok {
				f.v = v
			}
		}
		p, ok := d["Parent"]
		if !ok {
			break
		}
		o, err := r.Resolve(p)
		if err != nil {
			break
		}
		d, _ = dictOf(o)
	}
	slices.Reverse(parts)
	f.name = strings.Join(parts, ".")
	return f
}

// isDocTimestamp reports whether a signature value is a document
// timestamp.
func isDocTimestamp(r *pdf.Reader, v pdf.Object) bool {
	if v == nil {
		return false
	}
	o, err := r.Resolve(v)
	if err != nil {
		return false
	}
	d, ok := dictOf(o)
	if !ok {
		return false
	}
	t, _ := d.GetName("Type")
	sf, _ := d.GetName("SubFilter")
	return t == "DocTimeStamp" || sf == "ETSI.RFC3161"
}

// diffKeys returns the keys whose values differ, sorted.
func (c *changeScan) diffKeys(od, nd pdf.Dict) []pdf.Name {
	var keys []pdf.Name
	for k, v := range od {
		if !c.equalValues(v, nd.Get(string(k)), 0) {
			keys = append(keys, k)
		}
	}
	for k, v := range nd {
		if _, ok := od[k]; !ok {
			if _, null := v.(pdf.Null); !null {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// equalValues compares direct values of the two revisions structurally;
// references are equal when they name the same object (which is compared
// on its own).
func (c *changeScan) equalValues(a, b pdf.Object, depth int) bool {
	if depth > maxValueDepth {
		return false
	}
	if a == nil {
		a = pdf.Null{}
	}
	if b == nil {
		b = pdf.Null{}
	}
	switch x := a.(type) {
	case pdf.Null, pdf.Bool, pdf.Name, pdf.Ref:
		return a == b
	case pdf.Int, pdf.Real:
		fa, _ := pdf.Number(x)
		fb, ok := pdf.Number(b)
		return ok && fa == fb
	case pdf.String:
		y, ok := b.(pdf.String)
		return ok && bytes.Equal(x.Bytes, y.Bytes)
	case pdf.Array:
		y, ok := b.(pdf.Array)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !c.equalValues(x[i], y[i], depth+1) {
				return false
			}
		}
		return true
	case pdf.Dict:
		y, ok := b.(pdf.Dict)
		if !ok {
			return false
		}
		for k, v := range x {
			if !c.equalValues(v, y.Get(string(k)), depth+1) {
				return false
			}
		}
		for k, v := range y {
			if _, ok := x[k]; !ok {
				if _, null := v.(pdf.Null); !null {
					return false
				}
			}
		}
		return true
	}
	return false
}

// equalObjects compares an object of the signed revision with one of the
// final document: streams by dictionary and data.
func (c *changeScan) equalObjects(a, b pdf.Object) bool {
	sa, okA := a.(*pdf.Stream)
	sb, okB := b.(*pdf.Stream)
	if okA != okB {
		return false
	}
	if !okA {
		return c.equalValues(a, b, 0)
	}
	da := without(sa.Dict, "Length")
	db := without(sb.Dict, "Length")
	if c.equalValues(da, db, 0) && sa.Length == sb.Length {
		if sa.Offset == sb.Offset || c.rawEqual(sa.Offset, sb.Offset, sa.Length) {
			return true
		}
	}
	// The same data encoded differently is the same stream.
	if !c.equalValues(without(da, "Filter", "DecodeParms", "DL"), without(db, "Filter", "DecodeParms", "DL"), 0) {
		return false
	}
	x, err := c.old.r.StreamData(sa, maxCompareData)
	if err != nil {
		return false
	}
	y, err := c.new.r.StreamData(sb, maxCompareData)
	return err == nil && bytes.Equal(x, y)
}

func without(d pdf.Dict, keys ...pdf.Name) pdf.Dict {
	out := make(pdf.Dict, len(d))
	for k, v := range d {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

// rawEqual compares n bytes of the file at two offsets.
func (c *changeScan) rawEqual(a, b, n int64) bool {
	const chunk = 32 << 10
	x, y := make([]byte, chunk), make([]byte, chunk)
	for n > 0 {
		k := min(n, chunk)
		if m, _ := c.in.ReadAt(x[:k], a); int64(m) != k {
			return false
		}
		if m, _ := c.in.ReadAt(y[:k], b); int64(m) != k {
			return false
		}
		if !bytes.Equal(x[:k], y[:k]) {
			return false
		}
		a, b, n = a+k, b+k, n-k
	}
	return true
}

// countRevisions counts the cross-reference sections after revEnd by
// following /Prev from the final startxref. The trailer of an older
// section is read by a reader whose view of the file ends with a
// startxref naming that section.
func countRevisions(in io.ReaderAt, size, revEnd int64, newR *pdf.Reader) int {
	off := newR.StartXref()
	trailer := newR.Trailer()
	seen := map[int64]bool{}
	n := 0
	for off >= revEnd && off < size && !seen[off] && n < maxRevisionsCounted {
		seen[off] = true
		n++
		if n > 1 {
			tail := fmt.Appendf(nil, "\nstartxref\n%d\n%%%%EOF\n", off)
			r, err := pdf.NewReader(&tailedReader{in: in, size: size, tail: tail}, size+int64(len(tail)))
			if err != nil {
				break
			}
			trailer = r.Trailer()
		}
		prev, ok := trailer["Prev"].(pdf.Int)
		if !ok {
			break
		}
		off = int64(prev)
	}
	return n
}

// countAppended counts "%%EOF" markers after revEnd, for files whose
// updates cannot be read at all.
func countAppended(in io.ReaderAt, revEnd, size int64) int {
	const limit = 64 << 20
	n := min(size-revEnd, limit)
	buf := make([]byte, n)
	if _, err := in.ReadAt(buf, revEnd); err != nil && err != io.EOF {
		return 0
	}
	return bytes.Count(buf, []byte("%%EOF"))
}

// onlyWhitespace reports whether [from, to) holds only white space (and
// NUL padding), which writers sometimes leave after %%EOF.
func onlyWhitespace(in io.ReaderAt, from, to int64) bool {
	buf := make([]byte, 32<<10)
	for off := from; off < to; {
		k := min(to-off, int64(len(buf)))
		if _, err := in.ReadAt(buf[:k], off); err != nil && err != io.EOF {
			return false
		}
		for _, b := range buf[:k] {
			switch b {
			case ' ', '\t', '\r', '\n', '\f', 0:
			default:
				return false
			}
		}
		off += k
	}
	return true
}

// tailedReader is a file with a few bytes appended.
type tailedReader struct {
	in   io.ReaderAt
	size int64
	tail []byte
}

func (t *tailedReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < t.size {
		k := min(int64(len(p)), t.size-off)
		m, err := t.in.ReadAt(p[:k], off)
		n += m
		if m < int(k) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	if n < len(p) {
		start := off + int64(n) - t.size
		if start >= int64(len(t.tail)) {
			return n, io.EOF
		}
		m := copy(p[n:], t.tail[start:])
		n += m
		if n < len(p) {
			return n, io.EOF
		}
	}
	return n, nil
}

// ---- the signed revision ----

// inheritable returns the page attributes a page takes from its
// ancestors (a function, not a variable: no package-level mutable state).
func inheritable() [4]pdf.Name { return [4]pdf.Name{"Resources", "MediaBox", "CropBox", "Rotate"} }

// revision is what the comparison knows about one revision: the page tree
// for both, and for the signed one the role of each structural object.
type revision struct {
	r       *pdf.Reader
	trailer pdf.Dict
	root    pdf.Ref
	catalog pdf.Dict

	pages     []pdf.Ref
	pageNum   map[pdf.Ref]int // 1-based
	inherited map[pdf.Ref]pdf.Dict
	nodes     map[pdf.Ref]*pageNode
	// kidsArrays are indirect /Kids arrays of page tree nodes.
	kidsArrays map[pdf.Ref]bool
	pageErr    error

	// Signed revision only.
	annots      map[pdf.Ref]pdf.Ref // annotation → page
	annotArrays map[pdf.Ref]pdf.Ref // indirect /Annots array → page
	acroForm    pdf.Ref
	fieldsArray pdf.Ref
	fields      map[pdf.Ref]*fieldInfo
	fieldNames  map[string]*fieldInfo
	sigValues   map[pdf.Ref]string // signature dictionary → field name
	docMDP      int
}

// pageNode is an intermediate node of the page tree.
type pageNode struct {
	count int // pages under it
}

// fieldInfo is a field, or a widget of one, in the signed revision.
type fieldInfo struct {
	name       string
	sig        bool
	signed     bool // a signature field with a value
	widgetOnly bool // a widget kid without a name of its own
	dict       pdf.Dict
}

// readRevision reads the signed revision: catalog, pages, annotations,
// fields and permissions.
func readRevision(r *pdf.Reader) (*revision, error) {
	rv := &revision{r: r, trailer: r.Trailer()}
	if err := rv.readCatalog(); err != nil {
		return nil, err
	}
	if err := rv.walkPages(); err != nil {
		return nil, fmt.Errorf("page tree: %w", err)
	}
	rv.readAnnots()
	rv.readFields()
	d := &document{r: r, trailer: rv.trailer, rootRef: rv.root, catalog: rv.catalog}
	if err := d.readDocMDP(); err != nil {
		return nil, fmt.Errorf("DocMDP: %w", err)
	}
	rv.docMDP = d.docMDP
	return rv, nil
}

func (rv *revision) readCatalog() error {
	ref, ok := rv.trailer["Root"].(pdf.Ref)
	if !ok {
		return fmt.Errorf("the trailer has no /Root reference")
	}
	o, err := rv.r.Resolve(ref)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", objectDesc(ref), err)
	}
	d, ok := o.(pdf.Dict)
	if !ok {
		return fmt.Errorf("catalog %s is not a dictionary", objectDesc(ref))
	}
	rv.root, rv.catalog = ref, d
	return nil
}

// walkPages lists the pages in order with what each inherits.
func (rv *revision) walkPages() error {
	rv.pageNum = map[pdf.Ref]int{}
	rv.inherited = map[pdf.Ref]pdf.Dict{}
	rv.nodes = map[pdf.Ref]*pageNode{}
	rv.kidsArrays = map[pdf.Ref]bool{}
	root, ok := rv.catalog["Pages"].(pdf.Ref)
	if !ok {
		return fmt.Errorf("the catalog has no /Pages reference")
	}
	seen := map[pdf.Ref]bool{}
	var walk func(ref pdf.Ref, inh pdf.Dict, depth int) error
	walk = func(ref pdf.Ref, inh pdf.Dict, depth int) error {
		if depth > maxTreeDepth {
			return fmt.Errorf("deeper than %d levels", maxTreeDepth)
		}
		if seen[ref] {
			return fmt.Errorf("%s appears twice", objectDesc(ref))
		}
		seen[ref] = true
		o, err := rv.r.Resolve(ref)
		if err != nil {
			return fmt.Errorf("%s: %w", objectDesc(ref), err)
		}
		d, ok := o.(pdf.Dict)
		if !ok {
			return fmt.Errorf("%s is not a dictionary", objectDesc(ref))
		}
		eff := make(pdf.Dict, len(inh)+4)
		for k, v := range inh {
			eff[k] = v
		}
		for _, k := range inheritable() {
			if v, ok := d[k]; ok {
				eff[k] = v
			}
		}
		t, _ := d.GetName("Type")
		if t == "Page" || (t != "Pages" && d["Kids"] == nil) {
			if len(rv.pages) >= maxPages {
				return fmt.Errorf("more than %d pages", maxPages)
			}
			rv.pages = append(rv.pages, ref)
			rv.pageNum[ref] = len(rv.pages)
			rv.inherited[ref] = eff
			return nil
		}
		if kr, ok := d["Kids"].(pdf.Ref); ok {
			rv.kidsArrays[kr] = true
		}
		ko, err := rv.r.Resolve(d.Get("Kids"))
		if err != nil {
			return fmt.Errorf("/Kids of %s: %w", objectDesc(ref), err)
		}
		kids, _ := ko.(pdf.Array)
		first := len(rv.pages)
		for _, k := range kids {
			kref, ok := k.(pdf.Ref)
			if !ok {
				return fmt.Errorf("%s has a direct kid", objectDesc(ref))
			}
			if err := walk(kref, eff, depth+1); err != nil {
				return err
			}
		}
		rv.nodes[ref] = &pageNode{count: len(rv.pages) - first}
		return nil
	}
	return walk(root, pdf.Dict{}, 0)
}

// readAnnots maps each page's annotations (and indirect /Annots arrays)
// to the page.
func (rv *revision) readAnnots() {
	rv.annots = map[pdf.Ref]pdf.Ref{}
	rv.annotArrays = map[pdf.Ref]pdf.Ref{}
	for _, p := range rv.pages {
		o, err := rv.r.Resolve(p)
		if err != nil {
			continue
		}
		d, _ := o.(pdf.Dict)
		if ar, ok := d["Annots"].(pdf.Ref); ok {
			rv.annotArrays[ar] = p
		}
		ao, err := rv.r.Resolve(d.Get("Annots"))
		if err != nil {
			continue
		}
		arr, _ := ao.(pdf.Array)
		for _, a := range arr {
			if ar, ok := a.(pdf.Ref); ok {
				if _, dup := rv.annots[ar]; !dup {
					rv.annots[ar] = p
				}
			}
		}
	}
}

// readFields maps the field tree: field and widget dictionaries, their
// names, and the values of signature fields.
func (rv *revision) readFields() {
	rv.fields = map[pdf.Ref]*fieldInfo{}
	rv.fieldNames = map[string]*fieldInfo{}
	rv.sigValues = map[pdf.Ref]string{}
	afo, ok := rv.catalog["AcroForm"]
	if !ok {
		return
	}
	if ref, ok := afo.(pdf.Ref); ok {
		rv.acroForm = ref
	}
	o, err := rv.r.Resolve(afo)
	if err != nil {
		return
	}
	af, _ := dictOf(o)
	if ref, ok := af["Fields"].(pdf.Ref); ok {
		rv.fieldsArray = ref
	}
	fo, err := rv.r.Resolve(af.Get("Fields"))
	if err != nil {
		return
	}
	fields, _ := fo.(pdf.Array)
	type item struct {
		o      pdf.Object
		prefix string
		ft     pdf.Name
		v      pdf.Object
		depth  int
	}
	stack := make([]item, 0, len(fields))
	for i := len(fields) - 1; i >= 0; i-- {
		stack = append(stack, item{o: fields[i]})
	}
	seen := map[pdf.Ref]bool{}
	for n := 0; len(stack) > 0 && n <= maxFields; n++ {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ref, isRef := it.o.(pdf.Ref)
		if isRef {
			if seen[ref] {
				continue
			}
			seen[ref] = true
		}
		o, err := rv.r.Resolve(it.o)
		if err != nil || it.depth > maxTreeDepth {
			continue
		}
		d, ok := dictOf(o)
		if !ok {
			continue
		}
		name := it.prefix
		t, named := d.GetString("T")
		if named {
			if name != "" {
				name += "."
			}
			name += decodeText(t.Bytes)
		}
		ft := it.ft
		if v, ok := d.GetName("FT"); ok {
			ft = v
		}
		v := it.v
		if x, ok := d["V"]; ok {
			v = x
		}
		fi := &fieldInfo{name: name, sig: ft == "Sig", signed: ft == "Sig" && v != nil, widgetOnly: !named && it.depth > 0, dict: d}
		if isRef {
			rv.fields[ref] = fi
		}
		if _, dup := rv.fieldNames[name]; !dup && !fi.widgetOnly {
			rv.fieldNames[name] = fi
		}
		if vr, ok := d["V"].(pdf.Ref); ok && ft == "Sig" {
			rv.sigValues[vr] = name
		}
		ko, err := rv.r.Resolve(d.Get("Kids"))
		if err != nil {
			continue
		}
		kids, _ := ko.(pdf.Array)
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, item{o: kids[i], prefix: name, ft: ft, v: v, depth: it.depth + 1})
		}
	}
}

// walk maps, on first need, the objects reachable from the signed
// revision's pages, annotations, fields and catalog to what they are.
// Objects the signed revision refers to but does not define are mapped
// too: defining them later changes what the referrer means.
func (c *changeScan) walk() {
	if c.walked {
		return
	}
	c.walked = true
	c.content = map[pdf.Ref]role{}
	c.roles = map[pdf.Ref]role{}
	c.fieldPage = map[string]int{}
	c.budget = maxRoleWalk
	old := c.old

	// Page content: every key of the page but its annotations and its
	// place in the tree, and what it inherits.
	for i, p := range old.pages {
		o, err := old.r.Resolve(p)
		if err != nil {
			continue
		}
		d, _ := o.(pdf.Dict)
		keys := make([]pdf.Name, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k == "Annots" || k == "Parent" {
				continue
			}
			c.mark(c.content, d[k], role{kind: ChangePageContent, page: p, what: fmt.Sprintf("/%s of page %d", k, i+1)}, "Parent", "P", "Annots")
		}
		for _, k := range inheritable() {
			if _, own := d[k]; !own {
				c.mark(c.content, old.inherited[p].Get(string(k)), role{kind: ChangePageContent, page: p, what: fmt.Sprintf("/%s of page %d", k, i+1)}, "Parent", "P", "Annots")
			}
		}
	}
	// Structural objects keep their own judgement.
	for ref := range old.fields {
		c.roles[ref] = role{}
	}
	for ref := range old.annots {
		c.roles[ref] = role{}
	}
	// Appearances and other parts of annotations and fields.
	for _, p := range old.pages {
		for _, a := range c.pageAnnots(p) {
			if old.fields[a] != nil {
				continue
			}
			o, err := old.r.Resolve(a)
			if err != nil {
				continue
			}
			d, _ := dictOf(o)
			st, _ := d.GetName("Subtype")
			c.markKeys(d, role{kind: ChangeAnnotation, page: p, what: fmt.Sprintf("part of the /%s annotation %s on page %d", st, objectDesc(a), old.pageNum[p])}, "P", "Parent", "Popup", "IRT")
		}
	}
	fieldRefs := make([]pdf.Ref, 0, len(old.fields))
	for ref := range old.fields {
		fieldRefs = append(fieldRefs, ref)
	}
	slices.SortFunc(fieldRefs, func(a, b pdf.Ref) int { return int(a.Num) - int(b.Num) })
	for _, ref := range fieldRefs {
		fi := old.fields[ref]
		var page pdf.Ref
		if p, ok := fi.dict.GetRef("P"); ok {
			page = p
			if n := c.newPage(p); n != 0 && c.fieldPage[fi.name] == 0 {
				c.fieldPage[fi.name] = n
			}
		}
		ap := role{kind: ChangeFormFill, page: page, field: fi.name, what: fmt.Sprintf("appearance of field %q", fi.name)}
		switch {
		case fi.sig && fi.signed:
			ap.kind = ChangeFormField
		case fi.sig:
			ap.kind = ChangeSignature
		}
		c.mark(c.roles, fi.dict.Get("AP"), ap, "Parent", "P")
		if !fi.sig {
			c.mark(c.roles, fi.dict.Get("V"), role{kind: ChangeFormFill, page: page, field: fi.name, what: fmt.Sprintf("value of field %q", fi.name)}, "Parent", "P")
		}
		c.markKeys(without(fi.dict, "AP", "V"), role{kind: ChangeFormField, page: page, field: fi.name, what: fmt.Sprintf("part of field %q", fi.name)}, "Parent", "P", "Kids")
	}
	c.mark(c.roles, old.trailer.Get("Info"), role{kind: ChangeMetadata, what: "document information dictionary"})
	c.mark(c.roles, old.catalog.Get("Metadata"), role{kind: ChangeMetadata, what: "catalog /Metadata"})
	c.mark(c.roles, old.catalog.Get("DSS"), role{kind: ChangeDSS, what: "part of /DSS"})
	if afo, err := old.r.Resolve(old.catalog.Get("AcroForm")); err == nil {
		if af, ok := dictOf(afo); ok {
			c.markKeys(without(af, "Fields"), role{kind: ChangeFormField, what: "part of /AcroForm"})
		}
	}
	c.markKeys(without(old.catalog, "Pages", "AcroForm", "DSS", "Metadata"), role{kind: ChangeCatalog, what: "reachable from the catalog"})
}

// pageAnnots returns the annotation references of a page of the signed
// revision.
func (c *changeScan) pageAnnots(p pdf.Ref) []pdf.Ref {
	o, err := c.old.r.Resolve(p)
	if err != nil {
		return nil
	}
	d, _ := o.(pdf.Dict)
	ao, err := c.old.r.Resolve(d.Get("Annots"))
	if err != nil {
		return nil
	}
	arr, _ := ao.(pdf.Array)
	var out []pdf.Ref
	for _, a := range arr {
		if r, ok := a.(pdf.Ref); ok {
			out = append(out, r)
		}
	}
	return out
}

// markKeys marks what the values of d reach, in key order, with rl; the
// keys in skip are not followed.
func (c *changeScan) markKeys(d pdf.Dict, rl role, skip ...pdf.Name) {
	keys := make([]pdf.Name, 0, len(d))
	for k := range d {
		if !slices.Contains(skip, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.mark(c.roles, d[k], rl, skip...)
	}
}

// mark gives every object reachable from o that has no role in m yet the
// role rl, without following the keys in skip (links back up a tree).
func (c *changeScan) mark(m map[pdf.Ref]role, o pdf.Object, rl role, skip ...pdf.Name) {
	stack := []pdf.Object{o}
	for len(stack) > 0 {
		if c.budget <= 0 {
			c.exhausted = true
			return
		}
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch v := top.(type) {
		case pdf.Ref:
			if _, ok := m[v]; ok {
				continue
			}
			if v == c.old.root || c.old.pageNum[v] != 0 || c.old.nodes[v] != nil {
				continue // the document's skeleton is judged on its own
			}
			m[v] = rl
			c.budget--
			obj, err := c.old.r.Object(v)
			if err != nil {
				continue
			}
			stack = append(stack, obj)
		case pdf.Dict:
			for k, x := range v {
				if !slices.Contains(skip, k) {
					stack = append(stack, x)
				}
			}
		case *pdf.Stream:
			for k, x := range v.Dict {
				if !slices.Contains(skip, k) {
					stack = append(stack, x)
				}
			}
		case pdf.Array:
			stack = append(stack, v...)
		}
	}
}

// ---- permissions ----

// mdpRules are the permissions that bind a signature: the document's
// DocMDP level and the fields the signature locks.
type mdpRules struct {
	docMDP int
	locks  []fieldLock
}

// fieldLock is one FieldMDP or /Lock specification.
type fieldLock struct {
	action pdf.Name // All, Include or Exclude
	fields []string
}

// readRules reads the DocMDP level of the signed revision and the field
// locks of the signature in sigField: its field's /Lock and its
// signature dictionary's FieldMDP /Reference entries.
func readRules(rv *revision, sigField string) mdpRules {
	m := mdpRules{docMDP: rv.docMDP}
	fi := rv.fieldNames[sigField]
	if fi == nil || sigField == "" {
		return m
	}
	if l, ok := readLock(rv.r, fi.dict.Get("Lock")); ok {
		m.locks = append(m.locks, l)
	}
	so, err := rv.r.Resolve(fi.dict.Get("V"))
	if err != nil {
		return m
	}
	sig, _ := dictOf(so)
	ro, err := rv.r.Resolve(sig.Get("Reference"))
	if err != nil {
		return m
	}
	refs, _ := ro.(pdf.Array)
	for _, r := range refs {
		o, err := rv.r.Resolve(r)
		if err != nil {
			continue
		}
		rd, _ := dictOf(o)
		if tm, _ := rd.GetName("TransformMethod"); tm != "FieldMDP" {
			continue
		}
		if l, ok := readLock(rv.r, rd.Get("TransformParams")); ok {
			m.locks = append(m.locks, l)
		}
	}
	return m
}

// readLock reads << /Action /All|/Include|/Exclude /Fields [...] >>.
func readLock(r *pdf.Reader, o pdf.Object) (fieldLock, bool) {
	v, err := r.Resolve(o)
	if err != nil {
		return fieldLock{}, false
	}
	d, ok := dictOf(v)
	if !ok {
		return fieldLock{}, false
	}
	a, _ := d.GetName("Action")
	if a != "All" && a != "Include" && a != "Exclude" {
		return fieldLock{}, false
	}
	l := fieldLock{action: a}
	fo, err := r.Resolve(d.Get("Fields"))
	if err == nil {
		arr, _ := fo.(pdf.Array)
		for _, f := range arr {
			if fv, err := r.Resolve(f); err == nil {
				if s, ok := fv.(pdf.String); ok {
					l.fields = append(l.fields, decodeText(s.Bytes))
				}
			}
		}
	}
	return l, true
}

// locked reports whether a field is locked; naming a field locks its
// descendants too.
func (m mdpRules) locked(name string) bool {
	if name == "" {
		return false
	}
	names := func(list []string) bool {
		for _, f := range list {
			if name == f || strings.HasPrefix(name, f+".") {
				return true
			}
		}
		return false
	}
	for _, l := range m.locks {
		switch l.action {
		case "All":
			return true
		case "Include":
			if names(l.fields) {
				return true
			}
		case "Exclude":
			if !names(l.fields) {
				return true
			}
		}
	}
	return false
}

// judge says whether a change of this kind to this field is permitted,
// and if not, which rule it breaks.
func (m mdpRules) judge(kind ChangeKind, field string) (bool, string) {
	docMDP := func(allowed bool) (bool, string) {
		if allowed {
			return true, ""
		}
		return false, ViolationDocMDP
	}
	switch kind {
	case ChangeDSS, ChangeDocTimestamp:
		return true, ""
	case ChangeSignature, ChangeMetadata:
		return docMDP(m.docMDP != 1)
	case ChangeFormFill:
		if m.locked(field) {
			return false, ViolationFieldMDP
		}
		return docMDP(m.docMDP != 1)
	case ChangeAnnotation:
		return docMDP(m.docMDP == 0 || m.docMDP == 3)
	case ChangeFormField:
		if m.locked(field) {
			return false, ViolationFieldMDP
		}
	}
	return false, ViolationModified
}
