package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// Client is the memory service over HTTP; it implements Memory. It sends
// the service token as a bearer credential and the tenant of the principal
// in each call's context in the X-QLP-Tenant header. It is safe for
// concurrent use.
type Client struct {
	base  string
	token auth.Secret
	hc    *http.Client
}

var _ Memory = (*Client)(nil)

// NewClient returns a client of the service at baseURL (e.g.
// "http://memory:8003"). hc nil means http.DefaultClient.
func NewClient(baseURL string, token auth.Secret, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// StatusError is an error answer of the service that has no sentinel.
type StatusError struct {
	Status  int
	Code    string
	Message string
	err     error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("memory: service answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the sentinel the answer maps to, if any.
func (e *StatusError) Unwrap() error { return e.err }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("memory: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	}
	if p, ok := auth.From(ctx); ok && p.TenantID != "" {
		req.Header.Set(auth.TenantHeader, p.TenantID)
	}
	if id := httpx.RequestIDFrom(ctx); id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("memory: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("memory: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return answerError(resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("memory: %s %s: malformed answer: %w", method, path, err)
	}
	return nil
}

func answerError(code int, raw []byte) error {
	var eb httpx.ErrorBody
	if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
		eb.Error = strings.TrimSpace(string(raw))
	}
	if code == http.StatusBadRequest && eb.Code == "invalid_field" {
		return &FieldError{Field: eb.Field, Message: eb.Error}
	}
	se := &StatusError{Status: code, Code: eb.Code, Message: eb.Error}
	switch eb.Code {
	case codeNoTenant:
		se.err = ErrNoTenant
	case codeNoMatch:
		se.err = ErrNoMatch
	case codeReindexRequired:
		se.err = ErrReindexRequired
	}
	return se
}

// SimilarRequests implements Memory.
func (c *Client) SimilarRequests(ctx context.Context, q RequestQuery) ([]RequestMatch, error) {
	var out []RequestMatch
	return out, c.do(ctx, http.MethodPost, "/v1/memory/requests/similar", q, &out)
}

// CodeExamples implements Memory.
func (c *Client) CodeExamples(ctx context.Context, q CodeQuery) ([]CodeExample, error) {
	var out []CodeExample
	return out, c.do(ctx, http.MethodPost, "/v1/memory/code/examples", q, &out)
}

// TierStats implements Memory.
func (c *Client) TierStats(ctx context.Context, q TierQuery) (TierStats, error) {
	v := url.Values{"task_type": {q.TaskType}, "complexity": {q.Complexity}}
	if q.MinSamples != 0 {
		v.Set("min_samples", strconv.Itoa(q.MinSamples))
	}
	if q.MinSuccessRate != 0 {
		v.Set("min_success_rate", strconv.FormatFloat(q.MinSuccessRate, 'f', -1, 64))
	}
	var out TierStats
	return out, c.do(ctx, http.MethodGet, "/v1/memory/tiers?"+v.Encode(), nil, &out)
}

// RepairHints implements Memory.
func (c *Client) RepairHints(ctx context.Context, q ErrorQuery) ([]RepairHint, error) {
	var out []RepairHint
	return out, c.do(ctx, http.MethodPost, "/v1/memory/repairs/hints", q, &out)
}

// FindReusable implements Memory.
func (c *Client) FindReusable(ctx context.Context, q ReuseQuery) (Reuse, error) {
	var out Reuse
	return out, c.do(ctx, http.MethodPost, "/v1/memory/reuse", q, &out)
}

// RecordRequest implements Memory.
func (c *Client) RecordRequest(ctx context.Context, r RequestRecord) error {
	var out status
	return c.do(ctx, http.MethodPost, "/v1/memory/requests", r, &out)
}

// RecordCapsule implements Memory.
func (c *Client) RecordCapsule(ctx context.Context, r CapsuleRecord) (CapsuleStored, error) {
	var out CapsuleStored
	return out, c.do(ctx, http.MethodPost, "/v1/memory/capsules", r, &out)
}

// RecordCodePattern implements Memory.
func (c *Client) RecordCodePattern(ctx context.Context, p CodePattern) (string, error) {
	var out status
	err := c.do(ctx, http.MethodPost, "/v1/memory/code", p, &out)
	return out.ID, err
}

// RecordTaskOutcome implements Memory.
func (c *Client) RecordTaskOutcome(ctx context.Context, o TaskOutcome) error {
	var out status
	return c.do(ctx, http.MethodPost, "/v1/memory/outcomes", o, &out)
}

// RecordErrorFix implements Memory.
func (c *Client) RecordErrorFix(ctx context.Context, f ErrorFix) error {
	var out status
	return c.do(ctx, http.MethodPost, "/v1/memory/errors", f, &out)
}

// Search implements Memory.
func (c *Client) Search(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	var out []SearchHit
	return out, c.do(ctx, http.MethodPost, "/v1/memory/search", q, &out)
}

// Stats implements Memory.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	return out, c.do(ctx, http.MethodGet, "/v1/memory/stats", nil, &out)
}

// Reindex implements Memory.
func (c *Client) Reindex(ctx context.Context, opts ReindexOptions) (ReindexReport, error) {
	var out ReindexReport
	return out, c.do(ctx, http.MethodPost, "/v1/memory/reindex", opts, &out)
}
