package validation

import (
	"container/list"
	"sync"
)

// cache keeps check results by key (the tenant, the check, its tools'
// versions, its options and the digest of the files it reads: see
// inputs.go), least recently used out first.
type cache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	key  string
	out  outcome
	ms   int64
	from string // the label of the validation that ran it
}

func newCache(max int) *cache {
	return &cache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *cache) get(key string) (cacheEntry, bool) {
	if c == nil || c.max <= 0 {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return cacheEntry{}, false
	}
	c.ll.MoveToFront(e)
	return *e.Value.(*cacheEntry), true
}

func (c *cache) put(key string, out outcome, ms int64, from string) {
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value = &cacheEntry{key: key, out: out, ms: ms, from: from}
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, out: out, ms: ms, from: from})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}
