package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// Memory is what the workflow, the agents and the CLI use. *Service (in
// process) and *Client (over HTTP) implement it; one conformance suite runs
// against both.
//
// Every method acts for the tenant of the principal in ctx
// (auth.WithPrincipal, set by auth.Require for HTTP callers); a context
// without a tenant fails with ErrNoTenant.
type Memory interface {
	// SimilarRequests finds past requests like this one, with their task
	// decomposition and outcome: hints for the decomposer.
	SimilarRequests(ctx context.Context, q RequestQuery) ([]RequestMatch, error)
	// CodeExamples finds validated code from earlier capsules: examples for
	// the coder's prompt.
	CodeExamples(ctx context.Context, q CodeQuery) ([]CodeExample, error)
	// TierStats aggregates recorded outcomes of one (task type, complexity)
	// by tier, with sample counts, and recommends a tier when one has enough
	// samples and successes: what the tier router reads.
	TierStats(ctx context.Context, q TierQuery) (TierStats, error)
	// RepairHints finds fixes that worked for similar errors.
	RepairHints(ctx context.Context, q ErrorQuery) ([]RepairHint, error)
	// FindReusable finds a validated capsule made for a near-identical
	// request, or fails with ErrNoMatch.
	FindReusable(ctx context.Context, q ReuseQuery) (Reuse, error)

	// RecordRequest stores a request with its decomposition and, once
	// known, its outcome (same request id: replaced).
	RecordRequest(ctx context.Context, r RequestRecord) error
	// RecordCapsule stores a capsule's files as code patterns and its request
	// as reusable, if the capsule was validated.
	RecordCapsule(ctx context.Context, c CapsuleRecord) (CapsuleStored, error)
	// RecordCodePattern stores one piece of code.
	RecordCodePattern(ctx context.Context, p CodePattern) (string, error)
	// RecordTaskOutcome stores the outcome of one task at one tier.
	RecordTaskOutcome(ctx context.Context, o TaskOutcome) error
	// RecordErrorFix stores an error and the fix that resolved it.
	RecordErrorFix(ctx context.Context, f ErrorFix) error

	// Search searches one collection by text or by vector.
	Search(ctx context.Context, q SearchQuery) ([]SearchHit, error)
	// Stats counts the tenant's entries per collection.
	Stats(ctx context.Context) (Stats, error)
	// Reindex re-embeds stored entries with the current embedder (all
	// tenants), rebuilding collections whose dimension changed.
	Reindex(ctx context.Context, opts ReindexOptions) (ReindexReport, error)
}

// Errors callers may test with errors.Is / errors.As.
var (
	// ErrNoTenant: the context carries no tenant.
	ErrNoTenant = errors.New("memory: the caller's credential names no tenant")
	// ErrNoMatch: nothing is similar enough.
	ErrNoMatch = errors.New("memory: no match")
	// ErrReindexRequired: stored vectors have another dimension than the
	// embedder's; run `qlp memory reindex`.
	ErrReindexRequired = errors.New("memory: stored vectors do not match the embedder; run `qlp memory reindex`")
)

// FieldError is invalid input, naming the field at fault.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("memory: %s: %s", e.Field, e.Message) }

// Is makes errors.Is(err, vector.ErrInvalid) true for field errors.
func (e *FieldError) Is(target error) bool { return target == vector.ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Task is one task of a decomposition.
type Task struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Description  string   `json:"description"`
	Complexity   string   `json:"complexity,omitempty"`
	Tier         string   `json:"tier,omitempty"`
	Dependencies []string `json:"dependencies,omitempty"`
}

// RequestQuery asks for past requests similar to Description.
type RequestQuery struct {
	// RequestID is the job this call is made for (metering).
	RequestID   string `json:"request_id,omitempty"`
	Description string `json:"description"`
	// Limit defaults to 5, at most 50.
	Limit int `json:"limit,omitempty"`
	// MinScore overrides the configured threshold when positive.
	MinScore float64 `json:"min_score,omitempty"`
	// Filters are equality conditions on stored fields (language,
	// success, capsule_id, request_id).
	Filters map[string]any `json:"filters,omitempty"`
	// SuccessfulOnly keeps only requests whose job succeeded.
	SuccessfulOnly bool `json:"successful_only,omitempty"`
}

// RequestMatch is one past request (the earlier QLP's /search/requests
// shape, extended).
type RequestMatch struct {
	ID            string    `json:"id"`
	RequestID     string    `json:"request_id"`
	Description   string    `json:"description"`
	Language      string    `json:"language,omitempty"`
	Tasks         []Task    `json:"tasks"`
	Success       bool      `json:"success"`
	SuccessRate   float64   `json:"success_rate"`
	ExecutionTime float64   `json:"execution_time"` // seconds
	CapsuleID     string    `json:"capsule_id,omitempty"`
	Score         float64   `json:"score"`
	TenantID      string    `json:"tenant_id"`
	UserID        string    `json:"user_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// RequestRecord is a request with its decomposition and outcome.
type RequestRecord struct {
	RequestID   string `json:"request_id"`
	Description string `json:"description"`
	Language    string `json:"language,omitempty"`
	UserID      string `json:"user_id,omitempty"`
	Tasks       []Task `json:"tasks"`
	// Success is the job's outcome; nil while it is running.
	Success *bool `json:"success,omitempty"`
	// SuccessRate is the share of tasks that passed (0..1).
	SuccessRate   float64 `json:"success_rate,omitempty"`
	ExecutionTime float64 `json:"execution_time,omitempty"` // seconds
	CapsuleID     string  `json:"capsule_id,omitempty"`
}

// CodeQuery asks for code examples.
type CodeQuery struct {
	RequestID string `json:"request_id,omitempty"`
	// Query is what the code should do (task or request text).
	Query    string `json:"query"`
	Limit    int    `json:"limit,omitempty"`
	Language string `json:"language,omitempty"`
	TaskType string `json:"task_type,omitempty"`
	// MinSuccessRate keeps patterns whose validation score is at least this.
	MinSuccessRate float64 `json:"min_success_rate,omitempty"`
	MinScore       float64 `json:"min_score,omitempty"`
}

// CodeExample is one stored, validated piece of code (the earlier QLP's
// /search/code shape, extended).
type CodeExample struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	// Task is what the file was written for (a capsule's task), without
	// the earlier request around it: what a prompt shows of an example.
	Task        string    `json:"task,omitempty"`
	Path        string    `json:"path,omitempty"`
	Code        string    `json:"code"`
	Language    string    `json:"language"`
	TaskType    string    `json:"task_type,omitempty"`
	SuccessRate float64   `json:"success_rate"`
	CapsuleID   string    `json:"capsule_id,omitempty"`
	RequestID   string    `json:"request_id,omitempty"`
	Truncated   bool      `json:"truncated,omitempty"`
	Score       float64   `json:"score"`
	CreatedAt   time.Time `json:"created_at"`
}

// CodePattern is one piece of code to remember.
type CodePattern struct {
	RequestID   string `json:"request_id,omitempty"`
	CapsuleID   string `json:"capsule_id,omitempty"`
	Path        string `json:"path,omitempty"`
	Language    string `json:"language"`
	TaskType    string `json:"task_type,omitempty"`
	Complexity  string `json:"complexity,omitempty"`
	Tier        string `json:"tier,omitempty"`
	Description string `json:"description"`
	Code        string `json:"code"`
	// Validated says the code passed validation and tests; only validated
	// code is offered as an example.
	Validated bool `json:"validated"`
	// Score is the validation confidence (0..1).
	Score float64 `json:"score,omitempty"`
}

// CapsuleFile is one file of a capsule.
type CapsuleFile struct {
	Path     string `json:"path"`
	Content  string `json:"content"`
	Role     string `json:"role,omitempty"` // source, test, doc or config
	Language string `json:"language,omitempty"`
	TaskType string `json:"task_type,omitempty"`
	// Task describes the task that produced the file; it is embedded with
	// the file, so a coder working on a similar task finds it.
	Task string `json:"task,omitempty"`
}

// CapsuleRecord is a finished capsule.
type CapsuleRecord struct {
	CapsuleID   string `json:"capsule_id"`
	RequestID   string `json:"request_id"`
	Description string `json:"description"` // the user's request
	Language    string `json:"language,omitempty"`
	// Validated: the capsule passed validation and its tests ran green.
	Validated       bool          `json:"validated"`
	ValidationScore float64       `json:"validation_score,omitempty"`
	Files           []CapsuleFile `json:"files"`
}

// CapsuleStored says what RecordCapsule kept.
type CapsuleStored struct {
	Status    string `json:"status"`
	CapsuleID string `json:"capsule_id"`
	Patterns  int    `json:"patterns"`
	Reusable  bool   `json:"reusable"`
	Reason    string `json:"reason,omitempty"`
}

// TaskOutcome is how one task went at one tier.
type TaskOutcome struct {
	RequestID  string `json:"request_id"`
	TaskID     string `json:"task_id"`
	TaskType   string `json:"task_type"`
	Complexity string `json:"complexity"`
	Tier       string `json:"tier"`
	Success    bool   `json:"success"`
	// Description of the task (embedded, so outcomes can be searched).
	Description string  `json:"description,omitempty"`
	Attempts    int     `json:"attempts,omitempty"`
	Duration    float64 `json:"duration_seconds,omitempty"`
	CostUSD     float64 `json:"cost_usd,omitempty"`
}

// TierQuery asks for the statistics of one (task type, complexity).
type TierQuery struct {
	TaskType   string `json:"task_type"`
	Complexity string `json:"complexity"`
	// MinSamples and MinSuccessRate override the configured requirement of
	// a recommendation when positive.
	MinSamples     int     `json:"min_samples,omitempty"`
	MinSuccessRate float64 `json:"min_success_rate,omitempty"`
}

// TierStat is the record of one tier.
type TierStat struct {
	Tier        string  `json:"tier"`
	Samples     int     `json:"samples"`
	Successes   int     `json:"successes"`
	SuccessRate float64 `json:"success_rate"`
	MeanSeconds float64 `json:"mean_seconds"`
	MeanCostUSD float64 `json:"mean_cost_usd"`
}

// TierStats is the record of one (task type, complexity).
type TierStats struct {
	TaskType   string     `json:"task_type"`
	Complexity string     `json:"complexity"`
	Samples    int        `json:"sample_size"`
	Tiers      []TierStat `json:"tiers"`
	// Recommended is the cheapest tier with at least MinSamples outcomes
	// and a success rate of at least MinSuccessRate; "" when none has.
	Recommended    string  `json:"optimal_tier"`
	SuccessRate    float64 `json:"success_rate"` // of the recommended tier
	MinSamples     int     `json:"min_samples"`
	MinSuccessRate float64 `json:"min_success_rate"`
}

// ErrorQuery asks for fixes of an error.
type ErrorQuery struct {
	RequestID string  `json:"request_id,omitempty"`
	Error     string  `json:"error"`
	Language  string  `json:"language,omitempty"`
	Limit     int     `json:"limit,omitempty"`
	MinScore  float64 `json:"min_score,omitempty"`
}

// ErrorFix is an error and the change that resolved it.
type ErrorFix struct {
	RequestID string `json:"request_id,omitempty"`
	Error     string `json:"error"`
	Fix       string `json:"fix"`
	Language  string `json:"language,omitempty"`
	ErrorType string `json:"error_type,omitempty"` // compile, lint, test, type, security...
	TaskType  string `json:"task_type,omitempty"`
}

// RepairHint is a fix that worked for a similar error.
type RepairHint struct {
	ID          string    `json:"id"`
	Error       string    `json:"error"`
	Fix         string    `json:"fix"`
	Language    string    `json:"language,omitempty"`
	ErrorType   string    `json:"error_type,omitempty"`
	Occurrences int       `json:"occurrences"`
	Score       float64   `json:"score"`
	CreatedAt   time.Time `json:"created_at"`
}

// ReuseQuery asks for a validated capsule made for a near-identical request.
type ReuseQuery struct {
	RequestID   string  `json:"request_id,omitempty"`
	Description string  `json:"description"`
	Language    string  `json:"language,omitempty"`
	MinScore    float64 `json:"min_score,omitempty"`
}

// Reuse names the capsule that may be delivered again.
type Reuse struct {
	CapsuleID   string  `json:"capsule_id"`
	RequestID   string  `json:"request_id"`
	Description string  `json:"description"`
	Language    string  `json:"language,omitempty"`
	Score       float64 `json:"score"`
}

// SearchQuery searches one collection by Text (embedded) or Vector.
type SearchQuery struct {
	RequestID  string        `json:"request_id,omitempty"`
	Collection string        `json:"collection"`
	Text       string        `json:"text,omitempty"`
	Vector     []float32     `json:"vector,omitempty"`
	Limit      int           `json:"limit,omitempty"`
	MinScore   float64       `json:"min_score,omitempty"`
	Filter     vector.Filter `json:"filter,omitempty"`
}

// SearchHit is one raw search result.
type SearchHit struct {
	ID         string         `json:"id"`
	Collection string         `json:"collection"`
	Score      float64        `json:"score"`
	Payload    map[string]any `json:"payload"`
	CreatedAt  time.Time      `json:"created_at"`
}

// Stats describes the memory as the tenant sees it.
type Stats struct {
	Backend     string            `json:"backend"`
	Embedder    EmbedderInfo      `json:"embedder"`
	Collections []CollectionStats `json:"collections"`
	Thresholds  Thresholds        `json:"thresholds"`
}

// EmbedderInfo names the embedder in use.
type EmbedderInfo struct {
	Provider  string `json:"provider"`
	Model     string `json:"model"`
	Dimension int    `json:"dimension"`
	// Lexical is true for the builtin embedder: similarity of words, not
	// of meaning.
	Lexical bool `json:"lexical"`
}

// CollectionStats counts one collection.
type CollectionStats struct {
	Name      string `json:"name"`
	Dimension int    `json:"dimension"`
	Points    int    `json:"points"`
}

// ReindexOptions chooses what to re-embed.
type ReindexOptions struct {
	// Collections to re-embed; empty means all.
	Collections []string `json:"collections,omitempty"`
}

// ReindexReport says what was re-embedded.
type ReindexReport struct {
	Collections []ReindexedCollection `json:"collections"`
}

// ReindexedCollection is the outcome for one collection.
type ReindexedCollection struct {
	Name         string `json:"name"`
	Points       int    `json:"points"`
	Tenants      int    `json:"tenants"`
	OldDimension int    `json:"old_dimension"`
	NewDimension int    `json:"new_dimension"`
	Rebuilt      bool   `json:"rebuilt"`
}
