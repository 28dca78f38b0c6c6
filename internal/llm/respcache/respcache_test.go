package respcache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/llm/respcache"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
	"github.com/quantumlayer/qlp/internal/store"
)

type sink struct {
	mu   sync.Mutex
	rows []store.Usage
}

func (s *sink) RecordUsage(_ context.Context, u store.Usage) error {
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
	ttl, err := rdb.TTL(t.Context(), prefix+respcache.Key("openai", base())).Result()
	require.NoError(t, err)
	require.InDelta(t, 60, ttl.Seconds(), 2)
}

func TestKeyCoversProvider(t *testing.T) {
	require.NotEqual(t, respcache.Key("openai", base()), respcache.Key("azure", base()))
	require.Equal(t, respcache.Key("openai", base()), respcache.Key("openai", base()))
	r := base()
	r.Meta = llm.Meta{TenantID: "other", TaskID: "t9"}
	require.Equal(t, respcache.Key("openai", base()), respcache.Key("openai", r), "who asks does not change the answer")
}

var _ respcache.Observer = (*llm.Metrics)(nil)
