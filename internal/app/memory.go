package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

// embeddingMeter writes one usage row per embedding call, priced from the
// catalogue like a chat call.
type embeddingMeter struct {
	store  store.Store
	prices *pricing.Catalogue
}

// maintenanceTenant owns the usage of calls made for no tenant (reindex).
const maintenanceTenant = "_maintenance"

func (m embeddingMeter) RecordEmbedding(ctx context.Context, u memory.EmbeddingUsage) error {
	if u.Err != nil {
		return nil // a failed call was not billed
	}
	price, err := m.prices.Lookup(u.Provider, u.Model)
	if err != nil {
		return err
	}
	cost := int64(0)
	if !u.Cached {
		cost = price.Cost(u.InputTokens, 0, 0)
	}
	tenant := u.TenantID
	if tenant == "" {
		tenant = maintenanceTenant
	}
	return m.store.RecordUsage(context.WithoutCancel(ctx), store.Usage{
		TenantID: tenant, JobID: u.RequestID, Role: "embedder:" + u.Purpose, Provider: u.Provider, Model: u.Model,
		InputTokens: u.InputTokens, CostPUSD: cost, Cached: u.Cached, LatencyMS: u.Latency.Milliseconds(), CreatedAt: u.At,
	})
}

// openMemory returns the memory the worker and the memory target use: a
// client of QLP_MEMORY_URL, or the service in this process.
func (p *Platform) openMemory(ctx context.Context) error {
	if p.Cfg.Services.MemoryURL != "" {
		p.Memory = memory.NewClient(p.Cfg.Services.MemoryURL, auth.Secret(p.Cfg.ServiceToken), &http.Client{})
		return nil
	}
	cfg := p.Cfg.Memory
	cfg.DataDir = p.Cfg.MemoryDataDir()
	if cfg.Store == memory.StorePgvector && cfg.PostgresURL == "" {
		cfg.PostgresURL = auth.Secret(p.Cfg.Store.DatabaseURL)
	}
	prices, err := pricing.Load(p.Cfg.LLM.PricingFile)
	if err != nil {
		return err
	}
	if cfg.Embedder.Provider != memory.ProviderBuiltin {
		if _, err := prices.Lookup(cfg.Embedder.Provider, cfg.Embedder.Model); err != nil {
			return fmt.Errorf("memory.embedder.model (QLP_MEMORY_EMBEDDER_MODEL): %w", err)
		}
	}
	p.memoryProbes = httpx.NewProbes("memory", p.version)
	svc, err := memory.New(ctx, cfg, memory.Deps{Logger: p.Logger, Registerer: p.memoryProbes.Registry,
		Usage: embeddingMeter{store: p.Store, prices: prices}})
	if err != nil {
		return err
	}
	p.memorySvc, p.Memory = svc, svc
	p.memoryProbes.AddCheck("memory", svc.Ready)
	return nil
}

// MemoryHandler is the Vector Memory's HTTP surface (:8003).
func (p *Platform) MemoryHandler(extra ...auth.Authenticator) (http.Handler, error) {
	if p.memorySvc == nil {
		return nil, errors.New("app: the memory service does not run in this process (QLP_MEMORY_URL is set)")
	}
	return p.serviceHandler("memory", p.memoryProbes, func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
		mux.Handle("/", requireKey(p.memorySvc.Handler()))
	}, extra...), nil
}
