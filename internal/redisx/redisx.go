// Package redisx opens the Redis that QLP's services share in production
// (LLM response cache, rate limits, progress wake-ups between processes);
// without one, each service keeps that state in process and progress
// followers poll the store.
package redisx

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Config says where Redis is.
type Config struct {
	// URL is redis://[user:password@]host:port/db (rediss:// for TLS);
	// empty means no Redis.
	URL string
}

// Settings binds QLP_REDIS_URL.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "redis.url", Env: "QLP_REDIS_URL", Secret: true,
			Help:  "Redis shared by QLP processes for the LLM response cache, rate limits and progress wake-ups (redis://host:6379/0); empty keeps them in process and followers poll the store",
			Value: settings.String(&c.URL)},
	}
}

// Enabled reports whether a Redis is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate checks the URL's form.
func (c Config) Validate() error {
	if c.URL == "" {
		return nil
	}
	if _, err := redis.ParseURL(c.URL); err != nil {
		return settings.Invalid(c.Settings(), "redis.url", "%w", err)
	}
	return nil
}

// Open connects and pings. The caller closes the client.
func Open(ctx context.Context, c Config) (*redis.Client, error) {
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, settings.Invalid(c.Settings(), "redis.url", "%w", err)
	}
	rdb := redis.NewClient(opts)
	// Each command is a span of the caller's trace (the process's tracer
	// provider; no-op when tracing is off). Commands' arguments are not
	// recorded: cached answers and rate-limit keys are no one's business.
	// Readiness pings are left out: probes are not traced, so each would
	// start a trace of its own.
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false),
		redisotel.WithCommandFilter(func(cmd redis.Cmder) bool { return cmd.Name() == "ping" })); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redisx: instrument tracing: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redisx: ping %s: %w", opts.Addr, err)
	}
	return rdb, nil
}
