// Package redistest gives tests the Redis started by
// scripts/test-services.sh.
package redistest

import (
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/quantumlayer/qlp/internal/redisx"
)

// Client connects to QLP_TEST_REDIS_URL. Without it the test is skipped,
// unless QLP_TEST_REQUIRE_SERVICES=1, in which case it fails.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("QLP_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("QLP_TEST_REDIS_URL is not set but QLP_TEST_REQUIRE_SERVICES=1: start scripts/test-services.sh")
		}
		t.Skip("QLP_TEST_REDIS_URL is not set; run: eval \"$(scripts/test-services.sh start)\"")
	}
	rdb, err := redisx.Open(t.Context(), redisx.Config{URL: url})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
