// Package app wires QLP's parts into a running platform: the store, the
// Temporal engine (embedded or external), the progress bus, the signing
// key, the orchestrator API and the worker that runs QLPWorkflow. It is the
// only package that knows every service; the CLI asks it for what a command
// needs.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/quantumlayer/qlp/internal/agents"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/engine"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/redisx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// Options choose what a process runs.
type Options struct {
	// NoEngine skips Temporal: for commands that only read the store.
	NoEngine bool
	// Worker runs the Temporal worker for QLPWorkflow (needs LLM settings).
	Worker bool
	// Sandbox runs the Execution Sandbox service in this process.
	Sandbox bool
	// Memory opens the Vector Memory (in this process, or a client of
	// QLP_MEMORY_URL). A worker always has it.
	Memory bool
	// Validation runs the Validation Mesh service in this process.
	Validation bool
	// Agents runs the Agent Factory's HTTP service (POST /execute on
	// :8001) in this process (needs LLM settings).
	Agents bool
	// Version is reported by /health and recorded in manifests.
	Version string
}

// Platform is a running QLP.
type Platform struct {
	Cfg          config.Config
	Logger       *slog.Logger
	Store        *store.SQL
	Engine       *engine.Engine
	Bus          *progress.Bus
	Signer       *capsule.Signer
	Orchestrator *orchestrator.Service
	// Router holds the tiers' models; it is open when this process runs
	// the worker or the Agent Factory, which share it.
	Router *tiers.Router
	// Agents is the Agent Factory service (nil unless asked for).
	Agents       *agents.Service
	agentsProbes *httpx.Probes
	// workerProbes answer for a worker: its Temporal connection and
	// store, and the LLM metrics when no Agent Factory runs here.
	workerProbes *httpx.Probes
	Prices       *pricing.Catalogue
	// Budget guards model calls and answers /api/v2/budgets; Costs answers
	// /api/v2/costs*.
	Budget *budget.Service
	Costs  *costs.Service
	// Sandbox is the in-process Execution Sandbox (nil unless asked for).
	Sandbox       *sandbox.Service
	sandboxProbes *httpx.Probes
	// Memory is the Vector Memory the worker recalls from (nil unless
	// asked for); memorySvc is set when it runs in this process.
	Memory       memory.Memory
	memorySvc    *memory.Service
	memoryProbes *httpx.Probes
	// Validation is the in-process Validation Mesh (nil unless this
	// process serves it or runs a worker without QLP_VALIDATION_URL).
	Validation       *validation.Mesh
	validationProbes *httpx.Probes
	// privateSandbox runs the mesh's tools when this process does not
	// serve the sandbox and no QLP_SANDBOX_URL names one.
	privateSandbox *sandbox.Service
	apiProbes      *httpx.Probes
	apiChecks      sync.Once
	redis          *redis.Client
	worker         worker.Worker
	version        string
}

// Open starts what opts ask for. Close releases it.
func Open(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (p *Platform, err error) {
	if err := cfg.ValidateCore(); err != nil {
		return nil, err
	}
	if opts.Worker || opts.Agents {
		if err := cfg.LLM.Validate(); err != nil {
			return nil, err
		}
	}
	p = &Platform{Cfg: cfg, Logger: logger, version: opts.Version, apiProbes: httpx.NewProbes("orchestrator", opts.Version)}
	// Each error return sets p to nil; close what was opened through pl.
	pl := p
	defer func() {
		if err != nil {
			pl.Close()
		}
	}()
	if p.Store, err = store.Open(ctx, cfg.Store, cfg.DataDir); err != nil {
		return nil, err
	}
	if p.Signer, err = capsule.LoadOrCreateSigner(cfg.DataDir); err != nil {
		return nil, err
	}
	p.Bus = progress.NewBus(p.Store, time.Second)
	var plan *costs.Plan
	if p.Prices, plan, err = cfg.LoadCosts(); err != nil {
		return nil, err
	}
	if p.Budget, err = budget.New(cfg.Budget, budget.Deps{Store: p.Store, Prices: p.Prices, Plan: plan, Bus: p.Bus,
		Logger: logger.With("component", "budget")}); err != nil {
		return nil, err
	}
	models, err := tierModels(cfg.LLM)
	if err != nil {
		return nil, err
	}
	if p.Costs, err = costs.New(cfg.Costs, costs.Deps{Ledger: p.Store, Prices: p.Prices, Plan: plan, Tiers: models}); err != nil {
		return nil, fmt.Errorf("%w (llm.model_* (QLP_LLM_MODEL_T0..T3) must be priced)", err)
	}
	var tc client.Client
	if !opts.NoEngine {
		if p.Engine, err = engine.Start(ctx, cfg.Temporal, cfg.DataDir, logger); err != nil {
			return nil, err
		}
		tc = p.Engine.Client
	}
	p.Orchestrator = orchestrator.New(orchestrator.Config{
		MaxAttempts: cfg.Workflow.MaxAttempts, EscalateAfter: cfg.Workflow.EscalateAfter, TaskValidation: cfg.Workflow.TaskValidation,
		MaxParallel: cfg.Workflow.MaxParallel, HeartbeatTimeout: cfg.Workflow.HeartbeatTimeout, TaskTimeout: cfg.Workflow.TaskTimeout,
		MaxBodyBytes: cfg.API.MaxBodyBytes, PublicURL: cfg.API.PublicURL, Version: opts.Version,
		Review: workflow.ReviewPolicy{Threshold: cfg.HITL.Threshold, Timeout: cfg.HITL.Timeout, OnTimeout: cfg.HITL.OnTimeout, AITL: cfg.HITL.AITL},
	}, orchestrator.Deps{Store: p.Store, Temporal: tc, Bus: p.Bus, Costs: p.Costs, Budgets: p.Budget, Logger: logger.With("component", "orchestrator")})
	if opts.Sandbox {
		p.sandboxProbes = httpx.NewProbes("sandbox", opts.Version)
		if p.Sandbox, err = sandbox.New(ctx, cfg.Sandbox, sandbox.Deps{Logger: logger, Registerer: p.sandboxProbes.Registry}); err != nil {
			return nil, err
		}
		p.sandboxProbes.AddCheck("sandbox", p.Sandbox.Ready)
	}
	if opts.Validation || opts.Worker && cfg.Services.ValidationURL == "" {
		if err := p.openValidation(ctx, opts.Version); err != nil {
			return nil, err
		}
	}
	if opts.Memory || opts.Worker {
		if err := p.openMemory(ctx); err != nil {
			return nil, err
		}
	}
	if opts.Agents {
		p.agentsProbes = httpx.NewProbes("agents", opts.Version)
	}
	if opts.Worker {
		if opts.NoEngine {
			return nil, errors.New("app: a worker needs the workflow engine")
		}
		p.workerProbes = httpx.NewProbes("worker", opts.Version)
	}
	if opts.Worker || opts.Agents {
		if err := p.openRouter(ctx); err != nil {
			return nil, err
		}
	}
	if opts.Agents {
		p.Agents = agents.New(agents.Config{MaxTokens: p.Router.MaxTokens, Temperature: p.Router.Temperature, MaxBodyBytes: cfg.API.MaxBodyBytes},
			p.Router, logger.With("component", "agents"))
		p.agentsProbes.AddCheck("store", p.Store.Ping) // usage rows are written there
	}
	if opts.Worker {
		if err := p.startWorker(ctx); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// openValidation starts the Validation Mesh on the sandbox this process
// serves, the one QLP_SANDBOX_URL names, or a private one.
func (p *Platform) openValidation(ctx context.Context, version string) error {
	if err := p.Cfg.Validation.Validate(); err != nil {
		return err
	}
	var runner sandbox.Runner
	switch {
	case p.Sandbox != nil:
		runner = p.Sandbox
	case p.Cfg.Services.SandboxURL != "":
		runner = sandbox.NewClient(p.Cfg.Services.SandboxURL, auth.Secret(p.Cfg.ServiceToken), nil)
	default:
		sb, err := sandbox.New(ctx, p.Cfg.Sandbox, sandbox.Deps{Logger: p.Logger})
		if err != nil {
			return err
		}
		p.privateSandbox, runner = sb, sb
	}
	p.validationProbes = httpx.NewProbes("validation", version)
	m, err := validation.New(ctx, p.Cfg.Validation, validation.Deps{Logger: p.Logger, Registerer: p.validationProbes.Registry, Sandbox: runner})
	if err != nil {
		return err
	}
	p.Validation = m
	p.validationProbes.AddCheck("validation", m.Ready)
	return nil
}

// validator is what the worker validates with: the service at
// QLP_VALIDATION_URL, or the in-process mesh.
func (p *Platform) validator() workflow.Validator {
	if p.Cfg.Services.ValidationURL != "" {
		return validation.NewClient(p.Cfg.Services.ValidationURL, auth.Secret(p.Cfg.ServiceToken), nil)
	}
	return p.Validation
}

// openRouter opens the tiers' models, metered into the store and guarded
// by the budget. Their metrics go to one registry per process, so that a
// Prometheus scraping every port counts each call once: the Agent
// Factory's when it runs here (it is the LLM service), else the worker's,
// else the orchestrator's.
func (p *Platform) openRouter(ctx context.Context) error {
	reg := prometheus.Registerer(p.apiProbes.Registry)
	switch {
	case p.agentsProbes != nil:
		reg = p.agentsProbes.Registry
	case p.workerProbes != nil:
		reg = p.workerProbes.Registry
	}
	deps := tiers.Deps{Sink: p.Store, Logger: p.Logger.With("component", "llm"), Registerer: reg}
	if p.Cfg.Redis.Enabled() {
		rdb, err := redisx.Open(ctx, p.Cfg.Redis)
		if err != nil {
			return err
		}
		p.redis, deps.Redis = rdb, rdb
	}
	router, err := tiers.New(p.Cfg.LLM, deps)
	if err != nil {
		return err
	}
	p.Router = router
	if err := guard(router, p.Budget); err != nil {
		return err
	}
	// The guard's decisions are counted where it runs: here.
	return reg.Register(p.Budget)
}

func (p *Platform) startWorker(ctx context.Context) error {
	router := p.Router
	p.workerProbes.AddCheck("store", p.Store.Ping)
	p.workerProbes.AddCheck("temporal", func(ctx context.Context) error {
		_, err := p.Engine.Client.CheckHealth(ctx, nil)
		return err
	})
	jobMetrics, err := workflow.NewMetrics(p.workerProbes.Registry)
	if err != nil {
		return err
	}
	acts := &workflow.Activities{
		Store: p.Store, Models: router, Bus: p.Bus, Signer: p.Signer, Validator: p.validator(),
		Generator: capsule.Generator{QLPVersion: p.version, Provider: router.Provider, Models: router.Models(), Scripted: router.Scripted},
		MaxTokens: router.MaxTokens, Temperature: router.Temperature, MaxTasks: p.Cfg.Workflow.MaxTasks,
		DecomposerTier: p.Cfg.Workflow.DecomposerTier, Logger: p.Logger.With("component", "activities"),
		Memory: p.Memory, Metrics: jobMetrics,
	}
	p.worker = workflow.NewWorker(p.Engine.Client, acts, worker.Options{
		MaxConcurrentActivityExecutionSize: 4 * p.Cfg.Workflow.MaxParallel,
		WorkerStopTimeout:                  10 * time.Second,
	})
	if err := p.worker.Start(); err != nil {
		return fmt.Errorf("app: start worker on %s: %w", workflow.TaskQueue, err)
	}
	return nil
}

// guard puts the budget guard in front of every tier's (metered) provider:
// the guard sees Meta.TenantID/JobID, prices the call's worst case before
// it is made and, under the downgrade policy, sends it to a cheaper tier.
func guard(router *tiers.Router, b *budget.Service) error {
	return router.Wrap(func(ts []tiers.Target) ([]tiers.Target, error) {
		rungs := make([]budget.Rung, len(ts))
		for i, t := range ts {
			rungs[i] = budget.Rung{Tier: t.Tier, Provider: t.Provider, Model: t.Model}
		}
		guarded, err := b.Guard(rungs, router.MaxTokens)
		if err != nil {
			return nil, fmt.Errorf("llm.model_* (QLP_LLM_MODEL_T0..T3): %w", err)
		}
		for i := range ts {
			ts[i].Provider = guarded[i]
		}
		return ts, nil
	})
}

// tierModels are the configured model of each tier, for cost estimates:
// the default pack's, with the QLP_LLM_MODEL_T* overrides (a provider
// named alone, QLP_LLM_PROVIDER=openai, uses its pack's models); none
// without a provider.
func tierModels(c tiers.Config) ([]costs.TierModel, error) {
	if c.Provider == "" {
		return nil, nil
	}
	out := make([]costs.TierModel, len(vocab.Tiers()))
	if c.Provider == "replay" {
		for i, t := range vocab.Tiers() {
			out[i] = costs.TierModel{Tier: t, Provider: "replay", Model: "replay"} // every tier answers from the cassette, at no cost
		}
		return out, nil
	}
	slots, err := c.DefaultTiers()
	if err != nil {
		return nil, err
	}
	for i, t := range vocab.Tiers() {
		out[i] = costs.TierModel{Tier: t, Provider: slots[i].Provider, Model: slots[i].Model}
	}
	return out, nil
}

// Close stops the worker, the engine and the store.
func (p *Platform) Close() error {
	if p.worker != nil {
		p.worker.Stop()
	}
	var errs []error
	if p.Router != nil {
		errs = append(errs, p.Router.Close())
	}
	if p.Sandbox != nil {
		errs = append(errs, p.Sandbox.Close())
	}
	if p.memorySvc != nil {
		errs = append(errs, p.memorySvc.Close())
	}
	if p.Budget != nil {
		errs = append(errs, p.Budget.Close())
	}
	if p.privateSandbox != nil {
		errs = append(errs, p.privateSandbox.Close())
	}
	if p.Engine != nil {
		p.Engine.Close()
	}
	if p.redis != nil {
		errs = append(errs, p.redis.Close())
	}
	if p.Store != nil {
		errs = append(errs, p.Store.Close())
	}
	return errors.Join(errs...)
}

// storeKeys authenticates tenant API keys against the store.
type storeKeys struct{ s store.Store }

func (k storeKeys) Authenticate(ctx context.Context, key string) (auth.Principal, error) {
	rec, err := k.s.APIKeyByDigest(ctx, auth.Digest(key))
	if errors.Is(err, store.ErrNotFound) {
		return auth.Principal{}, auth.ErrInvalidKey
	}
	if err != nil {
		return auth.Principal{}, err
	}
	return auth.Principal{TenantID: rec.TenantID, KeyID: rec.ID, Scopes: rec.Scopes}, nil
}

// Authenticator accepts tenant keys, the configured service token, and any
// extra authenticators (the CLI's per-process token).
func (p *Platform) Authenticator(extra ...auth.Authenticator) auth.Authenticator {
	chain := auth.Chain{storeKeys{p.Store}}
	if p.Cfg.ServiceToken != "" {
		chain = append(chain, auth.ServiceToken{Token: auth.Secret(p.Cfg.ServiceToken)})
	}
	return append(chain, extra...)
}

// Probes returns the orchestrator's probes: the store and the engine must
// answer for /readyz. Its /metrics also carries the LLM metrics of a
// worker running in this process.
func (p *Platform) Probes() *httpx.Probes {
	p.apiChecks.Do(func() {
		pr := p.apiProbes
		if p.Budget != nil && p.Router == nil {
			pr.Registry.MustRegister(p.Budget)
		}
		pr.AddCheck("store", p.Store.Ping)
		if p.Engine != nil {
			pr.AddCheck("temporal", func(ctx context.Context) error {
				_, err := p.Engine.Client.CheckHealth(ctx, nil)
				return err
			})
		}
		if p.redis != nil {
			pr.AddCheck("redis", func(ctx context.Context) error { return p.redis.Ping(ctx).Err() })
		}
	})
	return p.apiProbes
}

// serviceHandler is one service's whole HTTP surface: its probes without a
// credential, everything mount adds behind authentication, and request ids,
// panic recovery, logging and metrics around all of it.
func (p *Platform) serviceHandler(name string, probes *httpx.Probes, mount func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler), extra ...auth.Authenticator) http.Handler {
	logger := p.Logger.With("component", name)
	metrics := httpx.NewHTTPMetrics(probes.Registry)
	root := http.NewServeMux()
	probes.Mount(root)
	requireKey := auth.Require(p.Authenticator(extra...), logger)
	mount(root, requireKey)
	return httpx.Chain(root, httpx.RequestID, httpx.Recover(logger), httpx.Logging(logger, metrics))
}

// APIHandler is the orchestrator's HTTP surface (:8000).
func (p *Platform) APIHandler(extra ...auth.Authenticator) http.Handler {
	logger := p.Logger.With("component", "api")
	return p.serviceHandler("api", p.Probes(), func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
		p.Orchestrator.Mount(mux, requireKey)
		// Anything else is a JSON 404, still behind authentication so that
		// the API's shape is not probed anonymously.
		mux.Handle("/", requireKey(httpx.Handle(logger, func(w http.ResponseWriter, r *http.Request) error {
			return httpx.NotFound("route " + r.Method + " " + r.URL.Path)
		})))
	}, extra...)
}

// SandboxHandler is the Execution Sandbox's HTTP surface (:8004).
func (p *Platform) SandboxHandler(extra ...auth.Authenticator) http.Handler {
	return p.serviceHandler("sandbox", p.sandboxProbes, func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
		mux.Handle("/", requireKey(p.Sandbox.Handler()))
	}, extra...)
}

// AgentsHandler is the Agent Factory's HTTP surface (:8001).
func (p *Platform) AgentsHandler(extra ...auth.Authenticator) http.Handler {
	return p.serviceHandler("agents", p.agentsProbes, func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
		// Routes by pattern, so that the HTTP metrics name them.
		h := requireKey(p.Agents.Handler())
		mux.Handle("POST /execute", h)
		mux.Handle("/", h)
	}, extra...)
}

// WorkerHandler is the worker's HTTP surface: probes and metrics only, for
// Kubernetes and Prometheus; everything else is an authenticated 404.
func (p *Platform) WorkerHandler(extra ...auth.Authenticator) http.Handler {
	logger := p.Logger.With("component", "worker")
	return p.serviceHandler("worker", p.workerProbes, func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
		mux.Handle("/", requireKey(httpx.Handle(logger, func(w http.ResponseWriter, r *http.Request) error {
			return httpx.NotFound("route " + r.Method + " " + r.URL.Path + " (the worker serves only probes and /metrics)")
		})))
	}, extra...)
}

// ValidationHandler is the Validation Mesh's HTTP surface (:8002).
func (p *Platform) ValidationHandler(extra ...auth.Authenticator) http.Handler {
	return p.serviceHandler("validation", p.validationProbes, func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
		mux.Handle("/", requireKey(p.Validation.Handler()))
	}, extra...)
}
