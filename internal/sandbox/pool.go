package sandbox

import (
	"context"
	"sync"
)

// pool bounds how many runs execute at once, in all and per tenant, and
// shares the slots fairly between tenants. Runs cannot be preempted, so
// fairness is decided when a slot is given:
//
//   - each tenant waits in a FIFO queue of its own;
//   - a free slot goes to the waiting tenant that holds the fewest slots,
//     ties broken round-robin (the tenant served longest ago first, a
//     tenant new to the queue after those already in it): a tenant above
//     its share gets no slot while another one waits;
//   - no tenant holds more than perTenant slots. Left below max (the
//     default is half), that keeps slots free for other tenants while one
//     tenant floods, so that their runs start at once instead of after
//     the flood's runs end;
//   - the queue is bounded; when it is full, a run of a tenant with fewer
//     queued runs than the longest queue takes the place of that queue's
//     newest run, which fails with ErrQueueFull: one tenant cannot fill the
//     queue and have every other tenant refused.
type pool struct {
	mu        sync.Mutex
	max       int
	perTenant int
	queueMax  int
	running   int
	queued    int
	byTenant  map[string]int
	queues    map[string][]*waiter
	served    map[string]uint64 // tenant → when it last got a slot
	clock     uint64
	onChange  func(running, queued int)
}

type waiter struct {
	tenant  string
	granted chan struct{}
	refused bool // pushed out of a full queue
}

func newPool(max, perTenant, queue int, onChange func(running, queued int)) *pool {
	return &pool{max: max, perTenant: perTenant, queueMax: queue, byTenant: map[string]int{},
		queues: map[string][]*waiter{}, served: map[string]uint64{}, onChange: onChange}
}

// acquire waits for a slot. It returns ErrQueueFull at once when the queue
// is full (or later, when a tenant with fewer queued runs takes the
// waiter's place), and ctx's error if ctx ends first.
func (p *pool) acquire(ctx context.Context, tenant string) (func(), error) {
	p.mu.Lock()
	if p.queued == 0 && p.canRun(tenant) {
		p.take(tenant)
		p.changed()
		p.mu.Unlock()
		return p.releaser(tenant), nil
	}
	if p.queued >= p.queueMax && !p.pushOut(tenant) {
		p.mu.Unlock()
		return nil, ErrQueueFull
	}
	if _, ok := p.served[tenant]; !ok {
		// A tenant new to the queue takes its turn after those already
		// in it.
		p.clock++
		p.served[tenant] = p.clock
	}
	w := &waiter{tenant: tenant, granted: make(chan struct{})}
	p.queues[tenant] = append(p.queues[tenant], w)
	p.queued++
	p.dispatch()
	p.changed()
	p.mu.Unlock()
	select {
	case <-w.granted:
		if w.refused {
			return nil, ErrQueueFull
		}
		return p.releaser(tenant), nil
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		select {
		case <-w.granted: // granted (or refused) meanwhile
			if !w.refused {
				p.release(tenant)
			}
		default:
			p.remove(w)
			p.changed()
		}
		return nil, ctx.Err()
	}
}

func (p *pool) canRun(tenant string) bool {
	return p.running < p.max && p.byTenant[tenant] < p.perTenant
}

func (p *pool) take(tenant string) {
	p.running++
	p.byTenant[tenant]++
	p.clock++
	p.served[tenant] = p.clock
}

// pushOut makes room in a full queue for a run of tenant: the newest run
// of the longest queue is refused, if that queue is longer than tenant's
// would be with the new run.
func (p *pool) pushOut(tenant string) bool {
	victim, longest := "", len(p.queues[tenant])+1
	for t, q := range p.queues {
		if len(q) > longest {
			victim, longest = t, len(q)
		}
	}
	if victim == "" {
		return false
	}
	q := p.queues[victim]
	w := q[len(q)-1]
	p.remove(w)
	w.refused = true
	close(w.granted)
	return true
}

// remove takes w out of its tenant's queue.
func (p *pool) remove(w *waiter) {
	q := p.queues[w.tenant]
	for i, x := range q {
		if x == w {
			q = append(q[:i], q[i+1:]...)
			p.queued--
			break
		}
	}
	if len(q) == 0 {
		delete(p.queues, w.tenant)
	} else {
		p.queues[w.tenant] = q
	}
}

func (p *pool) releaser(tenant string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.release(tenant)
		})
	}
}

func (p *pool) release(tenant string) {
	p.running--
	if p.byTenant[tenant]--; p.byTenant[tenant] <= 0 {
		delete(p.byTenant, tenant)
	}
	p.dispatch()
	p.changed()
}

// dispatch gives free slots to waiting tenants: each time to the one
// holding the fewest slots, the one served longest ago among equals.
func (p *pool) dispatch() {
	for p.running < p.max {
		best := ""
		for t := range p.queues {
			if p.byTenant[t] >= p.perTenant {
				continue
			}
			if best == "" || p.byTenant[t] < p.byTenant[best] ||
				p.byTenant[t] == p.byTenant[best] && p.served[t] < p.served[best] {
				best = t
			}
		}
		if best == "" {
			return
		}
		w := p.queues[best][0]
		p.remove(w)
		p.take(best)
		close(w.granted)
	}
	p.forget()
}

// forget drops the round-robin record of tenants that neither run nor
// wait, so that it does not grow with every tenant ever seen. A tenant
// that comes back is new again.
func (p *pool) forget() {
	if len(p.served) <= 4*(p.max+len(p.queues)) {
		return
	}
	for t := range p.served {
		if p.byTenant[t] == 0 && len(p.queues[t]) == 0 {
			delete(p.served, t)
		}
	}
}

func (p *pool) changed() {
	if p.onChange != nil {
		p.onChange(p.running, p.queued)
	}
}

// depth returns the running and queued counts.
func (p *pool) depth() (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running, p.queued
}
