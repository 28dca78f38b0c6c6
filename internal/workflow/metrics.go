package workflow

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count the outcome of jobs, where they finish: in the worker.
type Metrics struct {
	jobs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the job metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_jobs_total",
			Help: "Jobs finished, by status (completed, failed, cancelled)."}, []string{"status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "qlp_job_duration_seconds",
			Help:    "Time from a job's submission to its end, by status.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}}, []string{"status"}),
	}
	for _, c := range []prometheus.Collector{m.jobs, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every status from zero, so that a rate over failures exists before
	// the first failure.
	for _, s := range []string{"completed", "failed", "cancelled"} {
		m.jobs.WithLabelValues(s)
	}
	return m, nil
}

// jobFinished counts one job's end; a nil Metrics counts nothing.
func (m *Metrics) jobFinished(status string, took time.Duration) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(status).Inc()
	m.duration.WithLabelValues(status).Observe(took.Seconds())
}
