package workflow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Defaults for Input fields left zero.
const (
	DefaultMaxParallel      = 4
	DefaultHeartbeatTimeout = 30 * time.Second
	DefaultTaskTimeout      = 20 * time.Minute
)

// QLPWorkflow runs one job: start, decompose, generate the tasks in
// dependency order (independent ones in parallel, bounded), assemble the
// capsule, finish. A failed job ends as a failed workflow whose error says
// why; a cancelled one as a cancelled workflow.
func QLPWorkflow(ctx workflow.Context, in Input) (Result, error) {
	if in.MaxParallel <= 0 {
		in.MaxParallel = DefaultMaxParallel
	}
	if in.HeartbeatTimeout <= 0 {
		in.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if in.TaskTimeout <= 0 {
		in.TaskTimeout = DefaultTaskTimeout
	}
	var a *Activities
	start := workflow.Now(ctx)
	state := State{Status: "running", Step: "starting", Tasks: map[string]string{}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (State, error) { return state, nil }); err != nil {
		return Result{}, err
	}
	res := Result{RequestID: in.RequestID, Status: "running"}

	shortCtx := func(c workflow.Context) workflow.Context {
		return workflow.WithActivityOptions(c, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
				MaximumAttempts: 10, NonRetryableErrorTypes: []string{ErrTypeJobState}},
		})
	}
	modelCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.TaskTimeout,
		HeartbeatTimeout:    in.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 4, NonRetryableErrorTypes: []string{ErrTypeMalformedPlan, ErrTypeUnusableOutput, ErrTypeModelRefused, ErrTypeJobState}},
	})
	// Validation runs compilers, linters and tests in the sandbox:
	// minutes, heartbeating; its results are cached by content, so a retry
	// is cheap.
	validateCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.TaskTimeout,
		HeartbeatTimeout:    in.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 3, NonRetryableErrorTypes: []string{ErrTypeValidationFailed, ErrTypeJobState, ErrTypeUnusableOutput}},
	})
	assembleCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.TaskTimeout,
		HeartbeatTimeout:    in.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts: 5, NonRetryableErrorTypes: []string{ErrTypeJobState, ErrTypeUnusableOutput}},
	})

	// finish records the outcome even when ctx is cancelled.
	finish := func(status, reason, capsuleID string) error {
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		state.Status, state.Step = status, "finished"
		res.Status, res.CapsuleID = status, capsuleID
		res.ExecutionTime = workflow.Now(ctx).Sub(start).Seconds()
		if reason != "" {
			res.Errors = append(res.Errors, reason)
		}
		return workflow.ExecuteActivity(shortCtx(dctx), a.FinishJob, FinishInput{RequestID: in.RequestID, Status: status,
			Error: reason, CapsuleID: capsuleID, Done: res.TasksCompleted}).Get(dctx, nil)
	}
	fail := func(reason string) (Result, error) {
		if errors.Is(ctx.Err(), workflow.ErrCanceled) {
			if err := finish("cancelled", "cancelled by request", ""); err != nil {
				workflow.GetLogger(ctx).Error("record cancellation", "error", err)
			}
			return res, temporal.NewCanceledError("cancelled by request")
		}
		if err := finish("failed", reason, ""); err != nil {
			workflow.GetLogger(ctx).Error("record failure", "error", err)
		}
		return res, temporal.NewNonRetryableApplicationError(reason, ErrTypeJobFailed, nil)
	}

	if err := workflow.ExecuteActivity(shortCtx(ctx), a.StartJob, JobRef{RequestID: in.RequestID}).Get(ctx, nil); err != nil {
		return fail("could not start the job: " + reason(err))
	}

	var reuse ReuseResult
	if in.AllowReuse {
		if err := workflow.ExecuteActivity(assembleCtx, a.Reuse, JobRef{RequestID: in.RequestID}).Get(ctx, &reuse); err != nil {
			return fail("reuse failed: " + reason(err))
		}
	}
	if reuse.CapsuleID != "" {
		if err := finish("completed", "", reuse.CapsuleID); err != nil {
			return res, err
		}
		return res, nil
	}

	state.Step = "decomposing"
	var plan DecomposeResult
	if err := workflow.ExecuteActivity(modelCtx, a.Decompose, JobRef{RequestID: in.RequestID}).Get(ctx, &plan); err != nil {
		return fail("decomposition failed: " + reason(err))
	}
	res.TasksTotal, state.Total = len(plan.Tasks), len(plan.Tasks)
	for _, t := range plan.Tasks {
		state.Tasks[t.ID] = "pending"
	}

	state.Step = "generating"
	launched := map[string]bool{}
	var failed []string
	var failReason string
	running := 0
	sel := workflow.NewSelector(ctx)
	for {
		for _, t := range plan.Tasks {
			if failReason != "" || running >= in.MaxParallel || launched[t.ID] || !depsCompleted(t, state.Tasks) {
				continue
			}
			t := t
			launched[t.ID] = true
			running++
			state.Tasks[t.ID] = "running"
			taskFailed := func(why string) {
				running--
				state.Tasks[t.ID] = "failed"
				failed = append(failed, t.ID)
				if failReason == "" {
					failReason = why
				}
			}
			// Generate, then validate (the task's code with what it
			// depends on); the task completes when both have.
			f := workflow.ExecuteActivity(modelCtx, a.GenerateTask, TaskInput{RequestID: in.RequestID, TaskID: t.ID})
			sel.AddFuture(f, func(f workflow.Future) {
				var tr TaskResult
				if err := f.Get(ctx, &tr); err != nil {
					taskFailed(fmt.Sprintf("task %s failed: %s", t.ID, reason(err)))
					return
				}
				state.Tasks[t.ID] = "validating"
				vf := workflow.ExecuteActivity(validateCtx, a.ValidateTask, TaskInput{RequestID: in.RequestID, TaskID: t.ID})
				sel.AddFuture(vf, func(vf workflow.Future) {
					var tv TaskValidation
					if err := vf.Get(ctx, &tv); err != nil {
						why := reason(err)
						if !strings.HasPrefix(why, "task ") {
							why = fmt.Sprintf("task %s: validation could not run: %s", t.ID, why)
						}
						taskFailed(why)
						return
					}
					running--
					state.Tasks[t.ID] = "completed"
					state.Done++
					res.TasksCompleted++
				})
			})
		}
		if running == 0 {
			break
		}
		sel.Select(ctx)
	}
	if ctx.Err() != nil {
		return fail("cancelled")
	}
	if failReason != "" || res.TasksCompleted < res.TasksTotal {
		if failReason == "" {
			failReason = "some tasks could not run"
		}
		var skipped []string
		for _, t := range plan.Tasks {
			if state.Tasks[t.ID] == "pending" {
				state.Tasks[t.ID] = "skipped"
				skipped = append(skipped, t.ID)
			}
		}
		// Record why, so that every task's fate is visible; the job fails
		// even if recording does.
		if len(failed) > 0 {
			_ = workflow.ExecuteActivity(shortCtx(ctx), a.FailTasks, TaskFailure{RequestID: in.RequestID, TaskIDs: failed, Reason: failReason}).Get(ctx, nil)
		}
		if len(skipped) > 0 {
			_ = workflow.ExecuteActivity(shortCtx(ctx), a.FailTasks, TaskFailure{RequestID: in.RequestID, TaskIDs: skipped,
				Reason: "not run: " + failReason, Skipped: true}).Get(ctx, nil)
		}
		return fail(failReason)
	}

	state.Step = "assembling and validating"
	var asm AssembleResult
	if err := workflow.ExecuteActivity(assembleCtx, a.AssembleCapsule, JobRef{RequestID: in.RequestID}).Get(ctx, &asm); err != nil {
		return fail("capsule assembly failed: " + reason(err))
	}
	res.CapsuleID = asm.CapsuleID
	if asm.Validation == "failed" {
		// The capsule is kept, with its report, as evidence; the job is
		// not presented as a success.
		why := "the capsule failed validation: " + asm.ValidationSummary
		if err := finish("failed", why, asm.CapsuleID); err != nil {
			workflow.GetLogger(ctx).Error("record failure", "error", err)
		}
		return res, temporal.NewNonRetryableApplicationError(why, ErrTypeJobFailed, nil)
	}
	if err := finish("completed", "", asm.CapsuleID); err != nil {
		return res, err
	}
	return res, nil
}

func depsCompleted(t TaskRef, states map[string]string) bool {
	for _, d := range t.Dependencies {
		if states[d] != "completed" {
			return false
		}
	}
	return true
}

// reason is the readable part of an activity error: the application error's
// message, without Temporal's wrapping.
func reason(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "timed out (" + te.TimeoutType().String() + ")"
	}
	var ce *temporal.CanceledError
	if errors.As(err, &ce) {
		return "cancelled"
	}
	return err.Error()
}
