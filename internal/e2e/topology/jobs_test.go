package topology

import (
	"context"
	"testing"
)

// waitFor waits for ch or the end of ctx.
func waitFor(ctx context.Context, t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s did not happen before the test's deadline", what)
	}
}
