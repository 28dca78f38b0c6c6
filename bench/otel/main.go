// Command otel measures what the OpenTelemetry instrumentation costs a job
// when tracing is off (the default), as a ratio to the job's own time
// measured in the same run:
//
//	go run ./bench/otel -runs 5
//
// It runs the platform in this process on the embedded defaults with the
// scripted url-shortener model (as internal/e2e does) and:
//
//  1. measures, before anything installs a tracer provider, the cost of
//     each kind of instrumentation call on the path tracing off takes (the
//     OpenTelemetry API's global no-op): a span started with attributes and
//     ended, a log record through the trace_id handler against the bare
//     JSON handler, and a request through the otelhttp server wrapper
//     against the bare handler;
//  2. runs -runs jobs (after a warm-up job) with tracing off: the baseline
//     job time;
//  3. runs one more job on a fresh platform with a counting tracer
//     provider installed, to count the spans, the log records and the
//     traced HTTP requests one job makes;
//
// and prints the per-job cost (count × cost of each kind) and its ratio to
// the median baseline job. The instrumentation cannot be compiled out, so
// the cost is measured per call and multiplied, not as the difference of
// two noisy job times.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

func main() {
	runs := flag.Int("runs", 5, "jobs measured with tracing off (after one warm-up job)")
	example := flag.String("example", "examples/url-shortener", "scripted example the model answers from")
	flag.Parse()
	ex, err := llmtest.LoadExample(*example)
	if err != nil {
		log.Fatal(err)
	}

	// 1. The cost of each kind of call, tracing off, before any provider
	// is installed (a job with tracing off never installs one).
	span := perOp(benchSpan)
	logRec := perOp(benchLog(true)) - perOp(benchLog(false))
	httpReq := perOp(benchHTTP(true)) - perOp(benchHTTP(false))
	fmt.Printf("tracing off, per call: span %v, log record %v, HTTP request %v\n", span, logRec, httpReq)

	// 2. The baseline: jobs with tracing off.
	var walls []time.Duration
	err = withPlatform(ex, io.Discard, func(run func() (time.Duration, error)) error {
		for i := 0; i < *runs+1; i++ {
			d, err := run()
			if err != nil {
				return err
			}
			if i > 0 { // the first job warms caches
				walls = append(walls, d)
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	median := walls[len(walls)/2]

	// 3. What one job calls: spans (a counting provider, no exporter), log
	// records written inside a trace, and traced HTTP requests.
	counter := &countingProcessor{}
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(counter)))
	lines := &countingWriter{}
	if err := withPlatform(ex, lines, func(run func() (time.Duration, error)) error {
		_, err := run()
		return err
	}); err != nil {
		log.Fatal(err)
	}
	spans, servers, records := counter.spans.Load(), counter.servers.Load(), lines.all.Load()
	cost := time.Duration(spans)*span + time.Duration(records)*logRec + time.Duration(servers)*httpReq
	fmt.Printf("one job: %d spans, %d traced HTTP requests, %d log records (%d inside a trace)\n", spans, servers, records, lines.traced.Load())
	fmt.Printf("jobs (tracing off): %d, median %v (min %v, max %v)\n", len(walls), median.Round(time.Millisecond), walls[0].Round(time.Millisecond), walls[len(walls)-1].Round(time.Millisecond))
	fmt.Printf("instrumentation per job, tracing off: %v = %.4f %% of the median job\n", cost, 100*float64(cost)/float64(median))
}

// perOp is the time of one call of f, from testing.Benchmark.
func perOp(f func(b *testing.B)) time.Duration {
	r := testing.Benchmark(f)
	return time.Duration(r.T.Nanoseconds() / int64(r.N))
}

// benchSpan is a span as the mesh's checks make them: attributes at the
// start and at the end.
func benchSpan(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		_, s := otel.Tracer("bench").Start(ctx, "validation.check", trace.WithAttributes(
			attribute.String("qlp.check.name", "vet"), attribute.String("qlp.check.category", "lint"),
			attribute.String("qlp.check.tool", "go vet"), attribute.String("qlp.check.status", "passed"),
			attribute.Int("qlp.check.findings", 0), attribute.Bool("qlp.check.reused", false)))
		s.SetAttributes(attribute.String("qlp.sandbox.status", "completed"), attribute.Int("qlp.sandbox.exit_code", 0))
		s.End()
	}
}

// benchLog logs one record, through the trace handler or the bare one.
func benchLog(traced bool) func(b *testing.B) {
	return func(b *testing.B) {
		h := slog.Handler(slog.NewJSONHandler(io.Discard, nil))
		if traced {
			h = logx.WithTrace(h)
		}
		l := slog.New(h)
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			l.InfoContext(ctx, "sandbox run", "run", "r1", "language", "go", "status", "completed", "exit_code", 0)
		}
	}
}

// benchHTTP serves one request through the otelhttp server wrapper or
// without it.
func benchHTTP(traced bool) func(b *testing.B) {
	return func(b *testing.B) {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		if traced {
			h = httpx.Trace("bench")(h)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/runs", nil)
		for i := 0; i < b.N; i++ {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
}

// withPlatform opens the platform (worker and every service in this
// process, tracing off) with the scripted model, and gives f a function
// that runs one job to its end and returns its wall time.
func withPlatform(ex *llmtest.Example, logTo io.Writer, f func(run func() (time.Duration, error)) error) error {
	ctx := context.Background()
	model := llmtest.New(llmtest.NewScript(ex.Rules...).Handle)
	defer model.Close()
	dir, err := os.MkdirTemp("", "qlp-bench-otel-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.Temporal.Port = 0
	cfg.LLM.Provider, cfg.LLM.BaseURL, cfg.LLM.APIKey = "openai", model.URL, "bench"
	cfg.LLM.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	p, err := app.Open(ctx, cfg, logx.New(logTo, logx.FormatJSON, slog.LevelInfo), app.Options{Run: []string{app.Worker}, Version: "bench"})
	if err != nil {
		return err
	}
	defer p.Close()
	srv := httptest.NewServer(p.APIHandler())
	defer srv.Close()
	if _, err := p.Store.EnsureTenant(ctx, "bench", "bench"); err != nil {
		return err
	}
	key, digest, err := auth.NewKey()
	if err != nil {
		return err
	}
	if err := p.Store.CreateAPIKey(ctx, store.APIKey{ID: "bench-key", TenantID: "bench", Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest}); err != nil {
		return err
	}
	c := orchestrator.NewClient(srv.URL, key, nil)
	return f(func() (time.Duration, error) {
		start := time.Now()
		sub, err := c.Execute(ctx, orchestrator.ExecuteRequest{Description: ex.Request}, "")
		if err != nil {
			return 0, err
		}
		var last orchestrator.ProgressEvent
		if err := c.Follow(ctx, sub.WorkflowID, 0, func(e orchestrator.ProgressEvent) error { last = e; return nil }); err != nil {
			return 0, err
		}
		if last.Type != "workflow_completed" {
			return 0, fmt.Errorf("job %s ended %s: %s", sub.RequestID, last.Type, last.Message)
		}
		return time.Since(start), nil
	})
}

// countingProcessor counts the spans a job starts, and its server spans
// (one per traced HTTP request).
type countingProcessor struct{ spans, servers atomic.Int64 }

func (c *countingProcessor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	c.spans.Add(1)
	if s.SpanKind() == trace.SpanKindServer {
		c.servers.Add(1)
	}
}
func (c *countingProcessor) OnEnd(sdktrace.ReadOnlySpan)      {}
func (c *countingProcessor) Shutdown(context.Context) error   { return nil }
func (c *countingProcessor) ForceFlush(context.Context) error { return nil }

// countingWriter counts the log records of a job (each goes through the
// trace handler, traced or not) and those that carry a trace id.
type countingWriter struct{ all, traced atomic.Int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.all.Add(1)
	if bytes.Contains(p, []byte(`"trace_id":"`)) {
		c.traced.Add(1)
	}
	return len(p), nil
}
