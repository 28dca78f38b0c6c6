package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// DefaultMaxBody is the largest JSON answer [Client.Do] reads when the
// client sets no MaxBody.
const DefaultMaxBody = 64 << 20

// maxErrorBody is the most of an error answer that is read: an error body
// is a short JSON object, anything longer is cut.
const maxErrorBody = 64 << 10

// Credential is a bearer token that shows itself only when it is sent;
// auth.Secret is one. An empty token sends no Authorization header.
type Credential interface {
	Reveal() string
}

// Client is the HTTP client every QLP service client is built on: JSON in
// and out, the service token as a bearer credential, answers read up to a
// size limit, and one error type, [*StatusError], for every non-2xx answer.
// The service clients (memory, validation, sandbox, orchestrator) are thin
// wrappers that turn its errors into their own sentinels.
//
// A Client is safe for concurrent use; configure it before first use.
type Client struct {
	// Service names the service in errors, e.g. "memory".
	Service string
	// BaseURL is where the service listens, e.g. "http://memory:8003".
	BaseURL string
	// Token is sent as "Authorization: Bearer …" when it is not empty.
	Token Credential
	// Header, if set, adds headers to each request from its context
	// (the tenant acted for, the request id).
	Header func(ctx context.Context, h http.Header)
	// HTTP sends the requests; nil means http.DefaultClient. It should
	// have no overall timeout when calls last as long as the work they
	// ask for: cancel through the context instead.
	HTTP *http.Client
	// MaxBody is the largest JSON answer Do reads; 0 means DefaultMaxBody.
	MaxBody int64
}

// NewClient returns a client of the service at baseURL, authenticating
// with token. hc nil means http.DefaultClient.
func NewClient(service, baseURL string, token Credential, hc *http.Client) *Client {
	return &Client{Service: service, BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: hc}
}

// StatusError is a non-2xx answer of a service, decoded from its
// [ErrorBody]. Service clients may set Err to the sentinel the answer
// stands for, so that errors.Is finds it.
type StatusError struct {
	Service    string // the service that answered, e.g. "memory"
	Method     string // the request's method
	Path       string // the request's path, without the base URL
	Status     int    // HTTP status code
	Code       string // the answer's machine-readable code, e.g. "not_found"
	Message    string // the answer's message (its text when it is not JSON)
	Field      string // the request field at fault, if any
	RequestID  string // the service's request id, to find the call in its logs
	RetryAfter int    // seconds, from Retry-After, when given
	Err        error  // the sentinel the answer maps to, if any
}

func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString(e.Service)
	if e.Method != "" {
		fmt.Fprintf(&b, ": %s %s", e.Method, e.Path)
	}
	fmt.Fprintf(&b, ": service answered %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Field != "" || e.Message != "" {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns the sentinel the answer maps to, if any.
func (e *StatusError) Unwrap() error { return e.Err }

// AsStatusError returns the *StatusError in err's chain, if any.
func AsStatusError(err error) (*StatusError, bool) {
	var se *StatusError
	ok := errors.As(err, &se)
	return se, ok
}

// Do sends in (nil: no body) as JSON and decodes the JSON answer into out
// (nil: the answer is discarded).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.Send(ctx, method, path, in, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.ReadJSON(resp, out)
}

// ReadJSON decodes resp's body into out (nil: the body is discarded),
// reading at most MaxBody bytes. It does not close the body.
func (c *Client) ReadJSON(resp *http.Response, out any) error {
	req := resp.Request
	method, path := "", ""
	if req != nil {
		method, path = req.Method, req.URL.RequestURI()
	}
	limit := c.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%s: %s %s: read answer: %w", c.Service, method, path, err)
	}
	if int64(len(raw)) > limit {
		return fmt.Errorf("%s: %s %s: answer larger than %d bytes, refused", c.Service, method, path, limit)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: %s %s: malformed answer: %w", c.Service, method, path, err)
	}
	return nil
}

// Send sends in (nil: no body) as JSON with the extra headers hdr and
// returns the 2xx response for the caller to read and close: an event
// stream, an archive. A non-2xx answer is returned as a *StatusError and
// its body closed.
func (c *Client) Send(ctx context.Context, method, path string, in any, hdr http.Header) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s: encode %s %s request: %w", c.Service, method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", c.Service, method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if c.Token != nil {
		if tok := c.Token.Reveal(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	if c.Header != nil {
		c.Header(ctx, req.Header)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	// The call is a client span of the caller's trace, and the called
	// service continues that trace (traceparent).
	_, span := startClientSpan(ctx, c.Service, req)
	resp, err := hc.Do(req)
	endClientSpan(span, resp, err)
	if err != nil {
		return nil, c.transportError(ctx, method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.statusError(method, path, resp)
	}
	return resp, nil
}

// UnreachableError is a call that got no answer from the service: nothing
// listens at its address, the connection broke, or it timed out. Trying
// again later may succeed.
type UnreachableError struct {
	Service string // e.g. "validation"
	Method  string
	Path    string
	Where   string // the base URL, without a password
	Err     error  // the transport's error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: %s %s: cannot reach the service at %s (is it running, and is its URL right?): %v",
		e.Service, e.Method, e.Path, e.Where, e.Err)
}

// Unwrap returns the transport's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// ServiceDown reports whether err is a service that is down for now, and
// names it: it could not be reached ([*UnreachableError]), or it (or a
// proxy in front of it) answered 502, 503 or 504 without a more precise
// code. A caller should try again later.
func ServiceDown(err error) (string, bool) {
	var ue *UnreachableError
	if errors.As(err, &ue) {
		return ue.Service, true
	}
	if se, ok := AsStatusError(err); ok && (se.Code == "" || se.Code == "unavailable") {
		switch se.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return se.Service, true
		}
	}
	return "", false
}

// transportError says which service could not be reached where. The base
// URL is shown without a password; the token is never shown.
func (c *Client) transportError(ctx context.Context, method, path string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %s %s: %w", c.Service, method, path, err)
	}
	where := c.BaseURL
	if u, perr := url.Parse(c.BaseURL); perr == nil {
		where = u.Redacted()
	}
	return &UnreachableError{Service: c.Service, Method: method, Path: path, Where: where, Err: err}
}

// statusError decodes a non-2xx answer; a body that is not an ErrorBody
// becomes the message as it is.
func (c *Client) statusError(method, path string, resp *http.Response) *StatusError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	se := &StatusError{Service: c.Service, Method: method, Path: path, Status: resp.StatusCode}
	var eb ErrorBody
	if json.Unmarshal(raw, &eb) == nil && (eb.Error != "" || eb.Code != "") {
		se.Code, se.Message, se.Field, se.RequestID = eb.Code, eb.Error, eb.Field, eb.RequestID
	} else {
		se.Message = strings.TrimSpace(string(raw))
	}
	if se.RequestID == "" {
		se.RequestID = resp.Header.Get("X-Request-ID")
	}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		se.RetryAfter = n
	}
	return se
}

// readyBody is the part of a /readyz answer that Ready reads.
type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Ready asks the service's /readyz, so that a caller's own readiness can
// include the services it calls. It returns nil when the service answers
// ready; otherwise an error that names the service: the transport error
// when it cannot be reached ("validation: GET /readyz: cannot reach the
// service at …: connection refused"), or its failing checks ("validation:
// not ready: sandbox: …").
func (c *Client) Ready(ctx context.Context) error {
	resp, err := c.Send(ctx, http.MethodGet, "/readyz", nil, http.Header{"Accept": {"application/json"}})
	if se, ok := AsStatusError(err); ok && se.Status == http.StatusServiceUnavailable {
		var rb readyBody
		if json.Unmarshal([]byte(se.Message), &rb) == nil && len(rb.Checks) > 0 {
			return fmt.Errorf("%s: not ready: %s", c.Service, failingChecks(rb.Checks))
		}
		return err
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.ReadJSON(resp, nil)
}

// failingChecks lists the checks that are not "ok", in name order:
// "sandbox: no bwrap; store: …".
func failingChecks(checks map[string]string) string {
	names := make([]string, 0, len(checks))
	for n, v := range checks {
		if v != "ok" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + checks[n]
	}
	return strings.Join(parts, "; ")
}
