package domain

import (
	"time"
)

// Attempt statuses.
const (
	AttemptGenerated = "generated" // the model answered; not validated yet
	AttemptPassed    = "passed"    // validation passed
	AttemptFailed    = "failed"    // validation failed, or the answer was unusable: Failures says why
)

// Attempt phases: which loop an attempt belongs to.
const (
	PhaseTask    = "task"    // the task's own generate → validate → fix loop
	PhaseCapsule = "capsule" // a repair of findings the capsule's full validation routed to the task
	PhasePlan    = "plan"    // a decomposition of the job (task id "_plan")
)

// Attempt is one attempt of a task in the generate → validate → fix loop.
type Attempt struct {
	JobID            string
	TaskID           string
	Attempt          int
	Phase            string // task (the default), capsule or plan
	Role             string // coder, test_writer+coder, fixer, decomposer
	PromptVersion    string
	Tier             string
	Model            string
	InputTokens      int
	OutputTokens     int
	CostPUSD         int64
	Status           string
	ValidationStatus string
	Confidence       *float64
	Failures         string // the exact failures, as the next attempt's prompt gets them
	Fingerprint      string // equal fingerprints mean the same failure
	Comment          string // a reviewer's comment this attempt answered
	Summary          string
	Files            []File // the task's files after this attempt
	// Deleted are the files this attempt removed from the task (a fixer's
	// {"path", "delete": true}); they are not among Files.
	Deleted   []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Review statuses.
const (
	ReviewPending          = "pending"
	ReviewApproved         = "approved"
	ReviewRejected         = "rejected"
	ReviewChangesRequested = "changes_requested"
	ReviewExpired          = "expired"
)

// Review is a human decision a job waits for.
type Review struct {
	ID            string
	TenantID      string
	JobID         string
	TaskID        string
	Attempt       int
	Status        string
	Confidence    *float64
	Reasons       []string
	Summary       string
	Comment       string
	DecidedBy     string
	TimeoutPolicy string
	CreatedAt     time.Time
	TimeoutAt     *time.Time
	DecidedAt     *time.Time
}
