package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/capsule"
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
	Status     string
	Confidence float64
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

// ValidateTask validates one generated task: its files together with the
// files of every task it depends on (so that it can compile), quickly
// (compile checks, its tests, the built-in security rules). Code that
// does not compile or whose tests fail fails the task with the reasons;
// the full validation runs on the assembled capsule.
func (a *Activities) ValidateTask(ctx context.Context, in TaskInput) (TaskValidation, error) {
	job, plan, err := a.loadJob(ctx, in.RequestID)
	if err != nil {
		return TaskValidation{}, err
	}
	if plan == nil {
		return TaskValidation{}, temporal.NewNonRetryableApplicationError("job has no plan", ErrTypeJobState, nil)
	}
	if a.Validator == nil {
		return TaskValidation{Status: "not_validated"}, nil
	}
	tasks, err := a.Store.ListTasks(ctx, job.ID)
	if err != nil {
		return TaskValidation{}, err
	}
	byID := map[string]store.Task{}
	for _, t := range tasks {
		byID[t.ID] = t
	}
	task, ok := byID[in.TaskID]
	if !ok {
		return TaskValidation{}, temporal.NewNonRetryableApplicationError("unknown task "+in.TaskID, ErrTypeJobState, nil)
	}
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
	var scope []store.Task
	for _, t := range tasks {
		if want[t.ID] {
			scope = append(scope, t)
		}
	}
	files, _ := mergeFiles(scope)
	req := validationRequest(plan, files, "task "+task.ID)
	req.Partial, req.Quick = true, true
	rep, err := a.validate(ctx, req)
	if err != nil {
		return TaskValidation{}, err
	}
	a.publish(ctx, job, progress.TaskValidated, task.ID, rep.Summary, validationEventData(rep))
	if rep.GateFailed() {
		return TaskValidation{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("task %s failed validation: %s", task.ID, failureReasons(rep)), ErrTypeValidationFailed, nil)
	}
	return TaskValidation{Status: rep.OverallStatus, Confidence: rep.ConfidenceScore}, nil
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
