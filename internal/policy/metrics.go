package policy

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the policy found. Each service that enforces the
// policy (the API for requests, the worker for outputs) keeps its own and
// registers it with its /metrics.
type Metrics struct {
	violations *prometheus.CounterVec
}

// NewMetrics returns the policy's Prometheus series.
func NewMetrics() *Metrics {
	return &Metrics{violations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_policy_violations_total",
		Help: "Texts the content policy blocked or flagged, by origin (request, check, output), category (the one that decided), severity and action (refused, failed, review; flagged below the threshold; blocked or flagged for a check, which refuses nothing)."},
		[]string{"origin", "category", "severity", "action"})}
}

// Observe counts one result that was not clean; nil m counts nothing.
func (m *Metrics) Observe(origin, action string, r Result) {
	if m == nil || r.Result == OutcomeClean {
		return
	}
	m.violations.WithLabelValues(origin, string(r.Primary()), r.Severity.String(), action).Inc()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { m.violations.Describe(ch) }

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) { m.violations.Collect(ch) }
