package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/memory/embed"
	"github.com/quantumlayer/qlp/internal/memory/localstore"
	"github.com/quantumlayer/qlp/internal/memory/pgvector"
	"github.com/quantumlayer/qlp/internal/memory/qdrant"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// EmbeddingUsage is one metered embedding call.
type EmbeddingUsage struct {
	TenantID  string
	RequestID string // the job the call served; "" for maintenance
	Purpose   string // store, search or reindex
	Provider  string // builtin, openai, azure, ollama, bedrock
	Model     string
	Texts     int
	// InputTokens as billed by the provider (always 0 for builtin).
	InputTokens int
	// TokensEstimated: the provider reported no count; InputTokens is an
	// estimate of 4 characters a token.
	TokensEstimated bool
	// Cached: every text came from the service's cache; nothing was sent.
	Cached  bool
	Latency time.Duration
	// Err is the failure, if the call failed (tokens are then 0).
	Err error
	At  time.Time
}

// UsageRecorder meters embedding calls. The platform implements it to write
// its usage rows and prices; the memory service calls it once per embedding
// call, cached calls included.
type UsageRecorder interface {
	RecordEmbedding(ctx context.Context, u EmbeddingUsage) error
}

// Deps are what the service needs from its host.
type Deps struct {
	Logger *slog.Logger
	// Registerer receives the service's metrics; nil means none.
	Registerer prometheus.Registerer
	// Usage meters embedding calls. Required: a deployment that does not
	// want metering passes a recorder that drops them, on purpose.
	Usage UsageRecorder
	// Store overrides the store built from the configuration (tests, or a
	// host that shares one).
	Store vector.Store
	// Embedder overrides the embedder built from the configuration.
	Embedder embed.Embedder
	// HTTPClient is used by remote embedders; nil means a default client.
	HTTPClient *http.Client
}

// Service is the in-process memory. It is safe for concurrent use.
type Service struct {
	cfg        Config
	thresholds Thresholds
	log        *slog.Logger
	store      vector.Store
	embedder   embed.Embedder
	usage      UsageRecorder
	metrics    *metrics
	cache      *embedCache

	mu       sync.RWMutex
	mismatch map[string]int // collection → stored dimension, when it differs
}

var _ Memory = (*Service)(nil)

// New opens the configured store and embedder and makes sure every
// collection exists. A collection whose stored dimension differs from the
// embedder's does not stop the service: recall on it fails with
// ErrReindexRequired, Ready reports it, and Reindex repairs it.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Usage == nil {
		return nil, errors.New("memory: no usage recorder: embedding calls must be metered")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	log := deps.Logger.With("component", "memory")
	emb := deps.Embedder
	if emb == nil {
		var err error
		if emb, err = newEmbedder(ctx, cfg.Embedder, deps.HTTPClient); err != nil {
			return nil, err
		}
	}
	store := deps.Store
	if store == nil {
		var err error
		if store, err = openStore(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	s := &Service{
		cfg:        cfg,
		thresholds: cfg.thresholds(),
		log:        log,
		embedder:   emb,
		usage:      deps.Usage,
		metrics:    newMetrics(deps.Registerer),
		cache:      newEmbedCache(cfg.EmbedCacheSize),
		mismatch:   map[string]int{},
	}
	s.store = instrument(store, s.metrics)
	for _, c := range vector.Collections() {
		err := s.store.EnsureCollection(ctx, c, emb.Dimension())
		if errors.Is(err, vector.ErrDimension) {
			have, derr := s.store.Dimension(ctx, c)
			if derr != nil {
				return nil, fmt.Errorf("memory: %w", derr)
			}
			s.mismatch[c] = have
			log.Error("stored vectors have another dimension than the embedder; recall from this collection is off until `qlp memory reindex`",
				"collection", c, "stored", have, "embedder", emb.Dimension())
			continue
		}
		if err != nil {
			_ = store.Close()
			return nil, fmt.Errorf("memory: prepare collection %s: %w", c, err)
		}
	}
	log.Info("memory ready", "store", store.Backend(), "embedder", emb.Provider(), "model", emb.Model(), "dimension", emb.Dimension())
	return s, nil
}

func newEmbedder(ctx context.Context, c EmbedderConfig, hc *http.Client) (embed.Embedder, error) {
	if hc == nil {
		hc = &http.Client{Timeout: c.Timeout}
	}
	switch c.Provider {
	case ProviderBuiltin:
		return embed.NewHashing(c.Dimension)
	case ProviderOpenAI, ProviderAzure, ProviderOllama:
		e, err := embed.NewOpenAI(embed.OpenAIConfig{
			Flavor: c.Provider, BaseURL: c.BaseURL, APIKey: c.APIKey.Reveal(), Model: c.Model,
			Dimension: c.Dimension, APIVersion: c.APIVersion, HTTPClient: hc,
		})
		if err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
		return e, nil
	case ProviderBedrock:
		e, err := embed.NewBedrock(ctx, embed.BedrockConfig{
			Region: c.Region, Model: c.Model, Dimension: c.Dimension, Endpoint: c.BaseURL,
			AccessKeyID: c.AWSAccessKeyID.Reveal(), SecretAccessKey: c.AWSSecretAccessKey.Reveal(), HTTPClient: hc,
		})
		if err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("memory: unknown embedder provider %q", c.Provider)
}

func embeddedConfig(cfg Config, log *slog.Logger) localstore.Config {
	return localstore.Config{
		Dir: filepath.Clean(cfg.DataDir), M: cfg.HNSWM, EfConstruction: cfg.HNSWEfConstruction,
		EfSearch: cfg.HNSWEfSearch, Logger: log,
	}
}

// RecoverEmbedded repairs the embedded store in cfg.DataDir after its log
// was damaged (see localstore.Recover). No process may have it open.
func RecoverEmbedded(ctx context.Context, cfg Config, log *slog.Logger) (localstore.RecoveryReport, error) {
	if cfg.Store != StoreEmbedded {
		return localstore.RecoveryReport{}, fmt.Errorf("memory: recover applies to the embedded store; memory.store (QLP_MEMORY_STORE) is %q, whose server keeps its own log", cfg.Store)
	}
	rep, err := localstore.Recover(ctx, embeddedConfig(cfg, log))
	if err != nil {
		return rep, fmt.Errorf("memory: %w", err)
	}
	return rep, nil
}

func openStore(ctx context.Context, cfg Config, log *slog.Logger) (vector.Store, error) {
	switch cfg.Store {
	case StoreEmbedded:
		s, err := localstore.Open(ctx, embeddedConfig(cfg, log))
		if errors.Is(err, localstore.ErrCorruptLog) {
			return nil, fmt.Errorf("memory: %w; stop every qlp process using %s, then run `qlp memory recover` to keep every intact record (the damaged log is kept beside it)", err, filepath.Clean(cfg.DataDir))
		}
		if err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
		return s, nil
	case StorePgvector:
		s, err := pgvector.Open(ctx, pgvector.Config{URL: cfg.PostgresURL.Reveal(), Schema: cfg.PostgresSchema, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
		return s, nil
	case StoreQdrant:
		s, err := qdrant.Open(ctx, qdrant.Config{Addr: cfg.QdrantAddr, APIKey: cfg.QdrantAPIKey.Reveal(), TLS: cfg.QdrantTLS, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("memory: unknown store %q", cfg.Store)
}

// Ready reports whether the store answers and every collection matches the
// embedder.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ready(ctx); err != nil {
		return fmt.Errorf("memory: store: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c, d := range s.mismatch {
		return fmt.Errorf("%w: %s holds %d-dimensional vectors, the embedder gives %d", ErrReindexRequired, c, d, s.embedder.Dimension())
	}
	return nil
}

// Close closes the store.
func (s *Service) Close() error { return s.store.Close() }

// checkCollection fails with ErrReindexRequired for a mismatched collection.
func (s *Service) checkCollection(c string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if d, ok := s.mismatch[c]; ok {
		return fmt.Errorf("%w: %s holds %d-dimensional vectors, the embedder gives %d", ErrReindexRequired, c, d, s.embedder.Dimension())
	}
	return nil
}

// tenant returns the tenant of the principal in ctx.
func tenant(ctx context.Context) (string, error) {
	p, ok := auth.From(ctx)
	if !ok || p.TenantID == "" {
		return "", ErrNoTenant
	}
	return p.TenantID, nil
}

// withTenant returns ctx acting for tenant t (maintenance across tenants).
func withTenant(ctx context.Context, t string) context.Context {
	p, _ := auth.From(ctx)
	p.TenantID = t
	return auth.WithPrincipal(ctx, p)
}
