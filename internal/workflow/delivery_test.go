package workflow_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/delivery/gittest"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/store"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// testCI plays a team's CI: for each commit it is asked about, it clones
// that commit from the git server and runs check on its files; check's
// lines are the failing run's log (none: the CI passes). The first look at
// a commit can answer pending, as a CI that has not finished does.
type testCI struct {
	g            *gittest.Server
	repo         string
	run          string
	check        func(files map[string][]byte) []string
	pendingFirst bool
	// pending: the CI never finishes.
	pending bool
	// onFailure runs when a commit fails (to revoke the token, say).
	onFailure func()

	mu    sync.Mutex
	looks map[string]int
	seen  []string // the commits it judged, in order
}

func (c *testCI) CIStatus(ctx context.Context, pr delivery.PullRequest, sha string) (delivery.CIStatus, error) {
	c.mu.Lock()
	if c.looks == nil {
		c.looks = map[string]int{}
	}
	c.looks[sha]++
	n := c.looks[sha]
	c.mu.Unlock()
	if c.pending || c.pendingFirst && n == 1 {
		return delivery.CIStatus{State: delivery.CIPending}, nil
	}
	files, err := c.g.Tree(ctx, c.repo, pr.Branch, sha)
	if err != nil {
		return delivery.CIStatus{}, err
	}
	c.mu.Lock()
	c.seen = append(c.seen, sha)
	c.mu.Unlock()
	if lines := c.check(files); len(lines) > 0 {
		if c.onFailure != nil {
			c.onFailure()
		}
		log := "$ qlp-ci " + c.run + "\n" + strings.Join(lines, "\n") + fmt.Sprintf("\n%d problem(s)\nError: Process completed with exit code 1.\n", len(lines))
		return delivery.CIStatus{State: delivery.CIFailure, Failed: []delivery.CIRun{{Name: c.run, URL: "https://ci.example/runs/1", Log: log}}}, nil
	}
	return delivery.CIStatus{State: delivery.CISuccess}, nil
}

func (c *testCI) factory(pr delivery.PullRequest, _ delivery.Auth) (delivery.CI, error) {
	return c, nil
}

// deliverySetup runs the example job to its capsule and readies a delivery
// loop of it to a branch of a real git server.
type deliverySetup struct {
	h         *harness
	g         *gittest.Server
	capsuleID string
	in        wf.DeliveryInput
}

const deliveryToken = "ghp_deliverytoken123"

func newDeliverySetup(t *testing.T, h *harness, jobID string, ci *testCI) *deliverySetup {
	t.Helper()
	request, _ := exampleRules(t)
	h.newJob(t, jobID, request, "")
	h.run(jobID)
	require.NoError(t, h.env.GetWorkflowError())
	job, err := h.store.GetJob(t.Context(), "acme", jobID)
	require.NoError(t, err)
	g := gittest.Start(t, deliveryToken, "shorty.git")
	ci.g, ci.repo = g, "shorty.git"
	sealer, err := delivery.NewSealer(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	h.acts.Sealer, h.acts.CI = sealer, ci.factory
	sealed, err := sealer.Seal(delivery.Auth{Token: deliveryToken})
	require.NoError(t, err)
	pr := delivery.PullRequest{Forge: "test", Repo: "acme/shorty", Number: 1, Branch: "qlp/shorty", Base: "main"}
	return &deliverySetup{h: h.again(t), g: g, capsuleID: job.CapsuleID,
		in: wf.DeliveryInput{TenantID: "acme", CapsuleID: job.CapsuleID, Version: 1, Remote: g.URL + "/shorty.git", PR: pr, SealedAuth: sealed}}
}

func (d *deliverySetup) run() error {
	d.h.env.ExecuteWorkflow(wf.DeliveryWorkflowName, d.in)
	return d.h.env.GetWorkflowError()
}

func (d *deliverySetup) rounds(t *testing.T) []store.DeliveryRound {
	rs, err := d.h.store.ListDeliveryRounds(t.Context(), "acme", d.capsuleID)
	require.NoError(t, err)
	return rs
}

func (d *deliverySetup) commits(t *testing.T) []string {
	return strings.Fields(gittest.Git(t, filepath.Join(d.g.Root, "shorty.git"), "log", "--format=%H", "qlp/shorty"))
}

// missingChangelog is a CI rule the capsule never satisfies, and whose
// log names no file of it.
func missingChangelog(files map[string][]byte) []string {
	if _, ok := files["CHANGELOG.md"]; ok {
		return nil
	}
	return []string{"required file CHANGELOG.md is missing"}
}

// TestDeliveryLoopStopsAfterMaxRounds: a CI that keeps failing gets one
// repair per round and no more than max rounds of pushes; each round is
// recorded with its version, commit, state and failing run, the repair's
// version is a child of the pushed one, and the fixer was given the CI log.
func TestDeliveryLoopStopsAfterMaxRounds(t *testing.T) {
	main, err := os.ReadFile(filepath.Join(exampleDir, "tasks/t3/files/main.go"))
	require.NoError(t, err)
	_, rules := exampleRules(t)
	rules = append(rules, llmtest.Rule{Role: "fixer", TaskID: "t3", Replies: []llmtest.Reply{{Content: llmtest.JSON(map[string]any{
		"summary": "main.go: no change can add a changelog", "files": []map[string]string{{"path": "main.go", "content": string(main)}}})}}})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	ci := &testCI{run: "lint", check: missingChangelog, pendingFirst: true}
	d := newDeliverySetup(t, h, "dl-max", ci)
	d.in.MaxRounds = 2
	err = d.run()
	require.Error(t, err)
	require.Contains(t, err.Error(), "the CI still fails after 2 round(s) (max rounds): lint")

	rs := d.rounds(t)
	require.Len(t, rs, 2)
	commits := d.commits(t)
	require.Len(t, commits, 2, "two pushes, no third")
	for i, r := range rs {
		require.Equal(t, i+1, r.Round)
		require.Equal(t, i+1, r.Version)
		require.Equal(t, "failure", r.State)
		require.Equal(t, []string{"lint"}, r.FailingRuns)
		require.Equal(t, commits[len(commits)-1-i], r.SHA)
		require.Equal(t, "qlp/shorty", r.Branch)
	}
	require.Zero(t, rs[0].CostPUSD, "the first version was there already")
	require.Positive(t, rs[1].CostPUSD, "the repair's model call is metered into its round")
	require.Equal(t, []string{rs[0].SHA, rs[1].SHA}, ci.seen, "every commit was judged after a pending look")

	fixer := h.srv.CallsFor("fixer")
	require.Len(t, fixer, 1, "one repair: the second failure ends the loop")
	require.Contains(t, fixer[0].Prompt(), "The team's CI failed on the pushed commit "+rs[0].SHA[:12])
	require.Contains(t, fixer[0].Prompt(), "required file CHANGELOG.md is missing")

	v2, err := d.h.store.GetCapsuleVersion(t.Context(), "acme", d.capsuleID, 2)
	require.NoError(t, err)
	require.Equal(t, 1, v2.ParentVersion)
	require.Contains(t, v2.Message, "delivery round 2: repaired what the CI of "+rs[0].SHA[:12]+" found (failing: lint)")
	attempts, err := h.store.ListAttempts(t.Context(), "dl-max", "t3")
	require.NoError(t, err)
	last := attempts[len(attempts)-1]
	require.Equal(t, store.PhaseCapsule, last.Phase, "the repair is a capsule-phase attempt of the task")
	require.Equal(t, store.AttemptPassed, last.Status)
}

// TestDeliveryLoopStopsWhenTheBudgetIsSpent: the request's budget is
// spent when the CI fails: the repair's model call is refused before it
// is made, the round ends in error saying so, and nothing new is pushed
// or stored.
func TestDeliveryLoopStopsWhenTheBudgetIsSpent(t *testing.T) {
	h := guardHarness(t, "1", "stop")
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	ci := &testCI{run: "lint", check: missingChangelog}
	d := newDeliverySetup(t, h, "dl-budget", ci)
	tot, err := h.store.SumUsage(t.Context(), store.UsageFilter{JobID: "dl-budget"})
	require.NoError(t, err)
	limit := tot.CostPUSD
	require.NoError(t, h.store.PutBudget(t.Context(), store.Budget{TenantID: "acme", RequestPUSD: &limit}))
	calls := len(h.srv.Calls())

	err = d.run()
	require.Error(t, err)
	require.Contains(t, err.Error(), "budget exceeded")
	require.Len(t, h.srv.Calls(), calls, "no model call was made")
	rs := d.rounds(t)
	require.Len(t, rs, 2)
	require.Equal(t, "failure", rs[0].State)
	require.Equal(t, "error", rs[1].State)
	require.Contains(t, rs[1].Error, "budget exceeded")
	require.Len(t, d.commits(t), 1, "nothing more was pushed")
	c, err := h.store.GetCapsule(t.Context(), "acme", d.capsuleID)
	require.NoError(t, err)
	require.Equal(t, 1, c.LatestVersion, "no new version")
	v1, err := h.store.GetCapsuleVersion(t.Context(), "acme", d.capsuleID, 1)
	require.NoError(t, err)
	tasks, err := h.store.ListTasks(t.Context(), "dl-budget")
	require.NoError(t, err)
	for _, task := range tasks {
		require.Equal(t, store.TaskCompleted, task.Status, "the job's tasks are back where they were: %s", task.ID)
		for _, f := range task.Files {
			require.Equal(t, string(fileOf(v1, f.Path)), f.Content, "task %s holds version 1's %s", task.ID, f.Path)
		}
	}
}

func fileOf(v store.CapsuleVersion, path string) []byte {
	for _, f := range v.Files {
		if f.Path == path {
			return f.Content
		}
	}
	return nil
}

// TestCIRoutingNamesFilesAndLines: a CI log line naming a file of the
// project (with a checkout's prefix) becomes a finding of the task that
// owns it.
func TestCIRoutingNamesFilesAndLines(t *testing.T) {
	got := wf.CIFindings(map[string]string{"main.go": "t3", "shortener/store.go": "t1"}, []string{"t1", "t2", "t3"},
		[]delivery.CIRun{{Name: "vet", Log: "# example.com/shorty\n/home/runner/work/shorty/shorty/shortener/store.go:12:5: unreachable code\n./main.go:3: x\n"},
			{Name: "docs", Log: "README is stale"}})
	sort.Strings(got)
	require.Equal(t, []string{"t1 vet shortener/store.go:12:5", "t3 docs :0:0", "t3 vet main.go:3:0"}, got)
}

// TestDeliveryLoopStopsWaitingForACIThatNeverFinishes: a commit whose CI
// stays pending is looked at every poll interval, then given up with the
// round in error, so that the workflow's history stays bounded.
func TestDeliveryLoopStopsWaitingForACIThatNeverFinishes(t *testing.T) {
	_, rules := exampleRules(t)
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	ci := &testCI{run: "lint", check: missingChangelog, pending: true}
	d := newDeliverySetup(t, h, "dl-pending", ci)
	d.in.PollInterval = 10 * time.Minute
	err := d.run()
	require.Error(t, err)
	require.Contains(t, err.Error(), "round 1: the CI of ")
	require.Contains(t, err.Error(), "did not finish within 6h0m0s")
	rs := d.rounds(t)
	require.Len(t, rs, 1)
	require.Equal(t, "error", rs[0].State)
	ci.mu.Lock()
	defer ci.mu.Unlock()
	require.Equal(t, 37, ci.looks[rs[0].SHA], "a look at the push and one every 10 minutes for 6 hours")
	require.Empty(t, ci.seen, "it never finished")
}
