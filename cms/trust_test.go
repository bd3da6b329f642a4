package cms_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pkitest"
)

// issueFrom signs a certificate for a fresh P-256 key with parent's key,
// bypassing devpki so that tests can build hierarchies devpki refuses to:
// issuers that are not CAs, sub-CAs under a path length of zero.
func issueFrom(t *testing.T, tmpl, parent *x509.Certificate, parentKey crypto.Signer) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	key, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.SerialNumber == nil {
		if tmpl.SerialNumber, err = devpki.RandomSerial(); err != nil {
			t.Fatal(err)
		}
	}
	if tmpl.SubjectKeyId, err = devpki.SubjectKeyID(key.Public()); err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// chainCodeOf returns the ChainError code of err, or "" when there is none.
func chainCodeOf(err error) string {
	var ce *cms.ChainError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

func TestTrustStoreVerify(t *testing.T) {
	now := time.Now()
	pki := newPKI(t, devpki.ECP256)
	other := newPKI(t, devpki.ECP256)
	_, leaf := newSigner(t, pki, devpki.ECP256)
	_, otherLeaf := newSigner(t, other, devpki.ECP256)
	_, expired := func() (crypto.Signer, *x509.Certificate) {
		key, _ := devpki.GenerateSoftKey(devpki.ECP256)
		c, err := pki.Issue(devpki.Personal().AsExpired(), key.Public())
		if err != nil {
			t.Fatal(err)
		}
		return key, c
	}()
	notYet, err := pki.Issue(devpki.Personal().AsNotYetValid(), leaf.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, root := pki.Intermediate.Cert, pki.Root.Cert

	// A leaf whose signature was damaged after issue.
	badDER := bytes.Clone(leaf.Raw)
	badDER[len(badDER)-1] ^= 0x01
	badSig, err := x509.ParseCertificate(badDER)
	if err != nil {
		t.Fatal(err)
	}

	// An end-entity certificate used as an issuer.
	eeTmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "end entity"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	eeKey, ee := issueFrom(t, eeTmpl, inter, pki.Intermediate.Key)
	_, underEE := issueFrom(t, &x509.Certificate{Subject: pkix.Name{CommonName: "under an end entity"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, ee, eeKey)

	// A sub-CA below the intermediate, whose path length is zero.
	subTmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "sub CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLen: -1}
	subKey, sub := issueFrom(t, subTmpl, inter, pki.Intermediate.Key)
	_, underSub := issueFrom(t, &x509.Certificate{Subject: pkix.Name{CommonName: "under the sub CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, sub, subKey)

	// The root re-issued with the same key and name but a new serial and
	// validity: it still anchors the intermediate the old one signed.
	reTmpl := *root
	reTmpl.NotAfter = root.NotAfter.Add(365 * 24 * time.Hour)
	if reTmpl.SerialNumber, err = devpki.RandomSerial(); err != nil {
		t.Fatal(err)
	}
	reDER, err := x509.CreateCertificate(rand.Reader, &reTmpl, &reTmpl, root.PublicKey, pki.Root.Key)
	if err != nil {
		t.Fatal(err)
	}
	reissued, err := x509.ParseCertificate(reDER)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		roots         []*x509.Certificate
		leaf          *x509.Certificate
		intermediates []*x509.Certificate
		at            time.Time
		wantCode      string
		wantFault     *x509.Certificate
		wantPath      []*x509.Certificate
	}{
		{name: "good", roots: []*x509.Certificate{root}, leaf: leaf, intermediates: []*x509.Certificate{inter},
			wantPath: []*x509.Certificate{leaf, inter, root}},
		{name: "extras in any order", roots: []*x509.Certificate{other.Root.Cert, root}, leaf: leaf,
			intermediates: []*x509.Certificate{root, other.Intermediate.Cert, otherLeaf, inter, leaf},
			wantPath:      []*x509.Certificate{leaf, inter, root}},
		{name: "leaf is an anchor", roots: []*x509.Certificate{leaf}, leaf: leaf, wantPath: []*x509.Certificate{leaf}},
		{name: "re-issued root", roots: []*x509.Certificate{reissued}, leaf: leaf, intermediates: []*x509.Certificate{inter, root},
			wantPath: []*x509.Certificate{leaf, inter, reissued}},
		{name: "intermediate missing", roots: []*x509.Certificate{root}, leaf: leaf, wantCode: cms.CodeChainUntrusted, wantFault: leaf},
		// Both devpki hierarchies use the same names: only the key
		// identifiers and signatures tell them apart.
		{name: "other root", roots: []*x509.Certificate{other.Root.Cert}, leaf: leaf, intermediates: []*x509.Certificate{inter},
			wantCode: cms.CodeChainUntrusted},
		{name: "no roots", leaf: leaf, intermediates: []*x509.Certificate{inter, root}, wantCode: cms.CodeChainUntrusted},
		{name: "expired leaf", roots: []*x509.Certificate{root}, leaf: expired, intermediates: []*x509.Certificate{inter},
			wantCode: cms.CodeCertExpired, wantFault: expired},
		{name: "expired leaf, checked when valid", roots: []*x509.Certificate{root}, leaf: expired, intermediates: []*x509.Certificate{inter},
			at: expired.NotAfter.Add(-time.Hour), wantPath: []*x509.Certificate{expired, inter, root}},
		{name: "not yet valid", roots: []*x509.Certificate{root}, leaf: notYet, intermediates: []*x509.Certificate{inter},
			wantCode: cms.CodeCertNotYetValid, wantFault: notYet},
		{name: "root expired", roots: []*x509.Certificate{root}, leaf: leaf, intermediates: []*x509.Certificate{inter},
			at: root.NotAfter.Add(time.Hour), wantCode: cms.CodeCertExpired},
		{name: "bad signature", roots: []*x509.Certificate{root}, leaf: badSig, intermediates: []*x509.Certificate{inter},
			wantCode: cms.CodeBadCertSignature, wantFault: badSig},
		{name: "issuer not a CA", roots: []*x509.Certificate{root}, leaf: underEE, intermediates: []*x509.Certificate{ee, inter},
			wantCode: cms.CodeCANotAllowed, wantFault: ee},
		{name: "path length exceeded", roots: []*x509.Certificate{root}, leaf: underSub, intermediates: []*x509.Certificate{sub, inter},
			wantCode: cms.CodeCANotAllowed, wantFault: inter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cms.NewTrustStore()
			for _, r := range tt.roots {
				s.AddRoot(r)
			}
			at := tt.at
			if at.IsZero() {
				at = now
			}
			chain, err := s.Verify(tt.leaf, tt.intermediates, at)
			if tt.wantCode != "" {
				if got := chainCodeOf(err); got != tt.wantCode {
					t.Fatalf("error %v (code %q), want %s", err, got, tt.wantCode)
				}
				var ce *cms.ChainError
				errors.As(err, &ce)
				if tt.wantFault != nil && (ce.Cert == nil || !ce.Cert.Equal(tt.wantFault)) {
					t.Errorf("fault at %v, want %s", ce.Cert, tt.wantFault.Subject)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(chain.Certificates, tt.wantPath, (*x509.Certificate).Equal) {
				t.Errorf("path has %d certificates, want %d", len(chain.Certificates), len(tt.wantPath))
			}
			if chain.LegacySHA1 || len(chain.Warnings) != 0 {
				t.Errorf("legacy %v, warnings %v", chain.LegacySHA1, chain.Warnings)
			}
		})
	}
}

func TestTrustStoreSHA1(t *testing.T) {
	root, inter, _, leaf := pkitest.SHA1Chain(t)
	now := time.Now()
	tests := []struct {
		name     string
		legacy   bool
		wantCode string
	}{
		{"legacy root", true, ""},
		{"ordinary root", false, cms.CodeSHA1Refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cms.NewTrustStore()
			if tt.legacy {
				s.AddLegacyRoot(root)
			} else {
				s.AddRoot(root)
			}
			chain, err := s.Verify(leaf, []*x509.Certificate{inter}, now)
			if tt.wantCode != "" {
				if got := chainCodeOf(err); got != tt.wantCode {
					t.Fatalf("error %v, want %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !chain.LegacySHA1 || !slices.Equal(chain.Warnings, []string{cms.WarningLegacySHA1Chain}) {
				t.Errorf("legacy %v, warnings %v", chain.LegacySHA1, chain.Warnings)
			}
			if len(chain.Certificates) != 3 || !chain.Certificates[2].Equal(root) {
				t.Errorf("path of %d certificates", len(chain.Certificates))
			}
			// Expiry is still checked on a legacy path.
			if _, err := s.Verify(leaf, []*x509.Certificate{inter}, leaf.NotAfter.Add(time.Hour)); chainCodeOf(err) != cms.CodeCertExpired {
				t.Errorf("after expiry: %v", err)
			}
		})
	}

	// Adding the same root again as legacy upgrades it, without a
	// duplicate entry.
	s := cms.NewTrustStore()
	s.AddRoot(root)
	s.AddLegacyRoot(root)
	if n := len(s.Roots()); n != 1 {
		t.Errorf("%d roots after adding one twice", n)
	}
	if _, err := s.Verify(leaf, []*x509.Certificate{inter}, now); err != nil {
		t.Errorf("after upgrade to legacy: %v", err)
	}
}

// TestTrustStorePrefersSHA2 offers two copies of the intermediate, one
// re-signed with SHA-1: the SHA-256 path wins even under a legacy root,
// and the SHA-1 one alone is refused under an ordinary root.
func TestTrustStorePrefersSHA2(t *testing.T) {
	pki := newPKI(t, devpki.RSA2048)
	_, leaf := newSigner(t, pki, devpki.ECP256)
	inter := pki.Intermediate.Cert
	interSHA1, err := pkitest.ResignSHA1(inter.Raw, pki.Root.Key.(*rsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		legacy        bool
		intermediates []*x509.Certificate
		wantLegacy    bool
		wantCode      string
	}{
		{"both, ordinary root", false, []*x509.Certificate{interSHA1, inter}, false, ""},
		{"both, legacy root", true, []*x509.Certificate{interSHA1, inter}, false, ""},
		{"SHA-1 only, legacy root", true, []*x509.Certificate{interSHA1}, true, ""},
		{"SHA-1 only, ordinary root", false, []*x509.Certificate{interSHA1}, false, cms.CodeSHA1Refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cms.NewTrustStore()
			if tt.legacy {
				s.AddLegacyRoot(pki.Root.Cert)
			} else {
				s.AddRoot(pki.Root.Cert)
			}
			chain, err := s.Verify(leaf, tt.intermediates, time.Now())
			if tt.wantCode != "" {
				if got := chainCodeOf(err); got != tt.wantCode {
					t.Fatalf("error %v, want %s", err, tt.wantCode)
				}
				var ce *cms.ChainError
				if errors.As(err, &ce); ce.Cert == nil || !ce.Cert.Equal(interSHA1) {
					t.Errorf("fault at %v, want the SHA-1 intermediate", ce.Cert)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if chain.LegacySHA1 != tt.wantLegacy {
				t.Errorf("legacy %v, want %v", chain.LegacySHA1, tt.wantLegacy)
			}
			wantInter := inter
			if tt.wantLegacy {
				wantInter = interSHA1
			}
			if !chain.Certificates[1].Equal(wantInter) {
				t.Error("wrong intermediate in the path")
			}
		})
	}
}

func TestTrustStoreConcurrent(t *testing.T) {
	pki := newPKI(t, devpki.ECP256)
	_, leaf := newSigner(t, pki, devpki.ECP256)
	s := cms.NewTrustStore()
	if err := s.AddPEM(pemCerts(pki.Root.Cert), false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Verify(leaf, []*x509.Certificate{pki.Intermediate.Cert}, time.Now()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.AddPEM([]byte("not PEM"), false); err == nil {
		t.Error("AddPEM accepted garbage")
	}
}

// TestVietnameseRoots checks the shipped public certificates: each parses,
// the G1 sub-CA chains to the G1 root only when that root is legacy, and
// the SHA-256 hierarchies chain normally.
func TestVietnameseRoots(t *testing.T) {
	dir := "vnroots"
	files, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no PEM files in %s: %v", dir, err)
	}
	certs := map[string]*x509.Certificate{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := cms.ParseCertificatesPEM(data)
		if err != nil || len(cs) != 1 {
			t.Fatalf("%s: %d certificates, %v", f, len(cs), err)
		}
		certs[filepath.Base(f)] = cs[0]
	}
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		leaf, root string
		legacy     bool
		wantCode   string
	}{
		{"vgca-g1-cp.pem", "vgca-g1-rootca.pem", true, ""},
		{"vgca-g1-cp.pem", "vgca-g1-rootca.pem", false, cms.CodeSHA1Refused},
		{"cpcag2.pem", "rootcag2.pem", false, ""},
		{"dcscag2.pem", "rootcag2.pem", false, ""},
		{"vnpt-ca-sha2.pem", "vnrca256.pem", false, ""},
		{"vgca-g1-cp.pem", "rootcag2.pem", true, cms.CodeChainUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.leaf+"→"+tt.root, func(t *testing.T) {
			s := cms.NewTrustStore()
			data, err := os.ReadFile(filepath.Join(dir, tt.root))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AddPEM(data, tt.legacy); err != nil {
				t.Fatal(err)
			}
			chain, err := s.Verify(certs[tt.leaf], nil, at)
			if tt.wantCode != "" {
				if got := chainCodeOf(err); got != tt.wantCode {
					t.Fatalf("error %v, want %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantLegacy := certs[tt.leaf].SignatureAlgorithm == x509.SHA1WithRSA
			if chain.LegacySHA1 != wantLegacy || len(chain.Certificates) != 2 {
				t.Errorf("legacy %v (want %v), %d certificates", chain.LegacySHA1, wantLegacy, len(chain.Certificates))
			}
		})
	}
}
