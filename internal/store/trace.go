package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the store's spans.
const tracerName = "github.com/quantumlayer/qlp/internal/store"

// queryTracer makes each PostgreSQL query a client span of the caller's
// trace (pgx's tracer hook, which database/sql reaches through the pgx
// driver with the caller's context). The statement's text is recorded —
// QLP's statements take every value as a parameter — and the arguments
// never are.
type queryTracer struct{}

var _ pgx.QueryTracer = queryTracer{}

// TraceQueryStart implements pgx.QueryTracer.
func (queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
		// A query outside any trace (migrations, background polls) would
		// start a trace of its own: leave it out.
		return ctx
	}
	op := operation(data.SQL)
	ctx, _ = otel.Tracer(tracerName).Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system", "postgresql"),
		attribute.String("db.operation.name", op),
		attribute.String("db.query.text", data.SQL),
	))
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if data.Err != nil && data.Err != pgx.ErrNoRows {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, data.Err.Error())
	}
	span.SetAttributes(attribute.Int64("db.response.rows_affected", data.CommandTag.RowsAffected()))
	span.End()
}

// operation is the statement's first word, upper-cased: SELECT, INSERT, …
func operation(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return "QUERY"
	}
	return strings.ToUpper(f[0])
}
