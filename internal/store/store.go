// Package store is QLP's system of record: tenants and API keys, jobs and
// their tasks, capsules with versions and files, LLM usage rows and progress
// events. The records themselves are package domain's; the store persists
// them and keeps aliases (store.Job, store.Usage, …) for its API.
//
// One implementation of [Store] speaks SQL to two databases: SQLite through
// the pure-Go modernc.org/sqlite driver (the embedded default, a file under
// QLP_DATA_DIR) and PostgreSQL through pgx v5. Each has its own versioned
// migrations (migrations/sqlite, migrations/postgres) applied at start-up
// and by `qlp migrate`; one conformance suite (package storetest) runs
// against both.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound means the row does not exist or belongs to another tenant;
	// the two must be indistinguishable to the caller.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique constraint refused the write.
	ErrConflict = errors.New("conflict")
	// ErrLimit means a limit refused the write (see [ActiveJobsError]).
	ErrLimit = errors.New("limit reached")
)

// ActiveJobsError is CreateJobWithin's refusal: the tenant already has
// Active jobs queued or running, and Max is the limit.
type ActiveJobsError struct{ Active, Max int }

func (e *ActiveJobsError) Error() string {
	return fmt.Sprintf("the tenant has %d jobs in progress, the limit is %d", e.Active, e.Max)
}

// Unwrap makes the error match ErrLimit.
func (e *ActiveJobsError) Unwrap() error { return ErrLimit }

// Tenant is an organisation whose jobs, capsules and costs are kept apart.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIKey is a tenant credential. Only its SHA-256 digest is stored.
type APIKey struct {
	ID        string
	TenantID  string
	Name      string
	Prefix    string // first characters of the key, for display
	Digest    string // hex SHA-256 of the whole key
	Scopes    []string
	CreatedAt time.Time
	RevokedAt *time.Time
	// ExpiresAt, when set, is when the key stops being accepted (a rotated
	// key keeps working until then).
	ExpiresAt *time.Time
	// LastUsedAt is when the key last authenticated a call (to the minute).
	LastUsedAt *time.Time
}

// Expired reports whether the key has expired at now.
func (k APIKey) Expired(now time.Time) bool { return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) }

// AuditEntry is one state-changing call, as the audit log keeps it.
type AuditEntry struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	TenantID string    `json:"tenant_id"`
	// Actor is who made the call: "key:<id>", "oidc:<subject>",
	// "service", or "cli:<user>" for commands run on the store.
	Actor string `json:"actor"`
	// Action is the route ("POST /v2/execute") or the command.
	Action string `json:"action"`
	// Target is the path or the object acted on.
	Target string `json:"target"`
	// Status is the HTTP status of the answer (0 for commands).
	Status int `json:"status"`
	// Outcome is "ok", "refused" (4xx) or "error" (5xx or a failed command).
	Outcome   string `json:"outcome"`
	RequestID string `json:"request_id,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	TenantID string // "" for every tenant (operators only)
	Since    time.Time
	Until    time.Time
	Limit    int
}

// JobUpdate changes the fields that are set.
type JobUpdate struct {
	Status      *JobStatus
	Error       *string
	CapsuleID   *string
	Project     *json.RawMessage
	TasksTotal  *int
	TasksDone   *int
	StartedAt   *time.Time
	CompletedAt *time.Time
}

// TaskUpdate changes the fields that are set.
type TaskUpdate struct {
	Status       *TaskStatus
	Tier         *string
	TierReason   *string
	Model        *string
	Attempts     *int
	Error        *string
	Summary      *string
	Files        *[]File
	InputTokens  *int
	OutputTokens *int
	CostPUSD     *int64
	StartedAt    *time.Time
	CompletedAt  *time.Time
}

// UsageFilter selects usage rows; zero fields match everything.
type UsageFilter struct {
	TenantID string
	JobID    string
	// Providers, when not empty, keeps the rows of these providers only.
	Providers []string
	Since     time.Time
	Until     time.Time
}

// UsageTotals sums usage rows.
type UsageTotals struct {
	Calls             int
	InputTokens       int64
	CachedInputTokens int64
	OutputTokens      int64
	CostPUSD          int64
}

// Rollup periods: usage summed per UTC calendar day or month.
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Rollup groupings: the usage row columns a rollup may group by.
const (
	GroupTenant   = "tenant"
	GroupJob      = "job"
	GroupTask     = "task"
	GroupAttempt  = "attempt"
	GroupTier     = "tier"
	GroupRole     = "role"
	GroupProvider = "provider"
	GroupModel    = "model"
)

// RollupQuery asks for usage sums per period and grouping.
type RollupQuery struct {
	Filter UsageFilter
	// Period is "" (the whole range), PeriodDay or PeriodMonth.
	Period string
	// By lists Group* columns; the result has one row per combination seen,
	// ordered by period and then these columns.
	By []string
}

// UsageGroup is one row of a rollup. Only the period and the columns asked
// for are set.
type UsageGroup struct {
	Period            string // "2026-11-25" or "2026-11"; "" without a period
	TenantID          string
	JobID             string
	TaskID            string
	Attempt           int
	Tier              string
	Role              string
	Provider          string
	Model             string
	Calls             int
	CachedCalls       int // answered from the response cache, at cost 0
	Jobs              int // distinct jobs among the rows
	Tasks             int // distinct (job, task) pairs among the rows
	InputTokens       int64
	CachedInputTokens int64
	OutputTokens      int64
	CostPUSD          int64
}

// NoLimit is a budget limit that allows any spend.
const NoLimit int64 = -1

// Budget is a tenant's own budget settings. A nil limit means the configured
// default; [NoLimit] means none; an empty policy means the configured one.
type Budget struct {
	TenantID    string
	RequestPUSD *int64
	DailyPUSD   *int64
	MonthlyPUSD *int64
	Policy      string
	UpdatedBy   string // the key id that set it
	UpdatedAt   time.Time
}

// ReviewPolicy is a tenant's own human-review policy. A nil field means the
// server's setting (QLP_HITL_*); a job's metadata may override either.
type ReviewPolicy struct {
	TenantID  string
	Threshold *float64       // 0..1; 0 turns reviews off
	Timeout   *time.Duration // positive, whole seconds
	OnTimeout *string        // approve, reject or wait
	AITL      *bool
	UpdatedBy string // the key id that set it
	UpdatedAt time.Time
}

// Unset reports whether p leaves every field to the server's setting.
func (p ReviewPolicy) Unset() bool {
	return p.Threshold == nil && p.Timeout == nil && p.OnTimeout == nil && p.AITL == nil
}

// BudgetAlert records that spend reached a share of a budget. An alert is
// recorded once per (Scope, Subject, Period, Percent).
type BudgetAlert struct {
	ID        int64
	Scope     string // request, tenant_daily, tenant_monthly, pool
	Subject   string // the job id, tenant id or pool name
	Period    string // the day or month of a tenant budget; "" otherwise
	Percent   int
	TenantID  string
	JobID     string
	SpentPUSD int64
	LimitPUSD int64
	Message   string
	CreatedAt time.Time
}

// Store is the system of record. Every method is safe for concurrent use.
// Methods that take a tenantID scope their read to that tenant; an empty
// tenantID is for internal callers (workflow activities) only.
type Store interface {
	EnsureTenant(ctx context.Context, id, name string) (Tenant, error)
	GetTenant(ctx context.Context, id string) (Tenant, error)

	CreateAPIKey(ctx context.Context, k APIKey) error
	APIKeyByDigest(ctx context.Context, digest string) (APIKey, error)
	ListAPIKeys(ctx context.Context, tenantID string) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, tenantID, id string) error
	// ExpireAPIKey sets when the key stops being accepted.
	ExpireAPIKey(ctx context.Context, tenantID, id string, at time.Time) error
	// TouchAPIKey records that the key was used at.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// AppendAudit adds an entry to the append-only audit log.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit reads the audit log, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// CreateJob inserts j. When j.IdempotencyKey is set and the tenant already
	// has a job with that key, it returns that job and created=false. A
	// request id the tenant already used, or a key or workflow id that
	// exists, is ErrConflict; another tenant's request ids never are.
	CreateJob(ctx context.Context, j Job) (job Job, created bool, err error)
	// CreateJobWithin is CreateJob for a tenant allowed at most maxActive
	// jobs queued or running: over it, it creates nothing and returns an
	// *ActiveJobsError. The count and the insert are one transaction
	// serialised per tenant, so that the limit holds across every process
	// using the database. A repeated idempotency key returns the earlier
	// job whatever the count; maxActive <= 0 means no limit.
	CreateJobWithin(ctx context.Context, j Job, maxActive int) (job Job, created bool, err error)
	// GetJob returns the job with key id.
	GetJob(ctx context.Context, tenantID, id string) (Job, error)
	// FindJob returns the tenant's job whose workflow id is workflowID or,
	// when there is none, whose request id is requestID. Another tenant's
	// job is ErrNotFound, exactly like a missing one.
	FindJob(ctx context.Context, tenantID, workflowID, requestID string) (Job, error)
	ListJobs(ctx context.Context, tenantID string, limit, offset int) ([]Job, error)
	UpdateJob(ctx context.Context, id string, u JobUpdate) error

	// PutTasks replaces the task graph of a job.
	PutTasks(ctx context.Context, jobID string, tasks []Task) error
	GetTask(ctx context.Context, jobID, taskID string) (Task, error)
	ListTasks(ctx context.Context, jobID string) ([]Task, error)
	UpdateTask(ctx context.Context, jobID, taskID string, u TaskUpdate) error

	// AddCapsuleVersion stores v (files included) and creates c first when
	// it does not exist yet; v.Version must be LatestVersion+1.
	AddCapsuleVersion(ctx context.Context, c Capsule, v CapsuleVersion) error
	GetCapsule(ctx context.Context, tenantID, id string) (Capsule, error)
	ListCapsules(ctx context.Context, tenantID string, limit, offset int) (caps []Capsule, total int, err error)
	// GetCapsuleVersion loads a version with its files; version 0 is the latest.
	GetCapsuleVersion(ctx context.Context, tenantID, id string, version int) (CapsuleVersion, error)
	GetCapsuleFile(ctx context.Context, tenantID, id string, version int, path string) (CapsuleFile, error)

	RecordUsage(ctx context.Context, u Usage) error
	ListUsage(ctx context.Context, f UsageFilter) ([]Usage, error)
	SumUsage(ctx context.Context, f UsageFilter) (UsageTotals, error)
	// RollupUsage sums usage rows per period and grouping, in the database.
	RollupUsage(ctx context.Context, q RollupQuery) ([]UsageGroup, error)

	// GetBudget returns a tenant's own budget, or ErrNotFound when it has
	// never set one.
	GetBudget(ctx context.Context, tenantID string) (Budget, error)
	// PutBudget creates or replaces a tenant's budget.
	PutBudget(ctx context.Context, b Budget) error
	// RecordBudgetAlert stores a; created is false when the same alert was
	// recorded before (by this process or another).
	RecordBudgetAlert(ctx context.Context, a BudgetAlert) (created bool, err error)
	// ListBudgetAlerts returns a tenant's alerts, newest first; an empty
	// tenantID lists the platform's (credit pool) alerts.
	ListBudgetAlerts(ctx context.Context, tenantID string, limit int) ([]BudgetAlert, error)

	// GetReviewPolicy returns a tenant's own review policy; a tenant that
	// never set one gets a policy with every field unset (not ErrNotFound).
	GetReviewPolicy(ctx context.Context, tenantID string) (ReviewPolicy, error)
	// PutReviewPolicy creates or replaces a tenant's review policy.
	PutReviewPolicy(ctx context.Context, p ReviewPolicy) error

	AppendEvent(ctx context.Context, e Event) (Event, error)
	// ListEvents returns a job's events with ID > afterID, oldest first.
	ListEvents(ctx context.Context, jobID string, afterID int64, limit int) ([]Event, error)

	Loop
	Policies
	Deliveries
	Marketing
	ModelPacks

	// Driver names the backend: "sqlite" or "postgres".
	Driver() string
	Ping(ctx context.Context) error
	Close() error
}

// Loop is the part of the store the repair loop and reviews use.
type Loop interface {
	// PutAttempt inserts or replaces an attempt.
	PutAttempt(ctx context.Context, a Attempt) error
	// ListAttempts returns a job's attempts (of one task when taskID is
	// set), by task and attempt.
	ListAttempts(ctx context.Context, jobID, taskID string) ([]Attempt, error)
	// GetAttempt returns one attempt.
	GetAttempt(ctx context.Context, jobID, taskID string, attempt int) (Attempt, error)

	CreateReview(ctx context.Context, r Review) error
	// GetReview returns a review; tenantID scopes it unless empty.
	GetReview(ctx context.Context, tenantID, id string) (Review, error)
	// ListReviews returns a tenant's reviews with the status (all when
	// empty), oldest first.
	ListReviews(ctx context.Context, tenantID, status string) ([]Review, error)
	// DecideReview records a decision on a pending review; ErrConflict if
	// it is no longer pending.
	DecideReview(ctx context.Context, id, status, comment, decidedBy string, at time.Time) error

	// PutCapsuleCheck inserts or replaces one full validation of a job's
	// assembled project.
	PutCapsuleCheck(ctx context.Context, c CapsuleCheck) error
	// GetCapsuleCheck returns a job's capsule check of one round.
	GetCapsuleCheck(ctx context.Context, jobID string, round int) (CapsuleCheck, error)
	// LatestCapsuleCheck returns a job's last capsule check; ErrNotFound if
	// its capsule was never validated.
	LatestCapsuleCheck(ctx context.Context, jobID string) (CapsuleCheck, error)
}

// Deliveries is the part of the store the delivery loop uses.
type Deliveries interface {
	// PutDeliveryRound inserts or replaces a round (by loop and round).
	PutDeliveryRound(ctx context.Context, r DeliveryRound) error
	// ListDeliveryRounds returns the rounds of a tenant's capsule, oldest
	// first; tenantID scopes them unless empty.
	ListDeliveryRounds(ctx context.Context, tenantID, capsuleID string) ([]DeliveryRound, error)
	// PendingDeliveryRounds returns the rounds waiting on the CI of a
	// commit of a forge's repository (state pending).
	PendingDeliveryRounds(ctx context.Context, forge, repo, sha string) ([]DeliveryRound, error)
}
