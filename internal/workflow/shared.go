// Package workflow is QLP's main job on Temporal: QLPWorkflow on task queue
// "qlp-main", workflow id "qlp-execution-{request_id}", and its activities
// (start, decompose, generate each task, assemble the capsule, finish).
//
// The workflow carries ids and small results only. Prompts, model answers
// and files live in the store and are read by the activities that need them,
// so Temporal's history stays small and free of generated code.
package workflow

import (
	"fmt"
	"time"
)

// Names shared by every process: the API that starts jobs, the worker that
// runs them and the CLI.
const (
	TaskQueue     = "qlp-main"
	WorkflowName  = "QLPWorkflow"
	ProgressQuery = "progress"
	// ReviewSignal carries a ReviewDecision to a job waiting for a review.
	// A signal, not an update: Temporal records it even while no worker
	// runs, so a decision made during a restart is not lost.
	ReviewSignal = "hitl-decision"
)

// WorkflowID is the Temporal workflow id of the job whose key (store.Job.ID)
// is jobKey. Keys are unique across tenants, and so are workflow ids; a
// job's key is its request id unless the tenant chose the request id.
func WorkflowID(jobKey string) string { return "qlp-execution-" + jobKey }

// Input starts a job. Everything else about the job is in the store.
type Input struct {
	// RequestID is the job's key in the store (store.Job.ID), unique across
	// tenants; the tenant's own request id is store.Job.RequestID.
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
	// MaxAttempts bounds the generate → validate → fix loop of one task
	// (1 turns repair off).
	MaxAttempts int
	// EscalateAfter is how many failed attempts on one tier move the task
	// to the next tier.
	EscalateAfter int
	// TaskValidation is how each attempt of a task is validated:
	// TaskValidationQuick (compile, tests, built-in rules; the other checks
	// run on the capsule and route their findings back) or
	// TaskValidationFull (every check the capsule runs). Empty is quick.
	TaskValidation string
	// AllowReuse lets the job deliver an earlier validated capsule made for
	// a near-identical request instead of generating (metadata.allow_reuse).
	AllowReuse bool
	// Review is when a person (or the automated reviewer) must look at a
	// task before it counts as done; the zero value turns reviews off.
	Review ReviewPolicy
}

// Task validation modes (Input.TaskValidation).
const (
	TaskValidationQuick = "quick"
	TaskValidationFull  = "full"
)

// ValidTaskValidation reports whether s names a task validation mode.
func ValidTaskValidation(s string) bool { return s == TaskValidationQuick || s == TaskValidationFull }

// Review decisions, as the API, the CLI and the ReviewSignal spell them.
const (
	DecisionApprove        = "approve"
	DecisionReject         = "reject"
	DecisionRequestChanges = "request_changes"
)

// ReviewPolicy says when a task waits for a review and what happens when
// nobody answers.
type ReviewPolicy struct {
	// Threshold: a task whose passing attempt has a validation confidence
	// below it waits for a review (0 turns reviews off). An attempt that
	// could not be validated counts as confidence 0.
	Threshold float64
	// Timeout is how long a review waits before OnTimeout applies.
	Timeout time.Duration
	// OnTimeout is approve, reject or wait (no timeout).
	OnTimeout string
	// AITL lets the automated reviewer decide first; a human decides when
	// it cannot.
	AITL bool
}

// Enabled reports whether any task may wait for a review.
func (p ReviewPolicy) Enabled() bool { return p.Threshold > 0 }

// ReviewDecision is the payload of ReviewSignal.
type ReviewDecision struct {
	ReviewID  string
	Decision  string // approve|reject|request_changes
	Comment   string
	DecidedBy string
}

// ReviewID is the id of the review of one attempt of one task: stable, so
// that opening it again after a retry finds the same review.
func ReviewID(requestID, taskID string, attempt int) string {
	return fmt.Sprintf("rv-%s-%s-%d", requestID, taskID, attempt)
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
	Tasks  map[string]string `json:"tasks"` // task id → pending|running|validating|awaiting_review|completed|failed|skipped
	Done   int               `json:"done"`
	Total  int               `json:"total"`
}

// TaskRef is a task as the workflow schedules it.
type TaskRef struct {
	ID           string
	Dependencies []string
}

// DecomposeInput asks for one attempt at planning a job.
type DecomposeInput struct {
	RequestID string
	// Attempt numbers the tries, from 1; each try is an answer and, if it
	// is malformed, one re-ask.
	Attempt int
	// Tier plans; empty is the decomposer's tier.
	Tier string
}

// DecomposeResult is the task graph, without the descriptions, or why the
// attempt's plan could not be used (Problem; then Tasks is empty).
type DecomposeResult struct {
	Tasks   []TaskRef
	Tier    string
	Model   string
	Problem string
}

// PlanTaskID is the task id of a job's planning attempts in the store
// (task ids of a plan start with a letter or digit, so it names none).
const PlanTaskID = "_plan"

// ValidationUnusable is the validation status of an attempt whose answer
// could not be used at all (no files, no JSON, cut off twice): it failed
// before anything could be validated.
const ValidationUnusable = "unusable"

// JobRef names a job for an activity.
type JobRef struct {
	RequestID string
}

// TaskInput names one task.
type TaskInput struct {
	RequestID string
	TaskID    string
	// Attempt numbers the tries of the repair loop, from 1.
	Attempt int
	// Tier, when set, is the tier the workflow chose for this attempt
	// (escalation); empty lets the first attempt route itself.
	Tier       string
	TierReason string
	// Comment is a reviewer's request for changes, for the fixer.
	Comment string
	// ReviewThreshold: a passing attempt with a confidence below it is not
	// completed by ValidateTask but waits for a review (0: never).
	ReviewThreshold float64
	// Phase is store.PhaseTask (empty) or store.PhaseCapsule: an attempt
	// that repairs findings the capsule's validation (round CapsuleRound)
	// routed to the task.
	Phase        string
	CapsuleRound int
	// Full validates the attempt with every check (TaskValidationFull).
	Full bool
}

// TaskResult sums up one generated attempt. An attempt whose answer could
// not be used (Unusable) is a failed attempt with Problem as its reason; it
// has no files and is not validated.
type TaskResult struct {
	Tier         string
	Model        string
	Files        int
	InputTokens  int
	OutputTokens int
	CostPUSD     int64
	Unusable     bool
	Problem      string
}

// CapsuleInput names one round of the capsule's validation: round 1
// validates the project its tasks assembled; each later round follows a
// repair of the findings the previous round routed back to the tasks.
type CapsuleInput struct {
	RequestID string
	Round     int
}

// CapsuleResult sums up one full validation of the assembled project.
type CapsuleResult struct {
	// Status is passed|warning|failed|not_validated.
	Status  string
	Summary string
	// Failure names the failed checks' findings with file, line, rule
	// and message (bounded; the store keeps all of them).
	Failure string
	// Routes say which tasks repair which findings.
	Routes []CapsuleRoute
}

// CapsuleRoute is the share of a failed capsule validation one task
// repairs; the failures its fixer gets stay in the store.
type CapsuleRoute struct {
	TaskID      string
	Findings    int
	Fingerprint string
	Brief       string // the first findings, in a line
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
	// Strict: the job accepts only a capsule whose validation passed
	// (ExecutionOptions.Strict).
	Strict bool
}

// FinishInput ends a job.
type FinishInput struct {
	RequestID string
	Status    string // completed|failed|cancelled
	Error     string
	CapsuleID string
	Done      int
	// CapsuleRound, when the job fails on its capsule's validation, is the
	// round whose findings the terminal event lists.
	CapsuleRound int
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
