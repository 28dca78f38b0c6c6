package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRequestIDMigrationKeepsEarlierJobs: a database with jobs recorded
// before request ids were scoped per tenant (schema 4) keeps every job
// reachable under its old id, which becomes its request id, and its old
// workflow id.
func TestRequestIDMigrationKeepsEarlierJobs(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var open func() (*SQL, error)
			var db *sql.DB
			var d dialect
			switch backend {
			case "sqlite":
				path := filepath.Join(t.TempDir(), "qlp.db")
				var err error
				db, err = sql.Open("sqlite", "file:"+path)
				require.NoError(t, err)
				d = sqliteDialect{}
				open = func() (*SQL, error) { return OpenSQLite(t.Context(), path) }
			default:
				dsn := freshSchema(t)
				var err error
				db, err = sql.Open("pgx", dsn)
				require.NoError(t, err)
				d = postgresDialect{}
				open = func() (*SQL, error) { return OpenPostgres(t.Context(), dsn) }
			}
			old := &SQL{w: db, r: db, d: d, now: time.Now}
			ms, err := old.migrations()
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(ms), 5)
			_, err = db.ExecContext(t.Context(), `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
			require.NoError(t, err)
			for _, m := range ms[:4] {
				_, err := db.ExecContext(t.Context(), m.sql)
				require.NoError(t, err, m.name)
				_, err = db.ExecContext(t.Context(), d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`), m.version, m.name, "2026-01-01T00:00:00Z")
				require.NoError(t, err)
			}
			now := old.t(time.Now())
			for _, tenant := range []string{"acme", "globex"} {
				_, err = db.ExecContext(t.Context(), d.rebind(`INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`), tenant, tenant, now)
				require.NoError(t, err)
			}
			_, err = db.ExecContext(t.Context(), d.rebind(`INSERT INTO jobs (id, tenant_id, workflow_id, description, status, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`), "legacy-1", "acme", "qlp-execution-legacy-1", "old job", "completed", now, now)
			require.NoError(t, err)
			require.NoError(t, db.Close())

			s, err := open()
			require.NoError(t, err)
			defer s.Close()
			applied, known, err := s.SchemaVersion(t.Context())
			require.NoError(t, err)
			require.Equal(t, known, applied)
			j, err := s.FindJob(t.Context(), "acme", "legacy-1", "legacy-1")
			require.NoError(t, err)
			require.Equal(t, "legacy-1", j.ID)
			require.Equal(t, "legacy-1", j.RequestID, "the old id is the request id")
			j, err = s.FindJob(t.Context(), "acme", "qlp-execution-legacy-1", "legacy-1")
			require.NoError(t, err)
			require.Equal(t, "legacy-1", j.ID)
			_, err = s.FindJob(t.Context(), "globex", "qlp-execution-legacy-1", "legacy-1")
			require.ErrorIs(t, err, ErrNotFound)
			_, created, err := s.CreateJob(t.Context(), Job{ID: "k-new", RequestID: "legacy-1", TenantID: "globex", WorkflowID: "qlp-execution-k-new",
				Description: "same id, other tenant"})
			require.NoError(t, err)
			require.True(t, created, "another tenant may use the migrated request id")
		})
	}
}

// freshSchema is an empty schema of the test PostgreSQL server (see
// storetest.PostgresURL, which this package's own tests cannot import).
func freshSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("QLP_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("QLP_TEST_POSTGRES_URL is not set but QLP_TEST_REQUIRE_SERVICES=1: start scripts/test-services.sh")
		}
		t.Skip("QLP_TEST_POSTGRES_URL not set (scripts/test-services.sh start)")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(t.Context(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
