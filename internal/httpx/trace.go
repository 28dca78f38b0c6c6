package httpx

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the spans httpx starts.
const tracerName = "github.com/quantumlayer/qlp/internal/httpx"

// Trace starts a server span for each request of service, a child of the
// caller's span when the request carries a W3C traceparent, so that one
// job's trace crosses every process it touches. Probes and /metrics are
// not traced. [Logging] names the span after the matched route pattern
// once the mux has chosen it. With tracing off (the OpenTelemetry API's
// no-op provider) the span records nothing and costs a few allocations.
func Trace(service string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return otelhttp.NewHandler(next, service,
			otelhttp.WithFilter(func(r *http.Request) bool { return !isProbe(r.URL.Path) }),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
	}
}

func isProbe(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/health", "/metrics":
		return true
	}
	return false
}

// nameSpan names the request's server span after its route pattern, which
// is known only after the mux ran ("POST /v2/execute", never the raw path
// with its ids).
func nameSpan(r *http.Request, pattern string) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() || pattern == "unmatched" {
		return
	}
	name := pattern
	if !strings.Contains(pattern, " ") {
		name = r.Method + " " + pattern
	}
	span.SetName(name)
	span.SetAttributes(attribute.String("http.route", pattern))
}

// startClientSpan starts the client span of one call to service and puts
// its trace context in the request's headers.
func startClientSpan(ctx context.Context, service string, req *http.Request) (context.Context, trace.Span) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, req.Method+" "+service, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Host),
			attribute.String("url.path", req.URL.Path),
			attribute.String("qlp.service", service),
		))
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	return ctx, span
}

// endClientSpan records the call's outcome on its span and ends it.
func endClientSpan(span trace.Span, resp *http.Response, err error) {
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	case resp != nil:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 500 {
			span.SetStatus(codes.Error, resp.Status)
		}
	}
	span.End()
}
