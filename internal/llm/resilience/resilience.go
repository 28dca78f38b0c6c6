// Package resilience wraps llm.Providers so that transient provider trouble
// costs time, not jobs: [Retry] (exponential backoff with jitter that
// honours Retry-After, never for errors retrying cannot fix), [Breaker] (a
// circuit breaker per provider), [Limiter] (RPM and TPM token buckets per
// provider, in process or shared through Redis) and [Fallback] (a second
// provider and model for a tier whose first is down).
//
// A tier's provider is built inside out:
//
//	Fallback(primary, secondary)        a route per provider+model
//	  Retry                             waits and tries again
//	    Breaker                         fails fast while the provider is down
//	      Limiter                       waits for RPM/TPM budget
//	        provider client
//
// Temporal retries the activity around all of it. The in-process layers
// handle what is short and certain (a 429 with Retry-After: 2, a 503 for
// a second); a Retry-After longer than RetryConfig.MaxRetryAfter, a stream
// that failed after its first chunk, and a crashed worker are left to the
// activity's retry policy, which receives the provider's Retry-After as
// the next retry delay.
package resilience

import (
	"errors"
	"time"

	"github.com/quantumlayer/qlp/internal/llm"
)

// ErrBreakerOpen is wrapped by the error a [Breaker] returns while open.
var ErrBreakerOpen = errors.New("circuit breaker open")

// BreakerState is a breaker's state, as the metric reports it.
type BreakerState = llm.BreakerState

// Breaker states.
const (
	StateClosed   = llm.BreakerClosed
	StateHalfOpen = llm.BreakerHalfOpen
	StateOpen     = llm.BreakerOpen
)

// Observer is told what the wrappers do; llm.Metrics implements it. Every
// method must be safe for concurrent use.
type Observer interface {
	// Retried: a call to provider failed with kind and is tried again
	// after delay.
	Retried(provider string, kind llm.Kind, delay time.Duration)
	// BreakerChanged: provider's breaker moved to state.
	BreakerChanged(provider string, state BreakerState)
	// FellBack: tier's call went from one provider/model to another.
	FellBack(tier, from, to string)
	// Throttled: a call to provider waited for its rate limit.
	Throttled(provider string, wait time.Duration)
}

type nopObserver struct{}

func (nopObserver) Retried(string, llm.Kind, time.Duration) {}
func (nopObserver) BreakerChanged(string, BreakerState)     {}
func (nopObserver) FellBack(string, string, string)         {}
func (nopObserver) Throttled(string, time.Duration)         {}

func observer(o Observer) Observer {
	if o == nil {
		return nopObserver{}
	}
	return o
}
