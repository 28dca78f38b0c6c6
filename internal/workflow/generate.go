package workflow

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
)

// genContext is what every prompt of a task is built from.
type genContext struct {
	job      store.Job
	plan     *Plan
	task     store.Task
	planned  PlannedTask
	upstream []store.Task
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
		if dt.Status != store.TaskCompleted {
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

// GenerateTask makes one attempt at a task. Attempt 1 writes the task's
// files (its tests first when it has none, then its code); later attempts
// send the exact failures of the previous attempt, and any reviewer's
// comment, to the fixer, on the tier the workflow chose. The attempt is
// recorded; the task is completed only once its validation passes.
func (a *Activities) GenerateTask(ctx context.Context, in TaskInput) (TaskResult, error) {
	g, err := a.loadTask(ctx, in)
	if err != nil {
		return TaskResult{}, err
	}
	job, task := g.job, g.task
	attemptNo := max(in.Attempt, 1)
	if prev, err := a.Store.GetAttempt(ctx, job.ID, task.ID, attemptNo); err == nil {
		// A retry after this attempt was generated: no second model call.
		return TaskResult{Tier: prev.Tier, Model: prev.Model, Files: len(prev.Files), InputTokens: prev.InputTokens,
			OutputTokens: prev.OutputTokens, CostPUSD: prev.CostPUSD}, nil
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
	running, now := store.TaskRunning, a.now()
	upd := store.TaskUpdate{Status: &running, Tier: &tier, TierReason: &reason, Model: &target.Model, Attempts: &attemptNo}
	if attemptNo == 1 {
		upd.StartedAt = &now
	}
	if err := a.Store.UpdateTask(ctx, job.ID, task.ID, upd); err != nil {
		return TaskResult{}, err
	}

	var out *generation
	if attemptNo == 1 {
		a.publish(ctx, job, progress.TaskStarted, task.ID, task.Description, map[string]any{"tier": tier, "model": target.Model, "reason": reason, "attempt": 1})
		out, err = a.firstAttempt(ctx, g, tier)
	} else {
		var prev store.Attempt
		if prev, err = a.Store.GetAttempt(ctx, job.ID, task.ID, attemptNo-1); err != nil {
			return TaskResult{}, err
		}
		what := "fixing " + firstLine(prev.Failures)
		if prev.Failures == "" && in.Comment != "" {
			what = "answering the reviewer: " + firstLine(in.Comment)
		}
		a.publish(ctx, job, progress.TaskAttempt, task.ID, fmt.Sprintf("attempt %d on %s %s: %s", attemptNo, tier, target.Model, what),
			map[string]any{"attempt": attemptNo, "tier": tier, "model": target.Model, "reason": reason, "role": "fixer", "comment": in.Comment != ""})
		out, err = a.fixAttempt(ctx, g, tier, prev, in.Comment)
	}
	if err != nil {
		return TaskResult{}, err
	}
	if out.tier != "" && out.tier != tier {
		// The budget guard had a cheaper tier answer (downgrade policy).
		if t, err := a.Models.TargetFor(ctx, job.TenantID, out.tier); err == nil {
			reason += fmt.Sprintf("; answered by %s %s: the budget did not fit %s (downgrade policy)", t.Tier, t.Model, tier)
			tier, target = t.Tier, t
		}
	}
	// Token and cost totals of the task are the sum over its attempts.
	tokIn, tokOut, cost := task.InputTokens+out.usage.InputTokens, task.OutputTokens+out.usage.OutputTokens, task.CostPUSD+out.cost
	if attemptNo == 1 {
		tokIn, tokOut, cost = out.usage.InputTokens, out.usage.OutputTokens, out.cost
	}
	if err := a.Store.UpdateTask(ctx, job.ID, task.ID, store.TaskUpdate{Files: &out.files, Summary: &out.summary, Tier: &tier,
		TierReason: &reason, Model: &target.Model, InputTokens: &tokIn, OutputTokens: &tokOut, CostPUSD: &cost}); err != nil {
		return TaskResult{}, err
	}
	if err := a.Store.PutAttempt(ctx, store.Attempt{JobID: job.ID, TaskID: task.ID, Attempt: attemptNo, Role: out.role,
		PromptVersion: out.promptVersion, Tier: tier, Model: target.Model, InputTokens: out.usage.InputTokens, OutputTokens: out.usage.OutputTokens,
		CostPUSD: out.cost, Status: store.AttemptGenerated, Comment: in.Comment, Summary: out.summary, Files: out.files}); err != nil {
		return TaskResult{}, err
	}
	a.publish(ctx, job, progress.TaskGenerated, task.ID, out.summary, map[string]any{"attempt": attemptNo, "role": out.role,
		"files": paths(out.files), "tokens_in": out.usage.InputTokens, "tokens_out": out.usage.OutputTokens, "cost_usd": pricing.USD(out.cost),
		"tier": tier, "model": target.Model, "examples": out.examples, "tests_first": out.testsFirst})
	return TaskResult{Tier: tier, Model: target.Model, Files: len(out.files), InputTokens: out.usage.InputTokens,
		OutputTokens: out.usage.OutputTokens, CostPUSD: out.cost}, nil
}

// generation is what one attempt produced.
type generation struct {
	files         []store.File
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
			fmt.Sprintf("task %s: the %s's answer was unusable twice: %v", g.task.ID, role, perr), ErrTypeUnusableOutput, nil)
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
	for _, f := range ans.Files {
		if capsule.RoleOf(f.Path) != capsule.RoleTest {
			return fmt.Errorf("%s is not a test file: write only tests (for example foo_test.go, test_foo.py, foo.test.js)", f.Path)
		}
	}
	return nil
}

// firstAttempt writes the task: its tests first when it has none, then
// its code, held to those tests.
func (a *Activities) firstAttempt(ctx context.Context, g *genContext, tier string) (*generation, error) {
	gen := &generation{role: "coder", promptVersion: PromptVersions["coder"]}
	var tests []store.File
	if needsTestsFirst(g.plan, g.planned) {
		gen.testsFirst = true
		gen.role, gen.promptVersion = "test_writer+coder", PromptVersions["test_writer"]+"+"+PromptVersions["coder"]
		msgs, err := renderPrompt("test_writer", coderData{Project: g.plan.Project, Request: g.request, Plan: g.plan.Tasks,
			Upstream: upstreamOutputs(g.upstream), Task: g.planned})
		if err != nil {
			return nil, err
		}
		ans, err := a.ask(ctx, g, tier, "test_writer", msgs, gen, onlyTests)
		if err != nil {
			return nil, err
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
		return nil, err
	}
	ans, err := a.ask(ctx, g, tier, "coder", msgs, gen, nil)
	if err != nil {
		return nil, err
	}
	// The tests written first stand: the code is held to them, not the
	// other way round.
	locked := map[string]bool{}
	for _, t := range tests {
		locked[t.Path] = true
	}
	files := append([]store.File(nil), tests...)
	for _, f := range ans.Files {
		if !locked[f.Path] {
			files = append(files, f)
		}
	}
	gen.files, gen.summary = files, summaryOf(ans)
	return gen, nil
}

// fixAttempt sends the previous attempt's failures to the fixer and lays
// its changed files over the task's.
func (a *Activities) fixAttempt(ctx context.Context, g *genContext, tier string, prev store.Attempt, comment string) (*generation, error) {
	gen := &generation{role: "fixer", promptVersion: PromptVersions["fixer"]}
	failures := prev.Failures
	if failures == "" && comment == "" {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("task %s attempt %d: nothing to fix", g.task.ID, prev.Attempt+1), ErrTypeJobState, nil)
	}
	hints := ""
	if failures != "" {
		hints = a.repairHints(ctx, g.job, g.task.ID, failures, g.plan.Project.Language)
	}
	msgs, err := renderPrompt("fixer", fixerData{coderData: coderData{Project: g.plan.Project, Request: g.request, Plan: g.plan.Tasks,
		Upstream: upstreamOutputs(g.upstream), Task: g.planned}, Current: g.task.Files, Failures: failures, Comment: comment,
		Hints: strings.TrimSpace(hints), Attempt: prev.Attempt + 1})
	if err != nil {
		return nil, err
	}
	ans, err := a.ask(ctx, g, tier, "fixer", msgs, gen, nil)
	if err != nil {
		return nil, err
	}
	byPath := map[string]store.File{}
	for _, f := range g.task.Files {
		byPath[f.Path] = f
	}
	for _, f := range ans.Files {
		byPath[f.Path] = f
	}
	keys := make([]string, 0, len(byPath))
	for k := range byPath {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		gen.files = append(gen.files, byPath[k])
	}
	gen.summary = summaryOf(ans)
	return gen, nil
}

func summaryOf(ans *Answer) string {
	if ans.Summary != "" {
		return ans.Summary
	}
	return "wrote " + strings.Join(paths(ans.Files), ", ")
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
