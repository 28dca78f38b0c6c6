package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

// operation is one API operation of openapi.json.
type operation struct {
	method, path, scope string
	params              []string // path parameters
}

// apiOperations reads every authenticated operation of openapi.json.
func apiOperations(t *testing.T) []operation {
	t.Helper()
	b, err := os.ReadFile("../orchestrator/openapi.json")
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]struct {
			Scope      *string `json:"x-qlp-scope"`
			Security   *[]any  `json:"security"`
			Parameters []struct {
				Name, In string
			} `json:"parameters"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	var ops []operation
	for path, methods := range doc.Paths {
		for m, op := range methods {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // a probe: no credential
			}
			require.NotNil(t, op.Scope, "%s %s names no x-qlp-scope", m, path)
			o := operation{method: strings.ToUpper(m), path: path, scope: *op.Scope}
			for _, p := range op.Parameters {
				if p.In == "path" {
					o.params = append(o.params, p.Name)
				}
			}
			ops = append(ops, o)
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.path+a.method, b.path+b.method) })
	require.Greater(t, len(ops), 20)
	return ops
}

// scopedKey makes a key of tenant with exactly these scopes.
func (pl *platform) scopedKey(tenant string, scopes ...string) string {
	key, digest, err := auth.NewKey()
	require.NoError(pl.t, err)
	require.NoError(pl.t, pl.p.Store.CreateAPIKey(pl.t.Context(), store.APIKey{ID: tenant + "-" + strings.Join(scopes, "-") + "-" + digest[:6], TenantID: tenant,
		Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest, Scopes: scopes}))
	return key.Reveal()
}

// TestTenantIsolationAndScopesFromOpenAPI walks every operation of
// openapi.json, so that a route added later is covered or fails this
// test: with tenant globex's key on tenant acme's resources (its job, its
// capsule, a file of it, its review) each answers 404, never 200 or a 403
// that would reveal the resource exists, and changes nothing; with a key
// of acme lacking the operation's scope each answers 403 and changes
// nothing; with a key holding exactly that scope it is let through. The
// audit log then holds the state-changing calls, each tenant its own.
func TestTenantIsolationAndScopesFromOpenAPI(t *testing.T) {
	backends(t, pythonModel, func(t *testing.T, pl *platform) {
		ctx := t.Context()
		acme := pl.client("acme")
		sub, err := acme.Execute(ctx, orchestrator.ExecuteRequest{ID: "iso-1", Description: pyRequest}, "")
		require.NoError(t, err)
		require.Equal(t, "workflow_completed", lastEvent(pl.waitTerminal("acme", sub.WorkflowID)))
		st, err := acme.Status(ctx, "iso-1")
		require.NoError(t, err)
		capID := st.Result.CapsuleID
		waiting, err := acme.Execute(ctx, orchestrator.ExecuteRequest{ID: "iso-review", Description: reviewRequest,
			Metadata: map[string]any{"review_threshold": 1}}, "")
		require.NoError(t, err)
		review := waitPendingReview(ctx, t, acme, "iso-review")
		// acme's campaign (its workflow waits for a marketing worker this
		// platform does not run, which is enough to be described).
		code, body, _ := pl.call("POST", "/api/v2/marketing/campaigns", pl.keys["acme"],
			[]byte(`{"product_name":"Tenancy","product_description":"a Python tenancy helper","duration_days":3,"channels":["x"]}`), nil)
		require.Equal(t, http.StatusAccepted, code, string(body))
		var campaign struct {
			CampaignID string `json:"campaign_id"`
			WorkflowID string `json:"workflow_id"`
		}
		mustJSON(t, body, &campaign)

		// acme's resource for each path parameter, per route family.
		resource := func(o operation) string {
			p := o.path
			for _, name := range o.params {
				var v string
				switch {
				case name == "path":
					v = "value.py"
				case strings.Contains(o.path, "/marketing/workflows/"):
					v = campaign.WorkflowID
				case strings.Contains(o.path, "/marketing/"):
					v = campaign.CampaignID
				case strings.Contains(o.path, "/hitl/"):
					v = review.ID
				case strings.Contains(o.path, "capsule"):
					v = capID
				case strings.HasSuffix(o.path, "/cancel"):
					v = waiting.WorkflowID
				case strings.Contains(o.path, "workflow") || strings.Contains(o.path, "/jobs/") || strings.Contains(o.path, "/progress/"):
					v = sub.WorkflowID
				default:
					t.Fatalf("%s %s: no acme resource for {%s}; add one to this test", o.method, o.path, name)
				}
				p = strings.Replace(p, "{"+name+"}", v, 1)
			}
			return p
		}
		bodies := map[string]string{
			"/hitl/respond/{id}":            `{"decision":"approve","reviewer":"mallory"}`,
			"/api/v2/budgets":               `{"policy":"stop"}`,
			"/api/v2/review-policy":         `{"on_timeout":"wait"}`,
			"/execute":                      `{"description":"build a thing that must never be stored"}`,
			"/v2/execute":                   `{"description":"build a thing that must never be stored"}`,
			"/api/v2/capsules/{id}/deliver": `{"remote_url":"https://git.example/o/r.git","token":"t"}`,
		}
		call := func(o operation, key string) (int, []byte) {
			var body []byte
			if b, ok := bodies[o.path]; ok && o.method != "GET" {
				body = []byte(b)
			}
			path := resource(o)
			hdr := map[string]string{}
			if strings.HasPrefix(o.path, "/progress/") {
				hdr["Accept"] = "text/event-stream"
			}
			req, err := http.NewRequestWithContext(ctx, o.method, pl.srv.URL+path, bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			// A stream that is let through is cut after its headers.
			hc := &http.Client{Timeout: 3 * time.Second}
			resp, err := hc.Do(req)
			require.NoError(t, err, "%s %s", o.method, path)
			defer resp.Body.Close()
			var b bytes.Buffer
			if !strings.HasPrefix(o.path, "/progress/") || resp.StatusCode != 200 {
				_, _ = b.ReadFrom(resp.Body)
			}
			return resp.StatusCode, b.Bytes()
		}
		otherScope := map[string][]string{
			auth.ScopeSubmit: {auth.ScopeRead, auth.ScopeReview},
			auth.ScopeRead:   {auth.ScopeSubmit},
			auth.ScopeReview: {auth.ScopeRead, auth.ScopeSubmit},
			auth.ScopeAdmin:  {auth.ScopeSubmit, auth.ScopeRead, auth.ScopeReview},
		}
		globexAdmin := pl.adminKey("globex")
		jobsBefore, err := pl.p.Store.ListJobs(ctx, "acme", 100, 0)
		require.NoError(t, err)

		for _, o := range apiOperations(t) {
			t.Run(o.method+" "+o.path, func(t *testing.T) {
				if len(o.params) > 0 {
					code, body := call(o, globexAdmin)
					require.Equal(t, http.StatusNotFound, code, "globex on acme's resource: %s", body)
					var eb httpx.ErrorBody
					mustJSON(t, body, &eb)
					require.Equal(t, "not_found", eb.Code)
				}
				if o.scope == "" {
					return
				}
				code, body := call(o, pl.scopedKey("acme", otherScope[o.scope]...))
				require.Equal(t, http.StatusForbidden, code, "a key without %q: %s", o.scope, body)
				require.Contains(t, string(body), o.scope)
				if o.method == "GET" {
					code, body = call(o, pl.scopedKey("acme", o.scope))
					require.NotContains(t, []int{401, 403, 404}, code, "a key with %q is let through: %s", o.scope, body)
				}
			})
		}

		// Nothing changed: no job was submitted or cancelled, the review
		// still waits.
		jobsAfter, err := pl.p.Store.ListJobs(ctx, "acme", 100, 0)
		require.NoError(t, err)
		require.Len(t, jobsAfter, len(jobsBefore))
		rv, err := acme.Review(ctx, review.ID)
		require.NoError(t, err)
		require.Equal(t, "pending", rv.Status)
		ws, err := acme.Status(ctx, "iso-review")
		require.NoError(t, err)
		require.NotEqual(t, "cancelled", ws.Status)
		globexJobs, err := pl.p.Store.ListJobs(ctx, "globex", 100, 0)
		require.NoError(t, err)
		require.Empty(t, globexJobs)

		// The audit log: the refused calls are there, each tenant sees its
		// own, and reading it takes the admin scope.
		code, body, _ = pl.call("GET", "/api/v2/audit?limit=1000", pl.adminKey("acme"), nil, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var log struct {
			Entries []store.AuditEntry `json:"entries"`
		}
		mustJSON(t, body, &log)
		seen := map[string]bool{}
		for _, e := range log.Entries {
			require.Equal(t, "acme", e.TenantID)
			seen[e.Action+" "+e.Outcome] = true
		}
		for _, want := range []string{"POST /execute ok", "POST /v2/execute refused", "POST /hitl/respond/{id} refused", "PUT /api/v2/budgets refused"} {
			require.True(t, seen[want], "audit log lacks %q: %v", want, seen)
		}
		code, body, _ = pl.call("GET", "/api/v2/audit", globexAdmin, nil, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		mustJSON(t, body, &log)
		for _, e := range log.Entries {
			require.Equal(t, "globex", e.TenantID)
		}
		code, _, _ = pl.call("GET", "/api/v2/audit", pl.keys["acme"], nil, nil)
		require.Equal(t, http.StatusForbidden, code, "the audit log needs the admin scope")

		_, err = acme.Cancel(ctx, "iso-review")
		require.NoError(t, err)
	})
}

// TestExpiredRevokedAndUsedKeys: an expired key and a revoked key are
// refused with 401 (the expired one says so), and a key's last use is
// recorded.
func TestExpiredRevokedAndUsedKeys(t *testing.T) {
	pl := startPlatform(t, "", scripted(t))
	ctx := t.Context()
	past := time.Now().Add(-time.Minute)
	key, digest, err := auth.NewKey()
	require.NoError(t, err)
	require.NoError(t, pl.p.Store.CreateAPIKey(ctx, store.APIKey{ID: "old", TenantID: "acme", Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest, ExpiresAt: &past}))
	code, body, _ := pl.call("GET", "/api/capsules", key.Reveal(), nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, string(body), "expired")
	require.NotContains(t, string(body), key.Reveal())

	code, body, _ = pl.call("GET", "/api/capsules", pl.keys["acme"], nil, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	k, err := pl.p.Store.APIKeyByDigest(ctx, auth.Digest(pl.keys["acme"]))
	require.NoError(t, err)
	require.NotNil(t, k.LastUsedAt, "the key's last use is recorded")
	require.WithinDuration(t, time.Now(), *k.LastUsedAt, time.Minute)

	// Revoked behind the API's back (the store itself, as `qlp apikey
	// revoke` does from another process): refused within the second a
	// replica trusts a key it has looked up.
	require.NoError(t, pl.p.Store.RevokeAPIKey(ctx, "acme", k.ID))
	revoked := time.Now()
	require.Eventually(t, func() bool {
		code, _, _ = pl.call("GET", "/api/capsules", pl.keys["acme"], nil, nil)
		return code == http.StatusUnauthorized
	}, 5*time.Second, 50*time.Millisecond, "a revoked key still works")
	require.Less(t, time.Since(revoked), 2*time.Second, "a revoked key worked for more than the key cache's second")
}
