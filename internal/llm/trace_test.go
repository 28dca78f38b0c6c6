package llm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
)

func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })
	return rec
}

// TestMeteredCallsAreSpans: each model call is a span with the provider,
// model, tier, tokens and cost, under the caller's span; the prompt is on
// it only when asked for, and a failed call is an error span.
func TestMeteredCallsAreSpans(t *testing.T) {
	const secretPrompt = "build my secret project"
	tests := []struct {
		name       string
		promptText bool
		fail       bool
	}{
		{"without the prompt", false, false},
		{"with the prompt", true, false},
		{"failed call", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := recordSpans(t)
			srv := llmtest.New(func(llmtest.Call) llmtest.Reply {
				if tc.fail {
					return llmtest.Reply{Status: 400}
				}
				return llmtest.Reply{Content: "the answer", Usage: &llm.Usage{InputTokens: 100, OutputTokens: 20}}
			})
			defer srv.Close()
			prices, err := pricing.Builtin()
			require.NoError(t, err)
			m, err := llm.NewMetered(openai.New(openai.Config{BaseURL: srv.URL}), prices, &sink{}, logx.Discard(), "gpt-4o-mini")
			require.NoError(t, err)
			m.TracePromptText(tc.promptText)
			ctx, parent := otel.Tracer("test").Start(t.Context(), "activity")
			resp, err := m.Chat(ctx, llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: "user", Content: secretPrompt}},
				Meta: llm.Meta{TenantID: "acme", JobID: "j1", TaskID: "t1", Tier: "T1", Role: "coder"}})
			parent.End()
			var call sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == "llm.chat" {
					call = s
				}
			}
			require.NotNil(t, call, "no llm.chat span")
			require.Equal(t, parent.SpanContext().SpanID(), call.Parent().SpanID())
			attrs := map[attribute.Key]attribute.Value{}
			for _, kv := range call.Attributes() {
				attrs[kv.Key] = kv.Value
			}
			require.Equal(t, "openai", attrs["gen_ai.system"].AsString())
			require.Equal(t, "gpt-4o-mini", attrs["gen_ai.request.model"].AsString())
			require.Equal(t, "T1", attrs["qlp.tier"].AsString())
			_, hasPrompt := attrs["qlp.prompt"]
			require.Equal(t, tc.promptText, hasPrompt)
			if hasPrompt {
				require.Contains(t, attrs["qlp.prompt"].AsString(), secretPrompt)
			}
			if tc.fail {
				require.Error(t, err)
				require.Equal(t, codes.Error, call.Status().Code)
				return
			}
			require.NoError(t, err)
			require.Equal(t, int64(100), attrs["gen_ai.usage.input_tokens"].AsInt64())
			require.Equal(t, int64(20), attrs["gen_ai.usage.output_tokens"].AsInt64())
			require.Equal(t, resp.CostPUSD, attrs["qlp.cost_pusd"].AsInt64())
			require.NotZero(t, resp.CostPUSD)
		})
	}
}
