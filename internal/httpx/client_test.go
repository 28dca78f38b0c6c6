package httpx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/httpx"
)

// token is a Credential like auth.Secret, which httpx cannot import.
type token string

func (t token) Reveal() string { return string(t) }

func TestClientStatusErrors(t *testing.T) {
	errBody := func(status int, body string, hdr ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    httpx.StatusError
		text    string
	}{
		{
			name:    "error body with a field",
			handler: errBody(400, `{"error":"must not be empty","code":"invalid_field","field":"description","request_id":"r1"}`),
			want: httpx.StatusError{Service: "memory", Method: "POST", Path: "/v1/x", Status: 400, Code: "invalid_field",
				Message: "must not be empty", Field: "description", RequestID: "r1"},
			text: "memory: POST /v1/x: service answered 400 invalid_field: description: must not be empty",
		},
		{
			name:    "not found",
			handler: errBody(404, `{"error":"capsule not found","code":"not_found"}`),
			want:    httpx.StatusError{Service: "memory", Method: "POST", Path: "/v1/x", Status: 404, Code: "not_found", Message: "capsule not found"},
			text:    "memory: POST /v1/x: service answered 404 not_found: capsule not found",
		},
		{
			name:    "plain text body becomes the message",
			handler: errBody(502, "  bad gateway\n", "X-Request-ID", "r2"),
			want:    httpx.StatusError{Service: "memory", Method: "POST", Path: "/v1/x", Status: 502, Message: "bad gateway", RequestID: "r2"},
			text:    "memory: POST /v1/x: service answered 502: bad gateway",
		},
		{
			name:    "retry after",
			handler: errBody(429, `{"error":"queue full","code":"too_many_requests"}`, "Retry-After", "7"),
			want: httpx.StatusError{Service: "memory", Method: "POST", Path: "/v1/x", Status: 429, Code: "too_many_requests",
				Message: "queue full", RetryAfter: 7},
			text: "memory: POST /v1/x: service answered 429 too_many_requests: queue full",
		},
		{
			name:    "empty body",
			handler: errBody(503, ""),
			want:    httpx.StatusError{Service: "memory", Method: "POST", Path: "/v1/x", Status: 503},
			text:    "memory: POST /v1/x: service answered 503",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := httpx.NewClient("memory", srv.URL, token("s3cret"), nil)
			var out map[string]any
			err := c.Do(t.Context(), http.MethodPost, "/v1/x", map[string]string{"a": "b"}, &out)
			require.Error(t, err)
			se, ok := httpx.AsStatusError(fmt.Errorf("wrapped: %w", err))
			require.True(t, ok, "got %T %v", err, err)
			require.Equal(t, tt.want, *se)
			require.Equal(t, tt.text, err.Error())
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestClientStatusErrorUnwrapsToItsSentinel(t *testing.T) {
	sentinel := errors.New("no tenant")
	err := error(&httpx.StatusError{Service: "memory", Status: 400, Err: sentinel})
	require.ErrorIs(t, fmt.Errorf("call: %w", err), sentinel)
}

func TestClientHeaders(t *testing.T) {
	tests := []struct {
		name      string
		token     httpx.Credential
		header    func(context.Context, http.Header)
		in        any
		wantAuth  string
		wantType  string
		wantExtra string
	}{
		{name: "token and body", token: token("s3cret"), in: map[string]int{"n": 1}, wantAuth: "Bearer s3cret", wantType: "application/json"},
		{name: "empty token sends none", token: token(""), wantAuth: ""},
		{name: "no token", wantAuth: ""},
		{
			name:      "header func",
			header:    func(_ context.Context, h http.Header) { h.Set("X-QLP-Tenant", "acme") },
			wantExtra: "acme",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got http.Header
			var body string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				b, _ := io.ReadAll(r.Body)
				body = string(b)
				_, _ = io.WriteString(w, `{"ok":true}`)
			}))
			defer srv.Close()
			c := httpx.NewClient("svc", srv.URL+"/", tt.token, srv.Client())
			c.Header = tt.header
			var out struct{ OK bool }
			require.NoError(t, c.Do(t.Context(), http.MethodPost, "/v1/x", tt.in, &out))
			require.True(t, out.OK)
			require.Equal(t, tt.wantAuth, got.Get("Authorization"))
			require.Equal(t, tt.wantType, got.Get("Content-Type"))
			require.Equal(t, "application/json", got.Get("Accept"))
			require.Equal(t, tt.wantExtra, got.Get("X-QLP-Tenant"))
			if tt.in == nil {
				require.Empty(t, body)
			} else {
				require.JSONEq(t, `{"n":1}`, body)
			}
		})
	}
}

func TestClientTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	srv.Close() // nothing listens there any more
	base.User = url.UserPassword("user", "hunter2")

	c := httpx.NewClient("validation", base.String(), token("s3cret"), nil)
	err = c.Do(t.Context(), http.MethodGet, "/validators", nil, nil)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "validation: GET /validators: cannot reach the service at http://user:xxxxx@"+base.Host)
	require.NotContains(t, msg, "s3cret")
	require.NotContains(t, msg, "hunter2")
	var ue *url.Error
	require.ErrorAs(t, err, &ue, "the cause stays wrapped")
	_, isStatus := httpx.AsStatusError(err)
	require.False(t, isStatus)
}

func TestClientCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := httpx.NewClient("sandbox", srv.URL, nil, nil).Do(ctx, http.MethodGet, "/languages", nil, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.NotContains(t, err.Error(), "cannot reach", "a cancelled call is not an unreachable service")
}

func TestClientBodyLimit(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		max     int64
		wantErr string
	}{
		{name: "within the limit", answer: `"0123456789"`, max: 12},
		{name: "one byte over", answer: `"01234567890"`, max: 12, wantErr: "memory: GET /v1/big: answer larger than 12 bytes"},
		{name: "default limit", answer: `"` + strings.Repeat("x", 1000) + `"`},
		{name: "malformed", answer: `{`, wantErr: "memory: GET /v1/big: malformed answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, tt.answer)
			}))
			defer srv.Close()
			c := httpx.NewClient("memory", srv.URL, nil, nil)
			c.MaxBody = tt.max
			var out string
			err := c.Do(t.Context(), http.MethodGet, "/v1/big", nil, &out)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, strings.Trim(tt.answer, `"`), out)
		})
	}
}

func TestClientSendStreams(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "want a stream", http.StatusNotAcceptable)
			return
		}
		_, _ = io.WriteString(w, "data: 1\n\n")
	}))
	defer srv.Close()
	c := httpx.NewClient("orchestrator", srv.URL, nil, nil)

	resp, err := c.Send(t.Context(), http.MethodGet, "/progress/stream/j1", nil, http.Header{"Accept": {"text/event-stream"}})
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	require.Equal(t, "data: 1\n\n", string(b))

	_, err = c.Send(t.Context(), http.MethodGet, "/progress/stream/j1", nil, nil)
	se, ok := httpx.AsStatusError(err)
	require.True(t, ok, "got %T %v", err, err)
	require.Equal(t, http.StatusNotAcceptable, se.Status)
	require.Equal(t, "want a stream", se.Message)
}

func TestClientReady(t *testing.T) {
	probes := func(checks map[string]httpx.Check) http.Handler {
		p := httpx.NewProbes("validation", "test")
		for n, c := range checks {
			p.AddCheck(n, c)
		}
		mux := http.NewServeMux()
		p.Mount(mux)
		return mux
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // its address now refuses connections
	tests := []struct {
		name    string
		handler http.Handler // nil: nothing listens
		want    string       // "" means ready
	}{
		{name: "ready", handler: probes(map[string]httpx.Check{"sandbox": func(context.Context) error { return nil }})},
		{name: "not ready names the failing checks", handler: probes(map[string]httpx.Check{
			"sandbox": func(context.Context) error { return errors.New("no bwrap") },
			"cache":   func(context.Context) error { return nil },
			"store":   func(context.Context) error { return errors.New("database is locked") },
		}), want: "validation: not ready: sandbox: no bwrap; store: database is locked"},
		{name: "a 503 that is not a readiness answer", handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "upstream gone", http.StatusServiceUnavailable)
		}), want: "validation: GET /readyz: service answered 503: upstream gone"},
		{name: "down", want: "validation: GET /readyz: cannot reach the service at " + down.URL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := down.URL
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				defer srv.Close()
				base = srv.URL
			}
			err := httpx.NewClient("validation", base, token("s3cret"), nil).Ready(t.Context())
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestServiceDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	_, unreachable := httpx.NewClient("memory", down.URL, nil, nil).Send(t.Context(), http.MethodGet, "/x", nil, nil)
	answered := func(status int, code string) error {
		return fmt.Errorf("wrapped: %w", &httpx.StatusError{Service: "sandbox", Status: status, Code: code, Message: "m"})
	}
	tests := []struct {
		name    string
		err     error
		service string // "" means not down
	}{
		{"unreachable", unreachable, "memory"},
		{"503 from the service", answered(503, "unavailable"), "sandbox"},
		{"502 from a proxy", answered(502, ""), "sandbox"},
		{"504 from a proxy", answered(504, ""), "sandbox"},
		{"a 503 with its own meaning", answered(503, "reindex_required"), ""},
		{"500", answered(500, "internal"), ""},
		{"plain", errors.New("boom"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, ok := httpx.ServiceDown(tc.err)
			require.Equal(t, tc.service != "", ok)
			require.Equal(t, tc.service, svc)
			he := httpx.AsError(tc.err)
			if ok {
				require.Equal(t, http.StatusServiceUnavailable, he.Status, "a caller sees a 503 naming it")
				require.Equal(t, "the "+tc.service+" service is unavailable; try again", he.Message)
				require.Positive(t, he.RetryAfter)
			} else {
				require.Equal(t, http.StatusInternalServerError, he.Status)
			}
		})
	}
	require.ErrorContains(t, unreachable, "memory: GET /x: cannot reach the service at "+down.URL)
	require.ErrorContains(t, unreachable, "connection refused")
}
