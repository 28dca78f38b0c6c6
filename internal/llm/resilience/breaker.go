package resilience

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/quantumlayer/qlp/internal/llm"
)

// BreakerConfig configures [Breaker].
type BreakerConfig struct {
	// Failures is how many consecutive failures open the breaker
	// (default 5).
	Failures int
	// OpenFor is how long it stays open before one trial call is let
	// through (default 30s).
	OpenFor time.Duration
}

// Defaults for BreakerConfig.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = 30 * time.Second
)

// Breaker is a circuit breaker around one provider. Only failures that say
// the provider is in trouble count (unavailable, timeout); a rate limit is
// the provider working as designed, and bad requests, authentication,
// context length and content filtering are QLP's or the prompt's problem.
// While open, calls fail at once with an llm.KindUnavailable error that
// wraps [ErrBreakerOpen].
type Breaker struct {
	inner llm.Provider
	cfg   BreakerConfig
	cb    *gobreaker.CircuitBreaker[*llm.Response]
}

var _ llm.Provider = (*Breaker)(nil)

// NewBreaker wraps inner. Share one Breaker per provider between tiers.
func NewBreaker(inner llm.Provider, cfg BreakerConfig, obs Observer) *Breaker {
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultBreakerFailures
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = DefaultBreakerOpenFor
	}
	obs = observer(obs)
	name := inner.Name()
	b := &Breaker{inner: inner, cfg: cfg}
	b.cb = gobreaker.NewCircuitBreaker[*llm.Response](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(cfg.Failures) },
		IsSuccessful: func(err error) bool {
			k := llm.KindOf(err)
			var le *llm.Error
			return !errors.As(err, &le) || (k != llm.KindUnavailable && k != llm.KindTimeout)
		},
		// The caller's cancellation and failures outside the provider
		// (the rate limiter's store) say nothing about the provider.
		IsExcluded: func(err error) bool {
			var le *llm.Error
			return err != nil && (errors.Is(err, context.Canceled) || !errors.As(err, &le))
		},
		OnStateChange: func(_ string, _, to gobreaker.State) { obs.BreakerChanged(name, state(to)) },
	})
	obs.BreakerChanged(name, StateClosed)
	return b
}

func state(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return StateOpen
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	default:
		return StateClosed
	}
}

// State returns the breaker's state.
func (b *Breaker) State() BreakerState { return state(b.cb.State()) }

// Name implements llm.Provider.
func (b *Breaker) Name() string { return b.inner.Name() }

// Chat implements llm.Provider.
func (b *Breaker) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	resp, err := b.cb.Execute(func() (*llm.Response, error) { return b.inner.Chat(ctx, req) })
	return resp, b.wrap(err)
}

// Stream implements llm.Provider.
func (b *Breaker) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	resp, err := b.cb.Execute(func() (*llm.Response, error) { return b.inner.Stream(ctx, req, fn) })
	return resp, b.wrap(err)
}

func (b *Breaker) wrap(err error) error {
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return &llm.Error{Kind: llm.KindUnavailable, Provider: b.inner.Name(), Err: ErrBreakerOpen, Message: fmt.Sprintf(
			"not calling: %d consecutive failures opened the circuit breaker; one trial call is let through %s after it opened",
			b.cfg.Failures, b.cfg.OpenFor)}
	}
	return err
}
