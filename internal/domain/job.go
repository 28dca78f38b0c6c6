package domain

import (
	"encoding/json"
	"time"
)

// JobStatus is where a job stands.
type JobStatus string

// Job states. A job ends completed, failed or cancelled.
const (
	JobQueued    JobStatus = "queued"
	JobRunning   JobStatus = "running"
	JobCompleted JobStatus = "completed"
	JobFailed    JobStatus = "failed"
	JobCancelled JobStatus = "cancelled"
)

// Terminal reports whether the status is final.
func (s JobStatus) Terminal() bool {
	return s == JobCompleted || s == JobFailed || s == JobCancelled
}

// Job is one request to build a capsule.
//
// Request ids are the tenant's: two tenants may use the same one, and one
// tenant's never reveals or blocks another's. ID is the job's key, unique
// across tenants, which everything inside QLP refers to (tasks, events,
// usage rows, the capsule and review ids derived from it, the workflow's
// input); its Temporal workflow id is "qlp-execution-" + ID.
type Job struct {
	// ID is the job key: the request id when QLP chose it (a UUID), a UUID
	// of its own when the tenant chose the request id.
	ID string
	// RequestID is the tenant's id of the job, unique within the tenant;
	// CreateJob sets it to ID when empty.
	RequestID    string
	TenantID     string
	UserID       string
	WorkflowID   string
	Description  string
	Requirements string
	Language     string
	Framework    string
	TierOverride string
	Mode         string // "v1" for /execute, or the /v2 mode (basic|complete|robust)
	Constraints  json.RawMessage
	Metadata     json.RawMessage
	// Project is the shared context decided once by decomposition: name,
	// language, framework, layout, commands.
	Project        json.RawMessage
	IdempotencyKey string
	Status         JobStatus
	Error          string
	CapsuleID      string
	TasksTotal     int
	TasksDone      int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	StartedAt      *time.Time
	CompletedAt    *time.Time
}

// TaskStatus is where a task stands.
type TaskStatus string

// Task states. Skipped means an upstream task failed.
const (
	TaskPending   TaskStatus = "pending"
	TaskRunning   TaskStatus = "running"
	TaskCompleted TaskStatus = "completed"
	TaskFailed    TaskStatus = "failed"
	TaskSkipped   TaskStatus = "skipped"
)

// File is one file a task produced.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// Task is one node of a job's task graph.
type Task struct {
	JobID        string
	ID           string
	Seq          int // position in the decomposition, for stable ordering
	Type         string
	Description  string
	Complexity   string
	Dependencies []string
	Status       TaskStatus
	Tier         string
	TierReason   string
	Model        string
	Attempts     int
	Error        string
	Summary      string // what the task produced, for its dependents' prompts
	Files        []File
	InputTokens  int
	OutputTokens int
	CostPUSD     int64 // pico-USD (1e-12 USD), exact
	StartedAt    *time.Time
	CompletedAt  *time.Time
}
