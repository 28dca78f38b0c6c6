package orchestrator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/ratelimit"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// caller is who a test request comes from.
type caller struct {
	tenant, key string
	service     bool
}

// limitedAPI mounts a service with cfg and buckets (nil: in process) on
// a mux whose authentication takes the caller from X-Test-Tenant and
// X-Test-Key (X-Test-Service: the service token).
func limitedAPI(t *testing.T, st *store.SQL, cfg Config, buckets ratelimit.Buckets) http.Handler {
	t.Helper()
	s := New(cfg, Deps{Store: st, Buckets: buckets, Logger: logx.Discard()})
	mux := http.NewServeMux()
	s.Mount(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := auth.Principal{TenantID: r.Header.Get("X-Test-Tenant"), KeyID: r.Header.Get("X-Test-Key")}
			if r.Header.Get("X-Test-Service") != "" {
				p.KeyID, p.Scopes = "service", []string{auth.ScopeService}
			}
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		})
	})
	return mux
}

func openStore(t *testing.T) *store.SQL {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func request(method, path string, c caller, body string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("X-Test-Tenant", c.tenant)
	r.Header.Set("X-Test-Key", c.key)
	if c.service {
		r.Header.Set("X-Test-Service", "1")
	}
	return r
}

// requireRefusal checks a 429 or 413 body: the error shape of every
// refusal, naming the limit and its value, with Retry-After on a 429.
func requireRefusal(t *testing.T, rec *httptest.ResponseRecorder, status int, limit string, value int64) httpx.ErrorBody {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	var body httpx.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, limit, body.Limit, rec.Body.String())
	require.Equal(t, value, body.LimitValue)
	require.Contains(t, body.Error, limit, "the message names the limit too")
	if status == http.StatusTooManyRequests {
		require.Equal(t, "rate_limited", body.Code)
		ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		require.NoError(t, err, "Retry-After is whole seconds")
		require.Positive(t, ra)
		require.Equal(t, ra, body.RetryAfter)
	}
	return body
}

func TestRequestRateLimits(t *testing.T) {
	a1, a2, a3 := caller{"acme", "k1", false}, caller{"acme", "k2", false}, caller{"acme", "k3", false}
	g1 := caller{"globex", "g1", false}
	svc := caller{"acme", "", true}
	tests := []struct {
		name   string
		limits Limits
		calls  []caller // all granted
		over   caller   // refused
		limit  string
		value  int64
		after  []caller // still granted after the refusal
	}{
		{"one key over its rate", Limits{KeyRPM: 2, TenantRPM: 100}, []caller{a1, a1}, a1, LimitKeyRequests, 2, []caller{a2, g1}},
		{"a tenant's keys together over the tenant's rate", Limits{KeyRPM: 100, TenantRPM: 3}, []caller{a1, a2, a3}, a1, LimitTenantRequests, 3, []caller{g1}},
		{"when both run out, the tenant's rate is named", Limits{KeyRPM: 2, TenantRPM: 2}, []caller{a1, a1}, a1, LimitTenantRequests, 2, []caller{g1}},
		{"the service token counts against its tenant, not a key", Limits{KeyRPM: 1, TenantRPM: 3}, []caller{svc, svc, a1}, svc, LimitTenantRequests, 3, []caller{g1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := limitedAPI(t, openStore(t), Config{Limits: tt.limits}, nil)
			for i, c := range tt.calls {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, request("GET", "/api/capsules", c, ""))
				require.Equal(t, http.StatusOK, rec.Code, "call %d: %s", i, rec.Body.String())
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, request("GET", "/api/capsules", tt.over, ""))
			requireRefusal(t, rec, http.StatusTooManyRequests, tt.limit, tt.value)
			for i, c := range tt.after {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, request("GET", "/api/capsules", c, ""))
				require.Equal(t, http.StatusOK, rec.Code, "after %d: %s", i, rec.Body.String())
			}
		})
	}
	t.Run("zero turns the limits off", func(t *testing.T) {
		h := limitedAPI(t, openStore(t), Config{}, nil)
		for i := range 50 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, request("GET", "/api/capsules", a1, ""))
			require.Equal(t, http.StatusOK, rec.Code, "call %d", i)
		}
	})
}

// A submit over limits.tenant_concurrent_jobs is a 429 naming it, and
// stores nothing; jobs that finished, and other tenants' jobs, do not
// count.
func TestConcurrentJobsLimit(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	for _, tn := range []string{"acme", "globex"} {
		_, err := st.EnsureTenant(ctx, tn, "")
		require.NoError(t, err)
	}
	done := store.JobCompleted
	for i, tn := range []string{"acme", "acme", "acme", "globex"} {
		id := fmt.Sprintf("j%d", i)
		_, _, err := st.CreateJob(ctx, store.Job{ID: id, TenantID: tn, WorkflowID: workflow.WorkflowID(id), Description: "d"})
		require.NoError(t, err)
		if i == 2 {
			require.NoError(t, st.UpdateJob(ctx, id, store.JobUpdate{Status: &done}))
		}
	}
	h := limitedAPI(t, st, Config{Limits: Limits{TenantJobs: 2}}, nil)
	for _, path := range []string{"/execute", "/v2/execute"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request("POST", path, caller{"acme", "k1", false}, `{"description":"a url shortener"}`))
		body := requireRefusal(t, rec, http.StatusTooManyRequests, LimitTenantJobs, 2)
		require.Contains(t, body.Error, "2 jobs queued or running")
	}
	jobs, err := st.ListJobs(ctx, "acme", 100, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 3, "a refused submit stores nothing")

	// globex has one job in progress: its submit passes the limit (and
	// then fails to start, as this test runs no workflow engine).
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, request("POST", "/v2/execute", caller{"globex", "g1", false}, `{"description":"a url shortener"}`))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
}

// A body over api.max_body_bytes is a 413 naming max_body_bytes.
func TestBodyLimit(t *testing.T) {
	h := limitedAPI(t, openStore(t), Config{MaxBodyBytes: 1024}, nil)
	big := `{"description":"` + strings.Repeat("x", 2048) + `"}`
	for _, path := range []string{"/execute", "/v2/execute", "/hitl/respond/r1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request("POST", path, caller{"acme", "k1", false}, big))
		body := requireRefusal(t, rec, http.StatusRequestEntityTooLarge, httpx.BodyLimit, 1024)
		require.Equal(t, "body_too_large", body.Code)
	}
}

// Two orchestrator replicas using one Redis share one tenant budget: the
// (n+1)th request, on the other replica, is refused. Each replica has its
// own store, so nothing but Redis links them.
func TestRateLimitsSharedBetweenReplicas(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := "qlp:test:api:ratelimit:" + uuid.NewString() + ":"
	cfg := Config{Limits: Limits{KeyRPM: 100, TenantRPM: 4}}
	var replicas []*httptest.Server
	for range 2 {
		srv := httptest.NewServer(limitedAPI(t, openStore(t), cfg, ratelimit.NewRedis(rdb, prefix)))
		t.Cleanup(srv.Close)
		replicas = append(replicas, srv)
	}
	get := func(srv *httptest.Server, c caller) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/capsules", nil)
		require.NoError(t, err)
		req.Header.Set("X-Test-Tenant", c.tenant)
		req.Header.Set("X-Test-Key", c.key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for i := range 4 {
		resp := get(replicas[i%2], caller{"acme", fmt.Sprintf("k%d", i), false})
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
	}
	resp := get(replicas[1], caller{"acme", "k9", false})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	var body httpx.ErrorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, LimitTenantRequests, body.Limit)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Equal(t, http.StatusOK, get(replicas[0], caller{"globex", "g1", false}).StatusCode, "another tenant has its own budget")
}

// Negative limits are refused naming the setting; zero (off) and the
// defaults are valid.
func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		limits  Limits
		wantErr string
	}{
		{"defaults", DefaultLimits(), ""},
		{"all off", Limits{}, ""},
		{"negative key rate", Limits{KeyRPM: -1}, "limits.key_requests_per_minute"},
		{"negative tenant rate", Limits{TenantRPM: -5}, "limits.tenant_requests_per_minute"},
		{"negative jobs", Limits{TenantJobs: -1}, "limits.tenant_concurrent_jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limits.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.ErrorContains(t, err, "negative")
		})
	}
}

// With the Redis that keeps the buckets unreachable, requests are let
// through: the limits must not take the API down with them.
func TestRateLimitsFailOpenWithoutRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	h := limitedAPI(t, openStore(t), Config{Limits: Limits{KeyRPM: 1, TenantRPM: 1}}, ratelimit.NewRedis(rdb, "qlp:test:"))
	for i := range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request("GET", "/api/capsules", caller{"acme", "k1", false}, ""))
		require.Equal(t, http.StatusOK, rec.Code, "call %d: %s", i, rec.Body.String())
	}
}
