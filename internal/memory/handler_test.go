package memory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/memory"
)

// apiServer serves a fresh service behind auth.Require with a tenant key
// "key-a" (tenant a), an admin key and the service token.
func apiServer(t *testing.T, reg prometheus.Registerer) *httptest.Server {
	svc := newService(t, embeddedConfig(t), memory.Deps{Registerer: reg})
	authn := auth.Chain{keys{"key-a": {TenantID: "a"}, "admin-a": {TenantID: "a", Scopes: []string{auth.ScopeAdmin}}}, auth.ServiceToken{Token: "svc"}}
	srv := httptest.NewServer(auth.Require(authn, logx.Discard())(svc.Handler()))
	t.Cleanup(srv.Close)
	return srv
}

type keys map[string]auth.Principal

func (k keys) Authenticate(_ context.Context, key string) (auth.Principal, error) {
	if p, ok := k[key]; ok {
		return p, nil
	}
	return auth.Principal{}, auth.ErrInvalidKey
}

type call struct {
	method, path, key, tenant string
	body                      any
	raw                       []byte
}

func (c call) do(t *testing.T, srv *httptest.Server) (int, []byte) {
	t.Helper()
	var body io.Reader
	switch {
	case c.raw != nil:
		body = bytes.NewReader(c.raw)
	case c.body != nil:
		b, _ := json.Marshal(c.body)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(t.Context(), c.method, srv.URL+c.path, body)
	req.Header.Set("Content-Type", "application/json")
	key := c.key
	if key == "" {
		key = "key-a"
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if c.tenant != "" {
		req.Header.Set(auth.TenantHeader, c.tenant)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestHTTPMalformedInput(t *testing.T) {
	srv := apiServer(t, nil)
	tenMB := strings.Repeat("x", 10<<20)
	tests := []struct {
		name       string
		c          call
		wantStatus int
		wantField  string
	}{
		{"wrong dimension", call{method: "POST", path: "/v1/memory/search", body: map[string]any{"collection": "qlp_code_patterns", "vector": []float32{1, 2, 3}}}, 400, "vector"},
		{"empty text", call{method: "POST", path: "/search/requests", body: map[string]any{"description": ""}}, 400, "description"},
		{"10 MB text", call{method: "POST", path: "/search/code", body: map[string]any{"query": tenMB}}, 400, "query"},
		{"unknown collection", call{method: "POST", path: "/v1/memory/search", body: map[string]any{"collection": "qlp_nope", "text": "x"}}, 400, "collection"},
		{"wrong type", call{method: "POST", path: "/v1/memory/code/examples", raw: []byte(`{"query": 5}`)}, 400, "query"},
		{"malformed JSON", call{method: "POST", path: "/v1/memory/reuse", raw: []byte(`{"description":`)}, 400, "body"},
		{"body over the limit", call{method: "POST", path: "/v1/memory/capsules", raw: []byte(`{"description":"` + strings.Repeat("y", 33<<20) + `"}`)}, 413, ""},
		{"bad complexity", call{method: "GET", path: "/v1/memory/tiers?task_type=codegen&complexity=huge"}, 400, "complexity"},
		{"bad min_samples", call{method: "GET", path: "/v1/memory/tiers?task_type=codegen&complexity=simple&min_samples=many"}, 400, "min_samples"},
		{"service token without tenant", call{method: "POST", path: "/search/requests", key: "svc", body: map[string]any{"description": "x"}}, 403, ""},
		{"reindex by a tenant key", call{method: "POST", path: "/v1/memory/reindex", body: map[string]any{}}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.c.do(t, srv)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, clipBody(body))
			}
			var eb httpx.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error == "" {
				t.Fatalf("error body %s", clipBody(body))
			}
			if eb.Field != tt.wantField {
				t.Fatalf("field %q, want %q (%s)", eb.Field, tt.wantField, eb.Error)
			}
		})
	}
}

func clipBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// TestHTTPEarlierContract drives the routes the earlier QLP's clients use.
func TestHTTPEarlierContract(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := apiServer(t, reg)
	status, body := call{method: "POST", path: "/store/decomposition", body: map[string]any{
		"request": map[string]any{"id": "req-1", "description": firstRequest},
		"tasks": []map[string]any{
			{"id": "t1", "type": "codegen", "description": "Define the model", "complexity": "simple"},
			{"id": "t2", "type": "codegen", "description": "Write the handlers", "complexity": "medium"},
		},
		"dependencies": map[string][]string{"t2": {"t1"}},
	}}.do(t, srv)
	if status != 200 || !strings.Contains(string(body), `"stored"`) {
		t.Fatalf("/store/decomposition: %d %s", status, body)
	}
	status, body = call{method: "POST", path: "/search/requests", body: map[string]any{"description": paraphrase, "limit": 5}}.do(t, srv)
	var reqs []map[string]any
	json.Unmarshal(body, &reqs)
	if status != 200 || len(reqs) != 1 {
		t.Fatalf("/search/requests: %d %s", status, body)
	}
	for _, k := range []string{"id", "description", "tasks", "success_rate", "execution_time", "score", "tenant_id", "created_at"} {
		if _, ok := reqs[0][k]; !ok {
			t.Fatalf("/search/requests result lacks %q: %v", k, reqs[0])
		}
	}
	if deps := reqs[0]["tasks"].([]any)[1].(map[string]any)["dependencies"]; deps == nil {
		t.Fatalf("dependencies of t2 lost: %v", reqs[0]["tasks"])
	}
	// A capsule in the earlier QLCapsule shape.
	status, body = call{method: "POST", path: "/store/capsule", body: map[string]any{
		"id": "cap-1", "request_id": "req-1",
		"source_code":       map[string]string{"handlers.go": handlerCode},
		"tests":             map[string]string{"handlers_test.go": "package main\nfunc TestX(t *testing.T) {}"},
		"validation_report": map[string]any{"overall_status": "passed", "confidence_score": 0.9},
		"metadata":          map[string]any{"description": firstRequest, "language": "go"},
	}}.do(t, srv)
	if status != 200 || !strings.Contains(string(body), `"patterns":2`) || !strings.Contains(string(body), `"capsule_id":"cap-1"`) {
		t.Fatalf("/store/capsule: %d %s", status, body)
	}
	status, body = call{method: "POST", path: "/store/capsule", body: map[string]any{"id": "cap-2"}}.do(t, srv)
	if status != 400 {
		t.Fatalf("/store/capsule of an invalid capsule: %d %s, want 400", status, body)
	}
	status, body = call{method: "POST", path: "/search/code", body: map[string]any{"query": paraphrase, "language": "go", "min_success_rate": 0.5}}.do(t, srv)
	if status != 200 || !strings.Contains(string(body), "createTodo") {
		t.Fatalf("/search/code: %d %s", status, clipBody(body))
	}
	status, _ = call{method: "GET", path: "/performance/task?type=codegen&complexity=simple"}.do(t, srv)
	if status != 404 {
		t.Fatalf("/performance/task without samples: %d, want 404 as before", status)
	}
	for i := range 5 {
		status, body = call{method: "POST", path: "/v1/memory/outcomes", body: memory.TaskOutcome{RequestID: string(rune('a' + i)), TaskID: "t1",
			TaskType: "codegen", Complexity: "simple", Tier: "T1", Success: true}}.do(t, srv)
		if status != 200 {
			t.Fatalf("/v1/memory/outcomes: %d %s", status, body)
		}
	}
	status, body = call{method: "GET", path: "/performance/task?type=codegen&complexity=simple"}.do(t, srv)
	var perf map[string]any
	json.Unmarshal(body, &perf)
	if status != 200 || perf["optimal_tier"] != "T1" || perf["sample_size"] != float64(5) || perf["success_rate"] != float64(1) {
		t.Fatalf("/performance/task: %d %s", status, body)
	}
	status, body = call{method: "POST", path: "/patterns/code", body: map[string]any{"content": "def f():\n    return 1",
		"metadata": map[string]any{"task_type": "codegen", "complexity": "trivial", "tier": "T0", "confidence": 0.8, "language": "python", "validated": true}}}.do(t, srv)
	if status != 200 || !strings.Contains(string(body), `"id"`) {
		t.Fatalf("/patterns/code: %d %s", status, body)
	}
	status, body = call{method: "POST", path: "/patterns/error", body: map[string]any{"error": "NameError: name 'x' is not defined", "fix": "define x", "language": "python"}}.do(t, srv)
	if status != 200 {
		t.Fatalf("/patterns/error: %d %s", status, body)
	}
	status, body = call{method: "GET", path: "/stats"}.do(t, srv)
	if status != 200 || !strings.Contains(string(body), `"backend":"embedded"`) {
		t.Fatalf("/stats: %d %s", status, body)
	}
	// Reuse: 404 no_match, then a hit for the same request.
	status, body = call{method: "POST", path: "/v1/memory/reuse", body: map[string]any{"description": paraphrase}}.do(t, srv)
	if status != 404 || !strings.Contains(string(body), `"no_match"`) {
		t.Fatalf("reuse of a paraphrase: %d %s", status, body)
	}
	status, body = call{method: "POST", path: "/v1/memory/reuse", body: map[string]any{"description": firstRequest}}.do(t, srv)
	if status != 200 || !strings.Contains(string(body), `"capsule_id":"cap-1"`) {
		t.Fatalf("reuse: %d %s", status, body)
	}
	// Another tenant through the service token sees none of it.
	status, body = call{method: "POST", path: "/search/requests", key: "svc", tenant: "b", body: map[string]any{"description": firstRequest}}.do(t, srv)
	if status != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("tenant b: %d %s", status, body)
	}
	// An admin may reindex.
	status, body = call{method: "POST", path: "/v1/memory/reindex", key: "admin-a", body: map[string]any{"collections": []string{"qlp_executions"}}}.do(t, srv)
	if status != 200 || !strings.Contains(string(body), `"points":1`) {
		t.Fatalf("reindex: %d %s", status, body)
	}
	if n := testutil.ToFloat64(mustCounter(t, reg, "qlp_memory_recall_total", map[string]string{"use": "reuse", "result": "hit"})); n != 1 {
		t.Fatalf("qlp_memory_recall_total{use=reuse,result=hit} = %v, want 1", n)
	}
}

// mustCounter finds one counter series in reg.
func mustCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
			c.Add(m.GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return nil
}
