package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/validation"
)

// API is the part of the orchestrator API an evaluation uses;
// *orchestrator.Client implements it.
type API interface {
	Execute(ctx context.Context, req orchestrator.ExecuteRequest, idempotencyKey string) (orchestrator.ExecuteResponse, error)
	Status(ctx context.Context, id string) (orchestrator.StatusResponse, error)
	Download(ctx context.Context, id string, version int, format string) ([]byte, error)
}

var _ API = (*orchestrator.Client)(nil)

// Options choose how an evaluation runs.
type Options struct {
	// Concurrency is how many tasks run at once (default 2).
	Concurrency int `json:"concurrency"`
	// Tier forces every task of every job onto one tier (T0..T3).
	Tier string `json:"tier,omitempty"`
	// Poll is how often a job's status is read (default one second).
	Poll time.Duration `json:"-"`
}

// MaxConcurrency bounds Options.Concurrency.
const MaxConcurrency = 32

// Failure reasons, the first word of TaskResult.Failure.
const (
	FailJob         = "job_failed"          // the job ended without a capsule
	FailHiddenTests = "hidden_tests_failed" // the capsule fails the hidden tests
	FailGrading     = "grading_error"       // the capsule could not be graded
)

// TaskResult is one task's outcome.
type TaskResult struct {
	ID       string `json:"id"`
	Language string `json:"language"`
	Passed   bool   `json:"passed"`
	// Attempts are the job's generation attempts over all its tasks
	// (1 per task when every first answer passed).
	Attempts     int     `json:"attempts"`
	TokensIn     int64   `json:"tokens_in"`
	TokensOut    int64   `json:"tokens_out"`
	CostUSD      string  `json:"cost_usd"`
	WallSeconds  float64 `json:"wall_seconds"`
	JobID        string  `json:"job_id,omitempty"`
	JobStatus    string  `json:"job_status,omitempty"`
	CapsuleID    string  `json:"capsule_id,omitempty"`
	FailureKind  string  `json:"failure_kind,omitempty"`
	Failure      string  `json:"failure,omitempty"`
	HiddenTests  int     `json:"hidden_tests"`
	TestsSummary string  `json:"tests_summary,omitempty"`
}

// Summary sums a run.
type Summary struct {
	Tasks   int     `json:"tasks"`
	Passed  int     `json:"passed"`
	PassAt1 float64 `json:"pass_at_1"`
	// Attempts sums the tasks' attempts; AttemptsMean is per task.
	Attempts     int     `json:"attempts"`
	AttemptsMean float64 `json:"attempts_mean"`
	TokensIn     int64   `json:"tokens_in"`
	TokensOut    int64   `json:"tokens_out"`
	CostUSD      string  `json:"cost_usd"`
	// USDPerSolved is the whole run's cost over the tasks solved; empty
	// when none was.
	USDPerSolved     string         `json:"usd_per_solved,omitempty"`
	WallSecondsMean  float64        `json:"wall_seconds_mean"`
	WallSecondsTotal float64        `json:"wall_seconds_total"`
	Failures         map[string]int `json:"failures"`
}

// Result is a whole evaluation.
type Result struct {
	Dataset string  `json:"dataset,omitempty"`
	Digest  string  `json:"dataset_digest"`
	Options Options `json:"options"`
	// Models are the tiers' models that produced the capsules (from
	// their manifests), the model pack the numbers belong to.
	Models     map[string]string `json:"models,omitempty"`
	Provider   string            `json:"provider,omitempty"`
	Scripted   bool              `json:"scripted,omitempty"`
	QLPVersion string            `json:"qlp_version,omitempty"`
	StartedAt  time.Time         `json:"started_at"`
	Summary    Summary           `json:"summary"`
	Tasks      []TaskResult      `json:"tasks"`
}

// Validator tests a project in the sandbox; the Validation Mesh and its
// client implement it.
type Validator interface {
	Validate(ctx context.Context, req validation.Request) (*validation.Report, error)
}

// Runner runs evaluations through the API and grades with the validator.
type Runner struct {
	API       API
	Validator Validator
}

// Run runs every task of ds and grades it.
func (r *Runner) Run(ctx context.Context, ds *Dataset, o Options) (*Result, error) {
	if o.Concurrency == 0 {
		o.Concurrency = 2
	}
	if o.Concurrency < 1 || o.Concurrency > MaxConcurrency {
		return nil, fmt.Errorf("concurrency %d: want 1 to %d", o.Concurrency, MaxConcurrency)
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	res := &Result{Dataset: ds.Name, Digest: ds.Digest, Options: o, StartedAt: time.Now().UTC(), Tasks: make([]TaskResult, len(ds.Tasks))}
	var mu sync.Mutex
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for i, t := range ds.Tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				res.Tasks[i] = TaskResult{ID: t.ID, Language: t.Language, CostUSD: "0", FailureKind: FailGrading, Failure: ctx.Err().Error()}
				return
			}
			defer func() { <-sem }()
			tr, gen := r.runTask(ctx, t, o)
			res.Tasks[i] = tr
			if gen != nil {
				mu.Lock()
				if res.Models == nil {
					res.Models, res.Provider, res.Scripted, res.QLPVersion = gen.Models, gen.Provider, gen.Scripted, gen.QLPVersion
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluation interrupted: %w", err)
	}
	res.Summary = summarize(res.Tasks)
	return res, nil
}

func (r *Runner) runTask(ctx context.Context, t Task, o Options) (TaskResult, *capsule.Generator) {
	tr := TaskResult{ID: t.ID, Language: t.Language, CostUSD: "0", HiddenTests: len(t.HiddenTests)}
	start := time.Now()
	fail := func(kind, format string, args ...any) (TaskResult, *capsule.Generator) {
		tr.FailureKind, tr.Failure = kind, fmt.Sprintf(format, args...)
		tr.WallSeconds = time.Since(start).Seconds()
		return tr, nil
	}
	sub, err := r.API.Execute(ctx, orchestrator.ExecuteRequest{Description: t.Request, Constraints: map[string]any{"language": t.Language},
		TierOverride: o.Tier, UserID: "eval", Metadata: map[string]any{"eval_task": t.ID}}, "")
	if err != nil {
		return fail(FailJob, "submit: %v", err)
	}
	tr.JobID = sub.RequestID
	var st orchestrator.StatusResponse
	for {
		if st, err = r.API.Status(ctx, sub.WorkflowID); err != nil {
			return fail(FailGrading, "status of job %s: %v", sub.RequestID, err)
		}
		if st.Status == "completed" || st.Status == "failed" || st.Status == "cancelled" {
			break
		}
		select {
		case <-ctx.Done():
			return fail(FailGrading, "job %s: %v", sub.RequestID, ctx.Err())
		case <-time.After(o.Poll):
		}
	}
	tr.JobStatus = st.Status
	if st.Result != nil {
		for _, out := range st.Result.Outputs {
			tr.Attempts += out.Attempts
		}
		tr.TokensIn, tr.TokensOut = st.Result.Cost.TokensIn, st.Result.Cost.TokensOut
		if st.Result.Cost.USD != "" {
			tr.CostUSD = st.Result.Cost.USD
		}
		tr.CapsuleID = st.Result.CapsuleID
	}
	if st.Status != "completed" || tr.CapsuleID == "" {
		reason := st.Error
		if reason == "" {
			reason = "no capsule was produced"
		}
		return fail(FailJob, "job %s %s: %s", sub.RequestID, st.Status, reason)
	}
	archive, err := r.API.Download(ctx, tr.CapsuleID, 0, capsule.FormatZip)
	if err != nil {
		return fail(FailGrading, "download capsule %s: %v", tr.CapsuleID, err)
	}
	files, err := capsule.ReadArchive(archive)
	if err != nil {
		return fail(FailGrading, "capsule %s: %v", tr.CapsuleID, err)
	}
	var m capsule.Manifest
	if err := json.Unmarshal(files[capsule.ManifestFile], &m); err != nil {
		return fail(FailGrading, "capsule %s: manifest: %v", tr.CapsuleID, err)
	}
	// Grade the project as delivered, with the hidden tests added: QLP's
	// own files are not part of it.
	for p := range files {
		if capsule.OwnFile(p) {
			delete(files, p)
		}
	}
	for p, c := range t.HiddenTests {
		files[p] = []byte(c)
	}
	req := validation.Request{Language: t.Language, Quick: true, Label: "eval " + t.ID, Dependencies: m.Dependencies,
		Commands: validation.Commands{Build: m.Commands.Build, Test: m.Commands.Test}}
	if t.TestCommand != "" {
		req.Commands.Test = t.TestCommand
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		req.Files = append(req.Files, validation.File{Path: p, Content: string(files[p])})
	}
	rep, err := r.Validator.Validate(ctx, req)
	if err != nil {
		return fail(FailGrading, "testing capsule %s: %v", tr.CapsuleID, err)
	}
	gen := m.Generator
	tr.WallSeconds = time.Since(start).Seconds()
	ok, why := graded(rep)
	tr.TestsSummary = why
	if !ok {
		tr.FailureKind, tr.Failure = FailHiddenTests, why
		return tr, &gen
	}
	tr.Passed = true
	return tr, &gen
}

// graded decides from the report: the project must compile and its
// tests, the hidden ones included, must have run and passed.
func graded(rep *validation.Report) (bool, string) {
	ranTests := false
	for _, c := range rep.Checks {
		switch c.Category {
		case validation.CategoryCompile, validation.CategoryTests:
		default:
			continue
		}
		if c.Status == validation.StatusFailed {
			msg := c.Reason
			if msg == "" {
				msg = c.Message
			}
			if len(c.Findings) > 0 {
				msg = c.Findings[0].String()
			}
			return false, fmt.Sprintf("%s failed: %s", c.Name, firstLine(msg))
		}
		if c.Category == validation.CategoryTests && c.Status != validation.StatusSkipped {
			ranTests = true
		}
	}
	if !ranTests {
		return false, "the tests did not run: " + firstLine(rep.Summary)
	}
	if rep.Tests != nil {
		return true, fmt.Sprintf("%d tests passed", rep.Tests.Passed)
	}
	return true, "tests passed"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// summarize sums the tasks; dollars are added exactly.
func summarize(tasks []TaskResult) Summary {
	s := Summary{Tasks: len(tasks), Failures: map[string]int{}}
	total := new(big.Rat)
	for _, t := range tasks {
		if t.Passed {
			s.Passed++
		} else {
			s.Failures[t.FailureKind]++
		}
		s.Attempts += t.Attempts
		s.TokensIn += t.TokensIn
		s.TokensOut += t.TokensOut
		s.WallSecondsTotal += t.WallSeconds
		if c, ok := new(big.Rat).SetString(t.CostUSD); ok {
			total.Add(total, c)
		}
	}
	if s.Tasks > 0 {
		s.PassAt1 = float64(s.Passed) / float64(s.Tasks)
		s.AttemptsMean = float64(s.Attempts) / float64(s.Tasks)
		s.WallSecondsMean = s.WallSecondsTotal / float64(s.Tasks)
	}
	s.CostUSD = total.FloatString(6)
	if s.Passed > 0 {
		s.USDPerSolved = new(big.Rat).Quo(total, big.NewRat(int64(s.Passed), 1)).FloatString(6)
	}
	return s
}
