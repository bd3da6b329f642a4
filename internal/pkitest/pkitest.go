// Package pkitest publishes a devpki PKI on 127.0.0.1 for tests: the CA
// certificates, both CRLs and an RFC 6960 OCSP responder, at exactly the
// URLs devpki bakes into the certificates it issues. Switches make the
// responder lie about a status or the whole server fail, so that
// revocation checking can be tested without the Internet.
//
// It also builds a SHA-1 signed hierarchy (SHA1Chain) shaped like the
// Vietnamese government G1 chain, which crypto/x509 cannot create.
package pkitest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/kyso-vn/kyso/internal/devpki"
)

// maxRequest bounds what the responder reads from a request body.
const maxRequest = 64 << 10

// Options configures New and Start.
type Options struct {
	// KeyKind is the algorithm of the CA keys; zero means devpki.ECP256,
	// the fastest to generate.
	KeyKind devpki.KeyKind
	// Now fixes the PKI clock (devpki.Options.Now); zero means the wall
	// clock.
	Now time.Time
}

// Server publishes a devpki PKI. Its methods are safe for concurrent use.
type Server struct {
	// PKI is the hierarchy whose certificates point at URL.
	PKI *devpki.PKI
	// URL is the base URL, e.g. "http://127.0.0.1:41234".
	URL string

	srv         *httptest.Server
	stopOnce    sync.Once
	unavailable atomic.Bool
	ocspCount   atomic.Int64
	crlCount    atomic.Int64

	mu        sync.Mutex
	overrides map[string]int // serial (decimal) → forced OCSP status
}

// Start is New for a test: it fails the test on error and stops the
// server when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// New listens on 127.0.0.1, creates a PKI whose URLs name that address and
// serves it until Stop (for a TestMain, which has no testing.TB). The
// listener comes first because the port must be known before the
// certificates are signed.
func New(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pkitest: listen: %w", err)
	}
	kind := opts.KeyKind
	if kind == 0 {
		kind = devpki.ECP256
	}
	base := "http://" + ln.Addr().String()
	pki, err := devpki.New(devpki.Options{BaseURL: base, Now: opts.Now, KeyKind: kind})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("pkitest: %w", err)
	}
	s := &Server{PKI: pki, URL: base, overrides: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc(pathOf(pki.RootCertURL()), s.serveDER(func() ([]byte, error) { return pki.Root.Cert.Raw, nil }, false))
	mux.HandleFunc(pathOf(pki.IntermediateCertURL()), s.serveDER(func() ([]byte, error) { return pki.Intermediate.Cert.Raw, nil }, false))
	mux.HandleFunc(pathOf(pki.CRLURL()), s.serveDER(pki.CRL, true))
	mux.HandleFunc(pathOf(pki.RootCRLURL()), s.serveDER(pki.RootCRL, true))
	ocspPath := pathOf(pki.OCSPURL())
	// OCSP bypasses the mux: a GET request (RFC 6960 appendix A.1,
	// {url}/{base64 of the DER request}) may contain "//", which the mux
	// would answer with a redirect to the cleaned path.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == ocspPath || strings.HasPrefix(r.URL.Path, ocspPath+"/") {
			s.serveOCSP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})

	s.srv = httptest.NewUnstartedServer(handler)
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	return s, nil
}

// pathOf returns the path of one of the PKI's URLs, which all share the
// server's base.
func pathOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(fmt.Sprintf("pkitest: devpki URL %q: %v", u, err)) // devpki validated the base
	}
	return p.Path
}

// Stop closes the listener, so that later connections are refused, and
// waits for running handlers. It may be called more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(s.srv.Close)
}

// SetOCSPStatus makes the responder answer status (ocsp.Good, ocsp.Revoked
// or ocsp.Unknown) for serial whatever the PKI's revocation list says.
// A forced ocsp.Revoked without a revocation entry is dated at the PKI
// clock.
func (s *Server) SetOCSPStatus(serial *big.Int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overrides[serial.String()] = status
}

// SetUnavailable makes every endpoint answer HTTP 503 while on.
func (s *Server) SetUnavailable(on bool) { s.unavailable.Store(on) }

// Requests returns how many OCSP and CRL requests the server has received,
// including those answered 503.
func (s *Server) Requests() (ocspRequests, crlRequests int) {
	return int(s.ocspCount.Load()), int(s.crlCount.Load())
}

// serveDER answers GET with the DER that get returns.
func (s *Server) serveDER(get func() ([]byte, error), isCRL bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		contentType := "application/pkix-cert"
		if isCRL {
			s.crlCount.Add(1)
			contentType = "application/pkix-crl"
		}
		if s.unavailable.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		der, err := get()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(der)
	}
}

// serveOCSP answers an OCSP request sent by POST or GET.
func (s *Server) serveOCSP(w http.ResponseWriter, r *http.Request) {
	s.ocspCount.Add(1)
	if s.unavailable.Load() {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	var der []byte
	switch r.Method {
	case http.MethodPost:
		b, err := io.ReadAll(io.LimitReader(r.Body, maxRequest))
		if err != nil {
			return
		}
		der = b
	case http.MethodGet:
		enc := strings.TrimPrefix(r.URL.EscapedPath(), pathOf(s.PKI.OCSPURL())+"/")
		if unescaped, err := url.PathUnescape(enc); err == nil {
			enc = unescaped
		}
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			s.writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
		der = b
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	s.writeOCSP(w, s.respond(der))
}

func (s *Server) writeOCSP(w http.ResponseWriter, resp []byte) {
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}

// respond builds the DER OCSPResponse for a DER OCSPRequest.
func (s *Server) respond(der []byte) []byte {
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse
	}
	// The intermediate answers for what it issued, the root for the
	// intermediate: each CA signs directly, without a delegated responder.
	var ca *devpki.CA
	for _, c := range []*devpki.CA{s.PKI.Intermediate, s.PKI.Root} {
		if matchesIssuer(req, c.Cert) {
			ca = c
			break
		}
	}
	if ca == nil {
		return ocsp.UnauthorizedErrorResponse
	}
	now := s.PKI.Now()
	tmpl := ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now.Add(-time.Minute).UTC().Truncate(time.Second),
		NextUpdate:   now.Add(24 * time.Hour).UTC().Truncate(time.Second),
		IssuerHash:   req.HashAlgorithm,
	}
	entry, revoked := s.PKI.RevocationOf(req.SerialNumber)
	if revoked {
		tmpl.Status = ocsp.Revoked
		tmpl.RevokedAt = entry.RevocationTime
		tmpl.RevocationReason = entry.ReasonCode
	}
	s.mu.Lock()
	forced, ok := s.overrides[req.SerialNumber.String()]
	s.mu.Unlock()
	if ok {
		tmpl.Status = forced
		if forced == ocsp.Revoked && !revoked {
			tmpl.RevokedAt = now.UTC().Truncate(time.Second)
		}
	}
	resp, err := ocsp.CreateResponse(ca.Cert, ca.Cert, tmpl, ca.Key)
	if err != nil {
		return ocsp.InternalErrorErrorResponse
	}
	return resp
}

// matchesIssuer reports whether req names ca as the issuer.
func matchesIssuer(req *ocsp.Request, ca *x509.Certificate) bool {
	if !req.HashAlgorithm.Available() {
		return false
	}
	keyHash, err := issuerKeyHash(ca, req.HashAlgorithm)
	if err != nil {
		return false
	}
	h := req.HashAlgorithm.New()
	h.Write(ca.RawSubject)
	return bytes.Equal(h.Sum(nil), req.IssuerNameHash) && bytes.Equal(keyHash, req.IssuerKeyHash)
}

// issuerKeyHash hashes the subjectPublicKey BIT STRING of ca, as CertID
// does.
func issuerKeyHash(ca *x509.Certificate, hash crypto.Hash) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(ca.RawSubjectPublicKeyInfo, &spki); err != nil || len(rest) != 0 {
		return nil, errors.New("malformed subjectPublicKeyInfo")
	}
	h := hash.New()
	h.Write(spki.PublicKey.RightAlign())
	return h.Sum(nil), nil
}
