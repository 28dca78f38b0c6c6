package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
)

// capsuleNamespace derives capsule ids from request ids, so that a retried
// assembly finds the capsule it already stored instead of making a second.
var capsuleNamespace = uuid.MustParse("5b0e2f61-7c52-4f5e-9d0c-51c1b1a2e9a4")

// CapsuleID is the id of the capsule a request produces.
func CapsuleID(requestID string) string {
	return uuid.NewSHA1(capsuleNamespace, []byte(requestID)).String()
}

// notValidatedReason is said plainly in a capsule built without a
// validator.
const notValidatedReason = "no compiler, linter or test run has checked this code; QLP did not validate it"

// mergeFiles lays the tasks' files over each other in dependency order, so
// that a task that saw an upstream file and rewrote it wins. Two unrelated
// tasks writing different content to one path is recorded as a warning.
func mergeFiles(tasks []store.Task) (map[string][]byte, []string) {
	order := topoOrder(tasks)
	files := map[string][]byte{}
	owner := map[string]string{}
	var warnings []string
	for _, t := range order {
		for _, f := range t.Files {
			if prev, ok := files[f.Path]; ok && string(prev) != f.Content {
				warnings = append(warnings, fmt.Sprintf("%s: written by task %s and again by task %s; the later version is kept", f.Path, owner[f.Path], t.ID))
			}
			files[f.Path] = []byte(f.Content)
			owner[f.Path] = t.ID
		}
	}
	return files, warnings
}

// topoOrder sorts tasks so that each comes after its dependencies, keeping
// decomposition order among independent tasks.
func topoOrder(tasks []store.Task) []store.Task {
	sorted := append([]store.Task(nil), tasks...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	done := map[string]bool{}
	var out []store.Task
	for len(out) < len(sorted) {
		progressed := false
		for _, t := range sorted {
			if done[t.ID] {
				continue
			}
			ready := true
			for _, d := range t.Dependencies {
				if !done[d] {
					ready = false
					break
				}
			}
			if ready {
				done[t.ID] = true
				out = append(out, t)
				progressed = true
			}
		}
		if !progressed { // cycles were rejected at planning; keep the rest in order
			for _, t := range sorted {
				if !done[t.ID] {
					done[t.ID] = true
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// AssembleCapsule merges the tasks' files, writes README, manifest and the
// validation report, signs the manifest and stores the capsule.
func (a *Activities) AssembleCapsule(ctx context.Context, in JobRef) (AssembleResult, error) {
	job, plan, err := a.loadJob(ctx, in.RequestID)
	if err != nil {
		return AssembleResult{}, err
	}
	id := CapsuleID(job.ID)
	if existing, err := a.Store.GetCapsule(ctx, "", id); err == nil {
		// A retry after the write landed: answer from what was stored.
		res := AssembleResult{CapsuleID: id, Files: existing.FileCount}
		if v, err := a.Store.GetCapsuleVersion(ctx, "", id, 0); err == nil {
			var m capsule.Manifest
			if json.Unmarshal(v.Manifest, &m) == nil {
				res.Validation = m.Validation.Status
				res.ValidationSummary = m.Validation.Summary
				res.RequiresHumanReview = m.Validation.RequiresHumanReview
			}
		}
		return res, nil
	}
	if plan == nil {
		return AssembleResult{}, temporal.NewNonRetryableApplicationError("job has no plan", ErrTypeJobState, nil)
	}
	tasks, err := a.Store.ListTasks(ctx, job.ID)
	if err != nil {
		return AssembleResult{}, err
	}
	for _, t := range tasks {
		if t.Status != store.TaskCompleted {
			return AssembleResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is %s", t.ID, t.Status), ErrTypeJobState, nil)
		}
	}
	files, warnings := mergeFiles(tasks)
	report := capsule.NotValidated(notValidatedReason)
	if a.Validator != nil {
		rep, err := a.validate(ctx, validationRequest(plan, files, "capsule "+job.ID))
		if err != nil {
			return AssembleResult{}, err
		}
		if report, err = capsuleReport(rep); err != nil {
			return AssembleResult{}, err
		}
		a.publish(ctx, job, progress.CapsuleValidated, "", rep.Summary, validationEventData(rep))
	}
	tot, err := a.Store.SumUsage(ctx, store.UsageFilter{JobID: job.ID})
	if err != nil {
		return AssembleResult{}, err
	}
	request := job.Description
	if job.Requirements != "" {
		request += "\n\nRequirements: " + job.Requirements
	}
	desc := plan.Project.Description
	if desc == "" {
		desc = job.Description
	}
	gen := a.Generator
	gen.PromptVersions = PromptVersions
	created := a.now().Truncate(time.Second)
	c, err := capsule.Build(capsule.Input{
		ID: id, Version: 1, Name: plan.Project.Name, Description: desc, Request: request, RequestID: job.ID,
		Language: plan.Project.Language, Framework: plan.Project.Framework, Entrypoint: plan.Project.Entrypoint,
		Commands:     capsule.Commands{Build: plan.Project.Commands.Build, Run: plan.Project.Commands.Run, Test: plan.Project.Commands.Test},
		Dependencies: plan.Project.Dependencies, Files: files, Generator: gen,
		Cost: capsule.Cost{Calls: tot.Calls, InputTokens: tot.InputTokens, CachedInputTokens: tot.CachedInputTokens,
			OutputTokens: tot.OutputTokens, USD: pricing.USD(tot.CostPUSD), PUSD: tot.CostPUSD},
		Report: report, Warnings: warnings, CreatedAt: created.Format(time.RFC3339),
	}, a.Signer)
	if err != nil {
		return AssembleResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeUnusableOutput, nil)
	}
	version := store.CapsuleVersion{CapsuleID: id, Version: 1, Message: "generated by job " + job.ID, Manifest: c.ManifestJSON,
		Report: c.Files[capsule.ReportFile], CreatedAt: created}
	for _, e := range c.Manifest.Files {
		version.Files = append(version.Files, store.CapsuleFile{Path: e.Path, Role: e.Role, Size: e.Size, SHA256: e.SHA256, Content: c.Files[e.Path]})
	}
	err = a.Store.AddCapsuleVersion(ctx, store.Capsule{ID: id, TenantID: job.TenantID, JobID: job.ID, Name: c.Manifest.Name,
		Description: desc, Language: plan.Project.Language, CreatedAt: created}, version)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return AssembleResult{}, err
	}
	if err := a.Store.UpdateJob(ctx, job.ID, store.JobUpdate{CapsuleID: &id}); err != nil {
		return AssembleResult{}, err
	}
	a.publish(ctx, job, progress.CapsuleCreated, "", fmt.Sprintf("capsule %s: %d files, validation: %s", c.Manifest.Name, len(c.Manifest.Files), c.Manifest.Validation.Status),
		map[string]any{"capsule_id": id, "files": len(c.Manifest.Files), "validation": c.Manifest.Validation.Status, "warnings": warnings})
	return AssembleResult{CapsuleID: id, Files: len(c.Manifest.Files), Validation: c.Manifest.Validation.Status,
		ValidationSummary: c.Manifest.Validation.Summary, RequiresHumanReview: c.Manifest.Validation.RequiresHumanReview}, nil
}
