package cms

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// maxTimestampDepth bounds how deep Parse follows signature timestamps: a
// token's own unsigned attributes are not examined, so hostile input
// cannot make parsing recurse.
const maxTimestampDepth = 1

// SignedData is a parsed CMS ContentInfo of type SignedData.
type SignedData struct {
	// Raw is the DER of the ContentInfo. Trailing zero bytes after it (the
	// padding of a PDF /Contents string) are accepted and not part of Raw.
	Raw              []byte
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier
	// ContentType is the eContentType: id-data for document signatures,
	// id-ct-TSTInfo for timestamp tokens.
	ContentType asn1.ObjectIdentifier
	// Content is the encapsulated content, nil when Detached.
	Content  []byte
	Detached bool
	// Certificates are the certificates the structure carries, in order.
	// Entries that are not X.509 certificates, or that crypto/x509 cannot
	// parse (it refuses e.g. negative serial numbers), are skipped;
	// RawCertificates has the DER of every X.509 entry, parsed or not, so
	// a verifier can say why a signer certificate is missing.
	Certificates    []*x509.Certificate
	RawCertificates [][]byte
	Signers         []*SignerInfo
}

// SignerInfo is one parsed signer. Parsing records what the structure
// says; the Check and Verify methods judge it.
type SignerInfo struct {
	Raw     []byte // DER of the SignerInfo
	Version int
	// The signer identifier: IssuerRaw (DER Name) and SerialNumber for
	// issuerAndSerialNumber, or SubjectKeyID.
	IssuerRaw    []byte
	SerialNumber *big.Int
	SubjectKeyID []byte
	// Certificate is the signer's certificate found among the
	// SignedData's certificates by the identifier; nil if absent.
	Certificate *x509.Certificate

	// DigestAlgorithm is 0 when the identifier is not a known hash.
	DigestAlgorithm crypto.Hash
	// SignatureAlgorithm is x509.UnknownSignatureAlgorithm when this
	// package cannot verify the algorithm; PSS tells RSASSA-PSS apart.
	SignatureAlgorithm x509.SignatureAlgorithm
	PSS                bool
	Signature          []byte
	// SignedAttrsDER is the signed attributes re-tagged as the SET OF the
	// signature covers; nil when the SignerInfo has none.
	SignedAttrsDER []byte

	// Decoded signed attributes.
	ContentType          asn1.ObjectIdentifier
	MessageDigest        []byte
	SigningTime          time.Time // zero if absent
	SigningCertificateV2 []ESSCertIDv2
	// HasSigningCertificate reports the legacy (RFC 2634, SHA-1)
	// signing-certificate attribute.
	HasSigningCertificate bool
	// RevocationArchive is the revocation data of Adobe's
	// adbe-revocationInfoArchival signed attribute (CRLs and OCSP
	// responses; no certificates), nil when absent. A malformed
	// attribute does not make Parse fail: RevocationArchive stays nil
	// and RevocationArchiveErr says what is wrong.
	RevocationArchive    *ValidationData
	RevocationArchiveErr error

	// Timestamp is the first signature-time-stamp token among the
	// unsigned attributes, nil if none. TimestampErr is set instead when
	// a token is present but cannot be parsed, so that a verifier can
	// report a broken timestamp rather than an unreadable signature.
	Timestamp    *Timestamp
	TimestampErr error

	alg    sigAlg
	algErr error
	// essV1 holds the legacy ESSCertIDs; HashAlgorithm is SHA-1.
	essV1 []ESSCertIDv2
}

// ESSCertIDv2 identifies a certificate in a signing-certificate-v2
// attribute (RFC 5035).
type ESSCertIDv2 struct {
	// HashAlgorithm is 0 when the identifier names an unknown hash.
	HashAlgorithm crypto.Hash
	CertHash      []byte
	// Issuer is the DER Name of the first directoryName of issuerSerial,
	// and SerialNumber its serial; both nil when issuerSerial is absent.
	Issuer       []byte
	SerialNumber *big.Int
}

// Parse parses a DER CMS ContentInfo holding SignedData. It never panics
// on malformed input.
//
// BER input (indefinite lengths, chunked OCTET STRINGs, as NSS and so
// poppler's pdfsig write) is accepted by converting it to DER first; the
// signed attributes inside are DER either way.
func Parse(der []byte) (*SignedData, error) {
	sd, err := parse(der, 0)
	if err != nil {
		if conv, cerr := berToDER(der); cerr == nil {
			if sd, err2 := parse(conv, 0); err2 == nil {
				return sd, nil
			}
		}
		return nil, fmt.Errorf("cms: parse: %w", err)
	}
	return sd, nil
}

func parse(der []byte, depth int) (*SignedData, error) {
	in := cryptobyte.String(der)
	var ciElem cryptobyte.String
	if !in.ReadASN1Element(&ciElem, cbasn1.SEQUENCE) {
		return nil, errors.New("not a DER ContentInfo")
	}
	for _, b := range in {
		if b != 0 {
			return nil, errors.New("trailing data after the ContentInfo")
		}
	}
	sd := &SignedData{Raw: bytes.Clone(ciElem)}
	ci := cryptobyte.String(sd.Raw)
	var body, explicit, sdSeq cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !ci.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1ObjectIdentifier(&ct) {
		return nil, errors.New("malformed ContentInfo")
	}
	if !ct.Equal(oidSignedData()) {
		return nil, fmt.Errorf("content type %v is not SignedData", ct)
	}
	if !body.ReadASN1(&explicit, cbasn1.Tag(0).ContextSpecific().Constructed()) || !body.Empty() ||
		!explicit.ReadASN1(&sdSeq, cbasn1.SEQUENCE) || !explicit.Empty() {
		return nil, errors.New("malformed ContentInfo content")
	}

	var version int64
	if !sdSeq.ReadASN1Integer(&version) {
		return nil, errors.New("malformed SignedData version")
	}
	sd.Version = int(version)

	var digestAlgs cryptobyte.String
	if !sdSeq.ReadASN1(&digestAlgs, cbasn1.SET) {
		return nil, errors.New("malformed digestAlgorithms")
	}
	for !digestAlgs.Empty() {
		var elem cryptobyte.String
		if !digestAlgs.ReadASN1Element(&elem, cbasn1.SEQUENCE) {
			return nil, errors.New("malformed digestAlgorithms")
		}
		var ai pkix.AlgorithmIdentifier
		if rest, err := asn1.Unmarshal(elem, &ai); err != nil || len(rest) != 0 {
			return nil, errors.New("malformed digest algorithm identifier")
		}
		sd.DigestAlgorithms = append(sd.DigestAlgorithms, ai)
	}

	if err := sd.parseEncapContentInfo(&sdSeq); err != nil {
		return nil, err
	}

	var certs cryptobyte.String
	var present bool
	if !sdSeq.ReadOptionalASN1(&certs, &present, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, errors.New("malformed certificates")
	}
	for !certs.Empty() {
		var elem cryptobyte.String
		var tag cbasn1.Tag
		if !certs.ReadAnyASN1Element(&elem, &tag) {
			return nil, errors.New("malformed certificates")
		}
		if tag != cbasn1.SEQUENCE {
			continue // attribute certificates and other formats
		}
		sd.RawCertificates = append(sd.RawCertificates, bytes.Clone(elem))
		if c, err := x509.ParseCertificate(elem); err == nil {
			sd.Certificates = append(sd.Certificates, c)
		}
	}
	if !sdSeq.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific().Constructed()) {
		return nil, errors.New("malformed crls")
	}

	var signers cryptobyte.String
	if !sdSeq.ReadASN1(&signers, cbasn1.SET) {
		return nil, errors.New("malformed signerInfos")
	}
	for i := 0; !signers.Empty(); i++ {
		var elem cryptobyte.String
		if !signers.ReadASN1Element(&elem, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("signer %d: malformed SignerInfo", i)
		}
		si, err := parseSignerInfo(elem, sd, depth)
		if err != nil {
			return nil, fmt.Errorf("signer %d: %w", i, err)
		}
		sd.Signers = append(sd.Signers, si)
	}
	// Anything after signerInfos is not part of any CMS version; it is
	// ignored like unknown trailing fields elsewhere in ASN.1 structures.
	return sd, nil
}

// parseEncapContentInfo reads EncapsulatedContentInfo.
func (sd *SignedData) parseEncapContentInfo(s *cryptobyte.String) error {
	var eci cryptobyte.String
	if !s.ReadASN1(&eci, cbasn1.SEQUENCE) || !eci.ReadASN1ObjectIdentifier(&sd.ContentType) {
		return errors.New("malformed encapContentInfo")
	}
	var explicit cryptobyte.String
	var present bool
	if !eci.ReadOptionalASN1(&explicit, &present, cbasn1.Tag(0).ContextSpecific().Constructed()) || !eci.Empty() {
		return errors.New("malformed encapContentInfo")
	}
	if !present {
		sd.Detached = true
		return nil
	}
	content, err := readOctetString(&explicit, 0)
	if err != nil || !explicit.Empty() {
		return errors.New("malformed eContent")
	}
	sd.Content = content
	return nil
}

// readOctetString reads an OCTET STRING, also in the constructed
// (definite-length BER) form some timestamp servers still emit.
func readOctetString(s *cryptobyte.String, depth int) ([]byte, error) {
	var content cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadAnyASN1(&content, &tag) {
		return nil, errors.New("malformed OCTET STRING")
	}
	switch {
	case tag == cbasn1.OCTET_STRING:
		return bytes.Clone(content), nil
	case tag == cbasn1.OCTET_STRING.Constructed() && depth < 4:
		out := []byte{}
		for !content.Empty() {
			part, err := readOctetString(&content, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, part...)
		}
		return out, nil
	}
	return nil, errors.New("not an OCTET STRING")
}

// parseSignerInfo parses one SignerInfo and finds its certificate in sd.
func parseSignerInfo(der []byte, sd *SignedData, depth int) (*SignerInfo, error) {
	si := &SignerInfo{Raw: bytes.Clone(der)}
	in := cryptobyte.String(si.Raw)
	var seq cryptobyte.String
	var version int64
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(&version) {
		return nil, errors.New("malformed SignerInfo")
	}
	si.Version = int(version)

	switch {
	case seq.PeekASN1Tag(cbasn1.SEQUENCE):
		var ias, issuer cryptobyte.String
		if !seq.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadASN1Element(&issuer, cbasn1.SEQUENCE) {
			return nil, errors.New("malformed issuerAndSerialNumber")
		}
		serial, err := readLooseInteger(&ias)
		if err != nil || !ias.Empty() {
			return nil, errors.New("malformed issuerAndSerialNumber serial")
		}
		si.IssuerRaw, si.SerialNumber = bytes.Clone(issuer), serial
	case seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()):
		var ski cryptobyte.String
		if !seq.ReadASN1(&ski, cbasn1.Tag(0).ContextSpecific()) {
			return nil, errors.New("malformed subjectKeyIdentifier")
		}
		si.SubjectKeyID = bytes.Clone(ski)
	default:
		return nil, errors.New("unknown signer identifier")
	}
	si.Certificate = findCertificate(sd.Certificates, si)

	digestAlg, err := readAlgorithmIdentifier(&seq)
	if err != nil {
		return nil, fmt.Errorf("digestAlgorithm: %w", err)
	}
	si.DigestAlgorithm = hashFromOID(digestAlg.oid)

	signedTag := cbasn1.Tag(0).ContextSpecific().Constructed()
	if seq.PeekASN1Tag(signedTag) {
		var elem cryptobyte.String
		if !seq.ReadASN1Element(&elem, signedTag) {
			return nil, errors.New("malformed signedAttrs")
		}
		// The signature covers the attributes with the universal SET
		// tag, not the [0] IMPLICIT tag they are stored under.
		si.SignedAttrsDER = bytes.Clone(elem)
		si.SignedAttrsDER[0] = byte(cbasn1.SET)
		if err := si.parseSignedAttributes(sd); err != nil {
			return nil, err
		}
	}

	sigAlgID, err := readAlgorithmIdentifier(&seq)
	if err != nil {
		return nil, fmt.Errorf("signatureAlgorithm: %w", err)
	}
	si.alg, si.algErr = parseSignatureAlgorithm(sigAlgID, si.DigestAlgorithm)
	si.SignatureAlgorithm, si.PSS = si.alg.x509(), si.alg.pss
	if si.algErr == nil && si.alg.hash == 0 {
		si.algErr = fmt.Errorf("digest algorithm %v: %w", digestAlg.oid, ErrUnsupportedAlgorithm)
	}

	var sig cryptobyte.String
	if !seq.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return nil, errors.New("malformed signature value")
	}
	si.Signature = bytes.Clone(sig)

	var unsigned cryptobyte.String
	var present bool
	if !seq.ReadOptionalASN1(&unsigned, &present, cbasn1.Tag(1).ContextSpecific().Constructed()) || !seq.Empty() {
		return nil, errors.New("malformed unsignedAttrs")
	}
	if present {
		if err := si.parseUnsignedAttributes(unsigned, depth); err != nil {
			return nil, err
		}
	}
	return si, nil
}

// readLooseInteger reads an INTEGER into a big.Int. Unlike cryptobyte's
// reader it accepts non-minimal encodings, which some CAs put into serial
// numbers and which signers then copy into issuerAndSerialNumber.
func readLooseInteger(s *cryptobyte.String) (*big.Int, error) {
	var content cryptobyte.String
	if !s.ReadASN1(&content, cbasn1.INTEGER) || len(content) == 0 {
		return nil, errors.New("malformed INTEGER")
	}
	n := new(big.Int).SetBytes(content)
	if content[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(content))*8))
	}
	return n, nil
}

// findCertificate returns the certificate si identifies, or nil.
func findCertificate(certs []*x509.Certificate, si *SignerInfo) *x509.Certificate {
	for _, c := range certs {
		switch {
		case si.SubjectKeyID != nil:
			if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, si.SubjectKeyID) {
				return c
			}
		case si.SerialNumber != nil:
			if c.SerialNumber.Cmp(si.SerialNumber) == 0 && sameName(c.RawIssuer, si.IssuerRaw) {
				return c
			}
		}
	}
	return nil
}

// sameName compares two DER Names: byte for byte, or else attribute by
// attribute by value, because some signers re-encode the issuer (e.g. a
// UTF8String as PrintableString) when they copy it into the SignerInfo.
func sameName(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ra, rb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &ra); err != nil || len(rest) != 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &rb); err != nil || len(rest) != 0 {
		return false
	}
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return false
		}
		for j := range ra[i] {
			x, y := ra[i][j], rb[i][j]
			if !x.Type.Equal(y.Type) || fmt.Sprint(x.Value) != fmt.Sprint(y.Value) {
				return false
			}
		}
	}
	return true
}

// attribute is one decoded Attribute: its type and the DER of each value.
type attribute struct {
	oid    asn1.ObjectIdentifier
	values [][]byte
}

// readAttributes decodes the content of a SET OF Attribute.
func readAttributes(s cryptobyte.String) ([]attribute, error) {
	var attrs []attribute
	for !s.Empty() {
		var seq, set cryptobyte.String
		var a attribute
		if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.oid) ||
			!seq.ReadASN1(&set, cbasn1.SET) || !seq.Empty() {
			return nil, errors.New("malformed attribute")
		}
		for !set.Empty() {
			var v cryptobyte.String
			var tag cbasn1.Tag
			if !set.ReadAnyASN1Element(&v, &tag) {
				return nil, fmt.Errorf("malformed value of attribute %v", a.oid)
			}
			a.values = append(a.values, v)
		}
		attrs = append(attrs, a)
	}
	return attrs, nil
}

// single returns the only value of a, as RFC 5652 requires for the
// attributes it defines.
func (a attribute) single() (cryptobyte.String, error) {
	if len(a.values) != 1 {
		return nil, fmt.Errorf("attribute %v has %d values, want 1", a.oid, len(a.values))
	}
	return cryptobyte.String(a.values[0]), nil
}

// parseSignedAttributes decodes the attributes this package knows and
// enforces the RFC 5652 rules on them: each at most once with one value,
// message-digest present, content-type present and equal to eContentType.
func (si *SignerInfo) parseSignedAttributes(sd *SignedData) error {
	s := cryptobyte.String(si.SignedAttrsDER)
	var content cryptobyte.String
	if !s.ReadASN1(&content, cbasn1.SET) {
		return errors.New("malformed signedAttrs")
	}
	attrs, err := readAttributes(content)
	if err != nil {
		return fmt.Errorf("signedAttrs: %w", err)
	}
	seen := map[string]bool{}
	for _, a := range attrs {
		key := a.oid.String()
		known := true
		switch {
		case a.oid.Equal(oidAttrContentType()):
			v, err := a.single()
			if err != nil {
				return err
			}
			if !v.ReadASN1ObjectIdentifier(&si.ContentType) || !v.Empty() {
				return errors.New("malformed content-type attribute")
			}
		case a.oid.Equal(oidAttrMessageDigest()):
			v, err := a.single()
			if err != nil {
				return err
			}
			var d cryptobyte.String
			if !v.ReadASN1(&d, cbasn1.OCTET_STRING) || !v.Empty() {
				return errors.New("malformed message-digest attribute")
			}
			si.MessageDigest = bytes.Clone(d)
		case a.oid.Equal(oidAttrSigningTime()):
			v, err := a.single()
			if err != nil {
				return err
			}
			if si.SigningTime, err = parseTime(v); err != nil {
				return fmt.Errorf("signing-time attribute: %w", err)
			}
		case a.oid.Equal(oidAttrSigningCertificateV2()):
			v, err := a.single()
			if err != nil {
				return err
			}
			if si.SigningCertificateV2, err = parseSigningCertificate(v, true); err != nil {
				return fmt.Errorf("signing-certificate-v2 attribute: %w", err)
			}
		case a.oid.Equal(oidAttrSigningCertificate()):
			v, err := a.single()
			if err != nil {
				return err
			}
			if si.essV1, err = parseSigningCertificate(v, false); err != nil {
				return fmt.Errorf("signing-certificate attribute: %w", err)
			}
			si.HasSigningCertificate = true
		case a.oid.Equal(oidAttrAdobeRevocationArchival()):
			known = false // a duplicate is noted, not fatal
			si.parseRevocationArchive(a)
		default:
			known = false
		}
		if known {
			if seen[key] {
				return fmt.Errorf("attribute %v appears more than once", a.oid)
			}
			seen[key] = true
		}
	}
	if si.MessageDigest == nil {
		return errors.New("signedAttrs lack message-digest")
	}
	if si.ContentType == nil {
		return errors.New("signedAttrs lack content-type")
	}
	if !si.ContentType.Equal(sd.ContentType) {
		return fmt.Errorf("content-type attribute %v differs from eContentType %v", si.ContentType, sd.ContentType)
	}
	return nil
}

// parseRevocationArchive decodes adbe-revocationInfoArchival:
//
//	RevocationInfoArchival ::= SEQUENCE {
//	  crl          [0] EXPLICIT SEQUENCE OF CRLs OPTIONAL,
//	  ocsp         [1] EXPLICIT SEQUENCE OF OCSPResponse OPTIONAL,
//	  otherRevInfo [2] EXPLICIT SEQUENCE OF OtherRevInfo OPTIONAL }
//
// otherRevInfo has no defined use and is skipped. The entries are kept as
// DER, to be parsed when revocation is checked.
func (si *SignerInfo) parseRevocationArchive(a attribute) {
	fail := func(err error) {
		si.RevocationArchive = nil
		si.RevocationArchiveErr = fmt.Errorf("cms: adbe-revocationInfoArchival attribute: %w", err)
	}
	if si.RevocationArchive != nil || si.RevocationArchiveErr != nil {
		fail(errors.New("appears more than once"))
		return
	}
	v, err := a.single()
	if err != nil {
		fail(err)
		return
	}
	var seq cryptobyte.String
	if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() {
		fail(errors.New("malformed"))
		return
	}
	list := func(tag int) ([][]byte, error) {
		var explicit, items cryptobyte.String
		var present bool
		if !seq.ReadOptionalASN1(&explicit, &present, cbasn1.Tag(tag).ContextSpecific().Constructed()) {
			return nil, fmt.Errorf("malformed [%d]", tag)
		}
		if !present {
			return nil, nil
		}
		if !explicit.ReadASN1(&items, cbasn1.SEQUENCE) || !explicit.Empty() {
			return nil, fmt.Errorf("malformed [%d]", tag)
		}
		var out [][]byte
		for !items.Empty() {
			var item cryptobyte.String
			if !items.ReadASN1Element(&item, cbasn1.SEQUENCE) {
				return nil, fmt.Errorf("malformed entry in [%d]", tag)
			}
			out = append(out, bytes.Clone(item))
		}
		return out, nil
	}
	archive := &ValidationData{}
	if archive.CRLs, err = list(0); err != nil {
		fail(err)
		return
	}
	if archive.OCSPs, err = list(1); err != nil {
		fail(err)
		return
	}
	if !seq.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific().Constructed()) || !seq.Empty() {
		fail(errors.New("malformed otherRevInfo or trailing data"))
		return
	}
	si.RevocationArchive = archive
}

// parseTime reads a UTCTime or GeneralizedTime element.
func parseTime(s cryptobyte.String) (time.Time, error) {
	var t time.Time
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		if !s.ReadASN1UTCTime(&t) || !s.Empty() {
			return t, errors.New("malformed UTCTime")
		}
		return t, nil
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		var content cryptobyte.String
		if !s.ReadASN1(&content, cbasn1.GeneralizedTime) || !s.Empty() {
			return t, errors.New("malformed GeneralizedTime")
		}
		return parseGeneralizedTime(content)
	}
	return t, errors.New("not a time")
}

// parseGeneralizedTime parses "YYYYMMDDhhmmss[.f…]Z". crypto/x509 and
// encoding/asn1 refuse fractional seconds, yet RFC 3161 allows them in
// genTime and many TSAs send them.
func parseGeneralizedTime(b []byte) (time.Time, error) {
	s := string(b)
	if len(s) < 15 || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("GeneralizedTime %q is not YYYYMMDDhhmmss[.f]Z", s)
	}
	for _, c := range s[:14] {
		if c < '0' || c > '9' {
			return time.Time{}, fmt.Errorf("GeneralizedTime %q is not YYYYMMDDhhmmss[.f]Z", s)
		}
	}
	t, err := time.Parse("20060102150405", s[:14])
	if err != nil {
		return time.Time{}, fmt.Errorf("GeneralizedTime %q: %w", s, err)
	}
	frac := s[14 : len(s)-1]
	if frac == "" {
		return t, nil
	}
	digits := frac[1:]
	if frac[0] != '.' || len(digits) == 0 || len(digits) > 9 {
		return time.Time{}, fmt.Errorf("GeneralizedTime %q has a malformed fraction", s)
	}
	ns := 0
	for i := 0; i < 9; i++ {
		ns *= 10
		if i < len(digits) {
			c := digits[i]
			if c < '0' || c > '9' {
				return time.Time{}, fmt.Errorf("GeneralizedTime %q has a malformed fraction", s)
			}
			ns += int(c - '0')
		}
	}
	return t.Add(time.Duration(ns)), nil
}

// parseSigningCertificate decodes SigningCertificateV2 (v2) or the legacy
// SigningCertificate. The policies field is ignored.
func parseSigningCertificate(s cryptobyte.String, v2 bool) ([]ESSCertIDv2, error) {
	var seq, certs cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1(&certs, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed")
	}
	var ids []ESSCertIDv2
	for !certs.Empty() {
		var c cryptobyte.String
		if !certs.ReadASN1(&c, cbasn1.SEQUENCE) {
			return nil, errors.New("malformed ESSCertID")
		}
		id := ESSCertIDv2{HashAlgorithm: crypto.SHA1}
		if v2 {
			id.HashAlgorithm = crypto.SHA256 // the DEFAULT
			if c.PeekASN1Tag(cbasn1.SEQUENCE) {
				alg, err := readAlgorithmIdentifier(&c)
				if err != nil {
					return nil, err
				}
				id.HashAlgorithm = hashFromOID(alg.oid)
			}
		}
		var hash cryptobyte.String
		if !c.ReadASN1(&hash, cbasn1.OCTET_STRING) {
			return nil, errors.New("malformed certHash")
		}
		id.CertHash = bytes.Clone(hash)
		if !c.Empty() {
			var is, names cryptobyte.String
			if !c.ReadASN1(&is, cbasn1.SEQUENCE) || !c.Empty() || !is.ReadASN1(&names, cbasn1.SEQUENCE) {
				return nil, errors.New("malformed issuerSerial")
			}
			for !names.Empty() {
				var gn cryptobyte.String
				var tag cbasn1.Tag
				if !names.ReadAnyASN1Element(&gn, &tag) {
					return nil, errors.New("malformed issuerSerial names")
				}
				dirName := cbasn1.Tag(4).ContextSpecific().Constructed()
				if tag == dirName && id.Issuer == nil {
					var inner, name cryptobyte.String
					if !gn.ReadASN1(&inner, dirName) || !inner.ReadASN1Element(&name, cbasn1.SEQUENCE) || !inner.Empty() {
						return nil, errors.New("malformed directoryName")
					}
					id.Issuer = bytes.Clone(name)
				}
			}
			serial, err := readLooseInteger(&is)
			if err != nil || !is.Empty() {
				return nil, errors.New("malformed issuerSerial serial")
			}
			id.SerialNumber = serial
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("no ESSCertID")
	}
	return ids, nil
}

// parseUnsignedAttributes finds the signature timestamp. Other unsigned
// attributes (counter-signatures, CAdES-C/X/A data) are ignored.
func (si *SignerInfo) parseUnsignedAttributes(content cryptobyte.String, depth int) error {
	attrs, err := readAttributes(content)
	if err != nil {
		return fmt.Errorf("unsignedAttrs: %w", err)
	}
	if depth >= maxTimestampDepth {
		return nil
	}
	for _, a := range attrs {
		if !a.oid.Equal(oidAttrSignatureTimeStampToken()) || len(a.values) == 0 {
			continue
		}
		si.Timestamp, si.TimestampErr = parseTimestamp(a.values[0], depth+1)
		if si.TimestampErr != nil {
			si.TimestampErr = fmt.Errorf("cms: signature timestamp: %w", si.TimestampErr)
		}
		break
	}
	return nil
}

// VerifySignature checks the signature value over the signed attributes
// with the signer certificate's public key (PKCS#1 v1.5, RSASSA-PSS or
// ECDSA). It does not check the certificate itself, the message digest or
// the signing-certificate attribute; see CheckMessageDigest and
// CheckSigningCertificate.
func (s *SignerInfo) VerifySignature() error {
	if s.Certificate == nil {
		return fmt.Errorf("cms: verify signature: %w", ErrNoCertificate)
	}
	if s.SignedAttrsDER == nil {
		// Without signed attributes the signature covers the content
		// itself, which a detached signature does not carry; PAdES and
		// RFC 3161 both require signed attributes.
		return fmt.Errorf("cms: verify signature: %w: no signed attributes", ErrMissingAttribute)
	}
	if s.algErr != nil {
		return fmt.Errorf("cms: verify signature: %w", s.algErr)
	}
	if !s.alg.hash.Available() {
		return fmt.Errorf("cms: verify signature: hash %v: %w", s.alg.hash, ErrUnsupportedAlgorithm)
	}
	h := s.alg.hash.New()
	h.Write(s.SignedAttrsDER)
	if err := verifyDigest(s.Certificate.PublicKey, s.alg, h.Sum(nil), s.Signature); err != nil {
		return fmt.Errorf("cms: verify signature: %w", err)
	}
	return nil
}

// CheckMessageDigest compares the message-digest attribute with digest,
// the caller's hash (DigestAlgorithm) of the signed content.
func (s *SignerInfo) CheckMessageDigest(digest []byte) error {
	if s.MessageDigest == nil {
		return fmt.Errorf("cms: check message digest: %w: message-digest", ErrMissingAttribute)
	}
	if !bytes.Equal(s.MessageDigest, digest) {
		return fmt.Errorf("cms: check message digest: %w", ErrDigestMismatch)
	}
	return nil
}

// CheckSigningCertificate checks that the signing-certificate-v2 attribute
// (or, failing that, the legacy signing-certificate attribute) identifies
// the signer certificate: its first ESSCertID must hash to the
// certificate and, if it names the issuer and serial, name them.
func (s *SignerInfo) CheckSigningCertificate() error {
	if s.Certificate == nil {
		return fmt.Errorf("cms: check signing certificate: %w", ErrNoCertificate)
	}
	ids := s.SigningCertificateV2
	if len(ids) == 0 {
		ids = s.essV1
	}
	if len(ids) == 0 {
		return fmt.Errorf("cms: check signing certificate: %w: signing-certificate-v2", ErrMissingAttribute)
	}
	id := ids[0]
	if !id.HashAlgorithm.Available() {
		return fmt.Errorf("cms: check signing certificate: hash %v: %w", id.HashAlgorithm, ErrUnsupportedAlgorithm)
	}
	h := id.HashAlgorithm.New()
	h.Write(s.Certificate.Raw)
	if !bytes.Equal(h.Sum(nil), id.CertHash) {
		return fmt.Errorf("cms: check signing certificate: %w: certificate hash differs", ErrCertificateMismatch)
	}
	if id.SerialNumber != nil {
		if id.SerialNumber.Cmp(s.Certificate.SerialNumber) != 0 {
			return fmt.Errorf("cms: check signing certificate: %w: serial number differs", ErrCertificateMismatch)
		}
		if id.Issuer != nil && !sameName(id.Issuer, s.Certificate.RawIssuer) {
			return fmt.Errorf("cms: check signing certificate: %w: issuer differs", ErrCertificateMismatch)
		}
	}
	return nil
}
