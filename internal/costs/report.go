package costs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

// Ledger is the part of the store the reports read. Every sum is computed
// by the database.
type Ledger interface {
	UsageSummer
	RollupUsage(ctx context.Context, q store.RollupQuery) ([]store.UsageGroup, error)
}

// TierModel is the model that answers for a tier.
type TierModel struct {
	Tier     string `json:"tier"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// Deps are the service's collaborators.
type Deps struct {
	Ledger Ledger
	Prices *pricing.Catalogue
	Plan   *Plan
	// Tiers are the configured models, cheapest tier first, for estimates.
	Tiers []TierModel
	Now   func() time.Time
}

// Service answers cost questions.
type Service struct {
	cfg    Config
	ledger Ledger
	prices *pricing.Catalogue
	plan   *Plan
	tiers  []TierModel
	now    func() time.Time
}

// New returns a service.
func New(cfg Config, d Deps) (*Service, error) {
	if d.Ledger == nil || d.Prices == nil || d.Plan == nil {
		return nil, errors.New("costs: New needs a ledger, a price catalogue and a plan")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	for _, t := range d.Tiers {
		if _, err := d.Prices.Lookup(t.Provider, t.Model); err != nil {
			return nil, fmt.Errorf("costs: tier %s: %w", t.Tier, err)
		}
	}
	return &Service{cfg: cfg, ledger: d.Ledger, prices: d.Prices, plan: d.Plan, tiers: d.Tiers, now: d.Now}, nil
}

// Plan returns the cost plan in force.
func (s *Service) Plan() *Plan { return s.plan }

// ReportQuery selects the usage a report covers: [Since, Until).
type ReportQuery struct {
	TenantID string
	// AllTenants reports every tenant (an administrator's view) and breaks
	// the total down by tenant.
	AllTenants bool
	// JobID limits the report to one job (request) and breaks it down by
	// task and attempt; without Since and Until it covers the whole job.
	JobID string
	Since time.Time
	Until time.Time
}

// Line is one row of a breakdown. Money is USD with six decimals.
type Line struct {
	Date              string `json:"date,omitempty"`
	Month             string `json:"month,omitempty"`
	TenantID          string `json:"tenant_id,omitempty"`
	TaskID            string `json:"task_id,omitempty"`
	Attempt           int    `json:"attempt,omitempty"`
	Role              string `json:"role,omitempty"`
	Tier              string `json:"tier,omitempty"`
	Provider          string `json:"provider,omitempty"`
	Model             string `json:"model,omitempty"`
	Calls             int    `json:"calls"`
	CachedCalls       int    `json:"cached_calls"`
	InputTokens       int64  `json:"input_tokens"`
	CachedInputTokens int64  `json:"cached_input_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	CostUSD           string `json:"cost_usd"`
	CostPUSD          int64  `json:"-"`
}

// Period is the time a report covers.
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Days  float64   `json:"days"`
}

// Report is what the usage of a tenant, all tenants or one job cost. It
// keeps the earlier QLP's fields (totals, daily breakdown, average per day,
// projected month) with exact amounts.
type Report struct {
	TenantID          string  `json:"tenant_id,omitempty"`
	RequestID         string  `json:"request_id,omitempty"`
	Period            *Period `json:"period,omitempty"`
	TotalCostUSD      string  `json:"total_cost_usd"`
	TotalCalls        int     `json:"total_calls"`
	CachedCalls       int     `json:"cached_calls"`
	InputTokens       int64   `json:"input_tokens"`
	CachedInputTokens int64   `json:"cached_input_tokens"`
	OutputTokens      int64   `json:"output_tokens"`
	TotalTokens       int64   `json:"total_tokens"`
	// AverageDailyCostUSD is the total over the period's days.
	AverageDailyCostUSD string `json:"average_daily_cost_usd,omitempty"`
	// ProjectedMonthlyCostUSD is AverageDailyCostUSD × 30, the earlier
	// QLP's projection.
	ProjectedMonthlyCostUSD string `json:"projected_monthly_cost_usd,omitempty"`
	// CurrentMonth is the calendar month so far and its projected end.
	CurrentMonth *MonthToDate `json:"current_month,omitempty"`
	Projection   string       `json:"projection,omitempty"`

	DailyBreakdown   []Line `json:"daily_breakdown"`
	MonthlyBreakdown []Line `json:"monthly_breakdown"`
	ByTenant         []Line `json:"by_tenant,omitempty"`
	ByProvider       []Line `json:"by_provider"`
	ByModel          []Line `json:"by_model"`
	ByTier           []Line `json:"by_tier"`
	ByRole           []Line `json:"by_role"`
	ByTask           []Line `json:"by_task,omitempty"`
	TotalCostPUSD    int64  `json:"-"`
}

// MonthToDate is the current calendar month's spend and its projection.
type MonthToDate struct {
	Month   string `json:"month"`
	ToDate  string `json:"to_date_usd"`
	Elapsed string `json:"days_elapsed"`
	// ProjectedUSD is ToDate / days elapsed × days in the month: a
	// projection at the month's pace so far.
	ProjectedUSD string `json:"projected_usd"`
}

// ProjectionMethod says how the report's projections are computed.
const ProjectionMethod = "projections, not measurements: projected_monthly_cost_usd = average daily cost over the period × 30; current_month.projected_usd = month-to-date cost ÷ days elapsed × days in the month"

// Report sums the usage q selects.
func (s *Service) Report(ctx context.Context, q ReportQuery) (Report, error) {
	if q.TenantID == "" && !q.AllTenants {
		return Report{}, errors.New("costs: report needs a tenant")
	}
	whole := q.JobID != "" && q.Since.IsZero() && q.Until.IsZero()
	if !whole && !q.Until.After(q.Since) {
		return Report{}, fmt.Errorf("costs: report period %s..%s is empty", q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
	}
	f := store.UsageFilter{TenantID: q.TenantID, JobID: q.JobID, Since: q.Since, Until: q.Until}
	if q.AllTenants {
		f.TenantID = ""
	}
	r := Report{TenantID: f.TenantID, RequestID: q.JobID}
	if !whole {
		r.Period = &Period{Start: q.Since.UTC(), End: q.Until.UTC(), Days: q.Until.Sub(q.Since).Hours() / 24}
	}
	roll := func(period string, by ...string) ([]Line, error) {
		groups, err := s.ledger.RollupUsage(ctx, store.RollupQuery{Filter: f, Period: period, By: by})
		if err != nil {
			return nil, fmt.Errorf("costs: report: %w", err)
		}
		lines := make([]Line, 0, len(groups))
		for _, g := range groups {
			lines = append(lines, line(g, period))
		}
		return lines, nil
	}
	total, err := roll("")
	if err != nil {
		return Report{}, err
	}
	if len(total) == 1 {
		t := total[0]
		r.TotalCalls, r.CachedCalls, r.InputTokens, r.CachedInputTokens, r.OutputTokens = t.Calls, t.CachedCalls, t.InputTokens, t.CachedInputTokens, t.OutputTokens
		r.TotalCostPUSD = t.CostPUSD
	}
	r.TotalCostUSD, r.TotalTokens = pricing.USD(r.TotalCostPUSD), r.InputTokens+r.OutputTokens
	for _, b := range []struct {
		dst    *[]Line
		period string
		by     []string
		want   bool
	}{
		{&r.DailyBreakdown, store.PeriodDay, nil, true},
		{&r.MonthlyBreakdown, store.PeriodMonth, nil, true},
		{&r.ByTenant, "", []string{store.GroupTenant}, q.AllTenants},
		{&r.ByProvider, "", []string{store.GroupProvider}, true},
		{&r.ByModel, "", []string{store.GroupProvider, store.GroupModel}, true},
		{&r.ByTier, "", []string{store.GroupTier}, true},
		{&r.ByRole, "", []string{store.GroupRole}, true},
		{&r.ByTask, "", []string{store.GroupTask, store.GroupAttempt, store.GroupRole, store.GroupTier, store.GroupProvider, store.GroupModel}, q.JobID != ""},
	} {
		if !b.want {
			continue
		}
		if *b.dst, err = roll(b.period, b.by...); err != nil {
			return Report{}, err
		}
	}
	if q.JobID != "" {
		return r, nil
	}
	if days := r.Period.Days; days > 0 {
		avg := int64(float64(r.TotalCostPUSD) / days)
		r.AverageDailyCostUSD, r.ProjectedMonthlyCostUSD = pricing.USD(avg), pricing.USD(avg*30)
	}
	now := s.now().UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	mtd, err := s.ledger.SumUsage(ctx, store.UsageFilter{TenantID: f.TenantID, Since: start, Until: now})
	if err != nil {
		return Report{}, fmt.Errorf("costs: report: month to date: %w", err)
	}
	elapsed := now.Sub(start).Hours() / 24
	inMonth := float64(start.AddDate(0, 1, 0).Sub(start).Hours() / 24)
	cm := &MonthToDate{Month: start.Format("2006-01"), ToDate: pricing.USD(mtd.CostPUSD), Elapsed: fmt.Sprintf("%.2f", elapsed)}
	if elapsed > 0 {
		cm.ProjectedUSD = pricing.USD(int64(float64(mtd.CostPUSD) / elapsed * inMonth))
	}
	r.CurrentMonth, r.Projection = cm, ProjectionMethod
	return r, nil
}

func line(g store.UsageGroup, period string) Line {
	l := Line{TenantID: g.TenantID, TaskID: g.TaskID, Attempt: g.Attempt, Role: g.Role, Tier: g.Tier, Provider: g.Provider, Model: g.Model,
		Calls: g.Calls, CachedCalls: g.CachedCalls, InputTokens: g.InputTokens, CachedInputTokens: g.CachedInputTokens,
		OutputTokens: g.OutputTokens, CostUSD: pricing.USD(g.CostPUSD), CostPUSD: g.CostPUSD}
	switch period {
	case store.PeriodDay:
		l.Date = g.Period
	case store.PeriodMonth:
		l.Month = g.Period
	}
	return l
}
