package marketing_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	mkt "github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/store"
)

// TestOpenAPIListsEveryMarketingRoute: openapi.json lists each route of
// the marketing API with the scope it needs and its 403.
func TestOpenAPIListsEveryMarketingRoute(t *testing.T) {
	b, err := os.ReadFile("../orchestrator/openapi.json")
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	for _, rt := range (&mkt.API{}).Routes() {
		ops, ok := doc.Paths[rt.Pattern]
		require.True(t, ok, "openapi.json lacks %s", rt.Pattern)
		raw, ok := ops[strings.ToLower(rt.Method)]
		require.True(t, ok, "openapi.json lacks %s %s", rt.Method, rt.Pattern)
		var op struct {
			Scope     *string        `json:"x-qlp-scope"`
			Responses map[string]any `json:"responses"`
		}
		require.NoError(t, json.Unmarshal(raw, &op))
		require.NotNil(t, op.Scope, "%s %s names no x-qlp-scope", rt.Method, rt.Pattern)
		require.Equal(t, rt.Scope, *op.Scope, "%s %s", rt.Method, rt.Pattern)
		require.Contains(t, op.Responses, "403")
	}
}

// apiServer serves the marketing API as tenant acme with scopes.
func apiServer(t *testing.T, a *mkt.API, tenant string, scopes ...string) *httptest.Server {
	mux := http.NewServeMux()
	for _, rt := range a.Routes() {
		scope := rt.Scope
		h := httpx.Handle(logx.Discard(), rt.Handler)
		mux.Handle(rt.Method+" "+rt.Pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := auth.Principal{TenantID: tenant, Scopes: scopes}
			if !p.Allows(scope) {
				httpx.WriteError(w, r, logx.Discard(), httpx.Forbidden("lacks "+scope))
				return
			}
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		}))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, url string, body any) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out, resp.Header
}

// TestMarketingAPI: a campaign created through the API runs on a marketing
// worker (embedded Temporal) to completion; it is read, exported as JSON,
// Markdown and a CSV calendar, its workflow's status is given, publishing
// is started, paused and resumed, metrics are taken for published pieces
// only, and another tenant sees none of it.
func TestMarketingAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal")
	}
	h := newHarness(t, "", nil)
	capsule := h.demoCapsule(t)
	eng := sharedEngine(t)
	w := mkt.NewWorker(eng.Client, h.acts, worker.Options{})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	a := &mkt.API{Store: h.st, Temporal: eng.Client, Cfg: mkt.Defaults(), Logger: logx.Discard(), MaxBodyBytes: 1 << 20,
		Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }}
	srv := apiServer(t, a, "acme", "read", "submit")
	u := srv.URL + "/api/v2/marketing"

	code, body, _ := call(t, "POST", u+"/campaigns", map[string]any{"capsule_id": capsule, "duration_days": 7, "channels": []string{"twitter", "hn", "email"}})
	require.Equal(t, http.StatusAccepted, code, string(body))
	var created mkt.Created
	require.NoError(t, json.Unmarshal(body, &created))
	require.True(t, strings.HasPrefix(created.CampaignID, "cmp_"))

	code, body, _ = call(t, "POST", u+"/campaigns", map[string]any{"duration_days": 0, "channels": []string{"myspace"}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "give a capsule_id or a product_description")
	require.Contains(t, string(body), `unknown channel \"myspace\"`)

	var v mkt.View
	deadline := time.Now().Add(time.Minute)
	for {
		code, body, _ = call(t, "GET", u+"/campaigns/"+created.CampaignID, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		require.NoError(t, json.Unmarshal(body, &v))
		if v.Status == store.CampaignCompleted || v.Status == store.CampaignFailed {
			break
		}
		require.True(t, time.Now().Before(deadline), "the campaign did not finish")
		time.Sleep(200 * time.Millisecond)
	}
	require.Equal(t, store.CampaignCompleted, v.Status, v.Error)
	require.Equal(t, []string{"x", "hackernews", "email"}, v.Brief.Channels)
	require.Equal(t, "2026-03-01", v.Brief.LaunchDate, "today when not given")
	require.Len(t, v.Pieces, 7, "x on days 0, 2, 4, 6; hackernews on launch day; email on days 0 and 6")
	for _, p := range v.Pieces {
		require.LessOrEqual(t, p.Length, p.Limit, p.ID)
	}

	// The campaign's record is finished by the workflow's last activity,
	// a moment before Temporal records the workflow itself as completed.
	var ws mkt.WorkflowStatus
	for {
		code, body, _ = call(t, "GET", u+"/workflows/"+created.WorkflowID, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		require.NoError(t, json.Unmarshal(body, &ws))
		if ws.Status != "running" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the workflow did not finish")
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, "completed", ws.Status)
	require.Equal(t, mkt.TaskQueue, ws.TaskQueue)
	require.Equal(t, mkt.WorkflowName, ws.WorkflowType)

	code, body, hdr := call(t, "GET", u+"/campaigns/"+created.CampaignID+"/export?format=csv", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, hdr.Get("Content-Type"), "text/csv")
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 8)
	require.Equal(t, []string{"date", "time_utc", "day", "channel", "theme", "piece_id", "status", "title", "text", "length", "limit"}, rows[0])
	require.Equal(t, "2026-03-01", rows[1][0])
	require.Equal(t, "2026-03-07", rows[7][0], "the calendar runs to the last day")
	code, body, _ = call(t, "GET", u+"/campaigns/"+created.CampaignID+"/export?format=markdown", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "# url-shortener launch")
	require.Contains(t, string(body), "### Messaging pillars")
	require.Contains(t, string(body), "| 2026-03-07 |")
	code, body, _ = call(t, "GET", u+"/campaigns/"+created.CampaignID+"/export?format=json", nil)
	require.Equal(t, http.StatusOK, code)
	var exported mkt.View
	require.NoError(t, json.Unmarshal(body, &exported))
	require.Equal(t, v.Report.CostPUSD, exported.Report.CostPUSD)
	code, _, _ = call(t, "GET", u+"/campaigns/"+created.CampaignID+"/export?format=pdf", nil)
	require.Equal(t, http.StatusBadRequest, code)

	code, body, _ = call(t, "POST", u+"/campaigns/"+created.CampaignID+"/publisher/pause", nil)
	require.Equal(t, http.StatusConflict, code, string(body))
	code, body, _ = call(t, "POST", u+"/campaigns/"+created.CampaignID+"/publisher/start", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), "no publishing adapter is configured")
	code, _, _ = call(t, "POST", u+"/campaigns/"+created.CampaignID+"/publisher/pause", nil)
	require.Equal(t, http.StatusOK, code)
	code, _, _ = call(t, "POST", u+"/campaigns/"+created.CampaignID+"/publisher/resume", nil)
	require.Equal(t, http.StatusOK, code)
	code, body, _ = call(t, "DELETE", u+"/campaigns/"+created.CampaignID+"/publisher/stop", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"publishing":"off"`)

	piece := v.Pieces[0].ID
	code, body, _ = call(t, "POST", u+"/campaigns/"+created.CampaignID+"/analytics", map[string]any{"piece_id": piece, "metrics": map[string]int{"clicks": 3}})
	require.Equal(t, http.StatusConflict, code, string(body))
	p, err := h.st.GetPiece(t.Context(), created.CampaignID, piece)
	require.NoError(t, err)
	p.Status = store.PiecePublished
	require.NoError(t, h.st.UpdatePiece(t.Context(), p))
	for _, clicks := range []int{3, 7} {
		code, body, _ = call(t, "POST", u+"/campaigns/"+created.CampaignID+"/analytics", map[string]any{"piece_id": piece, "metrics": map[string]int{"clicks": clicks, "impressions": 100}})
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	code, body, _ = call(t, "GET", u+"/campaigns/"+created.CampaignID+"/analytics", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"totals":{"impressions":100,"clicks":7}`, "the latest report of a piece counts")

	// One piece through ContentGenerationWorkflow.
	code, body, _ = call(t, "POST", u+"/content/generate", map[string]any{"channel": "producthunt", "topic": "launch day", "product_description": "A URL shortener."})
	require.Equal(t, http.StatusAccepted, code, string(body))
	var one mkt.Created
	require.NoError(t, json.Unmarshal(body, &one))
	deadline = time.Now().Add(time.Minute)
	for {
		code, body, _ = call(t, "GET", u+"/workflows/"+one.WorkflowID, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		require.NoError(t, json.Unmarshal(body, &ws))
		if ws.Status != "running" {
			break
		}
		require.True(t, time.Now().Before(deadline))
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, "completed", ws.Status)
	require.Equal(t, mkt.ContentWorkflowName, ws.WorkflowType)
	code, body, _ = call(t, "GET", u+"/campaigns/"+one.CampaignID, nil)
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(body, &v))
	require.Len(t, v.Pieces, 1)
	require.NotEmpty(t, v.Pieces[0].Content.Tagline)

	// Another tenant, and a key without the scope.
	_, err = h.st.EnsureTenant(t.Context(), "other", "Other")
	require.NoError(t, err)
	other := apiServer(t, a, "other", "read", "submit")
	for _, path := range []string{"/campaigns/" + created.CampaignID, "/workflows/" + created.WorkflowID, "/campaigns/" + created.CampaignID + "/analytics"} {
		code, _, _ = call(t, "GET", other.URL+"/api/v2/marketing"+path, nil)
		require.Equal(t, http.StatusNotFound, code, path)
	}
	readOnly := apiServer(t, a, "acme", "read")
	code, _, _ = call(t, "POST", readOnly.URL+"/api/v2/marketing/campaigns", map[string]any{"product_description": "x"})
	require.Equal(t, http.StatusForbidden, code)
}
