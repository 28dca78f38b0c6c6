package validation

import (
	"container/list"
	"sync"
)

// cache keeps check results by key (the check, its tools' versions and
// the project's content hash), least recently used out first.
type cache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	key string
	out outcome
	ms  int64
}

func newCache(max int) *cache {
	return &cache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *cache) get(key string) (outcome, bool) {
	if c == nil || c.max <= 0 {
		return outcome{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return outcome{}, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*cacheEntry).out, true
}

func (c *cache) put(key string, out outcome, ms int64) {
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value = &cacheEntry{key: key, out: out, ms: ms}
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, out: out, ms: ms})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}
