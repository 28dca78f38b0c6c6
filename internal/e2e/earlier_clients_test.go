package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/orchestrator/contracttest"
	"github.com/quantumlayer/qlp/internal/store"
)

// earlierClient replays the earlier QLP clients' recorded calls
// (internal/orchestrator/testdata/earlier-clients) against a real platform.
type earlierClient struct {
	pl       *platform
	key      string
	fixtures map[string]contracttest.Fixture
	request  string // the example's request, for {description}
}

// send makes the fixture's request with vars filled in and returns the
// answer after checking it against the fixture's contract (and state's
// values, when state is set).
func (c *earlierClient) send(t *testing.T, name, state string, vars map[string]string) []byte {
	t.Helper()
	f, ok := c.fixtures[name]
	require.True(t, ok, "no fixture %s", name)
	var body io.Reader
	if len(f.Request.Body) > 0 {
		desc, err := json.Marshal(c.request)
		require.NoError(t, err)
		body = bytes.NewReader(bytes.ReplaceAll(f.Request.Body, []byte(`"{description}"`), desc))
	}
	req, err := http.NewRequestWithContext(t.Context(), f.Request.Method, c.pl.srv.URL+f.Path(vars), body)
	require.NoError(t, err)
	for k, v := range f.Request.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	f.Check(t, state, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	return raw
}

// waitFor polls GET /v2/workflows/{id} as the SDKs' wait_for_completion
// does, checking every answer, until it is one of the final words.
func (c *earlierClient) waitFor(t *testing.T, workflowID string) string {
	t.Helper()
	for {
		var st orchestrator.LegacyWorkflowStatus
		require.NoError(t, json.Unmarshal(c.send(t, "python-sdk-get-status", "", map[string]string{"workflow_id": workflowID}), &st))
		switch st.Status {
		case "COMPLETED", "FAILED", "CANCELLED":
			return st.Status
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("job %s never finished for the SDK: last status %s", workflowID, st.Status)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// TestEarlierClients runs the earlier clients' own sequences against a real
// platform: the Python SDK's generate_basic → wait_for_completion →
// get_result → download_capsule(format="targz"), the JavaScript SDK's
// generate → cancelWorkflow → waitForCompletion, and the earlier CLI's
// generate (POST /execute with its --language in metadata) → status →
// validate/inspect, every request and answer as recorded in the fixtures.
// The basic mode is seen to change what ran: the capsule's report says
// which checks the quick validation left out.
func TestEarlierClients(t *testing.T) {
	request, rules := exampleScript(t)
	pl := startPlatform(t, "", llmtest.NewScript(rules...).Handle)
	c := &earlierClient{pl: pl, key: pl.keys["acme"], request: request, fixtures: map[string]contracttest.Fixture{}}
	for _, f := range contracttest.Load(t, "../orchestrator/"+contracttest.Dir) {
		c.fixtures[f.Name] = f
	}

	// The Python SDK, to the end.
	var sub orchestrator.V2ExecuteResponse
	require.NoError(t, json.Unmarshal(c.send(t, "python-sdk-generate", "", nil), &sub))
	require.Equal(t, "basic", sub.Metadata.Mode)
	require.Contains(t, sub.Metadata.Features, "capsule_validation:quick", "basic mode validates the capsule quickly")
	require.NotContains(t, sub.Metadata.Features, "strict_validation")
	if got := c.waitFor(t, sub.WorkflowID); got != "COMPLETED" {
		job, err := pl.p.Store.GetJob(t.Context(), "acme", sub.RequestID)
		require.NoError(t, err)
		t.Fatalf("the SDK's job ended %s: %s", got, job.Error)
	}
	vars := map[string]string{"workflow_id": sub.WorkflowID, "request_id": sub.RequestID}
	var res orchestrator.LegacyResult
	require.NoError(t, json.Unmarshal(c.send(t, "python-sdk-get-result", "completed", vars), &res))
	require.NotNil(t, res.CapsuleID)
	require.Contains(t, res.SourceCode, "shortener/store.go")
	vars["capsule_id"] = *res.CapsuleID
	c.send(t, "python-sdk-download", "completed", vars)
	c.send(t, "js-sdk-download", "completed", vars)
	c.send(t, "cli-workflow-status", "completed", vars)
	c.send(t, "cli-download", "completed", vars)
	var capsule orchestrator.LegacyCapsule
	require.NoError(t, json.Unmarshal(c.send(t, "cli-capsule", "completed", vars), &capsule))
	quick := false
	for _, ch := range capsule.Validation.Checks {
		if !ch.Passed && strings.Contains(ch.Message, "quick validation") {
			quick = true
		}
	}
	require.True(t, quick, "the basic job's capsule report names the checks its quick validation left out: %+v", capsule.Validation.Checks)

	// The JavaScript SDK submits, then cancels; its wait sees CANCELLED,
	// and the earlier CLI sees canceled.
	var js orchestrator.V2ExecuteResponse
	require.NoError(t, json.Unmarshal(c.send(t, "js-sdk-generate", "", nil), &js))
	require.Equal(t, "complete", js.Metadata.Mode)
	require.Contains(t, js.Metadata.Features, "capsule_validation:full")
	jsVars := map[string]string{"workflow_id": js.WorkflowID, "request_id": js.RequestID}
	c.send(t, "python-sdk-cancel", "", jsVars)
	require.Equal(t, "CANCELLED", c.waitFor(t, js.WorkflowID))
	c.send(t, "python-sdk-get-result", "cancelled", jsVars)
	c.send(t, "cli-workflow-status", "cancelled", jsVars)

	// The earlier CLI's generate: its --language arrives in metadata.
	var cli orchestrator.ExecuteResponse
	require.NoError(t, json.Unmarshal(c.send(t, "cli-execute", "", nil), &cli))
	job, err := pl.p.Store.GetJob(t.Context(), "acme", cli.RequestID)
	require.NoError(t, err)
	require.Equal(t, "go", job.Language, "the CLI's --language is obeyed")
	cliVars := map[string]string{"workflow_id": cli.WorkflowID, "request_id": cli.RequestID}
	c.send(t, "python-sdk-cancel", "", cliVars)
	require.Equal(t, "CANCELLED", c.waitFor(t, cli.WorkflowID))
	got, err := pl.p.Store.GetJob(t.Context(), "acme", cli.RequestID)
	require.NoError(t, err)
	require.Equal(t, store.JobCancelled, got.Status)
}
