// Package progress publishes job progress events and lets readers follow
// them. Events are written to the store first (so a reader that connects
// late, or after a restart, replays them by id) and then announced to
// in-process subscribers; readers in another process notice new events by
// polling the store at a short interval.
package progress

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/domain"
)

// Event types.
const (
	WorkflowStarted   = "workflow_started"
	Decomposed        = "decomposed"
	TaskStarted       = "task_started"
	TaskProgress      = "task_progress"
	TaskCompleted     = "task_completed"
	TaskFailed        = "task_failed"
	TaskSkipped       = "task_skipped"
	TaskValidated     = "task_validated"
	TaskGenerated     = "task_generated" // an attempt's files are written
	TaskAttempt       = "task_attempt"   // a new attempt starts, with why
	ReviewRequested   = "review_requested"
	ReviewDecided     = "review_decided"
	CapsuleValidated  = "capsule_validated"
	CapsuleCreated    = "capsule_created"
	WorkflowCompleted = "workflow_completed"
	WorkflowFailed    = "workflow_failed"
	WorkflowCancelled = "workflow_cancelled"
	LogMessage        = "log_message"
	// BudgetAlert reports spend reaching a share of a budget, a call moved
	// to a cheaper tier, or a call refused because a budget is exhausted.
	BudgetAlert = "budget_alert"
)

// Terminal reports whether an event of this type ends a job's stream.
func Terminal(typ string) bool {
	return typ == WorkflowCompleted || typ == WorkflowFailed || typ == WorkflowCancelled
}

// EventStore is the part of the store the bus needs.
type EventStore interface {
	AppendEvent(ctx context.Context, e domain.Event) (domain.Event, error)
	ListEvents(ctx context.Context, jobID string, afterID int64, limit int) ([]domain.Event, error)
}

// Bus publishes and follows events.
type Bus struct {
	store EventStore
	poll  time.Duration
	mu    sync.Mutex
	subs  map[string]map[chan struct{}]struct{}
}

// NewBus returns a bus over s. poll is how often followers re-read the
// store when no in-process notification arrives (events published by
// another process); 0 means one second.
func NewBus(s EventStore, poll time.Duration) *Bus {
	if poll <= 0 {
		poll = time.Second
	}
	return &Bus{store: s, poll: poll, subs: map[string]map[chan struct{}]struct{}{}}
}

// Publish stores the event and wakes the job's followers. data, when not
// nil, is encoded as the event's JSON data.
func (b *Bus) Publish(ctx context.Context, jobID, tenantID, typ, taskID, message string, data any) (domain.Event, error) {
	raw := json.RawMessage("{}")
	if data != nil {
		enc, err := json.Marshal(data)
		if err != nil {
			return domain.Event{}, fmt.Errorf("progress: encode %s data: %w", typ, err)
		}
		raw = enc
	}
	e, err := b.store.AppendEvent(ctx, domain.Event{JobID: jobID, TenantID: tenantID, Type: typ, TaskID: taskID, Message: message, Data: raw})
	if err != nil {
		return domain.Event{}, err
	}
	b.mu.Lock()
	for ch := range b.subs[jobID] {
		select {
		case ch <- struct{}{}:
		default: // already signalled
		}
	}
	b.mu.Unlock()
	return e, nil
}

func (b *Bus) subscribe(jobID string) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs[jobID] == nil {
		b.subs[jobID] = map[chan struct{}]struct{}{}
	}
	b.subs[jobID][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[jobID], ch)
		if len(b.subs[jobID]) == 0 {
			delete(b.subs, jobID)
		}
		b.mu.Unlock()
	}
}

// Follow calls fn with every event of the job after afterID, in order, as
// they arrive, until fn returns an error, a terminal event has been passed
// to fn, or ctx ends. It returns nil after a terminal event.
func (b *Bus) Follow(ctx context.Context, jobID string, afterID int64, fn func(domain.Event) error) error {
	wake, cancel := b.subscribe(jobID)
	defer cancel()
	t := time.NewTicker(b.poll)
	defer t.Stop()
	for {
		events, err := b.store.ListEvents(ctx, jobID, afterID, 500)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
			afterID = e.ID
			if Terminal(e.Type) {
				return nil
			}
		}
		if len(events) == 500 {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-t.C:
		}
	}
}
