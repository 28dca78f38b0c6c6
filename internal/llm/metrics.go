package llm

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of model calls. [Metrics.Instrument]
// wraps a provider to count its calls; the resilience wrappers and the
// response cache report to it through their Observer interfaces
// (Retried, BreakerChanged, FellBack, Throttled, CacheLookup).
type Metrics struct {
	calls     *prometheus.CounterVec
	errors    *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	cost      *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	cache     *prometheus.CounterVec
	breaker   *prometheus.GaugeVec
	retries   *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	throttled *prometheus.HistogramVec

	hits, lookups atomic.Int64
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	call := []string{"provider", "model", "tier"}
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_llm_calls_total",
			Help: "Model calls by provider, model, tier and outcome (ok, or the error kind)."}, append(call, "outcome")),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_llm_errors_total",
			Help: "Failed model calls by provider, model, tier and error kind."}, append(call, "kind")),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_llm_tokens_total",
			Help: "Tokens of answered calls by direction: input (including cached_input and cache_write_input), cached_input, cache_write_input (counted once a call writes to the prompt cache), output."}, append(call, "direction")),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_llm_cost_usd_total",
			Help: "Priced cost of answered calls in USD (cache hits cost 0)."}, call),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "qlp_llm_call_duration_seconds",
			Help:    "Duration of model calls, retries and waits included.",
			Buckets: []float64{0.05, 0.25, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640}}, call),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_llm_cache_lookups_total",
			Help: "Response cache lookups of cacheable requests by result (hit, miss)."}, []string{"provider", "result"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "qlp_llm_breaker_state",
			Help: "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open."}, []string{"provider"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_llm_retries_total",
			Help: "In-process retries of model calls by provider and the error kind retried."}, []string{"provider", "kind"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_llm_fallbacks_total",
			Help: "Calls a tier sent to its fallback route."}, []string{"tier", "from", "to"}),
		throttled: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "qlp_llm_rate_limit_wait_seconds",
			Help:    "Time calls waited for QLP's own per-provider RPM/TPM limit.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 20, 30, 60}}, []string{"provider"}),
	}
	ratio := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qlp_llm_cache_hit_ratio",
		Help: "Share of cacheable requests answered from the response cache since start."}, func() float64 {
		n := m.lookups.Load()
		if n == 0 {
			return 0
		}
		return float64(m.hits.Load()) / float64(n)
	})
	for _, c := range []prometheus.Collector{m.calls, m.errors, m.tokens, m.cost, m.latency, m.cache, m.breaker, m.retries, m.fallbacks, m.throttled, ratio} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Instrument wraps p so that each call is counted under p's name, the
// requested model and the request's tier. Place it outside llm.Metered to
// see the cost.
func (m *Metrics) Instrument(p Provider) Provider { return &instrumented{inner: p, m: m} }

type instrumented struct {
	inner Provider
	m     *Metrics
}

func (i *instrumented) Name() string { return i.inner.Name() }

func (i *instrumented) Chat(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	resp, err := i.inner.Chat(ctx, req)
	i.m.observe(i.inner.Name(), req, resp, err, time.Since(start))
	return resp, err
}

func (i *instrumented) Stream(ctx context.Context, req Request, fn func(Chunk) error) (*Response, error) {
	start := time.Now()
	resp, err := i.inner.Stream(ctx, req, fn)
	i.m.observe(i.inner.Name(), req, resp, err, time.Since(start))
	return resp, err
}

func (m *Metrics) observe(provider string, req Request, resp *Response, err error, d time.Duration) {
	tier := req.Meta.Tier
	if err != nil {
		kind := KindOf(err).String()
		if errors.Is(err, context.Canceled) {
			kind = "canceled"
		}
		m.calls.WithLabelValues(provider, req.Model, tier, kind).Inc()
		m.errors.WithLabelValues(provider, req.Model, tier, kind).Inc()
		m.latency.WithLabelValues(provider, req.Model, tier).Observe(d.Seconds())
		return
	}
	m.calls.WithLabelValues(provider, req.Model, tier, "ok").Inc()
	m.latency.WithLabelValues(provider, req.Model, tier).Observe(d.Seconds())
	m.tokens.WithLabelValues(provider, req.Model, tier, "input").Add(float64(resp.Usage.InputTokens))
	m.tokens.WithLabelValues(provider, req.Model, tier, "cached_input").Add(float64(resp.Usage.CachedInputTokens))
	if resp.Usage.CacheWriteInputTokens > 0 { // only Anthropic and Bedrock report writes
		m.tokens.WithLabelValues(provider, req.Model, tier, "cache_write_input").Add(float64(resp.Usage.CacheWriteInputTokens))
	}
	m.tokens.WithLabelValues(provider, req.Model, tier, "output").Add(float64(resp.Usage.OutputTokens))
	m.cost.WithLabelValues(provider, req.Model, tier).Add(float64(resp.CostPUSD) / 1e12)
}

// CacheLookup implements respcache.Observer.
func (m *Metrics) CacheLookup(provider string, hit bool) {
	m.lookups.Add(1)
	result := "miss"
	if hit {
		m.hits.Add(1)
		result = "hit"
	}
	m.cache.WithLabelValues(provider, result).Inc()
}

// Retried implements resilience.Observer.
func (m *Metrics) Retried(provider string, kind Kind, _ time.Duration) {
	m.retries.WithLabelValues(provider, kind.String()).Inc()
}

// BreakerState is a circuit breaker's state (see package resilience).
type BreakerState int

// Breaker states, as qlp_llm_breaker_state reports them.
const (
	BreakerClosed   BreakerState = 0
	BreakerHalfOpen BreakerState = 1
	BreakerOpen     BreakerState = 2
)

func (s BreakerState) String() string {
	switch s {
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	default:
		return "closed"
	}
}

// BreakerChanged implements resilience.Observer.
func (m *Metrics) BreakerChanged(provider string, state BreakerState) {
	m.breaker.WithLabelValues(provider).Set(float64(state))
}

// FellBack implements resilience.Observer.
func (m *Metrics) FellBack(tier, from, to string) { m.fallbacks.WithLabelValues(tier, from, to).Inc() }

// Throttled implements resilience.Observer.
func (m *Metrics) Throttled(provider string, wait time.Duration) {
	m.throttled.WithLabelValues(provider).Observe(wait.Seconds())
}

// CostCounter returns the cost series of one provider, model and tier.
func (m *Metrics) CostCounter(provider, model, tier string) prometheus.Counter {
	return m.cost.WithLabelValues(provider, model, tier)
}

// ErrorCounter returns the error series of one provider, model, tier and
// error kind.
func (m *Metrics) ErrorCounter(provider, model, tier, kind string) prometheus.Counter {
	return m.errors.WithLabelValues(provider, model, tier, kind)
}
