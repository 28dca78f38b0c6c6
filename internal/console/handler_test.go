package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// oneKey accepts one key, for the tenant acme.
type oneKey string

func (k oneKey) Authenticate(_ context.Context, key string) (auth.Principal, error) {
	if key != string(k) {
		return auth.Principal{}, auth.ErrInvalidKey
	}
	return auth.Principal{TenantID: "acme", KeyID: "k1", Scopes: auth.DefaultScopes()}, nil
}

// TestJobPageThroughTheAPI serves the job page against an API handler that
// answers GET /api/v2/jobs/{id} for the key the session holds: the page
// asks the API with that key, draws the tasks, links the Temporal UI in
// the job's namespace, and turns the API's 404 into a 404 page.
func TestJobPageThroughTheAPI(t *testing.T) {
	const key = "qlp_test"
	var seen []string
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v2/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != "Bearer "+key || r.PathValue("id") != "qlp-execution-j1" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"job not found"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(orchestrator.StatusResponse{WorkflowID: "qlp-execution-j1", RequestID: "j1", Status: "running",
			Progress: &orchestrator.Progress{Message: "1 of 2 tasks done", TasksCompleted: 1, TasksTotal: 2}})
	})
	tasks := func(_ context.Context, jobID string) ([]domain.Task, error) {
		require.Equal(t, "j1", jobID)
		return []domain.Task{{ID: "t1", Seq: 1, Status: domain.TaskCompleted, InputTokens: 10, OutputTokens: 5, CostPUSD: 1_500_000},
			{ID: "t2", Seq: 2, Status: domain.TaskRunning, Dependencies: []string{"t1"}, InputTokens: 20, OutputTokens: 7, CostPUSD: 500_000}}, nil
	}
	c, err := New(Config{TemporalUIURL: "http://temporal.test/", TemporalNamespace: "qlp", SessionTTL: time.Hour}, Deps{Auth: oneKey(key), Tasks: tasks})
	require.NoError(t, err)
	clock := time.Now()
	c.now = func() time.Time { return clock }
	srv := httptest.NewServer(c.Handler(api))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		resp, err := hc.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, login := get("/ui/login")
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(login)
	require.NotNil(t, token)
	resp, err := hc.PostForm(srv.URL+"/ui/login", url.Values{"csrf": {token[1]}, "key": {key}, "next": {"/ui/jobs/qlp-execution-j1"}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	page := string(body)
	require.Contains(t, page, `data-task="t2" data-state="running"`)
	require.Contains(t, page, `href="http://temporal.test/namespaces/qlp/workflows/qlp-execution-j1"`)
	require.Contains(t, page, "1 of 2 tasks done")
	require.Contains(t, page, "Tasks so far: 30 tokens in, 12 out, $0.000002.")
	require.Contains(t, page, `action="/ui/jobs/qlp-execution-j1/cancel"`, "a running job offers cancel")
	require.Equal(t, []string{"Bearer " + key}, seen, "the page did not ask the API with the session's key")

	status, page := get("/ui/jobs/someone-elses")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, page, "Not found")

	// The session ends after its TTL, whatever the browser keeps.
	clock = clock.Add(time.Hour + time.Second)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, _ = get("/ui/jobs/qlp-execution-j1")
	require.Equal(t, http.StatusSeeOther, status, "an expired session still opens pages")
}
