package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OpenAIConfig configures an OpenAI-compatible embedder.
type OpenAIConfig struct {
	// Flavor is "openai", "azure" or "ollama".
	Flavor string
	// BaseURL: OpenAI default "https://api.openai.com/v1"; Azure the
	// resource endpoint ("https://NAME.openai.azure.com"); Ollama default
	// "http://127.0.0.1:11434/v1".
	BaseURL string
	// APIKey: Bearer token for OpenAI, api-key header for Azure, unused by
	// Ollama.
	APIKey string
	// Model is the model name; for Azure, the deployment name.
	Model string
	// Dimension is the vector length expected from the model. With OpenAI's
	// text-embedding-3 models it is also requested ("dimensions").
	Dimension int
	// APIVersion is Azure's api-version (default "2024-10-21").
	APIVersion string
	// BatchSize is the most texts sent in one request (default 64).
	BatchSize int
	// MaxAttempts bounds tries on 429 and 5xx answers (default 3).
	MaxAttempts int
	// HTTPClient defaults to a client with a 60 s timeout.
	HTTPClient *http.Client
}

// OpenAI is an embedder for the OpenAI /embeddings wire format.
type OpenAI struct {
	cfg      OpenAIConfig
	endpoint string
}

// NewOpenAI checks cfg and returns the embedder.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if cfg.Model == "" {
		return nil, errors.New("embed: no model configured")
	}
	if cfg.Dimension <= 0 {
		return nil, fmt.Errorf("embed: the dimension of model %s must be configured", cfg.Model)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	var endpoint string
	switch cfg.Flavor {
	case "openai", "":
		cfg.Flavor = "openai"
		if cfg.BaseURL == "" {
			cfg.BaseURL = "https://api.openai.com/v1"
		}
		if cfg.APIKey == "" {
			return nil, errors.New("embed: openai needs an API key")
		}
		endpoint = strings.TrimRight(cfg.BaseURL, "/") + "/embeddings"
	case "azure":
		if cfg.BaseURL == "" {
			return nil, errors.New("embed: azure needs the resource endpoint as base URL")
		}
		if cfg.APIKey == "" {
			return nil, errors.New("embed: azure needs an API key")
		}
		if cfg.APIVersion == "" {
			cfg.APIVersion = "2024-10-21"
		}
		endpoint = fmt.Sprintf("%s/openai/deployments/%s/embeddings?api-version=%s",
			strings.TrimRight(cfg.BaseURL, "/"), url.PathEscape(cfg.Model), url.QueryEscape(cfg.APIVersion))
	case "ollama":
		if cfg.BaseURL == "" {
			cfg.BaseURL = "http://127.0.0.1:11434/v1"
		}
		endpoint = strings.TrimRight(cfg.BaseURL, "/") + "/embeddings"
	default:
		return nil, fmt.Errorf("embed: unknown OpenAI-compatible flavor %q (want openai, azure or ollama)", cfg.Flavor)
	}
	if _, err := url.Parse(endpoint); err != nil {
		return nil, fmt.Errorf("embed: base URL: %w", err)
	}
	return &OpenAI{cfg: cfg, endpoint: endpoint}, nil
}

// Dimension implements Embedder.
func (o *OpenAI) Dimension() int { return o.cfg.Dimension }

// Provider implements Embedder.
func (o *OpenAI) Provider() string { return o.cfg.Flavor }

// Model implements Embedder.
func (o *OpenAI) Model() string { return o.cfg.Model }

type openAIRequest struct {
	Model          string   `json:"model,omitempty"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

type openAIResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage *struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// openAIError is the error body of OpenAI, Azure and Ollama.
type openAIError struct {
	Error json.RawMessage `json:"error"`
}

// Embed implements Embedder.
func (o *OpenAI) Embed(ctx context.Context, req Request) (Result, error) {
	out := Result{Vectors: make([][]float32, 0, len(req.Texts))}
	for i, t := range req.Texts {
		if strings.TrimSpace(t) == "" {
			return Result{}, fmt.Errorf("text %d: %w", i, ErrEmptyText)
		}
	}
	for start := 0; start < len(req.Texts); start += o.cfg.BatchSize {
		batch := req.Texts[start:min(start+o.cfg.BatchSize, len(req.Texts))]
		vecs, tokens, estimated, err := o.call(ctx, batch)
		if err != nil {
			return Result{}, err
		}
		out.Vectors = append(out.Vectors, vecs...)
		out.InputTokens += tokens
		out.TokensEstimated = out.TokensEstimated || estimated
	}
	return out, nil
}

func (o *OpenAI) call(ctx context.Context, texts []string) ([][]float32, int, bool, error) {
	body := openAIRequest{Input: texts, EncodingFormat: "float"}
	if o.cfg.Flavor != "azure" { // Azure takes the model from the deployment
		body.Model = o.cfg.Model
	}
	if o.cfg.Flavor == "openai" && strings.HasPrefix(o.cfg.Model, "text-embedding-3") {
		body.Dimensions = o.cfg.Dimension
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, 0, false, fmt.Errorf("embed: encode request: %w", err)
	}
	var resp *http.Response
	for attempt := 1; ; attempt++ {
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, o.endpoint, bytes.NewReader(b))
		if err != nil {
			return nil, 0, false, fmt.Errorf("embed: %w", err)
		}
		hreq.Header.Set("Content-Type", "application/json")
		switch o.cfg.Flavor {
		case "azure":
			hreq.Header.Set("api-key", o.cfg.APIKey)
		default:
			if o.cfg.APIKey != "" {
				hreq.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
			}
		}
		resp, err = o.cfg.HTTPClient.Do(hreq)
		if err != nil {
			return nil, 0, false, fmt.Errorf("embed: %s: %w", o.cfg.Flavor, err)
		}
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		if !retry || attempt >= o.cfg.MaxAttempts {
			break
		}
		wait := backoff(attempt, resp.Header.Get("Retry-After"))
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		select {
		case <-ctx.Done():
			return nil, 0, false, fmt.Errorf("embed: %s: %w", o.cfg.Flavor, ctx.Err())
		case <-time.After(wait):
		}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, 0, false, fmt.Errorf("embed: %s: read response: %w", o.cfg.Flavor, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, false, fmt.Errorf("embed: %s: %s: %s", o.cfg.Flavor, resp.Status, errorMessage(raw))
	}
	var r openAIResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, 0, false, fmt.Errorf("embed: %s: malformed response: %w", o.cfg.Flavor, err)
	}
	if len(r.Data) != len(texts) {
		return nil, 0, false, fmt.Errorf("embed: %s: %d embeddings for %d texts", o.cfg.Flavor, len(r.Data), len(texts))
	}
	vecs := make([][]float32, len(texts))
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= len(texts) || vecs[d.Index] != nil {
			return nil, 0, false, fmt.Errorf("embed: %s: bad or repeated embedding index %d", o.cfg.Flavor, d.Index)
		}
		if len(d.Embedding) != o.cfg.Dimension {
			return nil, 0, false, fmt.Errorf("embed: %s model %s returned %d-dimensional vectors; memory.embedder.dimension is %d",
				o.cfg.Flavor, o.cfg.Model, len(d.Embedding), o.cfg.Dimension)
		}
		vecs[d.Index] = d.Embedding
	}
	if r.Usage != nil && r.Usage.PromptTokens > 0 {
		return vecs, r.Usage.PromptTokens, false, nil
	}
	return vecs, estimateTokens(texts), true, nil
}

// errorMessage extracts a readable message from an OpenAI-style error body:
// {"error": {"message": ..., "type": ..., "code": ...}} or, from Ollama,
// {"error": "..."}.
func errorMessage(raw []byte) string {
	var e openAIError
	if json.Unmarshal(raw, &e) == nil && len(e.Error) > 0 {
		var s string
		if json.Unmarshal(e.Error, &s) == nil {
			return s
		}
		var obj struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		}
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			msg := obj.Message
			if obj.Code != nil {
				msg += fmt.Sprintf(" (%v)", obj.Code)
			} else if obj.Type != "" {
				msg += " (" + obj.Type + ")"
			}
			return msg
		}
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return "empty body"
	}
	return s
}

// backoff is 0.5 s, 1 s, 2 s… or what Retry-After asks for (at most 30 s).
func backoff(attempt int, retryAfter string) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && secs >= 0 {
		return min(time.Duration(secs)*time.Second, 30*time.Second)
	}
	return time.Duration(500<<(attempt-1)) * time.Millisecond
}
