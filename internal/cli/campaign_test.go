package cli_test

import (
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
)

// TestCampaignCommands: qlp campaign create (in process, with the
// marketing worker, against a scripted OpenAI-compatible model), show,
// export as CSV and publish, on one data directory.
func TestCampaignCommands(t *testing.T) {
	srv := llmtest.New(func(c llmtest.Call) llmtest.Reply {
		switch c.Role {
		case "strategist":
			return llmtest.Reply{Content: `{"name":"shortener launch","summary":"Tell Go developers.","pillars":["small"],"themes":["the API"]}`}
		case "copywriter":
			return llmtest.Reply{Content: `{"body":"A tiny URL shortener in Go: https://example.com","hashtags":["golang"]}`}
		case "optimiser":
			return llmtest.Reply{Content: `{"notes":"Consistent.","revisions":[]}`}
		}
		return llmtest.Reply{Status: 400, Body: `{"error":{"message":"unexpected"}}`}
	})
	defer srv.Close()
	dir := t.TempDir()
	env := map[string]string{"QLP_DATA_DIR": filepath.Join(dir, "data"), "QLP_TEMPORAL_PORT": "0", "QLP_URL": "", "QLP_LOG_LEVEL": "warn",
		"QLP_DATABASE_URL": "", "QLP_STORE_DRIVER": "", "QLP_LLM_PROVIDER": "openai", "QLP_LLM_BASE_URL": srv.URL, "QLP_LLM_API_KEY": "sk-test"}

	code, stdout, stderr := run(t, env, "campaign", "create", "--product", "A URL shortener in Go", "--channels", "twitter", "--days", "3",
		"--launch", "2026-03-02", "--json")
	require.Equal(t, 0, code, stderr)
	var v struct {
		ID     string `json:"campaign_id"`
		Status string `json:"status"`
		Pieces []struct {
			ID     string `json:"piece_id"`
			Length int    `json:"length"`
			Limit  int    `json:"limit"`
		} `json:"pieces"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &v))
	require.Equal(t, "completed", v.Status)
	require.Len(t, v.Pieces, 2, "x on days 0 and 2")
	require.Equal(t, 280, v.Pieces[0].Limit)

	code, stdout, stderr = run(t, env, "campaign", "show", v.ID)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "shortener launch")
	require.Contains(t, stdout, "p001-x")

	code, stdout, stderr = run(t, env, "campaign", "export", v.ID, "--format", "csv")
	require.Equal(t, 0, code, stderr)
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, []string{"2026-03-02", "14:00", "0", "x", "the API", "p001-x", "generated", "",
		"A tiny URL shortener in Go: https://example.com\n\n#golang", "60", "280"}, rows[1], "the link counts as 23")

	code, stdout, stderr = run(t, env, "campaign", "publish", v.ID)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "publishing active")
	require.Contains(t, stderr, "no publishing adapter is configured")
	code, _, stderr = run(t, env, "campaign", "publish", v.ID, "--pause", "--stop")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "give one of --pause, --resume, --stop")
}
