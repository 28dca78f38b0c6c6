package validation_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestEachCheckAndSandboxRunIsASpan: a validation is a span; each batch
// of checks run in the sandbox is a child of it, the sandbox run a child
// of the batch, and each check a span of its own under its batch (or under
// the validation, for the checks QLP runs itself), all in the caller's
// trace.
func TestEachCheckAndSandboxRunIsASpan(t *testing.T) {
	_, mesh := sandboxed(t)
	requireTools(t, mesh, "python")
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	ctx, job := otel.Tracer("test").Start(t.Context(), "job")
	req := loadProject(t, "python/good", "python")
	req.Label, req.Quick = "traced", true // the gating checks run, in one sandbox run: enough, and cheap
	// Content no earlier test validated, so that the mesh's cache of
	// results answers none of the checks and the sandbox runs.
	req.Files[0].Content += "\n# traced " + job.SpanContext().TraceID().String() + "\n"
	rep, err := mesh.Validate(ctx, req)
	job.End()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]sdktrace.ReadOnlySpan{}
	var validate sdktrace.ReadOnlySpan
	checks := map[string]sdktrace.ReadOnlySpan{}
	var runs []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() != job.SpanContext().TraceID() {
			continue
		}
		byID[s.SpanContext().SpanID().String()] = s
		switch s.Name() {
		case "validation.validate":
			validate = s
		case "validation.check":
			for _, kv := range s.Attributes() {
				if kv.Key == "qlp.check.name" {
					checks[kv.Value.AsString()] = s
				}
			}
		case "sandbox.run":
			runs = append(runs, s)
		}
	}
	if validate == nil || validate.Parent().SpanID() != job.SpanContext().SpanID() {
		t.Fatal("no validation.validate span under the caller's span")
	}
	if len(runs) == 0 {
		t.Fatal("no sandbox.run span")
	}
	for _, r := range runs {
		batch := byID[r.Parent().SpanID().String()]
		if batch == nil || batch.Name() != "validation.batch" || batch.Parent().SpanID() != validate.SpanContext().SpanID() {
			t.Errorf("sandbox run %v is not under a batch of the validation", r.SpanContext().SpanID())
		}
	}
	for _, c := range rep.Checks {
		s := checks[c.Name]
		if s == nil {
			t.Errorf("check %s has no span", c.Name)
			continue
		}
		parent := byID[s.Parent().SpanID().String()]
		if parent == nil || (parent.Name() != "validation.batch" && parent.Name() != "validation.validate") {
			t.Errorf("check %s's span is not under the validation", c.Name)
		}
		if s.EndTime().Before(s.StartTime()) {
			t.Errorf("check %s ends before it starts", c.Name)
		}
	}
}
