// Package demodms is the demonstration document-management system that
// `kyso demo` serves: one small web application per agency, each on its
// own loopback port (so each is its own browser origin), sharing one
// in-memory document store so that a document can travel from one agency
// to the other (workflow W5). Its pages sign through the kyso JS SDK
// (/sdk/kyso.js) and one page is written purely against the incumbent
// VGCA plugin API (vgca_sign_*) as real DMS code calls it.
//
// It is a demonstration: no accounts, no persistence, 127.0.0.1 only.
package demodms

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed static
var staticFS embed.FS

// Agency is one agency's DMS: its ID (lower-case letters, digits, '-'),
// its name as pages show it, and the loopback port it listens on (0 picks
// a free port, for tests).
type Agency struct {
	ID   string
	Name string
	Port int
}

// Config sets up the demo DMS.
type Config struct {
	// Agencies get one HTTP server each, on 127.0.0.1:Port.
	Agencies []Agency
	// SDKPath is the SDK's browser bundle (js-sdk/dist/kyso.iife.js),
	// served at /sdk/kyso.js; files of the same folder named
	// vgcaplugin-compat.js and <bundle>.map are served beside it. It is
	// read at each request, so a bundle built after the start is picked
	// up; while it is missing, pages say how to build it.
	SDKPath string
	// Samples are PDFs every agency starts with (name → bytes).
	Samples map[string][]byte
	// SignatureImage (the leader's handwritten signature) and SealImage
	// (the organisation's seal) are PNG files the pages send with their
	// signing requests; empty ones are left to the user's templates in
	// the agent.
	SignatureImage, SealImage []byte
	// TreatAsPublic adds `Content-Security-Policy: treat-as-public-address`
	// to every response, so that browsers apply their local-network
	// access rules to the demo's pages as to a public web site.
	TreatAsPublic bool
	// FrameAncestors are origins (besides the page's own) allowed to
	// embed the pages in a frame: the browser test's host page of
	// iframe delegation. Empty keeps frame-ancestors 'self'.
	FrameAncestors []string
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// Server is the running demo DMS.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *store
	pages map[string]*template.Template
	// vn is Vietnam's time zone (UTC+07:00 all year).
	vn *time.Location

	mu      sync.Mutex
	started bool
	closed  bool
	servers []*http.Server
	origins []string // per agency, set by Start
	done    chan struct{}
}

// pageNames are the workflow pages, each static/<name>.html; "index" is
// served at "/".
func pageNames() []string {
	return []string{"index", "approve", "issue", "appendix", "copy", "interagency", "verify", "incumbent"}
}

var agencyIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// New checks the configuration and prepares the servers; Start listens.
func New(cfg Config) (*Server, error) {
	if len(cfg.Agencies) == 0 {
		return nil, errors.New("demodms: no agency")
	}
	ids := map[string]bool{}
	ports := map[int]bool{}
	for _, a := range cfg.Agencies {
		if !agencyIDPattern.MatchString(a.ID) {
			return nil, fmt.Errorf("demodms: agency ID %q: use lower-case letters, digits and '-'", a.ID)
		}
		if ids[a.ID] {
			return nil, fmt.Errorf("demodms: agency ID %q twice", a.ID)
		}
		ids[a.ID] = true
		if strings.TrimSpace(a.Name) == "" {
			return nil, fmt.Errorf("demodms: agency %q has no name", a.ID)
		}
		if a.Port < 0 || a.Port > 65535 {
			return nil, fmt.Errorf("demodms: agency %q: port %d out of range", a.ID, a.Port)
		}
		if a.Port != 0 && ports[a.Port] {
			return nil, fmt.Errorf("demodms: port %d used by two agencies", a.Port)
		}
		ports[a.Port] = true
	}
	for _, o := range cfg.FrameAncestors {
		if o == "" || strings.ContainsAny(o, " \t\r\n;,'") {
			return nil, fmt.Errorf("demodms: frame ancestor %q is not an origin", o)
		}
	}
	for name, data := range cfg.Samples {
		if !isPDF(data) {
			return nil, fmt.Errorf("demodms: sample %q is not a PDF", name)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The server keeps its own copy: Start writes the bound ports into it.
	cfg.Agencies = slices.Clone(cfg.Agencies)
	s := &Server{
		cfg:   cfg,
		log:   log,
		store: newStore(time.Now),
		pages: map[string]*template.Template{},
		vn:    time.FixedZone("ICT", 7*3600),
		done:  make(chan struct{}),
	}
	for _, p := range pageNames() {
		t, err := template.New(p+".html").ParseFS(staticFS, "static/"+p+".html", "static/partials.tmpl")
		if err != nil {
			return nil, fmt.Errorf("demodms: page %s: %w", p, err)
		}
		s.pages[p] = t
	}
	// Every agency starts with the samples, in name order.
	names := make([]string, 0, len(cfg.Samples))
	for n := range cfg.Samples {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, a := range cfg.Agencies {
		for _, n := range names {
			data := append([]byte(nil), cfg.Samples[n]...)
			s.store.add(a.ID, n, data, pageCount(data), nil, nil)
		}
	}
	return s, nil
}

// Start listens on 127.0.0.1 for every agency and serves until ctx ends
// or Close is called. It returns once every listener is bound; if one
// cannot be bound, none is left open.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("demodms: closed")
	}
	if s.started {
		return errors.New("demodms: already started")
	}
	var lns []net.Listener
	for _, a := range s.cfg.Agencies {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("demodms: %s (%s): %w", a.ID, a.Name, err)
		}
		lns = append(lns, ln)
	}
	s.started = true
	for i := range s.cfg.Agencies {
		port := lns[i].Addr().(*net.TCPAddr).Port
		s.origins = append(s.origins, "http://127.0.0.1:"+strconv.Itoa(port))
		s.cfg.Agencies[i].Port = port
	}
	for i := range s.cfg.Agencies {
		st := &site{s: s, idx: i, agency: s.cfg.Agencies[i], origin: s.origins[i], port: s.cfg.Agencies[i].Port}
		srv := &http.Server{
			Handler:           st.handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		s.servers = append(s.servers, srv)
		ln := lns[i]
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("demodms: serve", "agency", st.agency.ID, "err", err)
			}
		}()
		s.log.Info("demodms: serving", "agency", st.agency.ID, "name", st.agency.Name, "url", st.origin+"/")
	}
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return nil
}

// URLs are the agencies' index pages, in Config order (after Start, with
// the ports actually bound).
func (s *Server) URLs() []string {
	out := s.Origins()
	for i := range out {
		out[i] += "/"
	}
	return out
}

// Origins are the agencies' browser origins, in Config order, for the
// agent's policy (allowedOrigins). Before Start, a port 0 shows as 0.
func (s *Server) Origins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return append([]string(nil), s.origins...)
	}
	out := make([]string, len(s.cfg.Agencies))
	for i, a := range s.cfg.Agencies {
		out[i] = "http://127.0.0.1:" + strconv.Itoa(a.Port)
	}
	return out
}

// Close stops every server, dropping open connections.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// agencyByID finds a configured agency.
func (s *Server) agencyByID(id string) (Agency, int, bool) {
	for i, a := range s.cfg.Agencies {
		if a.ID == id {
			return a, i, true
		}
	}
	return Agency{}, -1, false
}

// origin is agency i's origin once started.
func (s *Server) origin(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.origins) {
		return s.origins[i]
	}
	return ""
}
