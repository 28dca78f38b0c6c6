package budget_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
)

// stub answers with the usage it is given and counts the calls per model.
type stub struct {
	name  string
	mu    sync.Mutex
	calls []llm.Request
	usage func(req llm.Request) llm.Usage
	gate  chan struct{} // when set, each call waits for a value
}

func (s *stub) Name() string { return s.name }
func (s *stub) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	s.calls = append(s.calls, req)
	s.mu.Unlock()
	return &llm.Response{Content: "ok", FinishReason: llm.FinishStop, Model: req.Model, Provider: s.name, Usage: s.usage(req)}, nil
}
func (s *stub) Stream(ctx context.Context, req llm.Request, _ func(llm.Chunk) error) (*llm.Response, error) {
	return s.Chat(ctx, req)
}
func (s *stub) models() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		out = append(out, c.Meta.Tier+" "+c.Model)
	}
	return out
}

type env struct {
	st     *store.SQL
	svc    *budget.Service
	tiers  []llm.Provider
	models []string
	inner  *stub
	logs   *bytes.Buffer
	prices *pricing.Catalogue
}

// A prompt of 4000 characters estimates at 1000 tokens.
var prompt = []llm.Message{{Role: llm.RoleUser, Content: strings.Repeat("x", 3999)}}

// newEnv guards two tiers on provider name: T0 gpt-4o-mini ($0.15/$0.60 per
// million) and T1 gpt-4.1 ($2/$8). With the 1000-token prompt and
// MaxTokens 1000 a T1 call's worst case is $0.010 and a T0 call's $0.00075.
func newEnv(t *testing.T, cfg budget.Config, planYAML, name string, usage func(llm.Request) llm.Usage) *env {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.EnsureTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	plan, err := costs.ParsePlan([]byte(planYAML), "1.25", prices)
	require.NoError(t, err)
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := budget.New(cfg, budget.Deps{Store: gatedStore{st}, Prices: prices, Plan: plan, Bus: progress.NewBus(st, 0), Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	inner := &stub{name: name, usage: usage}
	var rungs []budget.Rung
	for _, r := range []struct{ tier, model string }{{"T0", "gpt-4o-mini"}, {"T1", "gpt-4.1"}} {
		m, err := llm.NewMetered(inner, prices, st, logx.Discard(), r.model)
		require.NoError(t, err)
		rungs = append(rungs, budget.Rung{Tier: r.tier, Provider: m, Model: r.model})
	}
	tiers, err := svc.Guard(rungs, 4096)
	require.NoError(t, err)
	return &env{st: st, svc: svc, tiers: tiers, models: []string{"gpt-4o-mini", "gpt-4.1"}, inner: inner, logs: logs, prices: prices}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (e *env) call(t *testing.T, tier int, job string) (*llm.Response, error) {
	t.Helper()
	return e.tiers[tier].Chat(t.Context(), llm.Request{Model: e.models[tier], Messages: prompt, MaxTokens: 1000,
		Meta: llm.Meta{TenantID: "acme", JobID: job, TaskID: "t1", Tier: []string{"T0", "T1"}[tier], Role: "coder"}})
}

func fixed(in, out int) func(llm.Request) llm.Usage {
	return func(llm.Request) llm.Usage { return llm.Usage{InputTokens: in, OutputTokens: out} }
}

func cfgWith(request, policy string) budget.Config {
	c := budget.Defaults()
	c.RequestUSD, c.Policy = request, policy
	return c
}

func jobSpent(t *testing.T, st store.Store, job string) string {
	tot, err := st.SumUsage(t.Context(), store.UsageFilter{JobID: job})
	require.NoError(t, err)
	return pricing.USD(tot.CostPUSD)
}

func TestStopRefusesTheCallThatWouldExceedTheRequestBudget(t *testing.T) {
	// Each T1 call really costs 1000 × $2/M + 500 × $8/M = $0.006.
	e := newEnv(t, cfgWith("0.015", "stop"), "", "openai", fixed(1000, 500))
	_, err := e.call(t, 1, "j1")
	require.NoError(t, err, "$0 spent + $0.010 worst case fits $0.015")
	_, err = e.call(t, 1, "j1")
	require.Error(t, err, "$0.006 spent + $0.010 worst case does not")
	var be *budget.Error
	require.ErrorAs(t, err, &be)
	require.ErrorIs(t, err, budget.ErrExceeded)
	require.Equal(t, budget.ScopeRequest, be.Scope)
	require.EqualValues(t, 6_000_000_000, be.JobSpentPUSD)
	require.EqualValues(t, 10_000_000_000, be.EstimatePUSD)
	require.Contains(t, err.Error(), "the request budget of job j1 is $0.015000 and $0.006000 is spent")
	require.Contains(t, err.Error(), "job j1 has spent $0.006000")
	require.Equal(t, []string{"T1 gpt-4.1"}, e.inner.models(), "the refused call never reached the provider")
	require.Equal(t, "0.006000", jobSpent(t, e.st, "j1"))

	// Another job has its own request budget.
	_, err = e.call(t, 1, "j2")
	require.NoError(t, err)

	ev, err := e.st.ListEvents(t.Context(), "j1", 0, 0)
	require.NoError(t, err)
	require.Len(t, ev, 1)
	require.Equal(t, progress.BudgetAlert, ev[0].Type)
	require.Contains(t, string(ev[0].Data), `"kind":"exceeded"`)
	require.Contains(t, string(ev[0].Data), `"job_spent_usd":"0.006000"`)
	require.Equal(t, 1.0, (metric(t, e.svc, "qlp_budget_decisions_total", "refused", "request")))
}

func TestDowngradeMovesTheCallToACheaperTier(t *testing.T) {
	e := newEnv(t, cfgWith("0.012", "downgrade"), "", "openai", fixed(1000, 500))
	resp, err := e.call(t, 1, "j1")
	require.NoError(t, err)
	require.Empty(t, resp.Tier, "the first call fits on T1")
	resp, err = e.call(t, 1, "j1")
	require.NoError(t, err, "$0.006 + $0.010 does not fit $0.012 on T1, $0.006 + $0.00075 does on T0")
	require.Equal(t, "T0", resp.Tier)
	require.Equal(t, []string{"T1 gpt-4.1", "T0 gpt-4o-mini"}, e.inner.models())
	usage, err := e.st.ListUsage(t.Context(), store.UsageFilter{JobID: "j1"})
	require.NoError(t, err)
	require.Equal(t, "T0", usage[1].Tier, "the ledger records the tier that answered")
	require.Equal(t, "gpt-4o-mini", usage[1].Model)
	require.Equal(t, "0.006450", jobSpent(t, e.st, "j1"), "$0.006 + 1000 × $0.15/M + 500 × $0.60/M")
	ev, err := e.st.ListEvents(t.Context(), "j1", 0, 0)
	require.NoError(t, err)
	require.Len(t, ev, 2, "50% reached, then the downgrade")
	require.Contains(t, string(ev[1].Data), `"kind":"downgrade"`)
	require.Contains(t, ev[1].Message, "T1 gpt-4.1 does not fit (the request budget of job j1 is $0.012000, $0.006000 spent, up to $0.010000 more); T0 gpt-4o-mini answers instead")

	// T0 itself is never moved further down; when nothing fits, the call is refused.
	for i := 0; i < 30; i++ {
		if _, err = e.call(t, 1, "j1"); err != nil {
			break
		}
	}
	var be *budget.Error
	require.ErrorAs(t, err, &be)
	require.Equal(t, budget.Downgrade, be.Policy)
	require.Contains(t, err.Error(), "no cheaper tier fits either")
}

func TestTenantDayAndMonthBudgetsFromTheAPI(t *testing.T) {
	e := newEnv(t, cfgWith("", "stop"), "", "openai", fixed(1000, 500))
	u, err := budget.ParseUpdate([]byte(`{"tenant_daily_usd": 0.011}`))
	require.NoError(t, err)
	st, err := e.svc.Update(t.Context(), "acme", u, "admin-key")
	require.NoError(t, err)
	require.Equal(t, "0.011000", *st.Limits[budget.ScopeTenantDaily].LimitUSD)
	require.Equal(t, "tenant", st.Limits[budget.ScopeTenantDaily].Source)
	require.Nil(t, st.Limits[budget.ScopeRequest].LimitUSD, "no request limit configured")

	_, err = e.call(t, 1, "a")
	require.NoError(t, err)
	_, err = e.call(t, 1, "b")
	require.ErrorContains(t, err, "the daily budget of tenant acme", "$0.006 spent today + $0.010 > $0.011, whatever the job")

	u, err = budget.ParseUpdate([]byte(`{"tenant_daily_usd": null, "tenant_monthly_usd": "0.012"}`))
	require.NoError(t, err)
	_, err = e.svc.Update(t.Context(), "acme", u, "admin-key")
	require.NoError(t, err)
	_, err = e.call(t, 1, "b")
	require.ErrorContains(t, err, "the monthly budget of tenant acme")
	u, err = budget.ParseUpdate([]byte(`{"tenant_monthly_usd": "unlimited"}`))
	require.NoError(t, err)
	st, err = e.svc.Update(t.Context(), "acme", u, "admin-key")
	require.NoError(t, err)
	require.Nil(t, st.Limits[budget.ScopeTenantMonthly].LimitUSD)
	require.Equal(t, "0.006000", st.Limits[budget.ScopeTenantMonthly].SpentUSD)
	_, err = e.call(t, 1, "b")
	require.NoError(t, err)
}

func TestExpiredPoolIsRefused(t *testing.T) {
	plan := `
pools:
  - {name: aws, amount: "950", currency: GBP, providers: [bedrock], expires: 2025-10-31}
`
	e := newEnvBedrock(t, plan, at(time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)))
	_, err := e.call(t, 1, "j1")
	var be *budget.Error
	require.ErrorAs(t, err, &be)
	require.True(t, be.PoolExpired)
	require.Equal(t, "aws", be.Subject)
	require.Contains(t, err.Error(), "credit pool aws expired on 2025-10-31, so spend against it")
	require.Empty(t, e.inner.models(), "nothing was spent against the expired credit")

	// The day before the expiry date ends, it pays.
	e = newEnvBedrock(t, plan, at(time.Date(2025, 10, 31, 23, 0, 0, 0, time.UTC)))
	_, err = e.call(t, 1, "j1")
	require.NoError(t, err)
	require.Len(t, e.inner.models(), 1)
	st, err := e.svc.Status(t.Context(), "acme")
	require.NoError(t, err)
	require.Len(t, st.Pools, 1)
	require.Equal(t, "1187.500000", st.Pools[0].AmountUSD)
	require.False(t, st.Pools[0].Expired)
}

func TestExhaustedPoolIsRefused(t *testing.T) {
	plan := `
pools:
  - {name: aws, amount: "0.005", currency: USD, providers: [bedrock]}
`
	e := newEnvBedrock(t, plan, time.Now)
	_, err := e.call(t, 1, "j1")
	require.NoError(t, err, "$0.004 worst case fits $0.005")
	_, err = e.call(t, 1, "j2")
	var be *budget.Error
	require.ErrorAs(t, err, &be)
	require.Equal(t, budget.ScopePool, be.Scope)
	require.Contains(t, err.Error(), "credit pool aws is $0.005000 and $0.001440 is spent", "whatever the job or tenant")
	alerts, err := e.st.ListBudgetAlerts(t.Context(), "", 10)
	require.NoError(t, err)
	require.Empty(t, alerts, "28.8% of the pool: no alert yet")
	require.Equal(t, 0.00356, (metric(t, e.svc, "qlp_budget_pool_balance_usd", "aws")))
}

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// newEnvBedrock guards T0 amazon.nova-lite and T1 amazon.nova-pro ($0.80 /
// $3.20 per million) on Bedrock. A T1 call's worst case is $0.004; the stub
// answers 1000 in / 200 out: $0.00144.
func newEnvBedrock(t *testing.T, planYAML string, now func() time.Time) *env {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	plan, err := costs.ParsePlan([]byte(planYAML), "1.25", prices)
	require.NoError(t, err)
	svc, err := budget.New(cfgWith("", "stop"), budget.Deps{Store: st, Prices: prices, Plan: plan, Now: now})
	require.NoError(t, err)
	inner := &stub{name: "bedrock", usage: fixed(1000, 200)}
	var rungs []budget.Rung
	for _, r := range []struct{ tier, model string }{{"T0", "amazon.nova-lite-v1:0"}, {"T1", "amazon.nova-pro-v1:0"}} {
		m, err := llm.NewMetered(inner, prices, st, logx.Discard(), r.model)
		require.NoError(t, err)
		rungs = append(rungs, budget.Rung{Tier: r.tier, Provider: m, Model: r.model})
	}
	tiers, err := svc.Guard(rungs, 4096)
	require.NoError(t, err)
	return &env{st: st, svc: svc, tiers: tiers, models: []string{"amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"}, inner: inner, prices: prices}
}

// metric reads one series of the service's metrics (0 when absent).
func metric(t *testing.T, svc *budget.Service, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(svc))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetValue())
			}
			if strings.Join(vals, ",") != strings.Join(labels, ",") {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestAlertsFireOnceAtEachThreshold(t *testing.T) {
	// Each T0 call really costs 10000 × $0.15/M + 2500 × $0.60/M = $0.003.
	e := newEnv(t, cfgWith("0.010", "stop"), "", "openai", fixed(10_000, 2_500))
	for i := 0; i < 4; i++ {
		_, err := e.call(t, 0, "j1")
		require.NoError(t, err, "call %d: spent $%d.%03d + $0.00075 worst case", i+1, 0, 3*i)
	}
	_, err := e.call(t, 0, "j1")
	require.ErrorIs(t, err, budget.ErrExceeded, "$0.012 spent")

	alerts, err := e.st.ListBudgetAlerts(t.Context(), "acme", 0)
	require.NoError(t, err)
	var got []string
	for _, a := range alerts {
		got = append(got, fmt.Sprintf("%s %s %d%% %s", a.Scope, a.Subject, a.Percent, pricing.USD(a.SpentPUSD)))
	}
	// After the 2nd call 60%, the 3rd 90%, the 4th 120% (its estimate
	// assumed a 1000-token prompt; the provider billed 10000).
	require.Equal(t, []string{"request j1 100% 0.012000", "request j1 80% 0.009000", "request j1 50% 0.006000"}, got)
	ev, err := e.st.ListEvents(t.Context(), "j1", 0, 0)
	require.NoError(t, err)
	var kinds []string
	for _, x := range ev {
		var d map[string]any
		require.NoError(t, json.Unmarshal(x.Data, &d))
		kinds = append(kinds, fmt.Sprint(d["kind"], " ", d["percent"]))
	}
	require.Equal(t, []string{"threshold 50", "threshold 80", "threshold 100", "exceeded <nil>"}, kinds)
	require.Equal(t, 1.0, (metric(t, e.svc, "qlp_budget_alerts_total", "80", "request")))
	require.Equal(t, 1.0, (metric(t, e.svc, "qlp_budget_overruns_total", "request")))
	require.Equal(t, 4.0, (metric(t, e.svc, "qlp_budget_decisions_total", "allowed", "")))
}

// TestCallsInFlightAreCounted: two calls that each fit alone but not
// together do not both start; the second waits for the first, then is
// judged on what the first really cost.
func TestCallsInFlightAreCounted(t *testing.T) {
	// $0.0105 per request. A T1 call's worst case is $0.010, a T0 call's
	// $0.00075; each call really costs 100 in / 100 out: $0.001 on T1.
	e := newEnv(t, cfgWith("0.0105", "stop"), "", "openai", fixed(100, 100))
	e.inner.gate = make(chan struct{})
	a := make(chan error, 1)
	go func() { _, err := e.call(t, 1, "j1"); a <- err }()
	require.Eventually(t, func() bool { return metric(t, e.svc, "qlp_budget_decisions_total", "allowed", "") == 1 }, 5*time.Second, 5*time.Millisecond)
	b := make(chan error, 1)
	go func() { _, err := e.call(t, 0, "j1"); b <- err }()
	select {
	case err := <-b:
		t.Fatalf("the second call did not wait for the first: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.Empty(t, e.inner.models(), "neither has reached the provider")
	e.inner.gate <- struct{}{} // the first ends, having cost $0.001
	require.NoError(t, <-a)
	e.inner.gate <- struct{}{}
	require.NoError(t, <-b, "$0.001 spent + $0.00075 fits")
	require.Equal(t, []string{"T1 gpt-4.1", "T0 gpt-4o-mini"}, e.inner.models(), "one after the other")

	// A waiting call gives up with its context.
	e.inner.gate = make(chan struct{})
	go func() { _, err := e.call(t, 1, "j2"); a <- err }()
	require.Eventually(t, func() bool { return metric(t, e.svc, "qlp_budget_decisions_total", "allowed", "") == 3 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := e.tiers[1].Chat(ctx, llm.Request{Model: "gpt-4.1", Messages: prompt, MaxTokens: 1000, Meta: llm.Meta{TenantID: "acme", JobID: "j2", Tier: "T1"}})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	e.inner.gate <- struct{}{}
	require.NoError(t, <-a)
}

func TestWebhookReceivesSignedAlertsAndNoSecretIsLogged(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var sigs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies, sigs = append(bodies, b), append(sigs, r.Header.Get(budget.SignatureHeader))
		mu.Unlock()
		if strings.Contains(r.URL.Path, "broken") {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()

	cfg := cfgWith("0.010", "stop")
	cfg.WebhookURL, cfg.WebhookSecret = srv.URL+"/hooks/T0KEN-in-the-path", "s3cret-key"
	e := newEnv(t, cfg, "", "openai", fixed(10_000, 2_500))
	for i := 0; i < 2; i++ {
		_, err := e.call(t, 0, "j1")
		require.NoError(t, err)
	}
	require.NoError(t, e.svc.Close())
	mu.Lock()
	require.Len(t, bodies, 1, "one alert: 50%")
	var got map[string]any
	require.NoError(t, json.Unmarshal(bodies[0], &got))
	mac := hmac.New(sha256.New, []byte("s3cret-key"))
	mac.Write(bodies[0])
	require.Equal(t, "sha256="+hex.EncodeToString(mac.Sum(nil)), sigs[0])
	mu.Unlock()
	require.Equal(t, "budget_alert", got["type"])
	require.Equal(t, "threshold", got["kind"])
	require.Equal(t, "request", got["scope"])
	require.EqualValues(t, 50, got["percent"])
	require.Equal(t, "0.006000", got["spent_usd"])
	require.Equal(t, "acme", got["tenant_id"])
	require.Equal(t, "j1", got["job_id"])

	// A receiver that fails, and one that is not there: the failures are
	// logged, and neither the URL's token nor the signing key is.
	for _, url := range []string{srv.URL + "/broken/T0KEN-in-the-path", "http://127.0.0.1:1/hooks/T0KEN-in-the-path"} {
		cfg.WebhookURL = url
		e := newEnv(t, cfg, "", "openai", fixed(10_000, 2_500))
		for i := 0; i < 2; i++ {
			_, err := e.call(t, 0, "j1")
			require.NoError(t, err)
		}
		require.NoError(t, e.svc.Close())
		logs := e.logs.String()
		require.Contains(t, logs, "budget webhook delivery failed")
		require.NotContains(t, logs, "T0KEN")
		require.NotContains(t, logs, "s3cret")
		require.Equal(t, 1.0, (metric(t, e.svc, "qlp_budget_webhook_deliveries_total", "failed")))
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		name string
		edit func(*budget.Config)
		want string
	}{
		{"negative request budget", func(c *budget.Config) { c.RequestUSD = "-0.10" }, `budget.request_usd (QLP_BUDGET_REQUEST_USD): "-0.10" is negative`},
		{"negative daily budget", func(c *budget.Config) { c.TenantDailyUSD = "-5" }, "budget.tenant_daily_usd (QLP_BUDGET_TENANT_DAILY_USD)"},
		{"monthly budget not money", func(c *budget.Config) { c.TenantMonthlyUSD = "lots" }, "budget.tenant_monthly_usd (QLP_BUDGET_TENANT_MONTHLY_USD)"},
		{"too many decimals", func(c *budget.Config) { c.RequestUSD = "0.0000001" }, "more than 6 decimal places"},
		{"unknown policy", func(c *budget.Config) { c.Policy = "pray" }, "budget.policy (QLP_BUDGET_POLICY)"},
		{"bad percent", func(c *budget.Config) { c.AlertPercents = []string{"50", "eighty"} }, "budget.alert_percents (QLP_BUDGET_ALERT_PERCENTS)"},
		{"bad webhook", func(c *budget.Config) { c.WebhookURL = "ftp://user:T0KEN@host/x" }, "budget.webhook_url (QLP_BUDGET_WEBHOOK_URL): not an http(s) URL"},
		{"no webhook timeout", func(c *budget.Config) { c.WebhookTimeout = 0 }, "QLP_BUDGET_WEBHOOK_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := budget.Defaults()
			tt.edit(&c)
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "T0KEN", "a webhook URL is never echoed")
		})
	}
	c := budget.Defaults()
	require.NoError(t, c.Validate())
}

func TestParseUpdate(t *testing.T) {
	u, err := budget.ParseUpdate([]byte(`{"request_usd": 0.05, "tenant_daily_usd": "12.5", "tenant_monthly_usd": null, "policy": "DOWNGRADE"}`))
	require.NoError(t, err)
	require.Equal(t, budget.Change{Set: true, PUSD: 50_000_000_000}, u.RequestUSD)
	require.Equal(t, budget.Change{Set: true, PUSD: 12_500_000_000_000}, u.TenantDailyUSD)
	require.Equal(t, budget.Change{Set: true, Reset: true}, u.TenantMonthlyUSD)
	require.Equal(t, "downgrade", *u.Policy)
	u, err = budget.ParseUpdate([]byte(`{"request_usd": 0.1000001}`))
	require.Error(t, err, "a JSON number is read exactly, not as a float")

	for body, field := range map[string]string{
		`{"request_usd": -1}`:            "request_usd",
		`{"tenant_daily_usd": "-0.01"}`:  "tenant_daily_usd",
		`{"tenant_monthly_usd": true}`:   "tenant_monthly_usd",
		`{"policy": "yolo"}`:             "policy",
		`{"policy": 3}`:                  "policy",
		`{"request": 1}`:                 "request",
		`[1, 2]`:                         "body",
		`{"request_usd": "1e3"}`:         "request_usd",
		`{"request_usd": "unlimited!!"}`: "request_usd",
	} {
		_, err := budget.ParseUpdate([]byte(body))
		var fe *costs.FieldError
		require.ErrorAs(t, err, &fe, body)
		require.Equal(t, field, fe.Field, body)
	}
}

// TestCallWithoutATenantIsRefusedBeforeTheProvider: a call that names no
// tenant cannot be charged to any budget. The guard refuses it before the
// provider (an OpenAI-compatible server counting its requests) is called;
// before, it let the call through and metering refused it only after the
// provider had been paid.
func TestCallWithoutATenantIsRefusedBeforeTheProvider(t *testing.T) {
	srv := llmtest.New(func(llmtest.Call) llmtest.Reply {
		return llmtest.Reply{Content: "ok", Usage: &llm.Usage{InputTokens: 100, OutputTokens: 100}}
	})
	defer srv.Close()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	plan, err := costs.ParsePlan([]byte(""), "1.25", prices)
	require.NoError(t, err)
	svc, err := budget.New(cfgWith("0.10", "stop"), budget.Deps{Store: st, Prices: prices, Plan: plan})
	require.NoError(t, err)
	m, err := llm.NewMetered(openai.New(openai.Config{BaseURL: srv.URL}), prices, st, logx.Discard(), "gpt-4.1")
	require.NoError(t, err)
	tiers, err := svc.Guard([]budget.Rung{{Tier: "T1", Provider: m, Model: "gpt-4.1"}}, 4096)
	require.NoError(t, err)
	req := llm.Request{Model: "gpt-4.1", Messages: prompt, MaxTokens: 100, Meta: llm.Meta{JobID: "j1", TaskID: "t1", Tier: "T1", Role: "coder"}}

	for _, call := range map[string]func() (*llm.Response, error){
		"chat":   func() (*llm.Response, error) { return tiers[0].Chat(t.Context(), req) },
		"stream": func() (*llm.Response, error) { return tiers[0].Stream(t.Context(), req, nil) },
	} {
		_, err = call()
		require.ErrorIs(t, err, budget.ErrNoTenant)
		require.Contains(t, err.Error(), "without a tenant")
		require.Contains(t, err.Error(), "not sent to the provider")
	}
	require.Empty(t, srv.Calls(), "the provider was never called")
	rows, err := st.ListUsage(t.Context(), store.UsageFilter{})
	require.NoError(t, err)
	require.Empty(t, rows)
	require.Equal(t, 2.0, metric(t, svc, "qlp_budget_decisions_total", "refused", "no_tenant"))

	req.Meta.TenantID = "acme"
	_, err = tiers[0].Chat(t.Context(), req)
	require.NoError(t, err, "the same call for a tenant is admitted")
	require.Len(t, srv.Calls(), 1)
}

// gate holds the first ledger read made with its context until opened.
type gate struct {
	once    sync.Once
	reading chan struct{} // closed when the held read has read the ledger
	open    chan struct{}
}

func newGate() *gate { return &gate{reading: make(chan struct{}), open: make(chan struct{})} }

type gateKey struct{}

// gatedStore is the store, except that the first SumUsage of a call whose
// context carries a gate reads the ledger and then waits for the gate to
// open before answering: a slow ledger read, or one that is overtaken by a
// call ending meanwhile.
type gatedStore struct{ *store.SQL }

func (g gatedStore) SumUsage(ctx context.Context, f store.UsageFilter) (store.UsageTotals, error) {
	tot, err := g.SQL.SumUsage(ctx, f)
	if gt, ok := ctx.Value(gateKey{}).(*gate); ok {
		gt.once.Do(func() {
			close(gt.reading)
			<-gt.open
		})
	}
	return tot, err
}

// TestTenantsAreAdmittedInParallel: while one tenant's call is admitted
// (its ledger read is slow), another tenant's call goes ahead. Before, the
// guard held one process-wide mutex across the ledger queries of every
// admission, so every call of every tenant waited behind the slow one.
func TestTenantsAreAdmittedInParallel(t *testing.T) {
	e := newEnv(t, cfgWith("0.10", "stop"), "", "openai", fixed(100, 100))
	slow := newGate()
	a := make(chan error, 1)
	go func() {
		ctx := context.WithValue(t.Context(), gateKey{}, slow)
		_, err := e.tiers[1].Chat(ctx, llm.Request{Model: "gpt-4.1", Messages: prompt, MaxTokens: 1000,
			Meta: llm.Meta{TenantID: "acme", JobID: "a1", TaskID: "t1", Tier: "T1", Role: "coder"}})
		a <- err
	}()
	<-slow.reading // acme's admission is reading the ledger, and stays there
	b := make(chan error, 1)
	go func() {
		_, err := e.tiers[1].Chat(t.Context(), llm.Request{Model: "gpt-4.1", Messages: prompt, MaxTokens: 1000,
			Meta: llm.Meta{TenantID: "globex", JobID: "g1", TaskID: "t1", Tier: "T1", Role: "coder"}})
		b <- err
	}()
	select {
	case err := <-b:
		require.NoError(t, err, "globex's call is admitted and answered meanwhile")
	case <-time.After(5 * time.Second):
		close(slow.open)
		<-a
		t.Fatal("globex's call waited for acme's admission: one lock serialises every tenant's calls")
	}
	require.Equal(t, []string{"T1 gpt-4.1"}, e.inner.models())
	close(slow.open)
	require.NoError(t, <-a)
	require.Len(t, e.inner.models(), 2)
}

// TestCallEndingDuringAReadingIsCounted: a call's reading of the ledger is
// taken before another call of the same job writes its usage row, and that
// call ends (its reservation gone) before the decision. The ended call is
// still counted: the second call is not admitted on a reading that misses
// the first one's cost, and is refused on what the first really cost.
func TestCallEndingDuringAReadingIsCounted(t *testing.T) {
	// $0.015 per request. A T1 call's worst case is $0.010; it really
	// costs 1000 in / 500 out: $0.006. $0.006 + $0.010 does not fit.
	e := newEnv(t, cfgWith("0.015", "stop"), "", "openai", fixed(1000, 500))
	e.inner.gate = make(chan struct{})
	first := make(chan error, 1)
	go func() { _, err := e.call(t, 1, "j1"); first <- err }()
	require.Eventually(t, func() bool { return metric(t, e.svc, "qlp_budget_decisions_total", "allowed", "") == 1 }, 5*time.Second, 5*time.Millisecond)

	held := newGate()
	second := make(chan error, 1)
	go func() {
		ctx := context.WithValue(t.Context(), gateKey{}, held)
		_, err := e.tiers[1].Chat(ctx, llm.Request{Model: "gpt-4.1", Messages: prompt, MaxTokens: 1000,
			Meta: llm.Meta{TenantID: "acme", JobID: "j1", TaskID: "t2", Tier: "T1", Role: "coder"}})
		second <- err
	}()
	<-held.reading // the second call has read $0 spent on j1
	e.inner.gate <- struct{}{}
	select {
	case err := <-first: // its row is written and its reservation released
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		close(held.open)
		t.Fatal("the first call could not end while another call read the ledger")
	}
	require.Equal(t, "0.006000", jobSpent(t, e.st, "j1"))
	// A call wrongly admitted now reaches the provider and is counted
	// instead of hanging at its gate.
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case e.inner.gate <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	close(held.open)
	var err error
	select {
	case err = <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second call was never decided")
	}
	var be *budget.Error
	require.ErrorAs(t, err, &be, "not admitted on a reading that missed the ended call")
	require.Equal(t, budget.ScopeRequest, be.Scope)
	require.EqualValues(t, 6_000_000_000, be.SpentPUSD, "judged on what the first call really cost")
	require.Equal(t, []string{"T1 gpt-4.1"}, e.inner.models(), "the second call never reached the provider")
}
