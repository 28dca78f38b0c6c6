package costs

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

// End reasons of a pool.
const (
	EndExhausted     = "exhausted"      // the balance reaches zero
	EndExpired       = "expired"        // the expiry date comes first
	EndBeyondHorizon = "beyond_horizon" // neither within the horizon
)

// RunwayMethod says how the runway is computed.
const RunwayMethod = "a projection, not a measurement. Balance today = amount (GBP at the configured rate) − metered LLM spend of the pool's providers since the pool starts − the pool's infrastructure accrued at its monthly cost since `starts` (modelled; none without a start date). From today the balance falls each month by the pool's infrastructure (the cost plan) plus the LLM spend of its providers observed over the trend window, scaled to an average month (30.4375 days). A pool ends when its balance reaches zero (runs out) or the day after its expiry date, whichever comes first; credit left at expiry is lost."

// Runway is each credit pool's projected balance.
type Runway struct {
	AsOf            time.Time       `json:"as_of"`
	Plan            string          `json:"plan"`
	GBPUSDRate      string          `json:"gbp_usd_rate,omitempty"`
	TrendDays       int             `json:"trend_days"`
	HorizonMonths   int             `json:"horizon_months"`
	Method          string          `json:"method"`
	Infrastructure  []InfraLine     `json:"infrastructure"`
	InfraMonthlyUSD string          `json:"infrastructure_monthly_usd"`
	LLMTrend        []ProviderTrend `json:"llm_trend"`
	Pools           []PoolRunway    `json:"pools"`
	// Uncovered is the monthly cost no pool pays: cash.
	Uncovered Burn `json:"uncovered"`
	// CreditsUSD sums every pool's amount; BalanceUSD what is left today of
	// the pools not expired.
	CreditsUSD string `json:"credits_usd"`
	BalanceUSD string `json:"balance_usd"`
}

// InfraLine is one infrastructure cost of the plan.
type InfraLine struct {
	Name       string `json:"name"`
	Monthly    string `json:"monthly"`
	Currency   string `json:"currency"`
	MonthlyUSD string `json:"monthly_usd"`
	Pool       string `json:"pool,omitempty"`
}

// ProviderTrend is a provider's observed LLM spend and its monthly rate.
type ProviderTrend struct {
	Provider    string `json:"provider"`
	ObservedUSD string `json:"observed_usd"`
	MonthlyUSD  string `json:"monthly_usd"`
	Pool        string `json:"pool,omitempty"`
	monthly     float64
}

// Burn is a monthly cost, split by what causes it.
type Burn struct {
	InfraMonthlyUSD string `json:"infrastructure_monthly_usd"`
	LLMMonthlyUSD   string `json:"llm_monthly_usd"`
	MonthlyUSD      string `json:"monthly_usd"`
}

// Point is a pool's projected balance on a date.
type Point struct {
	Date       string  `json:"date"`
	BalanceUSD string  `json:"balance_usd"`
	Balance    float64 `json:"-"`
	Day        float64 `json:"-"` // days after AsOf
}

// PoolRunway is one pool's balance today and its projection.
type PoolRunway struct {
	Name            string   `json:"name"`
	Currency        string   `json:"currency"`
	Amount          string   `json:"amount"`
	AmountUSD       string   `json:"amount_usd"`
	Providers       []string `json:"providers"`
	Starts          string   `json:"starts,omitempty"`
	Expires         string   `json:"expires,omitempty"`
	MeteredSpentUSD string   `json:"metered_spent_usd"`
	InfraAccruedUSD string   `json:"infrastructure_accrued_usd"`
	BalanceUSD      string   `json:"balance_usd"`
	Burn
	// RunsOut is the date the balance reaches zero at this burn, when it
	// does within the horizon (and before expiry or not).
	RunsOut string `json:"runs_out,omitempty"`
	// Ends is the date the pool stops paying, EndsMonth its month, and
	// EndReason why: exhausted, expired or beyond_horizon.
	Ends      string `json:"ends,omitempty"`
	EndsMonth string `json:"ends_month,omitempty"`
	EndReason string `json:"end_reason"`
	// UnusedUSD is the credit left when the pool expires.
	UnusedUSD string  `json:"unused_at_expiry_usd,omitempty"`
	Series    []Point `json:"series"`

	amountPUSD  int64
	balancePUSD int64
	endDay      float64 // days after AsOf; -1 beyond the horizon
}

// Runway projects every pool's balance from now.
func (s *Service) Runway(ctx context.Context) (Runway, error) {
	return s.RunwayAt(ctx, s.now())
}

// RunwayAt projects every pool's balance from asOf.
func (s *Service) RunwayAt(ctx context.Context, asOf time.Time) (Runway, error) {
	asOf = asOf.UTC()
	plan := s.plan
	r := Runway{AsOf: asOf, Plan: plan.Source, GBPUSDRate: plan.Rates.GBPUSD(), TrendDays: s.cfg.TrendDays, HorizonMonths: s.cfg.HorizonMonths,
		Method: RunwayMethod, Infrastructure: []InfraLine{}, LLMTrend: []ProviderTrend{}, Pools: []PoolRunway{}}
	var infraTotal, cashInfra int64
	for _, it := range plan.Infrastructure {
		r.Infrastructure = append(r.Infrastructure, InfraLine{Name: it.Name, Monthly: pricing.FormatMicros(it.Monthly), Currency: string(it.Currency),
			MonthlyUSD: pricing.USD(it.MonthlyPUSD), Pool: it.Pool})
		infraTotal += it.MonthlyPUSD
		if it.Pool == "" {
			cashInfra += it.MonthlyPUSD
		}
	}
	r.InfraMonthlyUSD = pricing.USD(infraTotal)

	// The LLM trend: each provider's spend over the window, per month.
	groups, err := s.ledger.RollupUsage(ctx, store.RollupQuery{Filter: store.UsageFilter{Since: asOf.AddDate(0, 0, -s.cfg.TrendDays), Until: asOf},
		By: []string{store.GroupProvider}})
	if err != nil {
		return Runway{}, fmt.Errorf("costs: runway: LLM trend: %w", err)
	}
	llmByPool := map[string]float64{}
	for _, g := range groups {
		t := ProviderTrend{Provider: g.Provider, ObservedUSD: pricing.USD(g.CostPUSD)}
		t.monthly = float64(g.CostPUSD) / float64(s.cfg.TrendDays) * DaysPerMonth
		t.MonthlyUSD = pricing.USD(int64(math.Round(t.monthly)))
		if pool, ok := plan.PoolFor(g.Provider); ok {
			t.Pool = pool.Name
		}
		llmByPool[t.Pool] += t.monthly
		r.LLMTrend = append(r.LLMTrend, t)
	}
	r.Uncovered = burn(cashInfra, llmByPool[""])

	horizonEnd := asOf.AddDate(0, s.cfg.HorizonMonths, 0)
	horizonDays := horizonEnd.Sub(asOf).Hours() / 24
	var credits, balance int64
	for _, pool := range plan.Pools {
		st, err := plan.Status(ctx, s.ledger, pool, asOf)
		if err != nil {
			return Runway{}, err
		}
		pr := PoolRunway{Name: pool.Name, Currency: string(pool.Currency), Amount: pricing.FormatMicros(pool.Amount), AmountUSD: pricing.USD(pool.AmountPUSD),
			Providers: append([]string{}, pool.Providers...), MeteredSpentUSD: pricing.USD(st.MeteredPUSD), InfraAccruedUSD: pricing.USD(st.InfraAccruedPUSD),
			BalanceUSD: pricing.USD(st.BalancePUSD), Burn: burn(plan.InfraMonthlyPUSD(pool.Name), llmByPool[pool.Name]),
			amountPUSD: pool.AmountPUSD, balancePUSD: st.BalancePUSD, Series: []Point{}}
		if !pool.Starts.IsZero() {
			pr.Starts = pool.Starts.Format(time.DateOnly)
		}
		if !pool.Expires.IsZero() {
			pr.Expires = pool.Expires.Format(time.DateOnly)
		}
		credits += pool.AmountPUSD
		if !st.Expired && st.BalancePUSD > 0 {
			balance += st.BalancePUSD
		}
		project(&pr, pool, st, plan.InfraMonthlyPUSD(pool.Name), llmByPool[pool.Name], asOf, horizonDays)
		r.Pools = append(r.Pools, pr)
	}
	r.CreditsUSD, r.BalanceUSD = pricing.USD(credits), pricing.USD(balance)
	return r, nil
}

func burn(infraPUSD int64, llmPUSD float64) Burn {
	llm := int64(math.Round(llmPUSD))
	return Burn{InfraMonthlyUSD: pricing.USD(infraPUSD), LLMMonthlyUSD: pricing.USD(llm), MonthlyUSD: pricing.USD(infraPUSD + llm)}
}

// project fills the pool's end and its monthly series.
func project(pr *PoolRunway, pool Pool, st PoolStatus, infraPUSD int64, llmPUSD float64, asOf time.Time, horizonDays float64) {
	perDay := (float64(infraPUSD) + llmPUSD) / DaysPerMonth
	bal := float64(st.BalancePUSD)
	if bal < 0 {
		bal = 0
	}
	day := func(t time.Time) float64 { return t.Sub(asOf).Hours() / 24 }
	at := func(d float64) time.Time { return asOf.Add(time.Duration(d * 24 * float64(time.Hour))) }

	outDay := math.Inf(1) // when the balance reaches zero
	if bal == 0 {
		outDay = 0
	} else if perDay > 0 {
		outDay = bal / perDay
	}
	expDay := math.Inf(1) // the first day the credit cannot be used
	if e := pool.EndOfUse(); !e.IsZero() {
		expDay = day(e)
	}
	end, reason := math.Min(outDay, expDay), EndExhausted
	if expDay < outDay {
		reason = EndExpired
	}
	if !math.IsInf(outDay, 1) && outDay <= horizonDays {
		pr.RunsOut = at(outDay).Format(time.DateOnly)
	}
	pr.endDay = -1
	if end > horizonDays {
		pr.EndReason = EndBeyondHorizon
	} else {
		pr.EndReason, pr.endDay = reason, end
		endT := at(end)
		if reason == EndExpired {
			endT = pool.Expires // the last day of use
		}
		pr.Ends, pr.EndsMonth = endT.Format(time.DateOnly), endT.Format("2006-01")
		if reason == EndExpired {
			left := bal - perDay*math.Max(end, 0)
			pr.UnusedUSD = pricing.USD(int64(math.Round(math.Max(left, 0))))
		}
	}
	if end <= 0 {
		return // nothing left to draw
	}
	balanceAt := func(d float64) float64 { return math.Max(bal-perDay*d, 0) }
	for k := 0; ; k++ {
		t := asOf.AddDate(0, k, 0)
		d := day(t)
		if d > horizonDays || d >= end {
			break
		}
		pr.Series = append(pr.Series, point(t, d, balanceAt(d)))
	}
	if end <= horizonDays {
		pr.Series = append(pr.Series, point(at(end), end, balanceAt(end)))
	}
}

func point(t time.Time, d, pusd float64) Point {
	return Point{Date: t.Format(time.DateOnly), BalanceUSD: pricing.USD(int64(math.Round(pusd))), Balance: pusd / 1e12, Day: d}
}
