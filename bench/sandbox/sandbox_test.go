// Package sandbox_test measures the overhead of the execution sandbox:
// the median wall time of 50 runs of `true` and `python3 -c pass` under
// each backend against the same programs run unsandboxed in the same run
// (interleaved: each round runs every variant once, in a rotating order),
// and sustained runs per second with 8 concurrent clients.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/sandbox/
package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

const samples = 50

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// variant is one way to run a program: unsandboxed or under a backend.
type variant struct {
	name string
	run  func() error
	ds   []time.Duration
}

func BenchmarkOverhead(b *testing.B) {
	programs := []struct {
		name string
		args []string
		lang string
	}{
		{"true", []string{"true"}, "bash"},
		{"python3 -c pass", []string{"python3", "-c", "pass"}, "python"},
	}
	backends := []string{sandbox.BackendBwrap, sandbox.BackendGVisor, sandbox.BackendUnsafeLocal}
	for range b.N {
		for _, p := range programs {
			path := p.args[0]
			if p.lang == "python" {
				path = "/usr/bin/python3" // the interpreter the sandbox uses
			}
			variants := []*variant{{name: "unsandboxed", run: func() error { return exec.Command(path, p.args[1:]...).Run() }}}
			for _, be := range backends {
				cfg := sandbox.Defaults()
				cfg.Backend, cfg.AllowUnsafe = be, true
				r, err := sandbox.NewLocal(context.Background(), cfg, logx.Discard())
				if err != nil {
					b.Logf("%-16s %-16s unavailable: %v", p.name, be, err)
					continue
				}
				defer r.Close()
				spec := sandbox.Spec{Language: p.lang, Commands: []sandbox.Command{{Args: p.args}}}
				variants = append(variants, &variant{name: be, run: func() error {
					res, err := r.Run(context.Background(), spec, nil)
					if err == nil && res.Status != sandbox.StatusCompleted {
						err = fmt.Errorf("%s: %s", res.Status, res.Reason)
					}
					return err
				}})
			}
			// Interleaved, each sample in another order: a change of the
			// machine's load during the run hits every variant alike.
			for i := range samples {
				for j := range variants {
					v := variants[(i+j)%len(variants)]
					start := time.Now()
					if err := v.run(); err != nil {
						b.Fatalf("%s %s: %v", v.name, p.name, err)
					}
					v.ds = append(v.ds, time.Since(start))
				}
			}
			base := median(variants[0].ds)
			b.Logf("%-16s unsandboxed      median %8.2f ms", p.name, ms(base))
			for _, v := range variants[1:] {
				med := median(v.ds)
				b.Logf("%-16s %-16s median %8.2f ms  overhead %8.2f ms  ratio %6.1fx", p.name, v.name, ms(med), ms(med-base), float64(med)/float64(base))
				b.ReportMetric(ms(med-base), "ms-overhead-"+v.name+"-"+p.lang)
			}
		}
	}
}

func BenchmarkThroughput(b *testing.B) {
	const clients, window = 8, 5 * time.Second
	for range b.N {
		cfg := sandbox.Defaults()
		cfg.MaxConcurrent, cfg.QueueSize, cfg.PerTenant = 4, 64, 8
		svc, err := sandbox.New(context.Background(), cfg, sandbox.Deps{Logger: logx.Discard(), Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		spec := sandbox.Spec{Language: "bash", Commands: []sandbox.Command{{Args: []string{"true"}}}}
		var done, failed atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(window)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					res, err := svc.Run(context.Background(), spec, nil)
					if err != nil || res.Status != sandbox.StatusCompleted {
						failed.Add(1)
						continue
					}
					done.Add(1)
				}
			}()
		}
		wg.Wait()
		_ = svc.Close()
		rate := float64(done.Load()) / window.Seconds()
		b.Logf("bwrap, %d clients, 4 workers, %s: %d runs (%d failed), %.1f runs/s", clients, window, done.Load(), failed.Load(), rate)
		b.ReportMetric(rate, "runs/s")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
