// Package ratelimit keeps token buckets that refill continuously, a
// bucket's capacity every minute: in this process ([Memory]) or in Redis
// ([Redis]), where every QLP process using the same Redis shares one
// budget. The LLM provider limits (internal/llm/resilience) and the API's
// request limits (internal/orchestrator) both take from them.
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Take asks a bucket for N of its Capacity tokens; the bucket refills
// Capacity tokens a minute, continuously, and starts full.
type Take struct {
	Key      string
	Capacity int
	N        int
}

// Result is the outcome of a [Buckets.Take].
type Result struct {
	// Wait is zero when every take was granted, otherwise how long until
	// all of them could be.
	Wait time.Duration
	// Short is the index of the take that needs the longest wait (the
	// limit to name to the caller), or -1 when every take was granted.
	Short int
}

// Granted reports whether the takes were granted.
func (r Result) Granted() bool { return r.Wait <= 0 }

// Buckets holds token buckets.
type Buckets interface {
	// Take takes every N from its bucket, all or none.
	Take(ctx context.Context, takes []Take) (Result, error)
}

// Memory keeps token buckets in this process.
type Memory struct {
	mu    sync.Mutex
	now   func() time.Time
	m     map[string]*bucket
	swept time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

var _ Buckets = (*Memory)(nil)

// NewMemory returns empty buckets; now is the clock (nil for time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, m: map[string]*bucket{}}
}

// Take implements Buckets.
func (b *Memory) Take(_ context.Context, takes []Take) (Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	res := Result{Short: -1}
	for i, t := range takes {
		bk := b.refill(t, now)
		if bk.tokens < float64(t.N) {
			w := time.Duration((float64(t.N)-bk.tokens)*float64(time.Minute)/float64(t.Capacity)) + time.Millisecond // round up past float error
			if w > res.Wait {
				res.Wait, res.Short = w, i
			}
		}
	}
	if !res.Granted() {
		return res, nil
	}
	for _, t := range takes {
		b.m[t.Key].tokens -= float64(t.N)
	}
	b.sweep(now)
	return res, nil
}

func (b *Memory) refill(t Take, now time.Time) *bucket {
	bk, ok := b.m[t.Key]
	if !ok {
		bk = &bucket{tokens: float64(t.Capacity), at: now}
		b.m[t.Key] = bk
	}
	if el := now.Sub(bk.at); el > 0 {
		bk.tokens = min(float64(t.Capacity), bk.tokens+float64(t.Capacity)*el.Minutes())
		bk.at = now
	}
	return bk
}

// sweep forgets buckets untouched for two minutes (full again by then, so
// forgetting them changes nothing), so that one bucket per API key or
// tenant ever seen does not stay in memory for good. It walks the map at
// most once a minute, and only when it has grown.
func (b *Memory) sweep(now time.Time) {
	if len(b.m) < 1024 || now.Sub(b.swept) < time.Minute {
		return
	}
	b.swept = now
	for k, bk := range b.m {
		if now.Sub(bk.at) > 2*time.Minute {
			delete(b.m, k)
		}
	}
}
