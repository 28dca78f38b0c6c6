package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Buckets idle for two minutes (full again by then) are forgotten, so
// that one per key ever seen does not stay in memory; a bucket in use is
// kept with what it owes.
func TestMemoryForgetsIdleBuckets(t *testing.T) {
	now := time.Unix(1000, 0)
	b := NewMemory(func() time.Time { return now })
	for i := range 2000 {
		_, err := b.Take(t.Context(), []Take{{Key: fmt.Sprint("idle-", i), Capacity: 10, N: 1}})
		require.NoError(t, err)
	}
	now = now.Add(3 * time.Minute)
	r, err := b.Take(t.Context(), []Take{{Key: "busy", Capacity: 2, N: 2}})
	require.NoError(t, err)
	require.True(t, r.Granted())
	require.Len(t, b.m, 1, "only the bucket in use is kept")
	r, err = b.Take(t.Context(), []Take{{Key: "busy", Capacity: 2, N: 1}})
	require.NoError(t, err)
	require.False(t, r.Granted(), "the kept bucket still owes its tokens")
}
