package workflow_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/store"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// storeMeter meters embedding calls into the store, as the platform does.
type storeMeter struct{ s store.Store }

func (m storeMeter) RecordEmbedding(ctx context.Context, u memory.EmbeddingUsage) error {
	return m.s.RecordUsage(ctx, store.Usage{TenantID: u.TenantID, JobID: u.RequestID, Role: "embedder:" + u.Purpose,
		Provider: u.Provider, Model: u.Model, InputTokens: u.InputTokens, Cached: u.Cached})
}

func TestSecondJobRecallsTheFirst(t *testing.T) {
	request, rules := exampleRules(t)
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	cfg := memory.Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "memory")
	cfg.MinSamples = 2
	mem, err := memory.New(t.Context(), cfg, memory.Deps{Logger: logx.Discard(), Usage: storeMeter{h.store}})
	require.NoError(t, err)
	defer mem.Close()
	h.acts.Memory = mem

	h.newJob(t, "first", request, "")
	h.run("first")
	require.NoError(t, h.env.GetWorkflowError())

	paraphrase := "Write a Go HTTP service that shortens links: POST /shorten returns a short code and URL, " +
		"GET /{code} redirects to the long URL. Store the links in memory, refuse invalid URLs, and add tests."
	h2 := h.again(t)
	h2.newJob(t, "second", paraphrase, "")
	h2.run("second")
	require.NoError(t, h2.env.GetWorkflowError())

	var second string
	for _, c := range h.srv.CallsFor("decomposer") {
		if strings.Contains(c.Prompt(), "Write a Go HTTP service") {
			second = c.Prompt()
		}
	}
	require.Contains(t, second, "Similar requests that succeeded before")
	require.Contains(t, second, "Build a URL shortener in Go", "the first request is recalled")
	require.Contains(t, second, "t1 [code_generation, simple] Module and link store", "with the plan that worked")

	tasks, err := h.store.ListTasks(t.Context(), "second")
	require.NoError(t, err)
	reasons := map[string]string{}
	for _, task := range tasks {
		reasons[task.ID] = task.TierReason
	}
	require.Equal(t, "learned: T0 succeeded 2 of 2 times on code_generation/simple tasks (memory)", reasons["t1"],
		"the router reads the recorded statistics")
	require.Equal(t, "complexity medium → T1 (complexity map)", reasons["t2"], "one medium sample is not enough to learn from")

	for _, c := range h.srv.CallsFor("coder") {
		require.NotContains(t, c.Prompt(), "validated example", "unvalidated code is never offered as an example")
	}
	usage, err := h.store.ListUsage(t.Context(), store.UsageFilter{JobID: "second"})
	require.NoError(t, err)
	embeds := 0
	for _, u := range usage {
		if strings.HasPrefix(u.Role, "embedder:") {
			embeds++
			require.Equal(t, "acme", u.TenantID)
		}
	}
	require.Positive(t, embeds, "embedding calls are metered")
	_ = wf.WorkflowName
}
