package bridge

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/kyso-vn/kyso/agent"
)

func TestHelloEndpoint(t *testing.T) {
	ts := startServer(t, newFake(), nil, nil)
	tests := []struct {
		name       string
		method     string
		origin     string
		host       string
		header     http.Header
		wantStatus int
		wantACAO   string
		wantPNA    bool
		wantBody   bool
	}{
		{name: "no origin", method: "GET", wantStatus: 200, wantBody: true},
		{name: "allowed origin", method: "GET", origin: allowedOrigin, wantStatus: 200, wantACAO: allowedOrigin, wantBody: true},
		{name: "not allowed origin", method: "GET", origin: "https://evil.example", wantStatus: 403},
		{name: "look-alike origin", method: "GET", origin: "https://gov.vn.evil.com", wantStatus: 403},
		{name: "malformed origin", method: "GET", origin: "https://gov.vn/", wantStatus: 403},
		{name: "null origin", method: "GET", origin: "null", wantStatus: 403},
		{name: "preflight with private network", method: "OPTIONS", origin: allowedOrigin,
			header:     http.Header{"Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Private-Network": {"true"}},
			wantStatus: 204, wantACAO: allowedOrigin, wantPNA: true},
		{name: "preflight without private network", method: "OPTIONS", origin: allowedOrigin,
			header:     http.Header{"Access-Control-Request-Method": {"GET"}},
			wantStatus: 204, wantACAO: allowedOrigin},
		{name: "preflight not allowed", method: "OPTIONS", origin: "https://evil.example",
			header:     http.Header{"Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Private-Network": {"true"}},
			wantStatus: 403},
		{name: "rebound host", method: "GET", origin: allowedOrigin, host: "evil.example:" + ts.port, wantStatus: 403},
		{name: "post", method: "POST", origin: allowedOrigin, wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://"+ts.addr+"/v1/hello", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.wantACAO)
			}
			if tt.wantACAO != "" && !slices.Contains(resp.Header.Values("Vary"), "Origin") {
				t.Errorf("Vary %q, want Origin", resp.Header.Values("Vary"))
			}
			if tt.wantACAO == "" {
				for k := range resp.Header {
					if len(k) > 15 && k[:15] == "Access-Control-" {
						t.Errorf("CORS header %s on a refused answer", k)
					}
				}
			}
			if got := resp.Header.Get("Access-Control-Allow-Private-Network") == "true"; got != tt.wantPNA {
				t.Errorf("Access-Control-Allow-Private-Network present %v, want %v", got, tt.wantPNA)
			}
			if tt.wantBody {
				var h helloInfo
				if err := json.Unmarshal(body, &h); err != nil {
					t.Fatalf("body %q: %v", body, err)
				}
				if h.Product != "kyso" || !slices.Equal(h.Protocols, []int{1}) || h.Version != "1.2.3" {
					t.Errorf("hello body %+v", h)
				}
			}
		})
	}
	if a := ts.fake.admitted(); len(a) != 0 {
		t.Errorf("hello endpoint called Admit (may prompt) for %v", a)
	}
}

func TestHelloEndpointWithoutOriginChecker(t *testing.T) {
	fake := newFake()
	ts := startServer(t, plainService{fake}, nil, nil)
	req, _ := http.NewRequest("GET", "http://"+ts.addr+"/v1/hello", nil)
	req.Header.Set("Origin", allowedOrigin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("status %d, ACAO %q: want 403 without CORS", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if a := fake.admitted(); len(a) != 0 {
		t.Errorf("hello endpoint called Admit for %v", a)
	}
}

func TestGate(t *testing.T) {
	fake := newFake()
	ts := startServer(t, fake, nil, nil)
	tests := []struct {
		name       string
		origin     []string // nil: no Origin header
		host       string
		secret     []string
		wantStatus int
		wantCode   string
		wantAdmit  bool // Admit was asked about the origin
		wantLocal  bool
	}{
		{name: "allowed", origin: []string{allowedOrigin}, wantStatus: 101, wantAdmit: true},
		{name: "allowed via localhost", origin: []string{allowedOrigin}, host: "localhost:" + ts.port, wantStatus: 101, wantAdmit: true},
		{name: "allowed via ::1", origin: []string{allowedOrigin}, host: "[::1]:" + ts.port, wantStatus: 101, wantAdmit: true},
		{name: "not allowed", origin: []string{"https://evil.example"}, wantStatus: 403, wantCode: agent.CodeOriginNotAllowed, wantAdmit: true},
		{name: "blocked", origin: []string{blockedOrigin}, wantStatus: 403, wantCode: agent.CodeOriginBlocked, wantAdmit: true},
		{name: "suffix look-alike", origin: []string{"https://gov.vn.evil.com"}, wantStatus: 403, wantCode: agent.CodeOriginNotAllowed, wantAdmit: true},
		{name: "prefix look-alike", origin: []string{"https://evilgov.vn"}, wantStatus: 403, wantCode: agent.CodeOriginNotAllowed, wantAdmit: true},
		{name: "other scheme", origin: []string{"http://gov.vn"}, wantStatus: 403, wantCode: agent.CodeOriginNotAllowed, wantAdmit: true},
		{name: "other port", origin: []string{"https://gov.vn:444"}, wantStatus: 403, wantCode: agent.CodeOriginNotAllowed, wantAdmit: true},
		{name: "path", origin: []string{"https://gov.vn/path"}, wantStatus: 400, wantCode: CodeOriginMalformed},
		{name: "trailing slash", origin: []string{"https://gov.vn/"}, wantStatus: 400, wantCode: CodeOriginMalformed},
		{name: "userinfo", origin: []string{"https://user@gov.vn"}, wantStatus: 400, wantCode: CodeOriginMalformed},
		{name: "upper case is not normalised", origin: []string{"HTTPS://GOV.VN"}, wantStatus: 400, wantCode: CodeOriginMalformed},
		{name: "explicit default port", origin: []string{"https://gov.vn:443"}, wantStatus: 400, wantCode: CodeOriginMalformed},
		{name: "file scheme", origin: []string{"file://"}, wantStatus: 400, wantCode: CodeOriginMalformed},
		{name: "two origins", origin: []string{allowedOrigin, allowedOrigin}, wantStatus: 400, wantCode: CodeOriginMalformed},
		{name: "null without secret", origin: []string{"null"}, wantStatus: 403, wantCode: CodeOriginRequired},
		{name: "missing without secret", wantStatus: 403, wantCode: CodeOriginRequired},
		{name: "missing with wrong secret", secret: []string{"guess"}, wantStatus: 403, wantCode: CodeSecretInvalid},
		{name: "missing with empty secret", secret: []string{""}, wantStatus: 403, wantCode: CodeSecretInvalid},
		{name: "missing with secret", secret: []string{"s3cret"}, wantStatus: 101, wantLocal: true},
		{name: "null with secret", origin: []string{"null"}, secret: []string{"s3cret"}, wantStatus: 101, wantLocal: true},
		{name: "rebound host", origin: []string{allowedOrigin}, host: "evil.example:" + ts.port, wantStatus: 403, wantCode: CodeHostNotAllowed},
		{name: "host with another port", origin: []string{allowedOrigin}, host: "127.0.0.1:1", wantStatus: 403, wantCode: CodeHostNotAllowed},
		{name: "host without port", origin: []string{allowedOrigin}, host: "127.0.0.1", wantStatus: 403, wantCode: CodeHostNotAllowed},
		{name: "host upper case", origin: []string{allowedOrigin}, host: "LOCALHOST:" + ts.port, wantStatus: 403, wantCode: CodeHostNotAllowed},
		{name: "local client on rebound host", secret: []string{"s3cret"}, host: "evil.example:" + ts.port, wantStatus: 403, wantCode: CodeHostNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fake.admitted())
			hdr := http.Header{}
			if tt.origin != nil {
				hdr["Origin"] = tt.origin
			}
			if tt.secret != nil {
				hdr[SecretHeader] = tt.secret
			}
			if tt.host != "" {
				hdr.Set("Host", tt.host)
			}
			c, resp, err := ts.dial(t, hdr)
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			admitted := fake.admitted()[before:]
			if tt.wantAdmit != (len(admitted) == 1) || len(admitted) > 1 {
				t.Errorf("Admit asked about %v, want asked %v", admitted, tt.wantAdmit)
			}
			if tt.wantAdmit && admitted[0] != tt.origin[0] {
				t.Errorf("Admit asked about %q, want %q", admitted[0], tt.origin[0])
			}
			if tt.wantStatus != 101 {
				if c != nil || !errors.Is(err, websocket.ErrBadHandshake) {
					t.Fatalf("refused handshake upgraded (err %v)", err)
				}
				var r refusal
				if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
					t.Fatalf("refusal body: %v", err)
				}
				if r.Error.Code != tt.wantCode {
					t.Errorf("code %s, want %s", r.Error.Code, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			tc := &testClient{t: t, c: c, chunks: map[string]map[int][]byte{}}
			wantOK(t, tc.call("h", "hello", map[string]any{"protocols": []int{1}}))
			wantOK(t, tc.call("s", "status", nil))
			want := agent.Caller{Origin: allowedOrigin}
			if tt.wantLocal {
				want = agent.Caller{Local: true}
			}
			if got := fake.lastCaller(); got != want {
				t.Errorf("agent saw caller %+v, want %+v", got, want)
			}
		})
	}
}

func TestGateLocalClientsDisabled(t *testing.T) {
	ts := startServer(t, newFake(), func(c *Config) { c.ClientSecret = "" }, nil)
	for _, secret := range []string{"", "s3cret"} {
		_, resp, err := ts.dial(t, http.Header{SecretHeader: {secret}})
		if resp == nil || resp.StatusCode != http.StatusForbidden || !errors.Is(err, websocket.ErrBadHandshake) {
			t.Errorf("secret %q without a configured secret: %v, %v", secret, resp, err)
		}
	}
}

func TestGateNotWebSocket(t *testing.T) {
	fake := newFake()
	ts := startServer(t, fake, nil, nil)
	req, _ := http.NewRequest("GET", "http://"+ts.addr+"/v1", nil)
	req.Header.Set("Origin", allowedOrigin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	if a := fake.admitted(); len(a) != 0 {
		t.Errorf("a plain GET reached Admit (could prompt): %v", a)
	}
}

func TestConnectionsPerOrigin(t *testing.T) {
	ts := startServer(t, newFake(), func(c *Config) { c.MaxConnsPerOrigin = 2 }, nil)
	for i := range 2 {
		if _, _, err := ts.dial(t, http.Header{"Origin": {allowedOrigin}}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	_, resp, err := ts.dial(t, http.Header{"Origin": {allowedOrigin}})
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests || !errors.Is(err, websocket.ErrBadHandshake) {
		t.Fatalf("third connection: %v, %v; want 429", resp, err)
	}
	// Local clients have their own slots.
	if _, _, err := ts.dial(t, http.Header{SecretHeader: {"s3cret"}}); err != nil {
		t.Fatalf("local client: %v", err)
	}
}

func TestWellFormedOrigin(t *testing.T) {
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://gov.vn", true},
		{"https://qlvb.example.gov.vn", true},
		{"https://dms.example.vn:8443", true},
		{"http://localhost:3000", true},
		{"http://127.0.0.1:8080", true},
		{"https://[::1]:8443", true},
		{"https://xn--ngn-vn.vn", true},
		{"https://gov.vn:443", false},
		{"http://gov.vn:80", false},
		{"https://gov.vn:0", false},
		{"https://gov.vn:65536", false},
		{"https://gov.vn:0443", false},
		{"https://gov.vn:", false},
		{"https://gov.vn/", false},
		{"https://gov.vn?x", false},
		{"https://gov.vn#x", false},
		{"https://user@gov.vn", false},
		{"https://user:pw@gov.vn", false},
		{"HTTPS://gov.vn", false},
		{"https://Gov.vn", false},
		{"https://gov.vn.", false},
		{"https://.gov.vn", false},
		{"https://gov..vn", false},
		{"https://-gov.vn", false},
		{"https://gov_vn.vn", false},
		{"https://gõv.vn", false},
		{"https:// gov.vn", false},
		{"https://1.2.3", false},
		{"https://0x7f.1", false},
		{"https://127.000.0.1", false},
		{"https://[::ffff:127.0.0.1]", false},
		{"https://[0:0::1]", false},
		{"https://[::1", false},
		{"https://[::1]x", false},
		{"https://[fe80::1%25eth0]", false},
		{"ftp://gov.vn", false},
		{"chrome-extension://abcdef", false},
		{"file://", false},
		{"null", false},
		{"", false},
		{"https://", false},
		{"gov.vn", false},
	}
	for _, tt := range tests {
		if got := wellFormedOrigin(tt.origin); got != tt.want {
			t.Errorf("wellFormedOrigin(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:19571", true},
		{"localhost:19571", true},
		{"[::1]:19571", true},
		{"127.0.0.1:19572", false},
		{"127.0.0.1", false},
		{"localhost", false},
		{"127.0.0.2:19571", false},
		{"localhost.:19571", false},
		{"agent.localhost:19571", false},
		{"evil.example:19571", false},
		{"127.0.0.1:19571.evil.example", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := hostAllowed(tt.host, 19571); got != tt.want {
			t.Errorf("hostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
