package httpx_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/telemetry"
)

// installRecorder makes a recording provider the process's for the test:
// httpx reaches it through the OpenTelemetry API, as it does in a server.
func installRecorder(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(telemetry.Propagator())
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		_ = tp.Shutdown(context.Background())
	})
	return rec
}

// TestTraceCrossesAClientAndAServer: a call through httpx.Client carries
// the caller's trace to the served handler, whose server span is a child
// of the client span and is named after the route pattern; probes are not
// traced.
func TestTraceCrossesAClientAndAServer(t *testing.T) {
	rec := installRecorder(t)
	var handlerTrace string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		handlerTrace = trace.SpanContextFromContext(r.Context()).TraceID().String()
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	h := httpx.Chain(mux, httpx.Trace("things"), httpx.RequestID, httpx.Logging(logx.Discard(), nil))
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, root := otel.Tracer("test").Start(context.Background(), "job")
	c := httpx.NewClient("things", srv.URL, nil, nil)
	var out map[string]string
	if err := c.Do(ctx, http.MethodPost, "/v1/things/42", map[string]string{}, &out); err != nil {
		t.Fatal(err)
	}
	root.End()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.Name()] = s
	}
	client, server := spans["POST things"], spans["POST /v1/things/{id}"]
	if client == nil || server == nil {
		names := []string{}
		for n := range spans {
			names = append(names, n)
		}
		t.Fatalf("spans %v, want a client span and a server span named after the route", names)
	}
	if client.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Error("the client span is not a child of the caller's span")
	}
	if server.Parent().SpanID() != client.SpanContext().SpanID() || !server.Parent().IsRemote() {
		t.Error("the server span is not a remote child of the client span")
	}
	if handlerTrace != root.SpanContext().TraceID().String() {
		t.Errorf("handler saw trace %s, want %s", handlerTrace, root.SpanContext().TraceID())
	}
	if len(spans) != 3 {
		t.Errorf("%d spans (%v), want 3: the probe must not be traced", len(spans), spans)
	}
}

// TestLatencyHistogramCarriesTheTraceAsExemplar: a traced request's
// latency is observed with its trace id as the exemplar, and /metrics shows
// it to a scraper that negotiates OpenMetrics.
func TestLatencyHistogramCarriesTheTraceAsExemplar(t *testing.T) {
	installRecorder(t)
	probes := httpx.NewProbes("things", "test")
	m := httpx.NewHTTPMetrics(probes.Registry)
	mux := http.NewServeMux()
	probes.Mount(mux)
	mux.HandleFunc("GET /v1/x", func(w http.ResponseWriter, r *http.Request) {})
	h := httpx.Chain(mux, httpx.Trace("things"), httpx.Logging(logx.Discard(), m))
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, root := otel.Tracer("test").Start(context.Background(), "job")
	if err := httpx.NewClient("things", srv.URL, nil, nil).Do(ctx, http.MethodGet, "/v1/x", nil, nil); err != nil {
		t.Fatal(err)
	}
	root.End()
	tests := []struct {
		accept       string
		wantExemplar bool
	}{
		{"application/openmetrics-text; version=1.0.0", true},
		{"text/plain", false},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		req.Header.Set("Accept", tc.accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		has := strings.Contains(string(body), `trace_id="`+root.SpanContext().TraceID().String()+`"`)
		if has != tc.wantExemplar {
			t.Errorf("Accept %s: exemplar shown = %v, want %v", tc.accept, has, tc.wantExemplar)
		}
	}
}
