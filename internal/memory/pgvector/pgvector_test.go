package pgvector_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/quantumlayer/qlp/internal/memory/memorytest"
	"github.com/quantumlayer/qlp/internal/memory/pgvector"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// postgresURL returns the test server's URL, skipping the test when there is
// none, unless QLP_TEST_REQUIRE_SERVICES=1 (make test, CI), where a missing
// server is a failure.
func postgresURL(t *testing.T) string {
	url := os.Getenv("QLP_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("QLP_TEST_POSTGRES_URL is not set but QLP_TEST_REQUIRE_SERVICES=1: start scripts/test-services.sh")
		}
		t.Skip("QLP_TEST_POSTGRES_URL not set (scripts/test-services.sh start)")
	}
	return url
}

// freshSchema returns a schema name that the test drops when it ends.
func freshSchema(t *testing.T, url string) string {
	var b [6]byte
	rand.Read(b[:])
	schema := "qlp_memtest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	})
	return schema
}

func TestConformance(t *testing.T) {
	url := postgresURL(t)
	schemas := map[vector.Store]string{}
	memorytest.Run(t, memorytest.Harness{
		New: func(t *testing.T) vector.Store {
			schema := freshSchema(t, url)
			s, err := pgvector.Open(t.Context(), pgvector.Config{URL: url, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			schemas[s] = schema
			return s
		},
		Reopen: func(t *testing.T, s vector.Store) vector.Store {
			s.Close()
			s2, err := pgvector.Open(t.Context(), pgvector.Config{URL: url, Schema: schemas[s]})
			if err != nil {
				t.Fatal(err)
			}
			return s2
		},
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	url := postgresURL(t)
	schema := freshSchema(t, url)
	for range 3 {
		s, err := pgvector.Open(t.Context(), pgvector.Config{URL: url, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureCollection(t.Context(), vector.CodePatterns, 4); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func TestBadURL(t *testing.T) {
	_, err := pgvector.Open(t.Context(), pgvector.Config{URL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"})
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
}
