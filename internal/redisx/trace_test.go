package redisx_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/quantumlayer/qlp/internal/redisx/redistest"
)

// TestCommandsAreSpansWithoutTheirArguments: a Redis command is a span of
// the caller's trace, without its arguments; readiness pings are none.
func TestCommandsAreSpansWithoutTheirArguments(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })
	rdb := redistest.Client(t)

	const secret = "cached-answer-text"
	ctx, parent := otel.Tracer("test").Start(t.Context(), "request")
	require.NoError(t, rdb.Set(ctx, "qlp:test:trace", secret, 0).Err())
	require.NoError(t, rdb.Ping(ctx).Err())
	parent.End()
	var set sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		require.NotEqual(t, "ping", sp.Name(), "a ping was traced")
		if sp.Name() == "set" {
			set = sp
		}
	}
	require.NotNil(t, set, "no span for SET")
	require.Equal(t, parent.SpanContext().SpanID(), set.Parent().SpanID())
	for _, kv := range set.Attributes() {
		require.NotContains(t, kv.Value.Emit(), secret, "an argument is on the span (%s)", kv.Key)
	}
}
