package sandbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
)

// TestFloodingTenantDoesNotStarveAnother: with the default settings, one
// tenant's long runs (8 × sleep 60, more than every slot) leave room for
// another tenant, whose short run starts and ends at once instead of
// after the flood.
func TestFloodingTenantDoesNotStarveAnother(t *testing.T) {
	t.Parallel()
	cfg := testConfig(sandbox.BackendBwrap)
	backendAvailable(t, cfg.Backend)
	reg := prometheus.NewRegistry()
	svc, err := sandbox.New(t.Context(), cfg, sandbox.Deps{Logger: logx.Discard(), Registerer: reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	as := func(tenant string) context.Context {
		return auth.WithPrincipal(t.Context(), auth.Principal{TenantID: tenant, KeyID: "k-" + tenant})
	}

	const flood = 8
	floodCtx, stopFlood := context.WithCancel(as("tenant-a"))
	var wg sync.WaitGroup
	t.Cleanup(func() { stopFlood(); wg.Wait() })
	sleep := sandbox.Spec{Language: "bash", Commands: []sandbox.Command{{Args: []string{"sleep", "60"}}},
		Limits: sandbox.Limits{WallTime: sandbox.Duration(90 * time.Second), CPUTime: sandbox.Duration(90 * time.Second)}}
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = svc.Run(floodCtx, sleep, nil)
		}()
	}
	// Every run of the flood holds a slot or waits for one.
	running := func() float64 { return gaugeValue(t, reg, "qlp_sandbox_running") }
	queued := func() float64 { return gaugeValue(t, reg, "qlp_sandbox_queue_depth") }
	for deadline := time.Now().Add(60 * time.Second); running()+queued() < flood || running() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the flood never filled the service: %v running, %v queued", running(), queued())
		}
	}

	start := time.Now()
	res, err := svc.Run(as("tenant-b"), sandbox.Spec{Language: "bash", Commands: []sandbox.Command{{Args: []string{"true"}}}}, nil)
	took := time.Since(start)
	if err != nil || res.Status != sandbox.StatusCompleted {
		t.Fatalf("tenant b's run: %+v, %v", res, err)
	}
	// A sandboxed `true` takes milliseconds; on a loaded machine a few
	// seconds. Waiting for the flood would take a minute.
	if took > 20*time.Second {
		t.Fatalf("tenant b's run took %v behind tenant a's flood: it waited for a's runs", took)
	}
	if r := running(); r < 1 {
		t.Fatalf("the flood's runs ended early (%v running): the test proves nothing", r)
	}
}

// gaugeValue reads a gauge of reg by name.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
