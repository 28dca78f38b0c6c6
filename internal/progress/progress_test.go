package progress_test

import (
	"context"
	"path/filepath"
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
