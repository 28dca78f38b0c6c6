package workflow_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/quantumlayer/qlp/internal/logx"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// histories lists the recorded histories, by the job each records.
func histories(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	require.NoError(t, err)
	out := map[string][]string{}
	for _, f := range files {
		job, _, _ := strings.Cut(filepath.Base(f), ".")
		out[job] = append(out[job], f)
	}
	return out
}

// TestReplayHistories replays every recorded history against the workflow
// as the worker registers it: a change to the workflow that would break a
// job running on an earlier version fails here with the SDK's
// non-determinism error. Such a change goes behind workflow.GetVersion (see
// "Changing the workflow" in docs/architecture.md).
func TestReplayHistories(t *testing.T) {
	byJob := histories(t)
	for _, job := range recordedJobs() {
		require.NotEmpty(t, byJob[job.name], "no recorded history of the %s job in %s (record one with -record)", job.name, historiesDir)
	}
	for _, files := range byJob {
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				r := worker.NewWorkflowReplayer()
				wf.RegisterWorkflow(r)
				// The replay's log says where a replay diverged.
				logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))
				require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(logger, f))
			})
		}
	}
}

// TestReplayFailsOnAnUngatedChange tests the replay test: a workflow that
// does one thing more before the job (a timer, an activity) fails to replay
// the recorded histories, and the same change behind workflow.GetVersion
// replays them.
func TestReplayFailsOnAnUngatedChange(t *testing.T) {
	files := histories(t)["plain"]
	require.NotEmpty(t, files)
	changes := []struct {
		name   string
		change func(workflow.Context) error
	}{
		{"an extra timer", func(ctx workflow.Context) error { return workflow.Sleep(ctx, time.Second) }},
		{"an extra activity", func(ctx workflow.Context) error {
			ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
			var a *wf.Activities
			return workflow.ExecuteActivity(ctx, a.Note, wf.NoteInput{Message: "an extra step"}).Get(ctx, nil)
		}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			ungated := func(ctx workflow.Context, in wf.Input) (wf.Result, error) {
				if err := c.change(ctx); err != nil {
					return wf.Result{}, err
				}
				return wf.QLPWorkflow(ctx, in)
			}
			gated := func(ctx workflow.Context, in wf.Input) (wf.Result, error) {
				if workflow.GetVersion(ctx, "replay-test-extra-step", workflow.DefaultVersion, 1) == 1 {
					if err := c.change(ctx); err != nil {
						return wf.Result{}, err
					}
				}
				return wf.QLPWorkflow(ctx, in)
			}
			replay := func(fn func(workflow.Context, wf.Input) (wf.Result, error)) error {
				r := worker.NewWorkflowReplayer()
				r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: wf.WorkflowName})
				// The diverging replay logs a panic with its stack: not news here.
				return r.ReplayWorkflowHistoryFromJSONFile(tlog.NewStructuredLogger(logx.Discard()), files[0])
			}
			err := replay(ungated)
			require.Error(t, err, "an ungated change replays: the replay test would not catch it")
			require.Contains(t, err.Error(), "[TMPRL1100]", "the SDK's non-determinism error")
			require.NoError(t, replay(gated), "the change behind workflow.GetVersion")
		})
	}
}

// TestRecordedHistoriesAreSmall keeps the committed histories small: they
// carry ids and small results only (see the package doc).
func TestRecordedHistoriesAreSmall(t *testing.T) {
	for _, files := range histories(t) {
		for _, f := range files {
			fi, err := os.Stat(f)
			require.NoError(t, err)
			require.Less(t, fi.Size(), int64(256<<10), "%s is large: does the workflow carry files or prompts?", f)
		}
	}
}
