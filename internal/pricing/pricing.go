// Package pricing is QLP's price catalogue: exact model ids, versioned with
// an effective date, overridable by a file, and exact integer arithmetic.
//
// Prices are held as micro-USD per million tokens. One micro-USD per million
// tokens, times one token, is one pico-USD (1e-12 USD), so the cost of a call
// in pico-USD is a plain integer sum of tokens × price: no floating point, no
// rounding until a total is shown.
package pricing

import (
	_ "embed"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
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

// Price is the price of one model, in micro-USD per million tokens.
type Price struct {
	Provider    string
	Model       string
	Input       int64
	CachedInput int64
	Output      int64
	Free        bool
}

// Cost returns the pico-USD cost of a call. inputTokens includes
// cachedInputTokens, which are billed at the cached price.
func (p Price) Cost(inputTokens, cachedInputTokens, outputTokens int) int64 {
	if p.Free {
		return 0
	}
	cached := int64(cachedInputTokens)
	fresh := int64(inputTokens) - cached
	if fresh < 0 {
		fresh = 0
	}
	return fresh*p.Input + cached*p.CachedInput + int64(outputTokens)*p.Output
}

// Catalogue holds the prices in force.
type Catalogue struct {
	Version   string
	Effective string
	prices    map[string]Price // key provider + "/" + model
}

type fileEntry struct {
	Provider    string `yaml:"provider"`
	Model       string `yaml:"model"`
	Input       string `yaml:"input"`
	CachedInput string `yaml:"cached_input"`
	Output      string `yaml:"output"`
}

type file struct {
	Version   string      `yaml:"version"`
	Effective string      `yaml:"effective"`
	Models    []fileEntry `yaml:"models"`
}

// Builtin returns the catalogue compiled into qlp.
func Builtin() (*Catalogue, error) {
	c := &Catalogue{prices: map[string]Price{}}
	if err := c.merge(builtinYAML, "built-in catalogue"); err != nil {
		return nil, err
	}
	return c, nil
}

// Load returns the built-in catalogue with the prices in overridePath (if
// not empty) laid over it; an override replaces a model's whole entry.
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
	if f.Effective != "" {
		c.Effective = f.Effective
	}
	for i, e := range f.Models {
		if e.Provider == "" || e.Model == "" {
			return fmt.Errorf("%s: models[%d]: provider and model are required", source, i)
		}
		p := Price{Provider: e.Provider, Model: e.Model}
		var err error
		if p.Input, err = parseUSD(e.Input); err != nil {
			return fmt.Errorf("%s: %s/%s input: %w", source, e.Provider, e.Model, err)
		}
		if p.Output, err = parseUSD(e.Output); err != nil {
			return fmt.Errorf("%s: %s/%s output: %w", source, e.Provider, e.Model, err)
		}
		p.CachedInput = p.Input
		if e.CachedInput != "" {
			if p.CachedInput, err = parseUSD(e.CachedInput); err != nil {
				return fmt.Errorf("%s: %s/%s cached_input: %w", source, e.Provider, e.Model, err)
			}
		}
		c.prices[e.Provider+"/"+e.Model] = p
	}
	return nil
}

// parseUSD turns a decimal dollar amount ("0.075") into micro-USD, exactly.
func parseUSD(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a decimal amount", s)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("%q has more than 6 decimal places", s)
	}
	return r.Num().Int64(), nil
}

// Lookup returns the price of provider's model. Free providers price every
// model at zero; Azure bills OpenAI model ids.
func (c *Catalogue) Lookup(provider, model string) (Price, error) {
	if freeProviders[provider] {
		return Price{Provider: provider, Model: model, Free: true}, nil
	}
	if p, ok := c.prices[provider+"/"+model]; ok {
		return p, nil
	}
	if fam, ok := family[provider]; ok {
		if p, ok := c.prices[fam+"/"+model]; ok {
			p.Provider = provider
			return p, nil
		}
	}
	return Price{}, fmt.Errorf("%w %q of provider %q (catalogue %s): add it to the file named by QLP_PRICING_FILE", ErrUnknownModel, model, provider, c.Version)
}

// Models lists every priced model, sorted.
func (c *Catalogue) Models() []Price {
	out := make([]Price, 0, len(c.prices))
	for _, p := range c.prices {
		out = append(out, p)
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
