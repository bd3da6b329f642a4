package agent

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/cms/vnroots"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// VerificationSchema names the JSON layout of VerificationReport; it
// changes only when a field changes meaning or goes away.
const VerificationSchema = "kyso.verification/v1"

// VerificationReport is what kyso says about a signed PDF: the JSON of
// `kyso verify --json` and of the agent's verifyPdf method, documented in
// docs/verification.md. Times are RFC 3339 in UTC.
type VerificationReport struct {
	Schema     string                  `json:"schema"`
	File       string                  `json:"file,omitempty"`
	Size       int64                   `json:"size"`
	SHA256     string                  `json:"sha256"`
	Verdict    pades.Verdict           `json:"verdict"`
	VerifiedAt time.Time               `json:"verifiedAt"`
	Offline    bool                    `json:"offline"`
	DocMDP     int                     `json:"docMDP"`
	HasDSS     bool                    `json:"hasDSS"`
	Signatures []SignatureVerification `json:"signatures"`
}

// SignatureVerification is one signature or document timestamp.
type SignatureVerification struct {
	Index         int                 `json:"index"`
	Field         string              `json:"field"`
	Type          pades.SignatureType `json:"type"`
	Verdict       pades.Verdict       `json:"verdict"`
	SubFilter     string              `json:"subFilter,omitempty"`
	Certification int                 `json:"certification,omitempty"`
	ByteRange     [4]int64            `json:"byteRange"`
	// Coverage.
	CoversWholeFile bool           `json:"coversWholeFile"`
	RevisionsAfter  int            `json:"revisionsAfter"`
	Changes         []ChangeReport `json:"changes"`
	// Who signed.
	Signer     *token.Identity `json:"signer,omitempty"`
	SignerCert *CertSummary    `json:"signerCertificate,omitempty"`
	Issuer     string          `json:"issuer,omitempty"`
	// When.
	ClaimedTime       *time.Time        `json:"claimedTime,omitempty"`
	Timestamp         *TimestampSummary `json:"timestamp,omitempty"`
	SigningTime       *time.Time        `json:"signingTime,omitempty"`
	SigningTimeSource string            `json:"signingTimeSource,omitempty"`
	// What.
	Reason             string `json:"reason,omitempty"`
	Location           string `json:"location,omitempty"`
	DigestAlgorithm    string `json:"digestAlgorithm,omitempty"`
	SignatureAlgorithm string `json:"signatureAlgorithm,omitempty"`
	// Checks.
	Intact     bool                `json:"intact"`
	Trusted    bool                `json:"trusted"`
	LegacySHA1 bool                `json:"legacySHA1"`
	Chain      []CertSummary       `json:"chain"`
	Revocation []RevocationSummary `json:"revocation"`
	Findings   []FindingReport     `json:"findings"`
}

// CertSummary identifies a certificate in a report.
type CertSummary struct {
	Name      string    `json:"name"` // the subject's CN
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
}

// TimestampSummary is a signature's timestamp or a document timestamp's
// token.
type TimestampSummary struct {
	Time      time.Time `json:"time"`
	Authority string    `json:"authority,omitempty"`
	Intact    bool      `json:"intact"`
	Trusted   bool      `json:"trusted"`
	Problem   string    `json:"problem,omitempty"`
}

// RevocationSummary is the revocation status of one certificate of the
// chain.
type RevocationSummary struct {
	Subject    string     `json:"subject"`
	Status     string     `json:"status"` // good, revoked, unknown
	Source     string     `json:"source,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	ThisUpdate *time.Time `json:"thisUpdate,omitempty"`
	Problem    string     `json:"problem,omitempty"`
}

// ChangeReport is one change made after a signature.
type ChangeReport struct {
	Kind      string `json:"kind"`
	Page      int    `json:"page,omitempty"`
	Field     string `json:"field,omitempty"`
	Permitted bool   `json:"permitted"`
	Violation string `json:"violation,omitempty"`
	Detail    string `json:"detail"`
}

// FindingReport is a finding with its message in the report's language.
type FindingReport struct {
	Code     string         `json:"code"`
	Severity pades.Severity `json:"severity"`
	Message  string         `json:"message"`
	Detail   string         `json:"detail"`
}

// VerifyConfig is how a verification is set up.
type VerifyConfig struct {
	// TrustPEM are extra trust anchors (PEM files' contents), on top of
	// the shipped Vietnamese roots.
	TrustPEM [][]byte
	// NoShippedRoots leaves the Vietnamese roots out (tests, closed
	// deployments).
	NoShippedRoots bool
	// SystemRoots adds the operating system's CA bundle (Linux).
	SystemRoots bool
	Offline     bool
	HTTPClient  *http.Client
	// RevocationTimeout bounds each OCSP or CRL request; zero means 15 s.
	RevocationTimeout time.Duration
	Now               time.Time
	Lang              Lang
}

// Lang is a report language: "vi" (default) or "en".
type Lang = string

// VerifyFile verifies the PDF at path and builds the report. Errors are
// for unreadable input only (see pades.Verify); path problems are wrapped
// os errors.
func VerifyFile(ctx context.Context, path string, cfg VerifyConfig) (*VerificationReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &pades.Error{Code: pades.CodeBadDocument, Reason: path + " is a folder"}
	}
	rep, err := VerifyDocument(ctx, f, st.Size(), cfg)
	if err != nil {
		return nil, err
	}
	rep.File = path
	return rep, nil
}

// VerifyDocument verifies a PDF held by in.
func VerifyDocument(ctx context.Context, in io.ReaderAt, size int64, cfg VerifyConfig) (*VerificationReport, error) {
	opts, err := verifyOptions(cfg)
	if err != nil {
		return nil, err
	}
	// The file's SHA-256 for the report comes from the pass over the file
	// that digests the signatures.
	opts.FileHash = crypto.SHA256
	pr, err := pades.Verify(ctx, in, size, opts)
	if err != nil {
		return nil, err
	}
	return buildReport(pr, hex.EncodeToString(pr.FileDigest), opts.Now, cfg), nil
}

func verifyOptions(cfg VerifyConfig) (pades.VerifyOptions, error) {
	ts := cms.NewTrustStore()
	var inter []*x509.Certificate
	if !cfg.NoShippedRoots {
		var err error
		if inter, err = vnroots.AddTo(ts); err != nil {
			return pades.VerifyOptions{}, err
		}
	}
	for i, pem := range cfg.TrustPEM {
		if err := ts.AddPEM(pem, false); err != nil {
			return pades.VerifyOptions{}, fmt.Errorf("agent: trust file %d: %w", i+1, err)
		}
	}
	if cfg.SystemRoots {
		if err := addSystemRoots(ts); err != nil {
			return pades.VerifyOptions{}, err
		}
	}
	now := cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	timeout := cfg.RevocationTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	return pades.VerifyOptions{
		Trust:             ts,
		Intermediates:     inter,
		Offline:           cfg.Offline,
		HTTPClient:        cfg.HTTPClient,
		RevocationTimeout: timeout,
		Classify:          ClassifyCertificate,
		Now:               now,
	}, nil
}

// systemBundles are where Linux distributions keep the CA bundle.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
}

func addSystemRoots(ts *cms.TrustStore) error {
	for _, p := range systemBundles {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		return ts.AddPEM(data, false)
	}
	return fmt.Errorf("agent: no system CA bundle found (looked in %v)", systemBundles)
}

func buildReport(pr *pades.Report, sum string, now time.Time, cfg VerifyConfig) *VerificationReport {
	tr := newTranslator(cfg.Lang)
	r := &VerificationReport{
		Schema:     VerificationSchema,
		Size:       pr.Size,
		SHA256:     sum,
		Verdict:    pr.Verdict(),
		VerifiedAt: now.UTC(),
		Offline:    cfg.Offline,
		DocMDP:     pr.DocMDP,
		HasDSS:     pr.HasDSS,
		Signatures: []SignatureVerification{},
	}
	for i, s := range pr.Signatures {
		sv := SignatureVerification{
			Index:              i + 1,
			Field:              s.Field,
			Type:               s.Type,
			Verdict:            s.Verdict,
			SubFilter:          s.SubFilter,
			Certification:      s.Certification,
			ByteRange:          s.ByteRange,
			CoversWholeFile:    s.CoversWholeFile,
			RevisionsAfter:     s.Revisions,
			Changes:            []ChangeReport{},
			ClaimedTime:        utcPtr(s.ClaimedTime),
			SigningTime:        utcPtr(s.SigningTime),
			SigningTimeSource:  s.SigningTimeSource,
			Reason:             s.Reason,
			Location:           s.Location,
			SignatureAlgorithm: s.SignatureAlgorithm,
			Intact:             s.Intact,
			Trusted:            s.Trusted,
			LegacySHA1:         s.LegacySHA1,
			Chain:              []CertSummary{},
			Revocation:         []RevocationSummary{},
			Findings:           []FindingReport{},
		}
		if s.DigestAlgorithm != 0 {
			sv.DigestAlgorithm = s.DigestAlgorithm.String()
		}
		if s.Signer != nil {
			id := token.ParseIdentity(s.Signer)
			sv.Signer = &id
			cs := summarize(s.Signer)
			sv.SignerCert = &cs
			sv.Issuer = s.Signer.Issuer.CommonName
		}
		if s.Timestamp != nil {
			ts := &TimestampSummary{Time: s.Timestamp.Time.UTC(), Intact: s.Timestamp.Intact, Trusted: s.Timestamp.Trusted, Problem: s.Timestamp.Problem}
			if s.Timestamp.Authority != nil {
				ts.Authority = s.Timestamp.Authority.Subject.CommonName
			}
			sv.Timestamp = ts
		}
		for _, c := range s.Changes {
			sv.Changes = append(sv.Changes, ChangeReport{Kind: string(c.Kind), Page: c.Page, Field: c.Field, Permitted: c.Permitted, Violation: c.Violation, Detail: c.Detail})
		}
		for _, c := range s.Chain {
			sv.Chain = append(sv.Chain, summarize(c))
		}
		for _, st := range s.Revocation {
			sv.Revocation = append(sv.Revocation, RevocationSummary{
				Subject:    st.Certificate.Subject.CommonName,
				Status:     st.Status.String(),
				Source:     st.Source,
				RevokedAt:  utcPtr(st.RevokedAt),
				ThisUpdate: utcPtr(st.ThisUpdate),
				Problem:    st.Problem,
			})
		}
		for _, f := range s.Findings {
			sv.Findings = append(sv.Findings, FindingReport{Code: f.Code, Severity: f.Severity, Message: tr.finding(f.Code), Detail: f.Detail})
		}
		r.Signatures = append(r.Signatures, sv)
	}
	return r
}

func summarize(c *x509.Certificate) CertSummary {
	fp := sha256.Sum256(c.Raw)
	return CertSummary{
		Name:      c.Subject.CommonName,
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		Serial:    fmt.Sprintf("%X", c.SerialNumber),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		SHA256:    hex.EncodeToString(fp[:]),
	}
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
