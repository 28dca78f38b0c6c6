package sandbox

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestGoSeedOutlivesRequest: the Go build-cache seed is built under the
// runner's lifetime; a first Go run whose request is cancelled must not
// leave every later run without it, and Close stops the build.
func TestGoSeedOutlivesRequest(t *testing.T) {
	cfg := Defaults()
	cfg.Backend, cfg.AllowUnsafe = BackendUnsafeLocal, true
	r, err := NewLocal(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.langs["go"] == nil {
		_ = r.Close()
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("go was not found by the runner's language detection (QLP_TEST_REQUIRE_SERVICES=1)")
		}
		t.Skip("go is not installed here")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	spec := Spec{Language: "go", Files: []File{{Path: "main.go", Content: []byte("package main\n\nfunc main() {}\n")}}}
	if err := r.Prepare(ctx, spec); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	select {
	case <-r.goSeedDone:
		t.Fatalf("the seed build ended with the first request: %v", r.goSeedErr)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.goSeedDone:
	default:
		t.Fatal("Close returned while the seed build was still running")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Close took %s to stop the seed build", d)
	}
}
