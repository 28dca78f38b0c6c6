package workflow_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// decideFn says how the test's reviewer decides a pending review; ok=false
// leaves it pending.
type decideFn func(r store.Review) (decision, comment string, ok bool)

// reviewer decides the job's pending reviews as the API does (record the
// decision, then signal the workflow), once a minute of workflow time. It
// first sends a decision for a review that does not exist, which the
// workflow must ignore.
func (h *harness) reviewer(t *testing.T, jobID string, decide decideFn) {
	t.Helper()
	var tick func()
	first := true
	tick = func() {
		if first {
			first = false
			h.env.SignalWorkflow(wf.ReviewSignal, wf.ReviewDecision{ReviewID: "rv-nobody", Decision: wf.DecisionReject, DecidedBy: "mallory"})
		}
		pending, err := h.store.ListReviews(t.Context(), "acme", store.ReviewPending)
		require.NoError(t, err)
		for _, r := range pending {
			if r.JobID != jobID {
				continue
			}
			decision, comment, ok := decide(r)
			if !ok {
				continue
			}
			status := map[string]string{wf.DecisionApprove: store.ReviewApproved, wf.DecisionReject: store.ReviewRejected,
				wf.DecisionRequestChanges: store.ReviewChangesRequested}[decision]
			require.NoError(t, h.store.DecideReview(t.Context(), r.ID, status, comment, "alice", time.Now()))
			h.env.SignalWorkflow(wf.ReviewSignal, wf.ReviewDecision{ReviewID: r.ID, Decision: decision, Comment: comment, DecidedBy: "alice"})
		}
		h.env.RegisterDelayedCallback(tick, time.Minute)
	}
	h.env.RegisterDelayedCallback(tick, time.Minute)
}

// approveOthers approves every review but t1's, which decide handles.
func approveOthers(t1 decideFn) decideFn {
	return func(r store.Review) (string, string, bool) {
		if r.TaskID != "t1" {
			return wf.DecisionApprove, "", true
		}
		return t1(r)
	}
}

// reviewPolicy sends every task of the example to review: no attempt
// reaches a confidence of 1 (and unvalidated ones count as 0).
func reviewPolicy(onTimeout string, timeout time.Duration) wf.ReviewPolicy {
	return wf.ReviewPolicy{Threshold: 1, OnTimeout: onTimeout, Timeout: timeout}
}

const reviewComment = "please use constant-time compare"

func fixedStoreReply(t *testing.T) llmtest.Reply {
	return llmtest.Reply{Content: llmtest.JSON(map[string]any{"summary": "compares codes in constant time",
		"files": []map[string]string{{"path": "shortener/store.go", "content": correctStore(t)}}})}
}

// A reviewer's request for changes reaches the fixer's prompt as the next
// attempt; the review of that attempt approves it and the job completes.
func TestReviewRequestChangesReachesTheNextPromptAndApproveResumes(t *testing.T) {
	request, rules := exampleRules(t)
	rules = append(rules, llmtest.Rule{Role: "fixer", TaskID: "t1", Replies: []llmtest.Reply{fixedStoreReply(t)}})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	h.newJob(t, "rv-1", request, "")
	var waiting wf.State
	h.reviewer(t, "rv-1", approveOthers(func(r store.Review) (string, string, bool) {
		if r.Attempt == 1 {
			v, err := h.env.QueryWorkflow(wf.ProgressQuery)
			require.NoError(t, err)
			require.NoError(t, v.Get(&waiting))
			return wf.DecisionRequestChanges, reviewComment, true
		}
		return wf.DecisionApprove, "looks right now", true
	}))
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "rv-1", TenantID: "acme", Review: reviewPolicy(vocab.OnTimeoutWait, 0)})
	require.NoError(t, h.env.GetWorkflowError())
	require.Equal(t, "awaiting_review", waiting.Tasks["t1"], "the progress query shows the task waiting")
	require.Equal(t, "awaiting review", waiting.Step)

	fixer := h.srv.CallsFor("fixer")
	require.Len(t, fixer, 1, "one attempt answers the reviewer")
	prompt := fixer[0].Prompt()
	require.Contains(t, prompt, "### The reviewer asks\n"+reviewComment)
	require.Contains(t, prompt, "This is attempt 2.")

	attempts, err := h.store.ListAttempts(t.Context(), "rv-1", "t1")
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	require.Equal(t, reviewComment, attempts[1].Comment, "the attempt records the comment it answered")

	r1, err := h.store.GetReview(t.Context(), "acme", wf.ReviewID("rv-1", "t1", 1))
	require.NoError(t, err)
	require.Equal(t, store.ReviewChangesRequested, r1.Status)
	require.Equal(t, "alice", r1.DecidedBy)
	r2, err := h.store.GetReview(t.Context(), "acme", wf.ReviewID("rv-1", "t1", 2))
	require.NoError(t, err)
	require.Equal(t, store.ReviewApproved, r2.Status)
	pending, err := h.store.ListReviews(t.Context(), "acme", store.ReviewPending)
	require.NoError(t, err)
	require.Empty(t, pending)

	job, err := h.store.GetJob(t.Context(), "acme", "rv-1")
	require.NoError(t, err)
	require.Equal(t, store.JobCompleted, job.Status)
	task, err := h.store.GetTask(t.Context(), "rv-1", "t1")
	require.NoError(t, err)
	require.Equal(t, store.TaskCompleted, task.Status)
	require.Equal(t, 2, task.Attempts)

	var requested, decided int
	for _, e := range h.events(t, "rv-1") {
		if e.TaskID != "t1" {
			continue
		}
		switch e.Type {
		case progress.ReviewRequested:
			requested++
			require.Contains(t, e.Message, "waiting for a review")
		case progress.ReviewDecided:
			decided++
		}
	}
	require.Equal(t, 2, requested)
	require.Equal(t, 2, decided)
}

// A rejection fails the task, and the job, with the reviewer's reason.
func TestReviewRejectFailsTheJobWithTheReason(t *testing.T) {
	request, rules := exampleRules(t)
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	h.newJob(t, "rv-2", request, "")
	h.reviewer(t, "rv-2", approveOthers(func(store.Review) (string, string, bool) {
		return wf.DecisionReject, "this is not what we asked for", true
	}))
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "rv-2", TenantID: "acme", Review: reviewPolicy(vocab.OnTimeoutWait, 0)})
	err := h.env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "task t1 rejected by reviewer alice: this is not what we asked for")
	job, err := h.store.GetJob(t.Context(), "acme", "rv-2")
	require.NoError(t, err)
	require.Equal(t, store.JobFailed, job.Status)
	task, err := h.store.GetTask(t.Context(), "rv-2", "t1")
	require.NoError(t, err)
	require.Equal(t, store.TaskFailed, task.Status)
	require.Contains(t, task.Error, "rejected by reviewer alice")
	require.Empty(t, h.srv.CallsFor("fixer"))
}

// Nobody answers: the tenant's timeout policy decides.
func TestReviewTimeoutPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy  string
		wantErr string
	}{
		{policy: vocab.OnTimeoutApprove},
		{policy: vocab.OnTimeoutReject, wantErr: "task t1 rejected by reviewer timeout: no decision within 1h0m0s"},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			request, rules := exampleRules(t)
			h := newHarness(t, llmtest.NewScript(rules...).Handle)
			id := "rv-timeout-" + tc.policy
			h.newJob(t, id, request, "")
			h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: id, TenantID: "acme", Review: reviewPolicy(tc.policy, time.Hour)})
			err := h.env.GetWorkflowError()
			r, gerr := h.store.GetReview(t.Context(), "acme", wf.ReviewID(id, "t1", 1))
			require.NoError(t, gerr)
			require.Equal(t, store.ReviewExpired, r.Status)
			require.Equal(t, wf.DecidedByTimeout, r.DecidedBy)
			require.Equal(t, tc.policy, wf.DecisionOf(r))
			require.NotNil(t, r.TimeoutAt)
			if tc.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			job, err := h.store.GetJob(t.Context(), "acme", id)
			require.NoError(t, err)
			require.Equal(t, store.JobCompleted, job.Status)
		})
	}
}

// The automated reviewer refines first (its comment reaches the fixer),
// then approves; no person is asked.
func TestAITLRefineThenApprove(t *testing.T) {
	request, rules := exampleRules(t)
	refine := "compare the codes in constant time"
	rules = append(rules,
		llmtest.Rule{Role: "fixer", TaskID: "t1", Replies: []llmtest.Reply{fixedStoreReply(t)}},
		llmtest.Rule{Role: "reviewer", TaskID: "t1", Replies: []llmtest.Reply{
			{Content: llmtest.JSON(map[string]string{"decision": "refine", "comment": refine})},
			{Content: llmtest.JSON(map[string]string{"decision": "approve", "comment": "fine"})}}},
		llmtest.Rule{Role: "reviewer", Replies: []llmtest.Reply{{Content: "```json\n{\"decision\":\"approve\",\"comment\":\"fine\"}\n```"}}},
	)
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	h.newJob(t, "rv-ai", request, "")
	policy := reviewPolicy(vocab.OnTimeoutWait, 0)
	policy.AITL = true
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "rv-ai", TenantID: "acme", Review: policy})
	if err := h.env.GetWorkflowError(); err != nil {
		for _, e := range h.events(t, "rv-ai") {
			t.Log(e.Type, e.TaskID, e.Message)
		}
	}
	require.NoError(t, h.env.GetWorkflowError())

	fixer := h.srv.CallsFor("fixer")
	require.Len(t, fixer, 1)
	require.Contains(t, fixer[0].Prompt(), "### The reviewer asks\n"+refine)
	reviewerCalls := h.srv.CallsFor("reviewer")
	require.NotEmpty(t, reviewerCalls)
	require.Equal(t, "gpt-4.1", reviewerCalls[0].Model, "the reviewer runs on T2")
	r1, err := h.store.GetReview(t.Context(), "acme", wf.ReviewID("rv-ai", "t1", 1))
	require.NoError(t, err)
	require.Equal(t, store.ReviewChangesRequested, r1.Status)
	require.Equal(t, wf.DecidedByAITL, r1.DecidedBy)
	require.Equal(t, refine, r1.Comment)
	r2, err := h.store.GetReview(t.Context(), "acme", wf.ReviewID("rv-ai", "t1", 2))
	require.NoError(t, err)
	require.Equal(t, store.ReviewApproved, r2.Status)
	job, err := h.store.GetJob(t.Context(), "acme", "rv-ai")
	require.NoError(t, err)
	require.Equal(t, store.JobCompleted, job.Status)
}

// An automated reviewer that cannot answer hands the review to a person;
// the task is never dropped.
func TestAITLFailureFallsBackToAPerson(t *testing.T) {
	request, rules := exampleRules(t)
	rules = append(rules, llmtest.Rule{Role: "reviewer", Replies: []llmtest.Reply{{Content: "I think it is probably fine?"}}})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	h.newJob(t, "rv-ai-2", request, "")
	h.reviewer(t, "rv-ai-2", func(store.Review) (string, string, bool) { return wf.DecisionApprove, "", true })
	policy := reviewPolicy(vocab.OnTimeoutWait, 0)
	policy.AITL = true
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "rv-ai-2", TenantID: "acme", Review: policy})
	require.NoError(t, h.env.GetWorkflowError())
	r, err := h.store.GetReview(t.Context(), "acme", wf.ReviewID("rv-ai-2", "t1", 1))
	require.NoError(t, err)
	require.Equal(t, store.ReviewApproved, r.Status)
	require.Equal(t, "alice", r.DecidedBy)
	var noted bool
	for _, e := range h.events(t, "rv-ai-2") {
		noted = noted || e.Type == progress.LogMessage && strings.Contains(e.Message, "the automated review failed")
	}
	require.True(t, noted, "the fallback is visible in progress")
}

// A job cancelled while it waits closes its pending review, so nobody is
// asked to decide for a job that is gone.
func TestCancelWhileWaitingWithdrawsTheReview(t *testing.T) {
	request, rules := exampleRules(t)
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	h.newJob(t, "rv-cancel", request, "")
	var cancel func()
	cancel = func() {
		pending, err := h.store.ListReviews(t.Context(), "acme", store.ReviewPending)
		require.NoError(t, err)
		if len(pending) == 0 {
			h.env.RegisterDelayedCallback(cancel, time.Minute)
			return
		}
		h.env.CancelWorkflow()
	}
	h.env.RegisterDelayedCallback(cancel, time.Minute)
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "rv-cancel", TenantID: "acme", Review: reviewPolicy(vocab.OnTimeoutWait, 0)})
	require.Error(t, h.env.GetWorkflowError())
	job, err := h.store.GetJob(t.Context(), "acme", "rv-cancel")
	require.NoError(t, err)
	require.Equal(t, store.JobCancelled, job.Status)
	r, err := h.store.GetReview(t.Context(), "acme", wf.ReviewID("rv-cancel", "t1", 1))
	require.NoError(t, err)
	require.Equal(t, store.ReviewExpired, r.Status)
	require.Contains(t, r.Comment, "the job stopped waiting")
	require.Empty(t, wf.DecisionOf(r), "a withdrawn review decides nothing")
}

// When another task fails, the job fails whatever a reviewer would decide:
// a review still pending is withdrawn instead of holding the job open.
func TestFailingTaskWithdrawsTheOtherTasksReview(t *testing.T) {
	request, rules := exampleRules(t)
	plan, err := os.ReadFile(filepath.Join(exampleDir, "plan.json"))
	require.NoError(t, err)
	// t3 (main.go, which imports the server package) now runs beside t2
	// and cannot compile without it; its fixer refuses once t2 waits for
	// its review, so t3 fails while t2 waits.
	parallel := strings.Replace(string(plan), `"dependencies": ["t2"]`, `"dependencies": ["t1"]`, 1)
	require.NotEqual(t, string(plan), parallel)
	rules = append([]llmtest.Rule{{Role: "decomposer", Replies: []llmtest.Reply{{Content: parallel}}}}, rules...)
	script := llmtest.NewScript(rules...)
	var st atomic.Value // store.Store, set once the harness exists
	h := newHarness(t, func(c llmtest.Call) llmtest.Reply {
		if c.Role == "fixer" && c.TaskID == "t3" {
			for i := 0; i < 600; i++ {
				if s, ok := st.Load().(store.Store); ok && s != nil {
					if _, err := s.GetReview(context.Background(), "acme", wf.ReviewID("rv-abandon", "t2", 1)); err == nil {
						break
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			return llmtest.Reply{Status: 400, Body: `{"error":{"message":"no fix scripted for t3","type":"invalid_request_error"}}`}
		}
		return script.Handle(c)
	})
	st.Store(h.store)
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	h.newJob(t, "rv-abandon", request, "")
	h.reviewer(t, "rv-abandon", func(r store.Review) (string, string, bool) {
		return wf.DecisionApprove, "", r.TaskID == "t1" // t2 is never decided
	})
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "rv-abandon", TenantID: "acme", Review: reviewPolicy(vocab.OnTimeoutWait, 0)})
	err = h.env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "task t3")
	r, err := h.store.GetReview(t.Context(), "acme", wf.ReviewID("rv-abandon", "t2", 1))
	require.NoError(t, err)
	require.Equal(t, store.ReviewExpired, r.Status)
	require.Contains(t, r.Comment, "the job stopped waiting: task t3")
	pending, err := h.store.ListReviews(t.Context(), "acme", store.ReviewPending)
	require.NoError(t, err)
	require.Empty(t, pending)
}
