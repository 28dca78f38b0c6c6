// Command platform measures the main job end to end: it runs `qlp up` on
// the embedded defaults and submits 5-task requests through the API
// against a scripted OpenAI-compatible model with a fixed latency. Every
// task's answer is a small, correct module with its test (Python or Go),
// different in every job, so that each job is validated for real
// (compile, lint, types, security, its tests in the sandbox) and not
// answered from the validation cache.
//
// Without -concurrency it runs the jobs one after another and reports per
// job the wall time, the model time and the validation time on the
// critical path (as the platform measured them: each call's latency, each
// validation's duration), the overhead (wall minus both) as a median and
// as a ratio to the model time, and the RSS of the `qlp up` process when
// idle and at its peak:
//
//	go run ./bench/platform -runs 10 -latency 0
//	go run ./bench/platform -runs 10 -latency 200ms
//
// With -concurrency it measures job throughput with that many jobs in
// flight at once (a closed loop: a job is submitted as soon as one ends),
// -jobs jobs per level, against the throughput at the first level measured
// in the same run (see concurrency.go):
//
//	go run ./bench/platform -concurrency 1,2,4,8 -jobs 8 -lang go
//
// With -one-task N it runs N one-task jobs (a Go package and its test, Go
// by default) one after another, starting with the first job after `qlp
// up` is ready, and reports each job's time, the first against the second
// and the median of the later ones (see firstjobs.go):
//
//	go run ./bench/platform -one-task 6
//	go run ./bench/platform -one-task 6 -env QLP_SANDBOX_GO_CACHE_SEED_DIR=none   # as on a machine's first start
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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

func main() {
	runs := flag.Int("runs", 10, "jobs to run one after another (without -concurrency)")
	latency := flag.Duration("latency", 0, "scripted model latency per call")
	qlpBin := flag.String("qlp", "", "qlp binary (default: build one)")
	lang := flag.String("lang", "", "language of the generated project: python or go (default: python; go with -concurrency)")
	levels := flag.String("concurrency", "", "comma-separated numbers of jobs in flight, e.g. 1,2,4,8: measure throughput instead of overhead")
	jobs := flag.Int("jobs", 8, "jobs per concurrency level")
	oneTask := flag.Int("one-task", 0, "measure N one-task jobs one after another from qlp's start, the first one included")
	var env envFlag
	flag.Var(&env, "env", "NAME=VALUE for `qlp up` (repeatable), e.g. -env QLP_SANDBOX_MAX_CONCURRENT=4")
	flag.Parse()
	if *lang == "" {
		*lang = "python"
		if *levels != "" || *oneTask > 0 {
			*lang = "go"
		}
	}
	if *lang != "python" && *lang != "go" {
		log.Fatalf("-lang: %q is neither python nor go", *lang)
	}
	plan := plans[*lang]
	if *oneTask > 0 {
		plan = onePlans[*lang]
	}
	p, err := start(*qlpBin, *latency, *lang, plan, env)
	if err != nil {
		log.Fatal(err)
	}
	if *levels != "" {
		var ns []int
		for _, f := range strings.Split(*levels, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				p.stop()
				log.Fatalf("-concurrency: %q is not a positive number", f)
			}
			ns = append(ns, n)
		}
		err = p.concurrency(ns, *jobs)
	} else if *oneTask > 0 {
		err = p.firstJobs(*oneTask)
	} else {
		err = p.overhead(*runs, *latency)
	}
	p.stop()
	if err != nil {
		log.Fatal(err)
	}
}

// envFlag collects repeated -env NAME=VALUE flags.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, " ") }
func (e *envFlag) Set(s string) error {
	if !strings.Contains(s, "=") {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	*e = append(*e, s)
	return nil
}

// plans are the 5-task plans per language: t1, t2 independent; t3 after
// t1, t4 after t2; t5 after both.
var plans = map[string]string{
	"python": `{"project":{"name":"bench","language":"python","commands":{"test":"python3 -m pytest -q","run":"python3 -m pytest -q"}},"tasks":[` + planTasks,
	"go":     `{"project":{"name":"bench","language":"go","commands":{"build":"go build ./...","test":"go test ./...","run":"go test ./..."}},"tasks":[` + planTasks,
}

// onePlans are one-task plans: a package and its test, the smallest job.
var onePlans = map[string]string{
	"python": `{"project":{"name":"bench","language":"python","commands":{"test":"python3 -m pytest -q","run":"python3 -m pytest -q"}},"tasks":[` + oneTask,
	"go":     `{"project":{"name":"bench","language":"go","commands":{"build":"go build ./...","test":"go test ./...","run":"go test ./..."}},"tasks":[` + oneTask,
}

const oneTask = `{"id":"t1","type":"code_generation","description":"a","complexity":"simple","dependencies":[]}]}`

const planTasks = `
{"id":"t1","type":"code_generation","description":"a","complexity":"simple","dependencies":[]},
{"id":"t2","type":"code_generation","description":"b","complexity":"simple","dependencies":[]},
{"id":"t3","type":"code_generation","description":"c","complexity":"medium","dependencies":["t1"]},
{"id":"t4","type":"code_generation","description":"d","complexity":"medium","dependencies":["t2"]},
{"id":"t5","type":"code_generation","description":"e","complexity":"simple","dependencies":["t3","t4"]}]}`

// jobRe finds the job's number in a prompt: the request's description
// ("bench job N") is in every prompt of the job.
var jobRe = regexp.MustCompile(`bench job (\d+)`)

// answer is a task's module and its test: correct, formatted, typed, and
// different in every job.
func answer(lang, task string, job int64) string {
	var files []map[string]string
	switch lang {
	case "go":
		code := fmt.Sprintf("// Package %[1]s is task %[1]s of bench job %[2]d.\npackage %[1]s\n\n// Value returns the job's number.\nfunc Value() int { return %[2]d }\n", task, job)
		test := fmt.Sprintf("package %[1]s\n\nimport \"testing\"\n\nfunc TestValue(t *testing.T) {\n\tif got := Value(); got != %[2]d {\n\t\tt.Fatalf(\"Value() = %%d, want %[2]d\", got)\n\t}\n}\n", task, job)
		files = []map[string]string{{"path": task + "/" + task + ".go", "content": code}, {"path": task + "/" + task + "_test.go", "content": test}}
		if task == "t1" {
			files = append(files, map[string]string{"path": "go.mod", "content": "module example.com/bench\n\ngo 1.22\n"})
		}
	default:
		code := fmt.Sprintf(`"""Task %[1]s of bench job %[2]d."""


def value_%[1]s() -> int:
    """Return the job's number."""
    return %[2]d
`, task, job)
		test := fmt.Sprintf(`from %[1]s import value_%[1]s


def test_value_%[1]s() -> None:
    assert value_%[1]s() == %[2]d
`, task, job)
		files = []map[string]string{{"path": task + ".py", "content": code}, {"path": "test_" + task + ".py", "content": test}}
	}
	return llmtest.JSON(map[string]any{"summary": "task " + task, "files": files})
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

// platform is a running `qlp up` with its scripted model.
type platform struct {
	tmp     string
	lang    string
	model   *llmtest.Server
	up      *exec.Cmd
	base    string
	sandbox string // the sandbox service's base URL (its /metrics)
	tport   int
	st      *store.SQL
	client  *orchestrator.Client
	idleRSS int
}

// start builds qlp (unless given), starts the scripted model and `qlp up`
// on a fresh data directory, and waits until it is ready.
func start(qlpBin string, latency time.Duration, lang, plan string, extraEnv []string) (_ *platform, err error) {
	p := &platform{lang: lang}
	if p.tmp, err = os.MkdirTemp("", "qlp-bench-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	if qlpBin == "" {
		qlpBin = filepath.Join(p.tmp, "qlp")
		build := exec.Command("go", "build", "-o", qlpBin, "./cmd/qlp")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build qlp (run from the repository root): %w", err)
		}
	}
	p.model = llmtest.New(func(c llmtest.Call) llmtest.Reply {
		m := jobRe.FindStringSubmatch(c.Prompt())
		if m == nil {
			// Without its number every job would get the same answer and
			// be validated from the cache: the benchmark would be a lie.
			return llmtest.Reply{Status: http.StatusInternalServerError, Body: `{"error":{"message":"bench: no job number in the prompt"}}`}
		}
		if c.Role == "decomposer" {
			return llmtest.Reply{Content: plan, Delay: latency}
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return llmtest.Reply{Delay: latency, Content: answer(lang, c.TaskID, n)}
	})

	dataDir := filepath.Join(p.tmp, "data")
	api := fmt.Sprintf("127.0.0.1:%d", freePort())
	p.tport = freePort()
	sandboxAddr := fmt.Sprintf("127.0.0.1:%d", freePort())
	p.sandbox = "http://" + sandboxAddr
	env := append(os.Environ(), "QLP_DATA_DIR="+dataDir, "QLP_API_ADDR="+api, fmt.Sprintf("QLP_TEMPORAL_PORT=%d", p.tport),
		"QLP_SANDBOX_ADDR="+sandboxAddr, fmt.Sprintf("QLP_MEMORY_ADDR=127.0.0.1:%d", freePort()),
		fmt.Sprintf("QLP_VALIDATION_ADDR=127.0.0.1:%d", freePort()), fmt.Sprintf("QLP_AGENTS_ADDR=127.0.0.1:%d", freePort()),
		fmt.Sprintf("QLP_WORKER_ADDR=127.0.0.1:%d", freePort()), fmt.Sprintf("QLP_MARKETING_ADDR=127.0.0.1:%d", freePort()),
		"QLP_LLM_PROVIDER=openai", "QLP_LLM_BASE_URL="+p.model.URL, "QLP_LLM_MODEL_T0=gpt-4o-mini", "QLP_LLM_MODEL_T1=gpt-4.1-mini",
		"QLP_LLM_MODEL_T2=gpt-4.1", "QLP_LLM_MODEL_T3=gpt-4o", "QLP_LOG_LEVEL=warn", "QLP_STORE_DRIVER=sqlite", "QLP_DATABASE_URL=")
	env = append(env, extraEnv...)
	keyCmd := exec.Command(qlpBin, "apikey", "create", "--tenant", "bench", "--json")
	keyCmd.Env = env
	out, err := keyCmd.Output()
	if err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	var key struct{ Key string }
	if err := json.Unmarshal(out, &key); err != nil {
		return nil, err
	}
	p.up = exec.Command(qlpBin, "up")
	p.up.Env = env
	p.up.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(p.tmp, "qlp.log"))
	if err != nil {
		return nil, err
	}
	p.up.Stdout, p.up.Stderr = logf, logf
	if err := p.up.Start(); err != nil {
		return nil, err
	}
	p.base = "http://" + api
	for i := 0; ; i++ {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 600 {
			return nil, fmt.Errorf("qlp up never became ready (log: %s)", logf.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // settle
	p.idleRSS = rssKB(p.up.Process.Pid, "VmRSS")
	if p.st, err = store.OpenSQLite(context.Background(), store.SQLitePath(dataDir)); err != nil {
		return nil, err
	}
	p.client = orchestrator.NewClient(p.base, auth.Secret(key.Key), nil)
	return p, nil
}

// stop ends `qlp up` and the model and removes the data.
func (p *platform) stop() {
	if p.st != nil {
		_ = p.st.Close()
	}
	if p.up != nil && p.up.Process != nil {
		_ = p.up.Process.Signal(syscall.SIGTERM)
		_ = p.up.Wait()
	}
	if p.model != nil {
		p.model.Close()
	}
	_ = os.RemoveAll(p.tmp)
}

// submit runs job n through the API to its end and returns its wall time,
// its last event and its request id.
func (p *platform) submit(ctx context.Context, n int, onEvent func(orchestrator.ProgressEvent)) (time.Duration, orchestrator.ProgressEvent, string, error) {
	start := time.Now()
	sub, err := p.client.Execute(ctx, orchestrator.ExecuteRequest{Description: fmt.Sprintf("bench job %d", n),
		Constraints: map[string]any{"language": p.lang}}, "")
	if err != nil {
		return 0, orchestrator.ProgressEvent{}, "", err
	}
	var last orchestrator.ProgressEvent
	if err := p.client.Follow(ctx, sub.WorkflowID, 0, func(e orchestrator.ProgressEvent) error {
		last = e
		if onEvent != nil {
			onEvent(e)
		}
		return nil
	}); err != nil {
		return 0, last, sub.RequestID, err
	}
	return time.Since(start), last, sub.RequestID, nil
}
