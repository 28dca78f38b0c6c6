package agents_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/agents"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/store"
)

const goodAnswer = `{"summary":"reverse a string","files":[` +
	`{"path":"reverse/reverse.go","content":"package reverse\n\nfunc Reverse(s string) string { return s }\n"},` +
	`{"path":"reverse/reverse_test.go","content":"package reverse\n\nimport \"testing\"\n\nfunc TestReverse(t *testing.T) {}\n"}]}`

type fixture struct {
	srv   *httptest.Server
	model *llmtest.Server
	store *store.SQL
}

// newFixture serves the agent with a real tiers router over a scripted
// OpenAI-compatible model, metered into a SQLite store. A request with the
// header X-Test-Tenant is authenticated as that tenant, as auth.Require
// would do.
func newFixture(t *testing.T, h llmtest.Handler) *fixture {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	model := llmtest.New(h)
	t.Cleanup(model.Close)
	cfg := tiers.Defaults()
	cfg.Provider, cfg.BaseURL = "openai", model.URL
	cfg.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	cfg.Retry.MaxAttempts = 1
	router, err := tiers.Build(cfg, st, logx.Discard())
	require.NoError(t, err)
	t.Cleanup(func() { router.Close() })
	svc := agents.New(agents.Config{MaxTokens: 1000}, router, logx.Discard())
	inner := svc.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tenant := r.Header.Get("X-Test-Tenant"); tenant != "" {
			r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{TenantID: tenant}))
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, model: model, store: st}
}

func (f *fixture) post(t *testing.T, tenant string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+"/execute", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if tenant != "" {
		req.Header.Set("X-Test-Tenant", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out, resp.Header
}

func task(desc, tier string) map[string]any {
	return map[string]any{"task": map[string]any{"id": "rev", "type": "code_generation", "description": desc, "complexity": "simple"},
		"tier": tier, "context": map[string]any{"language": "Go"}}
}

func TestExecute(t *testing.T) {
	fenced := "Here you go.\n\n```go reverse/reverse.go\npackage reverse\n\nfunc Reverse(s string) string { return s }\n```\n"
	tests := []struct {
		name     string
		tenant   string
		body     any
		replies  []llmtest.Reply
		status   int
		code     string // error code, when status is not 200
		calls    int    // model calls made
		wantCode string // output.code, when 200
	}{
		{name: "json answer", tenant: "acme", body: task("reverse a string", "T1"), replies: []llmtest.Reply{{Content: goodAnswer}},
			status: 200, calls: 1, wantCode: "func Reverse"},
		{name: "fenced answer with prose", tenant: "acme", body: task("reverse a string", "T0"), replies: []llmtest.Reply{{Content: fenced}},
			status: 200, calls: 1, wantCode: "func Reverse"},
		{name: "unusable then fixed on the re-ask", tenant: "acme", body: task("reverse a string", "T1"),
			replies: []llmtest.Reply{{Content: "I cannot decide."}, {Content: goodAnswer}}, status: 200, calls: 2, wantCode: "func Reverse"},
		{name: "unusable twice", tenant: "acme", body: task("reverse a string", "T1"), replies: []llmtest.Reply{{Content: "no files here"}},
			status: 502, code: "unusable_answer", calls: 2},
		{name: "truncated answer is continued", tenant: "acme", body: task("reverse a string", "T1"),
			replies: []llmtest.Reply{{Content: goodAnswer[:60], Finish: "length"}, {Content: goodAnswer[60:]}}, status: 200, calls: 2, wantCode: "func Reverse"},
		{name: "still truncated after two continuations", tenant: "acme", body: task("reverse a string", "T1"),
			replies: []llmtest.Reply{{Content: `{"files":[{"path":"a.go","content":"pack`, Finish: "length"}}, status: 502, code: "truncated", calls: 3},
		{name: "rate limited", tenant: "acme", body: task("reverse a string", "T1"),
			replies: []llmtest.Reply{{Status: 429, Body: `{"error":{"message":"slow down","type":"rate_limit_error"}}`, Header: map[string]string{"Retry-After": "7"}}},
			status:  429, code: "rate_limited", calls: 1},
		{name: "bad tier", tenant: "acme", body: task("reverse a string", "T9"), status: 400, code: "invalid_field"},
		{name: "empty task", tenant: "acme", body: task("  ", "T1"), status: 400, code: "invalid_field"},
		{name: "no tenant", body: task("reverse a string", "T1"), status: 403, code: "forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, llmtest.NewScript(llmtest.Rule{Role: "agent", TaskID: "rev", Replies: tc.replies}).Handle)
			status, out, hdr := f.post(t, tc.tenant, tc.body)
			require.Equal(t, tc.status, status, "%v", out)
			require.Len(t, f.model.Calls(), tc.calls)
			if tc.status != 200 {
				require.Equal(t, tc.code, out["code"], "%v", out)
				if tc.status == 429 {
					require.Equal(t, "7", hdr.Get("Retry-After"))
				}
				return
			}
			require.Equal(t, "rev", out["task_id"])
			require.Equal(t, "completed", out["status"])
			require.Nil(t, out["confidence_score"], "the agent does not validate, so it claims no confidence")
			output := out["output"].(map[string]any)
			require.Contains(t, output["code"], tc.wantCode)
			require.Equal(t, "go", output["language"])
			meta := out["metadata"].(map[string]any)
			require.Equal(t, agents.PromptVersion, meta["prompt_version"])
			require.Equal(t, false, meta["validated"])
			require.NotZero(t, meta["tokens_in"])

			// The prompt carries the task, its language and the context.
			prompt := f.model.Calls()[0].Prompt()
			require.Contains(t, prompt, "reverse a string")
			require.Contains(t, prompt, "Write it in go")

			// Every call is metered for the tenant.
			rows, err := f.store.ListUsage(t.Context(), store.UsageFilter{TenantID: "acme"})
			require.NoError(t, err)
			require.Len(t, rows, tc.calls)
			for _, r := range rows {
				require.Equal(t, "agent", r.Role)
				require.Equal(t, out["agent_tier_used"], r.Tier)
				require.Positive(t, r.CostPUSD)
			}
		})
	}
}

func TestExecuteUsesTheTiersModel(t *testing.T) {
	f := newFixture(t, func(c llmtest.Call) llmtest.Reply { return llmtest.Reply{Content: goodAnswer} })
	for tier, model := range map[string]string{"T0": "gpt-4o-mini", "T2": "gpt-4.1", "T3": "gpt-4o"} {
		status, out, _ := f.post(t, "acme", task("reverse a string", tier))
		require.Equal(t, 200, status)
		require.Equal(t, model, out["metadata"].(map[string]any)["model"], tier)
	}
	var models []string
	for _, c := range f.model.Calls() {
		models = append(models, c.Model)
	}
	require.ElementsMatch(t, []string{"gpt-4o-mini", "gpt-4.1", "gpt-4o"}, models)
}
