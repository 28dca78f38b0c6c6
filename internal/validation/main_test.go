package validation_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
	"github.com/quantumlayer/qlp/internal/validation"
)

// TestMain lets the test binary act as the sandbox helper, as the qlp
// binary does with its hidden `sandbox-exec` command.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	code := m.Run()
	if shared.sb != nil {
		_ = shared.sb.Close()
	}
	os.Exit(code)
}

// requireServices is set by `make test` / CI: a missing tool or sandbox
// is then a failure, never a silent skip.
func requireServices() bool { return os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" }

// shared is one sandbox and one mesh for the whole test binary: detecting
// the host's languages and tools takes a second or two.
var shared struct {
	once sync.Once
	sb   *sandbox.Service
	mesh *validation.Mesh
	err  error
}

// sandboxed returns the shared sandbox service and mesh (bwrap backend),
// skipping — or failing under QLP_TEST_REQUIRE_SERVICES=1 — when bwrap is
// missing.
func sandboxed(t testing.TB) (*sandbox.Service, *validation.Mesh) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if requireServices() {
			t.Fatalf("bwrap is not installed (run scripts/install-deps.sh test): %v", err)
		}
		t.Skip("bwrap is not installed; the validation tests need the sandbox")
	}
	shared.once.Do(func() {
		ctx := context.Background()
		cfg := sandbox.Defaults()
		cfg.MaxConcurrent, cfg.PerTenant = 4, 4 // the tests are one tenant
		shared.sb, shared.err = sandbox.New(ctx, cfg, sandbox.Deps{Logger: logx.Discard()})
		if shared.err != nil {
			return
		}
		shared.mesh, shared.err = validation.New(ctx, validation.Defaults(), validation.Deps{Logger: logx.Discard(), Sandbox: shared.sb})
	})
	if shared.err != nil {
		t.Fatalf("start sandbox and mesh: %v", shared.err)
	}
	return shared.sb, shared.mesh
}

// requireTools skips (or, with QLP_TEST_REQUIRE_SERVICES=1, fails) when a
// tool the language's checks need is not installed here.
func requireTools(t testing.TB, m *validation.Mesh, lang string) {
	t.Helper()
	resp, err := m.Validators(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range resp.Validators {
		if v.Available || !slices.Contains(v.Languages, lang) {
			continue
		}
		if requireServices() {
			t.Fatalf("%s: %s (run scripts/install-deps.sh test)", v.Name, v.Reason)
		}
		t.Skipf("%s: %s; run scripts/install-deps.sh test", v.Name, v.Reason)
	}
}
