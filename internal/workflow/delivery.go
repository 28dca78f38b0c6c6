package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
)

// The delivery loop: after a pull request is opened for a capsule,
// DeliveryWorkflow pushes a version to the pull request's branch, waits for
// the CI of the pushed commit (polling, or woken by a checked webhook
// through WakeCISignal), and when the CI fails repairs the capsule from the
// failing runs' logs — the job's own repair machinery, the log routed to
// the tasks that own the files it names, validated in the sandbox as
// usual — stores the result as a new version and pushes it to the same
// branch. Rounds are bounded by MaxRounds and, through the budget guard on
// every model call, by the request's budget. Each round is recorded
// (store.DeliveryRound).
//
// The push credentials travel sealed (delivery.Sealer): Temporal's history
// holds the sealed text only, which the activities open.

// Names of the delivery loop.
const (
	DeliveryWorkflowName = "DeliveryWorkflow"
	// WakeCISignal carries a delivery.CIEvent to a loop waiting on a
	// commit's CI, so that it looks now instead of at its next poll.
	WakeCISignal = "ci-wake"
	// ErrTypeDelivery: a round cannot go on (refused credentials, a
	// rejected push, no CI client for the forge, a version that is not
	// the job's).
	ErrTypeDelivery = "DeliveryFailed"
)

// Bounds of what a CI run's log may carry through the workflow. The wait
// for one commit's CI is bounded too (DeliveryInput.CITimeout): every look
// is a few events of the workflow's history, which must stay well under
// Temporal's limits (6 h at the default 30 s interval is about 5,000
// events per round).
const (
	maxCIRuns     = 5
	maxCILogBytes = 16 << 10
)

// DeliveryWorkflowID is the loop of one capsule on one pull request.
func DeliveryWorkflowID(capsuleID string, pr delivery.PullRequest) string {
	return fmt.Sprintf("qlp-delivery-%s-%s-%s-%d", capsuleID, pr.Forge, pr.Repo, pr.Number)
}

// CIFactory returns the CI client of a pull request's forge, with the
// credentials of the delivery.
type CIFactory func(pr delivery.PullRequest, auth delivery.Auth) (delivery.CI, error)

// DeliveryInput starts a delivery loop.
type DeliveryInput struct {
	TenantID  string
	CapsuleID string
	// Version is the capsule version pushed first.
	Version int
	// Remote is the repository's git URL; the pull request's Branch is
	// where every version goes.
	Remote string
	PR     delivery.PullRequest
	// SealedAuth is the push (and CI) credentials, sealed with the
	// installation's key: never in clear in the workflow's history.
	SealedAuth string
	// PollInterval is the wait between looks at the CI; MaxRounds bounds
	// the pushes (the first included).
	PollInterval time.Duration
	MaxRounds    int
	// CITimeout bounds the wait for one commit's CI.
	CITimeout time.Duration
	// MaxAttempts and EscalateAfter bound each task's repair attempts in
	// one round; the others are as for jobs (see Input).
	MaxAttempts      int
	EscalateAfter    int
	TaskValidation   string
	HeartbeatTimeout time.Duration
	TaskTimeout      time.Duration
}

// DeliveryResult is how a loop ended.
type DeliveryResult struct {
	CapsuleID string
	// State is the last round's: success, or error (Error says why).
	State   string
	Rounds  int
	Version int
	SHA     string
	Error   string
}

// DeliveryDefaults are the loop's bounds when the input leaves them zero.
const (
	DefaultCIPollInterval    = 30 * time.Second
	DefaultDeliveryMaxRounds = 3
	DefaultCITimeout         = 6 * time.Hour
)

// DeliveryWorkflow runs the delivery loop (see above).
func DeliveryWorkflow(ctx workflow.Context, in DeliveryInput) (DeliveryResult, error) {
	def := Defaults()
	if in.PollInterval <= 0 {
		in.PollInterval = DefaultCIPollInterval
	}
	if in.MaxRounds <= 0 {
		in.MaxRounds = DefaultDeliveryMaxRounds
	}
	if in.CITimeout <= 0 {
		in.CITimeout = DefaultCITimeout
	}
	if in.MaxAttempts <= 0 {
		in.MaxAttempts = def.MaxAttempts
	}
	if in.EscalateAfter <= 0 {
		in.EscalateAfter = def.EscalateAfter
	}
	if in.HeartbeatTimeout <= 0 {
		in.HeartbeatTimeout = def.HeartbeatTimeout
	}
	if in.TaskTimeout <= 0 {
		in.TaskTimeout = def.TaskTimeout
	}
	if in.TaskValidation == "" {
		in.TaskValidation = TaskValidationQuick
	}
	var a *Activities
	loopID := workflow.GetInfo(ctx).WorkflowExecution.ID
	res := DeliveryResult{CapsuleID: in.CapsuleID, Version: in.Version}

	// Remote and CI calls: transient failures are retried, refusals are
	// not.
	remoteCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 5, NonRetryableErrorTypes: []string{ErrTypeDelivery, ErrTypeJobState}},
	})
	shortCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts: 10, NonRetryableErrorTypes: []string{ErrTypeJobState, ErrTypeDelivery}},
	})
	modelCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.TaskTimeout, HeartbeatTimeout: in.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 4, NonRetryableErrorTypes: []string{ErrTypeMalformedPlan, ErrTypeUnusableOutput, ErrTypeModelRefused, ErrTypeJobState, ErrTypeBudgetExceeded}},
	})
	validateCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.TaskTimeout, HeartbeatTimeout: in.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 6, NonRetryableErrorTypes: []string{ErrTypeValidationFailed, ErrTypeJobState, ErrTypeUnusableOutput}},
	})

	wake := workflow.GetSignalChannel(ctx, WakeCISignal)
	round := domain.DeliveryRound{TenantID: in.TenantID, CapsuleID: in.CapsuleID, LoopID: loopID, Forge: in.PR.Forge, Repo: in.PR.Repo,
		PR: in.PR.Number, Branch: in.PR.Branch}
	record := func(r domain.DeliveryRound) {
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, workflow.GetActivityOptions(shortCtx)), a.RecordDeliveryRound, r).Get(dctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("record delivery round", "loop", loopID, "round", r.Round, "error", err)
		}
	}
	stop := func(r domain.DeliveryRound, why string) (DeliveryResult, error) {
		r.State, r.Error = domain.DeliveryError, why
		record(r)
		res.State, res.Error = domain.DeliveryError, why
		return res, temporal.NewNonRetryableApplicationError(why, ErrTypeDelivery, nil)
	}

	version, cost := in.Version, int64(0)
	for n := 1; ; n++ {
		r := round
		r.Round, r.Version, r.CostPUSD = n, version, cost
		res.Rounds, res.Version = n, version

		var pushed delivery.PushResult
		err := workflow.ExecuteActivity(remoteCtx, a.PushVersion, PushVersionInput{TenantID: in.TenantID, CapsuleID: in.CapsuleID, Version: version,
			Remote: in.Remote, Branch: in.PR.Branch, SealedAuth: in.SealedAuth, Round: n}).Get(ctx, &pushed)
		if err != nil {
			why := fmt.Sprintf("round %d: push of version %d to %s failed: %s", n, version, in.PR.Branch, reason(err))
			if n > 1 {
				why += fmt.Sprintf(" (version %d is stored; the branch still holds round %d's commit)", version, n-1)
			}
			return stop(r, why)
		}
		r.SHA, res.SHA = pushed.Commit, pushed.Commit
		r.State = domain.DeliveryPending
		record(r)

		// Wait for the CI of the pushed commit, at most CITimeout.
		var st delivery.CIStatus
		waitUntil := workflow.Now(ctx).Add(in.CITimeout)
		for {
			if err := workflow.ExecuteActivity(remoteCtx, a.CheckCI, CheckCIInput{PR: in.PR, SHA: pushed.Commit, SealedAuth: in.SealedAuth}).Get(ctx, &st); err != nil {
				return stop(r, fmt.Sprintf("round %d: the CI status of %s could not be read: %s", n, short(pushed.Commit), reason(err)))
			}
			if st.State != delivery.CIPending {
				break
			}
			left := waitUntil.Sub(workflow.Now(ctx))
			if left <= 0 {
				return stop(r, fmt.Sprintf("round %d: the CI of %s did not finish within %v (delivery.ci_timeout): no CI runs on the branch, or it is stuck", n, short(pushed.Commit), in.CITimeout))
			}
			sel := workflow.NewSelector(ctx)
			timer := workflow.NewTimer(ctx, min(in.PollInterval, left))
			sel.AddFuture(timer, func(workflow.Future) {})
			sel.AddReceive(wake, func(c workflow.ReceiveChannel, _ bool) {
				var ev delivery.CIEvent
				c.Receive(ctx, &ev)
			})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return stop(r, "cancelled")
			}
		}
		if st.State == delivery.CISuccess {
			r.State = domain.DeliverySuccess
			record(r)
			res.State = domain.DeliverySuccess
			return res, nil
		}
		r.State = domain.DeliveryFailure
		for _, run := range st.Failed {
			r.FailingRuns = append(r.FailingRuns, run.Name)
		}
		record(r)
		if n >= in.MaxRounds {
			res.State = domain.DeliveryError
			res.Error = fmt.Sprintf("the CI still fails after %d round(s) (max rounds): %s", n, strings.Join(r.FailingRuns, ", "))
			return res, temporal.NewNonRetryableApplicationError(res.Error, ErrTypeDelivery, nil)
		}

		// The next round: repair from the failing runs' logs.
		next := round
		next.Round, next.Version = n+1, version
		// Before any money is spent: the credentials must still reach
		// the remote, else the repaired version could not be pushed.
		if err := workflow.ExecuteActivity(remoteCtx, a.CheckRemote, CheckRemoteInput{Remote: in.Remote, SealedAuth: in.SealedAuth}).Get(ctx, nil); err != nil {
			return stop(next, fmt.Sprintf("round %d: not repaired: %s", n+1, reason(err)))
		}
		var prep CIRepairPlan
		if err := workflow.ExecuteActivity(shortCtx, a.PrepareCIRepair, CIRepairInput{TenantID: in.TenantID, CapsuleID: in.CapsuleID, Version: version,
			SHA: pushed.Commit, Runs: st.Failed, Round: n + 1}).Get(ctx, &prep); err != nil {
			return stop(next, fmt.Sprintf("round %d: the repair could not start: %s", n+1, reason(err)))
		}
		newVersion, spent, why := ciRepair(ctx, in, prep, n+1, pushed.Commit, modelCtx, validateCtx, shortCtx)
		if why != "" {
			next.CostPUSD = spent
			// The tasks go back to the files of the version pushed, so
			// that the job still holds it (and a later loop can start).
			dctx, cancel := workflow.NewDisconnectedContext(ctx)
			if err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, workflow.GetActivityOptions(shortCtx)), a.RestoreTasks,
				RestoreTasksInput{RequestID: prep.RequestID, Loops: prep.Loops}).Get(dctx, nil); err != nil {
				why += "; the job's tasks could not be restored to version " + fmt.Sprint(version) + ": " + reason(err)
			}
			cancel()
			return stop(next, fmt.Sprintf("round %d: the repair of what the CI of %s found failed: %s", n+1, short(pushed.Commit), why))
		}
		version, cost = newVersion, spent
	}
}

// ciRepair runs the job's repair loop on what the CI found (prep's capsule
// check): the routed tasks' fixers, then the capsule's full validation,
// routing again while it fails; then a new version. It returns the
// version, what the round cost, and why it failed ("" when it did not).
func ciRepair(ctx workflow.Context, in DeliveryInput, prep CIRepairPlan, n int, sha string, modelCtx, validateCtx, shortCtx workflow.Context) (int, int64, string) {
	var a *Activities
	jin := Input{RequestID: prep.RequestID, TenantID: in.TenantID, MaxParallel: Defaults().MaxParallel, MaxAttempts: prep.Used + in.MaxAttempts,
		EscalateAfter: in.EscalateAfter, TaskValidation: in.TaskValidation}
	state := State{Status: "running", Step: "repairing from the CI", Tasks: map[string]string{}}
	loops := map[string]*taskLoop{}
	for _, l := range prep.Loops {
		loops[l.ID] = &taskLoop{id: l.ID, attempts: l.Attempts, tier: l.Tier}
		state.Tasks[l.ID] = "completed"
	}
	rw := newReviews(ctx, jin, shortCtx, modelCtx)
	spent := func() int64 {
		var tot int64
		if err := workflow.ExecuteActivity(shortCtx, a.JobSpend, prep.RequestID).Get(ctx, &tot); err != nil {
			return 0
		}
		return tot - prep.SpentPUSD
	}
	round, cv := prep.CheckRound, prep.Check
	for {
		if blocked := repairBlocked(jin, cv, loops); blocked != "" {
			return 0, spent(), cv.Failure + "; not repaired: " + blocked
		}
		routed := map[string]bool{}
		for _, r := range cv.Routes {
			routed[r.TaskID] = true
			loops[r.TaskID].capsuleFailed(jin, round, r)
		}
		var repairs []TaskRef
		for _, t := range prep.Tasks {
			if routed[t.ID] {
				repairs = append(repairs, TaskRef{ID: t.ID, Dependencies: upstreamOf(prep.Tasks, t.ID)})
			}
		}
		_, why := schedule(ctx, repairs, jin.MaxParallel, func(id string) { state.Tasks[id] = "running" },
			func(gctx workflow.Context, id string) (bool, string) {
				return runTask(gctx, jin, loops[id], domain.PhaseCapsule, round, modelCtx, validateCtx, &state, rw)
			},
			func(id string, ok bool, why string) {})
		if ctx.Err() != nil {
			return 0, spent(), "cancelled"
		}
		if why != "" {
			return 0, spent(), why
		}
		round++
		if err := workflow.ExecuteActivity(validateCtx, a.ValidateCapsule, CapsuleInput{RequestID: prep.RequestID, Round: round}).Get(ctx, &cv); err != nil {
			return 0, spent(), "capsule validation failed: " + reason(err)
		}
		if cv.Status != "failed" {
			break
		}
	}
	var v DeliveryVersionResult
	msg := fmt.Sprintf("delivery round %d: repaired what the CI of %s found (failing: %s)", n, short(sha), strings.Join(prep.Runs, ", "))
	if err := workflow.ExecuteActivity(validateCtx, a.AssembleDeliveryVersion, DeliveryVersionInput{TenantID: in.TenantID, CapsuleID: in.CapsuleID,
		RequestID: prep.RequestID, Round: round, Parent: prep.Version, Message: msg}).Get(ctx, &v); err != nil {
		return 0, spent(), "the repaired capsule could not be built: " + reason(err)
	}
	return v.Version, v.SpentPUSD - prep.SpentPUSD, ""
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// PushVersionInput pushes one capsule version.
type PushVersionInput struct {
	TenantID, CapsuleID string
	Version             int
	Remote, Branch      string
	SealedAuth          string
	Round               int
}

// openAuth unseals the credentials.
func (a *Activities) openAuth(sealed string) (delivery.Auth, error) {
	if a.Sealer == nil {
		return delivery.Auth{}, temporal.NewNonRetryableApplicationError("not implemented: this worker has no key to open delivery credentials (Activities.Sealer)", ErrTypeDelivery, nil)
	}
	auth, err := a.Sealer.Open(sealed)
	if err != nil {
		return delivery.Auth{}, temporal.NewNonRetryableApplicationError(err.Error()+" (the orchestrator and the worker must share the capsule signing key)", ErrTypeDelivery, nil)
	}
	return auth, nil
}

// deliveryError keeps refusals from being retried.
func deliveryError(err error) error {
	var fe delivery.FieldError
	if errors.Is(err, delivery.ErrAuth) || errors.Is(err, delivery.ErrRejected) || errors.As(err, &fe) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeDelivery, nil)
	}
	return err
}

// PushVersion pushes a capsule version to the branch: its whole tree as
// one commit. Pushing the same tree again is a new commit on top, which
// the CI runs again; a retry after a push that landed is such a push.
func (a *Activities) PushVersion(ctx context.Context, in PushVersionInput) (delivery.PushResult, error) {
	auth, err := a.openAuth(in.SealedAuth)
	if err != nil {
		return delivery.PushResult{}, err
	}
	c, err := a.Store.GetCapsule(ctx, in.TenantID, in.CapsuleID)
	if err != nil {
		return delivery.PushResult{}, err
	}
	v, err := a.Store.GetCapsuleVersion(ctx, in.TenantID, in.CapsuleID, in.Version)
	if err != nil {
		return delivery.PushResult{}, err
	}
	msg := fmt.Sprintf("%s: version %d (delivery round %d)\n\nQLP capsule %s version %d: %s\n", c.Name, v.Version, in.Round, c.ID, v.Version, v.Message)
	res, err := delivery.Push(ctx, capsule.VersionFiles(v), delivery.PushOptions{Remote: in.Remote, Branch: in.Branch, Message: msg,
		AuthorName: "QLP", AuthorEmail: "qlp@localhost", When: v.CreatedAt, Auth: auth})
	if err != nil {
		return res, deliveryError(err)
	}
	return res, nil
}

// CheckRemoteInput names a remote and the credentials for it.
type CheckRemoteInput struct {
	Remote     string
	SealedAuth string
}

// CheckRemote makes sure the credentials still reach the remote.
func (a *Activities) CheckRemote(ctx context.Context, in CheckRemoteInput) error {
	auth, err := a.openAuth(in.SealedAuth)
	if err != nil {
		return err
	}
	return deliveryError(delivery.CheckAccess(ctx, in.Remote, auth))
}

// CheckCIInput asks for the CI status of a pushed commit.
type CheckCIInput struct {
	PR         delivery.PullRequest
	SHA        string
	SealedAuth string
}

// CheckCI reads the CI status of a commit through the forge's client,
// bounding the failing runs' logs it hands the workflow.
func (a *Activities) CheckCI(ctx context.Context, in CheckCIInput) (delivery.CIStatus, error) {
	if a.CI == nil {
		return delivery.CIStatus{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("not implemented: no CI client is wired for forge %q in this worker (Activities.CI)", in.PR.Forge), ErrTypeDelivery, nil)
	}
	auth, err := a.openAuth(in.SealedAuth)
	if err != nil {
		return delivery.CIStatus{}, err
	}
	ci, err := a.CI(in.PR, auth)
	if err != nil {
		return delivery.CIStatus{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no CI client for %s %s: %v", in.PR.Forge, in.PR.Repo, err), ErrTypeDelivery, nil)
	}
	st, err := ci.CIStatus(ctx, in.PR, in.SHA)
	if err != nil {
		return delivery.CIStatus{}, fmt.Errorf("CI status of %s on %s: %w", short(in.SHA), in.PR.Repo, err)
	}
	if len(st.Failed) > maxCIRuns {
		st.Failed = st.Failed[:maxCIRuns]
	}
	for i := range st.Failed {
		if l := st.Failed[i].Log; len(l) > maxCILogBytes {
			st.Failed[i].Log = "…" + l[len(l)-maxCILogBytes:]
		}
	}
	if st.State == delivery.CIFailure && len(st.Failed) == 0 {
		st.Failed = []delivery.CIRun{{Name: "ci", Log: "the forge reports a failure but names no failing run"}}
	}
	return st, nil
}

// RecordDeliveryRound stores a round's state.
func (a *Activities) RecordDeliveryRound(ctx context.Context, r domain.DeliveryRound) error {
	r.UpdatedAt = a.now()
	if err := a.Store.PutDeliveryRound(ctx, r); err != nil {
		return err
	}
	if c, err := a.Store.GetCapsule(ctx, r.TenantID, r.CapsuleID); err == nil {
		if job, err := a.Store.GetJob(ctx, "", c.JobID); err == nil {
			msg := fmt.Sprintf("delivery round %d: version %d on %s: %s", r.Round, r.Version, r.Branch, r.State)
			if r.Error != "" {
				msg += ": " + r.Error
			}
			a.publish(ctx, job, progress.LogMessage, "", msg, map[string]any{"delivery_round": r.Round, "version": r.Version, "sha": r.SHA,
				"state": r.State, "failing_runs": r.FailingRuns})
		}
	}
	return nil
}

// JobSpend is what a job's model calls have cost so far (pico-USD).
func (a *Activities) JobSpend(ctx context.Context, jobID string) (int64, error) {
	tot, err := a.Store.SumUsage(ctx, store.UsageFilter{JobID: jobID})
	return tot.CostPUSD, err
}

// CIRepairInput is a failed CI to repair.
type CIRepairInput struct {
	TenantID, CapsuleID string
	Version             int
	SHA                 string
	Runs                []delivery.CIRun
	Round               int
}

// CIRepairPlan is what the workflow needs to run the repair.
type CIRepairPlan struct {
	RequestID string
	Version   int
	// CheckRound is the job's capsule check that holds the CI failure;
	// Check sums it up with its routes.
	CheckRound int
	Check      CapsuleResult
	Tasks      []TaskRef
	Loops      []TaskLoopState
	// Used is the most attempts a task made so far: each task may go
	// DeliveryInput.MaxAttempts past it in this round.
	Used      int
	Runs      []string
	SpentPUSD int64
}

// TaskLoopState is where a task's repair loop stands.
type TaskLoopState struct {
	ID       string
	Attempts int
	Tier     string
}

// ciPlace finds file:line (and :column) references in a log line.
var ciPlace = regexp.MustCompile(`([A-Za-z0-9_./-]+\.[A-Za-z0-9]+):([0-9]+)(?::([0-9]+))?`)

// PrepareCIRepair turns the failing CI runs of a pushed version into a
// failed round of the job's capsule checks: each log line that names a
// file of the project (file:line) is a finding routed to the task that
// owns the file; a run that names none goes to the last task in
// dependency order, which sees the most of the project. Each route's
// failures — what its fixer gets — hold the lines that name its files and
// the end of each failing run's log. The version must be the one the
// job's tasks hold (the latest), else nothing is repaired.
func (a *Activities) PrepareCIRepair(ctx context.Context, in CIRepairInput) (CIRepairPlan, error) {
	c, err := a.Store.GetCapsule(ctx, in.TenantID, in.CapsuleID)
	if err != nil {
		return CIRepairPlan{}, err
	}
	job, plan, err := a.loadJob(ctx, c.JobID)
	if err != nil {
		return CIRepairPlan{}, err
	}
	if plan == nil {
		return CIRepairPlan{}, temporal.NewNonRetryableApplicationError("the capsule's job has no plan: there is nothing to repair with", ErrTypeJobState, nil)
	}
	if c.LatestVersion != in.Version {
		return CIRepairPlan{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("version %d is not the capsule's latest (%d): only the latest can be repaired", in.Version, c.LatestVersion), ErrTypeDelivery, nil)
	}
	v, err := a.Store.GetCapsuleVersion(ctx, in.TenantID, in.CapsuleID, in.Version)
	if err != nil {
		return CIRepairPlan{}, err
	}
	tasks, err := a.Store.ListTasks(ctx, job.ID)
	if err != nil {
		return CIRepairPlan{}, err
	}
	files, _ := mergeFiles(tasks)
	held := capsule.VersionFiles(v)
	for p, content := range files {
		if string(held[p]) != string(content) {
			return CIRepairPlan{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the job's tasks no longer hold version %d (%s differs): it cannot be repaired from them", in.Version, p), ErrTypeDelivery, nil)
		}
	}
	for _, t := range tasks {
		if t.Status != domain.TaskCompleted {
			return CIRepairPlan{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is %s", t.ID, t.Status), ErrTypeJobState, nil)
		}
	}
	spent, err := a.Store.SumUsage(ctx, store.UsageFilter{JobID: job.ID})
	if err != nil {
		return CIRepairPlan{}, err
	}
	round := 1
	if last, err := a.Store.LatestCapsuleCheck(ctx, job.ID); err == nil {
		round = last.Round + 1
	} else if !errors.Is(err, store.ErrNotFound) {
		return CIRepairPlan{}, err
	}
	// A retry after the check was stored finds it.
	check, err := a.Store.GetCapsuleCheck(ctx, job.ID, round-1)
	if err == nil && check.Digest == filesDigest(files) && strings.HasPrefix(check.Summary, ciSummaryPrefix(in.SHA)) {
		round--
	} else {
		check = ciCheck(job.ID, round, in, files, tasks)
		if err := a.Store.PutCapsuleCheck(ctx, check); err != nil {
			return CIRepairPlan{}, err
		}
		a.publish(ctx, job, progress.CapsuleValidated, "", check.Summary, map[string]any{"round": round, "status": check.Status, "source": "ci",
			"findings": eventFindings(check.Findings)})
	}
	out := CIRepairPlan{RequestID: job.ID, Version: in.Version, CheckRound: round, Check: capsuleResult(check), SpentPUSD: spent.CostPUSD}
	for _, r := range in.Runs {
		out.Runs = append(out.Runs, r.Name)
	}
	used := 0
	for _, t := range topoOrder(tasks) {
		out.Tasks = append(out.Tasks, TaskRef{ID: t.ID, Dependencies: t.Dependencies})
		out.Loops = append(out.Loops, TaskLoopState{ID: t.ID, Attempts: t.Attempts, Tier: t.Tier})
		used = max(used, t.Attempts)
	}
	out.Used = used
	return out, nil
}

func ciSummaryPrefix(sha string) string { return "CI failed on " + short(sha) }

// ciCheck builds the capsule check of a failed CI.
func ciCheck(jobID string, round int, in CIRepairInput, files map[string][]byte, tasks []domain.Task) domain.CapsuleCheck {
	owners := fileOwners(tasks)
	order := topoOrder(tasks)
	fallback := order[len(order)-1].ID
	var names []string
	for _, r := range in.Runs {
		names = append(names, r.Name)
	}
	c := domain.CapsuleCheck{JobID: jobID, Round: round, Status: "failed", Digest: filesDigest(files),
		Summary: fmt.Sprintf("%s: %s", ciSummaryPrefix(in.SHA), strings.Join(names, ", ")), Report: []byte("{}")}
	lines := map[string][]string{} // task → the log lines naming its files
	tasksOf := map[string]map[string]bool{}
	fp := map[string][]string{}
	for _, run := range in.Runs {
		named := false
		for _, line := range strings.Split(run.Log, "\n") {
			for _, m := range ciPlace.FindAllStringSubmatch(line, -1) {
				path := ciPath(m[1], files)
				if path == "" {
					continue
				}
				owner := owners[path]
				if owner == "" {
					owner = fallback
				}
				ln, _ := strconv.Atoi(m[2])
				col, _ := strconv.Atoi(m[3])
				msg := strings.TrimSpace(line)
				c.Findings = append(c.Findings, domain.CapsuleFinding{TaskID: owner, Check: "ci:" + run.Name, Tool: "ci", File: path, Line: ln, Column: col, Message: clip(msg, 500)})
				lines[owner] = append(lines[owner], "  "+clip(msg, 500))
				if tasksOf[owner] == nil {
					tasksOf[owner] = map[string]bool{}
				}
				tasksOf[owner][run.Name] = true
				fp[owner] = append(fp[owner], run.Name+"|"+path+"|"+m[2])
				named = true
				break
			}
		}
		if !named {
			c.Findings = append(c.Findings, domain.CapsuleFinding{TaskID: fallback, Check: "ci:" + run.Name, Tool: "ci", Message: "the run failed; its log names no file of the project"})
			if tasksOf[fallback] == nil {
				tasksOf[fallback] = map[string]bool{}
			}
			tasksOf[fallback][run.Name] = true
			fp[fallback] = append(fp[fallback], run.Name+"|"+digits.ReplaceAllString(lastLine(run.Log), "#"))
		}
	}
	for _, t := range order {
		runs := tasksOf[t.ID]
		if len(runs) == 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "The team's CI failed on the pushed commit %s (the capsule as it stands). Fix what it reports in your files.\n", short(in.SHA))
		if ls := lines[t.ID]; len(ls) > 0 {
			b.WriteString("Lines of the CI logs that name your files:\n")
			for i, l := range ls {
				if i == 30 {
					fmt.Fprintf(&b, "  … and %d more\n", len(ls)-30)
					break
				}
				b.WriteString(l + "\n")
			}
		}
		for _, run := range in.Runs {
			if !runs[run.Name] {
				continue
			}
			fmt.Fprintf(&b, "CI run %q failed", run.Name)
			if run.URL != "" {
				fmt.Fprintf(&b, " (%s)", run.URL)
			}
			log := strings.TrimSpace(run.Log)
			if len(log) > 4000 {
				log = "…" + log[len(log)-4000:]
			}
			fmt.Fprintf(&b, "; the end of its log:\n%s\n", indent(log, "    "))
		}
		failures := b.String()
		if len(failures) > maxFailureBytes {
			failures = failures[:maxFailureBytes] + "\n… (cut)"
		}
		n := 0
		for _, f := range c.Findings {
			if f.TaskID == t.ID {
				n++
			}
		}
		sort.Strings(fp[t.ID])
		sum := sha256.Sum256([]byte(strings.Join(fp[t.ID], "\n")))
		c.Routes = append(c.Routes, domain.CapsuleRoute{TaskID: t.ID, Findings: n, Fingerprint: hex.EncodeToString(sum[:8]), Failures: failures})
	}
	return c
}

// ciPath maps a path a CI log names (relative, or with a checkout's
// prefix such as /home/runner/work/repo/repo/) to a file of the project.
func ciPath(p string, files map[string][]byte) string {
	p = strings.TrimPrefix(p, "./")
	if _, ok := files[p]; ok {
		return p
	}
	best := ""
	for f := range files {
		if strings.HasSuffix(p, "/"+f) && len(f) > len(best) {
			best = f
		}
	}
	return best
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// DeliveryVersionInput asks for the repaired capsule as a new version.
type DeliveryVersionInput struct {
	TenantID, CapsuleID string
	RequestID           string
	// Round is the capsule check that validated the repaired files.
	Round   int
	Parent  int
	Message string
}

// DeliveryVersionResult is the new version.
type DeliveryVersionResult struct {
	Version    int
	Validation string
	// SpentPUSD is the job's spend when the version was made.
	SpentPUSD int64
}

// AssembleDeliveryVersion builds the repaired capsule from the job's
// tasks and stores it as the version after Parent, with its archive.
func (a *Activities) AssembleDeliveryVersion(ctx context.Context, in DeliveryVersionInput) (DeliveryVersionResult, error) {
	job, plan, err := a.loadJob(ctx, in.RequestID)
	if err != nil {
		return DeliveryVersionResult{}, err
	}
	c, err := a.Store.GetCapsule(ctx, in.TenantID, in.CapsuleID)
	if err != nil {
		return DeliveryVersionResult{}, err
	}
	tot, err := a.Store.SumUsage(ctx, store.UsageFilter{JobID: job.ID})
	if err != nil {
		return DeliveryVersionResult{}, err
	}
	if c.LatestVersion > in.Parent {
		// A retry after the version was stored.
		v, err := a.Store.GetCapsuleVersion(ctx, in.TenantID, in.CapsuleID, in.Parent+1)
		if err != nil {
			return DeliveryVersionResult{}, err
		}
		if v.ParentVersion != in.Parent || v.Message != in.Message {
			return DeliveryVersionResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("version %d of capsule %s was made by something else meanwhile", v.Version, c.ID), ErrTypeDelivery, nil)
		}
		if _, err := a.storeArchive(ctx, c.TenantID, c.ID, v.Version); err != nil {
			return DeliveryVersionResult{}, err
		}
		return DeliveryVersionResult{Version: v.Version, SpentPUSD: tot.CostPUSD}, nil
	}
	tasks, err := a.Store.ListTasks(ctx, job.ID)
	if err != nil {
		return DeliveryVersionResult{}, err
	}
	for _, t := range tasks {
		if t.Status != domain.TaskCompleted {
			return DeliveryVersionResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is %s", t.ID, t.Status), ErrTypeJobState, nil)
		}
	}
	built, v, desc, _, err := a.buildVersion(ctx, job, plan, tasks, in.Round, in.Parent+1, in.Parent, in.Message)
	if err != nil {
		return DeliveryVersionResult{}, err
	}
	if err := a.Store.AddCapsuleVersion(ctx, domain.Capsule{ID: c.ID, TenantID: c.TenantID, JobID: job.ID, Name: built.Manifest.Name,
		Description: desc, Language: c.Language, CreatedAt: c.CreatedAt}, v); err != nil {
		return DeliveryVersionResult{}, err
	}
	if _, err := a.storeArchive(ctx, c.TenantID, c.ID, v.Version); err != nil {
		return DeliveryVersionResult{}, err
	}
	a.publish(ctx, job, progress.CapsuleCreated, "", fmt.Sprintf("capsule %s version %d: %s", c.ID, v.Version, in.Message),
		map[string]any{"capsule_id": c.ID, "version": v.Version, "parent_version": in.Parent, "validation": built.Manifest.Validation.Status})
	return DeliveryVersionResult{Version: v.Version, Validation: built.Manifest.Validation.Status, SpentPUSD: tot.CostPUSD}, nil
}

// RestoreTasksInput names where each task stood before a repair.
type RestoreTasksInput struct {
	RequestID string
	Loops     []TaskLoopState
}

// RestoreTasks puts each task back where it stood before a repair that
// failed: the files of its last usable attempt up to then, completed. The
// attempts the repair made stay recorded.
func (a *Activities) RestoreTasks(ctx context.Context, in RestoreTasksInput) error {
	done := domain.TaskCompleted
	for _, l := range in.Loops {
		att, err := a.lastUsable(ctx, in.RequestID, l.ID, l.Attempts+1)
		if err != nil {
			return err
		}
		if att == nil {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s has no usable attempt to go back to", l.ID), ErrTypeJobState, nil)
		}
		files, tier := att.Files, l.Tier
		if err := a.Store.UpdateTask(ctx, in.RequestID, l.ID, store.TaskUpdate{Status: &done, Files: &files, Tier: &tier}); err != nil {
			return err
		}
	}
	return nil
}
