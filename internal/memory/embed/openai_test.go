package embed_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/quantumlayer/qlp/internal/memory/embed"
)

// fakeVec is a deterministic vector for a text.
func fakeVec(text string, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(len(text)+i) / 100
	}
	return v
}

type seen struct {
	path, query, auth, apiKey string
	body                      map[string]any
}

// openAIServer speaks the OpenAI /embeddings wire format. It answers the
// items in reverse order (the API gives an index for each), and fails the
// first `fail` calls with status failStatus and an OpenAI error body.
func openAIServer(t *testing.T, dim int, usage bool, fail int, failStatus int, got *seen) *httptest.Server {
	var calls atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = seen{path: r.URL.Path, query: r.URL.RawQuery, auth: r.Header.Get("Authorization"), apiKey: r.Header.Get("api-key")}
		json.Unmarshal(b, &got.body)
		w.Header().Set("Content-Type", "application/json")
		if int(calls.Add(1)) <= fail {
			if failStatus == 429 {
				w.Header().Set("Retry-After", "0")
			}
			w.WriteHeader(failStatus)
			fmt.Fprint(w, `{"error":{"message":"Incorrect API key provided: sk-xx***","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
			return
		}
		input := got.body["input"].([]any)
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		resp := map[string]any{"object": "list", "model": got.body["model"]}
		var data []item
		for i := len(input) - 1; i >= 0; i-- {
			data = append(data, item{"embedding", i, fakeVec(input[i].(string), dim)})
		}
		resp["data"] = data
		if usage {
			resp["usage"] = map[string]int{"prompt_tokens": 7 * len(input), "total_tokens": 7 * len(input)}
		}
		json.NewEncoder(w).Encode(resp)
	}))
}

func TestOpenAICompatible(t *testing.T) {
	tests := []struct {
		name      string
		cfg       embed.OpenAIConfig
		usage     bool
		wantPath  string
		wantQuery string
		check     func(t *testing.T, s seen)
	}{
		{
			name: "openai", usage: true, wantPath: "/v1/embeddings",
			cfg: embed.OpenAIConfig{Flavor: "openai", APIKey: "sk-test", Model: "text-embedding-3-small", Dimension: 8},
			check: func(t *testing.T, s seen) {
				if s.auth != "Bearer sk-test" || s.body["model"] != "text-embedding-3-small" || s.body["dimensions"] != float64(8) ||
					s.body["encoding_format"] != "float" {
					t.Fatalf("request %+v", s)
				}
			},
		},
		{
			name: "azure", usage: true, wantPath: "/openai/deployments/emb-prod/embeddings", wantQuery: "api-version=2024-10-21",
			cfg: embed.OpenAIConfig{Flavor: "azure", APIKey: "az-key", Model: "emb-prod", Dimension: 8},
			check: func(t *testing.T, s seen) {
				if s.apiKey != "az-key" || s.auth != "" {
					t.Fatalf("azure must send api-key and no bearer token: %+v", s)
				}
				if _, ok := s.body["model"]; ok {
					t.Fatalf("azure takes the model from the deployment, body has %v", s.body["model"])
				}
			},
		},
		{
			name: "ollama without usage", usage: false, wantPath: "/v1/embeddings",
			cfg: embed.OpenAIConfig{Flavor: "ollama", Model: "nomic-embed-text", Dimension: 8},
			check: func(t *testing.T, s seen) {
				if s.auth != "" {
					t.Fatalf("ollama got a credential: %q", s.auth)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			srv := openAIServer(t, 8, tt.usage, 0, 0, &got)
			defer srv.Close()
			tt.cfg.BaseURL = srv.URL
			if tt.cfg.Flavor != "azure" {
				tt.cfg.BaseURL += "/v1"
			}
			tt.cfg.BatchSize = 2
			e, err := embed.NewOpenAI(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			texts := []string{"alpha", "beta gamma", "delta epsilon zeta"}
			res, err := e.Embed(t.Context(), embed.Request{Texts: texts})
			if err != nil {
				t.Fatal(err)
			}
			if got.path != tt.wantPath || got.query != tt.wantQuery {
				t.Fatalf("called %s?%s, want %s?%s", got.path, got.query, tt.wantPath, tt.wantQuery)
			}
			tt.check(t, got)
			for i, text := range texts {
				if fmt.Sprint(res.Vectors[i]) != fmt.Sprint(fakeVec(text, 8)) {
					t.Fatalf("vector %d out of order", i)
				}
			}
			if tt.usage && (res.InputTokens != 21 || res.TokensEstimated) {
				t.Fatalf("tokens %d estimated %v, want the reported 21", res.InputTokens, res.TokensEstimated)
			}
			if !tt.usage && (!res.TokensEstimated || res.InputTokens == 0) {
				t.Fatalf("without usage the count must be an estimate: %d %v", res.InputTokens, res.TokensEstimated)
			}
		})
	}
}

func TestOpenAIErrors(t *testing.T) {
	t.Run("error body is reported", func(t *testing.T) {
		var got seen
		srv := openAIServer(t, 8, true, 1, 401, &got)
		defer srv.Close()
		e, _ := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL, APIKey: "bad", Model: "m", Dimension: 8})
		_, err := e.Embed(t.Context(), embed.Request{Texts: []string{"x"}})
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "Incorrect API key provided") ||
			!strings.Contains(err.Error(), "invalid_api_key") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("429 is retried", func(t *testing.T) {
		var got seen
		srv := openAIServer(t, 8, true, 2, 429, &got)
		defer srv.Close()
		e, _ := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL, APIKey: "k", Model: "m", Dimension: 8})
		if _, err := e.Embed(t.Context(), embed.Request{Texts: []string{"x"}}); err != nil {
			t.Fatalf("after two 429s the third try should pass: %v", err)
		}
	})
	t.Run("wrong dimension", func(t *testing.T) {
		var got seen
		srv := openAIServer(t, 6, true, 0, 0, &got)
		defer srv.Close()
		e, _ := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL, APIKey: "k", Model: "m", Dimension: 8})
		_, err := e.Embed(t.Context(), embed.Request{Texts: []string{"x"}})
		if err == nil || !strings.Contains(err.Error(), "6-dimensional") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("ollama string error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":"model \"nomic-embed-text\" not found, try pulling it first"}`)
		}))
		defer srv.Close()
		e, _ := embed.NewOpenAI(embed.OpenAIConfig{Flavor: "ollama", BaseURL: srv.URL, Model: "nomic-embed-text", Dimension: 8})
		_, err := e.Embed(t.Context(), embed.Request{Texts: []string{"x"}})
		if err == nil || !strings.Contains(err.Error(), "try pulling it first") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		for _, c := range []embed.OpenAIConfig{
			{Flavor: "openai", Model: "m", Dimension: 8},             // no key
			{Flavor: "azure", APIKey: "k", Model: "m", Dimension: 8}, // no endpoint
			{Flavor: "openai", APIKey: "k", Model: "m"},              // no dimension
			{Flavor: "cohere", APIKey: "k", Model: "m", Dimension: 8},
		} {
			if _, err := embed.NewOpenAI(c); err == nil {
				t.Errorf("NewOpenAI(%+v) accepted", c)
			}
		}
	})
	t.Run("empty text", func(t *testing.T) {
		e, _ := embed.NewOpenAI(embed.OpenAIConfig{APIKey: "k", Model: "m", Dimension: 8, BaseURL: "http://127.0.0.1:1"})
		if _, err := e.Embed(t.Context(), embed.Request{Texts: []string{" "}}); err == nil {
			t.Fatal("empty text was sent")
		}
	})
}
