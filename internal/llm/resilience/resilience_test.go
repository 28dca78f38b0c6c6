package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/llm/resilience"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
)

// fake is a provider whose answers come from a function.
type fake struct {
	name  string
	calls atomic.Int32
	// answer returns the reply to call number n (1-based).
	answer func(n int, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error)
}

func (f *fake) Name() string { return f.name }
func (f *fake) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	return f.answer(int(f.calls.Add(1)), req, nil)
}
func (f *fake) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	return f.answer(int(f.calls.Add(1)), req, fn)
}

func ok(req llm.Request) *llm.Response {
	return &llm.Response{Content: "ok", FinishReason: llm.FinishStop, Model: req.Model}
}

// script answers with errs in order, then success.
func script(errs ...error) *fake {
	return &fake{name: "p", answer: func(n int, req llm.Request, _ func(llm.Chunk) error) (*llm.Response, error) {
		if n <= len(errs) && errs[n-1] != nil {
			return nil, errs[n-1]
		}
		return ok(req), nil
	}}
}

func lerr(k llm.Kind, retryAfter time.Duration) error {
	return &llm.Error{Kind: k, Provider: "p", RetryAfter: retryAfter, Message: k.String()}
}

// recorder is an Observer.
type recorder struct {
	mu        sync.Mutex
	retries   []llm.Kind
	states    []resilience.BreakerState
	fallbacks []string
	throttled []time.Duration
}

func (r *recorder) Retried(_ string, k llm.Kind, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries = append(r.retries, k)
}
func (r *recorder) BreakerChanged(_ string, s resilience.BreakerState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}
func (r *recorder) FellBack(tier, from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fallbacks = append(r.fallbacks, tier+":"+from+"->"+to)
}
func (r *recorder) Throttled(_ string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.throttled = append(r.throttled, d)
}

var req = llm.Request{Model: "m", MaxTokens: 100, Messages: []llm.Message{{Role: "user", Content: "hello"}}}

func TestRetry(t *testing.T) {
	breakerOpen := &llm.Error{Kind: llm.KindUnavailable, Provider: "p", Err: resilience.ErrBreakerOpen}
	tests := []struct {
		name      string
		errs      []error
		calls     int
		delays    []time.Duration // with Rand fixed at 0.5
		wantErr   error
		ctxBudget time.Duration
	}{
		{name: "unavailable twice then ok", errs: []error{lerr(llm.KindUnavailable, 0), lerr(llm.KindTimeout, 0)}, calls: 3,
			delays: []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond}},
		{name: "429 honours Retry-After plus jitter", errs: []error{lerr(llm.KindRateLimit, 2*time.Second)}, calls: 2,
			delays: []time.Duration{2*time.Second + 100*time.Millisecond}},
		{name: "503 with Retry-After", errs: []error{lerr(llm.KindUnavailable, 20*time.Second)}, calls: 2,
			delays: []time.Duration{20*time.Second + 500*time.Millisecond}},
		{name: "gives up after MaxAttempts", errs: []error{lerr(llm.KindUnavailable, 0), lerr(llm.KindUnavailable, 0), lerr(llm.KindUnavailable, 0), lerr(llm.KindUnavailable, 0)},
			calls: 4, delays: []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second}, wantErr: llm.ErrUnavailable},
		{name: "Retry-After beyond MaxRetryAfter goes back to the caller", errs: []error{lerr(llm.KindRateLimit, 5*time.Minute)}, calls: 1, wantErr: llm.ErrRateLimited},
		{name: "bad request is not retried", errs: []error{lerr(llm.KindBadRequest, 0)}, calls: 1, wantErr: llm.ErrBadRequest},
		{name: "auth is not retried", errs: []error{lerr(llm.KindAuth, 0)}, calls: 1, wantErr: llm.ErrAuth},
		{name: "context length is not retried", errs: []error{lerr(llm.KindContextLength, 0)}, calls: 1, wantErr: llm.ErrContextLength},
		{name: "content filter is not retried", errs: []error{lerr(llm.KindContentFilter, 0)}, calls: 1, wantErr: llm.ErrContentFilter},
		{name: "open breaker is left to the fallback", errs: []error{breakerOpen}, calls: 1, wantErr: resilience.ErrBreakerOpen},
		{name: "cancellation is not retried", errs: []error{context.Canceled}, calls: 1, wantErr: context.Canceled},
		{name: "a wait longer than the deadline fails now", errs: []error{lerr(llm.KindRateLimit, 10*time.Second)}, calls: 1,
			wantErr: llm.ErrRateLimited, ctxBudget: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := script(tt.errs...)
			var slept []time.Duration
			obs := &recorder{}
			r := resilience.NewRetry(f, resilience.RetryConfig{
				Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil },
				Rand:  func() float64 { return 0.5 },
			}, obs)
			ctx := t.Context()
			if tt.ctxBudget > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxBudget)
				defer cancel()
			}
			resp, err := r.Chat(ctx, req)
			require.Equal(t, tt.calls, int(f.calls.Load()))
			require.Equal(t, tt.delays, slept)
			require.Len(t, obs.retries, len(tt.delays))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "ok", resp.Content)
		})
	}
}

func TestRetryNeverRepeatsDeliveredStreamOutput(t *testing.T) {
	f := &fake{name: "p", answer: func(n int, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
		if n == 1 {
			if err := fn(llm.Chunk{Delta: "par"}); err != nil {
				return nil, err
			}
			return nil, lerr(llm.KindUnavailable, 0)
		}
		return ok(req), nil
	}}
	r := resilience.NewRetry(f, resilience.RetryConfig{Sleep: func(context.Context, time.Duration) error { return nil }}, nil)
	var got []string
	_, err := r.Stream(t.Context(), req, func(c llm.Chunk) error { got = append(got, c.Delta); return nil })
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.Equal(t, 1, int(f.calls.Load()), "the activity retries it, from scratch")
	require.Equal(t, []string{"par"}, got)

	// Failing before the first chunk is retried.
	f2 := script(lerr(llm.KindUnavailable, 0))
	r = resilience.NewRetry(f2, resilience.RetryConfig{Sleep: func(context.Context, time.Duration) error { return nil }}, nil)
	_, err = r.Stream(t.Context(), req, nil)
	require.NoError(t, err)
	require.Equal(t, 2, int(f2.calls.Load()))
}

// TestRetryAfterIsHonouredInRealTime is issue 5 acceptance (d) at the
// provider level: a real OpenAI-compatible server answers 429 with
// Retry-After: 2, and the second request arrives no sooner than 2 s later.
func TestRetryAfterIsHonouredInRealTime(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		n := len(arrivals)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}`)
			return
		}
		io.WriteString(w, `{"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"done"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`)
	}))
	defer srv.Close()
	r := resilience.NewRetry(openai.New(openai.Config{BaseURL: srv.URL}), resilience.RetryConfig{}, nil)
	start := time.Now()
	resp, err := r.Chat(t.Context(), llm.Request{Model: "gpt-4o-mini", MaxTokens: 10, Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	require.NoError(t, err)
	require.Equal(t, "done", resp.Content)
	require.Len(t, arrivals, 2)
	require.GreaterOrEqual(t, arrivals[1].Sub(arrivals[0]), 2*time.Second)
	require.Less(t, time.Since(start), 4*time.Second, "Retry-After plus at most 10% jitter")
}

func TestBreaker(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantOpen bool
	}{
		{"unavailable opens it", lerr(llm.KindUnavailable, 0), true},
		{"timeouts open it", lerr(llm.KindTimeout, 0), true},
		{"rate limits do not", lerr(llm.KindRateLimit, time.Second), false},
		{"bad requests do not", lerr(llm.KindBadRequest, 0), false},
		{"cancellation does not", context.Canceled, false},
		{"errors outside the provider do not", errors.New("ratelimit store: connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var failing atomic.Bool
			failing.Store(true)
			f := &fake{name: "p", answer: func(_ int, req llm.Request, _ func(llm.Chunk) error) (*llm.Response, error) {
				if failing.Load() {
					return nil, tt.err
				}
				return ok(req), nil
			}}
			obs := &recorder{}
			b := resilience.NewBreaker(f, resilience.BreakerConfig{Failures: 3, OpenFor: 50 * time.Millisecond}, obs)
			for range 3 {
				_, err := b.Chat(t.Context(), req)
				require.ErrorIs(t, err, tt.err)
			}
			_, err := b.Stream(t.Context(), req, nil)
			if !tt.wantOpen {
				require.ErrorIs(t, err, tt.err)
				require.Equal(t, resilience.StateClosed, b.State())
				require.Equal(t, 4, int(f.calls.Load()))
				return
			}
			require.ErrorIs(t, err, resilience.ErrBreakerOpen)
			require.ErrorIs(t, err, llm.ErrUnavailable)
			require.Equal(t, 3, int(f.calls.Load()), "an open breaker does not call the provider")
			require.Equal(t, resilience.StateOpen, b.State())
			failing.Store(false)
			require.Eventually(t, func() bool {
				_, err := b.Chat(t.Context(), req)
				return err == nil
			}, 2*time.Second, 10*time.Millisecond)
			require.Equal(t, resilience.StateClosed, b.State())
			obs.mu.Lock()
			defer obs.mu.Unlock()
			require.Equal(t, []resilience.BreakerState{resilience.StateClosed, resilience.StateOpen, resilience.StateHalfOpen, resilience.StateClosed}, obs.states)
		})
	}
}

// clock is a fake clock whose Sleep advances it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return nil
}

func TestLimiter(t *testing.T) {
	big := llm.Request{Model: "m", MaxTokens: 1000, Messages: []llm.Message{{Role: "user", Content: "0123456789abcdef"}}} // costs 1005 (5 + max tokens)
	tests := []struct {
		name    string
		limit   resilience.Limit
		maxWait time.Duration
		calls   int
		req     llm.Request
		elapsed time.Duration // on the fake clock, within 10ms
		wantErr error
	}{
		{name: "unlimited", limit: resilience.Limit{}, calls: 5, req: req},
		{name: "within RPM", limit: resilience.Limit{RPM: 3}, calls: 3, req: req},
		{name: "fourth call at 3 RPM waits 20s", limit: resilience.Limit{RPM: 3}, calls: 4, req: req, elapsed: 20 * time.Second},
		{name: "TPM: third call of 1005 tokens at 2010 TPM waits 30s", limit: resilience.Limit{TPM: 2010}, calls: 3, req: big, maxWait: time.Minute, elapsed: 30 * time.Second},
		{name: "both: the longer wait counts", limit: resilience.Limit{RPM: 60, TPM: 2010}, calls: 3, req: big, maxWait: time.Minute, elapsed: 30 * time.Second},
		{name: "a request larger than a minute's tokens waits for a full bucket", limit: resilience.Limit{TPM: 500}, calls: 2, req: big, maxWait: 2 * time.Minute, elapsed: time.Minute},
		{name: "a wait beyond MaxWait is a rate-limit error", limit: resilience.Limit{RPM: 1}, maxWait: 10 * time.Second, calls: 2, req: req, wantErr: llm.ErrRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{now: time.Unix(1_700_000_000, 0)}
			start := clk.Now()
			f := script()
			obs := &recorder{}
			l := resilience.NewLimiter(f, resilience.LimiterConfig{Limit: tt.limit, MaxWait: tt.maxWait, Sleep: clk.Sleep}, resilience.NewMemoryBuckets(clk.Now), obs)
			var err error
			for range tt.calls {
				if _, err = l.Chat(t.Context(), tt.req); err != nil {
					break
				}
			}
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				var le *llm.Error
				require.ErrorAs(t, err, &le)
				require.Greater(t, le.RetryAfter, 10*time.Second)
				require.Equal(t, 1, int(f.calls.Load()))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.calls, int(f.calls.Load()))
			require.InDelta(t, tt.elapsed.Seconds(), clk.Now().Sub(start).Seconds(), 0.01)
			require.Equal(t, tt.elapsed > 0, len(obs.throttled) > 0)
		})
	}
}

func TestRedisBucketsAreSharedBetweenProcesses(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := fmt.Sprintf("qlp:test:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	a := resilience.NewRedisBuckets(rdb, prefix)
	b := resilience.NewRedisBuckets(rdb, prefix) // another QLP process
	takes := []resilience.Take{{Key: "openai:rpm", Capacity: 2, N: 1}, {Key: "openai:tpm", Capacity: 6000, N: 2000}}
	for _, bk := range []*resilience.RedisBuckets{a, b} {
		wait, err := bk.Take(t.Context(), takes)
		require.NoError(t, err)
		require.Zero(t, wait)
	}
	wait, err := a.Take(t.Context(), takes)
	require.NoError(t, err)
	require.InDelta(t, 30, wait.Seconds(), 0.5, "the third request at 2 RPM waits half a minute")
	// All or none: the refused take consumed no tokens.
	wait, err = b.Take(t.Context(), []resilience.Take{{Key: "openai:tpm", Capacity: 6000, N: 2000}})
	require.NoError(t, err)
	require.Zero(t, wait)
	wait, err = b.Take(t.Context(), []resilience.Take{{Key: "openai:tpm", Capacity: 6000, N: 2000}})
	require.NoError(t, err)
	require.InDelta(t, 20, wait.Seconds(), 0.5)
	// A limiter over Redis buckets refuses beyond its MaxWait.
	_, err = resilience.NewLimiter(&fake{name: "openai", answer: script().answer}, resilience.LimiterConfig{Limit: resilience.Limit{RPM: 2}, MaxWait: time.Second},
		resilience.NewRedisBuckets(rdb, prefix), nil).Chat(t.Context(), req)
	require.ErrorIs(t, err, llm.ErrRateLimited)
}

func TestFallback(t *testing.T) {
	tests := []struct {
		name         string
		primaryErr   error
		delivered    bool
		wantFallback bool
		wantErr      error
	}{
		{"breaker open", &llm.Error{Kind: llm.KindUnavailable, Provider: "a", Err: resilience.ErrBreakerOpen}, false, true, nil},
		{"unavailable", lerr(llm.KindUnavailable, 0), false, true, nil},
		{"still rate limited", lerr(llm.KindRateLimit, time.Minute), false, true, nil},
		{"timeout", lerr(llm.KindTimeout, 0), false, true, nil},
		{"bad request", lerr(llm.KindBadRequest, 0), false, false, llm.ErrBadRequest},
		{"context length", lerr(llm.KindContextLength, 0), false, false, llm.ErrContextLength},
		{"stream already delivered", lerr(llm.KindUnavailable, 0), true, false, llm.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary := &fake{name: "a", answer: func(_ int, _ llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
				if tt.delivered {
					_ = fn(llm.Chunk{Delta: "x"})
				}
				return nil, tt.primaryErr
			}}
			var secondModel string
			secondary := &fake{name: "b", answer: func(_ int, req llm.Request, _ func(llm.Chunk) error) (*llm.Response, error) {
				secondModel = req.Model
				return ok(req), nil
			}}
			obs := &recorder{}
			f := resilience.NewFallback("T2", resilience.Route{Provider: primary, Model: "big-a"}, resilience.Route{Provider: secondary, Model: "big-b"}, obs)
			resp, err := f.Stream(t.Context(), llm.Request{Model: "big-a"}, func(llm.Chunk) error { return nil })
			if tt.wantFallback {
				require.NoError(t, err)
				require.Equal(t, "big-b", resp.Model)
				require.Equal(t, "big-b", secondModel)
				require.Equal(t, []string{"T2:a/big-a->b/big-b"}, obs.fallbacks)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.Zero(t, secondary.calls.Load())
		})
	}
	// Both down: the error says both.
	down := &fake{name: "a", answer: func(int, llm.Request, func(llm.Chunk) error) (*llm.Response, error) {
		return nil, lerr(llm.KindUnavailable, 0)
	}}
	down2 := &fake{name: "b", answer: func(int, llm.Request, func(llm.Chunk) error) (*llm.Response, error) {
		return nil, lerr(llm.KindTimeout, 0)
	}}
	_, err := resilience.NewFallback("T0", resilience.Route{Provider: down, Model: "x"}, resilience.Route{Provider: down2, Model: "y"}, nil).Chat(t.Context(), req)
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.ErrorIs(t, err, llm.ErrTimeout)
}

var _ resilience.Observer = (*llm.Metrics)(nil)
