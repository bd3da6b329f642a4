package tsatest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/tsatest"
)

func newPKI(t *testing.T) *devpki.PKI {
	t.Helper()
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP256})
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

// query posts a timestamp request for data with a fixed nonce and returns
// the HTTP response status, content type and body.
func query(t *testing.T, srv *tsatest.Server, data []byte) (int, string, []byte) {
	t.Helper()
	req, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{
		Hash: crypto.SHA256, Certificates: true, Nonce: big.NewInt(4242),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// ekuCritical reports whether cert has an EKU extension and whether it is
// critical.
func ekuCritical(cert *x509.Certificate) (present, critical bool) {
	for _, e := range cert.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			return true, e.Critical
		}
	}
	return false, false
}

func TestCertificate(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		name         string
		opts         tsatest.Options
		wantEKU      bool
		wantCritical bool
	}{
		{"default", tsatest.Options{}, true, true},
		{"non-critical", tsatest.Options{NonCriticalEKU: true}, true, false},
		{"no eku", tsatest.Options{NoEKU: true}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tsatest.Start(t, pki, tt.opts)
			present, critical := ekuCritical(srv.Cert)
			if present != tt.wantEKU || critical != tt.wantCritical {
				t.Errorf("EKU present %v critical %v, want %v %v", present, critical, tt.wantEKU, tt.wantCritical)
			}
			if tt.wantEKU && !slices.Equal(srv.Cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) {
				t.Errorf("EKU %v, want only timeStamping", srv.Cert.ExtKeyUsage)
			}
			if srv.Cert.Subject.CommonName != "kyso Test TSA" {
				t.Errorf("CN %q", srv.Cert.Subject.CommonName)
			}
			opts := x509.VerifyOptions{Roots: pki.Roots(), Intermediates: pki.Intermediates(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
			if _, err := srv.Cert.Verify(opts); err != nil {
				t.Errorf("TSA certificate does not chain to the PKI root: %v", err)
			}
		})
	}
}

func TestListensOnLoopback(t *testing.T) {
	srv := tsatest.Start(t, newPKI(t), tsatest.Options{})
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" {
		t.Errorf("listening on %s, want 127.0.0.1", u.Host)
	}
}

func TestResponses(t *testing.T) {
	pki := newPKI(t)
	data := []byte("signature value")
	imprint := sha256.Sum256(data)
	tests := []struct {
		name       string
		opts       tsatest.Options
		wantHTTP   int
		wantType   string
		wantErr    string // substring of digitorus' ParseResponse error; "" = success
		check      func(t *testing.T, ts *timestamp.Timestamp)
		wantStatus int
	}{
		{name: "granted", wantHTTP: 200, wantType: "application/timestamp-reply",
			check: func(t *testing.T, ts *timestamp.Timestamp) {
				if !bytes.Equal(ts.HashedMessage, imprint[:]) || ts.Nonce.Int64() != 4242 {
					t.Errorf("imprint %x nonce %v", ts.HashedMessage, ts.Nonce)
				}
				if time.Since(ts.Time).Abs() > time.Minute || ts.Policy.String() != tsatest.DefaultPolicy {
					t.Errorf("time %v policy %v", ts.Time, ts.Policy)
				}
			}},
		{name: "ecdsa key", opts: tsatest.Options{KeyKind: devpki.ECP256}, wantHTTP: 200, wantType: "application/timestamp-reply"},
		{name: "granted with mods", opts: tsatest.Options{Status: 1}, wantHTTP: 200, wantType: "application/timestamp-reply", wantStatus: 1},
		{name: "wrong imprint", opts: tsatest.Options{WrongImprint: true}, wantHTTP: 200, wantType: "application/timestamp-reply",
			check: func(t *testing.T, ts *timestamp.Timestamp) {
				if bytes.Equal(ts.HashedMessage, imprint[:]) {
					t.Error("imprint is right")
				}
			}},
		{name: "wrong nonce", opts: tsatest.Options{WrongNonce: true}, wantHTTP: 200, wantType: "application/timestamp-reply",
			check: func(t *testing.T, ts *timestamp.Timestamp) {
				if ts.Nonce.Int64() != 4243 {
					t.Errorf("nonce %v, want 4243", ts.Nonce)
				}
			}},
		{name: "corrupt signature", opts: tsatest.Options{CorruptSignature: true}, wantHTTP: 200, wantType: "application/timestamp-reply", wantErr: "verification"},
		{name: "rejection", opts: tsatest.Options{Status: 2, FailInfo: 25}, wantHTTP: 200, wantType: "application/timestamp-reply", wantErr: "rejected"},
		{name: "http 503", opts: tsatest.Options{HTTPStatus: 503}, wantHTTP: 503},
		{name: "content type", opts: tsatest.Options{ContentType: "text/plain"}, wantHTTP: 200, wantType: "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tsatest.Start(t, pki, tt.opts)
			code, ct, body := query(t, srv, data)
			if code != tt.wantHTTP || ct != tt.wantType {
				t.Fatalf("HTTP %d %q, want %d %q", code, ct, tt.wantHTTP, tt.wantType)
			}
			if srv.Requests() != 1 {
				t.Errorf("Requests() = %d, want 1", srv.Requests())
			}
			if code != 200 {
				return
			}
			var envelope struct {
				Status struct{ Status int }
				Rest   asn1.RawValue `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(body, &envelope); err != nil {
				t.Fatal(err)
			}
			if tt.wantErr == "" && envelope.Status.Status != tt.wantStatus {
				t.Errorf("PKIStatus %d, want %d", envelope.Status.Status, tt.wantStatus)
			}
			if tt.wantStatus == 1 {
				// digitorus rejects anything but 0; read the token alone.
				body, _ = asn1.Marshal(struct {
					Status struct{ Status int }
					Token  asn1.RawValue
				}{Token: envelope.Rest})
			}
			ts, err := timestamp.ParseResponse(body)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseResponse error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ts.Certificates) == 0 || !ts.Certificates[0].Equal(srv.Cert) {
				t.Error("token does not carry the TSA certificate first")
			}
			if tt.check != nil {
				tt.check(t, ts)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	srv := tsatest.Start(t, newPKI(t), tsatest.Options{Delay: 300 * time.Millisecond})
	start := time.Now()
	if code, _, _ := query(t, srv, []byte("x")); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %v, want at least 300ms", d)
	}
}

func TestCloseReleasesHangingRequests(t *testing.T) {
	tests := []struct {
		name string
		opts tsatest.Options
	}{
		{"hang", tsatest.Options{Hang: true}},
		{"long delay", tsatest.Options{Delay: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tsatest.Start(t, newPKI(t), tt.opts)
			done := make(chan error, 1)
			go func() {
				resp, err := http.Post(srv.URL, "application/timestamp-query", strings.NewReader("x"))
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				done <- err
			}()
			deadline := time.Now().Add(5 * time.Second)
			for srv.Requests() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case err := <-done:
				t.Fatalf("the server answered (%v) instead of hanging", err)
			case <-time.After(200 * time.Millisecond):
			}
			closed := make(chan struct{})
			go func() {
				srv.Close()
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("Close blocked on a hanging handler")
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the client is still waiting after Close")
			}
			srv.Close() // idempotent; t.Cleanup calls it again too
		})
	}
}
