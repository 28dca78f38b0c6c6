package progress_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/redisx"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
	"github.com/quantumlayer/qlp/internal/store"
)

// twoProcesses are two buses over one store and one Redis, standing for
// two processes: a publisher (a worker) and a follower (an orchestrator
// replica). Their store poll is an hour, so that only a Redis wake-up, or
// the fallback poll while Redis is away, delivers in time.
type twoProcesses struct {
	store    *store.SQL
	pub, sub *progress.Bus
	prefix   string
}

func newTwoProcesses(t *testing.T, pubRedis, subRedis *redis.Client) *twoProcesses {
	t.Helper()
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	prefix := fmt.Sprintf("qlp-test:%s:%d:", t.Name(), time.Now().UnixNano())
	tp := &twoProcesses{store: s, prefix: prefix,
		pub: progress.New(progress.Deps{Store: s, Poll: time.Hour, Notifier: redisx.NewNotifier(pubRedis, prefix)}),
		sub: progress.New(progress.Deps{Store: s, Poll: time.Hour, Notifier: redisx.NewNotifier(subRedis, prefix)}),
	}
	t.Cleanup(tp.pub.Close)
	t.Cleanup(tp.sub.Close)
	return tp
}

// follow follows job on the follower's bus and sends what it sees.
func (tp *twoProcesses) follow(t *testing.T, job string) (<-chan domain.Event, <-chan error) {
	got := make(chan domain.Event, 100)
	done := make(chan error, 1)
	go func() {
		done <- tp.sub.Follow(t.Context(), job, 0, func(e domain.Event) error { got <- e; return nil })
	}()
	return got, done
}

func receive(t *testing.T, got <-chan domain.Event, within time.Duration) domain.Event {
	t.Helper()
	select {
	case e := <-got:
		return e
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
		return domain.Event{}
	}
}

// waitSubscribed publishes wake-ups for another job until the follower's
// bus is subscribed, seen by a follower of that job being woken.
func waitSubscribed(t *testing.T, tp *twoProcesses) {
	t.Helper()
	probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	got, _ := tp.follow(t, probe)
	require.Equal(t, progress.WorkflowStarted, receive(t, mustPublish(t, tp, probe, progress.WorkflowStarted, got), 5*time.Second).Type)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mustPublish(t, tp, probe, progress.LogMessage, got)
		select {
		case <-got:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("the follower's bus never subscribed")
}

func mustPublish(t *testing.T, tp *twoProcesses, job, typ string, got <-chan domain.Event) <-chan domain.Event {
	t.Helper()
	_, err := tp.pub.Publish(context.Background(), job, "acme", typ, "", "", nil)
	require.NoError(t, err)
	return got
}

func TestRedisWakesAFollowerInAnotherProcess(t *testing.T) {
	rdb := redistest.Client(t)
	tp := newTwoProcesses(t, rdb, rdb)
	waitSubscribed(t, tp)

	got, done := tp.follow(t, "j1")
	for i, typ := range []string{progress.WorkflowStarted, progress.TaskStarted, progress.TaskCompleted, progress.WorkflowCompleted} {
		start := time.Now()
		e, err := tp.pub.Publish(t.Context(), "j1", "acme", typ, "t1", "", nil)
		require.NoError(t, err)
		seen := receive(t, got, 2*time.Second)
		require.Equal(t, e.ID, seen.ID, "event %d", i)
		require.Less(t, time.Since(start), 500*time.Millisecond, "event %d crossed processes through Redis, not the hour-long poll", i)
	}
	require.NoError(t, <-done)
}

// cutter stands between the follower and Redis: a TCP proxy whose
// connections can be cut and whose listener can go away and come back on
// the same address, as a restarted Redis would.
type cutter struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &cutter{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	c.serve(ln)
	t.Cleanup(c.down)
	return c
}

func (c *cutter) serve(ln net.Listener) {
	c.mu.Lock()
	c.ln = ln
	c.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", c.target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns[in], c.conns[out] = true, true
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

// down closes the listener and every connection: Redis is gone.
func (c *cutter) down() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		c.ln.Close()
		c.ln = nil
	}
	for conn := range c.conns {
		conn.Close()
	}
	c.conns = map[net.Conn]bool{}
}

// up listens again on the same address.
func (c *cutter) up(t *testing.T) {
	ln, err := net.Listen("tcp", c.addr)
	require.NoError(t, err)
	c.serve(ln)
}

// A follower misses no event when its Redis connection is cut or Redis is
// away for a while: it polls the store while unsubscribed, re-reads it on
// resubscribing, and is woken through Redis again afterwards.
func TestFollowerMissesNoEventWhenRedisGoesAway(t *testing.T) {
	rdb := redistest.Client(t)
	tests := []struct {
		name string
		cut  func(t *testing.T, c *cutter, sub *redis.Client) (restore func())
	}{
		{name: "connection killed", cut: func(t *testing.T, c *cutter, sub *redis.Client) func() {
			// CLIENT KILL on the server, as an operator or a failover does.
			require.NoError(t, rdb.Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Err())
			return func() {}
		}},
		{name: "redis away for two seconds", cut: func(t *testing.T, c *cutter, sub *redis.Client) func() {
			c.down()
			return func() {
				time.Sleep(2 * time.Second)
				c.up(t)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCutter(t, rdb.Options().Addr)
			opts := *rdb.Options()
			opts.Addr = c.addr
			sub := redis.NewClient(&opts)
			t.Cleanup(func() { sub.Close() })
			tp := newTwoProcesses(t, rdb, sub)
			waitSubscribed(t, tp)

			got, done := tp.follow(t, "j1")
			var want []int64
			publish := func(typ string) {
				e, err := tp.pub.Publish(t.Context(), "j1", "acme", typ, "t1", "", nil)
				require.NoError(t, err)
				want = append(want, e.ID)
			}
			publish(progress.WorkflowStarted)
			require.Equal(t, want[0], receive(t, got, time.Second).ID)

			restore := tc.cut(t, c, sub)
			publish(progress.TaskStarted) // while the follower's subscription is down
			publish(progress.TaskProgress)
			restore()
			publish(progress.TaskCompleted)

			seen := []int64{want[0]}
			for len(seen) < len(want) {
				seen = append(seen, receive(t, got, 5*time.Second).ID)
			}
			require.Equal(t, want, seen, "every event, once, in order")

			// Resubscribed: the next event crosses through Redis again.
			waitSubscribed(t, tp)
			start := time.Now()
			publish(progress.WorkflowCompleted)
			require.Equal(t, want[len(want)-1], receive(t, got, 2*time.Second).ID)
			require.Less(t, time.Since(start), 500*time.Millisecond)
			require.NoError(t, <-done)
		})
	}
}
