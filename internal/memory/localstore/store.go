// Package localstore is QLP's embedded vector store: one HNSW graph per
// (collection, tenant) held in memory, made durable by a write-ahead log
// and periodic snapshots under a data directory.
//
// # Durability
//
// Every write is appended to the log and fsynced before it is applied and
// acknowledged, so a process killed at any moment (kill -9 included) loses
// at most the write that had not yet been acknowledged. When the log grows
// past Config.SnapshotBytes the whole store is written to a new snapshot
// (temporary file, fsync, rename, fsync of the directory) and a new, empty
// log is started; opening loads the newest snapshot and replays its log,
// dropping a torn last record. A log damaged before its last record is
// refused (ErrCorruptLog) rather than cut short, since that would drop
// acknowledged writes; Recover salvages every intact record of it. A lock
// file keeps a second process out.
//
// # Search
//
// Each tenant has its own graph, so a search can never reach another
// tenant's points. Small shards (below Config.ExactBelow points) are searched
// exactly; larger ones through the graph, falling back to an exact scan when
// a payload filter leaves fewer than the requested number of hits.
package localstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quantumlayer/qlp/internal/memory/hnsw"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// Config tunes the store. Zero values mean the defaults.
type Config struct {
	// Dir holds the lock file, the snapshot and the log. Required.
	Dir string
	// M and EfConstruction shape the graphs (see package hnsw).
	M              int
	EfConstruction int
	// EfSearch is the candidate list size of a search. Default 64.
	EfSearch int
	// ExactBelow: shards with fewer points are searched exactly. Default 2000.
	ExactBelow int
	// SnapshotBytes is the log size that triggers a snapshot. Default 64 MiB.
	SnapshotBytes int64
	// NoSync skips fsync (tests and benchmarks only: not crash-safe).
	NoSync bool
	// Logger receives recovery and snapshot messages.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.EfSearch <= 0 {
		c.EfSearch = 64
	}
	if c.ExactBelow <= 0 {
		c.ExactBelow = 2000
	}
	if c.SnapshotBytes <= 0 {
		c.SnapshotBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

type meta struct {
	id      string // "" once deleted
	created time.Time
	payload map[string]any
}

type shard struct {
	mu    sync.RWMutex
	index *hnsw.Index
	byID  map[string]uint32
	meta  []meta // by node id
}

type collection struct {
	dim    int
	shards map[string]*shard
}

// Store is the embedded store. It is safe for concurrent use.
type Store struct {
	cfg Config

	writeMu sync.Mutex // serialises writers: log order == apply order
	mu      sync.RWMutex
	colls   map[string]*collection

	seq  uint64 // generation of the current snapshot and log
	wal  *wal
	lock *os.File
}

var _ vector.Store = (*Store)(nil)

// Open opens or creates the store in cfg.Dir, recovering from a crash if
// needed. A log damaged before its last record makes it fail with an error
// wrapping ErrCorruptLog: see Recover.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s, err := lockStore(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.recover(ctx); err != nil {
		s.lock.Close()
		return nil, err
	}
	return s, nil
}

// lockStore takes the data directory for this process.
func lockStore(cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("localstore: no data directory configured")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("localstore: create data dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(cfg.Dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localstore: open lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("localstore: data dir %s is in use by another process (%w); stop it or use another directory", cfg.Dir, err)
	}
	return &Store{cfg: cfg, colls: map[string]*collection{}, lock: lock}, nil
}

func (s *Store) walPath(seq uint64) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("wal-%016d.log", seq))
}

func (s *Store) snapPath(seq uint64) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("snapshot-%016d.qlpmem", seq))
}

// recover loads the newest readable snapshot, replays its log and removes
// files of older generations.
func (s *Store) recover(ctx context.Context) error {
	start := time.Now()
	if err := s.loadSnapshot(); err != nil {
		return err
	}
	w, dropped, err := openWAL(s.walPath(s.seq), s.cfg.NoSync, s.apply)
	if err != nil {
		return fmt.Errorf("localstore: recover %s: %w", s.cfg.Dir, err)
	}
	s.wal = w
	if dropped > 0 {
		s.cfg.Logger.Warn("memory log had a torn last write (never acknowledged); dropped it", "bytes", dropped)
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	s.removeStale()
	s.cfg.Logger.Info("memory store opened", "dir", s.cfg.Dir, "generation", s.seq, "points", s.points(), "took", time.Since(start))
	return nil
}

// loadSnapshot loads the newest readable snapshot, if there is one.
func (s *Store) loadSnapshot() error {
	snaps, _ := filepath.Glob(filepath.Join(s.cfg.Dir, "snapshot-*.qlpmem"))
	slices.Sort(snaps)
	slices.Reverse(snaps)
	for _, p := range snaps {
		var seq uint64
		if _, err := fmt.Sscanf(filepath.Base(p), "snapshot-%016d.qlpmem", &seq); err != nil {
			continue
		}
		colls, err := readSnapshot(p)
		if err != nil {
			s.cfg.Logger.Error("memory snapshot unreadable; trying an older one", "path", p, "error", err)
			continue
		}
		s.colls, s.seq = colls, seq
		return nil
	}
	if len(snaps) > 0 {
		return fmt.Errorf("localstore: no readable snapshot in %s (%d found); restore the directory from a backup", s.cfg.Dir, len(snaps))
	}
	return nil
}

// RecoveryReport says what Recover did.
type RecoveryReport struct {
	Dir string `json:"dir"`
	// Log is the log that was read; Backup the copy of it kept beside it
	// when it was damaged ("" when it was not).
	Log    string `json:"log"`
	Backup string `json:"backup,omitempty"`
	// Records is how many intact records were replayed; Dropped the
	// damaged byte ranges and the records that could not be applied.
	Records int            `json:"records"`
	Dropped []DroppedRange `json:"dropped"`
	// Points is how many points the store holds after recovery, in
	// Generation (a new snapshot when anything was dropped).
	Points     int    `json:"points"`
	Generation uint64 `json:"generation"`
}

// Recover repairs a store whose log is damaged (Open fails with
// ErrCorruptLog). It loads the snapshot, replays every intact record of
// the log, skipping damaged bytes and records that no longer apply, keeps
// a copy of the damaged log beside it (its name ends in ".damaged-" and
// the time) and writes a new snapshot of what was recovered, so that Open
// works again. Only the damaged records are lost, and the report lists
// them. An intact store is left as it is. The store must not be open in
// any process.
func Recover(ctx context.Context, cfg Config) (RecoveryReport, error) {
	s, err := lockStore(cfg)
	if err != nil {
		return RecoveryReport{}, err
	}
	defer s.lock.Close()
	if err := s.loadSnapshot(); err != nil {
		return RecoveryReport{}, err
	}
	rep := RecoveryReport{Dir: s.cfg.Dir, Log: s.walPath(s.seq), Dropped: []DroppedRange{}}
	kept, dropped, err := salvageLog(rep.Log, s.apply)
	if err != nil {
		return rep, fmt.Errorf("localstore: recover %s: %w", s.cfg.Dir, err)
	}
	rep.Records, rep.Generation = kept, s.seq
	if len(dropped) == 0 {
		rep.Points = s.points()
		return rep, nil
	}
	rep.Dropped = dropped
	rep.Backup = fmt.Sprintf("%s.damaged-%s", rep.Log, time.Now().UTC().Format("20060102T150405Z"))
	if err := copyFile(rep.Log, rep.Backup); err != nil {
		return rep, fmt.Errorf("localstore: keep a copy of the damaged log: %w", err)
	}
	// The snapshot takes over from the damaged log; it needs one to
	// rotate away from, opened as it stands (it is not replayed again).
	f, err := os.OpenFile(rep.Log, os.O_RDWR, 0o600)
	if err != nil {
		return rep, fmt.Errorf("localstore: %w", err)
	}
	s.wal = &wal{f: f, noSync: s.cfg.NoSync, broken: errors.New("damaged log being replaced")}
	if err := s.snapshot(); err != nil {
		_ = s.wal.close()
		return rep, fmt.Errorf("localstore: write the recovered snapshot: %w", err)
	}
	rep.Points, rep.Generation = s.points(), s.seq
	if err := s.wal.close(); err != nil {
		return rep, fmt.Errorf("localstore: %w", err)
	}
	s.cfg.Logger.Warn("memory log recovered", "dir", s.cfg.Dir, "records", kept, "dropped", len(dropped), "backup", rep.Backup)
	return rep, nil
}

// copyFile copies src to a new file dst and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// removeStale deletes snapshots and logs of other generations and leftovers.
func (s *Store) removeStale() {
	entries, _ := os.ReadDir(s.cfg.Dir)
	keep := map[string]bool{"LOCK": true, filepath.Base(s.walPath(s.seq)): true, filepath.Base(s.snapPath(s.seq)): true}
	for _, e := range entries {
		// Copies of damaged logs are kept for the operator.
		if !keep[e.Name()] && !strings.Contains(e.Name(), ".damaged-") {
			_ = os.Remove(filepath.Join(s.cfg.Dir, e.Name()))
		}
	}
}

func (s *Store) points() int {
	n := 0
	for _, c := range s.colls {
		for _, sh := range c.shards {
			n += sh.index.Len()
		}
	}
	return n
}

// Backend implements vector.Store.
func (s *Store) Backend() string { return "embedded" }

// Ready implements vector.Store: the store is ready while it is open.
func (s *Store) Ready(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.wal == nil {
		return errors.New("localstore: closed")
	}
	return nil
}

// Close flushes nothing (every write is already durable) and releases the
// directory.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.wal == nil {
		return nil
	}
	err := s.wal.close()
	s.wal = nil
	s.lock.Close()
	if err != nil {
		return fmt.Errorf("localstore: close: %w", err)
	}
	return nil
}

// write logs rec durably, then applies it; it snapshots when the log is big.
func (s *Store) write(rec *record) error {
	if s.wal == nil {
		return errors.New("localstore: store is closed")
	}
	if err := s.wal.append(rec.encode()); err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	if err := s.apply(rec); err != nil {
		// The record is valid (checked before logging), so this is a bug.
		return fmt.Errorf("localstore: apply logged write: %w", err)
	}
	if s.wal.size >= s.cfg.SnapshotBytes {
		if err := s.snapshot(); err != nil {
			// The write itself is durable in the log; report, go on logging.
			s.cfg.Logger.Error("memory snapshot failed; the log keeps growing", "error", err)
		}
	}
	return nil
}

// apply changes the in-memory state; it is used live and for replay.
func (s *Store) apply(rec *record) error {
	switch rec.kind {
	case recEnsure:
		s.mu.Lock()
		defer s.mu.Unlock()
		if c, ok := s.colls[rec.collection]; ok {
			if c.dim != rec.dim {
				return fmt.Errorf("%w: collection %s has %d dimensions, not %d", vector.ErrDimension, rec.collection, c.dim, rec.dim)
			}
			return nil
		}
		s.colls[rec.collection] = &collection{dim: rec.dim, shards: map[string]*shard{}}
	case recDrop:
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.colls, rec.collection)
	case recUpsert:
		sh, err := s.shardFor(rec.collection, rec.tenant, true)
		if err != nil {
			return err
		}
		sh.mu.Lock()
		defer sh.mu.Unlock()
		for _, p := range rec.points {
			payload, err := vector.DecodePayload(p.payload)
			if err != nil {
				return err
			}
			if old, ok := sh.byID[p.id]; ok {
				sh.index.Delete(old)
				sh.meta[old] = meta{}
			}
			id := sh.index.Add(p.vec)
			if int(id) != len(sh.meta) {
				return fmt.Errorf("node id %d out of step with %d entries", id, len(sh.meta))
			}
			sh.meta = append(sh.meta, meta{id: p.id, created: p.created, payload: payload})
			sh.byID[p.id] = id
		}
	case recDelete:
		sh, err := s.shardFor(rec.collection, rec.tenant, false)
		if err != nil || sh == nil {
			return err
		}
		sh.mu.Lock()
		defer sh.mu.Unlock()
		for _, id := range rec.ids {
			if old, ok := sh.byID[id]; ok {
				sh.index.Delete(old)
				sh.meta[old] = meta{}
				delete(sh.byID, id)
			}
		}
	}
	return nil
}

func (s *Store) shardFor(coll, tenant string, create bool) (*shard, error) {
	s.mu.RLock()
	c, ok := s.colls[coll]
	var sh *shard
	if ok {
		sh = c.shards[tenant]
	}
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q", vector.ErrUnknownCollection, coll)
	}
	if sh != nil || !create {
		return sh, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh = c.shards[tenant]; sh == nil {
		sh = s.newShard(c.dim)
		c.shards[tenant] = sh
	}
	return sh, nil
}

func (s *Store) newShard(dim int) *shard {
	return &shard{
		index: hnsw.New(dim, hnsw.Config{M: s.cfg.M, EfConstruction: s.cfg.EfConstruction}),
		byID:  map[string]uint32{},
	}
}

func (s *Store) collection(name string) (*collection, error) {
	if err := vector.CheckCollection(name); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.colls[name]
	if !ok {
		return nil, fmt.Errorf("%w %q: it has not been created", vector.ErrUnknownCollection, name)
	}
	return c, nil
}

// EnsureCollection implements vector.Store.
func (s *Store) EnsureCollection(ctx context.Context, name string, dim int) error {
	if err := vector.CheckCollection(name); err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	if dim <= 0 || dim > vector.MaxDimension {
		return fmt.Errorf("localstore: %w: dimension %d out of range 1..%d", vector.ErrInvalid, dim, vector.MaxDimension)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	c, ok := s.colls[name]
	s.mu.RUnlock()
	if ok {
		if c.dim != dim {
			return fmt.Errorf("localstore: %w: collection %s has %d dimensions, not %d (run `qlp memory reindex`)", vector.ErrDimension, name, c.dim, dim)
		}
		return nil
	}
	return s.write(&record{kind: recEnsure, collection: name, dim: dim})
}

// Dimension implements vector.Store.
func (s *Store) Dimension(ctx context.Context, name string) (int, error) {
	c, err := s.collection(name)
	if err != nil {
		return 0, fmt.Errorf("localstore: %w", err)
	}
	return c.dim, nil
}

// DropCollection implements vector.Store.
func (s *Store) DropCollection(ctx context.Context, name string) error {
	if _, err := s.collection(name); err != nil {
		if errors.Is(err, vector.ErrUnknownCollection) && vector.KnownCollection(name) {
			return nil
		}
		return fmt.Errorf("localstore: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.write(&record{kind: recDrop, collection: name})
}

// Upsert implements vector.Store.
func (s *Store) Upsert(ctx context.Context, name string, points []vector.Point) error {
	if len(points) == 0 {
		return nil
	}
	c, err := s.collection(name)
	if err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	prepared, err := vector.PreparePoints(points, c.dim)
	if err != nil {
		return fmt.Errorf("localstore: upsert into %s: %w", name, err)
	}
	// One record per tenant keeps records simple; a batch normally has one.
	byTenant := map[string][]walPoint{}
	var order []string
	now := time.Now().UTC()
	for _, p := range prepared {
		b, err := json.Marshal(p.Payload)
		if err != nil {
			return fmt.Errorf("localstore: encode payload: %w", err)
		}
		if _, ok := byTenant[p.Tenant]; !ok {
			order = append(order, p.Tenant)
		}
		byTenant[p.Tenant] = append(byTenant[p.Tenant], walPoint{id: p.ID, created: now, vec: p.Vector, payload: b})
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for _, t := range order {
		if err := s.write(&record{kind: recUpsert, collection: name, tenant: t, points: byTenant[t]}); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements vector.Store.
func (s *Store) Delete(ctx context.Context, name, tenant string, ids []string) error {
	if _, err := s.collection(name); err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	if err := vector.CheckTenant(tenant); err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.write(&record{kind: recDelete, collection: name, tenant: tenant, ids: ids})
}

// Get implements vector.Store.
func (s *Store) Get(ctx context.Context, name, tenant, id string) (vector.Point, error) {
	sh, err := s.readShard(name, tenant)
	if err != nil {
		return vector.Point{}, err
	}
	if sh != nil {
		sh.mu.RLock()
		defer sh.mu.RUnlock()
		if n, ok := sh.byID[id]; ok {
			p := sh.point(n, tenant)
			p.Vector = sh.index.Vector(n)
			return p, nil
		}
	}
	return vector.Point{}, fmt.Errorf("localstore: %s/%s: %w", name, id, vector.ErrNotFound)
}

func (s *Store) readShard(name, tenant string) (*shard, error) {
	if _, err := s.collection(name); err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	if err := vector.CheckTenant(tenant); err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	sh, err := s.shardFor(name, tenant, false)
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	return sh, nil
}

// point builds the public form of node n; callers hold sh.mu.
func (sh *shard) point(n uint32, tenant string) vector.Point {
	m := sh.meta[n]
	return vector.Point{ID: m.id, Tenant: tenant, Payload: clonePayload(m.payload), CreatedAt: m.created}
}

func clonePayload(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// Search implements vector.Store.
func (s *Store) Search(ctx context.Context, name string, q vector.Query) ([]vector.Hit, error) {
	c, err := s.collection(name)
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	if err := vector.CheckFilter(q.Filter); err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	qv, err := vector.PrepareVector(q.Vector, c.dim)
	if err != nil {
		return nil, fmt.Errorf("localstore: search %s: %w", name, err)
	}
	sh, err := s.readShard(name, q.Tenant)
	if err != nil || sh == nil || q.Limit <= 0 {
		return []vector.Hit{}, err
	}
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	var accept func(uint32) bool
	if len(q.Filter.Must) > 0 {
		accept = func(n uint32) bool { return q.Filter.Matches(sh.meta[n].payload) }
	}
	var res []hnsw.Result
	if sh.index.Len() < s.cfg.ExactBelow {
		res = sh.exact(qv, q.Limit, accept)
	} else {
		res = sh.index.Search(qv, q.Limit, s.cfg.EfSearch, accept)
		if accept != nil && len(res) < q.Limit {
			res = sh.exact(qv, q.Limit, accept)
		}
	}
	hits := make([]vector.Hit, 0, len(res))
	for _, r := range res {
		if r.Score < q.MinScore {
			break
		}
		hits = append(hits, vector.Hit{Point: sh.point(r.ID, q.Tenant), Score: r.Score})
	}
	return hits, nil
}

// exact scans every live node; callers hold sh.mu.
func (sh *shard) exact(q []float32, k int, accept func(uint32) bool) []hnsw.Result {
	all := make([]hnsw.Result, 0, len(sh.byID))
	for _, n := range sh.byID {
		if accept != nil && !accept(n) {
			continue
		}
		all = append(all, hnsw.Result{ID: n, Score: vector.Dot(q, sh.index.Vector(n))})
	}
	slices.SortFunc(all, func(a, b hnsw.Result) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return all[:min(k, len(all))]
}

// Scroll implements vector.Store.
func (s *Store) Scroll(ctx context.Context, name string, p vector.Page) ([]vector.Point, string, error) {
	if err := vector.CheckFilter(p.Filter); err != nil {
		return nil, "", fmt.Errorf("localstore: %w", err)
	}
	sh, err := s.readShard(name, p.Tenant)
	if err != nil || sh == nil || p.Limit <= 0 {
		return []vector.Point{}, "", err
	}
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	ids := make([]string, 0, len(sh.byID))
	for id := range sh.byID {
		if id > p.Cursor {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := []vector.Point{}
	for _, id := range ids {
		n := sh.byID[id]
		if !p.Filter.Matches(sh.meta[n].payload) {
			continue
		}
		out = append(out, sh.point(n, p.Tenant))
		if len(out) == p.Limit {
			return out, id, nil
		}
	}
	return out, "", nil
}

// Tenants implements vector.Store.
func (s *Store) Tenants(ctx context.Context, name string) ([]string, error) {
	c, err := s.collection(name)
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []string{}
	for t, sh := range c.shards {
		sh.mu.RLock()
		n := len(sh.byID)
		sh.mu.RUnlock()
		if n > 0 {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Count implements vector.Store.
func (s *Store) Count(ctx context.Context, name, tenant string, f vector.Filter) (int, error) {
	if err := vector.CheckFilter(f); err != nil {
		return 0, fmt.Errorf("localstore: %w", err)
	}
	sh, err := s.readShard(name, tenant)
	if err != nil || sh == nil {
		return 0, err
	}
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if len(f.Must) == 0 {
		return len(sh.byID), nil
	}
	n := 0
	for _, node := range sh.byID {
		if f.Matches(sh.meta[node].payload) {
			n++
		}
	}
	return n, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
