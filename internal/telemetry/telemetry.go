// Package telemetry builds the process's OpenTelemetry tracer provider from
// the "otel." settings: off by default, in which case nothing is exported,
// no goroutine runs and the OpenTelemetry API's own no-op provider stays in
// place; on when an OTLP endpoint is set, exporting in batches over gRPC or
// HTTP with the W3C trace context as the propagator.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Protocols of the OTLP exporter.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Samplers accepted by OTEL_TRACES_SAMPLER (the specification's names).
var samplers = []string{"always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// Config is the "otel." settings. The standard OTEL_* variables are bound
// to them so that a collector's usual configuration works unchanged.
type Config struct {
	// Endpoint is the OTLP endpoint; empty turns tracing off.
	Endpoint string
	// Protocol is ProtocolGRPC or ProtocolHTTP.
	Protocol string
	// Insecure sends without TLS (a collector on localhost or a sidecar).
	Insecure bool
	// Headers are sent with every export (key=value,...), e.g. an API key.
	Headers string
	// Sampler and SamplerArg follow OTEL_TRACES_SAMPLER(_ARG).
	Sampler    string
	SamplerArg string
	// ServiceName overrides the service.name derived from the targets.
	ServiceName string
	// Disabled turns tracing off even with an endpoint (OTEL_SDK_DISABLED).
	Disabled bool
	// RecordPrompts puts prompt and answer text on model-call spans. Off by
	// default: prompts hold the user's request and code.
	RecordPrompts bool
}

// Defaults returns tracing off, HTTP/protobuf, parent-based always-on.
func Defaults() Config {
	return Config{Protocol: ProtocolHTTP, Sampler: "parentbased_always_on"}
}

// Settings binds the configuration to keys under "otel." and to the
// standard OTEL_* environment variables (QLP_OTEL_* for QLP's own).
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "otel.endpoint", Env: "OTEL_EXPORTER_OTLP_ENDPOINT", Help: "OTLP endpoint traces are exported to (http://collector:4318 for http/protobuf, collector:4317 for grpc); empty turns tracing off", Value: settings.String(&c.Endpoint)},
		{Key: "otel.protocol", Env: "OTEL_EXPORTER_OTLP_PROTOCOL", Help: "OTLP protocol: http/protobuf or grpc", Value: settings.String(&c.Protocol)},
		{Key: "otel.insecure", Env: "OTEL_EXPORTER_OTLP_INSECURE", Help: "export without TLS (a collector on the same host or a sidecar)", Value: settings.Bool(&c.Insecure)},
		{Key: "otel.headers", Env: "OTEL_EXPORTER_OTLP_HEADERS", Help: "headers sent with every export, key=value,key=value (e.g. a collector's API key)", Secret: true, Value: settings.String(&c.Headers)},
		{Key: "otel.sampler", Env: "OTEL_TRACES_SAMPLER", Help: "sampler: " + strings.Join(samplers, ", "), Value: settings.String(&c.Sampler)},
		{Key: "otel.sampler_arg", Env: "OTEL_TRACES_SAMPLER_ARG", Help: "the ratio of the traceidratio samplers (0..1; default 1)", Value: settings.String(&c.SamplerArg)},
		{Key: "otel.service_name", Env: "OTEL_SERVICE_NAME", Help: "service.name of this process's spans; empty = qlp-<target> (qlp when one process runs several)", Value: settings.String(&c.ServiceName)},
		{Key: "otel.disabled", Env: "OTEL_SDK_DISABLED", Help: "turn tracing off even with an endpoint", Value: settings.Bool(&c.Disabled)},
		{Key: "otel.record_prompts", Env: "QLP_OTEL_RECORD_PROMPTS", Help: "debug only: put prompt and answer text on model-call spans (they hold the user's request and code)", Value: settings.Bool(&c.RecordPrompts)},
	}
}

// Enabled reports whether spans are exported.
func (c Config) Enabled() bool { return c.Endpoint != "" && !c.Disabled }

// Validate checks the protocol, the sampler and its argument.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return settings.Invalid(c.Settings(), key, format, args...)
	}
	switch c.Protocol {
	case ProtocolGRPC, ProtocolHTTP:
	default:
		return bad("otel.protocol", "%q is not grpc or http/protobuf", c.Protocol)
	}
	if !contains(samplers, c.Sampler) {
		return bad("otel.sampler", "%q is not one of %s", c.Sampler, strings.Join(samplers, ", "))
	}
	if _, err := c.ratio(); err != nil {
		return bad("otel.sampler_arg", "%w", err)
	}
	if _, err := c.headers(); err != nil {
		// Never echo the headers: they may hold a key.
		return bad("otel.headers", "%w", err)
	}
	if c.Endpoint != "" && c.Protocol == ProtocolHTTP {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// Not echoed: a URL may hold credentials.
			return bad("otel.endpoint", "is not an http:// or https:// URL (http/protobuf needs one)")
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c Config) ratio() (float64, error) {
	if strings.TrimSpace(c.SamplerArg) == "" {
		return 1, nil
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(c.SamplerArg), 64)
	if err != nil || r < 0 || r > 1 || r != r {
		return 0, fmt.Errorf("%q is not a ratio in 0..1", c.SamplerArg)
	}
	return r, nil
}

func (c Config) headers() (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(c.Headers, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, errors.New("want key=value,key=value")
		}
		k, _ = url.QueryUnescape(strings.TrimSpace(k))
		v, _ = url.QueryUnescape(strings.TrimSpace(v))
		out[k] = v
	}
	return out, nil
}

func (c Config) sampler() sdktrace.Sampler {
	r, _ := c.ratio()
	switch c.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(r)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r))
	default:
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}

// Provider is the process's tracer provider and what shuts it down.
type Provider struct {
	trace.TracerProvider
	sdk *sdktrace.TracerProvider
}

// Shutdown flushes the spans not yet exported and stops the exporter. It
// does nothing when tracing is off.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil || p.sdk == nil {
		return nil
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: flush spans on shutdown: %w", err)
	}
	return nil
}

// Recording reports whether this provider exports spans.
func (p *Provider) Recording() bool { return p != nil && p.sdk != nil }

// ServiceName is service.name for a process running targets: the setting,
// else qlp-<target> for one target and qlp for several (or none).
func (c Config) ServiceNameFor(targets []string) string {
	if c.ServiceName != "" {
		return c.ServiceName
	}
	if len(targets) == 1 {
		return "qlp-" + targets[0]
	}
	return "qlp"
}

// New returns the provider for a process running targets. Off, it is the
// no-op provider: no exporter, no goroutine. On, spans go in batches to the
// endpoint, and the resource names the service (service.name), the
// targets (qlp.target) and the version (service.version). New does not
// install the provider as the process's global one: [Install] does.
func New(ctx context.Context, c Config, targets []string, version string) (*Provider, error) {
	if !c.Enabled() {
		return &Provider{TracerProvider: noop.NewTracerProvider()}, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	exp, err := c.exporter(ctx)
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(c.ServiceNameFor(targets)),
		semconv.ServiceVersion(version),
		attribute.String("qlp.target", strings.Join(targets, ",")),
	))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(c.sampler()),
	)
	return &Provider{TracerProvider: sdk, sdk: sdk}, nil
}

func (c Config) exporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	headers, _ := c.headers()
	switch c.Protocol {
	case ProtocolGRPC:
		endpoint := c.Endpoint
		insecure := c.Insecure
		// The gRPC exporter takes host:port; accept the URL form too, and
		// read http:// as plain text.
		if u, err := url.Parse(endpoint); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
			endpoint = u.Host
			insecure = insecure || u.Scheme == "http"
		}
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithHeaders(headers)}
		if insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP/gRPC exporter to %s: %w", endpoint, err)
		}
		return exp, nil
	default:
		// The endpoint is the collector's base URL; traces go to /v1/traces
		// under it, as the specification says for OTEL_EXPORTER_OTLP_ENDPOINT.
		u, _ := url.Parse(c.Endpoint)
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host),
			otlptracehttp.WithURLPath(strings.TrimSuffix(u.Path, "/") + "/v1/traces"), otlptracehttp.WithHeaders(headers)}
		if u.Scheme == "http" || c.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP/HTTP exporter to %s: %w", u.Host, err)
		}
		return exp, nil
	}
}

// Install makes p the process's tracer provider and the W3C trace context
// (and baggage) its propagator. The OpenTelemetry API keeps both as process
// state by design: the instrumentation of net/http, Temporal and the models
// reaches them through otel.GetTracerProvider, so that a span started in
// any package joins the job's trace. A provider that is off leaves the
// API's no-op default in place, so that tracing off costs nothing.
func Install(p *Provider) {
	otel.SetTextMapPropagator(Propagator())
	if p.Recording() {
		otel.SetTracerProvider(p.TracerProvider)
	}
}

// Propagator is W3C trace context plus baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Tracer is the tracer QLP's own spans come from.
func Tracer() trace.Tracer { return otel.Tracer("github.com/quantumlayer/qlp") }

// TraceID returns the hex trace id of the span in ctx, or "" when there is
// none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
