package resilience

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/quantumlayer/qlp/internal/llm"
)

// RetryConfig configures [Retry].
type RetryConfig struct {
	// MaxAttempts counts the first try (default 4; 1 disables retries).
	MaxAttempts int
	// BaseDelay is the backoff before the first retry (default 1s); it
	// doubles per retry up to MaxDelay (default 30s). The wait is drawn
	// uniformly from the upper half of that range ("equal jitter").
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter is the longest Retry-After honoured in process
	// (default 60s). A provider asking for longer gets the error back at
	// once, with its RetryAfter, for the activity's retry policy to
	// schedule.
	MaxRetryAfter time.Duration
	// Sleep waits for d or until ctx is done (tests inject a clock).
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0,1) for jitter.
	Rand func() float64
}

// Defaults for RetryConfig.
const (
	DefaultMaxAttempts   = 4
	DefaultBaseDelay     = time.Second
	DefaultMaxDelay      = 30 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
)

func (c RetryConfig) withDefaults() RetryConfig {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = DefaultBaseDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Retry tries a failed call again when the error says it may succeed
// (llm.Retryable: rate limit, unavailable, timeout, unknown), never for
// bad requests, authentication, context length or content filtering, nor
// while the provider's breaker is open (the tier's fallback takes over).
// A stream is retried only if it failed before its first chunk: chunks
// already handed to the caller cannot be taken back.
type Retry struct {
	inner llm.Provider
	cfg   RetryConfig
	obs   Observer
}

var _ llm.Provider = (*Retry)(nil)

// NewRetry wraps inner.
func NewRetry(inner llm.Provider, cfg RetryConfig, obs Observer) *Retry {
	return &Retry{inner: inner, cfg: cfg.withDefaults(), obs: observer(obs)}
}

// Name implements llm.Provider.
func (r *Retry) Name() string { return r.inner.Name() }

// Chat implements llm.Provider.
func (r *Retry) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	return r.do(ctx, func() (*llm.Response, bool, error) {
		resp, err := r.inner.Chat(ctx, req)
		return resp, false, err
	})
}

// Stream implements llm.Provider.
func (r *Retry) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	return r.do(ctx, func() (*llm.Response, bool, error) {
		delivered, fnFailed := false, false
		resp, err := r.inner.Stream(ctx, req, func(c llm.Chunk) error {
			delivered = true
			if fn == nil {
				return nil
			}
			if err := fn(c); err != nil {
				fnFailed = true
				return err
			}
			return nil
		})
		return resp, delivered || fnFailed, err
	})
}

// do runs call until it succeeds, fails for good, or runs out of attempts;
// call reports whether its failure is final (output already delivered).
func (r *Retry) do(ctx context.Context, call func() (*llm.Response, bool, error)) (*llm.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, final, err := call()
		if err == nil {
			return resp, nil
		}
		if final || attempt >= r.cfg.MaxAttempts || ctx.Err() != nil || !llm.Retryable(err) || errors.Is(err, ErrBreakerOpen) {
			return nil, err
		}
		delay, ok := r.delay(attempt, err)
		if !ok {
			return nil, err
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < delay {
			return nil, err // the wait would outlive the call: fail now, with the reason
		}
		r.obs.Retried(r.inner.Name(), llm.KindOf(err), delay)
		if serr := r.cfg.Sleep(ctx, delay); serr != nil {
			return nil, err
		}
	}
}

// delay is the wait before retry number attempt: at least the provider's
// Retry-After, plus up to 10% (at most 1s) so that callers told the same
// moment do not all return at once; otherwise exponential backoff with
// equal jitter. ok is false when Retry-After exceeds MaxRetryAfter.
func (r *Retry) delay(attempt int, err error) (time.Duration, bool) {
	var le *llm.Error
	if errors.As(err, &le) && le.RetryAfter > 0 {
		if le.RetryAfter > r.cfg.MaxRetryAfter {
			return 0, false
		}
		spread := min(le.RetryAfter/10, time.Second)
		return le.RetryAfter + time.Duration(r.cfg.Rand()*float64(spread)), true
	}
	backoff := r.cfg.BaseDelay
	for i := 1; i < attempt && backoff < r.cfg.MaxDelay; i++ {
		backoff *= 2
	}
	backoff = min(backoff, r.cfg.MaxDelay)
	return backoff/2 + time.Duration(r.cfg.Rand()*float64(backoff/2)), true
}
