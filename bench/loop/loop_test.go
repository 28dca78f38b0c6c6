// Package loopbench_test measures the generate → validate → fix loop: one
// job of 20 independent Python tasks, whose first attempts fail at a known
// rate, runs through the real workflow (QLPWorkflow in Temporal's test
// environment, with the real activities, store, metered model router and
// Validation Mesh in the bwrap sandbox) twice in the same run — with the
// loop off (MaxAttempts 1), the baseline, and on (MaxAttempts 3) — and
// reports per mode the pass rate, attempts per task, and tokens and USD per
// passing task, and the ratios of the loop on to the loop off.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/loop/
//
// The model is scripted (package llmtest): a seed picks which tasks' coder
// answers are wrong (they fail one of their own tests), and of those which
// need two fixes (the first fix fails another test, the second, escalated
// to T1, is right) and which the fixer never fixes (it repeats the wrong
// answer: the loop stops as stuck). Tokens are the script server's counts
// of the real prompts and answers; USD is priced from the catalogue for the
// OpenAI models the tiers map to. Needs bwrap and the Python tools
// (scripts/install-deps.sh test); skipped without bwrap.
//
// Flags: -loop.fail, -loop.hard, -loop.stuck, -loop.seed, -loop.attempts.
package loopbench_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

var (
	failRate    = flag.Float64("loop.fail", 0.4, "share of tasks whose first attempt is wrong")
	hardN       = flag.Int("loop.hard", 2, "of those, tasks whose first fix is wrong too (fixed by a third attempt, on T1)")
	stuckN      = flag.Int("loop.stuck", 1, "of those, tasks whose fixer repeats the wrong answer (never fixed)")
	seed        = flag.Uint64("loop.seed", 1, "seed choosing which tasks fail")
	maxAttempts = flag.Int("loop.attempts", 3, "MaxAttempts with the loop on")
)

// TestMain lets the test binary act as the sandbox helper, as the qlp
// binary does with its hidden `sandbox-exec` command.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// kind is how a task's scripted model behaves.
type kind int

const (
	right kind = iota // the coder's answer passes
	fixed             // the coder's answer fails; the first fix passes
	hard              // the coder's and the first fix fail; the second fix passes
	stuck             // the coder's answer fails; the fixer repeats it
)

func (k kind) String() string { return [...]string{"right", "fixed", "hard", "stuck"}[k] }

// kinds picks, with the seed, which tasks fail first and how.
func kinds(n int, rate float64, hardN, stuckN int, seed uint64) ([]kind, error) {
	fail := int(math.Round(rate * float64(n)))
	if fail < 0 || fail > n || hardN < 0 || stuckN < 0 || hardN+stuckN > fail {
		return nil, fmt.Errorf("loop.fail %.2f gives %d failing tasks of %d, fewer than loop.hard %d + loop.stuck %d", rate, fail, n, hardN, stuckN)
	}
	ks := make([]kind, n)
	for j, i := range rand.New(rand.NewPCG(seed, seed)).Perm(n)[:fail] {
		switch {
		case j < hardN:
			ks[i] = hard
		case j < hardN+stuckN:
			ks[i] = stuck
		default:
			ks[i] = fixed
		}
	}
	return ks, nil
}

// expect is a task's outcome the script implies: attempts made and
// whether it passes.
func expect(k kind, maxAttempts int) (attempts int, pass bool) {
	need := map[kind]int{right: 1, fixed: 2, hard: 3, stuck: 2}[k] // stuck: the second failure equals the first
	return min(need, maxAttempts), k != stuck && need <= maxAttempts
}

func plan() string {
	var ts []map[string]any
	for i, t := range tasks {
		ts = append(ts, map[string]any{"id": taskID(i), "type": "code_generation", "description": t.desc, "complexity": "simple",
			"dependencies": []string{}, "files": []string{t.module + ".py", "test_" + t.module + ".py"}})
	}
	return llmtest.JSON(map[string]any{"project": map[string]any{"name": "pyutils", "language": "python",
		"description": "A library of small, independent utility functions, one module each, with pytest tests.",
		"layout":      "flat: each function in <module>.py at the root, its tests in test_<module>.py",
		// A library has nothing to run but its tests (the default run
		// command names a main.py it does not have).
		"commands": map[string]string{"test": "python3 -m pytest -q", "run": "python3 -m pytest -q"}}, "tasks": ts})
}

const request = "A Python library of 20 small utility functions (slugs, palindromes, FizzBuzz, Roman numerals, word counts, " +
	"chunks, flattening, median, Caesar cipher, run-length encoding, intervals, durations, binary search, IPv4, transpose, " +
	"casing, dedupe, Luhn, moving averages, number bases), one module each, with pytest tests."

// rules script the decomposer and, per task, the coder and the fixer.
func rules(ks []kind) []llmtest.Rule {
	rs := []llmtest.Rule{{Role: "decomposer", Replies: []llmtest.Reply{{Content: plan()}}}}
	module := func(t task, code, summary string) llmtest.Reply {
		return llmtest.Reply{Content: llmtest.JSON(map[string]any{"summary": summary,
			"files": []map[string]string{{"path": t.module + ".py", "content": code}}})}
	}
	for i, t := range tasks {
		code := t.code
		if ks[i] != right {
			code = t.buggy(0)
		}
		rs = append(rs, llmtest.Rule{Role: "coder", TaskID: taskID(i), Replies: []llmtest.Reply{{Content: llmtest.JSON(map[string]any{
			"summary": t.module + " with its tests",
			"files": []map[string]string{{"path": t.module + ".py", "content": code},
				{"path": "test_" + t.module + ".py", "content": t.tests}}})}}})
		var fixes []llmtest.Reply
		switch ks[i] {
		case fixed:
			fixes = []llmtest.Reply{module(t, t.code, "fixed "+t.module)}
		case hard:
			fixes = []llmtest.Reply{module(t, t.buggy(1), "fixed "+t.module), module(t, t.code, "fixed "+t.module+" again")}
		case stuck:
			fixes = []llmtest.Reply{module(t, t.buggy(0), "fixed "+t.module)}
		}
		if fixes != nil {
			rs = append(rs, llmtest.Rule{Role: "fixer", TaskID: taskID(i), Replies: fixes})
		}
	}
	return rs
}

// modeResult is what one run of the job measured.
type modeResult struct {
	name        string
	maxAttempts int
	jobStatus   string
	jobError    string
	capsule     string // the capsule's validation summary, when the job made one
	wall        time.Duration
	tasksPhase  time.Duration
	passed      int
	attempts    int   // over all tasks
	calls       int   // model calls of the tasks
	taskTokens  int64 // input + output tokens of the tasks' model calls
	taskPUSD    int64
	jobTokens   int64 // the tasks' and the decomposition's
	jobPUSD     int64
	byRole      []string
	mismatches  []string // tasks whose outcome is not what the script implies
}

func (r modeResult) passRate() float64        { return float64(r.passed) / float64(len(tasks)) }
func (r modeResult) attemptsPerTask() float64 { return float64(r.attempts) / float64(len(tasks)) }
func perPass(v int64, passed int) float64 {
	if passed == 0 {
		return math.Inf(1)
	}
	return float64(v) / float64(passed)
}

// runMode runs the job once with maxAttempts, on its own store, model
// server, router (response cache off: every call is paid for) and mesh
// (so that the other mode's validations are not served from its cache).
func runMode(ctx context.Context, b *testing.B, sb *sandbox.Service, ks []kind, name string, maxAttempts int) modeResult {
	dir := b.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "qlp.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	mesh, err := validation.New(ctx, validation.Defaults(), validation.Deps{Logger: logx.Discard(), Sandbox: sb})
	if err != nil {
		b.Fatal(err)
	}
	srv := llmtest.New(llmtest.NewScript(rules(ks)...).Handle)
	defer srv.Close()
	cfg := tiers.Defaults()
	cfg.Provider, cfg.BaseURL, cfg.Cache.Enabled = "openai", srv.URL, false
	cfg.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	router, err := tiers.Build(cfg, st, logx.Discard())
	if err != nil {
		b.Fatal(err)
	}
	defer router.Close()
	signer, err := capsule.LoadOrCreateSigner(filepath.Join(dir, "keys"))
	if err != nil {
		b.Fatal(err)
	}
	acts := &wf.Activities{
		Store: st, Models: router, Bus: progress.NewBus(st, 0), Signer: signer, Validator: mesh,
		Generator: capsule.Generator{QLPVersion: "bench", Provider: "openai", Models: router.Models()},
		MaxTokens: 4096, Temperature: 0.2, MaxTasks: len(tasks), DecomposerTier: "T2", Logger: logx.Discard(),
	}
	if _, err := st.EnsureTenant(ctx, "bench", "Bench"); err != nil {
		b.Fatal(err)
	}
	id := "loop-" + name
	if _, _, err := st.CreateJob(ctx, store.Job{ID: id, TenantID: "bench", WorkflowID: wf.WorkflowID(id), Description: request,
		Language: "python", Constraints: json.RawMessage(`{}`)}); err != nil {
		b.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(logx.Discard()))
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Minute)
	env.RegisterWorkflowWithOptions(wf.QLPWorkflow, workflow.RegisterOptions{Name: wf.WorkflowName})
	env.RegisterActivity(acts)

	start := time.Now()
	// Every task starts at once (MaxParallel = the task count): the
	// workflow launches no new task after one failed, and the benchmark
	// wants every task's own outcome.
	env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: id, TenantID: "bench", MaxParallel: len(tasks),
		MaxAttempts: maxAttempts, EscalateAfter: 2})
	r := modeResult{name: name, maxAttempts: maxAttempts, wall: time.Since(start)}
	if !env.IsWorkflowCompleted() {
		b.Fatalf("%s: the workflow did not complete", name)
	}
	job, err := st.GetJob(ctx, "bench", id)
	if err != nil {
		b.Fatal(err)
	}
	r.jobStatus, r.jobError = string(job.Status), job.Error
	if job.CapsuleID != "" {
		v, err := st.GetCapsuleVersion(ctx, "bench", job.CapsuleID, 0)
		if err != nil {
			b.Fatal(err)
		}
		var rep struct {
			Summary string `json:"summary"`
		}
		if err := json.Unmarshal(v.Report, &rep); err != nil {
			b.Fatalf("%s: the capsule's validation report: %v", name, err)
		}
		r.capsule = rep.Summary
	}
	if werr := env.GetWorkflowError(); werr != nil && r.jobStatus != string(store.JobFailed) {
		b.Fatalf("%s: %v", name, werr)
	}

	ts, err := st.ListTasks(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	if len(ts) != len(tasks) {
		b.Fatalf("%s: %d tasks in the store, want %d", name, len(ts), len(tasks))
	}
	atts, err := st.ListAttempts(ctx, id, "")
	if err != nil {
		b.Fatal(err)
	}
	perTask := map[string]int{}
	firstFailed := map[string]bool{}
	for _, a := range atts {
		perTask[a.TaskID]++
		if a.Attempt == 1 {
			firstFailed[a.TaskID] = a.Status == store.AttemptFailed
		}
	}
	for i := range tasks {
		t := ts[i]
		if t.ID != taskID(i) {
			b.Fatalf("%s: task %d is %s, want %s", name, i, t.ID, taskID(i))
		}
		pass := t.Status == store.TaskCompleted
		if pass {
			r.passed++
		}
		r.attempts += perTask[t.ID]
		wantN, wantPass := expect(ks[i], maxAttempts)
		if perTask[t.ID] != wantN || pass != wantPass || firstFailed[t.ID] != (ks[i] != right) {
			r.mismatches = append(r.mismatches, fmt.Sprintf("%s (%s, %s): %d attempts, %s; want %d attempts, passed %v",
				t.ID, tasks[i].module, ks[i], perTask[t.ID], t.Status, wantN, wantPass))
		}
	}

	// The tasks' phase: from the first task's start to the last task's
	// last validation, without the decomposition and the capsule's
	// assembly (which only a completed job has).
	evs, err := st.ListEvents(ctx, id, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	var first, last time.Time
	for _, e := range evs {
		switch e.Type {
		case progress.TaskStarted:
			if first.IsZero() || e.CreatedAt.Before(first) {
				first = e.CreatedAt
			}
		case progress.TaskValidated, progress.TaskCompleted:
			if e.CreatedAt.After(last) {
				last = e.CreatedAt
			}
		}
	}
	r.tasksPhase = last.Sub(first)

	groups, err := st.RollupUsage(ctx, store.RollupQuery{Filter: store.UsageFilter{JobID: id}, By: []string{store.GroupRole, store.GroupModel}})
	if err != nil {
		b.Fatal(err)
	}
	for _, g := range groups {
		tok := g.InputTokens + g.OutputTokens
		r.jobTokens += tok
		r.jobPUSD += g.CostPUSD
		if g.Role != "decomposer" {
			r.calls += g.Calls
			r.taskTokens += tok
			r.taskPUSD += g.CostPUSD
		}
		r.byRole = append(r.byRole, fmt.Sprintf("%s on %s: %d calls, %d+%d tokens, $%s", g.Role, g.Model, g.Calls,
			g.InputTokens, g.OutputTokens, pricing.USD(g.CostPUSD)))
	}
	return r
}

func BenchmarkRepairLoop(b *testing.B) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		b.Skip("needs bwrap and the Python tools (scripts/install-deps.sh test): tasks are judged by their tests in the sandbox")
	}
	ks, err := kinds(len(tasks), *failRate, *hardN, *stuckN, *seed)
	if err != nil {
		b.Fatal(err)
	}
	if *maxAttempts < 2 {
		b.Fatalf("loop.attempts %d: the loop needs at least 2", *maxAttempts)
	}
	ctx := context.Background()
	sb, err := sandbox.New(ctx, sandbox.Defaults(), sandbox.Deps{Logger: logx.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()

	var off, on modeResult
	for range b.N {
		off = runMode(ctx, b, sb, ks, "off", 1)
		on = runMode(ctx, b, sb, ks, "on", *maxAttempts)
	}

	var plan []string
	for i, k := range ks {
		if k != right {
			plan = append(plan, fmt.Sprintf("%s %s (%s)", taskID(i), tasks[i].module, k))
		}
	}
	b.Logf("seed %d: %d of %d first attempts wrong: %s", *seed, len(plan), len(tasks), strings.Join(plan, ", "))
	for _, r := range []modeResult{off, on} {
		b.Logf("loop %-3s (MaxAttempts %d): job %s in %.1f s (tasks %.1f s); passed %d/%d (%.0f %%); %.2f attempts/task; %d task calls; "+
			"task tokens %d, $%s; per passing task %.0f tokens, $%.6f ($%.6f with the decomposition)",
			r.name, r.maxAttempts, r.jobStatus, r.wall.Seconds(), r.tasksPhase.Seconds(), r.passed, len(tasks), 100*r.passRate(), r.attemptsPerTask(), r.calls,
			r.taskTokens, pricing.USD(r.taskPUSD), perPass(r.taskTokens, r.passed), pricing.Dollars(int64(perPass(r.taskPUSD, r.passed))),
			pricing.Dollars(int64(perPass(r.jobPUSD, r.passed))))
		b.Logf("    %s", strings.Join(r.byRole, "; "))
		if r.capsule != "" {
			b.Logf("    capsule: %s", r.capsule)
		}
		if r.jobError != "" && r.passed == len(tasks) {
			// Every task passed, yet the job failed: the capsule's own
			// validation did.
			line, _, _ := strings.Cut(r.jobError, "\n")
			b.Logf("    job error: %.300s", line)
		}
		for _, m := range r.mismatches {
			b.Errorf("loop %s: not the scripted outcome: %s", r.name, m)
		}
	}
	ratio := func(a, b float64) float64 { return a / b }
	b.Logf("loop on / loop off: pass rate %.2f×, attempts per task %.2f×, tasks' time %.2f×, tokens per passing task %.2f×, "+
		"USD per passing task %.2f× (%.2f× with the decomposition)",
		ratio(on.passRate(), off.passRate()), ratio(on.attemptsPerTask(), off.attemptsPerTask()), ratio(on.tasksPhase.Seconds(), off.tasksPhase.Seconds()),
		ratio(perPass(on.taskTokens, on.passed), perPass(off.taskTokens, off.passed)),
		ratio(perPass(on.taskPUSD, on.passed), perPass(off.taskPUSD, off.passed)),
		ratio(perPass(on.jobPUSD, on.passed), perPass(off.jobPUSD, off.passed)))
	b.ReportMetric(on.passRate(), "pass-rate-on")
	b.ReportMetric(off.passRate(), "pass-rate-off")
	b.ReportMetric(on.attemptsPerTask(), "attempts/task-on")
	b.ReportMetric(ratio(perPass(on.taskPUSD, on.passed), perPass(off.taskPUSD, off.passed)), "usd/pass-ratio")
}

// TestKinds checks the seeded choice without running anything.
func TestKinds(t *testing.T) {
	ks, err := kinds(20, 0.4, 2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	count := map[kind]int{}
	for _, k := range ks {
		count[k]++
	}
	if count[right] != 12 || count[fixed] != 5 || count[hard] != 2 || count[stuck] != 1 {
		t.Errorf("kinds = %v", count)
	}
	again, _ := kinds(20, 0.4, 2, 1, 1)
	if fmt.Sprint(again) != fmt.Sprint(ks) {
		t.Error("the same seed chose differently")
	}
	if _, err := kinds(20, 0.1, 2, 1, 1); err == nil {
		t.Error("2 failing tasks cannot hold 2 hard and 1 stuck")
	}
	for k, want := range map[kind][2]any{right: {1, true}, fixed: {2, true}, hard: {3, true}, stuck: {2, false}} {
		if n, pass := expect(k, 3); n != want[0] || pass != want[1] {
			t.Errorf("expect(%s, 3) = %d, %v", k, n, pass)
		}
		if n, pass := expect(k, 1); n != 1 || pass != (k == right) {
			t.Errorf("expect(%s, 1) = %d, %v", k, n, pass)
		}
	}
}
