package workflow_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// TestMain lets the test binary act as the sandbox helper, as the qlp
// binary does with its hidden `sandbox-exec` command: the workflow's
// validation runs real tools in the real sandbox.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	code := m.Run()
	if mesh.sb != nil {
		_ = mesh.sb.Close()
	}
	os.Exit(code)
}

// mesh is one sandbox and Validation Mesh for the test binary (its cache
// makes the example's second validation instant).
var mesh struct {
	once sync.Once
	sb   *sandbox.Service
	m    *validation.Mesh
	err  error
}

// testValidator returns the shared mesh, or nil where bwrap is missing
// (a failure under QLP_TEST_REQUIRE_SERVICES=1).
func testValidator(t testing.TB) wf.Validator {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("bwrap is not installed (run scripts/install-deps.sh test): %v", err)
		}
		t.Log("bwrap is not installed: capsules are built without validation")
		return nil
	}
	mesh.once.Do(func() {
		ctx := context.Background()
		mesh.sb, mesh.err = sandbox.New(ctx, sandbox.Defaults(), sandbox.Deps{Logger: logx.Discard()})
		if mesh.err == nil {
			mesh.m, mesh.err = validation.New(ctx, validation.Defaults(), validation.Deps{Logger: logx.Discard(), Sandbox: mesh.sb})
		}
	})
	require.NoError(t, mesh.err)
	return mesh.m
}

// exampleDir is the scripted URL shortener example.
const exampleDir = "../../examples/url-shortener"

// exampleRules script the decomposer and every task of the example.
func exampleRules(t testing.TB) (string, []llmtest.Rule) {
	t.Helper()
	ex, err := llmtest.LoadExample(exampleDir)
	require.NoError(t, err)
	return ex.Request, ex.Rules
}

type harness struct {
	reg   *prometheus.Registry // the job metrics
	store store.Store
	acts  *wf.Activities
	srv   *llmtest.Server
	env   *testsuite.TestWorkflowEnvironment
}

// testWorkerOptions raise the SDK's deadlock detector from one second to
// thirty: under -race on a loaded two-core machine a first workflow task
// has been seen to take longer than a second without any deadlock
// ("[TMPRL1101] Potential deadlock detected"), and a real deadlock still
// fails the test.
var testWorkerOptions = worker.Options{DeadlockDetectionTimeout: 30 * time.Second}

// newHarness wires real activities to a SQLite store and a scripted model
// server, inside Temporal's workflow test environment.
func newHarness(t *testing.T, handler llmtest.Handler) *harness {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	srv := llmtest.New(handler)
	t.Cleanup(srv.Close)
	cfg := tiers.Defaults()
	cfg.Provider, cfg.BaseURL = "openai", srv.URL
	cfg.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	router, err := tiers.Build(cfg, st, logx.Discard())
	require.NoError(t, err)
	signer, err := capsule.LoadOrCreateSigner(t.TempDir())
	require.NoError(t, err)
	blobs, err := blob.OpenLocal(t.TempDir())
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	metrics, err := wf.NewMetrics(reg)
	require.NoError(t, err)
	acts := &wf.Activities{
		Store: st, Models: router, Bus: progress.NewBus(st, 0), Signer: signer, Validator: testValidator(t),
		Generator: capsule.Generator{QLPVersion: "test", Provider: "openai", Models: map[string]string{"T0": "gpt-4o-mini"}},
		Metrics:   metrics, Blobs: blobs,
		MaxTokens: 4096, Temperature: 0.2, MaxTasks: 20, DecomposerTier: "T2", Logger: logx.Discard(),
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(10 * time.Minute)
	env.SetWorkerOptions(testWorkerOptions)
	wf.RegisterWorkflow(env)
	env.RegisterActivity(acts)
	return &harness{reg: reg, store: st, acts: acts, srv: srv, env: env}
}

// again returns a harness on the same store, model and activities with a
// fresh workflow environment (one environment runs one workflow).
func (h *harness) again(t *testing.T) *harness {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(2 * time.Minute)
	env.SetWorkerOptions(testWorkerOptions)
	wf.RegisterWorkflow(env)
	env.RegisterActivity(h.acts)
	return &harness{reg: h.reg, store: h.store, acts: h.acts, srv: h.srv, env: env}
}

func (h *harness) newJob(t *testing.T, id, description, language string) {
	t.Helper()
	_, err := h.store.EnsureTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	_, _, err = h.store.CreateJob(t.Context(), store.Job{ID: id, TenantID: "acme", WorkflowID: wf.WorkflowID(id),
		Description: description, Language: language, Constraints: json.RawMessage(`{}`)})
	require.NoError(t, err)
}

func (h *harness) run(id string) {
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: id, TenantID: "acme", HeartbeatTimeout: 10 * time.Second})
}

func (h *harness) events(t *testing.T, id string) []store.Event {
	ev, err := h.store.ListEvents(t.Context(), id, 0, 0)
	require.NoError(t, err)
	return ev
}

// jobsFinished is qlp_jobs_total for each status.
func (h *harness) jobsFinished(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "qlp_jobs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}
