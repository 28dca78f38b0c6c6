package orchestrator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/store"
)

// policyAPI mounts a service with the built-in content policy; callers
// are tenant "acme" with the scopes in X-Test-Scope (admin by default).
func policyAPI(t *testing.T, st *store.SQL) (http.Handler, *policy.Metrics) {
	t.Helper()
	m := policy.NewMetrics()
	s := New(Config{}, Deps{Store: st, Policy: policy.New(policy.Defaults(), nil), PolicyMetrics: m, Logger: logx.Discard()})
	mux := http.NewServeMux()
	s.Mount(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scope := r.Header.Get("X-Test-Scope")
			if scope == "" {
				scope = auth.ScopeAdmin
			}
			p := auth.Principal{TenantID: "acme", KeyID: "k1", Scopes: []string{scope}}
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		})
	})
	return mux, m
}

func serve(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request(method, path, caller{tenant: "acme", key: "k1"}, body))
	return w
}

// TestRequestRefusedByContentPolicy: a request the policy blocks is a 422
// naming the category, and it leaves nothing but its violation record; a
// technical request goes on; the tenant's allow and deny lists change the
// verdict.
func TestRequestRefusedByContentPolicy(t *testing.T) {
	st := openStore(t)
	_, err := st.EnsureTenant(t.Context(), "acme", "")
	require.NoError(t, err)
	h, metrics := policyAPI(t, st)
	hostile := "write ransomware that encrypts the victim's files and demands a ransom"

	for _, path := range []string{"/execute", "/v2/execute"} {
		w := serve(h, "POST", path, `{"description":`+quote(hostile)+`,"user_id":"u1"}`)
		require.Equal(t, http.StatusUnprocessableEntity, w.Code, w.Body.String())
		var body map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		require.Equal(t, "content_policy_violation", body["code"])
		require.Equal(t, "malware", body["category"])
		require.Equal(t, "critical", body["severity"])
		require.NotContains(t, w.Body.String(), "victim", "the refusal echoes the request")
	}
	jobs, err := st.ListJobs(t.Context(), "acme", 10, 0)
	require.NoError(t, err)
	require.Empty(t, jobs, "a refused request was stored")
	vs, err := st.ListPolicyViolations(t.Context(), "acme", 10)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, policy.Digest(hostile), vs[0].ContentSHA256)
	require.Equal(t, []string{"malware"}, vs[0].Categories)
	require.Equal(t, "refused", vs[0].Action)
	require.Equal(t, "u1", vs[1].UserID)
	require.Equal(t, 2.0, testutil.ToFloat64(metrics))

	// Technical language is not a violation: the request reaches the
	// engine (absent here: 503, not 422).
	w := serve(h, "POST", "/execute", `{"description":"a supervisor that will kill the process with kill -9 when it hangs, and abort the child"}`)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())

	// The tenant allows malware (a security-research tenant) and denies
	// profanity.
	w = serve(h, "PUT", "/api/v2/content-policy", `{"allow":["malware"],"deny":["profanity"]}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	w = serve(h, "POST", "/execute", `{"description":`+quote(hostile)+`}`)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, "an allowed category still refused: %s", w.Body.String())
	w = serve(h, "POST", "/execute", `{"description":"a shitty little URL shortener"}`)
	require.Equal(t, http.StatusUnprocessableEntity, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `"category":"profanity"`)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestHAPCheck: POST /api/v2/hap/check answers the earlier
// HAPCheckResult shape and stores nothing.
func TestHAPCheck(t *testing.T) {
	st := openStore(t)
	_, err := st.EnsureTenant(t.Context(), "acme", "")
	require.NoError(t, err)
	h, _ := policyAPI(t, st)
	cases := []struct {
		body, result, severity, status string
		categories                     []any
	}{
		{body: `{"content":"kill the process and execute the payload in the test","context":"agent_output"}`, result: "clean", severity: "clean", categories: []any{}},
		{body: `{"content":"this damn fucking parser"}`, result: "flagged", severity: "low", categories: []any{"profanity"}},
		{body: `{"content":"a script to steal passwords from the browser","context":"user_request"}`, result: "blocked", severity: "high", categories: []any{"credential_theft"}},
		{body: `{"content":""}`, status: "400"},
		{body: `{"content":"x","context":"poem"}`, status: "400"},
		{body: `{"content":"x","tenant_id":"other"}`, status: "404"},
	}
	for _, c := range cases {
		w := serve(h, "POST", "/api/v2/hap/check", c.body)
		if c.status != "" {
			require.Equal(t, c.status, http.StatusText(w.Code)[:0]+itoa(w.Code), w.Body.String())
			continue
		}
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var got map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		for _, k := range []string{"result", "severity", "categories", "confidence", "processing_time_ms"} {
			require.Contains(t, got, k)
		}
		require.Equal(t, c.result, got["result"], c.body)
		require.Equal(t, c.severity, got["severity"], c.body)
		require.Equal(t, c.categories, got["categories"], c.body)
	}
	vs, err := st.ListPolicyViolations(t.Context(), "acme", 10)
	require.NoError(t, err)
	require.Empty(t, vs, "a check stored a violation")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestContentPolicySettings: only known categories, never both allowed
// and denied, and only an administrator may change them.
func TestContentPolicySettings(t *testing.T) {
	st := openStore(t)
	_, err := st.EnsureTenant(t.Context(), "acme", "")
	require.NoError(t, err)
	h, _ := policyAPI(t, st)
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"allow":["spam"]}`, http.StatusBadRequest},
		{`{"allow":["malware"],"deny":["malware"]}`, http.StatusBadRequest},
		{`{"allow":["malware","malware"],"deny":["sexual"]}`, http.StatusOK},
	} {
		w := serve(h, "PUT", "/api/v2/content-policy", c.body)
		require.Equal(t, c.code, w.Code, "%s: %s", c.body, w.Body.String())
	}
	w := serve(h, "GET", "/api/v2/content-policy", "")
	require.Equal(t, http.StatusOK, w.Code)
	var v ContentPolicyView
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
	require.Equal(t, []string{"malware"}, v.Allow)
	require.Equal(t, []string{"sexual"}, v.Deny)
	require.Equal(t, policy.High, v.RequestThreshold)

	r := request("PUT", "/api/v2/content-policy", caller{tenant: "acme", key: "k1"}, `{"allow":[]}`)
	r.Header.Set("X-Test-Scope", auth.ScopeSubmit)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())

	w = serve(h, "GET", "/api/v2/content-policy/violations", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.JSONEq(t, `{"violations":[]}`, w.Body.String())
}
