package bedrock_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/eventstream"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/bedrock"
)

const model = "anthropic.claude-3-5-haiku-20241022-v1:0"

func chatReq() llm.Request {
	return llm.Request{Model: model, Temperature: 0.2, MaxTokens: 100, JSON: true, Messages: []llm.Message{
		{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}, {Role: "user", Content: "again"}}}
}

func newClient(t *testing.T, url string) *bedrock.Client {
	t.Helper()
	c, err := bedrock.New(t.Context(), bedrock.Config{Region: "us-east-1", Endpoint: url, AccessKeyID: "AKIDTEST", SecretAccessKey: "secret-key-value"})
	require.NoError(t, err)
	return c
}

// event encodes one event-stream message as Bedrock sends it.
func event(t *testing.T, w io.Writer, typ string, payload any) {
	t.Helper()
	b, err := json.Marshal(payload)
	require.NoError(t, err)
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("event"))
	h.Set(":event-type", eventstream.StringValue(typ))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	require.NoError(t, eventstream.NewEncoder().Encode(w, eventstream.Message{Headers: h, Payload: b}))
}

func exception(t *testing.T, w io.Writer, typ, msg string) {
	t.Helper()
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("exception"))
	h.Set(":exception-type", eventstream.StringValue(typ))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	b, _ := json.Marshal(map[string]string{"message": msg})
	require.NoError(t, eventstream.NewEncoder().Encode(w, eventstream.Message{Headers: h, Payload: b}))
}

func TestConverseWireFormat(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/model/"+model+"/converse", r.URL.Path)
		authz := r.Header.Get("Authorization")
		require.True(t, strings.HasPrefix(authz, "AWS4-HMAC-SHA256 Credential=AKIDTEST/"), authz)
		require.Contains(t, authz, "/us-east-1/bedrock/aws4_request")
		require.NotEmpty(t, r.Header.Get("X-Amz-Date"))
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"output":{"message":{"role":"assistant","content":[{"text":"{\"ok\":"},{"text":"true}"}]}},
			"stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":5,"totalTokens":27,"cacheReadInputTokens":8,"cacheWriteInputTokens":4},
			"metrics":{"latencyMs":120}}`)
	}))
	defer srv.Close()
	resp, err := newClient(t, srv.URL).Chat(t.Context(), chatReq())
	require.NoError(t, err)
	require.Equal(t, `{"ok":true}`, resp.Content)
	require.Equal(t, llm.FinishStop, resp.FinishReason)
	require.Equal(t, llm.Usage{InputTokens: 22, CachedInputTokens: 8, CacheWriteInputTokens: 4, OutputTokens: 5}, resp.Usage)
	require.Equal(t, "bedrock", resp.Provider)
	require.Equal(t, []any{map[string]any{"role": "user", "content": []any{map[string]any{"text": "hi\n\nagain"}}}}, got["messages"])
	sys := got["system"].([]any)[0].(map[string]any)["text"].(string)
	require.True(t, strings.HasPrefix(sys, "be brief\n\n"), sys)
	require.Contains(t, sys, "JSON")
	inf := got["inferenceConfig"].(map[string]any)
	require.EqualValues(t, 100, inf["maxTokens"])
	require.InDelta(t, 0.2, inf["temperature"], 1e-6)
}

func TestConverseStreamWireFormat(t *testing.T) {
	tests := []struct {
		name     string
		events   func(t *testing.T, w io.Writer)
		want     string
		finish   string
		usage    llm.Usage
		wantErr  error
		chunks   []string
		estimate bool
	}{
		{name: "text deltas, stop, usage", events: func(t *testing.T, w io.Writer) {
			event(t, w, "messageStart", map[string]any{"role": "assistant"})
			event(t, w, "contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": "Hel"}})
			event(t, w, "contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": "lo"}})
			event(t, w, "contentBlockStop", map[string]any{"contentBlockIndex": 0})
			event(t, w, "messageStop", map[string]any{"stopReason": "max_tokens"})
			event(t, w, "metadata", map[string]any{"usage": map[string]any{"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": map[string]any{"latencyMs": 10}})
		}, want: "Hello", finish: llm.FinishLength, usage: llm.Usage{InputTokens: 3, OutputTokens: 2}, chunks: []string{"Hel", "lo"}},
		{name: "guardrail", events: func(t *testing.T, w io.Writer) {
			event(t, w, "messageStart", map[string]any{"role": "assistant"})
			event(t, w, "messageStop", map[string]any{"stopReason": "guardrail_intervened"})
		}, finish: llm.FinishContentFilter, estimate: true},
		{name: "throttled mid-stream", events: func(t *testing.T, w io.Writer) {
			event(t, w, "messageStart", map[string]any{"role": "assistant"})
			exception(t, w, "throttlingException", "Too many tokens, please wait before trying again.")
		}, wantErr: llm.ErrRateLimited},
		{name: "model stream error", events: func(t *testing.T, w io.Writer) {
			event(t, w, "messageStart", map[string]any{"role": "assistant"})
			exception(t, w, "modelStreamErrorException", "the model failed")
		}, wantErr: llm.ErrUnavailable},
		{name: "cut short", events: func(t *testing.T, w io.Writer) {
			event(t, w, "messageStart", map[string]any{"role": "assistant"})
			event(t, w, "contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": "par"}})
		}, wantErr: llm.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "/model/"+model+"/converse-stream", r.URL.Path)
				require.True(t, strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "))
				w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
				var buf bytes.Buffer
				tt.events(t, &buf)
				w.Write(buf.Bytes())
			}))
			defer srv.Close()
			var chunks []string
			resp, err := newClient(t, srv.URL).Stream(t.Context(), chatReq(), func(c llm.Chunk) error { chunks = append(chunks, c.Delta); return nil })
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, resp.Content)
			require.Equal(t, tt.finish, resp.FinishReason)
			require.Equal(t, tt.chunks, chunks)
			if tt.estimate {
				require.True(t, resp.Usage.Estimated)
			} else {
				require.Equal(t, tt.usage, resp.Usage)
			}
		})
	}
}

func TestErrorsAreTyped(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		errType    string
		headers    map[string]string
		body       string
		want       error
		retryAfter time.Duration
	}{
		{"throttled", 429, "ThrottlingException", map[string]string{"Retry-After": "2"}, `{"message":"Too many requests, please wait before trying again."}`, llm.ErrRateLimited, 2 * time.Second},
		{"quota", 400, "ServiceQuotaExceededException", nil, `{"message":"quota exceeded"}`, llm.ErrRateLimited, 0},
		{"access denied", 403, "AccessDeniedException", nil, `{"message":"You don't have access to the model with the specified model ID."}`, llm.ErrAuth, 0},
		{"context length", 400, "ValidationException", nil, `{"message":"Input is too long for requested model."}`, llm.ErrContextLength, 0},
		{"validation", 400, "ValidationException", nil, `{"message":"The provided model identifier is invalid."}`, llm.ErrBadRequest, 0},
		{"model timeout", 408, "ModelTimeoutException", nil, `{"message":"Model has timed out in processing the request."}`, llm.ErrTimeout, 0},
		{"unavailable", 503, "ServiceUnavailableException", nil, `{"message":"Service is unavailable."}`, llm.ErrUnavailable, 0},
		{"internal", 500, "InternalServerException", nil, `{"message":"internal"}`, llm.ErrUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Amzn-Errortype", tt.errType+":http://internal.amazon.com/coral/com.amazon.bedrock/")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := newClient(t, srv.URL).Chat(t.Context(), chatReq())
			require.ErrorIs(t, err, tt.want)
			var le *llm.Error
			require.True(t, errors.As(err, &le))
			require.Equal(t, tt.status, le.Status)
			require.Equal(t, tt.retryAfter, le.RetryAfter)
			require.NotContains(t, err.Error(), "secret-key-value")
		})
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := newClient(t, url).Chat(t.Context(), chatReq())
	require.ErrorIs(t, err, llm.ErrUnavailable)
}
