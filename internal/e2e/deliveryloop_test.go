package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/delivery/gittest"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// licenseCI plays a team's CI on a real git server: it clones the pushed
// commit and requires the first line of every Python module that is not a
// test to name its license, reporting file and line of each module that
// does not. The first look at each commit answers pending, as a CI that is
// still running does.
type licenseCI struct {
	g    *gittest.Server
	repo string
	// onFailure runs when a commit fails (revoking the token, say).
	onFailure func()

	mu    sync.Mutex
	looks map[string]int
	logs  []string
}

func (c *licenseCI) CIStatus(ctx context.Context, pr delivery.PullRequest, sha string) (delivery.CIStatus, error) {
	c.mu.Lock()
	if c.looks == nil {
		c.looks = map[string]int{}
	}
	c.looks[sha]++
	first := c.looks[sha] == 1
	c.mu.Unlock()
	if first {
		return delivery.CIStatus{State: delivery.CIPending}, nil
	}
	files, err := c.g.Tree(ctx, c.repo, pr.Branch, sha)
	if err != nil {
		return delivery.CIStatus{}, err
	}
	var bad []string
	for p, b := range files {
		if !strings.HasSuffix(p, ".py") || strings.HasPrefix(filepath.Base(p), "test_") {
			continue
		}
		if line, _, _ := strings.Cut(string(b), "\n"); !strings.Contains(line, "License:") {
			bad = append(bad, p+":1: the module's first line must name its license (rule license-header)")
		}
	}
	if len(bad) == 0 {
		return delivery.CIStatus{State: delivery.CISuccess}, nil
	}
	sort.Strings(bad)
	log := "Run python3 tools/check_license.py\n" + strings.Join(bad, "\n") + "\nError: Process completed with exit code 1.\n"
	c.mu.Lock()
	c.logs = append(c.logs, log)
	c.mu.Unlock()
	if c.onFailure != nil {
		c.onFailure()
	}
	return delivery.CIStatus{State: delivery.CIFailure, Failed: []delivery.CIRun{{Name: "license", URL: "https://ci.example/runs/7", Log: log}}}, nil
}

func (c *licenseCI) factory(delivery.PullRequest, delivery.Auth) (delivery.CI, error) { return c, nil }

// licenseModel plans a one-task Python project whose coder writes
// value.py without a license line and whose fixer adds it.
func licenseModel(fixerPrompts *[]string, mu *sync.Mutex) llmtest.Handler {
	answer := func(doc string) string {
		return llmtest.JSON(map[string]any{"summary": "value() returns 42", "files": []map[string]string{
			{"path": "value.py", "content": doc + "\n\n\ndef value() -> int:\n    \"\"\"Return 42.\"\"\"\n    return 42\n"},
			{"path": "test_value.py", "content": "from value import value\n\n\ndef test_value() -> None:\n    assert value() == 42\n"}}})
	}
	return func(c llmtest.Call) llmtest.Reply {
		switch c.Role {
		case "decomposer":
			return llmtest.Reply{Content: `{"project":{"name":"ci-py","language":"python","commands":{"test":"python3 -m pytest -q","run":"python3 -m pytest -q"}},` +
				`"tasks":[{"id":"t1","type":"code_generation","description":"value.py: value() returns 42, and its pytest test","complexity":"simple","dependencies":[]}]}`}
		case "fixer":
			mu.Lock()
			*fixerPrompts = append(*fixerPrompts, c.Prompt())
			mu.Unlock()
			return llmtest.Reply{Content: answer(`"""The value. License: MIT."""`)}
		}
		return llmtest.Reply{Content: answer(`"""The value."""`)}
	}
}

// wakeWhilePending plays the forge's webhook: while ctx lasts, every
// delivery round waiting on a commit is woken through the orchestrator's
// CIWaker. The loops poll once an hour, so without the wake-ups they would
// not finish within the test.
func wakeWhilePending(ctx context.Context, t *testing.T, pl *platform, capsules ...string) {
	go func() {
		for ctx.Err() == nil {
			for _, id := range capsules {
				rs, err := pl.p.Store.ListDeliveryRounds(ctx, "acme", id)
				if err != nil {
					continue
				}
				for _, r := range rs {
					if r.State == "pending" {
						_ = pl.p.Orchestrator.WakeCI(ctx, delivery.CIEvent{Forge: r.Forge, Repo: r.Repo, SHA: r.SHA, State: delivery.CIFailure})
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

func runJob(t *testing.T, pl *platform, id string) string {
	t.Helper()
	c := pl.client("acme")
	sub, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{ID: id, Description: "a Python module whose value() returns 42, with a pytest test"}, "")
	require.NoError(t, err)
	require.Equal(t, "workflow_completed", lastEvent(pl.waitTerminal("acme", sub.WorkflowID)))
	st, err := c.Status(t.Context(), id)
	require.NoError(t, err)
	return st.Result.CapsuleID
}

// historyText is every event of a workflow's history as text.
func historyText(t *testing.T, pl *platform, id string) string {
	t.Helper()
	var b strings.Builder
	it := pl.p.Engine.Client.GetWorkflowHistory(t.Context(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestDeliveryLoopRepairsFromCI is issue 19's acceptance of the CI watch
// and repair: a capsule's first version, pushed to a pull request's branch
// on a real git server, fails the team's CI (which names value.py:1); the
// delivery loop repairs it through the job's repair loop with the CI log
// as the failure (validated in the sandbox), stores version 2 as a child
// of version 1, pushes it to the same branch, and the CI passes. The diff
// of the two versions fixes what the log named and applies to a checkout
// of the first; both rounds are recorded; the workflow's history never
// holds the token. A token revoked mid-loop fails the next round clearly,
// before any repair, leaving the remote and the capsule as they were.
func TestDeliveryLoopRepairsFromCI(t *testing.T) {
	const token = "ghp_loopsecret0123456789"
	g := gittest.Start(t, token, "ci-py.git", "ci-py-2.git")
	ci := &licenseCI{g: g, repo: "ci-py.git"}
	// The CI of the revoked-token case revokes the token when it fails.
	revoking := &licenseCI{g: g, repo: "ci-py-2.git", onFailure: func() { g.SetToken("ghp_rotated") }}
	var fixerPrompts []string
	var mu sync.Mutex
	pl := startPlatformWith(t, "", licenseModel(&fixerPrompts, &mu), func(cfg *config.Config, o *app.Options) {
		cfg.Workflow.CIPollInterval = time.Hour
		o.CI = func(pr delivery.PullRequest, a delivery.Auth) (delivery.CI, error) {
			if pr.Repo == "acme/ci-py-2" {
				return revoking.factory(pr, a)
			}
			return ci.factory(pr, a)
		}
	})
	ctx := t.Context()
	c := pl.client("acme")
	capID := runJob(t, pl, "ci-loop-1")
	wctx, stopWaking := context.WithCancel(ctx)
	defer stopWaking()
	wakeWhilePending(wctx, t, pl, capID)

	pr := delivery.PullRequest{Forge: "github", Repo: "acme/ci-py", Number: 3, URL: "https://github.example/acme/ci-py/pull/3", Branch: "qlp/ci-py", Base: "main"}
	for _, bad := range []struct {
		remote, branch, token, field string
	}{
		{g.URL + "/ci-py.git", "qlp/../x", token, "branch"},
		{strings.Replace(g.URL, "http://", "http://u:p@", 1) + "/ci-py.git", "qlp/ci-py", token, "remote_url"},
		{g.URL + "/ci-py.git", "qlp/ci-py", "", "token"},
	} {
		p := pr
		p.Branch = bad.branch
		_, err := pl.p.Orchestrator.StartDeliveryLoop(ctx, "acme", capID, 0, bad.remote, p, delivery.Auth{Token: bad.token})
		var he *httpx.Error
		require.ErrorAs(t, err, &he, bad.field)
		require.Equal(t, []any{http.StatusBadRequest, bad.field}, []any{he.Status, he.Field})
	}
	_, err := pl.p.Orchestrator.StartDeliveryLoop(ctx, "globex", capID, 0, g.URL+"/ci-py.git", pr, delivery.Auth{Token: token})
	var nf *httpx.Error
	require.ErrorAs(t, err, &nf)
	require.Equal(t, http.StatusNotFound, nf.Status, "another tenant's capsule")
	loop, err := pl.p.Orchestrator.StartDeliveryLoop(ctx, "acme", capID, 0, g.URL+"/ci-py.git", pr, delivery.Auth{Token: token})
	require.NoError(t, err)
	require.Equal(t, 1, loop.Version)
	var res workflow.DeliveryResult
	wctx2, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	require.NoError(t, pl.p.Engine.Client.GetWorkflow(wctx2, loop.ID, "").Get(wctx2, &res))
	require.Equal(t, "success", res.State)
	require.Equal(t, 2, res.Rounds)
	require.Equal(t, 2, res.Version)

	// Both rounds, through the API.
	d, err := c.Deliveries(ctx, capID)
	require.NoError(t, err)
	require.Len(t, d.Rounds, 2)
	commits := strings.Fields(gittest.Git(t, filepath.Join(g.Root, "ci-py.git"), "log", "--format=%H", "qlp/ci-py"))
	require.Len(t, commits, 2, "version 2 went to the same branch, on top of version 1")
	first, second := d.Rounds[0], d.Rounds[1]
	require.Equal(t, []any{1, 1, "failure", []string{"license"}, commits[1]}, []any{first.Round, first.Version, first.State, first.FailingRuns, first.SHA})
	require.Equal(t, []any{2, 2, "success", commits[0]}, []any{second.Round, second.Version, second.State, second.SHA})
	require.Equal(t, 3, first.PullRequest)
	require.NotEqual(t, "0.000000", second.CostUSD, "the repair's model call is metered into its round")
	require.Equal(t, res.SHA, second.SHA)

	// The CI log named value.py:1; the fixer got it; the diff fixes it.
	require.Len(t, ci.logs, 1)
	require.Contains(t, ci.logs[0], "value.py:1: the module's first line must name its license")
	require.Len(t, fixerPrompts, 1)
	require.Contains(t, fixerPrompts[0], "value.py:1: the module's first line must name its license (rule license-header)")
	diff, err := c.CapsuleDiff(ctx, capID, 1, 2)
	require.NoError(t, err)
	var paths []string
	for _, f := range diff.Files {
		paths = append(paths, f.Path+" "+f.Change)
	}
	require.Contains(t, paths, "value.py modified")
	for _, f := range diff.Files {
		if f.Path == "value.py" {
			require.Contains(t, f.Diff, "@@ -1,4 +1,4 @@")
			require.Contains(t, f.Diff, "-\"\"\"The value.\"\"\"\n+\"\"\"The value. License: MIT.\"\"\"\n")
		}
	}
	code, raw, hdr := pl.call("GET", fmt.Sprintf("/api/v2/capsules/%s/diff?from=1&to=2", capID), pl.keys["acme"], nil, map[string]string{"Accept": "text/x-diff"})
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Contains(t, hdr.Get("Content-Type"), "text/x-diff")
	require.Equal(t, diff.Unified(), string(raw))
	for q, field := range map[string]string{"from=x&to=2": "from", "from=1": "to", "from=0&to=2": "from"} {
		code, body, _ := pl.call("GET", "/api/v2/capsules/"+capID+"/diff?"+q, pl.keys["acme"], nil, nil)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Contains(t, string(body), `"field":"`+field+`"`, q)
	}
	code, _, _ = pl.call("GET", "/api/v2/capsules/"+capID+"/diff?from=1&to=9", pl.keys["acme"], nil, nil)
	require.Equal(t, http.StatusNotFound, code, "a version the capsule does not have")
	// The plain diff turns a checkout of the first round's commit into
	// the second's.
	work := t.TempDir()
	gittest.Git(t, work, "clone", "--quiet", "--branch", "qlp/ci-py", g.AuthURL("ci-py.git"), "co")
	co := filepath.Join(work, "co")
	gittest.Git(t, co, "checkout", "--quiet", first.SHA)
	patch := filepath.Join(work, "v1-v2.diff")
	require.NoError(t, os.WriteFile(patch, raw, 0o600))
	gittest.Git(t, co, "apply", patch)
	gittest.Git(t, co, "add", "-A")
	require.Equal(t, gittest.Git(t, co, "rev-parse", second.SHA+"^{tree}"), gittest.Git(t, co, "write-tree"), "the patched checkout is the second version's tree")

	// The token never sat in clear in Temporal's history.
	hist := historyText(t, pl, loop.ID)
	require.Contains(t, hist, "qlp/ci-py", "the history is read")
	require.NotContains(t, hist, token)
	require.NotContains(t, hist, "ghp_loopsecret")

	// A token revoked mid-loop: the CI fails, the token is revoked, the
	// next round stops before any repair.
	capB := runJob(t, pl, "ci-loop-2")
	wakeWhilePending(wctx, t, pl, capB)
	prB := delivery.PullRequest{Forge: "github", Repo: "acme/ci-py-2", Number: 4, Branch: "qlp/ci-py-2", Base: "main"}
	loopB, err := pl.p.Orchestrator.StartDeliveryLoop(ctx, "acme", capB, 0, g.URL+"/ci-py-2.git", prB, delivery.Auth{Token: token})
	require.NoError(t, err)
	err = pl.p.Engine.Client.GetWorkflow(wctx2, loopB.ID, "").Get(wctx2, &res)
	require.Error(t, err)
	require.Contains(t, err.Error(), "round 2: not repaired")
	require.Contains(t, err.Error(), "the git remote refused the credentials")
	require.NotContains(t, err.Error(), token)
	dB, err := c.Deliveries(ctx, capB)
	require.NoError(t, err)
	require.Len(t, dB.Rounds, 2)
	require.Equal(t, "failure", dB.Rounds[0].State)
	require.Equal(t, "error", dB.Rounds[1].State)
	require.Contains(t, dB.Rounds[1].Error, "the git remote refused the credentials")
	g.SetToken(token)
	require.Equal(t, dB.Rounds[0].SHA, g.Head(t, "ci-py-2.git", "qlp/ci-py-2"), "the remote is unchanged")
	detail, err := c.Capsule(ctx, capB, 0)
	require.NoError(t, err)
	require.Equal(t, 1, detail.LatestVersion, "the capsule is unchanged")
	require.Len(t, fixerPrompts, 1, "no repair was attempted")
	require.NotContains(t, historyText(t, pl, loopB.ID), token)
}
