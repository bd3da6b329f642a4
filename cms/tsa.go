package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Defaults of TSA.
const (
	// DefaultTSATimeout covers the whole operation. It is long because
	// the Vietnamese government TSA has been seen to take 131 s.
	DefaultTSATimeout  = 150 * time.Second
	DefaultTSAAttempts = 3
	// DefaultTSABackoff is the first pause between attempts; it doubles
	// up to maxTSABackoff.
	DefaultTSABackoff = time.Second
	maxTSABackoff     = 8 * time.Second
	// maxTSAResponse bounds what is read from a TSA; tokens are a few KB.
	maxTSAResponse = 1 << 20
)

// TSA is an RFC 3161 time-stamping authority reached over HTTP. The zero
// values of the optional fields select the defaults. A TSA may be used by
// several goroutines at once as long as its fields are not modified.
type TSA struct {
	URL string
	// Timeout bounds the whole Timestamp call including retries and
	// back-off; zero means DefaultTSATimeout. An attempt is not cut short
	// to make room for the next one: a slow answer is better than none.
	Timeout time.Duration
	// Attempts is the number of HTTP requests made at most; zero means
	// DefaultTSAAttempts. Connection failures, HTTP errors, unparseable
	// answers and transient PKIStatus failures are retried; wrong tokens
	// (CodeTSAInvalid) are not.
	Attempts int
	// Backoff is the first pause between attempts, doubled each time up to
	// 8 s; zero means DefaultTSABackoff. No pause runs past the deadline:
	// when the time left is shorter than the pause, Timestamp gives up.
	Backoff time.Duration
	// HTTPClient is used for the requests; nil means a client with the
	// default transport (which honours proxy environment variables).
	HTTPClient *http.Client
	// Hash is the message imprint hash: SHA256 (zero), SHA384 or SHA512.
	Hash crypto.Hash
	// Policy, if set, is sent as reqPolicy.
	Policy asn1.ObjectIdentifier
	// Roots, if set, must anchor the TSA certificate's chain (built from
	// the token's certificates) at the token's time, for the
	// timeStamping purpose.
	Roots *x509.CertPool
	// OnAttempt, if set, is called before each HTTP request with its
	// number (from 1) and the previous attempt's failure (nil before the
	// first), so that a UI can say "TSA slow, retrying". It runs on the
	// calling goroutine and must not block.
	OnAttempt func(attempt int, err error)
	// OnWarning, if set, receives deviations of an accepted token from
	// RFC 3161 that do not make it unusable, such as a non-critical
	// extended key usage on the TSA certificate.
	OnWarning func(warning string)
}

// invalidResponse marks a failure that makes the token unusable and that
// a retry would not fix (CodeTSAInvalid).
type invalidResponse struct{ err error }

func (e *invalidResponse) Error() string { return e.err.Error() }
func (e *invalidResponse) Unwrap() error { return e.err }

// Timestamp asks the TSA for a timestamp token over hash(data) and
// returns the DER TimeStampToken after checking it: PKIStatus granted (or
// grantedWithMods), message imprint and nonce as sent, the token's
// signature and signing-certificate attribute, the id-kp-timeStamping key
// purpose and, if Roots is set, the chain. Failures are *TSAError values
// with CodeTSAUnavailable, CodeTSAInvalid or CodeCancelled (the latter
// wrapping ctx.Err()).
func (t *TSA) Timestamp(ctx context.Context, data []byte) ([]byte, error) {
	h, err := t.imprintHash(t.Hash)
	if err != nil {
		return nil, err
	}
	hh := h.New()
	hh.Write(data)
	return t.timestamp(ctx, h, hh.Sum(nil))
}

// TimestampDigest is Timestamp for a caller that has already hashed the
// data: digest is the message imprint, made with h (zero means t.Hash, and
// that zero SHA-256). A PDF document timestamp needs it, because its byte
// ranges are hashed while the file is streamed and never held in memory.
// The retries and every check of the answer are those of Timestamp.
func (t *TSA) TimestampDigest(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	if h == 0 {
		h = t.Hash
	}
	h, err := t.imprintHash(h)
	if err != nil {
		return nil, err
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("cms: timestamp: a %v digest has %d bytes, got %d", h, h.Size(), len(digest))
	}
	return t.timestamp(ctx, h, bytes.Clone(digest))
}

// imprintHash checks the URL and the imprint hash before anything is sent:
// both are configuration errors, not an unavailable TSA, and retrying them
// would only delay the message.
func (t *TSA) imprintHash(h crypto.Hash) (crypto.Hash, error) {
	if u, err := url.Parse(t.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, fmt.Errorf("cms: timestamp: TSA URL %q is not an http(s) URL", t.URL)
	}
	if h == 0 {
		h = crypto.SHA256
	}
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		return h, nil
	}
	return 0, fmt.Errorf("cms: timestamp: imprint hash %v: %w", h, ErrUnsupportedAlgorithm)
}

// timestamp runs the request loop for an imprint made with h.
func (t *TSA) timestamp(ctx context.Context, h crypto.Hash, imprint []byte) ([]byte, error) {
	timeout, attempts, backoff := t.Timeout, t.Attempts, t.Backoff
	if timeout <= 0 {
		timeout = DefaultTSATimeout
	}
	if attempts <= 0 {
		attempts = DefaultTSAAttempts
	}
	if backoff <= 0 {
		backoff = DefaultTSABackoff
	}

	opCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var lastErr error
	n := 0
	fail := func(code string, err error) error {
		return &TSAError{Code: code, URL: t.URL, Attempts: n, Err: err}
	}
	// stopped classifies the end of the operation by the contexts: the
	// caller cancelling, or some deadline passing.
	stopped := func(err error) error {
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return fail(CodeCancelled, ctx.Err())
			}
			// The caller's own deadline: the TSA was too slow for it.
			return fail(CodeTSAUnavailable, fmt.Errorf("no usable answer before the caller's deadline: %w", ctx.Err()))
		}
		return fail(CodeTSAUnavailable, fmt.Errorf("no usable answer within %v: %w", timeout, err))
	}
	if ctx.Err() != nil {
		return nil, stopped(ctx.Err())
	}
	for n < attempts {
		n++
		if t.OnAttempt != nil {
			t.OnAttempt(n, lastErr)
		}
		token, warnings, err := t.attempt(opCtx, h, imprint)
		if err == nil {
			if t.OnWarning != nil {
				for _, w := range warnings {
					t.OnWarning(w)
				}
			}
			return token, nil
		}
		if opCtx.Err() != nil {
			return nil, stopped(err)
		}
		var inv *invalidResponse
		if errors.As(err, &inv) {
			return nil, fail(CodeTSAInvalid, inv.err)
		}
		lastErr = err
		var st *TSAStatusError
		if errors.As(err, &st) && !st.transient() {
			break
		}
		if n == attempts {
			break
		}
		if deadline, ok := opCtx.Deadline(); ok && time.Until(deadline) <= backoff {
			break
		}
		timer := time.NewTimer(backoff)
		select {
		case <-opCtx.Done():
			timer.Stop()
			return nil, stopped(lastErr)
		case <-timer.C:
		}
		backoff = min(2*backoff, maxTSABackoff)
	}
	return nil, fail(CodeTSAUnavailable, lastErr)
}

// attempt makes one request. A returned *invalidResponse means the token
// arrived but is wrong; any other error means no usable answer.
func (t *TSA) attempt(ctx context.Context, h crypto.Hash, imprint []byte) ([]byte, []string, error) {
	nonceBytes := make([]byte, 8)
	if _, err := rand.Read(nonceBytes); err != nil {
		return nil, nil, fmt.Errorf("nonce: %w", err)
	}
	nonce := new(big.Int).SetBytes(nonceBytes)
	req := timestamp.Request{
		HashAlgorithm: h,
		HashedMessage: imprint,
		Certificates:  true,
		TSAPolicyOID:  t.Policy,
		Nonce:         nonce,
	}
	reqDER, err := req.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("encode request: %w", err)
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(reqDER))
	if err != nil {
		return nil, nil, err
	}
	httpReq.Header.Set("Content-Type", "application/timestamp-query")
	httpReq.Header.Set("Accept", "application/timestamp-reply")
	client := t.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(httpReq)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused for the retry.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || (mt != "application/timestamp-reply" && mt != "application/timestamp-response") {
		return nil, nil, fmt.Errorf("content type %q is not application/timestamp-reply", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTSAResponse+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	if len(body) > maxTSAResponse {
		return nil, nil, fmt.Errorf("response larger than %d bytes", maxTSAResponse)
	}
	tokenDER, err := parseTimeStampResp(body)
	if err != nil {
		return nil, nil, err
	}
	ts, err := ParseTimestamp(tokenDER)
	if err != nil {
		return nil, nil, fmt.Errorf("response token: %w", err)
	}
	warnings, err := t.check(ts, h, imprint, nonce)
	if err != nil {
		return nil, nil, &invalidResponse{err}
	}
	return ts.Raw, warnings, nil
}

// check judges a parsed token against the request. The imprint is
// compared as sent, so the data itself is not needed: with the hash
// algorithm and imprint equal to the request's, the token covers whatever
// the caller hashed.
func (t *TSA) check(ts *Timestamp, h crypto.Hash, imprint []byte, nonce *big.Int) ([]string, error) {
	if ts.HashAlgorithm != h || !bytes.Equal(ts.HashedMessage, imprint) {
		return nil, fmt.Errorf("%w: token imprint (%v) is not the one requested (%v)", ErrDigestMismatch, ts.HashAlgorithm, h)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, fmt.Errorf("token nonce %v is not the one sent (%v)", ts.Nonce, nonce)
	}
	if len(t.Policy) > 0 && !ts.Policy.Equal(t.Policy) {
		// RFC 3161 2.4.2: a TSA that cannot honour reqPolicy must reject.
		return nil, fmt.Errorf("token policy %v is not the requested %v", ts.Policy, t.Policy)
	}
	if err := ts.VerifyDigest(imprint); err != nil {
		return nil, err
	}
	warnings, err := ts.CheckUsage()
	if err != nil {
		return nil, err
	}
	if t.Roots != nil {
		inter := x509.NewCertPool()
		for _, c := range ts.Certificates {
			inter.AddCert(c)
		}
		_, err := ts.Certificate.Verify(x509.VerifyOptions{
			Roots:         t.Roots,
			Intermediates: inter,
			CurrentTime:   ts.Time,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
		})
		if err != nil {
			return nil, fmt.Errorf("TSA certificate chain: %w", err)
		}
	}
	return warnings, nil
}

// parseTimeStampResp decodes a TimeStampResp and returns the token when
// the status grants one, or a *TSAStatusError.
func parseTimeStampResp(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var resp, status cryptobyte.String
	var code int64
	if !in.ReadASN1(&resp, cbasn1.SEQUENCE) || !in.Empty() ||
		!resp.ReadASN1(&status, cbasn1.SEQUENCE) || !status.ReadASN1Integer(&code) {
		return nil, errors.New("malformed TimeStampResp")
	}
	st := &TSAStatusError{Status: int(code)}
	if status.PeekASN1Tag(cbasn1.SEQUENCE) {
		var texts cryptobyte.String
		if !status.ReadASN1(&texts, cbasn1.SEQUENCE) {
			return nil, errors.New("malformed PKIStatusInfo statusString")
		}
		for !texts.Empty() {
			var s cryptobyte.String
			if !texts.ReadASN1(&s, cbasn1.UTF8String) {
				return nil, errors.New("malformed PKIStatusInfo statusString")
			}
			st.StatusText = append(st.StatusText, string(s))
		}
	}
	if status.PeekASN1Tag(cbasn1.BIT_STRING) {
		var bits asn1.BitString
		if !status.ReadASN1BitString(&bits) {
			return nil, errors.New("malformed PKIStatusInfo failInfo")
		}
		for i := 0; i < bits.BitLength; i++ {
			if bits.At(i) != 0 {
				st.FailInfo = append(st.FailInfo, i)
			}
		}
	}
	if !status.Empty() {
		return nil, errors.New("malformed PKIStatusInfo")
	}
	if code != 0 && code != 1 {
		return nil, st
	}
	var token cryptobyte.String
	if !resp.ReadASN1Element(&token, cbasn1.SEQUENCE) || !resp.Empty() {
		return nil, errors.New("granted TimeStampResp without a token")
	}
	return token, nil
}

// AddTimestamp obtains a signature timestamp from t over the signature
// value of the single SignerInfo in signedData (PAdES B-T) and returns
// the CMS with the token added as unsigned attribute
// id-aa-signatureTimeStampToken. Errors from the TSA are *TSAError.
func AddTimestamp(ctx context.Context, signedData []byte, t *TSA) ([]byte, error) {
	if t == nil {
		return nil, errors.New("cms: add timestamp: no TSA")
	}
	sd, err := Parse(signedData)
	if err != nil {
		return nil, fmt.Errorf("cms: add timestamp: %w", err)
	}
	if len(sd.Signers) != 1 {
		return nil, fmt.Errorf("cms: add timestamp: SignedData has %d signers, want 1", len(sd.Signers))
	}
	token, err := t.Timestamp(ctx, sd.Signers[0].Signature)
	if err != nil {
		return nil, err
	}
	return EmbedTimestamp(sd.Raw, token)
}
