package orchestrator

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/singleflight"

	"github.com/quantumlayer/qlp/internal/domain"
)

// Polling clients ask the same questions many times a second: what a
// finished job's status is, which capsule an id names, what its archive's
// bytes are. The answers below are kept in memory so that those questions
// cost no database query and no blob store round trip. Each cache is per
// replica and bounded; what can still change is kept for readTTL only.
const (
	// readTTL bounds how stale a cached answer that can change may be: a
	// capsule's latest version, a finished job's result (a delivery's CI
	// repair can add costs to it after it finished).
	readTTL = time.Second
	// readEntries bounds each TTL cache's entries.
	readEntries = 4096
	// archiveCacheBytes bounds the archive bytes kept; an archive larger
	// than archiveCacheMaxItem is streamed from the blob store each time.
	archiveCacheBytes   = 64 << 20
	archiveCacheMaxItem = 4 << 20
)

// jobStatus is what handleStatus answers: a job and, once it has ended,
// its result.
type jobStatus struct {
	job    domain.Job
	result *JobResult
	// body is the answer encoded, for a finished job: polls of it cost no
	// encoding either.
	body []byte
}

// readCaches are the service's read-path caches.
type readCaches struct {
	// status: tenant + "\x00" + the id as asked -> a finished job's answer.
	status *expirable.LRU[string, jobStatus]
	// capsules: tenant + "\x00" + capsule id -> the capsule's record, as a
	// download reads it (its latest version readTTL stale at most).
	capsules *expirable.LRU[string, domain.Capsule]
	// archives: blob key -> the archive's bytes. Archives are immutable
	// (their key names the capsule version and format), so they need no
	// TTL, only a bound.
	archives *byteLRU
	// large: blob keys of archives too large to keep, streamed each time
	// without asking the cache's way first. Bounded by the archives
	// stored; a key is a few dozen bytes.
	large *sync.Map
	// flight makes the requests that miss a cache at the same moment (every
	// poll in flight when an answer expires) share one lookup instead of
	// queueing for the database together.
	flight singleflight.Group
}

func newReadCaches() readCaches {
	return readCaches{
		status:   expirable.NewLRU[string, jobStatus](readEntries, nil, readTTL),
		capsules: expirable.NewLRU[string, domain.Capsule](readEntries, nil, readTTL),
		archives: newByteLRU(archiveCacheBytes, archiveCacheMaxItem),
		large:    &sync.Map{},
	}
}

func tenantKey(tenantID, id string) string { return tenantID + "\x00" + id }

// flightTimeout bounds a lookup shared by several requests: none of their
// cancellations may end it for the others, so it carries a deadline of its
// own instead (a store that hangs fails them all after it).
const flightTimeout = 30 * time.Second

// flightContext is ctx without its cancellation, with flightTimeout.
func flightContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), flightTimeout)
}

// cachedArchive is one archive's bytes and the digest they were checked
// against.
type cachedArchive struct {
	data   []byte
	sha256 string
}

// byteLRU is a least-recently-used cache of archives bounded by their total
// size.
type byteLRU struct {
	max, maxItem int
	mu           sync.Mutex
	size         int
	order        *list.List // of *byteEntry, most recent first
	items        map[string]*list.Element
}

type byteEntry struct {
	key string
	val cachedArchive
}

func newByteLRU(max, maxItem int) *byteLRU {
	return &byteLRU{max: max, maxItem: maxItem, order: list.New(), items: map[string]*list.Element{}}
}

func (c *byteLRU) get(key string) (cachedArchive, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return cachedArchive{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*byteEntry).val, true
}

// add keeps val under key unless it is larger than an item may be, evicting
// the least recently used archives until the total fits.
func (c *byteLRU) add(key string, val cachedArchive) {
	n := len(val.data)
	if n > c.maxItem || n > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.size -= len(e.Value.(*byteEntry).val.data)
		c.order.Remove(e)
		delete(c.items, key)
	}
	for c.size+n > c.max {
		last := c.order.Back()
		old := last.Value.(*byteEntry)
		c.order.Remove(last)
		delete(c.items, old.key)
		c.size -= len(old.val.data)
	}
	c.items[key] = c.order.PushFront(&byteEntry{key: key, val: val})
	c.size += n
}
