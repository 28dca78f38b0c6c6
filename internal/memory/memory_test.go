package memory_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/memory/localstore"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// recorder is a UsageRecorder that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	list []memory.EmbeddingUsage
}

func (r *recorder) RecordEmbedding(_ context.Context, u memory.EmbeddingUsage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, u)
	return nil
}

func (r *recorder) all() []memory.EmbeddingUsage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]memory.EmbeddingUsage(nil), r.list...)
}

func asTenant(ctx context.Context, t string) context.Context {
	return auth.WithPrincipal(ctx, auth.Principal{TenantID: t, KeyID: "test"})
}

func embeddedConfig(t *testing.T) memory.Config {
	cfg := memory.Defaults()
	cfg.DataDir = t.TempDir()
	return cfg
}

func newService(t *testing.T, cfg memory.Config, deps memory.Deps) *memory.Service {
	t.Helper()
	if deps.Usage == nil {
		deps.Usage = &recorder{}
	}
	deps.Logger = logx.Discard()
	s, err := memory.New(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serveClient serves svc behind the real auth middleware and returns a
// client that authenticates with the service token.
func serveClient(t *testing.T, svc *memory.Service) *memory.Client {
	const token = "service-token-for-tests"
	h := auth.Require(auth.ServiceToken{Token: token}, logx.Discard())(svc.Handler())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return memory.NewClient(srv.URL, token, srv.Client())
}

// targets runs the suite against the in-process service and the client.
func targets(t *testing.T, newSvc func(t *testing.T, rec *recorder) *memory.Service, suite func(t *testing.T, m memory.Memory, rec *recorder)) {
	t.Run("service", func(t *testing.T) {
		rec := &recorder{}
		suite(t, newSvc(t, rec), rec)
	})
	t.Run("client", func(t *testing.T) {
		rec := &recorder{}
		suite(t, serveClient(t, newSvc(t, rec)), rec)
	})
}

func TestMemoryEmbedded(t *testing.T) {
	newSvc := func(t *testing.T, rec *recorder) *memory.Service {
		return newService(t, embeddedConfig(t), memory.Deps{Usage: rec})
	}
	for name, suite := range suites {
		t.Run(name, func(t *testing.T) { targets(t, newSvc, suite) })
	}
}

func TestNewRequiresMetering(t *testing.T) {
	if _, err := memory.New(t.Context(), embeddedConfig(t), memory.Deps{}); err == nil || !strings.Contains(err.Error(), "metered") {
		t.Fatalf("New without a usage recorder: %v", err)
	}
}

func TestReindexAfterEmbedderChange(t *testing.T) {
	ctx := asTenant(t.Context(), "acme")
	dir := t.TempDir()
	open := func(dim int) *memory.Service {
		st, err := localstore.Open(t.Context(), localstore.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		cfg := memory.Defaults()
		cfg.DataDir = dir
		cfg.Embedder.Dimension = dim
		s, err := memory.New(t.Context(), cfg, memory.Deps{Usage: &recorder{}, Store: st, Logger: logx.Discard()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(384)
	if err := s.RecordRequest(ctx, memory.RequestRecord{RequestID: "r1", Description: "Build a CLI tool in Rust that counts words in files"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordErrorFix(asTenant(t.Context(), "other"), memory.ErrorFix{Error: "E0425: cannot find value `x` in this scope", Fix: "declare x", Language: "rust"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(256) // the embedder changed: stored vectors no longer fit
	defer s.Close()
	if err := s.Ready(t.Context()); !errors.Is(err, memory.ErrReindexRequired) {
		t.Fatalf("Ready = %v, want ErrReindexRequired", err)
	}
	if _, err := s.SimilarRequests(ctx, memory.RequestQuery{Description: "Rust word counter"}); !errors.Is(err, memory.ErrReindexRequired) {
		t.Fatalf("recall before reindex: %v, want ErrReindexRequired", err)
	}
	rep, err := s.Reindex(ctx, memory.ReindexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rebuilt := map[string]memory.ReindexedCollection{}
	for _, c := range rep.Collections {
		rebuilt[c.Name] = c
	}
	if c := rebuilt[vector.Executions]; !c.Rebuilt || c.Points != 1 || c.OldDimension != 384 || c.NewDimension != 256 {
		t.Fatalf("executions reindex %+v", c)
	}
	if c := rebuilt[vector.ErrorPatterns]; c.Points != 1 || c.Tenants != 1 {
		t.Fatalf("error patterns reindex %+v", c)
	}
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready after reindex: %v", err)
	}
	got, err := s.SimilarRequests(ctx, memory.RequestQuery{Description: "Build a CLI tool in Rust that counts words"})
	if err != nil || len(got) != 1 || got[0].RequestID != "r1" {
		t.Fatalf("recall after reindex: %+v, %v", got, err)
	}
}
