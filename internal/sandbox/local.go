package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quantumlayer/qlp/internal/sandbox/wire"
)

// Local is the in-process [Runner]: it runs specs on this host with the
// configured backend. It is safe for concurrent use; the [Service] bounds
// how many runs execute at once.
type Local struct {
	cfg     Config
	logger  *slog.Logger
	backend backend
	langs   map[string]*Language
	cg      *cgroups
	cgInfo  CgroupInfo

	runtimeDir string
	ownRuntime bool
	helper     string // helper binary as the backend launches it
	hostUID    int    // uid:gid sandboxed processes run as on the host; -1: the service's
	hostGID    int

	depMu    sync.Mutex
	depCache map[string]bool

	// The Go build-cache seed is built once, under the runner's lifetime
	// (life, ended by Close), not under the request of the first Go run,
	// whose cancellation would otherwise leave every later run without it.
	life       context.Context
	endLife    context.CancelFunc
	background sync.WaitGroup
	goSeedOnce sync.Once
	goSeedDone chan struct{}
	goSeed     string
	goSeedErr  error
	// The mypy cache seed, built the same way (see buildMypySeed).
	mypySeedOnce sync.Once
	mypySeedDone chan struct{}
	mypySeed     string
	mypySeedErr  error
	// seedSource is the seed module's package (the constant seedSource;
	// tests use a smaller one, which builds in seconds).
	seedSource string
}

var _ Runner = (*Local)(nil)

// Info describes the runner, for GET /languages and the logs.
type Info struct {
	Backend string     `json:"backend"`
	Cgroup  CgroupInfo `json:"cgroup"`
	HostUID int        `json:"host_uid"` // -1: sandboxed processes run as the service's own uid
	Seccomp bool       `json:"seccomp"`
}

// NewLocal checks the backend's tools, detects the languages and cgroups of
// this host and prepares the runtime directory. Close releases it.
func NewLocal(ctx context.Context, cfg Config, logger *slog.Logger) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Local{cfg: cfg, logger: logger, depCache: map[string]bool{}, hostUID: -1, hostGID: -1, goSeedDone: make(chan struct{}),
		mypySeedDone: make(chan struct{}), seedSource: seedSource}
	r.life, r.endLife = context.WithCancel(context.WithoutCancel(ctx))
	if os.Geteuid() == 0 {
		r.hostUID, r.hostGID = cfg.SandboxUID, cfg.SandboxUID
	}
	helper := cfg.HelperPath
	if helper == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("sandbox: find own executable for the helper: %w", err)
		}
		helper = exe
	}
	if abs, err := filepath.Abs(helper); err == nil {
		helper = abs
	}
	r.helper = helper
	if cfg.RuntimeDir == "" {
		d, err := os.MkdirTemp("", "qlp-sandbox-")
		if err != nil {
			return nil, fmt.Errorf("sandbox: create runtime directory: %w", err)
		}
		r.runtimeDir, r.ownRuntime = d, true
	} else {
		r.runtimeDir = cfg.RuntimeDir
		if err := os.MkdirAll(r.runtimeDir, 0o711); err != nil {
			return nil, fmt.Errorf("sandbox: create runtime directory %s: %w", r.runtimeDir, err)
		}
	}
	// Others must be able to traverse it (the sandbox uid reaches its
	// staged binds through it), never to list it.
	if err := os.Chmod(r.runtimeDir, 0o711); err != nil {
		return nil, fmt.Errorf("sandbox: chmod runtime directory: %w", err)
	}
	r.cg, r.cgInfo = detectCgroups(cfg.CgroupParent)
	switch {
	case r.cg == nil:
		logger.Warn("sandbox runs without cgroup limits: memory and process limits fall back to rlimits", "reason", r.cgInfo.Reason)
	case !r.cgInfo.CommandCgroup:
		logger.Warn("sandbox runs without a command cgroup: the helper shares the process limit with the programs it runs", "reason", r.cgInfo.CommandReason)
	}
	r.langs = detectLanguages(ctx, cfg.GoModCache)
	var err error
	switch cfg.Backend {
	case BackendBwrap:
		r.backend, err = newBwrap(r)
	case BackendGVisor:
		r.backend, err = newGVisor(r)
	case BackendUnsafeLocal:
		logger.Warn("UNSAFE: the unsafe-local sandbox backend runs generated code as plain host processes with no file-system or network isolation; never use it for untrusted code or in production")
		r.backend, err = newUnsafeLocal(r)
	}
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	names := make([]string, 0, len(r.langs))
	for n := range r.langs {
		names = append(names, n)
	}
	sort.Strings(names)
	logger.Info("sandbox ready", "backend", cfg.Backend, "languages", names, "cgroup_version", r.cgInfo.Version, "host_uid", r.hostUID)
	return r, nil
}

// Close stops work of the runner's own (building the Go build-cache seed)
// and removes the runtime directory if the runner created it. Runs must
// have ended.
func (r *Local) Close() error {
	r.endLife()
	r.background.Wait()
	if r.ownRuntime {
		return os.RemoveAll(r.runtimeDir)
	}
	return nil
}

// Info reports the backend and what it enforces on this host.
func (r *Local) Info() Info {
	return Info{Backend: r.cfg.Backend, Cgroup: r.cgInfo, HostUID: r.hostUID, Seccomp: true}
}

// Languages lists what this host can run, sorted by name.
func (r *Local) Languages() []Language {
	out := make([]Language, 0, len(r.langs))
	for _, l := range r.langs {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Ready checks that the backend can still start.
func (r *Local) Ready(ctx context.Context) error { return r.backend.ready(ctx) }

// prepared is a validated spec turned into the helper's request.
type prepared struct {
	id     string
	lang   *Language
	limits Limits
	cmds   []Command
	req    wire.Request
	binds  []string // host paths bound read-only at the same path
	// seeds are the tool-cache seeds bound read-only into the run (the Go
	// build cache at seedPath, mypy's at mypySeedPath).
	seeds   []seedBind
	missing []string
}

// Prepare validates a spec and resolves its defaults without running it.
// The service uses it to answer 400 before a request is queued.
func (r *Local) Prepare(ctx context.Context, s Spec) error {
	_, err := r.prepare(ctx, &s)
	return err
}

func (r *Local) prepare(ctx context.Context, s *Spec) (*prepared, error) {
	lang := r.langs[s.Language]
	if lang == nil {
		names := make([]string, 0, len(r.langs))
		for n := range r.langs {
			names = append(names, n)
		}
		sort.Strings(names)
		if s.Language == "" {
			return nil, specErr("language", "must be set (this host runs: %s)", strings.Join(names, ", "))
		}
		return nil, specErr("language", "unknown or unavailable language %q (this host runs: %s)", s.Language, strings.Join(names, ", "))
	}
	if err := r.cfg.validate(s); err != nil {
		return nil, err
	}
	p := &prepared{id: newID(), lang: lang, limits: s.Limits.withDefaults(r.cfg.DefaultLimits)}
	p.cmds = s.Commands
	if len(p.cmds) == 0 {
		mode := s.Mode
		if mode == "" {
			mode = "run"
		}
		cmds, err := lang.commands(s, mode, p.limits)
		if err != nil {
			return nil, specErr("commands", "no default %s command for %s: %v", mode, lang.Name, err)
		}
		p.cmds = cmds
	}
	p.missing = r.checkDependencies(ctx, s, lang)
	root := r.backend.root(p.id)
	env := r.env(lang, s.Env, root)
	p.req = wire.Request{
		Root: root, WorkDir: root + "/work", Files: s.Files, Collect: s.Collect,
		MaxCollectBytes: r.cfg.MaxCollectBytes, OutputBytes: p.limits.OutputBytes, Processes: p.limits.Processes,
		DiskBytes: p.limits.DiskBytes, CPUTime: p.limits.CPUTime, WallTime: p.limits.WallTime,
	}
	for i, c := range p.cmds {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("command-%d", i+1)
		}
		p.req.Commands = append(p.req.Commands, wire.Command{Name: name, Args: c.Args, Env: env, Stdin: c.Stdin,
			Timeout: c.Timeout, ContinueOnFailure: c.ContinueOnFailure})
	}
	p.binds = append(p.binds, lang.binds...)
	if lang.Name == "go" && r.cfg.GoCacheSeed && len(p.missing) == 0 {
		seed, err := r.goCacheSeed(ctx)
		if err != nil && ctx.Err() == nil {
			r.logger.Warn("go build cache seed unavailable; go runs compile the standard library each time", "error", err)
		} else {
			p.addSeed(seed, seedPath, root, "/gocache")
		}
	}
	if lang.Name == "python" && r.cfg.MypyCacheSeed && len(p.missing) == 0 && usesMypy(p.cmds) {
		seed, err := r.mypyCacheSeed(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.logger.Warn("mypy cache seed unavailable; mypy runs analyse the standard library each time", "error", err)
		case seed != "":
			p.addSeed(seed, mypySeedPath, root, "/mypycache")
		}
	}
	return p, nil
}

// seedBind is a seed directory on the host and where runs see it.
type seedBind struct{ host, at string }

// addSeed binds a seed read-only and copies it into the run's own
// writable directory root+dir (the tool's cache in the run), so that no
// run can change the seed for the next.
func (p *prepared) addSeed(host, at, root, dir string) {
	p.seeds = append(p.seeds, seedBind{host: host, at: at})
	from := at
	if root != "/sandbox" { // unsafe-local sees the host's files
		from = host
	}
	p.req.Copies = append(p.req.Copies, wire.Copy{From: from, To: root + dir})
}

// seedPath is where sandboxes see the Go build-cache seed.
const seedPath = "/.qlp/gocache-seed"

// env builds the environment of every command: nothing from the service's
// own environment.
func (r *Local) env(lang *Language, extra map[string]string, root string) []string {
	m := map[string]string{
		"PATH":   strings.Join(append(append([]string{}, lang.pathDirs...), basePath), ":"),
		"HOME":   root + "/home",
		"TMPDIR": root + "/tmp",
		"LANG":   "C.UTF-8",
		"USER":   "sandbox",
		"TERM":   "dumb",
	}
	for k, v := range lang.env {
		m[k] = strings.ReplaceAll(v, "/sandbox", root)
	}
	for k, v := range extra {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Run implements [Runner].
func (r *Local) Run(ctx context.Context, s Spec, onOutput func(OutputChunk)) (*Result, error) {
	p, err := r.prepare(ctx, &s)
	if err != nil {
		return nil, err
	}
	res := &Result{ID: p.id, Backend: r.cfg.Backend, Language: p.lang.Name, Limits: p.limits, ExitCode: -1}
	if len(p.missing) > 0 {
		res.Status = StatusError
		res.MissingDependencies = p.missing
		res.Reason = "dependency unavailable: " + strings.Join(p.missing, "; ") + "; the sandbox has no network, so only what this host has installed can be used"
		for _, c := range p.req.Commands {
			res.Commands = append(res.Commands, CommandResult{Name: c.Name, Args: c.Args, Status: StatusSkipped, ExitCode: -1, Reason: "not run: dependency unavailable"})
		}
		return res, nil
	}
	if err := r.execute(ctx, p, res, onOutput); err != nil {
		return nil, err
	}
	return res, nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WarmUp starts building the Go build-cache seed and the mypy cache seed in
// the background when runs will use them. Runs that come first wait for it as before.
func (r *Local) WarmUp() {
	if r.cfg.GoCacheSeed && r.langs["go"] != nil {
		r.startGoCacheSeed()
	}
	if r.cfg.MypyCacheSeed && r.langs["python"] != nil {
		r.startMypySeed()
	}
}

func (r *Local) startGoCacheSeed() {
	r.goSeedOnce.Do(func() {
		r.background.Add(1)
		go func() {
			defer r.background.Done()
			defer close(r.goSeedDone)
			r.buildGoCacheSeed(r.life)
		}()
	})
}

// goCacheSeed returns the Go build-cache seed, starting to build it if no
// run has asked yet, and waits for it as long as ctx allows.
func (r *Local) goCacheSeed(ctx context.Context) (string, error) {
	r.startGoCacheSeed()
	select {
	case <-r.goSeedDone:
		return r.goSeed, r.goSeedErr
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// reachable says why the sandbox user could not reach dir, when it runs as
// another uid than the service: a seed under a directory others cannot
// search (mktemp -d makes 0700 ones) would make every run that binds it
// fail to start, so such a seed is refused up front, with the fix named.
func (r *Local) reachable(dir string) error {
	if r.hostUID < 0 || r.cfg.Backend == BackendUnsafeLocal {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s cannot be reached by the sandbox user (uid %d): %s is not searchable by others; run chmod o+x %s or set QLP_SANDBOX_GO_CACHE_SEED_DIR to another directory", dir, r.hostUID, d, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// seedDir is where seeds are kept: GoCacheSeedDir; else, as root,
// /var/cache/qlp (the sandbox uid must be able to traverse the path to the
// seed it binds, which root's home does not let it), or qlp's directory in
// the user's cache directory; else ("none", or no cache directory) the
// runtime directory, which lives as long as the process.
func (r *Local) seedDir() string {
	switch d := r.cfg.GoCacheSeedDir; d {
	case "none":
	case "":
		if os.Geteuid() == 0 {
			return "/var/cache/qlp/gocache-seed"
		}
		if c, err := os.UserCacheDir(); err == nil {
			return filepath.Join(c, "qlp", "gocache-seed")
		}
	default:
		return d
	}
	return filepath.Join(r.runtimeDir, "gocache-seeds")
}

// buildGoCacheSeed provides a Go build cache holding the standard library
// packages generated projects commonly use (an HTTP service with its
// httptest tests among them: compiling net/http took most of such a task's
// validation), built by compiling and testing a trivial
// module of our own (trusted code) with the host's go. Runs copy it into
// their own writable GOCACHE, so no run can change it. A seed is named by
// the digest of the go binary's version and the module, and kept in
// seedDir: a later process with the same go reuses it instead of building
// it again (it is built into a temporary directory and renamed into place,
// so processes starting together never see half a seed).
func (r *Local) buildGoCacheSeed(ctx context.Context) {
	lang := r.langs["go"]
	goBin := filepath.Join(lang.pathDirs[0], "go")
	files := map[string]string{
		"go.mod":       "module seed\n\ngo 1.21\n",
		"seed.go":      r.seedSource,
		"seed_test.go": "package seed\n\nimport \"testing\"\n\nfunc TestSeed(t *testing.T) {}\n",
		"cmd/main.go":  "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println() }\n",
	}
	version, err := exec.CommandContext(ctx, goBin, "version").Output()
	if err != nil {
		r.goSeedErr = fmt.Errorf("sandbox: seed go build cache: go version: %w", err)
		return
	}
	// staticcheck, when the host has it, analyses the seed module too:
	// its cache then holds the facts of the standard library packages.
	path := strings.Join(append(append([]string{}, lang.pathDirs...), basePath), ":")
	staticcheck := lookPathIn("staticcheck", path)
	var scVersion []byte
	if staticcheck != "" {
		if scVersion, err = exec.CommandContext(ctx, staticcheck, "-version").Output(); err != nil {
			staticcheck = ""
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "qlp go build-cache seed v3\n%s\n%s\n", version, scVersion)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(h, "%s\n%d\n%s", name, len(files[name]), files[name])
	}
	root := r.seedDir()
	if err := r.reachable(root); err != nil {
		r.goSeedErr = fmt.Errorf("sandbox: seed go build cache: %w", err)
		return
	}
	final := filepath.Join(root, hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(final, seedComplete)); err == nil {
		r.goSeed = final
		r.logger.Info("go build-cache seed reused", "dir", final)
		return
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		r.goSeedErr = fmt.Errorf("sandbox: seed go build cache: %w", err)
		return
	}
	work, err := os.MkdirTemp(root, "build-")
	if err != nil {
		r.goSeedErr = fmt.Errorf("sandbox: seed go build cache: %w", err)
		return
	}
	defer os.RemoveAll(work)
	start := time.Now()
	dir := filepath.Join(work, "cache")
	mod := filepath.Join(work, "src")
	for name, content := range files {
		p := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.goSeedErr = err
			return
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.goSeedErr = err
			return
		}
	}
	tmp := filepath.Join(mod, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		r.goSeedErr = err
		return
	}
	env := []string{"PATH=" + path, "STATICCHECK_CACHE=" + filepath.Join(dir, "staticcheck"),
		"HOME=" + mod, "GOCACHE=" + dir, "GOPATH=" + filepath.Join(mod, "gopath"), "GOTMPDIR=" + tmp}
	for k, v := range lang.env {
		if k != "GOCACHE" && k != "GOPATH" && k != "GOMODCACHE" && k != "STATICCHECK_CACHE" {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, "GOMODCACHE="+filepath.Join(mod, "gopath", "mod"))
	steps := [][]string{{goBin, "build", "./..."}, {goBin, "vet", "./..."}, {goBin, "test", "-json", "./..."}}
	if staticcheck != "" {
		steps = append(steps, []string{staticcheck, "./..."})
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir, cmd.Env = mod, env
		// Stopped by Close: go and the compilers it started, which must
		// be gone before Close removes the directory they write in.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			waitGroupGone(cmd.Process.Pid, 10*time.Second)
		}
		if err != nil {
			r.goSeedErr = fmt.Errorf("sandbox: seed go build cache (%s %s): %w: %s", filepath.Base(args[0]), strings.Join(args[1:], " "), err, lastLines(string(out), 5))
			return
		}
	}
	if err := installSeed(dir, final); err != nil {
		r.goSeedErr = fmt.Errorf("sandbox: seed go build cache: %w", err)
		return
	}
	r.goSeed = final
	r.logger.Info("go build-cache seed built", "dir", final, "duration", time.Since(start).Round(time.Millisecond))
}

// installSeed makes a built seed readable by the sandbox user, marks it
// complete and renames it to final. A seed is renamed into place only once
// complete, so one there without its mark was damaged: it is replaced.
// Another process may have renamed its seed into place first: the same
// build, so that one is kept.
func installSeed(dir, final string) error {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if d.IsDir() {
				mode = 0o755
			}
			_ = os.Chmod(p, mode)
		}
		return nil
	})
	if err := os.WriteFile(filepath.Join(dir, seedComplete), nil, 0o644); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(final, seedComplete)); err != nil {
		_ = os.RemoveAll(final)
	}
	if err := os.Rename(dir, final); err != nil {
		if _, serr := os.Stat(filepath.Join(final, seedComplete)); serr != nil {
			return err
		}
	}
	return nil
}

// lookPathIn finds an executable named name in the directories of path.
func lookPathIn(name, path string) string {
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// seedSource is the seed module's package: the standard library packages
// it imports are what the seed holds.
const seedSource = `package seed

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

var _ = []any{
	bufio.NewReader,
	bytes.NewReader,
	context.Background,
	crand.Read,
	sha256.Sum256,
	base64.StdEncoding,
	hex.EncodeToString,
	json.Marshal,
	errors.New,
	flag.Parse,
	fmt.Sprint,
	io.Copy,
	log.Print,
	slog.Info,
	rand.Intn,
	http.ListenAndServe,
	httptest.NewServer,
	url.Parse,
	os.Exit,
	signal.Notify,
	filepath.Join,
	regexp.MustCompile,
	sort.Ints,
	strconv.Itoa,
	strings.TrimSpace,
	sync.NewCond,
	time.Now,
	unicode.IsLetter,
}
`

// seedComplete marks a finished seed; a directory without it is ignored.
const seedComplete = "qlp-seed-complete"

// waitGroupGone waits until no process of process group pgid is left.
func waitGroupGone(pgid int, max time.Duration) {
	for deadline := time.Now().Add(max); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// capped collects a launcher's stderr up to a limit.
type capped struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.buf); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		c.buf = append(c.buf, p[:room]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(string(c.buf))
}

var errLaunch = errors.New("sandbox: the sandbox could not start")

var _ io.Writer = (*capped)(nil)
