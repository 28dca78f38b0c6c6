package app

import (
	"context"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/settings"
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

// openMemory starts the Vector Memory in this process.
func (p *Platform) openMemory(ctx context.Context) error {
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
			return settings.Invalid(cfg.Settings(), "memory.embedder.model", "%w", err)
		}
	}
	pr := p.probes[Memory]
	svc, err := memory.New(ctx, cfg, memory.Deps{Logger: p.Logger, Registerer: pr.Registry,
		Usage: embeddingMeter{store: p.Store, prices: prices}})
	if err != nil {
		return err
	}
	p.memorySvc, p.Memory = svc, svc
	pr.AddCheck("memory", svc.Ready)
	return nil
}
