package validation

import (
	"context"
	"net/http"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// Client is a [Validator] that talks to a validation service over HTTP.
// It is safe for concurrent use.
type Client struct {
	hc *httpx.Client
}

var _ Validator = (*Client)(nil)

// NewClient returns a client for the service at baseURL (e.g.
// "http://127.0.0.1:8002"), authenticating with token. hc nil means
// http.DefaultClient; it should have no overall timeout, since a
// validation lasts as long as its tests (cancel through the context).
func NewClient(baseURL string, token auth.Secret, hc *http.Client) *Client {
	c := httpx.NewClient("validation", baseURL, token, hc)
	c.Header = auth.ForwardTenant
	return &Client{hc: c}
}

// do calls the service; a 400 that names a field becomes a *RequestError,
// any other error answer an *httpx.StatusError.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	err := c.hc.Do(ctx, method, path, in, out)
	if se, ok := httpx.AsStatusError(err); ok && se.Status == http.StatusBadRequest && se.Field != "" {
		return &RequestError{Field: se.Field, Message: se.Message}
	}
	return err
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

// Ready asks the service's /readyz: nil when it is ready, else an error
// that names the service and why (unreachable, or its failing checks).
func (c *Client) Ready(ctx context.Context) error { return c.hc.Ready(ctx) }
