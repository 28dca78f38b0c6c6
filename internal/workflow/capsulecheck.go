package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
)

// Bounds of what a failure says in a job's error and events; the store
// keeps every finding.
const (
	maxFailureFindings = 20
	maxJobFailureBytes = 4 << 10
	maxEventFindings   = 100
)

// ValidateCapsule validates the project the completed tasks assemble, in
// full (every check, on all files together), as round in.Round of the
// capsule's repair loop. When it fails, every finding of a failed check is
// routed to the task that owns its file (the task whose version of the file
// the capsule holds); a failed check that names no file of a task goes to
// the last task in dependency order, which sees the most of the project.
// The round is stored — findings, routes with the failures each task's
// fixer gets, and the report AssembleCapsule builds the capsule with — and
// the workflow gets a summary.
func (a *Activities) ValidateCapsule(ctx context.Context, in CapsuleInput) (CapsuleResult, error) {
	if a.Validator == nil {
		return CapsuleResult{Status: "not_validated", Summary: notValidatedReason}, nil
	}
	job, plan, err := a.loadJob(ctx, in.RequestID)
	if err != nil {
		return CapsuleResult{}, err
	}
	if plan == nil {
		return CapsuleResult{}, temporal.NewNonRetryableApplicationError("job has no plan", ErrTypeJobState, nil)
	}
	if c, err := a.Store.GetCapsuleCheck(ctx, job.ID, in.Round); err == nil {
		return capsuleResult(c), nil // a retry after the round was stored
	} else if !errors.Is(err, store.ErrNotFound) {
		return CapsuleResult{}, err
	}
	tasks, err := a.Store.ListTasks(ctx, job.ID)
	if err != nil {
		return CapsuleResult{}, err
	}
	for _, t := range tasks {
		if t.Status != domain.TaskCompleted {
			return CapsuleResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s is %s", t.ID, t.Status), ErrTypeJobState, nil)
		}
	}
	files, _ := mergeFiles(tasks)
	req := validationRequest(plan, files, fmt.Sprintf("capsule %s round %d", job.ID, in.Round))
	req.Quick = ExecutionOf(job.Metadata).QuickCapsule()
	rep, err := a.validate(memCtx(ctx, job), req)
	if err != nil {
		return CapsuleResult{}, err
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return CapsuleResult{}, err
	}
	c := domain.CapsuleCheck{JobID: job.ID, Round: in.Round, Status: rep.OverallStatus, Summary: rep.Summary, Digest: filesDigest(files), Report: raw}
	if rep.OverallStatus == validation.StatusFailed {
		c.Findings, c.Routes = routeFindings(rep, tasks)
	}
	if err := a.Store.PutCapsuleCheck(ctx, c); err != nil {
		return CapsuleResult{}, err
	}
	data := validationEventData(rep)
	data["round"] = in.Round
	res := capsuleResult(c)
	if len(c.Findings) > 0 {
		data["findings"] = eventFindings(c.Findings)
		routes := map[string]int{}
		for _, r := range c.Routes {
			routes[r.TaskID] = r.Findings
		}
		data["routes"] = routes
	}
	msg := rep.Summary
	if res.Failure != "" {
		msg = res.Failure
	}
	a.publish(ctx, job, progress.CapsuleValidated, "", msg, data)
	return res, nil
}

// capsuleResult sums up a stored round for the workflow.
func capsuleResult(c domain.CapsuleCheck) CapsuleResult {
	res := CapsuleResult{Status: c.Status, Summary: c.Summary}
	if c.Status == validation.StatusFailed {
		res.Failure = capsuleFailure(c)
	}
	for _, r := range c.Routes {
		var mine []domain.CapsuleFinding
		for _, f := range c.Findings {
			if f.TaskID == r.TaskID {
				mine = append(mine, f)
			}
		}
		res.Routes = append(res.Routes, CapsuleRoute{TaskID: r.TaskID, Findings: r.Findings, Fingerprint: r.Fingerprint, Brief: findingList(mine, 3, 600)})
	}
	return res
}

// capsuleFailure says why a capsule failed its validation: each finding of
// a failed check with its file, line, rule and message.
func capsuleFailure(c domain.CapsuleCheck) string {
	checks := map[string]bool{}
	var names []string
	for _, f := range c.Findings {
		if !checks[f.Check] {
			checks[f.Check] = true
			names = append(names, f.Check)
		}
	}
	return fmt.Sprintf("the capsule failed validation (%s): %d finding(s): %s", strings.Join(names, ", "), len(c.Findings),
		findingList(c.Findings, maxFailureFindings, maxJobFailureBytes))
}

// findingText is one finding as a person reads it: where, which check and
// rule, what.
func findingText(f domain.CapsuleFinding) string {
	var b strings.Builder
	if f.File != "" {
		b.WriteString(f.File)
		if f.Line > 0 {
			fmt.Fprintf(&b, ":%d", f.Line)
			if f.Column > 0 {
				fmt.Fprintf(&b, ":%d", f.Column)
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(f.Check)
	if f.RuleID != "" {
		b.WriteString(" " + f.RuleID)
	}
	b.WriteString(": " + f.Message)
	return b.String()
}

// findingList joins findings, at most n of them and about max bytes, and
// says how many more there are.
func findingList(fs []domain.CapsuleFinding, n, max int) string {
	var parts []string
	size := 0
	for i, f := range fs {
		t := findingText(f)
		if i == n || size+len(t) > max && i > 0 {
			parts = append(parts, fmt.Sprintf("… and %d more in the capsule's validation report", len(fs)-i))
			break
		}
		parts = append(parts, t)
		size += len(t) + 2
	}
	return strings.Join(parts, "; ")
}

func eventFindings(fs []domain.CapsuleFinding) []domain.CapsuleFinding {
	if len(fs) > maxEventFindings {
		return fs[:maxEventFindings]
	}
	return fs
}

// fileOwners maps each path of the merged project to the task whose
// version of it the capsule holds (see mergeFiles).
func fileOwners(tasks []domain.Task) map[string]string {
	owner := map[string]string{}
	for _, t := range topoOrder(tasks) {
		for _, f := range t.Files {
			owner[f.Path] = t.ID
		}
	}
	return owner
}

// routeFindings sends every finding of a failed check to the task that
// owns its file; what names no task's file goes to the last task in
// dependency order. Each route carries the failures its fixer gets, in the
// form a failed attempt's failures take, and a fingerprint equal for the
// same findings.
func routeFindings(r *validation.Report, tasks []domain.Task) ([]domain.CapsuleFinding, []domain.CapsuleRoute) {
	owners := fileOwners(tasks)
	order := topoOrder(tasks)
	fallback := ""
	if len(order) > 0 {
		fallback = order[len(order)-1].ID
	}
	var findings []domain.CapsuleFinding
	type share struct {
		checks map[string][]validation.Finding // check name → its findings for the task
		bare   map[string]bool                 // failed checks naming none of the task's files
		n      int
	}
	shares := map[string]*share{}
	get := func(id string) *share {
		if shares[id] == nil {
			shares[id] = &share{checks: map[string][]validation.Finding{}, bare: map[string]bool{}}
		}
		return shares[id]
	}
	for _, c := range r.Checks {
		if c.Status != validation.StatusFailed {
			continue
		}
		if len(c.Findings) == 0 {
			msg := c.Reason
			if msg == "" {
				msg = c.Message
			}
			findings = append(findings, domain.CapsuleFinding{TaskID: fallback, Check: c.Name, Tool: c.Tool, Message: msg})
			s := get(fallback)
			s.bare[c.Name] = true
			s.n++
			continue
		}
		for _, f := range c.Findings {
			owner := owners[f.File]
			if owner == "" {
				owner = fallback
			}
			findings = append(findings, domain.CapsuleFinding{TaskID: owner, Check: c.Name, Tool: c.Tool, File: f.File, Line: f.Line, Column: f.Column,
				RuleID: f.RuleID, Severity: f.Severity, Message: f.Message})
			s := get(owner)
			s.checks[c.Name] = append(s.checks[c.Name], f)
			s.n++
		}
	}
	var routes []domain.CapsuleRoute
	for _, t := range order {
		s, ok := shares[t.ID]
		if !ok {
			continue
		}
		var b strings.Builder
		var fp []string
		for _, c := range r.Checks {
			fs, has := s.checks[c.Name]
			if !has && !s.bare[c.Name] {
				continue
			}
			fmt.Fprintf(&b, "check %s (%s) failed", c.Name, c.Tool)
			if c.Reason != "" {
				fmt.Fprintf(&b, ": %s", c.Reason)
			}
			b.WriteString("\n")
			for i, f := range fs {
				if i == 20 {
					fmt.Fprintf(&b, "  … and %d more findings\n", len(fs)-20)
					break
				}
				fmt.Fprintf(&b, "  %s\n", f.String())
				fp = append(fp, fmt.Sprintf("%s|%s|%d|%s", c.Name, f.File, f.Line, f.RuleID))
			}
			if s.bare[c.Name] {
				fp = append(fp, c.Name+"|"+digits.ReplaceAllString(c.Reason, "#"))
			}
			if out := strings.TrimSpace(c.Output); out != "" {
				if len(out) > 4000 {
					out = "…" + out[len(out)-4000:]
				}
				fmt.Fprintf(&b, "  output:\n%s\n", indent(out, "    "))
			}
		}
		sort.Strings(fp)
		sum := sha256.Sum256([]byte(strings.Join(fp, "\n")))
		failures := b.String()
		if len(failures) > maxFailureBytes {
			failures = failures[:maxFailureBytes] + "\n… (cut)"
		}
		routes = append(routes, domain.CapsuleRoute{TaskID: t.ID, Findings: s.n, Fingerprint: hex.EncodeToString(sum[:8]), Failures: failures})
	}
	return findings, routes
}

// filesDigest identifies a set of files: SHA-256 over paths and contents.
func filesDigest(files map[string][]byte) string {
	h := sha256.New()
	for _, p := range sortedKeys(files) {
		fmt.Fprintf(h, "%d:%s%d:", len(p), p, len(files[p]))
		h.Write(files[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}
