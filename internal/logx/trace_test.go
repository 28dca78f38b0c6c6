package logx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/quantumlayer/qlp/internal/logx"
)

func TestLogLinesCarryTheSpanOfTheirContext(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	spanCtx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	tests := []struct {
		name      string
		ctx       context.Context
		logger    func(*slog.Logger) *slog.Logger
		wantTrace string
		wantSpan  string
	}{
		{"span in context", spanCtx, nil, tid.String(), sid.String()},
		{"no span", context.Background(), nil, "", ""},
		{"after With", spanCtx, func(l *slog.Logger) *slog.Logger { return l.With("component", "x") }, tid.String(), sid.String()},
		{"inside a group", spanCtx, func(l *slog.Logger) *slog.Logger { return l.WithGroup("g") }, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := logx.New(&buf, logx.FormatJSON, slog.LevelInfo)
			if tc.logger != nil {
				l = tc.logger(l)
			}
			l.InfoContext(tc.ctx, "hello")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			if tc.name == "inside a group" {
				g, _ := rec["g"].(map[string]any)
				if g["trace_id"] != tid.String() {
					t.Fatalf("trace_id not in the group: %s", buf.String())
				}
				return
			}
			got, _ := rec["trace_id"].(string)
			gotSpan, _ := rec["span_id"].(string)
			if got != tc.wantTrace || gotSpan != tc.wantSpan {
				t.Fatalf("trace_id=%q span_id=%q, want %q %q: %s", got, gotSpan, tc.wantTrace, tc.wantSpan, buf.String())
			}
		})
	}
}

func TestWithTraceWrapsOnce(t *testing.T) {
	h := logx.WithTrace(slog.DiscardHandler)
	if logx.WithTrace(h) != h {
		t.Fatal("WithTrace wrapped a handler that already adds the trace")
	}
}
