package embed_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/quantumlayer/qlp/internal/memory/embed"
)

type bedrockCall struct {
	path, auth string
	body       map[string]any
}

// bedrockServer speaks Bedrock Runtime's InvokeModel wire format for Titan
// and Cohere embedding models. Titan calls arrive concurrently.
func bedrockServer(t *testing.T, dim int, calls *[]bedrockCall) *httptest.Server {
	var mu sync.Mutex
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := bedrockCall{path: r.URL.EscapedPath(), auth: r.Header.Get("Authorization")}
		json.Unmarshal(b, &c.body)
		mu.Lock()
		*calls = append(*calls, c)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Requestid", "req-1")
		switch {
		case strings.Contains(c.path, "bad-input"):
			w.Header().Set("X-Amzn-Errortype", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"message":"Malformed input request: expected maxLength: 50000, please reformat your input and try again."}`)
		case strings.Contains(c.path, "titan"):
			text := c.body["inputText"].(string)
			json.NewEncoder(w).Encode(map[string]any{"embedding": fakeVec(text, dim), "inputTextTokenCount": len(strings.Fields(text))})
		case strings.Contains(c.path, "cohere"):
			w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", "11")
			var embs [][]float32
			for _, text := range c.body["texts"].([]any) {
				embs = append(embs, fakeVec(text.(string), dim))
			}
			json.NewEncoder(w).Encode(map[string]any{"id": "x", "response_type": "embeddings_floats", "embeddings": embs, "texts": c.body["texts"]})
		default:
			w.WriteHeader(404)
		}
	}))
}

func newBedrock(t *testing.T, url, model string, dim int) *embed.Bedrock {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	b, err := embed.NewBedrock(t.Context(), embed.BedrockConfig{
		Region: "us-east-1", Model: model, Dimension: dim, Endpoint: url,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBedrockTitan(t *testing.T) {
	var calls []bedrockCall
	srv := bedrockServer(t, 256, &calls)
	defer srv.Close()
	b := newBedrock(t, srv.URL, "amazon.titan-embed-text-v2:0", 256)
	res, err := b.Embed(t.Context(), embed.Request{Texts: []string{"one two", "three four five"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 {
		t.Fatalf("%d calls, want one per text", len(calls))
	}
	for _, c := range calls {
		if c.path != "/model/amazon.titan-embed-text-v2%3A0/invoke" {
			t.Fatalf("path %s", c.path)
		}
		if !strings.HasPrefix(c.auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(c.auth, "/us-east-1/bedrock/aws4_request") {
			t.Fatalf("not SigV4-signed for bedrock: %q", c.auth)
		}
		if c.body["dimensions"] != float64(256) || c.body["normalize"] != true {
			t.Fatalf("titan v2 body %v", c.body)
		}
	}
	if res.InputTokens != 5 || res.TokensEstimated {
		t.Fatalf("tokens %d (estimated %v), want 5 from inputTextTokenCount", res.InputTokens, res.TokensEstimated)
	}
	if fmt.Sprint(res.Vectors[1]) != fmt.Sprint(fakeVec("three four five", 256)) {
		t.Fatal("vectors out of order")
	}
}

func TestBedrockCohere(t *testing.T) {
	var calls []bedrockCall
	srv := bedrockServer(t, 1024, &calls)
	defer srv.Close()
	b := newBedrock(t, srv.URL, "cohere.embed-english-v3", 1024)
	res, err := b.Embed(t.Context(), embed.Request{Texts: []string{"how do I parse JSON", "retry with backoff"}, Kind: embed.Query})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0].body["input_type"] != "search_query" || calls[0].body["truncate"] != "END" {
		t.Fatalf("calls %+v", calls)
	}
	if res.InputTokens != 11 || res.TokensEstimated || len(res.Vectors) != 2 {
		t.Fatalf("tokens %d estimated %v vectors %d; want 11 from the token-count header", res.InputTokens, res.TokensEstimated, len(res.Vectors))
	}
	calls = nil
	if _, err := b.Embed(t.Context(), embed.Request{Texts: []string{"doc"}, Kind: embed.Document}); err != nil {
		t.Fatal(err)
	}
	if calls[0].body["input_type"] != "search_document" {
		t.Fatalf("document input_type %v", calls[0].body["input_type"])
	}
}

func TestBedrockErrors(t *testing.T) {
	var calls []bedrockCall
	srv := bedrockServer(t, 256, &calls)
	defer srv.Close()
	b := newBedrock(t, srv.URL, "amazon.titan-embed-text-v1-bad-input", 256)
	_, err := b.Embed(t.Context(), embed.Request{Texts: []string{"x"}})
	if err == nil || !strings.Contains(err.Error(), "ValidationException") || !strings.Contains(err.Error(), "Malformed input request") {
		t.Fatalf("error %v", err)
	}
	srv2 := bedrockServer(t, 1536, &calls)
	defer srv2.Close()
	wrongDim := newBedrock(t, srv2.URL, "amazon.titan-embed-text-v1", 512)
	if _, err := wrongDim.Embed(t.Context(), embed.Request{Texts: []string{"x"}}); err == nil || !strings.Contains(err.Error(), "1536-dimensional") {
		t.Fatalf("error %v", err)
	}
	for _, c := range []embed.BedrockConfig{
		{Model: "amazon.titan-embed-text-v2:0", Dimension: 256},                      // no region
		{Region: "us-east-1", Model: "anthropic.claude-3", Dimension: 256},           // not an embedding model
		{Region: "us-east-1", Model: "amazon.titan-embed-text-v2:0", Dimension: 384}, // not offered by Titan v2
	} {
		if _, err := embed.NewBedrock(t.Context(), c); err == nil {
			t.Errorf("NewBedrock(%+v) accepted", c)
		}
	}
}
