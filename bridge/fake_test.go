package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/token"
)

// allowedOrigin is the one origin the fake's exact allowlist holds.
const allowedOrigin = "https://gov.vn"

// blockedOrigin is an origin the fake's user refused recently.
const blockedOrigin = "https://blocked.vn"

// fakeService is an agent.Service for tests: exact allowlist, records
// calls, and hooks that can block, panic or fail.
type fakeService struct {
	// Hooks, set before the server starts; nil uses the default.
	signPDF  func(ctx context.Context, doc agent.Document, opts agent.SignPDFOptions) (*agent.SignedDocument, error)
	signPDFs func(ctx context.Context, docs []agent.Document, opts agent.SignPDFOptions, progress func(agent.Progress)) agent.BatchResult
	status   func(ctx context.Context) (*agent.Status, error)

	events chan agent.Event

	mu            sync.Mutex
	admits        []string
	calls         []string
	callers       []agent.Caller
	filters       []agent.CertificateFilter
	docs          []agent.Document
	subscriptions int
}

func newFake() *fakeService {
	return &fakeService{events: make(chan agent.Event, 8)}
}

func (f *fakeService) record(method string, c agent.Caller) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
	f.callers = append(f.callers, c)
}

func (f *fakeService) admitted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.admits...)
}

func (f *fakeService) lastCaller() agent.Caller {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.callers) == 0 {
		return agent.Caller{}
	}
	return f.callers[len(f.callers)-1]
}

func (f *fakeService) receivedDocs() []agent.Document {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]agent.Document(nil), f.docs...)
}

// OriginAllowed makes the fake an originChecker: exact comparison only.
func (f *fakeService) OriginAllowed(origin string) bool { return origin == allowedOrigin }

func (f *fakeService) Admit(_ context.Context, origin string) error {
	f.mu.Lock()
	f.admits = append(f.admits, origin)
	f.mu.Unlock()
	switch origin {
	case allowedOrigin:
		return nil
	case blockedOrigin:
		return &agent.Error{Code: agent.CodeOriginBlocked, Message: "refused recently"}
	}
	return &agent.Error{Code: agent.CodeOriginNotAllowed, Message: "origin not allowed"}
}

func (f *fakeService) ListCertificates(_ context.Context, c agent.Caller, filter agent.CertificateFilter) ([]agent.CertificateInfo, error) {
	f.record("listCertificates", c)
	f.mu.Lock()
	f.filters = append(f.filters, filter)
	f.mu.Unlock()
	return []agent.CertificateInfo{{Handle: "abcd", Identity: token.Identity{Name: "Nguyễn Văn A", Kind: token.KindPersonal}, KeyType: "RSA", KeySize: 2048}}, nil
}

// signed is what the fake makes of a document: an "incremental update".
func signed(doc agent.Document) *agent.SignedDocument {
	data := append(append([]byte(nil), doc.Data...), "\n%kyso-signed\n"...)
	return &agent.SignedDocument{Name: doc.Name, Field: "Sig1", Level: "B-T", Data: data, Signer: "abcd"}
}

func (f *fakeService) SignPDF(ctx context.Context, c agent.Caller, doc agent.Document, opts agent.SignPDFOptions) (*agent.SignedDocument, error) {
	f.record("signPdf", c)
	f.mu.Lock()
	f.docs = append(f.docs, doc)
	f.mu.Unlock()
	if f.signPDF != nil {
		return f.signPDF(ctx, doc, opts)
	}
	return signed(doc), nil
}

func (f *fakeService) SignPDFs(ctx context.Context, c agent.Caller, docs []agent.Document, opts agent.SignPDFOptions, progress func(agent.Progress)) agent.BatchResult {
	f.record("signPdfs", c)
	f.mu.Lock()
	f.docs = append(f.docs, docs...)
	f.mu.Unlock()
	if f.signPDFs != nil {
		return f.signPDFs(ctx, docs, opts, progress)
	}
	var br agent.BatchResult
	for i, d := range docs {
		br.Signed = append(br.Signed, *signed(d))
		progress(agent.Progress{Done: i + 1, Total: len(docs), Document: d.Name})
	}
	return br
}

func (f *fakeService) SignHash(_ context.Context, c agent.Caller, req agent.SignHashRequest) (*agent.SignHashResult, error) {
	f.record("signHash", c)
	return &agent.SignHashResult{CMS: append([]byte("cms:"), req.Digest...), Signer: "abcd"}, nil
}

func (f *fakeService) VerifyPDF(_ context.Context, c agent.Caller, doc agent.Document) (*agent.VerificationReport, error) {
	f.record("verifyPdf", c)
	sum := sha256.Sum256(doc.Data)
	return &agent.VerificationReport{Schema: agent.VerificationSchema, Size: int64(len(doc.Data)), SHA256: hex.EncodeToString(sum[:]), Signatures: []agent.SignatureVerification{}}, nil
}

func (f *fakeService) Status(ctx context.Context, c agent.Caller) (*agent.Status, error) {
	f.record("status", c)
	if f.status != nil {
		return f.status(ctx)
	}
	return &agent.Status{Version: "test", Tokens: []token.TokenInfo{}}, nil
}

func (f *fakeService) Events(ctx context.Context) <-chan agent.Event {
	f.mu.Lock()
	f.subscriptions++
	f.mu.Unlock()
	return f.events
}

// plainService hides the fake's OriginAllowed: a Service that is no
// originChecker.
type plainService struct{ agent.Service }

// blocker is a hook that blocks until its context ends, so tests can see
// cancellation reach the agent.
type blocker struct {
	started chan struct{} // one value per call that started
	ended   chan error    // the ctx error each call saw
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 16), ended: make(chan error, 16)}
}

func (b *blocker) wait(ctx context.Context) error {
	b.started <- struct{}{}
	<-ctx.Done()
	b.ended <- ctx.Err()
	return ctx.Err()
}

// testServer is a running Server on 127.0.0.1 and its fake agent.
type testServer struct {
	srv  *Server
	fake *fakeService
	addr string
	port string
}

// startServer runs a Server on an ephemeral loopback port until the test
// ends. tweak adjusts the config and the server before it serves.
func startServer(t *testing.T, svc agent.Service, tweak func(*Config), tweakSrv func(*Server)) *testServer {
	t.Helper()
	cfg := Config{Service: svc, ClientSecret: "s3cret", Version: "1.2.3"}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tweakSrv != nil {
		tweakSrv(srv)
	}
	l, err := srv.Listen()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	ts := &testServer{srv: srv, addr: l.Addr().String()}
	ts.port = ts.addr[strings.LastIndexByte(ts.addr, ':')+1:]
	if f, ok := svc.(*fakeService); ok {
		ts.fake = f
	}
	return ts
}

// dial opens a WebSocket with the given headers (Host overrides the
// request's Host).
func (ts *testServer) dial(t *testing.T, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial("ws://"+ts.addr+"/v1", hdr)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// connect dials as allowedOrigin and negotiates.
func (ts *testServer) connect(t *testing.T) *testClient {
	t.Helper()
	c, _, err := ts.dial(t, http.Header{"Origin": {allowedOrigin}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	tc := &testClient{t: t, c: c, chunks: map[string]map[int][]byte{}}
	if r := tc.call("h", "hello", map[string]any{"protocols": []int{1}, "client": "test/1"}); r.Error != nil {
		t.Fatalf("hello: %+v", r.Error)
	}
	return tc
}

// message is any server text frame.
type message struct {
	ID     *string         `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *wireError      `json:"error"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
}

// testClient is a protocol client over a real gorilla connection.
type testClient struct {
	t      *testing.T
	c      *websocket.Conn
	events []message
	// chunks reassembles binary frames by request id and document.
	chunks map[string]map[int][]byte
}

func (tc *testClient) send(v any) {
	tc.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.sendRaw(websocket.TextMessage, data)
}

func (tc *testClient) sendRaw(typ int, data []byte) {
	tc.t.Helper()
	if err := tc.c.WriteMessage(typ, data); err != nil {
		tc.t.Fatalf("write: %v", err)
	}
}

func (tc *testClient) request(id, method string, params any) {
	tc.t.Helper()
	m := map[string]any{"id": id, "method": method}
	if params != nil {
		m["params"] = params
	}
	tc.send(m)
}

// next reads one frame; the deadline only keeps a broken test from
// hanging.
func (tc *testClient) next() (int, []byte, error) {
	_ = tc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	return tc.c.ReadMessage()
}

// response reads until the answer for id, reassembling binary frames and
// collecting events on the way. An id of "" waits for an answer with a
// null id.
func (tc *testClient) response(id string) message {
	tc.t.Helper()
	for {
		typ, data, err := tc.next()
		if err != nil {
			tc.t.Fatalf("waiting for the answer to %q: %v", id, err)
		}
		if typ == websocket.BinaryMessage {
			tc.addChunk(data)
			continue
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			tc.t.Fatalf("server sent invalid JSON %q: %v", data, err)
		}
		if m.Event != "" {
			tc.events = append(tc.events, m)
			continue
		}
		if (m.ID == nil && id == "") || (m.ID != nil && *m.ID == id) {
			return m
		}
		tc.t.Fatalf("unexpected message %s while waiting for %q", data, id)
	}
}

func (tc *testClient) addChunk(frame []byte) {
	tc.t.Helper()
	h, chunk, err := decodeChunk(frame)
	if err != nil {
		tc.t.Fatalf("server sent a bad binary frame: %v", err)
	}
	docs := tc.chunks[h.ID]
	if docs == nil {
		docs = map[int][]byte{}
		tc.chunks[h.ID] = docs
	}
	if int64(len(docs[h.Doc])) != h.Offset {
		tc.t.Fatalf("server chunk for %s doc %d at offset %d, have %d bytes", h.ID, h.Doc, h.Offset, len(docs[h.Doc]))
	}
	docs[h.Doc] = append(docs[h.Doc], chunk...)
}

func (tc *testClient) call(id, method string, params any) message {
	tc.t.Helper()
	tc.request(id, method, params)
	return tc.response(id)
}

// chunkFrame builds a binary frame.
func chunkFrame(id string, doc int, offset int64, chunk []byte) []byte {
	hdr, _ := json.Marshal(chunkHeader{ID: id, Doc: doc, Offset: offset})
	out := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)))
	return append(append(out, hdr...), chunk...)
}

// upload sends data as chunks of size n.
func (tc *testClient) upload(id string, doc int, data []byte, n int) {
	tc.t.Helper()
	for off := 0; off < len(data); off += n {
		end := min(off+n, len(data))
		tc.sendRaw(websocket.BinaryMessage, chunkFrame(id, doc, int64(off), data[off:end]))
	}
}

func decl(name string, data []byte) map[string]any {
	sum := sha256.Sum256(data)
	return map[string]any{"name": name, "size": len(data), "sha256": hex.EncodeToString(sum[:])}
}

// pdf makes n bytes of a fake document named by seed.
func pdf(seed string, n int) []byte {
	out := make([]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		out = fmt.Appendf(out, "%%PDF-1.7 %s %d\n", seed, i)
	}
	return out[:n]
}

func wantCode(t *testing.T, m message, code string) {
	t.Helper()
	if m.Error == nil {
		t.Fatalf("want error %s, got result %s", code, m.Result)
	}
	if m.Error.Code != code {
		t.Fatalf("want error %s, got %s (%s, %v)", code, m.Error.Code, m.Error.Message, m.Error.Details)
	}
}

func wantOK(t *testing.T, m message) {
	t.Helper()
	if m.Error != nil {
		t.Fatalf("want a result, got error %s (%s, %v)", m.Error.Code, m.Error.Message, m.Error.Details)
	}
}
