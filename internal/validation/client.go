package validation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// Client is a [Validator] that talks to a validation service over HTTP.
// It is safe for concurrent use.
type Client struct {
	base  string
	token auth.Secret
	hc    *http.Client
}

var _ Validator = (*Client)(nil)

// NewClient returns a client for the service at baseURL (e.g.
// "http://127.0.0.1:8002"), authenticating with token. hc nil means
// http.DefaultClient; it should have no overall timeout, since a
// validation lasts as long as its tests (cancel through the context).
func NewClient(baseURL string, token auth.Secret, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// HTTPError is a non-2xx answer the client cannot map to a mesh error.
type HTTPError struct {
	Status int
	Body   httpx.ErrorBody
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("validation: client: service answered %d %s: %s", e.Status, e.Body.Code, e.Body.Error)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("validation: client: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("validation: client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	}
	if p, ok := auth.From(ctx); ok && p.TenantID != "" {
		req.Header.Set(auth.TenantHeader, p.TenantID)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("validation: client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var eb httpx.ErrorBody
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&eb)
		if resp.StatusCode == http.StatusBadRequest && eb.Field != "" {
			return &RequestError{Field: eb.Field, Message: eb.Error}
		}
		return &HTTPError{Status: resp.StatusCode, Body: eb}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("validation: client: decode %s answer: %w", path, err)
	}
	return nil
}

// Validate implements [Validator] over HTTP.
func (c *Client) Validate(ctx context.Context, req Request) (*Report, error) {
	var r Report
	if err := c.do(ctx, http.MethodPost, "/v1/validate", req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validators implements [Validator] over HTTP.
func (c *Client) Validators(ctx context.Context) (*ValidatorsResponse, error) {
	var r ValidatorsResponse
	if err := c.do(ctx, http.MethodGet, "/validators", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
