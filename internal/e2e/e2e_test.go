package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx/logtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
	"github.com/quantumlayer/qlp/internal/workflow"
)

func TestMainJobEndToEnd(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pg := ""
			if backend == "postgres" {
				pg = storetest.PostgresURL(t)
			}
			request, rules := exampleScript(t)
			pl := startPlatform(t, pg, llmtest.NewScript(rules...).Handle)
			require.Equal(t, backend, pl.p.Store.Driver())
			c := pl.client("acme")

			sub, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{Description: request, UserID: "ada"}, "idem-1")
			require.NoError(t, err)
			require.Equal(t, "submitted", sub.Status)
			require.Equal(t, workflow.WorkflowID(sub.RequestID), sub.WorkflowID)
			again, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "idem-1")
			require.NoError(t, err)
			require.Equal(t, sub.RequestID, again.RequestID, "the Idempotency-Key returns the first job")

			events := pl.waitTerminal("acme", sub.WorkflowID)
			types := map[string]int{}
			for i, e := range events {
				types[e.Type]++
				if i > 0 {
					require.Greater(t, e.ID, events[i-1].ID, "event ids grow")
				}
				require.Equal(t, sub.RequestID, e.RequestID)
			}
			require.Equal(t, "workflow_completed", events[len(events)-1].Type)
			require.Equal(t, 1, types["decomposed"])
			require.Equal(t, 3, types["task_completed"])
			require.Equal(t, 1, types["capsule_created"])
			require.Equal(t, 3, types["task_validated"], "every task is validated")
			require.Equal(t, 1, types["capsule_validated"], "and the assembled capsule")

			// Resuming after an event id replays exactly what came after it.
			mid := events[len(events)/2].ID
			var resumed []int64
			require.NoError(t, c.Follow(t.Context(), sub.RequestID, mid, func(e orchestrator.ProgressEvent) error {
				resumed = append(resumed, e.ID)
				return nil
			}))
			require.Equal(t, events[len(events)/2+1].ID, resumed[0])
			require.Len(t, resumed, len(events)-len(events)/2-1)

			st, err := c.Status(t.Context(), sub.WorkflowID)
			require.NoError(t, err)
			require.Equal(t, "completed", st.Status)
			require.NotNil(t, st.Result)
			require.Equal(t, 3, st.Result.TasksCompleted)
			require.GreaterOrEqual(t, st.Result.Cost.Calls, 4, "four model calls, and the memory's embedding calls")
			require.NotNil(t, st.Progress)
			require.Equal(t, 100, st.Progress.Percentage)

			code, body, _ := pl.call("GET", "/v2/workflows/"+sub.WorkflowID+"/result", pl.keys["acme"], nil, nil)
			require.Equal(t, http.StatusOK, code)
			var res orchestrator.LegacyResult
			mustJSON(t, body, &res)
			require.Equal(t, "/api/capsules/"+st.Result.CapsuleID+"/download?format=zip", res.Downloads["zip"])

			for _, format := range []string{"zip", "tar", "tar.gz"} {
				data, err := c.Download(t.Context(), st.Result.CapsuleID, 0, format)
				require.NoError(t, err)
				files, err := capsule.ReadArchive(data)
				require.NoError(t, err)
				v, err := capsule.Verify(files, pl.p.Signer.PublicKey())
				require.NoError(t, err)
				require.True(t, v.OK(), v.Problems)
				require.True(t, v.Trusted)
				require.GreaterOrEqual(t, v.Files, 3)
			}
			// `qlp up`'s blob store is a directory under the data
			// directory; the workflow kept the zip archive there, and the
			// download is that object, byte for byte.
			require.Equal(t, "local directory "+filepath.Join(pl.p.Cfg.DataDir, "blobs"), pl.p.Blobs.String())
			obj, err := os.ReadFile(filepath.Join(pl.p.Cfg.DataDir, "blobs", capsule.ArchiveKey("acme", st.Result.CapsuleID, 1, capsule.DefaultFormat)))
			require.NoError(t, err)
			zip, err := c.Download(t.Context(), st.Result.CapsuleID, 0, "")
			require.NoError(t, err)
			require.Equal(t, obj, zip)
			code, body, hdr := pl.call("GET", "/api/capsules/"+st.Result.CapsuleID+"/files/shortener/store.go", pl.keys["acme"], nil, nil)
			require.Equal(t, http.StatusOK, code)
			require.Contains(t, string(body), "package shortener")
			require.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
			code, body, _ = pl.call("GET", "/api/capsules/"+st.Result.CapsuleID+"/files/manifest.json", pl.keys["acme"], nil, nil)
			require.Equal(t, http.StatusOK, code)
			require.Contains(t, string(body), `"schema_version": "qlp.capsule/v1"`)

			list, err := c.Capsules(t.Context(), 10, 0)
			require.NoError(t, err)
			require.Equal(t, 1, list.Total)
			// The example compiles and its tests pass in the sandbox; gosec
			// notes the redirect to a stored URL (what a shortener does).
			require.Contains(t, []string{"passed", "warning"}, list.Capsules[0].ValidationStatus)
			require.Equal(t, list.Capsules[0].ValidationStatus == "passed", list.Capsules[0].ProductionReady,
				"only a capsule that passed every check is called production ready")

			// Tenants are walled off from each other.
			other := pl.client("globex")
			l2, err := other.Capsules(t.Context(), 10, 0)
			require.NoError(t, err)
			require.Zero(t, l2.Total)
			_, err = other.Capsule(t.Context(), st.Result.CapsuleID, 0)
			requireAPIError(t, err, http.StatusNotFound)
			_, err = other.Status(t.Context(), sub.WorkflowID)
			requireAPIError(t, err, http.StatusNotFound)
			_, err = other.Download(t.Context(), st.Result.CapsuleID, 0, "zip")
			requireAPIError(t, err, http.StatusNotFound)

			usage, err := pl.p.Store.ListUsage(t.Context(), store.UsageFilter{JobID: sub.RequestID})
			require.NoError(t, err)
			chat, embed := 0, 0
			for _, u := range usage {
				require.Equal(t, "acme", u.TenantID)
				if strings.HasPrefix(u.Role, "embedder:") {
					embed++
					require.Equal(t, "builtin", u.Provider)
					require.Zero(t, u.CostPUSD, "the built-in embedder is free")
					continue
				}
				chat++
				require.Equal(t, "openai", u.Provider)
				require.Positive(t, u.CostPUSD)
			}
			require.Equal(t, 5, chat, "one decomposition, three tasks, and t3's tests written first")
			require.Positive(t, embed, "memory's embedding calls are metered too")
		})
	}
}

func requireAPIError(t *testing.T, err error, status int) *httpx.StatusError {
	t.Helper()
	require.Error(t, err)
	ae, ok := err.(*httpx.StatusError)
	require.True(t, ok, "got %T %v", err, err)
	require.Equal(t, status, ae.Status, ae.Error())
	return ae
}

func TestBadInput(t *testing.T) {
	request, rules := exampleScript(t)
	pl := startPlatform(t, "", llmtest.NewScript(rules...).Handle)
	acme, globex := pl.keys["acme"], pl.keys["globex"]

	// A capsule of acme's, to ask for as globex.
	sub, err := pl.client("acme").Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "")
	require.NoError(t, err)
	pl.waitTerminal("acme", sub.WorkflowID)
	capID := workflow.CapsuleID(sub.RequestID)

	big := `{"description":"` + strings.Repeat("x", 70<<10) + `"}`
	tests := []struct {
		name, method, path, key, body string
		hdr                           map[string]string
		status                        int
		field                         string
	}{
		{"no key", "POST", "/execute", "", `{"description":"x"}`, nil, 401, ""},
		{"invalid key", "POST", "/execute", "qlp_not-a-real-key", `{"description":"x"}`, nil, 401, ""},
		{"empty description", "POST", "/execute", acme, `{"description":"   "}`, nil, 400, "description"},
		{"missing description", "POST", "/v2/execute", acme, `{"options":{}}`, nil, 400, "description"},
		{"description of the wrong type", "POST", "/execute", acme, `{"description":42}`, nil, 400, "description"},
		{"malformed json", "POST", "/execute", acme, `{"description":`, nil, 400, "body"},
		{"body over the limit", "POST", "/execute", acme, big, nil, 413, ""},
		{"unsupported language", "POST", "/execute", acme, `{"description":"x","constraints":{"language":"cobol"}}`, nil, 400, "constraints.language"},
		{"bad tier", "POST", "/execute", acme, `{"description":"x","tier_override":"T7"}`, nil, 400, "tier_override"},
		{"bad mode", "POST", "/v2/execute", acme, `{"description":"x","options":{"mode":"turbo"}}`, nil, 400, "options.mode"},
		{"github not built", "POST", "/v2/execute", acme, `{"description":"x","options":{"github":{"enabled":true}}}`, nil, 501, "options.github"},
		{"unknown capsule", "GET", "/api/capsules/nope", acme, "", nil, 404, ""},
		{"another tenant's capsule", "GET", "/api/capsules/" + capID, globex, "", nil, 404, ""},
		{"another tenant's download", "GET", "/api/capsules/" + capID + "/download", globex, "", nil, 404, ""},
		{"another tenant's file", "GET", "/api/capsules/" + capID + "/files/main.go", globex, "", nil, 404, ""},
		{"another tenant's job", "GET", "/workflow/status/" + sub.WorkflowID, globex, "", nil, 404, ""},
		{"another tenant's progress", "GET", "/progress/stream/" + sub.WorkflowID, globex, "", nil, 404, ""},
		{"another tenant's cancel", "POST", "/v2/workflows/" + sub.WorkflowID + "/cancel", globex, "", nil, 404, ""},
		{"unknown file", "GET", "/api/capsules/" + capID + "/files/nope.go", acme, "", nil, 404, ""},
		{"bad format", "GET", "/api/capsules/" + capID + "/download?format=rar", acme, "", nil, 400, "format"},
		{"bad limit", "GET", "/api/capsules?limit=-1", acme, "", nil, 400, "limit"},
		{"bad Last-Event-ID", "GET", "/progress/stream/" + sub.WorkflowID, acme, "", map[string]string{"Last-Event-ID": "abc"}, 400, "Last-Event-ID"},
		{"cancel a finished job", "POST", "/v2/workflows/" + sub.WorkflowID + "/cancel", acme, "", nil, 409, ""},
		{"unknown route", "GET", "/nope", acme, "", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			code, resp, _ := pl.call(tt.method, tt.path, tt.key, body, tt.hdr)
			require.Equal(t, tt.status, code, string(resp))
			var eb httpx.ErrorBody
			mustJSON(t, resp, &eb)
			require.NotEmpty(t, eb.Error)
			require.Equal(t, tt.field, eb.Field)
		})
	}

	t.Run("X-API-Key is accepted", func(t *testing.T) {
		code, _, _ := pl.call("GET", "/api/capsules", "", nil, map[string]string{"X-API-Key": acme})
		require.Equal(t, http.StatusOK, code)
	})
	t.Run("probes need no key", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/health", "/metrics"} {
			code, body, _ := pl.call("GET", p, "", nil, nil)
			require.Equal(t, http.StatusOK, code, p)
			if p == "/metrics" {
				require.Contains(t, string(body), `qlp_http_requests_total{endpoint="POST /execute"`)
			}
		}
	})
	t.Run("openapi lists the routes", func(t *testing.T) {
		code, body, _ := pl.call("GET", "/openapi.json", acme, nil, nil)
		require.Equal(t, http.StatusOK, code)
		var doc struct {
			OpenAPI string                    `json:"openapi"`
			Paths   map[string]map[string]any `json:"paths"`
		}
		mustJSON(t, body, &doc)
		require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
		for _, p := range []string{"/execute", "/v2/execute", "/workflow/status/{id}", "/v2/workflows/{id}", "/v2/workflows/{id}/result",
			"/v2/workflows/{id}/cancel", "/api/capsules", "/api/capsules/{id}", "/api/capsules/{id}/download", "/api/capsules/{id}/files/{path}",
			"/progress/stream/{id}", "/healthz", "/readyz", "/health", "/metrics"} {
			require.Contains(t, doc.Paths, p)
		}
	})
}

func TestModelReturningMalformedPlanTwiceFailsTheJob(t *testing.T) {
	pl := startPlatform(t, "", llmtest.NewScript(llmtest.Rule{Role: "decomposer", Replies: []llmtest.Reply{
		{Content: "Of course! First we build it, then we test it."},
		{Content: `{"tasks": "all of them"}`},
	}}).Handle)
	c := pl.client("acme")
	sub, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{Description: "Build a URL shortener in Go"}, "")
	require.NoError(t, err)
	events := pl.waitTerminal("acme", sub.WorkflowID)
	require.Equal(t, "workflow_failed", events[len(events)-1].Type)
	st, err := c.Status(t.Context(), sub.WorkflowID)
	require.NoError(t, err)
	require.Equal(t, "failed", st.Status)
	require.Contains(t, st.Error, "the model returned an invalid task graph twice")
	require.Empty(t, st.Result.CapsuleID)
	_, err = c.Capsule(t.Context(), workflow.CapsuleID(sub.RequestID), 0)
	requireAPIError(t, err, http.StatusNotFound)
	require.Len(t, pl.model.CallsFor("coder"), 0, "no code is generated from a plan that failed")
}

func TestReplayCassetteWithoutAnAnswerFailsClearly(t *testing.T) {
	dir := t.TempDir()
	cassette := filepath.Join(dir, "empty.jsonl")
	require.NoError(t, os.WriteFile(cassette, []byte(`{"qlp_cassette":1,"kind":"scripted","description":"answers nothing"}`+"\n"), 0o600))
	cfg := testConfig(t, "", "")
	cfg.LLM.Provider, cfg.LLM.Cassette = "replay", cassette
	p, err := app.Open(t.Context(), cfg, logtest.Logger(t), app.Options{Run: []string{app.Worker}})
	require.NoError(t, err)
	defer p.Close()
	job, _, err := p.Orchestrator.Submit(t.Context(), "acme", orchestrator.SubmitRequest{Description: "Build a URL shortener in Go"})
	require.NoError(t, err)
	var last store.Event
	require.NoError(t, p.Bus.Follow(t.Context(), job.ID, 0, func(e store.Event) error { last = e; return nil }))
	require.Equal(t, "workflow_failed", last.Type)
	got, err := p.Store.GetJob(t.Context(), "acme", job.ID)
	require.NoError(t, err)
	require.Equal(t, store.JobFailed, got.Status)
	require.Contains(t, got.Error, "has no answer for this request")
	require.Contains(t, got.Error, "--record")
}

func TestCancelThroughTheAPI(t *testing.T) {
	request, rules := exampleScript(t)
	for i := range rules {
		if rules[i].TaskID == "t2" {
			rules[i].Replies[0].Delay = 20 * time.Second
		}
	}
	pl := startPlatform(t, "", llmtest.NewScript(rules...).Handle)
	c := pl.client("acme")
	sub, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "")
	require.NoError(t, err)
	var events []string
	err = c.Follow(t.Context(), sub.WorkflowID, 0, func(e orchestrator.ProgressEvent) error {
		events = append(events, e.Type)
		if e.Type == "task_started" && e.TaskID == "t2" {
			_, err := c.Cancel(t.Context(), sub.WorkflowID)
			require.NoError(t, err)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "workflow_cancelled", events[len(events)-1])
	st, err := c.Status(t.Context(), sub.WorkflowID)
	require.NoError(t, err)
	require.Equal(t, "cancelled", st.Status)
}
