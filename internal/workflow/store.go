package workflow

import (
	"context"
	"time"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/store"
)

// Store is the part of the system of record the activities use: the job and
// its tasks, the repair loop's attempts and capsule checks, reviews, the
// capsule, and the job's spend. store.Store satisfies it.
type Store interface {
	GetJob(ctx context.Context, tenantID, id string) (domain.Job, error)
	UpdateJob(ctx context.Context, id string, u store.JobUpdate) error

	PutTasks(ctx context.Context, jobID string, tasks []domain.Task) error
	GetTask(ctx context.Context, jobID, taskID string) (domain.Task, error)
	ListTasks(ctx context.Context, jobID string) ([]domain.Task, error)
	UpdateTask(ctx context.Context, jobID, taskID string, u store.TaskUpdate) error

	PutAttempt(ctx context.Context, a domain.Attempt) error
	GetAttempt(ctx context.Context, jobID, taskID string, attempt int) (domain.Attempt, error)
	ListAttempts(ctx context.Context, jobID, taskID string) ([]domain.Attempt, error)

	PutCapsuleCheck(ctx context.Context, c domain.CapsuleCheck) error
	GetCapsuleCheck(ctx context.Context, jobID string, round int) (domain.CapsuleCheck, error)
	LatestCapsuleCheck(ctx context.Context, jobID string) (domain.CapsuleCheck, error)

	PutDeliveryRound(ctx context.Context, r domain.DeliveryRound) error

	CreateReview(ctx context.Context, r domain.Review) error
	GetReview(ctx context.Context, tenantID, id string) (domain.Review, error)
	DecideReview(ctx context.Context, id, status, comment, decidedBy string, at time.Time) error

	AddCapsuleVersion(ctx context.Context, c domain.Capsule, v domain.CapsuleVersion) error
	GetCapsule(ctx context.Context, tenantID, id string) (domain.Capsule, error)
	GetCapsuleVersion(ctx context.Context, tenantID, id string, version int) (domain.CapsuleVersion, error)

	SumUsage(ctx context.Context, f store.UsageFilter) (store.UsageTotals, error)
}
