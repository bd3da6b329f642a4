package devpki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dotted object identifiers used by Vietnamese certificates.
const (
	// OIDUserID is the subject attribute (UID, RFC 4519 "uid") that carries
	// identity numbers such as "CCCD:001086012345" or "MST:0100686209".
	OIDUserID = "0.9.2342.19200300.100.1.1"
	// OIDTitle is the subject attribute T (title), e.g. "Chủ tịch".
	OIDTitle = "2.5.4.12"
	// OIDVGCAPolicy is the certificate policy of the Government Cipher
	// Committee CA (Ban Cơ yếu Chính phủ, VGCA).
	OIDVGCAPolicy = "2.16.704.1.1.1.1.1"
)

// Prefixes of UID subject attributes in Vietnamese certificates.
const (
	UIDPrefixCCCD = "CCCD:" // 12-digit citizen identity card number
	UIDPrefixCMND = "CMND:" // 9-digit identity card number (old)
	UIDPrefixMST  = "MST:"  // tax code, "0100686209" or "0100686209-199"
	UIDPrefixMNS  = "MNS:"  // 7-digit budget-using unit code
	UIDPrefixHC   = "HC:"   // passport number
)

// Subject attribute OIDs of RFC 5280 the builder needs besides the two
// above; spelt as dotted strings so that nothing package-level is a
// mutable slice.
const (
	oidCountry            = "2.5.4.6"
	oidProvince           = "2.5.4.8"
	oidLocality           = "2.5.4.7"
	oidOrganization       = "2.5.4.10"
	oidOrganizationalUnit = "2.5.4.11"
	oidCommonName         = "2.5.4.3"
)

// Default validity of end-entity certificates, and the backdating that
// absorbs clock skew between the test machine and a verifier.
const (
	defaultValidity = 2 * 365 * 24 * time.Hour
	defaultBackdate = -time.Hour
)

// Profile describes an end-entity certificate for PKI.Issue. Presets are
// Personal and Organisation; the As*/Without* methods derive the negative
// variants. Profile is a value type: modifying a copy's scalar fields does
// not affect the original, and the methods copy slices.
type Profile struct {
	// Name identifies the profile in errors and test output, e.g.
	// "personal-expired". It does not go into the certificate.
	Name string

	// Subject. Empty attributes are omitted. Everything except C is
	// encoded as UTF8String, which Vietnamese relying parties require for
	// names with diacritics; C is PrintableString as RFC 5280 mandates.
	CommonName         string
	UIDs               []string // each its own RDN, e.g. "CCCD:001086012345"
	Organization       string   // O, the agency
	OrganizationalUnit string   // OU, the department
	Title              string   // T, e.g. "Chủ tịch"
	Locality           string   // L
	Province           string   // ST
	Country            string   // C, "VN"
	// Email, if set, goes into the subject alternative name.
	Email string

	// Validity. NotBefore is the PKI clock plus NotBeforeOffset (negative
	// means in the past) and lasts Validity (zero: two years). A non-zero
	// NotBefore or NotAfter overrides the computed value.
	NotBeforeOffset time.Duration
	Validity        time.Duration
	NotBefore       time.Time
	NotAfter        time.Time

	KeyUsage    x509.KeyUsage
	ExtKeyUsage []x509.ExtKeyUsage
	// Policies are dotted certificate policy OIDs, e.g. OIDVGCAPolicy.
	Policies []string
	// SerialNumber, if nil, is a random positive 128-bit number.
	SerialNumber *big.Int
	// Revoke makes PKI.Issue record the new certificate as revoked.
	Revoke bool
}

// Personal returns the profile of a civil servant's signing certificate:
// CN "Nguyễn Văn Ánh" with a CCCD number, chairman of the Bình Phước
// provincial People's Committee office, digitalSignature + nonRepudiation,
// emailProtection + clientAuth, under the VGCA policy.
func Personal() Profile {
	return Profile{
		Name:               "personal",
		CommonName:         "Nguyễn Văn Ánh",
		UIDs:               []string{UIDPrefixCCCD + "001086012345"},
		Organization:       "Ủy ban nhân dân tỉnh Bình Phước",
		OrganizationalUnit: "Văn phòng",
		Title:              "Chủ tịch",
		Locality:           "Đồng Xoài",
		Province:           "Bình Phước",
		Country:            "VN",
		NotBeforeOffset:    defaultBackdate,
		Validity:           defaultValidity,
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth},
		Policies:           []string{OIDVGCAPolicy},
	}
}

// Organisation returns the profile of an organisation's signing
// certificate: CN "Ủy ban nhân dân tỉnh Bình Phước" with a tax code (MST)
// and a budget unit code (MNS) and no personal identity number,
// digitalSignature + nonRepudiation, under the VGCA policy.
func Organisation() Profile {
	return Profile{
		Name:            "organisation",
		CommonName:      "Ủy ban nhân dân tỉnh Bình Phước",
		UIDs:            []string{UIDPrefixMST + "3800238370", UIDPrefixMNS + "1054321"},
		Locality:        "Đồng Xoài",
		Province:        "Bình Phước",
		Country:         "VN",
		NotBeforeOffset: defaultBackdate,
		Validity:        defaultValidity,
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth},
		Policies:        []string{OIDVGCAPolicy},
	}
}

// clone returns a copy of p that shares no slices or big.Int with it.
func (p Profile) clone() Profile {
	p.UIDs = slices.Clone(p.UIDs)
	p.ExtKeyUsage = slices.Clone(p.ExtKeyUsage)
	p.Policies = slices.Clone(p.Policies)
	if p.SerialNumber != nil {
		p.SerialNumber = new(big.Int).Set(p.SerialNumber)
	}
	return p
}

// withSuffix appends a variant suffix to the profile name.
func (p Profile) withSuffix(s string) Profile {
	if p.Name == "" {
		p.Name = s
	} else {
		p.Name += "-" + s
	}
	return p
}

// AsExpired returns a copy valid for a year that ended 35 days before the
// PKI clock (while the CAs were already valid).
func (p Profile) AsExpired() Profile {
	p = p.clone().withSuffix("expired")
	p.NotBefore, p.NotAfter = time.Time{}, time.Time{}
	p.NotBeforeOffset = -400 * 24 * time.Hour
	p.Validity = 365 * 24 * time.Hour
	return p
}

// AsNotYetValid returns a copy whose validity starts 30 days after the PKI
// clock.
func (p Profile) AsNotYetValid() Profile {
	p = p.clone().withSuffix("not-yet-valid")
	p.NotBefore, p.NotAfter = time.Time{}, time.Time{}
	p.NotBeforeOffset = 30 * 24 * time.Hour
	p.Validity = 365 * 24 * time.Hour
	return p
}

// AsRevoked returns a copy that PKI.Issue records as revoked, so that it
// appears in PKI.CRL and PKI.RevocationOf.
func (p Profile) AsRevoked() Profile {
	p = p.clone().withSuffix("revoked")
	p.Revoke = true
	return p
}

// WithoutNonRepudiation returns a copy lacking the nonRepudiation
// (contentCommitment) key usage, which signing policies for legally binding
// documents require.
func (p Profile) WithoutNonRepudiation() Profile {
	p = p.clone().withSuffix("no-nonrepudiation")
	p.KeyUsage &^= x509.KeyUsageContentCommitment
	return p
}

// WithoutDigitalSignature returns a copy lacking the digitalSignature key
// usage.
func (p Profile) WithoutDigitalSignature() Profile {
	p = p.clone().withSuffix("no-digitalsignature")
	p.KeyUsage &^= x509.KeyUsageDigitalSignature
	return p
}

// validity resolves the profile's validity period against the PKI clock.
func (p Profile) validity(now time.Time) (notBefore, notAfter time.Time) {
	validity := p.Validity
	if validity == 0 {
		validity = defaultValidity
	}
	notBefore = p.NotBefore
	if notBefore.IsZero() {
		notBefore = now.Add(p.NotBeforeOffset)
	}
	notAfter = p.NotAfter
	if notAfter.IsZero() {
		notAfter = notBefore.Add(validity)
	}
	return notBefore, notAfter
}

// template converts the profile to an end-entity certificate template; the
// caller adds the issuer-specific URLs.
func (p Profile) template(now time.Time) (*x509.Certificate, error) {
	if p.CommonName == "" {
		return nil, errors.New("profile has no common name")
	}
	subject, err := p.rawSubject()
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := p.validity(now)
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("validity ends (%v) before it starts (%v)", notAfter, notBefore)
	}
	tmpl := &x509.Certificate{
		RawSubject:            subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              p.KeyUsage,
		ExtKeyUsage:           slices.Clone(p.ExtKeyUsage),
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	if p.SerialNumber != nil {
		if p.SerialNumber.Sign() <= 0 {
			return nil, fmt.Errorf("serial number %v is not positive", p.SerialNumber)
		}
		tmpl.SerialNumber = new(big.Int).Set(p.SerialNumber)
	}
	if p.Email != "" {
		tmpl.EmailAddresses = []string{p.Email}
	}
	for _, s := range p.Policies {
		oid, err := parseOID(s)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		xoid, err := x509.OIDFromASN1OID(oid)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", s, err)
		}
		// Both fields, so the policy is written whatever the
		// x509usepolicies GODEBUG setting says.
		tmpl.Policies = append(tmpl.Policies, xoid)
		tmpl.PolicyIdentifiers = append(tmpl.PolicyIdentifiers, oid)
	}
	return tmpl, nil
}

// rdnAttr is one subject attribute before encoding.
type rdnAttr struct {
	oid   string
	tag   int
	value string
}

// rawSubject encodes the subject DN in the order Vietnamese CAs use (C, ST,
// L, O, OU, T, CN, then one RDN per UID). The DER is built by hand because
// pkix.Name would encode ASCII-only values such as "CCCD:001086012345" as
// PrintableString, while the convention is UTF8String throughout.
func (p Profile) rawSubject() ([]byte, error) {
	attrs := []rdnAttr{
		{oidCountry, asn1.TagPrintableString, p.Country},
		{oidProvince, asn1.TagUTF8String, p.Province},
		{oidLocality, asn1.TagUTF8String, p.Locality},
		{oidOrganization, asn1.TagUTF8String, p.Organization},
		{oidOrganizationalUnit, asn1.TagUTF8String, p.OrganizationalUnit},
		{OIDTitle, asn1.TagUTF8String, p.Title},
		{oidCommonName, asn1.TagUTF8String, p.CommonName},
	}
	for _, uid := range p.UIDs {
		attrs = append(attrs, rdnAttr{OIDUserID, asn1.TagUTF8String, uid})
	}
	return encodeName(attrs)
}

// caSubject is the subject of the test CAs.
func caSubject(cn string) ([]byte, error) {
	return encodeName([]rdnAttr{
		{oidCountry, asn1.TagPrintableString, "VN"},
		{oidOrganization, asn1.TagUTF8String, "kyso Development"},
		{oidCommonName, asn1.TagUTF8String, cn},
	})
}

// encodeName DER-encodes attrs as an RDNSequence with one attribute per RDN,
// skipping empty values.
func encodeName(attrs []rdnAttr) ([]byte, error) {
	var seq pkix.RDNSequence
	for _, a := range attrs {
		if a.value == "" {
			continue
		}
		oid, err := parseOID(a.oid)
		if err != nil {
			return nil, err
		}
		if a.tag == asn1.TagPrintableString && !isPrintableString(a.value) {
			return nil, fmt.Errorf("attribute %s value %q is not a PrintableString", a.oid, a.value)
		}
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{
			Type:  oid,
			Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: a.tag, Bytes: []byte(a.value)},
		}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		return nil, fmt.Errorf("encode subject: %w", err)
	}
	return der, nil
}

// isPrintableString reports whether s fits the ASN.1 PrintableString
// alphabet.
func isPrintableString(s string) bool {
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune(" '()+,-./:=?", r):
		default:
			return false
		}
	}
	return true
}

// parseOID parses a dotted object identifier.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("invalid OID %q", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("invalid OID %q", s)
		}
		oid[i] = n
	}
	return oid, nil
}
