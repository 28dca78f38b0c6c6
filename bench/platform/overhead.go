package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

// overhead runs runs jobs one after another (after a warm-up job) and
// prints the platform's overhead per job.
func (p *platform) overhead(runs int, latency time.Duration) error {
	var walls, models, validations, overheads []time.Duration
	for i := 0; i < runs+1; i++ { // the first job warms caches and is not counted
		ctx := context.Background()
		check := map[string]time.Duration{} // task (or "capsule") → validation duration
		wall, last, requestID, err := p.submit(ctx, i, func(e orchestrator.ProgressEvent) {
			if os.Getenv("QLP_BENCH_TRACE") != "" && (e.Type == "task_validated" || e.Type == "capsule_validated") {
				fmt.Fprintln(os.Stderr, e.TaskID, e.Message, string(e.Data))
			}
			if e.Type == "task_validated" || e.Type == "capsule_validated" {
				var d struct {
					DurationMS int64 `json:"duration_ms"`
				}
				_ = json.Unmarshal(e.Data, &d)
				key := e.TaskID
				if key == "" {
					key = "capsule"
				}
				check[key] += time.Duration(d.DurationMS) * time.Millisecond
			}
		})
		if err != nil {
			return err
		}
		if last.Type != "workflow_completed" {
			return fmt.Errorf("job %s ended %s: %s", requestID, last.Type, last.Message)
		}
		rows, err := p.st.ListUsage(ctx, store.UsageFilter{JobID: requestID})
		if err != nil {
			return err
		}
		var usage []store.Usage // the model calls; memory's embeddings are metered too
		for _, u := range rows {
			if !strings.HasPrefix(u.Role, "embedder:") {
				usage = append(usage, u)
			}
		}
		if len(usage) != 6 {
			return fmt.Errorf("job %s made %d model calls, want 6 (every first attempt should pass)", requestID, len(usage))
		}
		// The critical path: decomposition, the longer of the chains
		// t1→t3 and t2→t4 (each task's model call and validation; the
		// chains run in parallel), t5, then the capsule's validation.
		lat := map[string]time.Duration{}
		for _, u := range usage {
			key := u.TaskID
			if key == "" {
				key = "plan"
			}
			lat[key] = time.Duration(u.LatencyMS) * time.Millisecond
		}
		chain := []string{"t1", "t3"}
		if lat["t2"]+check["t2"]+lat["t4"]+check["t4"] > lat["t1"]+check["t1"]+lat["t3"]+check["t3"] {
			chain = []string{"t2", "t4"}
		}
		modelT, checkT := lat["plan"], check["capsule"]
		for _, t := range append(chain, "t5") {
			modelT += lat[t]
			checkT += check[t]
		}
		if i == 0 {
			continue
		}
		walls, models, validations = append(walls, wall), append(models, modelT), append(validations, checkT)
		overheads = append(overheads, wall-modelT-checkT)
	}
	if os.Getenv("QLP_BENCH_TRACE") != "" {
		jobs, _ := p.st.ListJobs(context.Background(), "bench", 1, 0)
		evs, _ := p.st.ListEvents(context.Background(), jobs[0].ID, 0, 0)
		t0 := jobs[0].CreatedAt
		fmt.Fprintf(os.Stderr, "%8s created\n", "0ms")
		for _, e := range evs {
			fmt.Fprintf(os.Stderr, "%8v %s %s\n", e.CreatedAt.Sub(t0).Round(time.Millisecond), e.Type, e.TaskID)
		}
		fmt.Fprintf(os.Stderr, "%8v completed_at\n", jobs[0].CompletedAt.Sub(t0).Round(time.Millisecond))
		tc, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", p.tport)})
		if err == nil {
			it := tc.GetWorkflowHistory(context.Background(), jobs[0].WorkflowID, "", false, 0)
			var h0 time.Time
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					break
				}
				ts := ev.GetEventTime().AsTime()
				if h0.IsZero() {
					h0 = ts
				}
				fmt.Fprintf(os.Stderr, "  %8v %s\n", ts.Sub(h0).Round(time.Millisecond), ev.GetEventType())
			}
			tc.Close()
		}
	}
	peak := rssKB(p.up.Process.Pid, "VmHWM")
	mw, mm, mv, mo := median(walls), median(models), median(validations), median(overheads)
	ratio := "∞ (model time rounds to 0 ms)"
	if mm > 0 {
		ratio = fmt.Sprintf("%.2f", float64(mo)/float64(mm))
	}
	fmt.Printf("| model latency per call | jobs | median wall | median model time | median validation time | median overhead | overhead / model time | qlp up RSS idle | qlp up RSS peak |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %v | %d | %v | %v | %v | %v | %s | %.0f MiB | %.0f MiB |\n", latency, runs, mw.Round(time.Millisecond), mm.Round(time.Millisecond),
		mv.Round(time.Millisecond), mo.Round(time.Millisecond), ratio, float64(p.idleRSS)/1024, float64(peak)/1024)
	return nil
}
