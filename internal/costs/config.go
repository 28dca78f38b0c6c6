// Package costs is QLP's cost ledger and credit runway: reports of what the
// metered LLM and embedding calls cost (by day and month, tenant, job,
// provider, model and tier, summed in the database from the usage rows),
// estimates of what a request will cost, and the runway of each credit pool
// under the infrastructure cost model and the observed LLM spend trend, as a
// table and a chart.
//
// The [Plan] (credit pools, infrastructure, the GBP rate) is shared with
// package budget, which refuses spend against an exhausted or expired pool.
package costs

import (
	"fmt"

	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/settings"
)

// Config selects the cost plan and how the runway is projected.
type Config struct {
	// File is a YAML cost plan: credit pools, infrastructure, GBP rate.
	// Empty uses the built-in plan (the deployment strategy's
	// infrastructure estimate, no pools).
	File string
	// GBPUSDRate is the USD price of one pound; it overrides the file's.
	GBPUSDRate string
	// TrendDays is the window of observed LLM spend the runway projects.
	TrendDays int
	// HorizonMonths is how far the runway is drawn.
	HorizonMonths int
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{TrendDays: 30, HorizonMonths: 24}
}

// Settings binds QLP_COSTS_* variables.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "costs.file", Env: "QLP_COSTS_FILE", Help: "YAML cost plan: credit pools (amount, currency, providers, expiry) and the monthly infrastructure costs (see docs/costs.md); empty = the strategy's infrastructure estimate and no pools", Value: settings.String(&c.File)},
		{Key: "costs.gbp_usd_rate", Env: "QLP_COSTS_GBP_USD_RATE", Help: "US dollars per pound, for GBP credits and costs (overrides the cost plan's gbp_usd_rate); required when any amount is in GBP", Value: settings.String(&c.GBPUSDRate)},
		{Key: "costs.trend_days", Env: "QLP_COSTS_TREND_DAYS", Help: "days of observed LLM spend the runway projects forward", Value: settings.Int(&c.TrendDays)},
		{Key: "costs.horizon_months", Env: "QLP_COSTS_HORIZON_MONTHS", Help: "how many months ahead the runway is drawn", Value: settings.Int(&c.HorizonMonths)},
	}
}

// Validate checks the settings that need no file; LoadPlan checks the plan.
func (c *Config) Validate() error {
	if c.TrendDays < 1 || c.TrendDays > 366 {
		return fmt.Errorf("costs.trend_days (QLP_COSTS_TREND_DAYS): %d is outside 1..366", c.TrendDays)
	}
	if c.HorizonMonths < 1 || c.HorizonMonths > 120 {
		return fmt.Errorf("costs.horizon_months (QLP_COSTS_HORIZON_MONTHS): %d is outside 1..120", c.HorizonMonths)
	}
	if _, err := pricing.NewRates(c.GBPUSDRate); err != nil {
		return err
	}
	return nil
}
