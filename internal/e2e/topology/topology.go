// Package topology runs QLP in its production shape on this machine and
// drives it from outside: every service in its own `qlp` process (two
// orchestrator replicas, two workers), PostgreSQL (store and pgvector),
// Redis, a Temporal dev server in its own process and nginx with
// deploy/nginx/qlp.conf in front. The model is the scripted
// OpenAI-compatible test server. The tests kill and restart parts of it and
// check that no job is lost, run twice or packaged twice; bench/topology
// loads it.
//
// The tests start the processes once for the package (they take seconds
// each) and run one after another; a test that stops a part starts it
// again before it ends. Every process logs to a file under the topology's
// directory; a failing test prints the end of each.
package topology

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx/logtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// Proc is one child process of the topology.
type Proc struct {
	// Name names it in logs and in the topology's Procs.
	Name string
	// LogPath is the file its output goes to.
	LogPath string
	// URL is its HTTP surface ("tcp://host:port" when it only listens).
	URL string

	bin  string
	args []string
	env  []string
	dir  string // working directory
	// cleanup, when set, runs after the process ends and before it starts
	// (a container runc started outlives a killed runc).
	cleanup func()

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the process; its output goes to its log file, appended.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.Name)
	}
	if p.cleanup != nil {
		p.cleanup()
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "==== %s start %s\n", time.Now().Format(time.RFC3339Nano), p.Name)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = f, f
	// A child must not outlive the test binary; its own group, so that a
	// kill reaches what it started (the sandbox's runs).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// signal sends sig to the process's group and waits for it to end (up to
// grace, then SIGKILL).
func (p *Proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	if p.cleanup != nil {
		p.cleanup()
	}
}

// Kill9 ends the process at once, as a crash would.
func (p *Proc) Kill9() { p.signal(syscall.SIGKILL, time.Minute) }

// Stop ends the process gracefully.
func (p *Proc) Stop() { p.signal(syscall.SIGTERM, 20*time.Second) }

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID is the process id, 0 when it is not running.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Tail is the end of the process's log.
func (p *Proc) Tail(lines int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = append([]string{fmt.Sprintf("… %d earlier lines in %s", len(ls)-lines, p.LogPath)}, ls[len(ls)-lines:]...)
	}
	return strings.Join(ls, "\n")
}

// Topology is the running topology.
type Topology struct {
	dir    string
	bin    string
	token  string
	model  *llmtest.Server
	script *switchboard

	s3 s3Config

	pgBin, pgData string
	pgPort        int
	pgURL         string
	redisPort     int

	// Procs are the processes by name; Order is their start order.
	Procs map[string]*Proc
	Order []string
	// Nginx is the proxy's base URL, the one clients use.
	Nginx string
	// Keys are the API keys of the tenants acme, globex and initech (the
	// rate-limit test's).
	Keys map[string]string
	// keyDir is the data directory holding the signing key every worker
	// signs with (as a Kubernetes secret would provide it).
	keyDir string
}

// freePort asks the kernel for a free TCP port on the loopback.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// run runs a command to its end, returning its output in the error.
func run(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.Bytes(), nil
}

// asPostgres runs PostgreSQL's programs as the postgres user when this is
// root (initdb refuses root).
func asPostgres(name string, args ...string) (string, []string) {
	if os.Geteuid() == 0 {
		return "runuser", append([]string{"-u", "postgres", "--", name}, args...)
	}
	return name, args
}

// moduleRoot is the directory of QLP's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := run(ctx, "", nil, "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside QLP's module: run from its checkout")
	}
	return filepath.Dir(mod), nil
}

// buildQLP builds the qlp command into dir, as deploy/image/build.sh
// builds the image's (static, trimmed paths), so that the image built for
// the tests reuses it and every process runs the same build.
func buildQLP(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "qlp")
	if _, err := run(ctx, "", []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/quantumlayer/qlp/cmd/qlp"); err != nil {
		return "", err
	}
	return bin, nil
}

// startPostgres initialises a cluster of its own and starts it.
func (tp *Topology) startPostgres(ctx context.Context) error {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		return errors.New("PostgreSQL server binaries not found: run scripts/install-deps.sh test")
	}
	tp.pgBin = bins[len(bins)-1]
	tp.pgData = filepath.Join(tp.dir, "pg")
	if err := os.MkdirAll(tp.pgData, 0o700); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if _, err := run(ctx, "/", nil, "chown", "postgres", tp.pgData); err != nil {
			return err
		}
	}
	name, args := asPostgres(filepath.Join(tp.pgBin, "initdb"), "-D", tp.pgData, "-U", "postgres", "--auth=trust", "-E", "UTF8")
	if _, err := run(ctx, "/", nil, name, args...); err != nil {
		return err
	}
	var err error
	if tp.pgPort, err = freePort(); err != nil {
		return err
	}
	if err := tp.PGCtl(ctx, "start"); err != nil {
		return err
	}
	tp.pgURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/qlp?sslmode=disable", tp.pgPort)
	_, err = run(ctx, "/", nil, filepath.Join(tp.pgBin, "psql"), "-h", "127.0.0.1", "-p", fmt.Sprint(tp.pgPort), "-U", "postgres", "-qc", "CREATE DATABASE qlp")
	return err
}

// PGCtl starts or stops the cluster ("start", "stop").
func (tp *Topology) PGCtl(ctx context.Context, action string) error {
	args := []string{"-D", tp.pgData, "-w", "-t", "60"}
	switch action {
	case "start":
		args = append(args, "-l", filepath.Join(tp.pgData, "server.log"), "-o",
			fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", tp.pgPort, tp.pgData), "start")
	case "stop":
		args = append(args, "-m", "fast", "stop")
	}
	name, a := asPostgres(filepath.Join(tp.pgBin, "pg_ctl"), args...)
	_, err := run(ctx, "/", nil, name, a...)
	return err
}

// add registers a child process; url is where its HTTP surface answers.
func (tp *Topology) add(name, url string, env []string, args ...string) *Proc {
	dir := filepath.Join(tp.dir, name)
	_ = os.MkdirAll(dir, 0o700)
	p := &Proc{Name: name, bin: tp.bin, args: args, env: env, dir: dir, LogPath: filepath.Join(tp.dir, name+".log"), URL: url}
	if tp.Procs == nil {
		tp.Procs = map[string]*Proc{}
	}
	tp.Procs[name] = p
	tp.Order = append(tp.Order, name)
	return p
}

// WaitReady waits until url/readyz answers 200, or ctx ends.
func WaitReady(ctx context.Context, url string) error {
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/readyz never answered 200 (last: %s): %w", url, last, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPort waits until something accepts connections on addr.
func waitPort(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on %s: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StartProc starts a registered process and waits until it is ready.
func (tp *Topology) StartProc(ctx context.Context, name string) error {
	p := tp.Procs[name]
	if err := p.Start(); err != nil {
		return err
	}
	if p.URL == "" {
		return nil
	}
	// A process that exits while we wait has failed to start: say so at
	// once, with its log, instead of waiting out ctx.
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-wctx.Done():
		}
	}()
	var err error
	if strings.HasPrefix(p.URL, "tcp://") {
		err = waitPort(wctx, strings.TrimPrefix(p.URL, "tcp://"))
	} else {
		err = WaitReady(wctx, p.URL)
	}
	select {
	case <-done:
		if err != nil {
			return fmt.Errorf("%s exited before it was ready:\n%s", name, p.Tail(40))
		}
	default:
	}
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, p.Tail(40))
	}
	return nil
}

// Logs is the end of every process's log, for a failing test.
func (tp *Topology) Logs() string {
	var b strings.Builder
	for _, n := range tp.Order {
		fmt.Fprintf(&b, "---- %s (%s)\n%s\n", n, tp.Procs[n].LogPath, tp.Procs[n].Tail(60))
	}
	for _, f := range []string{"pg/server.log", "nginx/error.log"} {
		if data, err := os.ReadFile(filepath.Join(tp.dir, f)); err == nil {
			s := string(data)
			if len(s) > 4000 {
				s = "…" + s[len(s)-4000:]
			}
			fmt.Fprintf(&b, "---- %s\n%s\n", f, s)
		}
	}
	return b.String()
}

// Close stops everything.
func (tp *Topology) Close() {
	for i := len(tp.Order) - 1; i >= 0; i-- {
		tp.Procs[tp.Order[i]].Stop()
	}
	// The processes' logs go to the secret scan that ends make test.
	var logs []string
	for _, n := range tp.Order {
		logs = append(logs, tp.Procs[n].LogPath)
	}
	_ = logtest.Save("topology", logs...)
	if tp.pgData != "" {
		_ = tp.PGCtl(context.Background(), "stop")
	}
	if tp.model != nil {
		tp.model.Close()
	}
	_ = os.RemoveAll(tp.dir)
}

// Options change the topology.
type Options struct {
	// Env are settings for every QLP process, after the harness's own.
	Env []string
	// EditNginx, when set, changes deploy/nginx/qlp.conf before nginx
	// starts (a benchmark raises the per-client rate limit with it).
	EditNginx func(conf string) string
	// SandboxImage, when set, is a qlp image ("layout:tag", see
	// BuildImage) the sandbox service runs from, with runc, instead of the
	// binary built for the other processes.
	SandboxImage string
}

// Start starts the whole topology under dir, which Close removes.
func Start(ctx context.Context, dir string, opts Options) (_ *Topology, err error) {
	tp := &Topology{dir: dir, token: "topology-service-token-0123456789abcdef", Keys: map[string]string{}}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, tp.Logs())
			tp.Close()
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// PostgreSQL runs as postgres and must reach its data directory.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
	}
	if tp.bin, err = buildQLP(ctx, dir); err != nil {
		return nil, err
	}
	if err := tp.startPostgres(ctx); err != nil {
		return nil, err
	}
	if tp.redisPort, err = freePort(); err != nil {
		return nil, err
	}
	tp.script = newSwitchboard()
	tp.model = llmtest.New(tp.script.handle)

	ports := map[string]int{}
	for _, n := range []string{"temporal", "sandbox", "memory", "validation", "agents", "orchestrator-1", "orchestrator-2", "worker-1", "worker-2", "nginx"} {
		if ports[n], err = freePort(); err != nil {
			return nil, err
		}
	}
	url := func(n string) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[n]) }
	addr := func(n string) string { return fmt.Sprintf("127.0.0.1:%d", ports[n]) }

	tp.keyDir = filepath.Join(dir, "keys")
	if _, err := capsule.LoadOrCreateSigner(tp.keyDir); err != nil {
		return nil, err
	}
	key, err := os.ReadFile(capsule.KeyFile(tp.keyDir))
	if err != nil {
		return nil, err
	}
	// Capsule archives go to an S3-compatible store shared by every
	// replica (versitygw, a process of the topology like the others).
	s3Port, err := freePort()
	if err != nil {
		return nil, err
	}
	tp.s3 = s3Config{endpoint: fmt.Sprintf("http://127.0.0.1:%d", s3Port), bucket: "qlp-capsules",
		key: "topology", secret: "topology-secret-0123456789abcdef"}
	common := []string{
		"QLP_LOG_LEVEL=" + logtest.Level("info"), "QLP_STORE_DRIVER=postgres", "QLP_DATABASE_URL=" + tp.pgURL,
		// Canary secrets: the log scan after make test proves none is logged.
		"QLP_LLM_API_KEY=" + logtest.CanaryLLMKey, "QLP_BUDGET_WEBHOOK_SECRET=" + logtest.CanaryWebhookSecret,
		fmt.Sprintf("QLP_REDIS_URL=redis://127.0.0.1:%d/0", tp.redisPort),
		"QLP_TEMPORAL_ADDRESS=" + addr("temporal"), "QLP_SERVICE_TOKEN=" + tp.token,
		"QLP_LLM_PROVIDER=openai", "QLP_LLM_BASE_URL=" + tp.model.URL,
		"QLP_LLM_MODEL_T0=gpt-4o-mini", "QLP_LLM_MODEL_T1=gpt-4.1-mini", "QLP_LLM_MODEL_T2=gpt-4.1", "QLP_LLM_MODEL_T3=gpt-4o",
		"QLP_WORKFLOW_HEARTBEAT_TIMEOUT=3s", "QLP_API_MAX_BODY_BYTES=64KiB",
		"QLP_SANDBOX_URL=" + url("sandbox"), "QLP_VALIDATION_URL=" + url("validation"), "QLP_MEMORY_URL=" + url("memory"),
		"QLP_MEMORY_STORE=pgvector", "QLP_MEMORY_POSTGRES_URL=" + tp.pgURL,
		"QLP_BLOB_BACKEND=s3", "QLP_BLOB_ENDPOINT=" + tp.s3.endpoint, "QLP_BLOB_BUCKET=" + tp.s3.bucket,
		"QLP_BLOB_REGION=us-east-1", "QLP_BLOB_PATH_STYLE=true",
		"QLP_BLOB_ACCESS_KEY_ID=" + tp.s3.key, "QLP_BLOB_SECRET_ACCESS_KEY=" + tp.s3.secret,
		"QLP_CAPSULE_TRUSTED_KEYS=",
		// The tests' jobs differ only in their markers, which route each
		// model call to its job's script; recalled past requests and code
		// in a prompt would carry other jobs' markers. The Vector Memory
		// still stores and searches; only exact matches are recalled.
		"QLP_MEMORY_THRESHOLD_REQUESTS=1", "QLP_MEMORY_THRESHOLD_CODE=1", "QLP_MEMORY_THRESHOLD_ERRORS=1",
	}
	common = append(common, opts.Env...)
	envFor := func(name string, extra ...string) []string {
		data := filepath.Join(dir, name, "data")
		if err := os.MkdirAll(data, 0o700); err == nil {
			_ = os.WriteFile(capsule.KeyFile(data), key, 0o600)
		}
		return append(append(append([]string{}, common...), "QLP_DATA_DIR="+data), extra...)
	}

	// Redis is a process of the harness like the others: a test restarts it.
	redisDir := filepath.Join(dir, "redis")
	_ = os.MkdirAll(redisDir, 0o700)
	redis := &Proc{Name: "redis", bin: "redis-server", dir: redisDir, LogPath: filepath.Join(dir, "redis.log"),
		URL:  "tcp://127.0.0.1:" + fmt.Sprint(tp.redisPort),
		args: []string{"--port", fmt.Sprint(tp.redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", redisDir}}
	s3Dir := filepath.Join(dir, "s3")
	if err := os.MkdirAll(s3Dir, 0o700); err != nil {
		return nil, err
	}
	versitygw, err := exec.LookPath("versitygw")
	if err != nil {
		return nil, errors.New("versitygw not found: run scripts/install-deps.sh test")
	}
	s3 := &Proc{Name: "s3", bin: versitygw, dir: s3Dir, LogPath: filepath.Join(dir, "s3.log"), URL: "tcp://" + strings.TrimPrefix(tp.s3.endpoint, "http://"),
		env:  []string{"ROOT_ACCESS_KEY_ID=" + tp.s3.key, "ROOT_SECRET_ACCESS_KEY=" + tp.s3.secret},
		args: []string{"--port", strings.TrimPrefix(tp.s3.endpoint, "http://"), "--region", "us-east-1", "posix", s3Dir}}
	tp.Procs = map[string]*Proc{"redis": redis, "s3": s3}
	tp.Order = []string{"redis", "s3"}

	tp.add("temporal", "tcp://"+addr("temporal"), envFor("temporal", "QLP_TEMPORAL_ADDRESS=", fmt.Sprintf("QLP_TEMPORAL_PORT=%d", ports["temporal"]), "QLP_TEMPORAL_LOG_LEVEL=warn"), "temporal")
	if opts.SandboxImage == "" {
		tp.add("sandbox", url("sandbox"), envFor("sandbox", "QLP_SANDBOX_ADDR="+addr("sandbox")), "serve", "sandbox")
	} else {
		p, err := tp.imageProc(ctx, "sandbox", url("sandbox"), opts.SandboxImage, filepath.Join(dir, "sandbox", "data"),
			envFor("sandbox", "QLP_SANDBOX_ADDR="+addr("sandbox")), "serve", "sandbox")
		if err != nil {
			return nil, err
		}
		tp.Procs[p.Name] = p
		tp.Order = append(tp.Order, p.Name)
	}
	tp.add("memory", url("memory"), envFor("memory", "QLP_MEMORY_ADDR="+addr("memory")), "serve", "memory")
	tp.add("validation", url("validation"), envFor("validation", "QLP_VALIDATION_ADDR="+addr("validation")), "serve", "validation")
	tp.add("agents", url("agents"), envFor("agents", "QLP_AGENTS_ADDR="+addr("agents")), "serve", "agents")
	for _, n := range []string{"orchestrator-1", "orchestrator-2"} {
		tp.add(n, url(n), envFor(n, "QLP_API_ADDR="+addr(n)), "serve", "orchestrator")
	}
	for _, n := range []string{"worker-1", "worker-2"} {
		tp.add(n, url(n), envFor(n, "QLP_WORKER_ADDR="+addr(n)), "worker")
	}

	// Migrations first, from one process, so that the services do not race
	// to apply them.
	if _, err := run(ctx, dir, envFor("admin"), tp.bin, "migrate"); err != nil {
		return nil, err
	}
	// initech is the rate-limit test's own tenant: its burst spends that
	// tenant's budget, not the one the other tests use.
	for _, tenant := range []string{"acme", "globex", "initech"} {
		out, err := run(ctx, dir, envFor("admin"), tp.bin, "apikey", "create", "--tenant", tenant, "--json")
		if err != nil {
			return nil, err
		}
		var k struct{ Key string }
		if err := json.Unmarshal(out, &k); err != nil {
			return nil, fmt.Errorf("apikey create: %w: %s", err, out)
		}
		tp.Keys[tenant] = k.Key
	}
	for _, n := range tp.Order {
		if err := tp.StartProc(ctx, n); err != nil {
			return nil, err
		}
		if n == "s3" {
			if err := tp.s3.createBucket(ctx); err != nil {
				return nil, err
			}
		}
	}
	if err := tp.startNginx(ctx, ports["nginx"], opts.EditNginx, map[string]string{
		"orchestrator": addr("orchestrator-1") + ";\n    server " + addr("orchestrator-2"),
		"agents":       addr("agents"), "memory": addr("memory"), "validation": addr("validation"), "sandbox": addr("sandbox"),
	}); err != nil {
		return nil, err
	}
	return tp, nil
}

// nginxUpstreams are the upstream lines deploy/nginx/qlp.conf ships with.
var nginxUpstreams = map[string]string{
	"orchestrator": "orchestrator:8000",
	"agents":       "agents:8001",
	"memory":       "memory:8003",
	"validation":   "validation:8002",
	"sandbox":      "sandbox:8004",
}

// startNginx runs a real nginx with deploy/nginx/qlp.conf, changed only in
// its listen port and upstream server lines.
func (tp *Topology) startNginx(ctx context.Context, port int, edit func(string) string, upstreams map[string]string) error {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
		if err != nil {
			return errors.New("nginx not found: run scripts/install-deps.sh test")
		}
	}
	dir := filepath.Join(tp.dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "nginx", "qlp.conf"))
	if err != nil {
		return err
	}
	conf := string(raw)
	replace := func(old, new string) error {
		if n := strings.Count(conf, old); n != 1 {
			return fmt.Errorf("qlp.conf: %q occurs %d times, want once", old, n)
		}
		conf = strings.Replace(conf, old, new, 1)
		return nil
	}
	if err := replace("listen 8080;", fmt.Sprintf("listen 127.0.0.1:%d;", port)); err != nil {
		return err
	}
	for svc, a := range nginxUpstreams {
		if err := replace("server "+a+";", "server "+upstreams[svc]+";"); err != nil {
			return err
		}
	}
	if edit != nil {
		conf = edit(conf)
	}
	if err := os.WriteFile(filepath.Join(dir, "qlp.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;" // workers must reach the temporary directory
	}
	main := fmt.Sprintf(`%s
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.LogPath warn;
events { worker_connections 1024; }
http {
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/qlp.conf;
}
`, user, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		return err
	}
	if _, err := run(ctx, dir, nil, bin, "-t", "-q", "-p", dir, "-e", "stderr", "-c", filepath.Join(dir, "nginx.conf")); err != nil {
		return err
	}
	p := &Proc{Name: "nginx", bin: bin, dir: dir, LogPath: filepath.Join(tp.dir, "nginx.log"),
		args: []string{"-p", dir, "-e", "stderr", "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;"},
		URL:  fmt.Sprintf("tcp://127.0.0.1:%d", port)}
	tp.Procs["nginx"] = p
	tp.Order = append(tp.Order, "nginx")
	tp.Nginx = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := tp.StartProc(ctx, "nginx"); err != nil {
		return err
	}
	return WaitReady(ctx, tp.Nginx)
}

// Client is tenant's API client through nginx.
func (tp *Topology) Client(tenant string) *orchestrator.Client {
	return orchestrator.NewClient(tp.Nginx, auth.Secret(tp.Keys[tenant]), nil)
}

// Direct is tenant's API client of one orchestrator replica, bypassing
// nginx.
func (tp *Topology) Direct(replica, tenant string) *orchestrator.Client {
	return orchestrator.NewClient(tp.Procs[replica].URL, auth.Secret(tp.Keys[tenant]), nil)
}

// ModelURL is the scripted model's base URL (jobs made by NewJob answer
// there).
func (tp *Topology) ModelURL() string { return tp.model.URL }

// Bin is the qlp binary every process runs.
func (tp *Topology) Bin() string { return tp.bin }

// s3Config is the S3-compatible store of the topology.
type s3Config struct {
	endpoint, bucket, key, secret string
}

// createBucket creates the bucket capsule archives go to.
func (c s3Config) createBucket(ctx context.Context) error {
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(c.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(c.key, c.secret, "")})
	var err error
	for range 50 { // versitygw accepts connections a moment before it serves
		if _, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.bucket)}); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("s3: create bucket %s: %w", c.bucket, err)
}

// s3Object is the file versitygw's posix backend keeps the object key of
// the capsule bucket in.
func (tp *Topology) s3Object(key string) string {
	return filepath.Join(tp.dir, "s3", tp.s3.bucket, filepath.FromSlash(key))
}
