package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/mcpserver"
)

// keyTransport sends an API key with every request of the MCP client.
type keyTransport struct{ key string }

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if k.key != "" {
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func mcpSession(t *testing.T, pl *platform, key string) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "test"}, nil)
	return c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: pl.srv.URL + "/mcp",
		HTTPClient: &http.Client{Transport: keyTransport{key: key}}, DisableStandaloneSSE: true}, nil)
}

// callTool calls a tool and decodes its structured result into out; a tool
// error fails the test with its text.
func callTool(t *testing.T, s *mcp.ClientSession, name string, args map[string]any, out any) *mcp.CallToolResult {
	t.Helper()
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err)
	if res.IsError {
		var texts []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				texts = append(texts, tc.Text)
			}
		}
		require.Failf(t, "tool error", "%s: %s", name, strings.Join(texts, "; "))
	}
	if out != nil {
		b, err := json.Marshal(res.StructuredContent)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
	return res
}

// TestMCPOverStreamableHTTP: the SDK's own client, on the API's /mcp with
// a tenant's key, lists the tools, runs the example job to completion with
// the scripted model, downloads the capsule (tool and resource) and reads
// its costs; without a key, or with another tenant's, it gets nothing.
func TestMCPOverStreamableHTTP(t *testing.T) {
	request, rules := exampleScript(t)
	pl := startPlatform(t, "", llmtest.NewScript(rules...).Handle)

	_, err := mcpSession(t, pl, "")
	require.Error(t, err, "no key: the session does not even start")
	require.Contains(t, err.Error(), "Unauthorized")
	code, _, _ := pl.call(http.MethodPost, "/mcp", "", []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`),
		map[string]string{"Accept": "application/json, text/event-stream"})
	require.Equal(t, http.StatusUnauthorized, code, "/mcp is authenticated like every route")
	_, err = mcpSession(t, pl, "qlp_not-a-key")
	require.Error(t, err, "a wrong key is refused too")

	s, err := mcpSession(t, pl, pl.keys["acme"])
	require.NoError(t, err)
	defer s.Close()

	tools, err := s.ListTools(t.Context(), nil)
	require.NoError(t, err)
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		require.NotEmpty(t, tl.Description, tl.Name)
		require.NotNil(t, tl.InputSchema, tl.Name)
	}
	slices.Sort(names)
	require.Equal(t, []string{"costs", "download", "generate", "review", "status"}, names)

	var sub struct {
		WorkflowID string `json:"workflow_id"`
		RequestID  string `json:"request_id"`
	}
	callTool(t, s, "generate", map[string]any{"description": request, "language": "go"}, &sub)
	require.NotEmpty(t, sub.WorkflowID)

	var st struct {
		Status   string `json:"status"`
		Terminal bool   `json:"terminal"`
		Result   *struct {
			CapsuleID string `json:"capsule_id"`
		} `json:"result"`
		PendingReviews []any `json:"pending_reviews"`
	}
	for range 60 { // each call waits up to 10 s: ten minutes in all
		callTool(t, s, "status", map[string]any{"id": sub.RequestID, "wait_seconds": 10}, &st)
		require.Empty(t, st.PendingReviews, "the example's job waits for no review")
		if st.Terminal {
			break
		}
	}
	require.Equal(t, "completed", st.Status)
	require.NotNil(t, st.Result)
	require.NotEmpty(t, st.Result.CapsuleID)

	var dl mcpserver.DownloadOutput
	res := callTool(t, s, "download", map[string]any{"capsule_id": st.Result.CapsuleID}, &dl)
	require.Equal(t, "zip", dl.Format)
	var blob []byte
	for _, c := range res.Content {
		if r, ok := c.(*mcp.EmbeddedResource); ok {
			require.Equal(t, dl.URI, r.Resource.URI)
			require.Equal(t, "application/zip", r.Resource.MIMEType)
			blob = r.Resource.Blob
		}
	}
	require.Len(t, blob, dl.Bytes)
	files, err := capsule.ReadArchive(blob)
	require.NoError(t, err)
	ver, err := capsule.Verify(files, pl.p.Signer.PublicKey())
	require.NoError(t, err)
	require.True(t, ver.Intact() && ver.Trusted, "the archive handed over MCP verifies: %v", ver.Problems)

	rr, err := s.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.ArchiveURIPrefix + st.Result.CapsuleID + "/archive.tar.gz"})
	require.NoError(t, err)
	require.Len(t, rr.Contents, 1)
	tgz, err := capsule.ReadArchive(rr.Contents[0].Blob)
	require.NoError(t, err)
	require.Equal(t, len(files), len(tgz), "the resource holds the same capsule")

	var report struct {
		TotalCostUSD string `json:"total_cost_usd"`
		TotalCalls   int    `json:"total_calls"`
	}
	callTool(t, s, "costs", map[string]any{"workflow_id": sub.WorkflowID}, &report)
	require.Positive(t, report.TotalCalls, "the job's model calls are in its cost report")

	var reviews mcpserver.ReviewOutput
	callTool(t, s, "review", nil, &reviews)
	require.Empty(t, reviews.Reviews)
	res, err = s.CallTool(t.Context(), &mcp.CallToolParams{Name: "review", Arguments: map[string]any{"id": "r1", "decision": "maybe"}})
	require.NoError(t, err)
	require.True(t, res.IsError, "a decision outside the three is refused")

	// Another tenant's session sees neither the job nor its capsule.
	other, err := mcpSession(t, pl, pl.keys["globex"])
	require.NoError(t, err)
	defer other.Close()
	res, err = other.CallTool(t.Context(), &mcp.CallToolParams{Name: "status", Arguments: map[string]any{"id": sub.RequestID}})
	require.NoError(t, err)
	require.True(t, res.IsError)
	res, err = other.CallTool(t.Context(), &mcp.CallToolParams{Name: "download", Arguments: map[string]any{"capsule_id": st.Result.CapsuleID}})
	require.NoError(t, err)
	require.True(t, res.IsError)
}
