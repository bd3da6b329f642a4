package bridge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
	"github.com/kyso-vn/kyso/agent"
)

// helloInfo is the body of GET /v1/hello.
type helloInfo struct {
	Product   string `json:"product"`
	Protocols []int  `json:"protocols"`
	Version   string `json:"version"`
}

type refusal struct {
	Error wireError `json:"error"`
}

// refuse answers an HTTP request the gate turned down: a status and a
// short JSON body, never CORS headers.
func refuse(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(refusal{Error: wireError{Code: code, Message: message}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// route checks Host on every request, then dispatches by exact path.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	port := 0
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		port = a.Port
	}
	if !hostAllowed(r.Host, port) {
		s.log.Info("refused", "reason", CodeHostNotAllowed, "path", r.URL.Path)
		refuse(w, http.StatusForbidden, CodeHostNotAllowed, "Host must be 127.0.0.1, localhost or [::1] with this port")
		return
	}
	switch r.URL.Path {
	case "/v1/hello":
		s.handleHello(w, r)
	case "/v1":
		s.handleWebSocket(w, r)
	default:
		refuse(w, http.StatusNotFound, CodeNotFound, "no such endpoint")
	}
}

// helloOrigin returns the request's single Origin header and whether the
// agent lets that origin in without asking anyone.
func (s *Server) helloOrigin(r *http.Request) (origin string, present, allowed bool) {
	vals := r.Header.Values("Origin")
	if len(vals) == 0 {
		return "", false, false
	}
	origin = vals[0]
	if len(vals) != 1 || !wellFormedOrigin(origin) {
		return origin, true, false
	}
	oc, ok := s.cfg.Service.(originChecker)
	return origin, true, ok && oc.OriginAllowed(origin)
}

// handleHello lets the SDK tell "agent not running" from "blocked": it
// answers cross-origin reads only for origins the agent already allows,
// and never prompts (Admit could).
func (s *Server) handleHello(w http.ResponseWriter, r *http.Request) {
	origin, present, allowed := s.helloOrigin(r)
	h := w.Header()
	// The answer depends on Origin: caches must keep them apart.
	h.Set("Vary", "Origin")
	if present && !allowed {
		refuse(w, http.StatusForbidden, agent.CodeOriginNotAllowed, "origin not allowed")
		return
	}
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		body, _ := json.Marshal(helloInfo{Product: "kyso", Protocols: []int{ProtocolVersion}, Version: s.cfg.Version})
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	case http.MethodOptions:
		if !allowed {
			// A preflight without an Origin is not a preflight.
			refuse(w, http.StatusForbidden, agent.CodeOriginNotAllowed, "origin not allowed")
			return
		}
		h.Set("Access-Control-Allow-Methods", "GET")
		if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
			h.Set("Access-Control-Allow-Private-Network", "true")
		}
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	default:
		h.Del("Access-Control-Allow-Origin")
		refuse(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "GET or OPTIONS only")
	}
}

// secretOK compares the presented secret with the configured one in
// constant time (over digests, so the length leaks nothing either).
func (s *Server) secretOK(vals []string) bool {
	if s.cfg.ClientSecret == "" || len(vals) != 1 {
		return false
	}
	got := sha256.Sum256([]byte(vals[0]))
	return subtle.ConstantTimeCompare(got[:], s.secretSum[:]) == 1
}

// handleWebSocket is the handshake gate, then the connection. Every check
// happens before the upgrade; a refused handshake never becomes a
// WebSocket.
func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !websocket.IsWebSocketUpgrade(r) {
		refuse(w, http.StatusBadRequest, CodeNotWebSocket, "GET /v1 is a WebSocket endpoint")
		return
	}
	if !s.enter() {
		refuse(w, http.StatusServiceUnavailable, CodeShuttingDown, "kyso is shutting down")
		return
	}
	defer s.wg.Done()

	origins := r.Header.Values("Origin")
	origin := ""
	if len(origins) > 1 {
		s.log.Info("refused", "reason", CodeOriginMalformed)
		refuse(w, http.StatusBadRequest, CodeOriginMalformed, "more than one Origin header")
		return
	}
	if len(origins) == 1 {
		origin = origins[0]
	}

	var caller agent.Caller
	key := ""
	if origin == "" || origin == "null" {
		// Not a page with an origin (sandboxed frames and file:// send
		// "null"): only a local client holding the per-user secret.
		secrets := r.Header.Values(SecretHeader)
		if len(secrets) == 0 {
			s.log.Info("refused", "reason", CodeOriginRequired)
			refuse(w, http.StatusForbidden, CodeOriginRequired, "an Origin or the client secret is required")
			return
		}
		if !s.secretOK(secrets) {
			s.log.Info("refused", "reason", CodeSecretInvalid)
			refuse(w, http.StatusForbidden, CodeSecretInvalid, "wrong client secret")
			return
		}
		caller, key = agent.Caller{Local: true}, "local"
	} else {
		if !wellFormedOrigin(origin) {
			s.log.Info("refused", "reason", CodeOriginMalformed)
			refuse(w, http.StatusBadRequest, CodeOriginMalformed, "Origin is not a serialized origin")
			return
		}
		caller, key = agent.Caller{Origin: origin}, origin
	}
	log := s.log.With("origin", caller.String())

	release, ok := s.reserve(key)
	if !ok {
		log.Info("refused", "reason", CodeTooManyConnections)
		refuse(w, http.StatusTooManyRequests, CodeTooManyConnections, "too many connections from this origin")
		return
	}
	defer release()

	if !caller.Local {
		// The agent decides: policy, the user's list, or one dialog.
		if err := s.cfg.Service.Admit(r.Context(), origin); err != nil {
			we := toWire(err)
			log.Info("refused", "reason", we.Code)
			refuse(w, http.StatusForbidden, we.Code, we.Message)
			return
		}
	}

	up := websocket.Upgrader{
		HandshakeTimeout: defaultHandshakeTimeout,
		ReadBufferSize:   32 << 10,
		WriteBufferSize:  64 << 10,
		// The gate has decided; gorilla's own same-host check would be
		// wrong for cross-origin pages, so it only confirms the Origin is
		// still the one admitted.
		CheckOrigin: func(r *http.Request) bool {
			v := r.Header.Values("Origin")
			return len(v) == len(origins) && r.Header.Get("Origin") == origin
		},
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			code := CodeNotWebSocket
			if status == http.StatusForbidden {
				code = agent.CodeOriginNotAllowed
			}
			refuse(w, status, code, reason.Error())
		},
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		log.Info("upgrade failed", "err", err)
		return
	}
	s.serveConn(conn, caller, log)
}
