package openai_test

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
	"github.com/quantumlayer/qlp/internal/llm/openai"
)

func chatReq() llm.Request {
	return llm.Request{Model: "gpt-4o-mini", Temperature: 0.2, MaxTokens: 100, JSON: true,
		Messages: []llm.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}}
}

func TestChatWireFormat(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/chat/completions", r.URL.Path)
		require.Equal(t, "Bearer sk-test", r.Header.Get("Authorization"))
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18",
			"choices":[{"index":0,"message":{"role":"assistant","content":"{\"ok\":true}"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":8}}}`)
	}))
	defer srv.Close()
	c := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-test"})
	resp, err := c.Chat(t.Context(), chatReq())
	require.NoError(t, err)
	require.Equal(t, `{"ok":true}`, resp.Content)
	require.Equal(t, llm.FinishStop, resp.FinishReason)
	require.Equal(t, llm.Usage{InputTokens: 12, CachedInputTokens: 8, OutputTokens: 5}, resp.Usage)
	require.Equal(t, "gpt-4o-mini-2024-07-18", resp.Model)
	require.Equal(t, "gpt-4o-mini", got["model"])
	require.Equal(t, map[string]any{"type": "json_object"}, got["response_format"])
	require.EqualValues(t, 100, got["max_tokens"])
	require.Len(t, got["messages"], 2)
}

func TestStreamWireFormat(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		require.Equal(t, true, body["stream"])
		require.Equal(t, map[string]any{"include_usage": true}, body["stream_options"])
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
			`{"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}`,
			`{"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}`,
			`{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`,
			`{"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
		} {
			fmt.Fprintf(w, "data: %s\n\n", ev)
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	c := openai.New(openai.Config{BaseURL: srv.URL})
	var pieces []string
	resp, err := c.Stream(t.Context(), chatReq(), func(ch llm.Chunk) error { pieces = append(pieces, ch.Delta); return nil })
	require.NoError(t, err)
	require.Equal(t, []string{"Hel", "lo"}, pieces)
	require.Equal(t, "Hello", resp.Content)
	require.True(t, resp.Truncated(), "finish_reason length means truncated")
	require.Equal(t, llm.Usage{InputTokens: 3, OutputTokens: 2}, resp.Usage)
}

func TestStreamCutShortIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"delta":{"content":"par"}}]}`+"\n\n")
	}))
	defer srv.Close()
	_, err := openai.New(openai.Config{BaseURL: srv.URL}).Stream(t.Context(), chatReq(), nil)
	require.ErrorIs(t, err, llm.ErrUnavailable)
}

func TestStreamWithoutUsageEstimates(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `data: {"choices":[{"delta":{"content":"12345678"},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	resp, err := openai.New(openai.Config{BaseURL: srv.URL}).Stream(t.Context(), chatReq(), nil)
	require.NoError(t, err)
	require.True(t, resp.Usage.Estimated)
	require.Equal(t, 2, resp.Usage.OutputTokens)
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
		{"rate limit with Retry-After", 429, map[string]string{"Retry-After": "2"},
			`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, llm.ErrRateLimited, 2 * time.Second, true},
		{"rate limit with retry-after-ms", 429, map[string]string{"Retry-After-Ms": "1500"},
			`{"error":{"message":"slow down","type":"tokens"}}`, llm.ErrRateLimited, 1500 * time.Millisecond, true},
		{"context length", 400, nil,
			`{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`, llm.ErrContextLength, 0, false},
		{"auth", 401, nil, `{"error":{"message":"Incorrect API key provided: sk-***","type":"invalid_request_error","code":"invalid_api_key"}}`, llm.ErrAuth, 0, false},
		{"bad request", 400, nil, `{"error":{"message":"Unrecognized request argument","type":"invalid_request_error"}}`, llm.ErrBadRequest, 0, false},
		{"server error", 503, nil, `upstream connect error`, llm.ErrUnavailable, 0, true},
		{"gateway timeout", 504, nil, ``, llm.ErrTimeout, 0, true},
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
			_, err := openai.New(openai.Config{BaseURL: srv.URL, APIKey: "sk-secret-value"}).Chat(t.Context(), chatReq())
			require.ErrorIs(t, err, tt.want)
			var le *llm.Error
			require.True(t, errors.As(err, &le))
			require.Equal(t, tt.status, le.Status)
			require.Equal(t, tt.retryAfter, le.RetryAfter)
			require.Equal(t, tt.retryable, llm.Retryable(err))
			require.NotContains(t, err.Error(), "sk-secret-value")
		})
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := openai.New(openai.Config{BaseURL: url}).Chat(t.Context(), chatReq())
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.True(t, strings.Contains(err.Error(), "openai"))
}

func TestReasoningModelsGetMaxCompletionTokensAndNoTemperature(t *testing.T) {
	tests := []struct {
		model     string
		reasoning bool
	}{
		{"o3", true}, {"o4-mini", true}, {"gpt-5-mini", true}, {"o1", true},
		{"gpt-4.1", false}, {"gpt-4o-mini", false}, {"o3x", false},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			var got map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
				io.WriteString(w, `{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
			}))
			defer srv.Close()
			req := chatReq()
			req.Model = tt.model
			_, err := openai.New(openai.Config{BaseURL: srv.URL}).Chat(t.Context(), req)
			require.NoError(t, err)
			if tt.reasoning {
				require.EqualValues(t, 100, got["max_completion_tokens"])
				require.NotContains(t, got, "max_tokens")
				require.NotContains(t, got, "temperature")
			} else {
				require.EqualValues(t, 100, got["max_tokens"])
				require.NotContains(t, got, "max_completion_tokens")
				require.Contains(t, got, "temperature")
			}
		})
	}
}
