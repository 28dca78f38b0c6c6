package costs_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

var updateDocs = flag.Bool("update-docs", false, "write the seed's runway chart to docs/costs-runway-seed.svg")

const seedPlan = "../../examples/costs/seed.yaml"

// TestSeedRunway projects the deployment strategy's credits (Azure £4,000,
// AWS £950, MongoDB Atlas $500 to April 2026, Temporal Cloud $906.45 to
// October 2025) under its $300/month infrastructure table and an observed
// Bedrock spend of $2 a day, as of 1 June 2025, and draws the chart.
func TestSeedRunway(t *testing.T) {
	st := openStores(t)["sqlite"](t)
	asOf := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, u := range []store.Usage{
		// $60 of Bedrock calls in the 30-day trend window: $2 a day.
		{TenantID: "acme", Provider: "bedrock", Model: "amazon.nova-pro-v1:0", InputTokens: 1, CostPUSD: 20_000_000_000_000, CreatedAt: asOf.AddDate(0, 0, -10)},
		{TenantID: "acme", Provider: "bedrock", Model: "amazon.nova-pro-v1:0", InputTokens: 1, CostPUSD: 20_000_000_000_000, CreatedAt: asOf.AddDate(0, 0, -20)},
		{TenantID: "acme", Provider: "bedrock", Model: "amazon.nova-pro-v1:0", InputTokens: 1, CostPUSD: 20_000_000_000_000, CreatedAt: asOf.AddDate(0, 0, -29)},
		// $10 before the window: spent from the AWS credit, not in the trend.
		{TenantID: "acme", Provider: "bedrock", Model: "amazon.nova-pro-v1:0", InputTokens: 1, CostPUSD: 10_000_000_000_000, CreatedAt: asOf.AddDate(0, 0, -60)},
		// $15 of OpenAI calls: no pool pays for them.
		{TenantID: "acme", Provider: "openai", Model: "gpt-4.1", InputTokens: 1, CostPUSD: 15_000_000_000_000, CreatedAt: asOf.AddDate(0, 0, -5)},
		// After the as-of date: not part of this projection.
		{TenantID: "acme", Provider: "bedrock", Model: "amazon.nova-pro-v1:0", InputTokens: 1, CostPUSD: 99_000_000_000_000, CreatedAt: asOf.Add(time.Hour)},
	} {
		require.NoError(t, st.RecordUsage(t.Context(), u))
	}
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	cfg := costs.Defaults()
	cfg.File = seedPlan
	plan, err := cfg.LoadPlan(prices)
	require.NoError(t, err)
	svc, err := costs.New(cfg, costs.Deps{Ledger: st, Prices: prices, Plan: plan})
	require.NoError(t, err)
	r, err := svc.RunwayAt(t.Context(), asOf)
	require.NoError(t, err)

	require.Equal(t, "300.000000", r.InfraMonthlyUSD)
	require.Equal(t, "1.250000", r.GBPUSDRate)
	require.Equal(t, "7593.950000", r.CreditsUSD, "£4,000 + £950 at $1.25, $500 and $906.45")
	require.Equal(t, "0.000000", r.Uncovered.InfraMonthlyUSD, "the whole table runs on the Azure credit")
	require.Equal(t, "15.218750", r.Uncovered.LLMMonthlyUSD, "$15 of OpenAI in 30 days, per average month")

	type want struct {
		amountUSD, balanceUSD, burnUSD, runsOut, ends, endsMonth, reason, unused string
	}
	expect := map[string]want{
		// $5,000 at $300 a month: 507.29 days.
		"azure": {"5000.000000", "5000.000000", "300.000000", "2026-10-21", "2026-10-21", "2026-10", costs.EndExhausted, ""},
		// $1,187.50 − $70 spent = $1,117.50 at $2 a day: 558.75 days.
		"aws": {"1187.500000", "1117.500000", "60.875000", "2026-12-11", "2026-12-11", "2026-12", costs.EndExhausted, ""},
		// Nothing draws on these two: they expire unused.
		"mongodb-atlas":  {"500.000000", "500.000000", "0.000000", "", "2026-04-30", "2026-04", costs.EndExpired, "500.000000"},
		"temporal-cloud": {"906.450000", "906.450000", "0.000000", "", "2025-10-31", "2025-10", costs.EndExpired, "906.450000"},
	}
	require.Len(t, r.Pools, len(expect))
	require.Equal(t, "azure", r.Pools[0].Name, "in the plan's order")
	for _, p := range r.Pools {
		w, ok := expect[p.Name]
		require.True(t, ok, p.Name)
		got := want{p.AmountUSD, p.BalanceUSD, p.MonthlyUSD, p.RunsOut, p.Ends, p.EndsMonth, p.EndReason, p.UnusedUSD}
		require.Equal(t, w, got, p.Name)
	}
	azure := r.Pools[0]
	require.Equal(t, "azure", azure.Name)
	require.Equal(t, "2025-06-01", azure.Series[0].Date)
	require.Equal(t, "5000.000000", azure.Series[0].BalanceUSD)
	require.Equal(t, "2026-06-01", azure.Series[12].Date)
	require.Equal(t, "1402.464066", azure.Series[12].BalanceUSD, "$5,000 − 365 days × $300 / 30.4375")
	require.Equal(t, "0.000000", azure.Series[len(azure.Series)-1].BalanceUSD, "the line ends at zero")
	require.Contains(t, r.Method, "projection, not a measurement")

	// The chart.
	svg := r.SVG()
	path := filepath.Join(t.TempDir(), "runway.svg")
	require.NoError(t, os.WriteFile(path, svg, 0o600))
	if *updateDocs {
		require.NoError(t, os.WriteFile("../../docs/costs-runway-seed.svg", svg, 0o644))
	}
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		Groups  []struct {
			Pool     string `xml:"data-pool,attr"`
			Ends     string `xml:"data-ends,attr"`
			Reason   string `xml:"data-end-reason,attr"`
			Polyline struct {
				Points string `xml:"points,attr"`
			} `xml:"polyline"`
			Texts []string `xml:"text"`
		} `xml:"g"`
		Texts []string `xml:"text"`
	}
	require.NoError(t, xml.Unmarshal(svg, &doc), "the chart is well-formed SVG")
	ends := map[string]string{}
	for _, g := range doc.Groups {
		ends[g.Pool] = g.Ends + " " + g.Reason
		if g.Pool == "azure" {
			// $5,000 at the top of a $0–$5,000 axis, at the left edge.
			require.True(t, strings.HasPrefix(g.Polyline.Points, "90.0,60.0 "), g.Polyline.Points)
			require.Contains(t, strings.Join(g.Texts, "|"), "azure runs out 2026-10")
		}
		if g.Pool == "temporal-cloud" {
			require.Contains(t, strings.Join(g.Texts, "|"), "temporal-cloud expires 2025-10 ($906.45 unused)")
		}
	}
	require.Equal(t, map[string]string{"azure": "2026-10 exhausted", "aws": "2026-12 exhausted",
		"mongodb-atlas": "2026-04 expired", "temporal-cloud": "2025-10 expired"}, ends)
	require.Contains(t, strings.Join(doc.Texts, "|"), "a projection")
	require.Contains(t, strings.Join(doc.Texts, "|"), "GBP at $1.25")

	// The same chart as PNG: it decodes, has the chart's size, and draws
	// every pool's line in its colour.
	b, err := r.PNG()
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err, "the chart is a PNG image")
	require.Equal(t, image.Rect(0, 0, 1040, 560), img.Bounds())
	counts := map[color.RGBA]int{}
	for y := 0; y < 560; y++ {
		for x := 0; x < 1040; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			counts[color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 0xff}]++
		}
	}
	for i, pool := range []string{"azure", "aws", "mongodb-atlas", "temporal-cloud"} {
		c := [][3]uint8{{0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}, {0x94, 0x67, 0xbd}}[i]
		require.Greater(t, counts[color.RGBA{R: c[0], G: c[1], B: c[2], A: 0xff}], 20, "pool %s is not drawn in its colour", pool)
	}
}

// TestPoolBalanceAccruesInfrastructureFromItsStart: with a start date, the
// infrastructure the pool pays for is taken from it month by month.
func TestPoolBalanceAccruesInfrastructureFromItsStart(t *testing.T) {
	st := openStores(t)["sqlite"](t)
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	plan, err := costs.ParsePlan([]byte(`
pools:
  - {name: azure, amount: "5000", currency: USD, providers: [azure], starts: 2025-06-01, expires: 2025-12-31}
infrastructure:
  - {name: AKS, monthly: "300", pool: azure}
`), "", prices)
	require.NoError(t, err)
	require.NoError(t, st.RecordUsage(t.Context(), store.Usage{TenantID: "acme", Provider: "azure", Model: "gpt-4.1", InputTokens: 1,
		CostPUSD: 25_000_000_000_000, CreatedAt: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)}))
	pool := plan.Pools[0]
	at := time.Date(2025, 7, 1, 10, 30, 0, 0, time.UTC) // 30 days 10.5 hours in
	s, err := plan.Status(t.Context(), st, pool, at)
	require.NoError(t, err)
	require.EqualValues(t, 25_000_000_000_000, s.MeteredPUSD)
	// 30 days 10.5 hours is one average month (30.4375 days): $300.
	require.Equal(t, "300.000000", pricing.USD(s.InfraAccruedPUSD))
	require.Equal(t, "4675.000000", pricing.USD(s.BalancePUSD), "$5,000 − $25 metered − $300 infrastructure")
	require.False(t, s.Expired)

	require.False(t, pool.ExpiredAt(time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)), "the expiry date is the last day of use")
	require.True(t, pool.ExpiredAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	s, err = plan.Status(t.Context(), st, pool, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.True(t, s.Expired)
	require.Equal(t, "2109.240246", pricing.USD(s.InfraAccruedPUSD), "infrastructure accrues only until the credit expires: 214 days × $300 / 30.4375")
}

func TestPlanErrorsNameTheField(t *testing.T) {
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	tests := []struct {
		name, yaml, rate, want string
	}{
		{"negative amount", `pools: [{name: a, amount: "-5", currency: USD}]`, "", `pools[0] (a).amount: "-5" is negative`},
		{"unknown currency", `pools: [{name: a, amount: "5", currency: EUR}]`, "", `pools[0] (a).currency: unknown currency "EUR" (want USD or GBP)`},
		{"GBP without a rate", `pools: [{name: a, amount: "5", currency: GBP}]`, "", "QLP_COSTS_GBP_USD_RATE"},
		{"bad rate in the file", `gbp_usd_rate: "-1"`, "", "gbp_usd_rate"},
		{"bad rate setting", ``, "0", "QLP_COSTS_GBP_USD_RATE"},
		{"unknown provider", `pools: [{name: a, amount: "5", providers: [azur]}]`, "", `pools[0] (a).providers: unknown provider "azur"`},
		{"provider in two pools", `pools: [{name: a, amount: "5", providers: [azure]}, {name: b, amount: "5", providers: [azure]}]`, "", `already draws on pool "a"`},
		{"duplicate pool", `pools: [{name: a, amount: "5"}, {name: a, amount: "6"}]`, "", "defined twice"},
		{"missing amount", `pools: [{name: a}]`, "", "pools[0] (a).amount: required"},
		{"bad expiry", `pools: [{name: a, amount: "5", expires: April 2026}]`, "", "pools[0] (a).expires"},
		{"expiry before start", `pools: [{name: a, amount: "5", starts: 2026-01-01, expires: 2025-01-01}]`, "", "is before starts"},
		{"infrastructure on an unknown pool", `infrastructure: [{name: AKS, monthly: "140", pool: azure}]`, "", `infrastructure[0] (AKS).pool: no pool named "azure"`},
		{"negative infrastructure", `infrastructure: [{name: AKS, monthly: "-140"}]`, "", `infrastructure[0] (AKS).monthly: "-140" is negative`},
		{"unknown field", `pool: []`, "", "field pool not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := costs.ParsePlan([]byte(tt.yaml), tt.rate, prices)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}

	// Through the configuration, errors name the setting.
	path := filepath.Join(t.TempDir(), "plan.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`pools: [{name: a, amount: "5", currency: EUR}]`), 0o600))
	cfg := costs.Defaults()
	cfg.File = path
	_, err = cfg.LoadPlan(prices)
	require.ErrorContains(t, err, "costs.file (QLP_COSTS_FILE)")
	cfg.File = filepath.Join(t.TempDir(), "missing.yaml")
	_, err = cfg.LoadPlan(prices)
	require.ErrorContains(t, err, "costs.file (QLP_COSTS_FILE)")
	for _, c := range []costs.Config{{TrendDays: 0, HorizonMonths: 24}, {TrendDays: 30, HorizonMonths: 0}, {TrendDays: 30, HorizonMonths: 24, GBPUSDRate: "x"}} {
		require.ErrorContains(t, c.Validate(), "QLP_COSTS_")
	}

	// The built-in plan: the strategy's table, no pools, paid in cash.
	def := costs.Defaults()
	plan, err := def.LoadPlan(prices)
	require.NoError(t, err)
	require.Empty(t, plan.Pools)
	require.Equal(t, "300.000000", pricing.USD(plan.InfraMonthlyPUSD("")))
}
