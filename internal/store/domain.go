package store

import "github.com/quantumlayer/qlp/internal/domain"

// The records the store persists live in package domain; these aliases keep
// the store's API and its callers' store.X spelling working.

// Job records.
type (
	Job        = domain.Job
	JobStatus  = domain.JobStatus
	Task       = domain.Task
	TaskStatus = domain.TaskStatus
	File       = domain.File
)

// Job states.
const (
	JobQueued    = domain.JobQueued
	JobRunning   = domain.JobRunning
	JobCompleted = domain.JobCompleted
	JobFailed    = domain.JobFailed
	JobCancelled = domain.JobCancelled
)

// Task states.
const (
	TaskPending   = domain.TaskPending
	TaskRunning   = domain.TaskRunning
	TaskCompleted = domain.TaskCompleted
	TaskFailed    = domain.TaskFailed
	TaskSkipped   = domain.TaskSkipped
)

// Capsule records.
type (
	Capsule        = domain.Capsule
	CapsuleFile    = domain.CapsuleFile
	CapsuleVersion = domain.CapsuleVersion
	CapsuleCheck   = domain.CapsuleCheck
	CapsuleFinding = domain.CapsuleFinding
	CapsuleRoute   = domain.CapsuleRoute
	DeliveryRound  = domain.DeliveryRound
)

// Usage and progress records.
type (
	Usage = domain.Usage
	Event = domain.Event
)

// Repair loop and review records.
type (
	Attempt = domain.Attempt
	Review  = domain.Review
)

// Attempt statuses.
const (
	AttemptGenerated = domain.AttemptGenerated
	AttemptPassed    = domain.AttemptPassed
	AttemptFailed    = domain.AttemptFailed
)

// Attempt phases.
const (
	PhaseTask    = domain.PhaseTask
	PhaseCapsule = domain.PhaseCapsule
	PhasePlan    = domain.PhasePlan
)

// Review statuses.
const (
	ReviewPending          = domain.ReviewPending
	ReviewApproved         = domain.ReviewApproved
	ReviewRejected         = domain.ReviewRejected
	ReviewChangesRequested = domain.ReviewChangesRequested
	ReviewExpired          = domain.ReviewExpired
)
