package memory

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/memory/embed"
)

// Purposes of embedding calls, as metered.
const (
	PurposeStore   = "store"
	PurposeSearch  = "search"
	PurposeReindex = "reindex"
)

// embedTexts embeds texts through the cache, meters the call and returns one
// vector per text.
func (s *Service) embedTexts(ctx context.Context, requestID, purpose string, kind embed.Kind, texts []string) ([][]float32, error) {
	tenantID, _ := tenant(ctx)
	out := make([][]float32, len(texts))
	keys := make([][32]byte, len(texts))
	var missing []string
	var missingIdx []int
	for i, t := range texts {
		keys[i] = s.cache.key(s.embedder, kind, t)
		if v, ok := s.cache.get(keys[i]); ok {
			out[i] = v
			continue
		}
		missing = append(missing, t)
		missingIdx = append(missingIdx, i)
	}
	provider, model := s.embedder.Provider(), s.embedder.Model()
	u := EmbeddingUsage{TenantID: tenantID, RequestID: requestID, Purpose: purpose, Provider: provider, Model: model,
		Texts: len(texts), At: time.Now().UTC()}
	if len(missing) == 0 {
		u.Cached = true
		s.metrics.embedCalls.WithLabelValues(provider, model, "cached").Inc()
		s.recordUsage(ctx, u)
		return out, nil
	}
	start := time.Now()
	res, err := s.embedder.Embed(ctx, embed.Request{Texts: missing, Kind: kind})
	u.Latency = time.Since(start)
	s.metrics.embedLatency.WithLabelValues(provider).Observe(u.Latency.Seconds())
	if err == nil && len(res.Vectors) != len(missing) {
		err = fmt.Errorf("embedder returned %d vectors for %d texts", len(res.Vectors), len(missing))
	}
	if err != nil {
		u.Err = err
		s.metrics.embedCalls.WithLabelValues(provider, model, "error").Inc()
		s.recordUsage(ctx, u)
		if errors.Is(err, embed.ErrEmptyText) {
			return nil, fieldErr("text", "%v", err)
		}
		return nil, fmt.Errorf("memory: embed with %s %s: %w", provider, model, err)
	}
	u.InputTokens, u.TokensEstimated = res.InputTokens, res.TokensEstimated
	s.metrics.embedCalls.WithLabelValues(provider, model, "ok").Inc()
	s.metrics.embedTokens.WithLabelValues(provider, model).Add(float64(res.InputTokens))
	s.recordUsage(ctx, u)
	for j, i := range missingIdx {
		out[i] = res.Vectors[j]
		s.cache.put(keys[i], res.Vectors[j])
	}
	return out, nil
}

func (s *Service) embedOne(ctx context.Context, requestID, purpose string, kind embed.Kind, text string) ([]float32, error) {
	v, err := s.embedTexts(ctx, requestID, purpose, kind, []string{text})
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

// recordUsage hands the usage to the recorder. A recorder failure does not
// fail the memory operation (the embedding is already paid for); it is
// logged at error level and counted in qlp_memory_usage_record_errors_total.
func (s *Service) recordUsage(ctx context.Context, u EmbeddingUsage) {
	if err := s.usage.RecordEmbedding(context.WithoutCancel(ctx), u); err != nil {
		s.metrics.usageErrors.Inc()
		s.log.Error("embedding usage not recorded", "error", err, "tenant", u.TenantID, "request_id", u.RequestID,
			"provider", u.Provider, "model", u.Model, "tokens", u.InputTokens)
	}
}

// embedCache is a small LRU of embeddings keyed by a hash of provider,
// model, dimension, kind and text.
type embedCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[[32]byte]*list.Element
}

type cacheEntry struct {
	key [32]byte
	vec []float32
}

func newEmbedCache(max int) *embedCache {
	return &embedCache{max: max, order: list.New(), items: map[[32]byte]*list.Element{}}
}

func (c *embedCache) key(e embed.Embedder, kind embed.Kind, text string) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%d\x00%s", e.Provider(), e.Model(), e.Dimension(), kind, text))
}

func (c *embedCache) get(k [32]byte) ([]float32, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cacheEntry).vec, true
	}
	return nil, false
}

func (c *embedCache) put(k [32]byte, v []float32) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, vec: v})
	for c.order.Len() > c.max {
		el := c.order.Back()
		c.order.Remove(el)
		delete(c.items, el.Value.(*cacheEntry).key)
	}
}
