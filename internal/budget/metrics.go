package budget

import "github.com/prometheus/client_golang/prometheus"

// metrics are the budget's Prometheus series.
type metrics struct {
	decisions   *prometheus.CounterVec
	alerts      *prometheus.CounterVec
	overruns    *prometheus.CounterVec
	poolBalance *prometheus.GaugeVec
	webhook     *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_budget_decisions_total",
			Help: "Model calls checked against budgets before they were made, by decision (allowed, downgraded, refused) and the budget that decided (scope)."},
			[]string{"decision", "scope"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_budget_alerts_total",
			Help: "Budget alerts raised, by scope (request, tenant_daily, tenant_monthly, pool) and percent reached."},
			[]string{"scope", "percent"}),
		overruns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_budget_overruns_total",
			Help: "Calls whose actual cost took a budget past its limit (their estimate was low), by scope."},
			[]string{"scope"}),
		poolBalance: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "qlp_budget_pool_balance_usd",
			Help: "Balance of a credit pool in USD when last checked: amount less metered spend and accrued infrastructure."},
			[]string{"pool"}),
		webhook: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qlp_budget_webhook_deliveries_total",
			Help: "Budget alerts offered to the webhook, by result (delivered, failed after every attempt)."},
			[]string{"result"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.decisions, m.alerts, m.overruns, m.poolBalance, m.webhook}
}

// Describe implements prometheus.Collector.
func (s *Service) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.metrics.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *Service) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.metrics.collectors() {
		c.Collect(ch)
	}
}
