// Command platform measures QLP's own overhead on the main job: it runs
// `qlp up` on the embedded defaults, submits a 5-task request N times
// through the API against a scripted OpenAI-compatible model with a fixed
// latency, and reports per job the wall time, the model time and the
// validation time on the critical path (as the platform measured them: each
// call's latency, each validation's duration), the overhead (wall minus
// both) as a median and as a ratio to the model time, and the RSS of the
// `qlp up` process when idle and at its peak. Every task's answer is a
// small, correct Python module with its test, different in every job, so
// that each job is validated for real (compile, lint, types, security, its
// tests in the sandbox) and not answered from the validation cache.
//
//	go run ./bench/platform -runs 10 -latency 0
//	go run ./bench/platform -runs 10 -latency 200ms
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

func main() {
	runs := flag.Int("runs", 10, "jobs to run")
	latency := flag.Duration("latency", 0, "scripted model latency per call")
	qlpBin := flag.String("qlp", "", "qlp binary (default: build one)")
	flag.Parse()
	if err := run(*runs, *latency, *qlpBin); err != nil {
		log.Fatal(err)
	}
}

const plan = `{"project":{"name":"bench","language":"python","commands":{"test":"python3 -m pytest -q","run":"python3 -m pytest -q"}},"tasks":[
{"id":"t1","type":"code_generation","description":"a","complexity":"simple","dependencies":[]},
{"id":"t2","type":"code_generation","description":"b","complexity":"simple","dependencies":[]},
{"id":"t3","type":"code_generation","description":"c","complexity":"medium","dependencies":["t1"]},
{"id":"t4","type":"code_generation","description":"d","complexity":"medium","dependencies":["t2"]},
{"id":"t5","type":"code_generation","description":"e","complexity":"simple","dependencies":["t3","t4"]}]}`

// answer is a task's module and its test: correct, formatted, typed, and
// different in every job.
func answer(task string, job int64) string {
	code := fmt.Sprintf(`"""Task %[1]s of bench job %[2]d."""


def value_%[1]s() -> int:
    """Return the job's number."""
    return %[2]d
`, task, job)
	test := fmt.Sprintf(`from %[1]s import value_%[1]s


def test_value_%[1]s() -> None:
    assert value_%[1]s() == %[2]d
`, task, job)
	return llmtest.JSON(map[string]any{"summary": "task " + task, "files": []map[string]string{
		{"path": task + ".py", "content": code}, {"path": "test_" + task + ".py", "content": test}}})
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rssKB reads VmRSS or VmHWM (peak) of pid, in KiB.
func rssKB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return -1
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func run(runs int, latency time.Duration, qlpBin string) error {
	tmp, err := os.MkdirTemp("", "qlp-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if qlpBin == "" {
		qlpBin = filepath.Join(tmp, "qlp")
		build := exec.Command("go", "build", "-o", qlpBin, "./cmd/qlp")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build qlp (run from the repository root): %w", err)
		}
	}
	var job atomic.Int64 // jobs run one after another; each plan starts the next
	model := llmtest.New(func(c llmtest.Call) llmtest.Reply {
		if c.Role == "decomposer" {
			job.Add(1)
			return llmtest.Reply{Content: plan, Delay: latency}
		}
		return llmtest.Reply{Delay: latency, Content: answer(c.TaskID, job.Load())}
	})
	defer model.Close()

	dataDir := filepath.Join(tmp, "data")
	api := fmt.Sprintf("127.0.0.1:%d", freePort())
	tport := freePort()
	env := append(os.Environ(), "QLP_DATA_DIR="+dataDir, "QLP_API_ADDR="+api, fmt.Sprintf("QLP_TEMPORAL_PORT=%d", tport),
		fmt.Sprintf("QLP_SANDBOX_ADDR=127.0.0.1:%d", freePort()), fmt.Sprintf("QLP_MEMORY_ADDR=127.0.0.1:%d", freePort()),
		fmt.Sprintf("QLP_VALIDATION_ADDR=127.0.0.1:%d", freePort()), fmt.Sprintf("QLP_AGENTS_ADDR=127.0.0.1:%d", freePort()),
		fmt.Sprintf("QLP_WORKER_ADDR=127.0.0.1:%d", freePort()),
		"QLP_LLM_PROVIDER=openai", "QLP_LLM_BASE_URL="+model.URL, "QLP_LLM_MODEL_T0=gpt-4o-mini", "QLP_LLM_MODEL_T1=gpt-4.1-mini",
		"QLP_LLM_MODEL_T2=gpt-4.1", "QLP_LLM_MODEL_T3=gpt-4o", "QLP_LOG_LEVEL=warn", "QLP_STORE_DRIVER=sqlite", "QLP_DATABASE_URL=")
	keyCmd := exec.Command(qlpBin, "apikey", "create", "--tenant", "bench", "--json")
	keyCmd.Env = env
	out, err := keyCmd.Output()
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	var key struct{ Key string }
	if err := json.Unmarshal(out, &key); err != nil {
		return err
	}
	up := exec.Command(qlpBin, "up")
	up.Env = env
	up.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, _ := os.Create(filepath.Join(tmp, "qlp.log"))
	up.Stdout, up.Stderr = logf, logf
	if err := up.Start(); err != nil {
		return err
	}
	defer func() { _ = up.Process.Signal(syscall.SIGTERM); _ = up.Wait() }()
	base := "http://" + api
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 600 {
			return fmt.Errorf("qlp up never became ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // settle
	idle := rssKB(up.Process.Pid, "VmRSS")

	st, err := store.OpenSQLite(context.Background(), store.SQLitePath(dataDir))
	if err != nil {
		return err
	}
	defer st.Close()
	c := orchestrator.NewClient(base, auth.Secret(key.Key), nil)
	var walls, models, validations, overheads []time.Duration
	for i := 0; i < runs+1; i++ { // the first job warms caches and is not counted
		ctx := context.Background()
		start := time.Now()
		sub, err := c.Execute(ctx, orchestrator.ExecuteRequest{Description: fmt.Sprintf("bench job %d", i), Constraints: map[string]any{"language": "python"}}, "")
		if err != nil {
			return err
		}
		var last orchestrator.ProgressEvent
		check := map[string]time.Duration{} // task (or "capsule") → validation duration
		if err := c.Follow(ctx, sub.WorkflowID, 0, func(e orchestrator.ProgressEvent) error {
			last = e
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
			return nil
		}); err != nil {
			return err
		}
		wall := time.Since(start)
		if last.Type != "workflow_completed" {
			return fmt.Errorf("job %s ended %s: %s", sub.RequestID, last.Type, last.Message)
		}
		rows, err := st.ListUsage(ctx, store.UsageFilter{JobID: sub.RequestID})
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
			return fmt.Errorf("job %s made %d model calls, want 6 (every first attempt should pass)", sub.RequestID, len(usage))
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
		jobs, _ := st.ListJobs(context.Background(), "bench", 1, 0)
		evs, _ := st.ListEvents(context.Background(), jobs[0].ID, 0, 0)
		t0 := jobs[0].CreatedAt
		fmt.Fprintf(os.Stderr, "%8s created\n", "0ms")
		for _, e := range evs {
			fmt.Fprintf(os.Stderr, "%8v %s %s\n", e.CreatedAt.Sub(t0).Round(time.Millisecond), e.Type, e.TaskID)
		}
		fmt.Fprintf(os.Stderr, "%8v completed_at\n", jobs[0].CompletedAt.Sub(t0).Round(time.Millisecond))
		tc, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", tport)})
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
	peak := rssKB(up.Process.Pid, "VmHWM")
	mw, mm, mv, mo := median(walls), median(models), median(validations), median(overheads)
	ratio := "∞ (model time rounds to 0 ms)"
	if mm > 0 {
		ratio = fmt.Sprintf("%.2f", float64(mo)/float64(mm))
	}
	fmt.Printf("| model latency per call | jobs | median wall | median model time | median validation time | median overhead | overhead / model time | qlp up RSS idle | qlp up RSS peak |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %v | %d | %v | %v | %v | %v | %s | %.0f MiB | %.0f MiB |\n", latency, runs, mw.Round(time.Millisecond), mm.Round(time.Millisecond),
		mv.Round(time.Millisecond), mo.Round(time.Millisecond), ratio, float64(idle)/1024, float64(peak)/1024)
	return nil
}
