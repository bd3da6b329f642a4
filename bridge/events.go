package bridge

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/kyso-vn/kyso/agent"
)

// eventBuffer is how many events a connection may lag behind before
// further ones are dropped for it.
const eventBuffer = 32

// hub subscribes once to the agent's events and fans them out to every
// negotiated connection. A slow connection loses events; it never holds
// back the others or the agent.
type hub struct {
	log  *slog.Logger
	mu   sync.Mutex
	subs map[*chan []byte]struct{}
}

func newHub(log *slog.Logger) *hub {
	return &hub{log: log, subs: map[*chan []byte]struct{}{}}
}

// add registers a subscriber; the returned func removes it.
func (h *hub) add() (<-chan []byte, func()) {
	ch := make(chan []byte, eventBuffer)
	h.mu.Lock()
	h.subs[&ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, &ch)
		h.mu.Unlock()
	}
}

// run forwards events until ctx ends or the agent closes its channel.
func (h *hub) run(ctx context.Context, svc agent.Service) {
	events := svc.Events(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			h.publish(ev)
		}
	}
}

func (h *hub) publish(ev agent.Event) {
	// agent.Event marshals as {"event": type, "data": ...}: the server
	// event shape of the protocol. Encoded once for every connection.
	data, err := json.Marshal(ev)
	if err != nil {
		h.log.Error("event not encodable", "event", ev.Type, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case *ch <- data:
		default:
			h.log.Debug("event dropped for a slow connection", "event", ev.Type)
		}
	}
}
