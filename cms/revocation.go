package cms

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// RevocationStatus is what a revocation check found.
type RevocationStatus int

// Revocation statuses. The zero value is RevocationUnknown, so a result
// nobody filled in never reads as good.
const (
	RevocationUnknown RevocationStatus = iota
	RevocationGood
	RevocationRevoked
)

// String returns "unknown", "good" or "revoked".
func (s RevocationStatus) String() string {
	switch s {
	case RevocationGood:
		return "good"
	case RevocationRevoked:
		return "revoked"
	case RevocationUnknown:
		return "unknown"
	}
	return fmt.Sprintf("RevocationStatus(%d)", int(s))
}

// Sources of a RevocationResult.
const (
	SourceEmbeddedOCSP = "embedded-ocsp"
	SourceEmbeddedCRL  = "embedded-crl"
	SourceOCSP         = "ocsp"
	SourceCRL          = "crl"
)

// Warning codes of a RevocationResult. They are stable strings.
const (
	// WarningRevocationUnavailable: no source gave a usable status.
	WarningRevocationUnavailable = "REVOCATION_UNAVAILABLE"
	// WarningOCSPFailed: an OCSP responder could not be reached or gave
	// an answer that is unusable (malformed, badly signed, stale, an
	// error status).
	WarningOCSPFailed = "OCSP_FAILED"
	// WarningOCSPUnknown: an OCSP responder answered "unknown".
	WarningOCSPUnknown = "OCSP_STATUS_UNKNOWN"
	// WarningCRLFailed: a CRL could not be fetched or is unusable.
	WarningCRLFailed = "CRL_FAILED"
)

// Limits of online revocation checking.
const (
	// DefaultRevocationTimeout bounds each HTTP request when
	// RevocationChecker.Timeout is zero.
	DefaultRevocationTimeout = 15 * time.Second
	maxOCSPResponseSize      = 1 << 20
	// Vietnamese CAs' CRLs reach several megabytes.
	maxCRLSize = 20 << 20
)

// reasonCertificateHold is the one CRL/OCSP reason that can be undone.
const reasonCertificateHold = 6

// ValidationData is revocation material already at hand, raw DER: a PDF's
// DSS, or the Adobe revocation archive attribute of a signature.
type ValidationData struct {
	Certificates [][]byte
	OCSPs        [][]byte // OCSPResponse, as RFC 6960 section 4.2.1
	CRLs         [][]byte
}

// RevocationChecker finds the revocation status of certificates, from
// Embedded material first and then, unless Offline, from the OCSP
// responders and CRL distribution points the certificates name. The zero
// value checks online with default limits.
type RevocationChecker struct {
	// Client makes the HTTP requests; nil means a plain client. Either
	// way every request is bounded by Timeout.
	Client *http.Client
	// Offline forbids network access: only Embedded is consulted.
	Offline bool
	// Embedded is consulted before the network.
	Embedded ValidationData
	// Timeout bounds each HTTP request; zero means
	// DefaultRevocationTimeout.
	Timeout time.Duration
}

// RevocationResult is the outcome of Check. Check never fails: when no
// source gives a status, Status is RevocationUnknown and Err says why.
type RevocationResult struct {
	Status RevocationStatus
	// RevokedAt and Reason (an RFC 5280 CRLReason) are set when revoked.
	// Status is Revoked whatever RevokedAt is; whether the revocation
	// came before the signature is the caller's comparison.
	RevokedAt time.Time
	Reason    int
	// Source is one of the Source* constants, "" when no source answered.
	Source string
	// URL is where the answer was fetched, "" for embedded material.
	URL string
	// ThisUpdate and NextUpdate of the answer; ProducedAt for OCSP.
	ThisUpdate, NextUpdate, ProducedAt time.Time
	// OCSP or CRL is the raw answer used, for embedding (PAdES B-LT).
	OCSP []byte
	CRL  []byte
	// ResponderCerts are the certificates inside the OCSP response (a
	// delegated responder and its issuer chain), to embed as well.
	ResponderCerts []*x509.Certificate
	// Warnings are stable codes (the Warning* constants), in order of
	// occurrence, without duplicates.
	Warnings []string
	// Err says why the status is unknown; nil when Good or Revoked.
	Err error
}

func (r *RevocationResult) warn(code string) {
	if !slices.Contains(r.Warnings, code) {
		r.Warnings = append(r.Warnings, code)
	}
}

// errNotForCert marks embedded material about other certificates, which
// a DSS normally holds and which is skipped silently.
var errNotForCert = errors.New("not about this certificate")

// Check finds the status that cert, issued by issuer, had at time at. The
// order is: embedded OCSP responses, embedded CRLs, then (unless Offline)
// each OCSP responder of cert and each HTTP CRL distribution point. The
// first usable answer wins: a verified answer that says revoked, or one
// that says good and was still current at at (its NextUpdate is absent
// or not before at). An OCSP "unknown" moves on to the next source.
//
// Network failures and ctx ending never make Check fail or stop early
// with an error: they leave the status unknown, with Err and warnings.
func (c *RevocationChecker) Check(ctx context.Context, cert, issuer *x509.Certificate, at time.Time) *RevocationResult {
	res := &RevocationResult{}
	if cert == nil || issuer == nil {
		res.Err = errors.New("cms: revocation check: certificate or issuer missing")
		res.warn(WarningRevocationUnavailable)
		return res
	}
	var extra []*x509.Certificate
	for _, der := range c.Embedded.Certificates {
		if x, err := x509.ParseCertificate(der); err == nil {
			extra = append(extra, x)
		}
	}
	var errs []error

	for _, der := range c.Embedded.OCSPs {
		resp, certs, err := verifyOCSP(der, cert, issuer, extra)
		if errors.Is(err, errNotForCert) {
			continue
		}
		if err == nil {
			err = res.takeOCSP(resp, certs, at)
		}
		if err == nil {
			res.Source, res.OCSP = SourceEmbeddedOCSP, bytes.Clone(der)
			return res
		}
		errs = append(errs, fmt.Errorf("embedded OCSP response: %w", err))
	}
	for _, der := range c.Embedded.CRLs {
		crl, err := verifyCRL(der, issuer)
		if errors.Is(err, errNotForCert) {
			continue
		}
		if err == nil {
			err = res.takeCRL(crl, cert, at)
		}
		if err == nil {
			res.Source, res.CRL = SourceEmbeddedCRL, bytes.Clone(der)
			return res
		}
		errs = append(errs, fmt.Errorf("embedded CRL: %w", err))
	}

	if c.Offline {
		return res.unknown(append(errs, errors.New("offline, and no embedded revocation information answers")))
	}
	client := c.client()
	timeout := c.timeout()
	for _, u := range cert.OCSPServer {
		if !isHTTP(u) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		der, resp, certs, err := fetchOCSP(ctx, client, timeout, u, cert, issuer, extra)
		if err == nil {
			err = res.takeOCSP(resp, certs, at)
		}
		if err == nil {
			res.Source, res.URL, res.OCSP = SourceOCSP, u, der
			return res
		}
		if errors.Is(err, errOCSPUnknown) {
			res.warn(WarningOCSPUnknown)
		} else {
			res.warn(WarningOCSPFailed)
		}
		errs = append(errs, fmt.Errorf("OCSP %s: %w", u, err))
	}
	for _, u := range cert.CRLDistributionPoints {
		if !isHTTP(u) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		der, crl, err := fetchCRL(ctx, client, timeout, u)
		if err == nil {
			if err = checkCRL(crl, issuer); errors.Is(err, errNotForCert) {
				err = errors.New("CRL is not issued by the certificate's issuer")
			}
		}
		if err == nil {
			err = res.takeCRL(crl, cert, at)
		}
		if err == nil {
			res.Source, res.URL, res.CRL = SourceCRL, u, der
			return res
		}
		res.warn(WarningCRLFailed)
		errs = append(errs, fmt.Errorf("CRL %s: %w", u, err))
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("the certificate names no OCSP responder or HTTP CRL distribution point"))
	}
	return res.unknown(errs)
}

// unknown finishes a result that found no status.
func (r *RevocationResult) unknown(errs []error) *RevocationResult {
	*r = RevocationResult{Warnings: r.Warnings}
	r.warn(WarningRevocationUnavailable)
	r.Err = fmt.Errorf("cms: revocation status unknown: %w", joinErrors(errs))
	return r
}

// errorList joins errors on one line, unlike errors.Join, because the
// message ends up in a single report field; errors.Is and errors.As see
// every element.
type errorList []error

func (l errorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l errorList) Unwrap() []error { return l }

// joinErrors returns the only error of errs, or all of them as one.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errorList(slices.Clone(errs))
}

// errOCSPUnknown is a responder's "unknown" answer.
var errOCSPUnknown = errors.New("responder answered unknown")

// usable reports whether an answer may be relied on for time at. A
// revocation is final (except certificateHold), so an old answer saying
// revoked still counts; a good answer must have been current at at.
func usable(revoked bool, reason int, nextUpdate, at time.Time) error {
	if revoked && reason != reasonCertificateHold {
		return nil
	}
	if !nextUpdate.IsZero() && nextUpdate.Before(at) {
		return fmt.Errorf("stale: next update %s is before %s", nextUpdate.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return nil
}

// takeOCSP fills r from a verified response, or says why it is unusable.
func (r *RevocationResult) takeOCSP(resp *ocsp.Response, certs []*x509.Certificate, at time.Time) error {
	if resp.Status == ocsp.Unknown {
		return errOCSPUnknown
	}
	revoked := resp.Status == ocsp.Revoked
	if err := usable(revoked, resp.RevocationReason, resp.NextUpdate, at); err != nil {
		return err
	}
	r.Status = RevocationGood
	if revoked {
		r.Status, r.RevokedAt, r.Reason = RevocationRevoked, resp.RevokedAt, resp.RevocationReason
	}
	r.ThisUpdate, r.NextUpdate, r.ProducedAt = resp.ThisUpdate, resp.NextUpdate, resp.ProducedAt
	r.ResponderCerts = certs
	return nil
}

// takeCRL fills r from a verified CRL of cert's issuer.
func (r *RevocationResult) takeCRL(crl *x509.RevocationList, cert *x509.Certificate, at time.Time) error {
	var entry *x509.RevocationListEntry
	for i := range crl.RevokedCertificateEntries {
		if e := &crl.RevokedCertificateEntries[i]; e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			entry = e
			break
		}
	}
	revoked := entry != nil
	reason := 0
	if revoked {
		reason = entry.ReasonCode
	}
	if err := usable(revoked, reason, crl.NextUpdate, at); err != nil {
		return err
	}
	r.Status = RevocationGood
	if revoked {
		r.Status, r.RevokedAt, r.Reason = RevocationRevoked, entry.RevocationTime, reason
	}
	r.ThisUpdate, r.NextUpdate = crl.ThisUpdate, crl.NextUpdate
	return nil
}

func (c *RevocationChecker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultRevocationTimeout
}

func (c *RevocationChecker) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return &http.Client{Timeout: c.timeout()}
}

// isHTTP reports whether u is an http or https URL; LDAP distribution
// points, common in older certificates, are skipped.
func isHTTP(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// FetchOCSP asks cert's OCSP responders in turn for its status and returns
// the first answer that verifies (signed by issuer or by a responder
// issuer delegated with id-kp-OCSPSigning), whatever status it gives. The
// response's Certificate is the delegated responder, nil when the issuer
// signed. A nil client means a plain one with DefaultRevocationTimeout.
func FetchOCSP(ctx context.Context, client *http.Client, cert, issuer *x509.Certificate) ([]byte, *ocsp.Response, error) {
	if client == nil {
		client = &http.Client{Timeout: DefaultRevocationTimeout}
	}
	var errs []error
	for _, u := range cert.OCSPServer {
		if !isHTTP(u) {
			continue
		}
		der, resp, _, err := fetchOCSP(ctx, client, DefaultRevocationTimeout, u, cert, issuer, nil)
		if err == nil {
			return der, resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	if len(errs) == 0 {
		return nil, nil, errors.New("cms: fetch OCSP: the certificate names no HTTP OCSP responder")
	}
	return nil, nil, fmt.Errorf("cms: fetch OCSP: %w", joinErrors(errs))
}

// FetchCRL downloads and parses the CRL at url (at most 20 MB). It does not
// check the signature: that needs the issuer, which the caller knows.
func FetchCRL(ctx context.Context, client *http.Client, url string) ([]byte, *x509.RevocationList, error) {
	if client == nil {
		client = &http.Client{Timeout: DefaultRevocationTimeout}
	}
	der, crl, err := fetchCRL(ctx, client, DefaultRevocationTimeout, url)
	if err != nil {
		return nil, nil, fmt.Errorf("cms: fetch CRL %s: %w", url, err)
	}
	return der, crl, nil
}

// fetchOCSP POSTs a request for cert to one responder and verifies the
// answer.
func fetchOCSP(ctx context.Context, client *http.Client, timeout time.Duration, u string, cert, issuer *x509.Certificate, extra []*x509.Certificate) ([]byte, *ocsp.Response, []*x509.Certificate, error) {
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build request: %w", err)
	}
	der, err := httpFetch(ctx, client, timeout, http.MethodPost, u, req, "application/ocsp-request", maxOCSPResponseSize)
	if err != nil {
		return nil, nil, nil, err
	}
	resp, certs, err := verifyOCSP(der, cert, issuer, extra)
	if err != nil {
		return nil, nil, nil, err
	}
	return der, resp, certs, nil
}

// fetchCRL GETs and parses one CRL.
func fetchCRL(ctx context.Context, client *http.Client, timeout time.Duration, u string) ([]byte, *x509.RevocationList, error) {
	der, err := httpFetch(ctx, client, timeout, http.MethodGet, u, nil, "", maxCRLSize)
	if err != nil {
		return nil, nil, err
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse: %w", err)
	}
	return der, crl, nil
}

// httpFetch makes one bounded request and returns the body of a 200
// answer.
func httpFetch(ctx context.Context, client *http.Client, timeout time.Duration, method, u string, body []byte, contentType string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return b, nil
}

// verifyCRL parses der and checks that issuer signed it. A CRL of another
// issuer gives errNotForCert.
func verifyCRL(der []byte, issuer *x509.Certificate) (*x509.RevocationList, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := checkCRL(crl, issuer); err != nil {
		return nil, err
	}
	return crl, nil
}

// checkCRL checks that issuer signed crl; a CRL of another issuer gives
// errNotForCert.
func checkCRL(crl *x509.RevocationList, issuer *x509.Certificate) error {
	if !sameName(crl.RawIssuer, issuer.RawSubject) ||
		(len(crl.AuthorityKeyId) > 0 && len(issuer.SubjectKeyId) > 0 && !bytes.Equal(crl.AuthorityKeyId, issuer.SubjectKeyId)) {
		return errNotForCert
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}

// ocspEnvelope and ocspBasic are the outer layers of an OCSPResponse
// (RFC 6960 section 4.2.1), read here because x/crypto/ocsp looks only at
// the first certificate of a response and does not check the issuer
// hashes of the CertID.
type ocspEnvelope struct {
	Status   asn1.Enumerated
	Response ocspResponseBytes `asn1:"explicit,tag:0,optional"`
}

type ocspResponseBytes struct {
	Type     asn1.ObjectIdentifier
	Response []byte
}

type ocspBasic struct {
	TBS       asn1.RawValue
	Algorithm asn1.RawValue
	Signature asn1.BitString
	Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

// verifyOCSP parses an OCSPResponse and checks that it answers for cert
// (serial and issuer hashes) and is signed by issuer, or by a delegated
// responder: a certificate from the response or from extra that issuer
// signed, with id-kp-OCSPSigning, valid when the response was produced.
// It returns the certificates the response carries. A response about
// other certificates gives errNotForCert.
func verifyOCSP(der []byte, cert, issuer *x509.Certificate, extra []*x509.Certificate) (*ocsp.Response, []*x509.Certificate, error) {
	var env ocspEnvelope
	if rest, err := asn1.Unmarshal(der, &env); err != nil || len(rest) != 0 {
		return nil, nil, errors.New("malformed OCSP response")
	}
	if st := ocsp.ResponseStatus(env.Status); st != ocsp.Success {
		return nil, nil, fmt.Errorf("responder status %v", st)
	}
	var basic ocspBasic
	if rest, err := asn1.Unmarshal(env.Response.Response, &basic); err != nil || len(rest) != 0 {
		return nil, nil, errors.New("malformed basic OCSP response")
	}
	match, err := ocspAnswersFor(basic.TBS.FullBytes, cert, issuer)
	if err != nil {
		return nil, nil, err
	}
	if !match {
		return nil, nil, errNotForCert
	}
	var certs []*x509.Certificate
	for _, raw := range basic.Certs {
		if c, err := x509.ParseCertificate(raw.FullBytes); err == nil {
			certs = append(certs, c)
		}
	}
	// Without the certificates x/crypto/ocsp checks no signature, which
	// is done below with every candidate signer instead of only the
	// first certificate.
	basic.Certs = nil
	if env.Response.Response, err = asn1.Marshal(basic); err != nil {
		return nil, nil, fmt.Errorf("re-encode OCSP response: %w", err)
	}
	stripped, err := asn1.Marshal(env)
	if err != nil {
		return nil, nil, fmt.Errorf("re-encode OCSP response: %w", err)
	}
	resp, err := ocsp.ParseResponseForCert(stripped, cert, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP response: %w", err)
	}
	resp.Raw = der
	if resp.CheckSignatureFrom(issuer) == nil {
		return resp, certs, nil
	}
	for _, r := range append(slices.Clone(certs), extra...) {
		if delegatedResponder(r, issuer, resp.ProducedAt) && resp.CheckSignatureFrom(r) == nil {
			resp.Certificate = r
			return resp, certs, nil
		}
	}
	return nil, nil, errors.New("OCSP response is not signed by the issuer or a responder it authorised")
}

// delegatedResponder reports whether issuer authorised r to sign OCSP
// responses about its certificates (RFC 6960 section 4.2.2.2), at time t.
func delegatedResponder(r, issuer *x509.Certificate, t time.Time) bool {
	if !bytes.Equal(r.RawIssuer, issuer.RawSubject) || !slices.Contains(r.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return false
	}
	if t.Before(r.NotBefore) || t.After(r.NotAfter) {
		return false
	}
	_, err := checkLink(r, issuer)
	return err == nil
}

// ocspAnswersFor reports whether the first SingleResponse of a DER
// ResponseData that names cert's serial also names issuer (name and key
// hashes), as x/crypto/ocsp takes that first serial match.
func ocspAnswersFor(tbs []byte, cert, issuer *x509.Certificate) (bool, error) {
	s := cryptobyte.String(tbs)
	var rd, responses, skip cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadASN1(&rd, cbasn1.SEQUENCE) ||
		!rd.SkipOptionalASN1(cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!rd.ReadAnyASN1(&skip, &tag) || // responderID
		!rd.SkipASN1(cbasn1.GeneralizedTime) ||
		!rd.ReadASN1(&responses, cbasn1.SEQUENCE) {
		return false, errors.New("malformed OCSP ResponseData")
	}
	for !responses.Empty() {
		var single, id, nameHash, keyHash cryptobyte.String
		if !responses.ReadASN1(&single, cbasn1.SEQUENCE) || !single.ReadASN1(&id, cbasn1.SEQUENCE) {
			return false, errors.New("malformed OCSP SingleResponse")
		}
		alg, err := readAlgorithmIdentifier(&id)
		if err != nil || !id.ReadASN1(&nameHash, cbasn1.OCTET_STRING) || !id.ReadASN1(&keyHash, cbasn1.OCTET_STRING) {
			return false, errors.New("malformed OCSP CertID")
		}
		serial, err := readLooseInteger(&id)
		if err != nil {
			return false, errors.New("malformed OCSP CertID serial")
		}
		if serial.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		h := hashFromOID(alg.oid)
		if h == 0 || !h.Available() {
			return false, fmt.Errorf("OCSP CertID hash %v: %w", alg.oid, ErrUnsupportedAlgorithm)
		}
		key, err := subjectPublicKeyBits(issuer)
		if err != nil {
			return false, err
		}
		sum := func(b []byte) []byte { d := h.New(); d.Write(b); return d.Sum(nil) }
		nameOK := bytes.Equal(nameHash, sum(issuer.RawSubject)) || bytes.Equal(nameHash, sum(cert.RawIssuer))
		return nameOK && bytes.Equal(keyHash, sum(key)), nil
	}
	return false, nil
}

// subjectPublicKeyBits returns the content of the subjectPublicKey BIT
// STRING of c, which CertID's issuerKeyHash hashes.
func subjectPublicKeyBits(c *x509.Certificate) ([]byte, error) {
	s := cryptobyte.String(c.RawSubjectPublicKeyInfo)
	var spki cryptobyte.String
	var bits asn1.BitString
	if !s.ReadASN1(&spki, cbasn1.SEQUENCE) || !spki.SkipASN1(cbasn1.SEQUENCE) || !spki.ReadASN1BitString(&bits) {
		return nil, errors.New("malformed issuer subjectPublicKeyInfo")
	}
	return bits.RightAlign(), nil
}
