package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// tracerName is the instrumentation scope of the sandbox's spans.
const tracerName = "github.com/quantumlayer/qlp/internal/sandbox"

// Deps are what the service needs from the application.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// Service is the Execution Sandbox: a [Runner] with a bounded worker pool,
// per-tenant concurrency limits, metrics and an HTTP API.
type Service struct {
	cfg     Config
	logger  *slog.Logger
	local   *Local
	pool    *pool
	metrics *metrics
}

var _ Runner = (*Service)(nil)

// New builds the service: it detects this host's languages and cgroups and
// checks the configured backend. Close releases its runtime directory.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "sandbox")
	local, err := NewLocal(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, logger: logger, local: local, metrics: newMetrics(deps.Registerer)}
	slots, perTenant := cfg.Slots()
	s.pool = newPool(slots, perTenant, cfg.QueueSize, func(running, queued int) {
		s.metrics.running.Set(float64(running))
		s.metrics.queued.Set(float64(queued))
	})
	return s, nil
}

// WarmUp starts building what runs share (the Go build-cache seed, the
// mypy cache seed) in the background, so that a service's first job does
// not wait for them.
func (s *Service) WarmUp() { s.local.WarmUp() }

// HasLanguage reports whether this host can run name (e.g. "go").
func (s *Service) HasLanguage(name string) bool { return s.local.langs[name] != nil }

// GoCacheSeed waits for the Go build-cache seed and returns its directory
// (a Go build cache whose staticcheck/ holds staticcheck's cache): what a
// baseline outside the sandbox needs to start from the same caches.
func (s *Service) GoCacheSeed(ctx context.Context) (string, error) { return s.local.goCacheSeed(ctx) }

// MypyCacheSeed waits for the mypy cache seed and returns its directory
// ("" when it is off or this host's python3 has no mypy): what a baseline
// outside the sandbox needs to start from the same caches.
func (s *Service) MypyCacheSeed(ctx context.Context) (string, error) {
	if !s.local.cfg.MypyCacheSeed || s.local.langs["python"] == nil {
		return "", nil
	}
	return s.local.mypyCacheSeed(ctx)
}

// Close releases the runner's runtime directory.
func (s *Service) Close() error { return s.local.Close() }

// Ready reports whether runs can start: the backend's tools are present.
func (s *Service) Ready(ctx context.Context) error { return s.local.Ready(ctx) }

// Languages lists what this host can run.
func (s *Service) Languages() []Language { return s.local.Languages() }

// Info describes the backend and what it enforces here.
func (s *Service) Info() Info { return s.local.Info() }

func tenantOf(ctx context.Context) string {
	if p, ok := auth.From(ctx); ok && p.TenantID != "" {
		return p.TenantID
	}
	return "-"
}

// Run implements [Runner]: it validates the spec, waits for a slot (or
// fails with [ErrQueueFull]) and runs it.
func (s *Service) Run(ctx context.Context, spec Spec, onOutput func(OutputChunk)) (*Result, error) {
	if err := s.local.Prepare(ctx, spec); err != nil {
		return nil, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.runNow(ctx, spec, onOutput)
}

func (s *Service) acquire(ctx context.Context) (func(), error) {
	release, err := s.pool.acquire(ctx, tenantOf(ctx))
	if errors.Is(err, ErrQueueFull) {
		s.metrics.rejected.Inc()
	}
	if err != nil {
		return nil, err
	}
	return release, nil
}

func (s *Service) runNow(ctx context.Context, spec Spec, onOutput func(OutputChunk)) (*Result, error) {
	start := time.Now()
	// One span per run, a child of the caller's (the validation check, or
	// the HTTP request that carried its trace), with what ran and how it
	// ended; never the files or the output.
	ctx, span := otel.Tracer(tracerName).Start(ctx, "sandbox.run", trace.WithAttributes(
		attribute.String("qlp.sandbox.language", spec.Language),
		attribute.String("qlp.sandbox.mode", spec.Mode),
		attribute.Int("qlp.sandbox.files", len(spec.Files)),
	))
	defer span.End()
	res, err := s.local.Run(ctx, spec, onOutput)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		s.logger.ErrorContext(ctx, "sandbox run failed", "language", spec.Language, "tenant", tenantOf(ctx), "error", err)
		return nil, err
	}
	span.SetAttributes(attribute.String("qlp.sandbox.run_id", res.ID), attribute.String("qlp.sandbox.status", string(res.Status)),
		attribute.String("qlp.sandbox.backend", res.Backend), attribute.Int("qlp.sandbox.exit_code", res.ExitCode),
		attribute.Int("qlp.sandbox.commands", len(res.Commands)))
	s.metrics.runs.WithLabelValues(string(res.Status), res.Language, res.Backend).Inc()
	s.metrics.duration.WithLabelValues(res.Language, string(res.Status)).Observe(time.Since(start).Seconds())
	s.logger.InfoContext(ctx, "sandbox run", "run", res.ID, "tenant", tenantOf(ctx), "language", res.Language, "status", res.Status,
		"exit_code", res.ExitCode, "duration_ms", res.Duration.D().Milliseconds(), "reason", res.Reason)
	return res, nil
}

// Handler serves the service's routes: POST /execute (the earlier QLP
// contract), POST /v1/runs (the full spec; ?stream=sse or Accept:
// text/event-stream streams output as server-sent events), GET /languages.
// The application adds authentication and the probes.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(f httpx.HandlerFunc) http.Handler { return httpx.Handle(s.logger, f) }
	mux.Handle("POST /execute", h(s.handleExecute))
	mux.Handle("POST /v1/runs", h(s.handleRun))
	mux.Handle("GET /languages", h(s.handleLanguages))
	return mux
}

// httpError maps runner errors to HTTP errors.
func (s *Service) httpError(err error, rename func(string) string) error {
	var se *SpecError
	switch {
	case errors.As(err, &se):
		field := se.Field
		if rename != nil {
			field = rename(field)
		}
		return httpx.BadRequest(field, "%s", se.Message)
	case errors.Is(err, ErrQueueFull):
		_, queued := s.pool.depth()
		retry := 1 + queued/s.pool.max
		return httpx.TooManyRequests(retry, "the sandbox queue is full (%d waiting); retry later", queued)
	case errors.Is(err, context.Canceled):
		return &httpx.Error{Status: 499, Code: "cancelled", Message: "request cancelled", Err: err}
	case errors.Is(err, errLaunch):
		return httpx.Unavailable(err, "the sandbox could not start")
	}
	return fmt.Errorf("sandbox: %w", err)
}

func (s *Service) handleRun(w http.ResponseWriter, r *http.Request) error {
	var spec Spec
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &spec); err != nil {
		return err
	}
	if wantsSSE(r) {
		return s.streamRun(w, r, spec)
	}
	res, err := s.Run(r.Context(), spec, nil)
	if err != nil {
		return s.httpError(err, nil)
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

// LanguagesResponse is the body of GET /languages.
type LanguagesResponse struct {
	Languages []string            `json:"languages"`
	Details   map[string]Language `json:"details"`
	Sandbox   Info                `json:"sandbox"`
}

func (s *Service) handleLanguages(w http.ResponseWriter, r *http.Request) error {
	resp := LanguagesResponse{Details: map[string]Language{}, Sandbox: s.Info()}
	for _, l := range s.Languages() {
		resp.Languages = append(resp.Languages, l.Name)
		resp.Details[l.Name] = l
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}
