package llm

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/pricing"
)

// tracerName is the instrumentation scope of the model-call spans.
const tracerName = "github.com/quantumlayer/qlp/internal/llm"

// UsageSink receives one row per call. store.Store satisfies it.
type UsageSink interface {
	RecordUsage(ctx context.Context, u domain.Usage) error
}

// Metered wraps a provider so that every successful call writes a usage row
// priced from the catalogue. The price is looked up when the wrapper is
// built, so an unpriced model fails at configuration time, not mid-job.
type Metered struct {
	inner  Provider
	prices *pricing.Catalogue
	sink   UsageSink
	logger *slog.Logger
	now    func() time.Time
	// promptText puts the prompt and the answer on the call's span.
	promptText bool
}

var _ Provider = (*Metered)(nil)

// NewMetered checks that every model in models has a price and returns the
// wrapper.
func NewMetered(inner Provider, prices *pricing.Catalogue, sink UsageSink, logger *slog.Logger, models ...string) (*Metered, error) {
	for _, m := range models {
		if _, err := prices.Lookup(inner.Name(), m); err != nil {
			return nil, fmt.Errorf("llm: %w", err)
		}
	}
	return &Metered{inner: inner, prices: prices, sink: sink, logger: logger, now: time.Now}, nil
}

// TracePromptText puts each call's prompt and answer on its span. For
// debugging only: they hold the user's request and code, which then reach
// whoever reads the traces.
func (m *Metered) TracePromptText(on bool) *Metered {
	m.promptText = on
	return m
}

// Name implements Provider.
func (m *Metered) Name() string { return m.inner.Name() }

// Chat implements Provider.
func (m *Metered) Chat(ctx context.Context, req Request) (resp *Response, err error) {
	ctx, span := m.startSpan(ctx, "llm.chat", req)
	defer func() { m.endSpan(span, resp, err) }()
	resp, err = m.inner.Chat(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp, m.record(ctx, req, resp)
}

// Stream implements Provider.
func (m *Metered) Stream(ctx context.Context, req Request, fn func(Chunk) error) (resp *Response, err error) {
	ctx, span := m.startSpan(ctx, "llm.stream", req)
	defer func() { m.endSpan(span, resp, err) }()
	resp, err = m.inner.Stream(ctx, req, fn)
	if err != nil {
		return nil, err
	}
	return resp, m.record(ctx, req, resp)
}

// startSpan starts the span of one model call: who it is for, on which
// tier and model. The prompt is on it only when TracePromptText is on.
func (m *Metered) startSpan(ctx context.Context, name string, req Request) (context.Context, trace.Span) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	if !span.IsRecording() {
		return ctx, span
	}
	span.SetAttributes(
		attribute.String("gen_ai.system", m.inner.Name()),
		attribute.String("gen_ai.request.model", req.Model),
		attribute.String("qlp.tier", req.Meta.Tier),
		attribute.String("qlp.role", req.Meta.Role),
		attribute.String("qlp.job_id", req.Meta.JobID),
		attribute.String("qlp.task_id", req.Meta.TaskID),
		attribute.Int("qlp.attempt", req.Meta.Attempt),
	)
	if m.promptText {
		var b strings.Builder
		for _, msg := range req.Messages {
			b.WriteString(msg.Role + ": " + msg.Content + "\n")
		}
		span.SetAttributes(attribute.String("qlp.prompt", b.String()))
	}
	return ctx, span
}

// endSpan records the tokens, the cost and the outcome of the call.
func (m *Metered) endSpan(span trace.Span, resp *Response, err error) {
	if span.IsRecording() {
		if resp != nil {
			span.SetAttributes(
				attribute.String("gen_ai.response.model", resp.Model),
				attribute.Int("gen_ai.usage.input_tokens", resp.Usage.InputTokens),
				attribute.Int("gen_ai.usage.output_tokens", resp.Usage.OutputTokens),
				attribute.Int("qlp.usage.cached_input_tokens", resp.Usage.CachedInputTokens),
				attribute.Int64("qlp.cost_pusd", resp.CostPUSD),
				attribute.Bool("qlp.cached", resp.Cached),
				attribute.String("gen_ai.response.finish_reason", resp.FinishReason),
			)
			if m.promptText {
				span.SetAttributes(attribute.String("qlp.answer", resp.Content))
			}
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// record prices the call by the model that was asked for: a provider may
// answer with a dated alias ("gpt-4o-2024-08-06") of the same model.
func (m *Metered) record(ctx context.Context, req Request, resp *Response) error {
	model := req.Model
	price, err := m.prices.Lookup(m.inner.Name(), model)
	if err != nil {
		return fmt.Errorf("llm: price call: %w", err)
	}
	if resp.Cached {
		resp.CostPUSD = 0
	} else {
		resp.CostPUSD = price.CostOf(pricing.Tokens{Input: resp.Usage.InputTokens, CacheRead: resp.Usage.CachedInputTokens,
			CacheWrite: resp.Usage.CacheWriteInputTokens, Output: resp.Usage.OutputTokens})
	}
	u := domain.Usage{
		TenantID: req.Meta.TenantID, JobID: req.Meta.JobID, TaskID: req.Meta.TaskID, Attempt: req.Meta.Attempt,
		Tier: req.Meta.Tier, Role: req.Meta.Role, Provider: m.inner.Name(), Model: model,
		InputTokens: resp.Usage.InputTokens, CachedInputTokens: resp.Usage.CachedInputTokens, OutputTokens: resp.Usage.OutputTokens,
		CostPUSD: resp.CostPUSD, Cached: resp.Cached, LatencyMS: resp.Latency.Milliseconds(), CreatedAt: m.now(),
	}
	if u.TenantID == "" {
		return fmt.Errorf("llm: refusing an unattributed call (no tenant) to %s/%s", u.Provider, u.Model)
	}
	// The call happened and was paid for: losing its row would make the
	// ledger lie, so a failed write fails the call.
	if err := m.sink.RecordUsage(context.WithoutCancel(ctx), u); err != nil {
		return fmt.Errorf("llm: record usage: %w", err)
	}
	if resp.Usage.Estimated {
		m.logger.Warn("provider reported no token usage; recorded an estimate", "provider", u.Provider, "model", u.Model)
	}
	return nil
}
