package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/sandbox/wire"
)

// Client is a [Runner] that talks to a sandbox service over HTTP. It is
// safe for concurrent use. With an onOutput callback it streams the run as
// server-sent events; without one it makes a plain JSON request. The
// tenant of the principal in the context (see auth.From) is sent as
// X-QLP-Tenant, so that the service applies that tenant's limits.
type Client struct {
	base  string
	token auth.Secret
	hc    *http.Client
}

var _ Runner = (*Client)(nil)

// NewClient returns a client for the service at baseURL (e.g.
// "http://127.0.0.1:8004"), authenticating with token. hc nil means
// http.DefaultClient; it should have no overall timeout, since runs last
// as long as their wall time limit (cancel through the context instead).
func NewClient(baseURL string, token auth.Secret, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// HTTPError is a non-2xx answer the client cannot map to a sandbox error.
type HTTPError struct {
	Status int
	Body   httpx.ErrorBody
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("sandbox: client: service answered %d %s: %s", e.Status, e.Body.Code, e.Body.Error)
}

func (c *Client) do(ctx context.Context, method, path string, body any, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("sandbox: client: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("sandbox: client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	}
	if p, ok := auth.From(ctx); ok && p.TenantID != "" {
		req.Header.Set(auth.TenantHeader, p.TenantID)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sandbox: client: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, errorFromBody(resp)
	}
	return resp, nil
}

// errorFromBody turns an error response back into the runner's errors.
func errorFromBody(resp *http.Response) error {
	var eb httpx.ErrorBody
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&eb)
	switch {
	case resp.StatusCode == http.StatusBadRequest && eb.Field != "":
		return &SpecError{Field: eb.Field, Message: eb.Error}
	case resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%w (retry after %ss): %s", ErrQueueFull, resp.Header.Get("Retry-After"), eb.Error)
	}
	return &HTTPError{Status: resp.StatusCode, Body: eb}
}

// Run implements [Runner] over HTTP.
func (c *Client) Run(ctx context.Context, spec Spec, onOutput func(OutputChunk)) (*Result, error) {
	if onOutput == nil {
		resp, err := c.do(ctx, http.MethodPost, "/v1/runs", spec, "application/json")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var res Result
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			return nil, fmt.Errorf("sandbox: client: decode result: %w", err)
		}
		return &res, nil
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/runs?stream=sse", spec, "text/event-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readEvents(resp.Body, onOutput)
}

// readEvents reads the server-sent events of a streamed run.
func readEvents(r io.Reader, onOutput func(OutputChunk)) (*Result, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), wire.MaxFrame*2)
	var event string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event != "" || data.Len() > 0 {
				res, err := dispatchEvent(event, data.String(), onOutput)
				if res != nil || err != nil {
					return res, err
				}
			}
			event = ""
			data.Reset()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: client: read event stream: %w", err)
	}
	return nil, errors.New("sandbox: client: the event stream ended without a result")
}

func dispatchEvent(event, data string, onOutput func(OutputChunk)) (*Result, error) {
	switch event {
	case "output":
		var c OutputChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("sandbox: client: bad output event: %w", err)
		}
		onOutput(c)
	case "result":
		var res Result
		if err := json.Unmarshal([]byte(data), &res); err != nil {
			return nil, fmt.Errorf("sandbox: client: bad result event: %w", err)
		}
		return &res, nil
	case "error":
		var eb httpx.ErrorBody
		_ = json.Unmarshal([]byte(data), &eb)
		return nil, &HTTPError{Status: http.StatusInternalServerError, Body: eb}
	}
	return nil, nil
}

// Languages asks the service what its host can run.
func (c *Client) Languages(ctx context.Context) (*LanguagesResponse, error) {
	resp, err := c.do(ctx, http.MethodGet, "/languages", nil, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out LanguagesResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("sandbox: client: decode languages: %w", err)
	}
	return &out, nil
}
