// Package progress publishes job progress events and lets readers follow
// them. Events are written to the store first (so a reader that connects
// late, or after a restart, replays them by id) and then announced to
// in-process subscribers and, through a Notifier (Redis pub/sub), to the
// followers of other processes. The store stays the only record: a
// wake-up carries no event, it only makes a follower re-read the store,
// and followers also re-read it at an interval, so a lost wake-up delays
// an event and never loses it.
package progress

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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

// Notifier carries wake-ups between the processes that share a store:
// "job X has a new event". Redis pub/sub is one (see redisx.Notifier). A
// wake-up is a hint; the events are read from the store.
type Notifier interface {
	// Notify tells every process's listener that jobID has a new event.
	Notify(ctx context.Context, jobID string) error
	// Listen receives the wake-ups of every job until ctx ends: onWake
	// with the job's id for each, onState(true) each time it is
	// subscribed (the first time and after each reconnection) and
	// onState(false) each time the subscription is lost. It reconnects
	// by itself and returns when ctx ends.
	Listen(ctx context.Context, onWake func(jobID string), onState func(live bool))
}

// Deps are what a Bus works with.
type Deps struct {
	Store EventStore
	// Poll is how often a follower re-reads the store when no wake-up
	// arrives; 0 means one second. While a Notifier is subscribed it is
	// only the safety net for a lost wake-up; while the Notifier is
	// down, followers re-read at least every second (FallbackPoll).
	Poll time.Duration
	// Notifier, when set, wakes followers in other processes.
	Notifier Notifier
	// Logger reports a Notifier going down and coming back.
	Logger *slog.Logger
}

// FallbackPoll is the longest a follower waits before re-reading the
// store while the Notifier is not subscribed.
const FallbackPoll = time.Second

// notifyBackoff is how long Publish skips the Notifier after it failed,
// so that an unreachable Redis does not slow every event down.
const notifyBackoff = time.Second

// Bus publishes and follows events.
type Bus struct {
	store    EventStore
	poll     time.Duration
	notifier Notifier
	logger   *slog.Logger
	mu       sync.Mutex
	subs     map[string]map[chan struct{}]struct{}

	// live says the Notifier's subscription is up; listening starts with
	// the first follower and ends with Close.
	live      atomic.Bool
	listen    sync.Once
	stop      context.CancelFunc
	stopped   chan struct{}
	skipUntil atomic.Int64 // unix nanoseconds: Publish skips Notify until then
}

// NewBus returns a bus over s without a Notifier. poll is how often
// followers re-read the store when no in-process wake-up arrives (events
// published by another process); 0 means one second.
func NewBus(s EventStore, poll time.Duration) *Bus {
	return New(Deps{Store: s, Poll: poll})
}

// New returns a bus over d.Store that wakes the followers of other
// processes through d.Notifier when it is set. Close stops its listener.
func New(d Deps) *Bus {
	if d.Poll <= 0 {
		d.Poll = time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{store: d.Store, poll: d.Poll, notifier: d.Notifier, logger: d.Logger,
		subs: map[string]map[chan struct{}]struct{}{}, stop: func() {}}
}

// Close stops listening to the Notifier. Followers still running go on
// polling the store.
func (b *Bus) Close() {
	b.listen.Do(func() {}) // a bus that never listened never will
	b.stop()
	if b.stopped != nil {
		<-b.stopped
	}
}

// Publish stores the event and wakes the job's followers, in this process
// and, through the Notifier, in others. data, when not nil, is encoded as
// the event's JSON data. The event is published once it is stored: a
// failed wake-up is logged, and the followers it missed find the event
// when they next read the store.
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
	b.wake(jobID)
	b.notify(ctx, jobID)
	return e, nil
}

// notify sends the cross-process wake-up, briefly, and not at all for a
// second after one failed.
func (b *Bus) notify(ctx context.Context, jobID string) {
	if b.notifier == nil || time.Now().UnixNano() < b.skipUntil.Load() {
		return
	}
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
	defer cancel()
	if err := b.notifier.Notify(nctx, jobID); err != nil {
		if b.skipUntil.Swap(time.Now().Add(notifyBackoff).UnixNano()) == 0 {
			b.logger.Warn("progress: cannot wake other processes; their followers poll the store", "job", jobID, "error", err)
		}
		return
	}
	if b.skipUntil.Swap(0) != 0 {
		b.logger.Info("progress: waking other processes again")
	}
}

// wake signals the in-process followers of jobID.
func (b *Bus) wake(jobID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[jobID] {
		signal(ch)
	}
}

// wakeAll signals every in-process follower: the Notifier's subscription
// came up (events published while it was down are in the store) or went
// down (followers shorten their poll).
func (b *Bus) wakeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, chs := range b.subs {
		for ch := range chs {
			signal(ch)
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // already signalled
	}
}

// startListening subscribes to the Notifier once, when the first
// follower arrives.
func (b *Bus) startListening() {
	if b.notifier == nil {
		return
	}
	b.listen.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		b.stop, b.stopped = cancel, make(chan struct{})
		go func() {
			defer close(b.stopped)
			b.notifier.Listen(ctx, b.wake, func(live bool) {
				if b.live.Swap(live) != live {
					if live {
						b.logger.Info("progress: subscribed to wake-ups from other processes")
					} else {
						b.logger.Warn("progress: wake-ups from other processes lost; polling the store every second until they return")
					}
				}
				b.wakeAll()
			})
		}()
	})
}

// interval is how long a follower waits for a wake-up before it re-reads
// the store.
func (b *Bus) interval() time.Duration {
	if b.notifier != nil && !b.live.Load() {
		return min(b.poll, FallbackPoll)
	}
	return b.poll
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
	b.startListening()
	t := time.NewTimer(b.interval())
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
		t.Reset(b.interval())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-t.C:
		}
	}
}
