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
	DefaultMaxAttempts      = 3
	DefaultEscalateAfter    = 2
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
	if in.MaxAttempts <= 0 {
		in.MaxAttempts = DefaultMaxAttempts
	}
	if in.EscalateAfter <= 0 {
		in.EscalateAfter = DefaultEscalateAfter
	}
	if in.Review.Enabled() && in.Review.OnTimeout == "" {
		in.Review.OnTimeout = OnTimeoutWait
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
	rw := newReviews(ctx, in, shortCtx(ctx), modelCtx)
	type taskDone struct {
		id     string
		ok     bool
		reason string
	}
	doneCh := workflow.NewChannel(ctx)
	launched := map[string]bool{}
	var failed []string
	var failReason string
	running := 0
	for {
		for _, t := range plan.Tasks {
			if failReason != "" || running >= in.MaxParallel || launched[t.ID] || !depsCompleted(t, state.Tasks) {
				continue
			}
			t := t
			launched[t.ID] = true
			running++
			state.Tasks[t.ID] = "running"
			workflow.Go(ctx, func(gctx workflow.Context) {
				ok, why := runTask(gctx, in, t.ID, modelCtx, validateCtx, &state, rw)
				doneCh.Send(gctx, taskDone{id: t.ID, ok: ok, reason: why})
			})
		}
		if running == 0 {
			break
		}
		var d taskDone
		doneCh.Receive(ctx, &d)
		running--
		if d.ok {
			state.Tasks[d.id] = "completed"
			state.Done++
			res.TasksCompleted++
			continue
		}
		state.Tasks[d.id] = "failed"
		failed = append(failed, d.id)
		if failReason == "" {
			failReason = d.reason
			// The job fails whatever a reviewer decides: stop waiting.
			rw.abandon = failReason
		}
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
	if asm.Validation == "failed" || asm.Strict && asm.Validation != "passed" {
		// The capsule is kept, with its report, as evidence; the job is
		// not presented as a success.
		why := "the capsule failed validation: " + asm.ValidationSummary
		if asm.Validation != "failed" {
			why = "strict validation accepts only a capsule that passed; this one's validation is " + asm.Validation + ": " + asm.ValidationSummary
		}
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

// runTask is a task's generate → validate → fix loop: each attempt is
// validated; a failed one goes to the fixer with its exact failures, up to
// MaxAttempts, moving to the next tier after EscalateAfter failures on one
// tier and stopping early when the same failure comes back (stuck). An
// attempt kept with too little confidence waits for a review (see
// reviews.await): approval completes the task, rejection fails it, and a
// request for changes sends the reviewer's comment to the fixer as the next
// attempt. A reviewer's request always gets that one more attempt, even past
// MaxAttempts (a person decides again after it, so nothing loops unattended);
// automatic repair never goes past MaxAttempts. It reports whether the task
// passed and, if not, every attempt's reason.
func runTask(ctx workflow.Context, in Input, taskID string, modelCtx, validateCtx workflow.Context, state *State, rw *reviews) (bool, string) {
	var a *Activities
	var reasons []string
	tier, tierReason, fingerprint, comment := "", "", "", ""
	onTier := 0 // failed attempts on the current tier
	for attempt := 1; ; attempt++ {
		state.Tasks[taskID] = "running"
		var gen TaskResult
		if err := workflow.ExecuteActivity(modelCtx, a.GenerateTask, TaskInput{RequestID: in.RequestID, TaskID: taskID, Attempt: attempt,
			Tier: tier, TierReason: tierReason, Comment: comment}).Get(ctx, &gen); err != nil {
			reasons = append(reasons, fmt.Sprintf("attempt %d: %s", attempt, reason(err)))
			return false, taskFailure(taskID, reasons)
		}
		comment = ""
		if gen.Tier != tier {
			tier, onTier = gen.Tier, 0
		}
		state.Tasks[taskID] = "validating"
		var tv TaskValidation
		if err := workflow.ExecuteActivity(validateCtx, a.ValidateTask, TaskInput{RequestID: in.RequestID, TaskID: taskID, Attempt: attempt,
			ReviewThreshold: in.Review.Threshold}).Get(ctx, &tv); err != nil {
			reasons = append(reasons, fmt.Sprintf("attempt %d: validation could not run: %s", attempt, reason(err)))
			return false, taskFailure(taskID, reasons)
		}
		if tv.Passed && !tv.NeedsReview {
			return true, ""
		}
		if !tv.Passed {
			brief := tv.Brief
			if brief == "" {
				brief = firstLine(tv.Failures)
			}
			reasons = append(reasons, fmt.Sprintf("attempt %d (%s %s): %s", attempt, gen.Tier, gen.Model, brief))
			stuck := tv.Fingerprint != "" && tv.Fingerprint == fingerprint
			if attempt < in.MaxAttempts && !stuck {
				fingerprint = tv.Fingerprint
				onTier++
				tierReason = fmt.Sprintf("attempt %d: fixing the failures of attempt %d on %s", attempt+1, attempt, tier)
				if onTier >= in.EscalateAfter {
					if next := nextTier(tier); next != tier {
						tierReason = fmt.Sprintf("escalated from %s to %s after %d failed attempts on %s", tier, next, onTier, tier)
						tier, onTier = next, 0
					}
				}
				continue
			}
			if tv.GateFailed {
				if stuck {
					return false, fmt.Sprintf("task %s is stuck: attempt %d failed exactly as attempt %d did; %s", taskID, attempt, attempt-1, strings.Join(reasons, "; "))
				}
				return false, taskFailure(taskID, reasons)
			}
			// It compiles and its tests pass; what is left are findings
			// the capsule's validation will judge (and fail the job on).
			// With reviews on and too little confidence, a reviewer judges
			// first.
			if !reviewDue(in.Review.Threshold, tv) {
				if err := workflow.ExecuteActivity(validateCtx, a.AcceptTask, TaskInput{RequestID: in.RequestID, TaskID: taskID, Attempt: attempt}).Get(ctx, nil); err != nil {
					return false, fmt.Sprintf("task %s: %s", taskID, reason(err))
				}
				return true, ""
			}
		}
		d, err := rw.await(ctx, in, taskID, attempt, tv, state)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("attempt %d: review: %s", attempt, reason(err)))
			return false, taskFailure(taskID, reasons)
		}
		switch d.Decision {
		case DecisionApprove:
			return true, ""
		case DecisionReject:
			why := fmt.Sprintf("task %s rejected by reviewer %s", taskID, d.DecidedBy)
			if d.Comment != "" {
				why += ": " + d.Comment
			}
			return false, why
		}
		// Changes requested: the comment goes to the fixer.
		comment, fingerprint, onTier = d.Comment, "", 0
		if comment == "" {
			comment = "The reviewer asked for changes without saying which; make the code clearer and more robust."
		}
		tierReason = fmt.Sprintf("attempt %d: changes requested by %s on %s", attempt+1, d.DecidedBy, tier)
	}
}

// reviews is a job's waiting for review decisions. The ReviewSignal
// channel is read by one goroutine into got, so that tasks waiting in
// parallel each see their own decision; decisions for reviews nobody
// awaits (any more) stay there unused.
type reviews struct {
	policy   ReviewPolicy
	got      map[string]ReviewDecision
	shortCtx workflow.Context
	modelCtx workflow.Context
	waiting  int
	// abandon, once set, is why the job no longer waits for reviews (another
	// task failed); pending reviews are then withdrawn.
	abandon string
}

func newReviews(ctx workflow.Context, in Input, shortCtx, modelCtx workflow.Context) *reviews {
	rw := &reviews{policy: in.Review, got: map[string]ReviewDecision{}, shortCtx: shortCtx, modelCtx: modelCtx}
	if !in.Review.Enabled() {
		return rw
	}
	ch := workflow.GetSignalChannel(ctx, ReviewSignal)
	workflow.Go(ctx, func(gctx workflow.Context) {
		for {
			var d ReviewDecision
			ch.Receive(gctx, &d)
			if _, seen := rw.got[d.ReviewID]; d.ReviewID != "" && !seen {
				rw.got[d.ReviewID] = d
			}
		}
	})
	return rw
}

// await opens a review of an attempt and returns its decision: the
// automated reviewer's when it is on and answers, else a person's (the
// ReviewSignal), else, after the policy's timeout, the timeout policy's.
func (rw *reviews) await(ctx workflow.Context, in Input, taskID string, attempt int, tv TaskValidation, state *State) (ReviewDecision, error) {
	var a *Activities
	ri := ReviewInput{RequestID: in.RequestID, TaskID: taskID, Attempt: attempt, Confidence: tv.Confidence, Reasons: tv.Reasons,
		Summary: tv.Summary, Policy: rw.policy}
	if ri.Summary == "" {
		ri.Summary = tv.Brief
	}
	if rw.abandon != "" {
		return ReviewDecision{}, errors.New("not reviewed: the job is failing")
	}
	var id string
	if err := workflow.ExecuteActivity(rw.shortCtx, a.OpenReview, ri).Get(ctx, &id); err != nil {
		return ReviewDecision{}, err
	}
	state.Tasks[taskID] = "awaiting_review"
	rw.waiting++
	state.Step = "awaiting review"
	defer func() {
		rw.waiting--
		if rw.waiting == 0 && state.Step == "awaiting review" {
			state.Step = "generating"
		}
	}()
	closeWith := func(d ReviewDecision, expired, withdrawn bool) (ReviewDecision, error) {
		c := ctx
		if withdrawn {
			var cancel workflow.CancelFunc
			c, cancel = workflow.NewDisconnectedContext(ctx)
			defer cancel()
		}
		var out ReviewDecision
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(c, workflow.GetActivityOptions(rw.shortCtx)), a.CloseReview,
			CloseReviewInput{RequestID: in.RequestID, TaskID: taskID, Attempt: attempt, Decision: d, Expired: expired, Withdrawn: withdrawn}).Get(c, &out)
		return out, err
	}
	note := func(msg string) {
		_ = workflow.ExecuteActivity(rw.shortCtx, a.Note, NoteInput{RequestID: in.RequestID, TaskID: taskID, Message: msg}).Get(ctx, nil)
	}

	if rw.policy.AITL {
		var v AIVerdict
		err := workflow.ExecuteActivity(rw.modelCtx, a.AIReview, ri).Get(ctx, &v)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ReviewDecision{}, ctx.Err()
			}
			note(fmt.Sprintf("the automated review failed (%s); waiting for a person (review %s)", reason(err), id))
		case v.Decision == "approve":
			return closeWith(ReviewDecision{ReviewID: id, Decision: DecisionApprove, Comment: v.Comment, DecidedBy: DecidedByAITL}, false, false)
		case attempt < in.MaxAttempts:
			return closeWith(ReviewDecision{ReviewID: id, Decision: DecisionRequestChanges, Comment: v.Comment, DecidedBy: DecidedByAITL}, false, false)
		default:
			// No attempt left for the refinement: a person decides, with
			// the automated reviewer's comment in front of them.
			note(fmt.Sprintf("the automated reviewer asks for changes, but the task has no attempts left; waiting for a person (review %s): %s", id, v.Comment))
		}
	}

	decided := func() bool { _, ok := rw.got[id]; return ok || rw.abandon != "" }
	var err error
	timedOut := false
	if rw.policy.OnTimeout == OnTimeoutWait || rw.policy.Timeout <= 0 {
		err = workflow.Await(ctx, decided)
	} else {
		var ok bool
		ok, err = workflow.AwaitWithTimeout(ctx, rw.policy.Timeout, decided)
		timedOut = err == nil && !ok
	}
	if err != nil {
		// Cancelled: close the review so that nobody is asked to decide
		// for a job that is gone.
		if _, cerr := closeWith(ReviewDecision{ReviewID: id, Comment: "the job stopped waiting: " + err.Error(), DecidedBy: "qlp"}, false, true); cerr != nil {
			workflow.GetLogger(ctx).Error("withdraw review", "review", id, "error", cerr)
		}
		return ReviewDecision{}, err
	}
	if _, ok := rw.got[id]; !ok && !timedOut && rw.abandon != "" {
		if _, cerr := closeWith(ReviewDecision{ReviewID: id, Comment: "the job stopped waiting: " + rw.abandon, DecidedBy: "qlp"}, false, true); cerr != nil {
			workflow.GetLogger(ctx).Error("withdraw review", "review", id, "error", cerr)
		}
		return ReviewDecision{}, errors.New("not reviewed: the job is failing")
	}
	if timedOut {
		return closeWith(ReviewDecision{ReviewID: id, Decision: rw.policy.OnTimeout, DecidedBy: DecidedByTimeout,
			Comment: fmt.Sprintf("no decision within %s; the timeout policy is %s", rw.policy.Timeout, rw.policy.OnTimeout)}, true, false)
	}
	return closeWith(rw.got[id], false, false)
}

func taskFailure(taskID string, reasons []string) string {
	return fmt.Sprintf("task %s failed after %d attempt(s): %s", taskID, len(reasons), strings.Join(reasons, "; "))
}

// nextTier is the next stronger tier, or tier itself at the top.
func nextTier(tier string) string {
	switch tier {
	case "T0":
		return "T1"
	case "T1":
		return "T2"
	case "T2":
		return "T3"
	}
	return tier
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
