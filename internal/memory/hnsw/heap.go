package hnsw

import "slices"

type item struct {
	dist float32
	id   uint32
}

func sortItems(s []item) {
	slices.SortFunc(s, func(a, b item) int {
		switch {
		case a.dist < b.dist:
			return -1
		case a.dist > b.dist:
			return 1
		}
		return int(a.id) - int(b.id)
	})
}

// heap is a binary heap of items; pushMin/popMin and pushMax/popMax must not
// be mixed on one heap.
type heap struct{ items []item }

func (h *heap) pushMin(x item) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.items[p].dist <= h.items[i].dist {
			break
		}
		h.items[p], h.items[i] = h.items[i], h.items[p]
		i = p
	}
}

func (h *heap) popMin() item {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.items[l].dist < h.items[m].dist {
			m = l
		}
		if r < last && h.items[r].dist < h.items[m].dist {
			m = r
		}
		if m == i {
			break
		}
		h.items[m], h.items[i] = h.items[i], h.items[m]
		i = m
	}
	return top
}

func (h *heap) pushMax(x item) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.items[p].dist >= h.items[i].dist {
			break
		}
		h.items[p], h.items[i] = h.items[i], h.items[p]
		i = p
	}
}

func (h *heap) popMax() item {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.items[l].dist > h.items[m].dist {
			m = l
		}
		if r < last && h.items[r].dist > h.items[m].dist {
			m = r
		}
		if m == i {
			break
		}
		h.items[m], h.items[i] = h.items[i], h.items[m]
		i = m
	}
	return top
}

// searcher holds one search's scratch space; searchers are pooled.
type searcher struct {
	marks []uint32
	gen   uint32
	cand  heap
	res   heap
	buf   []uint32
}

func (s *searcher) reset(n int) {
	if len(s.marks) < n {
		s.marks = make([]uint32, n+n/4+pageSize)
		s.gen = 0
	}
	s.gen++
	if s.gen == 0 { // wrapped: clear
		clear(s.marks)
		s.gen = 1
	}
	s.cand.items = s.cand.items[:0]
	s.res.items = s.res.items[:0]
}

// visit marks id and reports whether it was already marked.
func (s *searcher) visit(id uint32) bool {
	if int(id) >= len(s.marks) {
		// A node added after reset: grow, keeping marks.
		grown := make([]uint32, int(id)+pageSize)
		copy(grown, s.marks)
		s.marks = grown
	}
	if s.marks[id] == s.gen {
		return true
	}
	s.marks[id] = s.gen
	return false
}

func (ix *Index) getSearcher() *searcher {
	if s, ok := ix.visited.Get().(*searcher); ok {
		return s
	}
	return &searcher{}
}

func (ix *Index) putSearcher(s *searcher) { ix.visited.Put(s) }
