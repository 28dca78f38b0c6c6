package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/forge/forgetest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// actions plays GitHub Actions for a repository of a fake GitHub: on each
// commit a delivery round waits on, it runs the license check on the
// pushed tree (licenseCI), reports the result as a check run with the
// job's log, and sends GitHub's signed check_run webhook to the platform.
// It reports what went wrong on errs instead of failing the test from its
// goroutine.
func actions(ctx context.Context, pl *platform, gh *forgetest.GitHub, repo, secret, capsuleID string, errs chan<- error) {
	check := &licenseCI{g: gh.Git, repo: repo + ".git"}
	done := map[string]bool{}
	for ctx.Err() == nil {
		rounds, err := pl.p.Store.ListDeliveryRounds(ctx, "acme", capsuleID)
		if err == nil {
			for _, r := range rounds {
				if r.State != "pending" || done[r.SHA] {
					continue
				}
				done[r.SHA] = true
				gh.SetCheckRun(repo, r.SHA, "license", "", "")
				pr := delivery.PullRequest{Branch: r.Branch}
				// licenseCI answers pending on its first look, as a run
				// that has just started.
				st, err := check.CIStatus(ctx, pr, r.SHA)
				if err == nil {
					st, err = check.CIStatus(ctx, pr, r.SHA)
				}
				if err != nil {
					errs <- fmt.Errorf("actions on %s: %w", r.SHA, err)
					return
				}
				conclusion, log := "success", "all modules name their license\n"
				if st.State == delivery.CIFailure {
					conclusion, log = "failure", st.Failed[0].Log
				}
				gh.SetCheckRun(repo, r.SHA, "license", conclusion, log)
				body, _ := json.Marshal(map[string]any{"action": "completed", "repository": map[string]any{"full_name": repo},
					"check_run": map[string]any{"head_sha": r.SHA, "status": "completed", "conclusion": conclusion, "name": "license"}})
				if err := webhook(ctx, pl.srv.URL, body, forge.SignGitHub(secret, body), http.StatusAccepted); err != nil {
					errs <- err
					return
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// webhook posts a check_run event to the GitHub webhook route with the
// given signature, and wants the given status.
func webhook(ctx context.Context, base string, body []byte, signature string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v2/delivery/webhooks/github", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "check_run")
	req.Header.Set("X-Hub-Signature-256", signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return fmt.Errorf("webhook answered %d, want %d: %s", resp.StatusCode, want, b.String())
	}
	return nil
}

// TestDeliveryLoopThroughGitHub is issue 19 end to end as a team uses it:
// one deliver call with forge github and watch_ci creates the repository
// on a (fake) GitHub, pushes the capsule, opens the pull request and
// starts the delivery loop, which reads the CI through the GitHub client
// (check runs, the failing job's log behind its redirect). GitHub Actions
// is played by the test, woken-up loops by its signed webhooks (the loop
// polls only once an hour here). The first version fails the license
// check, the loop repairs it from the job's log, pushes version 2 to the
// pull request's branch, and its check passes. A webhook with a bad
// signature is refused and wakes nothing.
func TestDeliveryLoopThroughGitHub(t *testing.T) {
	const token, secret = "ghp_forge_loop_token_0123", "whsec-loop-0123"
	gh := forgetest.NewGitHub(t, token, "octo", "acme")
	var fixerPrompts []string
	var mu sync.Mutex
	pl := startPlatformWith(t, "", licenseModel(&fixerPrompts, &mu), func(cfg *config.Config, _ *app.Options) {
		cfg.Forge.GitHubURL = gh.URL + "/"
		cfg.Forge.GitHubWebhookSecret = secret
		cfg.Workflow.CIPollInterval = time.Hour
	})
	ctx := t.Context()
	capID := runJob(t, pl, "forge-loop-1")
	c := pl.client("acme")

	// A bad signature is refused before anything is read.
	body := []byte(`{"action":"completed","repository":{"full_name":"acme/ci-forge"},"check_run":{"head_sha":"abc","status":"completed","conclusion":"failure"}}`)
	require.NoError(t, webhook(ctx, pl.srv.URL, body, forge.SignGitHub("not-the-secret", body), http.StatusUnauthorized))
	require.NoError(t, webhook(ctx, pl.srv.URL, body, "", http.StatusUnauthorized))

	// watch_ci needs a forge.
	_, err := c.Deliver(ctx, capID, orchestrator.DeliverRequest{RemoteURL: gh.Git.URL + "/x.git", Token: token, WatchCI: true})
	require.Equal(t, "forge", requireAPIError(t, err, http.StatusBadRequest).Field)

	actx, stop := context.WithCancel(ctx)
	defer stop()
	errs := make(chan error, 1)
	go actions(actx, pl, gh, "acme/ci-forge", secret, capID, errs)

	res, err := c.Deliver(ctx, capID, orchestrator.DeliverRequest{Forge: "github", Repo: "acme/ci-forge", CreateRepo: true, Private: true,
		Token: token, WatchCI: true})
	require.NoError(t, err)
	require.NotNil(t, res.PullRequest)
	require.NotNil(t, res.DeliveryLoop, "watch_ci starts the loop")
	require.Equal(t, res.PullRequest.Branch, res.DeliveryLoop.Branch)
	require.Equal(t, gh.URL+"/", res.PullRequest.APIURL)
	require.Len(t, gh.PullRequests("acme/ci-forge"), 1)

	// The loop ends when version 2's check passes.
	deadline := time.Now().Add(4 * time.Minute)
	var rounds []orchestrator.DeliveryRound
	for {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		d, err := c.Deliveries(ctx, capID)
		require.NoError(t, err)
		rounds = d.Rounds
		if n := len(rounds); n > 0 && (rounds[n-1].State == "success" || rounds[n-1].State == "error") {
			break
		}
		require.True(t, time.Now().Before(deadline), "the delivery loop did not end: %+v", rounds)
		time.Sleep(200 * time.Millisecond)
	}
	require.Len(t, rounds, 2, "%+v", rounds)
	first, second := rounds[0], rounds[1]
	require.Equal(t, []any{1, "failure", []string{"license"}}, []any{first.Version, first.State, first.FailingRuns})
	require.Equal(t, []any{2, "success"}, []any{second.Version, second.State})
	require.Equal(t, res.Commit, first.SHA, "the loop's first push of the version the pull request holds adds no commit")
	require.Equal(t, second.SHA, gh.Git.Head(t, "acme/ci-forge.git", res.PullRequest.Branch), "version 2 is the pull request's head")

	// The fixer was given the failing job's log, read from GitHub.
	mu.Lock()
	require.Len(t, fixerPrompts, 1)
	require.Contains(t, fixerPrompts[0], "value.py:1: the module's first line must name its license (rule license-header)")
	mu.Unlock()
	diff, err := c.CapsuleDiff(ctx, capID, 1, 2)
	require.NoError(t, err)
	require.Contains(t, diff.Unified(), "+\"\"\"The value. License: MIT.\"\"\"\n")
	files := gh.Git.CloneBack(t, "acme/ci-forge.git", res.PullRequest.Branch)
	require.True(t, strings.HasPrefix(string(files["value.py"]), `"""The value. License: MIT."""`), "the branch holds the repaired module")
}
