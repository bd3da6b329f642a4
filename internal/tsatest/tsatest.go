// Package tsatest runs a local RFC 3161 time-stamping authority for tests.
// Its certificate is issued by a devpki intermediate; options make it slow,
// silent, failing or dishonest so that clients' error handling can be
// tested. It listens on 127.0.0.1 only.
package tsatest

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/kyso-vn/kyso/internal/devpki"
)

// DefaultPolicy is the TSA policy of issued tokens when the request names
// none: an OID under the IANA enterprise number reserved for documentation
// (RFC 5612).
const DefaultPolicy = "1.3.6.1.4.1.32473.3161.1"

// Options shapes the server's behaviour. The zero value is an honest,
// prompt TSA.
type Options struct {
	// Delay postpones every answer.
	Delay time.Duration
	// Hang never answers: the handler waits until the client gives up or
	// the server is closed.
	Hang bool
	// Status is the PKIStatus to answer with. 0 (granted) and 1
	// (grantedWithMods) carry a token; others, e.g. 2 (rejection), carry
	// only the status and FailInfo.
	Status int
	// FailInfo is the PKIFailureInfo bit set when Status is an error
	// (RFC 3161 section 2.4.2): 0 badAlg, 2 badRequest, 5 badDataFormat,
	// 14 timeNotAvailable, 15 unacceptedPolicy, 16 unacceptedExtension,
	// 17 addInfoNotAvailable, 25 systemFailure.
	FailInfo int
	// HTTPStatus, when neither 0 nor 200, is answered with an empty body.
	HTTPStatus int
	// ContentType overrides the response's Content-Type header.
	ContentType string
	// WrongImprint signs a message imprint that differs from the request.
	WrongImprint bool
	// WrongNonce echoes a nonce one greater than the request's.
	WrongNonce bool
	// CorruptSignature flips a bit in the token's signature value.
	CorruptSignature bool
	// NoEKU issues the TSA certificate without an extended key usage.
	NoEKU bool
	// NonCriticalEKU issues the TSA certificate with id-kp-timeStamping
	// in a non-critical extension, as devpki writes it; RFC 3161 and
	// OpenSSL require it critical.
	NonCriticalEKU bool
	// KeyKind is the TSA key algorithm; zero means devpki.RSA2048.
	KeyKind devpki.KeyKind
	// Policy, a dotted OID, is put into every token whatever the request
	// asked for. Empty means the requested policy, or DefaultPolicy.
	Policy string
}

// Server is a running TSA.
type Server struct {
	// URL is the endpoint to POST timestamp queries to.
	URL string
	// Cert is the TSA certificate; Chain is the CA certificates above it,
	// intermediate first.
	Cert  *x509.Certificate
	Chain []*x509.Certificate

	key      crypto.Signer
	opts     Options
	srv      *httptest.Server
	quit     chan struct{}
	once     sync.Once
	requests atomic.Int64
}

// Start issues a TSA certificate from pki's intermediate CA and starts the
// server on 127.0.0.1. It is closed by t.Cleanup; Close may be called
// earlier.
func Start(t testing.TB, pki *devpki.PKI, opts Options) *Server {
	t.Helper()
	kind := opts.KeyKind
	if kind == 0 {
		kind = devpki.RSA2048
	}
	key, err := devpki.GenerateSoftKey(kind)
	if err != nil {
		t.Fatalf("tsatest: %v", err)
	}
	cert, err := issueCertificate(pki, key.Public(), opts)
	if err != nil {
		t.Fatalf("tsatest: issue TSA certificate: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tsatest: listen: %v", err)
	}
	s := &Server{
		Cert:  cert,
		Chain: pki.Chain(),
		key:   key,
		opts:  opts,
		quit:  make(chan struct{}),
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close releases hanging and delayed requests and stops the server. It
// returns once every handler has returned, so no goroutine of the server
// outlives it.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.quit)
		s.srv.Close()
	})
}

// Requests returns how many HTTP requests the server has received.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// issueCertificate creates the TSA certificate for pub. The profile is
// devpki's organisation profile renamed, with the timeStamping purpose.
// devpki cannot mark an extension critical, so unless the test wants the
// non-critical variant the certificate devpki issued serves as the
// template for a second one, signed by the same intermediate, whose
// extended key usage extension is critical.
func issueCertificate(pki *devpki.PKI, pub crypto.PublicKey, opts Options) (*x509.Certificate, error) {
	prof := devpki.Organisation()
	prof.Name = "tsa"
	prof.CommonName = "kyso Test TSA"
	prof.UIDs = nil
	prof.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	prof.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	if opts.NoEKU {
		prof.ExtKeyUsage = nil
	}
	cert, err := pki.Issue(prof, pub)
	if err != nil {
		return nil, err
	}
	if opts.NoEKU || opts.NonCriticalEKU {
		return cert, nil
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		return nil, err
	}
	serial, err := devpki.RandomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := *cert
	tmpl.SerialNumber = serial
	tmpl.ExtKeyUsage = nil
	tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, pki.Intermediate.Cert, pub, pki.Intermediate.Key)
	if err != nil {
		return nil, fmt.Errorf("re-issue with a critical EKU: %w", err)
	}
	return x509.ParseCertificate(der)
}

// handle answers one timestamp query according to the options.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.opts.Delay > 0 {
		timer := time.NewTimer(s.opts.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
	if s.opts.Hang {
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a timestamp query", http.StatusMethodNotAllowed)
		return
	}
	if s.opts.HTTPStatus != 0 && s.opts.HTTPStatus != http.StatusOK {
		w.WriteHeader(s.opts.HTTPStatus)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	resp, err := s.respond(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ct := s.opts.ContentType
	if ct == "" {
		ct = "application/timestamp-reply"
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(resp)
}

// respond builds the DER TimeStampResp for a query.
func (s *Server) respond(query []byte) ([]byte, error) {
	req, err := timestamp.ParseRequest(query)
	if err != nil {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadDataFormat)
	}
	if s.opts.Status != 0 && s.opts.Status != 1 {
		return timestamp.CreateErrorResponse(timestamp.Status(s.opts.Status), timestamp.FailureInfo(s.opts.FailInfo))
	}
	policy := req.TSAPolicyOID
	if len(policy) == 0 {
		policy = parseOID(DefaultPolicy)
	}
	if s.opts.Policy != "" {
		if policy = parseOID(s.opts.Policy); policy == nil {
			return nil, fmt.Errorf("invalid policy %q", s.opts.Policy)
		}
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     slices.Clone(req.HashedMessage),
		Time:              time.Now().UTC(),
		Accuracy:          time.Second,
		Policy:            policy,
		Nonce:             req.Nonce,
		AddTSACertificate: req.Certificates,
		Certificates:      []*x509.Certificate{s.Chain[0]},
	}
	if s.opts.WrongImprint {
		ts.HashedMessage[0] ^= 0xff
	}
	if s.opts.WrongNonce {
		n := new(big.Int)
		if req.Nonce != nil {
			n.Set(req.Nonce)
		}
		ts.Nonce = n.Add(n, big.NewInt(1))
	}
	resp, err := ts.CreateResponseWithOpts(s.Cert, s.key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("create response: %w", err)
	}
	if s.opts.Status == 1 {
		if resp, err = withStatus(resp, 1); err != nil {
			return nil, err
		}
	}
	if s.opts.CorruptSignature {
		// The signature value is the last field of the last structure in
		// the response, so its final octet is the response's.
		resp[len(resp)-1] ^= 0x01
	}
	return resp, nil
}

// withStatus rewrites the PKIStatus of a granted response, keeping the
// token.
func withStatus(resp []byte, status int) ([]byte, error) {
	var in struct {
		Status asn1.RawValue
		Token  asn1.RawValue
	}
	if _, err := asn1.Unmarshal(resp, &in); err != nil {
		return nil, fmt.Errorf("re-read response: %w", err)
	}
	out := struct {
		Status struct{ Status int }
		Token  asn1.RawValue
	}{Token: in.Token}
	out.Status.Status = status
	return asn1.Marshal(out)
}

// parseOID parses a dotted OID, or returns nil.
func parseOID(s string) asn1.ObjectIdentifier {
	var oid asn1.ObjectIdentifier
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return nil
	}
	return oid
}
