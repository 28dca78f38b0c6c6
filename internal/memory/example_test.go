package memory_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/memory"
)

// usageRows stands for the platform's usage table.
type usageRows struct{}

func (usageRows) RecordEmbedding(_ context.Context, u memory.EmbeddingUsage) error {
	fmt.Printf("metered: tenant=%s request=%s provider=%s tokens=%d cached=%v\n", u.TenantID, u.RequestID, u.Provider, u.InputTokens, u.Cached)
	return nil
}

// Example shows how a host wires the service and how a job uses it.
func Example() {
	dir, _ := os.MkdirTemp("", "memory-example")
	defer os.RemoveAll(dir)

	cfg := memory.Defaults() // embedded store, builtin embedder
	cfg.DataDir = dir        // the app puts it under QLP_DATA_DIR
	svc, err := memory.New(context.Background(), cfg, memory.Deps{
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(),
		Usage:      usageRows{},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()

	// Activities act for the job's tenant.
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{TenantID: "acme"})
	_ = svc.RecordTaskOutcome(ctx, memory.TaskOutcome{RequestID: "job-1", TaskID: "t1", TaskType: "codegen",
		Complexity: "simple", Tier: "T0", Success: true})
	st, _ := svc.TierStats(ctx, memory.TierQuery{TaskType: "codegen", Complexity: "simple"})
	fmt.Printf("samples=%d recommended=%q (needs %d)\n", st.Samples, st.Recommended, st.MinSamples)
	// Output:
	// metered: tenant=acme request=job-1 provider=builtin tokens=0 cached=false
	// samples=1 recommended="" (needs 5)
}
