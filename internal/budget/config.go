// Package budget enforces QLP's spending limits before every model call and
// checks them again with the call's actual usage.
//
// Limits: per request (a job; $0.10 by default), per tenant per UTC day and
// per UTC month (configured defaults, overridden per tenant through the API),
// and per credit pool (package costs: an amount in USD or GBP that pays for
// some providers until it expires). The [Service]'s guard is an llm.Provider
// wrapper placed outside the metering wrapper: before a call it prices the
// worst case (the prompt's estimated tokens at the input price plus
// max_tokens at the output price) and admits the call only if every budget
// it draws on can take it, counting the calls still in flight. When a budget
// cannot, the policy decides: stop (the call fails with a non-retryable
// [*Error] saying what was spent) or downgrade (a cheaper tier answers, if
// one fits). After the call the actual spend is read back from the ledger
// and alerts fire at 50, 80 and 100 % (progress events, Prometheus metrics
// and an optional webhook).
package budget

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/store"
)

// Policy is what happens when a call does not fit a budget.
type Policy string

// Policies.
const (
	// Stop refuses the call: the job stops with "budget exceeded".
	Stop Policy = "stop"
	// Downgrade has the nearest cheaper tier that fits answer instead; when
	// none fits, the call is refused as with Stop.
	Downgrade Policy = "downgrade"
)

// ParsePolicy accepts stop or downgrade.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.ToLower(strings.TrimSpace(s))); p {
	case Stop, Downgrade:
		return p, nil
	}
	return "", fmt.Errorf("%q is not stop or downgrade", s)
}

// Config holds the default limits, the policy and where alerts go.
type Config struct {
	// RequestUSD, TenantDailyUSD and TenantMonthlyUSD are dollar amounts;
	// empty means no limit.
	RequestUSD       string
	TenantDailyUSD   string
	TenantMonthlyUSD string
	Policy           string
	// AlertPercents are the shares of a budget at which alerts fire.
	AlertPercents []string
	// WebhookURL, when set, receives every alert as a JSON POST.
	WebhookURL string
	// WebhookSecret, when set, signs each POST: X-QLP-Signature is
	// "sha256=" + hex HMAC-SHA256 of the body.
	WebhookSecret  string
	WebhookTimeout time.Duration
}

// Defaults: $0.10 per request (the strategy's success criterion), no tenant
// limits, stop.
func Defaults() Config {
	return Config{RequestUSD: "0.10", Policy: string(Stop), AlertPercents: []string{"50", "80", "100"}, WebhookTimeout: 5 * time.Second}
}

// Settings binds QLP_BUDGET_* variables.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "budget.request_usd", Env: "QLP_BUDGET_REQUEST_USD", Help: "default budget of one request (job) in USD, checked before every model call; empty = no limit", Value: settings.String(&c.RequestUSD)},
		{Key: "budget.tenant_daily_usd", Env: "QLP_BUDGET_TENANT_DAILY_USD", Help: "default budget of a tenant per UTC day in USD; empty = no limit", Value: settings.String(&c.TenantDailyUSD)},
		{Key: "budget.tenant_monthly_usd", Env: "QLP_BUDGET_TENANT_MONTHLY_USD", Help: "default budget of a tenant per UTC month in USD; empty = no limit", Value: settings.String(&c.TenantMonthlyUSD)},
		{Key: "budget.policy", Env: "QLP_BUDGET_POLICY", Help: "when a call does not fit a budget: stop (the job fails with \"budget exceeded\") or downgrade (a cheaper tier answers if one fits)", Value: settings.String(&c.Policy)},
		{Key: "budget.alert_percents", Env: "QLP_BUDGET_ALERT_PERCENTS", Help: "shares of a budget (percent, comma-separated) at which an alert fires once", Value: settings.List(&c.AlertPercents)},
		{Key: "budget.webhook_url", Env: "QLP_BUDGET_WEBHOOK_URL", Help: "URL that receives every budget alert as a JSON POST; empty = none", Secret: true, Value: settings.String(&c.WebhookURL)},
		{Key: "budget.webhook_secret", Env: "QLP_BUDGET_WEBHOOK_SECRET", Help: "key that signs webhook bodies (X-QLP-Signature: sha256=HMAC)", Secret: true, Value: settings.String(&c.WebhookSecret)},
		{Key: "budget.webhook_timeout", Env: "QLP_BUDGET_WEBHOOK_TIMEOUT", Help: "time limit of one webhook delivery attempt", Value: settings.Duration(&c.WebhookTimeout)},
	}
}

// Validate checks every setting; errors name the setting.
func (c *Config) Validate() error {
	_, err := c.parse()
	return err
}

// defaults are the parsed configuration.
type defaults struct {
	request, daily, monthly int64 // store.NoLimit = none
	policy                  Policy
	percents                []int
}

func (c *Config) parse() (defaults, error) {
	var d defaults
	var err error
	for _, f := range []struct {
		dst       *int64
		val, name string
	}{
		{&d.request, c.RequestUSD, "budget.request_usd (QLP_BUDGET_REQUEST_USD)"},
		{&d.daily, c.TenantDailyUSD, "budget.tenant_daily_usd (QLP_BUDGET_TENANT_DAILY_USD)"},
		{&d.monthly, c.TenantMonthlyUSD, "budget.tenant_monthly_usd (QLP_BUDGET_TENANT_MONTHLY_USD)"},
	} {
		if strings.TrimSpace(f.val) == "" {
			*f.dst = store.NoLimit
			continue
		}
		if *f.dst, err = pricing.ParseUSD(f.val); err != nil {
			return defaults{}, fmt.Errorf("%s: %w (a dollar amount such as 0.10; empty for no limit)", f.name, err)
		}
	}
	if d.policy, err = ParsePolicy(c.Policy); err != nil {
		return defaults{}, fmt.Errorf("budget.policy (QLP_BUDGET_POLICY): %w", err)
	}
	seen := map[int]bool{}
	for _, p := range c.AlertPercents {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 1000 {
			return defaults{}, fmt.Errorf("budget.alert_percents (QLP_BUDGET_ALERT_PERCENTS): %q is not a percentage between 1 and 1000", p)
		}
		if !seen[n] {
			seen[n] = true
			d.percents = append(d.percents, n)
		}
	}
	sort.Ints(d.percents)
	if c.WebhookURL != "" {
		// Never echo the URL: webhook URLs often carry a token.
		u, err := url.Parse(c.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return defaults{}, errors.New("budget.webhook_url (QLP_BUDGET_WEBHOOK_URL): not an http(s) URL")
		}
	}
	if c.WebhookTimeout <= 0 {
		return defaults{}, errors.New("budget.webhook_timeout (QLP_BUDGET_WEBHOOK_TIMEOUT): must be positive")
	}
	return d, nil
}
