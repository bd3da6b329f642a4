package bridge

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
)

// checkWriter is a frameWriter that checks every frame the session sends
// is well formed.
type checkWriter struct {
	t  *testing.T
	mu sync.Mutex
	n  int
}

func (w *checkWriter) WriteFrame(bin bool, parts ...[]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	var frame []byte
	for _, p := range parts {
		frame = append(frame, p...)
	}
	if bin {
		if _, _, err := decodeChunk(frame); err != nil {
			w.t.Errorf("session sent a bad binary frame: %v", err)
		}
		return nil
	}
	var m message
	if err := json.Unmarshal(frame, &m); err != nil {
		w.t.Errorf("session sent invalid JSON %q: %v", frame, err)
		return nil
	}
	if m.Event == "" && (m.Result == nil) == (m.Error == nil) {
		w.t.Errorf("session sent %q: neither an event nor exactly one of result and error", frame)
	}
	return nil
}

// fuzzFrames encodes frames for FuzzProtocol: per frame one kind byte
// (odd: binary), a big-endian uint16 length, the bytes.
func fuzzFrames(frames ...fuzzFrame) []byte {
	var out []byte
	for _, f := range frames {
		kind := byte(0)
		if f.binary {
			kind = 1
		}
		out = append(out, kind)
		out = binary.BigEndian.AppendUint16(out, uint16(len(f.data)))
		out = append(out, f.data...)
	}
	return out
}

type fuzzFrame struct {
	binary bool
	data   []byte
}

func text(s string) fuzzFrame { return fuzzFrame{data: []byte(s)} }

func FuzzProtocol(f *testing.F) {
	doc := pdf("fuzz", 700)
	declJSON, _ := json.Marshal(decl("a.pdf", doc))
	hello := text(`{"id":"h","method":"hello","params":{"protocols":[1],"client":"fuzz/1"}}`)
	f.Add(fuzzFrames(hello))
	f.Add(fuzzFrames(text(`{"id":"1","method":"status"}`), hello, text(`{"id":"1","method":"status"}`)))
	f.Add(fuzzFrames(hello,
		text(`{"id":"s","method":"signPdf","params":{"documents":[`+string(declJSON)+`],"options":{"profile":"approved"}}}`),
		fuzzFrame{true, chunkFrame("s", 0, 0, doc[:512])},
		fuzzFrame{true, chunkFrame("s", 0, 512, doc[512:])}))
	f.Add(fuzzFrames(hello,
		text(`{"id":"b","method":"signPdfs","params":{"documents":[`+string(declJSON)+`,`+string(declJSON)+`]}}`),
		fuzzFrame{true, chunkFrame("b", 0, 0, doc[:512])},
		fuzzFrame{true, chunkFrame("b", 0, 512, doc[512:])},
		fuzzFrame{true, chunkFrame("b", 1, 0, doc[:512])},
		fuzzFrame{true, chunkFrame("b", 1, 512, doc[512:])}))
	f.Add(fuzzFrames(hello,
		text(`{"id":"v","method":"verifyPdf","params":{"documents":[`+string(declJSON)+`]}}`),
		text(`{"id":"c","method":"cancel","params":{"id":"v"}}`),
		fuzzFrame{true, chunkFrame("v", 0, 0, doc[:512])}))
	f.Add(fuzzFrames(hello,
		text(`{"id":"x","method":"signHash","params":{"digest":"AAEC","hash":"sha256"}}`),
		text(`{"id":"y","method":"listCertificates","params":{"kind":"personal"}}`),
		text(`{"id":"y","method":"listCertificates"}`),
		text(`{"id":"z","method":"nope"}`),
		text(`{"id":`),
		fuzzFrame{true, []byte{0, 0, 0, 9, '{'}}))

	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		w := &checkWriter{t: t}
		s := newSession(context.Background(), sessionConfig{
			svc:     newFake(),
			caller:  agent.Caller{Origin: allowedOrigin},
			version: "fuzz",
			lim:     limits{maxDocumentBytes: 4096, maxMessageBytes: 2048, maxChunkBytes: 512, maxInFlight: 4, uploadTimeout: time.Hour},
			w:       w,
			log:     log,
			hub:     newHub(log),
		})
		defer s.close()
		for len(data) >= 3 {
			bin := data[0]&1 == 1
			n := int(binary.BigEndian.Uint16(data[1:3]))
			data = data[3:]
			n = min(n, len(data))
			frame := data[:n]
			data = data[n:]
			var err error
			if bin {
				err = s.handleBinary(frame)
			} else {
				err = s.handleText(frame)
			}
			var fe fatalError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("handler returned a non-fatal error: %v", err)
			}
			if err != nil {
				return // the transport would close the connection here
			}
		}
	})
}
