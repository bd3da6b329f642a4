package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kyso-vn/kyso/agent"
)

// smallLimits makes chunking and caps cheap to exercise.
func smallLimits(c *Config) {
	c.MaxChunkBytes = 1024
	c.MaxDocumentBytes = 64 << 10
	c.MaxMessageBytes = 8 << 10
}

func TestHelloNegotiation(t *testing.T) {
	ts := startServer(t, newFake(), smallLimits, nil)
	c, _, err := ts.dial(t, http.Header{"Origin": {allowedOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testClient{t: t, c: c, chunks: map[string]map[int][]byte{}}

	wantCode(t, tc.call("1", "status", nil), CodeNotNegotiated)
	wantCode(t, tc.call("2", "cancel", map[string]any{"id": "x"}), CodeNotNegotiated)
	wantCode(t, tc.call("3", "hello", map[string]any{"protocols": []int{2, 3}}), CodeUnsupportedProtocol)
	wantCode(t, tc.call("4", "hello", map[string]any{"protocols": []int{}}), CodeBadMessage)
	wantCode(t, tc.call("5", "hello", nil), CodeBadMessage)

	m := tc.call("6", "hello", map[string]any{"protocols": []int{2, 1}, "client": "kyso-sdk/1.0"})
	wantOK(t, m)
	var hr helloResult
	if err := json.Unmarshal(m.Result, &hr); err != nil {
		t.Fatal(err)
	}
	want := helloResult{Protocol: 1, Version: "1.2.3", Capabilities: capabilities(),
		Limits: helloLimits{MaxDocumentBytes: 64 << 10, MaxChunkBytes: 1024, MaxInFlight: DefaultMaxInFlightPerConn, MaxMessageBytes: 8 << 10}}
	if hr.Protocol != want.Protocol || hr.Version != want.Version || !slices.Equal(hr.Capabilities, want.Capabilities) || hr.Limits != want.Limits {
		t.Errorf("hello result %+v, want %+v", hr, want)
	}
	wantCode(t, tc.call("7", "hello", map[string]any{"protocols": []int{1}}), CodeBadMessage)
	wantOK(t, tc.call("8", "status", nil))
}

func TestBadMessages(t *testing.T) {
	ts := startServer(t, newFake(), smallLimits, nil)
	tc := ts.connect(t)
	tests := []struct {
		name   string
		frame  string
		wantID string // "" means the answer has a null id
		code   string
	}{
		{"not JSON", `{"id":"1","method":`, "", CodeBadMessage},
		{"array", `[1,2]`, "", CodeBadMessage},
		{"string", `"hello"`, "", CodeBadMessage},
		{"missing id", `{"method":"status"}`, "", CodeBadMessage},
		{"numeric id", `{"id":7,"method":"status"}`, "", CodeBadMessage},
		{"empty id", `{"id":"","method":"status"}`, "", CodeBadMessage},
		{"long id", `{"id":"` + strings.Repeat("x", 65) + `","method":"status"}`, "", CodeBadMessage},
		{"control character in id", `{"id":"a\nb","method":"status"}`, "", CodeBadMessage},
		{"missing method", `{"id":"m1"}`, "m1", CodeBadMessage},
		{"numeric method", `{"id":"m2","method":5}`, "m2", CodeBadMessage},
		{"unknown method", `{"id":"m3","method":"deleteEverything"}`, "m3", CodeUnknownMethod},
		{"params not an object", `{"id":"m4","method":"listCertificates","params":[1]}`, "m4", CodeBadMessage},
		{"params of the wrong type", `{"id":"m5","method":"listCertificates","params":{"validNow":"yes"}}`, "m5", CodeBadMessage},
		{"signPdf without params", `{"id":"m6","method":"signPdf"}`, "m6", CodeBadMessage},
		{"signPdf with two documents", `{"id":"m7","method":"signPdf","params":{"documents":[{"name":"a.pdf","size":1,"sha256":"` + strings.Repeat("0", 64) + `"},{"name":"b.pdf","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}}`, "m7", CodeBadMessage},
		{"bad digest", `{"id":"m8","method":"signPdf","params":{"documents":[{"name":"a.pdf","size":1,"sha256":"xyz"}]}}`, "m8", CodeBadMessage},
		{"zero size", `{"id":"m9","method":"verifyPdf","params":{"documents":[{"name":"a.pdf","size":0,"sha256":"` + strings.Repeat("0", 64) + `"}]}}`, "m9", CodeBadMessage},
		{"name with bidi override", `{"id":"m10","method":"verifyPdf","params":{"documents":[{"name":"a\u202efdp.exe","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}}`, "m10", CodeBadMessage},
		{"signPdfs without documents", `{"id":"m11","method":"signPdfs","params":{"documents":[]}}`, "m11", CodeBadMessage},
		{"cancel without id", `{"id":"m12","method":"cancel","params":{}}`, "m12", CodeBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc.t = t
			tc.sendRaw(websocket.TextMessage, []byte(tt.frame))
			wantCode(t, tc.response(tt.wantID), tt.code)
			// The connection keeps working after every refusal.
			wantOK(t, tc.call("ok", "status", nil))
		})
	}
	t.Run("bad binary frames", func(t *testing.T) {
		tc.t = t
		for _, frame := range [][]byte{
			{0, 0},
			{0, 0, 0, 0},
			{0, 0, 0, 50, '{'},
			chunkFrame("", 0, 0, []byte("x")),
			append([]byte{0, 0, 0, 2}, "{}x"...),
			append([]byte{0, 0, 0, 36}, `{"id":"a","doc":0,"offset":0,"x":1}`...),
		} {
			tc.sendRaw(websocket.BinaryMessage, frame)
			wantCode(t, tc.response(""), CodeBadMessage)
		}
		wantOK(t, tc.call("ok", "status", nil))
	})
}

func TestMethods(t *testing.T) {
	fake := newFake()
	ts := startServer(t, fake, smallLimits, nil)
	tc := ts.connect(t)

	m := tc.call("l", "listCertificates", map[string]any{"kind": "personal", "validNow": true, "futureField": 1})
	wantOK(t, m)
	var certs []agent.CertificateInfo
	if err := json.Unmarshal(m.Result, &certs); err != nil || len(certs) != 1 || certs[0].Handle != "abcd" {
		t.Errorf("listCertificates result %s (%v)", m.Result, err)
	}
	fake.mu.Lock()
	f := fake.filters[0]
	callers := append([]agent.Caller(nil), fake.callers...)
	fake.mu.Unlock()
	if f.Kind != "personal" || !f.ValidNow {
		t.Errorf("agent got filter %+v", f)
	}

	m = tc.call("h", "signHash", map[string]any{"digest": []byte{1, 2, 3}, "hash": "sha256"})
	wantOK(t, m)
	var shr agent.SignHashResult
	if err := json.Unmarshal(m.Result, &shr); err != nil || !bytes.Equal(shr.CMS, []byte("cms:\x01\x02\x03")) {
		t.Errorf("signHash result %s (%v)", m.Result, err)
	}

	m = tc.call("s", "status", nil)
	wantOK(t, m)
	var st agent.Status
	if err := json.Unmarshal(m.Result, &st); err != nil || st.Version != "test" {
		t.Errorf("status result %s (%v)", m.Result, err)
	}

	doc := pdf("verify", 3000)
	tc.request("v", "verifyPdf", map[string]any{"documents": []any{decl("a.pdf", doc)}})
	tc.upload("v", 0, doc, 1024)
	m = tc.response("v")
	wantOK(t, m)
	var rep agent.VerificationReport
	sum := sha256.Sum256(doc)
	if err := json.Unmarshal(m.Result, &rep); err != nil || rep.Size != 3000 || rep.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("verifyPdf result %s (%v)", m.Result, err)
	}
	for _, c := range callers {
		if c != (agent.Caller{Origin: allowedOrigin}) {
			t.Errorf("agent saw caller %+v", c)
		}
	}
}

func TestSignPdfUpload(t *testing.T) {
	fake := newFake()
	ts := startServer(t, fake, smallLimits, nil)
	tc := ts.connect(t)

	doc := pdf("qd", 5000) // five chunks of at most 1024 bytes
	tc.request("s1", "signPdf", map[string]any{"documents": []any{decl("quyết định.pdf", doc)}, "options": map[string]any{"profile": "approved", "level": "B-T"}})
	tc.upload("s1", 0, doc, 1024)
	m := tc.response("s1")
	wantOK(t, m)

	got := fake.receivedDocs()
	if len(got) != 1 || got[0].Name != "quyết định.pdf" || !bytes.Equal(got[0].Data, doc) {
		t.Fatalf("agent received %d documents; first differs from the upload", len(got))
	}
	want := signed(agent.Document{Name: "quyết định.pdf", Data: doc})
	var res documentsResult
	if err := json.Unmarshal(m.Result, &res); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(want.Data)
	wantMeta := docMeta{Name: want.Name, Size: int64(len(want.Data)), SHA256: hex.EncodeToString(sum[:]), Field: "Sig1", Level: "B-T", Signer: "abcd"}
	if len(res.Documents) != 1 || res.Documents[0] != wantMeta {
		t.Errorf("result documents %+v, want %+v", res.Documents, wantMeta)
	}
	if back := tc.chunks["s1"][0]; !bytes.Equal(back, want.Data) {
		t.Errorf("signed bytes came back as %d bytes, want %d identical", len(back), len(want.Data))
	}
}

func TestUploadErrors(t *testing.T) {
	tests := []struct {
		name string
		// send uploads doc (already declared under id "u") wrongly.
		send func(tc *testClient, doc []byte)
		code string
	}{
		{"offset skips ahead", func(tc *testClient, doc []byte) {
			tc.sendRaw(websocket.BinaryMessage, chunkFrame("u", 0, 0, doc[:1024]))
			tc.sendRaw(websocket.BinaryMessage, chunkFrame("u", 0, 2048, doc[2048:3072]))
		}, CodeBadMessage},
		{"offset repeats", func(tc *testClient, doc []byte) {
			tc.sendRaw(websocket.BinaryMessage, chunkFrame("u", 0, 0, doc[:1024]))
			tc.sendRaw(websocket.BinaryMessage, chunkFrame("u", 0, 0, doc[:1024]))
		}, CodeBadMessage},
		{"wrong document index", func(tc *testClient, doc []byte) {
			tc.sendRaw(websocket.BinaryMessage, chunkFrame("u", 1, 0, doc[:1024]))
		}, CodeBadMessage},
		{"past the declared size", func(tc *testClient, doc []byte) {
			tc.upload("u", 0, doc[:2048], 1024)
			tc.sendRaw(websocket.BinaryMessage, chunkFrame("u", 0, 2048, make([]byte, 1000)))
		}, CodeBadMessage},
		{"empty chunk", func(tc *testClient, doc []byte) {
			tc.sendRaw(websocket.BinaryMessage, chunkFrame("u", 0, 0, nil))
		}, CodeBadMessage},
		{"digest mismatch", func(tc *testClient, doc []byte) {
			bad := bytes.Clone(doc)
			bad[100] ^= 1
			tc.upload("u", 0, bad, 1024)
		}, CodeDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			ts := startServer(t, fake, smallLimits, nil)
			tc := ts.connect(t)
			doc := pdf(tt.name, 2500)
			tc.request("u", "signPdf", map[string]any{"documents": []any{decl("a.pdf", doc)}})
			tt.send(tc, doc)
			wantCode(t, tc.response("u"), tt.code)
			if n := len(fake.receivedDocs()); n != 0 {
				t.Errorf("the agent was called with %d documents", n)
			}
			// Late chunks for the failed request are dropped, and the
			// connection (and the id) stay usable.
			tc.upload("u", 0, doc, 1024)
			tc.request("u", "signPdf", map[string]any{"documents": []any{decl("a.pdf", doc)}})
			tc.upload("u", 0, doc, 1024)
			wantOK(t, tc.response("u"))
		})
	}
}

func TestTooLarge(t *testing.T) {
	ts := startServer(t, newFake(), smallLimits, nil)
	tc := ts.connect(t)
	big := map[string]any{"name": "big.pdf", "size": 64<<10 + 1, "sha256": strings.Repeat("ab", 32)}
	m := tc.call("t1", "signPdf", map[string]any{"documents": []any{big}})
	wantCode(t, m, CodeTooLarge)
	if m.Error.Details["maxDocumentBytes"] != float64(64<<10) {
		t.Errorf("details %v", m.Error.Details)
	}
	half := map[string]any{"name": "half.pdf", "size": 40 << 10, "sha256": strings.Repeat("ab", 32)}
	wantCode(t, tc.call("t2", "signPdfs", map[string]any{"documents": []any{half, half}}), CodeTooLarge)
	// Chunks the client had already started sending are dropped.
	tc.sendRaw(websocket.BinaryMessage, chunkFrame("t1", 0, 0, make([]byte, 1024)))
	wantOK(t, tc.call("after", "status", nil))
}

func TestUploadStalls(t *testing.T) {
	ts := startServer(t, newFake(), smallLimits, func(s *Server) { s.uploadTimeout = 50 * time.Millisecond })
	tc := ts.connect(t)
	doc := pdf("stall", 3000)
	tc.request("st", "signPdf", map[string]any{"documents": []any{decl("a.pdf", doc)}})
	tc.upload("st", 0, doc[:1024], 1024)
	m := tc.response("st")
	wantCode(t, m, CodeDocumentIncomplete)
	if m.Error.Details["received"] != float64(1024) || m.Error.Details["size"] != float64(3000) {
		t.Errorf("details %v", m.Error.Details)
	}
}

func TestSignPdfsProgress(t *testing.T) {
	fake := newFake()
	ts := startServer(t, fake, smallLimits, nil)
	tc := ts.connect(t)
	names := []string{"a.pdf", "b.pdf", "c.pdf"}
	var decls []any
	var docs [][]byte
	for i, n := range names {
		d := pdf(n, 1500+i*700)
		docs = append(docs, d)
		decls = append(decls, decl(n, d))
	}
	tc.request("b", "signPdfs", map[string]any{"documents": decls, "options": map[string]any{"profile": "issued"}})
	for i, d := range docs {
		tc.upload("b", i, d, 1024)
	}
	m := tc.response("b")
	wantOK(t, m)
	if len(tc.events) != 3 {
		t.Fatalf("%d events, want 3 progress events", len(tc.events))
	}
	for i, ev := range tc.events {
		var p progressData
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			t.Fatal(err)
		}
		if ev.Event != "progress" || p != (progressData{ID: "b", Done: i + 1, Total: 3, Document: names[i]}) {
			t.Errorf("event %d: %s %+v", i, ev.Event, p)
		}
	}
	var res documentsResult
	if err := json.Unmarshal(m.Result, &res); err != nil || len(res.Documents) != 3 {
		t.Fatalf("result %s (%v)", m.Result, err)
	}
	for i, d := range docs {
		want := signed(agent.Document{Name: names[i], Data: d}).Data
		if !bytes.Equal(tc.chunks["b"][i], want) || res.Documents[i].Name != names[i] || res.Documents[i].Size != int64(len(want)) {
			t.Errorf("document %d did not come back intact", i)
		}
	}
}

func TestSignPdfsStopsEarly(t *testing.T) {
	fake := newFake()
	fake.signPDFs = func(_ context.Context, docs []agent.Document, _ agent.SignPDFOptions, progress func(agent.Progress)) agent.BatchResult {
		var br agent.BatchResult
		for i, d := range docs[:2] {
			br.Signed = append(br.Signed, *signed(d))
			progress(agent.Progress{Done: i + 1, Total: len(docs), Document: d.Name})
		}
		br.Err = &agent.Error{Code: "TOKEN_REMOVED", Message: "the token was removed", Details: map[string]any{"slot": 1}}
		return br
	}
	ts := startServer(t, fake, smallLimits, nil)
	tc := ts.connect(t)
	names := []string{"a.pdf", "b.pdf", "c.pdf"}
	var decls []any
	var docs [][]byte
	for _, n := range names {
		d := pdf(n, 1200)
		docs = append(docs, d)
		decls = append(decls, decl(n, d))
	}
	tc.request("b", "signPdfs", map[string]any{"documents": decls})
	for i, d := range docs {
		tc.upload("b", i, d, 1024)
	}
	m := tc.response("b")
	wantCode(t, m, "TOKEN_REMOVED")
	signedNames, _ := m.Error.Details["signed"].([]any)
	if len(signedNames) != 2 || signedNames[0] != "a.pdf" || signedNames[1] != "b.pdf" {
		t.Errorf("details.signed %v", m.Error.Details["signed"])
	}
	if m.Error.Details["slot"] != float64(1) {
		t.Errorf("the agent's details were not passed through: %v", m.Error.Details)
	}
	if metas, _ := m.Error.Details["documents"].([]any); len(metas) != 2 {
		t.Errorf("details.documents %v", m.Error.Details["documents"])
	}
	if len(tc.chunks["b"]) != 2 {
		t.Fatalf("%d documents came back before the error, want 2", len(tc.chunks["b"]))
	}
	for i := range 2 {
		if want := signed(agent.Document{Name: names[i], Data: docs[i]}).Data; !bytes.Equal(tc.chunks["b"][i], want) {
			t.Errorf("signed document %d differs", i)
		}
	}
}

func TestAgentErrorsPassThrough(t *testing.T) {
	fake := newFake()
	fake.signPDF = func(context.Context, agent.Document, agent.SignPDFOptions) (*agent.SignedDocument, error) {
		return nil, &agent.Error{Code: agent.CodeUserCancelled, Message: "the user cancelled", Details: map[string]any{"dialog": "sign"}, Err: errors.New("/home/user/secret/path")}
	}
	ts := startServer(t, fake, smallLimits, nil)
	tc := ts.connect(t)
	doc := pdf("x", 100)
	tc.request("e", "signPdf", map[string]any{"documents": []any{decl("a.pdf", doc)}})
	tc.upload("e", 0, doc, 1024)
	m := tc.response("e")
	wantCode(t, m, agent.CodeUserCancelled)
	if m.Error.Details["dialog"] != "sign" || strings.Contains(m.Error.Message, "/home") {
		t.Errorf("error %+v", m.Error)
	}
}

func TestCancel(t *testing.T) {
	fake := newFake()
	b := newBlocker()
	fake.signPDF = func(ctx context.Context, _ agent.Document, _ agent.SignPDFOptions) (*agent.SignedDocument, error) {
		return nil, b.wait(ctx)
	}
	ts := startServer(t, fake, smallLimits, nil)
	tc := ts.connect(t)
	doc := pdf("c", 100)
	tc.request("long", "signPdf", map[string]any{"documents": []any{decl("a.pdf", doc)}})
	tc.upload("long", 0, doc, 1024)
	<-b.started

	tc.request("c1", "cancel", map[string]any{"id": "long"})
	// The two answers may come in either order.
	got := map[string]message{}
	for len(got) < 2 {
		_, data, err := tc.next()
		if err != nil {
			t.Fatal(err)
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil || m.ID == nil {
			t.Fatalf("unexpected frame %s", data)
		}
		got[*m.ID] = m
	}
	wantCode(t, got["long"], CodeCancelled)
	wantOK(t, got["c1"])
	if string(got["c1"].Result) != `{"cancelled":true}` {
		t.Errorf("cancel result %s", got["c1"].Result)
	}
	if err := <-b.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the agent saw %v, want context.Canceled", err)
	}
	m := tc.call("c2", "cancel", map[string]any{"id": "long"})
	if string(m.Result) != `{"cancelled":false}` {
		t.Errorf("cancelling a finished request: %s", m.Result)
	}

	// Cancelling while the document is still uploading answers at once.
	tc.request("up", "signPdf", map[string]any{"documents": []any{decl("a.pdf", doc)}})
	tc.request("c3", "cancel", map[string]any{"id": "up"})
	wantCode(t, tc.response("up"), CodeCancelled)
	wantOK(t, tc.response("c3"))
}

func TestDuplicateAndInFlightCap(t *testing.T) {
	fake := newFake()
	b := newBlocker()
	fake.status = func(ctx context.Context) (*agent.Status, error) { return nil, b.wait(ctx) }
	ts := startServer(t, fake, func(c *Config) { smallLimits(c); c.MaxInFlightPerConn = 2 }, nil)
	tc := ts.connect(t)
	tc.request("a", "status", nil)
	tc.request("b", "status", nil)
	<-b.started
	<-b.started
	wantCode(t, tc.call("a", "listCertificates", nil), CodeDuplicateID)
	m := tc.call("c", "listCertificates", nil)
	wantCode(t, m, CodeTooManyRequests)
	if m.Error.Details["maxInFlight"] != float64(2) {
		t.Errorf("details %v", m.Error.Details)
	}
	// cancel is not counted: it must work when the cap is reached.
	tc.request("x", "cancel", map[string]any{"id": "a"})
	tc.request("y", "cancel", map[string]any{"id": "b"})
	seen := map[string]string{}
	for len(seen) < 4 {
		_, data, err := tc.next()
		if err != nil {
			t.Fatal(err)
		}
		var msg message
		if err := json.Unmarshal(data, &msg); err != nil || msg.ID == nil {
			t.Fatalf("unexpected frame %s", data)
		}
		code := "OK"
		if msg.Error != nil {
			code = msg.Error.Code
		}
		seen[*msg.ID] = code
	}
	if seen["a"] != CodeCancelled || seen["b"] != CodeCancelled || seen["x"] != "OK" || seen["y"] != "OK" {
		t.Errorf("answers %v", seen)
	}
	wantOK(t, tc.call("a", "listCertificates", nil))
}

func TestPanicIsInternal(t *testing.T) {
	fake := newFake()
	fake.status = func(context.Context) (*agent.Status, error) {
		panic("a value that might quote the request's params")
	}
	ts := startServer(t, fake, smallLimits, nil)
	tc := ts.connect(t)
	wantCode(t, tc.call("p", "status", nil), CodeInternal)
	wantOK(t, tc.call("l", "listCertificates", nil))
	second := ts.connect(t)
	wantOK(t, second.call("l", "listCertificates", nil))
}

func TestOversizedFramesClose(t *testing.T) {
	// textCapBelowFrameCap makes a text frame over its own cap but under
	// gorilla's read limit, so the bridge's check (not gorilla's) acts.
	textCapBelowFrameCap := func(c *Config) { c.MaxMessageBytes = 1024; c.MaxChunkBytes = 4096 }
	tests := []struct {
		name  string
		cfg   func(*Config)
		typ   int
		frame []byte
	}{
		{"text over gorilla's limit", smallLimits, websocket.TextMessage, []byte(`{"id":"1","method":"status","params":{"pad":"` + strings.Repeat("x", 8<<10) + `"}}`)},
		{"text over its own cap", textCapBelowFrameCap, websocket.TextMessage, []byte(`{"id":"1","method":"status","params":{"pad":"` + strings.Repeat("x", 2000) + `"}}`)},
		{"binary chunk over its cap", smallLimits, websocket.BinaryMessage, chunkFrame("u", 0, 0, make([]byte, 1025))},
		{"binary over the frame cap", smallLimits, websocket.BinaryMessage, make([]byte, 64<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, newFake(), tt.cfg, nil)
			victim := ts.connect(t)
			other := ts.connect(t)
			victim.sendRaw(tt.typ, tt.frame)
			_, _, err := victim.next()
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
				t.Fatalf("read after an oversized frame: %v, want close 1009", err)
			}
			wantOK(t, other.call("s", "status", nil))
			third := ts.connect(t)
			wantOK(t, third.call("s", "status", nil))
		})
	}
}

func TestEventsFanOut(t *testing.T) {
	fake := newFake()
	ts := startServer(t, fake, smallLimits, nil)
	a := ts.connect(t)
	b := ts.connect(t)
	fake.events <- agent.Event{Type: "tokenInserted", Data: map[string]any{"tokenId": "t1"}}
	fake.events <- agent.Event{Type: "certificatesChanged"}
	for _, tc := range []*testClient{a, b} {
		for _, want := range []string{"tokenInserted", "certificatesChanged"} {
			_, data, err := tc.next()
			if err != nil {
				t.Fatal(err)
			}
			var m message
			if err := json.Unmarshal(data, &m); err != nil || m.Event != want {
				t.Fatalf("got %s, want event %s", data, want)
			}
		}
	}
	fake.mu.Lock()
	n := fake.subscriptions
	fake.mu.Unlock()
	if n != 1 {
		t.Errorf("%d subscriptions to the agent's events, want 1 per server", n)
	}
}

func TestShutdown(t *testing.T) {
	fake := newFake()
	b := newBlocker()
	fake.status = func(ctx context.Context) (*agent.Status, error) { return nil, b.wait(ctx) }
	srv, err := New(Config{Service: fake})
	if err != nil {
		t.Fatal(err)
	}
	l, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	ts := &testServer{srv: srv, fake: fake, addr: srv.Addr()}
	tc := ts.connect(t)
	tc.request("blocked", "status", nil)
	<-b.started

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if err := <-b.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the pending request saw %v, want cancellation", err)
	}
	for {
		_, _, err := tc.next()
		if err == nil {
			continue // the cancelled request's answer may still arrive
		}
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("client saw %v, want close 1001", err)
		}
		break
	}
	if _, _, err := ts.dial(t, http.Header{"Origin": {allowedOrigin}}); err == nil {
		t.Error("dial after Shutdown succeeded")
	}
}

func TestIdleConnectionCloses(t *testing.T) {
	ts := startServer(t, newFake(), func(c *Config) { c.IdleTimeout = time.Millisecond }, func(s *Server) { s.pingInterval = 10 * time.Millisecond })
	tc := ts.connect(t)
	for {
		_, _, err := tc.next()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("idle connection ended with %v, want close 1000", err)
		}
		return
	}
}

func TestListenFallback(t *testing.T) {
	taken, err := listenLoopback(0)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	primary := taken.Addr().(*net.TCPAddr).Port

	srv, err := New(Config{Service: newFake(), Port: primary})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := srv.Listen(); err == nil {
		l.Close()
		t.Fatal("Listen on a taken port without a fallback succeeded")
	}

	free, err := listenLoopback(0)
	if err != nil {
		t.Fatal(err)
	}
	fallback := free.Addr().(*net.TCPAddr).Port
	free.Close()
	srv, err = New(Config{Service: newFake(), Port: primary, FallbackPort: fallback})
	if err != nil {
		t.Fatal(err)
	}
	l, err := srv.Listen()
	if err != nil {
		t.Fatalf("Listen with a fallback: %v", err)
	}
	defer l.Close()
	if want := "127.0.0.1:" + strconv.Itoa(fallback); srv.Addr() != want {
		t.Errorf("Addr %s, want the fallback %s", srv.Addr(), want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no service", Config{}},
		{"port out of range", Config{Service: newFake(), Port: 70000}},
		{"negative limit", Config{Service: newFake(), MaxInFlightPerConn: -1}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tt.name, tt.cfg)
		}
	}
}

func TestAgentReturnsNothing(t *testing.T) {
	fake := newFake()
	fake.status = func(context.Context) (*agent.Status, error) { return nil, nil }
	fake.signPDF = func(_ context.Context, doc agent.Document, _ agent.SignPDFOptions) (*agent.SignedDocument, error) {
		sd := signed(doc)
		sd.Name = "" // the bridge falls back to the uploaded name
		return sd, nil
	}
	ts := startServer(t, fake, smallLimits, nil)
	tc := ts.connect(t)
	wantCode(t, tc.call("s", "status", nil), CodeInternal)
	doc := pdf("n", 10)
	tc.request("p", "signPdf", map[string]any{"documents": []any{decl("ten.pdf", doc)}})
	tc.upload("p", 0, doc, 1024)
	m := tc.response("p")
	wantOK(t, m)
	var res documentsResult
	if err := json.Unmarshal(m.Result, &res); err != nil || len(res.Documents) != 1 || res.Documents[0].Name != "ten.pdf" {
		t.Errorf("result %s (%v)", m.Result, err)
	}
}
