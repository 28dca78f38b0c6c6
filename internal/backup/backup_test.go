package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/backup"
	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/blob/blobtest"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

// archiveType is how capsule archives are kept: their digest in the
// content type, which a restore must keep.
const archiveType = "application/zip; sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

type dropUsage struct{}

func (dropUsage) RecordEmbedding(context.Context, memory.EmbeddingUsage) error { return nil }

// site is one platform's state: a store, a data directory, a blob store
// and an embedded Vector Memory.
type site struct {
	storeCfg store.Config
	dataDir  string
	st       *store.SQL
	bs       blob.Store
	mem      *memory.Service
}

func openSite(t *testing.T, storeCfg store.Config, dataDir string, bs blob.Store) *site {
	t.Helper()
	st, err := store.Open(t.Context(), storeCfg, dataDir)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	mcfg := memory.Defaults()
	mcfg.DataDir = filepath.Join(dataDir, "memory")
	mem, err := memory.New(t.Context(), mcfg, memory.Deps{Logger: logx.Discard(), Usage: dropUsage{}})
	require.NoError(t, err)
	t.Cleanup(func() { mem.Close() })
	return &site{storeCfg: storeCfg, dataDir: dataDir, st: st, bs: bs, mem: mem}
}

func (s *site) close() {
	s.mem.Close()
	s.st.Close()
}

func (s *site) service(t *testing.T, cfg backup.Config, reg prometheus.Registerer) *backup.Service {
	t.Helper()
	var m *backup.Metrics
	if reg != nil {
		var err error
		m, err = backup.NewMetrics(reg)
		require.NoError(t, err)
	}
	dbURL := "postgres://qlp:hunter2@db/qlp"
	svc, err := backup.New(cfg, backup.Deps{Store: s.st, Blobs: s.bs, Memory: s.mem, DataDir: s.dataDir, Version: "test",
		Settings: []settings.Setting{{Key: "store.database_url", Secret: true, Value: settings.String(&dbURL)}}, Metrics: m})
	require.NoError(t, err)
	return svc
}

func keyConfig(t *testing.T) backup.Config {
	t.Helper()
	k, err := backup.NewKey()
	require.NoError(t, err)
	cfg := backup.Defaults()
	cfg.Key = k
	return cfg
}

func tenantCtx(ctx context.Context, tenant string) context.Context {
	return auth.WithPrincipal(ctx, auth.Principal{TenantID: tenant})
}

// fill writes a tenant, a usage row, a blob and two memory entries.
func fill(t *testing.T, s *site) {
	t.Helper()
	ctx := t.Context()
	_, err := s.st.EnsureTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, s.st.RecordUsage(ctx, store.Usage{TenantID: "acme", JobID: "j1", Role: "coder", Provider: "openai", Model: "gpt-4.1",
		InputTokens: 100, OutputTokens: 50, CostPUSD: 1234, CreatedAt: time.Now().UTC()}))
	body := []byte("PK archive bytes")
	require.NoError(t, s.bs.Put(ctx, "capsules/c1/capsule.zip", bytes.NewReader(body), int64(len(body)), archiveType))
	for _, code := range []string{"package a\n\nfunc A() int { return 1 }\n", "def b():\n    return 2\n"} {
		_, err := s.mem.RecordCodePattern(tenantCtx(ctx, "acme"), memory.CodePattern{Language: "go", Description: "helper", Code: code, Validated: true, Score: 1})
		require.NoError(t, err)
	}
}

func TestBackupAndRestoreOnBothStores(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			storeCfg := store.Config{Driver: driver}
			if driver == "postgres" {
				storeCfg.DatabaseURL = storetest.PostgresURL(t)
			}
			bs, err := blob.OpenLocal(t.TempDir())
			require.NoError(t, err)
			src := openSite(t, storeCfg, t.TempDir(), bs)
			fill(t, src)
			require.NoError(t, os.MkdirAll(filepath.Join(src.dataDir, "keys"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(src.dataDir, "keys", "capsule-signing.pem"), []byte("signing key"), 0o600))
			cfg := keyConfig(t)
			reg := prometheus.NewRegistry()
			svc := src.service(t, cfg, reg)
			m, err := svc.Create(t.Context())
			require.NoError(t, err)
			require.Equal(t, 1, m.Blobs)
			require.Equal(t, 2, m.MemoryEntries)
			require.Equal(t, driver, m.StoreDriver)
			require.InDelta(t, float64(m.CreatedAt.Unix()), gauge(t, reg, "qlp_backup_last_success_timestamp_seconds"), 1)

			v, err := svc.Verify(t.Context(), m.ID)
			require.NoError(t, err)
			require.Equal(t, m.ID, v.ID)
			require.Len(t, v.Entries, len(m.Entries))

			// Restoring over live data is refused, and changes nothing.
			_, err = backup.Restore(t.Context(), cfg, m.ID, backup.Target{Store: storeCfg, DataDir: src.dataDir, Blobs: bs})
			require.ErrorIs(t, err, store.ErrNotEmpty)
			require.Contains(t, err.Error(), "--force")

			// Destroy: drop the schema (or lose the data dir) and the
			// capsule archives.
			src.close()
			require.NoError(t, bs.Delete(t.Context(), "capsules/c1/capsule.zip"))
			if driver == "postgres" {
				dropSchema(t, storeCfg.DatabaseURL)
			}
			fresh := t.TempDir()
			memDir := filepath.Join(fresh, "memory")
			var restoredMem *memory.Service
			rep, err := backup.Restore(t.Context(), cfg, m.ID, backup.Target{Store: storeCfg, DataDir: fresh, Blobs: bs,
				OpenMemory: func(ctx context.Context) (memory.Archive, func() error, error) {
					mcfg := memory.Defaults()
					mcfg.DataDir = memDir
					mem, err := memory.New(ctx, mcfg, memory.Deps{Logger: logx.Discard(), Usage: dropUsage{}})
					restoredMem = mem
					return mem, func() error { return nil }, err
				}})
			require.NoError(t, err)
			require.Equal(t, 1, rep.Blobs)
			require.Equal(t, 2, rep.MemoryEntries)
			defer restoredMem.Close()

			dst := &site{st: mustOpen(t, storeCfg, fresh), bs: bs, mem: restoredMem}
			rows, err := dst.st.ListUsage(t.Context(), store.UsageFilter{TenantID: "acme"})
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.Equal(t, int64(1234), rows[0].CostPUSD)
			rc, info, err := bs.Get(t.Context(), "capsules/c1/capsule.zip")
			require.NoError(t, err)
			require.Equal(t, archiveType, info.ContentType)
			b, _ := io.ReadAll(rc)
			rc.Close()
			require.Equal(t, "PK archive bytes", string(b))
			st, err := restoredMem.Stats(tenantCtx(t.Context(), "acme"))
			require.NoError(t, err)
			points := 0
			for _, c := range st.Collections {
				points += c.Points
			}
			require.Equal(t, 2, points)
			key, err := os.ReadFile(filepath.Join(fresh, "keys", "capsule-signing.pem"))
			require.NoError(t, err)
			require.Equal(t, "signing key", string(key))
		})
	}
}

func mustOpen(t *testing.T, cfg store.Config, dataDir string) *store.SQL {
	t.Helper()
	st, err := store.Open(t.Context(), cfg, dataDir)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// dropSchema drops the test's schema (its URL's search_path): the
// database is gone.
func dropSchema(t *testing.T, dsn string) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	schema := u.Query().Get("search_path")
	require.NotEmpty(t, schema)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(t.Context(), `DROP SCHEMA "`+schema+`" CASCADE`)
	require.NoError(t, err)
}

// TestDamagedBackupsAreRefused: a truncated, altered or wrongly keyed
// backup, or one whose entries do not match its manifest, is refused with
// an error that says which, and a restore then writes nothing.
func TestDamagedBackupsAreRefused(t *testing.T) {
	bs, err := blob.OpenLocal(t.TempDir())
	require.NoError(t, err)
	src := openSite(t, store.Config{Driver: "sqlite"}, t.TempDir(), bs)
	fill(t, src)
	cfg := keyConfig(t)
	m, err := src.service(t, cfg, nil).Create(t.Context())
	require.NoError(t, err)
	good := readBackup(t, bs, m.ID)
	id, err := age.ParseX25519Identity(cfg.Key)
	require.NoError(t, err)

	tests := []struct {
		name  string
		bytes func() []byte
		key   string // another key; "" for the right one
		want  string
	}{
		{"truncated", func() []byte { return good[:len(good)-100] }, "", "cut short or altered"},
		{"cut to its header", func() []byte { return good[:200] }, "", "cut short or altered"},
		{"one byte altered", func() []byte {
			b := bytes.Clone(good)
			b[len(b)/2] ^= 1
			return b
		}, "", "cut short or altered"},
		{"wrong key", func() []byte { return good }, mustKey(t), "not encrypted to the configured key"},
		{"not a backup", func() []byte { return []byte("hello") }, "", "cannot be decrypted"},
		{"entry altered under a valid encryption", func() []byte {
			return reencrypt(t, good, id, func(name string, b []byte) []byte {
				if name == "config.json" {
					return append(b, ' ')
				}
				return b
			})
		}, "", `entry "config.json" does not match its checksum`},
		{"entry missing", func() []byte {
			return reencrypt(t, good, id, func(name string, b []byte) []byte {
				if name == "config.json" {
					return nil
				}
				return b
			})
		}, "", `entry "config.json" is missing`},
		{"no manifest", func() []byte {
			return reencrypt(t, good, id, func(name string, b []byte) []byte {
				if name == "manifest.json" {
					return nil
				}
				return b
			})
		}, "", "has no manifest"},
		{"path outside", func() []byte {
			return reencrypt(t, good, id, func(name string, b []byte) []byte {
				if name == "config.json" {
					return []byte("rename:../escape")
				}
				return b
			})
		}, "", `bad entry "../escape"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.qlpbackup")
			require.NoError(t, os.WriteFile(path, tt.bytes(), 0o600))
			c := cfg
			if tt.key != "" {
				c.Key = tt.key
			}
			_, err := src.service(t, c, nil).Verify(t.Context(), path)
			require.ErrorIs(t, err, backup.ErrDamaged)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), c.Key, "the key is never in an error")

			fresh := t.TempDir()
			_, err = backup.Restore(t.Context(), c, path, backup.Target{Store: store.Config{Driver: "sqlite"}, DataDir: fresh, Blobs: bs})
			require.ErrorIs(t, err, backup.ErrDamaged)
			entries, err := os.ReadDir(fresh)
			require.NoError(t, err)
			require.Empty(t, entries, "a refused restore writes nothing")
		})
	}
	// The good one still verifies from a file too.
	path := filepath.Join(t.TempDir(), "good.qlpbackup")
	require.NoError(t, os.WriteFile(path, good, 0o600))
	_, err = src.service(t, cfg, nil).Verify(t.Context(), path)
	require.NoError(t, err)
}

func mustKey(t *testing.T) string {
	k, err := backup.NewKey()
	require.NoError(t, err)
	return k
}

func readBackup(t *testing.T, bs blob.Store, id string) []byte {
	t.Helper()
	rc, _, err := bs.Get(t.Context(), backup.Prefix+id+".qlpbackup")
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// reencrypt rewrites a backup's entries through edit (nil drops one;
// "rename:X" renames it) and encrypts it again with the right key: what
// an attacker holding the key, or a bug, could produce.
func reencrypt(t *testing.T, b []byte, id *age.X25519Identity, edit func(string, []byte) []byte) []byte {
	t.Helper()
	dec, err := age.Decrypt(bytes.NewReader(b), id)
	require.NoError(t, err)
	zr, err := gzip.NewReader(dec)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	enc, err := age.Encrypt(&out, id.Recipient())
	require.NoError(t, err)
	zw := gzip.NewWriter(enc)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		orig := data
		data = edit(h.Name, data)
		if data == nil {
			continue
		}
		name := h.Name
		if to, ok := strings.CutPrefix(string(data), "rename:"); ok {
			name, data = to, orig
		}
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg}))
		_, err = tw.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	require.NoError(t, enc.Close())
	return out.Bytes()
}

// TestManifestAndSecrets: the manifest lists every entry with the SHA-256
// of its bytes, and the configuration inside holds no secret.
func TestManifestAndSecrets(t *testing.T) {
	bs, err := blob.OpenLocal(t.TempDir())
	require.NoError(t, err)
	src := openSite(t, store.Config{Driver: "sqlite"}, t.TempDir(), bs)
	fill(t, src)
	cfg := keyConfig(t)
	m, err := src.service(t, cfg, nil).Create(t.Context())
	require.NoError(t, err)
	id, err := age.ParseX25519Identity(cfg.Key)
	require.NoError(t, err)
	entries := map[string][]byte{}
	reencrypt(t, readBackup(t, bs, m.ID), id, func(name string, b []byte) []byte {
		entries[name] = b
		return b
	})
	var got backup.Manifest
	require.NoError(t, json.Unmarshal(entries["manifest.json"], &got))
	require.Len(t, got.Entries, len(entries)-1)
	for _, e := range got.Entries {
		sum := sha256.Sum256(entries[e.Path])
		require.Equal(t, hex.EncodeToString(sum[:]), e.SHA256, e.Path)
	}
	require.Contains(t, entries, "blobs/capsules/c1/capsule.zip")
	require.NotContains(t, string(entries["config.json"]), "hunter2")
	require.Contains(t, string(entries["config.json"]), "store.database_url")
	raw := readBackup(t, bs, m.ID)
	require.NotContains(t, string(raw), "package a", "the backup is encrypted")
}

// TestRetentionKeepsTheNewest: after each backup only the newest
// backup.keep remain.
func TestRetentionKeepsTheNewest(t *testing.T) {
	bs, err := blob.OpenLocal(t.TempDir())
	require.NoError(t, err)
	src := openSite(t, store.Config{Driver: "sqlite"}, t.TempDir(), bs)
	cfg := keyConfig(t)
	cfg.Keep = 2
	svc := src.service(t, cfg, nil)
	var ids []string
	for range 4 {
		m, err := svc.Create(t.Context())
		require.NoError(t, err)
		ids = append(ids, m.ID)
		time.Sleep(1100 * time.Millisecond) // ids order by the second
	}
	all, err := svc.List(t.Context())
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, ids[3], all[0].ID)
	require.Equal(t, ids[2], all[1].ID)
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(*backup.Config)
		want string
	}{
		{"interval too short", func(c *backup.Config) { c.Interval = time.Second }, "backup.interval"},
		{"negative interval", func(c *backup.Config) { c.Interval = -time.Hour }, "backup.interval"},
		{"keep none", func(c *backup.Config) { c.Keep = 0 }, "backup.keep"},
		{"both keys", func(c *backup.Config) { c.Key, c.KeyFile = "k", "f" }, "backup.key_file"},
		{"off is fine", func(c *backup.Config) { c.Interval = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := backup.Defaults()
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestKeyFromFile: backup.key_file reads age's key file format (comment
// lines), and a missing or bad key says what to set without echoing it.
func TestKeyFromFile(t *testing.T) {
	bs, err := blob.OpenLocal(t.TempDir())
	require.NoError(t, err)
	src := openSite(t, store.Config{Driver: "sqlite"}, t.TempDir(), bs)
	k := mustKey(t)
	file := filepath.Join(t.TempDir(), "key.txt")
	require.NoError(t, os.WriteFile(file, []byte("# created: now\n# public key: age1…\n"+k+"\n"), 0o600))
	cfg := backup.Defaults()
	cfg.KeyFile = file
	m, err := src.service(t, cfg, nil).Create(t.Context())
	require.NoError(t, err)
	cfg2 := backup.Defaults()
	cfg2.Key = k
	_, err = src.service(t, cfg2, nil).Verify(t.Context(), m.ID)
	require.NoError(t, err, "the same key, given directly")

	_, err = src.service(t, backup.Defaults(), nil).Create(t.Context())
	require.ErrorContains(t, err, "backup.key (QLP_BACKUP_KEY)")
	bad := backup.Defaults()
	bad.Key = "AGE-SECRET-KEY-1NOTAKEY"
	_, err = src.service(t, bad, nil).Create(t.Context())
	require.ErrorContains(t, err, "not an age identity")
	require.NotContains(t, err.Error(), "NOTAKEY")
}

// TestForceReplacesLiveData: with --force a restore puts the backup in
// place of the data that is there: a row written after the backup is gone.
func TestForceReplacesLiveData(t *testing.T) {
	bs, err := blob.OpenLocal(t.TempDir())
	require.NoError(t, err)
	cfgStore := store.Config{Driver: "sqlite"}
	src := openSite(t, cfgStore, t.TempDir(), bs)
	fill(t, src)
	cfg := keyConfig(t)
	m, err := src.service(t, cfg, nil).Create(t.Context())
	require.NoError(t, err)
	require.NoError(t, src.st.RecordUsage(t.Context(), store.Usage{TenantID: "acme", JobID: "later", Role: "coder", Provider: "openai", Model: "gpt-4.1", CreatedAt: time.Now().UTC()}))
	src.close()

	memDir := filepath.Join(src.dataDir, "memory")
	_, err = backup.Restore(t.Context(), cfg, m.ID, backup.Target{Store: cfgStore, DataDir: src.dataDir, Blobs: bs, Force: true,
		OpenMemory: func(ctx context.Context) (memory.Archive, func() error, error) {
			mcfg := memory.Defaults()
			mcfg.DataDir = memDir
			mem, err := memory.New(ctx, mcfg, memory.Deps{Logger: logx.Discard(), Usage: dropUsage{}})
			if err != nil {
				return nil, nil, err
			}
			return mem, mem.Close, nil
		}})
	require.NoError(t, err)
	st := mustOpen(t, cfgStore, src.dataDir)
	rows, err := st.ListUsage(t.Context(), store.UsageFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "j1", rows[0].JobID)
}

// TestBackupsInObjectStores: backups go to the blob store the platform is
// configured with; on S3 (versitygw) and Azure Blob (Azurite) a backup is
// listed, verifies, and restores the capsule archives into the store with
// their content types.
func TestBackupsInObjectStores(t *testing.T) {
	const partSize = 5 << 20
	stores := map[string]func(t *testing.T) blob.Store{
		"s3": func(t *testing.T) blob.Store {
			gw := blobtest.StartVersityGW(t)
			s, err := blob.OpenS3(t.Context(), gw.Options(gw.NewBucket(t), partSize))
			require.NoError(t, err)
			return s
		},
		"azure": func(t *testing.T) blob.Store {
			az := blobtest.StartAzurite(t)
			s, err := blob.OpenAzure(az.Options(az.NewContainer(t), partSize))
			require.NoError(t, err)
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			bs := open(t)
			src := openSite(t, store.Config{Driver: "sqlite"}, t.TempDir(), bs)
			fill(t, src)
			cfg := keyConfig(t)
			svc := src.service(t, cfg, nil)
			m, err := svc.Create(t.Context())
			require.NoError(t, err)
			all, err := svc.List(t.Context())
			require.NoError(t, err)
			require.Len(t, all, 1)
			require.Equal(t, m.ID, all[0].ID)
			_, err = svc.Verify(t.Context(), m.ID)
			require.NoError(t, err)
			src.close()
			require.NoError(t, bs.Delete(t.Context(), "capsules/c1/capsule.zip"))
			rep, err := backup.Restore(t.Context(), cfg, m.ID, backup.Target{Store: store.Config{Driver: "sqlite"}, DataDir: t.TempDir(), Blobs: bs,
				OpenMemory: func(ctx context.Context) (memory.Archive, func() error, error) {
					mcfg := memory.Defaults()
					mcfg.DataDir = t.TempDir()
					mem, err := memory.New(ctx, mcfg, memory.Deps{Logger: logx.Discard(), Usage: dropUsage{}})
					if err != nil {
						return nil, nil, err
					}
					return mem, mem.Close, nil
				}})
			require.NoError(t, err)
			require.Equal(t, 1, rep.Blobs)
			info, err := bs.Stat(t.Context(), "capsules/c1/capsule.zip")
			require.NoError(t, err)
			require.Equal(t, archiveType, info.ContentType)
		})
	}
}
