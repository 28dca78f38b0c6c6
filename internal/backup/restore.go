package backup

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/store"
)

// Target is where a backup is restored: the store and data directory of a
// platform that is not running.
type Target struct {
	Store   store.Config
	DataDir string
	// Blobs is the platform's blob store: the backup is read from it (or
	// from a file) and the capsule archives are written back to it.
	Blobs blob.Store
	// OpenMemory opens the Vector Memory once the data directory is in
	// place (its embedded index lives there); the returned func closes it.
	OpenMemory func(ctx context.Context) (memory.Archive, func() error, error)
	// Force replaces existing data; without it Restore refuses a target
	// that holds any.
	Force bool
	// Progress, when set, hears each step as it starts.
	Progress func(step string)
}

// RestoreReport says what a restore put back.
type RestoreReport struct {
	Manifest      Manifest      `json:"manifest"`
	Blobs         int           `json:"blobs"`
	MemoryEntries int           `json:"memory_entries"`
	Duration      time.Duration `json:"duration_ns"`
}

// Restore checks the backup whole (decryption, every checksum) and only
// then puts it in place: the store, the embedded Temporal database, the
// signing key, the blob store's objects and the memory's entries. A
// target holding data is refused unless t.Force.
func Restore(ctx context.Context, cfg Config, idOrPath string, t Target) (RestoreReport, error) {
	start := time.Now()
	step := func(s string) {
		if t.Progress != nil {
			t.Progress(s)
		}
	}
	tmp, err := os.MkdirTemp("", "qlp-restore-")
	if err != nil {
		return RestoreReport{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	step("decrypting and checking the backup")
	m, err := extract(ctx, t.Blobs, cfg, idOrPath, tmp)
	if err != nil {
		return RestoreReport{}, err
	}
	rep := RestoreReport{Manifest: m}
	if !t.Force {
		for _, p := range []string{store.SQLitePath(t.DataDir), filepath.Join(t.DataDir, "temporal", "temporal.db"), filepath.Join(t.DataDir, "keys", "capsule-signing.pem")} {
			if st, err := os.Stat(p); err == nil && (st.Size() > 0 || st.IsDir()) {
				return rep, fmt.Errorf("backup: %w: %s exists; restore into an empty data directory, or pass --force to replace it", store.ErrNotEmpty, p)
			}
		}
	}
	step("restoring the store (" + m.StoreDriver + ")")
	if err := store.Restore(ctx, t.Store, t.DataDir, filepath.Join(tmp, entryStore), m.StoreFormat, store.RestoreOptions{Force: t.Force}); err != nil {
		return rep, err
	}
	if m.Temporal {
		step("restoring the embedded Temporal database")
		dir := filepath.Join(t.DataDir, "temporal")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return rep, fmt.Errorf("backup: %w", err)
		}
		for _, f := range []string{"temporal.db-wal", "temporal.db-shm"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return rep, fmt.Errorf("backup: %w", err)
			}
		}
		for entry, name := range map[string]string{entryTemporalDB: "temporal.db", entryTemporalID: "cluster-id"} {
			if err := store.CopyFileDurably(filepath.Join(tmp, entry), filepath.Join(dir, name)); err != nil {
				return rep, fmt.Errorf("backup: restore %s: %w", name, err)
			}
		}
	}
	if src := filepath.Join(tmp, entrySigningKey); fileExists(src) {
		step("restoring the capsule signing key")
		if err := os.MkdirAll(filepath.Join(t.DataDir, "keys"), 0o700); err != nil {
			return rep, fmt.Errorf("backup: %w", err)
		}
		if err := store.CopyFileDurably(src, filepath.Join(t.DataDir, "keys", "capsule-signing.pem")); err != nil {
			return rep, fmt.Errorf("backup: restore the signing key: %w", err)
		}
	}
	step(fmt.Sprintf("restoring %d blob(s) to %s", m.Blobs, t.Blobs))
	for _, e := range m.Entries {
		key, ok := strings.CutPrefix(e.Path, entryBlobsPrefix)
		if !ok {
			continue
		}
		if err := putBlob(ctx, t.Blobs, key, filepath.Join(tmp, filepath.FromSlash(e.Path)), e.Size, e.ContentType); err != nil {
			return rep, err
		}
		rep.Blobs++
	}
	step(fmt.Sprintf("restoring %d memory entries", m.MemoryEntries))
	n, err := importMemory(ctx, t, filepath.Join(tmp, entryMemory))
	if err != nil {
		return rep, err
	}
	rep.MemoryEntries = n
	rep.Duration = time.Since(start)
	return rep, nil
}

func putBlob(ctx context.Context, bs blob.Store, key, src string, size int64, contentType string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	if err := bs.Put(ctx, key, f, size, contentType); err != nil {
		return fmt.Errorf("backup: restore %s to %s: %w", key, bs, err)
	}
	return nil
}

func importMemory(ctx context.Context, t Target, src string) (int, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	var all []memory.Archived
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var a memory.Archived
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return 0, fmt.Errorf("backup: memory entry: %w", err)
		}
		all = append(all, a)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("backup: memory entries: %w", err)
	}
	if len(all) == 0 {
		return 0, nil
	}
	if t.OpenMemory == nil {
		return 0, errors.New("backup: the backup holds memory entries but no Vector Memory was given to restore them into")
	}
	mem, closeMem, err := t.OpenMemory(ctx)
	if err != nil {
		return 0, fmt.Errorf("backup: open the Vector Memory: %w", err)
	}
	n, err := mem.Import(ctx, all)
	if cerr := closeMem(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("backup: restore the memory: %w", err)
	}
	return n, nil
}
