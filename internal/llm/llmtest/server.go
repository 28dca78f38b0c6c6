// Package llmtest is an OpenAI-compatible HTTP server that answers from a
// script, so that tests (and the example cassettes) run QLP's real client
// code, streaming included, without a model.
//
// It is a test double for the network peer, never a provider: nothing in
// QLP's production path can select it.
package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/llm"
)

// Call is one request the server received.
type Call struct {
	Model    string
	Messages []llm.Message
	JSON     bool
	Stream   bool
	Role     string // from the "QLP role: <name>" line of QLP's prompts
	TaskID   string // from the "Task id: <id>" line of QLP's prompts
	At       time.Time
}

// Prompt is the whole prompt text.
func (c Call) Prompt() string { return llm.PromptText(c.Messages) }

// Reply is what the server answers.
type Reply struct {
	Content string
	Finish  string // default "stop"
	// Status, when not 200, makes an error reply with Body and Header.
	Status int
	Body   string
	Header map[string]string
	// Usage defaults to a length-based count.
	Usage *llm.Usage
	Delay time.Duration
}

// Handler chooses the reply to a call.
type Handler func(Call) Reply

// Server is the scripted endpoint.
type Server struct {
	URL     string // base URL including /v1
	srv     *httptest.Server
	handler Handler
	mu      sync.Mutex
	calls   []Call
}

var (
	roleRe = regexp.MustCompile(`QLP role: ([a-z_]+)`)
	taskRe = regexp.MustCompile(`Task id: (\S+)`)
)

// New starts a server answering with h.
func New(h Handler) *Server {
	s := &Server{handler: h}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsFor returns the calls made in one role.
func (s *Server) CallsFor(role string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Role == role {
			out = append(out, c)
		}
	}
	return out
}

type wireReq struct {
	Model          string        `json:"model"`
	Messages       []llm.Message `json:"messages"`
	Stream         bool          `json:"stream"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var wr wireReq
	if err := json.NewDecoder(r.Body).Decode(&wr); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	c := Call{Model: wr.Model, Messages: wr.Messages, Stream: wr.Stream, JSON: wr.ResponseFormat != nil && wr.ResponseFormat.Type == "json_object", At: time.Now()}
	text := c.Prompt()
	if m := roleRe.FindStringSubmatch(text); m != nil {
		c.Role = m[1]
	}
	// The last "Task id:" line names the task of the request (earlier ones
	// may quote upstream tasks).
	if ms := taskRe.FindAllStringSubmatch(text, -1); len(ms) > 0 {
		c.TaskID = ms[len(ms)-1][1]
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()

	rep := s.handler(c)
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	if rep.Status != 0 && rep.Status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.Status)
		io.WriteString(w, rep.Body)
		return
	}
	finish := rep.Finish
	if finish == "" {
		finish = "stop"
	}
	usage := llm.Usage{InputTokens: llm.EstimateTokens(text), OutputTokens: llm.EstimateTokens(rep.Content)}
	if rep.Usage != nil {
		usage = *rep.Usage
	}
	wu := map[string]any{"prompt_tokens": usage.InputTokens, "completion_tokens": usage.OutputTokens,
		"total_tokens": usage.InputTokens + usage.OutputTokens, "prompt_tokens_details": map[string]int{"cached_tokens": usage.CachedInputTokens}}
	if !c.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion", "model": c.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": rep.Content}, "finish_reason": finish}},
			"usage":   wu,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if fl != nil {
			fl.Flush()
		}
	}
	for content := rep.Content; content != ""; {
		n := min(64, len(content))
		send(map[string]any{"model": c.Model, "choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": content[:n]}, "finish_reason": nil}}})
		content = content[n:]
	}
	send(map[string]any{"model": c.Model, "choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": finish}}})
	send(map[string]any{"model": c.Model, "choices": []any{}, "usage": wu})
	io.WriteString(w, "data: [DONE]\n\n")
}

// Rule answers calls that match all of its non-empty fields.
type Rule struct {
	Role     string
	TaskID   string
	Contains string
	// Replies are served in order; the last one then repeats.
	Replies []Reply
}

// Script is a Handler made of rules, tried in order.
type Script struct {
	mu    sync.Mutex
	rules []*Rule
	used  map[*Rule]int
}

// NewScript builds a script.
func NewScript(rules ...Rule) *Script {
	s := &Script{used: map[*Rule]int{}}
	for i := range rules {
		r := rules[i]
		s.rules = append(s.rules, &r)
	}
	return s
}

// Handle implements Handler. A call no rule matches gets a 400 naming it,
// so that a test fails loudly instead of hanging on retries.
func (s *Script) Handle(c Call) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rules {
		if (r.Role != "" && r.Role != c.Role) || (r.TaskID != "" && r.TaskID != c.TaskID) ||
			(r.Contains != "" && !strings.Contains(c.Prompt(), r.Contains)) || len(r.Replies) == 0 {
			continue
		}
		n := s.used[r]
		s.used[r] = n + 1
		if n >= len(r.Replies) {
			n = len(r.Replies) - 1
		}
		return r.Replies[n]
	}
	return Reply{Status: http.StatusBadRequest, Body: fmt.Sprintf(
		`{"error":{"message":"llmtest: no scripted answer for role %q task %q","type":"invalid_request_error"}}`, c.Role, c.TaskID)}
}

// JSON marshals v for a Reply's Content.
func JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
