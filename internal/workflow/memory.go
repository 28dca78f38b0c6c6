package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/progress"
)

// Memory is what the activities recall from and record into. The Vector
// Memory service (in process or over HTTP) implements it.
type Memory interface {
	SimilarRequests(ctx context.Context, q memory.RequestQuery) ([]memory.RequestMatch, error)
	CodeExamples(ctx context.Context, q memory.CodeQuery) ([]memory.CodeExample, error)
	TierStats(ctx context.Context, q memory.TierQuery) (memory.TierStats, error)
	RepairHints(ctx context.Context, q memory.ErrorQuery) ([]memory.RepairHint, error)
	FindReusable(ctx context.Context, q memory.ReuseQuery) (memory.Reuse, error)
	RecordRequest(ctx context.Context, r memory.RequestRecord) error
	RecordCapsule(ctx context.Context, c memory.CapsuleRecord) (memory.CapsuleStored, error)
	RecordTaskOutcome(ctx context.Context, o memory.TaskOutcome) error
	RecordErrorFix(ctx context.Context, f memory.ErrorFix) error
}

// memCtx makes calls to the services act for the job's tenant: memory
// (whose data is the tenant's) and validation (whose sandbox runs share
// their slots fairly between tenants).
func memCtx(ctx context.Context, job domain.Job) context.Context {
	return auth.WithPrincipal(ctx, auth.Principal{TenantID: job.TenantID, KeyID: "workflow"})
}

// memoryFailed reports a failed recall or record. Memory makes jobs cheaper
// and better but is not needed to finish one, so the job goes on, and says
// so in its progress.
func (a *Activities) memoryFailed(ctx context.Context, job domain.Job, taskID, what string, err error) {
	if errors.Is(err, memory.ErrNoMatch) {
		return
	}
	a.Logger.WarnContext(ctx, "memory call failed", "job", job.ID, "what", what, "error", err)
	a.publish(ctx, job, progress.LogMessage, taskID, fmt.Sprintf("memory unavailable (%s): %v; continuing without it", what, err), nil)
}

// learnedTier reads the recorded success statistics of a task's kind.
func (a *Activities) learnedTier(ctx context.Context, job domain.Job, task domain.Task) (string, string) {
	if a.Memory == nil {
		return "", ""
	}
	st, err := a.Memory.TierStats(memCtx(ctx, job), memory.TierQuery{TaskType: task.Type, Complexity: task.Complexity})
	if err != nil {
		a.memoryFailed(ctx, job, task.ID, "tier statistics", err)
		return "", ""
	}
	if st.Recommended == "" {
		return "", ""
	}
	for _, t := range st.Tiers {
		if t.Tier == st.Recommended {
			return st.Recommended, fmt.Sprintf("learned: %s succeeded %d of %d times on %s/%s tasks (memory)",
				t.Tier, t.Successes, t.Samples, task.Type, task.Complexity)
		}
	}
	return st.Recommended, fmt.Sprintf("learned: %s recommended for %s/%s tasks (memory)", st.Recommended, task.Type, task.Complexity)
}

// recordOutcome stores how a task went at its tier, for the router.
func (a *Activities) recordOutcome(ctx context.Context, job domain.Job, task domain.Task, success bool) {
	if a.Memory == nil || task.Tier == "" {
		return
	}
	o := memory.TaskOutcome{RequestID: job.ID, TaskID: task.ID, TaskType: task.Type, Complexity: task.Complexity, Tier: task.Tier,
		Success: success, Description: task.Description, Attempts: task.Attempts, CostUSD: float64(task.CostPUSD) / 1e12}
	if task.StartedAt != nil && task.CompletedAt != nil {
		o.Duration = task.CompletedAt.Sub(*task.StartedAt).Seconds()
	}
	if err := a.Memory.RecordTaskOutcome(memCtx(ctx, job), o); err != nil {
		a.memoryFailed(ctx, job, task.ID, "record task outcome", err)
	}
}

// recordRequest stores the job's request, plan and outcome.
func (a *Activities) recordRequest(ctx context.Context, job domain.Job, plan *Plan, success *bool, capsuleID string, done int) {
	if a.Memory == nil || plan == nil {
		return
	}
	r := memory.RequestRecord{RequestID: job.ID, Description: requestText(job), Language: plan.Project.Language, UserID: job.UserID,
		Success: success, CapsuleID: capsuleID}
	tasks, _ := a.Store.ListTasks(ctx, job.ID)
	tiers := map[string]string{}
	for _, t := range tasks {
		tiers[t.ID] = t.Tier
	}
	for _, t := range plan.Tasks {
		r.Tasks = append(r.Tasks, memory.Task{ID: t.ID, Type: t.Type, Description: t.Description, Complexity: t.Complexity,
			Tier: tiers[t.ID], Dependencies: t.Dependencies})
	}
	if len(plan.Tasks) > 0 {
		r.SuccessRate = float64(done) / float64(len(plan.Tasks))
	}
	if job.StartedAt != nil {
		r.ExecutionTime = a.now().Sub(*job.StartedAt).Seconds()
	}
	if err := a.Memory.RecordRequest(memCtx(ctx, job), r); err != nil {
		a.memoryFailed(ctx, job, "", "record request", err)
	}
}

func requestText(job domain.Job) string {
	if job.Requirements == "" {
		return job.Description
	}
	return job.Description + "\nRequirements: " + job.Requirements
}
