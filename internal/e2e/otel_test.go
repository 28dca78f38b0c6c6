package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/telemetry"
	"github.com/quantumlayer/qlp/internal/telemetry/otlptest"
)

// lockedBuffer is a log destination safe for the platform's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestOneJobIsOneTrace runs one job with the scripted model and tracing
// exported over OTLP/gRPC to a real OpenTelemetry Collector, which forwards
// it over OTLP/HTTP to a receiver that decodes the wire format; the test
// then reads what arrived: a single trace holds the orchestrator's spans,
// the workflow's, each activity's, the model calls, the validation checks
// and the sandbox runs, every span's parent is in the trace, the job's
// status names the trace, and the job's log lines carry its id.
func TestOneJobIsOneTrace(t *testing.T) {
	receiver, endpoint := otlptest.NewHTTP(t)
	request, rules := exampleScript(t)
	model := llmtest.New(llmtest.NewScript(rules...).Handle)
	t.Cleanup(model.Close)
	cfg := testConfig(t, "", model.URL)
	// Validation in this process, so that its spans are this process's.
	cfg.Services.ValidationURL = ""
	// The job's spans go over OTLP/gRPC to a real OpenTelemetry Collector
	// (scripts/deps/otelcol.sh), which forwards them over OTLP/HTTP to the
	// receiver the test reads: what QLP exports is what a collector takes.
	cfg.Telemetry.Endpoint = startCollector(t, endpoint)
	cfg.Telemetry.Protocol, cfg.Telemetry.Insecure = telemetry.ProtocolGRPC, true
	logs := &lockedBuffer{}
	p, err := app.Open(t.Context(), cfg, logx.New(logs, logx.FormatJSON, slog.LevelDebug), app.Options{Run: []string{app.Worker}, Version: "test"})
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			p.Close()
		}
	})
	srv := httptest.NewServer(p.APIHandler())
	t.Cleanup(srv.Close)
	_, err = p.Store.EnsureTenant(t.Context(), "acme", "acme")
	require.NoError(t, err)
	key, digest, err := auth.NewKey()
	require.NoError(t, err)
	require.NoError(t, p.Store.CreateAPIKey(t.Context(), store.APIKey{ID: "acme-key", TenantID: "acme", Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest}))
	c := orchestrator.NewClient(srv.URL, key, nil)

	call := func(method, path string, in, out any) {
		t.Helper()
		var body bytes.Buffer
		if in != nil {
			require.NoError(t, json.NewEncoder(&body).Encode(in))
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, &body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key.Reveal())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Less(t, resp.StatusCode, 300, "%s %s", method, path)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	var sub orchestrator.V2ExecuteResponse
	call(http.MethodPost, "/v2/execute", orchestrator.V2ExecuteRequest{Description: request}, &sub)
	require.NoError(t, c.Follow(t.Context(), sub.WorkflowID, 0, func(orchestrator.ProgressEvent) error { return nil }))
	var legacy map[string]any
	call(http.MethodGet, "/v2/workflows/"+sub.WorkflowID, nil, &legacy)
	require.NotContains(t, legacy, "trace_id", "the earlier SDKs' status takes no other key")
	st, err := c.Status(t.Context(), sub.WorkflowID)
	require.NoError(t, err)
	require.Equal(t, "completed", st.Status)
	require.Len(t, st.TraceID, 32, "the job's status names its trace")

	// The terminal event is published by the last activity: the workflow
	// (and its span) ends when the worker has its result.
	require.NoError(t, p.Engine.Client.GetWorkflow(t.Context(), sub.WorkflowID, "").Get(t.Context(), nil))
	// Closing the platform flushes the spans not yet exported.
	srv.Close()
	require.NoError(t, p.Close())
	closed = true
	wctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	spans, err := receiver.Wait(wctx, func(s []otlptest.Span) bool {
		for _, sp := range s {
			if sp.TraceID == st.TraceID && sp.Name == "RunWorkflow:QLPWorkflow" {
				return true
			}
		}
		return false
	})
	require.NoError(t, err)

	inTrace := map[string]otlptest.Span{}
	names := map[string]int{}
	for _, sp := range spans {
		if sp.TraceID != st.TraceID {
			continue
		}
		inTrace[sp.SpanID] = sp
		names[sp.Name]++
	}
	for _, want := range []string{
		"POST /v2/execute", "job.submit", // the orchestrator
		"StartWorkflow:QLPWorkflow", "RunWorkflow:QLPWorkflow", // the workflow
		"RunActivity:StartJob", "RunActivity:Decompose", "RunActivity:GenerateTask", "RunActivity:ValidateTask",
		"RunActivity:ValidateCapsule", "RunActivity:AssembleCapsule", "RunActivity:FinishJob", // each activity
		"validation.validate", "validation.check", "sandbox.run",
	} {
		require.Positive(t, names[want], "no %q span in the job's trace; it has %v", want, names)
	}
	require.Positive(t, names["llm.chat"]+names["llm.stream"], "no model call in the job's trace; it has %v", names)
	roots := 0
	for _, sp := range inTrace {
		if sp.ParentID == "" {
			roots++
			require.Equal(t, "POST /v2/execute", sp.Name, "the trace's root is the request that started the job")
			continue
		}
		_, ok := inTrace[sp.ParentID]
		require.True(t, ok, "span %s (%s) has a parent that is not in the trace", sp.Name, sp.SpanID)
	}
	require.Equal(t, 1, roots)
	for _, sp := range inTrace {
		// One process runs the worker and the services it needs.
		require.Equal(t, "qlp", sp.Resource["service.name"])
		require.Contains(t, sp.Resource["qlp.target"], "worker")
		if sp.Name == "llm.chat" || sp.Name == "llm.stream" {
			require.NotEmpty(t, sp.Attrs["gen_ai.request.model"])
			require.NotEmpty(t, sp.Attrs["gen_ai.usage.input_tokens"])
			require.NotContains(t, sp.Attrs, "qlp.prompt", "prompt text without otel.record_prompts")
		}
		// An activity's spans are under the workflow's, which is under the
		// orchestrator's submit span.
		if strings.HasPrefix(sp.Name, "RunActivity:") {
			require.Equal(t, "StartActivity:"+strings.TrimPrefix(sp.Name, "RunActivity:"), inTrace[sp.ParentID].Name)
		}
	}

	// The job's log lines carry its trace id: the request that started it,
	// the sandbox runs and the validations.
	carried := map[string]int{}
	for _, l := range logs.lines() {
		if l["trace_id"] == st.TraceID {
			carried[l["msg"].(string)]++
		}
	}
	for _, msg := range []string{"http request", "sandbox run", "validated"} {
		require.Positive(t, carried[msg], "no %q log line carries the job's trace id; lines that do: %v", msg, carried)
	}
}
