package sandbox

import (
	"bufio"
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
	hc *httpx.Client
}

var _ Runner = (*Client)(nil)

// NewClient returns a client for the service at baseURL (e.g.
// "http://127.0.0.1:8004"), authenticating with token. hc nil means
// http.DefaultClient; it should have no overall timeout, since runs last
// as long as their wall time limit (cancel through the context instead).
func NewClient(baseURL string, token auth.Secret, hc *http.Client) *Client {
	c := httpx.NewClient("sandbox", baseURL, token, hc)
	c.Header = auth.ForwardTenant
	return &Client{hc: c}
}

// runnerError turns an error answer back into the runner's errors: a bad
// field into a *SpecError, a full queue into ErrQueueFull; any other
// answer stays an *httpx.StatusError.
func runnerError(err error) error {
	se, ok := httpx.AsStatusError(err)
	switch {
	case !ok:
		return err
	case se.Status == http.StatusBadRequest && se.Field != "":
		return &SpecError{Field: se.Field, Message: se.Message}
	case se.Status == http.StatusTooManyRequests:
		return fmt.Errorf("%w (retry after %ds): %s", ErrQueueFull, se.RetryAfter, se.Message)
	}
	return err
}

// Run implements [Runner] over HTTP.
func (c *Client) Run(ctx context.Context, spec Spec, onOutput func(OutputChunk)) (*Result, error) {
	if onOutput == nil {
		var res Result
		if err := c.hc.Do(ctx, http.MethodPost, "/v1/runs", spec, &res); err != nil {
			return nil, runnerError(err)
		}
		return &res, nil
	}
	resp, err := c.hc.Send(ctx, http.MethodPost, "/v1/runs?stream=sse", spec, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return nil, runnerError(err)
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
		return nil, &httpx.StatusError{Service: "sandbox", Method: http.MethodPost, Path: "/v1/runs?stream=sse",
			Status: http.StatusInternalServerError, Code: eb.Code, Message: eb.Error, Field: eb.Field, RequestID: eb.RequestID}
	}
	return nil, nil
}

// Languages asks the service what its host can run.
func (c *Client) Languages(ctx context.Context) (*LanguagesResponse, error) {
	var out LanguagesResponse
	if err := c.hc.Do(ctx, http.MethodGet, "/languages", nil, &out); err != nil {
		return nil, runnerError(err)
	}
	return &out, nil
}

// Ready asks the service's /readyz: nil when it is ready, else an error
// that names the service and why (unreachable, or its failing checks).
func (c *Client) Ready(ctx context.Context) error { return c.hc.Ready(ctx) }
