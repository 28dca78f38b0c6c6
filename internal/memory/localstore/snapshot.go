package localstore

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/quantumlayer/qlp/internal/memory/hnsw"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// A snapshot is "QLPMEM01", the collections with their shards (each shard:
// its tenant, its entries by node id, its HNSW graph), then a CRC-32C of
// everything before it. It is written to a temporary name and renamed only
// once fsynced, so a snapshot under its final name is always complete.

const snapMagic = "QLPMEM01"

// snapshot writes the whole store to a new generation and starts its log.
// Callers hold writeMu.
func (s *Store) snapshot() error {
	start := time.Now()
	s.compact()
	next := s.seq + 1
	final := s.snapPath(next)
	tmp := final + ".tmp"
	if err := s.writeSnapshot(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("localstore: install snapshot: %w", err)
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	// From here the new snapshot holds everything: a crash now reopens it
	// with an empty log.
	w, _, err := openWAL(s.walPath(next), s.cfg.NoSync, func(*record) error {
		return errors.New("new log is not empty")
	})
	if err != nil {
		return fmt.Errorf("localstore: start log %d: %w", next, err)
	}
	old := s.wal
	s.wal, s.seq = w, next
	_ = old.close()
	if err := syncDir(s.cfg.Dir); err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	s.removeStale()
	s.cfg.Logger.Info("memory snapshot written", "generation", next, "took", time.Since(start))
	return nil
}

// compact rebuilds shards in which deleted nodes outnumber a quarter of the
// graph. Callers hold writeMu.
func (s *Store) compact() {
	s.mu.RLock()
	var work []*shard
	for _, c := range s.colls {
		for _, sh := range c.shards {
			work = append(work, sh)
		}
	}
	s.mu.RUnlock()
	for _, sh := range work {
		sh.mu.Lock()
		nodes := sh.index.Nodes()
		if nodes > 64 && nodes-sh.index.Len() > nodes/4 {
			fresh := hnsw.New(sh.index.Dim(), sh.index.Config())
			meta := make([]meta, 0, sh.index.Len())
			byID := make(map[string]uint32, len(sh.byID))
			for n, m := range sh.meta {
				if m.id == "" {
					continue
				}
				id := fresh.Add(sh.index.Vector(uint32(n)))
				meta = append(meta, m)
				byID[m.id] = id
			}
			sh.index, sh.meta, sh.byID = fresh, meta, byID
		}
		sh.mu.Unlock()
	}
}

func (s *Store) writeSnapshot(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("localstore: create snapshot: %w", err)
	}
	defer f.Close()
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	e := &enc{}
	flush := func() error {
		_, err := bw.Write(e.b)
		e.b = e.b[:0]
		return err
	}
	e.b = append(e.b, snapMagic...)
	s.mu.RLock()
	names := make([]string, 0, len(s.colls))
	for n := range s.colls {
		names = append(names, n)
	}
	s.mu.RUnlock()
	e.uvarint(uint64(len(names)))
	for _, name := range names {
		s.mu.RLock()
		c := s.colls[name]
		tenants := make([]string, 0, len(c.shards))
		shards := make([]*shard, 0, len(c.shards))
		for t, sh := range c.shards {
			tenants = append(tenants, t)
			shards = append(shards, sh)
		}
		s.mu.RUnlock()
		e.str(name)
		e.uvarint(uint64(c.dim))
		e.uvarint(uint64(len(shards)))
		for i, sh := range shards {
			sh.mu.RLock()
			e.str(tenants[i])
			e.uvarint(uint64(len(sh.meta)))
			for _, m := range sh.meta {
				e.str(m.id)
				e.uvarint(uint64(m.created.UnixNano()))
				b, err := json.Marshal(m.payload)
				if err != nil {
					sh.mu.RUnlock()
					return fmt.Errorf("localstore: snapshot payload: %w", err)
				}
				if m.id == "" {
					b = nil
				}
				e.bytes(b)
			}
			err := flush()
			if err == nil {
				err = sh.index.Encode(bw)
			}
			sh.mu.RUnlock()
			if err != nil {
				return fmt.Errorf("localstore: write snapshot: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("localstore: write snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("localstore: write snapshot: %w", err)
	}
	if err := binary.Write(f, binary.LittleEndian, crc.Sum32()); err != nil {
		return fmt.Errorf("localstore: write snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("localstore: sync snapshot: %w", err)
	}
	return f.Close()
}

func readSnapshot(path string) (map[string]*collection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < int64(len(snapMagic))+4 {
		return nil, errors.New("snapshot too short")
	}
	// First pass: the checksum.
	crc := crc32.New(castagnoli)
	if _, err := io.CopyN(crc, f, st.Size()-4); err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	var want uint32
	if err := binary.Read(f, binary.LittleEndian, &want); err != nil {
		return nil, fmt.Errorf("read snapshot checksum: %w", err)
	}
	if crc.Sum32() != want {
		return nil, errors.New("snapshot checksum mismatch")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(io.LimitReader(f, st.Size()-4), 1<<20)
	var m [len(snapMagic)]byte
	if _, err := io.ReadFull(br, m[:]); err != nil || string(m[:]) != snapMagic {
		return nil, errors.New("not a memory snapshot (bad magic)")
	}
	r := &snapReader{br: br}
	colls := map[string]*collection{}
	nc := r.uvarint()
	for i := uint64(0); i < nc && r.err == nil; i++ {
		name := r.str()
		c := &collection{dim: int(r.uvarint()), shards: map[string]*shard{}}
		ns := r.uvarint()
		for j := uint64(0); j < ns && r.err == nil; j++ {
			tenant := r.str()
			sh := &shard{byID: map[string]uint32{}}
			nm := r.uvarint()
			for k := uint64(0); k < nm && r.err == nil; k++ {
				mt := meta{id: r.str(), created: time.Unix(0, int64(r.uvarint())).UTC()}
				b := r.bytes()
				if mt.id != "" && r.err == nil {
					mt.payload, r.err = vector.DecodePayload(b)
					sh.byID[mt.id] = uint32(k)
				}
				sh.meta = append(sh.meta, mt)
			}
			if r.err != nil {
				break
			}
			sh.index, r.err = hnsw.Decode(br)
			if r.err == nil && (sh.index.Nodes() != len(sh.meta) || sh.index.Dim() != c.dim) {
				r.err = fmt.Errorf("shard %s/%s: graph of %d nodes for %d entries", name, tenant, sh.index.Nodes(), len(sh.meta))
			}
			c.shards[tenant] = sh
		}
		colls[name] = c
	}
	if r.err != nil {
		return nil, fmt.Errorf("read snapshot: %w", r.err)
	}
	return colls, nil
}

type snapReader struct {
	br  *bufio.Reader
	err error
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, err := binary.ReadUvarint(r.br)
	r.err = err
	return x
}

func (r *snapReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > maxRecord {
		r.err = fmt.Errorf("field of %d bytes", n)
		return nil
	}
	b := make([]byte, n)
	_, r.err = io.ReadFull(r.br, b)
	return b
}

func (r *snapReader) str() string { return string(r.bytes()) }
