package workflow_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// scriptedValidator stands in for the Validation Mesh where what is tested
// is the workflow's own decisions: it records every request and answers
// each task's with a pass and the capsule's with the status it is given.
type scriptedValidator struct {
	capsuleStatus string
	mu            sync.Mutex
	requests      []validation.Request
}

func (v *scriptedValidator) Validate(_ context.Context, req validation.Request) (*validation.Report, error) {
	v.mu.Lock()
	v.requests = append(v.requests, req)
	v.mu.Unlock()
	status := validation.StatusPassed
	if !req.Partial {
		status = v.capsuleStatus
	}
	return &validation.Report{OverallStatus: status, ConfidenceScore: 0.9, Summary: "scripted " + status, Language: req.Language,
		Checks: []validation.Check{{Name: "go-build", Category: validation.CategoryCompile, Status: validation.StatusPassed, Findings: []validation.Finding{}}}}, nil
}

// depths returns the Quick flag of the task requests and of the capsule's.
func (v *scriptedValidator) depths() (tasks []bool, capsule []bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range v.requests {
		if r.Partial {
			tasks = append(tasks, r.Quick)
		} else {
			capsule = append(capsule, r.Quick)
		}
	}
	return tasks, capsule
}

// TestExecutionOptionsDecideValidation: the options a job was submitted
// with (POST /v2/execute's mode and options.validation, resolved into the
// job's metadata) decide how deeply each attempt and the capsule are
// validated, and whether a capsule that did not pass fails the job.
func TestExecutionOptionsDecideValidation(t *testing.T) {
	plan := `{"project":{"name":"one","language":"go","commands":{"build":"go build ./..."}},"tasks":[` +
		`{"id":"a","type":"code_generation","description":"a","complexity":"simple","dependencies":[]},` +
		`{"id":"b","type":"code_generation","description":"b","complexity":"simple","dependencies":["a"]}]}`
	for _, tc := range []struct {
		name          string
		opts          *wf.ExecutionOptions // nil: a job without options (POST /execute)
		capsuleStatus string
		quickTasks    bool
		quickCapsule  bool
		status        store.JobStatus
		why           string
	}{
		{name: "no options", capsuleStatus: "warning", quickTasks: true, status: store.JobCompleted},
		{name: "defaults", opts: &wf.ExecutionOptions{}, capsuleStatus: "warning", quickTasks: true, status: store.JobCompleted},
		{name: "full task checks", opts: &wf.ExecutionOptions{TaskChecks: wf.ChecksFull}, capsuleStatus: "passed", status: store.JobCompleted},
		{name: "quick capsule checks", opts: &wf.ExecutionOptions{CapsuleChecks: wf.ChecksQuick}, capsuleStatus: "passed", quickTasks: true, quickCapsule: true, status: store.JobCompleted},
		{name: "strict refuses warnings", opts: &wf.ExecutionOptions{Strict: true}, capsuleStatus: "warning", quickTasks: true, status: store.JobFailed,
			why: "strict validation accepts only a capsule that passed; this one's validation is warning"},
		{name: "strict accepts a pass", opts: &wf.ExecutionOptions{Strict: true}, capsuleStatus: "passed", quickTasks: true, status: store.JobCompleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c llmtest.Call) llmtest.Reply {
				if c.Role == "decomposer" {
					return llmtest.Reply{Content: plan}
				}
				file := map[string]string{"path": c.TaskID + "/" + c.TaskID + ".go", "content": "package " + c.TaskID + "\n"}
				if c.Role == "test_writer" {
					file = map[string]string{"path": c.TaskID + "/" + c.TaskID + "_test.go", "content": "package " + c.TaskID + "\n"}
				}
				return llmtest.Reply{Content: llmtest.JSON(map[string]any{"files": []map[string]string{file}})}
			})
			v := &scriptedValidator{capsuleStatus: tc.capsuleStatus}
			h.acts.Validator = v
			meta := json.RawMessage(`{}`)
			if tc.opts != nil {
				b, err := json.Marshal(map[string]any{wf.ExecutionKey: tc.opts})
				require.NoError(t, err)
				meta = b
			}
			_, err := h.store.EnsureTenant(t.Context(), "acme", "Acme")
			require.NoError(t, err)
			_, _, err = h.store.CreateJob(t.Context(), store.Job{ID: "req-o", TenantID: "acme", WorkflowID: wf.WorkflowID("req-o"),
				Description: "two packages in Go", Language: "go", Constraints: json.RawMessage(`{}`), Metadata: meta})
			require.NoError(t, err)
			h.run("req-o")
			require.True(t, h.env.IsWorkflowCompleted())

			tasks, capsule := v.depths()
			require.NotEmpty(t, tasks)
			for _, q := range tasks {
				require.Equal(t, tc.quickTasks, q, "task validation depth")
			}
			require.Equal(t, []bool{tc.quickCapsule}, capsule, "capsule validation depth")

			job, err := h.store.GetJob(t.Context(), "acme", "req-o")
			require.NoError(t, err)
			require.Equal(t, tc.status, job.Status, job.Error)
			require.Equal(t, wf.CapsuleID("req-o"), job.CapsuleID, "the capsule is kept either way")
			if tc.why != "" {
				require.Contains(t, job.Error, tc.why)
				require.ErrorContains(t, h.env.GetWorkflowError(), tc.why)
			}
		})
	}
}
