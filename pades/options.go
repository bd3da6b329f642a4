package pades

import (
	"crypto"
	"crypto/x509"
	"time"

	"github.com/kyso-vn/kyso/cms"
)

// Level is a PAdES baseline level.
type Level string

// Levels kyso produces in this package. Sign makes B-B and B-T; B-LT and
// B-LTA are reached in later updates: AddDSS adds the validation data
// (B-LT), AddDocTimestamp then a document timestamp over it (B-LTA).
const (
	LevelBB   Level = "B-B"
	LevelBT   Level = "B-T"
	LevelBLT  Level = "B-LT"
	LevelBLTA Level = "B-LTA"
)

// Rect is a rectangle in PDF user space: lower-left x, y and upper-right
// x, y, in points. The zero Rect makes the signature invisible.
type Rect struct{ LLX, LLY, URX, URY float64 }

// IsZero reports whether r is the zero rectangle (an invisible signature).
func (r Rect) IsZero() bool { return r == Rect{} }

// Field says where the signature field goes.
type Field struct {
	// Name is the field's name; empty picks the first free "SignatureN".
	// An existing name is refused: a field name is never reused.
	Name string
	// Page is the 1-based page that carries the widget; 0 means page 1.
	Page int
	// Rect is the widget rectangle on that page in PDF user space, drawn
	// as is (not counter-rotated on a rotated page); RectMM is the box as
	// people measure a printed page and takes precedence, and its
	// appearance reads upright whatever the page's /Rotate. Both zero make
	// the signature invisible.
	Rect   Rect
	RectMM RectMM
	// Anchor places the box relative to text printed on the page, such as
	// the signer's name under the signature block; it takes precedence
	// over Rect and RectMM.
	Anchor *Anchor
	// Appearance is what the box shows; nil shows nothing.
	Appearance *Appearance
	// Stamps are further boxes shown as part of this signature (the document number and date the clerk adds when
	// issuing). They are locked stamp annotations in the same update, so
	// the signature covers them.
	Stamps []Stamp
}

// Stamp is a box of visible content added with a signature.
type Stamp struct {
	// Page is the 1-based page of the stamp; 0 means the signature's page.
	Page       int
	RectMM     RectMM
	Anchor     *Anchor
	Appearance Appearance
}

// Anchor places a box relative to a text found on the page, so that
// integrators need not compute coordinates. The box's top-left corner goes
// OffsetX, OffsetY millimetres (as displayed: right and down are positive)
// from the top-left corner of the text; with CenterX the box is centred
// horizontally on the text instead, and OffsetX shifts it from there.
type Anchor struct {
	Text string
	// Occurrence picks among several matches on the page: 1 is the first
	// in reading order, -1 the last; 0 means the last, because signature
	// blocks stand at the end of a page.
	Occurrence       int
	OffsetX, OffsetY float64
	W, H             float64 // the box size in mm
	CenterX          bool
	// After puts the box just right of the text (OffsetX then shifts it),
	// for filling in a form line such as "Số: …".
	After bool
}

// Info is the signature dictionary's descriptive text. Any Unicode text,
// Vietnamese included, is stored exactly.
type Info struct {
	Name        string // the signer's name; empty takes the certificate's CN
	Reason      string
	Location    string
	ContactInfo string
}

// DocMDP is the permission level of a certification signature: what may
// change after it. Zero makes an approval signature, the default, which is
// what Vietnamese workflows need since later signatures follow.
type DocMDP int

// Certification permission levels (ISO 32000 12.8.2.2).
const (
	NoChanges        DocMDP = 1 // no change at all: no later signature either
	FormFillAndSign  DocMDP = 2
	AnnotateFillSign DocMDP = 3
)

// Options controls a signature.
type Options struct {
	Field Field
	Info  Info
	// Time is written as /M, the claimed signing time, in Vietnam time
	// (+07'00'). Zero means now. PAdES carries no signing-time attribute
	// in the CMS: /M is the claimed time, a timestamp the proven one.
	Time time.Time
	// Certify makes a certification signature with these permissions.
	// Only the first signature of a document may certify.
	Certify DocMDP
	// Hash is SHA-256 (default), SHA-384 or SHA-512.
	Hash crypto.Hash
	// PSS signs RSA keys with RSASSA-PSS instead of PKCS#1 v1.5.
	PSS bool
	// Chain holds the intermediate certificates (and the root, if wanted)
	// to embed after the signer's certificate.
	Chain []*x509.Certificate
	// Level is B-B (default) or B-T; B-T needs TSA.
	Level Level
	TSA   *cms.TSA
	// TimestampReserve is the space kept for the timestamp token at B-T;
	// zero means DefaultTimestampReserve.
	TimestampReserve int
}

// DefaultTimestampReserve is the room kept for a timestamp token at B-T:
// tokens with the TSA's certificate chain run 4 to 7 KB.
const DefaultTimestampReserve = 12 * 1024

func (o *Options) hash() crypto.Hash {
	if o.Hash == 0 {
		return crypto.SHA256
	}
	return o.Hash
}

func (o *Options) level() Level {
	if o.Level == "" {
		return LevelBB
	}
	return o.Level
}

func (o *Options) cmsOptions() cms.Options {
	return cms.Options{Hash: o.hash(), PSS: o.PSS, Chain: o.Chain}
}
