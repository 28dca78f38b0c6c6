package domain

import (
	"time"
)

// Usage is one metered LLM or embedding call.
type Usage struct {
	ID                int64
	TenantID          string
	JobID             string
	TaskID            string
	Attempt           int
	Tier              string
	Role              string // decomposer, coder, fixer, embedder, …
	Provider          string
	Model             string
	InputTokens       int
	CachedInputTokens int
	OutputTokens      int
	CostPUSD          int64 // pico-USD (1e-12 USD), exact
	Cached            bool  // answered from the response cache: cost 0
	LatencyMS         int64
	CreatedAt         time.Time
}
