package validation

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	validations *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	checks      *prometheus.CounterVec
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	sandboxRuns *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_validation_validations_total",
			Help: "Validations by language and overall status."}, []string{"language", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "qlp_validation_duration_seconds",
			Help: "Time to validate a project.", Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)}, []string{"language"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_validation_checks_total",
			Help: "Checks by name and status."}, []string{"check", "status"}),
		cacheHits:   prometheus.NewCounter(prometheus.CounterOpts{Name: "qlp_validation_cache_hits_total", Help: "Check results served from the cache."}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{Name: "qlp_validation_cache_misses_total", Help: "Check results not in the cache."}),
		sandboxRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_validation_sandbox_runs_total",
			Help: "Sandbox runs made by validations, by batch and sandbox status."}, []string{"batch", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.validations, m.duration, m.checks, m.cacheHits, m.cacheMisses, m.sandboxRuns)
	}
	return m
}
