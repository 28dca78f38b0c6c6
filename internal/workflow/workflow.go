package workflow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// QLPWorkflow runs one job: start, decompose, generate the tasks in
// dependency order (independent ones in parallel, bounded), assemble the
// capsule, finish. A failed job ends as a failed workflow whose error says
// why; a cancelled one as a cancelled workflow.

// assembleAttempts bounds the attempts of the capsule's validation and
// assembly (waits of 1, 2, 4, 8, 16 and 30 s between them).
const assembleAttempts = 7

func QLPWorkflow(ctx workflow.Context, in Input) (Result, error) {
	// Zero fields mean the defaults: Defaults is pure, so replays of
	// recorded histories fill in the same values.
	def := Defaults()
	if in.MaxParallel <= 0 {
		in.MaxParallel = def.MaxParallel
	}
	if in.HeartbeatTimeout <= 0 {
		in.HeartbeatTimeout = def.HeartbeatTimeout
	}
	if in.TaskTimeout <= 0 {
		in.TaskTimeout = def.TaskTimeout
	}
	if in.MaxAttempts <= 0 {
		in.MaxAttempts = def.MaxAttempts
	}
	if in.EscalateAfter <= 0 {
		in.EscalateAfter = def.EscalateAfter
	}
	if in.TaskValidation == "" {
		in.TaskValidation = TaskValidationQuick
	}
	if in.Review.Enabled() && in.Review.OnTimeout == "" {
		in.Review.OnTimeout = vocab.OnTimeoutWait
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
	// is cheap. The Validation Mesh may run in another process: its
	// attempts (waits of 2, 4, 8, 16 and 32 s) ride out an outage of
	// about a minute, a restart or a rollout, before the task fails.
	validateCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.TaskTimeout,
		HeartbeatTimeout:    in.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 6, NonRetryableErrorTypes: []string{ErrTypeValidationFailed, ErrTypeJobState, ErrTypeUnusableOutput}},
	})
	// The capsule's validation and assembly call the Validation Mesh
	// too: waits of 1, 2, 4, 8, 16 and 30 s, about a minute as well.
	assembleCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.TaskTimeout,
		HeartbeatTimeout:    in.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts: assembleAttempts, NonRetryableErrorTypes: []string{ErrTypeJobState, ErrTypeUnusableOutput}},
	})

	// finish records the outcome even when ctx is cancelled; round names
	// the capsule validation whose findings a failure lists (0: none).
	finish := func(status, reason, capsuleID string, round int) error {
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		state.Status, state.Step = status, "finished"
		res.Status, res.CapsuleID = status, capsuleID
		res.ExecutionTime = workflow.Now(ctx).Sub(start).Seconds()
		if reason != "" {
			res.Errors = append(res.Errors, reason)
		}
		return workflow.ExecuteActivity(shortCtx(dctx), a.FinishJob, FinishInput{RequestID: in.RequestID, Status: status,
			Error: reason, CapsuleID: capsuleID, Done: res.TasksCompleted, CapsuleRound: round}).Get(dctx, nil)
	}
	fail := func(reason string) (Result, error) {
		if errors.Is(ctx.Err(), workflow.ErrCanceled) {
			if err := finish("cancelled", "cancelled by request", "", 0); err != nil {
				workflow.GetLogger(ctx).Error("record cancellation", "error", err)
			}
			return res, temporal.NewCanceledError("cancelled by request")
		}
		if err := finish("failed", reason, "", 0); err != nil {
			workflow.GetLogger(ctx).Error("record failure", "error", err)
		}
		return res, temporal.NewNonRetryableApplicationError(reason, ErrTypeJobFailed, nil)
	}
	// failTasks fails the job because tasks failed: their dependents that
	// never ran are skipped, and every task's fate is recorded (the job
	// fails even if recording does).
	var tasks []TaskRef
	failTasks := func(failed []string, why string) (Result, error) {
		var skipped []string
		for _, t := range tasks {
			if state.Tasks[t.ID] == "pending" {
				state.Tasks[t.ID] = "skipped"
				skipped = append(skipped, t.ID)
			}
		}
		if len(failed) > 0 {
			_ = workflow.ExecuteActivity(shortCtx(ctx), a.FailTasks, TaskFailure{RequestID: in.RequestID, TaskIDs: failed, Reason: why}).Get(ctx, nil)
		}
		if len(skipped) > 0 {
			_ = workflow.ExecuteActivity(shortCtx(ctx), a.FailTasks, TaskFailure{RequestID: in.RequestID, TaskIDs: skipped,
				Reason: "not run: " + why, Skipped: true}).Get(ctx, nil)
		}
		return fail(why)
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
		if err := finish("completed", "", reuse.CapsuleID, 0); err != nil {
			return res, err
		}
		return res, nil
	}

	state.Step = "decomposing"
	plan, why := decompose(ctx, in, modelCtx)
	if why != "" {
		return fail(why)
	}
	tasks = plan.Tasks
	res.TasksTotal, state.Total = len(plan.Tasks), len(plan.Tasks)
	for _, t := range plan.Tasks {
		state.Tasks[t.ID] = "pending"
	}

	state.Step = "generating"
	rw := newReviews(ctx, in, shortCtx(ctx), modelCtx)
	loops := map[string]*taskLoop{}
	for _, t := range plan.Tasks {
		loops[t.ID] = &taskLoop{id: t.ID}
	}
	failed, failReason := schedule(ctx, plan.Tasks, in.MaxParallel,
		func(id string) { state.Tasks[id] = "running" },
		func(gctx workflow.Context, id string) (bool, string) {
			return runTask(gctx, in, loops[id], domain.PhaseTask, 0, modelCtx, validateCtx, &state, rw)
		},
		func(id string, ok bool, why string) {
			if ok {
				state.Tasks[id] = "completed"
				state.Done++
				res.TasksCompleted++
				return
			}
			state.Tasks[id] = "failed"
			if rw.abandon == "" {
				// The job fails whatever a reviewer decides: stop waiting.
				rw.abandon = why
			}
		})
	if ctx.Err() != nil {
		return fail("cancelled")
	}
	if failReason != "" || res.TasksCompleted < res.TasksTotal {
		if failReason == "" {
			failReason = "some tasks could not run"
		}
		return failTasks(failed, failReason)
	}

	// The capsule's repair loop: validate the assembled project in full;
	// route the findings of a failed validation back to the tasks that own
	// their files, as further attempts of those tasks; validate again.
	round, capsuleWhy := 0, ""
	for {
		round++
		state.Step = "validating the capsule"
		var cv CapsuleResult
		if err := workflow.ExecuteActivity(assembleCtx, a.ValidateCapsule, CapsuleInput{RequestID: in.RequestID, Round: round}).Get(ctx, &cv); err != nil {
			return fail("capsule validation failed: " + reason(err))
		}
		if cv.Status != "failed" {
			break
		}
		if blocked := repairBlocked(in, cv, loops); blocked != "" {
			capsuleWhy = cv.Failure + "; not repaired: " + blocked
			break
		}
		state.Step = "repairing the capsule"
		routed := map[string]bool{}
		for _, r := range cv.Routes {
			routed[r.TaskID] = true
			loops[r.TaskID].capsuleFailed(in, round, r)
		}
		// A repair waits for the repairs of every task it depends on, even
		// through tasks that are not repaired: its validation holds their
		// files.
		var repairs []TaskRef
		for _, t := range plan.Tasks {
			if routed[t.ID] {
				repairs = append(repairs, TaskRef{ID: t.ID, Dependencies: upstreamOf(plan.Tasks, t.ID)})
			}
		}
		failed, why := schedule(ctx, repairs, in.MaxParallel,
			func(id string) { state.Tasks[id] = "running" },
			func(gctx workflow.Context, id string) (bool, string) {
				return runTask(gctx, in, loops[id], domain.PhaseCapsule, round, modelCtx, validateCtx, &state, rw)
			},
			func(id string, ok bool, why string) {
				state.Tasks[id] = "completed"
				if !ok {
					state.Tasks[id] = "failed"
					state.Done--
					if rw.abandon == "" {
						rw.abandon = why
					}
				}
			})
		if ctx.Err() != nil {
			return fail("cancelled")
		}
		if why != "" {
			res.TasksCompleted -= len(failed)
			return failTasks(failed, fmt.Sprintf("%s (while repairing what the capsule's validation round %d found: %s)", why, round, cv.Failure))
		}
	}

	state.Step = "assembling"
	var asm AssembleResult
	if err := workflow.ExecuteActivity(assembleCtx, a.AssembleCapsule, CapsuleInput{RequestID: in.RequestID, Round: round}).Get(ctx, &asm); err != nil {
		return fail("capsule assembly failed: " + reason(err))
	}
	res.CapsuleID = asm.CapsuleID
	if asm.Validation == "failed" || asm.Strict && asm.Validation != "passed" {
		// The capsule is kept, with its report, as evidence; the job is
		// not presented as a success.
		why := capsuleWhy
		switch {
		case why != "":
		case asm.Validation == "failed":
			why = "the capsule failed validation: " + asm.ValidationSummary
		default:
			why = "strict validation accepts only a capsule that passed; this one's validation is " + asm.Validation + ": " + asm.ValidationSummary
		}
		if err := finish("failed", why, asm.CapsuleID, round); err != nil {
			workflow.GetLogger(ctx).Error("record failure", "error", err)
		}
		return res, temporal.NewNonRetryableApplicationError(why, ErrTypeJobFailed, nil)
	}
	if err := finish("completed", "", asm.CapsuleID, 0); err != nil {
		return res, err
	}
	return res, nil
}

// decompose plans the job: an attempt on the decomposer's tier and, while
// its plan is malformed (after the attempt's own re-ask) and attempts are
// left, one on each stronger tier. It returns the plan, or why there is
// none with every attempt's reason.
func decompose(ctx workflow.Context, in Input, modelCtx workflow.Context) (DecomposeResult, string) {
	var a *Activities
	var reasons []string
	tier := ""
	for attempt := 1; ; attempt++ {
		var plan DecomposeResult
		if err := workflow.ExecuteActivity(modelCtx, a.Decompose, DecomposeInput{RequestID: in.RequestID, Attempt: attempt, Tier: tier}).Get(ctx, &plan); err != nil {
			why := "decomposition failed: " + reason(err)
			if len(reasons) > 0 {
				why += fmt.Sprintf(" (attempt %d; before it: %s)", attempt, strings.Join(reasons, "; "))
			}
			return plan, why
		}
		if plan.Problem == "" {
			return plan, ""
		}
		reasons = append(reasons, fmt.Sprintf("attempt %d (%s %s): %s", attempt, plan.Tier, plan.Model, plan.Problem))
		next := vocab.NextTier(plan.Tier)
		if attempt >= in.MaxAttempts || next == plan.Tier {
			return plan, fmt.Sprintf("decomposition failed after %d attempt(s): %s", attempt, strings.Join(reasons, "; "))
		}
		tier = next
	}
}

// schedule runs run for each task once the tasks it depends on among tasks
// have succeeded (dependencies outside tasks are done already), at most
// maxParallel at a time, independent ones in parallel. After the first
// failure it starts nothing new and waits for the running ones. It returns
// the failed tasks and the first failure's reason.
func schedule(ctx workflow.Context, tasks []TaskRef, maxParallel int, start func(id string),
	run func(workflow.Context, string) (bool, string), done func(id string, ok bool, why string)) ([]string, string) {
	type result struct {
		ID     string
		OK     bool
		Reason string
	}
	member := map[string]bool{}
	for _, t := range tasks {
		member[t.ID] = true
	}
	succeeded, launched := map[string]bool{}, map[string]bool{}
	ready := func(t TaskRef) bool {
		for _, d := range t.Dependencies {
			if member[d] && !succeeded[d] {
				return false
			}
		}
		return true
	}
	ch := workflow.NewChannel(ctx)
	var failed []string
	why := ""
	running := 0
	for {
		for _, t := range tasks {
			if why != "" || running >= maxParallel || launched[t.ID] || !ready(t) {
				continue
			}
			id := t.ID
			launched[id] = true
			running++
			start(id)
			workflow.Go(ctx, func(gctx workflow.Context) {
				ok, r := run(gctx, id)
				ch.Send(gctx, result{ID: id, OK: ok, Reason: r})
			})
		}
		if running == 0 {
			return failed, why
		}
		var r result
		ch.Receive(ctx, &r)
		running--
		if r.OK {
			succeeded[r.ID] = true
		} else {
			failed = append(failed, r.ID)
			if why == "" {
				why = r.Reason
			}
		}
		done(r.ID, r.OK, r.Reason)
	}
}

// taskLoop is one task's repair loop: what its attempts so far did. It
// goes on from the task's own loop into the capsule's, so that a capsule
// repair counts toward the same attempt limit, escalation and stuck
// detection.
type taskLoop struct {
	id         string
	attempts   int
	tier       string
	tierReason string
	model      string
	onTier     int // failed attempts on the current tier
	// fingerprint is the last validation failure's; the same one twice in
	// a row is stuck.
	fingerprint string
	// capsuleFP is the fingerprint of the capsule findings last routed to
	// the task; the same ones in the next round are stuck.
	capsuleFP    string
	capsuleRound int
	reasons      []string
}

// failedAttempt counts a failed attempt on the current tier and chooses the
// tier of the next: the next stronger one after EscalateAfter failures.
func (l *taskLoop) failedAttempt(in Input, why string) {
	l.onTier++
	l.tierReason = fmt.Sprintf("attempt %d: %s on %s", l.attempts+1, why, l.tier)
	if l.onTier >= in.EscalateAfter {
		if next := vocab.NextTier(l.tier); next != l.tier {
			l.tierReason = fmt.Sprintf("escalated from %s to %s after %d failed attempts on %s", l.tier, next, l.onTier, l.tier)
			l.tier, l.onTier = next, 0
		}
	}
}

// capsuleFailed records that the task's last attempt, which passed its own
// validation, holds findings of the capsule's validation (round): a failed
// attempt, after which the capsule phase repairs them.
func (l *taskLoop) capsuleFailed(in Input, round int, r CapsuleRoute) {
	l.reasons = append(l.reasons, fmt.Sprintf("attempt %d (%s %s): passed its own validation, but the capsule's validation (round %d) found %d finding(s) in its files: %s",
		l.attempts, l.tier, l.model, round, r.Findings, r.Brief))
	l.capsuleFP, l.capsuleRound, l.fingerprint = r.Fingerprint, round, ""
	l.failedAttempt(in, fmt.Sprintf("repairing what the capsule's validation round %d found", round))
}

// failure is why the task failed: every attempt's reason.
func (l *taskLoop) failure() string {
	return fmt.Sprintf("task %s failed after %d attempt(s): %s", l.id, l.attempts, strings.Join(l.reasons, "; "))
}

// repairBlocked says why the findings of a failed capsule validation cannot
// go back to their tasks ("" when they can): a task has no attempts left,
// or the round found exactly what the task's last repair was given
// (stuck).
func repairBlocked(in Input, cv CapsuleResult, loops map[string]*taskLoop) string {
	var out []string
	if len(cv.Routes) == 0 {
		return "no task owns the files the findings name"
	}
	for _, r := range cv.Routes {
		l := loops[r.TaskID]
		switch {
		case l == nil:
			out = append(out, fmt.Sprintf("task %s is not in the plan", r.TaskID))
		case l.capsuleFP != "" && l.capsuleFP == r.Fingerprint:
			out = append(out, fmt.Sprintf("task %s is stuck: its repair left exactly what the capsule's validation round %d found", r.TaskID, l.capsuleRound))
		case l.attempts >= in.MaxAttempts:
			out = append(out, fmt.Sprintf("task %s has used its %d attempt(s)", r.TaskID, l.attempts))
		}
	}
	return strings.Join(out, "; ")
}

// runTask is a task's generate → validate → fix loop, from its next
// attempt on (phase domain.PhaseTask: the task's own loop; PhaseCapsule:
// repairing what round of the capsule's validation routed to it). Each
// attempt is validated; a failed one — an answer that could not be used
// counts as one — goes to the fixer with its exact failures, up to
// MaxAttempts in all, moving to the next tier after EscalateAfter failures
// on one tier and stopping early when the same failure comes back (stuck).
// An attempt kept with too little confidence waits for a review (see
// reviews.await): approval completes the task, rejection fails it, and a
// request for changes sends the reviewer's comment to the fixer as the next
// attempt. A reviewer's request always gets that one more attempt, even past
// MaxAttempts (a person decides again after it, so nothing loops unattended);
// automatic repair never goes past MaxAttempts. It reports whether the task
// passed and, if not, every attempt's reason.
func runTask(ctx workflow.Context, in Input, l *taskLoop, phase string, round int, modelCtx, validateCtx workflow.Context, state *State, rw *reviews) (bool, string) {
	var a *Activities
	taskID := l.id
	comment := ""
	tag := ""
	if phase == domain.PhaseCapsule {
		tag = "capsule repair, "
	}
	for {
		l.attempts++
		attempt := l.attempts
		state.Tasks[taskID] = "running"
		var gen TaskResult
		if err := workflow.ExecuteActivity(modelCtx, a.GenerateTask, TaskInput{RequestID: in.RequestID, TaskID: taskID, Attempt: attempt,
			Tier: l.tier, TierReason: l.tierReason, Comment: comment, Phase: phase, CapsuleRound: round}).Get(ctx, &gen); err != nil {
			l.reasons = append(l.reasons, fmt.Sprintf("attempt %d: %s", attempt, reason(err)))
			return false, l.failure()
		}
		if gen.Tier != l.tier {
			l.tier, l.onTier = gen.Tier, 0
		}
		l.model = gen.Model
		if gen.Unusable {
			// No files to validate: a failed attempt all the same. A
			// reviewer's request stays for the next attempt.
			l.reasons = append(l.reasons, fmt.Sprintf("attempt %d (%s%s %s): %s", attempt, tag, gen.Tier, gen.Model, gen.Problem))
			l.fingerprint = ""
			if attempt < in.MaxAttempts {
				l.failedAttempt(in, fmt.Sprintf("answering again after the unusable answer of attempt %d", attempt))
				continue
			}
			return false, l.failure()
		}
		comment = ""
		state.Tasks[taskID] = "validating"
		var tv TaskValidation
		if err := workflow.ExecuteActivity(validateCtx, a.ValidateTask, TaskInput{RequestID: in.RequestID, TaskID: taskID, Attempt: attempt,
			ReviewThreshold: in.Review.Threshold, Phase: phase, CapsuleRound: round, Full: in.TaskValidation == TaskValidationFull}).Get(ctx, &tv); err != nil {
			l.reasons = append(l.reasons, fmt.Sprintf("attempt %d: validation could not run: %s", attempt, reason(err)))
			return false, l.failure()
		}
		if tv.Passed && !tv.NeedsReview {
			return true, ""
		}
		if !tv.Passed {
			brief := tv.Brief
			if brief == "" {
				brief = firstLine(tv.Failures)
			}
			l.reasons = append(l.reasons, fmt.Sprintf("attempt %d (%s%s %s): %s", attempt, tag, gen.Tier, gen.Model, brief))
			stuck := tv.Fingerprint != "" && tv.Fingerprint == l.fingerprint
			if attempt < in.MaxAttempts && !stuck {
				l.fingerprint = tv.Fingerprint
				l.failedAttempt(in, fmt.Sprintf("fixing the failures of attempt %d", attempt))
				continue
			}
			if tv.GateFailed {
				if stuck {
					return false, fmt.Sprintf("task %s is stuck: attempt %d failed exactly as attempt %d did; %s", taskID, attempt, attempt-1, strings.Join(l.reasons, "; "))
				}
				return false, l.failure()
			}
			// It compiles and its tests pass; what is left are findings
			// the capsule's validation will judge (and route back while
			// the task has attempts left). With reviews on and too little
			// confidence, a reviewer judges first.
			if !reviewDue(in.Review.Threshold, tv) {
				if err := workflow.ExecuteActivity(validateCtx, a.AcceptTask, TaskInput{RequestID: in.RequestID, TaskID: taskID, Attempt: attempt}).Get(ctx, nil); err != nil {
					return false, fmt.Sprintf("task %s: %s", taskID, reason(err))
				}
				return true, ""
			}
		}
		d, err := rw.await(ctx, in, taskID, attempt, tv, state)
		if err != nil {
			l.reasons = append(l.reasons, fmt.Sprintf("attempt %d: review: %s", attempt, reason(err)))
			return false, l.failure()
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
		comment, l.fingerprint, l.onTier = d.Comment, "", 0
		if comment == "" {
			comment = "The reviewer asked for changes without saying which; make the code clearer and more robust."
		}
		l.tierReason = fmt.Sprintf("attempt %d: changes requested by %s on %s", attempt+1, d.DecidedBy, l.tier)
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
	if rw.policy.OnTimeout == vocab.OnTimeoutWait || rw.policy.Timeout <= 0 {
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

// upstreamOf lists every task id depends on, directly or through others,
// in plan order.
func upstreamOf(tasks []TaskRef, id string) []string {
	deps := map[string][]string{}
	for _, t := range tasks {
		deps[t.ID] = t.Dependencies
	}
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		for _, d := range deps[n] {
			if !seen[d] {
				seen[d] = true
				visit(d)
			}
		}
	}
	visit(id)
	var out []string
	for _, t := range tasks {
		if seen[t.ID] {
			out = append(out, t.ID)
		}
	}
	return out
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
