// Package workflow is QLP's main job on Temporal: QLPWorkflow on task queue
// "qlp-main", workflow id "qlp-execution-{request_id}", and its activities
// (start, decompose, generate each task, assemble the capsule, finish).
//
// The workflow carries ids and small results only. Prompts, model answers
// and files live in the store and are read by the activities that need them,
// so Temporal's history stays small and free of generated code.
package workflow

import "time"

// Names shared by every process: the API that starts jobs, the worker that
// runs them and the CLI.
const (
	TaskQueue     = "qlp-main"
	WorkflowName  = "QLPWorkflow"
	ProgressQuery = "progress"
)

// WorkflowID is the Temporal workflow id of a request.
func WorkflowID(requestID string) string { return "qlp-execution-" + requestID }

// Input starts a job. Everything else about the job is in the store.
type Input struct {
	RequestID string
	TenantID  string
	// MaxParallel bounds how many independent tasks generate at once.
	MaxParallel int
	// HeartbeatTimeout is how long a silent model call may go unnoticed
	// before Temporal retries it elsewhere (after a crash, say).
	HeartbeatTimeout time.Duration
	// TaskTimeout bounds one attempt of one task (all its model calls),
	// one task's validation and the capsule's assembly with its full
	// validation.
	TaskTimeout time.Duration
	// AllowReuse lets the job deliver an earlier validated capsule made for
	// a near-identical request instead of generating (metadata.allow_reuse).
	AllowReuse bool
}

// Result is what a finished job returns; it keeps the earlier QLP's
// WorkflowResult fields.
type Result struct {
	RequestID      string   `json:"request_id"`
	Status         string   `json:"status"`
	CapsuleID      string   `json:"capsule_id,omitempty"`
	TasksCompleted int      `json:"tasks_completed"`
	TasksTotal     int      `json:"tasks_total"`
	ExecutionTime  float64  `json:"execution_time"`
	Errors         []string `json:"errors,omitempty"`
}

// State is what the progress query returns while the job runs.
type State struct {
	Status string            `json:"status"`
	Step   string            `json:"step"`
	Tasks  map[string]string `json:"tasks"` // task id → pending|running|validating|completed|failed|skipped
	Done   int               `json:"done"`
	Total  int               `json:"total"`
}

// TaskRef is a task as the workflow schedules it.
type TaskRef struct {
	ID           string
	Dependencies []string
}

// DecomposeResult is the task graph, without the descriptions.
type DecomposeResult struct {
	Tasks []TaskRef
}

// JobRef names a job for an activity.
type JobRef struct {
	RequestID string
}

// TaskInput names one task.
type TaskInput struct {
	RequestID string
	TaskID    string
}

// TaskResult sums up one generated task.
type TaskResult struct {
	Files        int
	InputTokens  int
	OutputTokens int
	CostPUSD     int64
}

// TaskFailure records why a task failed, or why tasks were skipped.
type TaskFailure struct {
	RequestID string
	TaskIDs   []string
	Reason    string
	Skipped   bool
}

// AssembleResult names the stored capsule and sums up its validation.
type AssembleResult struct {
	CapsuleID string
	Files     int
	// Validation is the capsule's overall validation status:
	// passed|warning|failed|not_validated.
	Validation          string
	ValidationSummary   string
	RequiresHumanReview bool
}

// FinishInput ends a job.
type FinishInput struct {
	RequestID string
	Status    string // completed|failed|cancelled
	Error     string
	CapsuleID string
	Done      int
}

// Error types that no retry can fix.
const (
	ErrTypeMalformedPlan  = "MalformedPlan"
	ErrTypeUnusableOutput = "UnusableOutput"
	ErrTypeModelRefused   = "ModelRefused"
	ErrTypeJobState       = "JobState"
	ErrTypeJobFailed      = "JobFailed"
	// ErrTypeBudgetExceeded: a budget refused a model call (package budget).
	ErrTypeBudgetExceeded = "BudgetExceeded"
)
