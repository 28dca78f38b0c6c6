package sandbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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

// grantOrder queues one run per tenant named in order (each waits behind
// a run of "holder" that has the only slot), then ends the holder's run
// and each granted run in turn, and returns the tenants in the order their
// runs got the slot.
func grantOrder(t *testing.T, p *pool, order ...string) []string {
	t.Helper()
	ctx := t.Context()
	hold, err := p.acquire(ctx, "holder")
	if err != nil {
		t.Fatal(err)
	}
	granted := make(chan struct {
		tenant  string
		release func()
	}, len(order))
	for i, tenant := range order {
		go func() {
			r, err := p.acquire(ctx, tenant)
			if err != nil {
				t.Errorf("%s: %v", tenant, err)
				return
			}
			granted <- struct {
				tenant  string
				release func()
			}{tenant, r}
		}()
		waitQueued(t, p, i+1) // queue in the given order
	}
	hold()
	var got []string
	for range order {
		select {
		case g := <-granted:
			got = append(got, g.tenant)
			g.release()
		case <-time.After(10 * time.Second):
			t.Fatalf("granted %v, then nothing", got)
		}
	}
	return got
}

func TestPoolServesTenantsRoundRobin(t *testing.T) {
	// One slot; a flooding tenant queued first is not served first every
	// time: tenants take turns, in the order they came.
	p := newPool(1, 1, 16, nil)
	got := grantOrder(t, p, "a", "a", "a", "b", "b", "c")
	want := []string{"a", "b", "c", "a", "b", "a"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("slots went to %v, want %v", got, want)
	}
}

func TestPoolGivesFreedSlotsToTheTenantHoldingFewest(t *testing.T) {
	// Tenant a holds all 4 slots (no per-tenant limit) and queues more; b
	// queues 2. The next two slots that free go to b, until both hold 2.
	p := newPool(4, 4, 16, nil)
	ctx := t.Context()
	var relA []func()
	for range 4 {
		r, err := p.acquire(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		relA = append(relA, r)
	}
	type grant struct {
		tenant string
		n      int
	}
	granted := make(chan grant, 8)
	queue := func(tenant string, n int) {
		go func() {
			if _, err := p.acquire(ctx, tenant); err == nil {
				granted <- grant{tenant, n}
			}
		}()
	}
	queue("a", 5)
	waitQueued(t, p, 1)
	queue("a", 6)
	waitQueued(t, p, 2)
	queue("b", 1)
	waitQueued(t, p, 3)
	queue("b", 2)
	waitQueued(t, p, 4)
	for i := range 2 {
		relA[i]()
		select {
		case g := <-granted:
			if g.tenant != "b" {
				t.Fatalf("slot %d went to %s's run %d while b held %d of 4 and a %d", i+1, g.tenant, g.n, i, 4-i-1)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a freed slot was not given")
		}
	}
	relA[2]()
	select {
	case g := <-granted:
		if g.tenant != "a" {
			t.Fatalf("with 2 slots each, the next went to %s, want a (b has none queued)", g.tenant)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a freed slot was not given")
	}
}

func TestPoolFullQueueMakesRoomForAnotherTenant(t *testing.T) {
	p := newPool(1, 1, 2, nil)
	ctx := t.Context()
	rel, err := p.acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer rel()
	results := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := p.acquire(ctx, "a")
			results <- err
		}()
		waitQueued(t, p, i+1)
	}
	// The queue is full of a's runs: b's run takes the place of a's newest.
	bCtx, cancelB := context.WithCancel(ctx)
	defer cancelB()
	bDone := make(chan error, 1)
	go func() {
		_, err := p.acquire(bCtx, "b")
		bDone <- err
	}()
	select {
	case err := <-results:
		if !errors.Is(err, ErrQueueFull) {
			t.Fatalf("a's newest queued run: %v, want ErrQueueFull", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b's run was refused or a's newest run was not pushed out")
	}
	waitQueued(t, p, 2)
	// Now a and b have one queued run each: c gets no place.
	if _, err := p.acquire(ctx, "c"); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("c with queues of 1 and 1: %v, want ErrQueueFull", err)
	}
	select {
	case err := <-bDone:
		t.Fatalf("b's run ended while waiting: %v", err)
	default:
	}
}

func TestSlotsDefaults(t *testing.T) {
	tests := []struct {
		max, per         int
		wantMax, wantPer int
	}{
		{0, 0, 2 * runtime.NumCPU(), runtime.NumCPU()},
		{4, 0, 4, 2},
		{3, 0, 3, 2},
		{1, 0, 1, 1},
		{8, 3, 8, 3},
		{4, 8, 4, 4}, // per tenant: at most all slots
	}
	for _, tc := range tests {
		c := Config{MaxConcurrent: tc.max, PerTenant: tc.per}
		if max, per := c.Slots(); max != tc.wantMax || per != tc.wantPer {
			t.Errorf("Slots(%d, %d) = %d, %d; want %d, %d", tc.max, tc.per, max, per, tc.wantMax, tc.wantPer)
		}
	}
}
