package bridge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kyso-vn/kyso/agent"
)

// Ports kyso listens on. They are outside the ports the incumbent
// Vietnamese signing plugins use (8987, 4433–4435, 9201–9202, 14007,
// 14407, 8443, 31337, 9795), so kyso can run beside them during a
// migration, and below the ephemeral range most systems hand out.
const (
	DefaultPort         = 19571
	DefaultFallbackPort = 19572
)

// Defaults of Config's limits.
const (
	DefaultMaxDocumentBytes   = 200 << 20
	DefaultMaxMessageBytes    = 1 << 20
	DefaultMaxChunkBytes      = 1 << 20
	DefaultMaxConnsPerOrigin  = 8
	DefaultMaxInFlightPerConn = 4
	DefaultIdleTimeout        = 10 * time.Minute
)

// SecretHeader carries the per-user secret of local, non-browser clients.
const SecretHeader = "X-Kyso-Secret"

// Timings that are not configuration; tests shorten some of them.
const (
	defaultPingInterval     = 30 * time.Second
	defaultWriteTimeout     = 30 * time.Second
	defaultUploadTimeout    = 60 * time.Second
	defaultHandshakeTimeout = 10 * time.Second
)

// Config configures a Server. Zero limits take their defaults.
type Config struct {
	// Port is the primary port (DefaultPort in production); 0 listens on
	// an ephemeral port (tests).
	Port int
	// FallbackPort is tried when Port cannot be bound
	// (DefaultFallbackPort in production); 0 means no fallback.
	FallbackPort int
	// Service is the agent the bridge calls; required.
	Service agent.Service
	// ClientSecret authenticates local non-browser clients (header
	// X-Kyso-Secret); empty disables them.
	ClientSecret string
	// MaxDocumentBytes caps one declared document and the sum of one
	// request's documents (default 200 MB).
	MaxDocumentBytes int64
	// MaxMessageBytes caps a JSON text frame (default 1 MiB); a larger one
	// closes the connection with 1009.
	MaxMessageBytes int64
	// MaxChunkBytes caps the document bytes of one binary frame (default
	// 1 MiB); the frame may carry up to 1028 more bytes of header. A
	// larger frame closes the connection with 1009. The bridge's own
	// chunks are never larger.
	MaxChunkBytes int
	// MaxConnsPerOrigin caps simultaneous connections per origin (local
	// clients count as one origin; default 8).
	MaxConnsPerOrigin int
	// MaxInFlightPerConn caps concurrent requests on one connection
	// (default 4).
	MaxInFlightPerConn int
	// IdleTimeout closes a connection with no traffic and no request in
	// flight (default 10 minutes). Pings every 30 s detect dead peers.
	IdleTimeout time.Duration
	// Version is the agent's version, told in hello.
	Version string
	// Logger receives one line per request (origin, method, id, code,
	// duration); nil discards.
	Logger *slog.Logger
}

// originChecker is an optional interface of the agent.Service: a check
// that never prompts, for the CORS hello endpoint (a page must not be able
// to raise an approval dialog by fetching /v1/hello).
type originChecker interface {
	OriginAllowed(origin string) bool
}

// Server is the loopback server.
type Server struct {
	cfg       Config
	lim       limits
	log       *slog.Logger
	http      *http.Server
	hub       *hub
	secretSum [sha256.Size]byte
	// ctx ends at Shutdown: pending approvals, requests and the event
	// subscription see it.
	ctx    context.Context
	cancel context.CancelFunc

	pingInterval  time.Duration
	writeTimeout  time.Duration
	uploadTimeout time.Duration

	// wg counts the event hub and WebSocket handlers; Add happens only
	// under mu while !closing.
	wg sync.WaitGroup

	mu        sync.Mutex
	closing   bool
	hubOn     bool
	addr      string
	conns     map[*wsConn]struct{}
	perOrigin map[string]int
}

// New checks cfg, fills in defaults and returns a Server that is not yet
// listening.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, errors.New("bridge: Config.Service is required")
	}
	if cfg.Port < 0 || cfg.Port > 65535 || cfg.FallbackPort < 0 || cfg.FallbackPort > 65535 {
		return nil, fmt.Errorf("bridge: ports %d/%d out of range", cfg.Port, cfg.FallbackPort)
	}
	if cfg.MaxDocumentBytes < 0 || cfg.MaxMessageBytes < 0 || cfg.MaxChunkBytes < 0 ||
		cfg.MaxConnsPerOrigin < 0 || cfg.MaxInFlightPerConn < 0 || cfg.IdleTimeout < 0 {
		return nil, errors.New("bridge: negative limit in Config")
	}
	cfg.MaxDocumentBytes = orDefault(cfg.MaxDocumentBytes, DefaultMaxDocumentBytes)
	cfg.MaxMessageBytes = orDefault(cfg.MaxMessageBytes, DefaultMaxMessageBytes)
	cfg.MaxChunkBytes = orDefault(cfg.MaxChunkBytes, DefaultMaxChunkBytes)
	cfg.MaxConnsPerOrigin = orDefault(cfg.MaxConnsPerOrigin, DefaultMaxConnsPerOrigin)
	cfg.MaxInFlightPerConn = orDefault(cfg.MaxInFlightPerConn, DefaultMaxInFlightPerConn)
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "bridge")
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg,
		lim: limits{
			maxDocumentBytes: cfg.MaxDocumentBytes,
			maxMessageBytes:  cfg.MaxMessageBytes,
			maxChunkBytes:    cfg.MaxChunkBytes,
			maxInFlight:      cfg.MaxInFlightPerConn,
		},
		log:           log,
		hub:           newHub(log),
		ctx:           ctx,
		cancel:        cancel,
		pingInterval:  defaultPingInterval,
		writeTimeout:  defaultWriteTimeout,
		uploadTimeout: defaultUploadTimeout,
		conns:         map[*wsConn]struct{}{},
		perOrigin:     map[string]int{},
	}
	if cfg.ClientSecret != "" {
		s.secretSum = sha256.Sum256([]byte(cfg.ClientSecret))
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.route),
		ReadHeaderTimeout: defaultHandshakeTimeout,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Listen binds 127.0.0.1 (never another interface): Port, else
// FallbackPort. Port 0 binds an ephemeral port.
func (s *Server) Listen() (net.Listener, error) {
	l, err := listenLoopback(s.cfg.Port)
	if err != nil && s.cfg.Port != 0 && s.cfg.FallbackPort != 0 && s.cfg.FallbackPort != s.cfg.Port {
		s.log.Warn("primary port unavailable, trying the fallback", "port", s.cfg.Port, "fallback", s.cfg.FallbackPort, "err", err)
		var ferr error
		l, ferr = listenLoopback(s.cfg.FallbackPort)
		if ferr != nil {
			return nil, errors.Join(err, ferr)
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.addr = l.Addr().String()
	s.mu.Unlock()
	return l, nil
}

func listenLoopback(port int) (net.Listener, error) {
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("bridge: listening on 127.0.0.1:%d: %w", port, err)
	}
	return l, nil
}

// Serve answers connections on l until Shutdown; it returns nil after
// Shutdown. l must be a loopback TCP listener.
func (s *Server) Serve(l net.Listener) error {
	ta, ok := l.Addr().(*net.TCPAddr)
	if !ok || !ta.IP.IsLoopback() {
		return fmt.Errorf("bridge: refusing to serve on %s: not a loopback TCP address", l.Addr())
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.addr = l.Addr().String()
	if !s.hubOn {
		// One subscription to the agent's events for all connections.
		s.hubOn = true
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.hub.run(s.ctx, s.cfg.Service)
		}()
	}
	s.mu.Unlock()
	s.log.Info("listening", "addr", l.Addr().String())
	if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("bridge: serving %s: %w", l.Addr(), err)
	}
	return nil
}

// Addr is the address last listened on or served ("127.0.0.1:19571"), or
// "" before Listen or Serve.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting, cancels pending approvals and requests, closes
// every WebSocket with 1001 (going away) and waits for the handlers, or
// for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.closeWith(closeGoingAway, "kyso is shutting down")
	}
	err := s.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("bridge: shutdown: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("bridge: shutdown: %w", err)
	}
	return nil
}

// enter counts a WebSocket handler unless the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// reserve takes one of key's connection slots.
func (s *Server) reserve(key string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perOrigin[key] >= s.cfg.MaxConnsPerOrigin {
		return nil, false
	}
	s.perOrigin[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.perOrigin[key]--; s.perOrigin[key] <= 0 {
				delete(s.perOrigin, key)
			}
		})
	}, true
}

// track registers an open connection so Shutdown can close it.
func (s *Server) track(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}
