package costs

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

//go:embed plan.default.yaml
var defaultPlanYAML []byte

// DaysPerMonth is the average length of a month (365.25 / 12 days): the
// runway turns monthly costs into daily ones with it.
const DaysPerMonth = 30.4375

// Pool is a credit: an amount, in a currency, that pays for the calls of
// some LLM providers and for the infrastructure assigned to it, until it
// expires.
type Pool struct {
	Name       string           `json:"name"`
	Amount     int64            `json:"-"` // millionths of Currency
	Currency   pricing.Currency `json:"currency"`
	AmountPUSD int64            `json:"-"`
	// Providers are the LLM providers (pricing ids) whose calls draw on it.
	Providers []string `json:"providers"`
	// Starts is when the credit was granted: metered spend and
	// infrastructure accrue against it from then. Zero: unknown, so only
	// metered spend counts, from the first usage row.
	Starts time.Time `json:"-"`
	// Expires is the last day (UTC) the credit may be used; zero: never.
	Expires time.Time `json:"-"`
}

// ExpiredAt reports whether the credit can no longer be used at t: t is
// after the last day of use.
func (p Pool) ExpiredAt(t time.Time) bool {
	return !p.Expires.IsZero() && !t.Before(p.Expires.AddDate(0, 0, 1))
}

// EndOfUse is the first instant the credit cannot be used; zero: never.
func (p Pool) EndOfUse() time.Time {
	if p.Expires.IsZero() {
		return time.Time{}
	}
	return p.Expires.AddDate(0, 0, 1)
}

// Covers reports whether calls to provider draw on the pool.
func (p Pool) Covers(provider string) bool {
	for _, x := range p.Providers {
		if x == provider {
			return true
		}
	}
	return false
}

// InfraItem is one monthly infrastructure cost.
type InfraItem struct {
	Name        string
	Monthly     int64 // millionths of Currency
	Currency    pricing.Currency
	MonthlyPUSD int64
	// Pool pays for it; empty: paid in cash.
	Pool string
}

// Plan is the platform's credits and infrastructure costs.
type Plan struct {
	Rates          pricing.Rates
	Pools          []Pool
	Infrastructure []InfraItem
	// Source is the file the plan came from, or "built-in".
	Source string
}

type planFile struct {
	GBPUSDRate string `yaml:"gbp_usd_rate"`
	Pools      []struct {
		Name      string   `yaml:"name"`
		Amount    string   `yaml:"amount"`
		Currency  string   `yaml:"currency"`
		Providers []string `yaml:"providers"`
		Starts    string   `yaml:"starts"`
		Expires   string   `yaml:"expires"`
	} `yaml:"pools"`
	Infrastructure []struct {
		Name     string `yaml:"name"`
		Monthly  string `yaml:"monthly"`
		Currency string `yaml:"currency"`
		Pool     string `yaml:"pool"`
	} `yaml:"infrastructure"`
}

// LoadPlan reads the plan named by the configuration (or the built-in one)
// and checks it: amounts, currencies, dates, and that every pool's
// providers are providers the catalogue prices.
func (c *Config) LoadPlan(prices *pricing.Catalogue) (*Plan, error) {
	src, b := "built-in", defaultPlanYAML
	if c.File != "" {
		var err error
		if b, err = os.ReadFile(c.File); err != nil {
			return nil, fmt.Errorf("costs.file (QLP_COSTS_FILE): %w", err)
		}
		src = c.File
	}
	p, err := ParsePlan(b, c.GBPUSDRate, prices)
	if err != nil {
		if c.File != "" {
			return nil, fmt.Errorf("costs.file (QLP_COSTS_FILE) %s: %w", c.File, err)
		}
		return nil, fmt.Errorf("costs: built-in plan: %w", err)
	}
	p.Source = src
	return p, nil
}

// ParsePlan parses a plan. rateOverride, when not empty, replaces the
// file's gbp_usd_rate. Errors name the field at fault.
func ParsePlan(b []byte, rateOverride string, prices *pricing.Catalogue) (*Plan, error) {
	var f planFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty document (io.EOF) is an empty plan.
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	rate := f.GBPUSDRate
	if strings.TrimSpace(rateOverride) != "" {
		rate = rateOverride
	}
	rates, err := pricing.NewRates(rate)
	if err != nil {
		if rateOverride == "" {
			return nil, fmt.Errorf("gbp_usd_rate: %w", err)
		}
		return nil, err
	}
	p := &Plan{Rates: rates}
	names := map[string]bool{}
	owner := map[string]string{}
	for i, fp := range f.Pools {
		field := fmt.Sprintf("pools[%d]", i)
		name := strings.TrimSpace(fp.Name)
		if name == "" {
			return nil, fmt.Errorf("%s.name: required", field)
		}
		field = fmt.Sprintf("pools[%d] (%s)", i, name)
		if names[name] {
			return nil, fmt.Errorf("%s.name: pool %q is defined twice", field, name)
		}
		names[name] = true
		pool := Pool{Name: name}
		if strings.TrimSpace(fp.Amount) == "" {
			return nil, fmt.Errorf("%s.amount: required", field)
		}
		if pool.Amount, err = pricing.ParseAmount(fp.Amount); err != nil {
			return nil, fmt.Errorf("%s.amount: %w", field, err)
		}
		if pool.Currency, err = pricing.ParseCurrency(fp.Currency); err != nil {
			return nil, fmt.Errorf("%s.currency: %w", field, err)
		}
		if pool.AmountPUSD, err = rates.PUSD(pool.Amount, pool.Currency); err != nil {
			return nil, fmt.Errorf("%s.amount: %w", field, err)
		}
		for _, pr := range fp.Providers {
			pr = strings.TrimSpace(pr)
			if prices != nil && !prices.KnownProvider(pr) {
				return nil, fmt.Errorf("%s.providers: unknown provider %q (the price catalogue knows %s)", field, pr, strings.Join(prices.Providers(), ", "))
			}
			if o, ok := owner[pr]; ok {
				return nil, fmt.Errorf("%s.providers: provider %q already draws on pool %q; a provider draws on one pool", field, pr, o)
			}
			owner[pr] = name
			pool.Providers = append(pool.Providers, pr)
		}
		if fp.Starts != "" {
			if pool.Starts, err = time.Parse(time.DateOnly, strings.TrimSpace(fp.Starts)); err != nil {
				return nil, fmt.Errorf("%s.starts: %q is not a date (YYYY-MM-DD)", field, fp.Starts)
			}
		}
		if fp.Expires != "" {
			if pool.Expires, err = time.Parse(time.DateOnly, strings.TrimSpace(fp.Expires)); err != nil {
				return nil, fmt.Errorf("%s.expires: %q is not a date (YYYY-MM-DD)", field, fp.Expires)
			}
			if !pool.Starts.IsZero() && pool.Expires.Before(pool.Starts) {
				return nil, fmt.Errorf("%s.expires: %s is before starts %s", field, fp.Expires, fp.Starts)
			}
		}
		p.Pools = append(p.Pools, pool)
	}
	for i, fi := range f.Infrastructure {
		field := fmt.Sprintf("infrastructure[%d]", i)
		item := InfraItem{Name: strings.TrimSpace(fi.Name), Pool: strings.TrimSpace(fi.Pool)}
		if item.Name == "" {
			return nil, fmt.Errorf("%s.name: required", field)
		}
		field = fmt.Sprintf("infrastructure[%d] (%s)", i, item.Name)
		if item.Monthly, err = pricing.ParseAmount(fi.Monthly); err != nil {
			return nil, fmt.Errorf("%s.monthly: %w", field, err)
		}
		if item.Currency, err = pricing.ParseCurrency(fi.Currency); err != nil {
			return nil, fmt.Errorf("%s.currency: %w", field, err)
		}
		if item.MonthlyPUSD, err = rates.PUSD(item.Monthly, item.Currency); err != nil {
			return nil, fmt.Errorf("%s.monthly: %w", field, err)
		}
		if item.Pool != "" && !names[item.Pool] {
			return nil, fmt.Errorf("%s.pool: no pool named %q", field, item.Pool)
		}
		p.Infrastructure = append(p.Infrastructure, item)
	}
	return p, nil
}

// PoolFor returns the pool provider's calls draw on.
func (p *Plan) PoolFor(provider string) (Pool, bool) {
	for _, pool := range p.Pools {
		if pool.Covers(provider) {
			return pool, true
		}
	}
	return Pool{}, false
}

// Pool returns the pool called name.
func (p *Plan) Pool(name string) (Pool, bool) {
	for _, pool := range p.Pools {
		if pool.Name == name {
			return pool, true
		}
	}
	return Pool{}, false
}

// InfraMonthlyPUSD sums the monthly infrastructure costs a pool pays ("" for
// those paid in cash).
func (p *Plan) InfraMonthlyPUSD(pool string) int64 {
	var n int64
	for _, it := range p.Infrastructure {
		if it.Pool == pool {
			n += it.MonthlyPUSD
		}
	}
	return n
}

// UsageSummer is the part of the store a pool's spend is read from.
type UsageSummer interface {
	SumUsage(ctx context.Context, f store.UsageFilter) (store.UsageTotals, error)
}

// PoolStatus is what is left of a pool at a moment.
type PoolStatus struct {
	Pool
	// MeteredPUSD is the metered LLM spend of the pool's providers since it
	// started (measured: the usage rows).
	MeteredPUSD int64
	// InfraAccruedPUSD is the infrastructure assigned to the pool, accrued
	// at its monthly cost since Starts (modelled; zero without Starts).
	InfraAccruedPUSD int64
	// BalancePUSD is AmountPUSD less both; negative when overspent.
	BalancePUSD int64
	Expired     bool
}

// Status computes pool's balance at now.
func (p *Plan) Status(ctx context.Context, ledger UsageSummer, pool Pool, now time.Time) (PoolStatus, error) {
	st := PoolStatus{Pool: pool, Expired: pool.ExpiredAt(now)}
	if len(pool.Providers) > 0 {
		tot, err := ledger.SumUsage(ctx, store.UsageFilter{Providers: pool.Providers, Since: pool.Starts, Until: now})
		if err != nil {
			return PoolStatus{}, fmt.Errorf("costs: spend of pool %s: %w", pool.Name, err)
		}
		st.MeteredPUSD = tot.CostPUSD
	}
	if !pool.Starts.IsZero() && now.After(pool.Starts) {
		end := now
		if e := pool.EndOfUse(); !e.IsZero() && e.Before(end) {
			end = e
		}
		st.InfraAccruedPUSD = accrue(p.InfraMonthlyPUSD(pool.Name), end.Sub(pool.Starts))
	}
	st.BalancePUSD = pool.AmountPUSD - st.MeteredPUSD - st.InfraAccruedPUSD
	return st, nil
}

// secondsPerMonth is DaysPerMonth in seconds.
const secondsPerMonth = 2_629_800

// accrue is monthly × d / one average month, in exact integer arithmetic.
func accrue(monthlyPUSD int64, d time.Duration) int64 {
	if monthlyPUSD == 0 || d <= 0 {
		return 0
	}
	v := new(big.Int).Mul(big.NewInt(monthlyPUSD), big.NewInt(int64(d/time.Second)))
	v.Quo(v, big.NewInt(secondsPerMonth))
	return v.Int64()
}
