// Package respcache answers a repeated model request from a cache instead
// of the provider: the same provider, model, messages, JSON flag, output
// limit and temperature, at a temperature low enough that the answer is
// meant to be reproducible. Entries live in Redis when one is configured
// (shared by every QLP process) or in an in-process LRU.
//
// Entries are kept per tenant: a tenant is never served an answer another
// tenant paid for, which would also tell it what the other asked. Sharing
// across tenants is an explicit setting ([Config.SharedAcrossTenants]).
//
// The wrapper sits inside llm.Metered, so a hit is still recorded as a
// usage row, with Cached set and cost 0.
package respcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/redis/go-redis/v9"

	"github.com/quantumlayer/qlp/internal/llm"
)

// Store keeps encoded answers by key.
type Store interface {
	// Get returns the value and whether there was one.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Observer is told about lookups; llm.Metrics implements it.
type Observer interface {
	CacheLookup(provider string, hit bool)
}

// Config configures the cache.
type Config struct {
	// MaxTemperature: requests at a higher temperature are never cached
	// (QLP's default is DefaultMaxTemperature; 0 caches only requests at
	// temperature 0).
	MaxTemperature float64
	// TTL is how long an answer is kept (default 1h).
	TTL time.Duration
	// SharedAcrossTenants serves one tenant's cached answers to another
	// that sends exactly the same request. Off by default: a hit would tell
	// a tenant what another asked and hand it a call another paid for.
	// Only for a single-organisation installation whose tenants trust each
	// other.
	SharedAcrossTenants bool
}

// Defaults.
const (
	DefaultMaxTemperature = 0.3
	DefaultTTL            = time.Hour
	DefaultEntries        = 1000
)

// Cache wraps a provider.
type Cache struct {
	inner  llm.Provider
	store  Store
	cfg    Config
	obs    Observer
	logger *slog.Logger
}

var _ llm.Provider = (*Cache)(nil)

// New wraps inner. obs may be nil.
func New(inner llm.Provider, store Store, cfg Config, obs Observer, logger *slog.Logger) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	return &Cache{inner: inner, store: store, cfg: cfg, obs: obs, logger: logger}
}

// Name implements llm.Provider.
func (c *Cache) Name() string { return c.inner.Name() }

// Key is the cache key of a request to provider in tenant's entries; an
// empty tenant names the entries shared by every tenant.
func Key(provider, tenant string, req llm.Request) string {
	b, _ := json.Marshal(struct {
		V           int           `json:"v"`
		Shared      bool          `json:"shared"`
		Tenant      string        `json:"tenant"`
		Provider    string        `json:"provider"`
		Model       string        `json:"model"`
		Messages    []llm.Message `json:"messages"`
		JSON        bool          `json:"json"`
		MaxTokens   int           `json:"max_tokens"`
		Temperature float64       `json:"temperature"`
	}{2, tenant == "", tenant, provider, req.Model, req.Messages, req.JSON, req.MaxTokens, req.Temperature})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// key is the key of req: in its tenant's entries, or the shared ones.
func (c *Cache) key(req llm.Request) string {
	if c.cfg.SharedAcrossTenants {
		return Key(c.inner.Name(), "", req)
	}
	return Key(c.inner.Name(), req.Meta.TenantID, req)
}

// eligible: low temperature, not a retry of an activity whose previous
// attempt may have failed because of the very answer the cache holds, and
// a tenant to keep the entry under (unless entries are shared).
func (c *Cache) eligible(req llm.Request) bool {
	return req.Temperature <= c.cfg.MaxTemperature && req.Meta.Attempt <= 1 &&
		(c.cfg.SharedAcrossTenants || req.Meta.TenantID != "")
}

type entry struct {
	Content      string    `json:"content"`
	FinishReason string    `json:"finish_reason"`
	Model        string    `json:"model"`
	Usage        llm.Usage `json:"usage"`
}

func (c *Cache) lookup(ctx context.Context, key string) (*llm.Response, bool) {
	b, ok, err := c.store.Get(ctx, key)
	if err != nil {
		c.logger.Warn("LLM response cache unavailable; calling the provider", "provider", c.inner.Name(), "error", err)
		return nil, false
	}
	if ok {
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			c.logger.Warn("LLM response cache entry unreadable; calling the provider", "provider", c.inner.Name(), "error", err)
			ok = false
		} else {
			if c.obs != nil {
				c.obs.CacheLookup(c.inner.Name(), true)
			}
			return &llm.Response{Content: e.Content, FinishReason: e.FinishReason, Model: e.Model, Provider: c.inner.Name(), Usage: e.Usage, Cached: true}, true
		}
	}
	if c.obs != nil {
		c.obs.CacheLookup(c.inner.Name(), false)
	}
	return nil, false
}

// save keeps complete answers only: a truncated or filtered one is not
// worth serving again.
func (c *Cache) save(ctx context.Context, key string, resp *llm.Response) {
	if resp.FinishReason != llm.FinishStop || resp.Cached {
		return
	}
	b, _ := json.Marshal(entry{Content: resp.Content, FinishReason: resp.FinishReason, Model: resp.Model, Usage: resp.Usage})
	if err := c.store.Set(context.WithoutCancel(ctx), key, b, c.cfg.TTL); err != nil {
		c.logger.Warn("LLM response cache: could not store an answer", "provider", c.inner.Name(), "error", err)
	}
}

// Chat implements llm.Provider.
func (c *Cache) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if !c.eligible(req) {
		return c.inner.Chat(ctx, req)
	}
	start := time.Now()
	key := c.key(req)
	if resp, ok := c.lookup(ctx, key); ok {
		resp.Latency = time.Since(start)
		return resp, nil
	}
	resp, err := c.inner.Chat(ctx, req)
	if err == nil {
		c.save(ctx, key, resp)
	}
	return resp, err
}

// Stream implements llm.Provider; a hit is delivered as one chunk.
func (c *Cache) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	if !c.eligible(req) {
		return c.inner.Stream(ctx, req, fn)
	}
	start := time.Now()
	key := c.key(req)
	if resp, ok := c.lookup(ctx, key); ok {
		if fn != nil && resp.Content != "" {
			if err := fn(llm.Chunk{Delta: resp.Content}); err != nil {
				return nil, err
			}
		}
		resp.Latency = time.Since(start)
		return resp, nil
	}
	resp, err := c.inner.Stream(ctx, req, fn)
	if err == nil {
		c.save(ctx, key, resp)
	}
	return resp, err
}

// Memory is an in-process LRU store with expiry.
type Memory struct {
	lru *expirable.LRU[string, []byte]
}

// NewMemory keeps up to entries answers for ttl.
func NewMemory(entries int, ttl time.Duration) *Memory {
	if entries <= 0 {
		entries = DefaultEntries
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Memory{lru: expirable.NewLRU[string, []byte](entries, nil, ttl)}
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := m.lru.Get(key)
	return v, ok, nil
}

// Set implements Store; the TTL is the one given to NewMemory.
func (m *Memory) Set(_ context.Context, key string, value []byte, _ time.Duration) error {
	m.lru.Add(key, value)
	return nil
}

// Redis is a store shared through Redis.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedis stores under prefix+key (default prefix "qlp:llm:cache:").
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = "qlp:llm:cache:"
	}
	return &Redis{rdb: rdb, prefix: prefix}
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.rdb.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("respcache: redis get: %w", err)
	}
	return b, true, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.rdb.Set(ctx, r.prefix+key, value, max(ttl, time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("respcache: redis set: %w", err)
	}
	return nil
}
