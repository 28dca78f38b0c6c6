package redisx

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ProgressPrefix starts the channel of each job's progress wake-ups:
// "qlp:progress:<job id>".
const ProgressPrefix = "qlp:progress:"

// Notifier carries "this job has a new event" between processes over
// Redis pub/sub: Notify publishes on the job's channel, Listen follows
// every job's channel through one pattern subscription (one connection
// per process, however many followers it has). It is the progress bus's
// Notifier; the events themselves stay in the store.
type Notifier struct {
	rdb    *redis.Client
	prefix string
	// health is how long Listen waits for a message before it pings, and
	// then for the pong before it gives the connection up.
	health time.Duration
}

// NewNotifier returns a notifier over rdb on the channels under prefix
// ("" means ProgressPrefix).
func NewNotifier(rdb *redis.Client, prefix string) *Notifier {
	if prefix == "" {
		prefix = ProgressPrefix
	}
	return &Notifier{rdb: rdb, prefix: prefix, health: 5 * time.Second}
}

// Notify publishes a wake-up on jobID's channel.
func (n *Notifier) Notify(ctx context.Context, jobID string) error {
	return n.rdb.Publish(ctx, n.prefix+jobID, "1").Err()
}

// Listen subscribes to every job's channel and calls onWake with the job's
// id of each wake-up until ctx ends. onState(true) follows each
// (re)subscription and onState(false) each loss of it: a restarted Redis,
// a killed connection, or one that stops answering pings. It reconnects
// with a backoff of up to two seconds.
func (n *Notifier) Listen(ctx context.Context, onWake func(jobID string), onState func(live bool)) {
	live := false
	down := func() {
		if live {
			live = false
			onState(false)
		}
	}
	backoff := newBackoff()
	for ctx.Err() == nil {
		ps := n.rdb.PSubscribe(ctx, n.prefix+"*")
		// Closing the subscription is what interrupts a blocked read.
		stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
		n.receive(ctx, ps, onWake, func() {
			live = true
			backoff.reset()
			onState(true)
		}, func() {
			down()
			backoff.wait(ctx)
		})
		if ctx.Err() == nil {
			down() // the connection went silent; a new one follows
		}
		stop()
		_ = ps.Close()
	}
}

// receive reads ps until ctx ends or its connection goes silent; onUp
// follows each subscription, onErr each failed read (go-redis reconnects
// and resubscribes on the next one).
func (n *Notifier) receive(ctx context.Context, ps *redis.PubSub, onWake func(string), onUp, onErr func()) {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, n.health)
		if ctx.Err() != nil {
			return
		}
		var ne net.Error
		switch {
		case err != nil && errors.As(err, &ne) && ne.Timeout():
			if pinged {
				return // no pong: start over on a new connection
			}
			pinged = true
			if ps.Ping(ctx) != nil {
				onErr()
			}
			continue
		case err != nil:
			onErr()
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" {
				onUp()
			}
		case *redis.Message:
			onWake(strings.TrimPrefix(m.Channel, n.prefix))
		}
	}
}

// backoff doubles a wait from 100 ms up to two seconds.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.d = min(2*b.d, 2*time.Second)
}
