package qdrant_test

import (
	"testing"

	qc "github.com/qdrant/go-client/qdrant"

	"github.com/quantumlayer/qlp/internal/memory/memorytest"
	"github.com/quantumlayer/qlp/internal/memory/qdrant"
	"github.com/quantumlayer/qlp/internal/memory/qdrant/qdranttest"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

func TestConformance(t *testing.T) {
	servers := map[vector.Store]*qdranttest.Server{}
	memorytest.Run(t, memorytest.Harness{
		New: func(t *testing.T) vector.Store {
			srv := qdranttest.Start(t, "")
			s, err := qdrant.Open(t.Context(), qdrant.Config{Addr: srv.Addr})
			if err != nil {
				t.Fatal(err)
			}
			servers[s] = srv
			return s
		},
		// Qdrant persists on its side: reopening is a new client to the
		// same server.
		Reopen: func(t *testing.T, s vector.Store) vector.Store {
			s.Close()
			s2, err := qdrant.Open(t.Context(), qdrant.Config{Addr: servers[s].Addr})
			if err != nil {
				t.Fatal(err)
			}
			return s2
		},
		Large: 1500,
	})
}

func TestPayloadIndexes(t *testing.T) {
	srv := qdranttest.Start(t, "")
	s, err := qdrant.Open(t.Context(), qdrant.Config{Addr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureCollection(t.Context(), vector.AgentDecisions, 4); err != nil {
		t.Fatal(err)
	}
	got := srv.Indexes(vector.AgentDecisions)
	want := map[string]qc.FieldType{
		vector.TenantKey: qc.FieldType_FieldTypeKeyword,
		"task_type":      qc.FieldType_FieldTypeKeyword,
		"complexity":     qc.FieldType_FieldTypeKeyword,
		"tier":           qc.FieldType_FieldTypeKeyword,
		"success":        qc.FieldType_FieldTypeBool,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("index %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestAPIKey(t *testing.T) {
	srv := qdranttest.Start(t, "right")
	if _, err := qdrant.Open(t.Context(), qdrant.Config{Addr: srv.Addr, APIKey: "wrong"}); err == nil {
		t.Fatal("Open with a wrong API key succeeded")
	}
	s, err := qdrant.Open(t.Context(), qdrant.Config{Addr: srv.Addr, APIKey: "right"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureCollection(t.Context(), vector.Requirements, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := qdrant.Open(t.Context(), qdrant.Config{Addr: "no-port"}); err == nil {
		t.Fatal("Open with a bad address succeeded")
	}
}
