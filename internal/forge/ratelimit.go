package forge

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// rateLimited is an http.RoundTripper that waits out a forge's rate limit
// and sends the request again: a 403 or 429 answer with
// X-RateLimit-Remaining: 0 (GitHub; GitLab's RateLimit-Remaining) waits
// until X-RateLimit-Reset (RateLimit-Reset), one with Retry-After waits
// that long. The wait is bounded by the request's context and maxWait;
// past them the call fails with ErrRateLimited and the reset time.
type rateLimited struct {
	forge   string
	base    http.RoundTripper
	maxWait time.Duration
	now     func() time.Time
}

// maxRateLimitRetries bounds the waits of one request: a forge that keeps
// answering "limited" after its own reset time is not waited on forever.
const maxRateLimitRetries = 3

func (t *rateLimited) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
			r = req.Clone(req.Context())
			if req.Body != nil && req.Body != http.NoBody {
				if req.GetBody == nil {
					return nil, fmt.Errorf("%s: rate limited and the request cannot be sent again: %w", t.forge, ErrRateLimited)
				}
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = body
			}
		}
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		wait, limited := limitWait(resp, t.now())
		if !limited {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		reset := t.now().Add(wait).UTC().Format(time.RFC3339)
		if attempt >= maxRateLimitRetries {
			return nil, fmt.Errorf("%s: still rate limited after %d waits (reset at %s): %w", t.forge, attempt, reset, ErrRateLimited)
		}
		if wait > t.maxWait {
			return nil, fmt.Errorf("%s: the rate limit resets at %s, later than the %s this server waits (forge.max_rate_limit_wait): %w; try again then",
				t.forge, reset, t.maxWait, ErrRateLimited)
		}
		if dl, ok := req.Context().Deadline(); ok && t.now().Add(wait).After(dl) {
			return nil, fmt.Errorf("%s: the rate limit resets at %s, after this request's deadline: %w", t.forge, reset, ErrRateLimited)
		}
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, fmt.Errorf("%s: waiting for the rate limit to reset at %s: %w", t.forge, reset, req.Context().Err())
		case <-timer.C:
		}
	}
}

// limitWait says whether resp is a rate-limit answer and how long to wait.
func limitWait(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	h := resp.Header
	if ra := h.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if at, err := http.ParseTime(ra); err == nil {
			return max(at.Sub(now), 0), true
		}
	}
	remaining, reset := h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset")
	if remaining == "" {
		remaining, reset = h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset")
	}
	if remaining == "0" {
		if epoch, err := strconv.ParseInt(reset, 10, 64); err == nil {
			// Reset is in whole seconds: the limit is lifted at the end
			// of that second at the latest.
			return max(time.Unix(epoch, 0).Sub(now), 0) + 500*time.Millisecond, true
		}
		return time.Second, true
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		// Limited without saying until when: a short pause.
		return time.Second, true
	}
	// A 403 that is not a rate limit: a permission error for the caller.
	return 0, false
}
