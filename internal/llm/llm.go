// Package llm is QLP's provider-neutral model interface: requests, responses
// with token usage, streaming, typed errors, and the wrappers every call goes
// through (metering into usage rows priced from the catalogue, recording to
// a cassette). Each provider lives in its own small package
// (llm/openai, llm/replay, …) that only translates to and from its wire
// format.
package llm

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Meta says who a call is for and why. It is never sent to the provider; it
// attributes the usage row.
type Meta struct {
	TenantID string
	JobID    string
	TaskID   string
	Attempt  int
	Tier     string
	Role     string // decomposer, coder, test_writer, reviewer, fixer
	// JobBudgetPUSD is the job's own budget (its request's
	// metadata.budget_usd), 0 when it set none: the budget guard applies
	// the lower of it and the tenant's request budget.
	JobBudgetPUSD int64
}

// Request is one chat completion request.
type Request struct {
	Model       string
	Messages    []Message
	Temperature float64
	MaxTokens   int
	// JSON asks the provider for a single JSON object (response_format).
	JSON bool
	Meta Meta
}

// Usage counts tokens. InputTokens includes CachedInputTokens (read from
// the provider's prompt cache) and CacheWriteInputTokens (written to it),
// which are priced differently.
type Usage struct {
	InputTokens           int `json:"input_tokens"`
	CachedInputTokens     int `json:"cached_input_tokens,omitempty"`
	CacheWriteInputTokens int `json:"cache_write_input_tokens,omitempty"`
	OutputTokens          int `json:"output_tokens"`
	// Estimated is set when the provider reported no usage and the counts
	// were estimated from text length.
	Estimated bool `json:"estimated,omitempty"`
}

// Finish reasons, normalised across providers.
const (
	FinishStop          = "stop"
	FinishLength        = "length" // truncated at max tokens: the answer is incomplete
	FinishContentFilter = "content_filter"
)

// Response is a completed answer.
type Response struct {
	Content      string
	FinishReason string
	Model        string // the model that answered, as the provider names it
	Provider     string
	Usage        Usage
	Latency      time.Duration
	Cached       bool  // served from QLP's response cache
	CostPUSD     int64 // set by the metering wrapper
	// Tier is set when a wrapper (the budget guard) had a cheaper tier
	// answer instead of the one asked for: the tier that answered.
	Tier string
}

// Truncated reports whether the answer stopped at the token limit.
func (r *Response) Truncated() bool { return r.FinishReason == FinishLength }

// Continuation is what to send after a truncated answer: the conversation
// so far, the partial answer, and the request to go on from where it
// stopped.
func Continuation(conv []Message, partial *Response) []Message {
	return append(conv, Message{Role: RoleAssistant, Content: partial.Content},
		Message{Role: RoleUser, Content: "Your answer was cut off at the output limit. Continue exactly where it stopped, without repeating anything and without any preamble."})
}

// Extend appends a continuation's answer to r: its text, finish reason,
// usage and cost (and the tier that answered, when a wrapper changed it).
func (r *Response) Extend(next *Response) {
	r.Content += next.Content
	r.FinishReason = next.FinishReason
	r.Usage.InputTokens += next.Usage.InputTokens
	r.Usage.CachedInputTokens += next.Usage.CachedInputTokens
	r.Usage.CacheWriteInputTokens += next.Usage.CacheWriteInputTokens
	r.Usage.OutputTokens += next.Usage.OutputTokens
	r.CostPUSD += next.CostPUSD
	r.Latency += next.Latency
	if next.Tier != "" {
		r.Tier = next.Tier
	}
}

// Chunk is a piece of a streamed answer.
type Chunk struct {
	Delta string
}

// Provider is a chat model endpoint.
type Provider interface {
	// Name is the provider id used for pricing: openai, azure, anthropic,
	// bedrock, ollama, replay.
	Name() string
	Chat(ctx context.Context, req Request) (*Response, error)
	// Stream calls fn with each piece of the answer as it arrives and
	// returns the whole answer. An error from fn aborts the call.
	Stream(ctx context.Context, req Request, fn func(Chunk) error) (*Response, error)
}

// Kind classifies provider errors.
type Kind int

// Error kinds. Callers branch on these, never on messages.
const (
	KindUnknown       Kind = iota
	KindRateLimit          // 429: retry after RetryAfter
	KindContextLength      // the prompt does not fit the model's context
	KindAuth               // 401/403: the key is wrong
	KindBadRequest         // 400: QLP built a request the provider refuses
	KindUnavailable        // 5xx, connection refused: retry
	KindTimeout            // deadline exceeded: retry
	KindContentFilter      // the provider refused the content
	KindNoAnswer           // replay: nothing recorded for this request
)

func (k Kind) String() string {
	switch k {
	case KindRateLimit:
		return "rate_limited"
	case KindContextLength:
		return "context_length_exceeded"
	case KindAuth:
		return "authentication_failed"
	case KindBadRequest:
		return "bad_request"
	case KindUnavailable:
		return "unavailable"
	case KindTimeout:
		return "timeout"
	case KindContentFilter:
		return "content_filtered"
	case KindNoAnswer:
		return "no_recorded_answer"
	default:
		return "unknown"
	}
}

// Error is a typed provider error.
type Error struct {
	Kind       Kind
	Provider   string
	Status     int           // HTTP status, when there was one
	RetryAfter time.Duration // from Retry-After, when given
	Message    string        // the provider's message, never a credential
	Err        error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("llm: %s: %s", e.Provider, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrRateLimited) and friends match by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Provider == "" && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrRateLimited   = &Error{Kind: KindRateLimit}
	ErrContextLength = &Error{Kind: KindContextLength}
	ErrAuth          = &Error{Kind: KindAuth}
	ErrBadRequest    = &Error{Kind: KindBadRequest}
	ErrUnavailable   = &Error{Kind: KindUnavailable}
	ErrTimeout       = &Error{Kind: KindTimeout}
	ErrContentFilter = &Error{Kind: KindContentFilter}
	ErrNoAnswer      = &Error{Kind: KindNoAnswer}
)

// Retryable reports whether trying the same call again may succeed.
func Retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return !errors.Is(err, context.Canceled)
	}
	switch e.Kind {
	case KindRateLimit, KindUnavailable, KindTimeout, KindUnknown:
		return true
	}
	return false
}

// KindOf returns the kind of err, or KindUnknown.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// EstimateTokens is a rough count (4 characters a token) for providers that
// report no usage and for pre-call budget checks.
func EstimateTokens(s string) int {
	if s == "" {
		return 0
	}
	return (len(s) + 3) / 4
}

// PromptText concatenates the messages, for estimates and fingerprints.
func PromptText(msgs []Message) string {
	n := 0
	for _, m := range msgs {
		n += len(m.Content) + 1
	}
	b := make([]byte, 0, n)
	for _, m := range msgs {
		b = append(b, m.Content...)
		b = append(b, '\n')
	}
	return string(b)
}
