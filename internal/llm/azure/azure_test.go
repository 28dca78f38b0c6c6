package azure_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/azure"
)

func chatReq(model string) llm.Request {
	return llm.Request{Model: model, Temperature: 0.2, MaxTokens: 100,
		Messages: []llm.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}}
}

func TestChatAddressesTheDeployment(t *testing.T) {
	tests := []struct {
		name        string
		model       string
		deployments map[string]string
		version     string
		wantPath    string
		wantVersion string
	}{
		{"mapped deployment", "gpt-4.1-mini", map[string]string{"gpt-4.1-mini": "mini-prod"}, "2025-04-01-preview", "/openai/deployments/mini-prod/chat/completions", "2025-04-01-preview"},
		{"deployment named like the model", "gpt-4.1", nil, "", "/openai/deployments/gpt-4.1/chat/completions", azure.DefaultAPIVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, tt.wantPath, r.URL.Path)
				require.Equal(t, tt.wantVersion, r.URL.Query().Get("api-version"))
				require.Equal(t, "azure-key", r.Header.Get("api-key"))
				require.Empty(t, r.Header.Get("Authorization"))
				var body map[string]any
				require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
				require.EqualValues(t, 100, body["max_tokens"])
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4.1-mini-2025-04-14",
					"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}],
					"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop","content_filter_results":{}}],
					"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0}}}`)
			}))
			defer srv.Close()
			c := azure.New(azure.Config{Endpoint: srv.URL + "/", APIKey: "azure-key", APIVersion: tt.version, Deployments: tt.deployments})
			resp, err := c.Chat(t.Context(), chatReq(tt.model))
			require.NoError(t, err)
			require.Equal(t, "hello", resp.Content)
			require.Equal(t, "azure", resp.Provider)
			require.Equal(t, llm.Usage{InputTokens: 12, OutputTokens: 5}, resp.Usage)
		})
	}
}

func TestStreamWithContentFilterFinish(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}`,
			`{"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}`,
			`{"model":"gpt-4.1","choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}`,
			`{"model":"gpt-4.1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
		} {
			fmt.Fprintf(w, "data: %s\n\n", ev)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	resp, err := azure.New(azure.Config{Endpoint: srv.URL, APIKey: "k"}).Stream(t.Context(), chatReq("gpt-4.1"), nil)
	require.NoError(t, err)
	require.Equal(t, "Hel", resp.Content)
	require.Equal(t, llm.FinishContentFilter, resp.FinishReason)
}

func TestErrorsAreTyped(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		headers    map[string]string
		body       string
		want       error
		retryAfter time.Duration
	}{
		{"rate limit", 429, map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500"},
			`{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current tier. Please retry after 2 seconds."}}`,
			llm.ErrRateLimited, 1500 * time.Millisecond},
		{"prompt filtered", 400, nil,
			`{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}`,
			llm.ErrContentFilter, 0},
		{"context length", 400, nil,
			`{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			llm.ErrContextLength, 0},
		{"bad key", 401, nil, `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}`, llm.ErrAuth, 0},
		{"no deployment", 404, nil, `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`, llm.ErrBadRequest, 0},
		{"unavailable", 503, nil, `{"error":{"code":"ServiceUnavailable","message":"The service is temporarily unable to process your request."}}`, llm.ErrUnavailable, 0},
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
			_, err := azure.New(azure.Config{Endpoint: srv.URL, APIKey: "azure-secret-value"}).Chat(t.Context(), chatReq("gpt-4.1"))
			require.ErrorIs(t, err, tt.want)
			var le *llm.Error
			require.True(t, errors.As(err, &le))
			require.Equal(t, "azure", le.Provider)
			require.Equal(t, tt.retryAfter, le.RetryAfter)
			require.NotContains(t, err.Error(), "azure-secret-value")
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     azure.Config
		wantErr string
	}{
		{"ok", azure.Config{Endpoint: "https://x.openai.azure.com", APIKey: "k"}, ""},
		{"no endpoint", azure.Config{APIKey: "k"}, "endpoint is not set"},
		{"not a URL", azure.Config{Endpoint: "x.openai.azure.com", APIKey: "k"}, "not an http(s) URL"},
		{"no key", azure.Config{Endpoint: "https://x.openai.azure.com"}, "API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tt.wantErr)
			}
		})
	}
	m, err := azure.ParseDeployments(" gpt-4.1=big, gpt-4.1-mini = small ,")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"gpt-4.1": "big", "gpt-4.1-mini": "small"}, m)
	require.Equal(t, "gpt-4.1=big,gpt-4.1-mini=small", azure.FormatDeployments(m))
	_, err = azure.ParseDeployments("gpt-4.1")
	require.Error(t, err)
}
