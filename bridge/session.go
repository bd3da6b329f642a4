package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kyso-vn/kyso/agent"
)

// ProtocolVersion is the protocol this bridge speaks.
const ProtocolVersion = 1

// maxIDBytes bounds request ids: they are echoed, logged and used as map
// keys, so they stay short.
const maxIDBytes = 64

// capabilities are the methods protocol v1 offers besides hello; new
// methods within v1 are announced here.
func capabilities() []string {
	return []string{"signPdf", "signPdfs", "signHash", "verifyPdf", "listCertificates", "status", "cancel", "events"}
}

// fatalError ends the connection it happened on (the transport closes it
// with close code 1009); it is a string type so it can be a constant.
type fatalError string

func (e fatalError) Error() string { return string(e) }

// errTooBig is returned for a frame over its cap.
const errTooBig = fatalError("bridge: frame over the size cap")

// limits are the caps a session enforces, resolved from Config.
type limits struct {
	maxDocumentBytes int64
	maxMessageBytes  int64
	maxChunkBytes    int
	maxInFlight      int
	uploadTimeout    time.Duration
}

// frameWriter sends whole WebSocket messages to the peer. Implementations
// serialize concurrent callers (gorilla allows one writer at a time).
type frameWriter interface {
	// WriteFrame sends one message made of parts, binary or text.
	WriteFrame(binary bool, parts ...[]byte) error
}

// session is one connection's protocol state, independent of the
// transport: the WebSocket loop feeds it frames, the fuzz test feeds it
// bytes. handleText and handleBinary are called from one goroutine; the
// request goroutines, upload timers and the event pump run beside it.
type session struct {
	svc     agent.Service
	caller  agent.Caller
	version string
	lim     limits
	w       frameWriter
	log     *slog.Logger
	hub     *hub // nil: events are not forwarded
	ctx     context.Context
	cancel  context.CancelFunc
	// wg counts request goroutines, timer callbacks that answer and the
	// event pump; Add happens only under mu while !closed.
	wg sync.WaitGroup

	lastActivity atomic.Int64 // unix nanoseconds of the last frame or finished request

	mu          sync.Mutex
	negotiated  bool
	closed      bool
	reqs        map[string]*request
	unsubscribe func()
}

// sessionConfig is what a session is made of.
type sessionConfig struct {
	svc     agent.Service
	caller  agent.Caller
	version string
	lim     limits
	w       frameWriter
	log     *slog.Logger
	hub     *hub
}

func newSession(parent context.Context, c sessionConfig) *session {
	ctx, cancel := context.WithCancel(parent)
	s := &session{
		svc: c.svc, caller: c.caller, version: c.version, lim: c.lim, w: c.w,
		log: c.log.With("origin", c.caller.String()), hub: c.hub,
		ctx: ctx, cancel: cancel, reqs: map[string]*request{},
	}
	s.touch()
	return s
}

// request is one request in flight: uploading its documents, then running.
type request struct {
	id        string
	method    string
	start     time.Time
	ctx       context.Context
	cancel    context.CancelFunc
	cancelled atomic.Bool // the client cancelled it
	call      callFunc

	// Guarded by session.mu.
	uploads      []*upload
	cur          int // the document whose bytes come next
	running      bool
	timer        *time.Timer
	lastProgress time.Time
}

// upload is one declared document being received.
type upload struct {
	name string
	size int64
	sum  [sha256.Size]byte
	data []byte
	h    hash.Hash
}

// inbound is a text frame from the client. Members stay raw so each can
// be checked for its type and answered precisely.
type inbound struct {
	ID     json.RawMessage `json:"id"`
	Method json.RawMessage `json:"method"`
	Params json.RawMessage `json:"params"`
}

type resultMessage struct {
	ID     string `json:"id"`
	Result any    `json:"result"`
}

type errorMessage struct {
	ID    *string   `json:"id"` // null when the frame had no usable id
	Error wireError `json:"error"`
}

type eventMessage struct {
	Event string `json:"event"`
	Data  any    `json:"data,omitempty"`
}

type helloParams struct {
	Protocols []int  `json:"protocols"`
	Client    string `json:"client"`
}

type helloResult struct {
	Protocol     int         `json:"protocol"`
	Version      string      `json:"version"`
	Capabilities []string    `json:"capabilities"`
	Limits       helloLimits `json:"limits"`
}

type helloLimits struct {
	MaxDocumentBytes int64 `json:"maxDocumentBytes"`
	MaxChunkBytes    int   `json:"maxChunkBytes"`
	MaxInFlight      int   `json:"maxInFlight"`
	MaxMessageBytes  int64 `json:"maxMessageBytes"`
}

type cancelParams struct {
	ID string `json:"id"`
}

type cancelResult struct {
	Cancelled bool `json:"cancelled"`
}

func (s *session) touch() { s.lastActivity.Store(time.Now().UnixNano()) }

// idle reports whether nothing happened for limit and no request is in
// flight (a request waiting for the user is not idleness).
func (s *session) idle(now time.Time, limit time.Duration) bool {
	s.mu.Lock()
	busy := len(s.reqs) > 0
	s.mu.Unlock()
	return !busy && now.Sub(time.Unix(0, s.lastActivity.Load())) >= limit
}

// validID accepts 1 to 64 bytes of UTF-8 without control characters.
func validID(id string) bool {
	if id == "" || len(id) > maxIDBytes || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// handleText processes one text frame. Only a fatalError ends the
// connection; everything else is answered on it.
func (s *session) handleText(data []byte) error {
	if int64(len(data)) > s.lim.maxMessageBytes {
		return errTooBig
	}
	s.touch()
	start := time.Now()
	var in inbound
	if err := json.Unmarshal(data, &in); err != nil {
		s.answerError(nil, "", start, errorf(CodeBadMessage, "text frame is not a JSON object", nil))
		return nil
	}
	var id string
	if json.Unmarshal(in.ID, &id) != nil || !validID(id) {
		s.answerError(nil, "", start, errorf(CodeBadMessage, "id must be a string of 1 to 64 characters", nil))
		return nil
	}
	var method string
	if json.Unmarshal(in.Method, &method) != nil || !validID(method) {
		// Method names obey the id rules: they are logged and echoed.
		s.answerError(&id, "", start, errorf(CodeBadMessage, "method must be a string of 1 to 64 characters", nil))
		return nil
	}
	s.dispatch(id, method, in.Params, start)
	return nil
}

func (s *session) dispatch(id, method string, params json.RawMessage, start time.Time) {
	s.mu.Lock()
	_, dup := s.reqs[id]
	negotiated := s.negotiated
	s.mu.Unlock()
	if dup {
		// The answer carries the id of a request still in flight; its code
		// tells the client the in-flight request is not the one failing.
		s.answerError(&id, method, start, errorf(CodeDuplicateID, "a request with this id is in flight", nil))
		return
	}
	if method == "hello" {
		s.hello(id, params, start)
		return
	}
	if !negotiated {
		s.answerError(&id, method, start, errorf(CodeNotNegotiated, "the first message must be hello", nil))
		return
	}
	if method == "cancel" {
		s.cancelRequest(id, params, start)
		return
	}
	decls, call, err := s.prepare(method, params)
	if err != nil {
		s.answerError(&id, method, start, err)
		return
	}
	uploads, err := s.checkDeclarations(decls)
	if err != nil {
		s.answerError(&id, method, start, err)
		return
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if len(s.reqs) >= s.lim.maxInFlight {
		s.mu.Unlock()
		s.answerError(&id, method, start, errorf(CodeTooManyRequests, "too many requests in flight on this connection",
			map[string]any{"maxInFlight": s.lim.maxInFlight}))
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	req := &request{id: id, method: method, start: start, ctx: ctx, cancel: cancel, call: call, uploads: uploads, lastProgress: start}
	s.reqs[id] = req
	if len(uploads) == 0 {
		s.runLocked(req)
	} else {
		req.timer = time.AfterFunc(s.lim.uploadTimeout, func() { s.uploadExpired(req) })
	}
	s.mu.Unlock()
}

func (s *session) hello(id string, raw json.RawMessage, start time.Time) {
	var p helloParams
	if err := decodeParams(raw, &p, true); err != nil {
		s.answerError(&id, "hello", start, err)
		return
	}
	if len(p.Protocols) == 0 {
		s.answerError(&id, "hello", start, errorf(CodeBadMessage, "params.protocols must list the protocols the client speaks", nil))
		return
	}
	supported := false
	for _, v := range p.Protocols {
		supported = supported || v == ProtocolVersion
	}
	if !supported {
		s.answerError(&id, "hello", start, errorf(CodeUnsupportedProtocol, "no common protocol version",
			map[string]any{"supported": []int{ProtocolVersion}}))
		return
	}
	s.mu.Lock()
	again := s.negotiated
	s.negotiated = true
	s.mu.Unlock()
	if again {
		s.answerError(&id, "hello", start, errorf(CodeBadMessage, "hello was already negotiated on this connection", nil))
		return
	}
	// Subscribe before answering, so no event published after the answer
	// is missed, but forward only after it, so none overtakes it.
	events := s.subscribe()
	s.answerResult(id, "hello", start, helloResult{
		Protocol:     ProtocolVersion,
		Version:      s.version,
		Capabilities: capabilities(),
		Limits: helloLimits{
			MaxDocumentBytes: s.lim.maxDocumentBytes,
			MaxChunkBytes:    s.lim.maxChunkBytes,
			MaxInFlight:      s.lim.maxInFlight,
			MaxMessageBytes:  s.lim.maxMessageBytes,
		},
	})
	s.forward(events)
}

// subscribe registers this session for the server's token events; nil
// when there is no hub or the session is closing.
func (s *session) subscribe() <-chan []byte {
	if s.hub == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.unsubscribe != nil {
		return nil
	}
	ch, unsub := s.hub.add()
	s.unsubscribe = unsub
	return ch
}

// forward writes subscribed events to the peer until the session ends.
func (s *session) forward(events <-chan []byte) {
	if events == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.ctx.Done():
				return
			case data := <-events:
				if err := s.w.WriteFrame(false, data); err != nil {
					return
				}
			}
		}
	}()
}

func (s *session) cancelRequest(id string, raw json.RawMessage, start time.Time) {
	var p cancelParams
	if err := decodeParams(raw, &p, true); err != nil {
		s.answerError(&id, "cancel", start, err)
		return
	}
	if !validID(p.ID) {
		s.answerError(&id, "cancel", start, errorf(CodeBadMessage, "params.id must name a request", nil))
		return
	}
	s.mu.Lock()
	req := s.reqs[p.ID]
	switch {
	case req == nil:
		// Already answered, or never sent: nothing to do.
		s.mu.Unlock()
		s.answerResult(id, "cancel", start, cancelResult{Cancelled: false})
		return
	case !req.running:
		// Still uploading: the method was never called, answer for it now.
		s.dropLocked(req)
		s.mu.Unlock()
		s.answerError(&req.id, req.method, req.start, errorf(CodeCancelled, "cancelled", nil))
	default:
		// The method sees ctx end; its goroutine answers CANCELLED.
		req.cancelled.Store(true)
		req.cancel()
		s.mu.Unlock()
	}
	s.answerResult(id, "cancel", start, cancelResult{Cancelled: true})
}

// handleBinary processes one binary frame: a chunk of a declared document.
func (s *session) handleBinary(frame []byte) error {
	if len(frame) > 4+maxChunkHeaderBytes+s.lim.maxChunkBytes {
		return errTooBig
	}
	s.touch()
	start := time.Now()
	h, chunk, err := decodeChunk(frame)
	if err != nil {
		s.answerError(nil, "", start, err)
		return nil
	}
	if len(chunk) > s.lim.maxChunkBytes {
		return errTooBig
	}
	s.mu.Lock()
	req := s.reqs[h.ID]
	if req == nil || req.running {
		// Chunks that follow a refused, failed or cancelled request keep
		// arriving for a while; they are expected and dropped.
		s.mu.Unlock()
		s.log.Debug("chunk without a pending upload dropped", "id", h.ID)
		return nil
	}
	if err := s.acceptChunkLocked(req, h, chunk); err != nil {
		s.dropLocked(req)
		s.mu.Unlock()
		s.answerError(&req.id, req.method, req.start, err)
		return nil
	}
	if req.cur == len(req.uploads) {
		req.timer.Stop()
		s.runLocked(req)
	}
	s.mu.Unlock()
	return nil
}

// acceptChunkLocked appends a chunk to the document it belongs to; each
// document's bytes arrive in order, documents one after the other.
func (s *session) acceptChunkLocked(req *request, h chunkHeader, chunk []byte) error {
	if h.Doc != req.cur {
		return errorf(CodeBadMessage, "documents must be sent one after the other, in declared order",
			map[string]any{"doc": h.Doc, "expectedDoc": req.cur})
	}
	up := req.uploads[req.cur]
	have := int64(len(up.data))
	if h.Offset != have {
		return errorf(CodeBadMessage, "chunk offset out of order",
			map[string]any{"doc": h.Doc, "offset": h.Offset, "expectedOffset": have})
	}
	if len(chunk) == 0 {
		return errorf(CodeBadMessage, "empty chunk", map[string]any{"doc": h.Doc})
	}
	if int64(len(chunk)) > up.size-have {
		return errorf(CodeBadMessage, "chunk goes past the declared size",
			map[string]any{"doc": h.Doc, "size": up.size})
	}
	// Memory grows with the bytes received, never with the declared size
	// alone: a 1 KiB request must not reserve 200 MB.
	if need := len(up.data) + len(chunk); need > cap(up.data) {
		grown := make([]byte, len(up.data), min(max(need, 2*cap(up.data)), int(up.size)))
		copy(grown, up.data)
		up.data = grown
	}
	up.data = append(up.data, chunk...)
	up.h.Write(chunk)
	req.lastProgress = time.Now()
	req.timer.Reset(s.lim.uploadTimeout)
	if int64(len(up.data)) == up.size {
		if [sha256.Size]byte(up.h.Sum(nil)) != up.sum {
			return errorf(CodeDigestMismatch, "the document's SHA-256 is not the declared one",
				map[string]any{"doc": req.cur, "name": up.name})
		}
		up.h = nil
		req.cur++
	}
	return nil
}

// uploadExpired fails an upload that made no progress for uploadTimeout.
func (s *session) uploadExpired(req *request) {
	s.mu.Lock()
	if s.closed || s.reqs[req.id] != req || req.running {
		s.mu.Unlock()
		return
	}
	if wait := s.lim.uploadTimeout - time.Since(req.lastProgress); wait > 0 {
		// A chunk arrived while this callback was already on its way; the
		// timer was re-armed by it.
		s.mu.Unlock()
		return
	}
	up := req.uploads[req.cur]
	details := map[string]any{"doc": req.cur, "name": up.name, "received": len(up.data), "size": up.size}
	s.dropLocked(req)
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	s.answerError(&req.id, req.method, req.start, errorf(CodeDocumentIncomplete, "the document upload stalled", details))
}

// dropLocked forgets a request that will not run.
func (s *session) dropLocked(req *request) {
	if req.timer != nil {
		req.timer.Stop()
	}
	req.cancel()
	delete(s.reqs, req.id)
	req.uploads = nil
}

// runLocked starts the method of a request whose documents are complete.
func (s *session) runLocked(req *request) {
	if s.closed {
		return
	}
	req.running = true
	docs := make([]agent.Document, len(req.uploads))
	for i, up := range req.uploads {
		docs[i] = agent.Document{Name: up.name, Data: up.data}
	}
	req.uploads = nil
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.finish(req, s.invoke(req, docs))
	}()
}

// invoke calls the method; a panic becomes INTERNAL for this request only.
func (s *session) invoke(req *request, docs []agent.Document) (out outcome) {
	defer func() {
		if p := recover(); p != nil {
			// The panic value may quote the request; only runtime errors
			// (whose text is the runtime's) are logged verbatim.
			what := fmt.Sprintf("%T", p)
			if re, ok := p.(runtime.Error); ok {
				what = re.Error()
			}
			s.log.Error("panic in request handler", "method", req.method, "id", req.id, "panic", what, "stack", string(debug.Stack()))
			out = outcome{err: errorf(CodeInternal, "internal error", nil)}
		}
	}()
	return req.call(req.ctx, req, docs)
}

// finish sends a request's documents, then its answer.
func (s *session) finish(req *request, out outcome) {
	defer req.cancel()
	for i, d := range out.docs {
		if err := s.sendDocument(req.id, i, d.data); err != nil {
			break
		}
	}
	s.mu.Lock()
	delete(s.reqs, req.id)
	s.mu.Unlock()
	s.touch()
	if out.err == nil {
		s.answerResult(req.id, req.method, req.start, out.result)
		return
	}
	we := toWire(out.err)
	if req.cancelled.Load() {
		// Whatever the method made of its cancelled context, the client
		// asked for the cancellation: tell it so.
		we.Code, we.Message = CodeCancelled, "cancelled"
	}
	if len(out.details) > 0 {
		if we.Details == nil {
			we.Details = map[string]any{}
		}
		for k, v := range out.details {
			we.Details[k] = v
		}
	}
	s.writeError(&req.id, req.method, req.start, we, out.err)
}

// sendDocument sends data as binary frames of at most maxChunkBytes.
func (s *session) sendDocument(id string, doc int, data []byte) error {
	for off := 0; off < len(data); off += s.lim.maxChunkBytes {
		end := min(off+s.lim.maxChunkBytes, len(data))
		hdr, err := encodeChunkHeader(chunkHeader{ID: id, Doc: doc, Offset: int64(off)})
		if err != nil {
			return err
		}
		if err := s.w.WriteFrame(true, hdr, data[off:end]); err != nil {
			return fmt.Errorf("bridge: sending document %d of %s: %w", doc, id, err)
		}
	}
	return nil
}

// progress sends a batch progress event.
func (s *session) progress(id string, p agent.Progress) {
	data, err := json.Marshal(eventMessage{Event: "progress", Data: progressData{ID: id, Done: p.Done, Total: p.Total, Document: p.Document}})
	if err != nil {
		return
	}
	_ = s.w.WriteFrame(false, data) // a dead peer ends the connection; the result write sees it too
}

type progressData struct {
	ID       string `json:"id"`
	Done     int    `json:"done"`
	Total    int    `json:"total"`
	Document string `json:"document,omitempty"`
}

func (s *session) answerResult(id, method string, start time.Time, result any) {
	data, err := json.Marshal(resultMessage{ID: id, Result: result})
	if err != nil {
		s.answerError(&id, method, start, fmt.Errorf("bridge: encoding the %s result: %w", method, err))
		return
	}
	s.log.Info("request", "method", method, "id", id, "code", "OK", "duration", time.Since(start))
	_ = s.w.WriteFrame(false, data)
}

func (s *session) answerError(id *string, method string, start time.Time, err error) {
	s.writeError(id, method, start, toWire(err), err)
}

func (s *session) writeError(id *string, method string, start time.Time, we wireError, cause error) {
	data, err := json.Marshal(errorMessage{ID: id, Error: we})
	if err != nil {
		// Details the agent attached could not be encoded; the code alone
		// still tells the page what happened.
		we.Details = nil
		data, _ = json.Marshal(errorMessage{ID: id, Error: we})
	}
	attrs := []any{"method", method, "code", we.Code, "duration", time.Since(start)}
	if id != nil {
		attrs = append(attrs, "id", *id)
	}
	if we.Code == CodeInternal && cause != nil {
		// Only an unexplained failure needs its cause in the log; errors
		// carry no parameters or PINs.
		attrs = append(attrs, "err", cause.Error())
	}
	s.log.Info("request", attrs...)
	_ = s.w.WriteFrame(false, data)
}

// close ends the session: pending uploads are dropped, running requests
// see their context end, and close returns when every goroutine the
// session started has returned.
func (s *session) close() {
	s.mu.Lock()
	s.closed = true
	for _, req := range s.reqs {
		if !req.running {
			s.dropLocked(req)
		}
	}
	unsub := s.unsubscribe
	s.unsubscribe = nil
	s.mu.Unlock()
	s.cancel()
	if unsub != nil {
		unsub()
	}
	s.wg.Wait()
}
