package memory_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/memory/pgvector"
	"github.com/quantumlayer/qlp/internal/memory/qdrant"
	"github.com/quantumlayer/qlp/internal/memory/qdrant/qdranttest"
)

// The Memory suite on the two other stores: same behaviour whatever holds
// the vectors.

func TestMemoryPgvector(t *testing.T) {
	url := os.Getenv("QLP_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("QLP_TEST_POSTGRES_URL is not set but QLP_TEST_REQUIRE_SERVICES=1: start scripts/test-services.sh")
		}
		t.Skip("QLP_TEST_POSTGRES_URL not set (scripts/test-services.sh start)")
	}
	newSvc := func(t *testing.T, rec *recorder) *memory.Service {
		schema := freshSchema(t, url)
		st, err := pgvector.Open(t.Context(), pgvector.Config{URL: url, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		cfg := memory.Defaults()
		cfg.Store, cfg.PostgresURL, cfg.PostgresSchema = memory.StorePgvector, "given", schema
		return newService(t, cfg, memory.Deps{Usage: rec, Store: st})
	}
	for name, suite := range suites {
		t.Run(name, func(t *testing.T) { targets(t, newSvc, suite) })
	}
}

func TestMemoryQdrant(t *testing.T) {
	newSvc := func(t *testing.T, rec *recorder) *memory.Service {
		srv := qdranttest.Start(t, "")
		st, err := qdrant.Open(t.Context(), qdrant.Config{Addr: srv.Addr})
		if err != nil {
			t.Fatal(err)
		}
		cfg := memory.Defaults()
		cfg.Store, cfg.QdrantAddr = memory.StoreQdrant, srv.Addr
		return newService(t, cfg, memory.Deps{Usage: rec, Store: st})
	}
	for name, suite := range suites {
		t.Run(name, func(t *testing.T) { targets(t, newSvc, suite) })
	}
}

// freshSchema names a schema that is dropped when the test ends.
func freshSchema(t *testing.T, url string) string {
	var b [6]byte
	rand.Read(b[:])
	schema := "qlp_memsvc_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), url); err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(context.Background())
		}
	})
	return schema
}
