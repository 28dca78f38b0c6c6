package resilience

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/llm"
)

// Limit is a provider's request and token rate, per minute; zero means
// unlimited.
type Limit struct {
	RPM int
	TPM int
}

// Take asks a bucket for N of its Capacity tokens; the bucket refills
// Capacity tokens a minute, continuously.
type Take struct {
	Key      string
	Capacity int
	N        int
}

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
type MemoryBuckets struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewMemoryBuckets returns empty buckets; now is the clock (nil for
// time.Now).
func NewMemoryBuckets(now func() time.Time) *MemoryBuckets {
	if now == nil {
		now = time.Now
	}
	return &MemoryBuckets{now: now, m: map[string]*bucket{}}
}

// Take implements Buckets.
func (b *MemoryBuckets) Take(_ context.Context, takes []Take) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var wait time.Duration
	for _, t := range takes {
		bk := b.refill(t, now)
		if bk.tokens < float64(t.N) {
			w := time.Duration((float64(t.N) - bk.tokens) * float64(time.Minute) / float64(t.Capacity))
			wait = max(wait, w+time.Millisecond) // round up past float error
		}
	}
	if wait > 0 {
		return wait, nil
	}
	for _, t := range takes {
		b.m[t.Key].tokens -= float64(t.N)
	}
	return 0, nil
}

func (b *MemoryBuckets) refill(t Take, now time.Time) *bucket {
	bk, ok := b.m[t.Key]
	if !ok {
		bk = &bucket{tokens: float64(t.Capacity), at: now}
		b.m[t.Key] = bk
	}
	if el := now.Sub(bk.at); el > 0 {
		bk.tokens = min(float64(t.Capacity), bk.tokens+float64(t.Capacity)*el.Minutes())
		bk.at = now
	}
	return bk
}
