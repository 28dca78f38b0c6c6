// Package ollama speaks Ollama's native chat API (POST /api/chat), which,
// unlike its OpenAI-compatible /v1, lets QLP set the context window
// (options.num_ctx) per request. Ollama silently drops the start of a
// prompt longer than num_ctx, and its default window is small, so every
// request is sized to its prompt and one that cannot fit the configured
// maximum fails with a context-length error before it is sent.
package ollama

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

	"github.com/quantumlayer/qlp/internal/llm"
)

// DefaultBaseURL is a local Ollama.
const DefaultBaseURL = "http://127.0.0.1:11434"

// Config configures a client.
type Config struct {
	BaseURL string
	// MinContext is the smallest num_ctx sent (default 4096). Windows are
	// powers of two from here up, so that a model is not reloaded for
	// every small change of prompt length.
	MinContext int
	// MaxContext is the largest num_ctx QLP asks for (default 32768): the
	// model's trained window, or what the machine's memory allows.
	MaxContext int
	// KeepAlive is how long Ollama keeps the model loaded after a call
	// ("5m", "-1"); empty leaves Ollama's default.
	KeepAlive string
	// HTTPClient defaults to one with a 10-minute timeout.
	HTTPClient *http.Client
}

// Defaults for the context window.
const (
	DefaultMinContext = 4096
	DefaultMaxContext = 32768
)

// Client is an Ollama chat client. It is safe for concurrent use.
type Client struct {
	cfg Config
	hc  *http.Client
}

var _ llm.Provider = (*Client)(nil)

// New returns a client.
func New(cfg Config) *Client {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.MinContext <= 0 {
		cfg.MinContext = DefaultMinContext
	}
	if cfg.MaxContext <= 0 {
		cfg.MaxContext = DefaultMaxContext
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Minute}
	}
	return &Client{cfg: cfg, hc: hc}
}

// Name implements llm.Provider. Ollama is free: it runs on the operator's
// own hardware.
func (c *Client) Name() string { return "ollama" }

type wireMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type wireOptions struct {
	NumCtx      int      `json:"num_ctx"`
	NumPredict  int      `json:"num_predict,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
}

type wireRequest struct {
	Model     string        `json:"model"`
	Messages  []wireMessage `json:"messages"`
	Stream    bool          `json:"stream"`
	Format    string        `json:"format,omitempty"`
	Options   wireOptions   `json:"options"`
	KeepAlive string        `json:"keep_alive,omitempty"`
}

type wireResponse struct {
	Model   string `json:"model"`
	Message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"message"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	Error           string `json:"error"`
}

// PromptTokens is a deliberately high estimate of a prompt's tokens: three
// bytes a token (code and non-English text tokenise densely) plus the
// chat template's few tokens per message. Over-estimating costs memory;
// under-estimating loses the start of the prompt.
func PromptTokens(msgs []llm.Message) int {
	n := 0
	for _, m := range msgs {
		n += (len(m.Content)+2)/3 + 8
	}
	return n
}

// ContextFor returns the num_ctx for a request: room for the prompt and
// maxTokens of answer, rounded up to a power of two no smaller than
// MinContext. It fails with llm.KindContextLength when that exceeds
// MaxContext.
func (c *Client) ContextFor(req llm.Request) (int, error) {
	need := PromptTokens(req.Messages) + req.MaxTokens
	if need > c.cfg.MaxContext {
		return 0, &llm.Error{Kind: llm.KindContextLength, Provider: c.Name(), Message: fmt.Sprintf(
			"the prompt (about %d tokens) and the answer (up to %d tokens) need a context of %d tokens, more than the configured maximum of %d (QLP_LLM_OLLAMA_MAX_CONTEXT)",
			need-req.MaxTokens, req.MaxTokens, need, c.cfg.MaxContext)}
	}
	ctx := c.cfg.MinContext
	for ctx < need {
		ctx *= 2
	}
	return min(ctx, c.cfg.MaxContext), nil
}

func (c *Client) toWire(req llm.Request, stream bool) (wireRequest, error) {
	numCtx, err := c.ContextFor(req)
	if err != nil {
		return wireRequest{}, err
	}
	w := wireRequest{Model: req.Model, Stream: stream, KeepAlive: c.cfg.KeepAlive,
		Options: wireOptions{NumCtx: numCtx, NumPredict: req.MaxTokens}}
	for _, m := range req.Messages {
		w.Messages = append(w.Messages, wireMessage(m))
	}
	t := req.Temperature
	w.Options.Temperature = &t
	if req.JSON {
		w.Format = "json"
	}
	return w, nil
}

// finishReason maps done_reason onto llm's.
func finishReason(s string) string {
	switch s {
	case "length":
		return llm.FinishLength
	case "":
		return ""
	default: // stop, load, unload
		return llm.FinishStop
	}
}

func (c *Client) post(ctx context.Context, body wireRequest) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("llm: ollama: encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+"/api/chat", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("llm: ollama: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	return llm.Do(ctx, c.hc, "ollama", hreq, statusError)
}

// statusError turns a non-2xx response ({"error": "..."}) into a typed
// error.
func statusError(resp *http.Response) error {
	return llm.StatusError("ollama", resp, func(raw []byte) (string, string, bool) {
		var w struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &w) != nil || w.Error == "" {
			return "", "", false
		}
		return w.Error, "", true
	}, errorKind)
}

// errorKind classifies an error answer by its message, then its status.
func errorKind(status int, _, msg string) llm.Kind {
	if k := messageKind(msg); k != llm.KindUnknown {
		return k
	}
	switch {
	case status == http.StatusTooManyRequests:
		return llm.KindRateLimit
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return llm.KindAuth
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return llm.KindTimeout
	case status >= 500:
		return llm.KindUnavailable
	default:
		// 404 "model 'x' not found, try pulling it first" and other
		// refusals: retrying cannot help.
		return llm.KindBadRequest
	}
}

func messageKind(msg string) llm.Kind {
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "context length") || strings.Contains(lower, "context window") ||
		strings.Contains(lower, "exceeds the maximum context"):
		return llm.KindContextLength
	case strings.Contains(lower, "server busy") || strings.Contains(lower, "maximum pending requests"):
		return llm.KindRateLimit
	}
	return llm.KindUnknown
}

// Chat implements llm.Provider.
func (c *Client) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	start := time.Now()
	body, err := c.toWire(req, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var w wireResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(&w); err != nil {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Status: resp.StatusCode, Message: "malformed response body", Err: err}
	}
	if w.Error != "" {
		return nil, &llm.Error{Kind: orUnavailable(messageKind(w.Error)), Provider: c.Name(), Status: resp.StatusCode, Message: w.Error}
	}
	if !w.Done {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Status: resp.StatusCode, Message: "response is not done"}
	}
	out := &llm.Response{Content: w.Message.Content, Model: w.Model, Provider: c.Name(), Latency: time.Since(start)}
	c.finish(out, req, w)
	return out, nil
}

func orUnavailable(k llm.Kind) llm.Kind {
	if k == llm.KindUnknown {
		return llm.KindUnavailable
	}
	return k
}

// finish fills finish reason, model and usage from the final message.
func (c *Client) finish(out *llm.Response, req llm.Request, w wireResponse) {
	out.FinishReason = finishReason(w.DoneReason)
	if out.Model == "" {
		out.Model = req.Model
	}
	if w.PromptEvalCount == 0 && w.EvalCount == 0 {
		out.Usage = llm.Usage{InputTokens: llm.EstimateTokens(llm.PromptText(req.Messages)), OutputTokens: llm.EstimateTokens(out.Content), Estimated: true}
		return
	}
	// prompt_eval_count counts only the tokens Ollama evaluated: a prompt
	// prefix still in its KV cache is not counted again.
	out.Usage = llm.Usage{InputTokens: w.PromptEvalCount, OutputTokens: w.EvalCount}
}

// Stream implements llm.Provider, reading newline-delimited JSON.
func (c *Client) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	start := time.Now()
	body, err := c.toWire(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := &llm.Response{Provider: c.Name()}
	var content strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var w wireResponse
		if err := json.Unmarshal(line, &w); err != nil {
			return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Message: "malformed stream line", Err: err}
		}
		if w.Error != "" {
			return nil, &llm.Error{Kind: orUnavailable(messageKind(w.Error)), Provider: c.Name(), Message: w.Error}
		}
		if w.Model != "" {
			out.Model = w.Model
		}
		if d := w.Message.Content; d != "" {
			content.WriteString(d)
			if fn != nil {
				if err := fn(llm.Chunk{Delta: d}); err != nil {
					return nil, err
				}
			}
		}
		if w.Done {
			out.Content = content.String()
			c.finish(out, req, w)
			out.Latency = time.Since(start)
			return out, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, llm.TransportError(ctx, "ollama", err)
	}
	return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Message: "stream ended before done: the answer is incomplete"}
}
