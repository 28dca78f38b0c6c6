package resilience

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBuckets keeps token buckets in Redis, so that every QLP process
// using it shares one budget per provider. One Lua script checks and takes
// all of a call's buckets atomically, on Redis's clock.
type RedisBuckets struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisBuckets returns buckets under keys prefix+"{"+key+"}"; the hash
// tag keeps a provider's buckets in one cluster slot.
func NewRedisBuckets(rdb redis.UniversalClient, prefix string) *RedisBuckets {
	if prefix == "" {
		prefix = "qlp:llm:ratelimit:"
	}
	return &RedisBuckets{rdb: rdb, prefix: prefix}
}

// takeScript: KEYS are buckets, ARGV pairs (capacity, n). Returns 0 when
// it took every n, else the milliseconds until it could.
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local left = {}
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2*i-1])
  local n = tonumber(ARGV[2*i])
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then
    tokens = cap
    ts = now
  end
  local rate = cap / 60000.0
  if now > ts then
    tokens = math.min(cap, tokens + (now - ts) * rate)
  end
  left[i] = tokens - n
  if tokens < n then
    local w = math.ceil((n - tokens) / rate)
    if w > wait then wait = w end
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'tokens', tostring(left[i]), 'ts', tostring(now))
  redis.call('PEXPIRE', key, 120000)
end
return 0
`)

// Take implements Buckets.
func (b *RedisBuckets) Take(ctx context.Context, takes []Take) (time.Duration, error) {
	keys := make([]string, len(takes))
	args := make([]any, 0, 2*len(takes))
	for i, t := range takes {
		provider, kind := splitKey(t.Key)
		keys[i] = b.prefix + "{" + provider + "}:" + kind
		args = append(args, strconv.Itoa(t.Capacity), strconv.Itoa(t.N))
	}
	ms, err := takeScript.Run(ctx, b.rdb, keys, args...).Int64()
	if err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
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
