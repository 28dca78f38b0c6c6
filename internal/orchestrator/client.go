package orchestrator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// Client speaks the orchestrator API. It is safe for concurrent use.
type Client struct {
	hc *httpx.Client
}

// NewClient returns a client for the API at baseURL. hc may be nil.
func NewClient(baseURL string, key auth.Secret, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{hc: httpx.NewClient("orchestrator", baseURL, key, hc)}
}

// WithTenant returns a copy that names the tenant it acts for (service
// tokens only), sent as X-QLP-Tenant.
func (c *Client) WithTenant(tenant string) *Client {
	hc := *c.hc
	hc.Header = func(_ context.Context, h http.Header) {
		if tenant != "" {
			h.Set(auth.TenantHeader, tenant)
		}
	}
	return &Client{hc: &hc}
}

// Call sends in (nil: no body) as JSON to one of the API's routes and
// decodes the JSON answer into out, for routes whose types live in the
// packages built on the API (POST /api/v2/eval).
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	return c.hc.Do(ctx, method, path, in, out)
}

// Raw sends a request without a body and returns the answer's body as it
// is, for routes that answer other formats than JSON (exports).
func (c *Client) Raw(ctx context.Context, method, path string) ([]byte, error) {
	resp, err := c.hc.Send(ctx, method, path, nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Execute submits a job through POST /execute.
func (c *Client) Execute(ctx context.Context, req ExecuteRequest, idempotencyKey string) (ExecuteResponse, error) {
	hdr := http.Header{"Accept": {"application/json"}}
	if idempotencyKey != "" {
		hdr.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.hc.Send(ctx, http.MethodPost, "/execute", req, hdr)
	if err != nil {
		return ExecuteResponse{}, err
	}
	defer resp.Body.Close()
	var out ExecuteResponse
	return out, c.hc.ReadJSON(resp, &out)
}

// Status returns GET /api/v2/jobs/{id}: the job, its progress and, once it
// has ended, its result.
func (c *Client) Status(ctx context.Context, id string) (StatusResponse, error) {
	var out StatusResponse
	return out, c.hc.Do(ctx, http.MethodGet, "/api/v2/jobs/"+url.PathEscape(id), nil, &out)
}

// Cancel asks for cancellation.
func (c *Client) Cancel(ctx context.Context, id string) (CancelResponse, error) {
	var out CancelResponse
	return out, c.hc.Do(ctx, http.MethodPost, "/v2/workflows/"+url.PathEscape(id)+"/cancel", nil, &out)
}

// Capsules lists capsules.
func (c *Client) Capsules(ctx context.Context, limit, offset int) (CapsuleList, error) {
	var out CapsuleList
	return out, c.hc.Do(ctx, http.MethodGet, fmt.Sprintf("/api/capsules?limit=%d&offset=%d", limit, offset), nil, &out)
}

// Capsule returns one capsule; version 0 is the latest.
func (c *Client) Capsule(ctx context.Context, id string, version int) (CapsuleDetail, error) {
	var out CapsuleDetail
	return out, c.hc.Do(ctx, http.MethodGet, fmt.Sprintf("/api/capsules/%s?version=%d", url.PathEscape(id), version), nil, &out)
}

// Download fetches a capsule archive.
func (c *Client) Download(ctx context.Context, id string, version int, format string) ([]byte, error) {
	// An archive is read whole, with no JSON size limit.
	resp, err := c.hc.Send(ctx, http.MethodGet, fmt.Sprintf("/api/capsules/%s/download?format=%s&version=%d", url.PathEscape(id), url.QueryEscape(format), version), nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Follow reads the job's progress stream from afterID and calls fn with
// each event until the terminal one. A dropped connection is resumed with
// Last-Event-ID, so no event is lost or repeated.
func (c *Client) Follow(ctx context.Context, id string, afterID int64, fn func(ProgressEvent) error) error {
	retries := 0
	for {
		done, last, err := c.followOnce(ctx, id, afterID, fn)
		if done {
			return err // nil after the terminal event; fn's error otherwise
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if se, ok := httpx.AsStatusError(err); ok && se.Status < 500 {
			return err
		}
		if last > afterID {
			afterID, retries = last, 0
		}
		retries++
		if retries > 10 {
			return fmt.Errorf("orchestrator: progress stream of %s keeps failing: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(retries) * 500 * time.Millisecond):
		}
	}
}

func (c *Client) followOnce(ctx context.Context, id string, afterID int64, fn func(ProgressEvent) error) (bool, int64, error) {
	hdr := http.Header{"Accept": {"text/event-stream"}}
	if afterID > 0 {
		hdr.Set("Last-Event-ID", strconv.FormatInt(afterID, 10))
	}
	resp, err := c.hc.Send(ctx, http.MethodGet, "/progress/stream/"+url.PathEscape(id), nil, hdr)
	if err != nil {
		return false, afterID, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "data:")))
		case line == "" && data.Len() > 0:
			var ev ProgressEvent
			if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
				return false, afterID, fmt.Errorf("orchestrator: malformed progress event: %w", err)
			}
			data.Reset()
			if err := fn(ev); err != nil {
				return true, ev.ID, err
			}
			afterID = ev.ID
			if ev.Type == "workflow_completed" || ev.Type == "workflow_failed" || ev.Type == "workflow_cancelled" {
				return true, afterID, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return false, afterID, err
	}
	return false, afterID, io.ErrUnexpectedEOF
}
