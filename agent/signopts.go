package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// This file turns a page's SignPDFOptions into pades.Options the way
// `kyso sign` turns its flags into them (cmd/kyso/sign.go: options,
// placement, applyProfile), so that a document signed through the agent
// looks exactly like one signed from the command line with the same
// options.

// vnZone is Vietnam's time zone (UTC+07:00 all year), in which issue dates
// are read, as the CLI reads --issued-date.
func vnZone() *time.Location { return time.FixedZone("ICT", 7*3600) }

// Default box of an anchored signature when the request gives no size: the
// CLI's --size-mm default.
const defaultAnchorW, defaultAnchorH = 50, 20

// levelPlan is how a requested PAdES level is reached: pades.Sign makes
// B-B or B-T; B-LT and B-LTA extend a B-T signature afterwards.
type levelPlan struct {
	final pades.Level // what the caller asked for
	sign  pades.Level // what pades.Sign makes
	ltv   pades.Level // "" or the level the extension reaches
}

// ParseLevel reads B-B, B-T, B-LT or B-LTA, case, dash and prefix
// insensitive ("b-lt", "BLT", "LT"); empty is B-B. The agent and the CLI
// read levels with it.
func ParseLevel(s string) (pades.Level, error) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "_", "-")) {
	case "B-B", "BB", "":
		return pades.LevelBB, nil
	case "B-T", "BT":
		return pades.LevelBT, nil
	case "B-LT", "BLT", "LT":
		return pades.LevelBLT, nil
	case "B-LTA", "BLTA", "LTA":
		return pades.LevelBLTA, nil
	}
	return "", badRequest("level %q: use B-B, B-T, B-LT or B-LTA", s)
}

// parseLevel is ParseLevel with how the level is reached.
func parseLevel(s string) (levelPlan, error) {
	lv, err := ParseLevel(s)
	if err != nil {
		return levelPlan{}, err
	}
	switch lv {
	case pades.LevelBLT, pades.LevelBLTA:
		return levelPlan{final: lv, sign: pades.LevelBT, ltv: lv}, nil
	}
	return levelPlan{final: lv, sign: lv}, nil
}

// needsTSA reports whether the level takes a timestamp.
func (l levelPlan) needsTSA() bool { return l.sign == pades.LevelBT }

// ParseHash reads sha256 (the default), sha384 or sha512, as the agent's
// requests and the CLI's --hash name them.
func ParseHash(s string) (crypto.Hash, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "-", "")) {
	case "sha256", "":
		return crypto.SHA256, nil
	case "sha384":
		return crypto.SHA384, nil
	case "sha512":
		return crypto.SHA512, nil
	}
	return 0, badRequest("hash %q: use sha256, sha384 or sha512", s)
}

// knownProfile reports whether a page may ask for profile; "" is a plain
// signature.
func knownProfile(profile string) bool {
	switch pades.Profile(profile) {
	case "", pades.ProfileApproved, pades.ProfileIssued, pades.ProfileAppendix,
		pades.ProfileCopy, pades.ProfileIncome, pades.ProfileComment:
		return true
	}
	return false
}

// signPlan is a request's options checked once, before any document is
// read or anyone is asked anything; per document, options() completes it.
type signPlan struct {
	req   SignPDFOptions
	level levelPlan
	base  pades.Options
	// issued is the parsed IssuedDate, zero when none was given.
	issued time.Time
}

// planSign checks opts and builds what does not depend on the document or
// the certificate: hash, level, timestamp authority, placement.
func (a *Agent) planSign(opts SignPDFOptions) (*signPlan, error) {
	if !knownProfile(opts.Profile) {
		return nil, badRequest("profile %q: use approved, issued, appendix, copy, income or comment", opts.Profile)
	}
	if opts.Page < 0 {
		return nil, badRequest("page %d", opts.Page)
	}
	if opts.SealMM < 0 || opts.SealMM > 100 {
		return nil, badRequest("seal of %.1f mm", opts.SealMM)
	}
	h, err := ParseHash(opts.Hash)
	if err != nil {
		return nil, err
	}
	cur := a.settings.Load()
	lvlName := opts.Level
	if lvlName == "" {
		lvlName = cur.level
	}
	lvl, err := parseLevel(lvlName)
	if err != nil {
		return nil, err
	}
	if lvl.needsTSA() && cur.tsa == nil {
		return nil, badRequest("level %s needs a timestamp authority and none is configured", lvl.final)
	}
	p := &signPlan{req: opts, level: lvl}
	p.base = pades.Options{
		Field: pades.Field{Page: opts.Page},
		Info:  pades.Info{Reason: opts.Reason, Location: opts.Location},
		Hash:  h,
		PSS:   opts.PSS,
		Level: lvl.sign,
	}
	if lvl.needsTSA() {
		p.base.TSA = cur.tsa
	}
	if err := placement(opts, &p.base); err != nil {
		return nil, err
	}
	if opts.IssuedDate != "" {
		d, err := time.ParseInLocation("2006-01-02", opts.IssuedDate, vnZone())
		if err != nil {
			return nil, badRequest("issuedDate %q: use YYYY-MM-DD", opts.IssuedDate)
		}
		p.issued = d
	}
	return p, nil
}

// placement turns the image, the box and the anchor into the field's box
// and appearance, as the CLI's placement does: the image is fitted into
// the box, centred, aspect kept; with a profile the profile draws it.
func placement(opts SignPDFOptions, o *pades.Options) error {
	if opts.RectMM != nil && opts.Anchor != nil {
		return badRequest("rectMM and anchor exclude each other")
	}
	var w, h float64
	switch {
	case opts.RectMM != nil:
		r := *opts.RectMM
		if r[2] <= 0 || r[3] <= 0 {
			return badRequest("rectMM %v: width and height must be positive", r)
		}
		o.Field.RectMM = pades.RectMM{X: r[0], Y: r[1], W: r[2], H: r[3]}
		w, h = r[2], r[3]
	case opts.Anchor != nil:
		an := *opts.Anchor
		if strings.TrimSpace(an.Text) == "" {
			return badRequest("anchor without text")
		}
		if an.W == 0 && an.H == 0 {
			an.W, an.H = defaultAnchorW, defaultAnchorH
		}
		if an.W <= 0 || an.H <= 0 {
			return badRequest("anchor box %gx%g mm", an.W, an.H)
		}
		o.Field.Anchor = &pades.Anchor{Text: an.Text, Occurrence: an.Occurrence, OffsetX: an.OffsetX, OffsetY: an.OffsetY,
			W: an.W, H: an.H, CenterX: an.CenterX, After: an.After}
		w, h = an.W, an.H
	case len(opts.SignatureImage) > 0 && opts.Profile == "":
		return badRequest("a signature image needs rectMM or anchor to say where it goes")
	}
	if len(opts.SignatureImage) == 0 || opts.Profile != "" {
		return nil
	}
	iw, ih, err := pades.ImageSize(opts.SignatureImage)
	if err != nil {
		return badRequestErr(err, "signature image")
	}
	bw, bh := mmToPt(w), mmToPt(h)
	scale := min(bw/float64(iw), bh/float64(ih))
	dw, dh := float64(iw)*scale, float64(ih)*scale
	o.Field.Appearance = &pades.Appearance{Images: []pades.PlacedImage{{Data: opts.SignatureImage, X: (bw - dw) / 2, Y: (bh - dh) / 2, W: dw, H: dh}}}
	return nil
}

func mmToPt(v float64) float64 { return v * 72 / 25.4 }

// options completes the plan for one document and the signer's
// certificate: the chain, the signing time and, for a profile, the legal
// form laid out by pades.ProfileRequest.Apply.
func (p *signPlan) options(data []byte, cert *x509.Certificate, chain []*x509.Certificate, tpl *Templates, now time.Time) (pades.Options, error) {
	o := p.base
	o.Chain = chain
	o.Time = now
	if p.req.Profile == "" {
		return o, nil
	}
	id := token.ParseIdentity(cert)
	req := pades.ProfileRequest{
		Profile:        pades.Profile(p.req.Profile),
		Signer:         SignerKindOf(id.Kind),
		Classify:       ClassifyCertificate,
		Page:           p.req.Page, // 0: page 1, or the leader's page for issued
		RectMM:         o.Field.RectMM,
		Anchor:         o.Field.Anchor,
		SignerName:     id.Name,
		SignatureImage: p.req.SignatureImage,
		ShowNameTime:   p.req.ShowNameTime,
		SealImage:      p.req.SealImage,
		SealMM:         p.req.SealMM,
		DocNumber:      p.req.DocNumber,
		IssuedDate:     p.issued,
		Place:          p.req.Place,
		CopyForm:       p.req.CopyForm,
		Time:           now,
	}
	req.Organisation = id.Organization
	if id.Kind == token.KindOrganisation || req.Organisation == "" {
		req.Organisation = id.Name
	}
	// Images and the seal's size from the signer's template, unless the
	// request carries them.
	if tpl != nil {
		if tp, ok := tpl.For(cert); ok {
			var err error
			if len(req.SignatureImage) == 0 {
				if req.SignatureImage, err = tpl.Image(tp.SignatureImage); err != nil {
					return o, &Error{Code: CodeInternal, Message: "signature template", Err: err}
				}
			}
			if len(req.SealImage) == 0 {
				if req.SealImage, err = tpl.Image(tp.SealImage); err != nil {
					return o, &Error{Code: CodeInternal, Message: "seal template", Err: err}
				}
			}
			if req.SealMM == 0 {
				req.SealMM = tp.SealMM
			}
		}
	}
	// The profile draws the image itself.
	o.Field.Appearance = nil
	if err := req.Apply(bytes.NewReader(data), int64(len(data)), &o); err != nil {
		return o, err
	}
	return o, nil
}

// SignerKindOf maps the token layer's classification to the one pades
// applies its order rules with.
func SignerKindOf(k token.Kind) pades.SignerKind {
	switch k {
	case token.KindPersonal:
		return pades.KindPersonal
	case token.KindOrganisation:
		return pades.KindOrganisation
	}
	return pades.KindUnknown
}

// ClassifyCertificate tells a person's certificate from an organisation's
// by the Vietnamese identity numbers in its subject: the classification
// pades' order rules and verification reports take.
func ClassifyCertificate(c *x509.Certificate) pades.SignerKind {
	return SignerKindOf(token.ParseIdentity(c).Kind)
}

// profileKind is the certificate kind a profile needs, for choosing among
// several certificates without asking; "" when any kind will do.
func profileKind(profile string) token.Kind {
	switch pades.Profile(profile) {
	case pades.ProfileIssued, pades.ProfileAppendix, pades.ProfileCopy, pades.ProfileIncome:
		return token.KindOrganisation
	case pades.ProfileApproved, pades.ProfileComment:
		return token.KindPersonal
	}
	return ""
}

// memOutput is a pades.Output in memory: a signed document is handed back
// to the caller, never written to disk.
type memOutput struct{ buf []byte }

func (m *memOutput) Write(p []byte) (int, error) {
	m.buf = append(m.buf, p...)
	return len(p), nil
}

func (m *memOutput) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("agent: negative write offset")
	}
	end := off + int64(len(p))
	if end > int64(len(m.buf)) {
		m.buf = append(m.buf, make([]byte, end-int64(len(m.buf)))...)
	}
	copy(m.buf[off:end], p)
	return len(p), nil
}

// signOne signs one document in memory and, for B-LT and B-LTA, extends
// it. The output is checked to start with the input byte for byte before
// it is returned: a document that is not an incremental update of what
// the user approved never leaves the agent.
func (a *Agent) signOne(ctx context.Context, data []byte, signer crypto.Signer, cert *x509.Certificate, o pades.Options, lvl levelPlan) ([]byte, *pades.Result, error) {
	out := &memOutput{buf: make([]byte, 0, len(data)+64<<10)}
	res, err := pades.Sign(ctx, bytes.NewReader(data), int64(len(data)), out, signer, cert, o)
	if err != nil {
		return nil, nil, err
	}
	signed := out.buf
	if lvl.ltv != "" {
		if signed, err = a.extend(ctx, signed, lvl.ltv, o.TSA); err != nil {
			return nil, nil, err
		}
	}
	if !bytes.HasPrefix(signed, data) {
		return nil, nil, &Error{Code: CodeInternal, Message: "the signed document does not start with the original"}
	}
	return signed, res, nil
}

// extend adds long-term validation data through agent.ExtendFile, which
// works on files: the B-T document goes to a temporary file in os.TempDir
// that is removed, with the extended one, before returning.
func (a *Agent) extend(ctx context.Context, signed []byte, level pades.Level, tsa *cms.TSA) ([]byte, error) {
	dir, err := os.MkdirTemp("", "kyso-ltv-")
	if err != nil {
		return nil, fmt.Errorf("agent: extend: %w", err)
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "signed.pdf"), filepath.Join(dir, "extended.pdf")
	if err := os.WriteFile(in, signed, 0o600); err != nil {
		return nil, fmt.Errorf("agent: extend: %w", err)
	}
	cfg := ExtendConfig{
		Level:             level,
		TSA:               tsa,
		TrustPEM:          a.verify.TrustPEM,
		NoShippedRoots:    a.verify.NoShippedRoots,
		SystemRoots:       a.verify.SystemRoots,
		HTTPClient:        a.verify.HTTPClient,
		RevocationTimeout: a.verify.RevocationTimeout,
	}
	if _, err := ExtendFile(ctx, in, out, cfg); err != nil {
		return nil, err
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, fmt.Errorf("agent: extend: %w", err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

// badRequest is a BAD_REQUEST error with a formatted message.
func badRequest(format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func badRequestErr(err error, format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, args...), Err: err}
}

var _ pades.Output = (*memOutput)(nil)

// chainFor builds the certificates to embed after the signer's from the CA
// certificates the tokens carry, as the CLI does.
func chainFor(cert *x509.Certificate, all []*token.Certificate) []*x509.Certificate {
	var pool []*x509.Certificate
	for _, c := range all {
		if c.IsCA {
			pool = append(pool, c.X509)
		}
	}
	return cms.BuildChain(cert, pool)
}
