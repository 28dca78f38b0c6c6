package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: nil means ready.
type Check func(ctx context.Context) error

// Probes serves /healthz, /readyz, /health and /metrics for one service.
// They are the only routes that need no credential.
type Probes struct {
	Service  string
	Version  string
	Registry *prometheus.Registry
	mu       sync.Mutex
	checks   map[string]Check
}

// NewProbes returns probes for service with a fresh metrics registry that
// already holds the Go runtime and process collectors.
func NewProbes(service, version string) *Probes {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Probes{Service: service, Version: version, Registry: reg, checks: map[string]Check{}}
}

// AddCheck adds a named readiness check.
func (p *Probes) AddCheck(name string, c Check) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks[name] = c
}

// Ready runs every check with a short timeout and returns each one's result.
func (p *Probes) Ready(ctx context.Context) (map[string]string, bool) {
	p.mu.Lock()
	names := make([]string, 0, len(p.checks))
	for n := range p.checks {
		names = append(names, n)
	}
	checks := make(map[string]Check, len(p.checks))
	for k, v := range p.checks {
		checks[k] = v
	}
	p.mu.Unlock()
	sort.Strings(names)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out := make(map[string]string, len(names))
	ok := true
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			out[n] = err.Error()
			ok = false
		} else {
			out[n] = "ok"
		}
	}
	return out, ok
}

// Mount registers the probe routes on mux. /metrics answers in the
// OpenMetrics format to a scraper that asks for it (Prometheus does), which
// carries the latency histograms' exemplars: the trace ids.
func (p *Probes) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": p.Service})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		res, ok := p.Ready(r.Context())
		status := http.StatusOK
		state := "ready"
		if !ok {
			status, state = http.StatusServiceUnavailable, "not_ready"
		}
		WriteJSON(w, status, map[string]any{"status": state, "service": p.Service, "checks": res})
	})
	// /health keeps the earlier QLP shape: {status, service, ...}.
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		res, ok := p.Ready(r.Context())
		state := "healthy"
		if !ok {
			state = "degraded"
		}
		WriteJSON(w, http.StatusOK, map[string]any{"status": state, "service": p.Service, "version": p.Version, "checks": res})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{Registry: p.Registry, EnableOpenMetrics: true}))
}

// Server is an http.Server with every timeout set, started on a listener so
// that the bound address is known (port 0 picks a free port).
type Server struct {
	srv    *http.Server
	ln     net.Listener
	logger *slog.Logger
	name   string
}

// Listen binds addr and prepares a server for h. WriteTimeout is long enough
// for archive downloads; streaming handlers extend it themselves through
// http.ResponseController.
func Listen(name, addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", name, addr, err)
	}
	return &Server{
		name:   name,
		ln:     ln,
		logger: logger,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			WriteTimeout:      10 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    1 << 20,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}, nil
}

// Name is the server's name, e.g. "orchestrator".
func (s *Server) Name() string { return s.name }

// Addr is the bound address, e.g. "127.0.0.1:8000".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the base URL of the server.
func (s *Server) URL() string {
	host, port, _ := net.SplitHostPort(s.Addr())
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Serve runs until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("%s: serve: %w", s.name, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(sctx); err != nil {
			s.logger.Warn("shutdown incomplete", "server", s.name, "error", err)
			_ = s.srv.Close()
		}
		return nil
	}
}
