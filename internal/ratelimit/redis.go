package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keeps token buckets in Redis, so that every QLP process using it
// shares one budget per key. One Lua script checks and takes all of a
// call's buckets atomically, on Redis's clock. In a Redis Cluster the keys
// of one call must share a hash slot: give them one hash tag ("{tenant}").
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ Buckets = (*Redis)(nil)

// NewRedis returns buckets under the keys prefix+Take.Key.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

// takeScript: KEYS are buckets, ARGV pairs (capacity, n). Returns {0, 0}
// when it took every n, else {the milliseconds until it could, the
// 1-based index of the bucket that needs longest}.
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local short = 0
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
    if w > wait then
      wait = w
      short = i
    end
  end
end
if wait > 0 then
  return {wait, short}
end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'tokens', tostring(left[i]), 'ts', tostring(now))
  redis.call('PEXPIRE', key, 120000)
end
return {0, 0}
`)

// Take implements Buckets.
func (b *Redis) Take(ctx context.Context, takes []Take) (Result, error) {
	if len(takes) == 0 {
		return Result{Short: -1}, nil
	}
	keys := make([]string, len(takes))
	args := make([]any, 0, 2*len(takes))
	for i, t := range takes {
		keys[i] = b.prefix + t.Key
		args = append(args, strconv.Itoa(t.Capacity), strconv.Itoa(t.N))
	}
	v, err := takeScript.Run(ctx, b.rdb, keys, args...).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: take from Redis: %w", err)
	}
	if len(v) != 2 {
		return Result{}, fmt.Errorf("ratelimit: take from Redis: the script answered %v, not {wait, index}", v)
	}
	return Result{Wait: time.Duration(v[0]) * time.Millisecond, Short: int(v[1]) - 1}, nil
}
