package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPoolLimits(t *testing.T) {
	p := newPool(2, 1, 2, nil)
	ctx := t.Context()
	relA, err := p.acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Tenant a is at its limit: its second run waits, b's runs at once.
	gotA2 := make(chan func(), 1)
	go func() {
		r, err := p.acquire(ctx, "a")
		if err == nil {
			gotA2 <- r
		}
	}()
	waitQueued(t, p, 1)
	relB, err := p.acquire(ctx, "b")
	if err != nil {
		t.Fatalf("b should run while a waits: %v", err)
	}
	select {
	case <-gotA2:
		t.Fatal("a's second run started past the per-tenant limit")
	default:
	}
	// One waiter queued (a); one more fits; the next is refused.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.acquire(cctx, "c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("c should wait then time out, got %v", err)
	}
	go func() { _, _ = p.acquire(ctx, "d") }()
	waitQueued(t, p, 2)
	if _, err := p.acquire(ctx, "e"); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("queue of 2 is full, got %v", err)
	}
	relA()
	select {
	case r := <-gotA2:
		r()
	case <-time.After(10 * time.Second):
		t.Fatal("a's second run did not start after the first ended")
	}
	relB()
}

// waitQueued waits until n runs wait in p's queue: a goroutine that is to
// queue may not have run yet on a loaded machine.
func waitQueued(t *testing.T, p *pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, queued := p.depth(); queued == n {
			return
		}
		if time.Now().After(deadline) {
			_, queued := p.depth()
			t.Fatalf("%d runs queued, want %d", queued, n)
		}
	}
}
