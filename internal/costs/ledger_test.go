package costs_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

// scripted is a provider that answers every call with the usage it is told.
type scripted struct {
	name   string
	usage  llm.Usage
	cached bool
}

func (s *scripted) Name() string { return s.name }
func (s *scripted) Chat(_ context.Context, req llm.Request) (*llm.Response, error) {
	return &llm.Response{Content: "ok", FinishReason: llm.FinishStop, Model: req.Model, Provider: s.name, Usage: s.usage, Cached: s.cached}, nil
}
func (s *scripted) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	return s.Chat(ctx, req)
}

// openStores returns a fresh SQLite store, and a PostgreSQL one when the
// test services run.
func openStores(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) store.Store {
			s, err := store.OpenPostgres(t.Context(), storetest.PostgresURL(t))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// catalogueEntry is the catalogue's own text for one model, read here
// independently of package pricing.
type catalogueEntry struct {
	Provider    string `yaml:"provider"`
	Model       string `yaml:"model"`
	Kind        string `yaml:"kind"`
	Input       string `yaml:"input"`
	CachedInput string `yaml:"cached_input"`
	Output      string `yaml:"output"`
}

func readCatalogue(t *testing.T) []catalogueEntry {
	t.Helper()
	b, err := readFile("../pricing/catalogue.yaml")
	require.NoError(t, err)
	var f struct {
		Models []catalogueEntry `yaml:"models"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	require.NotEmpty(t, f.Models)
	return f.Models
}

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	if s == "" {
		return new(big.Rat)
	}
	r, ok := new(big.Rat).SetString(s)
	require.True(t, ok, s)
	return r
}

// exactUSD is the call's cost in dollars, from the catalogue's decimal
// prices per million tokens.
func exactUSD(t *testing.T, e catalogueEntry, in, cached, out int64) *big.Rat {
	cachedPrice := e.CachedInput
	if cachedPrice == "" {
		cachedPrice = e.Input
	}
	v := new(big.Rat).Mul(big.NewRat(in-cached, 1), rat(t, e.Input))
	v.Add(v, new(big.Rat).Mul(big.NewRat(cached, 1), rat(t, cachedPrice)))
	v.Add(v, new(big.Rat).Mul(big.NewRat(out, 1), rat(t, e.Output)))
	return v.Quo(v, big.NewRat(1_000_000, 1))
}

// roundUSD rounds dollars half up to the micro-dollar.
func roundUSD(d *big.Rat) string {
	v := new(big.Rat).Add(d, big.NewRat(1, 2_000_000))
	micro := new(big.Int).Quo(new(big.Int).Mul(v.Num(), big.NewInt(1_000_000)), v.Denom())
	return fmt.Sprintf("%d.%06d", new(big.Int).Quo(micro, big.NewInt(1_000_000)), new(big.Int).Rem(micro, big.NewInt(1_000_000)))
}

// TestLedgerMatchesTheCatalogueToTheMicroDollar runs a scripted call with
// known token counts through the metering wrapper for every model in the
// catalogue (and a cache hit of each), then reads the ledger's rollups.
func TestLedgerMatchesTheCatalogueToTheMicroDollar(t *testing.T) {
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	entries := readCatalogue(t)
	for backend, open := range openStores(t) {
		t.Run(backend, func(t *testing.T) {
			st := open(t)
			// The metering wrapper stamps rows with the time of the call.
			day := time.Now().UTC()
			want := map[string]string{}
			wantTotal := new(big.Rat)
			for i, e := range entries {
				in, cached, out := int64(123_457+i), int64(23_456), int64(7_891+i)
				if e.Kind == "embedding" {
					cached, out = 0, 0
				}
				p := &scripted{name: e.Provider, usage: llm.Usage{InputTokens: int(in), CachedInputTokens: int(cached), OutputTokens: int(out)}}
				m, err := llm.NewMetered(p, prices, st, logx.Discard(), e.Model)
				require.NoError(t, err, "%s/%s is priced", e.Provider, e.Model)
				meta := llm.Meta{TenantID: "acme", JobID: "job-" + e.Provider, TaskID: "t1", Attempt: 1, Tier: "T1", Role: "coder"}
				resp, err := m.Chat(t.Context(), llm.Request{Model: e.Model, Meta: meta})
				require.NoError(t, err)
				key := e.Provider + "/" + e.Model
				exact := exactUSD(t, e, in, cached, out)
				want[key] = roundUSD(exact)
				require.Equal(t, want[key], pricing.USD(resp.CostPUSD), key)
				wantTotal.Add(wantTotal, exact)

				// The same call answered from QLP's response cache costs nothing.
				p.cached = true
				meta.Attempt = 2
				resp, err = m.Chat(t.Context(), llm.Request{Model: e.Model, Meta: meta})
				require.NoError(t, err)
				require.Zero(t, resp.CostPUSD, "a cache hit is not billed again")
			}

			svc, err := costs.New(costs.Defaults(), costs.Deps{Ledger: st, Prices: prices, Plan: &costs.Plan{}, Now: func() time.Time { return day }})
			require.NoError(t, err)
			rep, err := svc.Report(t.Context(), costs.ReportQuery{TenantID: "acme", Since: day.AddDate(0, 0, -1), Until: day.AddDate(0, 0, 1)})
			require.NoError(t, err)
			require.Len(t, rep.ByModel, len(entries), "one line per catalogue model")
			for _, l := range rep.ByModel {
				key := l.Provider + "/" + l.Model
				require.Equal(t, want[key], l.CostUSD, key)
				require.Equal(t, 2, l.Calls, key)
				require.Equal(t, 1, l.CachedCalls, key)
			}
			require.Equal(t, roundUSD(wantTotal), rep.TotalCostUSD, "the total is the exact sum, rounded once")
			require.Equal(t, 2*len(entries), rep.TotalCalls)
			var daily []string
			for _, d := range rep.DailyBreakdown {
				daily = append(daily, d.CostUSD)
			}
			if len(daily) == 1 { // unless the run straddled midnight UTC
				require.Equal(t, day.Format(time.DateOnly), rep.DailyBreakdown[0].Date)
				require.Equal(t, rep.TotalCostUSD, daily[0])
			}

			// Attribution down to the attempt: the second attempt is the cache hit.
			jobRep, err := svc.Report(t.Context(), costs.ReportQuery{TenantID: "acme", JobID: "job-openai", Since: day.AddDate(0, 0, -1), Until: day.AddDate(0, 0, 1)})
			require.NoError(t, err)
			for _, l := range jobRep.ByTask {
				require.Equal(t, "t1", l.TaskID)
				require.Equal(t, "T1", l.Tier)
				if l.Attempt == 2 {
					require.Equal(t, "0.000000", l.CostUSD)
					require.Equal(t, 1, l.CachedCalls)
				}
			}
		})
	}
}

func TestReportBreakdownsAndProjections(t *testing.T) {
	st := openStores(t)["sqlite"](t)
	now := time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC) // ten days into November
	for _, u := range []store.Usage{
		{TenantID: "acme", JobID: "j1", TaskID: "t1", Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4o-mini", InputTokens: 10, OutputTokens: 5, CostPUSD: 3_000_000_000_000, CreatedAt: now.AddDate(0, 0, -2)},
		{TenantID: "acme", JobID: "j1", Tier: "T2", Role: "decomposer", Provider: "openai", Model: "gpt-4.1", InputTokens: 10, OutputTokens: 5, CostPUSD: 1_000_000_000_000, CreatedAt: now.AddDate(0, 0, -2)},
		{TenantID: "acme", JobID: "j2", TaskID: "t1", Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4o-mini", InputTokens: 10, OutputTokens: 5, CostPUSD: 2_000_000_000_000, CreatedAt: now.AddDate(0, 0, -15)},
		{TenantID: "globex", JobID: "g1", Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4o-mini", InputTokens: 1, OutputTokens: 1, CostPUSD: 7_000_000_000_000, CreatedAt: now.AddDate(0, 0, -1)},
	} {
		require.NoError(t, st.RecordUsage(t.Context(), u))
	}
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	svc, err := costs.New(costs.Defaults(), costs.Deps{Ledger: st, Prices: prices, Plan: &costs.Plan{}, Now: func() time.Time { return now }})
	require.NoError(t, err)

	rep, err := svc.Report(t.Context(), costs.ReportQuery{TenantID: "acme", Since: now.AddDate(0, 0, -30), Until: now})
	require.NoError(t, err)
	require.Equal(t, "6.000000", rep.TotalCostUSD)
	require.Equal(t, 3, rep.TotalCalls)
	require.Equal(t, []string{"2026-10-27", "2026-11-09"}, []string{rep.DailyBreakdown[0].Date, rep.DailyBreakdown[1].Date})
	require.Equal(t, "2.000000", rep.MonthlyBreakdown[0].CostUSD)
	require.Equal(t, "2026-10", rep.MonthlyBreakdown[0].Month)
	require.Equal(t, "0.200000", rep.AverageDailyCostUSD, "$6 over 30 days")
	require.Equal(t, "6.000000", rep.ProjectedMonthlyCostUSD)
	require.Equal(t, "2026-11", rep.CurrentMonth.Month)
	require.Equal(t, "4.000000", rep.CurrentMonth.ToDate)
	require.Equal(t, "12.000000", rep.CurrentMonth.ProjectedUSD, "$4 in 10 days of a 30-day month")
	require.Contains(t, rep.Projection, "not measurements")
	require.Len(t, rep.ByTier, 2)
	require.Empty(t, rep.ByTenant, "a tenant sees no other tenant")

	all, err := svc.Report(t.Context(), costs.ReportQuery{AllTenants: true, Since: now.AddDate(0, 0, -30), Until: now})
	require.NoError(t, err)
	require.Equal(t, "13.000000", all.TotalCostUSD)
	require.Len(t, all.ByTenant, 2)

	job, err := svc.Report(t.Context(), costs.ReportQuery{TenantID: "acme", JobID: "j1", Since: now.AddDate(0, 0, -30), Until: now})
	require.NoError(t, err)
	require.Equal(t, "4.000000", job.TotalCostUSD)
	require.Len(t, job.ByTask, 2)
	require.Empty(t, job.ProjectedMonthlyCostUSD, "a job has no monthly projection")
	whole, err := svc.Report(t.Context(), costs.ReportQuery{TenantID: "acme", JobID: "j1"})
	require.NoError(t, err, "a job's report needs no period")
	require.Nil(t, whole.Period)
	require.Equal(t, "4.000000", whole.TotalCostUSD)
	other, err := svc.Report(t.Context(), costs.ReportQuery{TenantID: "globex", JobID: "j1"})
	require.NoError(t, err)
	require.Equal(t, "0.000000", other.TotalCostUSD, "another tenant's job shows nothing")

	_, err = svc.Report(t.Context(), costs.ReportQuery{Since: now, Until: now.Add(time.Hour)})
	require.Error(t, err, "a report needs a tenant")
	_, err = svc.Report(t.Context(), costs.ReportQuery{TenantID: "acme", Since: now, Until: now})
	require.Error(t, err, "an empty period")
}

func TestEstimate(t *testing.T) {
	st := openStores(t)["sqlite"](t)
	now := time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	tiers := []costs.TierModel{{"T0", "openai", "gpt-4.1-nano"}, {"T1", "openai", "gpt-4.1-mini"}, {"T2", "openai", "gpt-4.1"}, {"T3", "openai", "o3"}}
	svc, err := costs.New(costs.Defaults(), costs.Deps{Ledger: st, Prices: prices, Plan: &costs.Plan{}, Tiers: tiers, Now: func() time.Time { return now }})
	require.NoError(t, err)

	// Nothing observed: the earlier QLP's baseline, 2000 in / 5000 out, × 5 for
	// medium × 1.4 for two stack items.
	e, err := svc.Estimate(t.Context(), costs.EstimateQuery{Complexity: "medium", TechStack: []string{"go", "postgres"}})
	require.NoError(t, err)
	require.Equal(t, "baseline", e.Basis)
	require.Equal(t, map[string]int{"input": 14_000, "output": 35_000, "total": 49_000}, e.EstimatedTokens)
	require.Equal(t, "T1", e.RecommendedTier)
	require.Equal(t, "gpt-4.1-mini", e.RecommendedModel)
	require.Equal(t, "0.061600", e.EstimatedCostUSD, "14000 × $0.40/M + 35000 × $1.60/M")
	require.Len(t, e.EstimatedCosts, 4)
	require.Contains(t, e.Method, "not a measurement")

	// Observed: two T0 coder tasks averaging 1000 in / 300 out, one plan of 500 / 200.
	for _, u := range []store.Usage{
		{TenantID: "acme", JobID: "j1", TaskID: "a", Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4.1-nano", InputTokens: 700, OutputTokens: 200, CreatedAt: now.Add(-time.Hour)},
		{TenantID: "acme", JobID: "j1", TaskID: "a", Attempt: 2, Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4.1-nano", InputTokens: 500, OutputTokens: 100, CreatedAt: now.Add(-time.Hour)},
		{TenantID: "acme", JobID: "j1", TaskID: "b", Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4.1-nano", InputTokens: 800, OutputTokens: 300, CreatedAt: now.Add(-time.Hour)},
		{TenantID: "acme", JobID: "j1", Tier: "T2", Role: "decomposer", Provider: "openai", Model: "gpt-4.1", InputTokens: 500, OutputTokens: 200, CreatedAt: now.Add(-time.Hour)},
	} {
		require.NoError(t, st.RecordUsage(t.Context(), u))
	}
	e, err = svc.Estimate(t.Context(), costs.EstimateQuery{Complexity: "simple"})
	require.NoError(t, err)
	require.Equal(t, "observed", e.Basis)
	require.Equal(t, &costs.TokenStats{Tier: "T0", Tasks: 2, AvgInputTokensPerTask: 1000, AvgOutputTokensPerTask: 300}, e.Observed)
	require.Equal(t, map[string]int{"input": 2*1000 + 500, "output": 2*300 + 200, "total": 3300}, e.EstimatedTokens)
	require.Equal(t, "0.000570", e.EstimatedCostUSD, "2500 × $0.10/M + 800 × $0.40/M on gpt-4.1-nano")

	_, err = svc.Estimate(t.Context(), costs.EstimateQuery{Complexity: "galactic"})
	var fe *costs.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "complexity", fe.Field)
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
