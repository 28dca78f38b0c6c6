package orchestrator

import (
	"context"
	"time"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/store"
)

// Store is the part of the system of record the API uses: tenants, jobs and
// their tasks, capsules, the job's spend, reviews and the tenant's review
// policy. store.Store satisfies it.
type Store interface {
	EnsureTenant(ctx context.Context, id, name string) (store.Tenant, error)
	GetTenant(ctx context.Context, id string) (store.Tenant, error)

	CreateJob(ctx context.Context, j domain.Job) (job domain.Job, created bool, err error)
	CreateJobWithin(ctx context.Context, j domain.Job, maxActive int) (job domain.Job, created bool, err error)
	GetJob(ctx context.Context, tenantID, id string) (domain.Job, error)
	FindJob(ctx context.Context, tenantID, workflowID, requestID string) (domain.Job, error)
	UpdateJob(ctx context.Context, id string, u store.JobUpdate) error
	ListTasks(ctx context.Context, jobID string) ([]domain.Task, error)

	GetCapsule(ctx context.Context, tenantID, id string) (domain.Capsule, error)
	ListCapsules(ctx context.Context, tenantID string, limit, offset int) (caps []domain.Capsule, total int, err error)
	GetCapsuleVersion(ctx context.Context, tenantID, id string, version int) (domain.CapsuleVersion, error)
	GetCapsuleFile(ctx context.Context, tenantID, id string, version int, path string) (domain.CapsuleFile, error)
	ListDeliveryRounds(ctx context.Context, tenantID, capsuleID string) ([]domain.DeliveryRound, error)
	PendingDeliveryRounds(ctx context.Context, forge, repo, sha string) ([]domain.DeliveryRound, error)

	SumUsage(ctx context.Context, f store.UsageFilter) (store.UsageTotals, error)

	ListAttempts(ctx context.Context, jobID, taskID string) ([]domain.Attempt, error)
	LatestCapsuleCheck(ctx context.Context, jobID string) (domain.CapsuleCheck, error)

	GetReview(ctx context.Context, tenantID, id string) (domain.Review, error)
	ListReviews(ctx context.Context, tenantID, status string) ([]domain.Review, error)
	DecideReview(ctx context.Context, id, status, comment, decidedBy string, at time.Time) error
	GetReviewPolicy(ctx context.Context, tenantID string) (store.ReviewPolicy, error)
	PutReviewPolicy(ctx context.Context, p store.ReviewPolicy) error

	TenantModelPack(ctx context.Context, tenantID string) (string, error)
	SetTenantModelPack(ctx context.Context, tenantID, pack, by string) error

	GetContentPolicy(ctx context.Context, tenantID string) (store.ContentPolicy, error)
	PutContentPolicy(ctx context.Context, p store.ContentPolicy) error
	RecordPolicyViolation(ctx context.Context, v store.PolicyViolation) (store.PolicyViolation, error)
	ListPolicyViolations(ctx context.Context, tenantID string, limit int) ([]store.PolicyViolation, error)
}
