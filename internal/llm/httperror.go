package llm

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxMessage is the longest provider message kept in an *Error; answers
// can quote the whole prompt back.
const maxMessage = 500

// Do sends req with hc and returns the 2xx response for the caller to read
// and close. A failed round trip is classified by [TransportError], a
// non-2xx answer by status (its body is closed).
func Do(ctx context.Context, hc *http.Client, provider string, req *http.Request, status func(*http.Response) error) (*http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, TransportError(ctx, provider, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, status(resp)
	}
	return resp, nil
}

// TransportError classifies an error of a provider's HTTP round trip: a
// cancelled call stays context.Canceled (it is not the provider's fault), a
// deadline or a network timeout is KindTimeout, anything else (refused,
// reset, DNS) KindUnavailable.
func TransportError(ctx context.Context, provider string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, errors.As(err, &ne) && ne.Timeout():
		return &Error{Kind: KindTimeout, Provider: provider, Err: err}
	default:
		return &Error{Kind: KindUnavailable, Provider: provider, Err: err}
	}
}

// StatusError turns a provider's non-2xx HTTP answer into an *Error. parse
// pulls the message and the provider's error code out of the body (ok
// false: the body itself is the message); kind classifies the answer by
// status, code and message. Retry-After is kept for the kinds worth
// retrying later, rate limits and unavailability. It does not close the
// body.
func StatusError(provider string, resp *http.Response, parse func(raw []byte) (msg, code string, ok bool), kind func(status int, code, msg string) Kind) *Error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg, code := strings.TrimSpace(string(raw)), ""
	if m, c, ok := parse(raw); ok {
		msg, code = m, c
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	e := &Error{Provider: provider, Status: resp.StatusCode, Message: msg, Kind: kind(resp.StatusCode, code, msg)}
	if e.Kind == KindRateLimit || e.Kind == KindUnavailable {
		e.RetryAfter = RetryAfter(resp.Header)
	}
	return e
}

// RetryAfter reads Retry-After (seconds or an HTTP date) and OpenAI's
// retry-after-ms.
func RetryAfter(h http.Header) time.Duration {
	if ms := h.Get("Retry-After-Ms"); ms != "" {
		if n, err := strconv.ParseFloat(ms, 64); err == nil && n > 0 {
			return time.Duration(n * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
