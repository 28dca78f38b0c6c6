package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx/logtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// TestReviewDecisionsSurviveRestarts runs a job whose tasks all wait for a
// review (QLP_HITL_THRESHOLD=1) in a qlp process that is killed (kill -9)
// while the job waits, twice: a request for changes made after the first
// restart reaches the fixer's prompt, and an approval made after the second
// resumes the job to completion. The /hitl API's errors are checked on the
// way: 404 for another tenant, 400 for a bad decision, 409 for a second one.
func TestReviewDecisionsSurviveRestarts(t *testing.T) {
	request, rules := exampleScript(t)
	fixed, err := os.ReadFile(filepath.Join(exampleDir, "tasks/t1/files/shortener/store.go"))
	require.NoError(t, err)
	rules = append(rules, llmtest.Rule{Role: "fixer", TaskID: "t1", Replies: []llmtest.Reply{{Content: llmtest.JSON(map[string]any{
		"summary": "codes are compared in constant time", "files": []map[string]string{{"path": "shortener/store.go", "content": string(fixed)}}})}}})
	model := llmtest.New(llmtest.NewScript(rules...).Handle)
	defer model.Close()

	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := childEnv(t, apiAddr, model.URL, "QLP_HITL_THRESHOLD=1", "QLP_HITL_ON_TIMEOUT=wait")
	keys := map[string]string{}
	for _, tenant := range []string{"acme", "globex"} {
		out, err := qlpProcess(t, env, "apikey", "create", "--tenant", tenant, "--json").Output()
		require.NoError(t, err)
		var key struct{ Key string }
		require.NoError(t, json.Unmarshal(out, &key))
		keys[tenant] = key.Key
	}

	logs := filepath.Join(t.TempDir(), "child.log")
	logtest.Keep(t, logs)
	var proc *exec.Cmd
	start := func() {
		proc = qlpProcess(t, env, platformArgs()...)
		f, err := os.OpenFile(logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		require.NoError(t, err)
		proc.Stdout, proc.Stderr = f, f
		require.NoError(t, proc.Start())
	}
	kill := func() {
		require.NoError(t, syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)) // the whole process group
		_ = proc.Wait()
	}
	defer func() {
		_ = syscall.Kill(-proc.Process.Pid, syscall.SIGTERM)
		_ = proc.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logs)
			t.Logf("qlp logs:\n%s", b)
		}
	}()
	// One generous deadline for the whole test (see overall).
	ctx := overall(t, 15*time.Minute)
	base := "http://" + apiAddr
	start()
	waitReady(ctx, t, base)
	c := orchestrator.NewClient(base, auth.Secret(keys["acme"]), nil)
	other := orchestrator.NewClient(base, auth.Secret(keys["globex"]), nil)
	sub, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "")
	require.NoError(t, err)

	// waitReview waits for the pending review of a task's attempt.
	waitReview := func(taskID string, attempt int) orchestrator.ReviewInfo {
		t.Helper()
		for {
			list, err := c.PendingReviews(ctx)
			require.NoError(t, err, "waiting for the review of task %s attempt %d", taskID, attempt)
			for _, r := range list.Reviews {
				if r.TaskID == taskID && r.Attempt == attempt {
					return r
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no review of task %s attempt %d came before the test's deadline", taskID, attempt)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}

	r1 := waitReview("t1", 1)
	require.Equal(t, sub.RequestID, r1.RequestID)
	require.Equal(t, "pending", r1.Status)
	require.NotNil(t, r1.Confidence)
	kill()
	start()
	waitReady(ctx, t, base)

	_, err = other.Review(t.Context(), r1.ID)
	requireAPIError(t, err, http.StatusNotFound)
	_, err = other.RespondReview(t.Context(), r1.ID, orchestrator.ReviewResponse{Decision: "approve"})
	requireAPIError(t, err, http.StatusNotFound)
	_, err = c.RespondReview(t.Context(), r1.ID, orchestrator.ReviewResponse{Decision: "ship-it"})
	require.Equal(t, "decision", requireAPIError(t, err, http.StatusBadRequest).Field)
	_, err = c.RespondReview(t.Context(), r1.ID, orchestrator.ReviewResponse{Decision: "request_changes"})
	require.Equal(t, "comment", requireAPIError(t, err, http.StatusBadRequest).Field)

	const comment = "please use constant-time compare"
	got, err := c.RespondReview(t.Context(), r1.ID, orchestrator.ReviewResponse{Decision: "request_changes", Comment: comment, Reviewer: "alice"})
	require.NoError(t, err)
	require.Equal(t, "changes_requested", got.Status)
	_, err = c.RespondReview(t.Context(), r1.ID, orchestrator.ReviewResponse{Decision: "approve"})
	requireAPIError(t, err, http.StatusConflict)

	r2 := waitReview("t1", 2)
	fixer := model.CallsFor("fixer")
	require.Len(t, fixer, 1)
	require.Contains(t, fixer[0].Prompt(), "### The reviewer asks\n"+comment, "the comment reaches the next attempt's prompt")
	kill()
	start()
	waitReady(ctx, t, base)

	// The CLI approves t1's second attempt; the other tasks are approved
	// through the earlier QLP's HITLResponse body.
	out, err := qlpProcess(t, append(env, "QLP_URL="+base, "QLP_API_KEY="+keys["acme"]), "review", "approve", r2.ID, "--reviewer", "carol").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "approved by carol")

	for {
		st, err := c.Status(ctx, sub.WorkflowID)
		require.NoError(t, err)
		if st.Status == "completed" || st.Status == "failed" || st.Status == "cancelled" {
			require.Equal(t, "completed", st.Status, st.Error)
			require.Equal(t, 3, st.Result.TasksCompleted)
			break
		}
		list, err := c.PendingReviews(ctx)
		require.NoError(t, err)
		for _, r := range list.Reviews {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/hitl/respond/"+r.ID,
				strings.NewReader(`{"request_id":"`+r.ID+`","user_id":"bob","response":{"approved":true,"comments":"fine"}}`))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+keys["acme"])
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the job did not finish after its reviews were approved")
		case <-time.After(300 * time.Millisecond):
		}
	}
	first, err := c.Review(t.Context(), r1.ID)
	require.NoError(t, err)
	require.Equal(t, "alice", first.DecidedBy)
	require.Equal(t, comment, first.Comment)
	second, err := c.Review(t.Context(), r2.ID)
	require.NoError(t, err)
	require.Equal(t, "approved", second.Status)
	require.Equal(t, "carol", second.DecidedBy)
	list, err := c.PendingReviews(t.Context())
	require.NoError(t, err)
	require.Zero(t, list.Count)
}
