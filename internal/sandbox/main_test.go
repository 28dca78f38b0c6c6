package sandbox_test

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
)

// TestMain lets the test binary act as the sandbox helper, as the qlp
// binary does with its hidden `sandbox-exec` command.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	code := m.Run()
	runners.Range(func(_, v any) bool {
		if r, ok := v.(*testRunner); ok {
			_ = r.Close()
			r.warm.Wait()
			_ = os.RemoveAll(r.runtimeDir)
		}
		return true
	})
	os.Exit(code)
}

// runners holds one testRunner per backend for the whole test binary:
// detecting the languages of the host takes a second, so tests share them.
var (
	runners  sync.Map
	runnerMu sync.Mutex
)

// testRunner is a backend's shared Local and what identifies its runs on
// this host, which other test binaries and services share: its own
// runtime directory and, as root, a sandbox uid of its own.
type testRunner struct {
	*sandbox.Local
	backend    string
	runtimeDir string
	uid        int // -1: not root, sandboxed processes run as our own uid
	warm       sync.WaitGroup
}

// testUID is a host uid for the sandboxed processes of this test binary's
// runner of backend i: no other process on the machine runs as it, so the
// tests can tell their leftovers from those of anything else running here.
func testUID(i int) int { return 1_000_000_000 + os.Getpid()*4 + i }

// requireServices is set by `make test` / CI: a missing isolation tool is
// then a failure, never a silent skip.
func requireServices() bool { return os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" }

func testConfig(backend string) sandbox.Config {
	cfg := sandbox.Defaults()
	cfg.Backend = backend
	cfg.AllowUnsafe = backend == sandbox.BackendUnsafeLocal
	return cfg
}

// backendAvailable skips (or, with QLP_TEST_REQUIRE_SERVICES=1, fails) when
// the backend's tool is missing here.
func backendAvailable(t testing.TB, backend string) {
	t.Helper()
	var tool string
	switch backend {
	case sandbox.BackendBwrap:
		tool = "bwrap"
	case sandbox.BackendGVisor:
		tool = "runsc"
		if os.Geteuid() != 0 {
			if requireServices() {
				t.Fatal("the gvisor backend needs root (QLP_TEST_REQUIRE_SERVICES=1): run make test as root, as CI does")
			}
			t.Skip("gvisor backend needs root on this machine")
		}
	default:
		return
	}
	if _, err := exec.LookPath(tool); err != nil {
		if requireServices() {
			t.Fatalf("%s is not installed (run scripts/install-deps.sh test): %v", tool, err)
		}
		t.Skipf("%s is not installed; skipping the %s backend", tool, backend)
	}
}

func runnerFor(t testing.TB, backend string) *testRunner {
	t.Helper()
	backendAvailable(t, backend)
	runnerMu.Lock()
	defer runnerMu.Unlock()
	if r, ok := runners.Load(backend); ok {
		return r.(*testRunner)
	}
	cfg := testConfig(backend)
	dir, err := os.MkdirTemp("", "qlp-sandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeDir = dir
	uid := -1
	if os.Geteuid() == 0 {
		for i, b := range allBackends {
			if b == backend {
				uid = testUID(i)
			}
		}
		cfg.SandboxUID = uid
	}
	l, err := sandbox.NewLocal(context.Background(), cfg, logx.Discard())
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("NewLocal(%s): %v", backend, err)
	}
	r := &testRunner{Local: l, backend: backend, runtimeDir: dir, uid: uid}
	if backend == sandbox.BackendBwrap {
		// TestLanguages' Go runs need the runner's Go build-cache seed,
		// which takes half a minute of compiling: start it now, while the
		// other suites mostly wait on sandboxes. Close stops it.
		r.warm.Add(1)
		go func() {
			defer r.warm.Done()
			_ = l.Prepare(context.Background(), sandbox.Spec{Language: "go", Files: files("main.go", "package main\n\nfunc main() {}\n")})
		}()
	}
	runners.Store(backend, r)
	return r
}

var allBackends = []string{sandbox.BackendBwrap, sandbox.BackendGVisor, sandbox.BackendUnsafeLocal}

func files(kv ...string) []sandbox.File {
	var out []sandbox.File
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, sandbox.File{Path: kv[i], Content: []byte(kv[i+1])})
	}
	return out
}
