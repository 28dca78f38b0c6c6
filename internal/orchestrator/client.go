package orchestrator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	base   string
	key    auth.Secret
	tenant string // sent as X-QLP-Tenant, for service-token callers
	hc     *http.Client
}

// NewClient returns a client for the API at baseURL. hc may be nil.
func NewClient(baseURL string, key auth.Secret, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), key: key, hc: hc}
}

// WithTenant returns a copy that names the tenant it acts for (service
// tokens only).
func (c *Client) WithTenant(tenant string) *Client {
	cp := *c
	cp.tenant = tenant
	return &cp
}

// APIError is a non-2xx answer.
type APIError struct {
	Status  int
	Code    string
	Field   string
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, msg)
}

func (c *Client) do(ctx context.Context, method, path string, body any, hdr map[string]string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	}
	if c.tenant != "" {
		req.Header.Set(auth.TenantHeader, c.tenant)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("orchestrator: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb httpx.ErrorBody
		ae := &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
		if json.Unmarshal(raw, &eb) == nil && eb.Error != "" {
			ae.Code, ae.Field, ae.Message = eb.Code, eb.Field, eb.Error
		}
		return nil, ae
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// Execute submits a job through POST /execute.
func (c *Client) Execute(ctx context.Context, req ExecuteRequest, idempotencyKey string) (ExecuteResponse, error) {
	var hdr map[string]string
	if idempotencyKey != "" {
		hdr = map[string]string{"Idempotency-Key": idempotencyKey}
	}
	resp, err := c.do(ctx, http.MethodPost, "/execute", req, hdr)
	if err != nil {
		return ExecuteResponse{}, err
	}
	defer resp.Body.Close()
	var out ExecuteResponse
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// Status returns GET /api/v2/jobs/{id}: the job, its progress and, once it
// has ended, its result.
func (c *Client) Status(ctx context.Context, id string) (StatusResponse, error) {
	var out StatusResponse
	return out, c.getJSON(ctx, "/api/v2/jobs/"+url.PathEscape(id), &out)
}

// Cancel asks for cancellation.
func (c *Client) Cancel(ctx context.Context, id string) (CancelResponse, error) {
	resp, err := c.do(ctx, http.MethodPost, "/v2/workflows/"+url.PathEscape(id)+"/cancel", nil, nil)
	if err != nil {
		return CancelResponse{}, err
	}
	defer resp.Body.Close()
	var out CancelResponse
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// Capsules lists capsules.
func (c *Client) Capsules(ctx context.Context, limit, offset int) (CapsuleList, error) {
	var out CapsuleList
	return out, c.getJSON(ctx, fmt.Sprintf("/api/capsules?limit=%d&offset=%d", limit, offset), &out)
}

// Capsule returns one capsule; version 0 is the latest.
func (c *Client) Capsule(ctx context.Context, id string, version int) (CapsuleDetail, error) {
	var out CapsuleDetail
	return out, c.getJSON(ctx, fmt.Sprintf("/api/capsules/%s?version=%d", url.PathEscape(id), version), &out)
}

// Download fetches a capsule archive.
func (c *Client) Download(ctx context.Context, id string, version int, format string) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/capsules/%s/download?format=%s&version=%d", url.PathEscape(id), url.QueryEscape(format), version), nil, nil)
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
		var ae *APIError
		if errors.As(err, &ae) && ae.Status < 500 {
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
	hdr := map[string]string{"Accept": "text/event-stream"}
	if afterID > 0 {
		hdr["Last-Event-ID"] = strconv.FormatInt(afterID, 10)
	}
	resp, err := c.do(ctx, http.MethodGet, "/progress/stream/"+url.PathEscape(id), nil, hdr)
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
