package respcache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/llm/respcache"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
)

type sink struct {
	mu   sync.Mutex
	rows []domain.Usage
}

func (s *sink) RecordUsage(_ context.Context, u domain.Usage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, u)
	return nil
}

type lookups struct {
	mu        sync.Mutex
	hit, miss int
}

func (l *lookups) CacheLookup(_ string, hit bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if hit {
		l.hit++
	} else {
		l.miss++
	}
}

func base() llm.Request {
	return llm.Request{Model: "gpt-4o-mini", Temperature: 0.2, MaxTokens: 100,
		Messages: []llm.Message{{Role: "user", Content: "write hello world"}}, Meta: llm.Meta{TenantID: "acme", Attempt: 1}}
}

func stores(t *testing.T) map[string]func(t *testing.T) respcache.Store {
	return map[string]func(t *testing.T) respcache.Store{
		"memory": func(t *testing.T) respcache.Store { return respcache.NewMemory(100, time.Hour) },
		"redis": func(t *testing.T) respcache.Store {
			return respcache.NewRedis(redistest.Client(t), fmt.Sprintf("qlp:test:cache:%d:", time.Now().UnixNano()))
		},
	}
}

func TestCache(t *testing.T) {
	tests := []struct {
		name     string
		second   func(llm.Request) llm.Request
		finish   string
		wantHit  bool
		wantCall int // provider calls for the two requests
	}{
		{name: "identical request is served from the cache", second: func(r llm.Request) llm.Request { return r }, wantHit: true, wantCall: 1},
		{name: "temperature above the threshold is never cached", second: func(r llm.Request) llm.Request { r.Temperature = 0.7; return r }, wantCall: 2},
		{name: "another model misses", second: func(r llm.Request) llm.Request { r.Model = "gpt-4.1-mini"; return r }, wantCall: 2},
		{name: "another max_tokens misses", second: func(r llm.Request) llm.Request { r.MaxTokens = 200; return r }, wantCall: 2},
		{name: "JSON mode misses", second: func(r llm.Request) llm.Request { r.JSON = true; return r }, wantCall: 2},
		{name: "another temperature misses", second: func(r llm.Request) llm.Request { r.Temperature = 0.1; return r }, wantCall: 2},
		{name: "another message misses", second: func(r llm.Request) llm.Request {
			r.Messages = []llm.Message{{Role: "user", Content: "write hello world!"}}
			return r
		}, wantCall: 2},
		{name: "a retried activity asks the provider again", second: func(r llm.Request) llm.Request { r.Meta.Attempt = 2; return r }, wantCall: 2},
		{name: "a truncated answer is not kept", second: func(r llm.Request) llm.Request { return r }, finish: "length", wantCall: 2},
	}
	for storeName, newStore := range stores(t) {
		for _, tt := range tests {
			t.Run(storeName+"/"+tt.name, func(t *testing.T) {
				st := newStore(t)
				srv := llmtest.New(func(llmtest.Call) llmtest.Reply {
					return llmtest.Reply{Content: "package main", Finish: tt.finish, Usage: &llm.Usage{InputTokens: 1000, OutputTokens: 500}}
				})
				defer srv.Close()
				prices, err := pricing.Builtin()
				require.NoError(t, err)
				rows := &sink{}
				obs := &lookups{}
				c := respcache.New(openai.New(openai.Config{BaseURL: srv.URL}), st, respcache.Config{MaxTemperature: 0.3, TTL: time.Hour}, obs, logx.Discard())
				m, err := llm.NewMetered(c, prices, rows, logx.Discard())
				require.NoError(t, err)
				first, err := m.Chat(t.Context(), base())
				require.NoError(t, err)
				require.False(t, first.Cached)
				var chunks []string
				second, err := m.Stream(t.Context(), tt.second(base()), func(ch llm.Chunk) error { chunks = append(chunks, ch.Delta); return nil })
				require.NoError(t, err)
				require.Equal(t, "package main", second.Content)
				require.Equal(t, "package main", fmt.Sprint(chunks[0]))
				require.Len(t, srv.Calls(), tt.wantCall)
				require.Equal(t, tt.wantHit, second.Cached)
				require.Len(t, rows.rows, 2, "a hit is recorded too")
				require.Positive(t, rows.rows[0].CostPUSD)
				if tt.wantHit {
					require.True(t, rows.rows[1].Cached)
					require.Zero(t, rows.rows[1].CostPUSD)
					require.Zero(t, second.CostPUSD)
					require.Equal(t, 1000, rows.rows[1].InputTokens, "the tokens the hit saved")
					require.Equal(t, 1, obs.hit)
				} else {
					require.False(t, rows.rows[1].Cached)
					require.Positive(t, rows.rows[1].CostPUSD)
				}
			})
		}
	}
}

func TestRedisIsSharedBetweenProcesses(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := fmt.Sprintf("qlp:test:cache:%d:", time.Now().UnixNano())
	srv := llmtest.New(func(llmtest.Call) llmtest.Reply { return llmtest.Reply{Content: "answer"} })
	defer srv.Close()
	p := openai.New(openai.Config{BaseURL: srv.URL})
	a := respcache.New(p, respcache.NewRedis(rdb, prefix), respcache.Config{MaxTemperature: 0.3, TTL: time.Minute}, nil, logx.Discard())
	b := respcache.New(p, respcache.NewRedis(rdb, prefix), respcache.Config{MaxTemperature: 0.3, TTL: time.Minute}, nil, logx.Discard())
	_, err := a.Chat(t.Context(), base())
	require.NoError(t, err)
	resp, err := b.Chat(t.Context(), base())
	require.NoError(t, err)
	require.True(t, resp.Cached)
	require.Len(t, srv.Calls(), 1)
	ttl, err := rdb.TTL(t.Context(), prefix+respcache.Key("openai", "acme", base())).Result()
	require.NoError(t, err)
	require.InDelta(t, 60, ttl.Seconds(), 2)
}

func TestKeyCoversProviderAndTenant(t *testing.T) {
	require.NotEqual(t, respcache.Key("openai", "acme", base()), respcache.Key("azure", "acme", base()))
	require.Equal(t, respcache.Key("openai", "acme", base()), respcache.Key("openai", "acme", base()))
	require.NotEqual(t, respcache.Key("openai", "acme", base()), respcache.Key("openai", "globex", base()), "each tenant has its own entries")
	require.NotEqual(t, respcache.Key("openai", "acme", base()), respcache.Key("openai", "", base()), "and the shared entries are apart")
	r := base()
	r.Meta = llm.Meta{TenantID: "other", TaskID: "t9", JobID: "j9"}
	require.Equal(t, respcache.Key("openai", "acme", base()), respcache.Key("openai", "acme", r), "the key's tenant is the one given, not the request's")
}

// TestEntriesArePerTenant: a tenant sending exactly the request another
// tenant sent before is not served that tenant's answer (the provider is
// called and the call is billed); the same tenant repeating it is. With
// SharedAcrossTenants the answer is shared. A call without a tenant is
// never cached.
func TestEntriesArePerTenant(t *testing.T) {
	for storeName, newStore := range stores(t) {
		for _, shared := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shared=%v", storeName, shared), func(t *testing.T) {
				srv := llmtest.New(func(llmtest.Call) llmtest.Reply {
					return llmtest.Reply{Content: "package main", Usage: &llm.Usage{InputTokens: 1000, OutputTokens: 500}}
				})
				defer srv.Close()
				c := respcache.New(openai.New(openai.Config{BaseURL: srv.URL}), newStore(t),
					respcache.Config{MaxTemperature: 0.3, TTL: time.Hour, SharedAcrossTenants: shared}, nil, logx.Discard())
				as := func(tenant string) *llm.Response {
					t.Helper()
					r := base()
					r.Meta.TenantID = tenant
					resp, err := c.Chat(t.Context(), r)
					require.NoError(t, err)
					return resp
				}
				require.False(t, as("acme").Cached)
				require.Len(t, srv.Calls(), 1)
				if shared {
					require.True(t, as("globex").Cached, "shared: another tenant gets the answer")
					require.Len(t, srv.Calls(), 1)
				} else {
					require.False(t, as("globex").Cached, "another tenant's identical request is not served from acme's entry")
					require.Len(t, srv.Calls(), 2, "the provider answers it")
					require.True(t, as("globex").Cached, "globex's own answer is kept for globex")
					require.Len(t, srv.Calls(), 2)
				}
				require.True(t, as("acme").Cached)
				if !shared {
					before := len(srv.Calls())
					require.False(t, as("").Cached)
					require.False(t, as("").Cached, "no tenant: never cached")
					require.Len(t, srv.Calls(), before+2)
				}
			})
		}
	}
}

var _ respcache.Observer = (*llm.Metrics)(nil)
