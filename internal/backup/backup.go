// Package backup takes, checks and restores backups of a QLP platform: a
// consistent snapshot of the store (SQLite's online backup API, or pg_dump
// in custom format), every object of the blob store (capsule archives),
// every entry of the Vector Memory (through its service, whichever backend
// it has), the embedded Temporal server's database, the capsule signing
// key and the configuration with its secrets redacted.
//
// A backup is one object in the blob store, backups/<id>.qlpbackup: a tar
// archive, gzip-compressed, encrypted with age to the configured key (age
// authenticates every 64 KiB chunk, so a truncated or altered file fails
// to decrypt). Its last entry, manifest.json, lists every other entry with
// its size and SHA-256; a restore checks them all before it touches
// anything.
package backup

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/store"
)

// Prefix is where backups live in the blob store.
const Prefix = "backups/"

// suffix ends every backup's key.
const suffix = ".qlpbackup"

// formatVersion is the archive layout this code writes and reads.
const formatVersion = 1

// Entry names inside the archive.
const (
	entryStore       = "store/snapshot"
	entryTemporalDB  = "temporal/temporal.db"
	entryTemporalID  = "temporal/cluster-id"
	entrySigningKey  = "keys/capsule-signing.pem"
	entryMemory      = "memory/entries.jsonl"
	entryConfig      = "config.json"
	entryManifest    = "manifest.json"
	entryBlobsPrefix = "blobs/"
)

// Manifest describes a backup; it is the archive's last entry.
type Manifest struct {
	Format      int       `json:"format"`
	ID          string    `json:"id"`
	CreatedAt   time.Time `json:"created_at"`
	QLPVersion  string    `json:"qlp_version"`
	StoreDriver string    `json:"store_driver"`
	StoreFormat string    `json:"store_format"`
	// Temporal is true when the embedded Temporal server's database is in
	// the backup (an external Temporal cluster is backed up by its own
	// operators).
	Temporal       bool    `json:"temporal"`
	Blobs          int     `json:"blobs"`
	MemoryEntries  int     `json:"memory_entries"`
	Entries        []Entry `json:"entries"`
	DurationMillis int64   `json:"duration_ms"`
}

// Entry is one file of the archive.
type Entry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// ContentType is a blob's, restored with it (capsule archives carry
	// their digest in it).
	ContentType string `json:"content_type,omitempty"`
}

// Info describes a stored backup.
type Info struct {
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
}

// Deps are what backups read.
type Deps struct {
	Store *store.SQL
	// Blobs holds the capsule archives and receives the backups.
	Blobs blob.Store
	// Memory is the Vector Memory (in this process or over HTTP); nil
	// leaves memory out of the backup, which Create then refuses.
	Memory memory.Archive
	// DataDir holds the embedded Temporal database and the signing key.
	DataDir string
	// Settings are the platform's settings; they are written with secrets
	// redacted.
	Settings []settings.Setting
	Version  string
	Logger   *slog.Logger
	Metrics  *Metrics
}

// Service takes backups and checks them.
type Service struct {
	cfg Config
	d   Deps
}

// New returns the backup service.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, d: d}, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Create takes a backup, stores it in the blob store and deletes the
// backups beyond backup.keep.
func (s *Service) Create(ctx context.Context) (Manifest, error) {
	start := time.Now()
	m, err := s.create(ctx, start)
	if err != nil {
		if s.d.Metrics != nil {
			s.d.Metrics.failures.Inc()
		}
		return m, err
	}
	if s.d.Metrics != nil {
		s.d.Metrics.Succeeded(m.CreatedAt, time.Since(start))
	}
	s.d.Logger.Info("backup taken", "id", m.ID, "blobs", m.Blobs, "memory_entries", m.MemoryEntries, "duration", time.Since(start).Round(time.Millisecond))
	if err := s.prune(ctx); err != nil {
		// The backup is safe; the old ones stay until the next prune.
		s.d.Logger.Warn("deleting old backups failed", "error", err)
	}
	return m, nil
}

func (s *Service) create(ctx context.Context, start time.Time) (Manifest, error) {
	id, err := s.cfg.identity()
	if err != nil {
		return Manifest{}, err
	}
	if s.d.Memory == nil {
		return Manifest{}, errors.New("backup: the Vector Memory is not reachable from this process")
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	m := Manifest{Format: formatVersion, CreatedAt: start.UTC().Truncate(time.Millisecond), QLPVersion: s.d.Version, StoreDriver: s.d.Store.Driver()}
	m.ID = "qlp-" + m.CreatedAt.Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:])

	tmp, err := os.MkdirTemp("", "qlp-backup-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)

	// The store first: the rest (blobs, memory) is at least as new as the
	// rows that name it.
	snap := filepath.Join(tmp, "store")
	if m.StoreFormat, err = s.d.Store.Snapshot(ctx, snap); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	files := []struct{ entry, path string }{{entryStore, snap}}
	tdir := filepath.Join(s.d.DataDir, "temporal")
	if _, err := os.Stat(filepath.Join(tdir, "temporal.db")); err == nil {
		if err := store.SnapshotSQLiteFile(ctx, filepath.Join(tdir, "temporal.db"), filepath.Join(tmp, "temporal.db")); err != nil {
			return m, fmt.Errorf("backup: the embedded Temporal database: %w", err)
		}
		files = append(files, struct{ entry, path string }{entryTemporalDB, filepath.Join(tmp, "temporal.db")},
			struct{ entry, path string }{entryTemporalID, filepath.Join(tdir, "cluster-id")})
		m.Temporal = true
	}
	if key := filepath.Join(s.d.DataDir, "keys", "capsule-signing.pem"); fileExists(key) {
		files = append(files, struct{ entry, path string }{entrySigningKey, key})
	}
	memFile := filepath.Join(tmp, "memory.jsonl")
	if m.MemoryEntries, err = s.exportMemory(ctx, memFile); err != nil {
		return m, err
	}
	files = append(files, struct{ entry, path string }{entryMemory, memFile})
	cfgFile := filepath.Join(tmp, "config.json")
	if err := writeConfig(cfgFile, s.d.Settings); err != nil {
		return m, err
	}
	files = append(files, struct{ entry, path string }{entryConfig, cfgFile})

	out, err := os.Create(filepath.Join(tmp, "backup"+suffix))
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer out.Close()
	w, err := newWriter(out, id.Recipient())
	if err != nil {
		return m, err
	}
	for _, f := range files {
		if err := w.addFile(f.entry, f.path); err != nil {
			return m, err
		}
	}
	objs, err := s.d.Blobs.List(ctx, "")
	if err != nil {
		return m, fmt.Errorf("backup: list the blob store: %w", err)
	}
	for _, o := range objs {
		if strings.HasPrefix(o.Key, Prefix) {
			continue
		}
		if err := s.addBlob(ctx, w, o.Key); err != nil {
			return m, err
		}
		m.Blobs++
	}
	m.DurationMillis = time.Since(start).Milliseconds()
	if err := w.close(&m); err != nil {
		return m, err
	}
	size, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := s.d.Blobs.Put(ctx, Prefix+m.ID+suffix, out, size, "application/octet-stream"); err != nil {
		return m, fmt.Errorf("backup: store %s in %s: %w", m.ID, s.d.Blobs, err)
	}
	return m, nil
}

func (s *Service) addBlob(ctx context.Context, w *writer, key string) error {
	rc, info, err := s.d.Blobs.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil // deleted since the listing
	}
	if err != nil {
		return fmt.Errorf("backup: read %s: %w", key, err)
	}
	defer rc.Close()
	return w.add(entryBlobsPrefix+key, info.Size, info.ContentType, rc)
}

func (s *Service) exportMemory(ctx context.Context, dst string) (int, error) {
	f, err := os.Create(dst)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	n := 0
	if err := s.d.Memory.Export(ctx, func(a memory.Archived) error {
		n++
		return enc.Encode(a)
	}); err != nil {
		return 0, fmt.Errorf("backup: the Vector Memory: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return n, f.Close()
}

// writeConfig writes the settings as key → displayed value: secrets show
// as redacted, so that the backup says how the platform was configured
// without holding its passwords.
func writeConfig(dst string, list []settings.Setting) error {
	cfg := map[string]string{}
	for _, s := range list {
		cfg[s.Key] = s.Display()
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return os.WriteFile(dst, b, 0o600)
}

// List describes the stored backups, newest first.
func (s *Service) List(ctx context.Context) ([]Info, error) {
	return list(ctx, s.d.Blobs)
}

func list(ctx context.Context, bs blob.Store) ([]Info, error) {
	objs, err := bs.List(ctx, Prefix)
	if err != nil {
		return nil, fmt.Errorf("backup: list %s: %w", bs, err)
	}
	var out []Info
	for _, o := range objs {
		id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, Prefix), suffix)
		if !ok {
			continue
		}
		inf := Info{ID: id, Key: o.Key, Size: o.Size, CreatedAt: o.ModTime}
		if t, ok := idTime(id); ok {
			inf.CreatedAt = t
		}
		out = append(out, inf)
	}
	slices.SortFunc(out, func(a, b Info) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// idTime reads the time in an id made by Create.
func idTime(id string) (time.Time, bool) {
	parts := strings.Split(id, "-")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405Z", parts[1])
	return t, err == nil
}

// prune deletes the backups beyond Keep, oldest first.
func (s *Service) prune(ctx context.Context) error {
	all, err := s.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range all[min(s.cfg.Keep, len(all)):] {
		if err := s.d.Blobs.Delete(ctx, b.Key); err != nil {
			errs = append(errs, err)
			continue
		}
		s.d.Logger.Info("old backup deleted", "id", b.ID, "keep", s.cfg.Keep)
	}
	return errors.Join(errs...)
}

// Verify decrypts the backup and checks every entry against its manifest.
func (s *Service) Verify(ctx context.Context, idOrPath string) (Manifest, error) {
	tmp, err := os.MkdirTemp("", "qlp-verify-")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	return extract(ctx, s.d.Blobs, s.cfg, idOrPath, tmp)
}

// open returns the backup's bytes: a file when idOrPath names one, else
// the backup of that id in the blob store.
func open(ctx context.Context, bs blob.Store, idOrPath string) (io.ReadCloser, string, error) {
	if strings.ContainsRune(idOrPath, os.PathSeparator) || strings.HasSuffix(idOrPath, suffix) {
		f, err := os.Open(idOrPath)
		if err != nil {
			return nil, "", fmt.Errorf("backup: %w", err)
		}
		return f, filepath.Base(idOrPath), nil
	}
	rc, _, err := bs.Get(ctx, Prefix+idOrPath+suffix)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, "", fmt.Errorf("backup: no backup %q in %s (`qlp backup list` shows them)", idOrPath, bs)
	}
	if err != nil {
		return nil, "", fmt.Errorf("backup: read %s: %w", idOrPath, err)
	}
	return rc, idOrPath, nil
}

// ErrDamaged is wrapped by every error about a backup that cannot be
// trusted: it does not decrypt with the key, is cut short, or does not
// match its manifest.
var ErrDamaged = errors.New("backup refused")

// extract decrypts the backup into dir and checks it: every entry's size
// and SHA-256 against the manifest, and no entry missing or extra.
func extract(ctx context.Context, bs blob.Store, cfg Config, idOrPath, dir string) (Manifest, error) {
	id, err := cfg.identity()
	if err != nil {
		return Manifest{}, err
	}
	rc, name, err := open(ctx, bs, idOrPath)
	if err != nil {
		return Manifest{}, err
	}
	defer rc.Close()
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("backup %s: %w: %s", name, ErrDamaged, fmt.Sprintf(format, args...))
	}
	dec, err := age.Decrypt(rc, id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return Manifest{}, damaged("it was not encrypted to the configured key (backup.key): restore it with the key it was made with")
		}
		return Manifest{}, damaged("it cannot be decrypted (damaged, or not a QLP backup): %v", err)
	}
	zr, err := gzip.NewReader(dec)
	if err != nil {
		return Manifest{}, damaged("it is cut short or altered: %v", err)
	}
	tr := tar.NewReader(zr)
	got := map[string]Entry{}
	var m *Manifest
	for {
		if err := ctx.Err(); err != nil {
			return Manifest{}, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, damaged("it is cut short or altered: %v", err)
		}
		if m != nil {
			return Manifest{}, damaged("an entry %q follows the manifest", h.Name)
		}
		if !validEntry(h.Name) || h.Typeflag != tar.TypeReg {
			return Manifest{}, damaged("bad entry %q", h.Name)
		}
		if h.Name == entryManifest {
			var mm Manifest
			if err := json.NewDecoder(tr).Decode(&mm); err != nil {
				return Manifest{}, damaged("its manifest: %v", err)
			}
			m = &mm
			continue
		}
		if _, dup := got[h.Name]; dup {
			return Manifest{}, damaged("entry %q twice", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
		e, err := writeEntry(dst, h.Name, tr)
		if err != nil {
			if errors.Is(err, errRead) {
				return Manifest{}, damaged("it is cut short or altered: %v", err)
			}
			return Manifest{}, err
		}
		got[h.Name] = e
	}
	// Drain: a cut in the compressed stream after the tar's end shows here.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return Manifest{}, damaged("it is cut short or altered: %v", err)
	}
	if m == nil {
		return Manifest{}, damaged("it has no manifest (cut short?)")
	}
	if m.Format != formatVersion {
		return Manifest{}, damaged("format %d, this QLP reads %d", m.Format, formatVersion)
	}
	for _, want := range m.Entries {
		have, ok := got[want.Path]
		switch {
		case !ok:
			return *m, damaged("entry %q is missing", want.Path)
		case have.Size != want.Size || have.SHA256 != want.SHA256:
			return *m, damaged("entry %q does not match its checksum (%d bytes, sha256 %s; the manifest says %d bytes, %s)", want.Path, have.Size, have.SHA256, want.Size, want.SHA256)
		}
		delete(got, want.Path)
	}
	for p := range got {
		return *m, damaged("entry %q is not in its manifest", p)
	}
	return *m, nil
}

var errRead = errors.New("read")

func writeEntry(dst, name string, r io.Reader) (Entry, error) {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Entry{}, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), readErr{r})
	if err != nil {
		return Entry{}, err
	}
	return Entry{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, f.Close()
}

// readErr marks errors of the reader (the backup) apart from those of the
// disk it is extracted to.
type readErr struct{ r io.Reader }

func (r readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errRead, err)
	}
	return n, err
}

// validEntry accepts clean relative slash paths only.
func validEntry(name string) bool {
	return name != "" && !strings.HasPrefix(name, "/") && path.Clean(name) == name && name != "." &&
		!strings.HasPrefix(name, "../") && name != ".." && !strings.Contains(name, "\\")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// writer writes the archive: tar → gzip → age.
type writer struct {
	enc     io.WriteCloser
	zw      *gzip.Writer
	tw      *tar.Writer
	entries []Entry
}

func newWriter(out io.Writer, r age.Recipient) (*writer, error) {
	enc, err := age.Encrypt(out, r)
	if err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	zw := gzip.NewWriter(enc)
	return &writer{enc: enc, zw: zw, tw: tar.NewWriter(zw)}, nil
}

func (w *writer) addFile(name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return w.add(name, st.Size(), "", f)
}

func (w *writer) add(name string, size int64, contentType string, r io.Reader) error {
	if !validEntry(name) {
		return fmt.Errorf("backup: cannot store %q: not a clean relative path", name)
	}
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w.tw, h), io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("backup: %s: %d bytes read, %d expected (it changed while it was read)", name, n, size)
	}
	w.entries = append(w.entries, Entry{Path: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), ContentType: contentType})
	return nil
}

// close writes the manifest and closes the layers.
func (w *writer) close(m *Manifest) error {
	m.Entries = w.entries
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := w.tw.WriteHeader(&tar.Header{Name: entryManifest, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := w.tw.Write(b); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, c := range []io.Closer{w.tw, w.zw, w.enc} {
		if err := c.Close(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	return nil
}
