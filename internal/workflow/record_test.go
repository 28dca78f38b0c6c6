package workflow_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/quantumlayer/qlp/internal/engine"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

var (
	record    = flag.Bool("record", false, "record the histories of testdata/histories from real jobs on an embedded Temporal server")
	recordTag = flag.String("record-tag", "", "the tag in the names of the recorded histories (default: today's UTC date, as 20060102)")
)

// historiesDir holds the recorded histories that TestReplayHistories
// replays. Files are only ever added: a history stays as long as jobs that
// started on its version of the workflow may still run.
const historiesDir = "testdata/histories"

// recorderIdentity replaces the identities of the clients and workers in a
// recorded history, which name this machine's host and process.
const recorderIdentity = "qlp-recorder"

// stickyQueue replaces the name of a worker's sticky task queue in a
// recorded history, which names this machine's host.
const stickyQueue = "qlp-main-sticky"

// recordedJob is one kind of job whose history is recorded and replayed.
type recordedJob struct {
	name string
	// rules script the model.
	rules func(t *testing.T) []llmtest.Rule
	input wf.Input
	// review decides the job's reviews (nil: the job has none).
	review decideFn
	// cancelWhen cancels the job at the first progress that matches.
	cancelWhen func(wf.State) bool
	// outcome is how the workflow ends: "completed", "failed" or "cancelled".
	outcome string
}

// recordedJobs are the jobs of the replay tests: each path through the
// workflow that a running job may be on when a new version is deployed.
func recordedJobs() []recordedJob {
	example := func(t *testing.T) []llmtest.Rule { _, rules := exampleRules(t); return rules }
	return []recordedJob{
		{name: "plain", rules: example, outcome: "completed"},
		{
			// The first attempt of t1 fails its tests; the fixer's passes.
			name: "repair",
			rules: func(t *testing.T) []llmtest.Rule {
				return withT1(example(t), []llmtest.Reply{{Content: t1Answer(t, buggyStore(t, ""))}},
					[]llmtest.Reply{{Content: llmtest.JSON(map[string]any{"summary": "only http and https are valid",
						"files": []map[string]string{{"path": "shortener/store.go", "content": correctStore(t)}}})}})
			},
			outcome: "completed",
		},
		{
			// The staticcheck finding of the capsule's validation goes back
			// to t3, whose repair passes.
			name: "capsule-repair",
			rules: func(t *testing.T) []llmtest.Rule {
				return withT3(t, lintyTests(t, ":1"), llmtest.Reply{Content: llmtest.JSON(map[string]any{
					"summary": "main_test.go: removed the unused first server (SA4006)",
					"files":   []map[string]string{{"path": "main_test.go", "content": t3Tests(t)}}})})
			},
			outcome: "completed",
		},
		{
			// A reviewer asks for changes on t1's first attempt and
			// approves everything else.
			name: "review-approved",
			rules: func(t *testing.T) []llmtest.Rule {
				return append(example(t), llmtest.Rule{Role: "fixer", TaskID: "t1", Replies: []llmtest.Reply{fixedStoreReply(t)}})
			},
			input: wf.Input{Review: reviewPolicy(vocab.OnTimeoutWait, 0)},
			review: approveOthers(func(r store.Review) (string, string, bool) {
				if r.Attempt == 1 {
					return wf.DecisionRequestChanges, reviewComment, true
				}
				return wf.DecisionApprove, "looks right now", true
			}),
			outcome: "completed",
		},
		{
			name:  "review-rejected",
			rules: example,
			input: wf.Input{Review: reviewPolicy(vocab.OnTimeoutWait, 0)},
			review: approveOthers(func(store.Review) (string, string, bool) {
				return wf.DecisionReject, "this is not what we asked for", true
			}),
			outcome: "failed",
		},
		{
			// Nobody answers: the review's timer fires and rejects.
			name:    "review-timeout",
			rules:   example,
			input:   wf.Input{Review: reviewPolicy(vocab.OnTimeoutReject, 2*time.Second)},
			outcome: "failed",
		},
		{
			// Cancelled while t2 generates (its answer takes 3 s).
			name: "cancelled",
			rules: func(t *testing.T) []llmtest.Rule {
				rules := example(t)
				for i := range rules {
					if rules[i].TaskID == "t2" {
						rules[i].Replies[0].Delay = 3 * time.Second
					}
				}
				return rules
			},
			cancelWhen: func(s wf.State) bool { return s.Tasks["t2"] == "running" },
			outcome:    "cancelled",
		},
	}
}

// TestRecordHistories runs each of recordedJobs on an embedded Temporal
// server, with the real activities, sandbox and scripted model, and writes
// its history to testdata/histories/<job>.<tag>.json. It runs only with
// -record:
//
//	go test ./internal/workflow -run TestRecordHistories -record [-record-tag 20261205]
//
// It never overwrites a history: a job whose file for the tag exists is
// left alone.
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("records histories only with -record")
	}
	tag := *recordTag
	if tag == "" {
		tag = time.Now().UTC().Format("20060102")
	}
	require.NotContains(t, tag, ".", "the tag ends at the first dot of a history's name")
	ctx := t.Context()
	eng, err := engine.Start(ctx, engine.Config{Namespace: "default", LogLevel: "error"}, t.TempDir(), logx.Discard())
	require.NoError(t, err)
	t.Cleanup(eng.Close)
	c, err := client.Dial(client.Options{HostPort: eng.Address, Namespace: "default", Identity: recorderIdentity,
		Logger: tlog.NewStructuredLogger(logx.Discard())})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	require.NoError(t, os.MkdirAll(historiesDir, 0o755))

	for _, job := range recordedJobs() {
		t.Run(job.name, func(t *testing.T) {
			path := filepath.Join(historiesDir, job.name+"."+tag+".json")
			if _, err := os.Stat(path); err == nil {
				t.Skipf("%s exists; histories are never overwritten (choose another -record-tag)", path)
			}
			hist := recordJob(t, c, job, tag)
			out, err := temporalproto.CustomJSONMarshalOptions{Indent: " "}.Marshal(hist)
			require.NoError(t, err)
			requireNoHostData(t, hist, out)
			require.NoError(t, os.WriteFile(path, append(out, '\n'), 0o644))

			// What was written replays.
			r := worker.NewWorkflowReplayer()
			wf.RegisterWorkflow(r)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, path))
			t.Logf("%s: %d events, %d bytes", path, len(hist.Events), len(out)+1)
		})
	}
}

// recordJob runs job to its end with a worker of its own and returns its
// history, host data scrubbed.
func recordJob(t *testing.T, c client.Client, job recordedJob, tag string) *historypb.History {
	t.Helper()
	request, _ := exampleRules(t)
	h := newHarness(t, llmtest.NewScript(job.rules(t)...).Handle)
	require.NotNil(t, h.acts.Validator, "recording needs the sandbox (bwrap)")
	id := "replay-" + job.name + "-" + tag
	h.newJob(t, id, request, "")

	w := wf.NewWorker(c, h.acts, worker.Options{Identity: recorderIdentity})
	require.NoError(t, w.Start())
	defer w.Stop()

	// Validation in the sandbox takes minutes on a busy machine.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	in := job.input
	in.RequestID, in.TenantID = id, "acme"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wf.WorkflowID(id), TaskQueue: wf.TaskQueue}, wf.WorkflowName, in)
	require.NoError(t, err)
	defer func() {
		if t.Failed() {
			// Left running, the job would go on in the next job's worker.
			_ = c.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "recording failed")
		}
	}()

	done := make(chan struct{})
	bg := make(chan error, 1)
	go func() { bg <- drive(ctx, done, c, h, job, run) }()
	var res wf.Result
	err = run.Get(ctx, &res)
	close(done)
	require.NoError(t, <-bg)

	switch job.outcome {
	case "completed":
		require.NoError(t, err)
		require.Equal(t, "completed", res.Status)
	case "failed":
		var ae *temporal.ApplicationError
		require.True(t, errors.As(err, &ae), "got %v", err)
		require.Equal(t, wf.ErrTypeJobFailed, ae.Type())
	case "cancelled":
		var ce *temporal.CanceledError
		require.True(t, errors.As(err, &ce), "got %v", err)
	default:
		t.Fatalf("unknown outcome %q", job.outcome)
	}

	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	scrub(hist)
	return hist
}

// drive plays the people around a job until done: the reviewer who decides
// its reviews as the API does (record the decision, then signal) and the
// user who cancels it.
func drive(ctx context.Context, done <-chan struct{}, c client.Client, h *harness, job recordedJob, run client.WorkflowRun) error {
	if job.review == nil && job.cancelWhen == nil {
		return nil
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	cancelled := false
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if job.cancelWhen != nil && !cancelled {
			v, err := c.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), wf.ProgressQuery)
			if err != nil {
				return fmt.Errorf("query progress: %w", err)
			}
			var s wf.State
			if err := v.Get(&s); err != nil {
				return err
			}
			if job.cancelWhen(s) {
				if err := c.CancelWorkflow(ctx, run.GetID(), run.GetRunID()); err != nil {
					return fmt.Errorf("cancel: %w", err)
				}
				cancelled = true
			}
		}
		if job.review == nil {
			continue
		}
		pending, err := h.store.ListReviews(ctx, "acme", store.ReviewPending)
		if err != nil {
			return err
		}
		for _, r := range pending {
			decision, comment, ok := job.review(r)
			if !ok {
				continue
			}
			status := map[string]string{wf.DecisionApprove: store.ReviewApproved, wf.DecisionReject: store.ReviewRejected,
				wf.DecisionRequestChanges: store.ReviewChangesRequested}[decision]
			if err := h.store.DecideReview(ctx, r.ID, status, comment, "alice", time.Now()); err != nil {
				return err
			}
			if err := c.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), wf.ReviewSignal,
				wf.ReviewDecision{ReviewID: r.ID, Decision: decision, Comment: comment, DecidedBy: "alice"}); err != nil {
				return fmt.Errorf("signal the decision on %s: %w", r.ID, err)
			}
		}
	}
}

// scrub replaces what names this machine in a history: every identity
// (pid@host@queue) and the names of sticky task queues (host:uuid).
// Replay reads neither.
func scrub(hist *historypb.History) {
	walk(hist.ProtoReflect(), func(m protoreflect.Message) {
		if tq, ok := m.Interface().(*taskqueuepb.TaskQueue); ok && tq.GetKind() == enumspb.TASK_QUEUE_KIND_STICKY {
			tq.Name = stickyQueue
		}
		if fd := m.Descriptor().Fields().ByName("identity"); fd != nil && fd.Kind() == protoreflect.StringKind && !fd.IsList() && m.Has(fd) {
			m.Set(fd, protoreflect.ValueOfString(recorderIdentity))
		}
	})
}

// walk calls fn on m and every message inside it (map values aside).
func walk(m protoreflect.Message, fn func(protoreflect.Message)) {
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() != protoreflect.MessageKind || fd.IsMap():
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				walk(l.Get(i).Message(), fn)
			}
		default:
			walk(v.Message(), fn)
		}
		return true
	})
}

// requireNoHostData fails when a recorded history (out, its JSON) still
// names this machine: its host, its working directory or its home. The
// payloads, base64 in the JSON, are read decoded.
func requireNoHostData(t *testing.T, hist *historypb.History, out []byte) {
	t.Helper()
	s := string(out)
	walk(hist.ProtoReflect(), func(m protoreflect.Message) {
		if p, ok := m.Interface().(*commonpb.Payload); ok {
			s += "\n" + string(p.GetData())
		}
	})
	host, err := os.Hostname()
	require.NoError(t, err)
	for _, bad := range []string{"@" + host + "@", `"` + host + ":"} {
		require.NotContains(t, s, bad, "the history names the host")
	}
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NotContains(t, s, wd, "the history names the working directory")
	if home, err := os.UserHomeDir(); err == nil && len(home) > 1 {
		require.NotContains(t, s, strings.TrimSuffix(home, "/")+"/", "the history names the home directory")
	}
}
