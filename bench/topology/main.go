// Command topology loads QLP in its production shape — every service in its
// own process, two orchestrator replicas and two workers, PostgreSQL,
// Redis, a Temporal server of its own and nginx in front (the harness of
// internal/e2e/topology) — and reports, each against a baseline measured
// in the same run:
//
//   - clients: -clients clients for -duration each polling a job's status
//     and downloading its capsule through nginx, against the same clients
//     fetching static files of the same sizes from the same nginx: p50/p99
//     latency, requests/s, errors;
//
//   - jobs: -jobs jobs submitted at once through nginx with the scripted
//     model, across the two workers: all complete, none lost or run twice,
//     throughput and p99 job time, against the same jobs on one `qlp up`
//     process started in the same run;
//
//   - the resident memory (RSS) of each process idle, and its peak under
//     the client load and the job load.
//
// Run it alone on the machine (figures taken under other load are noise):
//
//	go run ./bench/topology -clients 200 -duration 60s -jobs 50
//
// It needs what `make test` installs (PostgreSQL, Redis, nginx, bwrap and
// the Python tools). The per-client rate limit of deploy/nginx/qlp.conf
// (10 r/s) is raised for the run: it measures the path through the proxy
// and the services, not the limiter.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/e2e/topology"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

func main() {
	clients := flag.Int("clients", 200, "concurrent clients of the status and download load")
	duration := flag.Duration("duration", 60*time.Second, "how long each client load (services, then static) runs")
	jobs := flag.Int("jobs", 50, "jobs submitted at once, on the topology and then on qlp up (0: the client load only)")
	flag.Parse()
	if err := run(*clients, *duration, *jobs); err != nil {
		log.Fatal(err)
	}
}

// staticLocation is where nginx serves the baseline's files.
const staticLocation = "/bench-static/"

func run(clients int, duration time.Duration, jobs int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "qlp-bench-topology-")
	if err != nil {
		return err
	}
	// PostgreSQL (run as postgres) and nginx's workers read below it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	static := filepath.Join(dir, "static")
	if err := os.MkdirAll(static, 0o755); err != nil {
		return err
	}
	start := time.Now()
	// A load test measures capacity: the API's own limits are off like
	// nginx's.
	tp, err := topology.Start(ctx, filepath.Join(dir, "topology"), topology.Options{Env: noAPILimits, EditNginx: func(conf string) string {
		conf = strings.Replace(conf, "rate=10r/s", "rate=100000r/s", 1)
		conf = strings.ReplaceAll(conf, "burst=20 nodelay", "burst=100000 nodelay")
		// The baseline: static files from the same nginx, no upstream.
		i := strings.LastIndex(conf, "}")
		return conf[:i] + "    location " + staticLocation + " {\n        alias " + static + "/;\n    }\n" + conf[i:]
	}})
	if err != nil {
		return err
	}
	defer tp.Close()
	defer os.RemoveAll(dir)
	fmt.Printf("topology: %d processes up in %s\n\n", len(tp.Order), time.Since(start).Round(time.Second))
	idle := rssAll(tp)

	// One job, for the status and the capsule the clients fetch.
	j := tp.NewJob(false)
	c := tp.Client("acme")
	sub, err := c.Execute(ctx, orchestrator.ExecuteRequest{Description: j.Request()}, "")
	if err != nil {
		return err
	}
	if err := c.Follow(ctx, sub.WorkflowID, 0, func(orchestrator.ProgressEvent) error { return nil }); err != nil {
		return err
	}
	st, err := c.Status(ctx, sub.WorkflowID)
	if err != nil {
		return err
	}
	if st.Result == nil || st.Status != "completed" {
		return fmt.Errorf("the first job ended %s", st.Status)
	}
	statusPath := "/api/v2/jobs/" + sub.WorkflowID
	downloadPath := "/api/capsules/" + st.Result.CapsuleID + "/download?format=zip"
	key := tp.Keys["acme"]
	statusBody, err := fetch(ctx, http.DefaultClient, tp.Nginx+statusPath, key)
	if err != nil {
		return err
	}
	archive, err := fetch(ctx, http.DefaultClient, tp.Nginx+downloadPath, key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(static, "status.json"), statusBody, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(static, "capsule.zip"), archive, 0o644); err != nil {
		return err
	}

	fmt.Printf("## %d clients for %s, half polling status (%d bytes), half downloading the capsule (%d bytes)\n\n", clients, duration, len(statusBody), len(archive))
	peak := newPeaks(tp)
	cpu0 := cpuAll(tp)
	services := load(ctx, clients, duration, tp.Nginx, key, statusPath, downloadPath)
	cpuServices := cpuSince(cpu0, cpuAll(tp))
	clientPeak := peak.stop()
	cpu0 = cpuAll(tp)
	baseline := load(ctx, clients, duration, tp.Nginx, "", staticLocation+"status.json", staticLocation+"capsule.zip")
	cpuBaseline := cpuSince(cpu0, cpuAll(tp))
	fmt.Println("| Through nginx to | requests | errors | requests/s | p50 | p99 |")
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Println(services.row("the services (status + download)"))
	fmt.Println(baseline.row("static files of the same sizes (baseline)"))
	fmt.Printf("\np99 ratio services/static: **%.2f** (target ≤ 3), p50 ratio %.2f\n\n",
		ratio(services.pct(0.99), baseline.pct(0.99)), ratio(services.pct(0.50), baseline.pct(0.50)))
	fmt.Printf("By path — services: %s. Static: %s.\n\n", services.split("status", "download"), baseline.split("status", "download"))
	fmt.Println("CPU seconds per process during each load (where the two cores went):")
	fmt.Println()
	fmt.Println("| Process | services load | static load |")
	fmt.Println("|---|---|---|")
	for _, n := range cpuNames(cpuServices, cpuBaseline) {
		fmt.Printf("| %s | %.1f | %.1f |\n", n, cpuServices[n], cpuBaseline[n])
	}
	fmt.Println()

	if jobs == 0 {
		return nil
	}
	fmt.Printf("## %d jobs at once (scripted model, one Python task each)\n\n", jobs)
	peak = newPeaks(tp)
	split, err := runJobs(ctx, jobs, tp, func(tenant string) *orchestrator.Client { return tp.Client(tenant) })
	jobPeak := peak.stop()
	if err != nil {
		return fmt.Errorf("topology: %w\n%s", err, tp.Logs())
	}
	// The client load again, each client on one of the jobs just run (both
	// tenants, their own keys): many jobs and capsules, not one.
	if len(split.done) > 0 {
		var targets []target
		for _, d := range split.done {
			st, err := tp.Client(d[0]).Status(ctx, d[1])
			if err != nil {
				return err
			}
			if st.Result == nil || st.Result.CapsuleID == "" {
				return fmt.Errorf("job %s: no capsule", d[1])
			}
			targets = append(targets, target{key: tp.Keys[d[0]], a: "/api/v2/jobs/" + d[1], b: "/api/capsules/" + st.Result.CapsuleID + "/download?format=zip"})
		}
		spread := loadTargets(ctx, clients, duration, tp.Nginx, targets)
		fmt.Printf("## %d clients for %s over the %d jobs of the split job load below (status and capsule of one job each)\n\n", clients, duration, len(targets))
		fmt.Println("| Through nginx to | requests | errors | requests/s | p50 | p99 |")
		fmt.Println("|---|---|---|---|---|---|")
		fmt.Println(spread.row(fmt.Sprintf("the services, %d jobs and capsules", len(targets))))
		fmt.Println(baseline.row("static files (the baseline above)"))
		fmt.Printf("\np99 ratio services/static: **%.2f** (target ≤ 3)\n\n", ratio(spread.pct(0.99), baseline.pct(0.99)))
	}
	single, err := onUp(ctx, tp, dir, jobs)
	if err != nil {
		return err
	}
	fmt.Println("| Shape | jobs | completed | lost or failed | duplicated | wall | jobs/min | p50 job | p99 job |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	fmt.Println(split.row("split: 2 orchestrators, 2 workers, nginx"))
	fmt.Println(single.row("qlp up (one process, embedded defaults)"))
	fmt.Printf("\nthroughput split/up: **%.2f**\n\n", split.perMinute()/single.perMinute())

	fmt.Println("## Resident memory (RSS, MiB) per process")
	fmt.Println()
	fmt.Println("| Process | idle | peak under the client load | peak under the job load |")
	fmt.Println("|---|---|---|---|")
	for _, n := range tp.Order {
		fmt.Printf("| %s | %s | %s | %s |\n", n, mib(idle[n]), mib(clientPeak[n]), mib(jobPeak[n]))
	}
	return nil
}

func mib(kb int) string {
	if kb <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(kb)/1024)
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// fetch GETs url with key and returns the body of a 200.
func fetch(ctx context.Context, hc *http.Client, url, key string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b, nil
}

// loadResult is one client load's outcome.
type loadResult struct {
	lat []time.Duration
	// latA and latB split lat by the target's first and second path.
	latA, latB []time.Duration
	errors     int
	firstErr   string
	wall       time.Duration
}

func (r loadResult) pct(q float64) time.Duration { return percentile(r.lat, q) }

// split is the p50 and p99 of each path apart.
func (r loadResult) split(a, b string) string {
	return fmt.Sprintf("%s: p50 %.1f ms, p99 %.1f ms; %s: p50 %.1f ms, p99 %.1f ms", a, ms(percentile(r.latA, 0.5)), ms(percentile(r.latA, 0.99)),
		b, ms(percentile(r.latB, 0.5)), ms(percentile(r.latB, 0.99)))
}

func (r loadResult) row(name string) string {
	return fmt.Sprintf("| %s | %d | %d | %.0f | %.1f ms | %.1f ms |", name, len(r.lat)+r.errors, r.errors,
		float64(len(r.lat))/r.wall.Seconds(), ms(r.pct(0.5)), ms(r.pct(0.99)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// target is what one client fetches: two paths, alternately, with a key.
type target struct{ key, a, b string }

// load runs clients loops for d, each alternating GET a and GET b.
func load(ctx context.Context, clients int, d time.Duration, base, key, a, b string) loadResult {
	return loadTargets(ctx, clients, d, base, []target{{key, a, b}})
}

// loadTargets runs clients loops for d, client i alternating the two paths
// of targets[i % len(targets)].
func loadTargets(ctx context.Context, clients int, d time.Duration, base string, targets []target) loadResult {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var res loadResult
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	started := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat, latA, latB []time.Duration
			errs, first := 0, ""
			tg := targets[i%len(targets)]
			for n := i; time.Now().Before(end); n++ {
				path := tg.a
				if n%2 == 1 {
					path = tg.b
				}
				t0 := time.Now()
				_, err := fetch(ctx, hc, base+path, tg.key)
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				d := time.Since(t0)
				lat = append(lat, d)
				if n%2 == 1 {
					latB = append(latB, d)
				} else {
					latA = append(latA, d)
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.latA = append(res.latA, latA...)
			res.latB = append(res.latB, latB...)
			res.errors += errs
			if res.firstErr == "" {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.wall = time.Since(started)
	if res.firstErr != "" {
		fmt.Fprintf(os.Stderr, "first error: %s\n", res.firstErr)
	}
	return res
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// jobsResult is one job load's outcome.
type jobsResult struct {
	n, completed, failed, duplicated int
	// done are the completed jobs: tenant and workflow id.
	done  [][2]string
	times []time.Duration
	wall  time.Duration
}

func (r jobsResult) perMinute() float64 { return float64(r.completed) / r.wall.Minutes() }

func (r jobsResult) row(name string) string {
	return fmt.Sprintf("| %s | %d | %d | %d | %d | %.1f s | %.1f | %.1f s | %.1f s |", name, r.n, r.completed, r.failed, r.duplicated,
		r.wall.Seconds(), r.perMinute(), percentile(r.times, 0.5).Seconds(), percentile(r.times, 0.99).Seconds())
}

// runJobs submits n jobs at once, alternating the tenants acme and globex,
// follows each to its end and checks that each completed once with one
// capsule and was planned once.
func runJobs(ctx context.Context, n int, tp *topology.Topology, client func(tenant string) *orchestrator.Client) (jobsResult, error) {
	res := jobsResult{n: n}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failures atomic.Int32
	var firstErr error
	start := time.Now()
	for i := range n {
		tenant := []string{"acme", "globex"}[i%2]
		j := tp.NewJob(false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			c := client(tenant)
			err := func() error {
				sub, err := c.Execute(ctx, orchestrator.ExecuteRequest{Description: j.Request()}, "")
				if err != nil {
					return err
				}
				counts := map[string]int{}
				var last orchestrator.ProgressEvent
				if err := c.Follow(ctx, sub.WorkflowID, 0, func(e orchestrator.ProgressEvent) error {
					counts[e.Type]++
					last = e
					return nil
				}); err != nil {
					return err
				}
				if last.Type != "workflow_completed" {
					return fmt.Errorf("job %s ended %s: %s", sub.WorkflowID, last.Type, last.Message)
				}
				mu.Lock()
				defer mu.Unlock()
				if counts["capsule_created"] != 1 || counts["workflow_started"] != 1 || j.Calls("decomposer") != 1 {
					res.duplicated++
				}
				res.completed++
				res.done = append(res.done, [2]string{tenant, sub.WorkflowID})
				res.times = append(res.times, time.Since(t0))
				return nil
			}()
			if err != nil {
				failures.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.wall = time.Since(start)
	res.failed = int(failures.Load())
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "first failure: %v\n", firstErr)
	}
	return res, nil
}

// onUp runs the same kind of jobs on one `qlp up` process (SQLite,
// embedded Temporal, every service in process) with the same model.
func onUp(ctx context.Context, tp *topology.Topology, dir string, n int) (jobsResult, error) {
	data := filepath.Join(dir, "up")
	port, err := freePort()
	if err != nil {
		return jobsResult{}, err
	}
	env := []string{"QLP_DATA_DIR=" + data, fmt.Sprintf("QLP_API_ADDR=127.0.0.1:%d", port), "QLP_TEMPORAL_PORT=0",
		"QLP_STORE_DRIVER=sqlite", "QLP_DATABASE_URL=", "QLP_REDIS_URL=", "QLP_TEMPORAL_ADDRESS=", "QLP_LOG_LEVEL=warn",
		"QLP_LLM_PROVIDER=openai", "QLP_LLM_BASE_URL=" + tp.ModelURL(),
		"QLP_LLM_MODEL_T0=gpt-4o-mini", "QLP_LLM_MODEL_T1=gpt-4.1-mini", "QLP_LLM_MODEL_T2=gpt-4.1", "QLP_LLM_MODEL_T3=gpt-4o",
		"QLP_MEMORY_THRESHOLD_REQUESTS=1", "QLP_MEMORY_THRESHOLD_CODE=1", "QLP_MEMORY_THRESHOLD_ERRORS=1",
		"QLP_MEMORY_URL=", "QLP_VALIDATION_URL=", "QLP_SANDBOX_URL="}
	env = append(env, noAPILimits...)
	for _, name := range []string{"QLP_AGENTS_ADDR", "QLP_VALIDATION_ADDR", "QLP_MEMORY_ADDR", "QLP_SANDBOX_ADDR", "QLP_WORKER_ADDR", "QLP_MARKETING_ADDR"} {
		p, err := freePort()
		if err != nil {
			return jobsResult{}, err
		}
		env = append(env, fmt.Sprintf("%s=127.0.0.1:%d", name, p))
	}
	keys := map[string]string{}
	for _, tenant := range []string{"acme", "globex"} {
		cmd := exec.CommandContext(ctx, tp.Bin(), "apikey", "create", "--tenant", tenant, "--json")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			return jobsResult{}, fmt.Errorf("qlp apikey create: %w", err)
		}
		var k struct{ Key string }
		if err := json.Unmarshal(out, &k); err != nil {
			return jobsResult{}, err
		}
		keys[tenant] = k.Key
	}
	logf, err := os.Create(filepath.Join(dir, "up.log"))
	if err != nil {
		return jobsResult{}, err
	}
	defer logf.Close()
	up := exec.Command(tp.Bin(), "up")
	up.Env = append(os.Environ(), env...)
	up.Stdout, up.Stderr = logf, logf
	up.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := up.Start(); err != nil {
		return jobsResult{}, err
	}
	defer func() {
		_ = syscall.Kill(-up.Process.Pid, syscall.SIGTERM)
		_ = up.Wait()
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := topology.WaitReady(wctx, base); err != nil {
		b, _ := os.ReadFile(logf.Name())
		return jobsResult{}, errors.Join(err, errors.New(string(b)))
	}
	res, err := runJobs(ctx, n, tp, func(tenant string) *orchestrator.Client {
		return orchestrator.NewClient(base, auth.Secret(keys[tenant]), nil)
	})
	fmt.Fprintf(os.Stderr, "qlp up: peak RSS %s MiB\n", mib(rssKB(up.Process.Pid, "VmHWM")))
	return res, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cpuAll is the CPU time (user + system, seconds) used so far by each
// process of the topology with its descendants (nginx's workers,
// PostgreSQL's backends), by PostgreSQL, and by this load generator.
func cpuAll(tp *topology.Topology) map[string]float64 {
	type proc struct {
		ppid int
		cpu  float64
		comm string
	}
	procs := map[int]proc{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15): fields after the
		// last ')' start at state.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		j := strings.IndexByte(string(b), '(')
		procs[pid] = proc{ppid: ppid, cpu: (ut + st) / clockTicks, comm: string(b[j+1 : i])}
	}
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var tree func(pid int) float64
	tree = func(pid int) float64 {
		t := procs[pid].cpu
		for _, c := range children[pid] {
			t += tree(c)
		}
		return t
	}
	out := map[string]float64{}
	for _, n := range tp.Order {
		if pid := tp.Procs[n].PID(); pid > 0 {
			out[n] = tree(pid)
		}
	}
	for pid, p := range procs {
		if p.comm == "postgres" && procs[p.ppid].comm != "postgres" {
			out["postgresql"] += tree(pid)
		}
	}
	// Its own threads only: the topology's processes are its children.
	out["load generator (this process)"] = procs[os.Getpid()].cpu
	return out
}

// clockTicks is the kernel's USER_HZ, 100 on Linux.
const clockTicks = 100

// cpuSince is the CPU each process used between two cpuAll readings.
func cpuSince(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for n, t := range after {
		out[n] = t - before[n]
	}
	return out
}

// cpuNames is every process named in the readings, busiest first.
func cpuNames(a, b map[string]float64) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range []map[string]float64{a, b} {
		for n := range m {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Slice(names, func(i, j int) bool { return a[names[i]] > a[names[j]] })
	return names
}

// rssKB reads a memory field (VmRSS, VmHWM) of pid from /proc, in KiB.
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

// rssAll is the RSS of every process of the topology now.
func rssAll(tp *topology.Topology) map[string]int {
	out := map[string]int{}
	for _, n := range tp.Order {
		out[n] = rssKB(tp.Procs[n].PID(), "VmRSS")
	}
	return out
}

// peaks samples every process's RSS until stop and keeps each one's
// highest.
type peaks struct {
	tp   *topology.Topology
	mu   sync.Mutex
	max  map[string]int
	done chan struct{}
	wg   sync.WaitGroup
}

func newPeaks(tp *topology.Topology) *peaks {
	p := &peaks{tp: tp, max: map[string]int{}, done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			p.mu.Lock()
			for n, kb := range rssAll(tp) {
				p.max[n] = max(p.max[n], kb)
			}
			p.mu.Unlock()
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *peaks) stop() map[string]int {
	close(p.done)
	p.wg.Wait()
	return p.max
}

// noAPILimits turns off the API's request and job limits (docs/api.md,
// "Limits"), which the benchmark's load is far over on purpose.
var noAPILimits = []string{"QLP_LIMITS_KEY_REQUESTS_PER_MINUTE=0", "QLP_LIMITS_TENANT_REQUESTS_PER_MINUTE=0", "QLP_LIMITS_TENANT_CONCURRENT_JOBS=0"}
