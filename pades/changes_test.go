package pades

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/internal/tsatest"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// streamObj is the body of a stream object with the right /Length.
func streamObj(dict, data string) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

// flateObj is the body of a FlateDecode stream object holding data.
func flateObj(t *testing.T, dict, data string) string {
	t.Helper()
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	if _, err := w.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("<< %s /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", dict, b.Len(), b.Bytes())
}

// Object numbers of the hand-built test document.
const (
	objCatalog   = 1
	objPages     = 2
	objPage1     = 3
	objContent1  = 4
	objFont      = 5
	objInfo      = 6
	objAcroForm  = 7
	objTextField = 8
	objTextAP    = 9
	objPage2     = 10
	objResources = 11
	objNames     = 12
	objSigField  = 13
	objContent2  = 14
	objTextAnnot = 15
	objJS        = 16
	objLast      = 16
)

// docSpec chooses the parts of the hand-built test document.
type docSpec struct {
	pages    int    // 1 or 2
	form     bool   // an AcroForm with the text field "name" on page 1
	sigLock  string // with form: an empty signature field "Approval" with this /Lock dictionary ("" for none)
	emptySig bool   // with form: the empty signature field "Approval" without /Lock
	annot    bool   // a /Text annotation on page 1
	names    bool   // a /Names tree with a document JavaScript
	dangling bool   // page 1 draws /X1, which refers to object 50, not defined
	infoIsRe bool   // the trailer's /Info is the pages' /Resources dictionary (hostile)
}

// buildDoc writes a small classic-xref PDF.
func buildDoc(spec docSpec) []byte {
	objs := map[int]string{}
	cat := "<< /Type /Catalog /Pages 2 0 R"
	if spec.form {
		cat += " /AcroForm 7 0 R"
	}
	if spec.names {
		cat += " /Names 12 0 R"
	}
	objs[objCatalog] = cat + " >>"
	kids, count := "[3 0 R]", 1
	if spec.pages == 2 {
		kids, count = "[3 0 R 10 0 R]", 2
	}
	objs[objPages] = fmt.Sprintf("<< /Type /Pages /Kids %s /Count %d /MediaBox [0 0 595 842] >>", kids, count)
	var annots []string
	if spec.form {
		annots = append(annots, "8 0 R")
		if spec.sigLock != "" || spec.emptySig {
			annots = append(annots, "13 0 R")
		}
	}
	if spec.annot {
		annots = append(annots, "15 0 R")
	}
	page1 := "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources 11 0 R"
	if len(annots) > 0 {
		page1 += " /Annots [" + strings.Join(annots, " ") + "]"
	}
	objs[objPage1] = page1 + " >>"
	content := "BT /F1 24 Tf 72 720 Td (Hello) Tj ET"
	res := "<< /Font << /F1 5 0 R >> >>"
	if spec.dangling {
		content += "\nq 100 0 0 100 72 500 cm /X1 Do Q"
		res = "<< /Font << /F1 5 0 R >> /XObject << /X1 50 0 R >> >>"
	}
	objs[objContent1] = streamObj("", content)
	objs[objFont] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
	objs[objInfo] = "<< /Title (Test letter) /Producer (kyso changes test) >>"
	fields := "[8 0 R]"
	if spec.sigLock != "" || spec.emptySig {
		fields = "[8 0 R 13 0 R]"
	}
	objs[objAcroForm] = fmt.Sprintf("<< /Fields %s /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 5 0 R >> >> >>", fields)
	objs[objTextField] = "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (Old value) /Rect [100 100 300 120] /P 3 0 R /F 4 /AP << /N 9 0 R >> >>"
	objs[objTextAP] = streamObj("/Type /XObject /Subtype /Form /BBox [0 0 200 20] /Resources << /Font << /Helv 5 0 R >> >>", "/Tx BMC BT /Helv 12 Tf 2 5 Td (Old value) Tj ET EMC")
	objs[objPage2] = "<< /Type /Page /Parent 2 0 R /Contents 14 0 R /Resources 11 0 R >>"
	objs[objResources] = res
	objs[objNames] = "<< /JavaScript << /Names [(init) 16 0 R] >> >>"
	sig := "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Approval) /Rect [0 0 0 0] /P 3 0 R /F 132"
	if spec.sigLock != "" {
		sig += " /Lock " + spec.sigLock
	}
	objs[objSigField] = sig + " >>"
	objs[objContent2] = streamObj("", "BT /F1 24 Tf 72 720 Td (Page two) Tj ET")
	objs[objTextAnnot] = "<< /Type /Annot /Subtype /Text /Rect [400 700 420 720] /Contents (A note) /P 3 0 R >>"
	objs[objJS] = "<< /S /JavaScript /JS (console.println\\(1\\)) >>"

	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, objLast+1)
	for n := 1; n <= objLast; n++ {
		offsets[n] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", n, objs[n])
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", objLast+1)
	for n := 1; n <= objLast; n++ {
		fmt.Fprintf(&b, "%010d 00000 n\r\n", offsets[n])
	}
	info := objInfo
	if spec.infoIsRe {
		info = objResources
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R /ID [<0123456789abcdef0123456789abcdef><0123456789abcdef0123456789abcdef>] >>\nstartxref\n%d\n%%%%EOF\n", objLast+1, info, xref)
	return b.Bytes()
}

// appendUpdate appends an incremental update to data that (re)defines the
// given objects, with a classic cross-reference section whose trailer has
// /Prev, /Size, /Root and /Info; trailer overrides or adds trailer entries
// (values written as is).
func appendUpdate(t *testing.T, data []byte, objs map[int]string, trailer map[string]string) []byte {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("appendUpdate: the input cannot be read: %v", err)
	}
	tr := r.Trailer()
	out := bytes.Clone(data)
	if !r.EndsWithEOL() {
		out = append(out, '\n')
	}
	nums := make([]int, 0, len(objs))
	for n := range objs {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	offsets := map[int]int{}
	for _, n := range nums {
		offsets[n] = len(out)
		out = fmt.Appendf(out, "%d 0 obj\n%s\nendobj\n", n, objs[n])
	}
	xref := len(out)
	out = append(out, "xref\n"...)
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		out = fmt.Appendf(out, "%d %d\n", nums[i], j-i+1)
		for k := i; k <= j; k++ {
			out = fmt.Appendf(out, "%010d 00000 n\r\n", offsets[nums[k]])
		}
		i = j + 1
	}
	size := int(r.Size())
	if len(nums) > 0 && nums[len(nums)-1]+1 > size {
		size = nums[len(nums)-1] + 1
	}
	entries := map[string]string{"Size": fmt.Sprint(size), "Prev": fmt.Sprint(r.StartXref())}
	for _, k := range []string{"Root", "Info"} {
		if ref, ok := tr[pdf.Name(k)].(pdf.Ref); ok {
			entries[k] = fmt.Sprintf("%d %d R", ref.Num, ref.Gen)
		}
	}
	for k, v := range trailer {
		entries[k] = v
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out = append(out, "trailer\n<<"...)
	for _, k := range keys {
		out = fmt.Appendf(out, " /%s %s", k, entries[k])
	}
	return fmt.Appendf(out, " >>\nstartxref\n%d\n%%%%EOF\n", xref)
}

// signBytes signs data with the personal test key and returns the signed
// file and where the signature's revision ends.
func signBytes(t *testing.T, data []byte, opts Options) ([]byte, int64, *Result) {
	t.Helper()
	opts.Chain = baseOptions().Chain
	var out memOutput
	res, err := Sign(testContext(t), bytes.NewReader(data), int64(len(data)), &out, fx.personal.key, fx.personal.cert, opts)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if end := res.ByteRange[2] + res.ByteRange[3]; end != int64(len(out.b)) {
		t.Fatalf("signature ends at %d, file at %d", end, len(out.b))
	}
	return out.b, int64(len(out.b)), res
}

// changesOf runs changesAfter and checks its invariants.
func changesOf(t *testing.T, data []byte, revEnd int64, field string) ([]Change, int) {
	t.Helper()
	changes, revisions, err := changesAfter(bytes.NewReader(data), int64(len(data)), revEnd, field)
	if err != nil {
		t.Fatalf("changesAfter: %v", err)
	}
	checkChangeInvariants(t, changes)
	return changes, revisions
}

func checkChangeInvariants(t *testing.T, changes []Change) {
	t.Helper()
	seenPermitted := false
	for _, c := range changes {
		if c.Detail == "" {
			t.Errorf("change without detail: %+v", c)
		}
		if c.Permitted != (c.Violation == "") {
			t.Errorf("Permitted and Violation disagree: %+v", c)
		}
		switch c.Violation {
		case "", ViolationModified, ViolationDocMDP, ViolationFieldMDP:
		default:
			t.Errorf("unknown violation %q", c.Violation)
		}
		if c.Permitted {
			seenPermitted = true
		} else if seenPermitted {
			t.Errorf("violation %+v listed after a permitted change", c)
		}
	}
}

// want is an expected change; Detail is not compared.
type want struct {
	kind      ChangeKind
	page      int
	field     string
	violation string // "" for permitted
}

func allowed(kind ChangeKind, page int, field string) want { return want{kind, page, field, ""} }

func violates(kind ChangeKind, page int, field, violation string) want {
	return want{kind, page, field, violation}
}

// expectChanges checks that got holds exactly the wanted changes.
func expectChanges(t *testing.T, got []Change, wants ...want) {
	t.Helper()
	var g []want
	for _, c := range got {
		g = append(g, want{c.Kind, c.Page, c.Field, c.Violation})
	}
	cmp := func(a, b want) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	}
	slices.SortFunc(g, cmp)
	w := slices.Clone(wants)
	slices.SortFunc(w, cmp)
	if !slices.Equal(g, w) {
		var b strings.Builder
		for _, c := range got {
			fmt.Fprintf(&b, "\n  %s page %d field %q permitted=%v %s: %s", c.Kind, c.Page, c.Field, c.Permitted, c.Violation, c.Detail)
		}
		t.Errorf("changes = %v, want %v; got in full:%s", g, w, b.String())
	}
}

func TestChangesUnchanged(t *testing.T) {
	for _, spec := range []docSpec{{pages: 1}, {pages: 2, form: true, annot: true, names: true}} {
		signed, end, _ := signBytes(t, buildDoc(spec), Options{})
		changes, revisions := changesOf(t, signed, end, "Signature1")
		if len(changes) != 0 || revisions != 0 {
			t.Errorf("%+v: unchanged signed document: changes %+v, revisions %d", spec, changes, revisions)
		}
		// White space after %%EOF is not an update.
		padded := append(bytes.Clone(signed), "\r\n\n  \n"...)
		changes, revisions = changesOf(t, padded, end, "Signature1")
		if len(changes) != 0 || revisions != 0 {
			t.Errorf("%+v: white space after the signature: changes %+v, revisions %d", spec, changes, revisions)
		}
	}
}

// TestChangesSecondSignature: a second signature is a permitted change for
// the first, on hand-built files and files from real producers.
func TestChangesSecondSignature(t *testing.T) {
	inputs := map[string][]byte{"hand-built form": buildDoc(docSpec{pages: 2, form: true, annot: true})}
	for _, name := range []string{pdfcorpus.LetterName, pdfcorpus.XRefStreamName, pdfcorpus.IncrementalXRefName, pdfcorpus.SignedName, pdfcorpus.MutoolGarbageName, pdfcorpus.LinearizedName} {
		data, err := os.ReadFile(sample(t, name))
		if err != nil {
			t.Fatal(err)
		}
		inputs[name] = data
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			first, end, res1 := signBytes(t, in, Options{})
			second, _, res2 := signBytes(t, first, Options{})
			changes, revisions := changesOf(t, second, end, res1.FieldName)
			if revisions != 1 {
				t.Errorf("revisions = %d, want 1", revisions)
			}
			expectChanges(t, changes, allowed(ChangeSignature, 1, res2.FieldName))

			// And a third, on page 2 where there is one.
			opts := Options{}
			page := 1
			if d, err := openDocument(bytes.NewReader(in), int64(len(in))); err == nil {
				if _, err := d.page(2); err == nil {
					opts.Field.Page, page = 2, 2
				}
			}
			third, _, res3 := signBytes(t, second, opts)
			changes, revisions = changesOf(t, third, end, res1.FieldName)
			if revisions != 2 {
				t.Errorf("revisions = %d, want 2", revisions)
			}
			expectChanges(t, changes, allowed(ChangeSignature, 1, res2.FieldName), allowed(ChangeSignature, page, res3.FieldName))
		})
	}
}

// TestChangesLTV: DSS and a document timestamp are permitted, even under
// DocMDP P=1.
func TestChangesLTV(t *testing.T) {
	srv := tsatest.Start(t, fx.pki, tsatest.Options{})
	tsa := &cms.TSA{URL: srv.URL, Timeout: 30 * time.Second}
	for _, certify := range []DocMDP{0, NoChanges, FormFillAndSign} {
		t.Run(fmt.Sprintf("P=%d", certify), func(t *testing.T) {
			signed, end, res := signBytes(t, buildDoc(docSpec{pages: 1, form: true}), Options{Certify: certify})
			var lt memOutput
			if _, err := AddDSS(testContext(t), bytes.NewReader(signed), int64(len(signed)), &lt, DSSUpdate{
				Data:       ValidationData{Certificates: [][]byte{fx.pki.Intermediate.Cert.Raw}},
				Signatures: []SignatureValidation{{Contents: res.CMS, Data: ValidationData{Certificates: [][]byte{fx.personal.cert.Raw}}}},
			}); err != nil {
				t.Fatal(err)
			}
			changes, revisions := changesOf(t, lt.b, end, res.FieldName)
			if revisions != 1 {
				t.Errorf("revisions = %d, want 1", revisions)
			}
			expectChanges(t, changes, allowed(ChangeDSS, 0, ""))

			var lta memOutput
			tres, err := AddDocTimestamp(testContext(t), bytes.NewReader(lt.b), int64(len(lt.b)), &lta, DocTimestampOptions{TSA: tsa})
			if err != nil {
				t.Fatal(err)
			}
			changes, revisions = changesOf(t, lta.b, end, res.FieldName)
			if revisions != 2 {
				t.Errorf("revisions = %d, want 2", revisions)
			}
			expectChanges(t, changes, allowed(ChangeDSS, 0, ""), allowed(ChangeDocTimestamp, 1, tres.FieldName))
		})
	}
}

// TestChangesAfterSigning covers updates to a signed (not certified)
// document, one table entry per kind of change.
func TestChangesAfterSigning(t *testing.T) {
	const mod = ViolationModified
	tests := []struct {
		name    string
		spec    docSpec
		objs    map[int]string
		trailer map[string]string
		want    []want
	}{
		{
			name: "page content replaced by a new stream",
			objs: map[int]string{
				objPage1: "<< /Type /Page /Parent 2 0 R /Contents 40 0 R /Resources 11 0 R /Annots [SIGWIDGET] >>",
				40:       streamObj("", "BT /F1 24 Tf 72 720 Td (Goodbye) Tj ET"),
			},
			want: []want{violates(ChangePageContent, 1, "", mod)},
		},
		{
			name: "page content rewritten in place",
			objs: map[int]string{objContent1: streamObj("", "BT /F1 24 Tf 72 720 Td (Goodbye) Tj ET")},
			want: []want{violates(ChangePageContent, 1, "", mod)},
		},
		{
			name: "content stream of page 2 rewritten in place",
			spec: docSpec{pages: 2},
			objs: map[int]string{objContent2: streamObj("", "BT /F1 24 Tf 72 720 Td (Page 2 changed) Tj ET")},
			want: []want{violates(ChangePageContent, 2, "", mod)},
		},
		{
			name: "shared font rewritten",
			objs: map[int]string{objFont: "<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>"},
			want: []want{violates(ChangePageContent, 1, "", mod)},
		},
		{
			name: "resources gain an XObject",
			objs: map[int]string{
				objResources: "<< /Font << /F1 5 0 R >> /XObject << /X9 40 0 R >> >>",
				40:           streamObj("/Type /XObject /Subtype /Form /BBox [0 0 10 10]", "0 0 10 10 re f"),
			},
			want: []want{violates(ChangePageContent, 1, "", mod)},
		},
		{
			name: "page rotated",
			objs: map[int]string{objPage1: "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources 11 0 R /Rotate 90 /Annots [SIGWIDGET] >>"},
			want: []want{violates(ChangePageContent, 1, "", mod)},
		},
		{
			name: "inherited media box changed for both pages",
			spec: docSpec{pages: 2},
			objs: map[int]string{objPages: "<< /Type /Pages /Kids [3 0 R 10 0 R] /Count 2 /MediaBox [0 0 842 595] >>"},
			want: []want{violates(ChangePageContent, 1, "", mod), violates(ChangePageContent, 2, "", mod)},
		},
		{
			name: "an object the page referred to but did not define is defined",
			spec: docSpec{dangling: true},
			objs: map[int]string{50: streamObj("/Type /XObject /Subtype /Form /BBox [0 0 1 1]", "0 0 1 1 re f")},
			want: []want{violates(ChangePageContent, 1, "", mod)},
		},
		{
			name: "the information dictionary doubles as resources",
			spec: docSpec{infoIsRe: true},
			objs: map[int]string{objResources: "<< /Font << /F1 5 0 R >> /Title (x) >>"},
			want: []want{violates(ChangePageContent, 1, "", mod), allowed(ChangeMetadata, 0, "")},
		},
		{
			name: "page added",
			objs: map[int]string{
				objPages: "<< /Type /Pages /Kids [3 0 R 10 0 R] /Count 2 /MediaBox [0 0 595 842] >>",
			},
			want: []want{violates(ChangePagesAdded, 2, "", mod)},
		},
		{
			name: "page removed",
			spec: docSpec{pages: 2},
			objs: map[int]string{objPages: "<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>"},
			want: []want{violates(ChangePagesRemoved, 0, "", mod)},
		},
		{
			name: "pages reordered",
			spec: docSpec{pages: 2},
			objs: map[int]string{objPages: "<< /Type /Pages /Kids [10 0 R 3 0 R] /Count 2 /MediaBox [0 0 595 842] >>"},
			want: []want{violates(ChangePageContent, 1, "", mod)},
		},
		{
			name: "page count lies",
			spec: docSpec{pages: 2},
			objs: map[int]string{objPages: "<< /Type /Pages /Kids [3 0 R 10 0 R] /Count 1 /MediaBox [0 0 595 842] >>"},
			want: []want{violates(ChangeOther, 0, "", mod)},
		},
		{
			name: "catalog gains /OpenAction",
			objs: map[int]string{
				objCatalog: "<< /Type /Catalog /Pages 2 0 R /AcroForm 41 0 R /OpenAction 40 0 R >>",
				40:         "<< /S /JavaScript /JS (app.alert\\(1\\)) >>",
			},
			want: []want{violates(ChangeCatalog, 0, "", mod)},
		},
		{
			name: "catalog gains document JavaScript",
			objs: map[int]string{
				objCatalog: "<< /Type /Catalog /Pages 2 0 R /AcroForm 41 0 R /Names << /JavaScript << /Names [(x) 40 0 R] >> >> >>",
				40:         "<< /S /JavaScript /JS (app.alert\\(1\\)) >>",
			},
			want: []want{violates(ChangeCatalog, 0, "", mod)},
		},
		{
			name: "existing document JavaScript rewritten in place",
			spec: docSpec{names: true},
			objs: map[int]string{objJS: "<< /S /JavaScript /JS (app.alert\\(2\\)) >>"},
			want: []want{violates(ChangeCatalog, 0, "", mod)},
		},
		{
			name: "annotation added",
			objs: map[int]string{
				objPage1: "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources 11 0 R /Annots [SIGWIDGET 40 0 R] >>",
				40:       "<< /Type /Annot /Subtype /Square /Rect [10 10 50 50] /P 3 0 R >>",
			},
			want: []want{allowed(ChangeAnnotation, 1, "")},
		},
		{
			name: "existing markup annotation changed",
			spec: docSpec{annot: true},
			objs: map[int]string{objTextAnnot: "<< /Type /Annot /Subtype /Text /Rect [400 700 420 720] /Contents (Another note) /P 3 0 R >>"},
			want: []want{allowed(ChangeAnnotation, 1, "")},
		},
		{
			name: "annotation removed",
			spec: docSpec{annot: true},
			objs: map[int]string{objPage1: "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources 11 0 R /Annots [SIGWIDGET] >>"},
			want: []want{violates(ChangeAnnotationRemoved, 1, "", mod)},
		},
		{
			name: "form filled",
			spec: docSpec{form: true},
			objs: map[int]string{
				objTextField: "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (New value) /Rect [100 100 300 120] /P 3 0 R /F 4 /AP << /N 40 0 R >> >>",
				40:           streamObj("/Type /XObject /Subtype /Form /BBox [0 0 200 20]", "/Tx BMC BT /Helv 12 Tf 2 5 Td (New value) Tj ET EMC"),
			},
			want: []want{allowed(ChangeFormFill, 1, "name")},
		},
		{
			name: "field appearance rewritten in place",
			spec: docSpec{form: true},
			objs: map[int]string{objTextAP: streamObj("/Type /XObject /Subtype /Form /BBox [0 0 200 20]", "/Tx BMC BT /Helv 12 Tf 2 5 Td (Other) Tj ET EMC")},
			want: []want{allowed(ChangeFormFill, 1, "name")},
		},
		{
			name: "field moved",
			spec: docSpec{form: true},
			objs: map[int]string{objTextField: "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (Old value) /Rect [100 400 300 420] /P 3 0 R /F 4 /AP << /N 9 0 R >> >>"},
			want: []want{violates(ChangeFormField, 1, "name", mod)},
		},
		{
			name: "text field added",
			spec: docSpec{form: true},
			objs: map[int]string{
				objAcroForm: "<< /Fields [8 0 R SIGWIDGET 40 0 R] /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 5 0 R >> >> /SigFlags 3 >>",
				objPage1:    "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources 11 0 R /Annots [8 0 R SIGWIDGET 40 0 R] >>",
				40:          "<< /Type /Annot /Subtype /Widget /FT /Tx /T (extra) /V (x) /Rect [100 200 300 220] /P 3 0 R >>",
			},
			want: []want{violates(ChangeFormField, 1, "extra", mod)},
		},
		{
			name: "text field removed",
			spec: docSpec{form: true},
			objs: map[int]string{
				objAcroForm: "<< /Fields [SIGWIDGET] /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 5 0 R >> >> /SigFlags 3 >>",
			},
			want: []want{violates(ChangeFormField, 0, "name", mod)},
		},
		{
			name: "form default resources extended",
			spec: docSpec{form: true},
			objs: map[int]string{
				objAcroForm: "<< /Fields [8 0 R SIGWIDGET] /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 5 0 R /ZaDb 40 0 R >> >> /SigFlags 3 /NeedAppearances false >>",
				40:          "<< /Type /Font /Subtype /Type1 /BaseFont /ZapfDingbats >>",
			},
		},
		{
			name: "information dictionary rewritten",
			objs: map[int]string{objInfo: "<< /Title (Another title) /Producer (kyso changes test) /ModDate (D:20261122140509+07'00') >>"},
			want: []want{allowed(ChangeMetadata, 0, "")},
		},
		{
			name:    "new information dictionary",
			objs:    map[int]string{40: "<< /Title (Another title) >>"},
			trailer: map[string]string{"Info": "40 0 R"},
			want:    []want{allowed(ChangeMetadata, 0, "")},
		},
		{
			name: "identical rewrites",
			spec: docSpec{pages: 2, annot: true},
			objs: map[int]string{
				objPages:     "<<\n/MediaBox [0 0 595.0 842] /Count 2 /Type /Pages /Kids [3 0 R 10 0 R]>>",
				objContent2:  "FLATE",
				objFont:      "<</Encoding/WinAnsiEncoding/BaseFont/Helvetica/Subtype/Type1/Type/Font>>",
				objTextAnnot: "<< /Type /Annot /Subtype /Text /Rect [400 700 420 720] /Contents <41206e6f7465> /P 3 0 R >>",
				40:           "<< /Unused true >>",
			},
		},
		{
			name:    "encryption added",
			objs:    map[int]string{40: "<< /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>"},
			trailer: map[string]string{"Encrypt": "40 0 R"},
			want:    []want{violates(ChangeOther, 0, "", mod)},
		},
		{
			name: "an unreferenced old object rewritten",
			objs: map[int]string{objPage2: "<< /Type /Page /Parent 2 0 R /Contents 14 0 R /Resources 11 0 R /Rotate 180 >>"},
			want: []want{violates(ChangeOther, 0, "", mod)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.spec.pages == 0 {
				tt.spec.pages = 1
			}
			signed, end, res := signBytes(t, buildDoc(tt.spec), Options{})
			// The signature's widget is the last annotation on page 1 and
			// the last field; updates that rewrite those lists keep it.
			sigWidget := lastAnnot(t, signed)
			objs := map[int]string{}
			for n, body := range tt.objs {
				if body == "FLATE" {
					body = flateObj(t, "", "BT /F1 24 Tf 72 720 Td (Page two) Tj ET")
				}
				objs[n] = strings.ReplaceAll(body, "SIGWIDGET", sigWidget)
			}
			if _, ok := objs[41]; !ok && strings.Contains(objs[objCatalog], "41 0 R") {
				// The catalog of the signed file names the AcroForm kyso
				// created; keep it under the number it has.
				objs[objCatalog] = strings.ReplaceAll(objs[objCatalog], "41 0 R", acroFormRef(t, signed))
			}
			updated := appendUpdate(t, signed, objs, tt.trailer)
			changes, revisions := changesOf(t, updated, end, res.FieldName)
			if revisions != 1 {
				t.Errorf("revisions = %d, want 1", revisions)
			}
			expectChanges(t, changes, tt.want...)
		})
	}
}

// lastAnnot returns the reference of the last annotation of page 1, as
// "n g R".
func lastAnnot(t *testing.T, data []byte) string {
	t.Helper()
	d, err := openDocument(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.page(1)
	if err != nil {
		t.Fatal(err)
	}
	arr, err := d.array(p.dict["Annots"])
	if err != nil || len(arr) == 0 {
		t.Fatalf("page 1 has no annotations: %v", err)
	}
	r, ok := arr[len(arr)-1].(pdf.Ref)
	if !ok {
		t.Fatal("direct annotation")
	}
	return fmt.Sprintf("%d %d R", r.Num, r.Gen)
}

// acroFormRef returns the catalog's /AcroForm reference as "n g R".
func acroFormRef(t *testing.T, data []byte) string {
	t.Helper()
	d, err := openDocument(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := d.catalog["AcroForm"].(pdf.Ref)
	if !ok {
		t.Fatal("no indirect /AcroForm")
	}
	return fmt.Sprintf("%d %d R", r.Num, r.Gen)
}

// TestChangesFieldMDP: a signature that locks fields makes filling them a
// FieldMDP violation. The signature is written by hand into the empty
// field "Approval", with the lock in the field's /Lock or in a FieldMDP
// /Reference of the signature dictionary.
func TestChangesFieldMDP(t *testing.T) {
	fieldMDP := func(params string) string {
		return "<< /Type /SigRef /TransformMethod /FieldMDP /TransformParams << /Type /TransformParams /V /1.2 " + params + " >> >>"
	}
	tests := []struct {
		name      string
		lock      string // the field's /Lock
		reference string // the signature dictionary's /Reference entry
		violation string // of filling "name"
	}{
		{"no lock", "", "", ""},
		{"/Lock includes the field", "<< /Type /SigFieldLock /Action /Include /Fields [(name)] >>", "", ViolationFieldMDP},
		{"/Lock includes another field", "<< /Type /SigFieldLock /Action /Include /Fields [(other)] >>", "", ""},
		{"/Lock excludes the field", "<< /Type /SigFieldLock /Action /Exclude /Fields [(name)] >>", "", ""},
		{"/Lock excludes another field", "<< /Type /SigFieldLock /Action /Exclude /Fields [(other)] >>", "", ViolationFieldMDP},
		{"/Lock all", "<< /Type /SigFieldLock /Action /All >>", "", ViolationFieldMDP},
		{"FieldMDP includes the field", "", fieldMDP("/Action /Include /Fields [(name)]"), ViolationFieldMDP},
		{"FieldMDP all", "", fieldMDP("/Action /All"), ViolationFieldMDP},
		{"FieldMDP excludes the field", "", fieldMDP("/Action /Exclude /Fields [(name)]"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := buildDoc(docSpec{pages: 1, form: true, sigLock: tt.lock, emptySig: true})
			sig := "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 0 0 0] /Contents <00>"
			if tt.reference != "" {
				sig += " /Reference [" + tt.reference + "]"
			}
			field := "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Approval) /Rect [0 0 0 0] /P 3 0 R /F 132 /V 40 0 R"
			if tt.lock != "" {
				field += " /Lock " + tt.lock
			}
			signed := appendUpdate(t, base, map[int]string{objSigField: field + " >>", 40: sig + " >>"}, nil)

			// Signing the empty field is itself a permitted change.
			changes, revisions := changesOf(t, signed, int64(len(base)), "")
			if revisions != 1 {
				t.Errorf("revisions = %d, want 1", revisions)
			}
			expectChanges(t, changes, allowed(ChangeSignature, 1, "Approval"))

			filled := appendUpdate(t, signed, map[int]string{
				objTextField: "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (New value) /Rect [100 100 300 120] /P 3 0 R /F 4 /AP << /N 9 0 R >> >>",
			}, nil)
			changes, _ = changesOf(t, filled, int64(len(signed)), "Approval")
			expectChanges(t, changes, want{ChangeFormFill, 1, "name", tt.violation})

			moved := appendUpdate(t, signed, map[int]string{
				objTextField: "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (Old value) /Rect [100 300 300 320] /P 3 0 R /F 4 /AP << /N 9 0 R >> >>",
			}, nil)
			changes, _ = changesOf(t, moved, int64(len(signed)), "Approval")
			v := ViolationModified
			if tt.violation != "" {
				v = tt.violation
			}
			expectChanges(t, changes, violates(ChangeFormField, 1, "name", v))
		})
	}
}

// TestChangesDocMDP: what a certification signature's level allows.
func TestChangesDocMDP(t *testing.T) {
	annotation := func(sigWidget string) map[int]string {
		return map[int]string{
			objPage1: "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources 11 0 R /Annots [8 0 R " + sigWidget + " 40 0 R] >>",
			40:       "<< /Type /Annot /Subtype /Text /Rect [10 10 30 30] /Contents (Looks good) /P 3 0 R >>",
		}
	}
	fill := func(string) map[int]string {
		return map[int]string{objTextField: "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (New value) /Rect [100 100 300 120] /P 3 0 R /F 4 /AP << /N 9 0 R >> >>"}
	}
	info := func(string) map[int]string {
		return map[int]string{objInfo: "<< /Title (Changed) >>"}
	}
	content := func(string) map[int]string {
		return map[int]string{objContent1: streamObj("", "BT /F1 24 Tf 72 720 Td (Changed) Tj ET")}
	}
	tests := []struct {
		p      DocMDP
		update func(sigWidget string) map[int]string
		want   want
	}{
		{FormFillAndSign, annotation, violates(ChangeAnnotation, 1, "", ViolationDocMDP)},
		{AnnotateFillSign, annotation, allowed(ChangeAnnotation, 1, "")},
		{NoChanges, annotation, violates(ChangeAnnotation, 1, "", ViolationDocMDP)},
		{FormFillAndSign, fill, allowed(ChangeFormFill, 1, "name")},
		{NoChanges, fill, violates(ChangeFormFill, 1, "name", ViolationDocMDP)},
		{FormFillAndSign, info, allowed(ChangeMetadata, 0, "")},
		{NoChanges, info, violates(ChangeMetadata, 0, "", ViolationDocMDP)},
		{AnnotateFillSign, content, violates(ChangePageContent, 1, "", ViolationModified)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("P=%d %s", tt.p, tt.want.kind), func(t *testing.T) {
			signed, end, res := signBytes(t, buildDoc(docSpec{pages: 1, form: true}), Options{Certify: tt.p})
			updated := appendUpdate(t, signed, tt.update(lastAnnot(t, signed)), nil)
			changes, _ := changesOf(t, updated, end, res.FieldName)
			expectChanges(t, changes, tt.want)
		})
	}
	// A later signature breaks P=1 (kyso refuses to make one, so it is
	// written by hand).
	signed, end, res := signBytes(t, buildDoc(docSpec{pages: 1, form: true, emptySig: true}), Options{Certify: NoChanges})
	updated := appendUpdate(t, signed, map[int]string{
		objSigField: "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Approval) /Rect [0 0 0 0] /P 3 0 R /F 132 /V 40 0 R >>",
		40:          "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 0 0 0] /Contents <00> >>",
	}, nil)
	changes, _ := changesOf(t, updated, end, res.FieldName)
	expectChanges(t, changes, violates(ChangeSignature, 1, "Approval", ViolationDocMDP))
}

// TestChangesRevisions counts several updates and deduplicates a page
// rewritten over and over.
func TestChangesRevisions(t *testing.T) {
	signed, end, res := signBytes(t, buildDoc(docSpec{pages: 1}), Options{})
	data := signed
	for i := range 5 {
		data = appendUpdate(t, data, map[int]string{
			objContent1:  streamObj("", fmt.Sprintf("BT /F1 24 Tf 72 720 Td (Version %d) Tj ET", i)),
			objResources: fmt.Sprintf("<< /Font << /F1 5 0 R >> /ExtGState << /G%d << /CA 0.5 >> >> >>", i),
			objFont:      "<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>",
		}, nil)
	}
	changes, revisions := changesOf(t, data, end, res.FieldName)
	if revisions != 5 {
		t.Errorf("revisions = %d, want 5", revisions)
	}
	expectChanges(t, changes, violates(ChangePageContent, 1, "", ViolationModified))
}

// TestChangesHostile: broken or hostile updates give an error or an
// "other" violation, never a panic or a clean bill.
func TestChangesHostile(t *testing.T) {
	signed, end, res := signBytes(t, buildDoc(docSpec{pages: 2, form: true, annot: true}), Options{})
	valid := appendUpdate(t, signed, map[int]string{objContent1: streamObj("", "BT /F1 24 Tf 72 720 Td (Changed) Tj ET")}, nil)

	t.Run("garbage appended", func(t *testing.T) {
		for _, junk := range []string{"garbage", strings.Repeat("garbage \x00\xff ", 1000), "1 0 obj\n<< /Type /Catalog >>\nendobj\n", "startxref\n12\n%%EOF\n"} {
			changes, _ := changesOf(t, append(bytes.Clone(signed), junk...), end, res.FieldName)
			expectChanges(t, changes, violates(ChangeOther, 0, "", ViolationModified))
		}
	})
	t.Run("cross-reference pointing at garbage", func(t *testing.T) {
		data := bytes.Clone(signed)
		xref := len(data)
		data = fmt.Appendf(data, "xref\n4 1\n%010d 00000 n\r\ntrailer\n<< /Size 100 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", 10, lastStartxref(t, signed), xref)
		changes, _ := changesOf(t, data, end, res.FieldName)
		if len(changes) == 0 || changes[0].Permitted || changes[0].Kind != ChangeOther {
			t.Errorf("changes = %+v, want an other violation first", changes)
		}
	})
	t.Run("catalog replaced by a number", func(t *testing.T) {
		changes, _ := changesOf(t, appendUpdate(t, signed, map[int]string{objCatalog: "42"}, nil), end, res.FieldName)
		expectChanges(t, changes, violates(ChangeOther, 0, "", ViolationModified))
	})
	t.Run("page tree loop", func(t *testing.T) {
		changes, _ := changesOf(t, appendUpdate(t, signed, map[int]string{objPages: "<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>"}, nil), end, res.FieldName)
		if len(changes) == 0 || changes[0].Permitted {
			t.Errorf("changes = %+v, want a violation", changes)
		}
	})
	t.Run("prev loop", func(t *testing.T) {
		data := bytes.Clone(signed)
		xref := len(data)
		data = fmt.Appendf(data, "xref\n0 0\ntrailer\n<< /Size 100 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", xref, xref)
		changes, _ := changesOf(t, data, end, res.FieldName)
		expectChanges(t, changes, violates(ChangeOther, 0, "", ViolationModified))
	})
	t.Run("bad revision ends", func(t *testing.T) {
		for _, e := range []int64{0, -1, int64(len(valid)) + 1, 100, end - 10} {
			if _, _, err := changesAfter(bytes.NewReader(valid), int64(len(valid)), e, res.FieldName); err == nil {
				t.Errorf("revEnd %d: no error", e)
			}
		}
	})
	t.Run("truncated update", func(t *testing.T) {
		for cut := int(end) + 1; cut < len(valid); cut += 7 {
			changes, _, err := changesAfter(bytes.NewReader(valid[:cut]), int64(cut), end, res.FieldName)
			if err != nil {
				continue
			}
			checkChangeInvariants(t, changes)
			if len(changes) == 0 || changes[0].Permitted {
				t.Fatalf("cut at %d: changes = %+v, want a violation", cut, changes)
			}
		}
	})
	t.Run("mutated update", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for range 500 {
			data := bytes.Clone(valid)
			for range 1 + rng.IntN(8) {
				i := int(end) + rng.IntN(len(data)-int(end))
				data[i] = byte(rng.UintN(256))
			}
			changes, _, err := changesAfter(bytes.NewReader(data), int64(len(data)), end, res.FieldName)
			if err == nil {
				checkChangeInvariants(t, changes)
			}
		}
	})
}

// lastStartxref returns the offset the final startxref of data names.
func lastStartxref(t *testing.T, data []byte) int64 {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return r.StartXref()
}
