package telemetry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/telemetry"
	"github.com/quantumlayer/qlp/internal/telemetry/otlptest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*telemetry.Config)
		want string // "" = valid
	}{
		{"defaults", func(*telemetry.Config) {}, ""},
		{"grpc", func(c *telemetry.Config) { c.Protocol = "grpc"; c.Endpoint = "collector:4317" }, ""},
		{"http endpoint", func(c *telemetry.Config) { c.Endpoint = "http://collector:4318" }, ""},
		{"http endpoint without scheme", func(c *telemetry.Config) { c.Endpoint = "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"unknown protocol", func(c *telemetry.Config) { c.Protocol = "http/json" }, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"unknown sampler", func(c *telemetry.Config) { c.Sampler = "sometimes" }, "OTEL_TRACES_SAMPLER"},
		{"ratio", func(c *telemetry.Config) { c.Sampler = "parentbased_traceidratio"; c.SamplerArg = "0.25" }, ""},
		{"ratio above 1", func(c *telemetry.Config) { c.Sampler = "traceidratio"; c.SamplerArg = "2" }, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio not a number", func(c *telemetry.Config) { c.SamplerArg = "half" }, "OTEL_TRACES_SAMPLER_ARG"},
		{"headers", func(c *telemetry.Config) { c.Headers = "api-key=s3cret,x=y" }, ""},
		{"bad headers", func(c *telemetry.Config) { c.Headers = "s3cret" }, "OTEL_EXPORTER_OTLP_HEADERS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := telemetry.Defaults()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error echoes a header value: %v", err)
			}
		})
	}
}

func TestServiceName(t *testing.T) {
	tests := []struct {
		set     string
		targets []string
		want    string
	}{
		{"", []string{"worker"}, "qlp-worker"},
		{"", []string{"orchestrator", "worker"}, "qlp"},
		{"", nil, "qlp"},
		{"mine", []string{"worker"}, "mine"},
	}
	for _, tc := range tests {
		c := telemetry.Config{ServiceName: tc.set}
		if got := c.ServiceNameFor(tc.targets); got != tc.want {
			t.Errorf("ServiceNameFor(%v) with %q = %q, want %q", tc.targets, tc.set, got, tc.want)
		}
	}
}

func TestOffIsNoop(t *testing.T) {
	p, err := telemetry.New(context.Background(), telemetry.Defaults(), []string{"worker"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if p.Recording() {
		t.Fatal("tracing is on without an endpoint")
	}
	_, span := p.Tracer("x").Start(context.Background(), "s")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatal("the provider that is off records spans")
	}
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	disabled := telemetry.Defaults()
	disabled.Endpoint, disabled.Disabled = "http://127.0.0.1:1", true
	if p, _ := telemetry.New(context.Background(), disabled, nil, "test"); p.Recording() {
		t.Fatal("OTEL_SDK_DISABLED did not turn tracing off")
	}
}

func TestExportsOverBothProtocols(t *testing.T) {
	for _, proto := range []string{telemetry.ProtocolHTTP, telemetry.ProtocolGRPC} {
		t.Run(proto, func(t *testing.T) {
			var (
				r        *otlptest.Receiver
				endpoint string
			)
			c := telemetry.Defaults()
			c.Protocol = proto
			if proto == telemetry.ProtocolGRPC {
				r, endpoint = otlptest.NewGRPC(t)
				c.Insecure = true
			} else {
				r, endpoint = otlptest.NewHTTP(t)
			}
			c.Endpoint = endpoint
			ctx := context.Background()
			p, err := telemetry.New(ctx, c, []string{"sandbox"}, "v9")
			if err != nil {
				t.Fatal(err)
			}
			pctx, parent := p.Tracer("t").Start(ctx, "parent")
			_, child := p.Tracer("t").Start(pctx, "child")
			child.End()
			parent.End()
			if err := p.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			spans, err := r.Wait(wctx, func(s []otlptest.Span) bool { return len(s) == 2 })
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]otlptest.Span{}
			for _, s := range spans {
				byName[s.Name] = s
			}
			if byName["child"].ParentID != byName["parent"].SpanID || byName["child"].TraceID != byName["parent"].TraceID {
				t.Fatalf("child is not under parent: %+v", spans)
			}
			res := byName["parent"].Resource
			if res["service.name"] != "qlp-sandbox" || res["qlp.target"] != "sandbox" || res["service.version"] != "v9" {
				t.Fatalf("resource %v", res)
			}
		})
	}
}

func TestSamplerAlwaysOffExportsNothing(t *testing.T) {
	r, endpoint := otlptest.NewHTTP(t)
	c := telemetry.Defaults()
	c.Endpoint, c.Sampler = endpoint, "always_off"
	p, err := telemetry.New(context.Background(), c, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, s := p.Tracer("t").Start(context.Background(), "dropped")
	s.End()
	_ = p.Shutdown(context.Background())
	if n := len(r.Spans()); n != 0 {
		t.Fatalf("%d spans exported with always_off", n)
	}
}
