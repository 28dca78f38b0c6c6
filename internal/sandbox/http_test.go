package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/sandbox"
)

func post(t *testing.T, h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The HTTP tests and TestLanguages run in parallel with each other, after
// the sequential suites (TestHostile looks for leftovers of the shared
// bwrap runner that TestLanguages also uses): each builds a service of
// its own, and decoding 50 MB of JSON under the race detector takes a
// while.

func TestHTTPMalformed(t *testing.T) {
	t.Parallel()
	svc := newService(t, testConfig(sandbox.BackendBwrap))
	h := svc.Handler()
	big := strings.Repeat("x", 50<<20)
	tests := []struct {
		name, path, body, field string
	}{
		{"unknown language", "/v1/runs", `{"language":"cobol","files":[{"path":"a","content":""}]}`, "language"},
		{"negative limit", "/v1/runs", `{"language":"bash","limits":{"wall_time":"-1s"}}`, "limits.wall_time"},
		{"negative memory", "/v1/runs", `{"language":"bash","limits":{"memory_bytes":-5}}`, "limits.memory_bytes"},
		{"path traversal", "/v1/runs", `{"language":"bash","files":[{"path":"../../x","content":"eA=="}]}`, "files[0].path"},
		{"absolute path", "/v1/runs", `{"language":"bash","files":[{"path":"/tmp/x","content":"eA=="}]}`, "files[0].path"},
		{"legacy unknown language", "/execute", `{"code":"x","language":"cobol"}`, "language"},
		{"legacy negative timeout", "/execute", `{"code":"x","language":"python","resource_limits":{"timeout":-1}}`, "resource_limits.timeout"},
		{"legacy bad memory", "/execute", `{"code":"x","language":"python","resource_limits":{"memory":"lots"}}`, "resource_limits.memory"},
		{"legacy 50 MB of code", "/execute", `{"language":"python","code":"` + big + `"}`, "code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := post(t, h, tc.path, []byte(tc.body))
			var eb httpx.ErrorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &eb)
			if rec.Code != http.StatusBadRequest || eb.Field != tc.field {
				t.Fatalf("%d %+v, want 400 naming %s", rec.Code, eb, tc.field)
			}
		})
	}
	for _, p := range []string{"/x", "/tmp/x", "../../x"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists after the malformed requests", p)
		}
	}
}

func TestHTTPExecuteAndLanguages(t *testing.T) {
	t.Parallel()
	svc := newService(t, testConfig(sandbox.BackendBwrap))
	h := svc.Handler()
	rec := post(t, h, "/execute", []byte(`{"code":"print(greeting, n + 1)","language":"python","inputs":{"greeting":"hi","n":41},"resource_limits":{"memory":"256m","timeout":10}}`))
	var resp sandbox.ExecuteResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if resp.Status != sandbox.StatusCompleted || resp.Output != "hi 42\n" || resp.ExecutionID == "" || resp.ResourceUsage.MemoryLimitMB != 256 {
		t.Fatalf("response = %+v", resp)
	}
	rec = post(t, h, "/execute", []byte(`{"code":"import sys; sys.exit(2)","language":"py"}`))
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	if resp.Status != sandbox.StatusFailed || resp.ExitCode != 2 {
		t.Fatalf("response = %+v", resp)
	}
	req := httptest.NewRequest(http.MethodGet, "/languages", nil)
	lr := httptest.NewRecorder()
	h.ServeHTTP(lr, req)
	var langs sandbox.LanguagesResponse
	if err := json.Unmarshal(lr.Body.Bytes(), &langs); err != nil || len(langs.Languages) == 0 || langs.Details["python"].Version == "" {
		t.Fatalf("languages = %s", lr.Body)
	}
}

func TestQueueFull(t *testing.T) {
	t.Parallel()
	cfg := testConfig(sandbox.BackendBwrap)
	cfg.MaxConcurrent, cfg.QueueSize, cfg.PerTenant = 1, 0, 1
	svc := newService(t, cfg)
	h := svc.Handler()
	done := make(chan struct{})
	started := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer close(done)
		_, _ = svc.Run(ctx, sandbox.Spec{Language: "bash", Files: files("main.sh", "echo started; sleep 30")}, func(sandbox.OutputChunk) {
			select {
			case started <- struct{}{}:
			default:
			}
		})
	}()
	<-started
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec := post(t, h, "/v1/runs", []byte(`{"language":"bash","files":[{"path":"main.sh","content":"dHJ1ZQ=="}]}`))
		if rec.Code == http.StatusTooManyRequests {
			if rec.Header().Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never got 429; last %d %s", rec.Code, rec.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
