package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A minimal client of the kyso WebSocket protocol (docs/protocol.md) for
// the end-to-end tests of `kyso serve`: hello, requests with documents
// uploaded as binary chunks, documents collected from the agent's binary
// frames, progress events and other events.

// wsWait bounds how long a test waits for one answer; it is a safety net
// against a hung server, not a timing assertion.
const wsWait = 3 * time.Minute

// wsChunk is the chunk size the client uploads with: small enough that the
// sample documents travel in several chunks.
const wsChunk = 16 << 10

// wsError is the error member of an answer.
type wsError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

func (e *wsError) Error() string { return e.Code + ": " + e.Message }

// wsProgress is the data of a progress event.
type wsProgress struct {
	ID       string `json:"id"`
	Done     int    `json:"done"`
	Total    int    `json:"total"`
	Document string `json:"document"`
}

// wsEvent is an event other than progress.
type wsEvent struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// wsDocMeta describes a returned document.
type wsDocMeta struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Field  string `json:"field"`
	Level  string `json:"level"`
	Signer string `json:"signer"`
}

// wsAnswer is the answer to one request with everything that came for it.
type wsAnswer struct {
	ID       *string
	Result   json.RawMessage
	Err      *wsError
	Docs     [][]byte // the binary frames' documents, by index
	Progress []wsProgress
}

// wsDoc is a document to upload.
type wsDoc struct {
	Name string
	Data []byte
}

// wsCall is a request in flight.
type wsCall struct {
	id       string
	docs     map[int]*bytes.Buffer
	progress []wsProgress
	// progressCh receives every progress event of the call (buffered for
	// a whole batch) for tests that act on progress.
	progressCh chan wsProgress
	answer     chan wsAnswer
}

// wsClient is one WebSocket connection to the agent.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	wmu  sync.Mutex // one writer at a time

	mu      sync.Mutex
	calls   map[string]*wsCall
	nullIDs []wsAnswer // answers with a null id
	events  []wsEvent
	readErr error
	seq     int
	done    chan struct{} // closed when the read loop ends
	nullCh  chan struct{} // signalled on every null-id answer
}

// dialWS opens a WebSocket to url with the given headers (Origin, Host,
// X-Kyso-Secret) without any protocol exchange. A refused handshake
// returns the HTTP response with its body read into body.
func dialWS(url string, header http.Header) (conn *websocket.Conn, status int, body []byte, err error) {
	d := websocket.Dialer{HandshakeTimeout: 2 * time.Minute}
	conn, resp, err := d.Dial(url, header)
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil && conn == nil {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			body = buf.Bytes()
		}
	}
	return conn, status, body, err
}

// refusalCode is the error code of a refused handshake's JSON body.
func refusalCode(body []byte) string {
	var r struct {
		Error wsError `json:"error"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	return r.Error.Code
}

// originHeader builds the handshake headers for a page at origin; an
// empty origin sends none.
func originHeader(origin string) http.Header {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return h
}

// newWSClient starts reading conn; the connection is closed when the test
// ends.
func newWSClient(t testing.TB, conn *websocket.Conn) *wsClient {
	t.Helper()
	c := &wsClient{t: t, conn: conn, calls: map[string]*wsCall{}, done: make(chan struct{}), nullCh: make(chan struct{}, 16)}
	go c.readLoop()
	t.Cleanup(c.Close)
	return c
}

// connectWS dials url with header, fails the test when the handshake is
// refused, and negotiates protocol 1.
func connectWS(t testing.TB, url string, header http.Header) *wsClient {
	t.Helper()
	conn, status, body, err := dialWS(url, header)
	if err != nil {
		t.Fatalf("dial %s with %v: %v (HTTP %d %s)", url, header, err, status, body)
	}
	c := newWSClient(t, conn)
	c.hello()
	return c
}

// Close closes the connection and waits for the read loop.
func (c *wsClient) Close() {
	c.wmu.Lock()
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.conn.Close()
	<-c.done
}

// hello negotiates protocol 1 and checks the answer.
func (c *wsClient) hello() {
	c.t.Helper()
	a := c.call("hello", map[string]any{"protocols": []int{1}, "client": "kyso-serve-test/1"}, nil)
	if a.Err != nil {
		c.t.Fatalf("hello: %v", a.Err)
	}
	var r struct {
		Protocol     int      `json:"protocol"`
		Capabilities []string `json:"capabilities"`
		Limits       struct {
			MaxChunkBytes int `json:"maxChunkBytes"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(a.Result, &r); err != nil || r.Protocol != 1 || r.Limits.MaxChunkBytes < wsChunk {
		c.t.Fatalf("hello answered %s (%v)", a.Result, err)
	}
}

// writeText sends one text frame.
func (c *wsClient) writeText(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, data)
}

// writeChunk sends one binary frame of the upload framing.
func (c *wsClient) writeChunk(id string, doc int, offset int64, chunk []byte) error {
	hdr, err := json.Marshal(map[string]any{"id": id, "doc": doc, "offset": offset})
	if err != nil {
		return err
	}
	frame := make([]byte, 4, 4+len(hdr)+len(chunk))
	binary.BigEndian.PutUint32(frame, uint32(len(hdr)))
	frame = append(append(frame, hdr...), chunk...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(websocket.BinaryMessage, frame)
}

// start sends a request, declaring docs in params.documents and uploading
// them in chunks right after it, and returns the call to wait on.
func (c *wsClient) start(method string, params map[string]any, docs []wsDoc) *wsCall {
	c.t.Helper()
	c.mu.Lock()
	c.seq++
	id := method + "-" + strconv.Itoa(c.seq)
	call := &wsCall{id: id, docs: map[int]*bytes.Buffer{}, progressCh: make(chan wsProgress, len(docs)+1), answer: make(chan wsAnswer, 1)}
	c.calls[id] = call
	c.mu.Unlock()

	if params == nil && len(docs) > 0 {
		params = map[string]any{}
	}
	if len(docs) > 0 {
		decls := make([]map[string]any, len(docs))
		for i, d := range docs {
			sum := sha256.Sum256(d.Data)
			decls[i] = map[string]any{"name": d.Name, "size": len(d.Data), "sha256": hex.EncodeToString(sum[:])}
		}
		params["documents"] = decls
	}
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	data, err := json.Marshal(msg)
	if err != nil {
		c.t.Fatalf("encoding %s: %v", method, err)
	}
	if err := c.writeText(data); err != nil {
		c.t.Fatalf("sending %s: %v", method, err)
	}
	for i, d := range docs {
		for off := 0; off < len(d.Data); off += wsChunk {
			end := min(off+wsChunk, len(d.Data))
			if err := c.writeChunk(id, i, int64(off), d.Data[off:end]); err != nil {
				c.t.Fatalf("uploading %s document %d at %d: %v", method, i, off, err)
			}
		}
	}
	return call
}

// wait returns the call's answer; a connection that ends first fails the
// test.
func (c *wsClient) wait(call *wsCall) wsAnswer {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	select {
	case a := <-call.answer:
		return a
	case <-c.done:
		select {
		case a := <-call.answer:
			return a
		default:
		}
		c.t.Fatalf("the connection ended before the answer to %s: %v", call.id, c.err())
	case <-ctx.Done():
		c.t.Fatalf("no answer to %s within %s", call.id, wsWait)
	}
	return wsAnswer{}
}

// call sends a request and waits for its answer.
func (c *wsClient) call(method string, params map[string]any, docs []wsDoc) wsAnswer {
	c.t.Helper()
	return c.wait(c.start(method, params, docs))
}

// waitNullAnswer waits for the next answer with a null id.
func (c *wsClient) waitNullAnswer() wsAnswer {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	for {
		c.mu.Lock()
		if len(c.nullIDs) > 0 {
			a := c.nullIDs[0]
			c.nullIDs = c.nullIDs[1:]
			c.mu.Unlock()
			return a
		}
		c.mu.Unlock()
		select {
		case <-c.nullCh:
		case <-c.done:
			c.t.Fatalf("the connection ended before an answer with a null id: %v", c.err())
		case <-ctx.Done():
			c.t.Fatalf("no answer with a null id within %s", wsWait)
		}
	}
}

// closed waits for the connection to end and returns why.
func (c *wsClient) closed() error {
	c.t.Helper()
	select {
	case <-c.done:
		return c.err()
	case <-time.After(wsWait):
		c.t.Fatalf("the connection did not end within %s", wsWait)
		return nil
	}
}

func (c *wsClient) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// readLoop dispatches frames until the connection ends.
func (c *wsClient) readLoop() {
	defer close(c.done)
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		if typ == websocket.BinaryMessage {
			err = c.binaryFrame(data)
		} else {
			err = c.textFrame(data)
		}
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			c.conn.Close()
			return
		}
	}
}

// binaryFrame appends a downloaded chunk, checking the framing.
func (c *wsClient) binaryFrame(frame []byte) error {
	if len(frame) < 4 {
		return errors.New("binary frame shorter than its length prefix")
	}
	n := binary.BigEndian.Uint32(frame)
	if n == 0 || n > 1024 || int(n) > len(frame)-4 {
		return fmt.Errorf("binary frame header length %d out of range", n)
	}
	var h struct {
		ID     string `json:"id"`
		Doc    int    `json:"doc"`
		Offset int64  `json:"offset"`
	}
	if err := json.Unmarshal(frame[4:4+n], &h); err != nil {
		return fmt.Errorf("binary frame header: %w", err)
	}
	chunk := frame[4+n:]
	if len(chunk) == 0 {
		return fmt.Errorf("empty chunk for %s document %d", h.ID, h.Doc)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	call := c.calls[h.ID]
	if call == nil {
		return fmt.Errorf("chunk for unknown request %q", h.ID)
	}
	buf := call.docs[h.Doc]
	if buf == nil {
		buf = &bytes.Buffer{}
		call.docs[h.Doc] = buf
	}
	if int64(buf.Len()) != h.Offset {
		return fmt.Errorf("chunk for %s document %d at offset %d, want %d", h.ID, h.Doc, h.Offset, buf.Len())
	}
	buf.Write(chunk)
	return nil
}

// textFrame dispatches an answer or an event.
func (c *wsClient) textFrame(data []byte) error {
	var m struct {
		ID     *string         `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *wsError        `json:"error"`
		Event  string          `json:"event"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("text frame %q: %w", data, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Event != "" {
		if m.Event != "progress" {
			c.events = append(c.events, wsEvent{Event: m.Event, Data: m.Data})
			return nil
		}
		var p wsProgress
		if err := json.Unmarshal(m.Data, &p); err != nil {
			return fmt.Errorf("progress event %s: %w", m.Data, err)
		}
		call := c.calls[p.ID]
		if call == nil {
			return fmt.Errorf("progress for unknown request %q", p.ID)
		}
		call.progress = append(call.progress, p)
		select {
		case call.progressCh <- p:
		default:
		}
		return nil
	}
	if m.Result == nil && m.Error == nil {
		return fmt.Errorf("text frame %q is neither an answer nor an event", data)
	}
	a := wsAnswer{ID: m.ID, Result: m.Result, Err: m.Error}
	if m.ID == nil {
		c.nullIDs = append(c.nullIDs, a)
		select {
		case c.nullCh <- struct{}{}:
		default:
		}
		return nil
	}
	call := c.calls[*m.ID]
	if call == nil {
		return fmt.Errorf("answer for unknown request %q", *m.ID)
	}
	delete(c.calls, *m.ID)
	for i := 0; i < len(call.docs); i++ {
		buf := call.docs[i]
		if buf == nil {
			return fmt.Errorf("answer to %s: documents not numbered from 0 (missing %d)", *m.ID, i)
		}
		a.Docs = append(a.Docs, buf.Bytes())
	}
	a.Progress = call.progress
	call.answer <- a
	return nil
}

// documents decodes the documents list of a result (or of error details,
// for a batch that stopped early) and checks it against the documents
// received: same count, sizes and SHA-256.
func (a wsAnswer) documents(t testing.TB) []wsDocMeta {
	t.Helper()
	var metas []wsDocMeta
	if a.Err != nil {
		raw, err := json.Marshal(a.Err.Details["documents"])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &metas); err != nil {
			t.Fatalf("error details documents %s: %v", raw, err)
		}
	} else {
		var r struct {
			Documents []wsDocMeta `json:"documents"`
		}
		if err := json.Unmarshal(a.Result, &r); err != nil {
			t.Fatalf("result %s: %v", a.Result, err)
		}
		metas = r.Documents
	}
	if len(metas) != len(a.Docs) {
		t.Fatalf("%d documents described, %d received", len(metas), len(a.Docs))
	}
	for i, m := range metas {
		sum := sha256.Sum256(a.Docs[i])
		if m.Size != int64(len(a.Docs[i])) || m.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("document %d: described as %d bytes %s, received %d bytes %x", i, m.Size, m.SHA256, len(a.Docs[i]), sum)
		}
	}
	return metas
}
