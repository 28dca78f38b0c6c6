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
	"github.com/quantumlayer/qlp/internal/backup"
	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/console"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/engine"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/ratelimit"
	"github.com/quantumlayer/qlp/internal/redisx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/telemetry"
	"github.com/quantumlayer/qlp/internal/validation"
	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// Options choose what a process runs.
type Options struct {
	// NoEngine skips Temporal: for commands that only read the store.
	NoEngine bool
	// Run are the targets (see Targets) opened in this process, with the
	// targets they need that no URL setting names. The orchestrator
	// service is always there; Run only decides what Handler can serve.
	Run []string
	// Use are targets this process calls without serving them: opened here
	// like a need of Run, or reached by their URL setting.
	Use []string
	// Version is reported by /health and recorded in manifests.
	Version string
	// CI returns the CI client of a pull request's forge for the delivery
	// loop; nil is the forge clients (GitHub and GitLab, forgeCI).
	CI workflow.CIFactory
}

// Platform is a running QLP.
type Platform struct {
	// requestPolicyMetrics counts the content policy's verdicts on
	// requests, on the orchestrator's /metrics.
	requestPolicyMetrics *policy.Metrics

	Cfg    config.Config
	Logger *slog.Logger
	Store  *store.SQL
	Engine *engine.Engine
	Bus    *progress.Bus
	Signer *capsule.Signer
	// sealer seals and opens delivery credentials (deliverySealer); ci is
	// Options.CI.
	sealer *delivery.Sealer
	ci     workflow.CIFactory
	// Blobs keeps capsule archives: the worker writes them, the
	// orchestrator serves them.
	Blobs        blob.Store
	Orchestrator *orchestrator.Service
	// Plan is what this process opened and what it reaches by URL.
	Plan Plan
	// Router holds the tiers' models; it is open when this process runs
	// the worker or the Agent Factory, which share it.
	Router *tiers.Router
	// Agents is the Agent Factory service (nil unless it runs here).
	Agents *agents.Service
	Prices *pricing.Catalogue
	// Budget guards model calls and answers /api/v2/budgets; Costs answers
	// /api/v2/costs*.
	Budget *budget.Service
	Costs  *costs.Service
	// Sandbox is the Execution Sandbox when it runs in this process;
	// sandboxRunner is it, or the client of the one QLP_SANDBOX_URL names.
	Sandbox       *sandbox.Service
	sandboxRunner sandbox.Runner
	// Memory is the Vector Memory the worker recalls from (nil unless
	// needed); memorySvc is set when it runs in this process.
	Memory    memory.Memory
	memorySvc *memory.Service
	// Validation is the Validation Mesh when it runs in this process;
	// validator is what the worker validates with: it, or the client of
	// the one QLP_VALIDATION_URL names.
	Validation *validation.Mesh
	validator  workflow.Validator
	// probes are the probes and metrics registry of each target open in
	// this process.
	probes map[string]*httpx.Probes
	// remoteReady asks /readyz of each target in Plan.Remote.
	remoteReady map[string]httpx.Check
	redis       *redis.Client
	worker      worker.Worker
	marketing   worker.Worker
	// Backups takes the scheduled backups when the worker runs here.
	Backups *backup.Service
	// keyAuth authenticates API keys (one per process, for its last-used
	// throttle).
	keyAuth  *storeKeys
	keysOnce sync.Once
	// console is the web console, built once so that every handler of
	// this process shares its session key.
	console     *console.Console
	consoleErr  error
	consoleOnce sync.Once
	oidc        *auth.OIDC
	oidcOnce    sync.Once
	version     string
	// tracing is this process's tracer provider (no-op when off).
	tracing *telemetry.Provider
}

// Open starts the core (store, engine, orchestrator service, budgets) and
// the targets opts ask for, each after the targets it needs. Close
// releases it.
func Open(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (p *Platform, err error) {
	if err := cfg.ValidateCore(); err != nil {
		return nil, err
	}
	plan, err := PlanFor(cfg, opts.Run, opts.Use)
	if err != nil {
		return nil, err
	}
	llmChecked := false
	for _, name := range plan.Local {
		t, _ := LookupTarget(name)
		if t.LLM && !llmChecked {
			// Without a model the platform starts all the same: every job
			// that needs one fails with the error that says what to set,
			// and nothing else is lost (tiers.New).
			if !cfg.LLM.Configured() {
				logger.Warn("no model is configured: jobs will fail until one is", "error", cfg.LLM.NoModel())
			} else if err := cfg.LLM.Validate(); err != nil {
				return nil, err
			}
			llmChecked = true
		}
		if t.Engine && opts.NoEngine {
			return nil, fmt.Errorf("app: the %s needs the workflow engine", name)
		}
	}
	for _, name := range plan.Run {
		if t, _ := LookupTarget(name); t.URL(cfg) != "" {
			logger.Warn("target runs in this process; its URL setting is not used here", "target", name, "setting", SettingName(cfg, t.URLKey))
		}
	}
	if opts.CI == nil {
		opts.CI = forgeCI(cfg.Forge)
	}
	p = &Platform{Cfg: cfg, Logger: logger, Plan: plan, version: opts.Version, ci: opts.CI,
		probes: map[string]*httpx.Probes{Orchestrator: httpx.NewProbes(Orchestrator, opts.Version)}}
	// Each error return sets p to nil; close what was opened through pl.
	pl := p
	defer func() {
		if err != nil {
			pl.Close()
		}
	}()
	// Tracing first, so that everything opened after it is traced: off
	// (the default) it is the no-op provider and installs nothing. Its
	// resource names the targets open in this process.
	if p.tracing, err = telemetry.New(ctx, cfg.Telemetry, plan.Local, opts.Version); err != nil {
		return nil, err
	}
	telemetry.Install(p.tracing)
	if p.Store, err = store.Open(ctx, cfg.Store, cfg.DataDir); err != nil {
		return nil, err
	}
	if p.Signer, err = capsule.LoadOrCreateSigner(cfg.DataDir); err != nil {
		return nil, err
	}
	// Delivery credentials are sealed with a key derived from the signing
	// key: every process holding it (the API that starts a delivery loop,
	// the worker that pushes) derives the same.
	if p.sealer, err = deliverySealer(p.Signer); err != nil {
		return nil, err
	}
	if p.Blobs, err = blob.Open(ctx, cfg.BlobConfig()); err != nil {
		return nil, err
	}
	// One Redis client per process, shared: the progress bus's wake-ups,
	// the models' response cache and the API's rate limits.
	if cfg.Redis.Enabled() {
		if p.redis, err = redisx.Open(ctx, cfg.Redis); err != nil {
			return nil, err
		}
	}
	p.Bus = p.openBus()
	var costPlan *costs.Plan
	if p.Prices, costPlan, err = cfg.LoadCosts(); err != nil {
		return nil, err
	}
	if p.Budget, err = budget.New(cfg.Budget, budget.Deps{Store: p.Store, Prices: p.Prices, Plan: costPlan, Bus: p.Bus,
		Logger: logger.With("component", "budget")}); err != nil {
		return nil, err
	}
	models, err := tierModels(cfg.LLM)
	if err != nil {
		return nil, err
	}
	if p.Costs, err = costs.New(cfg.Costs, costs.Deps{Ledger: p.Store, Prices: p.Prices, Plan: costPlan, Tiers: models}); err != nil {
		return nil, fmt.Errorf("%w (llm.model_* (QLP_LLM_MODEL_T0..T3) must be priced)", err)
	}
	var tc client.Client
	if !opts.NoEngine {
		if p.Engine, err = engine.Start(ctx, cfg.Temporal, cfg.DataDir, logger); err != nil {
			return nil, err
		}
		tc = p.Engine.Client
	}
	// The API's request rates: shared by every replica through Redis when
	// there is one, else kept in this process.
	var buckets ratelimit.Buckets = ratelimit.NewMemory(nil)
	if p.redis != nil {
		buckets = ratelimit.NewRedis(p.redis, "qlp:api:ratelimit:")
	}
	p.requestPolicyMetrics = policy.NewMetrics()
	p.Orchestrator = orchestrator.New(orchestrator.Config{
		Workflow: cfg.Workflow, MaxBodyBytes: cfg.API.MaxBodyBytes, Limits: cfg.Limits, PublicURL: cfg.API.PublicURL, Version: opts.Version,
		Forge: cfg.Forge, LLM: cfg.LLM,
	}, orchestrator.Deps{Store: p.Store, Temporal: tc, Bus: p.Bus, Costs: p.Costs, Budgets: p.Budget, Blobs: p.Blobs, Buckets: buckets,
		Policy: newPolicy(&cfg), PolicyMetrics: p.requestPolicyMetrics, Sealer: p.sealer,
		Audit: p.Store, Logger: logger.With("component", "orchestrator")})
	p.remoteReady = map[string]httpx.Check{}
	for _, name := range plan.Remote {
		t, _ := LookupTarget(name)
		p.remoteReady[name] = t.dial(p, t.URL(cfg))
	}
	// Every probe registry exists before any target opens, so that the
	// models' metrics find the registry they belong to (openRouter).
	for _, name := range plan.Local {
		if p.probes[name] == nil {
			p.probes[name] = httpx.NewProbes(name, opts.Version)
		}
	}
	for _, name := range plan.Local {
		t, _ := LookupTarget(name)
		if err := t.open(p, ctx); err != nil {
			return nil, err
		}
		// A target is ready only while the services it calls in other
		// processes are: each check asks theirs, on every request, so
		// that readiness returns by itself when they do.
		for _, r := range plan.RemoteNeeds(name) {
			p.probes[name].AddCheck(r, p.remoteReady[r])
		}
	}
	p.readyChecks()
	return p, nil
}

// openBus returns the progress bus. With Redis its wake-ups reach the
// followers of every process at once, and the store is re-read every five
// seconds only in case one is lost (every second while Redis is down);
// without Redis, followers in other processes poll the store every second.
func (p *Platform) openBus() *progress.Bus {
	d := progress.Deps{Store: p.Store, Poll: time.Second, Logger: p.Logger.With("component", "progress")}
	if p.redis != nil {
		d.Notifier, d.Poll = redisx.NewNotifier(p.redis, ""), 5*time.Second
	}
	return progress.New(d)
}

// Validator is what this process validates with: the Validation Mesh it
// runs, or the client of the validation service a URL setting names; nil
// when neither was opened (Options.Run or Use without Validation).
func (p *Platform) Validator() workflow.Validator { return p.validator }

// openValidation starts the Validation Mesh on the sandbox this process
// runs or the one QLP_SANDBOX_URL names.
func (p *Platform) openValidation(ctx context.Context) error {
	if err := p.Cfg.Validation.Validate(); err != nil {
		return err
	}
	pr := p.probes[Validation]
	m, err := validation.New(ctx, p.Cfg.Validation, validation.Deps{Logger: p.Logger, Registerer: pr.Registry, Sandbox: p.sandboxRunner})
	if err != nil {
		return err
	}
	p.Validation, p.validator = m, m
	pr.AddCheck("validation", m.Ready)
	return nil
}

// openRouter opens the tiers' models, metered into the store and guarded
// by the budget. Their metrics go to one registry per process, so that a
// Prometheus scraping every port counts each call once: the Agent
// Factory's when it runs here (it is the LLM service), else the worker's,
// else the orchestrator's.
func (p *Platform) openRouter(ctx context.Context) error {
	if p.Router != nil {
		return nil // the Agent Factory and the worker share it
	}
	reg := prometheus.Registerer(p.probes[Orchestrator].Registry)
	switch {
	case p.probes[Agents] != nil:
		reg = p.probes[Agents].Registry
	case p.probes[Worker] != nil:
		reg = p.probes[Worker].Registry
	case p.probes[Marketing] != nil:
		reg = p.probes[Marketing].Registry
	}
	deps := tiers.Deps{Sink: p.Store, Packs: tenantPacks{p.Store}, Logger: p.Logger.With("component", "llm"), Registerer: reg,
		TracePromptText: p.Cfg.Telemetry.RecordPrompts}
	if p.redis != nil {
		deps.Redis = p.redis
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

// startWorker runs QLPWorkflow's worker; its probes answer for its
// Temporal connection and store, and carry the LLM metrics when no Agent
// Factory runs here.
func (p *Platform) startWorker(ctx context.Context) error {
	if err := p.openRouter(ctx); err != nil {
		return err
	}
	router := p.Router
	pr := p.probes[Worker]
	pr.AddCheck("store", p.Store.Ping)
	pr.AddCheck("temporal", func(ctx context.Context) error {
		_, err := p.Engine.Client.CheckHealth(ctx, nil)
		return err
	})
	if p.redis != nil {
		pr.AddCheck("redis", p.pingRedis)
	}
	pr.AddCheck("blob", p.blobReady)
	jobMetrics, err := workflow.NewMetrics(pr.Registry)
	if err != nil {
		return err
	}
	// The content policy's verdicts on generated files, on the worker's
	// /metrics.
	outputPolicyMetrics := policy.NewMetrics()
	if err := pr.Registry.Register(outputPolicyMetrics); err != nil {
		return err
	}
	acts := &workflow.Activities{
		Store: p.Store, Models: router, Bus: p.Bus, Signer: p.Signer, Validator: p.validator,
		Generator: capsule.Generator{QLPVersion: p.version, Provider: router.Provider, Models: router.Models(), Scripted: router.Scripted},
		MaxTokens: router.MaxTokens, Temperature: router.Temperature, MaxTasks: p.Cfg.Workflow.MaxTasks,
		DecomposerTier: p.Cfg.Workflow.DecomposerTier, Logger: p.Logger.With("component", "activities"),
		Memory: p.Memory, Metrics: jobMetrics, Blobs: p.Blobs,
		Policy: newPolicy(&p.Cfg), PolicyStore: p.Store, PolicyMetrics: outputPolicyMetrics,
		Sealer: p.sealer, CI: p.ci,
	}
	p.worker = workflow.NewWorker(p.Engine.Client, acts, worker.Options{
		MaxConcurrentActivityExecutionSize: 4 * p.Cfg.Workflow.MaxParallel,
		WorkerStopTimeout:                  10 * time.Second,
	})
	backupMetrics, err := backup.NewMetrics(pr.Registry)
	if err != nil {
		return err
	}
	if p.Backups, err = p.OpenBackups(backupMetrics); err != nil {
		return err
	}
	p.Backups.Register(p.worker)
	if err := p.worker.Start(); err != nil {
		return fmt.Errorf("app: start worker on %s: %w", workflow.TaskQueue, err)
	}
	// A schedule that cannot be made does not stop the jobs; the alert on
	// qlp_backup_last_success_timestamp_seconds says backups stopped.
	if err := p.Backups.Schedule(ctx, p.Engine.Client, workflow.TaskQueue); err != nil {
		p.Logger.Error("backups are not scheduled", "error", err)
	} else if !p.Cfg.Backup.HasKey() {
		p.Logger.Warn("backups are off: set backup.key (QLP_BACKUP_KEY) to an age identity (`qlp backup keygen`) to take one every backup.interval")
	}
	return nil
}

// startMarketing runs the marketing worker (MarketingWorkflow,
// ContentGenerationWorkflow and the publisher on task queue qlp-marketing)
// and makes the publisher's Temporal Schedule.
func (p *Platform) startMarketing(ctx context.Context) error {
	if err := p.openRouter(ctx); err != nil {
		return err
	}
	pr := p.probes[Marketing]
	pr.AddCheck("store", p.Store.Ping)
	pr.AddCheck("temporal", func(ctx context.Context) error {
		_, err := p.Engine.Client.CheckHealth(ctx, nil)
		return err
	})
	mc := p.Cfg.Marketing
	pub := &marketing.Publisher{Interval: mc.PublishInterval, Adapters: mc.Adapters(&http.Client{Timeout: 30 * time.Second}),
		Logger: p.Logger.With("component", "marketing-publisher")}
	acts := &marketing.Activities{Store: p.Store, Models: p.Router, Tier: mc.Tier, MaxTokens: p.Router.MaxTokens,
		Temperature: p.Router.Temperature, MaxPieces: mc.MaxPieces, Logger: p.Logger.With("component", "marketing"), Publisher: pub}
	p.marketing = marketing.NewWorker(p.Engine.Client, acts, worker.Options{
		MaxConcurrentActivityExecutionSize: 4 * mc.MaxParallel,
		WorkerStopTimeout:                  10 * time.Second,
	})
	if err := p.marketing.Start(); err != nil {
		return fmt.Errorf("app: start the marketing worker on %s: %w", marketing.TaskQueue, err)
	}
	// A schedule that cannot be made does not stop campaigns from being
	// written; publishing waits until it can be.
	if err := pub.Schedule(ctx, p.Engine.Client, marketing.TaskQueue); err != nil {
		p.Logger.Error("the marketing publisher is not scheduled", "error", err)
	} else if len(pub.Adapters) == 0 && pub.Interval > 0 {
		p.Logger.Info("the marketing publisher has no adapter: set marketing.publish.webhook_url, slack_webhook_url or discord_webhook_url to publish due pieces")
	}
	return nil
}

// OpenBackups returns the backup service over this platform's store, blob
// store, data directory and Vector Memory (in this process or reached by
// its URL). metrics may be nil.
func (p *Platform) OpenBackups(metrics *backup.Metrics) (*backup.Service, error) {
	d := backup.Deps{Store: p.Store, Blobs: p.Blobs, DataDir: p.Cfg.DataDir, Settings: p.Cfg.Dump(), Version: p.version,
		Logger: p.Logger.With("component", "backup"), Metrics: metrics}
	if a, ok := p.Memory.(memory.Archive); ok {
		d.Memory = a
	}
	return backup.New(p.Cfg.Backup, d)
}

// RestoreBackup restores the backup idOrPath (an id in the blob store, or
// a file) into the store, data directory and blob store cfg names, then
// the memory entries into the Vector Memory cfg opens. The platform must
// not be running on them.
func RestoreBackup(ctx context.Context, cfg config.Config, logger *slog.Logger, idOrPath string, force bool, progress func(string)) (backup.RestoreReport, error) {
	if err := cfg.ValidateCore(); err != nil {
		return backup.RestoreReport{}, err
	}
	bs, err := blob.Open(ctx, cfg.BlobConfig())
	if err != nil {
		return backup.RestoreReport{}, err
	}
	return backup.Restore(ctx, cfg.Backup, idOrPath, backup.Target{
		Store: cfg.Store, DataDir: cfg.DataDir, Blobs: bs, Force: force, Progress: progress,
		OpenMemory: func(ctx context.Context) (memory.Archive, func() error, error) {
			p, err := Open(ctx, cfg, logger, Options{NoEngine: true, Use: []string{Memory}})
			if err != nil {
				return nil, nil, err
			}
			a, ok := p.Memory.(memory.Archive)
			if !ok {
				p.Close()
				return nil, nil, errors.New("app: this Vector Memory cannot import entries")
			}
			return a, p.Close, nil
		},
	})
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
	if p.marketing != nil {
		p.marketing.Stop()
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
	if p.Engine != nil {
		p.Engine.Close()
	}
	if p.Bus != nil {
		p.Bus.Close()
	}
	if p.redis != nil {
		errs = append(errs, p.redis.Close())
	}
	if p.Store != nil {
		errs = append(errs, p.Store.Close())
	}
	if p.tracing != nil {
		// Last, so that the spans of everything closed above are flushed.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, p.tracing.Shutdown(sctx))
		cancel()
	}
	return errors.Join(errs...)
}

// Authenticator accepts tenant keys, the configured service token, and any
// extra authenticators (the CLI's per-process token).
func (p *Platform) Authenticator(extra ...auth.Authenticator) auth.Authenticator {
	chain := auth.Chain{p.keys()}
	if p.Cfg.OIDC.Issuer != "" {
		p.oidcOnce.Do(func() { p.oidc = auth.NewOIDC(p.Cfg.OIDC, nil) })
		chain = append(chain, p.oidc)
	}
	if p.Cfg.ServiceToken != "" {
		chain = append(chain, auth.ServiceToken{Token: auth.Secret(p.Cfg.ServiceToken)})
	}
	return append(chain, extra...)
}

// readyChecks finishes the orchestrator's probes once every target is
// open: the store and the engine must answer for /readyz, and its /metrics
// carries the budget guard's decisions when no model runs here.
func (p *Platform) readyChecks() {
	pr := p.probes[Orchestrator]
	pr.Registry.MustRegister(p.requestPolicyMetrics)
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
		pr.AddCheck("redis", p.pingRedis)
	}
	pr.AddCheck("blob", p.blobReady)
}

// blobProbeKey is a key no object is ever stored under: readiness asks the
// blob store for it and expects "not found".
const blobProbeKey = "readyz/probe"

// blobReady checks that the blob store answers a read the way a capsule
// download makes one, with the same credentials: a missing object is
// reachable, any other error is not.
func (p *Platform) blobReady(ctx context.Context) error {
	if _, err := p.Blobs.Stat(ctx, blobProbeKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	return nil
}

// pingRedis is the readiness check of the shared Redis.
func (p *Platform) pingRedis(ctx context.Context) error {
	if err := p.redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// serviceHandler is one service's whole HTTP surface: its probes without a
// credential, everything mount adds behind authentication, and a server
// span (continuing the caller's trace), request ids, panic recovery,
// logging and metrics around all of it.
func (p *Platform) serviceHandler(name string, probes *httpx.Probes, mount func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler), extra ...auth.Authenticator) http.Handler {
	logger := p.Logger.With("component", name)
	metrics := httpx.NewHTTPMetrics(probes.Registry)
	root := http.NewServeMux()
	probes.Mount(root)
	requireKey := auth.Require(p.Authenticator(extra...), logger)
	mount(root, requireKey)
	return httpx.Chain(root, httpx.Trace(name), httpx.RequestID, httpx.Recover(logger), httpx.Logging(logger, metrics))
}

// tenantPacks tells the model router which pack a tenant was assigned
// (PUT /api/v2/model-packs).
type tenantPacks struct{ s store.ModelPacks }

func (t tenantPacks) PackFor(ctx context.Context, tenantID string) (string, error) {
	return t.s.TenantModelPack(ctx, tenantID)
}

// forgeCI reads a pull request's CI through its forge's client, at the API
// URL the pull request was opened through, checked again against the
// configured and allowed ones (the token is sent there).
func forgeCI(cfg forge.Config) workflow.CIFactory {
	return func(pr delivery.PullRequest, a delivery.Auth) (delivery.CI, error) {
		u, err := cfg.BaseURL(pr.Forge, pr.APIURL)
		if err != nil {
			return nil, err
		}
		return forge.New(pr.Forge, u, a.Token, cfg, nil)
	}
}

// deliverySealer is the sealer of delivery credentials, keyed from the
// capsule signing key.
func deliverySealer(s *capsule.Signer) (*delivery.Sealer, error) {
	key, err := s.DeriveKey("delivery credentials")
	if err != nil {
		return nil, err
	}
	return delivery.NewSealer(key)
}
