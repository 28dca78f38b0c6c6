// Package storetest is the conformance suite every store.Store backend must
// pass, and helpers that give tests a real database.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for schema set-up
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/store"
)

// PostgresURL returns a URL to a fresh, empty schema in the test PostgreSQL
// server named by QLP_TEST_POSTGRES_URL, dropped when the test ends. Without
// that variable the test is skipped, unless QLP_TEST_REQUIRE_SERVICES=1, in
// which case it fails: CI must never skip silently.
func PostgresURL(t testing.TB) string {
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
	_, err = db.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err, "create test schema")
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Run runs the conformance suite; open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"tenants", testTenants},
		{"api keys", testAPIKeys},
		{"jobs", testJobs},
		{"idempotency", testIdempotency},
		{"jobs in progress limit", testActiveJobsLimit},
		{"request ids are per tenant", testRequestIDsPerTenant},
		{"tasks", testTasks},
		{"capsules", testCapsules},
		{"capsule write is atomic", testCapsuleAtomic},
		{"usage", testUsage},
		{"usage rollups", testUsageRollup},
		{"budgets", testBudgets},
		{"budget alerts", testBudgetAlerts},
		{"review policies", testReviewPolicies},
		{"content policies", testContentPolicies},
		{"policy violations", testPolicyViolations},
		{"events", testEvents},
		{"concurrent writers", testConcurrent},
		{"attempts", testAttempts},
		{"reviews", testReviews},
		{"capsule checks", testCapsuleChecks},
		{"delivery rounds", testDeliveryRounds},
		{"key expiry and last use", testKeyExpiry},
		{"audit log", testAuditLog},
		{"marketing", testMarketing},
		{"model packs", testModelPacks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustTenant(t *testing.T, s store.Store, id string) {
	t.Helper()
	_, err := s.EnsureTenant(ctx(t), id, id+" inc")
	require.NoError(t, err)
}

func testTenants(t *testing.T, s store.Store) {
	a, err := s.EnsureTenant(ctx(t), "acme", "Acme")
	require.NoError(t, err)
	require.Equal(t, "Acme", a.Name)
	require.False(t, a.CreatedAt.IsZero())
	again, err := s.EnsureTenant(ctx(t), "acme", "Other name")
	require.NoError(t, err)
	require.Equal(t, "Acme", again.Name, "EnsureTenant must not overwrite an existing tenant")
	_, err = s.GetTenant(ctx(t), "nobody")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testAPIKeys(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	k := store.APIKey{ID: "k1", TenantID: "acme", Name: "ci", Prefix: "qlp_abcdefgh", Digest: "d1", Scopes: []string{"admin"}}
	require.NoError(t, s.CreateAPIKey(ctx(t), k))
	got, err := s.APIKeyByDigest(ctx(t), "d1")
	require.NoError(t, err)
	require.Equal(t, "acme", got.TenantID)
	require.Equal(t, []string{"admin"}, got.Scopes)
	err = s.CreateAPIKey(ctx(t), store.APIKey{ID: "k2", TenantID: "acme", Prefix: "x", Digest: "d1"})
	require.ErrorIs(t, err, store.ErrConflict, "a second key with the same digest")
	list, err := s.ListAPIKeys(ctx(t), "acme")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.ErrorIs(t, s.RevokeAPIKey(ctx(t), "other", "k1"), store.ErrNotFound, "another tenant cannot revoke")
	require.NoError(t, s.RevokeAPIKey(ctx(t), "acme", "k1"))
	_, err = s.APIKeyByDigest(ctx(t), "d1")
	require.ErrorIs(t, err, store.ErrNotFound, "revoked keys do not authenticate")
}

func testKeyExpiry(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	exp := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	require.NoError(t, s.CreateAPIKey(ctx(t), store.APIKey{ID: "k1", TenantID: "acme", Prefix: "qlp_x", Digest: "d1", Scopes: []string{"read"}, ExpiresAt: &exp}))
	got, err := s.APIKeyByDigest(ctx(t), "d1")
	require.NoError(t, err)
	require.NotNil(t, got.ExpiresAt)
	require.True(t, exp.Equal(*got.ExpiresAt), "expires %v, want %v", got.ExpiresAt, exp)
	require.False(t, got.Expired(time.Now()))
	require.True(t, got.Expired(exp))
	require.Nil(t, got.LastUsedAt)

	used := time.Now().UTC().Truncate(time.Second)
	require.NoError(t, s.TouchAPIKey(ctx(t), "k1", used))
	soon := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	require.ErrorIs(t, s.ExpireAPIKey(ctx(t), "other", "k1", soon), store.ErrNotFound, "another tenant cannot change it")
	require.NoError(t, s.ExpireAPIKey(ctx(t), "acme", "k1", soon))
	got, err = s.APIKeyByDigest(ctx(t), "d1")
	require.NoError(t, err)
	require.True(t, used.Equal(*got.LastUsedAt))
	require.True(t, soon.Equal(*got.ExpiresAt))
}

func testAuditLog(t *testing.T, s store.Store) {
	base := time.Now().UTC().Truncate(time.Second)
	for i, e := range []store.AuditEntry{
		{At: base, TenantID: "acme", Actor: "key:k1", Action: "POST /v2/execute", Target: "/v2/execute", Status: 202, Outcome: "ok", RequestID: "r1"},
		{At: base.Add(time.Second), TenantID: "globex", Actor: "key:k2", Action: "PUT /api/v2/budgets", Target: "/api/v2/budgets", Status: 403, Outcome: "refused"},
		{At: base.Add(2 * time.Second), TenantID: "acme", Actor: "cli:ops", Action: "apikey revoke", Target: "k1", Outcome: "ok"},
	} {
		require.NoError(t, s.AppendAudit(ctx(t), e), "entry %d", i)
	}
	acme, err := s.ListAudit(ctx(t), store.AuditFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Len(t, acme, 2)
	require.Equal(t, "apikey revoke", acme[0].Action, "newest first")
	require.Equal(t, 202, acme[1].Status)
	require.Equal(t, "r1", acme[1].RequestID)
	all, err := s.ListAudit(ctx(t), store.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	since, err := s.ListAudit(ctx(t), store.AuditFilter{Since: base.Add(time.Second), Limit: 1})
	require.NoError(t, err)
	require.Len(t, since, 1)
	require.Equal(t, "cli:ops", since[0].Actor)

	// Append-only: the database itself refuses changes and deletions.
	type execer interface {
		DB() *sql.DB
	}
	if db, ok := s.(execer); ok {
		_, err := db.DB().ExecContext(ctx(t), `UPDATE audit_log SET outcome = 'ok'`)
		require.ErrorContains(t, err, "append-only")
		_, err = db.DB().ExecContext(ctx(t), `DELETE FROM audit_log`)
		require.ErrorContains(t, err, "append-only")
	} else {
		t.Fatal("the store does not expose its database to prove the audit log is append-only")
	}
}

func newJob(id, tenant string) store.Job {
	return store.Job{ID: id, TenantID: tenant, UserID: "u", WorkflowID: "qlp-execution-" + id, Description: "build " + id,
		Language: "go", Mode: "v1", Constraints: json.RawMessage(`{"language":"go"}`)}
}

func testJobs(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "globex")
	j, created, err := s.CreateJob(ctx(t), newJob("j1", "acme"))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, store.JobQueued, j.Status)
	require.JSONEq(t, `{"language":"go"}`, string(j.Constraints))
	require.JSONEq(t, `{}`, string(j.Metadata))

	_, err = s.GetJob(ctx(t), "globex", "j1")
	require.ErrorIs(t, err, store.ErrNotFound, "another tenant's job is not found")
	_, _, err = s.CreateJob(ctx(t), newJob("j1", "acme"))
	require.ErrorIs(t, err, store.ErrConflict, "same id twice")

	running, done := store.JobRunning, 2
	started := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, s.UpdateJob(ctx(t), "j1", store.JobUpdate{Status: &running, TasksDone: &done, StartedAt: &started}))
	got, err := s.GetJob(ctx(t), "acme", "j1")
	require.NoError(t, err)
	require.Equal(t, store.JobRunning, got.Status)
	require.Equal(t, 2, got.TasksDone)
	require.NotNil(t, got.StartedAt)
	require.WithinDuration(t, started, *got.StartedAt, time.Millisecond)
	require.Nil(t, got.CompletedAt)
	require.ErrorIs(t, s.UpdateJob(ctx(t), "nope", store.JobUpdate{Status: &running}), store.ErrNotFound)
	project := json.RawMessage(`{"name":"shorty","language":"go"}`)
	require.NoError(t, s.UpdateJob(ctx(t), "j1", store.JobUpdate{Project: &project}))
	got, err = s.GetJob(ctx(t), "", "j1")
	require.NoError(t, err, "an empty tenant is the internal, unscoped read")
	require.JSONEq(t, string(project), string(got.Project))

	time.Sleep(2 * time.Millisecond)
	_, _, err = s.CreateJob(ctx(t), newJob("j2", "acme"))
	require.NoError(t, err)
	_, _, err = s.CreateJob(ctx(t), newJob("g1", "globex"))
	require.NoError(t, err)
	list, err := s.ListJobs(ctx(t), "acme", 10, 0)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "j2", list[0].ID, "newest first")
	page, err := s.ListJobs(ctx(t), "acme", 1, 1)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, "j1", page[0].ID)
}

func testIdempotency(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "globex")
	j := newJob("j1", "acme")
	j.IdempotencyKey = "key-1"
	_, created, err := s.CreateJob(ctx(t), j)
	require.NoError(t, err)
	require.True(t, created)
	j2 := newJob("j2", "acme")
	j2.IdempotencyKey = "key-1"
	got, created, err := s.CreateJob(ctx(t), j2)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, "j1", got.ID, "the first job is returned for a repeated key")
	g := newJob("g1", "globex")
	g.IdempotencyKey = "key-1"
	_, created, err = s.CreateJob(ctx(t), g)
	require.NoError(t, err)
	require.True(t, created, "keys are per tenant")
}

// testActiveJobsLimit: CreateJobWithin refuses a tenant's job over the
// limit of jobs queued or running, counts only that tenant's jobs in
// progress, returns an idempotent replay whatever the count, and holds
// when many submit at once.
func testActiveJobsLimit(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "globex")
	j1 := newJob("j1", "acme")
	j1.IdempotencyKey = "k1"
	for _, j := range []store.Job{j1, newJob("j2", "acme")} {
		_, created, err := s.CreateJobWithin(ctx(t), j, 2)
		require.NoError(t, err)
		require.True(t, created)
	}
	_, _, err := s.CreateJobWithin(ctx(t), newJob("j3", "acme"), 2)
	var limit *store.ActiveJobsError
	require.ErrorAs(t, err, &limit)
	require.ErrorIs(t, err, store.ErrLimit)
	require.Equal(t, store.ActiveJobsError{Active: 2, Max: 2}, *limit)
	_, err = s.GetJob(ctx(t), "acme", "j3")
	require.ErrorIs(t, err, store.ErrNotFound, "nothing is stored by a refused call")

	again := newJob("j1-again", "acme")
	again.IdempotencyKey = "k1"
	got, created, err := s.CreateJobWithin(ctx(t), again, 2)
	require.NoError(t, err, "a replay is not a new job")
	require.False(t, created)
	require.Equal(t, "j1", got.ID)

	_, created, err = s.CreateJobWithin(ctx(t), newJob("g1", "globex"), 2)
	require.NoError(t, err, "another tenant's jobs do not count")
	require.True(t, created)

	done := store.JobCompleted
	require.NoError(t, s.UpdateJob(ctx(t), "j1", store.JobUpdate{Status: &done}))
	_, created, err = s.CreateJobWithin(ctx(t), newJob("j4", "acme"), 2)
	require.NoError(t, err, "a finished job frees its place")
	require.True(t, created)

	// Many at once: exactly the free places are taken.
	mustTenant(t, s, "initech")
	const n, max = 8, 3
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, _, err := s.CreateJobWithin(ctx(t), newJob(fmt.Sprintf("i%d", i), "initech"), max)
			errs <- err
		}()
	}
	var ok, refused int
	for range n {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrLimit):
			refused++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, max, ok)
	require.Equal(t, n-max, refused)
}

// testRequestIDsPerTenant: a request id is the tenant's. Two tenants using
// the same one get two jobs (under two keys and two workflow ids); a
// tenant using one twice is a conflict; FindJob finds a tenant's job by
// workflow id or request id and answers another tenant's exactly like a
// missing one.
func testRequestIDsPerTenant(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "globex")
	job := func(key, requestID, tenant string) store.Job {
		j := newJob(key, tenant)
		j.RequestID = requestID
		return j
	}
	a, created, err := s.CreateJob(ctx(t), job("k-a", "build-1", "acme"))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "k-a", a.ID)
	require.Equal(t, "build-1", a.RequestID)
	g, created, err := s.CreateJob(ctx(t), job("k-g", "build-1", "globex"))
	require.NoError(t, err, "another tenant's request id is no conflict")
	require.True(t, created)
	require.Equal(t, "build-1", g.RequestID)
	_, _, err = s.CreateJob(ctx(t), job("k-a2", "build-1", "acme"))
	require.ErrorIs(t, err, store.ErrConflict, "a tenant's own request id twice")
	_, _, err = s.CreateJob(ctx(t), job("k-a", "build-2", "globex"))
	require.ErrorIs(t, err, store.ErrConflict, "job keys are unique across tenants")
	dup := job("k-x", "build-3", "globex")
	dup.WorkflowID = a.WorkflowID
	_, _, err = s.CreateJob(ctx(t), dup)
	require.ErrorIs(t, err, store.ErrConflict, "workflow ids are unique across tenants")
	plain, _, err := s.CreateJob(ctx(t), newJob("k-plain", "acme"))
	require.NoError(t, err)
	require.Equal(t, "k-plain", plain.RequestID, "no request id: the key is the request id")

	for _, tt := range []struct {
		tenant, workflowID, requestID, want string
	}{
		{"acme", "build-1", "build-1", "k-a"},
		{"globex", "build-1", "build-1", "k-g"},
		{"acme", "qlp-execution-k-a", "k-a", "k-a"},
		{"globex", "qlp-execution-k-g", "k-g", "k-g"},
		{"acme", "qlp-execution-build-1", "build-1", "k-a"},
		{"acme", "k-plain", "k-plain", "k-plain"},
		{"acme", "qlp-execution-k-plain", "k-plain", "k-plain"},
	} {
		got, err := s.FindJob(ctx(t), tt.tenant, tt.workflowID, tt.requestID)
		require.NoError(t, err, "%+v", tt)
		require.Equal(t, tt.want, got.ID, "%+v", tt)
		require.Equal(t, tt.tenant, got.TenantID)
	}
	for _, tt := range []struct{ tenant, workflowID, requestID string }{
		{"globex", "qlp-execution-k-a", "k-a"},
		{"acme", "qlp-execution-k-g", "k-g"},
		{"globex", "qlp-execution-k-plain", "k-plain"},
		{"acme", "nope", "nope"},
		{"nobody", "build-1", "build-1"},
	} {
		_, err := s.FindJob(ctx(t), tt.tenant, tt.workflowID, tt.requestID)
		require.ErrorIs(t, err, store.ErrNotFound, "%+v", tt)
	}
	// A workflow id wins over a request id that happens to equal it.
	odd, _, err := s.CreateJob(ctx(t), job("k-odd", "qlp-execution-k-a", "acme"))
	require.NoError(t, err)
	got, err := s.FindJob(ctx(t), "acme", "qlp-execution-k-a", "k-a")
	require.NoError(t, err)
	require.Equal(t, "k-a", got.ID)
	got, err = s.FindJob(ctx(t), "acme", odd.WorkflowID, "")
	require.NoError(t, err)
	require.Equal(t, "k-odd", got.ID)

	// Each job's capsule reads its own job's request id.
	for _, j := range []store.Job{a, g} {
		require.NoError(t, s.AddCapsuleVersion(ctx(t), store.Capsule{ID: "c-" + j.ID, TenantID: j.TenantID, JobID: j.ID, Name: "n"},
			capsuleVersion("c-"+j.ID, 1, nil)))
		c, err := s.GetCapsule(ctx(t), j.TenantID, "c-"+j.ID)
		require.NoError(t, err)
		require.Equal(t, "build-1", c.RequestID)
		require.Equal(t, j.ID, c.JobID)
		list, _, err := s.ListCapsules(ctx(t), j.TenantID, 10, 0)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "build-1", list[0].RequestID)
	}
}

func testTasks(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	_, _, err := s.CreateJob(ctx(t), newJob("j1", "acme"))
	require.NoError(t, err)
	tasks := []store.Task{
		{ID: "t2", Type: "code_generation", Description: "b", Complexity: "simple", Dependencies: []string{"t1"}},
		{ID: "t1", Type: "code_generation", Description: "a", Complexity: "medium"},
	}
	require.NoError(t, s.PutTasks(ctx(t), "j1", tasks))
	list, err := s.ListTasks(ctx(t), "j1")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "t2", list[0].ID, "decomposition order is kept")
	require.Equal(t, []string{"t1"}, list[0].Dependencies)
	require.Equal(t, store.TaskPending, list[1].Status)

	files := []store.File{{Path: "main.go", Content: "package main\n\nfunc main() {}\n"}}
	status, summary, cost := store.TaskCompleted, "wrote main.go", int64(123456789)
	require.NoError(t, s.UpdateTask(ctx(t), "j1", "t1", store.TaskUpdate{Status: &status, Files: &files, Summary: &summary, CostPUSD: &cost}))
	got, err := s.GetTask(ctx(t), "j1", "t1")
	require.NoError(t, err)
	require.Equal(t, files, got.Files)
	require.Equal(t, summary, got.Summary)
	require.Equal(t, cost, got.CostPUSD)
	_, err = s.GetTask(ctx(t), "j1", "t9")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.UpdateTask(ctx(t), "j1", "t9", store.TaskUpdate{Status: &status}), store.ErrNotFound)

	require.NoError(t, s.PutTasks(ctx(t), "j1", tasks[:1]), "replacing the plan")
	list, err = s.ListTasks(ctx(t), "j1")
	require.NoError(t, err)
	require.Len(t, list, 1)
}

func capsuleVersion(id string, v int, files map[string]string) store.CapsuleVersion {
	cv := store.CapsuleVersion{CapsuleID: id, Version: v, ParentVersion: v - 1, Manifest: []byte(`{"v":` + fmt.Sprint(v) + `}`), Report: []byte(`{}`)}
	for p, c := range files {
		cv.Files = append(cv.Files, store.CapsuleFile{Path: p, Role: "source", Size: int64(len(c)), SHA256: "h-" + p, Content: []byte(c)})
	}
	return cv
}

func testCapsules(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "globex")
	c := store.Capsule{ID: "c1", TenantID: "acme", JobID: "j1", Name: "url-shortener", Language: "go"}
	require.NoError(t, s.AddCapsuleVersion(ctx(t), c, capsuleVersion("c1", 1, map[string]string{"b.go": "bb", "a.go": "a"})))
	got, err := s.GetCapsule(ctx(t), "acme", "c1")
	require.NoError(t, err)
	require.Equal(t, 1, got.LatestVersion)
	require.Equal(t, 2, got.FileCount)
	require.EqualValues(t, 3, got.TotalBytes)
	_, err = s.GetCapsule(ctx(t), "globex", "c1")
	require.ErrorIs(t, err, store.ErrNotFound, "another tenant's capsule is not found")
	_, err = s.GetCapsuleVersion(ctx(t), "globex", "c1", 0)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetCapsuleFile(ctx(t), "globex", "c1", 0, "a.go")
	require.ErrorIs(t, err, store.ErrNotFound)

	v, err := s.GetCapsuleVersion(ctx(t), "acme", "c1", 0)
	require.NoError(t, err)
	require.Len(t, v.Files, 2)
	require.Equal(t, "a.go", v.Files[0].Path, "files sorted by path")
	require.JSONEq(t, `{"v":1}`, string(v.Manifest))

	require.ErrorIs(t, s.AddCapsuleVersion(ctx(t), c, capsuleVersion("c1", 3, nil)), store.ErrConflict, "versions cannot skip")
	require.NoError(t, s.AddCapsuleVersion(ctx(t), c, capsuleVersion("c1", 2, map[string]string{"a.go": "a2"})))
	latest, err := s.GetCapsuleVersion(ctx(t), "acme", "c1", 0)
	require.NoError(t, err)
	require.Equal(t, 2, latest.Version)
	require.Equal(t, 1, latest.ParentVersion)
	f, err := s.GetCapsuleFile(ctx(t), "acme", "c1", 1, "b.go")
	require.NoError(t, err)
	require.Equal(t, "bb", string(f.Content))
	_, err = s.GetCapsuleFile(ctx(t), "acme", "c1", 2, "b.go")
	require.ErrorIs(t, err, store.ErrNotFound, "b.go is gone in version 2")
	_, err = s.GetCapsuleVersion(ctx(t), "acme", "c1", 7)
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, s.AddCapsuleVersion(ctx(t), store.Capsule{ID: "c2", TenantID: "acme", Name: "two"}, capsuleVersion("c2", 1, nil)))
	require.NoError(t, s.AddCapsuleVersion(ctx(t), store.Capsule{ID: "g1", TenantID: "globex", Name: "g"}, capsuleVersion("g1", 1, nil)))
	list, total, err := s.ListCapsules(ctx(t), "acme", 1, 0)
	require.NoError(t, err)
	require.Equal(t, 2, total)
	require.Len(t, list, 1)
}

func testCapsuleAtomic(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	v := capsuleVersion("c1", 1, map[string]string{"a.go": "a"})
	v.Files = append(v.Files, v.Files[0]) // duplicate path: the insert must fail
	err := s.AddCapsuleVersion(ctx(t), store.Capsule{ID: "c1", TenantID: "acme", Name: "x"}, v)
	require.Error(t, err)
	_, err = s.GetCapsule(ctx(t), "acme", "c1")
	require.ErrorIs(t, err, store.ErrNotFound, "a failed write leaves no capsule behind")
}

func testUsage(t *testing.T, s store.Store) {
	day1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	rows := []store.Usage{
		{TenantID: "acme", JobID: "j1", TaskID: "t1", Tier: "T0", Provider: "openai", Model: "gpt-4o-mini", InputTokens: 1000, OutputTokens: 500, CostPUSD: 450_000_000, CreatedAt: day1},
		{TenantID: "acme", JobID: "j1", TaskID: "t2", Tier: "T1", Provider: "openai", Model: "gpt-4.1", InputTokens: 2000, CachedInputTokens: 1000, OutputTokens: 100, CostPUSD: 3_300_000_000, LatencyMS: 42, CreatedAt: day1},
		{TenantID: "acme", JobID: "j2", Provider: "openai", Model: "gpt-4.1", InputTokens: 7, OutputTokens: 3, Cached: true, CreatedAt: day2},
		{TenantID: "globex", JobID: "g1", Provider: "openai", Model: "gpt-4.1", InputTokens: 1, OutputTokens: 1, CostPUSD: 10, CreatedAt: day2},
	}
	for _, u := range rows {
		require.NoError(t, s.RecordUsage(ctx(t), u))
	}
	tot, err := s.SumUsage(ctx(t), store.UsageFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Equal(t, store.UsageTotals{Calls: 3, InputTokens: 3007, CachedInputTokens: 1000, OutputTokens: 603, CostPUSD: 3_750_000_000}, tot)
	tot, err = s.SumUsage(ctx(t), store.UsageFilter{TenantID: "acme", Since: day2})
	require.NoError(t, err)
	require.Equal(t, 1, tot.Calls)
	tot, err = s.SumUsage(ctx(t), store.UsageFilter{JobID: "j1", Until: day2})
	require.NoError(t, err)
	require.Equal(t, 2, tot.Calls)
	list, err := s.ListUsage(ctx(t), store.UsageFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.True(t, list[2].Cached)
	require.EqualValues(t, 42, list[1].LatencyMS)
	require.True(t, list[0].CreatedAt.Equal(day1))
}

func testUsageRollup(t *testing.T, s store.Store) {
	mar1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	// 01:00 at UTC+5 on 2 March is 20:00 UTC on 1 March: days are UTC days.
	lateMar1 := time.Date(2026, 3, 2, 1, 0, 0, 0, time.FixedZone("UTC+5", 5*3600))
	mar2 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	apr30 := time.Date(2026, 4, 30, 23, 59, 59, 999_000_000, time.UTC)
	rows := []store.Usage{
		{TenantID: "acme", JobID: "j1", TaskID: "t1", Attempt: 1, Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4o-mini", InputTokens: 1000, OutputTokens: 500, CostPUSD: 450_000_000, CreatedAt: mar1},
		{TenantID: "acme", JobID: "j1", TaskID: "t1", Attempt: 2, Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4o-mini", InputTokens: 1000, CachedInputTokens: 600, OutputTokens: 500, CostPUSD: 405_000_000, CreatedAt: lateMar1},
		{TenantID: "acme", JobID: "j1", Tier: "T2", Role: "decomposer", Provider: "openai", Model: "gpt-4.1", InputTokens: 300, OutputTokens: 200, CostPUSD: 2_200_000_000, CreatedAt: mar1},
		{TenantID: "acme", JobID: "j2", TaskID: "t1", Attempt: 1, Tier: "T0", Role: "coder", Provider: "openai", Model: "gpt-4o-mini", InputTokens: 1000, OutputTokens: 500, Cached: true, CreatedAt: mar2},
		{TenantID: "globex", JobID: "g1", TaskID: "t1", Attempt: 1, Tier: "T1", Role: "coder", Provider: "bedrock", Model: "amazon.nova-lite-v1:0", InputTokens: 10, OutputTokens: 10, CostPUSD: 3_000_000, CreatedAt: apr30},
		{TenantID: "globex", Role: "embedder", Provider: "openai", Model: "text-embedding-3-small", InputTokens: 50, CostPUSD: 1_000_000, CreatedAt: apr30},
	}
	for _, u := range rows {
		require.NoError(t, s.RecordUsage(ctx(t), u))
	}
	roll := func(q store.RollupQuery) []store.UsageGroup {
		t.Helper()
		out, err := s.RollupUsage(ctx(t), q)
		require.NoError(t, err)
		return out
	}

	require.Equal(t, []store.UsageGroup{
		{Period: "2026-03-01", TenantID: "acme", Calls: 3, Jobs: 1, Tasks: 1, InputTokens: 2300, CachedInputTokens: 600, OutputTokens: 1200, CostPUSD: 3_055_000_000},
		{Period: "2026-03-02", TenantID: "acme", Calls: 1, CachedCalls: 1, Jobs: 1, Tasks: 1, InputTokens: 1000, OutputTokens: 500},
		{Period: "2026-04-30", TenantID: "globex", Calls: 2, Jobs: 1, Tasks: 1, InputTokens: 60, OutputTokens: 10, CostPUSD: 4_000_000},
	}, roll(store.RollupQuery{Period: store.PeriodDay, By: []string{store.GroupTenant}}))

	require.Equal(t, []store.UsageGroup{
		{Period: "2026-03", Provider: "openai", Model: "gpt-4.1", Calls: 1, Jobs: 1, InputTokens: 300, OutputTokens: 200, CostPUSD: 2_200_000_000},
		{Period: "2026-03", Provider: "openai", Model: "gpt-4o-mini", Calls: 3, CachedCalls: 1, Jobs: 2, Tasks: 2, InputTokens: 3000, CachedInputTokens: 600, OutputTokens: 1500, CostPUSD: 855_000_000},
		{Period: "2026-04", Provider: "bedrock", Model: "amazon.nova-lite-v1:0", Calls: 1, Jobs: 1, Tasks: 1, InputTokens: 10, OutputTokens: 10, CostPUSD: 3_000_000},
		{Period: "2026-04", Provider: "openai", Model: "text-embedding-3-small", Calls: 1, InputTokens: 50, CostPUSD: 1_000_000},
	}, roll(store.RollupQuery{Period: store.PeriodMonth, By: []string{store.GroupProvider, store.GroupModel}}))

	// Attribution down to the attempt, for one job.
	require.Equal(t, []store.UsageGroup{
		{TaskID: "", Attempt: 0, Tier: "T2", Role: "decomposer", Calls: 1, Jobs: 1, InputTokens: 300, OutputTokens: 200, CostPUSD: 2_200_000_000},
		{TaskID: "t1", Attempt: 1, Tier: "T0", Role: "coder", Calls: 1, Jobs: 1, Tasks: 1, InputTokens: 1000, OutputTokens: 500, CostPUSD: 450_000_000},
		{TaskID: "t1", Attempt: 2, Tier: "T0", Role: "coder", Calls: 1, Jobs: 1, Tasks: 1, InputTokens: 1000, CachedInputTokens: 600, OutputTokens: 500, CostPUSD: 405_000_000},
	}, roll(store.RollupQuery{Filter: store.UsageFilter{JobID: "j1"}, By: []string{store.GroupTask, store.GroupAttempt, store.GroupTier, store.GroupRole}}))

	// The whole range in one row; a filter by provider and time.
	require.Equal(t, []store.UsageGroup{{Calls: 6, CachedCalls: 1, Jobs: 3, Tasks: 3, InputTokens: 3360, CachedInputTokens: 600, OutputTokens: 1710, CostPUSD: 3_059_000_000}},
		roll(store.RollupQuery{}))
	require.Equal(t, []store.UsageGroup{{Tier: "T1", Calls: 1, Jobs: 1, Tasks: 1, InputTokens: 10, OutputTokens: 10, CostPUSD: 3_000_000}},
		roll(store.RollupQuery{Filter: store.UsageFilter{Providers: []string{"bedrock", "azure"}, Since: mar2}, By: []string{store.GroupTier}}))
	require.Empty(t, roll(store.RollupQuery{Filter: store.UsageFilter{TenantID: "nobody"}}))
	require.Empty(t, roll(store.RollupQuery{Filter: store.UsageFilter{TenantID: "nobody"}, Period: store.PeriodDay}))
	tot, err := s.SumUsage(ctx(t), store.UsageFilter{Providers: []string{"openai"}, Until: apr30})
	require.NoError(t, err)
	require.Equal(t, 4, tot.Calls)

	for _, bad := range []store.RollupQuery{{Period: "week"}, {By: []string{"cost"}}, {By: []string{store.GroupTier, store.GroupTier}}} {
		_, err := s.RollupUsage(ctx(t), bad)
		require.Error(t, err)
	}
}

func testBudgets(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	_, err := s.GetBudget(ctx(t), "acme")
	require.ErrorIs(t, err, store.ErrNotFound)
	ten, none := int64(100_000_000_000), store.NoLimit
	require.NoError(t, s.PutBudget(ctx(t), store.Budget{TenantID: "acme", RequestPUSD: &ten, MonthlyPUSD: &none, Policy: "downgrade", UpdatedBy: "k1"}))
	b, err := s.GetBudget(ctx(t), "acme")
	require.NoError(t, err)
	require.Equal(t, ten, *b.RequestPUSD)
	require.Nil(t, b.DailyPUSD, "not set: the configured default")
	require.Equal(t, store.NoLimit, *b.MonthlyPUSD)
	require.Equal(t, "downgrade", b.Policy)
	require.Equal(t, "k1", b.UpdatedBy)
	require.False(t, b.UpdatedAt.IsZero())

	zero := int64(0)
	require.NoError(t, s.PutBudget(ctx(t), store.Budget{TenantID: "acme", DailyPUSD: &zero}))
	b, err = s.GetBudget(ctx(t), "acme")
	require.NoError(t, err)
	require.Nil(t, b.RequestPUSD, "a put replaces the whole budget")
	require.Zero(t, *b.DailyPUSD)
	require.Empty(t, b.Policy)

	neg := int64(-2)
	require.Error(t, s.PutBudget(ctx(t), store.Budget{TenantID: "acme", RequestPUSD: &neg}))
	require.Error(t, s.PutBudget(ctx(t), store.Budget{TenantID: "nobody"}), "budgets belong to tenants that exist")
}

func testReviewPolicies(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "globex")
	p, err := s.GetReviewPolicy(ctx(t), "acme")
	require.NoError(t, err, "a tenant that never set a policy gets an unset one")
	require.True(t, p.Unset())
	require.Equal(t, "acme", p.TenantID)
	require.True(t, p.UpdatedAt.IsZero())

	threshold, timeout, reject, aitl := 0.8, 90*time.Minute, "reject", false
	require.NoError(t, s.PutReviewPolicy(ctx(t), store.ReviewPolicy{TenantID: "acme", Threshold: &threshold, Timeout: &timeout,
		OnTimeout: &reject, AITL: &aitl, UpdatedBy: "k1"}))
	p, err = s.GetReviewPolicy(ctx(t), "acme")
	require.NoError(t, err)
	require.InDelta(t, 0.8, *p.Threshold, 1e-12)
	require.Equal(t, 90*time.Minute, *p.Timeout)
	require.Equal(t, "reject", *p.OnTimeout)
	require.False(t, *p.AITL, "false is a value, not unset")
	require.Equal(t, "k1", p.UpdatedBy)
	require.False(t, p.UpdatedAt.IsZero())

	other, err := s.GetReviewPolicy(ctx(t), "globex")
	require.NoError(t, err)
	require.True(t, other.Unset(), "one tenant's policy is not another's")

	zero, on := 0.0, true
	require.NoError(t, s.PutReviewPolicy(ctx(t), store.ReviewPolicy{TenantID: "acme", Threshold: &zero, AITL: &on, UpdatedBy: "k2"}))
	p, err = s.GetReviewPolicy(ctx(t), "acme")
	require.NoError(t, err)
	require.Zero(t, *p.Threshold, "0 (reviews off) is a value, not unset")
	require.Nil(t, p.Timeout, "a put replaces the whole policy")
	require.Nil(t, p.OnTimeout)
	require.True(t, *p.AITL)
	require.Equal(t, "k2", p.UpdatedBy)

	require.NoError(t, s.PutReviewPolicy(ctx(t), store.ReviewPolicy{TenantID: "acme"}))
	p, err = s.GetReviewPolicy(ctx(t), "acme")
	require.NoError(t, err)
	require.True(t, p.Unset(), "every field back to the server's setting")

	high, short, maybe := 1.5, 500*time.Millisecond, "maybe"
	require.Error(t, s.PutReviewPolicy(ctx(t), store.ReviewPolicy{TenantID: "acme", Threshold: &high}))
	require.Error(t, s.PutReviewPolicy(ctx(t), store.ReviewPolicy{TenantID: "acme", Timeout: &short}))
	require.Error(t, s.PutReviewPolicy(ctx(t), store.ReviewPolicy{TenantID: "acme", OnTimeout: &maybe}))
	require.Error(t, s.PutReviewPolicy(ctx(t), store.ReviewPolicy{TenantID: "nobody"}), "policies belong to tenants that exist")
}

func testBudgetAlerts(t *testing.T, s store.Store) {
	a := store.BudgetAlert{Scope: "tenant_daily", Subject: "acme", Period: "2026-03-01", Percent: 80, TenantID: "acme", JobID: "j1",
		SpentPUSD: 8, LimitPUSD: 10, Message: "80% of the daily budget"}
	created, err := s.RecordBudgetAlert(ctx(t), a)
	require.NoError(t, err)
	require.True(t, created)
	created, err = s.RecordBudgetAlert(ctx(t), a)
	require.NoError(t, err)
	require.False(t, created, "an alert fires once")
	a.Percent = 100
	created, err = s.RecordBudgetAlert(ctx(t), a)
	require.NoError(t, err)
	require.True(t, created)
	a.Period, a.Percent = "2026-03-02", 80
	created, err = s.RecordBudgetAlert(ctx(t), a)
	require.NoError(t, err)
	require.True(t, created, "a new day, a new alert")
	created, err = s.RecordBudgetAlert(ctx(t), store.BudgetAlert{Scope: "pool", Subject: "azure", Percent: 50, SpentPUSD: 5, LimitPUSD: 10})
	require.NoError(t, err)
	require.True(t, created)

	list, err := s.ListBudgetAlerts(ctx(t), "acme", 0)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, "2026-03-02", list[0].Period, "newest first")
	require.Equal(t, "80% of the daily budget", list[2].Message)
	require.EqualValues(t, 8, list[2].SpentPUSD)
	require.False(t, list[2].CreatedAt.IsZero())
	pools, err := s.ListBudgetAlerts(ctx(t), "", 10)
	require.NoError(t, err)
	require.Len(t, pools, 1)
	require.Equal(t, "azure", pools[0].Subject)
}

func testEvents(t *testing.T, s store.Store) {
	var ids []int64
	for i := 0; i < 3; i++ {
		e, err := s.AppendEvent(ctx(t), store.Event{JobID: "j1", TenantID: "acme", Type: "task_started", TaskID: fmt.Sprint("t", i), Data: json.RawMessage(`{"n":1}`)})
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	_, err := s.AppendEvent(ctx(t), store.Event{JobID: "j2", TenantID: "acme", Type: "x"})
	require.NoError(t, err)
	require.Less(t, ids[0], ids[1])
	require.Less(t, ids[1], ids[2])
	all, err := s.ListEvents(ctx(t), "j1", 0, 0)
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.JSONEq(t, `{"n":1}`, string(all[0].Data))
	after, err := s.ListEvents(ctx(t), "j1", ids[0], 10)
	require.NoError(t, err)
	require.Len(t, after, 2)
	require.Equal(t, ids[1], after[0].ID)
}

func testConcurrent(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	_, _, err := s.CreateJob(ctx(t), newJob("j1", "acme"))
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for k := 0; k < 4; k++ {
				var err error
				switch k {
				case 0:
					_, err = s.AppendEvent(ctx(t), store.Event{JobID: "j1", TenantID: "acme", Type: "tick"})
				case 1:
					err = s.RecordUsage(ctx(t), store.Usage{TenantID: "acme", JobID: "j1", Provider: "p", Model: "m", InputTokens: 1, CostPUSD: 1})
				case 2:
					done := i
					err = s.UpdateJob(ctx(t), "j1", store.JobUpdate{TasksDone: &done})
				case 3:
					_, err = s.ListEvents(ctx(t), "j1", 0, 0)
				}
				if err != nil {
					errs <- err
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	tot, err := s.SumUsage(ctx(t), store.UsageFilter{JobID: "j1"})
	require.NoError(t, err)
	require.Equal(t, 20, tot.Calls)
}

func testAttempts(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	_, _, err := s.CreateJob(ctx(t), newJob("j1", "acme"))
	require.NoError(t, err)
	conf := 0.9
	a := store.Attempt{JobID: "j1", TaskID: "t1", Attempt: 1, Role: "coder", PromptVersion: "coder.v1", Tier: "T0", Model: "m",
		InputTokens: 10, OutputTokens: 20, CostPUSD: 30, Status: store.AttemptGenerated, Files: []store.File{{Path: "a.go", Content: "x"}}}
	require.NoError(t, s.PutAttempt(ctx(t), a))
	a.Status, a.ValidationStatus, a.Confidence, a.Failures, a.Fingerprint = store.AttemptFailed, "failed", &conf, "go-test: TestX failed", "fp1"
	require.NoError(t, s.PutAttempt(ctx(t), a), "an attempt is updated in place")
	require.NoError(t, s.PutAttempt(ctx(t), store.Attempt{JobID: "j1", TaskID: "t1", Attempt: 2, Role: "fixer", Status: store.AttemptGenerated,
		Files: []store.File{{Path: "a.go", Content: "y"}}, Deleted: []string{"stray.go", "x/old.go"}}))
	require.NoError(t, s.PutAttempt(ctx(t), store.Attempt{JobID: "j1", TaskID: "t0", Attempt: 1, Role: "coder", Status: store.AttemptPassed}))
	require.NoError(t, s.PutAttempt(ctx(t), store.Attempt{JobID: "j1", TaskID: "t0", Attempt: 2, Phase: store.PhaseCapsule, Role: "fixer", Status: store.AttemptPassed}))
	got, err := s.GetAttempt(ctx(t), "j1", "t1", 1)
	require.NoError(t, err)
	require.Equal(t, store.AttemptFailed, got.Status)
	require.Equal(t, store.PhaseTask, got.Phase, "an attempt without a phase is the task's own")
	require.Equal(t, "go-test: TestX failed", got.Failures)
	require.InDelta(t, 0.9, *got.Confidence, 1e-9)
	require.Equal(t, []store.File{{Path: "a.go", Content: "x"}}, got.Files)
	list, err := s.ListAttempts(ctx(t), "j1", "t1")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, 2, list[1].Attempt)
	require.Nil(t, list[1].Confidence)
	require.Nil(t, list[0].Deleted, "an attempt that deleted nothing")
	require.Equal(t, []string{"stray.go", "x/old.go"}, list[1].Deleted, "the files an attempt deleted are recorded")
	all, err := s.ListAttempts(ctx(t), "j1", "")
	require.NoError(t, err)
	require.Len(t, all, 4)
	require.Equal(t, "t0", all[0].TaskID)
	require.Equal(t, store.PhaseCapsule, all[1].Phase)
	_, err = s.GetAttempt(ctx(t), "j1", "t1", 9)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testReviews(t *testing.T, s store.Store) {
	conf := 0.55
	timeout := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	r := store.Review{ID: "r1", TenantID: "acme", JobID: "j1", TaskID: "t1", Attempt: 2, Confidence: &conf,
		Reasons: []string{"no tests ran"}, Summary: "needs a look", TimeoutPolicy: "wait", TimeoutAt: &timeout}
	require.NoError(t, s.CreateReview(ctx(t), r))
	require.ErrorIs(t, s.CreateReview(ctx(t), r), store.ErrConflict)
	require.NoError(t, s.CreateReview(ctx(t), store.Review{ID: "r2", TenantID: "globex", JobID: "g1"}))
	got, err := s.GetReview(ctx(t), "acme", "r1")
	require.NoError(t, err)
	require.Equal(t, store.ReviewPending, got.Status)
	require.Equal(t, []string{"no tests ran"}, got.Reasons)
	require.WithinDuration(t, timeout, *got.TimeoutAt, time.Millisecond)
	_, err = s.GetReview(ctx(t), "globex", "r1")
	require.ErrorIs(t, err, store.ErrNotFound, "another tenant's review is not found")
	pending, err := s.ListReviews(ctx(t), "acme", store.ReviewPending)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.NoError(t, s.DecideReview(ctx(t), "r1", store.ReviewChangesRequested, "use a map", "ada", time.Now()))
	require.ErrorIs(t, s.DecideReview(ctx(t), "r1", store.ReviewApproved, "", "bob", time.Now()), store.ErrConflict, "decided once")
	require.ErrorIs(t, s.DecideReview(ctx(t), "nope", store.ReviewApproved, "", "bob", time.Now()), store.ErrNotFound)
	got, err = s.GetReview(ctx(t), "", "r1")
	require.NoError(t, err)
	require.Equal(t, store.ReviewChangesRequested, got.Status)
	require.Equal(t, "use a map", got.Comment)
	require.NotNil(t, got.DecidedAt)
	pending, err = s.ListReviews(ctx(t), "acme", store.ReviewPending)
	require.NoError(t, err)
	require.Empty(t, pending)
}

func testCapsuleChecks(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	_, _, err := s.CreateJob(ctx(t), newJob("j1", "acme"))
	require.NoError(t, err)
	_, err = s.LatestCapsuleCheck(ctx(t), "j1")
	require.ErrorIs(t, err, store.ErrNotFound)
	first := store.CapsuleCheck{JobID: "j1", Round: 1, Status: "failed", Summary: "failed: staticcheck", Digest: "d1",
		Findings: []store.CapsuleFinding{{TaskID: "t1", Check: "staticcheck", Tool: "staticcheck", File: "a_test.go", Line: 7, Column: 2,
			RuleID: "SA4006", Severity: "high", Message: "this value of n is never used"}},
		Routes: []store.CapsuleRoute{{TaskID: "t1", Findings: 1, Fingerprint: "fp", Failures: "check staticcheck failed"}},
		Report: json.RawMessage(`{"overall_status":"failed"}`)}
	require.NoError(t, s.PutCapsuleCheck(ctx(t), first))
	require.NoError(t, s.PutCapsuleCheck(ctx(t), store.CapsuleCheck{JobID: "j1", Round: 2, Status: "passed"}))
	got, err := s.GetCapsuleCheck(ctx(t), "j1", 1)
	require.NoError(t, err)
	require.Equal(t, first.Findings, got.Findings)
	require.Equal(t, first.Routes, got.Routes)
	require.JSONEq(t, `{"overall_status":"failed"}`, string(got.Report))
	require.False(t, got.CreatedAt.IsZero())
	latest, err := s.LatestCapsuleCheck(ctx(t), "j1")
	require.NoError(t, err)
	require.Equal(t, 2, latest.Round)
	require.Empty(t, latest.Findings)
	_, err = s.GetCapsuleCheck(ctx(t), "j1", 3)
	require.ErrorIs(t, err, store.ErrNotFound)
	first.Status = "passed"
	require.NoError(t, s.PutCapsuleCheck(ctx(t), first), "a round is replaced in place")
	got, err = s.GetCapsuleCheck(ctx(t), "j1", 1)
	require.NoError(t, err)
	require.Equal(t, "passed", got.Status)
}

func testContentPolicies(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	p, err := s.GetContentPolicy(ctx(t), "acme")
	if err != nil || len(p.Allow) != 0 || len(p.Deny) != 0 {
		t.Fatalf("unset policy = %+v, %v", p, err)
	}
	want := store.ContentPolicy{TenantID: "acme", Allow: []string{"malware"}, Deny: []string{"profanity", "sexual"}, UpdatedBy: "key1"}
	if err := s.PutContentPolicy(ctx(t), want); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetContentPolicy(ctx(t), "acme")
	if err != nil || !reflect.DeepEqual(got.Allow, want.Allow) || !reflect.DeepEqual(got.Deny, want.Deny) || got.UpdatedBy != "key1" || got.UpdatedAt.IsZero() {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	if err := s.PutContentPolicy(ctx(t), store.ContentPolicy{TenantID: "acme", Allow: []string{}, Deny: []string{}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetContentPolicy(ctx(t), "acme"); len(got.Allow)+len(got.Deny) != 0 {
		t.Fatalf("cleared policy = %+v", got)
	}
	if err := s.PutContentPolicy(ctx(t), store.ContentPolicy{TenantID: "acme", Allow: []string{"a,b"}}); err == nil {
		t.Fatal("a name with a comma was stored")
	}
}

func testPolicyViolations(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "other")
	v := store.PolicyViolation{TenantID: "acme", UserID: "u", Kind: "user_request", Origin: "request", Severity: "high",
		Categories: []string{"malware", "credential_theft"}, Action: "refused", ContentSHA256: strings.Repeat("ab", 32), Explanation: "malware content"}
	first, err := s.RecordPolicyViolation(ctx(t), v)
	if err != nil || first.ID == 0 {
		t.Fatalf("record = %+v, %v", first, err)
	}
	v.JobID, v.TaskID, v.Origin, v.Action = "job1", "t1", "output", "failed"
	second, err := s.RecordPolicyViolation(ctx(t), v)
	if err != nil || second.ID <= first.ID {
		t.Fatalf("second = %+v, %v", second, err)
	}
	if _, err := s.RecordPolicyViolation(ctx(t), store.PolicyViolation{TenantID: "acme"}); err == nil {
		t.Fatal("an incomplete violation was recorded")
	}
	got, err := s.ListPolicyViolations(ctx(t), "acme", 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("list = %+v, %v", got, err)
	}
	if got[0].ID != second.ID || got[0].JobID != "job1" || !reflect.DeepEqual(got[1].Categories, []string{"malware", "credential_theft"}) || got[1].CreatedAt.IsZero() {
		t.Fatalf("list = %+v", got)
	}
	if other, err := s.ListPolicyViolations(ctx(t), "other", 10); err != nil || len(other) != 0 {
		t.Fatalf("another tenant sees %+v, %v", other, err)
	}
}

func testDeliveryRounds(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	got, err := s.ListDeliveryRounds(ctx(t), "acme", "cap-1")
	require.NoError(t, err)
	require.Empty(t, got)
	r1 := store.DeliveryRound{TenantID: "acme", CapsuleID: "cap-1", LoopID: "loop-1", Round: 1, Version: 1, Forge: "github", Repo: "o/r", PR: 7,
		Branch: "qlp/x", SHA: "abc", State: "pending"}
	require.NoError(t, s.PutDeliveryRound(ctx(t), r1))
	r1.State, r1.FailingRuns = "failure", []string{"test", "lint"}
	require.NoError(t, s.PutDeliveryRound(ctx(t), r1), "a round is updated in place")
	require.NoError(t, s.PutDeliveryRound(ctx(t), store.DeliveryRound{TenantID: "acme", CapsuleID: "cap-1", LoopID: "loop-1", Round: 2, Version: 2,
		SHA: "def", State: "success", CostPUSD: 1234}))
	require.NoError(t, s.PutDeliveryRound(ctx(t), store.DeliveryRound{TenantID: "other", CapsuleID: "cap-1", LoopID: "loop-9", Round: 1, Version: 1, State: "error", Error: "x"}))

	got, err = s.ListDeliveryRounds(ctx(t), "acme", "cap-1")
	require.NoError(t, err)
	require.Len(t, got, 2, "another tenant's rounds are not listed")
	require.Equal(t, "failure", got[0].State)
	require.Equal(t, []string{"test", "lint"}, got[0].FailingRuns)
	require.Equal(t, 7, got[0].PR)
	require.False(t, got[0].CreatedAt.IsZero())
	require.Equal(t, 2, got[1].Round)
	require.Equal(t, int64(1234), got[1].CostPUSD)
	require.Empty(t, got[1].FailingRuns)
	all, err := s.ListDeliveryRounds(ctx(t), "", "cap-1")
	require.NoError(t, err)
	require.Len(t, all, 3)

	require.NoError(t, s.PutDeliveryRound(ctx(t), store.DeliveryRound{TenantID: "acme", CapsuleID: "cap-2", LoopID: "loop-2", Round: 1, Version: 1,
		Forge: "github", Repo: "o/r", SHA: "abc", State: "pending"}))
	waiting, err := s.PendingDeliveryRounds(ctx(t), "github", "o/r", "abc")
	require.NoError(t, err)
	require.Len(t, waiting, 1, "only rounds still pending on that commit")
	require.Equal(t, "loop-2", waiting[0].LoopID)
	none, err := s.PendingDeliveryRounds(ctx(t), "gitlab", "o/r", "abc")
	require.NoError(t, err)
	require.Empty(t, none)
}

func testModelPacks(t *testing.T, s store.Store) {
	mustTenant(t, s, "acme")
	mustTenant(t, s, "globex")
	pack, err := s.TenantModelPack(ctx(t), "acme")
	require.NoError(t, err)
	require.Empty(t, pack, "no assignment: the default pack")
	require.NoError(t, s.SetTenantModelPack(ctx(t), "acme", "anthropic", "admin-key"))
	require.NoError(t, s.SetTenantModelPack(ctx(t), "acme", "hybrid", "admin-key"), "a second assignment replaces the first")
	pack, err = s.TenantModelPack(ctx(t), "acme")
	require.NoError(t, err)
	require.Equal(t, "hybrid", pack)
	pack, err = s.TenantModelPack(ctx(t), "globex")
	require.NoError(t, err)
	require.Empty(t, pack, "another tenant keeps the default")
	require.NoError(t, s.SetTenantModelPack(ctx(t), "acme", "", "admin-key"))
	pack, err = s.TenantModelPack(ctx(t), "acme")
	require.NoError(t, err)
	require.Empty(t, pack, "reset to the default")
}
