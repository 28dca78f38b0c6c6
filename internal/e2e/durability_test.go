package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/cli"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx/logtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
)

// TestMain lets a test start this binary as the qlp command, so that a test
// can kill a real qlp process and start it again.
func TestMain(m *testing.M) {
	// The sandbox starts this binary as its helper inside every run (the
	// workflow validates generated code in the sandbox).
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	if args := os.Getenv("QLP_E2E_CHILD_ARGS"); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			panic(err)
		}
		os.Exit(cli.Execute(context.Background(), "e2e-child", argv, os.Stdout, os.Stderr))
	}
	code := m.Run()
	if sharedMesh.close != nil {
		sharedMesh.close()
	}
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// qlpProcess runs this test binary as `qlp ARGS...` with env.
// childEnv is the environment of a qlp child (platformArgs) on a fresh data
// directory and SQLite, its API on apiAddr, its models at modelURL, and
// extra settings last. Every other service gets a free port, so that tests
// and other checkouts running at the same time do not collide on the
// defaults.
func childEnv(t *testing.T, apiAddr, modelURL string, extra ...string) []string {
	env := []string{"QLP_DATA_DIR=" + t.TempDir(), "QLP_API_ADDR=" + apiAddr, fmt.Sprintf("QLP_TEMPORAL_PORT=%d", freePort(t)),
		"QLP_LLM_PROVIDER=openai", "QLP_LLM_BASE_URL=" + modelURL,
		"QLP_LLM_MODEL_T0=gpt-4o-mini", "QLP_LLM_MODEL_T1=gpt-4.1-mini", "QLP_LLM_MODEL_T2=gpt-4.1", "QLP_LLM_MODEL_T3=gpt-4o",
		"QLP_WORKFLOW_HEARTBEAT_TIMEOUT=3s", "QLP_LOG_LEVEL=" + logtest.Level("warn"), "QLP_STORE_DRIVER=sqlite", "QLP_DATABASE_URL=",
		// Canary secrets: the log scan after make test proves none is logged.
		"QLP_LLM_API_KEY=" + logtest.CanaryLLMKey, "QLP_BUDGET_WEBHOOK_SECRET=" + logtest.CanaryWebhookSecret}
	for _, name := range []string{"QLP_AGENTS_ADDR", "QLP_VALIDATION_ADDR", "QLP_MEMORY_ADDR", "QLP_SANDBOX_ADDR", "QLP_WORKER_ADDR", "QLP_MARKETING_ADDR"} {
		env = append(env, fmt.Sprintf("%s=127.0.0.1:%d", name, freePort(t)))
	}
	if url := validationURL(t); url != "" {
		env = append(env, "QLP_VALIDATION_URL="+url, "QLP_SERVICE_TOKEN="+meshToken)
	}
	return append(env, extra...)
}

// platformArgs is the command line of a child that runs the platform: the
// API, the worker, the Agent Factory, the memory and the embedded Temporal
// server, but not the Validation Mesh and its sandbox, which it reaches by
// QLP_VALIDATION_URL (childEnv): the package's shared mesh. `qlp up` would
// open a mesh of its own in every process it starts (a target a process
// runs is used there even when its URL is set), so each start and restart
// validated the example cold, compiling Go's standard library in a fresh
// sandbox for minutes; the shared mesh keeps its cache and its Go
// build-cache seed across them. Jobs are still validated for real in the
// sandbox; what is killed and restarted is still the process that runs the
// job's workflow.
func platformArgs() []string {
	return []string{"serve", strings.Join([]string{app.Orchestrator, app.Agents, app.Memory, app.Worker}, ",")}
}

func qlpProcess(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	argv, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), env...), "QLP_E2E_CHILD_ARGS="+string(argv))
	// The child must not outlive a failed test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// overall is the one deadline a multi-step end-to-end test waits under,
// instead of a fixed wait per step: on a loaded machine any one step (a
// start, a sandboxed validation) may take long; only the whole test must
// end. It is d, or less when go test's own -timeout comes first, so that
// the test fails with its own message rather than a panic.
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

// waitReady waits until url answers /readyz with 200, or ctx ends.
func waitReady(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		require.NoError(t, err)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never became ready: %v", url, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// TestKilledMidJobResumesAfterRestart kills the qlp process (kill -9) while a
// task's model call is in flight, starts it again on the same data dir, and
// checks that the same job completes with a verified capsule.
func TestKilledMidJobResumesAfterRestart(t *testing.T) {
	request, rules := exampleScript(t)
	script := llmtest.NewScript(rules...)
	var t2Calls atomic.Int32
	t2Started := make(chan struct{}, 1)
	model := llmtest.New(func(c llmtest.Call) llmtest.Reply {
		r := script.Handle(c)
		if c.Role == "coder" && c.TaskID == "t2" && t2Calls.Add(1) == 1 {
			t2Started <- struct{}{}
			r.Delay = time.Hour // never answered: the process dies first, which ends the request
		}
		return r
	})
	defer model.Close()

	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := childEnv(t, apiAddr, model.URL)
	out, err := qlpProcess(t, env, "apikey", "create", "--tenant", "acme", "--json").Output()
	require.NoError(t, err)
	var key struct{ Key string }
	require.NoError(t, json.Unmarshal(out, &key))
	require.True(t, strings.HasPrefix(key.Key, auth.KeyPrefix))

	logs := filepath.Join(t.TempDir(), "child.log")
	logtest.Keep(t, logs)
	start := func() *exec.Cmd {
		cmd := qlpProcess(t, env, platformArgs()...)
		f, err := os.OpenFile(logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = f, f
		require.NoError(t, cmd.Start())
		return cmd
	}
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logs)
			t.Logf("qlp logs:\n%s", b)
		}
	}()
	// One generous deadline for the whole test: the job runs t1 and its
	// validation in the sandbox before t2, then again after the restart.
	ctx := overall(t, 15*time.Minute)
	base := "http://" + apiAddr
	first := start()
	waitReady(ctx, t, base)
	c := orchestrator.NewClient(base, auth.Secret(key.Key), nil)
	sub, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "")
	require.NoError(t, err)

	select {
	case <-t2Started:
	case <-ctx.Done():
		t.Fatal("task t2 never reached the model before the test's deadline")
	}
	require.NoError(t, syscall.Kill(-first.Process.Pid, syscall.SIGKILL)) // the whole process group
	_ = first.Wait()

	second := start()
	defer func() {
		_ = syscall.Kill(-second.Process.Pid, syscall.SIGTERM)
		_ = second.Wait()
	}()
	waitReady(ctx, t, base)
	// The job resumes: t2 again, then every task's validation and the
	// capsule's full validation in the sandbox (minutes on a loaded
	// 2-core machine), under the same deadline.
	var last orchestrator.ProgressEvent
	require.NoError(t, c.Follow(ctx, sub.WorkflowID, 0, func(e orchestrator.ProgressEvent) error { last = e; return nil }))
	require.Equal(t, "workflow_completed", last.Type, last.Message)
	require.EqualValues(t, 2, t2Calls.Load(), "t2's interrupted call was retried once")

	st, err := c.Status(t.Context(), sub.WorkflowID)
	require.NoError(t, err)
	require.Equal(t, "completed", st.Status)
	require.Equal(t, 3, st.Result.TasksCompleted)
	data, err := c.Download(t.Context(), st.Result.CapsuleID, 0, "zip")
	require.NoError(t, err)
	files, err := capsule.ReadArchive(data)
	require.NoError(t, err)
	v, err := capsule.Verify(files)
	require.NoError(t, err)
	require.True(t, v.Intact(), v.Problems)
	list, err := c.Capsules(t.Context(), 10, 0)
	require.NoError(t, err)
	require.Equal(t, 1, list.Total, "one job, one capsule")
}
