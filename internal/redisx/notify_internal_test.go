package redisx

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An idle subscription is kept by pings (no flapping between up and down),
// and still delivers afterwards. redistest cannot be imported here (it
// imports this package), so the test reads its variable itself.
func TestListenStaysUpWhileIdle(t *testing.T) {
	url := os.Getenv("QLP_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("QLP_TEST_REDIS_URL is not set but QLP_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("QLP_TEST_REDIS_URL is not set")
	}
	rdb, err := Open(t.Context(), Config{URL: url})
	require.NoError(t, err)
	defer rdb.Close()
	n := NewNotifier(rdb, "qlp-test:idle:"+t.Name()+":")
	n.health = 100 * time.Millisecond

	var mu sync.Mutex
	var states []bool
	woken := make(chan string, 10)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Listen(ctx, func(job string) { woken <- job }, func(live bool) {
			mu.Lock()
			states = append(states, live)
			mu.Unlock()
		})
	}()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) > 0
	}, 5*time.Second, 10*time.Millisecond)
	time.Sleep(time.Second) // ten health intervals with nothing to read
	require.NoError(t, n.Notify(t.Context(), "j1"))
	select {
	case job := <-woken:
		require.Equal(t, "j1", job)
	case <-time.After(2 * time.Second):
		t.Fatal("no wake-up after an idle second")
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []bool{true}, states, "subscribed once, never lost while idle")
}
