package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
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
func mergeFiles(tasks []domain.Task) (map[string][]byte, []string) {
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
func topoOrder(tasks []domain.Task) []domain.Task {
	sorted := append([]domain.Task(nil), tasks...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	done := map[string]bool{}
	var out []domain.Task
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
// validation report, signs the manifest and stores the capsule. The report
// is the one ValidateCapsule stored for round in.Round when it validated
// these very files; otherwise (no round, or files changed since) the
// project is validated here.
func (a *Activities) AssembleCapsule(ctx context.Context, in CapsuleInput) (AssembleResult, error) {
	job, plan, err := a.loadJob(ctx, in.RequestID)
	if err != nil {
		return AssembleResult{}, err
	}
	id := CapsuleID(job.ID)
	opts := ExecutionOf(job.Metadata)
	if existing, err := a.Store.GetCapsule(ctx, "", id); err == nil {
		// A retry after the write landed: keep the archive if the attempt
		// before did not get to, and answer from what was stored.
		wrote, err := a.storeArchive(ctx, existing.TenantID, id, jobVersion)
		if err != nil {
			return AssembleResult{}, err
		}
		res := AssembleResult{CapsuleID: id, Files: existing.FileCount, Strict: opts.Strict}
		v, err := a.Store.GetCapsuleVersion(ctx, "", id, 0)
		if err != nil {
			return res, nil
		}
		var m capsule.Manifest
		if json.Unmarshal(v.Manifest, &m) != nil {
			return res, nil
		}
		res.Validation = m.Validation.Status
		res.ValidationSummary = m.Validation.Summary
		res.RequiresHumanReview = m.Validation.RequiresHumanReview
		if wrote {
			// The attempt before stopped at the archive (a blob store
			// that was down): finish what it did not.
			var tasks []domain.Task
			if plan != nil {
				if tasks, err = a.Store.ListTasks(ctx, job.ID); err != nil {
					return AssembleResult{}, err
				}
			}
			c := &capsule.Capsule{Manifest: m, ManifestJSON: v.Manifest, Files: capsule.VersionFiles(v)}
			if err := a.capsuleStored(ctx, job, plan, tasks, c, m.Warnings); err != nil {
				return AssembleResult{}, err
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
		if t.Status != domain.TaskCompleted {
			return AssembleResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is %s", t.ID, t.Status), ErrTypeJobState, nil)
		}
	}
	c, version, desc, warnings, err := a.buildVersion(ctx, job, plan, tasks, in.Round, jobVersion, 0, "generated by job "+job.ID)
	if err != nil {
		return AssembleResult{}, err
	}
	created := version.CreatedAt
	err = a.Store.AddCapsuleVersion(ctx, domain.Capsule{ID: id, TenantID: job.TenantID, JobID: job.ID, Name: c.Manifest.Name,
		Description: desc, Language: plan.Project.Language, CreatedAt: created}, version)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return AssembleResult{}, err
	}
	if _, err := a.storeArchive(ctx, job.TenantID, id, jobVersion); err != nil {
		return AssembleResult{}, err
	}
	if err := a.capsuleStored(ctx, job, plan, tasks, c, warnings); err != nil {
		return AssembleResult{}, err
	}
	return AssembleResult{CapsuleID: id, Files: len(c.Manifest.Files), Validation: c.Manifest.Validation.Status,
		ValidationSummary: c.Manifest.Validation.Summary, RequiresHumanReview: c.Manifest.Validation.RequiresHumanReview, Strict: opts.Strict}, nil
}

// buildVersion merges the tasks' files, takes the report of the capsule's
// validation round when it validated these very files (else validates
// them), and builds and signs version of the job's capsule.
func (a *Activities) buildVersion(ctx context.Context, job domain.Job, plan *Plan, tasks []domain.Task, round, version, parent int,
	message string) (*capsule.Capsule, domain.CapsuleVersion, string, []string, error) {
	id := CapsuleID(job.ID)
	opts := ExecutionOf(job.Metadata)
	files, warnings := mergeFiles(tasks)
	report := capsule.NotValidated(notValidatedReason)
	var err error
	if a.Validator != nil {
		var rep *validation.Report
		if round > 0 {
			c, err := a.Store.GetCapsuleCheck(ctx, job.ID, round)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, domain.CapsuleVersion{}, "", nil, err
			}
			if err == nil && c.Digest == filesDigest(files) {
				rep = &validation.Report{}
				if err := json.Unmarshal(c.Report, rep); err != nil {
					return nil, domain.CapsuleVersion{}, "", nil, fmt.Errorf("workflow: capsule check %s#%d: %w", job.ID, round, err)
				}
			}
		}
		if rep == nil {
			req := validationRequest(plan, files, "capsule "+job.ID)
			req.Quick = opts.QuickCapsule()
			if rep, err = a.validate(memCtx(ctx, job), req); err != nil {
				return nil, domain.CapsuleVersion{}, "", nil, err
			}
			a.publish(ctx, job, progress.CapsuleValidated, "", rep.Summary, validationEventData(rep))
		}
		if report, err = capsuleReport(rep); err != nil {
			return nil, domain.CapsuleVersion{}, "", nil, err
		}
	}
	tot, err := a.Store.SumUsage(ctx, store.UsageFilter{JobID: job.ID})
	if err != nil {
		return nil, domain.CapsuleVersion{}, "", nil, err
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
		ID: id, Version: version, Name: plan.Project.Name, Description: desc, Request: request, RequestID: job.RequestID,
		Language: plan.Project.Language, Framework: plan.Project.Framework, Entrypoint: plan.Project.Entrypoint,
		Commands:     capsule.Commands{Build: plan.Project.Commands.Build, Run: plan.Project.Commands.Run, Test: plan.Project.Commands.Test},
		Dependencies: plan.Project.Dependencies, Files: files, Generator: gen,
		Cost: capsule.Cost{Calls: tot.Calls, InputTokens: tot.InputTokens, CachedInputTokens: tot.CachedInputTokens,
			OutputTokens: tot.OutputTokens, USD: pricing.USD(tot.CostPUSD), PUSD: tot.CostPUSD},
		Report: report, Warnings: warnings, CreatedAt: created.Format(time.RFC3339),
	}, a.Signer)
	if err != nil {
		return nil, domain.CapsuleVersion{}, "", nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeUnusableOutput, nil)
	}
	v := domain.CapsuleVersion{CapsuleID: id, Version: version, ParentVersion: parent, Message: message, Manifest: c.ManifestJSON,
		Report: c.Files[capsule.ReportFile], CreatedAt: created}
	for _, e := range c.Manifest.Files {
		v.Files = append(v.Files, domain.CapsuleFile{Path: e.Path, Role: e.Role, Size: e.Size, SHA256: e.SHA256, Content: c.Files[e.Path]})
	}
	return c, v, desc, warnings, nil
}

// jobVersion is the version of the capsule a job creates.
const jobVersion = 1

// capsuleStored finishes a capsule stored with its archive: the job names
// it, the progress stream announces it and memory records it.
func (a *Activities) capsuleStored(ctx context.Context, job domain.Job, plan *Plan, tasks []domain.Task, c *capsule.Capsule, warnings []string) error {
	id := CapsuleID(job.ID)
	if err := a.Store.UpdateJob(ctx, job.ID, store.JobUpdate{CapsuleID: &id}); err != nil {
		return err
	}
	a.publish(ctx, job, progress.CapsuleCreated, "", fmt.Sprintf("capsule %s: %d files, validation: %s", c.Manifest.Name, len(c.Manifest.Files), c.Manifest.Validation.Status),
		map[string]any{"capsule_id": id, "files": len(c.Manifest.Files), "validation": c.Manifest.Validation.Status, "warnings": warnings})
	if plan != nil {
		a.recordCapsule(ctx, job, plan, tasks, c)
	}
	return nil
}

// recordCapsule offers the capsule's files to memory. Memory keeps them as
// examples, and the request as reusable, only if the capsule was validated.
func (a *Activities) recordCapsule(ctx context.Context, job domain.Job, plan *Plan, tasks []domain.Task, c *capsule.Capsule) {
	if a.Memory == nil {
		return
	}
	rec := memory.CapsuleRecord{CapsuleID: c.Manifest.ID, RequestID: job.ID, Description: requestText(job), Language: plan.Project.Language,
		Validated: c.Manifest.Validation.Status == "passed"}
	if s := c.Manifest.Validation.ConfidenceScore; s != nil {
		rec.ValidationScore = *s
	}
	byPath := map[string]domain.Task{}
	for _, t := range tasks {
		for _, f := range t.Files {
			byPath[f.Path] = t
		}
	}
	for _, e := range c.Manifest.Files {
		t, ok := byPath[e.Path]
		if !ok {
			continue // QLP's own files
		}
		rec.Files = append(rec.Files, memory.CapsuleFile{Path: e.Path, Content: string(c.Files[e.Path]), Role: e.Role,
			Language: plan.Project.Language, TaskType: t.Type, Task: t.Description})
	}
	if _, err := a.Memory.RecordCapsule(memCtx(ctx, job), rec); err != nil {
		a.memoryFailed(ctx, job, "", "record capsule", err)
	}
}

// ReuseResult names the capsule a job reused, if any.
type ReuseResult struct {
	CapsuleID string
	From      string
}

// Reuse delivers an earlier validated capsule when the request allows it
// (metadata.allow_reuse) and memory finds one made for a near-identical
// request: no model call, cost 0, and the manifest says where it came from.
func (a *Activities) Reuse(ctx context.Context, in JobRef) (ReuseResult, error) {
	job, err := a.Store.GetJob(ctx, "", in.RequestID)
	if err != nil {
		return ReuseResult{}, err
	}
	var meta map[string]any
	_ = json.Unmarshal(job.Metadata, &meta)
	if allow, _ := meta["allow_reuse"].(bool); !allow || a.Memory == nil {
		return ReuseResult{}, nil
	}
	id := CapsuleID(job.ID)
	if c, err := a.Store.GetCapsule(ctx, "", id); err == nil {
		// A retry after the copy landed: keep its archive if the attempt
		// before did not get to.
		wrote, err := a.storeArchive(ctx, c.TenantID, id, jobVersion)
		if err != nil {
			return ReuseResult{}, err
		}
		if wrote {
			if err := a.Store.UpdateJob(ctx, job.ID, store.JobUpdate{CapsuleID: &id}); err != nil {
				return ReuseResult{}, err
			}
			a.publish(ctx, job, progress.CapsuleCreated, "", fmt.Sprintf("reused validated capsule as %s: no model call, cost $0", id), map[string]any{"capsule_id": id})
		}
		return ReuseResult{CapsuleID: c.ID}, nil
	}
	match, err := a.Memory.FindReusable(memCtx(ctx, job), memory.ReuseQuery{RequestID: job.ID, Description: requestText(job), Language: job.Language})
	if err != nil {
		a.memoryFailed(ctx, job, "", "find a reusable capsule", err)
		return ReuseResult{}, nil
	}
	src, v, err := a.sourceCapsule(ctx, job.TenantID, match.CapsuleID)
	if err != nil {
		a.publish(ctx, job, progress.LogMessage, "", fmt.Sprintf("memory suggested capsule %s for reuse, but it cannot be read: %v; generating instead", match.CapsuleID, err), nil)
		return ReuseResult{}, nil
	}
	var m capsule.Manifest
	if err := json.Unmarshal(v.Manifest, &m); err != nil || m.Validation.Status != "passed" {
		a.publish(ctx, job, progress.LogMessage, "", fmt.Sprintf("capsule %s is not validated; generating instead", src.ID), nil)
		return ReuseResult{}, nil
	}
	files := map[string][]byte{}
	var report []byte
	for _, f := range v.Files {
		switch f.Path {
		case capsule.ReportFile:
			report = f.Content
		case capsule.SBOMFile, capsule.ProvenanceFile:
			// The new capsule gets its own, naming its own files and request.
		case capsule.ReadmeFile:
			own, _, _ := strings.Cut(string(f.Content), "\n## QLP capsule\n")
			files[f.Path] = []byte(strings.TrimRight(own, "\n") + "\n")
		default:
			files[f.Path] = f.Content
		}
	}
	var rep capsule.Report
	if err := json.Unmarshal(report, &rep); err != nil {
		return ReuseResult{}, fmt.Errorf("workflow: reuse %s: read its validation report: %w", src.ID, err)
	}
	rep.Summary = fmt.Sprintf("validated as capsule %s (reused): %s", src.ID, rep.Summary)
	gen := m.Generator
	gen.QLPVersion = a.Generator.QLPVersion
	created := a.now().Truncate(time.Second)
	c, err := capsule.Build(capsule.Input{ID: id, Version: jobVersion, Name: m.Name, Description: m.Description, Request: requestText(job), RequestID: job.RequestID,
		Language: firstOr(m.Languages, ""), Framework: m.Framework, Entrypoint: m.Entrypoint, Commands: m.Commands, Dependencies: m.Dependencies,
		Files: files, Generator: gen, Cost: capsule.Cost{USD: pricing.USD(0)}, Report: rep, ReusedFrom: src.ID,
		Warnings:  []string{fmt.Sprintf("reused capsule %s made for the request %q (similarity %.2f); no model was called", src.ID, match.Description, match.Score)},
		CreatedAt: created.Format(time.RFC3339)}, a.Signer)
	if err != nil {
		return ReuseResult{}, fmt.Errorf("workflow: reuse %s: %w", src.ID, err)
	}
	version := domain.CapsuleVersion{CapsuleID: id, Version: jobVersion, Message: "reused from capsule " + src.ID, Manifest: c.ManifestJSON,
		Report: c.Files[capsule.ReportFile], CreatedAt: created}
	for _, e := range c.Manifest.Files {
		version.Files = append(version.Files, domain.CapsuleFile{Path: e.Path, Role: e.Role, Size: e.Size, SHA256: e.SHA256, Content: c.Files[e.Path]})
	}
	if err := a.Store.AddCapsuleVersion(ctx, domain.Capsule{ID: id, TenantID: job.TenantID, JobID: job.ID, Name: m.Name, Description: m.Description,
		Language: firstOr(m.Languages, ""), CreatedAt: created}, version); err != nil && !errors.Is(err, store.ErrConflict) {
		return ReuseResult{}, err
	}
	if _, err := a.storeArchive(ctx, job.TenantID, id, jobVersion); err != nil {
		return ReuseResult{}, err
	}
	if err := a.Store.UpdateJob(ctx, job.ID, store.JobUpdate{CapsuleID: &id}); err != nil {
		return ReuseResult{}, err
	}
	a.publish(ctx, job, progress.CapsuleCreated, "", fmt.Sprintf("reused validated capsule %s (similarity %.2f): no model call, cost $0", src.ID, match.Score),
		map[string]any{"capsule_id": id, "reused_from": src.ID, "files": len(c.Manifest.Files), "validation": c.Manifest.Validation.Status})
	return ReuseResult{CapsuleID: id, From: src.ID}, nil
}

func (a *Activities) sourceCapsule(ctx context.Context, tenant, id string) (domain.Capsule, domain.CapsuleVersion, error) {
	c, err := a.Store.GetCapsule(ctx, tenant, id)
	if err != nil {
		return domain.Capsule{}, domain.CapsuleVersion{}, err
	}
	v, err := a.Store.GetCapsuleVersion(ctx, tenant, id, 0)
	return c, v, err
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
