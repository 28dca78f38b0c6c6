package topology

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// Each fault test runs one job, breaks a part of the topology while the
// job's coder call is held open at the model, mends it, and checks that the
// job completes with every event once and one capsule. A test leaves every
// process running, as it found them.

// ensureRunning starts any process a failed test left stopped.
func (tp *Topology) ensureRunning(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, n := range tp.Order {
		if !tp.Procs[n].Running() {
			require.NoError(t, tp.StartProc(ctx, n), "restarting %s", n)
		}
	}
}

// pids are the process ids of every process, to show none restarted.
func (tp *Topology) pids() map[string]int {
	out := map[string]int{}
	for _, n := range tp.Order {
		p := tp.Procs[n]
		p.mu.Lock()
		if p.cmd != nil {
			out[n] = p.cmd.Process.Pid
		}
		p.mu.Unlock()
	}
	return out
}

// faultJob submits a job whose coder call waits, and follows its stream
// through nginx in the background. It returns when the coder call has
// arrived; release lets it answer; result waits for the stream's end.
func (tp *Topology) faultJob(ctx context.Context, t *testing.T) (sub orchestrator.ExecuteResponse, j *Job, release func(), result func() []orchestrator.ProgressEvent) {
	t.Helper()
	j = tp.NewJob(false)
	started, release := j.Gate("coder")
	t.Cleanup(release)
	sub = tp.submit(ctx, t, "acme", j, nil)
	type followed struct {
		events []orchestrator.ProgressEvent
		err    error
	}
	done := make(chan followed, 1)
	go func() {
		var f followed
		f.err = tp.Client("acme").Follow(ctx, sub.WorkflowID, 0, func(e orchestrator.ProgressEvent) error {
			f.events = append(f.events, e)
			return nil
		})
		done <- f
	}()
	waitFor(ctx, t, started, "the coder's call")
	return sub, j, release, func() []orchestrator.ProgressEvent {
		t.Helper()
		f := <-done
		require.NoError(t, f.err, "following the job through nginx")
		return f.events
	}
}

// TestWorkerKilledMidActivity: the worker running a job's model call is
// killed (kill -9); the other worker retries the activity and finishes the
// job.
func TestWorkerKilledMidActivity(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	defer tp.ensureRunning(context.Background(), t)
	// Only worker-1 runs while the job starts, so that it is the one
	// holding the coder's call.
	tp.Procs["worker-2"].Stop()
	sub, j, release, result := tp.faultJob(ctx, t)
	require.NoError(t, tp.StartProc(ctx, "worker-2"))
	tp.Procs["worker-1"].Kill9()
	release()
	events := result()
	tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
	require.Equal(t, 2, j.Calls("coder"), "the killed worker's call, then the other worker's retry")
	require.NoError(t, tp.StartProc(ctx, "worker-1"))
}

// TestTemporalKilledMidJob: the Temporal server is killed (kill -9) while
// an activity runs and started again on its data; the job completes.
func TestTemporalKilledMidJob(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	defer tp.ensureRunning(context.Background(), t)
	sub, _, release, result := tp.faultJob(ctx, t)
	tp.Procs["temporal"].Kill9()
	require.NoError(t, tp.StartProc(ctx, "temporal"))
	release()
	events := result()
	tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
	for _, n := range []string{"orchestrator-1", "orchestrator-2", "worker-1", "worker-2"} {
		require.NoError(t, WaitReady(ctx, tp.Procs[n].URL), "%s is ready again without a restart", n)
	}
}

// TestRedisRestartedMidStream: Redis restarts while a client streams a
// job's progress; the stream misses no event and the job completes.
func TestRedisRestartedMidStream(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	defer tp.ensureRunning(context.Background(), t)
	before := tp.pids()
	sub, _, release, result := tp.faultJob(ctx, t)
	tp.Procs["redis"].Kill9()
	require.NoError(t, tp.StartProc(ctx, "redis"))
	release()
	events := result()
	tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
	after := tp.pids()
	for n, pid := range before {
		if n != "redis" {
			require.Equal(t, pid, after[n], "%s was restarted", n)
		}
	}
}

// readyState fetches url/readyz: its status and its checks.
func readyState(ctx context.Context, url string) (int, map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body.Checks, nil
}

// waitReadyState waits until url's /readyz answers want.
func waitReadyState(ctx context.Context, t *testing.T, url string, want int) map[string]string {
	t.Helper()
	for {
		status, checks, err := readyState(ctx, url)
		if err == nil && status == want {
			return checks
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s/readyz never answered %d (last %d %v %v)", url, want, status, checks, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestPostgresRestarted: PostgreSQL stops while a job runs: every service
// that keeps its records there says so on /readyz (503, naming the
// store), and is ready again by itself when PostgreSQL is back, with no
// restart of any service; the job completes.
func TestPostgresRestarted(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	defer tp.ensureRunning(context.Background(), t)
	before := tp.pids()
	sub, _, release, result := tp.faultJob(ctx, t)
	require.NoError(t, tp.PGCtl(ctx, "stop"))
	pgUp := false
	defer func() {
		if !pgUp {
			_ = tp.PGCtl(context.Background(), "start")
		}
	}()
	for _, n := range []string{"orchestrator-1", "orchestrator-2", "worker-1", "worker-2", "agents"} {
		checks := waitReadyState(ctx, t, tp.Procs[n].URL, http.StatusServiceUnavailable)
		require.NotEqual(t, "ok", checks["store"], "%s: the store check names the outage: %v", n, checks)
	}
	require.NoError(t, tp.PGCtl(ctx, "start"))
	pgUp = true
	for _, n := range []string{"orchestrator-1", "orchestrator-2", "worker-1", "worker-2", "agents", "memory"} {
		waitReadyState(ctx, t, tp.Procs[n].URL, http.StatusOK)
	}
	release()
	events := result()
	tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
	require.Equal(t, before, tp.pids(), "no process was restarted")
}

// TestValidationStoppedFor20s: the Validation Mesh is down for 20 s when the
// job's task needs it: nginx answers its route with a 503 naming it, the
// validation activity retries, and the job completes once it is back.
func TestValidationStoppedFor20s(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	defer tp.ensureRunning(context.Background(), t)
	sub, _, release, result := tp.faultJob(ctx, t)
	tp.Procs["validation"].Stop()
	down := time.Now()
	release()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tp.Nginx+"/api/v1/validation/readyz", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	require.True(t, strings.Contains(string(body), "validation"), "the 503 names the service: %s", body)
	for _, n := range []string{"worker-1", "worker-2"} {
		checks := waitReadyState(ctx, t, tp.Procs[n].URL, http.StatusServiceUnavailable)
		require.Contains(t, checks["validation"], "cannot reach", "%s's /readyz names the mesh: %v", n, checks)
	}

	time.Sleep(time.Until(down.Add(20 * time.Second)))
	require.NoError(t, tp.StartProc(ctx, "validation"))
	events := result()
	tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
	var validatedAfter bool
	for _, e := range events {
		if e.Type == "task_validated" && e.Timestamp.After(down.Add(20*time.Second)) {
			validatedAfter = true
		}
	}
	require.True(t, validatedAfter, "the task was validated after the mesh came back")
}

// TestBlobStoreStopped: the S3 store holding capsule archives is down when
// a job packages its capsule: the archive step fails naming the store and
// is retried, the orchestrators' /readyz name it, a download in the
// meantime is a 503 naming the blob store (never an archive built some
// other way), and once the store is back the job completes with the one
// archive stored, which every replica serves.
func TestBlobStoreStopped(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 10*time.Minute)
	defer tp.ensureRunning(context.Background(), t)
	sub, _, release, result := tp.faultJob(ctx, t)
	tp.Procs["s3"].Stop()
	release()

	checks := waitReadyState(ctx, t, tp.Procs["orchestrator-1"].URL, http.StatusServiceUnavailable)
	require.NotEqual(t, "ok", checks["blob"], "the orchestrator's /readyz names the blob store: %v", checks)
	// The capsule's record is written before its archive: wait for it,
	// then ask for its archive while the store is down.
	c := tp.Client("acme")
	var capsuleID string
	for capsuleID == "" {
		list, err := c.Capsules(ctx, 50, 0)
		require.NoError(t, err)
		for _, cp := range list.Capsules {
			if cp.RequestID == sub.RequestID {
				capsuleID = cp.ID
			}
		}
		if capsuleID == "" {
			select {
			case <-ctx.Done():
				t.Fatal("the capsule's record never appeared")
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	_, err := c.Download(ctx, capsuleID, 0, "zip")
	require.Error(t, err)
	require.Contains(t, err.Error(), "503")
	require.Contains(t, err.Error(), "blob")
	time.Sleep(3 * time.Second) // at least one failed attempt of the archive step
	logs := tp.Procs["worker-1"].Tail(400) + tp.Procs["worker-2"].Tail(400)
	require.Contains(t, logs, "in the blob store (s3 bucket", "a worker logged the archive step's failure naming the store")
	require.Contains(t, logs, "capsules/acme/"+capsuleID+"/v1.zip", "and the archive's key")

	require.NoError(t, tp.StartProc(ctx, "s3"))
	events := result()
	id := tp.requireCompletedOnce(ctx, t, "acme", sub.WorkflowID, events)
	require.Equal(t, capsuleID, id)
	stored, err := os.ReadFile(tp.s3Object(capsule.ArchiveKey("acme", id, 1, "zip")))
	require.NoError(t, err)
	for _, replica := range []string{"orchestrator-1", "orchestrator-2"} {
		got, err := tp.Direct(replica, "acme").Download(ctx, id, 0, "zip")
		require.NoError(t, err)
		require.Equal(t, stored, got, "%s serves the stored archive", replica)
	}
}
