package progress_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
)

func TestFollowReplaysThenStreamsUntilTerminal(t *testing.T) {
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, err)
	defer s.Close()
	bus := progress.NewBus(s, time.Hour) // only in-process wake-ups may deliver in time
	first, err := bus.Publish(t.Context(), "j1", "acme", progress.WorkflowStarted, "", "", nil)
	require.NoError(t, err)
	_, err = bus.Publish(t.Context(), "j1", "acme", progress.TaskStarted, "t1", "", map[string]int{"n": 1})
	require.NoError(t, err)

	got := make(chan domain.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- bus.Follow(t.Context(), "j1", 0, func(e domain.Event) error { got <- e; return nil })
	}()
	require.Equal(t, first.ID, (<-got).ID, "replays from the start")
	require.Equal(t, progress.TaskStarted, (<-got).Type)
	_, err = bus.Publish(t.Context(), "j2", "acme", progress.TaskStarted, "x", "", nil)
	require.NoError(t, err)
	_, err = bus.Publish(t.Context(), "j1", "acme", progress.WorkflowCompleted, "", "done", nil)
	require.NoError(t, err)
	select {
	case e := <-got:
		require.Equal(t, progress.WorkflowCompleted, e.Type, "other jobs' events are not delivered")
	case <-time.After(5 * time.Second):
		t.Fatal("live event not delivered")
	}
	require.NoError(t, <-done, "Follow returns after the terminal event")
}

func TestFollowResumesAfterLastEventID(t *testing.T) {
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, err)
	defer s.Close()
	bus := progress.NewBus(s, 10*time.Millisecond)
	a, _ := bus.Publish(t.Context(), "j1", "acme", progress.TaskStarted, "t1", "", nil)
	b, _ := bus.Publish(t.Context(), "j1", "acme", progress.TaskCompleted, "t1", "", nil)
	// Another bus over the same store stands for a publisher in another
	// process: the follower only sees its events by polling.
	other := progress.NewBus(s, time.Second)
	go func() {
		time.Sleep(50 * time.Millisecond)
		other.Publish(context.Background(), "j1", "acme", progress.WorkflowFailed, "", "boom", nil)
	}()
	var ids []int64
	require.NoError(t, bus.Follow(t.Context(), "j1", a.ID, func(e domain.Event) error { ids = append(ids, e.ID); return nil }))
	require.Len(t, ids, 2)
	require.Equal(t, b.ID, ids[0])
}

// The store is the event store the platform wires in.
var _ progress.EventStore = store.Store(nil)

// fakeNotifier is a Notifier whose Notify fails with err and whose
// listener reports state once.
type fakeNotifier struct {
	err   error
	live  bool
	calls atomic.Int32
}

func (f *fakeNotifier) Notify(context.Context, string) error { f.calls.Add(1); return f.err }

func (f *fakeNotifier) Listen(ctx context.Context, _ func(string), onState func(bool)) {
	onState(f.live)
	<-ctx.Done()
}

// Without a working Notifier, publishing still stores and wakes this
// process, and a follower falls back to polling the store every second
// (FallbackPoll) even when its poll is an hour.
func TestBusWithoutAWorkingNotifier(t *testing.T) {
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, err)
	defer s.Close()
	n := &fakeNotifier{err: errors.New("redis: connection refused")}
	bus := progress.New(progress.Deps{Store: s, Poll: time.Hour, Notifier: n})
	defer bus.Close()
	other := progress.NewBus(s, time.Hour) // another process, without Redis

	got := make(chan domain.Event, 10)
	go func() {
		_ = bus.Follow(t.Context(), "j1", 0, func(e domain.Event) error { got <- e; return nil })
	}()
	for range 3 {
		_, err := bus.Publish(t.Context(), "j1", "acme", progress.TaskStarted, "t1", "", nil)
		require.NoError(t, err, "a failed wake-up does not fail the event")
		select {
		case <-got:
		case <-time.After(time.Second):
			t.Fatal("the in-process follower was not woken")
		}
	}
	require.Equal(t, int32(1), n.calls.Load(), "after a failure the notifier is skipped for a second")

	start := time.Now()
	_, err = other.Publish(t.Context(), "j1", "acme", progress.TaskCompleted, "t1", "", nil)
	require.NoError(t, err)
	select {
	case <-got:
		require.Less(t, time.Since(start), progress.FallbackPoll+time.Second)
	case <-time.After(3 * time.Second):
		t.Fatal("the follower did not fall back to polling while the notifier is down")
	}
}
