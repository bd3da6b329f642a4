package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Kind says whose certificate it is, following the rules of Vietnamese
// certificates: an organisation's seal or a person's signature.
type Kind string

// Certificate kinds.
const (
	KindPersonal     Kind = "personal"
	KindOrganisation Kind = "organisation"
	KindUnknown      Kind = "unknown"
)

// IDNumber is one identity number from a certificate subject, such as
// {Type: "CCCD", Value: "001086012345"}.
type IDNumber struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Identity is what a Vietnamese certificate says about its holder.
type Identity struct {
	Name               string     `json:"name"` // CN: a person or an organisation
	Organization       string     `json:"organization,omitempty"`
	OrganizationalUnit string     `json:"organizationalUnit,omitempty"`
	Title              string     `json:"title,omitempty"`
	Locality           string     `json:"locality,omitempty"`
	Province           string     `json:"province,omitempty"`
	Country            string     `json:"country,omitempty"`
	Email              string     `json:"email,omitempty"`
	IDs                []IDNumber `json:"ids"`
	Kind               Kind       `json:"kind"`
}

// ID returns the first identity number of the given type ("CCCD", "MST",
// …) or "".
func (id Identity) ID(typ string) string {
	for _, n := range id.IDs {
		if n.Type == typ {
			return n.Value
		}
	}
	return ""
}

var (
	oidUID          = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidTitle        = asn1.ObjectIdentifier{2, 5, 4, 12}
	oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// idPrefixes are the identity-number prefixes used in UID attributes by
// Vietnamese CAs. Personal ones identify a person; MST and MNS identify an
// organisation (a person may also have an MST, which is why a personal
// prefix wins when both appear).
var idPrefixes = []struct {
	prefix   string
	personal bool
}{
	{"CCCD", true}, {"CMND", true}, {"HC", true}, {"MST", false}, {"MNS", false},
}

// ParseIdentity reads the holder's identity from a certificate subject.
//
// The kind follows domain rules: any personal identity number (CCCD, CMND,
// passport) or a title makes the certificate personal; otherwise an MST or
// MNS makes it an organisation's; otherwise it is unknown.
func ParseIdentity(c *x509.Certificate) Identity {
	s := c.Subject
	id := Identity{
		Name:               s.CommonName,
		Organization:       first(s.Organization),
		OrganizationalUnit: first(s.OrganizationalUnit),
		Locality:           first(s.Locality),
		Province:           first(s.Province),
		Country:            first(s.Country),
		IDs:                []IDNumber{},
	}
	if len(c.EmailAddresses) > 0 {
		id.Email = c.EmailAddresses[0]
	}
	var personal, org bool
	for _, atv := range s.Names {
		v, ok := atv.Value.(string)
		if !ok {
			continue
		}
		switch {
		case atv.Type.Equal(oidTitle):
			id.Title = v
		case atv.Type.Equal(oidEmailAddress) && id.Email == "":
			id.Email = v
		case atv.Type.Equal(oidUID):
			n, isPersonal, ok := parseIDNumber(v)
			if !ok {
				continue
			}
			id.IDs = append(id.IDs, n)
			personal = personal || isPersonal
			org = org || !isPersonal
		}
	}
	switch {
	case personal || id.Title != "":
		id.Kind = KindPersonal
	case org:
		id.Kind = KindOrganisation
	default:
		id.Kind = KindUnknown
	}
	return id
}

// parseIDNumber splits "CCCD:001086012345" (CAs also write "CCCD-…" or
// lower case) into type and value.
func parseIDNumber(v string) (IDNumber, bool, bool) {
	v = strings.TrimSpace(v)
	for _, p := range idPrefixes {
		if len(v) > len(p.prefix) && strings.EqualFold(v[:len(p.prefix)], p.prefix) {
			rest := v[len(p.prefix):]
			if rest[0] != ':' && rest[0] != '-' {
				continue
			}
			val := strings.TrimSpace(rest[1:])
			if val == "" {
				return IDNumber{}, false, false
			}
			return IDNumber{Type: p.prefix, Value: val}, p.personal, true
		}
	}
	return IDNumber{}, false, false
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// Handle identifies a certificate independently of where it is: the
// hexadecimal SHA-256 of its DER encoding. It stays the same when a token is
// pulled out and plugged back in, or moved to another USB port.
type Handle string

// HandleOf returns the Handle of a certificate.
func HandleOf(c *x509.Certificate) Handle {
	h := sha256.Sum256(c.Raw)
	return Handle(hex.EncodeToString(h[:]))
}

// Certificate is an X.509 certificate found in a key store, with what kyso
// needs to show it and to find its private key.
type Certificate struct {
	Handle   Handle            `json:"handle"`
	X509     *x509.Certificate `json:"-"`
	Identity Identity          `json:"identity"`
	Issuer   string            `json:"issuer"` // issuer CN
	Serial   string            `json:"serial"` // hexadecimal
	// NotBefore and NotAfter are the validity period.
	NotBefore   time.Time `json:"notBefore"`
	NotAfter    time.Time `json:"notAfter"`
	KeyUsage    []string  `json:"keyUsage"`
	ExtKeyUsage []string  `json:"extKeyUsage"`
	// IsCA marks a CA certificate stored on the token (issuers' certificates
	// often ship on the token for chain building).
	IsCA    bool   `json:"isCA"`
	KeyType string `json:"keyType"` // "RSA", "EC"
	KeySize int    `json:"keySize"` // modulus bits or curve size
	// HasPrivateKey reports whether the store holds the matching private
	// key. On tokens that hide private keys until login, it is decided from
	// the matching public key object.
	HasPrivateKey bool `json:"hasPrivateKey"`
	// Label and ID are the PKCS#11 CKA_LABEL and CKA_ID (hex) of the
	// certificate object; empty for file stores.
	Label string `json:"label,omitempty"`
	ID    string `json:"id,omitempty"`
	// TokenID names the token holding the certificate (TokenInfo.ID), or the
	// file for a PKCS#12 store.
	TokenID string `json:"tokenId"`
}

// newCertificate fills the derived fields of a Certificate.
func newCertificate(c *x509.Certificate) *Certificate {
	kt, ks := keyTypeSize(c.PublicKey)
	return &Certificate{
		Handle:      HandleOf(c),
		X509:        c,
		Identity:    ParseIdentity(c),
		Issuer:      c.Issuer.CommonName,
		Serial:      strings.ToUpper(c.SerialNumber.Text(16)),
		NotBefore:   c.NotBefore,
		NotAfter:    c.NotAfter,
		KeyUsage:    keyUsageNames(c.KeyUsage),
		ExtKeyUsage: extKeyUsageNames(c.ExtKeyUsage),
		IsCA:        c.IsCA,
		KeyType:     kt,
		KeySize:     ks,
	}
}

// ValidAt reports whether t lies within the certificate's validity period.
func (c *Certificate) ValidAt(t time.Time) bool {
	return !t.Before(c.NotBefore) && !t.After(c.NotAfter)
}

// CanSign reports whether the key usage allows document signatures: the
// certificate must have digitalSignature or nonRepudiation (contentCommitment)
// when it restricts key usage at all.
func (c *Certificate) CanSign() bool {
	ku := c.X509.KeyUsage
	return ku == 0 || ku&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) != 0
}

func keyTypeSize(pub any) (string, int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "EC", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	default:
		return fmt.Sprintf("%T", pub), 0
	}
}

func keyUsageNames(ku x509.KeyUsage) []string {
	names := []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digitalSignature"},
		{x509.KeyUsageContentCommitment, "nonRepudiation"},
		{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
		{x509.KeyUsageDataEncipherment, "dataEncipherment"},
		{x509.KeyUsageKeyAgreement, "keyAgreement"},
		{x509.KeyUsageCertSign, "keyCertSign"},
		{x509.KeyUsageCRLSign, "cRLSign"},
	}
	out := []string{}
	for _, n := range names {
		if ku&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func extKeyUsageNames(eku []x509.ExtKeyUsage) []string {
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageAny:             "any",
		x509.ExtKeyUsageServerAuth:      "serverAuth",
		x509.ExtKeyUsageClientAuth:      "clientAuth",
		x509.ExtKeyUsageCodeSigning:     "codeSigning",
		x509.ExtKeyUsageEmailProtection: "emailProtection",
		x509.ExtKeyUsageTimeStamping:    "timeStamping",
		x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
	}
	out := []string{}
	for _, u := range eku {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("%d", u))
		}
	}
	return out
}
