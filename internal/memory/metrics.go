package memory

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantumlayer/qlp/internal/memory/vector"
)

type metrics struct {
	embedCalls   *prometheus.CounterVec
	embedTokens  *prometheus.CounterVec
	embedLatency *prometheus.HistogramVec
	storeLatency *prometheus.HistogramVec
	storeErrors  *prometheus.CounterVec
	recall       *prometheus.CounterVec
	records      *prometheus.CounterVec
	usageErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		embedCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qlp_memory_embed_calls_total", Help: "Embedding calls by provider, model and outcome (ok, error, cached).",
		}, []string{"provider", "model", "outcome"}),
		embedTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qlp_memory_embed_tokens_total", Help: "Input tokens billed for embeddings.",
		}, []string{"provider", "model"}),
		embedLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "qlp_memory_embed_duration_seconds", Help: "Latency of embedding calls that reached the provider.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "qlp_memory_store_duration_seconds", Help: "Latency of vector store operations.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"backend", "op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qlp_memory_store_errors_total", Help: "Failed vector store operations.",
		}, []string{"backend", "op"}),
		recall: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qlp_memory_recall_total", Help: "Recall requests by use and whether memory had something (hit) or not (miss).",
		}, []string{"use", "result"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qlp_memory_records_total", Help: "Entries written, by collection.",
		}, []string{"collection"}),
		usageErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qlp_memory_usage_record_errors_total", Help: "Embedding calls whose usage could not be recorded.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.embedCalls, m.embedTokens, m.embedLatency, m.storeLatency, m.storeErrors, m.recall, m.records, m.usageErrors)
	}
	return m
}

func (m *metrics) recalled(use string, n int) {
	r := "miss"
	if n > 0 {
		r = "hit"
	}
	m.recall.WithLabelValues(use, r).Inc()
}

// instrumented times every store operation.
type instrumented struct {
	vector.Store
	m *metrics
}

func instrument(s vector.Store, m *metrics) vector.Store { return &instrumented{Store: s, m: m} }

func (i *instrumented) observe(op string, start time.Time, err error) {
	i.m.storeLatency.WithLabelValues(i.Backend(), op).Observe(time.Since(start).Seconds())
	if err != nil {
		i.m.storeErrors.WithLabelValues(i.Backend(), op).Inc()
	}
}

func (i *instrumented) Upsert(ctx context.Context, c string, p []vector.Point) (err error) {
	defer func(t time.Time) { i.observe("upsert", t, err) }(time.Now())
	return i.Store.Upsert(ctx, c, p)
}

func (i *instrumented) Search(ctx context.Context, c string, q vector.Query) (h []vector.Hit, err error) {
	defer func(t time.Time) { i.observe("search", t, err) }(time.Now())
	return i.Store.Search(ctx, c, q)
}

func (i *instrumented) Get(ctx context.Context, c, t, id string) (p vector.Point, err error) {
	defer func(s time.Time) { i.observe("get", s, err) }(time.Now())
	return i.Store.Get(ctx, c, t, id)
}

func (i *instrumented) Scroll(ctx context.Context, c string, p vector.Page) (pts []vector.Point, next string, err error) {
	defer func(t time.Time) { i.observe("scroll", t, err) }(time.Now())
	return i.Store.Scroll(ctx, c, p)
}

func (i *instrumented) Count(ctx context.Context, c, t string, f vector.Filter) (n int, err error) {
	defer func(s time.Time) { i.observe("count", s, err) }(time.Now())
	return i.Store.Count(ctx, c, t, f)
}
