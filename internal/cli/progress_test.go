package cli

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/orchestrator"
)

func event(typ, task, msg string, data map[string]any) orchestrator.ProgressEvent {
	b, _ := json.Marshal(data)
	return orchestrator.ProgressEvent{Type: typ, TaskID: task, Message: msg, Data: b}
}

// The repair loop shows on the progress view: each attempt, who wrote it,
// and the attempt number on the task's line.
func TestProgressViewShowsTheRepairLoop(t *testing.T) {
	events := []orchestrator.ProgressEvent{
		event("decomposed", "", "planned 1 task", map[string]any{"tasks": []map[string]any{{"id": "t1", "description": "the store"}}}),
		event("task_started", "t1", "the store", map[string]any{"tier": "T0", "model": "gpt-4o-mini", "reason": "complexity simple → T0", "attempt": 1}),
		event("task_generated", "t1", "the store", map[string]any{"attempt": 1, "role": "coder", "tier": "T0", "model": "gpt-4o-mini",
			"files": []string{"go.mod", "store.go"}, "tokens_out": 420, "cost_usd": "0.000252"}),
		event("task_validated", "t1", "1 test failed", nil),
		event("task_attempt", "t1", "attempt 2 on T0 gpt-4o-mini: fixing TestValidate failed", map[string]any{"attempt": 2, "tier": "T0", "model": "gpt-4o-mini", "role": "fixer"}),
		event("task_generated", "t1", "fixed", map[string]any{"attempt": 2, "role": "fixer", "tier": "T0", "model": "gpt-4o-mini",
			"files": []string{"store.go"}, "tokens_out": 200, "cost_usd": "0.000120"}),
	}
	tests := []struct {
		name string
		tty  bool
		want []string // in order
	}{
		{name: "lines", want: []string{
			"task t1 started on T0 gpt-4o-mini (complexity simple → T0)",
			"task t1 attempt 1 written by the coder (T0 gpt-4o-mini): 2 files, 420 tokens out, $0.000252",
			"task t1 validated: 1 test failed",
			"task t1 attempt 2 on T0 gpt-4o-mini: fixing TestValidate failed",
			"task t1 attempt 2 written by the fixer (T0 gpt-4o-mini): 1 files, 200 tokens out, $0.000120",
		}},
		{name: "terminal", tty: true, want: []string{"attempt 2  T0 gpt-4o-mini  validating"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			v := newProgressView(&out, tc.tty)
			for _, ev := range events {
				require.NoError(t, v.Handle(ev))
			}
			text := out.String()
			if tc.tty {
				// The last drawn block.
				text = text[strings.LastIndex(text, "QLP "):]
				text = regexp.MustCompile("\x1b\\[[0-9]*[A-Z]").ReplaceAllString(text, "")
			}
			at := 0
			for _, w := range tc.want {
				i := strings.Index(text[at:], w)
				require.GreaterOrEqual(t, i, 0, "want %q after offset %d in\n%s", w, at, text)
				at += i + len(w)
			}
		})
	}
}

// TestProgressViewShowsReviews prints a review request with the commands
// that answer it, and the decision.
func TestProgressViewShowsReviews(t *testing.T) {
	var out bytes.Buffer
	v := newProgressView(&out, false)
	data, err := json.Marshal(map[string]any{"review_id": "rv-j-t1-1", "confidence": 0.82})
	require.NoError(t, err)
	require.NoError(t, v.Handle(orchestrator.ProgressEvent{Type: "review_requested", TaskID: "t1", Message: "waiting for a review", Data: data}))
	require.NoError(t, v.Handle(orchestrator.ProgressEvent{Type: "review_decided", TaskID: "t1", Message: "review rv-j-t1-1: approve by alice"}))
	s := out.String()
	require.Contains(t, s, "task t1 waits for a review")
	require.Contains(t, s, "qlp review approve rv-j-t1-1")
	require.Contains(t, s, `qlp review changes rv-j-t1-1 --comment "..."`)
	require.Contains(t, s, "task t1: review rv-j-t1-1: approve by alice")
}

// A job that fails on its capsule's validation names every finding with
// its place, on the terminal (below the block) and in the line log
// (issue 21.3).
func TestProgressViewNamesTheFindingsOfAFailedJob(t *testing.T) {
	failed := event("workflow_failed", "", "the capsule failed validation (staticcheck): 1 finding(s): main_test.go:12:2: staticcheck SA4006: this value of n is never used",
		map[string]any{"status": "failed", "findings": []map[string]any{{"task_id": "t3", "check": "staticcheck", "file": "main_test.go", "line": 12,
			"column": 2, "rule_id": "SA4006", "severity": "high", "message": "this value of n is never used"}}})
	for _, tty := range []bool{false, true} {
		var out bytes.Buffer
		v := newProgressView(&out, tty)
		require.NoError(t, v.Handle(event("capsule_validated", "", "the capsule failed validation (staticcheck): 1 finding(s): …",
			map[string]any{"status": "failed", "round": 1})))
		require.NoError(t, v.Handle(failed))
		s := out.String()
		require.Contains(t, s, "job failed: the capsule failed validation (staticcheck)", "tty=%v", tty)
		require.Contains(t, s, "main_test.go:12:2: staticcheck SA4006: this value of n is never used (task t3)", "tty=%v", tty)
		if !tty {
			require.Contains(t, s, "capsule validation round 1 failed")
		}
	}
}

// qlp status shows every attempt, unusable and capsule repairs included,
// and the findings of a failed capsule (issues 11.1, 21.3).
func TestStatusShowsEveryAttemptAndTheFindings(t *testing.T) {
	st := orchestrator.StatusResponse{RequestID: "j1", WorkflowID: "qlp-execution-j1", Status: "failed",
		Error: "the capsule failed validation (staticcheck): 1 finding(s): main_test.go:12:2: staticcheck SA4006: this value of n is never used",
		Result: &orchestrator.JobResult{TasksTotal: 1, TasksCompleted: 1,
			PlanAttempts: []orchestrator.AttemptOutput{
				{Attempt: 1, Phase: "plan", Role: "decomposer", Tier: "T2", Model: "gpt-4.1", Status: "failed", Validation: "unusable", Reason: "the model returned an invalid task graph twice: …"},
				{Attempt: 2, Phase: "plan", Role: "decomposer", Tier: "T3", Model: "gpt-4o", Status: "passed"}},
			Outputs: []orchestrator.TaskOutput{{TaskID: "t3", Status: "completed", Tier: "T1", Attempts: 3, AttemptLog: []orchestrator.AttemptOutput{
				{Attempt: 1, Phase: "task", Role: "test_writer+coder", Tier: "T0", Model: "gpt-4o-mini", Status: "failed", Validation: "unusable", Reason: "the coder's answer was unusable twice: the answer contains no files"},
				{Attempt: 2, Phase: "task", Role: "test_writer+coder", Tier: "T1", Model: "gpt-4.1-mini", Status: "passed", Validation: "passed"},
				{Attempt: 3, Phase: "capsule", Role: "fixer", Tier: "T1", Model: "gpt-4.1-mini", Status: "passed", Validation: "passed",
					Deleted: []string{"stray.go"}}}}},
			Findings: []orchestrator.Finding{{TaskID: "t3", Check: "staticcheck", File: "main_test.go", Line: 12, Column: 2, Rule: "SA4006", Message: "this value of n is never used"}}}}
	var out bytes.Buffer
	printStatus(&out, st)
	s := out.String()
	for _, want := range []string{
		"attempt 1 (plan): decomposer on T2 gpt-4.1: failed (unusable answer): the model returned an invalid task graph twice",
		"attempt 2 (plan): decomposer on T3 gpt-4o: passed",
		"attempt 1: test_writer+coder on T0 gpt-4o-mini: failed (unusable answer): the coder's answer was unusable twice",
		"attempt 3 (capsule repair): fixer on T1 gpt-4.1-mini: passed (deleted stray.go)",
		"findings of the capsule's validation (1):",
		"main_test.go:12:2: staticcheck SA4006: this value of n is never used (task t3)",
	} {
		require.Contains(t, s, want)
	}
}
