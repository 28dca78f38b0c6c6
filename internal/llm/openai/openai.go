// Package openai speaks the OpenAI Chat Completions wire format, which
// OpenAI itself and most self-hosted servers (Ollama's /v1, vLLM, llama.cpp
// server, LM Studio) accept. Point BaseURL at any of them.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm"
)

// DefaultBaseURL is OpenAI's API.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config configures a client.
type Config struct {
	// Name is the provider id used for pricing and usage rows ("openai" by
	// default; "ollama" for a local Ollama, which is free).
	Name    string
	BaseURL string
	APIKey  auth.Secret
	// KeyHeader is the header that carries APIKey: empty for
	// "Authorization: Bearer KEY" (OpenAI), "api-key" for Azure OpenAI.
	KeyHeader string
	// Endpoint, when set, gives the chat completions URL of a model
	// (Azure's per-deployment URLs); BaseURL is then unused.
	Endpoint func(model string) string
	// HTTPClient defaults to one with a 10-minute timeout.
	HTTPClient *http.Client
}

// Client is an OpenAI-compatible chat client. It is safe for concurrent use.
type Client struct {
	name      string
	baseURL   string
	apiKey    auth.Secret
	keyHeader string
	endpoint  func(model string) string
	hc        *http.Client
}

var _ llm.Provider = (*Client)(nil)

// New returns a client.
func New(cfg Config) *Client {
	c := &Client{name: cfg.Name, baseURL: strings.TrimRight(cfg.BaseURL, "/"), apiKey: cfg.APIKey,
		keyHeader: cfg.KeyHeader, endpoint: cfg.Endpoint, hc: cfg.HTTPClient}
	if c.name == "" {
		c.name = "openai"
	}
	if c.baseURL == "" {
		c.baseURL = DefaultBaseURL
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 10 * time.Minute}
	}
	return c
}

// Name implements llm.Provider.
func (c *Client) Name() string { return c.name }

type wireMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type wireRequest struct {
	Model       string        `json:"model"`
	Messages    []wireMessage `json:"messages"`
	Temperature *float64      `json:"temperature,omitempty"`
	MaxTokens   int           `json:"max_tokens,omitempty"`
	// MaxCompletionTokens replaces max_tokens for reasoning models, which
	// refuse max_tokens and any temperature but the default.
	MaxCompletionTokens int             `json:"max_completion_tokens,omitempty"`
	ResponseFormat      *responseFormat `json:"response_format,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *streamOptions  `json:"stream_options,omitempty"`
}

type responseFormat struct {
	Type string `json:"type"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type wireUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
}

type wireResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage `json:"usage"`
}

type wireError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    any    `json:"code"`
	} `json:"error"`
}

// Reasoning reports whether model is one of OpenAI's reasoning models
// (o1, o3, o4-mini, gpt-5 …), which take max_completion_tokens and no
// temperature.
func Reasoning(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if model == p || strings.HasPrefix(model, p+"-") {
			return true
		}
	}
	return false
}

func toWire(req llm.Request, stream bool) wireRequest {
	w := wireRequest{Model: req.Model, Stream: stream}
	for _, m := range req.Messages {
		w.Messages = append(w.Messages, wireMessage(m))
	}
	if Reasoning(req.Model) {
		w.MaxCompletionTokens = req.MaxTokens
	} else {
		w.MaxTokens = req.MaxTokens
		t := req.Temperature
		w.Temperature = &t
	}
	if req.JSON {
		w.ResponseFormat = &responseFormat{Type: "json_object"}
	}
	if stream {
		w.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	return w
}

func fromWireUsage(u *wireUsage) (llm.Usage, bool) {
	if u == nil {
		return llm.Usage{}, false
	}
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		out.CachedInputTokens = u.PromptTokensDetails.CachedTokens
	}
	return out, true
}

// normaliseFinish maps provider finish reasons onto llm's.
func normaliseFinish(s string) string {
	switch s {
	case "length", "max_tokens":
		return llm.FinishLength
	case "content_filter":
		return llm.FinishContentFilter
	case "":
		return ""
	default:
		return llm.FinishStop
	}
}

func (c *Client) post(ctx context.Context, body wireRequest) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("llm: %s: encode request: %w", c.name, err)
	}
	url := c.baseURL + "/chat/completions"
	if c.endpoint != nil {
		url = c.endpoint(body.Model)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("llm: %s: %w", c.name, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	switch {
	case c.apiKey == "":
	case c.keyHeader != "":
		hreq.Header.Set(c.keyHeader, c.apiKey.Reveal())
	default:
		hreq.Header.Set("Authorization", "Bearer "+c.apiKey.Reveal())
	}
	if body.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	return llm.Do(ctx, c.hc, c.name, hreq, c.statusError)
}

// statusError turns a non-2xx response into a typed error.
func (c *Client) statusError(resp *http.Response) error {
	return llm.StatusError(c.name, resp, func(raw []byte) (string, string, bool) {
		var we wireError
		if json.Unmarshal(raw, &we) != nil || we.Error.Message == "" {
			return "", "", false
		}
		code := fmt.Sprint(we.Error.Code)
		if code == "<nil>" {
			code = we.Error.Type
		}
		return we.Error.Message, code, true
	}, errorKind)
}

// errorKind classifies an error answer by status and by OpenAI's (or a
// compatible server's) message and code.
func errorKind(status int, code, msg string) llm.Kind {
	lower := strings.ToLower(msg + " " + code)
	switch {
	case status == http.StatusTooManyRequests:
		return llm.KindRateLimit
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return llm.KindAuth
	case strings.Contains(lower, "context_length_exceeded") || strings.Contains(lower, "maximum context length") ||
		strings.Contains(lower, "context window") || strings.Contains(lower, "too many tokens"):
		return llm.KindContextLength
	case strings.Contains(lower, "content_filter") || strings.Contains(lower, "content management policy"):
		return llm.KindContentFilter
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return llm.KindTimeout
	case status >= 500:
		return llm.KindUnavailable
	case status >= 400:
		return llm.KindBadRequest
	}
	return llm.KindUnknown
}

// Chat implements llm.Provider.
func (c *Client) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	start := time.Now()
	resp, err := c.post(ctx, toWire(req, false))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var w wireResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(&w); err != nil {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.name, Status: resp.StatusCode, Message: "malformed response body", Err: err}
	}
	if len(w.Choices) == 0 {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.name, Status: resp.StatusCode, Message: "response has no choices"}
	}
	out := &llm.Response{Content: w.Choices[0].Message.Content, Model: w.Model, Provider: c.name, Latency: time.Since(start)}
	if w.Choices[0].FinishReason != nil {
		out.FinishReason = normaliseFinish(*w.Choices[0].FinishReason)
	}
	usage, ok := fromWireUsage(w.Usage)
	if !ok {
		usage = estimate(req, out.Content)
	}
	out.Usage = usage
	if out.Model == "" {
		out.Model = req.Model
	}
	return out, nil
}

func estimate(req llm.Request, answer string) llm.Usage {
	return llm.Usage{InputTokens: llm.EstimateTokens(llm.PromptText(req.Messages)), OutputTokens: llm.EstimateTokens(answer), Estimated: true}
}

// Stream implements llm.Provider, reading server-sent events.
func (c *Client) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	start := time.Now()
	resp, err := c.post(ctx, toWire(req, true))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := &llm.Response{Provider: c.name, Model: req.Model}
	var content strings.Builder
	var usage *llm.Usage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	done := false
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue // comments, event names, blank separators
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			done = true
			break
		}
		var w wireResponse
		if err := json.Unmarshal([]byte(data), &w); err != nil {
			var we wireError
			if json.Unmarshal([]byte(data), &we) == nil && we.Error.Message != "" {
				return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.name, Message: we.Error.Message}
			}
			return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.name, Message: "malformed stream event", Err: err}
		}
		if w.Model != "" {
			out.Model = w.Model
		}
		if u, ok := fromWireUsage(w.Usage); ok {
			usage = &u
		}
		for _, ch := range w.Choices {
			if ch.Delta.Content != "" {
				content.WriteString(ch.Delta.Content)
				if fn != nil {
					if err := fn(llm.Chunk{Delta: ch.Delta.Content}); err != nil {
						return nil, err
					}
				}
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				out.FinishReason = normaliseFinish(*ch.FinishReason)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, llm.TransportError(ctx, c.name, err)
	}
	if !done && out.FinishReason == "" {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.name, Message: "stream ended before the answer was complete"}
	}
	out.Content = content.String()
	if usage != nil {
		out.Usage = *usage
	} else {
		out.Usage = estimate(req, out.Content)
	}
	out.Latency = time.Since(start)
	return out, nil
}
