package cms

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Timestamp is a parsed RFC 3161 TimeStampToken.
type Timestamp struct {
	Raw []byte // DER of the token (a ContentInfo)
	// Time is genTime, in UTC, with the fractional seconds the TSA sent.
	Time time.Time
	// HashAlgorithm and HashedMessage are the message imprint: the hash of
	// the timestamped data (for a signature timestamp, of the signature
	// value).
	HashAlgorithm crypto.Hash
	HashedMessage []byte
	// Certificate is the TSA certificate, nil if the token does not carry
	// it; Certificates are all certificates in the token.
	Certificate  *x509.Certificate
	Certificates []*x509.Certificate
	Policy       asn1.ObjectIdentifier
	Serial       *big.Int
	Nonce        *big.Int // nil when absent
	Accuracy     time.Duration
	Ordering     bool

	signer  *SignerInfo
	content []byte // the DER TSTInfo the token signs
}

// ParseTimestamp parses a DER TimeStampToken. It checks the structure
// only; Verify checks the signature and the imprint.
func ParseTimestamp(der []byte) (*Timestamp, error) {
	ts, err := parseTimestamp(der, 1)
	if err != nil {
		return nil, fmt.Errorf("cms: parse timestamp: %w", err)
	}
	return ts, nil
}

func parseTimestamp(der []byte, depth int) (*Timestamp, error) {
	sd, err := parse(der, depth)
	if err != nil {
		return nil, err
	}
	if !sd.ContentType.Equal(oidTSTInfo()) {
		return nil, fmt.Errorf("content type %v is not id-ct-TSTInfo", sd.ContentType)
	}
	if sd.Detached {
		return nil, errors.New("token has no TSTInfo")
	}
	if len(sd.Signers) != 1 {
		return nil, fmt.Errorf("token has %d signers, want 1", len(sd.Signers))
	}
	ts := &Timestamp{
		Raw:          sd.Raw,
		Certificate:  sd.Signers[0].Certificate,
		Certificates: sd.Certificates,
		signer:       sd.Signers[0],
		content:      sd.Content,
	}
	if err := ts.parseTSTInfo(sd.Content); err != nil {
		return nil, fmt.Errorf("TSTInfo: %w", err)
	}
	return ts, nil
}

// parseTSTInfo decodes TSTInfo (RFC 3161 section 2.4.2).
func (t *Timestamp) parseTSTInfo(der []byte) error {
	in := cryptobyte.String(der)
	var seq, imprint, hashed cryptobyte.String
	var version int64
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&version) {
		return errors.New("malformed")
	}
	if version != 1 {
		return fmt.Errorf("version %d, want 1", version)
	}
	if !seq.ReadASN1ObjectIdentifier(&t.Policy) {
		return errors.New("malformed policy")
	}
	if !seq.ReadASN1(&imprint, cbasn1.SEQUENCE) {
		return errors.New("malformed messageImprint")
	}
	alg, err := readAlgorithmIdentifier(&imprint)
	if err != nil || !imprint.ReadASN1(&hashed, cbasn1.OCTET_STRING) || !imprint.Empty() {
		return errors.New("malformed messageImprint")
	}
	if t.HashAlgorithm = hashFromOID(alg.oid); t.HashAlgorithm == 0 {
		return fmt.Errorf("messageImprint hash %v: %w", alg.oid, ErrUnsupportedAlgorithm)
	}
	t.HashedMessage = bytes.Clone(hashed)
	if t.Serial, err = readLooseInteger(&seq); err != nil {
		return errors.New("malformed serialNumber")
	}
	var genTime cryptobyte.String
	if !seq.ReadASN1(&genTime, cbasn1.GeneralizedTime) {
		return errors.New("malformed genTime")
	}
	if t.Time, err = parseGeneralizedTime(genTime); err != nil {
		return fmt.Errorf("genTime: %w", err)
	}
	if seq.PeekASN1Tag(cbasn1.SEQUENCE) {
		var acc cryptobyte.String
		if !seq.ReadASN1(&acc, cbasn1.SEQUENCE) {
			return errors.New("malformed accuracy")
		}
		if t.Accuracy, err = parseAccuracy(acc); err != nil {
			return err
		}
	}
	if seq.PeekASN1Tag(cbasn1.BOOLEAN) && !seq.ReadASN1Boolean(&t.Ordering) {
		return errors.New("malformed ordering")
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		if t.Nonce, err = readLooseInteger(&seq); err != nil {
			return errors.New("malformed nonce")
		}
	}
	// tsa [0] and extensions [1] are not needed by kyso.
	return nil
}

// parseAccuracy decodes Accuracy: seconds, [0] millis, [1] micros.
func parseAccuracy(s cryptobyte.String) (time.Duration, error) {
	var secs, millis, micros int64
	if s.PeekASN1Tag(cbasn1.INTEGER) && !s.ReadASN1Integer(&secs) {
		return 0, errors.New("malformed accuracy seconds")
	}
	if s.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()) && !s.ReadASN1Int64WithTag(&millis, cbasn1.Tag(0).ContextSpecific()) {
		return 0, errors.New("malformed accuracy millis")
	}
	if s.PeekASN1Tag(cbasn1.Tag(1).ContextSpecific()) && !s.ReadASN1Int64WithTag(&micros, cbasn1.Tag(1).ContextSpecific()) {
		return 0, errors.New("malformed accuracy micros")
	}
	if !s.Empty() || secs < 0 || secs > 1<<31 || millis < 0 || millis > 999 || micros < 0 || micros > 999 {
		return 0, errors.New("malformed accuracy")
	}
	return time.Duration(secs)*time.Second + time.Duration(millis)*time.Millisecond + time.Duration(micros)*time.Microsecond, nil
}

// Verify checks the token: its signature by the TSA certificate it
// carries (message digest over the TSTInfo, signature over the signed
// attributes, signing-certificate attribute naming that certificate) and
// that the message imprint is the hash of signature, the timestamped
// data. It does not check the TSA certificate's key purpose (CheckUsage)
// or chain.
func (t *Timestamp) Verify(signature []byte) error {
	if err := t.verifyToken(); err != nil {
		return err
	}
	if err := t.checkImprint(signature); err != nil {
		return fmt.Errorf("cms: verify timestamp: %w", err)
	}
	return nil
}

// VerifyDigest is Verify for a caller that already hashed the timestamped
// data with HashAlgorithm, as a PDF document timestamp's verifier does
// while streaming the byte ranges.
func (t *Timestamp) VerifyDigest(digest []byte) error {
	if err := t.verifyToken(); err != nil {
		return err
	}
	if !bytes.Equal(digest, t.HashedMessage) {
		return fmt.Errorf("cms: verify timestamp: %w: message imprint is not the digest of the timestamped data", ErrDigestMismatch)
	}
	return nil
}

// verifyToken checks the token's own signature and its binding to the TSA
// certificate, everything but the imprint.
func (t *Timestamp) verifyToken() error {
	if t.signer == nil {
		return errors.New("cms: verify timestamp: not a parsed token")
	}
	si := t.signer
	if si.Certificate == nil {
		return fmt.Errorf("cms: verify timestamp: %w", ErrNoCertificate)
	}
	if !si.DigestAlgorithm.Available() {
		return fmt.Errorf("cms: verify timestamp: digest %v: %w", si.DigestAlgorithm, ErrUnsupportedAlgorithm)
	}
	h := si.DigestAlgorithm.New()
	h.Write(t.content)
	if err := si.CheckMessageDigest(h.Sum(nil)); err != nil {
		return fmt.Errorf("cms: verify timestamp: TSTInfo: %w", err)
	}
	if err := si.VerifySignature(); err != nil {
		return fmt.Errorf("cms: verify timestamp: %w", err)
	}
	if err := si.CheckSigningCertificate(); err != nil {
		return fmt.Errorf("cms: verify timestamp: %w", err)
	}
	return nil
}

// checkImprint compares the message imprint with the hash of data.
func (t *Timestamp) checkImprint(data []byte) error {
	if !t.HashAlgorithm.Available() {
		return fmt.Errorf("imprint hash %v: %w", t.HashAlgorithm, ErrUnsupportedAlgorithm)
	}
	h := t.HashAlgorithm.New()
	h.Write(data)
	if !bytes.Equal(h.Sum(nil), t.HashedMessage) {
		return fmt.Errorf("%w: message imprint is not the hash of the timestamped data", ErrDigestMismatch)
	}
	return nil
}

// CheckUsage checks that the TSA certificate is one: it must carry the
// id-kp-timeStamping extended key usage (ErrNotTSACertificate
// otherwise). RFC 3161 section 2.3 also wants that purpose to be the only
// one and the extension critical; deviations are returned as warnings
// because deployed TSAs have them and OpenSSL is the only common
// validator that insists.
func (t *Timestamp) CheckUsage() (warnings []string, err error) {
	c := t.Certificate
	if c == nil {
		return nil, fmt.Errorf("cms: check TSA certificate: %w", ErrNoCertificate)
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return nil, fmt.Errorf("cms: check TSA certificate %q: %w", c.Subject.CommonName, ErrNotTSACertificate)
	}
	if len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage) > 1 {
		warnings = append(warnings, fmt.Sprintf("TSA certificate %q has key purposes besides id-kp-timeStamping (RFC 3161 2.3)", c.Subject.CommonName))
	}
	for _, ext := range c.Extensions {
		if ext.Id.Equal(oidExtKeyUsage()) && !ext.Critical {
			warnings = append(warnings, fmt.Sprintf("TSA certificate %q has a non-critical extended key usage extension (RFC 3161 2.3 requires critical)", c.Subject.CommonName))
		}
	}
	return warnings, nil
}

// EmbedTimestamp adds token, a DER TimeStampToken, to the single
// SignerInfo of signedData as an id-aa-signatureTimeStampToken unsigned
// attribute and returns the new DER. The token's message imprint must be
// the hash of the signature value (ErrDigestMismatch otherwise); its
// signature is not verified here (TSA.Timestamp has done that). Apart
// from the lengths that grow, the bytes of signedData are kept.
func EmbedTimestamp(signedData, token []byte) ([]byte, error) {
	sd, err := Parse(signedData)
	if err != nil {
		return nil, fmt.Errorf("cms: embed timestamp: %w", err)
	}
	if len(sd.Signers) != 1 {
		return nil, fmt.Errorf("cms: embed timestamp: SignedData has %d signers, want 1", len(sd.Signers))
	}
	ts, err := ParseTimestamp(token)
	if err != nil {
		return nil, fmt.Errorf("cms: embed timestamp: %w", err)
	}
	if err := ts.checkImprint(sd.Signers[0].Signature); err != nil {
		return nil, fmt.Errorf("cms: embed timestamp: %w", err)
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidAttrSignatureTimeStampToken())
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			b.AddBytes(ts.Raw)
		})
	})
	attr, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cms: embed timestamp: %w", err)
	}
	out, err := addUnsignedAttribute(sd.Raw, attr)
	if err != nil {
		return nil, fmt.Errorf("cms: embed timestamp: %w", err)
	}
	return out, nil
}

// element is one TLV: its tag and complete encoding.
type element struct {
	tag cbasn1.Tag
	der []byte
}

// readElements splits the content of a constructed element into its TLVs.
func readElements(s cryptobyte.String) ([]element, error) {
	var out []element
	for !s.Empty() {
		var e element
		var v cryptobyte.String
		if !s.ReadAnyASN1Element(&v, &e.tag) {
			return nil, errors.New("malformed element")
		}
		e.der = v
		out = append(out, e)
	}
	return out, nil
}

// addUnsignedAttribute rewrites a ContentInfo (already validated by
// Parse, with one signer) so that the signer's unsignedAttrs contain attr.
// Only the enclosing lengths change; existing unsigned attributes are kept
// and the SET is put in DER order.
func addUnsignedAttribute(ci []byte, attr []byte) ([]byte, error) {
	unsignedTag := cbasn1.Tag(1).ContextSpecific().Constructed()
	return mapSignerInfo(ci, func(fields []element) ([]element, error) {
		if len(fields) < 5 {
			return nil, errors.New("malformed SignerInfo")
		}
		attrs := [][]byte{attr}
		if last := fields[len(fields)-1]; last.tag == unsignedTag {
			var content cryptobyte.String
			s := cryptobyte.String(last.der)
			if !s.ReadASN1(&content, unsignedTag) {
				return nil, errors.New("malformed unsignedAttrs")
			}
			existing, err := readElements(content)
			if err != nil {
				return nil, errors.New("malformed unsignedAttrs")
			}
			for _, e := range existing {
				attrs = append(attrs, e.der)
			}
			fields = fields[:len(fields)-1]
		}
		slices.SortFunc(attrs, bytes.Compare)
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(unsignedTag, func(b *cryptobyte.Builder) {
			for _, a := range attrs {
				b.AddBytes(a)
			}
		})
		der, err := b.Bytes()
		if err != nil {
			return nil, err
		}
		return append(fields, element{tag: unsignedTag, der: der}), nil
	})
}

// mapSignerInfo rebuilds a ContentInfo holding SignedData with exactly one
// SignerInfo, whose fields (complete TLVs, in order) f replaces. Every
// other byte is copied; only the enclosing lengths are recomputed.
func mapSignerInfo(ci []byte, f func(fields []element) ([]element, error)) ([]byte, error) {
	in := cryptobyte.String(ci)
	var ciSeq, explicit, sdSeq, oid cryptobyte.String
	explicitTag := cbasn1.Tag(0).ContextSpecific().Constructed()
	if !in.ReadASN1(&ciSeq, cbasn1.SEQUENCE) || !ciSeq.ReadASN1Element(&oid, cbasn1.OBJECT_IDENTIFIER) ||
		!ciSeq.ReadASN1(&explicit, explicitTag) || !explicit.ReadASN1(&sdSeq, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed ContentInfo")
	}
	sdFields, err := readElements(sdSeq)
	if err != nil || len(sdFields) == 0 {
		return nil, errors.New("malformed SignedData")
	}
	// signerInfos is the last field Parse reads; search from the end in
	// case of ignored trailing fields. The first three fields (version,
	// digestAlgorithms, encapContentInfo) cannot be it.
	idx := -1
	for i := len(sdFields) - 1; i >= 3; i-- {
		if sdFields[i].tag == cbasn1.SET {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, errors.New("no signerInfos")
	}
	set := cryptobyte.String(sdFields[idx].der)
	var signers, siSeq cryptobyte.String
	if !set.ReadASN1(&signers, cbasn1.SET) || !signers.ReadASN1(&siSeq, cbasn1.SEQUENCE) || !signers.Empty() {
		return nil, errors.New("want exactly one SignerInfo")
	}
	siFields, err := readElements(siSeq)
	if err != nil {
		return nil, errors.New("malformed SignerInfo")
	}
	if siFields, err = f(siFields); err != nil {
		return nil, err
	}

	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(oid)
		b.AddASN1(explicitTag, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for i, e := range sdFields {
					if i != idx {
						b.AddBytes(e.der)
						continue
					}
					b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							for _, e := range siFields {
								b.AddBytes(e.der)
							}
						})
					})
				}
			})
		})
	})
	return b.Bytes()
}
