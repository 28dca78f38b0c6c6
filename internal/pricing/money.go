package pricing

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Currency is the currency an amount (a credit, an infrastructure cost) is
// written in. Model prices and the ledger are always USD.
type Currency string

// Currencies QLP converts.
const (
	USDCurrency Currency = "USD"
	GBPCurrency Currency = "GBP"
)

// ErrUnknownCurrency is returned for a currency QLP does not convert.
var ErrUnknownCurrency = errors.New("unknown currency")

// ParseCurrency accepts USD or GBP in any case; empty means USD.
func ParseCurrency(s string) (Currency, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "USD":
		return USDCurrency, nil
	case "GBP":
		return GBPCurrency, nil
	}
	return "", fmt.Errorf("%w %q (want USD or GBP)", ErrUnknownCurrency, s)
}

// RateSetting names the setting that holds the GBP rate, for errors.
const RateSetting = "costs.gbp_usd_rate (QLP_COSTS_GBP_USD_RATE)"

// Rates converts amounts into USD. The zero value converts only USD.
type Rates struct {
	gbpUSD *big.Rat // US dollars per pound
}

// NewRates parses the USD price of one pound ("1.27"); empty leaves GBP
// unconvertible, so that a GBP amount is an error rather than a guess.
func NewRates(gbpUSD string) (Rates, error) {
	gbpUSD = strings.TrimSpace(gbpUSD)
	if gbpUSD == "" {
		return Rates{}, nil
	}
	r, ok := new(big.Rat).SetString(gbpUSD)
	if !ok || strings.ContainsAny(gbpUSD, "/eE") {
		return Rates{}, fmt.Errorf("%s: %q is not a decimal number", RateSetting, gbpUSD)
	}
	if r.Sign() <= 0 {
		return Rates{}, fmt.Errorf("%s: %q must be positive", RateSetting, gbpUSD)
	}
	return Rates{gbpUSD: r}, nil
}

// GBPUSD is the configured rate as text ("" when none).
func (r Rates) GBPUSD() string {
	if r.gbpUSD == nil {
		return ""
	}
	return r.gbpUSD.FloatString(6)
}

// Has reports whether amounts in c can be converted.
func (r Rates) Has(c Currency) bool {
	return c == USDCurrency || (c == GBPCurrency && r.gbpUSD != nil)
}

// PUSD converts an amount of micros millionths of c into pico-USD, rounding
// half up to the pico-dollar.
func (r Rates) PUSD(micros int64, c Currency) (int64, error) {
	switch c {
	case USDCurrency, "":
		return micros * 1_000_000, nil
	case GBPCurrency:
		if r.gbpUSD == nil {
			return 0, fmt.Errorf("no GBP to USD rate: set %s", RateSetting)
		}
		v := new(big.Rat).Mul(big.NewRat(micros*1_000_000, 1), r.gbpUSD)
		q, m := new(big.Int).QuoRem(v.Num(), v.Denom(), new(big.Int))
		if new(big.Int).Mul(m, big.NewInt(2)).Cmp(v.Denom()) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		if !q.IsInt64() {
			return 0, fmt.Errorf("%s GBP is too large to convert", FormatMicros(micros))
		}
		return q.Int64(), nil
	}
	return 0, fmt.Errorf("%w %q (want USD or GBP)", ErrUnknownCurrency, string(c))
}

// FormatMicros formats millionths of a currency unit with two to six
// decimals: 4000000000 → "4000.00", 906450000 → "906.45", 75000 → "0.075".
func FormatMicros(micros int64) string {
	neg := micros < 0
	if neg {
		micros = -micros
	}
	frac := fmt.Sprintf("%06d", micros%1_000_000)
	for len(frac) > 2 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	s := fmt.Sprintf("%d.%s", micros/1_000_000, frac)
	if neg {
		s = "-" + s
	}
	return s
}

// ParseUSD parses a dollar amount into pico-USD, exactly.
func ParseUSD(s string) (int64, error) {
	m, err := ParseAmount(s)
	if err != nil {
		return 0, err
	}
	return m * 1_000_000, nil
}
