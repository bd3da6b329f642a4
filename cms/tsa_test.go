package cms_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/tsatest"
)

func TestAddTimestamp(t *testing.T) {
	pki := newPKI(t, 0)
	key, cert := newSigner(t, pki, devpki.RSA2048)

	tests := []struct {
		name         string
		server       tsatest.Options
		hash         crypto.Hash
		policy       asn1.ObjectIdentifier
		wantWarnings int
	}{
		{name: "rsa-tsa"},
		{name: "ecdsa-tsa-sha384", server: tsatest.Options{KeyKind: devpki.ECP256}, hash: crypto.SHA384},
		{name: "sha512", hash: crypto.SHA512},
		{name: "granted-with-mods", server: tsatest.Options{Status: 1}},
		{name: "slow", server: tsatest.Options{Delay: 300 * time.Millisecond}},
		{name: "policy", policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 7}},
		{name: "non-critical-eku", server: tsatest.Options{NonCriticalEKU: true}, wantWarnings: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tsatest.Start(t, pki, tt.server)
			data := randomData(t, 1000)
			signed, err := cms.Sign(testContext(t), key, cert, digestOf(crypto.SHA256, data), cms.Options{Chain: pki.Chain()[:1]})
			if err != nil {
				t.Fatal(err)
			}
			var attempts []int
			var warnings []string
			tsa := &cms.TSA{
				URL:       srv.URL,
				Hash:      tt.hash,
				Policy:    tt.policy,
				Roots:     pki.Roots(),
				Timeout:   10 * time.Second,
				OnAttempt: func(n int, err error) { attempts = append(attempts, n) },
				OnWarning: func(w string) { warnings = append(warnings, w) },
			}
			before := time.Now()
			out, err := cms.AddTimestamp(testContext(t), signed, tsa)
			if err != nil {
				t.Fatal(err)
			}
			if len(attempts) != 1 || srv.Requests() != 1 {
				t.Errorf("attempts %v, server saw %d requests; want one", attempts, srv.Requests())
			}
			if len(warnings) != tt.wantWarnings {
				t.Errorf("warnings %q, want %d", warnings, tt.wantWarnings)
			}

			sd, err := cms.Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			si := sd.Signers[0]
			if err := si.VerifySignature(); err != nil {
				t.Errorf("signature after adding the timestamp: %v", err)
			}
			ts := si.Timestamp
			if ts == nil || si.TimestampErr != nil {
				t.Fatalf("timestamp not found: %v", si.TimestampErr)
			}
			if d := ts.Time.Sub(before); d < -time.Minute || d > time.Minute {
				t.Errorf("timestamp time %v is not within a minute of %v", ts.Time, before)
			}
			wantHash := tt.hash
			if wantHash == 0 {
				wantHash = crypto.SHA256
			}
			if ts.HashAlgorithm != wantHash || ts.Nonce == nil || ts.Serial == nil || len(ts.Policy) == 0 || ts.Accuracy != time.Second {
				t.Errorf("token fields: hash %v nonce %v serial %v policy %v accuracy %v", ts.HashAlgorithm, ts.Nonce, ts.Serial, ts.Policy, ts.Accuracy)
			}
			if tsa.Policy != nil && !ts.Policy.Equal(tsa.Policy) {
				t.Errorf("policy %v, want the requested %v", ts.Policy, tsa.Policy)
			}
			if ts.Certificate == nil || !ts.Certificate.Equal(srv.Cert) {
				t.Error("TSA certificate not found in the token")
			}
			if err := ts.Verify(si.Signature); err != nil {
				t.Errorf("Timestamp.Verify: %v", err)
			}
			if err := ts.Verify([]byte("something else")); !errors.Is(err, cms.ErrDigestMismatch) {
				t.Errorf("Timestamp.Verify(other) = %v, want ErrDigestMismatch", err)
			}

			// The document signature is unchanged for OpenSSL too.
			if out, err := opensslVerifyCMS(t, out, data, pki.Root.Cert); err != nil || !strings.Contains(out, "Verification successful") {
				t.Errorf("openssl cms -verify after the timestamp: %v\n%s", err, out)
			}
			if tt.server.NonCriticalEKU {
				return // OpenSSL rightly refuses such a TSA certificate.
			}
			imprint := digestOf(wantHash, si.Signature)
			dir := t.TempDir()
			res, err := openssl(t, "ts", "-verify",
				"-in", writeFile(t, dir, "token.tsr", ts.Raw), "-token_in",
				"-digest", hex.EncodeToString(imprint),
				"-CAfile", writeFile(t, dir, "root.pem", pemCerts(pki.Root.Cert)),
				"-untrusted", writeFile(t, dir, "tsa-chain.pem", pemCerts(srv.Cert, pki.Intermediate.Cert)))
			if err != nil || !strings.Contains(res, "Verification: OK") {
				t.Errorf("openssl ts -verify: %v\n%s", err, res)
			}
			imprint[0] ^= 1
			res, err = openssl(t, "ts", "-verify",
				"-in", writeFile(t, dir, "token.tsr", ts.Raw), "-token_in",
				"-digest", hex.EncodeToString(imprint),
				"-CAfile", writeFile(t, dir, "root.pem", pemCerts(pki.Root.Cert)),
				"-untrusted", writeFile(t, dir, "tsa-chain.pem", pemCerts(srv.Cert, pki.Intermediate.Cert)))
			if err == nil || strings.Contains(res, "Verification: OK") {
				t.Errorf("openssl ts -verify accepted a wrong imprint:\n%s", res)
			}
		})
	}
}

// closedPortURL returns an http URL on 127.0.0.1 where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/tsa"
}

func TestTSAFailures(t *testing.T) {
	pki := newPKI(t, 0)
	otherPKI := newPKI(t, 0)

	tests := []struct {
		name         string
		server       *tsatest.Options // nil: nothing listens
		tsa          cms.TSA          // URL filled in
		wantCode     string
		wantErr      error  // also matched with errors.Is, when set
		wantText     string // in the error message, when set
		wantRequests int    // requests the server must have seen
		maxElapsed   time.Duration
	}{
		{
			name: "hang", server: &tsatest.Options{Hang: true},
			tsa:      cms.TSA{Timeout: 2 * time.Second},
			wantCode: cms.CodeTSAUnavailable, wantErr: context.DeadlineExceeded,
			wantRequests: 1, maxElapsed: 2*time.Second + 3*time.Second,
		},
		{
			name: "http 500 retried", server: &tsatest.Options{HTTPStatus: 500},
			tsa:      cms.TSA{Attempts: 3, Backoff: 10 * time.Millisecond},
			wantCode: cms.CodeTSAUnavailable, wantText: "500",
			wantRequests: 3, maxElapsed: 5 * time.Second,
		},
		{
			name: "wrong content type", server: &tsatest.Options{ContentType: "text/html"},
			tsa:      cms.TSA{Attempts: 2, Backoff: 10 * time.Millisecond},
			wantCode: cms.CodeTSAUnavailable, wantText: "content type",
			wantRequests: 2, maxElapsed: 5 * time.Second,
		},
		{
			name: "rejection not retried", server: &tsatest.Options{Status: 2, FailInfo: 0},
			tsa:      cms.TSA{Attempts: 3, Backoff: 10 * time.Millisecond},
			wantCode: cms.CodeTSAUnavailable, wantText: "rejection (2), failInfo badAlg",
			wantRequests: 1, maxElapsed: 5 * time.Second,
		},
		{
			name: "system failure retried", server: &tsatest.Options{Status: 2, FailInfo: 25},
			tsa:      cms.TSA{Attempts: 3, Backoff: 10 * time.Millisecond},
			wantCode: cms.CodeTSAUnavailable, wantText: "systemFailure",
			wantRequests: 3, maxElapsed: 5 * time.Second,
		},
		{
			name: "wrong imprint", server: &tsatest.Options{WrongImprint: true},
			tsa:      cms.TSA{Attempts: 3},
			wantCode: cms.CodeTSAInvalid, wantErr: cms.ErrDigestMismatch,
			wantRequests: 1, maxElapsed: 5 * time.Second,
		},
		{
			name: "wrong nonce", server: &tsatest.Options{WrongNonce: true},
			tsa:      cms.TSA{Attempts: 3},
			wantCode: cms.CodeTSAInvalid, wantText: "nonce",
			wantRequests: 1, maxElapsed: 5 * time.Second,
		},
		{
			name: "bad signature", server: &tsatest.Options{CorruptSignature: true},
			tsa:      cms.TSA{Attempts: 3},
			wantCode: cms.CodeTSAInvalid, wantErr: cms.ErrInvalidSignature,
			wantRequests: 1, maxElapsed: 5 * time.Second,
		},
		{
			name: "bad ecdsa signature", server: &tsatest.Options{CorruptSignature: true, KeyKind: devpki.ECP256},
			tsa:      cms.TSA{Attempts: 3},
			wantCode: cms.CodeTSAInvalid, wantErr: cms.ErrInvalidSignature,
			wantRequests: 1, maxElapsed: 5 * time.Second,
		},
		{
			name: "no eku", server: &tsatest.Options{NoEKU: true},
			tsa:      cms.TSA{Attempts: 3},
			wantCode: cms.CodeTSAInvalid, wantErr: cms.ErrNotTSACertificate,
			wantRequests: 1, maxElapsed: 5 * time.Second,
		},
		{
			name: "untrusted tsa", server: &tsatest.Options{},
			tsa:      cms.TSA{Attempts: 3, Roots: otherPKI.Roots()},
			wantCode: cms.CodeTSAInvalid, wantText: "chain",
			wantRequests: 1, maxElapsed: 5 * time.Second,
		},
		{
			name: "policy not honoured", server: &tsatest.Options{Policy: "1.3.6.1.4.1.32473.1"},
			tsa:      cms.TSA{Attempts: 3, Policy: []int{1, 3, 6, 1, 4, 1, 32473, 2}},
			wantCode: cms.CodeTSAInvalid, wantText: "policy",
			wantRequests: 1, maxElapsed: 5 * time.Second,
		},
		{
			name:     "connection refused",
			tsa:      cms.TSA{Attempts: 3, Backoff: 10 * time.Millisecond},
			wantCode: cms.CodeTSAUnavailable, wantText: "refused",
			maxElapsed: 5 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tsa := tt.tsa
			var srv *tsatest.Server
			if tt.server != nil {
				srv = tsatest.Start(t, pki, *tt.server)
				tsa.URL = srv.URL
			} else {
				tsa.URL = closedPortURL(t)
			}
			start := time.Now()
			token, err := tsa.Timestamp(testContext(t), []byte("signature value"))
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("got a token (%d bytes), want %s", len(token), tt.wantCode)
			}
			var te *cms.TSAError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *TSAError", err, err)
			}
			if te.Code != tt.wantCode {
				t.Errorf("code %s, want %s: %v", te.Code, tt.wantCode, err)
			}
			sentinel := map[string]error{cms.CodeTSAUnavailable: cms.ErrTSAUnavailable, cms.CodeTSAInvalid: cms.ErrTSAInvalid}[tt.wantCode]
			if !errors.Is(err, sentinel) {
				t.Errorf("errors.Is(err, sentinel of %s) is false", tt.wantCode)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if tt.wantText != "" && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			if srv != nil {
				if srv.Requests() != tt.wantRequests || te.Attempts != tt.wantRequests {
					t.Errorf("server saw %d requests, error reports %d attempts, want %d", srv.Requests(), te.Attempts, tt.wantRequests)
				}
			} else if te.Attempts != 3 {
				t.Errorf("error reports %d attempts, want 3", te.Attempts)
			}
			if elapsed > tt.maxElapsed {
				t.Errorf("took %v, want at most %v", elapsed, tt.maxElapsed)
			}
			if te.URL != tsa.URL {
				t.Errorf("error URL %q, want %q", te.URL, tsa.URL)
			}
		})
	}
}

func TestTSAHangRespectsTimeout(t *testing.T) {
	// The hang case above bounds the duration from above; this one checks
	// that Timestamp did wait for the TSA rather than giving up early.
	pki := newPKI(t, 0)
	srv := tsatest.Start(t, pki, tsatest.Options{Hang: true})
	tsa := &cms.TSA{URL: srv.URL, Timeout: time.Second}
	start := time.Now()
	_, err := tsa.Timestamp(testContext(t), []byte("x"))
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond || elapsed > 4*time.Second {
		t.Errorf("gave up after %v, want about 1s", elapsed)
	}
	if !errors.Is(err, cms.ErrTSAUnavailable) {
		t.Errorf("error %v, want TSA_UNAVAILABLE", err)
	}
}

func TestTSACancel(t *testing.T) {
	pki := newPKI(t, 0)
	tests := []struct {
		name   string
		server tsatest.Options
	}{
		{"while the TSA hangs", tsatest.Options{Hang: true}},
		{"during back-off", tsatest.Options{HTTPStatus: 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tsatest.Start(t, pki, tt.server)
			ctx, cancel := context.WithCancel(testContext(t))
			timer := time.AfterFunc(300*time.Millisecond, cancel)
			defer timer.Stop()
			tsa := &cms.TSA{URL: srv.URL, Backoff: 10 * time.Second}
			start := time.Now()
			_, err := tsa.Timestamp(ctx, []byte("x"))
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("returned %v after the start, want promptly after the cancel at 300ms", elapsed)
			}
			if !errors.Is(err, context.Canceled) || !errors.Is(err, cms.ErrCancelled) {
				t.Errorf("error %v, want CANCELLED wrapping context.Canceled", err)
			}
		})
	}
}

func TestTSAOnAttempt(t *testing.T) {
	pki := newPKI(t, 0)
	srv := tsatest.Start(t, pki, tsatest.Options{HTTPStatus: 502})
	type call struct {
		n      int
		hasErr bool
	}
	var mu sync.Mutex
	var calls []call
	tsa := &cms.TSA{
		URL: srv.URL, Attempts: 3, Backoff: time.Millisecond,
		OnAttempt: func(n int, err error) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{n, err != nil})
		},
	}
	if _, err := tsa.Timestamp(testContext(t), []byte("x")); !errors.Is(err, cms.ErrTSAUnavailable) {
		t.Fatalf("error %v, want TSA_UNAVAILABLE", err)
	}
	want := []call{{1, false}, {2, true}, {3, true}}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != len(want) {
		t.Fatalf("OnAttempt calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("OnAttempt call %d = %+v, want %+v", i, calls[i], want[i])
		}
	}
}

func TestTSAConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		tsa  cms.TSA
		want error
	}{
		{"no url", cms.TSA{}, nil},
		{"not http", cms.TSA{URL: "ftp://127.0.0.1/tsa"}, nil},
		{"no host", cms.TSA{URL: "http:///tsa"}, nil},
		{"sha1 imprint", cms.TSA{URL: "http://127.0.0.1:1/", Hash: crypto.SHA1}, cms.ErrUnsupportedAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.tsa.Timestamp(testContext(t), []byte("x"))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEmbedTimestamp(t *testing.T) {
	pki := newPKI(t, 0)
	key, cert := newSigner(t, pki, devpki.ECP256)
	srv := tsatest.Start(t, pki, tsatest.Options{KeyKind: devpki.ECP256})
	tsa := &cms.TSA{URL: srv.URL}
	sign := func() []byte {
		t.Helper()
		der, err := cms.Sign(testContext(t), key, cert, digestOf(crypto.SHA256, randomData(t, 10)), cms.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	signed := sign()
	sd, err := cms.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	token, err := tsa.Timestamp(testContext(t), sd.Signers[0].Signature)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("preserves the signature bytes", func(t *testing.T) {
		out, err := cms.EmbedTimestamp(signed, token)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cms.Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Signers[0].SignedAttrsDER, sd.Signers[0].SignedAttrsDER) ||
			!bytes.Equal(got.Signers[0].Signature, sd.Signers[0].Signature) {
			t.Error("signed attributes or signature changed")
		}
		if got.Signers[0].Timestamp == nil || !bytes.Equal(got.Signers[0].Timestamp.Raw, token) {
			t.Error("token not embedded verbatim")
		}
		// A second timestamp joins the first one.
		twice, err := cms.EmbedTimestamp(out, token)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(twice, token); n != 2 {
			t.Errorf("token appears %d times after embedding twice", n)
		}
	})
	t.Run("padded input", func(t *testing.T) {
		// PDF /Contents are zero-padded; the padding is not CMS.
		out, err := cms.EmbedTimestamp(append(bytes.Clone(signed), make([]byte, 100)...), token)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasSuffix(out, make([]byte, 10)) {
			t.Error("padding carried into the output")
		}
	})
	t.Run("token for another signature", func(t *testing.T) {
		if _, err := cms.EmbedTimestamp(sign(), token); !errors.Is(err, cms.ErrDigestMismatch) {
			t.Errorf("error %v, want ErrDigestMismatch", err)
		}
	})
	t.Run("garbage token", func(t *testing.T) {
		if _, err := cms.EmbedTimestamp(signed, []byte{0x30, 0x03, 0x02, 0x01, 0x01}); err == nil {
			t.Error("no error")
		}
	})
}

func TestTSAAlreadyCancelled(t *testing.T) {
	srv := tsatest.Start(t, newPKI(t, 0), tsatest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&cms.TSA{URL: srv.URL}).Timestamp(ctx, []byte("x"))
	var te *cms.TSAError
	if !errors.As(err, &te) || te.Code != cms.CodeCancelled || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want CANCELLED wrapping context.Canceled", err)
	}
	if te.Attempts != 0 || srv.Requests() != 0 {
		t.Errorf("%d attempts, %d requests after a cancelled context; want none", te.Attempts, srv.Requests())
	}
}

func TestTimestampDigest(t *testing.T) {
	pki := newPKI(t, 0)
	data := randomData(t, 5000)
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		t.Run(h.String(), func(t *testing.T) {
			srv := tsatest.Start(t, pki, tsatest.Options{})
			// The TSA's own Hash is deliberately different: the caller's
			// hash names the imprint it made.
			tsa := &cms.TSA{URL: srv.URL, Roots: pki.Roots(), Timeout: 10 * time.Second, Hash: crypto.SHA512}
			if h == crypto.SHA512 {
				tsa.Hash = crypto.SHA256
			}
			digest := digestOf(h, data)
			token, err := tsa.TimestampDigest(testContext(t), h, digest)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := cms.ParseTimestamp(token)
			if err != nil {
				t.Fatal(err)
			}
			if ts.HashAlgorithm != h || !bytes.Equal(ts.HashedMessage, digest) {
				t.Errorf("imprint %v %x, want %v %x", ts.HashAlgorithm, ts.HashedMessage, h, digest)
			}
			// The same token judged over the data it stands for.
			if err := ts.Verify(data); err != nil {
				t.Errorf("Verify(data): %v", err)
			}
			dir := t.TempDir()
			res, err := openssl(t, "ts", "-verify",
				"-in", writeFile(t, dir, "token.tsr", token), "-token_in",
				"-data", writeFile(t, dir, "data.bin", data),
				"-CAfile", writeFile(t, dir, "root.pem", pemCerts(pki.Root.Cert)),
				"-untrusted", writeFile(t, dir, "tsa-chain.pem", pemCerts(srv.Cert, pki.Intermediate.Cert)))
			if err != nil || !strings.Contains(res, "Verification: OK") {
				t.Errorf("openssl ts -verify -data: %v\n%s", err, res)
			}
		})
	}

	t.Run("zero hash means the TSA's", func(t *testing.T) {
		srv := tsatest.Start(t, pki, tsatest.Options{})
		tsa := &cms.TSA{URL: srv.URL, Hash: crypto.SHA384}
		token, err := tsa.TimestampDigest(testContext(t), 0, digestOf(crypto.SHA384, data))
		if err != nil {
			t.Fatal(err)
		}
		if ts, err := cms.ParseTimestamp(token); err != nil || ts.HashAlgorithm != crypto.SHA384 {
			t.Errorf("token hash: %v, %v", ts, err)
		}
	})

	t.Run("checks still apply", func(t *testing.T) {
		for _, tt := range []struct {
			name    string
			server  tsatest.Options
			wantErr error
		}{
			{"wrong imprint", tsatest.Options{WrongImprint: true}, cms.ErrDigestMismatch},
			{"bad signature", tsatest.Options{CorruptSignature: true}, cms.ErrInvalidSignature},
			{"no eku", tsatest.Options{NoEKU: true}, cms.ErrNotTSACertificate},
		} {
			srv := tsatest.Start(t, pki, tt.server)
			tsa := &cms.TSA{URL: srv.URL, Attempts: 3}
			_, err := tsa.TimestampDigest(testContext(t), crypto.SHA256, digestOf(crypto.SHA256, data))
			var te *cms.TSAError
			if !errors.As(err, &te) || te.Code != cms.CodeTSAInvalid || !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: error %v, want %s wrapping %v", tt.name, err, cms.CodeTSAInvalid, tt.wantErr)
			}
			if srv.Requests() != 1 {
				t.Errorf("%s: %d requests, want 1 (a wrong token is not retried)", tt.name, srv.Requests())
			}
		}
	})

	t.Run("retries", func(t *testing.T) {
		srv := tsatest.Start(t, pki, tsatest.Options{HTTPStatus: 503})
		tsa := &cms.TSA{URL: srv.URL, Attempts: 2, Backoff: 10 * time.Millisecond}
		_, err := tsa.TimestampDigest(testContext(t), crypto.SHA256, digestOf(crypto.SHA256, data))
		var te *cms.TSAError
		if !errors.As(err, &te) || te.Code != cms.CodeTSAUnavailable || srv.Requests() != 2 {
			t.Errorf("error %v after %d requests, want %s after 2", err, srv.Requests(), cms.CodeTSAUnavailable)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		srv := tsatest.Start(t, pki, tsatest.Options{})
		tsa := &cms.TSA{URL: srv.URL}
		if _, err := tsa.TimestampDigest(testContext(t), crypto.SHA256, make([]byte, 20)); err == nil {
			t.Error("a 20-byte SHA-256 digest was accepted")
		}
		if _, err := tsa.TimestampDigest(testContext(t), crypto.SHA1, make([]byte, 20)); !errors.Is(err, cms.ErrUnsupportedAlgorithm) {
			t.Errorf("SHA-1 imprint: %v, want ErrUnsupportedAlgorithm", err)
		}
		bad := &cms.TSA{URL: "ftp://example.invalid/"}
		if _, err := bad.TimestampDigest(testContext(t), crypto.SHA256, make([]byte, 32)); err == nil {
			t.Error("an ftp URL was accepted")
		}
		if srv.Requests() != 0 {
			t.Errorf("%d requests for bad input, want none", srv.Requests())
		}
	})
}
