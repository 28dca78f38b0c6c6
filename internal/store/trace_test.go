package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

// TestPostgresQueriesAreSpansOfTheCallersTrace: a query made inside a
// trace is a client span under the caller's span, with the statement and
// never its arguments; a query outside any trace starts none.
func TestPostgresQueriesAreSpansOfTheCallersTrace(t *testing.T) {
	s, err := store.OpenPostgres(t.Context(), storetest.PostgresURL(t))
	require.NoError(t, err)
	defer s.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	const secretID = "job-id-that-is-an-argument"
	_, err = s.GetJob(t.Context(), "acme", secretID) // outside a trace
	require.True(t, errors.Is(err, store.ErrNotFound), "GetJob: %v", err)
	require.Empty(t, rec.Ended(), "a query outside a trace started one")

	ctx, parent := otel.Tracer("test").Start(t.Context(), "request")
	_, err = s.GetJob(ctx, "acme", secretID)
	require.True(t, errors.Is(err, store.ErrNotFound), "GetJob: %v", err)
	parent.End()
	var db sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() == "db SELECT" {
			db = sp
		}
	}
	require.NotNil(t, db, "no db SELECT span")
	require.Equal(t, parent.SpanContext().SpanID(), db.Parent().SpanID())
	for _, kv := range db.Attributes() {
		require.NotContains(t, kv.Value.Emit(), secretID, "an argument is on the span (%s)", kv.Key)
		if kv.Key == "db.query.text" {
			require.Contains(t, kv.Value.AsString(), "FROM jobs")
		}
	}
}
