package pades

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// Verdict is the outcome for one signature, as ETSI EN 319 102-1 names
// them: the signature is valid, invalid, or cannot be decided with what is
// known (no trusted chain, no revocation answer).
type Verdict string

// Verdicts.
const (
	Valid         Verdict = "valid"
	Invalid       Verdict = "invalid"
	Indeterminate Verdict = "indeterminate"
)

// Severity says what a finding does to the verdict.
type Severity string

// Severities, from worst to mildest.
const (
	SeverityInvalid       Severity = "invalid"
	SeverityIndeterminate Severity = "indeterminate"
	SeverityWarning       Severity = "warning"
	SeverityInfo          Severity = "info"
)

// Finding codes. They are stable: the CLI's JSON, the agent's protocol and
// the translated messages key on them.
const (
	// Integrity.
	FindingByteRange          = "BYTE_RANGE_INVALID"
	FindingDigestMismatch     = "DIGEST_MISMATCH"
	FindingSignatureInvalid   = "SIGNATURE_INVALID"
	FindingSigningCertificate = "SIGNING_CERTIFICATE_MISMATCH"
	FindingNoCertificate      = "SIGNER_CERTIFICATE_MISSING"
	FindingUnsupported        = "UNSUPPORTED_SIGNATURE"
	// Changes after signing (see Change.Violation).
	FindingModified  = "MODIFIED_AFTER_SIGNING"
	FindingDocMDP    = "DOCMDP_VIOLATION"
	FindingFieldMDP  = "FIELDMDP_VIOLATION"
	FindingPermitted = "PERMITTED_CHANGES"
	// The signer's certificate.
	FindingChainUntrusted  = "CHAIN_UNTRUSTED"
	FindingSHA1Refused     = "SHA1_CHAIN_REFUSED"
	FindingLegacySHA1      = "LEGACY_SHA1_CHAIN"
	FindingCertExpired     = "CERT_EXPIRED"
	FindingCertNotYetValid = "CERT_NOT_YET_VALID"
	FindingCANotAllowed    = "CA_NOT_ALLOWED"
	FindingBadCertSig      = "BAD_CERT_SIGNATURE"
	FindingKeyUsage        = "KEY_USAGE_INVALID"
	FindingExpiredNow      = "CERT_EXPIRED_SINCE"
	// Revocation.
	FindingRevoked              = "CERT_REVOKED"
	FindingRevokedAfter         = "REVOKED_AFTER_SIGNING"
	FindingRevokedNoPOE         = "REVOKED_NO_POE"
	FindingRevocationUnknown    = "REVOCATION_UNKNOWN"
	FindingTSARevocationUnknown = "TSA_REVOCATION_UNKNOWN"
	// Time.
	FindingNoTimestamp        = "NO_TIMESTAMP"
	FindingTimestampInvalid   = "TIMESTAMP_INVALID"
	FindingTimestampUntrusted = "TIMESTAMP_UNTRUSTED"
	FindingClockSkew7h        = "CLOCK_SKEW_7H"
	// Legal form (ND 30/2020).
	FindingSigningOrder  = "SIGNING_ORDER"
	FindingWeakAlgorithm = "WEAK_ALGORITHM"
)

// Finding is one thing the verifier has to say about a signature.
type Finding struct {
	Code     string
	Severity Severity
	// Detail is for developers and logs, in English; people get the
	// translated message of Code.
	Detail string
}

// SignatureType tells a signature from a document timestamp.
type SignatureType string

// Signature types.
const (
	TypeSignature    SignatureType = "signature"
	TypeDocTimestamp SignatureType = "doc-timestamp"
)

// TimestampReport describes an RFC 3161 token: the signature timestamp of
// a B-T signature, or the token of a document timestamp.
type TimestampReport struct {
	Time      time.Time
	Authority *x509.Certificate
	Chain     []*x509.Certificate
	// Intact: the token's signature and imprint verify. Trusted: and its
	// authority chains to a trust anchor at Time, for time stamping.
	Intact, Trusted bool
	Problem         string // why not intact or not trusted, in English
	// RevocationUnknown: no OCSP or CRL answer for a certificate of the
	// authority's chain. A warning only: a time-stamping authority's
	// certificate revoked after the token was made does not undo it.
	RevocationUnknown bool
}

// CertificateStatus is what revocation checking said about one
// certificate of a chain.
type CertificateStatus struct {
	Certificate *x509.Certificate
	Status      cms.RevocationStatus
	Source      string // "embedded-ocsp", "embedded-crl", "ocsp", "crl" or ""
	RevokedAt   time.Time
	ThisUpdate  time.Time
	Problem     string
}

// SignatureReport is the verification of one signature field.
type SignatureReport struct {
	Field     string
	Type      SignatureType
	SubFilter string
	// Certification is the DocMDP level (1–3) when this signature
	// certifies the document, else 0.
	Certification int
	ByteRange     [4]int64
	// CoversWholeFile: nothing was appended after this signature.
	// Otherwise Revisions updates follow and Changes says what they did.
	CoversWholeFile bool
	Revisions       int
	Changes         []Change

	Name, Reason, Location, ContactInfo string
	// ClaimedTime is the signature dictionary's /M, the signer's own
	// clock.
	ClaimedTime time.Time
	Timestamp   *TimestampReport
	// SigningTime is the time validity was judged at: the timestamp's when
	// it is trusted, else ClaimedTime (SigningTimeSource "claimed").
	SigningTime       time.Time
	SigningTimeSource string

	Signer     *x509.Certificate
	SignerKind SignerKind
	// DigestAlgorithm and SignatureAlgorithm of the CMS.
	DigestAlgorithm    crypto.Hash
	SignatureAlgorithm string
	Intact             bool
	Chain              []*x509.Certificate // signer first, anchor last
	Trusted            bool
	LegacySHA1         bool
	Revocation         []CertificateStatus

	Verdict  Verdict
	Findings []Finding
}

// Report is the verification of a whole document.
type Report struct {
	Size       int64
	Signatures []*SignatureReport
	// DocMDP is the certification level of the document, 0 if none.
	DocMDP int
	// HasDSS: the document carries PAdES validation data.
	HasDSS bool
	// FileDigest is the VerifyOptions.FileHash digest of the whole file,
	// nil when no FileHash was asked for.
	FileDigest []byte
}

// Verdict is the worst verdict of the document's signatures; a document
// without signatures is indeterminate.
func (r *Report) Verdict() Verdict {
	if len(r.Signatures) == 0 {
		return Indeterminate
	}
	v := Valid
	for _, s := range r.Signatures {
		v = worse(v, s.Verdict)
	}
	return v
}

func worse(a, b Verdict) Verdict {
	rank := map[Verdict]int{Valid: 0, Indeterminate: 1, Invalid: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// VerifyOptions controls Verify.
type VerifyOptions struct {
	// Trust holds the trust anchors; nil trusts nothing, so every chain is
	// CHAIN_UNTRUSTED.
	Trust *cms.TrustStore
	// Intermediates are offered for path building besides the
	// certificates the signature and the DSS carry (shipped sub-CAs).
	Intermediates []*x509.Certificate
	// Offline uses only the validation data in the document.
	Offline bool
	// HTTPClient fetches OCSP answers and CRLs; nil means a client with
	// RevocationTimeout.
	HTTPClient        *http.Client
	RevocationTimeout time.Duration
	// Classify tells personal from organisation certificates, for the
	// signing-order rule and the report; nil reports KindUnknown.
	Classify func(*x509.Certificate) SignerKind
	// Now is the time the verification happens at; zero means time.Now.
	Now time.Time
	// FileHash, when not zero, is the hash of the whole file that
	// Report.FileDigest gives (for a report that names the file by its
	// digest). It comes from the same pass over the file as the
	// signatures' digests, at no extra cost when it is their algorithm.
	FileHash crypto.Hash
}

// maxVerifiedSignatures bounds the work one document can ask of Verify;
// real documents carry a handful.
const maxVerifiedSignatures = 500

// skew7h is the error of a signer that writes Vietnamese local time (UTC+7)
// with a "Z" suffix; seen in the field and worth naming.
const (
	skew7h          = 7 * time.Hour
	skew7hTolerance = 15 * time.Minute
)

// VerifyFile is Verify on a file.
func VerifyFile(ctx context.Context, path string, opts VerifyOptions) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pades: verify: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pades: verify: %w", err)
	}
	return Verify(ctx, f, st.Size(), opts)
}

// Verify checks every signature and document timestamp of the document:
// integrity, what changed after each, the signer's chain and revocation
// status at the signing time, and the ND 30 signing order. It returns an
// error only when the document cannot be read at all (BAD_DOCUMENT,
// ENCRYPTED_DOCUMENT); everything wrong with a signature is in the
// report. Every signature covers a prefix of the file, so the digests of
// all of them come from a single pass over it.
func Verify(ctx context.Context, in io.ReaderAt, size int64, opts VerifyOptions) (*Report, error) {
	d, err := openDocument(in, size)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if opts.FileHash != 0 && !opts.FileHash.Available() {
		return nil, fmt.Errorf("pades: verify: file hash %v is not available", opts.FileHash)
	}
	if n := len(d.sigFields); n > maxVerifiedSignatures {
		// Each signature may cover the whole file and needs its own chain
		// and revocation checks: a file with thousands is an attack on
		// the verifier, not a document.
		return nil, badDocument(nil, "the document has %d signatures; kyso verifies at most %d", n, maxVerifiedSignatures)
	}
	entries := d.sigEntries(size)
	fileDigest, err := digestRanges(ctx, in, entries, opts.FileHash, size)
	if err != nil {
		return nil, err
	}
	dss, err := d.readDSS()
	if err != nil {
		dss = nil // an unreadable DSS is no validation data, not a broken document
	}
	rep := &Report{Size: size, DocMDP: d.docMDP, HasDSS: dss != nil, FileDigest: fileDigest}
	v := &verifier{opts: opts, now: now, d: d}
	if dss != nil {
		v.dss = dss.all()
		v.dssCerts = parseCertificates(v.dss.Certificates)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sr := v.verifyEntry(ctx, in, size, e)
		rep.Signatures = append(rep.Signatures, sr)
	}
	checkOrder(rep.Signatures)
	for _, sr := range rep.Signatures {
		sr.Verdict = verdictOf(sr.Findings)
		sortFindings(sr.Findings)
	}
	return rep, nil
}

type verifier struct {
	opts     VerifyOptions
	now      time.Time
	d        *document
	dss      cms.ValidationData
	dssCerts []*x509.Certificate
}

func (v *verifier) verifyEntry(ctx context.Context, in io.ReaderAt, size int64, e *sigEntry) *SignatureReport {
	sr := &SignatureReport{
		Field:     e.field,
		Type:      TypeSignature,
		SubFilter: e.subFilter,
		ByteRange: e.byteRange,
	}
	add := func(code string, sev Severity, format string, args ...any) {
		sr.Findings = append(sr.Findings, Finding{Code: code, Severity: sev, Detail: fmt.Sprintf(format, args...)})
	}
	if e.docTimestamp {
		sr.Type = TypeDocTimestamp
	}
	if e.dict != nil {
		sr.Name = v.text(e.dict["Name"])
		sr.Reason = v.text(e.dict["Reason"])
		sr.Location = v.text(e.dict["Location"])
		sr.ContactInfo = v.text(e.dict["ContactInfo"])
		if m := v.text(e.dict["M"]); m != "" {
			sr.ClaimedTime, _ = parsePDFDate(m)
		}
		sr.Certification = v.d.certificationLevel(e.dict)
	}
	if e.err != nil {
		add(e.errCode, SeverityInvalid, "%v", e.err)
		return sr
	}
	sr.CoversWholeFile = e.byteRange[2]+e.byteRange[3] == size
	if !sr.CoversWholeFile {
		changes, revisions, err := changesAfter(in, size, e.byteRange[2]+e.byteRange[3], e.field)
		sr.Revisions = revisions
		sr.Changes = changes
		if err != nil {
			add(FindingModified, SeverityInvalid, "the updates after this signature cannot be read: %v", err)
		}
		permitted := 0
		for _, c := range changes {
			if c.Permitted {
				permitted++
				continue
			}
			add(c.Violation, SeverityInvalid, "%s: %s", c.Kind, c.Detail)
		}
		if permitted > 0 {
			add(FindingPermitted, SeverityInfo, "%d permitted change(s) in %d later update(s)", permitted, revisions)
		}
	}
	if e.docTimestamp {
		v.verifyDocTimestamp(ctx, e, sr, add)
		return sr
	}
	v.verifySignature(ctx, e, sr, add)
	return sr
}

type addFunc func(code string, sev Severity, format string, args ...any)

func (v *verifier) verifyDocTimestamp(ctx context.Context, e *sigEntry, sr *SignatureReport, add addFunc) {
	ts := e.timestamp
	tr := v.checkTimestamp(ctx, ts, func(t *cms.Timestamp) error { return t.VerifyDigest(e.digest) })
	sr.Timestamp = tr
	sr.Signer = ts.Certificate
	sr.DigestAlgorithm = ts.HashAlgorithm
	sr.SigningTime, sr.SigningTimeSource = ts.Time, "timestamp"
	if !tr.Intact {
		add(FindingDigestMismatch, SeverityInvalid, "%s", tr.Problem)
		return
	}
	sr.Intact = true
	sr.Chain, sr.Trusted = tr.Chain, tr.Trusted
	if !tr.Trusted {
		add(FindingChainUntrusted, SeverityIndeterminate, "%s", tr.Problem)
	} else if tr.RevocationUnknown {
		add(FindingTSARevocationUnknown, SeverityWarning, "no revocation information for the time-stamping authority %q", tr.Authority.Subject.CommonName)
	}
}

// checkTimestamp verifies a token with verify (imprint over the right
// data) and chains its authority at the token's own time.
func (v *verifier) checkTimestamp(ctx context.Context, ts *cms.Timestamp, verify func(*cms.Timestamp) error) *TimestampReport {
	tr := &TimestampReport{Time: ts.Time, Authority: ts.Certificate}
	if err := verify(ts); err != nil {
		tr.Problem = err.Error()
		return tr
	}
	tr.Intact = true
	if _, err := ts.CheckUsage(); err != nil {
		tr.Problem = err.Error()
		return tr
	}
	chain, err := v.chain(ts.Certificate, ts.Certificates, ts.Time)
	if err != nil {
		tr.Problem = "the time-stamping authority is not trusted: " + err.Error()
		return tr
	}
	tr.Chain = chain.Certificates
	tr.Trusted = true
	for i := 0; i+1 < len(chain.Certificates); i++ {
		st := v.revocation(ctx, chain.Certificates[i], chain.Certificates[i+1], ts.Time)
		if st.Status == cms.RevocationUnknown {
			tr.RevocationUnknown = true
		}
		if st.Status == cms.RevocationRevoked && !st.RevokedAt.After(ts.Time) {
			tr.Trusted = false
			tr.Problem = fmt.Sprintf("the time-stamping authority's certificate %q was revoked on %s", chain.Certificates[i].Subject.CommonName, st.RevokedAt.UTC().Format(time.RFC3339))
			return tr
		}
	}
	return tr
}

func (v *verifier) verifySignature(ctx context.Context, e *sigEntry, sr *SignatureReport, add addFunc) {
	si := e.signer
	sr.Signer = si.Certificate
	sr.DigestAlgorithm = si.DigestAlgorithm
	sr.SignatureAlgorithm = si.SignatureAlgorithm.String()
	if si.Certificate == nil {
		add(FindingNoCertificate, SeverityInvalid, "the CMS does not carry the signer's certificate")
		return
	}
	if v.opts.Classify != nil {
		sr.SignerKind = v.opts.Classify(si.Certificate)
	}
	if len(si.SignedAttrsDER) == 0 {
		add(FindingUnsupported, SeverityIndeterminate, "a CMS without signed attributes (PKCS#7 over the raw digest) is not supported")
		return
	}
	if err := si.CheckMessageDigest(e.digest); err != nil {
		add(FindingDigestMismatch, SeverityInvalid, "the document changed inside the signed range: %v", err)
		return
	}
	if err := si.VerifySignature(); err != nil {
		add(FindingSignatureInvalid, SeverityInvalid, "the CMS signature does not verify: %v", err)
		return
	}
	if err := si.CheckSigningCertificate(); err != nil && !errors.Is(err, cms.ErrMissingAttribute) {
		add(FindingSigningCertificate, SeverityInvalid, "the signing-certificate attribute does not match: %v", err)
		return
	}
	sr.Intact = true
	if si.DigestAlgorithm == crypto.SHA1 || si.DigestAlgorithm == crypto.MD5 {
		add(FindingWeakAlgorithm, SeverityWarning, "the document digest is %v; Thông tư 15/2025 requires SHA-256 or stronger", si.DigestAlgorithm)
	}

	// The time validity is judged at.
	sr.SigningTime, sr.SigningTimeSource = sr.ClaimedTime, "claimed"
	if si.Timestamp != nil {
		tr := v.checkTimestamp(ctx, si.Timestamp, func(t *cms.Timestamp) error { return t.Verify(si.Signature) })
		sr.Timestamp = tr
		switch {
		case !tr.Intact:
			add(FindingTimestampInvalid, SeverityIndeterminate, "the signature timestamp does not verify: %s", tr.Problem)
		case !tr.Trusted:
			add(FindingTimestampUntrusted, SeverityWarning, "%s", tr.Problem)
		default:
			sr.SigningTime, sr.SigningTimeSource = tr.Time, "timestamp"
			if tr.RevocationUnknown {
				add(FindingTSARevocationUnknown, SeverityWarning, "no revocation information for the time-stamping authority %q", tr.Authority.Subject.CommonName)
			}
		}
	} else if si.TimestampErr != nil {
		add(FindingTimestampInvalid, SeverityIndeterminate, "the signature timestamp cannot be read: %v", si.TimestampErr)
	}
	if sr.SigningTimeSource == "claimed" {
		if sr.SigningTime.IsZero() {
			if !si.SigningTime.IsZero() {
				sr.SigningTime = si.SigningTime
			} else {
				sr.SigningTime = v.now
				sr.SigningTimeSource = "verification"
			}
		}
		if si.Timestamp == nil {
			add(FindingNoTimestamp, SeverityWarning, "no timestamp: validity is judged at the time the signer's computer claimed")
		}
	}
	if ref := v.referenceTime(sr, si); !ref.IsZero() && !sr.ClaimedTime.IsZero() {
		if diff := sr.ClaimedTime.Sub(ref); absDuration(diff-skew7h) <= skew7hTolerance {
			add(FindingClockSkew7h, SeverityWarning, "the claimed time %s is 7 hours after %s: Vietnamese local time written as UTC", sr.ClaimedTime.UTC().Format(time.RFC3339), ref.UTC().Format(time.RFC3339))
		}
	}

	checkKeyUsage(si.Certificate, add)
	at := sr.SigningTime
	chain, err := v.chain(si.Certificate, e.certs, at)
	if err != nil {
		var ce *cms.ChainError
		code, sev := FindingChainUntrusted, SeverityIndeterminate
		if errors.As(err, &ce) {
			switch ce.Code {
			case cms.CodeSHA1Refused:
				code, sev = FindingSHA1Refused, SeverityInvalid
			case cms.CodeCertExpired:
				code, sev = FindingCertExpired, SeverityInvalid
			case cms.CodeCertNotYetValid:
				// Before the certificate existed: with a timestamp that is
				// proof of a bad signature; with only the signer's clock it
				// is proof of a wrong clock.
				code, sev = FindingCertNotYetValid, SeverityInvalid
				if sr.SigningTimeSource != "timestamp" {
					sev = SeverityIndeterminate
				}
			case cms.CodeCANotAllowed:
				code, sev = FindingCANotAllowed, SeverityInvalid
			case cms.CodeBadCertSignature:
				code, sev = FindingBadCertSig, SeverityInvalid
			}
		}
		add(code, sev, "%v", err)
		return
	}
	sr.Chain = chain.Certificates
	sr.Trusted = true
	sr.LegacySHA1 = chain.LegacySHA1
	if chain.LegacySHA1 {
		add(FindingLegacySHA1, SeverityWarning, "the chain uses SHA-1 signatures, accepted only under the legacy government G1 root")
	}
	if v.now.After(si.Certificate.NotAfter) {
		add(FindingExpiredNow, SeverityInfo, "the certificate expired on %s, after signing", si.Certificate.NotAfter.UTC().Format(time.RFC3339))
	}
	v.checkRevocation(ctx, sr, si, add)
}

// referenceTime is an independent time to compare the claimed one with:
// the timestamp's, else a CMS signing-time attribute.
func (v *verifier) referenceTime(sr *SignatureReport, si *cms.SignerInfo) time.Time {
	if sr.Timestamp != nil && sr.Timestamp.Intact {
		return sr.Timestamp.Time
	}
	return si.SigningTime
}

func (v *verifier) checkRevocation(ctx context.Context, sr *SignatureReport, si *cms.SignerInfo, add addFunc) {
	embedded := v.dss
	if si.RevocationArchive != nil {
		embedded = mergeValidationData(embedded, *si.RevocationArchive)
	}
	proven := sr.SigningTimeSource == "timestamp"
	for i := 0; i+1 < len(sr.Chain); i++ {
		cert, issuer := sr.Chain[i], sr.Chain[i+1]
		st := v.revocationWith(ctx, embedded, cert, issuer, sr.SigningTime)
		sr.Revocation = append(sr.Revocation, st)
		who := cert.Subject.CommonName
		switch st.Status {
		case cms.RevocationRevoked:
			switch {
			case !st.RevokedAt.After(sr.SigningTime):
				add(FindingRevoked, SeverityInvalid, "certificate %q was revoked on %s, before signing", who, st.RevokedAt.UTC().Format(time.RFC3339))
			case proven:
				add(FindingRevokedAfter, SeverityWarning, "certificate %q was revoked on %s, after the timestamped signing time", who, st.RevokedAt.UTC().Format(time.RFC3339))
			default:
				add(FindingRevokedNoPOE, SeverityIndeterminate, "certificate %q was revoked on %s; without a timestamp nothing proves the signature is older", who, st.RevokedAt.UTC().Format(time.RFC3339))
			}
		case cms.RevocationUnknown:
			add(FindingRevocationUnknown, SeverityIndeterminate, "no revocation information for %q: %s", who, st.Problem)
		}
	}
}

func (v *verifier) revocation(ctx context.Context, cert, issuer *x509.Certificate, at time.Time) CertificateStatus {
	return v.revocationWith(ctx, v.dss, cert, issuer, at)
}

func (v *verifier) revocationWith(ctx context.Context, embedded cms.ValidationData, cert, issuer *x509.Certificate, at time.Time) CertificateStatus {
	rc := &cms.RevocationChecker{
		Client:   v.opts.HTTPClient,
		Offline:  v.opts.Offline,
		Embedded: embedded,
		Timeout:  v.opts.RevocationTimeout,
	}
	res := rc.Check(ctx, cert, issuer, at)
	st := CertificateStatus{Certificate: cert, Status: res.Status, Source: res.Source, RevokedAt: res.RevokedAt, ThisUpdate: res.ThisUpdate}
	if res.Err != nil {
		st.Problem = res.Err.Error()
	}
	return st
}

func (v *verifier) chain(leaf *x509.Certificate, certs []*x509.Certificate, at time.Time) (*cms.Chain, error) {
	if v.opts.Trust == nil {
		return nil, &cms.ChainError{Code: cms.CodeChainUntrusted, Cert: leaf, Err: errors.New("no trust anchors configured")}
	}
	pool := append(append(append([]*x509.Certificate(nil), certs...), v.dssCerts...), v.opts.Intermediates...)
	return v.opts.Trust.Verify(leaf, pool, at)
}

func (v *verifier) text(o pdf.Object) string {
	r, err := v.d.r.Resolve(o)
	if err != nil {
		return ""
	}
	s, ok := r.(pdf.String)
	if !ok {
		return ""
	}
	return decodeText(s.Bytes)
}

// checkKeyUsage: a certificate that says what its key is for must allow
// signatures (digitalSignature or nonRepudiation/contentCommitment).
func checkKeyUsage(c *x509.Certificate, add addFunc) {
	if c.KeyUsage == 0 {
		return
	}
	if c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		add(FindingKeyUsage, SeverityInvalid, "the certificate's key usage does not allow signatures")
	}
}

// checkOrder reports a personal signature that follows an organisation's
// signature: ND 30/2020 puts the organisation's seal last.
func checkOrder(sigs []*SignatureReport) {
	orgSeen := ""
	for _, s := range sigs {
		if s.Type != TypeSignature {
			continue
		}
		switch s.SignerKind {
		case KindOrganisation:
			if orgSeen == "" {
				orgSeen = s.Field
			}
		case KindPersonal:
			if orgSeen != "" {
				s.Findings = append(s.Findings, Finding{Code: FindingSigningOrder, Severity: SeverityWarning,
					Detail: fmt.Sprintf("this personal signature follows the organisation's signature %q", orgSeen)})
			}
		}
	}
}

func verdictOf(fs []Finding) Verdict {
	v := Valid
	for _, f := range fs {
		switch f.Severity {
		case SeverityInvalid:
			v = worse(v, Invalid)
		case SeverityIndeterminate:
			v = worse(v, Indeterminate)
		}
	}
	return v
}

func sortFindings(fs []Finding) {
	rank := map[Severity]int{SeverityInvalid: 0, SeverityIndeterminate: 1, SeverityWarning: 2, SeverityInfo: 3}
	sort.SliceStable(fs, func(i, j int) bool { return rank[fs[i].Severity] < rank[fs[j].Severity] })
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func parseCertificates(ders [][]byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, der := range ders {
		if c, err := x509.ParseCertificate(der); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func mergeValidationData(a, b cms.ValidationData) cms.ValidationData {
	return cms.ValidationData{
		Certificates: append(append([][]byte(nil), a.Certificates...), b.Certificates...),
		OCSPs:        append(append([][]byte(nil), a.OCSPs...), b.OCSPs...),
		CRLs:         append(append([][]byte(nil), a.CRLs...), b.CRLs...),
	}
}
