// Package anthropic speaks Anthropic's Messages API (POST /v1/messages):
// the system prompt travels apart from the messages, which must alternate
// user and assistant; answers stream as server-sent events
// (message_start, content_block_delta, message_delta, message_stop).
package anthropic

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

// DefaultBaseURL is Anthropic's API.
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultVersion is the anthropic-version header sent when none is set.
const DefaultVersion = "2023-06-01"

// jsonInstruction is added to the system prompt for JSON requests: the
// Messages API has no response_format.
const jsonInstruction = "Respond with a single JSON object and nothing else: no prose, no code fences."

// Config configures a client.
type Config struct {
	BaseURL string
	APIKey  auth.Secret
	Version string
	// HTTPClient defaults to one with a 10-minute timeout.
	HTTPClient *http.Client
}

// Client is a Messages API client. It is safe for concurrent use.
type Client struct {
	baseURL string
	apiKey  auth.Secret
	version string
	hc      *http.Client
}

var _ llm.Provider = (*Client)(nil)

// New returns a client.
func New(cfg Config) *Client {
	c := &Client{baseURL: strings.TrimRight(cfg.BaseURL, "/"), apiKey: cfg.APIKey, version: cfg.Version, hc: cfg.HTTPClient}
	if c.baseURL == "" {
		c.baseURL = DefaultBaseURL
	}
	if c.version == "" {
		c.version = DefaultVersion
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 10 * time.Minute}
	}
	return c
}

// Name implements llm.Provider.
func (c *Client) Name() string { return "anthropic" }

type wireMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type wireRequest struct {
	Model       string        `json:"model"`
	System      string        `json:"system,omitempty"`
	Messages    []wireMessage `json:"messages"`
	MaxTokens   int           `json:"max_tokens"`
	Temperature *float64      `json:"temperature,omitempty"`
	Stream      bool          `json:"stream,omitempty"`
}

type wireUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

type wireBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type wireResponse struct {
	Type       string      `json:"type"`
	Model      string      `json:"model"`
	Content    []wireBlock `json:"content"`
	StopReason string      `json:"stop_reason"`
	Usage      *wireUsage  `json:"usage"`
}

type wireError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// toWire moves system messages into the system field and merges
// consecutive messages of the same role, which the API refuses.
func toWire(req llm.Request, stream bool) wireRequest {
	w := wireRequest{Model: req.Model, MaxTokens: req.MaxTokens, Stream: stream}
	var system []string
	for _, m := range req.Messages {
		if m.Role == llm.RoleSystem {
			system = append(system, m.Content)
			continue
		}
		role := llm.RoleUser
		if m.Role == llm.RoleAssistant {
			role = llm.RoleAssistant
		}
		if n := len(w.Messages); n > 0 && w.Messages[n-1].Role == role {
			w.Messages[n-1].Content += "\n\n" + m.Content
			continue
		}
		w.Messages = append(w.Messages, wireMessage{Role: role, Content: m.Content})
	}
	if req.JSON {
		system = append(system, jsonInstruction)
	}
	w.System = strings.Join(system, "\n\n")
	t := req.Temperature
	if t > 1 {
		t = 1 // Anthropic's range is 0..1
	}
	w.Temperature = &t
	return w
}

// fromWireUsage normalises usage: Anthropic's input_tokens excludes the
// tokens read from or written to its prompt cache; llm.Usage's
// InputTokens includes them, and names each part, since each has its own
// price.
func fromWireUsage(u wireUsage) llm.Usage {
	return llm.Usage{
		InputTokens:           u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens,
		CachedInputTokens:     u.CacheReadInputTokens,
		CacheWriteInputTokens: u.CacheCreationInputTokens,
		OutputTokens:          u.OutputTokens,
	}
}

// finishReason maps stop_reason onto llm's finish reasons.
func finishReason(s string) string {
	switch s {
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "refusal":
		return llm.FinishContentFilter
	case "":
		return ""
	default: // end_turn, stop_sequence, tool_use, pause_turn
		return llm.FinishStop
	}
}

func (c *Client) post(ctx context.Context, body wireRequest) (*http.Response, error) {
	if body.MaxTokens <= 0 {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: c.Name(), Message: "max_tokens is required by the Messages API"}
	}
	if len(body.Messages) == 0 {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: c.Name(), Message: "no user or assistant message"}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("llm: anthropic: encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/v1/messages", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("llm: anthropic: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("anthropic-version", c.version)
	if c.apiKey != "" {
		hreq.Header.Set("x-api-key", c.apiKey.Reveal())
	}
	if body.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	return llm.Do(ctx, c.hc, "anthropic", hreq, statusError)
}

// statusError turns a non-2xx response into a typed error.
func statusError(resp *http.Response) error {
	return llm.StatusError("anthropic", resp, func(raw []byte) (string, string, bool) {
		var we wireError
		if json.Unmarshal(raw, &we) != nil || we.Error.Type == "" {
			return "", "", false
		}
		return we.Error.Message, we.Error.Type, true
	}, errorKind)
}

// errorKind classifies an error by HTTP status and Anthropic's error type.
func errorKind(status int, typ, msg string) llm.Kind {
	lower := strings.ToLower(msg)
	switch {
	case status == http.StatusTooManyRequests || typ == "rate_limit_error":
		return llm.KindRateLimit
	case status == http.StatusUnauthorized || status == http.StatusForbidden ||
		typ == "authentication_error" || typ == "permission_error":
		return llm.KindAuth
	case status == http.StatusRequestEntityTooLarge || typ == "request_too_large" ||
		strings.Contains(lower, "prompt is too long") || strings.Contains(lower, "context window"):
		return llm.KindContextLength
	case typ == "overloaded_error" || typ == "api_error" || status >= 500:
		if status == http.StatusGatewayTimeout || typ == "timeout_error" {
			return llm.KindTimeout
		}
		return llm.KindUnavailable
	case status == http.StatusRequestTimeout || typ == "timeout_error":
		return llm.KindTimeout
	case status >= 400 || typ == "invalid_request_error" || typ == "not_found_error":
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
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Status: resp.StatusCode, Message: "malformed response body", Err: err}
	}
	if w.Type != "message" {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Status: resp.StatusCode, Message: fmt.Sprintf("response is a %q, not a message", w.Type)}
	}
	var text strings.Builder
	for _, b := range w.Content {
		if b.Type == "text" {
			text.WriteString(b.Text)
		}
	}
	out := &llm.Response{Content: text.String(), FinishReason: finishReason(w.StopReason), Model: w.Model, Provider: c.Name(), Latency: time.Since(start)}
	if w.Usage != nil {
		out.Usage = fromWireUsage(*w.Usage)
	} else {
		out.Usage = estimate(req, out.Content)
	}
	if out.Model == "" {
		out.Model = req.Model
	}
	return out, nil
}

func estimate(req llm.Request, answer string) llm.Usage {
	return llm.Usage{InputTokens: llm.EstimateTokens(llm.PromptText(req.Messages)), OutputTokens: llm.EstimateTokens(answer), Estimated: true}
}

// streamEvent is the union of the stream's event payloads.
type streamEvent struct {
	Type    string        `json:"type"`
	Message *wireResponse `json:"message"`
	Delta   *struct {
		Type       string `json:"type"`
		Text       string `json:"text"`
		StopReason string `json:"stop_reason"`
	} `json:"delta"`
	Usage *wireUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// Stream implements llm.Provider, reading server-sent events.
func (c *Client) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	start := time.Now()
	resp, err := c.post(ctx, toWire(req, true))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := &llm.Response{Provider: c.Name(), Model: req.Model}
	var content strings.Builder
	var usage wireUsage
	gotUsage, stopped := false, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue // "event:" lines repeat the payload's type; blank lines separate events
		}
		var ev streamEvent
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &ev); err != nil {
			return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Message: "malformed stream event", Err: err}
		}
		switch ev.Type {
		case "message_start":
			if ev.Message != nil {
				if ev.Message.Model != "" {
					out.Model = ev.Message.Model
				}
				if ev.Message.Usage != nil {
					usage, gotUsage = *ev.Message.Usage, true
				}
			}
		case "content_block_delta":
			if ev.Delta == nil || ev.Delta.Type != "text_delta" || ev.Delta.Text == "" {
				continue // thinking and tool-input deltas are not part of the answer
			}
			content.WriteString(ev.Delta.Text)
			if fn != nil {
				if err := fn(llm.Chunk{Delta: ev.Delta.Text}); err != nil {
					return nil, err
				}
			}
		case "message_delta":
			if ev.Delta != nil && ev.Delta.StopReason != "" {
				out.FinishReason = finishReason(ev.Delta.StopReason)
			}
			if ev.Usage != nil {
				// Counts here are cumulative; input counts appear only
				// when they changed since message_start.
				usage.OutputTokens = ev.Usage.OutputTokens
				if ev.Usage.InputTokens > 0 {
					usage.InputTokens = ev.Usage.InputTokens
				}
				if ev.Usage.CacheReadInputTokens > 0 {
					usage.CacheReadInputTokens = ev.Usage.CacheReadInputTokens
				}
				if ev.Usage.CacheCreationInputTokens > 0 {
					usage.CacheCreationInputTokens = ev.Usage.CacheCreationInputTokens
				}
				gotUsage = true
			}
		case "message_stop":
			stopped = true
		case "error":
			e := &llm.Error{Provider: c.Name(), Kind: llm.KindUnavailable, Message: "stream error"}
			if ev.Error != nil {
				e.Kind, e.Message = errorKind(0, ev.Error.Type, ev.Error.Message), ev.Error.Message
			}
			return nil, e
		}
		if stopped {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, llm.TransportError(ctx, "anthropic", err)
	}
	if !stopped {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Message: "stream ended before message_stop: the answer is incomplete"}
	}
	out.Content = content.String()
	if gotUsage {
		out.Usage = fromWireUsage(usage)
	} else {
		out.Usage = estimate(req, out.Content)
	}
	out.Latency = time.Since(start)
	return out, nil
}
