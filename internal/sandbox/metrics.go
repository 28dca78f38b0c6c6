package sandbox

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	queued   prometheus.Gauge
	running  prometheus.Gauge
	rejected prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qlp_sandbox_runs_total", Help: "Sandbox runs by final status, language and backend.",
		}, []string{"status", "language", "backend"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "qlp_sandbox_run_duration_seconds", Help: "Wall time of sandbox runs (excluding queueing) by language and status.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"language", "status"}),
		queued:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "qlp_sandbox_queue_depth", Help: "Runs waiting for a slot."}),
		running:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "qlp_sandbox_running", Help: "Runs executing now."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "qlp_sandbox_rejected_total", Help: "Runs refused because the queue was full."}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.duration, m.queued, m.running, m.rejected)
	}
	return m
}
