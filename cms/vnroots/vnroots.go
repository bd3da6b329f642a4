// Package vnroots ships the public certificates of the Vietnamese trust
// anchors: the national root for public CAs (NEAC), the government roots of
// Ban Cơ yếu Chính phủ (G2, and G1 whose certificates are SHA-1 signed),
// and their sub-CAs. README.md beside this file lists where each came from
// and its SHA-256 fingerprint; check them against the CAs' own sites
// before a release.
package vnroots

import (
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"

	"github.com/kyso-vn/kyso/cms"
)

//go:embed *.pem
var files embed.FS

// legacyG1 lists the SHA-256 fingerprints (lowercase hex) of the
// government G1 root and its sub-CA. Their certificates are signed with
// SHA-1, which crypto/x509 refuses; tokens issued under them are still in
// use, so chains ending at the G1 root are accepted with a warning, and no
// other SHA-1 chain is.
var legacyG1 = map[string]bool{
	"f7bc89054cec7f12730d7b8cd3eb7955b163835087e5eb873edfb584763b3f90": true, // G1 RootCA
}

// Certificate is one shipped certificate.
type Certificate struct {
	File string
	Cert *x509.Certificate
	// Root: self-signed, a trust anchor. Legacy: a G1 root under which
	// SHA-1 signatures are tolerated.
	Root, Legacy bool
}

// All parses every shipped certificate, sorted by file name.
func All() ([]Certificate, error) {
	names, err := fs.Glob(files, "*.pem")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Certificate
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		certs, err := cms.ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("vnroots: %s: %w", n, err)
		}
		for _, c := range certs {
			fp := sha256.Sum256(c.Raw)
			root := string(c.RawSubject) == string(c.RawIssuer)
			out = append(out, Certificate{File: n, Cert: c, Root: root, Legacy: legacyG1[hex.EncodeToString(fp[:])]})
		}
	}
	return out, nil
}

// AddTo adds the shipped roots to s as trust anchors (the G1 root as a
// legacy anchor) and returns the shipped sub-CA certificates, which a
// verifier should offer as intermediates: signatures made with tokens
// often do not embed them.
func AddTo(s *cms.TrustStore) (intermediates []*x509.Certificate, err error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	for _, c := range all {
		switch {
		case c.Legacy:
			s.AddLegacyRoot(c.Cert)
		case c.Root:
			s.AddRoot(c.Cert)
		default:
			intermediates = append(intermediates, c.Cert)
		}
	}
	return intermediates, nil
}
