package sandbox

import (
	"context"
	"sync"
)

// pool bounds how many runs execute at once, in all and per tenant, with a
// bounded FIFO queue in front. A waiter whose tenant is at its limit lets
// later waiters of other tenants go first.
type pool struct {
	mu        sync.Mutex
	max       int
	perTenant int
	queueMax  int
	running   int
	byTenant  map[string]int
	waiting   []*waiter
	onChange  func(running, queued int)
}

type waiter struct {
	tenant  string
	granted chan struct{}
}

func newPool(max, perTenant, queue int, onChange func(running, queued int)) *pool {
	return &pool{max: max, perTenant: perTenant, queueMax: queue, byTenant: map[string]int{}, onChange: onChange}
}

// acquire waits for a slot. It returns ErrQueueFull at once when the queue
// is full, and ctx's error if ctx ends first.
func (p *pool) acquire(ctx context.Context, tenant string) (func(), error) {
	p.mu.Lock()
	if len(p.waiting) == 0 && p.canRun(tenant) {
		p.take(tenant)
		p.changed()
		p.mu.Unlock()
		return p.releaser(tenant), nil
	}
	if len(p.waiting) >= p.queueMax {
		p.mu.Unlock()
		return nil, ErrQueueFull
	}
	w := &waiter{tenant: tenant, granted: make(chan struct{})}
	p.waiting = append(p.waiting, w)
	p.dispatch()
	p.changed()
	p.mu.Unlock()
	select {
	case <-w.granted:
		return p.releaser(tenant), nil
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		select {
		case <-w.granted: // granted meanwhile: give it back
			p.release(tenant)
		default:
			for i, x := range p.waiting {
				if x == w {
					p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
					break
				}
			}
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

// dispatch grants slots to waiters in order, skipping tenants at their limit.
func (p *pool) dispatch() {
	for i := 0; i < len(p.waiting) && p.running < p.max; {
		w := p.waiting[i]
		if !p.canRun(w.tenant) {
			i++
			continue
		}
		p.take(w.tenant)
		p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
		close(w.granted)
	}
}

func (p *pool) changed() {
	if p.onChange != nil {
		p.onChange(p.running, len(p.waiting))
	}
}

// depth returns the running and queued counts.
func (p *pool) depth() (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running, len(p.waiting)
}
