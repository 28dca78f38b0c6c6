package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/cli"
)

// TestMCPOverStdio: `qlp mcp` in-process serves the SDK's own client over
// its standard input and output: the tools are listed, and a job submitted
// with generate runs to its end, whose reason status reports (a cassette
// with no answer fails it before any sandbox starts, which keeps this test
// cheap; TestMCPOverStreamableHTTP in internal/e2e runs one to a capsule);
// closing its input ends the command cleanly.
func TestMCPOverStdio(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{"QLP_DATA_DIR": filepath.Join(dir, "data"), "QLP_TEMPORAL_PORT": "0", "QLP_URL": "", "QLP_LOG_LEVEL": "warn",
		"QLP_DATABASE_URL": "", "QLP_STORE_DRIVER": ""} {
		t.Setenv(k, v)
	}
	cassette := filepath.Join(dir, "empty.jsonl")
	require.NoError(t, os.WriteFile(cassette, []byte(`{"qlp_cassette":1,"kind":"scripted"}`+"\n"), 0o600))

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- cli.ExecuteWithInput(context.Background(), "test", []string{"mcp", "--llm", "replay:" + cassette},
			inR, outW, &stderr)
		outW.Close()
	}()

	c := mcp.NewClient(&mcp.Implementation{Name: "cli-test", Version: "test"}, nil)
	s, err := c.Connect(t.Context(), &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	require.NoError(t, err)
	tools, err := s.ListTools(t.Context(), nil)
	require.NoError(t, err)
	require.Len(t, tools.Tools, 5)

	call := func(name string, args map[string]any, out any) {
		t.Helper()
		res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
		require.NoError(t, err)
		require.False(t, res.IsError, "%s: %+v", name, res.Content)
		b, err := json.Marshal(res.StructuredContent)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, out))
	}
	var sub struct {
		WorkflowID string `json:"workflow_id"`
	}
	call("generate", map[string]any{"description": "a URL shortener in Go"}, &sub)
	var st struct {
		Status   string `json:"status"`
		Terminal bool   `json:"terminal"`
		Error    string `json:"error"`
	}
	for i := 0; i < 60 && !st.Terminal; i++ {
		call("status", map[string]any{"id": sub.WorkflowID, "wait_seconds": 10}, &st)
	}
	require.Equal(t, "failed", st.Status, stderr.String())
	require.Contains(t, st.Error, "has no answer for this request")

	require.NoError(t, s.Close())
	require.NoError(t, inW.Close())
	require.Equal(t, 0, <-done, stderr.String())
}
