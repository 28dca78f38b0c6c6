package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// Activities holds what the activities need. The worker registers a
// populated pointer; the workflow refers to the methods through a nil one.
type Activities struct {
	Store  Store
	Models tiers.Models
	Bus    *progress.Bus
	Signer *capsule.Signer
	// Validator checks every task and the assembled capsule (the
	// Validation Mesh). Nil leaves capsules marked not_validated.
	Validator Validator
	// Generator is recorded in every manifest.
	Generator   capsule.Generator
	MaxTokens   int
	Temperature float64
	MaxTasks    int
	// DecomposerTier is the tier that plans jobs.
	DecomposerTier string
	// Memory recalls past requests, code and statistics; nil runs without.
	Memory Memory
	// Metrics count finished jobs; nil counts nothing.
	Metrics *Metrics
	// Blobs keeps the archive of every capsule version a job creates (in
	// capsule.DefaultFormat), which the orchestrator then serves; nil
	// keeps none and downloads build every archive.
	Blobs blob.Store
	// Policy checks every attempt's files against the content policy
	// before they can reach a capsule; nil checks nothing. PolicyStore
	// holds tenants' policies and the violations; PolicyMetrics (may be
	// nil) counts them.
	Policy        *policy.Checker
	PolicyStore   PolicyStore
	PolicyMetrics *policy.Metrics
	// Sealer opens the delivery loop's sealed credentials; CI returns the
	// CI client of a pull request's forge. Without them the delivery loop
	// fails its rounds saying so.
	Sealer *delivery.Sealer
	CI     CIFactory
	Logger *slog.Logger
	Now    func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// loadJob reads a job and its plan, if it has one.
func (a *Activities) loadJob(ctx context.Context, requestID string) (domain.Job, *Plan, error) {
	job, err := a.Store.GetJob(ctx, "", requestID)
	if err != nil {
		return domain.Job{}, nil, err
	}
	if len(job.Project) == 0 || string(job.Project) == "{}" {
		return job, nil, nil
	}
	var p Plan
	if err := json.Unmarshal(job.Project, &p); err != nil {
		return job, nil, fmt.Errorf("workflow: job %s plan: %w", requestID, err)
	}
	return job, &p, nil
}

func (a *Activities) publish(ctx context.Context, job domain.Job, typ, taskID, msg string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	if tot, err := a.Store.SumUsage(ctx, store.UsageFilter{JobID: job.ID}); err == nil {
		data["job_tokens_in"] = tot.InputTokens
		data["job_tokens_out"] = tot.OutputTokens
		data["job_cost_usd"] = pricing.USD(tot.CostPUSD)
		data["job_calls"] = tot.Calls
	}
	if _, err := a.Bus.Publish(ctx, job.ID, job.TenantID, typ, taskID, msg, data); err != nil {
		// Progress is best effort; the job's state in the store is the truth.
		a.Logger.WarnContext(ctx, "publish progress event", "job", job.ID, "type", typ, "error", err)
	}
}

// StartJob marks the job running.
func (a *Activities) StartJob(ctx context.Context, in JobRef) error {
	job, err := a.Store.GetJob(ctx, "", in.RequestID)
	if err != nil {
		return err
	}
	if job.Status.Terminal() {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("job %s is already %s", job.ID, job.Status), ErrTypeJobState, nil)
	}
	if job.Status == domain.JobRunning {
		return nil // a retry after the update landed
	}
	running, now := domain.JobRunning, a.now()
	if err := a.Store.UpdateJob(ctx, job.ID, store.JobUpdate{Status: &running, StartedAt: &now}); err != nil {
		return err
	}
	a.publish(ctx, job, progress.WorkflowStarted, "", "job started", map[string]any{"workflow_id": job.WorkflowID})
	return nil
}

// llmError turns a model error into a Temporal error: retryable ones keep
// the provider's Retry-After; the others stop the retries.
func llmError(what string, err error) error {
	if errors.Is(err, budget.ErrExceeded) {
		// The message says which budget and what the job has spent.
		return temporal.NewNonRetryableApplicationError(what+": "+err.Error(), ErrTypeBudgetExceeded, nil)
	}
	var le *llm.Error
	if errors.As(err, &le) {
		msg := fmt.Sprintf("%s: %s", what, le.Error())
		if llm.Retryable(err) {
			return temporal.NewApplicationErrorWithOptions(msg, le.Kind.String(), temporal.ApplicationErrorOptions{NextRetryDelay: le.RetryAfter})
		}
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeModelRefused, nil)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// call runs one model exchange with heartbeats, streaming progress and up to
// two continuations of an answer cut off at the token limit.
// JobBudget is the job's own budget in pico-USD (its request's
// metadata.budget_usd, validated when it was submitted), 0 for none.
func JobBudget(job domain.Job) int64 {
	var m struct {
		Budget json.Number `json:"budget_usd"`
	}
	if json.Unmarshal(job.Metadata, &m) != nil || m.Budget == "" {
		return 0
	}
	p, err := pricing.ParseUSD(m.Budget.String())
	if err != nil || p <= 0 {
		return 0
	}
	return p
}

func (a *Activities) call(ctx context.Context, job domain.Job, tier string, meta llm.Meta, msgs []llm.Message, jsonMode bool) (*llm.Response, error) {
	target, err := a.Models.TargetFor(ctx, job.TenantID, tier)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeModelRefused, nil)
	}
	meta.TenantID, meta.JobID, meta.Tier = job.TenantID, job.ID, tier
	meta.Attempt = int(activity.GetInfo(ctx).Attempt)
	meta.JobBudgetPUSD = JobBudget(job)

	// Heartbeat on a timer as well as on output: a model may think for a
	// long time before its first token.
	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	var streamed int
	var mu sync.Mutex
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				mu.Lock()
				n := streamed
				mu.Unlock()
				activity.RecordHeartbeat(ctx, n)
			}
		}
	}()
	lastEvent := time.Now()
	onChunk := func(c llm.Chunk) error {
		mu.Lock()
		streamed += len(c.Delta)
		n := streamed
		mu.Unlock()
		if meta.TaskID != "" && time.Since(lastEvent) > 2*time.Second {
			lastEvent = time.Now()
			a.publish(ctx, job, progress.TaskProgress, meta.TaskID, "", map[string]any{"chars": n, "est_tokens_out": (n + 3) / 4})
		}
		return nil
	}

	var total *llm.Response
	conv := append([]llm.Message(nil), msgs...)
	for round := 0; round < 3; round++ {
		resp, err := target.Provider.Stream(ctx, llm.Request{Model: target.Model, Messages: conv, Temperature: a.Temperature,
			MaxTokens: a.MaxTokens, JSON: jsonMode && round == 0, Meta: meta}, onChunk)
		if err != nil {
			return nil, llmError(meta.Role+" call to "+target.Model, err)
		}
		if total == nil {
			total = resp
		} else {
			total.Extend(resp)
		}
		if resp.FinishReason == llm.FinishContentFilter {
			return nil, temporal.NewNonRetryableApplicationError(meta.Role+": the provider filtered the answer", ErrTypeModelRefused, nil)
		}
		if !resp.Truncated() {
			return total, nil
		}
		a.publish(ctx, job, progress.LogMessage, meta.TaskID, "answer cut off at the token limit; asking the model to continue", nil)
		conv = llm.Continuation(conv, resp)
	}
	return nil, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s: the answer was still cut off at the output limit after two continuations (%d output tokens); raise QLP_LLM_MAX_TOKENS or split the task", meta.Role, total.Usage.OutputTokens),
		ErrTypeUnusableOutput, nil)
}

// Decompose makes one attempt at planning the job: one model call returns
// the task graph, checked against the schema and for cycles; a malformed
// plan is re-asked once. A plan still malformed after the re-ask, or an
// answer cut off twice, is recorded as a failed planning attempt and
// reported as the result's Problem: the workflow then tries a stronger
// tier before it fails the job.
func (a *Activities) Decompose(ctx context.Context, in DecomposeInput) (DecomposeResult, error) {
	job, plan, err := a.loadJob(ctx, in.RequestID)
	if err != nil {
		return DecomposeResult{}, err
	}
	if plan != nil {
		if tasks, err := a.Store.ListTasks(ctx, job.ID); err == nil && len(tasks) == len(plan.Tasks) {
			return refs(plan), nil // a retry after the plan was stored
		}
	}
	attemptNo := max(in.Attempt, 1)
	if prev, err := a.Store.GetAttempt(ctx, job.ID, PlanTaskID, attemptNo); err == nil && prev.Status == domain.AttemptFailed {
		// A retry after this attempt failed: no second model call.
		return DecomposeResult{Tier: prev.Tier, Model: prev.Model, Problem: prev.Failures}, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return DecomposeResult{}, err
	}
	tier := in.Tier
	if tier == "" {
		tier = a.DecomposerTier
	}
	target, err := a.Models.TargetFor(ctx, job.TenantID, tier)
	if err != nil {
		return DecomposeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeModelRefused, nil)
	}
	want := job.Language
	if want == "" {
		want = DetectLanguage(job.Description + "\n" + job.Requirements)
	}
	var similar []memory.RequestMatch
	if a.Memory != nil {
		similar, err = a.Memory.SimilarRequests(memCtx(ctx, job), memory.RequestQuery{RequestID: job.ID, Description: requestText(job), Limit: 3, SuccessfulOnly: true})
		if err != nil {
			a.memoryFailed(ctx, job, "", "similar requests", err)
			similar = nil
		}
		if want != "" {
			kept := similar[:0]
			for _, m := range similar {
				if m.Language == "" || m.Language == want {
					kept = append(kept, m)
				}
			}
			similar = kept
		}
	}
	msgs, err := renderPrompt("decomposer", decomposerData{Description: job.Description, Requirements: job.Requirements,
		Language: want, Framework: job.Framework, MaxTasks: a.MaxTasks, Languages: strings.Join(vocab.Languages(), ", "), Similar: similar})
	if err != nil {
		return DecomposeResult{}, err
	}
	if attemptNo > 1 {
		a.publish(ctx, job, progress.LogMessage, "", fmt.Sprintf("planning again on %s %s (attempt %d)", tier, target.Model, attemptNo),
			map[string]any{"attempt": attemptNo, "tier": tier, "model": target.Model})
	}
	meta := llm.Meta{Role: "decomposer"}
	att := domain.Attempt{JobID: job.ID, TaskID: PlanTaskID, Attempt: attemptNo, Phase: domain.PhasePlan, Role: "decomposer",
		PromptVersion: PromptVersions["decomposer"], Tier: tier, Model: target.Model}
	spent := func(resp *llm.Response) {
		att.InputTokens += resp.Usage.InputTokens
		att.OutputTokens += resp.Usage.OutputTokens
		att.CostPUSD += resp.CostPUSD
	}
	failed := func(problem string) (DecomposeResult, error) {
		att.Status, att.ValidationStatus, att.Failures = domain.AttemptFailed, ValidationUnusable, problem
		if err := a.Store.PutAttempt(ctx, att); err != nil {
			return DecomposeResult{}, err
		}
		a.publish(ctx, job, progress.LogMessage, "", fmt.Sprintf("planning attempt %d on %s %s failed: %s", attemptNo, tier, target.Model, problem),
			map[string]any{"attempt": attemptNo, "tier": tier, "model": target.Model, "unusable": true})
		return DecomposeResult{Tier: tier, Model: target.Model, Problem: problem}, nil
	}
	resp, err := a.call(ctx, job, tier, meta, msgs, true)
	if unusable(err) {
		return failed(reasonOf(err))
	}
	if err != nil {
		return DecomposeResult{}, err
	}
	spent(resp)
	plan, perr := ParsePlan(resp.Content, want, a.MaxTasks)
	if perr != nil {
		a.publish(ctx, job, progress.LogMessage, "", "the task graph was malformed; asking once more", map[string]any{"problems": perr.Error()})
		msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: resp.Content}, llm.Message{Role: llm.RoleUser,
			Content: "Your answer was rejected: " + perr.Error() + ". Answer again with only the corrected JSON object."})
		resp, err = a.call(ctx, job, tier, meta, msgs, true)
		if unusable(err) {
			return failed(reasonOf(err))
		}
		if err != nil {
			return DecomposeResult{}, err
		}
		spent(resp)
		if plan, perr = ParsePlan(resp.Content, want, a.MaxTasks); perr != nil {
			return failed("the model returned an invalid task graph twice: " + perr.Error())
		}
	}
	tasks := make([]domain.Task, len(plan.Tasks))
	for i, t := range plan.Tasks {
		tasks[i] = domain.Task{ID: t.ID, Seq: i + 1, Type: t.Type, Description: t.Description, Complexity: t.Complexity, Dependencies: t.Dependencies}
	}
	raw, err := json.Marshal(plan)
	if err != nil {
		return DecomposeResult{}, err
	}
	att.Status, att.Summary = domain.AttemptPassed, fmt.Sprintf("planned %d tasks", len(tasks))
	if err := a.Store.PutAttempt(ctx, att); err != nil {
		return DecomposeResult{}, err
	}
	if err := a.Store.PutTasks(ctx, job.ID, tasks); err != nil {
		return DecomposeResult{}, err
	}
	rawMsg, total := json.RawMessage(raw), len(tasks)
	if err := a.Store.UpdateJob(ctx, job.ID, store.JobUpdate{Project: &rawMsg, TasksTotal: &total}); err != nil {
		return DecomposeResult{}, err
	}
	summary := make([]map[string]any, len(plan.Tasks))
	for i, t := range plan.Tasks {
		summary[i] = map[string]any{"id": t.ID, "type": t.Type, "complexity": t.Complexity, "dependencies": t.Dependencies, "description": t.Description}
	}
	hints := make([]string, len(similar))
	for i, m := range similar {
		hints[i] = m.RequestID
	}
	a.publish(ctx, job, progress.Decomposed, "", fmt.Sprintf("planned %d tasks for %s (%s)", total, plan.Project.Name, plan.Project.Language),
		map[string]any{"tasks": summary, "project": plan.Project.Name, "language": plan.Project.Language, "recalled_requests": hints,
			"tier": tier, "model": target.Model, "attempt": attemptNo})
	a.recordRequest(ctx, job, plan, nil, "", 0)
	out := refs(plan)
	out.Tier, out.Model = tier, target.Model
	return out, nil
}

func refs(p *Plan) DecomposeResult {
	out := DecomposeResult{Tasks: make([]TaskRef, len(p.Tasks))}
	for i, t := range p.Tasks {
		out.Tasks[i] = TaskRef{ID: t.ID, Dependencies: t.Dependencies}
	}
	return out
}

// chooseTier picks the tier of a task and says why: the request's
// override, else what memory learned works for this kind of task, else the
// complexity map.
func chooseTier(override, learned, learnedReason, complexity string) (string, string) {
	if override != "" {
		return override, "tier_override " + override + " from the request"
	}
	if learned != "" {
		return learned, learnedReason
	}
	t, ok := vocab.TierForComplexity(complexity)
	if !ok {
		return "T1", fmt.Sprintf("complexity %q unknown → T1", complexity)
	}
	return t, fmt.Sprintf("complexity %s → %s (complexity map)", complexity, t)
}

func paths(fs []domain.File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path
	}
	return out
}

// FailTasks records failed or skipped tasks with the reason.
func (a *Activities) FailTasks(ctx context.Context, in TaskFailure) error {
	job, err := a.Store.GetJob(ctx, "", in.RequestID)
	if err != nil {
		return err
	}
	status, typ := domain.TaskFailed, progress.TaskFailed
	if in.Skipped {
		status, typ = domain.TaskSkipped, progress.TaskSkipped
	}
	for _, id := range in.TaskIDs {
		reason, now := in.Reason, a.now()
		if err := a.Store.UpdateTask(ctx, job.ID, id, store.TaskUpdate{Status: &status, Error: &reason, CompletedAt: &now}); err != nil {
			return err
		}
		a.publish(ctx, job, typ, id, in.Reason, nil)
		if !in.Skipped {
			if t, err := a.Store.GetTask(ctx, job.ID, id); err == nil {
				a.recordOutcome(ctx, job, t, false)
			}
		}
	}
	return nil
}

// FinishJob records the job's outcome and publishes the terminal event.
func (a *Activities) FinishJob(ctx context.Context, in FinishInput) error {
	job, err := a.Store.GetJob(ctx, "", in.RequestID)
	if err != nil {
		return err
	}
	if job.Status.Terminal() {
		return nil // a retry after the update landed
	}
	status, now := domain.JobStatus(in.Status), a.now()
	u := store.JobUpdate{Status: &status, Error: &in.Error, CompletedAt: &now, TasksDone: &in.Done}
	if in.CapsuleID != "" {
		u.CapsuleID = &in.CapsuleID
	}
	if err := a.Store.UpdateJob(ctx, job.ID, u); err != nil {
		return err
	}
	a.Metrics.jobFinished(in.Status, now.Sub(job.CreatedAt))
	typ := map[string]string{"completed": progress.WorkflowCompleted, "cancelled": progress.WorkflowCancelled}[in.Status]
	if typ == "" {
		typ = progress.WorkflowFailed
	}
	msg := in.Error
	if msg == "" {
		msg = "job " + in.Status
	}
	// Memory first: the terminal event is the last thing a follower sees.
	if in.Status != "cancelled" {
		if _, plan, err := a.loadJob(ctx, job.ID); err == nil && plan != nil {
			ok := in.Status == "completed"
			a.recordRequest(ctx, job, plan, &ok, in.CapsuleID, in.Done)
		}
	}
	data := map[string]any{"status": in.Status, "capsule_id": in.CapsuleID, "error": in.Error}
	if in.CapsuleRound > 0 {
		if c, err := a.Store.GetCapsuleCheck(ctx, job.ID, in.CapsuleRound); err == nil && len(c.Findings) > 0 {
			// The cause in full: every finding with its place, for
			// followers of the progress stream.
			data["findings"] = eventFindings(c.Findings)
			data["findings_total"] = len(c.Findings)
		}
	}
	a.publish(ctx, job, typ, "", msg, data)
	return nil
}

// repairHints recalls fixes that worked for a similar problem, as a
// sentence for the re-ask prompt ("" when none).
func (a *Activities) repairHints(ctx context.Context, job domain.Job, taskID, problem, language string) string {
	if a.Memory == nil {
		return ""
	}
	hints, err := a.Memory.RepairHints(memCtx(ctx, job), memory.ErrorQuery{RequestID: job.ID, Error: problem, Language: language, Limit: 2})
	if err != nil {
		a.memoryFailed(ctx, job, taskID, "repair hints", err)
		return ""
	}
	var b strings.Builder
	for _, h := range hints {
		fmt.Fprintf(&b, " A fix that worked for a similar problem before: %s.", h.Fix)
	}
	return b.String()
}
