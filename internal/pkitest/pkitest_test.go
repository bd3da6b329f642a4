package pkitest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pkitest"
)

// get fetches url and returns the status code and body.
func get(t *testing.T, method, url string, body []byte) (int, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/ocsp-request")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, nil
}

// issue gives a fresh P-256 key a personal certificate from s's PKI.
func issue(t *testing.T, s *pkitest.Server, prof devpki.Profile) *x509.Certificate {
	t.Helper()
	key, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := s.PKI.Issue(prof, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestOCSP(t *testing.T) {
	s := pkitest.Start(t, pkitest.Options{})
	good := issue(t, s, devpki.Personal())
	revoked := issue(t, s, devpki.Personal().AsRevoked())
	forced := issue(t, s, devpki.Personal())
	s.SetOCSPStatus(forced.SerialNumber, ocsp.Unknown)
	pki := s.PKI

	tests := []struct {
		name         string
		cert, issuer *x509.Certificate
		method       string // "POST", "GET" or "GET-escaped"
		want         int
	}{
		{"good POST", good, pki.Intermediate.Cert, "POST", ocsp.Good},
		{"good GET", good, pki.Intermediate.Cert, "GET", ocsp.Good},
		{"good GET, escaped", good, pki.Intermediate.Cert, "GET-escaped", ocsp.Good},
		{"revoked", revoked, pki.Intermediate.Cert, "POST", ocsp.Revoked},
		{"forced unknown", forced, pki.Intermediate.Cert, "POST", ocsp.Unknown},
		{"intermediate, answered by the root", pki.Intermediate.Cert, pki.Root.Cert, "POST", ocsp.Good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ocsp.CreateRequest(tt.cert, tt.issuer, nil)
			if err != nil {
				t.Fatal(err)
			}
			var code int
			var body []byte
			switch enc := base64.StdEncoding.EncodeToString(req); tt.method {
			case "GET":
				code, body, err = get(t, http.MethodGet, pki.OCSPURL()+"/"+enc, nil)
			case "GET-escaped":
				code, body, err = get(t, http.MethodGet, pki.OCSPURL()+"/"+url.PathEscape(enc), nil)
			default:
				code, body, err = get(t, http.MethodPost, pki.OCSPURL(), req)
			}
			if err != nil || code != http.StatusOK {
				t.Fatalf("OCSP request: %d, %v", code, err)
			}
			resp, err := ocsp.ParseResponseForCert(body, tt.cert, tt.issuer)
			if err != nil {
				t.Fatalf("parse response: %v", err)
			}
			if resp.Status != tt.want {
				t.Errorf("status %d, want %d", resp.Status, tt.want)
			}
			if resp.NextUpdate.Sub(resp.ThisUpdate) < 24*time.Hour {
				t.Errorf("validity %v .. %v, want at least a day", resp.ThisUpdate, resp.NextUpdate)
			}
			if tt.want == ocsp.Revoked {
				e, _ := pki.RevocationOf(tt.cert.SerialNumber)
				if !resp.RevokedAt.Equal(e.RevocationTime) {
					t.Errorf("revoked at %v, want %v", resp.RevokedAt, e.RevocationTime)
				}
			}
		})
	}

	// A certificate of another PKI is not this responder's business.
	other := pkitest.Start(t, pkitest.Options{})
	stranger := issue(t, other, devpki.Personal())
	req, err := ocsp.CreateRequest(stranger, other.PKI.Intermediate.Cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, body, err := get(t, http.MethodPost, pki.OCSPURL(), req)
	if err != nil {
		t.Fatal(err)
	}
	var re ocsp.ResponseError
	if _, err := ocsp.ParseResponse(body, nil); !errors.As(err, &re) || re.Status != ocsp.Unauthorized {
		t.Errorf("foreign certificate: %v, want unauthorized", err)
	}
	if n, _ := s.Requests(); n != len(tests)+1 {
		t.Errorf("%d OCSP requests counted, want %d", n, len(tests)+1)
	}
}

func TestPublication(t *testing.T) {
	s := pkitest.Start(t, pkitest.Options{KeyKind: devpki.ECP384, Now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)})
	revoked := issue(t, s, devpki.Personal().AsRevoked())
	pki := s.PKI

	_, body, err := get(t, http.MethodGet, pki.CRLURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(pki.Intermediate.Cert); err != nil {
		t.Error(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(revoked.SerialNumber) != 0 {
		t.Errorf("CRL entries %v, want the revoked certificate", crl.RevokedCertificateEntries)
	}
	_, body, err = get(t, http.MethodGet, pki.RootCRLURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if crl, err := x509.ParseRevocationList(body); err != nil || crl.CheckSignatureFrom(pki.Root.Cert) != nil {
		t.Errorf("root CRL: %v", err)
	}
	for _, c := range []struct {
		url  string
		want *x509.Certificate
	}{{pki.RootCertURL(), pki.Root.Cert}, {pki.IntermediateCertURL(), pki.Intermediate.Cert}} {
		_, body, err := get(t, http.MethodGet, c.url, nil)
		if err != nil || !bytes.Equal(body, c.want.Raw) {
			t.Errorf("%s: %v", c.url, err)
		}
	}
	if _, n := s.Requests(); n != 2 {
		t.Errorf("%d CRL requests, want 2", n)
	}

	s.SetUnavailable(true)
	if code, _, err := get(t, http.MethodGet, pki.CRLURL(), nil); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("unavailable: %d, %v", code, err)
	}
	s.SetUnavailable(false)

	s.Stop()
	s.Stop() // idempotent
	if _, _, err := get(t, http.MethodGet, pki.CRLURL(), nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after Stop: %v, want connection refused", err)
	}
}

func TestSHA1Chain(t *testing.T) {
	root, inter, key, leaf := pkitest.SHA1Chain(t)
	for _, c := range []*x509.Certificate{root, inter, leaf} {
		if c.SignatureAlgorithm != x509.SHA1WithRSA {
			t.Errorf("%s: signature algorithm %v", c.Subject.CommonName, c.SignatureAlgorithm)
		}
	}
	// crypto/x509 refuses the links, which is why the chain exists.
	if err := inter.CheckSignatureFrom(root); err == nil {
		t.Error("crypto/x509 accepted a SHA-1 signature")
	}
	for _, link := range [][2]*x509.Certificate{{root, root}, {inter, root}, {leaf, inter}} {
		sum := sha1.Sum(link[0].RawTBSCertificate)
		if err := rsa.VerifyPKCS1v15(link[1].PublicKey.(*rsa.PublicKey), crypto.SHA1, sum[:], link[0].Signature); err != nil {
			t.Errorf("%s: SHA-1 signature: %v", link[0].Subject.CommonName, err)
		}
	}
	if !bytes.Equal(leaf.RawIssuer, inter.RawSubject) || !bytes.Equal(leaf.AuthorityKeyId, inter.SubjectKeyId) {
		t.Error("leaf does not name the intermediate")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if !key.Public().(equaler).Equal(leaf.PublicKey) {
		t.Error("leaf key does not match")
	}
	if !inter.IsCA || !inter.MaxPathLenZero || leaf.IsCA {
		t.Error("wrong basic constraints")
	}
}
