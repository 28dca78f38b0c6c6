package resilience

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quantumlayer/qlp/internal/ratelimit"
)

// RedisBuckets keeps token buckets in Redis (see [ratelimit.Redis]), so
// that every QLP process using it shares one budget per provider.
type RedisBuckets struct {
	b *ratelimit.Redis
}

// NewRedisBuckets returns buckets under keys prefix+"{"+provider+"}:"+kind
// for a Take.Key "provider:kind"; the hash tag keeps a provider's buckets
// in one cluster slot.
func NewRedisBuckets(rdb redis.UniversalClient, prefix string) *RedisBuckets {
	if prefix == "" {
		prefix = "qlp:llm:ratelimit:"
	}
	return &RedisBuckets{b: ratelimit.NewRedis(rdb, prefix)}
}

// Take implements Buckets.
func (b *RedisBuckets) Take(ctx context.Context, takes []Take) (time.Duration, error) {
	tagged := make([]Take, len(takes))
	for i, t := range takes {
		provider, kind := splitKey(t.Key)
		t.Key = "{" + provider + "}:" + kind
		tagged[i] = t
	}
	r, err := b.b.Take(ctx, tagged)
	return r.Wait, err
}

// splitKey splits "provider:rpm" at its last colon.
func splitKey(k string) (string, string) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == ':' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}
