package costs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// sizeMultiplier is the earlier QLP's size multiplier of each task
// complexity (vocab.Complexities; its very_complex is meta's alias).
var sizeMultiplier = map[string]int{"trivial": 1, "simple": 2, "medium": 5, "complex": 10, "meta": 20}

// Complexities lists the complexities an estimate accepts, simplest first:
// the task complexities, then the earlier QLP's aliases of them.
func Complexities() []string {
	return append(vocab.Complexities(), vocab.ComplexityAliases()...)
}

// Baseline tokens per task-equivalent when nothing has been observed yet:
// the earlier QLP's estimate base (2000 input, 5000 output).
const (
	baselineInput  = 2000
	baselineOutput = 5000
)

// statsWindow is how far back observed token statistics reach.
const statsWindow = 90 * 24 * time.Hour

// EstimateQuery describes a request to estimate.
type EstimateQuery struct {
	Complexity string
	TechStack  []string
}

// TierCost is what the estimated tokens cost on one tier's model.
type TierCost struct {
	Tier     string `json:"tier"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
	CostUSD  string `json:"cost_usd"`
}

// TokenStats are the observed tokens per task of one tier.
type TokenStats struct {
	Tier                   string `json:"tier"`
	Tasks                  int    `json:"tasks"`
	AvgInputTokensPerTask  int64  `json:"avg_input_tokens_per_task"`
	AvgOutputTokensPerTask int64  `json:"avg_output_tokens_per_task"`
}

// Estimate is what a request of a complexity and stack is expected to cost.
// It keeps the earlier QLP's fields.
type Estimate struct {
	Complexity       string         `json:"complexity"`
	TechStack        []string       `json:"tech_stack"`
	EstimatedTokens  map[string]int `json:"estimated_tokens"`
	EstimatedCosts   []TierCost     `json:"estimated_costs"`
	RecommendedTier  string         `json:"recommended_tier"`
	RecommendedModel string         `json:"recommended_model"`
	EstimatedCostUSD string         `json:"estimated_cost_usd"`
	// Basis is "observed" (token statistics from the ledger) or "baseline"
	// (no usage on the recommended tier yet).
	Basis    string      `json:"basis"`
	Observed *TokenStats `json:"observed,omitempty"`
	// Decomposition is the observed mean tokens of planning one job.
	Decomposition map[string]int64 `json:"decomposition,omitempty"`
	Method        string           `json:"method"`
}

// EstimateMethod says how an estimate is computed.
const EstimateMethod = "an estimate, not a measurement: tokens = per-task tokens × complexity multiplier (trivial 1, simple 2, medium 5, complex 10, very_complex 20) × (1 + 0.2 × stack size), plus one decomposition; per-task tokens are the mean observed on the recommended tier over the last 90 days (coder calls), or 2000 input / 5000 output when none were observed; each tier's cost prices those tokens with its model's current catalogue price, without cached input"

// Estimate prices a request.
func (s *Service) Estimate(ctx context.Context, q EstimateQuery) (Estimate, error) {
	q.Complexity = strings.ToLower(strings.TrimSpace(q.Complexity))
	if q.Complexity == "" {
		q.Complexity = "medium"
	}
	name, ok := vocab.NormalizeComplexity(q.Complexity)
	if !ok {
		return Estimate{}, &FieldError{Field: "complexity", Message: fmt.Sprintf("%q is not one of %s", q.Complexity, strings.Join(Complexities(), ", "))}
	}
	if len(s.tiers) == 0 {
		return Estimate{}, fmt.Errorf("costs: no tier models configured to price an estimate")
	}
	stack := []string{}
	for _, t := range q.TechStack {
		if t = strings.TrimSpace(t); t != "" {
			stack = append(stack, t)
		}
	}
	if len(stack) > 50 {
		return Estimate{}, &FieldError{Field: "tech_stack", Message: "lists more than 50 items"}
	}
	now := s.now()
	groups, err := s.ledger.RollupUsage(ctx, store.RollupQuery{Filter: store.UsageFilter{Since: now.Add(-statsWindow), Until: now},
		By: []string{store.GroupTier, store.GroupRole}})
	if err != nil {
		return Estimate{}, fmt.Errorf("costs: estimate: %w", err)
	}
	tier, _ := vocab.TierForComplexity(name)
	mult := sizeMultiplier[name]
	e := Estimate{Complexity: q.Complexity, TechStack: stack, RecommendedTier: tier, Basis: "baseline", Method: EstimateMethod}
	in, out := int64(baselineInput), int64(baselineOutput)
	var decIn, decOut int64
	for _, g := range groups {
		switch {
		case g.Role == "coder" && g.Tier == tier && g.Tasks > 0:
			in, out = g.InputTokens/int64(g.Tasks), g.OutputTokens/int64(g.Tasks)
			e.Basis = "observed"
			e.Observed = &TokenStats{Tier: g.Tier, Tasks: g.Tasks, AvgInputTokensPerTask: in, AvgOutputTokensPerTask: out}
		case g.Role == "decomposer" && g.Jobs > 0:
			// Plans made on any tier: the mean per job, summed over tiers.
			decIn += g.InputTokens / int64(g.Jobs)
			decOut += g.OutputTokens / int64(g.Jobs)
		}
	}
	if decIn+decOut > 0 {
		e.Decomposition = map[string]int64{"input": decIn, "output": decOut}
	}
	// Integer arithmetic: multiplier × (5 + stack) / 5 is × (1 + 0.2·stack).
	scale := func(n int64) int64 { return n * int64(mult) * int64(5+len(stack)) / 5 }
	tin, tout := scale(in)+decIn, scale(out)+decOut
	e.EstimatedTokens = map[string]int{"input": int(tin), "output": int(tout), "total": int(tin + tout)}
	for _, t := range s.tiers {
		p, err := s.prices.Lookup(t.Provider, t.Model)
		if err != nil {
			return Estimate{}, fmt.Errorf("costs: estimate: %w", err)
		}
		c := pricing.USD(p.Cost(int(tin), 0, int(tout)))
		e.EstimatedCosts = append(e.EstimatedCosts, TierCost{Tier: t.Tier, Provider: t.Provider, Model: t.Model, CostUSD: c})
		if t.Tier == tier {
			e.RecommendedModel, e.EstimatedCostUSD = t.Model, c
		}
	}
	if e.RecommendedModel == "" {
		return Estimate{}, fmt.Errorf("costs: estimate: no model configured for tier %s", tier)
	}
	return e, nil
}

// FieldError is a problem with one input field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }
