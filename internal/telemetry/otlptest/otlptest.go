// Package otlptest is an OTLP trace receiver for tests: an HTTP server
// that accepts POST /v1/traces (OTLP/HTTP, protobuf) and a gRPC server
// implementing the collector's TraceService, both decoding the real wire
// format and keeping every span they receive.
package otlptest

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, flattened with its resource's attributes.
type Span struct {
	TraceID, SpanID, ParentID string
	Name                      string
	Kind                      tracepb.Span_SpanKind
	Attrs                     map[string]string
	Resource                  map[string]string
	Status                    tracepb.Status_StatusCode
}

// Receiver keeps the spans exported to it.
type Receiver struct {
	mu    sync.Mutex
	spans []Span
	wake  chan struct{}
}

func newReceiver() *Receiver { return &Receiver{wake: make(chan struct{}, 1)} }

// Spans returns a copy of every span received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Wait waits until ok holds for the spans received, or ctx ends.
func (r *Receiver) Wait(ctx context.Context, ok func([]Span) bool) ([]Span, error) {
	for {
		s := r.Spans()
		if ok(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("otlptest: %d spans received, condition not met: %w", len(s), ctx.Err())
		case <-r.wake:
		}
	}
}

func (r *Receiver) add(req *collectorpb.ExportTraceServiceRequest) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: s.GetKind(),
					Attrs: attrs(s.GetAttributes()), Resource: res, Status: s.GetStatus().GetCode(),
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// attrs renders every attribute value as a string (ints in decimal).
func attrs(kvs []*commonpb.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.GetKey()] = fmt.Sprint(x.IntValue)
		case *commonpb.AnyValue_DoubleValue:
			out[kv.GetKey()] = fmt.Sprint(x.DoubleValue)
		case *commonpb.AnyValue_BoolValue:
			out[kv.GetKey()] = fmt.Sprint(x.BoolValue)
		default:
			out[kv.GetKey()] = v.String()
		}
	}
	return out
}

// NewHTTP starts an OTLP/HTTP receiver for the test; its URL is the
// endpoint to configure (traces are posted to URL/v1/traces).
func NewHTTP(t testing.TB) (*Receiver, string) {
	r, url, stop := StartHTTP()
	t.Cleanup(stop)
	return r, url
}

// StartHTTP is NewHTTP for a harness that outlives one test (TestMain):
// stop closes the receiver.
func StartHTTP() (r *Receiver, url string, stop func()) {
	r = newReceiver()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
			http.Error(w, "want POST /v1/traces", http.StatusNotFound)
			return
		}
		if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			http.Error(w, "want application/x-protobuf, got "+ct, http.StatusUnsupportedMediaType)
			return
		}
		// OTLP/HTTP bodies may be gzip-compressed (the Collector's
		// exporter compresses by default).
		var in io.Reader = req.Body
		switch enc := req.Header.Get("Content-Encoding"); enc {
		case "", "identity":
		case "gzip":
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			defer zr.Close()
			in = zr
		default:
			http.Error(w, "unsupported Content-Encoding "+enc, http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var m collectorpb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(&m)
		out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	return r, srv.URL, srv.Close
}

// Trace is the spans of one trace, by span id.
func Trace(spans []Span, traceID string) map[string]Span {
	out := map[string]Span{}
	for _, s := range spans {
		if s.TraceID == traceID {
			out[s.SpanID] = s
		}
	}
	return out
}

// Orphans lists the spans of a trace whose parent is not in it.
func Orphans(trace map[string]Span) []Span {
	var out []Span
	for _, s := range trace {
		if s.ParentID != "" {
			if _, ok := trace[s.ParentID]; !ok {
				out = append(out, s)
			}
		}
	}
	return out
}

type grpcService struct {
	collectorpb.UnimplementedTraceServiceServer
	r *Receiver
}

func (g grpcService) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	g.r.add(req)
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// NewGRPC starts an OTLP/gRPC receiver (plain text) and returns its
// host:port.
func NewGRPC(t testing.TB) (*Receiver, string) {
	r := newReceiver()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlptest: listen: %v", err)
	}
	s := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(s, grpcService{r: r})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return r, ln.Addr().String()
}
