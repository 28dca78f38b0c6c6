package hnsw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const magic = "QLPHNSW1"

// Encode writes the whole graph, vectors included, to w. It must not run
// concurrently with Add; concurrent searches are fine.
func (ix *Index) Encode(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	ix.epMu.RLock()
	entry, top := ix.entry, ix.top
	ix.epMu.RUnlock()
	n := ix.n.Load()
	hdr := []uint64{uint64(ix.dim), uint64(ix.cfg.M), uint64(ix.cfg.EfConstruction), ix.cfg.Seed, uint64(n), uint64(entry + 1), uint64(top)}
	if _, err := bw.WriteString(magic); err != nil {
		return fmt.Errorf("hnsw: encode: %w", err)
	}
	var b [8]byte
	for _, h := range hdr {
		binary.LittleEndian.PutUint64(b[:], h)
		bw.Write(b[:])
	}
	vb := make([]byte, 4*ix.dim)
	for id := uint32(0); id < n; id++ {
		nd := ix.node(id)
		del := byte(0)
		if nd.deleted.Load() {
			del = 1
		}
		bw.WriteByte(byte(nd.level))
		bw.WriteByte(del)
		nd.mu.Lock()
		for l := 0; l <= int(nd.level); l++ {
			binary.LittleEndian.PutUint16(b[:2], uint16(len(nd.links[l])))
			bw.Write(b[:2])
			for _, x := range nd.links[l] {
				binary.LittleEndian.PutUint32(b[:4], x)
				bw.Write(b[:4])
			}
		}
		nd.mu.Unlock()
		for i, x := range ix.vec(id) {
			binary.LittleEndian.PutUint32(vb[4*i:], math.Float32bits(x))
		}
		if _, err := bw.Write(vb); err != nil {
			return fmt.Errorf("hnsw: encode: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("hnsw: encode: %w", err)
	}
	return nil
}

// Decode reads a graph written by Encode. It reads no further than the
// graph's end when r is a *bufio.Reader, so a graph can be embedded in a
// larger stream.
func Decode(r io.Reader) (*Index, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<16)
	}
	var m [len(magic)]byte
	if _, err := io.ReadFull(br, m[:]); err != nil {
		return nil, fmt.Errorf("hnsw: decode header: %w", err)
	}
	if string(m[:]) != magic {
		return nil, errors.New("hnsw: decode: not an HNSW graph (bad magic)")
	}
	var hdr [7]uint64
	var b [8]byte
	for i := range hdr {
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("hnsw: decode header: %w", err)
		}
		hdr[i] = binary.LittleEndian.Uint64(b[:])
	}
	dim, n := int(hdr[0]), uint32(hdr[4])
	if dim <= 0 || dim > 1<<16 {
		return nil, fmt.Errorf("hnsw: decode: implausible dimension %d", dim)
	}
	ix := New(dim, Config{M: int(hdr[1]), EfConstruction: int(hdr[2]), Seed: hdr[3]})
	ix.entry, ix.top = int64(hdr[5])-1, int(hdr[6])
	vb := make([]byte, 4*dim)
	v := make([]float32, dim)
	for id := uint32(0); id < n; id++ {
		var lv [2]byte
		if _, err := io.ReadFull(br, lv[:]); err != nil {
			return nil, fmt.Errorf("hnsw: decode node %d: %w", id, err)
		}
		level := int(lv[0])
		if level > maxLevel {
			return nil, fmt.Errorf("hnsw: decode node %d: level %d out of range", id, level)
		}
		links := make([][]uint32, level+1)
		for l := range links {
			if _, err := io.ReadFull(br, b[:2]); err != nil {
				return nil, fmt.Errorf("hnsw: decode node %d: %w", id, err)
			}
			k := int(binary.LittleEndian.Uint16(b[:2]))
			links[l] = make([]uint32, k, max(k, ix.cfg.M))
			for j := range k {
				if _, err := io.ReadFull(br, b[:4]); err != nil {
					return nil, fmt.Errorf("hnsw: decode node %d: %w", id, err)
				}
				x := binary.LittleEndian.Uint32(b[:4])
				if x >= n {
					return nil, fmt.Errorf("hnsw: decode node %d: link to %d beyond %d nodes", id, x, n)
				}
				links[l][j] = x
			}
		}
		if _, err := io.ReadFull(br, vb); err != nil {
			return nil, fmt.Errorf("hnsw: decode node %d vector: %w", id, err)
		}
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(vb[4*i:]))
		}
		got := ix.alloc(v, level)
		nd := ix.node(got)
		nd.links = links
		if lv[1] == 1 {
			nd.deleted.Store(true)
			ix.live.Add(-1)
		}
	}
	if ix.entry >= int64(n) {
		return nil, fmt.Errorf("hnsw: decode: entry point %d beyond %d nodes", ix.entry, n)
	}
	return ix, nil
}
