package memory

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// Client is the memory service over HTTP; it implements Memory. It sends
// the service token as a bearer credential and the tenant of the principal
// in each call's context in the X-QLP-Tenant header. It is safe for
// concurrent use.
type Client struct {
	hc *httpx.Client
}

var _ Memory = (*Client)(nil)

// NewClient returns a client of the service at baseURL (e.g.
// "http://memory:8003"). hc nil means http.DefaultClient.
func NewClient(baseURL string, token auth.Secret, hc *http.Client) *Client {
	c := httpx.NewClient("memory", baseURL, token, hc)
	c.Header = func(ctx context.Context, h http.Header) {
		auth.ForwardTenant(ctx, h)
		httpx.ForwardRequestID(ctx, h)
	}
	return &Client{hc: c}
}

// do calls the service and maps its error answers to memory's errors: a
// bad field to *FieldError, the codes with a sentinel to an
// *httpx.StatusError that unwraps to it.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	err := c.hc.Do(ctx, method, path, in, out)
	se, ok := httpx.AsStatusError(err)
	if !ok {
		return err
	}
	if se.Status == http.StatusBadRequest && se.Code == "invalid_field" {
		return &FieldError{Field: se.Field, Message: se.Message}
	}
	switch se.Code {
	case codeNoTenant:
		se.Err = ErrNoTenant
	case codeNoMatch:
		se.Err = ErrNoMatch
	case codeReindexRequired:
		se.Err = ErrReindexRequired
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

// Ready asks the service's /readyz: nil when it is ready, else an error
// that names the service and why (unreachable, or its failing checks).
func (c *Client) Ready(ctx context.Context) error { return c.hc.Ready(ctx) }
