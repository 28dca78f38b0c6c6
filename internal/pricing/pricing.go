// Package pricing is QLP's price catalogue and its money: exact model ids,
// each price versioned with the date it takes effect, overridable by a file,
// exact integer arithmetic, and the currencies (USD, GBP) that credits and
// budgets are written in.
//
// Prices are held as micro-USD per million tokens. One micro-USD per million
// tokens, times one token, is one pico-USD (1e-12 USD), so the cost of a call
// in pico-USD is a plain integer sum of tokens × price: no floating point, no
// rounding until a total is shown.
//
// A model may have several prices over time. [Catalogue.LookupAt] returns the
// one in force at a moment: the latest whose effective date is not after it.
// The oldest known price of a model also covers any time before its date,
// since no earlier price is known.
package pricing

import (
	_ "embed"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed catalogue.yaml
var builtinYAML []byte

// Free providers run on the operator's own hardware (or answer from a
// recording) and cost nothing per token, whatever the model.
var freeProviders = map[string]bool{"ollama": true, "replay": true, "builtin": true, "scripted": true}

// family maps providers that bill by another provider's model ids.
var family = map[string]string{"azure": "openai"}

// ErrUnknownModel is returned for a model without a price.
var ErrUnknownModel = errors.New("no price for model")

// Model kinds.
const (
	KindChat      = "chat"
	KindEmbedding = "embedding"
)

// Price is the price of one model, in micro-USD per million tokens.
type Price struct {
	Provider    string
	Model       string
	Kind        string // KindChat or KindEmbedding
	Input       int64
	CachedInput int64
	// CacheWrite is the price of prompt tokens written to the provider's
	// prompt cache (Anthropic and Bedrock charge a premium on Input); it is
	// Input where the catalogue gives none.
	CacheWrite int64
	Output     int64
	Free       bool
	// Effective is when this price took effect; zero when the catalogue
	// gave no date.
	Effective time.Time
}

// Cost returns the pico-USD cost of a call. inputTokens includes
// cachedInputTokens, which are billed at the cached price.
func (p Price) Cost(inputTokens, cachedInputTokens, outputTokens int) int64 {
	return p.CostOf(Tokens{Input: inputTokens, CacheRead: cachedInputTokens, Output: outputTokens})
}

// Tokens are the counts of one call. Input includes CacheRead and
// CacheWrite.
type Tokens struct {
	Input, CacheRead, CacheWrite, Output int
}

// CostOf returns the pico-USD cost of a call: prompt tokens read from the
// provider's cache at the cached price, written to it at the cache-write
// price, the rest of the prompt at the input price.
func (p Price) CostOf(t Tokens) int64 {
	if p.Free {
		return 0
	}
	read, write := int64(t.CacheRead), int64(t.CacheWrite)
	fresh := int64(t.Input) - read - write
	if fresh < 0 {
		fresh = 0
	}
	return fresh*p.Input + read*p.CachedInput + write*p.CacheWrite + int64(t.Output)*p.Output
}

// Catalogue holds every known price of every model.
type Catalogue struct {
	Version   string
	Effective string
	// prices holds each model's prices, oldest first; key provider + "/" + model.
	prices map[string][]Price
	now    func() time.Time
}

type fileEntry struct {
	Provider    string `yaml:"provider"`
	Model       string `yaml:"model"`
	Kind        string `yaml:"kind"`
	Input       string `yaml:"input"`
	CachedInput string `yaml:"cached_input"`
	CacheWrite  string `yaml:"cache_write"`
	Output      string `yaml:"output"`
	Effective   string `yaml:"effective"`
}

type file struct {
	Version   string      `yaml:"version"`
	Effective string      `yaml:"effective"`
	Models    []fileEntry `yaml:"models"`
}

// Builtin returns the catalogue compiled into qlp.
func Builtin() (*Catalogue, error) {
	c := &Catalogue{prices: map[string][]Price{}, now: time.Now}
	if err := c.merge(builtinYAML, "built-in catalogue"); err != nil {
		return nil, err
	}
	return c, nil
}

// Load returns the built-in catalogue with the prices in overridePath (if
// not empty) laid over it. An override entry without an effective date (its
// own or the file's) replaces every price of that model; one with a date adds
// a price that takes over from that date.
func Load(overridePath string) (*Catalogue, error) {
	c, err := Builtin()
	if err != nil {
		return nil, err
	}
	if overridePath == "" {
		return c, nil
	}
	b, err := os.ReadFile(overridePath)
	if err != nil {
		return nil, fmt.Errorf("pricing.file (QLP_PRICING_FILE): %w", err)
	}
	if err := c.merge(b, overridePath); err != nil {
		return nil, fmt.Errorf("pricing.file (QLP_PRICING_FILE): %w", err)
	}
	return c, nil
}

func (c *Catalogue) merge(b []byte, source string) error {
	var f file
	if err := yaml.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if f.Version != "" {
		c.Version = f.Version
	}
	var fileDate time.Time
	if f.Effective != "" {
		d, err := parseDate(f.Effective)
		if err != nil {
			return fmt.Errorf("%s: effective: %w", source, err)
		}
		c.Effective, fileDate = f.Effective, d
	}
	for i, e := range f.Models {
		if e.Provider == "" || e.Model == "" {
			return fmt.Errorf("%s: models[%d]: provider and model are required", source, i)
		}
		name := e.Provider + "/" + e.Model
		p := Price{Provider: e.Provider, Model: e.Model, Kind: e.Kind, Effective: fileDate}
		switch p.Kind {
		case "":
			p.Kind = KindChat
		case KindChat, KindEmbedding:
		default:
			return fmt.Errorf("%s: %s kind: %q is not chat or embedding", source, name, e.Kind)
		}
		var err error
		if p.Input, err = ParseAmount(e.Input); err != nil {
			return fmt.Errorf("%s: %s input: %w", source, name, err)
		}
		if p.Output, err = ParseAmount(e.Output); err != nil {
			return fmt.Errorf("%s: %s output: %w", source, name, err)
		}
		if p.Kind == KindEmbedding && p.Output != 0 {
			return fmt.Errorf("%s: %s output: an embedding model has no output tokens; give only input", source, name)
		}
		p.CachedInput = p.Input
		if e.CachedInput != "" {
			if p.CachedInput, err = ParseAmount(e.CachedInput); err != nil {
				return fmt.Errorf("%s: %s cached_input: %w", source, name, err)
			}
		}
		p.CacheWrite = p.Input
		if e.CacheWrite != "" {
			if p.CacheWrite, err = ParseAmount(e.CacheWrite); err != nil {
				return fmt.Errorf("%s: %s cache_write: %w", source, name, err)
			}
		}
		if e.Effective != "" {
			if p.Effective, err = parseDate(e.Effective); err != nil {
				return fmt.Errorf("%s: %s effective: %w", source, name, err)
			}
		}
		c.add(name, p)
	}
	return nil
}

// add records p: without a date it replaces the model's history, with one
// it takes its place in the history (replacing a price of the same date).
func (c *Catalogue) add(key string, p Price) {
	if p.Effective.IsZero() {
		c.prices[key] = []Price{p}
		return
	}
	hist := c.prices[key][:0:0]
	for _, old := range c.prices[key] {
		if !old.Effective.Equal(p.Effective) {
			hist = append(hist, old)
		}
	}
	hist = append(hist, p)
	sort.SliceStable(hist, func(i, j int) bool { return hist[i].Effective.Before(hist[j].Effective) })
	c.prices[key] = hist
}

func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	return t, nil
}

// ParseAmount turns a decimal amount ("0.075", "4000") into millionths,
// exactly: micro-USD for a dollar amount, micro-units of any currency. It
// refuses negative amounts and more than six decimal places.
func ParseAmount(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "/eE") {
		return 0, fmt.Errorf("%q is not a decimal amount", s)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("%q has more than 6 decimal places", s)
	}
	if !r.Num().IsInt64() || r.Num().Int64() > maxMicros {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return r.Num().Int64(), nil
}

// maxMicros keeps every amount, once in pico-USD, inside an int64 even at
// a generous exchange rate: one million units.
const maxMicros = 1_000_000 * 1_000_000

// Lookup returns the price of provider's model in force now. Free
// providers price every model at zero; Azure bills OpenAI model ids.
func (c *Catalogue) Lookup(provider, model string) (Price, error) {
	return c.LookupAt(provider, model, c.now())
}

// LookupAt returns the price of provider's model in force at t.
func (c *Catalogue) LookupAt(provider, model string, t time.Time) (Price, error) {
	if freeProviders[provider] {
		return Price{Provider: provider, Model: model, Kind: KindChat, Free: true}, nil
	}
	if hist, ok := c.prices[provider+"/"+model]; ok {
		return at(hist, t), nil
	}
	if fam, ok := family[provider]; ok {
		if hist, ok := c.prices[fam+"/"+model]; ok {
			p := at(hist, t)
			p.Provider = provider
			return p, nil
		}
	}
	return Price{}, fmt.Errorf("%w %q of provider %q (catalogue %s): add it to the file named by QLP_PRICING_FILE", ErrUnknownModel, model, provider, c.Version)
}

// at picks the price in force at t from a history sorted oldest first.
func at(hist []Price, t time.Time) Price {
	p := hist[0]
	for _, h := range hist[1:] {
		if !h.Effective.After(t) {
			p = h
		}
	}
	return p
}

// History returns every price a model has had, oldest first.
func (c *Catalogue) History(provider, model string) []Price {
	return append([]Price(nil), c.prices[provider+"/"+model]...)
}

// Providers lists the providers that bill by token: those with prices, and
// those that bill by another's model ids. Free providers are not listed.
func (c *Catalogue) Providers() []string {
	seen := map[string]bool{}
	for _, hist := range c.prices {
		seen[hist[0].Provider] = true
	}
	for p, fam := range family {
		if seen[fam] {
			seen[p] = true
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// KnownProvider reports whether provider is free or has prices.
func (c *Catalogue) KnownProvider(provider string) bool {
	if freeProviders[provider] {
		return true
	}
	for _, p := range c.Providers() {
		if p == provider {
			return true
		}
	}
	return false
}

// Models lists the price in force now of every model, sorted.
func (c *Catalogue) Models() []Price {
	now := c.now()
	out := make([]Price, 0, len(c.prices))
	for _, hist := range c.prices {
		out = append(out, at(hist, now))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Model < out[j].Model
	})
	return out
}

// USD formats pico-USD as dollars with six decimals (micro-dollar precision).
func USD(pusd int64) string {
	neg := pusd < 0
	if neg {
		pusd = -pusd
	}
	micro := (pusd + 500_000) / 1_000_000 // round half up to the micro-dollar
	s := fmt.Sprintf("%d.%06d", micro/1_000_000, micro%1_000_000)
	if neg {
		s = "-" + s
	}
	return s
}

// Dollars converts pico-USD to a float for display and JSON; never use the
// result for arithmetic that must be exact.
func Dollars(pusd int64) float64 { return float64(pusd) / 1e12 }
