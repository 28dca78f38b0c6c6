package resilience

import (
	"context"
	"fmt"
	"time"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/ratelimit"
)

// Limit is a provider's request and token rate, per minute; zero means
// unlimited.
type Limit struct {
	RPM int
	TPM int
}

// Take asks a bucket for N of its Capacity tokens; the bucket refills
// Capacity tokens a minute, continuously.
type Take = ratelimit.Take

// Buckets holds token buckets. [MemoryBuckets] keeps them in process;
// [RedisBuckets] shares them between every QLP process using one Redis.
type Buckets interface {
	// Take takes every N from its bucket, all or none. It returns zero
	// when it took them, otherwise how long until it could.
	Take(ctx context.Context, takes []Take) (time.Duration, error)
}

// LimiterConfig configures [Limiter].
type LimiterConfig struct {
	Limit Limit
	// MaxWait is the longest a call waits for its budget (default 30s);
	// past it the call fails with a rate-limit error carrying the wait as
	// its RetryAfter.
	MaxWait time.Duration
	// Sleep waits for d or until ctx is done (tests inject a clock).
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultMaxWait bounds a call's wait for its rate limit.
const DefaultMaxWait = 30 * time.Second

// Limiter holds calls to one provider to its RPM and TPM. A call is
// charged its estimated prompt tokens plus its max_tokens, which is how
// providers themselves count a request against a TPM limit before they
// know its answer.
type Limiter struct {
	inner   llm.Provider
	cfg     LimiterConfig
	buckets Buckets
	obs     Observer
}

var _ llm.Provider = (*Limiter)(nil)

// NewLimiter wraps inner. Buckets are keyed by provider name, so limiters
// of one provider share them.
func NewLimiter(inner llm.Provider, cfg LimiterConfig, buckets Buckets, obs Observer) *Limiter {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Limiter{inner: inner, cfg: cfg, buckets: buckets, obs: observer(obs)}
}

// Name implements llm.Provider.
func (l *Limiter) Name() string { return l.inner.Name() }

// Chat implements llm.Provider.
func (l *Limiter) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if err := l.acquire(ctx, req); err != nil {
		return nil, err
	}
	return l.inner.Chat(ctx, req)
}

// Stream implements llm.Provider.
func (l *Limiter) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	if err := l.acquire(ctx, req); err != nil {
		return nil, err
	}
	return l.inner.Stream(ctx, req, fn)
}

// Cost is what a request is charged against a TPM limit.
func Cost(req llm.Request) int {
	return llm.EstimateTokens(llm.PromptText(req.Messages)) + req.MaxTokens
}

func (l *Limiter) acquire(ctx context.Context, req llm.Request) error {
	name := l.inner.Name()
	var takes []Take
	if l.cfg.Limit.RPM > 0 {
		takes = append(takes, Take{Key: name + ":rpm", Capacity: l.cfg.Limit.RPM, N: 1})
	}
	if l.cfg.Limit.TPM > 0 {
		// A request larger than a minute's budget waits for a full bucket
		// rather than forever.
		takes = append(takes, Take{Key: name + ":tpm", Capacity: l.cfg.Limit.TPM, N: min(Cost(req), l.cfg.Limit.TPM)})
	}
	if len(takes) == 0 {
		return nil
	}
	var waited time.Duration
	for {
		wait, err := l.buckets.Take(ctx, takes)
		if err != nil {
			return fmt.Errorf("llm: %s rate limiter: %w", name, err)
		}
		if wait <= 0 {
			if waited > 0 {
				l.obs.Throttled(name, waited)
			}
			return nil
		}
		if waited+wait > l.cfg.MaxWait {
			return &llm.Error{Kind: llm.KindRateLimit, Provider: name, RetryAfter: wait, Message: fmt.Sprintf(
				"QLP's own limit of %d requests and %d tokens a minute (QLP_LLM_RATE_LIMITS) needs another %s; waited %s already",
				l.cfg.Limit.RPM, l.cfg.Limit.TPM, wait.Round(time.Millisecond), waited.Round(time.Millisecond))}
		}
		if err := l.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
		waited += wait
	}
}

// MemoryBuckets keeps token buckets in this process.
type MemoryBuckets struct{ b *ratelimit.Memory }

// NewMemoryBuckets returns empty buckets; now is the clock (nil for
// time.Now).
func NewMemoryBuckets(now func() time.Time) *MemoryBuckets {
	return &MemoryBuckets{b: ratelimit.NewMemory(now)}
}

// Take implements Buckets.
func (m *MemoryBuckets) Take(ctx context.Context, takes []Take) (time.Duration, error) {
	r, err := m.b.Take(ctx, takes)
	return r.Wait, err
}
