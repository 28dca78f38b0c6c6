package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// scriptedAPI answers as the orchestrator would for one running job whose
// review appears after a few status calls, and records what it was asked.
type scriptedAPI struct {
	mu        sync.Mutex
	statuses  int
	reviewAt  int
	responded []orchestrator.ReviewResponse
}

func (a *scriptedAPI) Execute(context.Context, orchestrator.ExecuteRequest, string) (orchestrator.ExecuteResponse, error) {
	return orchestrator.ExecuteResponse{WorkflowID: "qlp-execution-j1", RequestID: "j1", Status: "queued"}, nil
}

func (a *scriptedAPI) Status(_ context.Context, id string) (orchestrator.StatusResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id != "j1" {
		return orchestrator.StatusResponse{}, errors.New("job " + id + " not found")
	}
	a.statuses++
	return orchestrator.StatusResponse{WorkflowID: "qlp-execution-j1", RequestID: "j1", Status: "running"}, nil
}

func (a *scriptedAPI) PendingReviews(context.Context) (orchestrator.ReviewList, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := orchestrator.ReviewList{Reviews: []orchestrator.ReviewInfo{{ID: "other", WorkflowID: "qlp-execution-j2", Status: "pending"}}}
	if a.statuses >= a.reviewAt {
		l.Reviews = append(l.Reviews, orchestrator.ReviewInfo{ID: "r1", WorkflowID: "qlp-execution-j1", Status: "pending"})
	}
	return l, nil
}

func (a *scriptedAPI) Review(_ context.Context, id string) (orchestrator.ReviewInfo, error) {
	return orchestrator.ReviewInfo{ID: id, Status: "pending"}, nil
}

func (a *scriptedAPI) RespondReview(_ context.Context, id string, body orchestrator.ReviewResponse) (orchestrator.ReviewInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.responded = append(a.responded, body)
	return orchestrator.ReviewInfo{ID: id, Status: "approved"}, nil
}

func (a *scriptedAPI) Download(context.Context, string, int, string) ([]byte, error) {
	return []byte("archive"), nil
}

func (a *scriptedAPI) Costs(_ context.Context, q orchestrator.CostQuery) (costs.Report, error) {
	return costs.Report{RequestID: q.WorkflowID, TotalCalls: q.PeriodDays}, nil
}

func session(t *testing.T, api API) *mcp.ClientSession {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	s := New(Fixed(api), Options{Version: "test", Poll: 10 * time.Millisecond})
	ss, err := s.Connect(t.Context(), st, nil)
	require.NoError(t, err)
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "t"}, nil).Connect(t.Context(), ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestToolsRefuseBadInput(t *testing.T) {
	cs := session(t, &scriptedAPI{reviewAt: 1})
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"generate", map[string]any{"description": "  "}, "description is empty"},
		{"generate", map[string]any{}, "description"},
		{"status", map[string]any{"id": "j1", "wait_seconds": -1}, "wait_seconds -1"},
		{"status", map[string]any{"id": "nope"}, "job nope not found"},
		{"review", map[string]any{"decision": "approve"}, "needs the review's id"},
		{"review", map[string]any{"id": "r1", "decision": "maybe"}, `decision "maybe"`},
		{"download", map[string]any{"capsule_id": "c1", "format": "rar"}, `format "rar"`},
		{"download", map[string]any{}, "capsule_id"},
		{"costs", map[string]any{"days": -2}, "days -2"},
	} {
		t.Run(tc.tool+" "+tc.want, func(t *testing.T) {
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
			if err != nil { // schema violations are protocol errors
				require.Contains(t, err.Error(), tc.want)
				return
			}
			require.True(t, res.IsError)
			require.Contains(t, resultText(res), tc.want)
		})
	}
}

// TestStatusWaitsForAReview: status with wait_seconds answers as soon as a
// review of this job waits, listing only this job's reviews; review then
// answers it through the API.
func TestStatusWaitsForAReview(t *testing.T) {
	api := &scriptedAPI{reviewAt: 3}
	cs := session(t, api)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "status", Arguments: map[string]any{"id": "j1", "wait_seconds": 30}})
	require.NoError(t, err)
	require.False(t, res.IsError, resultText(res))
	var out StatusOutput
	b, _ := json.Marshal(res.StructuredContent)
	require.NoError(t, json.Unmarshal(b, &out))
	require.False(t, out.Terminal)
	require.Len(t, out.PendingReviews, 1)
	require.Equal(t, "r1", out.PendingReviews[0].ID)
	require.Equal(t, 3, api.statuses, "it looked again until the review appeared")

	res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "review", Arguments: map[string]any{"id": "r1", "decision": "request_changes", "comment": "handle empty input"}})
	require.NoError(t, err)
	require.False(t, res.IsError, resultText(res))
	require.Equal(t, []orchestrator.ReviewResponse{{Decision: "request_changes", Comment: "handle empty input", Reviewer: "mcp"}}, api.responded)
}

// TestInProcessForwardsTheCallersCredential: over HTTP, the API is called
// with the credential headers of the MCP request and no others; a request
// without an HTTP header is refused.
func TestInProcessForwardsTheCallersCredential(t *testing.T) {
	var got http.Header
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"workflow_id":"w","request_id":"` + r.PathValue("id") + `","status":"running"}`))
	})
	mux := http.NewServeMux()
	mux.Handle("GET /api/v2/jobs/{id}", h)
	clients := InProcess(mux)
	api, err := clients(&mcp.RequestExtra{Header: http.Header{"Authorization": {"Bearer qlp_k"}, "X-Qlp-Tenant": {"acme"}, "Cookie": {"c=1"}}})
	require.NoError(t, err)
	st, err := api.Status(t.Context(), "j9")
	require.NoError(t, err)
	require.Equal(t, "j9", st.RequestID)
	require.Equal(t, "Bearer qlp_k", got.Get("Authorization"))
	require.Equal(t, "acme", got.Get("X-QLP-Tenant"))
	require.Empty(t, got.Get("Cookie"), "only credentials are forwarded")

	_, err = clients(nil)
	require.ErrorContains(t, err, "no credential")
}
