package orchestrator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator/contracttest"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// compatAPI serves the API over a SQLite store holding one job of acme's in
// every state (queued, running, completed with a capsule, failed,
// cancelled), with requests authenticated as acme.
type compatAPI struct {
	srv   *httptest.Server
	store store.Store
	jobs  map[string]string // state → request id
	cap   string            // the completed job's capsule
}

func newCompatAPI(t *testing.T) *compatAPI {
	t.Helper()
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.EnsureTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	api := &compatAPI{store: st, jobs: map[string]string{}}
	started := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	ended := started.Add(90 * time.Second)
	status := func(s store.JobStatus) *store.JobStatus { return &s }
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	for _, state := range []string{"queued", "running", "completed", "failed", "cancelled"} {
		id := "req-" + state
		api.jobs[state] = id
		_, _, err := st.CreateJob(ctx, store.Job{ID: id, TenantID: "acme", WorkflowID: workflow.WorkflowID(id), Description: "a URL shortener in Go",
			Mode: "complete", Constraints: json.RawMessage(`{}`), Metadata: json.RawMessage(`{}`)})
		require.NoError(t, err)
		if state == "queued" {
			continue
		}
		u := store.JobUpdate{Status: status(store.JobRunning), StartedAt: &started, TasksTotal: num(2)}
		switch state {
		case "completed":
			u.Status, u.CompletedAt, u.TasksDone = status(store.JobCompleted), &ended, num(2)
		case "failed":
			u.Status, u.CompletedAt, u.Error = status(store.JobFailed), &ended, str("task t2 failed after 3 attempt(s): go-build: undefined: Shorten")
		case "cancelled":
			u.Status, u.CompletedAt, u.Error = status(store.JobCancelled), &ended, str("cancelled by request")
		}
		require.NoError(t, st.UpdateJob(ctx, id, u))
		taskStatus := map[string]store.TaskStatus{"completed": store.TaskCompleted, "failed": store.TaskFailed, "cancelled": store.TaskSkipped}[state]
		if taskStatus == "" {
			taskStatus = store.TaskRunning
		}
		require.NoError(t, st.PutTasks(ctx, id, []store.Task{
			{JobID: id, ID: "t1", Seq: 0, Type: "code_generation", Description: "store", Complexity: "simple", Dependencies: []string{}, Status: store.TaskCompleted},
			{JobID: id, ID: "t2", Seq: 1, Type: "code_generation", Description: "server", Complexity: "medium", Dependencies: []string{"t1"}, Status: taskStatus},
		}))
	}
	// The completed job's capsule, built and signed as the workflow does.
	signer, err := capsule.LoadOrCreateSigner(t.TempDir())
	require.NoError(t, err)
	score := 0.82
	c, err := capsule.Build(capsule.Input{ID: workflow.CapsuleID("req-completed"), Version: 1, Name: "url-shortener", Description: "d", Request: "r",
		RequestID: "req-completed", Language: "go", Framework: "net/http",
		Files: map[string][]byte{"go.mod": []byte("module example.com/s\n"), "main.go": []byte("package main\n"), "main_test.go": []byte("package main\n")},
		Report: capsule.Report{OverallStatus: "warning", ConfidenceScore: &score, Summary: "10 checks: 9 passed, 1 warning",
			Checks: json.RawMessage(`[{"name":"go-build","status":"passed","message":"compiles"},{"name":"gosec","status":"warning","message":"1 finding","reason":"G104"},{"name":"eslint","status":"skipped","reason":"skipped: not javascript"}]`)},
		CreatedAt: ended.Format(time.RFC3339)}, signer)
	require.NoError(t, err)
	api.cap = c.Manifest.ID
	v := store.CapsuleVersion{CapsuleID: api.cap, Version: 1, Manifest: c.ManifestJSON, Report: c.Files[capsule.ReportFile], CreatedAt: ended}
	for _, e := range c.Manifest.Files {
		v.Files = append(v.Files, store.CapsuleFile{Path: e.Path, Role: e.Role, Size: e.Size, SHA256: e.SHA256, Content: c.Files[e.Path]})
	}
	require.NoError(t, st.AddCapsuleVersion(ctx, store.Capsule{ID: api.cap, TenantID: "acme", JobID: "req-completed", Name: "url-shortener",
		Language: "go", CreatedAt: ended}, v))
	require.NoError(t, st.UpdateJob(ctx, "req-completed", store.JobUpdate{CapsuleID: &api.cap}))

	s := New(Config{Workflow: workflow.Config{MaxAttempts: 3, EscalateAfter: 2}}, Deps{Store: st, Logger: logx.Discard()})
	mux := http.NewServeMux()
	s.Mount(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{TenantID: "acme", KeyID: "k"})))
		})
	})
	api.srv = httptest.NewServer(mux)
	t.Cleanup(api.srv.Close)
	return api
}

func (a *compatAPI) do(t *testing.T, method, path string, headers map[string]string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, a.srv.URL+path, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// TestEarlierClientsReadEveryJobState sends each earlier client's recorded
// request (testdata/earlier-clients) for a job in every state it can meet,
// and checks the answer against what that client needs: the Python SDK's
// dataclasses (exact keys), the upper-case words both SDKs wait for, the
// earlier CLI's lower-case words and fields, its /capsule/{id}, and the
// SDKs' /v2/capsules/{id}/download?format=targz. Calls that start or cancel
// a job are checked end to end (internal/e2e).
func TestEarlierClientsReadEveryJobState(t *testing.T) {
	api := newCompatAPI(t)
	for _, f := range contracttest.Load(t, contracttest.Dir) {
		if f.Engine {
			continue
		}
		for state := range f.States {
			t.Run(f.Name+"/"+state, func(t *testing.T) {
				id := api.jobs[state]
				path := f.Path(map[string]string{"workflow_id": workflow.WorkflowID(id), "request_id": id, "capsule_id": api.cap})
				code, ct, body := api.do(t, f.Request.Method, path, f.Request.Headers)
				f.Check(t, state, code, ct, body)
			})
		}
	}
}

// TestOwnStatusKeepsItsShape: QLP's own job status (GET /api/v2/jobs/{id},
// what qlp status reads) keeps its own words and fields.
func TestOwnStatusKeepsItsShape(t *testing.T) {
	api := newCompatAPI(t)
	for state, want := range map[string]string{"queued": "queued", "running": "running", "completed": "completed", "failed": "failed", "cancelled": "cancelled"} {
		code, _, body := api.do(t, "GET", "/api/v2/jobs/"+api.jobs[state], nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var st StatusResponse
		require.NoError(t, json.Unmarshal(body, &st))
		require.Equal(t, want, st.Status)
		require.Equal(t, api.jobs[state], st.RequestID)
		require.NotNil(t, st.Progress)
	}
	code, _, body := api.do(t, "GET", "/api/v2/jobs/"+api.jobs["running"], nil)
	require.Equal(t, http.StatusOK, code)
	var st StatusResponse
	require.NoError(t, json.Unmarshal(body, &st))
	require.Equal(t, 1, st.Progress.TasksCompleted, "live progress counts the tasks done")
}

// TestEarlierCLIExecuteMetadata: the earlier CLI's --language travels in
// metadata.language, and its --deploy in metadata.deploy_target.
func TestEarlierCLIExecuteMetadata(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     ExecuteRequest
		language any
		badField string
		status   int
	}{
		{name: "language from metadata", body: ExecuteRequest{Metadata: map[string]any{"language": "go", "deploy_target": nil, "source": "cli"}}, language: "go"},
		{name: "auto leaves it open", body: ExecuteRequest{Metadata: map[string]any{"language": "auto"}}},
		{name: "constraints win", body: ExecuteRequest{Constraints: map[string]any{"language": "python"}, Metadata: map[string]any{"language": "go"}}, language: "python"},
		{name: "unknown language", body: ExecuteRequest{Metadata: map[string]any{"language": "cobol"}}, badField: "metadata.language", status: 400},
		{name: "deployment is not built", body: ExecuteRequest{Metadata: map[string]any{"deploy_target": "aws"}}, badField: "metadata.deploy_target", status: 501},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.body
			err := legacyExecute(&b)
			if tc.badField != "" {
				he := httpx.AsError(err)
				require.NotNil(t, he, "%v", err)
				require.Equal(t, tc.badField, he.Field)
				require.Equal(t, tc.status, he.Status)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.language, b.Constraints["language"])
		})
	}
}

// TestDownloadAcceptsTargz: the capsule's downloads name targz, and the
// earlier SDKs send format=targz.
func TestDownloadAcceptsTargz(t *testing.T) {
	api := newCompatAPI(t)
	for _, path := range []string{"/api/capsules/" + api.cap + "/download?format=targz", "/v2/capsules/" + api.cap + "/download?format=targz"} {
		code, ct, body := api.do(t, "GET", path, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		require.Equal(t, "application/gzip", ct)
		files, err := capsule.ReadArchive(body)
		require.NoError(t, err)
		require.Contains(t, files, "main.go")
	}
	code, _, body := api.do(t, "GET", "/api/capsules/"+api.cap+"/download?format=rar", nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.True(t, strings.Contains(string(body), `"field":"format"`), string(body))
}
