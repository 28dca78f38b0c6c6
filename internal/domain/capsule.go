package domain

import (
	"encoding/json"
	"time"
)

// Capsule is a generated project; its content lives in versions.
type Capsule struct {
	ID       string
	TenantID string
	JobID    string // the job's key (Job.ID)
	// RequestID is the job's request id (Job.RequestID), read with the
	// capsule; AddCapsuleVersion ignores it.
	RequestID     string
	Name          string
	Description   string
	Language      string
	LatestVersion int
	FileCount     int
	TotalBytes    int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// CapsuleFile is one file of a capsule version, with its role and digest.
type CapsuleFile struct {
	Path    string
	Role    string // source|test|doc|config
	Size    int64
	SHA256  string
	Content []byte
}

// CapsuleVersion is one immutable revision of a capsule.
type CapsuleVersion struct {
	CapsuleID     string
	Version       int
	ParentVersion int
	Message       string
	Manifest      []byte // qlp-manifest.json as signed
	Report        []byte // validation-report.json
	Files         []CapsuleFile
	CreatedAt     time.Time
}

// CapsuleCheck is one full validation of a job's assembled project (one
// round of the capsule's repair loop): what failed, where, and which task
// each finding went back to.
type CapsuleCheck struct {
	JobID   string
	Round   int
	Status  string // passed|warning|failed
	Summary string
	// Digest identifies the files that were validated (SHA-256 over paths
	// and contents), so that the capsule is built only with its own report.
	Digest string
	// Findings are the findings of the failed checks (and a failed check
	// without findings as one entry without a file).
	Findings []CapsuleFinding
	// Routes say which task each finding went to, with the failures that
	// task's fixer gets.
	Routes []CapsuleRoute
	// Report is the Validation Mesh's report (JSON).
	Report    json.RawMessage
	CreatedAt time.Time
}

// CapsuleFinding is one reason a capsule failed its validation.
type CapsuleFinding struct {
	TaskID   string `json:"task_id,omitempty"` // the task it was routed to
	Check    string `json:"check"`
	Tool     string `json:"tool,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	RuleID   string `json:"rule_id,omitempty"`
	Severity string `json:"severity,omitempty"`
	Message  string `json:"message"`
}

// CapsuleRoute is the share of a failed capsule check one task repairs.
type CapsuleRoute struct {
	TaskID      string `json:"task_id"`
	Findings    int    `json:"findings"`
	Fingerprint string `json:"fingerprint"`
	// Failures are what the task's fixer gets, as it gets a failed
	// attempt's failures.
	Failures string `json:"failures"`
}

// Delivery round states.
const (
	// DeliveryPending: the version is pushed; its CI has not finished.
	DeliveryPending = "pending"
	// DeliverySuccess: the pushed commit's CI passed; the loop ends.
	DeliverySuccess = "success"
	// DeliveryFailure: the pushed commit's CI failed; the next round
	// repairs from the failing runs' logs.
	DeliveryFailure = "failure"
	// DeliveryError: the round stopped (a refused push, a repair that
	// failed, the budget or the rounds used up); Error says why.
	DeliveryError = "error"
)

// DeliveryRound is one round of a capsule's delivery loop: a version
// pushed to a pull request's branch and what its CI said.
type DeliveryRound struct {
	ID        int64
	TenantID  string
	CapsuleID string
	// LoopID names the loop (its workflow id); Round counts from 1 in it.
	LoopID  string
	Round   int
	Version int
	Forge   string
	Repo    string
	PR      int
	Branch  string
	// SHA is the commit pushed ("" when the push failed).
	SHA   string
	State string
	// FailingRuns names the CI runs that failed.
	FailingRuns []string
	// CostPUSD is what the repair that made Version cost (0 for the first
	// round, whose version was there already).
	CostPUSD  int64
	Error     string
	CreatedAt time.Time
	UpdatedAt time.Time
}
