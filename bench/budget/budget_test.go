// Package budgetbench_test measures what the budget guard costs model calls
// made concurrently by several tenants' jobs: the same calls run twice in
// the same run, through the metered provider alone (the baseline) and
// through the budget guard in front of it, and the benchmark reports both
// throughputs and their ratio.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/budget/
//
// Every call is a real OpenAI-format exchange with a local server (package
// llmtest) answering after -budget.latency, metered into the store (a usage
// row per call, priced from the catalogue). Each tenant has a request, a
// daily and a monthly budget far above what the run spends, so the guard
// admits every call after reading all three from the ledger, as it does in
// production. The store is PostgreSQL when QLP_TEST_POSTGRES_URL is set
// (scripts/test-services.sh), else SQLite; -budget.store picks one.
//
// Flags: -budget.tenants, -budget.callers (concurrent jobs per tenant),
// -budget.calls (calls per job), -budget.latency, -budget.store.
package budgetbench_test

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

var (
	tenants   = flag.Int("budget.tenants", 8, "tenants calling at once")
	callers   = flag.Int("budget.callers", 4, "concurrent jobs per tenant")
	calls     = flag.Int("budget.calls", 25, "model calls per job")
	latency   = flag.Duration("budget.latency", 20*time.Millisecond, "the model server's answer time")
	storeKind = flag.String("budget.store", "", "postgres or sqlite (default: postgres when QLP_TEST_POSTGRES_URL is set)")
)

const model = "gpt-4.1-mini"

// run makes every job's calls through p at once and returns the calls per
// second and the mean latency of a call.
func run(b *testing.B, p llm.Provider, round int) (perSecond float64, mean time.Duration) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, *tenants**callers)
	var mu sync.Mutex
	var total time.Duration
	start := time.Now()
	for ti := 0; ti < *tenants; ti++ {
		for ci := 0; ci < *callers; ci++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				meta := llm.Meta{TenantID: fmt.Sprintf("tenant-%d", ti), JobID: fmt.Sprintf("job-%d-%d-%d", round, ti, ci), TaskID: "t1", Attempt: 1, Tier: "T1", Role: "coder"}
				var own time.Duration
				for k := 0; k < *calls; k++ {
					t0 := time.Now()
					_, err := p.Chat(b.Context(), llm.Request{Model: model, MaxTokens: 100, Temperature: 0.2, Meta: meta,
						Messages: []llm.Message{{Role: llm.RoleUser, Content: fmt.Sprintf("call %d of %s", k, meta.JobID)}}})
					own += time.Since(t0)
					if err != nil {
						errs <- err
						return
					}
				}
				mu.Lock()
				total += own
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	n := *tenants * *callers * *calls
	return float64(n) / wall.Seconds(), total / time.Duration(n)
}

func openStore(b *testing.B) store.Store {
	b.Helper()
	kind := *storeKind
	if kind == "" {
		kind = "sqlite"
		if os.Getenv("QLP_TEST_POSTGRES_URL") != "" {
			kind = "postgres"
		}
	}
	var st store.Store
	var err error
	switch kind {
	case "postgres":
		st, err = store.OpenPostgres(b.Context(), storetest.PostgresURL(b))
	case "sqlite":
		st, err = store.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "qlp.db"))
	default:
		b.Fatalf("-budget.store %q is not postgres or sqlite", kind)
	}
	require.NoError(b, err)
	b.Cleanup(func() { st.Close() })
	b.Logf("store: %s", st.Driver())
	return st
}

func BenchmarkGuardAcrossTenants(b *testing.B) {
	st := openStore(b)
	srv := llmtest.New(func(llmtest.Call) llmtest.Reply {
		return llmtest.Reply{Content: "ok", Delay: *latency, Usage: &llm.Usage{InputTokens: 100, OutputTokens: 100}}
	})
	b.Cleanup(srv.Close)
	prices, err := pricing.Builtin()
	require.NoError(b, err)
	plan, err := costs.ParsePlan([]byte(""), "1.25", prices)
	require.NoError(b, err)
	cfg := budget.Defaults()
	cfg.RequestUSD, cfg.TenantDailyUSD, cfg.TenantMonthlyUSD = "100", "1000", "10000"
	svc, err := budget.New(cfg, budget.Deps{Store: st, Prices: prices, Plan: plan, Logger: logx.Discard()})
	require.NoError(b, err)
	b.Cleanup(func() { svc.Close() })
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: time.Minute}
	metered, err := llm.NewMetered(openai.New(openai.Config{BaseURL: srv.URL, HTTPClient: hc}), prices, st, logx.Discard(), model)
	require.NoError(b, err)
	guarded, err := svc.Guard([]budget.Rung{{Tier: "T1", Provider: metered, Model: model}}, 4096)
	require.NoError(b, err)

	run(b, metered, -1) // warm up connections and the ledger's first rows
	var base, guard, baseLat, guardLat float64
	for i := 0; b.Loop(); i++ {
		// Alternate the order so that neither mode always meets the larger
		// ledger.
		if i%2 == 0 {
			u, ul := run(b, metered, 2*i)
			g, gl := run(b, guarded[0], 2*i+1)
			base, guard, baseLat, guardLat = base+u, guard+g, baseLat+ul.Seconds(), guardLat+gl.Seconds()
		} else {
			g, gl := run(b, guarded[0], 2*i)
			u, ul := run(b, metered, 2*i+1)
			base, guard, baseLat, guardLat = base+u, guard+g, baseLat+ul.Seconds(), guardLat+gl.Seconds()
		}
	}
	n := float64(b.N)
	b.ReportMetric(base/n, "unguarded_calls/s")
	b.ReportMetric(guard/n, "guarded_calls/s")
	b.ReportMetric(guard/base, "guarded/unguarded")
	b.ReportMetric((guardLat-baseLat)/n*1000, "guard_ms/call")
	b.Logf("%d tenants × %d jobs × %d calls, model latency %s: unguarded %.0f calls/s (%.1f ms/call), guarded %.0f calls/s (%.1f ms/call): ratio %.3f",
		*tenants, *callers, *calls, *latency, base/n, baseLat/n*1000, guard/n, guardLat/n*1000, guard/base)
}
