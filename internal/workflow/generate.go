package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
)

// genContext is what every prompt of a task is built from.
type genContext struct {
	job      domain.Job
	plan     *Plan
	task     domain.Task
	planned  PlannedTask
	upstream []domain.Task
	request  string
}

func (a *Activities) loadTask(ctx context.Context, in TaskInput) (*genContext, error) {
	job, plan, err := a.loadJob(ctx, in.RequestID)
	if err != nil {
		return nil, err
	}
	if plan == nil {
		return nil, temporal.NewNonRetryableApplicationError("job has no plan", ErrTypeJobState, nil)
	}
	task, err := a.Store.GetTask(ctx, job.ID, in.TaskID)
	if err != nil {
		return nil, err
	}
	g := &genContext{job: job, plan: plan, task: task, request: requestText(job)}
	for _, t := range plan.Tasks {
		if t.ID == task.ID {
			g.planned = t
		}
	}
	for _, d := range task.Dependencies {
		dt, err := a.Store.GetTask(ctx, job.ID, d)
		if err != nil {
			return nil, err
		}
		if dt.Status != domain.TaskCompleted {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("upstream task %s is %s", d, dt.Status), ErrTypeJobState, nil)
		}
		g.upstream = append(g.upstream, dt)
	}
	return g, nil
}

// needsTestsFirst reports whether a task writes code but no tests of its
// own, and no test task covers it: its tests are then written before its
// code, so that the code is held to tests it did not write itself.
func needsTestsFirst(p *Plan, t PlannedTask) bool {
	if t.Type != "code_generation" || p.Project.Commands.Test == "" || len(t.Files) == 0 {
		return false
	}
	for _, f := range t.Files {
		if capsule.RoleOf(f) == capsule.RoleTest {
			return false
		}
	}
	for _, o := range p.Tasks {
		if o.Type != "test_creation" {
			continue
		}
		for _, d := range o.Dependencies {
			if d == t.ID {
				return false
			}
		}
	}
	return true
}

// GenerateTask makes one attempt at a task. An attempt with no usable
// attempt before it writes the task's files (its tests first when it has
// none, then its code); a later one sends the exact failures of the last
// usable attempt — or, in the capsule phase, the findings the capsule's
// validation routed to the task — and any reviewer's comment to the fixer,
// on the tier the workflow chose. The attempt is recorded; the task is
// completed only once its validation passes. An answer that cannot be used
// (no files, no JSON, cut off twice) is recorded as a failed attempt and
// reported as Unusable, not as an error: the workflow counts it and
// escalates like any failed attempt.
func (a *Activities) GenerateTask(ctx context.Context, in TaskInput) (TaskResult, error) {
	g, err := a.loadTask(ctx, in)
	if err != nil {
		return TaskResult{}, err
	}
	job, task := g.job, g.task
	attemptNo := max(in.Attempt, 1)
	phase := in.Phase
	if phase == "" {
		phase = domain.PhaseTask
	}
	if prev, err := a.Store.GetAttempt(ctx, job.ID, task.ID, attemptNo); err == nil {
		// A retry after this attempt was generated: no second model call.
		return attemptResult(prev), nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return TaskResult{}, err
	}

	tier, reason := in.Tier, in.TierReason
	if tier == "" {
		learned, learnedReason := "", ""
		if job.TierOverride == "" {
			learned, learnedReason = a.learnedTier(ctx, job, task)
		}
		tier, reason = chooseTier(job.TierOverride, learned, learnedReason, task.Complexity)
	}
	target, err := a.Models.TargetFor(ctx, job.TenantID, tier)
	if err != nil {
		return TaskResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeModelRefused, nil)
	}
	running, now := domain.TaskRunning, a.now()
	upd := store.TaskUpdate{Status: &running, Tier: &tier, TierReason: &reason, Model: &target.Model, Attempts: &attemptNo}
	if attemptNo == 1 {
		upd.StartedAt = &now
	}
	if err := a.Store.UpdateTask(ctx, job.ID, task.ID, upd); err != nil {
		return TaskResult{}, err
	}

	base, err := a.lastUsable(ctx, job.ID, task.ID, attemptNo)
	if err != nil {
		return TaskResult{}, err
	}
	// After an unusable answer the prompt says so: the same prompt again
	// would get the same answer (from the model, or from the response
	// cache).
	note := ""
	if prev, err := a.Store.GetAttempt(ctx, job.ID, task.ID, attemptNo-1); err == nil && prev.ValidationStatus == ValidationUnusable {
		note = fmt.Sprintf("This is attempt %d. The answer of attempt %d could not be used: %s. Answer with only the JSON object described above.",
			attemptNo, prev.Attempt, prev.Failures)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return TaskResult{}, err
	}
	var out *generation
	switch {
	case base == nil && attemptNo == 1:
		a.publish(ctx, job, progress.TaskStarted, task.ID, task.Description, map[string]any{"tier": tier, "model": target.Model, "reason": reason, "attempt": 1})
		out, err = a.firstAttempt(ctx, g, tier, note)
	case base == nil:
		// Every attempt so far was unusable: there are no files to fix.
		a.publish(ctx, job, progress.TaskAttempt, task.ID, fmt.Sprintf("attempt %d on %s %s: writing the task again (no usable answer yet)", attemptNo, tier, target.Model),
			map[string]any{"attempt": attemptNo, "tier": tier, "model": target.Model, "reason": reason, "role": "coder", "phase": phase})
		out, err = a.firstAttempt(ctx, g, tier, note)
	default:
		failures := base.Failures
		routed := phase == domain.PhaseCapsule && base.Status == domain.AttemptPassed
		if routed {
			if failures, err = a.routedFailures(ctx, job.ID, task.ID, in.CapsuleRound); err != nil {
				return TaskResult{}, err
			}
		}
		what := "fixing " + firstLine(failures)
		switch {
		case routed:
			what = "repairing the capsule's findings: " + firstLine(failures)
		case failures == "" && in.Comment != "":
			what = "answering the reviewer: " + firstLine(in.Comment)
		}
		a.publish(ctx, job, progress.TaskAttempt, task.ID, fmt.Sprintf("attempt %d on %s %s: %s", attemptNo, tier, target.Model, what),
			map[string]any{"attempt": attemptNo, "tier": tier, "model": target.Model, "reason": reason, "role": "fixer", "comment": in.Comment != "",
				"phase": phase, "capsule_round": in.CapsuleRound})
		var testsFirst bool
		if testsFirst, err = a.testsWrittenFirst(ctx, job.ID, task.ID, base.Attempt); err != nil {
			return TaskResult{}, err
		}
		out, err = a.fixAttempt(ctx, g, tier, *base, failures, in.Comment, note, routed, testsFirst)
	}
	if err != nil && !unusable(err) {
		return TaskResult{}, err
	}
	if out.tier != "" && out.tier != tier {
		// The budget guard had a cheaper tier answer (downgrade policy).
		if t, err := a.Models.TargetFor(ctx, job.TenantID, out.tier); err == nil {
			reason += fmt.Sprintf("; answered by %s %s: the budget did not fit %s (downgrade policy)", t.Tier, t.Model, tier)
			tier, target = t.Tier, t
		}
	}
	// Token and cost totals of the task are the sum over its attempts,
	// unusable ones included: they were paid for.
	tokIn, tokOut, cost := task.InputTokens+out.usage.InputTokens, task.OutputTokens+out.usage.OutputTokens, task.CostPUSD+out.cost
	if attemptNo == 1 {
		tokIn, tokOut, cost = out.usage.InputTokens, out.usage.OutputTokens, out.cost
	}
	tu := store.TaskUpdate{Tier: &tier, TierReason: &reason, Model: &target.Model, InputTokens: &tokIn, OutputTokens: &tokOut, CostPUSD: &cost}
	att := domain.Attempt{JobID: job.ID, TaskID: task.ID, Attempt: attemptNo, Phase: phase, Role: out.role,
		PromptVersion: out.promptVersion, Tier: tier, Model: target.Model, InputTokens: out.usage.InputTokens, OutputTokens: out.usage.OutputTokens,
		CostPUSD: out.cost, Status: domain.AttemptGenerated, Comment: in.Comment, Summary: out.summary, Files: out.files, Deleted: out.deleted}
	if err != nil {
		// The answer could not be used: a failed attempt with its reason.
		// The task keeps the files of its last usable attempt.
		problem := reasonOf(err)
		att.Status, att.ValidationStatus, att.Failures, att.Summary, att.Deleted = domain.AttemptFailed, ValidationUnusable, problem, "", nil
		if err := a.Store.UpdateTask(ctx, job.ID, task.ID, tu); err != nil {
			return TaskResult{}, err
		}
		if err := a.Store.PutAttempt(ctx, att); err != nil {
			return TaskResult{}, err
		}
		a.publish(ctx, job, progress.LogMessage, task.ID, fmt.Sprintf("attempt %d on %s %s failed: %s", attemptNo, tier, target.Model, problem),
			map[string]any{"attempt": attemptNo, "role": out.role, "tier": tier, "model": target.Model, "unusable": true, "phase": phase,
				"tokens_out": out.usage.OutputTokens, "cost_usd": pricing.USD(out.cost)})
		return attemptResult(att), nil
	}
	tu.Files, tu.Summary = &out.files, &out.summary
	if err := a.Store.UpdateTask(ctx, job.ID, task.ID, tu); err != nil {
		return TaskResult{}, err
	}
	if err := a.Store.PutAttempt(ctx, att); err != nil {
		return TaskResult{}, err
	}
	a.publish(ctx, job, progress.TaskGenerated, task.ID, out.summary, map[string]any{"attempt": attemptNo, "role": out.role,
		"files": paths(out.files), "deleted": out.deleted, "tokens_in": out.usage.InputTokens, "tokens_out": out.usage.OutputTokens, "cost_usd": pricing.USD(out.cost),
		"tier": tier, "model": target.Model, "examples": out.examples, "tests_first": out.testsFirst, "phase": phase})
	return attemptResult(att), nil
}

// attemptResult is what the workflow learns of a generated attempt.
func attemptResult(a domain.Attempt) TaskResult {
	r := TaskResult{Tier: a.Tier, Model: a.Model, Files: len(a.Files), InputTokens: a.InputTokens, OutputTokens: a.OutputTokens, CostPUSD: a.CostPUSD}
	if a.ValidationStatus == ValidationUnusable {
		r.Unusable, r.Problem = true, clip(a.Failures, 600)
	}
	return r
}

// lastUsable is the latest attempt before attemptNo whose answer could be
// used (the one whose files the task holds), or nil.
func (a *Activities) lastUsable(ctx context.Context, jobID, taskID string, attemptNo int) (*domain.Attempt, error) {
	for n := attemptNo - 1; n >= 1; n-- {
		prev, err := a.Store.GetAttempt(ctx, jobID, taskID, n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if prev.ValidationStatus != ValidationUnusable {
			return &prev, nil
		}
	}
	return nil, nil
}

// testsWrittenFirst reports whether the task's tests, as of attempt upTo,
// were written by the test writer before its code: the latest attempt that
// wrote the task afresh (not a fixer's) says.
func (a *Activities) testsWrittenFirst(ctx context.Context, jobID, taskID string, upTo int) (bool, error) {
	for n := upTo; n >= 1; n-- {
		att, err := a.Store.GetAttempt(ctx, jobID, taskID, n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if att.ValidationStatus != ValidationUnusable && att.Role != "fixer" {
			return strings.HasPrefix(att.Role, "test_writer"), nil
		}
	}
	return false, nil
}

// routedFailures are the failures the capsule's validation of a round
// routed to a task.
func (a *Activities) routedFailures(ctx context.Context, jobID, taskID string, round int) (string, error) {
	c, err := a.Store.GetCapsuleCheck(ctx, jobID, round)
	if err != nil {
		return "", err
	}
	for _, r := range c.Routes {
		if r.TaskID == taskID {
			return r.Failures, nil
		}
	}
	return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("the capsule's validation round %d routed nothing to task %s", round, taskID), ErrTypeJobState, nil)
}

// unusable reports whether err says a model's answer could not be used.
func unusable(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == ErrTypeUnusableOutput
}

// reasonOf is an application error's own message.
func reasonOf(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	return err.Error()
}

// clip bounds s to about n bytes, cutting between characters.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// generation is what one attempt produced.
type generation struct {
	files         []domain.File
	deleted       []string // files the answer removed from the task
	summary       string
	role          string
	promptVersion string
	usage         llm.Usage
	cost          int64
	tier          string // the tier that answered, if the budget guard moved it
	examples      int
	testsFirst    bool
}

func (gen *generation) add(resp *llm.Response) {
	gen.usage.InputTokens += resp.Usage.InputTokens
	gen.usage.CachedInputTokens += resp.Usage.CachedInputTokens
	gen.usage.OutputTokens += resp.Usage.OutputTokens
	gen.cost += resp.CostPUSD
	if resp.Tier != "" {
		gen.tier = resp.Tier
	}
}

// ask makes one model call for a set of files and parses the answer; an
// unusable answer is re-asked once with the exact problem (and fixes that
// worked for such problems before).
func (a *Activities) ask(ctx context.Context, g *genContext, tier, role string, msgs []llm.Message, gen *generation,
	check func(*Answer) error) (*Answer, error) {
	meta := llm.Meta{TaskID: g.task.ID, Role: role}
	resp, err := a.call(ctx, g.job, tier, meta, msgs, true)
	if err != nil {
		return nil, err
	}
	gen.add(resp)
	ans, perr := parseChecked(resp.Content, check)
	if perr == nil {
		return ans, nil
	}
	a.publish(ctx, g.job, progress.LogMessage, g.task.ID, "the "+role+"'s answer could not be used; asking once more", map[string]any{"problem": perr.Error()})
	msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: resp.Content}, llm.Message{Role: llm.RoleUser,
		Content: "Your answer could not be used: " + perr.Error() + "." + a.repairHints(ctx, g.job, g.task.ID, perr.Error(), g.plan.Project.Language) +
			" Answer again with only the JSON object."})
	resp, err = a.call(ctx, g.job, tier, meta, msgs, true)
	if err != nil {
		return nil, err
	}
	gen.add(resp)
	first := perr
	if ans, perr = parseChecked(resp.Content, check); perr != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the %s's answer was unusable twice: %v", role, perr), ErrTypeUnusableOutput, nil)
	}
	if a.Memory != nil {
		fix := memory.ErrorFix{RequestID: g.job.ID, Error: first.Error(), Language: g.plan.Project.Language, ErrorType: "output_format",
			TaskType: g.task.Type, Fix: "answered again as one JSON object {\"summary\", \"files\": [{\"path\", \"content\"}]} with safe relative paths"}
		if err := a.Memory.RecordErrorFix(memCtx(ctx, g.job), fix); err != nil {
			a.memoryFailed(ctx, g.job, g.task.ID, "record error fix", err)
		}
	}
	return ans, nil
}

func parseChecked(content string, check func(*Answer) error) (*Answer, error) {
	ans, err := ParseAnswer(content)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(ans); err != nil {
			return nil, err
		}
	}
	return ans, nil
}

// onlyTests rejects a test writer's answer that holds anything but tests.
func onlyTests(ans *Answer) error {
	if err := ans.WritesOnly(); err != nil {
		return err
	}
	for _, f := range ans.Files {
		if capsule.RoleOf(f.Path) != capsule.RoleTest {
			return fmt.Errorf("%s is not a test file: write only tests (for example foo_test.go, test_foo.py, foo.test.js)", f.Path)
		}
	}
	return nil
}

// firstAttempt writes the task: its tests first when it has none, then
// its code, held to those tests. It returns what was generated (and paid
// for) even when it fails.
func (a *Activities) firstAttempt(ctx context.Context, g *genContext, tier, note string) (*generation, error) {
	gen := &generation{role: "coder", promptVersion: PromptVersions["coder"]}
	var tests []domain.File
	if needsTestsFirst(g.plan, g.planned) {
		gen.testsFirst = true
		gen.role, gen.promptVersion = "test_writer+coder", PromptVersions["test_writer"]+"+"+PromptVersions["coder"]
		msgs, err := renderPrompt("test_writer", coderData{Project: g.plan.Project, Request: g.request, Plan: g.plan.Tasks,
			Upstream: upstreamOutputs(g.upstream), Task: g.planned})
		if err != nil {
			return gen, err
		}
		ans, err := a.ask(ctx, g, tier, "test_writer", withNote(msgs, note), gen, onlyTests)
		if err != nil {
			return gen, err
		}
		tests = ans.Files
		a.publish(ctx, g.job, progress.LogMessage, g.task.ID, "tests written first: "+strings.Join(paths(tests), ", "), map[string]any{"files": paths(tests)})
	}
	var examples []memory.CodeExample
	if a.Memory != nil {
		var err error
		examples, err = a.Memory.CodeExamples(memCtx(ctx, g.job), memory.CodeQuery{RequestID: g.job.ID, Query: g.task.Description,
			Language: g.plan.Project.Language, Limit: 2})
		if err != nil {
			a.memoryFailed(ctx, g.job, g.task.ID, "code examples", err)
			examples = nil
		}
	}
	gen.examples = len(examples)
	msgs, err := renderPrompt("coder", coderData{Project: g.plan.Project, Request: g.request, Plan: g.plan.Tasks, Upstream: upstreamOutputs(g.upstream),
		Task: g.planned, Examples: examplesFor(examples), Tests: tests})
	if err != nil {
		return gen, err
	}
	ans, err := a.ask(ctx, g, tier, "coder", withNote(msgs, note), gen, (*Answer).WritesOnly)
	if err != nil {
		return gen, err
	}
	// The tests written first stand: the code is held to them, not the
	// other way round.
	locked := map[string]bool{}
	for _, t := range tests {
		locked[t.Path] = true
	}
	files := append([]domain.File(nil), tests...)
	for _, f := range ans.Files {
		if !locked[f.Path] {
			files = append(files, f)
		}
	}
	gen.files, gen.summary = files, summaryOf(ans)
	return gen, nil
}

// fixAttempt sends failures (the previous attempt's, or in the capsule
// phase the capsule's findings routed to the task) to the fixer and lays
// its changed files over the task's. It returns what was generated (and
// paid for) even when it fails.
func (a *Activities) fixAttempt(ctx context.Context, g *genContext, tier string, prev domain.Attempt, failures, comment, note string, capsulePhase, testsFirst bool) (*generation, error) {
	gen := &generation{role: "fixer", promptVersion: PromptVersions["fixer"]}
	if failures == "" && comment == "" {
		return gen, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s attempt %d: nothing to fix", g.task.ID, prev.Attempt+1), ErrTypeJobState, nil)
	}
	hints := ""
	if failures != "" {
		hints = a.repairHints(ctx, g.job, g.task.ID, failures, g.plan.Project.Language)
	}
	var tests []string
	for _, f := range g.task.Files {
		if capsule.RoleOf(f.Path) == capsule.RoleTest {
			tests = append(tests, f.Path)
		}
	}
	msgs, err := renderPrompt("fixer", fixerData{coderData: coderData{Project: g.plan.Project, Request: g.request, Plan: g.plan.Tasks,
		Upstream: upstreamOutputs(g.upstream), Task: g.planned}, Current: g.task.Files, Failures: failures, Comment: comment,
		Hints: strings.TrimSpace(hints), Attempt: prev.Attempt + 1, Capsule: capsulePhase, TestFiles: tests,
		TestsFirst: testsFirst})
	if err != nil {
		return gen, err
	}
	var files []domain.File
	ans, err := a.ask(ctx, g, tier, "fixer", withNote(msgs, note), gen, func(ans *Answer) error {
		if err := deletable(g, ans.Deleted, testsFirst); err != nil {
			return err
		}
		var err error
		files, err = ans.Apply(g.task.Files)
		return err
	})
	if err != nil {
		return gen, err
	}
	gen.files, gen.deleted, gen.summary = files, ans.Deleted, summaryOf(ans)
	return gen, nil
}

// deletable checks the files a fixer's answer deletes against what the
// task may delete: only files it wrote itself (Answer.Apply checks that
// they are among the task's files), never a file a task it depends on
// also wrote (that version would stay in the project, so the deletion
// would not remove the file), and never tests the test writer wrote first
// (the code is held to them).
func deletable(g *genContext, deleted []string, testsFirst bool) error {
	for _, p := range deleted {
		for _, u := range g.upstream {
			for _, f := range u.Files {
				if f.Path == p {
					return fmt.Errorf("cannot delete %s: task %s, which this task depends on, wrote it too, and its version would stay in the project; write the file instead", p, u.ID)
				}
			}
		}
		if testsFirst && capsule.RoleOf(p) == capsule.RoleTest {
			return fmt.Errorf("cannot delete %s: its tests were written first and the code is held to them", p)
		}
	}
	return nil
}

// withNote appends note to the last (user) message of a prompt.
func withNote(msgs []llm.Message, note string) []llm.Message {
	if note == "" || len(msgs) == 0 {
		return msgs
	}
	out := append([]llm.Message(nil), msgs...)
	out[len(out)-1].Content += "\n\n" + note
	return out
}

func summaryOf(ans *Answer) string {
	if ans.Summary != "" {
		return ans.Summary
	}
	var parts []string
	if len(ans.Files) > 0 {
		parts = append(parts, "wrote "+strings.Join(paths(ans.Files), ", "))
	}
	if len(ans.Deleted) > 0 {
		parts = append(parts, "deleted "+strings.Join(ans.Deleted, ", "))
	}
	return strings.Join(parts, "; ")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:159] + "…"
	}
	return s
}
