package budget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

// Store is the part of the store budgets need.
type Store interface {
	SumUsage(ctx context.Context, f store.UsageFilter) (store.UsageTotals, error)
	GetBudget(ctx context.Context, tenantID string) (store.Budget, error)
	PutBudget(ctx context.Context, b store.Budget) error
	RecordBudgetAlert(ctx context.Context, a store.BudgetAlert) (bool, error)
	ListBudgetAlerts(ctx context.Context, tenantID string, limit int) ([]store.BudgetAlert, error)
}

// Publisher publishes progress events; progress.Bus satisfies it.
type Publisher interface {
	Publish(ctx context.Context, jobID, tenantID, typ, taskID, message string, data any) (store.Event, error)
}

// Deps are the service's collaborators.
type Deps struct {
	Store  Store
	Prices *pricing.Catalogue
	Plan   *costs.Plan
	// Bus receives budget_alert events on the job's stream; may be nil.
	Bus    Publisher
	Logger *slog.Logger
	// HTTPClient delivers webhooks; nil uses one with the configured timeout.
	HTTPClient *http.Client
	Now        func() time.Time
}

// Service holds budgets: it answers and changes them (the API) and guards
// model calls (the worker). It is a prometheus.Collector: register it on
// the registry that serves /metrics.
type Service struct {
	cfg     Config
	def     defaults
	store   Store
	prices  *pricing.Catalogue
	plan    *costs.Plan
	bus     Publisher
	logger  *slog.Logger
	now     func() time.Time
	metrics *metrics
	hook    *webhook

	// mu guards the reservations below. It is held only to read and change
	// them, never across a database query (guard.admit).
	mu       sync.Mutex
	reserved map[string]int64 // scope key → pico-USD of calls in flight
	epoch    uint64           // calls ended so far
	readers  map[uint64]int   // admissions reading the ledger, by the epoch they began at
	ended    []endedCall      // calls ended while an admission was reading, oldest first
	released chan struct{}    // closed and replaced whenever a reservation ends

	firedMu sync.Mutex
	fired   map[string]bool // alerts already recorded, to spare the store
}

// New checks the configuration and returns a service.
func New(cfg Config, d Deps) (*Service, error) {
	def, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	if d.Store == nil || d.Prices == nil || d.Plan == nil {
		return nil, errors.New("budget: New needs a store, a price catalogue and a cost plan")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Service{cfg: cfg, def: def, store: d.Store, prices: d.Prices, plan: d.Plan, bus: d.Bus, logger: d.Logger, now: d.Now,
		metrics: newMetrics(), reserved: map[string]int64{}, readers: map[uint64]int{}, released: make(chan struct{}), fired: map[string]bool{}}
	if cfg.WebhookURL != "" {
		hc := d.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: cfg.WebhookTimeout}
		}
		s.hook = &webhook{url: auth.Secret(cfg.WebhookURL), key: auth.Secret(cfg.WebhookSecret), hc: hc, timeout: cfg.WebhookTimeout, logger: d.Logger, metrics: s.metrics}
	}
	return s, nil
}

// Close waits for webhook deliveries in progress.
func (s *Service) Close() error {
	if s.hook != nil {
		s.hook.wait()
	}
	return nil
}

// Limits are a tenant's budgets in force.
type Limits struct {
	// RequestPUSD, DailyPUSD and MonthlyPUSD are pico-USD, or store.NoLimit.
	RequestPUSD int64
	DailyPUSD   int64
	MonthlyPUSD int64
	Policy      Policy
	// Sources say where each came from: "default" (configuration) or
	// "tenant" (set through the API).
	RequestSource, DailySource, MonthlySource, PolicySource string
	UpdatedBy                                               string
	UpdatedAt                                               time.Time
}

// Limits returns the budgets in force for tenantID.
func (s *Service) Limits(ctx context.Context, tenantID string) (Limits, error) {
	l := Limits{RequestPUSD: s.def.request, DailyPUSD: s.def.daily, MonthlyPUSD: s.def.monthly, Policy: s.def.policy,
		RequestSource: "default", DailySource: "default", MonthlySource: "default", PolicySource: "default"}
	b, err := s.store.GetBudget(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		return l, nil
	}
	if err != nil {
		return Limits{}, fmt.Errorf("budget: limits of %s: %w", tenantID, err)
	}
	set := func(dst *int64, src *string, v *int64) {
		if v != nil {
			*dst, *src = *v, "tenant"
		}
	}
	set(&l.RequestPUSD, &l.RequestSource, b.RequestPUSD)
	set(&l.DailyPUSD, &l.DailySource, b.DailyPUSD)
	set(&l.MonthlyPUSD, &l.MonthlySource, b.MonthlyPUSD)
	if p, err := ParsePolicy(b.Policy); err == nil {
		l.Policy, l.PolicySource = p, "tenant"
	}
	l.UpdatedBy, l.UpdatedAt = b.UpdatedBy, b.UpdatedAt
	return l, nil
}

// Scopes of a budget.
const (
	ScopeRequest       = "request"
	ScopeTenantDaily   = "tenant_daily"
	ScopeTenantMonthly = "tenant_monthly"
	ScopePool          = "pool"
)

// LimitView is one budget as the API shows it. Money is USD with six
// decimals; a nil LimitUSD means no limit.
type LimitView struct {
	LimitUSD    *string  `json:"limit_usd"`
	Source      string   `json:"source"`
	Period      string   `json:"period,omitempty"`
	SpentUSD    string   `json:"spent_usd,omitempty"`
	UsedPercent *float64 `json:"used_percent,omitempty"`
}

// PoolView is a credit pool's state.
type PoolView struct {
	Name             string   `json:"name"`
	Currency         string   `json:"currency"`
	Amount           string   `json:"amount"`
	AmountUSD        string   `json:"amount_usd"`
	Providers        []string `json:"providers"`
	Starts           string   `json:"starts,omitempty"`
	Expires          string   `json:"expires,omitempty"`
	Expired          bool     `json:"expired"`
	MeteredSpentUSD  string   `json:"metered_spent_usd"`
	InfraAccruedUSD  string   `json:"infrastructure_accrued_usd"`
	BalanceUSD       string   `json:"balance_usd"`
	UsedPercent      float64  `json:"used_percent"`
	SpendIsRefused   bool     `json:"spend_refused"`
	RefusedBecauseOf string   `json:"refused_because,omitempty"`
}

// AlertView is a recorded alert.
type AlertView struct {
	Scope     string    `json:"scope"`
	Subject   string    `json:"subject"`
	Period    string    `json:"period,omitempty"`
	Percent   int       `json:"percent"`
	JobID     string    `json:"job_id,omitempty"`
	SpentUSD  string    `json:"spent_usd"`
	LimitUSD  string    `json:"limit_usd"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

// Status is a tenant's budgets, what they have taken so far, the credit
// pools and the recent alerts: GET /api/v2/budgets.
type Status struct {
	TenantID      string               `json:"tenant_id"`
	Policy        Policy               `json:"policy"`
	PolicySource  string               `json:"policy_source"`
	Limits        map[string]LimitView `json:"limits"`
	AlertPercents []int                `json:"alert_percents"`
	Pools         []PoolView           `json:"pools"`
	Alerts        []AlertView          `json:"alerts"`
	PoolAlerts    []AlertView          `json:"pool_alerts"`
	UpdatedBy     string               `json:"updated_by,omitempty"`
	UpdatedAt     *time.Time           `json:"updated_at,omitempty"`
}

// Status reports tenantID's budgets.
func (s *Service) Status(ctx context.Context, tenantID string) (Status, error) {
	l, err := s.Limits(ctx, tenantID)
	if err != nil {
		return Status{}, err
	}
	now := s.now().UTC()
	day, month := dayStart(now), monthStart(now)
	st := Status{TenantID: tenantID, Policy: l.Policy, PolicySource: l.PolicySource, AlertPercents: s.def.percents,
		Limits: map[string]LimitView{}, Pools: []PoolView{}, Alerts: []AlertView{}, PoolAlerts: []AlertView{}, UpdatedBy: l.UpdatedBy}
	if !l.UpdatedAt.IsZero() {
		t := l.UpdatedAt
		st.UpdatedAt = &t
	}
	st.Limits[ScopeRequest] = LimitView{LimitUSD: usdOrNil(l.RequestPUSD), Source: l.RequestSource}
	for _, sc := range []struct {
		name   string
		limit  int64
		source string
		since  time.Time
		period string
	}{
		{ScopeTenantDaily, l.DailyPUSD, l.DailySource, day, day.Format(time.DateOnly)},
		{ScopeTenantMonthly, l.MonthlyPUSD, l.MonthlySource, month, month.Format("2006-01")},
	} {
		tot, err := s.store.SumUsage(ctx, store.UsageFilter{TenantID: tenantID, Since: sc.since})
		if err != nil {
			return Status{}, fmt.Errorf("budget: status of %s: %w", tenantID, err)
		}
		v := LimitView{LimitUSD: usdOrNil(sc.limit), Source: sc.source, Period: sc.period, SpentUSD: pricing.USD(tot.CostPUSD)}
		if sc.limit > 0 {
			p := percent(tot.CostPUSD, sc.limit)
			v.UsedPercent = &p
		}
		st.Limits[sc.name] = v
	}
	for _, pool := range s.plan.Pools {
		ps, err := s.plan.Status(ctx, s.store, pool, now)
		if err != nil {
			return Status{}, err
		}
		s.metrics.poolBalance.WithLabelValues(pool.Name).Set(pricing.Dollars(ps.BalancePUSD))
		v := PoolView{Name: pool.Name, Currency: string(pool.Currency), Amount: pricing.FormatMicros(pool.Amount), AmountUSD: pricing.USD(pool.AmountPUSD),
			Providers: append([]string{}, pool.Providers...), Expired: ps.Expired, MeteredSpentUSD: pricing.USD(ps.MeteredPUSD),
			InfraAccruedUSD: pricing.USD(ps.InfraAccruedPUSD), BalanceUSD: pricing.USD(ps.BalancePUSD), UsedPercent: percent(pool.AmountPUSD-ps.BalancePUSD, pool.AmountPUSD)}
		if !pool.Starts.IsZero() {
			v.Starts = pool.Starts.Format(time.DateOnly)
		}
		if !pool.Expires.IsZero() {
			v.Expires = pool.Expires.Format(time.DateOnly)
		}
		switch {
		case ps.Expired:
			v.SpendIsRefused, v.RefusedBecauseOf = true, "expired"
		case ps.BalancePUSD <= 0:
			v.SpendIsRefused, v.RefusedBecauseOf = true, "exhausted"
		}
		st.Pools = append(st.Pools, v)
	}
	for _, dst := range []struct {
		tenant string
		out    *[]AlertView
	}{{tenantID, &st.Alerts}, {"", &st.PoolAlerts}} {
		alerts, err := s.store.ListBudgetAlerts(ctx, dst.tenant, 50)
		if err != nil {
			return Status{}, err
		}
		for _, a := range alerts {
			*dst.out = append(*dst.out, AlertView{Scope: a.Scope, Subject: a.Subject, Period: a.Period, Percent: a.Percent, JobID: a.JobID,
				SpentUSD: pricing.USD(a.SpentPUSD), LimitUSD: pricing.USD(a.LimitPUSD), Message: a.Message, CreatedAt: a.CreatedAt})
		}
	}
	return st, nil
}

func usdOrNil(pusd int64) *string {
	if pusd == store.NoLimit {
		return nil
	}
	s := pricing.USD(pusd)
	return &s
}

// percent is part/whole × 100, to two decimals.
func percent(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return math.Round(float64(part)/float64(whole)*10000) / 100
}

func dayStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func monthStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Change is one field of an update: absent, reset to the configured
// default (null), or set.
type Change struct {
	Set   bool
	Reset bool
	PUSD  int64 // store.NoLimit for "unlimited"
}

// Update changes a tenant's budget: PUT /api/v2/budgets.
type Update struct {
	RequestUSD       Change
	TenantDailyUSD   Change
	TenantMonthlyUSD Change
	Policy           *string // "" resets to the default
}

// ParseUpdate reads a JSON update. Each limit is a dollar amount (a JSON
// number or string, at most six decimals), "unlimited", or null to return
// to the configured default; a field left out is unchanged. Errors are
// *costs.FieldError naming the field.
func ParseUpdate(body []byte) (Update, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Update{}, &costs.FieldError{Field: "body", Message: "not a JSON object: " + err.Error()}
	}
	var u Update
	known := map[string]*Change{"request_usd": &u.RequestUSD, "tenant_daily_usd": &u.TenantDailyUSD, "tenant_monthly_usd": &u.TenantMonthlyUSD}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := bytes.TrimSpace(raw[k])
		if k == "policy" {
			if string(v) == "null" {
				empty := ""
				u.Policy = &empty
				continue
			}
			var p string
			if err := json.Unmarshal(v, &p); err != nil {
				return Update{}, &costs.FieldError{Field: k, Message: "must be a string: stop or downgrade"}
			}
			pol, err := ParsePolicy(p)
			if err != nil {
				return Update{}, &costs.FieldError{Field: k, Message: err.Error()}
			}
			ps := string(pol)
			u.Policy = &ps
			continue
		}
		c, ok := known[k]
		if !ok {
			return Update{}, &costs.FieldError{Field: k, Message: "unknown field (want request_usd, tenant_daily_usd, tenant_monthly_usd, policy)"}
		}
		ch, err := parseChange(v)
		if err != nil {
			return Update{}, &costs.FieldError{Field: k, Message: err.Error()}
		}
		*c = ch
	}
	return u, nil
}

func parseChange(v []byte) (Change, error) {
	if string(v) == "null" {
		return Change{Set: true, Reset: true}, nil
	}
	var text string
	if len(v) > 0 && v[0] == '"' {
		if err := json.Unmarshal(v, &text); err != nil {
			return Change{}, err
		}
		if strings.EqualFold(strings.TrimSpace(text), "unlimited") {
			return Change{Set: true, PUSD: store.NoLimit}, nil
		}
	} else {
		text = string(v) // a JSON number, exactly as written
	}
	pusd, err := pricing.ParseUSD(text)
	if err != nil {
		return Change{}, fmt.Errorf("%w: want a dollar amount of at least 0, \"unlimited\" or null", err)
	}
	return Change{Set: true, PUSD: pusd}, nil
}

// Update applies u to tenantID's budget and returns the new status.
func (s *Service) Update(ctx context.Context, tenantID string, u Update, by string) (Status, error) {
	b, err := s.store.GetBudget(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		b, err = store.Budget{TenantID: tenantID}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("budget: update %s: %w", tenantID, err)
	}
	apply := func(dst **int64, c Change) {
		switch {
		case !c.Set:
		case c.Reset:
			*dst = nil
		default:
			v := c.PUSD
			*dst = &v
		}
	}
	apply(&b.RequestPUSD, u.RequestUSD)
	apply(&b.DailyPUSD, u.TenantDailyUSD)
	apply(&b.MonthlyPUSD, u.TenantMonthlyUSD)
	if u.Policy != nil {
		b.Policy = *u.Policy
	}
	b.UpdatedBy, b.UpdatedAt = by, s.now()
	if err := s.store.PutBudget(ctx, b); err != nil {
		return Status{}, err
	}
	s.logger.Info("budget changed", "tenant", tenantID, "by", by)
	return s.Status(ctx, tenantID)
}
