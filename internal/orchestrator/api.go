package orchestrator

import (
	"encoding/json"
	"time"
)

// Wire types of the orchestrator API. Field names follow the earlier QLP so
// that its Python and JavaScript clients keep working; see docs/api.md.

// ExecuteRequest is the body of POST /execute (the earlier ExecutionRequest).
// The tenant comes from the API key; a tenant_id in the body is ignored.
type ExecuteRequest struct {
	ID           string         `json:"id,omitempty"`
	TenantID     string         `json:"tenant_id,omitempty"`
	UserID       string         `json:"user_id,omitempty"`
	Description  string         `json:"description"`
	Requirements string         `json:"requirements,omitempty"`
	Constraints  map[string]any `json:"constraints,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
	TierOverride string         `json:"tier_override,omitempty"`
}

// ExecuteResponse answers POST /execute.
type ExecuteResponse struct {
	WorkflowID string            `json:"workflow_id"`
	RequestID  string            `json:"request_id"`
	Status     string            `json:"status"`
	Message    string            `json:"message"`
	Links      map[string]string `json:"links"`
}

// V2ExecuteRequest is the body of POST /v2/execute (UnifiedExecutionRequest).
type V2ExecuteRequest struct {
	Description  string         `json:"description"`
	UserID       string         `json:"user_id,omitempty"`
	TenantID     string         `json:"tenant_id,omitempty"`
	Requirements string         `json:"requirements,omitempty"`
	Constraints  map[string]any `json:"constraints,omitempty"`
	Options      V2Options      `json:"options"`
}

// V2Options are the v2 execution options.
type V2Options struct {
	Mode         string         `json:"mode,omitempty"` // basic|complete|robust (see resolveV2)
	TierOverride string         `json:"tier_override,omitempty"`
	GitHub       *GitHubOptions `json:"github,omitempty"`
	Delivery     map[string]any `json:"delivery,omitempty"`
	Validation   map[string]any `json:"validation,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

// GitHubOptions asks for delivery to GitHub.
type GitHubOptions struct {
	Enabled  bool   `json:"enabled"`
	RepoName string `json:"repo_name,omitempty"`
	Private  bool   `json:"private,omitempty"`
	CreatePR bool   `json:"create_pr,omitempty"`
}

// V2ExecuteResponse is the UnifiedResponse of POST /v2/execute.
type V2ExecuteResponse struct {
	WorkflowID string            `json:"workflow_id"`
	RequestID  string            `json:"request_id"`
	Status     string            `json:"status"`
	Message    string            `json:"message"`
	Links      map[string]string `json:"links"`
	Metadata   V2ExecuteMetadata `json:"metadata"`
}

// V2ExecuteMetadata is the metadata of the UnifiedResponse: the mode, the
// features the job runs with (derived from its settings, see
// Service.features) and what its options resolved to.
type V2ExecuteMetadata struct {
	Mode string `json:"mode"`
	// EstimatedDuration is always null: QLP does not guess.
	EstimatedDuration *string  `json:"estimated_duration"`
	Features          []string `json:"features"`
	Options           V2Plan   `json:"options"`
}

// TaskOutput is one task in a job result.
type TaskOutput struct {
	TaskID     string   `json:"task_id"`
	Type       string   `json:"type"`
	Status     string   `json:"status"`
	Complexity string   `json:"complexity"`
	Tier       string   `json:"tier,omitempty"`
	TierReason string   `json:"tier_reason,omitempty"`
	Model      string   `json:"model,omitempty"`
	Attempts   int      `json:"attempts"`
	Files      []string `json:"files"`
	Summary    string   `json:"summary,omitempty"`
	Error      string   `json:"error,omitempty"`
	TokensIn   int      `json:"tokens_in"`
	TokensOut  int      `json:"tokens_out"`
	CostUSD    string   `json:"cost_usd"`
	// AttemptLog is every attempt of the task, in order: its own repair
	// loop's (phase task) and the repairs of findings the capsule's
	// validation routed to it (phase capsule).
	AttemptLog []AttemptOutput `json:"attempt_log,omitempty"`
}

// AttemptOutput is one attempt of a task (or of the job's planning).
type AttemptOutput struct {
	Attempt int    `json:"attempt"`
	Phase   string `json:"phase"` // task|capsule|plan
	Role    string `json:"role"`
	Tier    string `json:"tier"`
	Model   string `json:"model"`
	// Status is passed, failed or generated (not validated yet).
	Status string `json:"status"`
	// Validation is the validation's status, or "unusable" for an answer
	// that could not be used at all.
	Validation string `json:"validation,omitempty"`
	// Reason is why it failed: its first failure, or the unusable answer's
	// problem.
	Reason string `json:"reason,omitempty"`
	// Deleted are the files the attempt removed from its task.
	Deleted   []string `json:"deleted,omitempty"`
	TokensOut int      `json:"tokens_out"`
	CostUSD   string   `json:"cost_usd"`
}

// Finding is one finding of the capsule's validation that its job failed
// on: where, which check and rule, what, and the task it went back to.
type Finding struct {
	TaskID   string `json:"task_id,omitempty"`
	Check    string `json:"check"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Rule     string `json:"rule,omitempty"`
	Severity string `json:"severity,omitempty"`
	Message  string `json:"message"`
}

// JobError is one error of a job.
type JobError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// JobResult is the earlier WorkflowResult.
type JobResult struct {
	RequestID      string       `json:"request_id"`
	Status         string       `json:"status"`
	CapsuleID      string       `json:"capsule_id,omitempty"`
	TasksCompleted int          `json:"tasks_completed"`
	TasksTotal     int          `json:"tasks_total"`
	ExecutionTime  float64      `json:"execution_time"`
	Outputs        []TaskOutput `json:"outputs"`
	Errors         []JobError   `json:"errors"`
	Cost           CostSummary  `json:"cost"`
	// PlanAttempts are the job's planning attempts (a malformed plan is
	// tried again on a stronger tier).
	PlanAttempts []AttemptOutput `json:"plan_attempts,omitempty"`
	// Findings are what a failed job's capsule validation found last, in
	// full, each with its place (the error names the first of them).
	Findings []Finding `json:"findings,omitempty"`
}

// CostSummary is what a job's model calls cost.
type CostSummary struct {
	Calls     int    `json:"calls"`
	TokensIn  int64  `json:"tokens_in"`
	TokensOut int64  `json:"tokens_out"`
	USD       string `json:"usd"`
}

// StatusResponse answers GET /api/v2/jobs/{id}: QLP's own view of a job.
// (GET /workflow/status/{id} answers the earlier CLI's shape, LegacyJobStatus.)
type StatusResponse struct {
	WorkflowID  string     `json:"workflow_id"`
	RequestID   string     `json:"request_id"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
	Error       string     `json:"error,omitempty"`
	Progress    *Progress  `json:"progress,omitempty"`
	Result      *JobResult `json:"result,omitempty"`
	// TraceID is the job's OpenTelemetry trace, when it was submitted with
	// tracing on (or inside a caller's trace): look it up in the tracing
	// backend.
	TraceID string `json:"trace_id,omitempty"`
}

// Progress is how far a job is, from the tasks actually done.
type Progress struct {
	Percentage     int    `json:"percentage"`
	CurrentStep    string `json:"current_step"`
	Message        string `json:"message"`
	TasksCompleted int    `json:"tasks_completed"`
	TasksTotal     int    `json:"tasks_total"`
}

// CancelResponse answers POST /v2/workflows/{id}/cancel.
type CancelResponse struct {
	WorkflowID string `json:"workflow_id"`
	Status     string `json:"status"`
	Message    string `json:"message"`
}

// CapsuleSummary is one capsule in a list.
type CapsuleSummary struct {
	ID               string    `json:"id"`
	RequestID        string    `json:"request_id"`
	Name             string    `json:"name"`
	Description      string    `json:"description"`
	Language         string    `json:"language"`
	Framework        string    `json:"framework,omitempty"`
	Version          int       `json:"version"`
	CreatedAt        time.Time `json:"created_at"`
	FileCount        int       `json:"file_count"`
	TotalBytes       int64     `json:"total_bytes"`
	ValidationStatus string    `json:"validation_status"`
	ConfidenceScore  *float64  `json:"confidence_score"`
	ProductionReady  bool      `json:"production_ready"`
}

// CapsuleList answers GET /api/capsules.
type CapsuleList struct {
	Capsules []CapsuleSummary `json:"capsules"`
	Count    int              `json:"count"`
	Total    int              `json:"total"`
	Limit    int              `json:"limit"`
	Offset   int              `json:"offset"`
}

// CapsuleFileInfo describes one file of a capsule.
type CapsuleFileInfo struct {
	Path   string `json:"path"`
	Role   string `json:"role"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// CapsuleDetail answers GET /api/capsules/{id}.
type CapsuleDetail struct {
	ID               string            `json:"id"`
	RequestID        string            `json:"request_id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Version          int               `json:"version"`
	LatestVersion    int               `json:"latest_version"`
	CreatedAt        time.Time         `json:"created_at"`
	Manifest         json.RawMessage   `json:"manifest"`
	ValidationReport json.RawMessage   `json:"validation_report"`
	Files            []CapsuleFileInfo `json:"files"`
	Stats            CapsuleStats      `json:"stats"`
	Downloads        map[string]string `json:"downloads"`
}

// CapsuleStats sums a capsule's files.
type CapsuleStats struct {
	TotalFiles int            `json:"total_files"`
	TotalLines int            `json:"total_lines"`
	TotalBytes int64          `json:"total_bytes"`
	ByRole     map[string]int `json:"by_role"`
	Languages  []string       `json:"languages"`
}

// ProgressEvent is one SSE event of GET /progress/stream/{id}.
type ProgressEvent struct {
	ID         int64           `json:"id"`
	Type       string          `json:"type"`
	Timestamp  time.Time       `json:"timestamp"`
	Source     string          `json:"source"`
	WorkflowID string          `json:"workflow_id"`
	RequestID  string          `json:"request_id"`
	TaskID     string          `json:"task_id,omitempty"`
	TenantID   string          `json:"tenant_id"`
	Message    string          `json:"message,omitempty"`
	Data       json.RawMessage `json:"data"`
}
