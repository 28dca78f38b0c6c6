package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
)

// Validator checks generated code: the in-process Validation Mesh or a
// client of the validation service.
type Validator interface {
	Validate(ctx context.Context, req validation.Request) (*validation.Report, error)
}

// ErrTypeValidationFailed: the code does not compile or its tests fail.
const ErrTypeValidationFailed = "ValidationFailed"

// TaskValidation sums up a task's validation for the workflow.
type TaskValidation struct {
	Passed     bool
	Status     string
	Confidence float64
	// Failures are the exact failures (checks, findings, test output) the
	// fixer gets; Fingerprint is equal for the same failure.
	Failures    string
	Brief       string // the failed checks and their first findings, in a line
	Fingerprint string
	// GateFailed: the code does not compile or its tests fail (as opposed
	// to findings of linters and security rules only).
	GateFailed bool
	// RequiresReview and Reasons say whether, and why, a person should look.
	RequiresReview bool
	Reasons        []string
	Summary        string
	// NeedsReview: the attempt passed, but with a confidence below the
	// review threshold, so it was not completed: it waits for a review.
	NeedsReview bool
}

// reviewDue reports whether a passing attempt must wait for a review.
func reviewDue(threshold float64, tv TaskValidation) bool {
	return threshold > 0 && tv.Confidence < threshold
}

// validate runs a validation, heartbeating while it lasts.
func (a *Activities) validate(ctx context.Context, req validation.Request) (*validation.Report, error) {
	hbCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, "validating")
			}
		}
	}()
	rep, err := a.Validator.Validate(ctx, req)
	if err != nil {
		var re *validation.RequestError
		if errors.As(err, &re) {
			// The generated files cannot be validated at all (a binary
			// file, an unknown language): no retry changes that.
			return nil, temporal.NewNonRetryableApplicationError("the generated project cannot be validated: "+re.Error(), ErrTypeUnusableOutput, nil)
		}
		return nil, fmt.Errorf("workflow: validate %s: %w", req.Label, err)
	}
	return rep, nil
}

// validationRequest is the request for a set of files of the plan's
// project.
func validationRequest(p *Plan, files map[string][]byte, label string) validation.Request {
	req := validation.Request{Language: p.Project.Language, Label: label, Dependencies: p.Project.Dependencies,
		Commands: validation.Commands{Build: p.Project.Commands.Build, Test: p.Project.Commands.Test, Run: p.Project.Commands.Run}}
	for _, path := range sortedKeys(files) {
		req.Files = append(req.Files, validation.File{Path: path, Content: string(files[path])})
	}
	return req
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ValidateTask validates one attempt of a task: its files together with
// the files of every task it depends on (so that it can compile), quickly
// (compile checks, its tests, the built-in security rules; the full
// validation runs on the assembled capsule and routes its findings back)
// unless the installation (in.Full) or the job's ExecutionOptions ask for
// full checks of every attempt. A failure is not an error:
// the exact failures go back to the workflow, and into the attempt's
// record, for the fixer. A task passes when no check failed; it is then
// completed, unless its confidence is below in.ReviewThreshold: then it
// waits for a review (NeedsReview) and the review's approval completes it.
func (a *Activities) ValidateTask(ctx context.Context, in TaskInput) (TaskValidation, error) {
	job, plan, err := a.loadJob(ctx, in.RequestID)
	if err != nil {
		return TaskValidation{}, err
	}
	if plan == nil {
		return TaskValidation{}, temporal.NewNonRetryableApplicationError("job has no plan", ErrTypeJobState, nil)
	}
	attemptNo := max(in.Attempt, 1)
	att, err := a.Store.GetAttempt(ctx, job.ID, in.TaskID, attemptNo)
	if err != nil {
		return TaskValidation{}, err
	}
	if att.Status == domain.AttemptPassed || att.Status == domain.AttemptFailed {
		// A retry after this attempt was validated.
		tv := TaskValidation{Passed: att.Status == domain.AttemptPassed, Status: att.ValidationStatus, Failures: att.Failures, Fingerprint: att.Fingerprint}
		if att.Confidence != nil {
			tv.Confidence = *att.Confidence
		}
		if tv.Passed {
			if reviewDue(in.ReviewThreshold, tv) {
				tv.NeedsReview = true
				return tv, nil
			}
			return tv, a.completeTask(ctx, job, in.TaskID, attemptNo)
		}
		return tv, nil
	}
	tasks, err := a.Store.ListTasks(ctx, job.ID)
	if err != nil {
		return TaskValidation{}, err
	}
	byID := map[string]domain.Task{}
	for _, t := range tasks {
		byID[t.ID] = t
	}
	task, ok := byID[in.TaskID]
	if !ok {
		return TaskValidation{}, temporal.NewNonRetryableApplicationError("unknown task "+in.TaskID, ErrTypeJobState, nil)
	}
	tv := TaskValidation{Passed: true, Status: "not_validated"}
	if a.Validator != nil {
		// The task and everything it depends on, transitively.
		want := map[string]bool{}
		var visit func(id string)
		visit = func(id string) {
			if want[id] {
				return
			}
			want[id] = true
			for _, d := range byID[id].Dependencies {
				visit(d)
			}
		}
		visit(task.ID)
		var scope []domain.Task
		for _, t := range tasks {
			if want[t.ID] {
				scope = append(scope, t)
			}
		}
		files, _ := mergeFiles(scope)
		req := validationRequest(plan, files, fmt.Sprintf("task %s attempt %d", task.ID, attemptNo))
		req.Partial, req.Quick = true, !in.Full && ExecutionOf(job.Metadata).QuickTasks()
		rep, err := a.validate(memCtx(ctx, job), req)
		switch {
		case unusable(err):
			// The files cannot be validated at all (a binary file, a path
			// the mesh refuses): a failed attempt the fixer can mend.
			msg := reasonOf(err)
			sum := sha256.Sum256([]byte(msg))
			tv = TaskValidation{Status: validation.StatusFailed, Failures: msg, Brief: msg, Fingerprint: hex.EncodeToString(sum[:8]), GateFailed: true}
			a.publish(ctx, job, progress.TaskValidated, task.ID, msg, map[string]any{"attempt": attemptNo, "status": validation.StatusFailed})
		case err != nil:
			return TaskValidation{}, err
		default:
			data := validationEventData(rep)
			data["attempt"] = attemptNo
			data["full"] = !req.Quick
			a.publish(ctx, job, progress.TaskValidated, task.ID, rep.Summary, data)
			tv = TaskValidation{Passed: len(rep.Failed()) == 0, Status: rep.OverallStatus, Confidence: rep.ConfidenceScore,
				RequiresReview: rep.RequiresHumanReview, Reasons: rep.ReviewReasons, Summary: rep.Summary}
			if !tv.Passed {
				tv.Failures, tv.Fingerprint, tv.GateFailed = failureDetails(rep), failureFingerprint(rep), rep.GateFailed()
				tv.Brief = failureReasons(rep)
			}
		}
	}
	forceReview, err := a.applyOutputPolicy(ctx, job, task, &tv)
	if err != nil {
		return TaskValidation{}, err
	}
	att.ValidationStatus, att.Failures, att.Fingerprint = tv.Status, tv.Failures, tv.Fingerprint
	if tv.Status != "not_validated" {
		conf := tv.Confidence
		att.Confidence = &conf
	}
	att.Status = domain.AttemptFailed
	if tv.Passed {
		att.Status = domain.AttemptPassed
	}
	if err := a.Store.PutAttempt(ctx, att); err != nil {
		return TaskValidation{}, err
	}
	if !tv.Passed {
		return tv, nil
	}
	if attemptNo > 1 && a.Memory != nil {
		// The last failure and what fixed it: a repair hint for next time.
		if prev, err := a.Store.GetAttempt(ctx, job.ID, task.ID, attemptNo-1); err == nil && prev.Failures != "" {
			fix := memory.ErrorFix{RequestID: job.ID, Error: prev.Failures, Fix: att.Summary, Language: plan.Project.Language,
				ErrorType: "validation", TaskType: task.Type}
			if err := a.Memory.RecordErrorFix(memCtx(ctx, job), fix); err != nil {
				a.memoryFailed(ctx, job, task.ID, "record error fix", err)
			}
		}
	}
	if forceReview || reviewDue(in.ReviewThreshold, tv) {
		tv.NeedsReview = true
		return tv, nil
	}
	return tv, a.completeTask(ctx, job, task.ID, attemptNo)
}

// AcceptTask completes a task whose last attempt compiles and passes its
// tests but still has findings the fixer could not remove: the capsule's
// full validation judges them, and a failing capsule is kept as evidence
// while its job fails.
func (a *Activities) AcceptTask(ctx context.Context, in TaskInput) error {
	job, err := a.Store.GetJob(ctx, "", in.RequestID)
	if err != nil {
		return err
	}
	att, err := a.Store.GetAttempt(ctx, job.ID, in.TaskID, max(in.Attempt, 1))
	if err != nil {
		return err
	}
	a.publish(ctx, job, progress.LogMessage, in.TaskID, "kept with failing checks (it compiles and its tests pass): "+firstLine(att.Failures), nil)
	return a.completeTask(ctx, job, in.TaskID, att.Attempt)
}

// completeTask marks a task done once an attempt passed.
func (a *Activities) completeTask(ctx context.Context, job domain.Job, taskID string, attemptNo int) error {
	task, err := a.Store.GetTask(ctx, job.ID, taskID)
	if err != nil {
		return err
	}
	if task.Status == domain.TaskCompleted {
		return nil
	}
	done, end := domain.TaskCompleted, a.now()
	if err := a.Store.UpdateTask(ctx, job.ID, taskID, store.TaskUpdate{Status: &done, CompletedAt: &end}); err != nil {
		return err
	}
	a.publish(ctx, job, progress.TaskCompleted, taskID, task.Summary, map[string]any{"files": paths(task.Files), "tokens_in": task.InputTokens,
		"tokens_out": task.OutputTokens, "cost_usd": pricing.USD(task.CostPUSD), "tier": task.Tier, "model": task.Model, "attempts": attemptNo})
	task.Status, task.CompletedAt = done, &end
	a.recordOutcome(ctx, job, task, true)
	return nil
}

// maxFailureBytes bounds the failures sent to the fixer.
const maxFailureBytes = 12 << 10

// failureDetails writes out a failed report the way a fixer needs it:
// every failed check with its reason, findings and the tail of its output.
func failureDetails(r *validation.Report) string {
	var b strings.Builder
	for _, c := range r.Checks {
		if c.Status != validation.StatusFailed {
			continue
		}
		fmt.Fprintf(&b, "check %s (%s) failed", c.Name, c.Tool)
		if c.Reason != "" {
			fmt.Fprintf(&b, ": %s", c.Reason)
		}
		b.WriteString("\n")
		for i, f := range c.Findings {
			if i == 20 {
				fmt.Fprintf(&b, "  … and %d more findings\n", len(c.Findings)-20)
				break
			}
			fmt.Fprintf(&b, "  %s\n", f.String())
		}
		if out := strings.TrimSpace(c.Output); out != "" {
			if len(out) > 4000 {
				out = "…" + out[len(out)-4000:]
			}
			fmt.Fprintf(&b, "  output:\n%s\n", indent(out, "    "))
		}
	}
	if r.Tests != nil && r.Tests.Failed > 0 && r.Tests.Output != "" && !strings.Contains(b.String(), strings.TrimSpace(r.Tests.Output)) {
		out := strings.TrimSpace(r.Tests.Output)
		if len(out) > 4000 {
			out = "…" + out[len(out)-4000:]
		}
		fmt.Fprintf(&b, "test run (%s): %d run, %d passed, %d failed\n%s\n", r.Tests.Command, r.Tests.Total, r.Tests.Passed, r.Tests.Failed, indent(out, "    "))
	}
	s := b.String()
	if len(s) > maxFailureBytes {
		s = s[:maxFailureBytes] + "\n… (cut)"
	}
	return s
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

var digits = regexp.MustCompile(`[0-9]+(\.[0-9]+)?(ms|s|µs)?`)

// failureFingerprint identifies a failure by the checks that failed and
// their findings, without timings or addresses, so that the same failure
// twice is seen as the same.
func failureFingerprint(r *validation.Report) string {
	var parts []string
	for _, c := range r.Checks {
		if c.Status != validation.StatusFailed {
			continue
		}
		parts = append(parts, "check "+c.Name)
		for _, f := range c.Findings {
			parts = append(parts, fmt.Sprintf("%s|%s|%d|%s", c.Name, f.File, f.Line, f.RuleID))
		}
		if len(c.Findings) == 0 {
			parts = append(parts, c.Name+"|"+digits.ReplaceAllString(c.Reason, "#"))
		}
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:8])
}

// failureReasons says in a line or two why a report failed: each failed
// check with its reason and first findings.
func failureReasons(r *validation.Report) string {
	var parts []string
	for _, c := range r.Checks {
		if c.Status != validation.StatusFailed {
			continue
		}
		s := c.Name
		if c.Reason != "" {
			s += ": " + c.Reason
		}
		for i, f := range c.Findings {
			if i == 3 {
				s += fmt.Sprintf(" (and %d more)", len(c.Findings)-3)
				break
			}
			s += "; " + f.String()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

func validationEventData(r *validation.Report) map[string]any {
	checks := map[string]string{}
	for _, c := range r.Checks {
		checks[c.Name] = c.Status
	}
	d := map[string]any{"status": r.OverallStatus, "confidence": r.ConfidenceScore, "requires_human_review": r.RequiresHumanReview,
		"checks": checks, "failed": r.Failed(), "duration_ms": r.DurationMS}
	if r.Tests != nil {
		d["tests"] = map[string]any{"total": r.Tests.Total, "passed": r.Tests.Passed, "failed": r.Tests.Failed, "counted": r.Tests.Counted}
	}
	return d
}

// capsuleReport turns the mesh's report into validation-report.json.
func capsuleReport(r *validation.Report) (capsule.Report, error) {
	checks, err := json.Marshal(r.Checks)
	if err != nil {
		return capsule.Report{}, err
	}
	scoring, err := json.Marshal(r.Scoring)
	if err != nil {
		return capsule.Report{}, err
	}
	var tests json.RawMessage
	if r.Tests != nil {
		if tests, err = json.Marshal(r.Tests); err != nil {
			return capsule.Report{}, err
		}
	}
	conf := r.ConfidenceScore
	return capsule.Report{OverallStatus: r.OverallStatus, ConfidenceScore: &conf, RequiresHumanReview: r.RequiresHumanReview,
		ReviewReasons: r.ReviewReasons, Summary: r.Summary, Checks: checks, Scoring: scoring, Tests: tests}, nil
}
