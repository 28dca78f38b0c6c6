package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransportError(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want llm.Kind
		same bool // the error comes back as it is
	}{
		{name: "cancelled stays cancelled", ctx: cancelled, err: context.Canceled, same: true},
		{name: "deadline", ctx: t.Context(), err: context.DeadlineExceeded, want: llm.KindTimeout},
		{name: "context ended", ctx: cancelled, err: errors.New("read: connection reset"), want: llm.KindTimeout},
		{name: "network timeout", ctx: t.Context(), err: timeoutErr{}, want: llm.KindTimeout},
		{name: "refused", ctx: t.Context(), err: errors.New("dial tcp: connection refused"), want: llm.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := llm.TransportError(tt.ctx, "p", tt.err)
			if tt.same {
				require.Equal(t, tt.err, got)
				return
			}
			var le *llm.Error
			require.ErrorAs(t, got, &le)
			require.Equal(t, tt.want, le.Kind)
			require.Equal(t, "p", le.Provider)
			require.ErrorIs(t, got, tt.err, "the cause stays wrapped")
		})
	}
}

func TestStatusError(t *testing.T) {
	parse := func(raw []byte) (string, string, bool) {
		var w struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		}
		if json.Unmarshal(raw, &w) != nil || w.Message == "" {
			return "", "", false
		}
		return w.Message, w.Code, true
	}
	// kind classifies by the code parse found, so the test sees it was passed on.
	kind := func(status int, code, msg string) llm.Kind {
		switch {
		case status == http.StatusTooManyRequests:
			return llm.KindRateLimit
		case status >= 500:
			return llm.KindUnavailable
		case code == "too_long":
			return llm.KindContextLength
		}
		return llm.KindBadRequest
	}
	tests := []struct {
		name   string
		status int
		body   string
		header http.Header
		want   llm.Error
	}{
		{
			name: "parsed body", status: 400, body: `{"message":"prompt too long","code":"too_long"}`,
			want: llm.Error{Provider: "p", Status: 400, Kind: llm.KindContextLength, Message: "prompt too long"},
		},
		{
			name: "body as it is", status: 400, body: "  nope \n",
			want: llm.Error{Provider: "p", Status: 400, Kind: llm.KindBadRequest, Message: "nope"},
		},
		{
			name: "rate limit keeps Retry-After", status: 429, body: `{"message":"slow down"}`, header: http.Header{"Retry-After": {"3"}},
			want: llm.Error{Provider: "p", Status: 429, Kind: llm.KindRateLimit, Message: "slow down", RetryAfter: 3 * time.Second},
		},
		{
			name: "unavailable keeps retry-after-ms", status: 503, body: `{"message":"busy"}`, header: http.Header{"Retry-After-Ms": {"1500"}},
			want: llm.Error{Provider: "p", Status: 503, Kind: llm.KindUnavailable, Message: "busy", RetryAfter: 1500 * time.Millisecond},
		},
		{
			name: "a refusal ignores Retry-After", status: 400, body: `{"message":"bad"}`, header: http.Header{"Retry-After": {"3"}},
			want: llm.Error{Provider: "p", Status: 400, Kind: llm.KindBadRequest, Message: "bad"},
		},
		{
			name: "long message is cut", status: 400, body: strings.Repeat("x", 600),
			want: llm.Error{Provider: "p", Status: 400, Kind: llm.KindBadRequest, Message: strings.Repeat("x", 500) + "…"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: tt.header, Body: io.NopCloser(strings.NewReader(tt.body))}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			got := llm.StatusError("p", resp, parse, kind)
			require.Equal(t, tt.want, *got)
		})
	}
}
