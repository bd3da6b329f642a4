package pades

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// SignatureCheck is the integrity of one signature already in a document:
// whether the bytes it covers are the bytes it signed. Trust in the signer
// (chain, revocation, time) is a separate question for verification.
type SignatureCheck struct {
	Field     string
	SubFilter string
	ByteRange [4]int64
	// CoversWholeFile: the signature covers everything up to the end of the
	// file (the last signature of an unchanged document).
	CoversWholeFile bool
	Signer          *x509.Certificate
	// Err is nil when the signature is intact; otherwise it says what is
	// broken (digest mismatch, bad signature, malformed byte range).
	Err error
}

// Intact reports whether the signature's bytes and CMS check out.
func (c SignatureCheck) Intact() bool { return c.Err == nil }

// errBrokenSignature is wrapped by every integrity failure.
var errBrokenSignature = errors.New("signature is broken")

// CheckSignatures checks the integrity of every signature field that
// carries a value: the byte ranges are in the file, the CMS's
// message-digest equals their digest, the CMS signature verifies with the
// embedded signer certificate, and the signing-certificate attribute binds
// that certificate. A document whose earlier signature is broken must not
// be signed again as if nothing happened (the clerk's check before
// issuing, ND 30/2020 Điều 21, 32).
func CheckSignatures(in io.ReaderAt, size int64) ([]SignatureCheck, error) {
	d, err := openDocument(in, size)
	if err != nil {
		return nil, err
	}
	return d.checkSignatures(in, size), nil
}

// checkSignatures is CheckSignatures on an open document.
func (d *document) checkSignatures(in io.ReaderAt, size int64) []SignatureCheck {
	var out []SignatureCheck
	for _, sf := range d.sigFields {
		c := SignatureCheck{Field: sf.name}
		sig, err := d.dict(sf.value)
		if err != nil || sig == nil {
			c.Err = fmt.Errorf("%w: the signature dictionary cannot be read", errBrokenSignature)
			out = append(out, c)
			continue
		}
		if n, ok := sig["SubFilter"].(pdf.Name); ok {
			c.SubFilter = string(n)
		}
		c.Err = d.checkOne(in, size, sig, &c)
		out = append(out, c)
	}
	return out
}

func (d *document) checkOne(in io.ReaderAt, size int64, sig pdf.Dict, c *SignatureCheck) error {
	br, err := d.array(sig["ByteRange"])
	if err != nil || len(br) != 4 {
		return fmt.Errorf("%w: no valid /ByteRange", errBrokenSignature)
	}
	for i, v := range br {
		n, ok := d.integer(v)
		if !ok || n < 0 {
			return fmt.Errorf("%w: /ByteRange entry %d is not a non-negative integer", errBrokenSignature, i)
		}
		c.ByteRange[i] = n
	}
	r := c.ByteRange
	if r[0] != 0 || r[1] > r[2] || r[2]+r[3] > size {
		return fmt.Errorf("%w: /ByteRange %v does not fit a file of %d bytes", errBrokenSignature, r, size)
	}
	c.CoversWholeFile = r[2]+r[3] == size
	contents, err := d.r.Resolve(sig["Contents"])
	if err != nil {
		return fmt.Errorf("%w: /Contents cannot be read", errBrokenSignature)
	}
	der, ok := contents.(pdf.String)
	if !ok || len(der.Bytes) == 0 {
		return fmt.Errorf("%w: no /Contents", errBrokenSignature)
	}
	if c.SubFilter == "ETSI.RFC3161" {
		// A document timestamp: its token's imprint covers the ranges.
		ts, err := cms.ParseTimestamp(der.Bytes)
		if err != nil {
			return fmt.Errorf("%w: %v", errBrokenSignature, err)
		}
		h := ts.HashAlgorithm
		if !h.Available() {
			return fmt.Errorf("%w: unsupported hash in the timestamp", errBrokenSignature)
		}
		digest, err := hashRanges(in, r, h.New())
		if err != nil {
			return err
		}
		if string(digest) != string(ts.HashedMessage) {
			return fmt.Errorf("%w: the document changed inside the range the timestamp covers", errBrokenSignature)
		}
		c.Signer = ts.Certificate
		return nil
	}
	sd, err := cms.Parse(der.Bytes)
	if err != nil || len(sd.Signers) == 0 {
		return fmt.Errorf("%w: /Contents is not a CMS signature: %v", errBrokenSignature, err)
	}
	si := sd.Signers[0]
	c.Signer = si.Certificate
	if !si.DigestAlgorithm.Available() {
		return fmt.Errorf("%w: unsupported digest algorithm", errBrokenSignature)
	}
	digest, err := hashRanges(in, r, si.DigestAlgorithm.New())
	if err != nil {
		return err
	}
	if len(si.SignedAttrsDER) == 0 {
		// adbe.pkcs7.detached without attributes signs the digest
		// directly; kyso does not produce these and treats them as
		// unverifiable rather than intact.
		return fmt.Errorf("%w: a CMS without signed attributes is not supported", errBrokenSignature)
	}
	if err := si.CheckMessageDigest(digest); err != nil {
		return fmt.Errorf("%w: the document changed inside the signed range (%v)", errBrokenSignature, err)
	}
	if err := si.VerifySignature(); err != nil {
		return fmt.Errorf("%w: the CMS signature does not verify (%v)", errBrokenSignature, err)
	}
	if err := si.CheckSigningCertificate(); err != nil && !errors.Is(err, cms.ErrMissingAttribute) {
		return fmt.Errorf("%w: the signing-certificate attribute does not match (%v)", errBrokenSignature, err)
	}
	return nil
}

func hashRanges(in io.ReaderAt, r [4]int64, h interface {
	io.Writer
	Sum([]byte) []byte
}) ([]byte, error) {
	for _, rg := range [][2]int64{{r[0], r[1]}, {r[2], r[2] + r[3]}} {
		if _, err := io.Copy(h, io.NewSectionReader(in, rg[0], rg[1]-rg[0])); err != nil {
			return nil, fmt.Errorf("pades: read signed range: %w", err)
		}
	}
	return h.Sum(nil), nil
}
