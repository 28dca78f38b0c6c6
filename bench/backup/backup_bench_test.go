// Package backupbench measures backups and restores of a platform's state
// at a size a team reaches in a few months: 1,000 jobs with their capsules
// (ten files each) and 10,000 cost-ledger rows in the store, 1,000 capsule
// archives of 64 KiB in the blob store and 2,000 Vector Memory entries.
// It reports the time to take a backup, to verify it, and the RTO: restore
// into an empty data directory (and database) plus the store's opening,
// as ratios against copying the same files with cp -a in the same run
// (the least a restore of the raw files costs, with none of the
// consistency, encryption or checks).
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/backup/
//
// With QLP_TEST_POSTGRES_URL set (scripts/test-services.sh start) the
// store is PostgreSQL; else SQLite.
package backupbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/backup"
	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

const (
	jobs        = 1000
	ledgerRows  = 10000
	archiveSize = 64 << 10
	memEntries  = 2000
)

type dropUsage struct{}

func (dropUsage) RecordEmbedding(context.Context, memory.EmbeddingUsage) error { return nil }

func openMemory(ctx context.Context, b *testing.B, dir string) *memory.Service {
	cfg := memory.Defaults()
	cfg.DataDir = dir
	m, err := memory.New(ctx, cfg, memory.Deps{Logger: logx.Discard(), Usage: dropUsage{}})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkBackupRestore(b *testing.B) {
	ctx := context.Background()
	storeCfg := store.Config{Driver: "sqlite"}
	if os.Getenv("QLP_TEST_POSTGRES_URL") != "" {
		storeCfg = store.Config{Driver: "postgres", DatabaseURL: storetest.PostgresURL(b)}
	}
	root := b.TempDir()
	dataDir, blobDir := filepath.Join(root, "data"), filepath.Join(root, "blobs")
	st, err := store.Open(ctx, storeCfg, dataDir)
	if err != nil {
		b.Fatal(err)
	}
	bs, err := blob.OpenLocal(blobDir)
	if err != nil {
		b.Fatal(err)
	}
	mem := openMemory(ctx, b, filepath.Join(dataDir, "memory"))
	fillState(ctx, b, st, bs, mem)
	mem.Close()
	mem = openMemory(ctx, b, filepath.Join(dataDir, "memory"))

	key, err := backup.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	cfg := backup.Defaults()
	cfg.Key = key
	svc, err := backup.New(cfg, backup.Deps{Store: st, Blobs: bs, Memory: mem, DataDir: dataDir})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		copyDir := filepath.Join(b.TempDir(), "copy")
		if out, err := exec.Command("cp", "-a", root, copyDir).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v: %s", err, out)
		}
		copied := time.Since(start)

		start = time.Now()
		m, err := svc.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		created := time.Since(start)
		all, _ := svc.List(ctx)
		start = time.Now()
		if _, err := svc.Verify(ctx, m.ID); err != nil {
			b.Fatal(err)
		}
		verified := time.Since(start)
		// The restore reads the backup from a file, as after a download
		// from the off-site store.
		file := filepath.Join(b.TempDir(), m.ID+".qlpbackup")
		rc, _, err := bs.Get(ctx, backup.Prefix+m.ID+".qlpbackup")
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(file)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		f.Close()

		fresh := b.TempDir()
		freshBlobs, err := blob.OpenLocal(filepath.Join(fresh, "blobs"))
		if err != nil {
			b.Fatal(err)
		}
		target := storeCfg
		if storeCfg.Driver == "postgres" {
			target.DatabaseURL = storetest.PostgresURL(b) // an empty schema
		}
		start = time.Now()
		rep, err := backup.Restore(ctx, cfg, file, backup.Target{Store: target, DataDir: filepath.Join(fresh, "data"),
			Blobs: freshBlobs,
			OpenMemory: func(ctx context.Context) (memory.Archive, func() error, error) {
				m := openMemory(ctx, b, filepath.Join(fresh, "data", "memory"))
				return m, m.Close, nil
			}})
		if err != nil {
			b.Fatal(err)
		}
		restored, err := store.Open(ctx, target, filepath.Join(fresh, "data"))
		if err != nil {
			b.Fatal(err)
		}
		rto := time.Since(start)
		restored.Close()
		if rep.MemoryEntries != memEntries || rep.Blobs != jobs {
			b.Fatalf("restored %d memory entries and %d blobs, want %d and %d", rep.MemoryEntries, rep.Blobs, memEntries, jobs)
		}
		size := int64(0)
		if len(all) > 0 {
			size = all[0].Size
		}
		b.ReportMetric(copied.Seconds(), "cp-a-s")
		b.ReportMetric(created.Seconds(), "backup-s")
		b.ReportMetric(verified.Seconds(), "verify-s")
		b.ReportMetric(rto.Seconds(), "rto-s")
		b.ReportMetric(created.Seconds()/copied.Seconds(), "backup/cp")
		b.ReportMetric(rto.Seconds()/copied.Seconds(), "rto/cp")
		b.ReportMetric(float64(size)/(1<<20), "backup-MiB")
		b.Logf("%s store: cp -a %.2f s; backup %.2f s (%.1f MiB); verify %.2f s; RTO %.2f s (restore %.2f s: %d blobs, %d memory entries; then the store opens)",
			storeCfg.Driver, copied.Seconds(), created.Seconds(), float64(size)/(1<<20), verified.Seconds(), rto.Seconds(), rep.Duration.Seconds(), rep.Blobs, rep.MemoryEntries)
	}
}

func fillState(ctx context.Context, b *testing.B, st *store.SQL, bs blob.Store, mem *memory.Service) {
	b.Helper()
	if _, err := st.EnsureTenant(ctx, "acme", "Acme"); err != nil {
		b.Fatal(err)
	}
	tctx := auth.WithPrincipal(ctx, auth.Principal{TenantID: "acme"})
	archive := make([]byte, archiveSize)
	for i := range jobs {
		id := fmt.Sprintf("job-%04d", i)
		if _, _, err := st.CreateJob(ctx, domain.Job{ID: id, TenantID: "acme", WorkflowID: "qlp-execution-" + id, Description: "build thing " + id, Language: "go", Status: "completed"}); err != nil {
			b.Fatal(err)
		}
		var files []domain.CapsuleFile
		for f := range 10 {
			content := bytes.Repeat([]byte(fmt.Sprintf("// file %d of %s\n", f, id)), 40)
			files = append(files, domain.CapsuleFile{Path: fmt.Sprintf("pkg/f%d.go", f), Role: "source", Size: int64(len(content)), SHA256: "x", Content: content})
		}
		capID := "cap-" + id
		if err := st.AddCapsuleVersion(ctx, domain.Capsule{ID: capID, TenantID: "acme", JobID: id, Name: id, Language: "go"},
			domain.CapsuleVersion{CapsuleID: capID, Version: 1, Manifest: []byte("{}"), Report: []byte("{}"), Files: files}); err != nil {
			b.Fatal(err)
		}
		_, _ = rand.Read(archive)
		if err := bs.Put(ctx, "capsules/acme/"+capID+"/v1.zip", bytes.NewReader(archive), archiveSize, "application/zip"); err != nil {
			b.Fatal(err)
		}
	}
	for i := range ledgerRows {
		if err := st.RecordUsage(ctx, store.Usage{TenantID: "acme", JobID: fmt.Sprintf("job-%04d", i%jobs), Role: "coder", Provider: "openai",
			Model: "gpt-4.1", InputTokens: 1000, OutputTokens: 500, CostPUSD: 4000, CreatedAt: time.Now().UTC()}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range memEntries {
		if _, err := mem.RecordCodePattern(tctx, memory.CodePattern{Language: "go", Description: fmt.Sprintf("helper number %d", i),
			Code: fmt.Sprintf("package p\n\n// H%d is helper %d.\nfunc H%d() int { return %d }\n", i, i, i, i), Validated: true, Score: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
