package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/ratelimit"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
)

// step is one Take of a scenario and what it must answer.
type step struct {
	takes   []ratelimit.Take
	granted bool
	short   int // index of the take named when refused
}

var scenarios = []struct {
	name  string
	steps []step
}{
	{"a full bucket grants up to its capacity, then refuses", []step{
		{takes: []ratelimit.Take{{Key: "a", Capacity: 2, N: 1}}, granted: true, short: -1},
		{takes: []ratelimit.Take{{Key: "a", Capacity: 2, N: 1}}, granted: true, short: -1},
		{takes: []ratelimit.Take{{Key: "a", Capacity: 2, N: 1}}, granted: false, short: 0},
	}},
	{"the refused take is named, and nothing is taken from the others", []step{
		{takes: []ratelimit.Take{{Key: "k", Capacity: 5, N: 1}, {Key: "t", Capacity: 1, N: 1}}, granted: true, short: -1},
		{takes: []ratelimit.Take{{Key: "k", Capacity: 5, N: 1}, {Key: "t", Capacity: 1, N: 1}}, granted: false, short: 1},
		// k still has 4: the refused call took none of it.
		{takes: []ratelimit.Take{{Key: "k", Capacity: 5, N: 4}}, granted: true, short: -1},
		{takes: []ratelimit.Take{{Key: "k", Capacity: 5, N: 1}, {Key: "u", Capacity: 1, N: 1}}, granted: false, short: 0},
	}},
	{"buckets are independent", []step{
		{takes: []ratelimit.Take{{Key: "x", Capacity: 1, N: 1}}, granted: true, short: -1},
		{takes: []ratelimit.Take{{Key: "y", Capacity: 1, N: 1}}, granted: true, short: -1},
		{takes: []ratelimit.Take{{Key: "x", Capacity: 1, N: 1}}, granted: false, short: 0},
	}},
}

// run plays the scenarios on buckets made by mk.
func run(t *testing.T, mk func(t *testing.T) ratelimit.Buckets) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			b := mk(t)
			for i, st := range sc.steps {
				r, err := b.Take(context.Background(), st.takes)
				require.NoError(t, err)
				require.Equal(t, st.granted, r.Granted(), "step %d: %+v", i, r)
				require.Equal(t, st.short, r.Short, "step %d", i)
				if !st.granted {
					capacity := st.takes[r.Short].Capacity
					require.Positive(t, r.Wait)
					require.LessOrEqual(t, r.Wait, time.Minute/time.Duration(capacity)+time.Second, "step %d: one token's refill at most", i)
				}
			}
		})
	}
}

func TestMemoryBuckets(t *testing.T) {
	run(t, func(*testing.T) ratelimit.Buckets { return ratelimit.NewMemory(nil) })
}

func TestRedisBuckets(t *testing.T) {
	rdb := redistest.Client(t)
	run(t, func(t *testing.T) ratelimit.Buckets {
		return ratelimit.NewRedis(rdb, "qlp:test:ratelimit:"+uuid.NewString()+":")
	})
}

// The bucket refills continuously: after a refused take, the wait it
// names is enough.
func TestMemoryRefillsAfterTheWait(t *testing.T) {
	now := time.Unix(1000, 0)
	b := ratelimit.NewMemory(func() time.Time { return now })
	take := []ratelimit.Take{{Key: "a", Capacity: 60, N: 60}}
	r, err := b.Take(t.Context(), take)
	require.NoError(t, err)
	require.True(t, r.Granted())
	take[0].N = 1
	r, _ = b.Take(t.Context(), take)
	require.False(t, r.Granted())
	require.InDelta(t, time.Second, r.Wait, float64(5*time.Millisecond))
	now = now.Add(r.Wait)
	r, _ = b.Take(t.Context(), take)
	require.True(t, r.Granted(), "%+v", r)
}

// Two processes using one Redis share one budget.
func TestRedisBucketsAreShared(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := fmt.Sprintf("qlp:test:ratelimit:%s:", uuid.NewString())
	a, b := ratelimit.NewRedis(rdb, prefix), ratelimit.NewRedis(rdb, prefix)
	take := []ratelimit.Take{{Key: "{acme}:tenant", Capacity: 3, N: 1}}
	for i, bk := range []ratelimit.Buckets{a, b, a} {
		r, err := bk.Take(t.Context(), take)
		require.NoError(t, err)
		require.True(t, r.Granted(), "take %d", i)
	}
	r, err := b.Take(t.Context(), take)
	require.NoError(t, err)
	require.False(t, r.Granted(), "the fourth take, on the other process, is over the shared budget")
}
