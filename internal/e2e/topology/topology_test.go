package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/telemetry/otlptest"
)

// shared is the topology every test of the package drives; setupErr says
// why there is none.
var (
	shared   *Topology
	setupErr error
	// traces receives the spans of every process of the topology.
	traces *otlptest.Receiver
)

func TestMain(m *testing.M) {
	missing := missingTools()
	switch {
	case missing != nil && os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1":
		fmt.Fprintf(os.Stderr, "topology: %v (QLP_TEST_REQUIRE_SERVICES=1: nothing is skipped)\n", missing)
		os.Exit(1)
	case missing != nil:
		setupErr = missing
	default:
		dir, err := os.MkdirTemp("", "qlp-topology-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		// The sandbox service runs from the qlp image, built here with
		// deploy/image/build.sh as operators build it (with the Python
		// toolchain only: the tests' jobs are Python, and the others take
		// minutes to install).
		// QLP_TEST_IMAGE ("layout:tag") tests an image built before
		// instead, e.g. a release candidate.
		start := time.Now()
		image := os.Getenv("QLP_TEST_IMAGE")
		if image == "" {
			image, err = BuildImage(ctx, dir, "python")
		}
		if err != nil {
			cancel()
			fmt.Fprintf(os.Stderr, "topology: %v\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "topology: image %s built in %s\n", image, time.Since(start).Round(time.Millisecond))
		start = time.Now()
		// Every process exports its spans here: a job's trace crosses them.
		// (It lives as long as the test binary.)
		var otlpURL string
		traces, otlpURL, _ = otlptest.StartHTTP()
		shared, err = Start(ctx, dir, Options{SandboxImage: image, Env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlpURL}})
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "topology: start: %v\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "topology: %d processes up in %s (the sandbox from the image)\n", len(shared.Order), time.Since(start).Round(time.Millisecond))
	}
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

// missingTools names what the topology needs and this machine lacks.
func missingTools() error {
	var errs []error
	for _, tool := range []string{"bwrap", "redis-server", "versitygw", "go", "mmdebstrap", "umoci", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("%s not found", tool))
		}
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			errs = append(errs, errors.New("nginx not found"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w (scripts/install-deps.sh test installs them)", err)
	}
	return nil
}

// topology returns the shared topology, printing every process's log
// when the test fails.
func topology(t *testing.T) *Topology {
	t.Helper()
	if shared == nil {
		t.Skipf("no topology: %v", setupErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs:\n%s", shared.Logs())
		}
	})
	return shared
}

// overall is the one deadline a test waits under.
func overall(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(d)
	if td, ok := t.Deadline(); ok && td.Add(-30*time.Second).Before(deadline) {
		deadline = td.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// follow streams the job's progress through c to its end and returns every
// event seen.
func follow(ctx context.Context, t *testing.T, c *orchestrator.Client, workflowID string) []orchestrator.ProgressEvent {
	t.Helper()
	var events []orchestrator.ProgressEvent
	require.NoError(t, c.Follow(ctx, workflowID, 0, func(e orchestrator.ProgressEvent) error {
		events = append(events, e)
		return nil
	}), "following %s", workflowID)
	return events
}

// requireCompletedOnce checks that the job completed, that the events the
// client saw are every event of the job exactly once and in order, that one
// capsule was built, and that it downloads through nginx intact and
// verified. It returns the capsule id.
func (tp *Topology) requireCompletedOnce(ctx context.Context, t *testing.T, tenant, workflowID string, seen []orchestrator.ProgressEvent) string {
	t.Helper()
	c := tp.Client(tenant)
	require.NotEmpty(t, seen)
	last := seen[len(seen)-1]
	require.Equal(t, "workflow_completed", last.Type, last.Message)

	// Every event once, in order: the stream the client followed equals a
	// fresh read of the whole stream.
	all := follow(ctx, t, c, workflowID)
	ids := func(es []orchestrator.ProgressEvent) []int64 {
		var out []int64
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	require.Equal(t, ids(all), ids(seen), "the followed stream missed or repeated events")
	counts := map[string]int{}
	for _, e := range all {
		counts[e.Type]++
	}
	require.Equal(t, 1, counts["workflow_started"], "the job started once")
	require.Equal(t, 1, counts["capsule_created"], "one capsule was built")
	require.Equal(t, 1, counts["workflow_completed"])

	st, err := c.Status(ctx, workflowID)
	require.NoError(t, err)
	require.Equal(t, "completed", st.Status)
	require.NotNil(t, st.Result)
	data, err := c.Download(ctx, st.Result.CapsuleID, 0, "zip")
	require.NoError(t, err)
	files, err := capsule.ReadArchive(data)
	require.NoError(t, err)
	v, err := capsule.Verify(files)
	require.NoError(t, err)
	require.True(t, v.Intact(), v.Problems)
	return st.Result.CapsuleID
}

// submit starts j through nginx.
func (tp *Topology) submit(ctx context.Context, t *testing.T, tenant string, j *Job, metadata map[string]any) orchestrator.ExecuteResponse {
	t.Helper()
	sub, err := tp.Client(tenant).Execute(ctx, orchestrator.ExecuteRequest{Description: j.Request(), Metadata: metadata}, "")
	require.NoError(t, err)
	return sub
}

// TestJobThroughNginx: with every service in its own process, a job
// submitted through nginx streams its progress through nginx, completes,
// and its capsule downloads through nginx and verifies; a second download
// from each replica directly is the same archive, byte for byte.
func TestJobThroughNginx(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	j := tp.NewJob(false)
	sub := tp.submit(ctx, t, "acme", j, nil)
	events := follow(ctx, t, tp.Client("acme"), sub.WorkflowID)
	id := tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
	requireTraceAcrossProcesses(ctx, t, tp, sub.WorkflowID)

	// The archive the worker built and stored in the S3 store is what
	// nginx and each replica serve, byte for byte.
	stored, err := os.ReadFile(tp.s3Object(capsule.ArchiveKey("acme", id, 1, "zip")))
	require.NoError(t, err, "the worker stored the capsule's archive in the S3 store")
	via, err := tp.Client("acme").Download(ctx, id, 0, "zip")
	require.NoError(t, err)
	require.Equal(t, stored, via, "the archive through nginx differs from the stored one")
	for _, replica := range []string{"orchestrator-1", "orchestrator-2"} {
		got, err := tp.Direct(replica, "acme").Download(ctx, id, 0, "zip")
		require.NoError(t, err)
		require.Equal(t, stored, got, "the archive from %s differs from the stored one", replica)
	}
	// Another tenant sees none of it, through nginx.
	_, err = tp.Client("globex").Status(ctx, sub.WorkflowID)
	require.Error(t, err)
	require.Contains(t, err.Error(), "404")
}

// TestRepairThroughNginx: the coder's answer fails its tests in the
// sandbox service, the fixer's passes, and the job completes.
func TestRepairThroughNginx(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	j := tp.NewJob(true)
	sub := tp.submit(ctx, t, "acme", j, nil)
	events := follow(ctx, t, tp.Client("acme"), sub.WorkflowID)
	tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
	attempts := 0
	for _, e := range events {
		if e.Type == "task_attempt" && e.TaskID == "t1" {
			attempts++
		}
	}
	require.GreaterOrEqual(t, attempts, 1, "the repair attempt is announced")
}

// TestReviewThroughNginx: a job that waits for a review, answered through
// nginx, completes.
func TestReviewThroughNginx(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	j := tp.NewJob(false)
	sub := tp.submit(ctx, t, "acme", j, map[string]any{"review_threshold": 1})
	c := tp.Client("acme")
	var review orchestrator.ReviewInfo
	for review.ID == "" {
		list, err := c.PendingReviews(ctx)
		require.NoError(t, err)
		for _, r := range list.Reviews {
			if r.RequestID == sub.RequestID {
				review = r
			}
		}
		if review.ID == "" {
			select {
			case <-ctx.Done():
				t.Fatal("no review came before the test's deadline")
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	_, err := tp.Client("globex").RespondReview(ctx, review.ID, orchestrator.ReviewResponse{Decision: "approve"})
	require.Error(t, err, "another tenant cannot decide it")
	got, err := c.RespondReview(ctx, review.ID, orchestrator.ReviewResponse{Decision: "approve", Reviewer: "alice"})
	require.NoError(t, err)
	require.Equal(t, "approved", got.Status)
	events := follow(ctx, t, c, sub.WorkflowID)
	tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
}

// TestStreamResumesOnAnotherReplica: a client reads part of a job's stream
// from one orchestrator replica and resumes it with Last-Event-ID from the
// other; together they see every event once. An idempotency key sent to
// both replicas starts one job.
func TestStreamResumesOnAnotherReplica(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	j := tp.NewJob(false)
	key := fmt.Sprintf("topology-idem-%d", time.Now().UnixNano())
	one, err := tp.Direct("orchestrator-1", "acme").Execute(ctx, orchestrator.ExecuteRequest{Description: j.Request()}, key)
	require.NoError(t, err)
	two, err := tp.Direct("orchestrator-2", "acme").Execute(ctx, orchestrator.ExecuteRequest{Description: j.Request()}, key)
	require.NoError(t, err)
	require.Equal(t, one.WorkflowID, two.WorkflowID, "one idempotency key, one job, whichever replica answers")

	var seen []orchestrator.ProgressEvent
	stop := errors.New("switch replicas")
	err = tp.Direct("orchestrator-1", "acme").Follow(ctx, one.WorkflowID, 0, func(e orchestrator.ProgressEvent) error {
		seen = append(seen, e)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.NoError(t, tp.Direct("orchestrator-2", "acme").Follow(ctx, one.WorkflowID, seen[len(seen)-1].ID, func(e orchestrator.ProgressEvent) error {
		seen = append(seen, e)
		return nil
	}))
	tp.requireCompletedOnce(ctx, t, "acme", one.WorkflowID, seen)
	require.Equal(t, 1, j.Calls("decomposer"), "the job was planned once")
}

// TestSandboxRunsFromTheImage: the sandbox service is the image's, not the
// binary the other processes run: runc holds its container, and the
// languages it found are the image's (built with Python's toolchain only),
// not this machine's, which has Go and more.
func TestSandboxRunsFromTheImage(t *testing.T) {
	tp := topology(t)
	if tp.Procs["sandbox"].bin != "runc" {
		t.Fatalf("the sandbox runs %s, not runc", tp.Procs["sandbox"].bin)
	}
	out, err := exec.CommandContext(t.Context(), "runc", "--root", filepath.Join(tp.dir, "runc"), "list", "--format", "json").Output()
	require.NoError(t, err)
	var containers []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Bundle string `json:"bundle"`
	}
	require.NoError(t, json.Unmarshal(out, &containers))
	require.Len(t, containers, 1, "runc list: %s", out)
	require.Equal(t, "running", containers[0].Status)
	require.Equal(t, filepath.Join(tp.dir, "sandbox-bundle"), containers[0].Bundle)

	data, err := os.ReadFile(tp.Procs["sandbox"].LogPath)
	require.NoError(t, err)
	var languages []string
	for _, line := range strings.Split(string(data), "\n") {
		var rec struct {
			Msg       string   `json:"msg"`
			Languages []string `json:"languages"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "sandbox ready" {
			languages = rec.Languages
		}
	}
	require.Contains(t, languages, "python", "the sandbox's log has no \"sandbox ready\" line listing python:\n%s", data)
	require.NotContains(t, languages, "go", "the sandbox found Go: it sees this machine's toolchains, not the image's")
	_, hostGo := exec.LookPath("go")
	require.NoError(t, hostGo, "this machine has go (the other processes were built with it)")
}

// requireTraceAcrossProcesses: the job's trace (named by its status) holds
// spans of the orchestrator, the worker, the validation service and the
// sandbox service, each in its own process, and every span's parent is in
// the trace: the traceparent header and the workflow's headers carried it
// from process to process.
func requireTraceAcrossProcesses(ctx context.Context, t *testing.T, tp *Topology, workflowID string) {
	t.Helper()
	st, err := tp.Client("acme").Status(ctx, workflowID)
	require.NoError(t, err)
	require.Len(t, st.TraceID, 32, "the job's status names its trace")
	want := []string{"qlp-orchestrator", "qlp-worker", "qlp-validation", "qlp-sandbox"}
	var trace map[string]otlptest.Span
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, err = traces.Wait(wctx, func(s []otlptest.Span) bool {
		trace = otlptest.Trace(s, st.TraceID)
		services := map[string]bool{}
		finished := false
		for _, sp := range trace {
			services[sp.Resource["service.name"]] = true
			finished = finished || sp.Name == "RunWorkflow:QLPWorkflow"
		}
		for _, w := range want {
			if !services[w] {
				return false
			}
		}
		return finished && len(otlptest.Orphans(trace)) == 0
	})
	services := map[string]int{}
	for _, sp := range trace {
		services[sp.Resource["service.name"]]++
	}
	require.NoError(t, err, "spans of the job's trace by service: %v; spans whose parent is missing: %v", services, otlptest.Orphans(trace))
}
