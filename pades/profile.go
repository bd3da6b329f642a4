package pades

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades/internal/appearance"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
	"github.com/kyso-vn/kyso/pades/internal/pdftext"
)

// Profile names the legal form of a signature under Nghị định 30/2020,
// with the verbs of the Government CA's browser plugin that DMS code
// already calls.
type Profile string

// Profiles.
const (
	// ProfileApproved is the competent person's signature: the signature
	// image in the box between the title and the printed name.
	ProfileApproved Profile = "approved"
	// ProfileIssued is the organisation's signature on a main document:
	// earlier signatures checked, the number and date written, the seal at
	// real size over the left third of the leader's signature.
	ProfileIssued Profile = "issued"
	// ProfileAppendix is the organisation's signature on an appendix in a
	// separate file: number and ISO 8601 time at the top right of page 1.
	ProfileAppendix Profile = "appendix"
	// ProfileCopy is an electronic copy (SAO Y, SAO LỤC, TRÍCH SAO): the
	// copy form, the copying organisation and the time, top right.
	ProfileCopy Profile = "copy"
	// ProfileComment is a reviewer's signature: invisible by default.
	ProfileComment Profile = "comment"
	// ProfileIncome is the receiving office's stamp on an incoming
	// document ("ĐẾN", the arrival number and date) in a framed box.
	ProfileIncome Profile = "income"
)

// SignerKind says whose certificate signs: a person's or an
// organisation's. Callers classify certificates (kyso's token package does
// it from the Vietnamese identity numbers); pades only applies the rules.
type SignerKind int

// Signer kinds.
const (
	KindUnknown SignerKind = iota
	KindPersonal
	KindOrganisation
)

// CodeOrder and CodeBrokenSignature are the profile refusals.
const (
	// CodeOrder: the signature would break the legal order — an
	// organisation signature by a person's certificate, or a personal
	// approval after the organisation has issued the document.
	CodeOrder Code = "SIGNING_ORDER"
	// CodeBrokenSignature: an earlier signature is broken, so the
	// document must not be issued as if nothing happened.
	CodeBrokenSignature Code = "BROKEN_SIGNATURE"
)

// ProfileRequest is what a caller asks for; Apply turns it into Options.
type ProfileRequest struct {
	Profile Profile
	// Signer is the kind of the certificate that will sign.
	Signer SignerKind
	// Classify tells the kind of an earlier signer's certificate, for the
	// order rules; nil skips the rule about earlier signers.
	Classify func(*x509.Certificate) SignerKind
	// Page carries the signature; 0 means page 1, except for issued,
	// which goes to the leader's signature's page.
	Page int
	// Place overrides the profile's placement of the main box.
	RectMM RectMM
	Anchor *Anchor

	// SignerName is the printed name under the signature block (approved:
	// the image goes above it).
	SignerName     string
	SignatureImage []byte
	// ShowNameTime adds the signer's name and the time under the image.
	ShowNameTime bool

	SealImage []byte
	// SealMM is the seal's real diameter; 0 takes it from the image's DPI.
	SealMM float64

	DocNumber  string    // "15/QĐ-UBND"
	IssuedDate time.Time // zero: the signing time
	Place      string    // "Bình Phước"
	// NumberAnchor and DateAnchor are the form lines the number and date
	// are written after; defaults "Số:" and the place followed by a comma.
	NumberAnchor, DateAnchor string

	CopyForm     string // "SAO Y" (default), "SAO LỤC", "TRÍCH SAO"
	Organisation string // the copying organisation (copy)

	// IncomeLines are the receipt stamp's lines; empty gives "ĐẾN", the
	// arrival number (DocNumber) and the date and time.
	IncomeLines []string

	// AllowOrder relaxes the order rules; AllowBroken lets issued proceed
	// over a broken earlier signature. Both exist for corrections and are
	// off by default.
	AllowOrder, AllowBroken bool
	// Time is the signing time shown in stamps; zero means now.
	Time time.Time
}

// Apply checks the request against the document and fills opts' field,
// appearance and stamps.
func (req ProfileRequest) Apply(in io.ReaderAt, size int64, opts *Options) error {
	d, err := openDocument(in, size)
	if err != nil {
		return err
	}
	// One time for /M and for every stamp that shows it.
	when := req.Time
	if when.IsZero() {
		when = opts.Time
	}
	if when.IsZero() {
		when = time.Now()
	}
	opts.Time = when
	orgProfile := req.Profile == ProfileIssued || req.Profile == ProfileAppendix || req.Profile == ProfileCopy || req.Profile == ProfileIncome
	if !req.AllowOrder {
		if orgProfile && req.Signer != KindOrganisation {
			return &Error{Code: CodeOrder, Reason: fmt.Sprintf("the %s profile needs the organisation's certificate", req.Profile)}
		}
		if (req.Profile == ProfileApproved || req.Profile == ProfileComment) && req.Signer == KindOrganisation {
			return &Error{Code: CodeOrder, Reason: fmt.Sprintf("the %s profile needs a person's certificate", req.Profile)}
		}
		if req.Profile == ProfileApproved && req.Classify != nil {
			// Only who signed matters here, not whether the bytes are
			// intact: read the certificates without hashing the document.
			for i := range d.sigFields {
				f := &d.sigFields[i]
				if c := d.signerCert(f); c != nil && req.Classify(c) == KindOrganisation {
					return &Error{Code: CodeOrder, Reason: fmt.Sprintf("the document already carries the organisation's signature (%s); a personal approval must come before it", f.name)}
				}
			}
		}
	}
	page := req.Page
	if page == 0 {
		page = 1
		if req.Profile == ProfileApproved && len(req.SignatureImage) > 0 && req.RectMM.IsZero() && req.Anchor == nil && req.SignerName != "" {
			// Callers that cannot name a page (the incumbent plugin's API
			// has no such field) still get the approval above the printed
			// name: the signature block stands at the end of a document,
			// so the last page that prints the name is the one.
			if n := d.lastPageWith(req.SignerName, maxAnchorSearchPages); n > 0 {
				page = n
			}
		}
	}
	opts.Field.Page = page
	switch req.Profile {
	case ProfileComment:
		if !req.RectMM.IsZero() || req.Anchor != nil {
			opts.Field.RectMM, opts.Field.Anchor = req.RectMM, req.Anchor
			opts.Field.Appearance = &Appearance{Text: []TextLine{{Text: "Đã xem: " + req.SignerName, X: 1, Y: 3, Size: 8, Style: Italic}}}
		}
		return nil
	case ProfileApproved:
		return req.applyApproved(opts, when)
	case ProfileIssued:
		return req.applyIssued(in, size, d, opts, when)
	case ProfileAppendix, ProfileCopy:
		return req.applyCorner(d, opts, when)
	case ProfileIncome:
		return req.applyIncome(opts, when)
	}
	return &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("unknown profile %q", req.Profile)}
}

func (req ProfileRequest) applyApproved(opts *Options, when time.Time) error {
	if len(req.SignatureImage) == 0 {
		return nil // invisible approval
	}
	const w, h = 50.0, 20.0
	switch {
	case !req.RectMM.IsZero():
		opts.Field.RectMM = req.RectMM
	case req.Anchor != nil:
		opts.Field.Anchor = req.Anchor
	case req.SignerName != "":
		// Centred above the printed name, under the title.
		opts.Field.Anchor = &Anchor{Text: req.SignerName, W: w, H: h, OffsetY: -h - 2, CenterX: true}
	default:
		return &Error{Code: CodeBadRequest, Reason: "an approval with an image needs the printed name to find its place, or a position"}
	}
	bw, bh := mmToPoints(w), mmToPoints(h)
	if !req.RectMM.IsZero() {
		bw, bh = mmToPoints(req.RectMM.W), mmToPoints(req.RectMM.H)
	} else if req.Anchor != nil {
		bw, bh = mmToPoints(req.Anchor.W), mmToPoints(req.Anchor.H)
	}
	img, err := appearance.DecodeImage(req.SignatureImage)
	if err != nil {
		return &Error{Code: CodeBadRequest, Reason: "the signature image", Err: err}
	}
	textH := 0.0
	var lines []TextLine
	if req.ShowNameTime {
		textH = 16
		lines = []TextLine{
			{Text: req.SignerName, X: bw / 2, Y: 9, Size: 7, Align: AlignCenter},
			{Text: when.In(vietnam).Format("2006-01-02T15:04:05-07:00"), X: bw / 2, Y: 1.5, Size: 7, Align: AlignCenter},
		}
	}
	iw, ih := appearance.FitSize(img, bw, bh-textH)
	if !req.ShowNameTime {
		// The widget is the image's own area, so that "the left third of
		// the signature" (where the seal goes) is the signature's.
		shrink := appearance.ToMM(bw - iw)
		switch {
		case opts.Field.Anchor != nil:
			a := *opts.Field.Anchor
			if a.CenterX {
				a.W -= shrink
			} else {
				a.OffsetX += shrink / 2
				a.W -= shrink
			}
			opts.Field.Anchor = &a
		default:
			opts.Field.RectMM.X += shrink / 2
			opts.Field.RectMM.W -= shrink
		}
		bw = iw
	}
	opts.Field.Appearance = &Appearance{
		Images: []PlacedImage{{Data: req.SignatureImage, X: (bw - iw) / 2, Y: textH + (bh-textH-ih)/2, W: iw, H: ih}},
		Text:   lines,
	}
	return nil
}

func (req ProfileRequest) applyIssued(in io.ReaderAt, size int64, d *document, opts *Options, when time.Time) error {
	if len(d.sigFields) == 0 && !req.AllowOrder {
		// Điều 32.2.d: the organisation signs a document that already bears
		// the competent person's signature (or, between agencies, the
		// previous agency's).
		return &Error{Code: CodeOrder, Reason: "the document carries no signature yet: the competent person signs first"}
	}
	if d.docMDP == int(FormFillAndSign) && req.DocNumber != "" || d.docMDP == int(FormFillAndSign) && req.Place != "" {
		return &Error{Code: CodeLocked, Reason: "the document is certified with P=2 (form fill-in and signatures only): the number and date cannot be added; certify with P=3"}
	}
	if !req.AllowBroken {
		var broken []string
		checks, err := d.checkSignatures(context.Background(), in, size)
		if err != nil {
			return err
		}
		for _, c := range checks {
			if !c.Intact() {
				broken = append(broken, fmt.Sprintf("%s (%v)", c.Field, c.Err))
			}
		}
		if len(broken) > 0 {
			return &Error{Code: CodeBrokenSignature, Reason: "an earlier signature is broken: " + strings.Join(broken, "; ")}
		}
	}
	if len(req.SealImage) == 0 {
		return &Error{Code: CodeBadRequest, Reason: "issuing needs the organisation's seal image"}
	}
	seal, err := appearance.DecodeImage(req.SealImage)
	if err != nil {
		return &Error{Code: CodeBadRequest, Reason: "the seal image", Err: err}
	}
	sw, sh, err := appearance.PhysicalSize(seal, req.SealMM)
	if err != nil {
		return &Error{Code: CodeBadRequest, Reason: "the seal's real size is unknown: give its diameter in mm or a PNG with its DPI", Err: err}
	}
	wMM, hMM := appearance.ToMM(sw), appearance.ToMM(sh)

	// The seal goes over the left third of the leader's signature: the
	// last visible signature before this one.
	page := req.Page
	box := req.RectMM
	anchor := req.Anchor
	switch {
	case !box.IsZero():
		// A position places the seal; its size stays real.
		box.W, box.H = wMM, hMM
	case anchor != nil:
		a := *anchor
		a.W, a.H = wMM, hMM
		anchor = &a
	default:
		// The leader: the last visible personal signature, else the last
		// visible one (between agencies, the previous agency's).
		var leader, personal *sigField
		for i := range d.sigFields {
			f := &d.sigFields[i]
			if f.rect == [4]float64{} {
				continue
			}
			leader = f
			if req.Classify != nil {
				if c := d.signerCert(f); c != nil && req.Classify(c) == KindPersonal {
					personal = f
				}
			}
		}
		if personal != nil {
			leader = personal
		}
		if leader == nil {
			return &Error{Code: CodeBadRequest, Reason: "no visible signature to put the seal over; give the seal's position"}
		}
		n, pg, err := d.pageOf(leader.page)
		if err != nil {
			return err
		}
		g, err := d.geometry(pg)
		if err != nil {
			return err
		}
		x, y, w, h := g.DisplayRectMM(appearance.Rect{LLX: leader.rect[0], LLY: leader.rect[1], URX: leader.rect[2], URY: leader.rect[3]})
		cx, cy := x+w/6, y+h/2
		box = RectMM{X: cx - wMM/2, Y: cy - hMM/2, W: wMM, H: hMM}
		page = n
	}
	if page == 0 {
		page = 1
	}
	opts.Field.Page = page
	opts.Field.RectMM, opts.Field.Anchor = box, anchor
	opts.Field.Appearance = &Appearance{Images: []PlacedImage{{Data: req.SealImage, W: sw, H: sh}}}

	// The number and the date, written after their form lines on page 1
	// as stamps covered by this signature.
	issued := req.IssuedDate
	if issued.IsZero() {
		issued = when
	}
	issued = issued.In(vietnam)
	if req.DocNumber != "" {
		na := req.NumberAnchor
		if na == "" {
			na = "Số:"
		}
		opts.Field.Stamps = append(opts.Field.Stamps, Stamp{
			Page:       1,
			Anchor:     &Anchor{Text: na, Occurrence: 1, After: true, OffsetX: 1, OffsetY: -1.5, W: 60, H: 7},
			Appearance: Appearance{Text: []TextLine{{Text: req.DocNumber, X: 0, Y: 5, Size: 13}}},
		})
	}
	if req.Place != "" {
		da := req.DateAnchor
		if da == "" {
			da = req.Place + ","
		}
		line := fmt.Sprintf("ngày %02d tháng %02d năm %d", issued.Day(), int(issued.Month()), issued.Year())
		opts.Field.Stamps = append(opts.Field.Stamps, Stamp{
			Page:       1,
			Anchor:     &Anchor{Text: da, Occurrence: 1, After: true, OffsetX: 1, OffsetY: -1.5, W: 80, H: 7},
			Appearance: Appearance{Text: []TextLine{{Text: line, X: 0, Y: 5, Size: 13, Style: Italic}}},
		})
	}
	return nil
}

// applyCorner writes the appendix and copy text stamps at the top right of
// page 1: Times 10 pt black, the time in ISO 8601 with +07:00.
func (req ProfileRequest) applyCorner(d *document, opts *Options, when time.Time) error {
	pg, err := d.page(1)
	if err != nil {
		return err
	}
	g, err := d.geometry(pg)
	if err != nil {
		return err
	}
	pw, _ := g.DisplaySize()
	stamp := when.In(vietnam).Format("2006-01-02T15:04:05-07:00")
	var lines []string
	if req.Profile == ProfileAppendix {
		if req.DocNumber == "" {
			return &Error{Code: CodeBadRequest, Reason: "an appendix needs the document number and symbol"}
		}
		lines = []string{"Số: " + req.DocNumber, stamp}
	} else {
		form := req.CopyForm
		if form == "" {
			form = "SAO Y"
		}
		if req.Organisation == "" {
			return &Error{Code: CodeBadRequest, Reason: "a copy needs the copying organisation's name"}
		}
		lines = []string{form, req.Organisation, stamp}
	}
	const w, lineH = 75.0, 4.5 // mm
	h := lineH*float64(len(lines)) + 2
	opts.Field.Page = 1 // the decree puts these at the top right of page 1
	opts.Field.Anchor = nil
	opts.Field.RectMM = RectMM{X: appearance.ToMM(pw) - w - 10, Y: 8, W: w, H: h}
	bw := mmToPoints(w)
	var text []TextLine
	for i, l := range lines {
		y := mmToPoints(h - 1 - lineH*float64(i+1) + 1)
		text = append(text, TextLine{Text: l, X: bw - 2, Y: y, Size: 10, Align: AlignRight})
	}
	opts.Field.Appearance = &Appearance{Text: text}
	return nil
}

// applyIncome draws the receipt stamp: a framed box of text lines, by
// default under the sender's name at the top left of page 1.
func (req ProfileRequest) applyIncome(opts *Options, when time.Time) error {
	lines := req.IncomeLines
	if len(lines) == 0 {
		t := when.In(vietnam)
		lines = []string{"ĐẾN", "Số: " + req.DocNumber, fmt.Sprintf("Ngày: %02d/%02d/%d %02d:%02d", t.Day(), int(t.Month()), t.Year(), t.Hour(), t.Minute())}
	}
	box := req.RectMM
	if box.IsZero() && req.Anchor == nil {
		box = RectMM{X: 20, Y: 35, W: 50, H: 5.5*float64(len(lines)) + 3}
	}
	opts.Field.RectMM, opts.Field.Anchor = box, req.Anchor
	w, h := box.W, box.H
	if req.Anchor != nil {
		w, h = req.Anchor.W, req.Anchor.H
	}
	bw, bh := mmToPoints(w), mmToPoints(h)
	var text []TextLine
	for i, l := range lines {
		style := Regular
		if i == 0 {
			style = Bold
		}
		text = append(text, TextLine{Text: l, X: bw / 2, Y: bh - mmToPoints(5.5*float64(i+1)), Size: 11, Style: style, Align: AlignCenter, Color: [3]float64{0.8, 0, 0}})
	}
	opts.Field.Appearance = &Appearance{Text: text, Frame: &Frame{Width: 1, Color: [3]float64{0.8, 0, 0}}}
	return nil
}

// signerCert returns the certificate of a signature field, or nil.
func (d *document) signerCert(f *sigField) *x509.Certificate {
	sig, err := d.dict(f.value)
	if err != nil || sig == nil {
		return nil
	}
	contents, err := d.r.Resolve(sig["Contents"])
	if err != nil {
		return nil
	}
	der, ok := contents.(pdf.String)
	if !ok {
		return nil
	}
	sd, err := cms.Parse(der.Bytes)
	if err != nil || len(sd.Signers) == 0 {
		return nil
	}
	return sd.Signers[0].Certificate
}

// pageOf finds a page's number and dictionary from its reference.
func (d *document) pageOf(ref pdf.Ref) (int, *page, error) {
	for n := 1; n <= maxPagesScanned; n++ {
		pg, err := d.page(n)
		if err != nil {
			if CodeOf(err) == CodeBadPage {
				break
			}
			return 0, nil, err
		}
		if pg.ref == ref {
			return n, pg, nil
		}
	}
	return 0, nil, &Error{Code: CodeBadRequest, Reason: "the leader's signature widget is not on any page"}
}

// maxPagesScanned bounds pageOf's walk.
const maxPagesScanned = 5000

func mmToPoints(v float64) float64 { return appearance.MM(v) }

// maxAnchorSearchPages bounds how many pages, from the last, are searched
// for a signer's printed name: a signature block is on the last pages, and
// a 500-page scan must not be text-extracted whole.
const maxAnchorSearchPages = 20

// lastPageWith returns the last page (1-based) among the final limit pages
// whose text contains s, or 0 when none does or the pages cannot be read.
func (d *document) lastPageWith(s string, limit int) int {
	root, err := d.dict(d.catalog["Pages"])
	if err != nil || root == nil {
		return 0
	}
	count, ok := d.integer(root["Count"])
	if !ok || count < 1 || count > maxPages {
		return 0
	}
	for n := int(count); n >= 1 && n > int(count)-limit; n-- {
		pg, err := d.page(n)
		if err != nil {
			return 0
		}
		res, err := d.dict(pg.inherited["Resources"])
		if err != nil {
			continue
		}
		spans, _ := pdftext.PageSpans(d.r, pg.dict, res)
		if len(pdftext.Find(spans, s)) > 0 {
			return n
		}
	}
	return 0
}
