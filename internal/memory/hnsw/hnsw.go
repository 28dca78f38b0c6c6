// Package hnsw is an in-memory Hierarchical Navigable Small World graph
// (Malkov & Yashunin, 2016) over unit-length float32 vectors, scored by
// cosine similarity (the dot product of unit vectors).
//
// It is written for QLP's embedded memory store rather than taken from a
// library because the store needs three things together: concurrent inserts
// and searches with per-node locks, a search that takes a filter predicate
// inside the graph walk, and a compact binary encoding of the whole graph
// that the store pairs with its write-ahead log. Deletions are tombstones:
// a deleted node still routes searches but is never returned.
//
// An Index is safe for concurrent use, except that [Index.Encode] must not
// run concurrently with [Index.Add].
package hnsw

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Config tunes the graph. The zero value of a field means its default.
type Config struct {
	// M is the number of links per node on the upper layers (twice that on
	// layer 0). Default 16.
	M int
	// EfConstruction is the candidate list size while inserting. Default 200.
	EfConstruction int
	// Seed seeds the level generator (for reproducible graphs). Default 1.
	Seed uint64
}

func (c Config) withDefaults() Config {
	if c.M <= 0 {
		c.M = 16
	}
	if c.M < 2 {
		c.M = 2
	}
	if c.EfConstruction <= 0 {
		c.EfConstruction = 200
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

const (
	pageShift = 10
	pageSize  = 1 << pageShift
	maxLevel  = 16
)

type node struct {
	mu      sync.Mutex
	level   int32
	deleted atomic.Bool
	links   [][]uint32 // links[l] for l in 0..level
}

type page struct {
	vecs  []float32 // pageSize*dim
	nodes [pageSize]node
}

// Index is an HNSW graph. Node ids are assigned densely from 0 by [Index.Add].
type Index struct {
	dim  int
	cfg  Config
	m0   int
	mult float64

	growMu sync.Mutex
	pages  atomic.Pointer[[]*page]
	n      atomic.Uint32 // nodes allocated
	live   atomic.Int64  // nodes not deleted

	epMu  sync.RWMutex
	entry int64 // -1 when empty
	top   int   // level of the entry point

	rngMu sync.Mutex
	rng   *rand.Rand

	visited sync.Pool
}

// New returns an empty index for vectors of dim dimensions.
func New(dim int, cfg Config) *Index {
	cfg = cfg.withDefaults()
	ix := &Index{
		dim:   dim,
		cfg:   cfg,
		m0:    2 * cfg.M,
		mult:  1 / math.Log(float64(cfg.M)),
		entry: -1,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	empty := []*page{}
	ix.pages.Store(&empty)
	return ix
}

// Dim is the vectors' dimension.
func (ix *Index) Dim() int { return ix.dim }

// Config returns the index's configuration, defaults filled in.
func (ix *Index) Config() Config { return ix.cfg }

// Len is the number of nodes that are not deleted.
func (ix *Index) Len() int { return int(ix.live.Load()) }

// Nodes is the number of nodes ever added, deleted ones included.
func (ix *Index) Nodes() int { return int(ix.n.Load()) }

func (ix *Index) node(id uint32) *node {
	pages := *ix.pages.Load()
	return &pages[id>>pageShift].nodes[id&(pageSize-1)]
}

// vec returns the stored vector of id (not a copy).
func (ix *Index) vec(id uint32) []float32 {
	pages := *ix.pages.Load()
	off := int(id&(pageSize-1)) * ix.dim
	return pages[id>>pageShift].vecs[off : off+ix.dim : off+ix.dim]
}

// Vector returns a copy of the vector of node id.
func (ix *Index) Vector(id uint32) []float32 {
	return append([]float32(nil), ix.vec(id)...)
}

// Deleted reports whether node id is deleted.
func (ix *Index) Deleted(id uint32) bool { return ix.node(id).deleted.Load() }

// Delete marks node id deleted; it is never returned again.
func (ix *Index) Delete(id uint32) {
	if id < ix.n.Load() && !ix.node(id).deleted.Swap(true) {
		ix.live.Add(-1)
	}
}

// alloc reserves a node id and stores v as its vector.
func (ix *Index) alloc(v []float32, level int) uint32 {
	ix.growMu.Lock()
	defer ix.growMu.Unlock()
	id := ix.n.Load()
	pages := *ix.pages.Load()
	if int(id>>pageShift) >= len(pages) {
		grown := make([]*page, len(pages)+1)
		copy(grown, pages)
		grown[len(pages)] = &page{vecs: make([]float32, pageSize*ix.dim)}
		ix.pages.Store(&grown)
		pages = grown
	}
	p := pages[id>>pageShift]
	off := int(id&(pageSize-1)) * ix.dim
	copy(p.vecs[off:off+ix.dim], v)
	nd := &p.nodes[id&(pageSize-1)]
	nd.level = int32(level)
	nd.links = make([][]uint32, level+1)
	for l := range nd.links {
		c := ix.cfg.M
		if l == 0 {
			c = ix.m0
		}
		nd.links[l] = make([]uint32, 0, c)
	}
	ix.n.Store(id + 1)
	ix.live.Add(1)
	return id
}

func (ix *Index) randomLevel() int {
	ix.rngMu.Lock()
	u := ix.rng.Float64()
	ix.rngMu.Unlock()
	l := int(-math.Log(1-u) * ix.mult)
	if l > maxLevel {
		l = maxLevel
	}
	return l
}

// Add inserts v, which must be unit length and of the index's dimension,
// and returns its node id.
func (ix *Index) Add(v []float32) uint32 {
	if len(v) != ix.dim {
		panic("hnsw: vector of the wrong dimension")
	}
	level := ix.randomLevel()
	id := ix.alloc(v, level)

	ix.epMu.RLock()
	entry, top := ix.entry, ix.top
	ix.epMu.RUnlock()
	if level > top || entry < 0 {
		// This node may become the entry point: hold the lock for the whole
		// insertion, as hnswlib does; such nodes are rare (1 in M^level).
		ix.epMu.Lock()
		defer ix.epMu.Unlock()
		entry, top = ix.entry, ix.top
		if entry < 0 {
			ix.entry, ix.top = int64(id), level
			return id
		}
	}
	q := ix.vec(id)
	ep := uint32(entry)
	epDist := ix.dist(q, ep)
	for l := top; l > level; l-- {
		ep, epDist = ix.greedy(q, ep, epDist, l)
	}
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	eps := []item{{epDist, ep}}
	for l := min(level, top); l >= 0; l-- {
		found := ix.searchLayer(s, q, eps, ix.cfg.EfConstruction, l, nil)
		mmax := ix.cfg.M
		if l == 0 {
			mmax = ix.m0
		}
		nbrs := ix.selectNeighbors(found, ix.cfg.M)
		nd := ix.node(id)
		nd.mu.Lock()
		for _, it := range nbrs {
			nd.links[l] = append(nd.links[l], it.id)
		}
		nd.mu.Unlock()
		for _, it := range nbrs {
			ix.link(it.id, id, it.dist, l, mmax)
		}
		eps = found
	}
	if level > top {
		ix.entry, ix.top = int64(id), level
	}
	return id
}

// link adds a link from src to dst on layer l, pruning src's list with the
// neighbour heuristic when it is full.
func (ix *Index) link(src, dst uint32, d float32, l, mmax int) {
	nd := ix.node(src)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if int(nd.level) < l {
		return
	}
	links := nd.links[l]
	if len(links) < mmax {
		nd.links[l] = append(links, dst)
		return
	}
	sv := ix.vec(src)
	cands := make([]item, 0, len(links)+1)
	cands = append(cands, item{d, dst})
	for _, o := range links {
		cands = append(cands, item{1 - dot(sv, ix.vec(o)), o})
	}
	sortItems(cands)
	kept := ix.selectNeighbors(cands, mmax)
	links = links[:0]
	for _, it := range kept {
		links = append(links, it.id)
	}
	nd.links[l] = links
}

// selectNeighbors is the heuristic of the paper's Algorithm 4 (without
// keepPrunedConnections): walk candidates from the nearest and keep one only
// if it is closer to the base than to every kept one. cands must be sorted.
func (ix *Index) selectNeighbors(cands []item, m int) []item {
	if len(cands) <= m {
		return cands
	}
	out := make([]item, 0, m)
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		cv := ix.vec(c.id)
		good := true
		for _, r := range out {
			if 1-dot(cv, ix.vec(r.id)) < c.dist {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

func (ix *Index) dist(q []float32, id uint32) float32 { return 1 - dot(q, ix.vec(id)) }

// neighbors copies node id's links on layer l into buf.
func (ix *Index) neighbors(id uint32, l int, buf []uint32) []uint32 {
	nd := ix.node(id)
	nd.mu.Lock()
	if int(nd.level) >= l {
		buf = append(buf[:0], nd.links[l]...)
	} else {
		buf = buf[:0]
	}
	nd.mu.Unlock()
	return buf
}

// greedy walks layer l from ep to the nearest node it can reach.
func (ix *Index) greedy(q []float32, ep uint32, epDist float32, l int) (uint32, float32) {
	var buf []uint32
	for changed := true; changed; {
		changed = false
		buf = ix.neighbors(ep, l, buf)
		for _, n := range buf {
			if d := ix.dist(q, n); d < epDist {
				ep, epDist, changed = n, d, true
			}
		}
	}
	return ep, epDist
}

// Result is one search result.
type Result struct {
	ID    uint32
	Score float32 // cosine similarity
}

// Search returns up to k nodes nearest to q (unit length), best first,
// exploring ef candidates (ef < k means ef = k). When accept is not nil only
// nodes it accepts are returned; the walk still passes through the others.
func (ix *Index) Search(q []float32, k, ef int, accept func(uint32) bool) []Result {
	if k <= 0 {
		return nil
	}
	ef = max(ef, k)
	ix.epMu.RLock()
	entry, top := ix.entry, ix.top
	ix.epMu.RUnlock()
	if entry < 0 {
		return nil
	}
	ep := uint32(entry)
	epDist := ix.dist(q, ep)
	for l := top; l > 0; l-- {
		ep, epDist = ix.greedy(q, ep, epDist, l)
	}
	s := ix.getSearcher()
	defer ix.putSearcher(s)
	keep := func(id uint32) bool {
		return !ix.node(id).deleted.Load() && (accept == nil || accept(id))
	}
	found := ix.searchLayer(s, q, []item{{epDist, ep}}, ef, 0, keep)
	if len(found) > k {
		found = found[:k]
	}
	out := make([]Result, len(found))
	for i, it := range found {
		out[i] = Result{ID: it.id, Score: 1 - it.dist}
	}
	return out
}

// searchLayer is the paper's Algorithm 2 with an optional result predicate.
// It returns the results sorted nearest first.
func (ix *Index) searchLayer(s *searcher, q []float32, eps []item, ef, l int, keep func(uint32) bool) []item {
	s.reset(int(ix.n.Load()))
	cand := &s.cand
	res := &s.res
	for _, e := range eps {
		s.visit(e.id)
		cand.pushMin(e)
		if keep == nil || keep(e.id) {
			res.pushMax(e)
		}
	}
	for len(res.items) > ef {
		res.popMax()
	}
	for len(cand.items) > 0 {
		c := cand.popMin()
		if len(res.items) >= ef && c.dist > res.items[0].dist {
			break
		}
		s.buf = ix.neighbors(c.id, l, s.buf)
		for _, n := range s.buf {
			if s.visit(n) {
				continue
			}
			d := ix.dist(q, n)
			if len(res.items) < ef || d < res.items[0].dist {
				cand.pushMin(item{d, n})
				if keep == nil || keep(n) {
					res.pushMax(item{d, n})
					if len(res.items) > ef {
						res.popMax()
					}
				}
			}
		}
	}
	out := make([]item, len(res.items))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = res.popMax()
	}
	return out
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
		s4 += a[i+4] * b[i+4]
		s5 += a[i+5] * b[i+5]
		s6 += a[i+6] * b[i+6]
		s7 += a[i+7] * b[i+7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3) + (s4 + s5) + (s6 + s7)
}
