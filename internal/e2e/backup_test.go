package e2e

import (
	"context"
	"database/sql"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/backup"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx/logtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

// TestDisasterRecoveryDrill is the drill of docs/operations.md, on SQLite
// and on PostgreSQL: a job runs to its capsule (store rows, a capsule
// archive, memory entries, ledger rows) and another waits for a review;
// the worker's Temporal Schedule takes a backup; a ledger row is written
// after it; then the data directory is deleted, the database dropped and
// the capsule archives removed. The backup is restored into a fresh data
// directory and database, and a platform starts on them: every capsule
// verifies (signature and hashes) against the restored signing key, every
// ledger row and memory entry of the backup is there, and the waiting job
// is answered and completes. It prints RPO (what was written after the
// backup and lost) and RTO (restore start to a platform answering).
func TestDisasterRecoveryDrill(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pg := ""
			if backend == "postgres" {
				pg = storetest.PostgresURL(t)
			}
			drill(t, pg)
		})
	}
}

func drill(t *testing.T, pgURL string) {
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	model := llmtest.New(pythonModel(t))
	defer model.Close()
	key, err := backup.NewKey()
	require.NoError(t, err)
	cfg := testConfig(t, pgURL, model.URL)
	// Backups go off the data directory's disk, as to S3 or Azure.
	cfg.Blob.Dir = t.TempDir()
	cfg.Backup.Key = key
	cfg.Backup.Interval = time.Hour

	pl, stop := openDrillPlatform(t, cfg)
	c := pl.client("acme")
	sub, err := c.Execute(ctx, orchestrator.ExecuteRequest{ID: "built", Description: pyRequest}, "")
	require.NoError(t, err)
	require.Equal(t, "workflow_completed", lastEvent(pl.waitTerminal("acme", sub.WorkflowID)))
	st, err := c.Status(ctx, "built")
	require.NoError(t, err)
	require.Equal(t, "completed", st.Status, st.Error)
	capsuleID := st.Result.CapsuleID
	require.NotEmpty(t, capsuleID)

	waiting, err := c.Execute(ctx, orchestrator.ExecuteRequest{ID: "waiting", Description: reviewRequest,
		Metadata: map[string]any{"review_threshold": 1}}, "")
	require.NoError(t, err)
	review := waitPendingReview(ctx, t, c, "waiting")

	// The schedule exists; triggering it runs the backup workflow on the
	// worker, as the interval would.
	h := pl.p.Engine.Client.ScheduleClient().GetHandle(ctx, backup.ScheduleID)
	desc, err := h.Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, time.Hour, desc.Schedule.Spec.Intervals[0].Every)
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var taken backup.Info
	for taken.ID == "" {
		all, err := pl.p.Backups.List(ctx)
		require.NoError(t, err)
		if len(all) > 0 {
			taken = all[0]
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the scheduled backup never appeared in the blob store")
		case <-time.After(200 * time.Millisecond):
		}
	}
	usageAtBackup, err := pl.p.Store.ListUsage(ctx, store.UsageFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.NotEmpty(t, usageAtBackup)
	memAtBackup := memoryPoints(ctx, t, pl)
	require.NotZero(t, memAtBackup)

	// Written after the backup: lost by the disaster.
	require.NoError(t, pl.p.Store.RecordUsage(ctx, store.Usage{TenantID: "acme", JobID: "after", Role: "coder", Provider: "openai",
		Model: "gpt-4.1", InputTokens: 1, CostPUSD: 1, CreatedAt: time.Now().UTC()}))
	lastWrite := time.Now()
	stop()

	// The disaster.
	require.NoError(t, os.RemoveAll(cfg.DataDir))
	if pgURL != "" {
		dropSearchPathSchema(t, pgURL)
	}
	objs, err := pl.p.Blobs.List(ctx, "")
	require.NoError(t, err)
	for _, o := range objs {
		if !strings.HasPrefix(o.Key, backup.Prefix) {
			require.NoError(t, pl.p.Blobs.Delete(ctx, o.Key))
		}
	}

	restoreStart := time.Now()
	fresh := cfg
	fresh.DataDir = t.TempDir()
	rep, err := app.RestoreBackup(ctx, fresh, logtest.Logger(t), taken.ID, false, nil)
	require.NoError(t, err)
	pl2, stop2 := openDrillPlatform(t, fresh)
	defer stop2()
	c2 := pl2.client("acme")
	_, err = c2.Status(ctx, "built")
	require.NoError(t, err)
	rto := time.Since(restoreStart)

	// Every capsule verifies against the restored key.
	caps, err := c2.Capsules(ctx, 100, 0)
	require.NoError(t, err)
	require.NotEmpty(t, caps.Capsules)
	for _, cp := range caps.Capsules {
		zip, err := c2.Download(ctx, cp.ID, 0, "zip")
		require.NoError(t, err)
		files, err := capsule.ReadArchive(zip)
		require.NoError(t, err)
		v, err := capsule.Verify(files, pl2.p.Signer.PublicKey())
		require.NoError(t, err)
		require.True(t, v.OK(), "capsule %s: %v", cp.ID, v.Problems)
	}
	// Every ledger row of the backup is there; the one written after it
	// is the data lost (RPO).
	usage, err := pl2.p.Store.ListUsage(ctx, store.UsageFilter{TenantID: "acme"})
	require.NoError(t, err)
	have := map[int64]bool{}
	for _, u := range usage {
		have[u.ID] = true
		require.NotEqual(t, "after", u.JobID, "a row written after the backup cannot be in it")
	}
	for _, u := range usageAtBackup {
		require.True(t, have[u.ID], "ledger row %d (%s) of the backup was restored", u.ID, u.Role)
	}
	require.Equal(t, memAtBackup, memoryPoints(ctx, t, pl2), "every memory entry was restored")
	require.Equal(t, memAtBackup, rep.MemoryEntries)

	// The job that waited for a review goes on from where it was.
	_, err = c2.RespondReview(ctx, review.ID, orchestrator.ReviewResponse{Decision: "approve", Reviewer: "drill"})
	require.NoError(t, err)
	require.Equal(t, "workflow_completed", lastEvent(pl2.waitTerminal("acme", waiting.WorkflowID)))
	st, err = c2.Status(ctx, "waiting")
	require.NoError(t, err)
	require.Equal(t, "completed", st.Status, st.Error)

	rpo := lastWrite.Sub(taken.CreatedAt)
	t.Logf("DR drill (%s): RPO %.1f s (1 ledger row written after the backup was lost, as expected), RTO %.2f s (restore %.2f s + start); backup of %d blob(s), %d memory entries",
		pl.p.Store.Driver(), rpo.Seconds(), rto.Seconds(), rep.Duration.Seconds(), rep.Manifest.Blobs, rep.MemoryEntries)
	require.Less(t, rto, 5*time.Minute, "RTO target")
	if f := os.Getenv("QLP_DRILL_REPORT"); f != "" {
		line := pl.p.Store.Driver() + " rpo_s=" + strconv.FormatFloat(rpo.Seconds(), 'f', 2, 64) + " rto_s=" + strconv.FormatFloat(rto.Seconds(), 'f', 2, 64) + " restore_s=" + strconv.FormatFloat(rep.Duration.Seconds(), 'f', 2, 64) + "\n"
		fh, err := os.OpenFile(f, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		require.NoError(t, err)
		_, _ = fh.WriteString(line)
		fh.Close()
	}
}

// openDrillPlatform opens a platform with a worker on cfg and serves its
// API; stop closes both.
func openDrillPlatform(t *testing.T, cfg config.Config) (*platform, func()) {
	t.Helper()
	p, err := app.Open(t.Context(), cfg, logtest.Logger(t), app.Options{Run: []string{app.Worker}, Version: "test"})
	require.NoError(t, err)
	srv := httptest.NewServer(p.APIHandler())
	pl := &platform{t: t, p: p, srv: srv, keys: map[string]string{}}
	// The same key before and after: it lives in the store, which is
	// restored.
	if _, err := p.Store.APIKeyByDigest(t.Context(), auth.Digest(drillKey)); err != nil {
		_, err := p.Store.EnsureTenant(t.Context(), "acme", "acme")
		require.NoError(t, err)
		require.NoError(t, p.Store.CreateAPIKey(t.Context(), store.APIKey{ID: "acme-key", TenantID: "acme", Prefix: auth.DisplayPrefix(drillKey), Digest: auth.Digest(drillKey)}))
	}
	pl.keys["acme"] = drillKey
	var once bool
	return pl, func() {
		if !once {
			once = true
			srv.Close()
			p.Close()
		}
	}
}

const drillKey = "qlp_drill_0123456789abcdef0123456789abcdef"

func lastEvent(events []orchestrator.ProgressEvent) string {
	if len(events) == 0 {
		return ""
	}
	return events[len(events)-1].Type
}

func waitPendingReview(ctx context.Context, t *testing.T, c *orchestrator.Client, requestID string) orchestrator.ReviewInfo {
	t.Helper()
	for {
		list, err := c.PendingReviews(ctx)
		require.NoError(t, err)
		for _, r := range list.Reviews {
			if r.RequestID == requestID {
				return r
			}
		}
		st, err := c.Status(ctx, requestID)
		require.NoError(t, err)
		require.False(t, st.Status == "completed" || st.Status == "failed", "the job ended %s without a review: %s", st.Status, st.Error)
		select {
		case <-ctx.Done():
			t.Fatalf("job %s never asked for a review", requestID)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func memoryPoints(ctx context.Context, t *testing.T, pl *platform) int {
	t.Helper()
	st, err := pl.p.Memory.Stats(auth.WithPrincipal(ctx, auth.Principal{TenantID: "acme"}))
	require.NoError(t, err)
	n := 0
	for _, c := range st.Collections {
		n += c.Points
	}
	return n
}

func dropSearchPathSchema(t *testing.T, dsn string) {
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
