package ollama_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/ollama"
)

func chatReq(prompt string) llm.Request {
	return llm.Request{Model: "qwen2.5-coder:7b", Temperature: 0.2, MaxTokens: 1000, JSON: true,
		Messages: []llm.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: prompt}}}
}

func TestChatWireFormatSizesTheContext(t *testing.T) {
	tests := []struct {
		name   string
		prompt string
		numCtx int
	}{
		{"small prompt gets the minimum window", "hi", 4096},
		{"prompt and answer that need 9k get 16k", strings.Repeat("x", 24000), 16384},
		{"exactly the maximum", strings.Repeat("x", 3*(32768-1000-19)), 32768},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "/api/chat", r.URL.Path)
				require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"model":"qwen2.5-coder:7b","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"{\"ok\":true}"},
					"done_reason":"stop","done":true,"total_duration":5000000,"prompt_eval_count":26,"eval_count":7}`)
			}))
			defer srv.Close()
			resp, err := ollama.New(ollama.Config{BaseURL: srv.URL}).Chat(t.Context(), chatReq(tt.prompt))
			require.NoError(t, err)
			require.Equal(t, `{"ok":true}`, resp.Content)
			require.Equal(t, llm.FinishStop, resp.FinishReason)
			require.Equal(t, llm.Usage{InputTokens: 26, OutputTokens: 7}, resp.Usage)
			require.Equal(t, "ollama", resp.Provider)
			require.Equal(t, false, got["stream"])
			require.Equal(t, "json", got["format"])
			opts := got["options"].(map[string]any)
			require.EqualValues(t, tt.numCtx, opts["num_ctx"])
			require.EqualValues(t, 1000, opts["num_predict"])
			require.InDelta(t, 0.2, opts["temperature"], 1e-9)
		})
	}
}

func TestAPromptThatCannotFitIsRefusedBeforeTheCall(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := ollama.New(ollama.Config{BaseURL: srv.URL, MaxContext: 8192})
	_, err := c.Chat(t.Context(), chatReq(strings.Repeat("x", 3*8192)))
	require.ErrorIs(t, err, llm.ErrContextLength)
	require.ErrorContains(t, err, "QLP_LLM_OLLAMA_MAX_CONTEXT")
	require.False(t, llm.Retryable(err))
	_, err = c.Stream(t.Context(), chatReq(strings.Repeat("x", 3*8192)), nil)
	require.ErrorIs(t, err, llm.ErrContextLength)
	require.Zero(t, calls.Load())
}

func TestStreamNDJSON(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		want    string
		finish  string
		usage   llm.Usage
		wantErr error
	}{
		{name: "pieces then done with counts", lines: []string{
			`{"model":"qwen2.5-coder:7b","created_at":"t","message":{"role":"assistant","content":"Hel"},"done":false}`,
			`{"model":"qwen2.5-coder:7b","created_at":"t","message":{"role":"assistant","content":"lo"},"done":false}`,
			`{"model":"qwen2.5-coder:7b","created_at":"t","message":{"role":"assistant","content":""},"done_reason":"length","done":true,"prompt_eval_count":12,"eval_count":2}`,
		}, want: "Hello", finish: llm.FinishLength, usage: llm.Usage{InputTokens: 12, OutputTokens: 2}},
		{name: "error line", lines: []string{
			`{"model":"m","message":{"role":"assistant","content":"x"},"done":false}`,
			`{"error":"an error was encountered while running the model: unexpected EOF"}`,
		}, wantErr: llm.ErrUnavailable},
		{name: "cut short", lines: []string{
			`{"model":"m","message":{"role":"assistant","content":"x"},"done":false}`,
		}, wantErr: llm.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body map[string]any
				require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
				require.Equal(t, true, body["stream"])
				w.Header().Set("Content-Type", "application/x-ndjson")
				for _, l := range tt.lines {
					fmt.Fprintln(w, l)
					w.(http.Flusher).Flush()
				}
			}))
			defer srv.Close()
			var got strings.Builder
			resp, err := ollama.New(ollama.Config{BaseURL: srv.URL}).Stream(t.Context(), chatReq("hi"), func(c llm.Chunk) error { got.WriteString(c.Delta); return nil })
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, resp.Content)
			require.Equal(t, tt.want, got.String())
			require.Equal(t, tt.finish, resp.FinishReason)
			require.Equal(t, tt.usage, resp.Usage)
		})
	}
}

func TestErrorsAreTyped(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"model not pulled", 404, `{"error":"model \"qwen9\" not found, try pulling it first"}`, llm.ErrBadRequest},
		{"server busy", 503, `{"error":"server busy, please try again.  maximum pending requests exceeded"}`, llm.ErrRateLimited},
		{"runner crashed", 500, `{"error":"llama runner process has terminated: signal: killed"}`, llm.ErrUnavailable},
		{"bad request", 400, `{"error":"invalid options"}`, llm.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := ollama.New(ollama.Config{BaseURL: srv.URL}).Chat(t.Context(), chatReq("hi"))
			require.ErrorIs(t, err, tt.want)
			var le *llm.Error
			require.True(t, errors.As(err, &le))
			require.Equal(t, tt.status, le.Status)
		})
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := ollama.New(ollama.Config{BaseURL: url}).Chat(t.Context(), chatReq("hi"))
	require.ErrorIs(t, err, llm.ErrUnavailable)
}
