package anthropic_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/anthropic"
)

func chatReq() llm.Request {
	return llm.Request{Model: "claude-sonnet-4-5-20250929", Temperature: 0.2, MaxTokens: 100, JSON: true, Messages: []llm.Message{
		{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}, {Role: "user", Content: "again"},
		{Role: "assistant", Content: "partial"}, {Role: "user", Content: "continue"}}}
}

func TestChatWireFormat(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/messages", r.URL.Path)
		require.Equal(t, "sk-ant-test", r.Header.Get("x-api-key"))
		require.Equal(t, "2023-06-01", r.Header.Get("anthropic-version"))
		require.Empty(t, r.Header.Get("Authorization"))
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
			"content":[{"type":"text","text":"{\"ok\":"},{"type":"text","text":"true}"}],
			"stop_reason":"end_turn","stop_sequence":null,
			"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":800,"output_tokens":5}}`)
	}))
	defer srv.Close()
	resp, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-ant-test"}).Chat(t.Context(), chatReq())
	require.NoError(t, err)
	require.Equal(t, `{"ok":true}`, resp.Content)
	require.Equal(t, llm.FinishStop, resp.FinishReason)
	require.Equal(t, llm.Usage{InputTokens: 912, CachedInputTokens: 800, CacheWriteInputTokens: 100, OutputTokens: 5}, resp.Usage, "input includes cache reads and writes")
	require.Equal(t, "anthropic", resp.Provider)
	require.Equal(t, "claude-sonnet-4-5-20250929", got["model"])
	require.EqualValues(t, 100, got["max_tokens"])
	require.InDelta(t, 0.2, got["temperature"], 1e-9)
	sys := got["system"].(string)
	require.True(t, strings.HasPrefix(sys, "be brief\n\n"), sys)
	require.Contains(t, sys, "JSON object")
	require.Equal(t, []any{
		map[string]any{"role": "user", "content": "hi\n\nagain"},
		map[string]any{"role": "assistant", "content": "partial"},
		map[string]any{"role": "user", "content": "continue"},
	}, got["messages"])
	require.Nil(t, got["stream"])
}

func TestStream(t *testing.T) {
	tests := []struct {
		name    string
		events  []string // "type|json"
		want    string
		finish  string
		usage   llm.Usage
		chunks  []string
		wantErr error
	}{
		{name: "deltas, max_tokens, cumulative usage", events: []string{
			`message_start|{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"usage":{"input_tokens":25,"cache_read_input_tokens":10,"cache_creation_input_tokens":0,"output_tokens":1}}}`,
			`content_block_start|{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			`ping|{"type":"ping"}`,
			`content_block_delta|{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`,
			`content_block_delta|{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}`,
			`content_block_stop|{"type":"content_block_stop","index":0}`,
			`message_delta|{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":15}}`,
			`message_stop|{"type":"message_stop"}`,
		}, want: "Hello", finish: llm.FinishLength, usage: llm.Usage{InputTokens: 35, CachedInputTokens: 10, OutputTokens: 15}, chunks: []string{"Hel", "lo"}},
		{name: "thinking deltas are not the answer", events: []string{
			`message_start|{"type":"message_start","message":{"type":"message","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}`,
			`content_block_delta|{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}`,
			`content_block_delta|{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"ok"}}`,
			`message_delta|{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`,
			`message_stop|{"type":"message_stop"}`,
		}, want: "ok", finish: llm.FinishStop, usage: llm.Usage{InputTokens: 3, OutputTokens: 2}, chunks: []string{"ok"}},
		{name: "refusal", events: []string{
			`message_start|{"type":"message_start","message":{"type":"message","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}`,
			`message_delta|{"type":"message_delta","delta":{"stop_reason":"refusal"},"usage":{"output_tokens":1}}`,
			`message_stop|{"type":"message_stop"}`,
		}, finish: llm.FinishContentFilter, usage: llm.Usage{InputTokens: 3, OutputTokens: 1}},
		{name: "overloaded mid-stream", events: []string{
			`message_start|{"type":"message_start","message":{"type":"message","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}`,
			`error|{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		}, wantErr: llm.ErrUnavailable},
		{name: "cut short", events: []string{
			`message_start|{"type":"message_start","message":{"type":"message","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}`,
			`content_block_delta|{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"par"}}`,
		}, wantErr: llm.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body map[string]any
				require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
				require.Equal(t, true, body["stream"])
				w.Header().Set("Content-Type", "text/event-stream")
				for _, e := range tt.events {
					typ, data, _ := strings.Cut(e, "|")
					fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, data)
					w.(http.Flusher).Flush()
				}
			}))
			defer srv.Close()
			var chunks []string
			resp, err := anthropic.New(anthropic.Config{BaseURL: srv.URL}).Stream(t.Context(), chatReq(), func(c llm.Chunk) error { chunks = append(chunks, c.Delta); return nil })
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, resp.Content)
			require.Equal(t, tt.finish, resp.FinishReason)
			require.Equal(t, tt.usage, resp.Usage)
			require.Equal(t, tt.chunks, chunks)
		})
	}
}

func TestErrorsAreTyped(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		headers    map[string]string
		body       string
		want       error
		retryAfter time.Duration
		retryable  bool
	}{
		{"rate limit", 429, map[string]string{"Retry-After": "2"}, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`, llm.ErrRateLimited, 2 * time.Second, true},
		{"overloaded", 529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.ErrUnavailable, 0, true},
		{"api error", 500, nil, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, llm.ErrUnavailable, 0, true},
		{"prompt too long", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}`, llm.ErrContextLength, 0, false},
		{"request too large", 413, nil, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`, llm.ErrContextLength, 0, false},
		{"auth", 401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, llm.ErrAuth, 0, false},
		{"permission", 403, nil, `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission"}}`, llm.ErrAuth, 0, false},
		{"not found", 404, nil, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}`, llm.ErrBadRequest, 0, false},
		{"bad request", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}`, llm.ErrBadRequest, 0, false},
		{"gateway text body", 502, nil, `<html>bad gateway</html>`, llm.ErrUnavailable, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-ant-secret-value"}).Chat(t.Context(), chatReq())
			require.ErrorIs(t, err, tt.want)
			var le *llm.Error
			require.True(t, errors.As(err, &le))
			require.Equal(t, tt.status, le.Status)
			require.Equal(t, tt.retryAfter, le.RetryAfter)
			require.Equal(t, tt.retryable, llm.Retryable(err))
			require.NotContains(t, err.Error(), "sk-ant-secret-value")
		})
	}
}

func TestRefusesRequestsTheAPIWouldRefuse(t *testing.T) {
	c := anthropic.New(anthropic.Config{BaseURL: "http://127.0.0.1:1"})
	_, err := c.Chat(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "x"}}})
	require.ErrorIs(t, err, llm.ErrBadRequest, "max_tokens is required")
	_, err = c.Chat(t.Context(), llm.Request{Model: "m", MaxTokens: 10, Messages: []llm.Message{{Role: "system", Content: "x"}}})
	require.ErrorIs(t, err, llm.ErrBadRequest, "a system prompt alone is no conversation")
}
