package validation_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox/sandboxtest"
	"github.com/quantumlayer/qlp/internal/validation"
)

// TestHostileCodeUnderValidationCannotTouchTheHost validates projects
// whose tests, conftest and look-alike tool modules attack the host: the
// attacks fail inside the sandbox, the host's listener, files, mounts and
// processes are untouched, and runaway tests end at their limit.
func TestHostileCodeUnderValidationCannotTouchTheHost(t *testing.T) {
	sb, _ := sandboxed(t)
	cfg := validation.Defaults()
	cfg.TestTimeout = 4 * time.Second
	cfg.CacheEntries = 0
	mesh, err := validation.New(t.Context(), cfg, validation.Deps{Logger: logx.Discard(), Sandbox: sb})
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	const secret = "qlp-validation-secret-5d1e"
	t.Setenv("QLP_TEST_VALIDATION_SECRET", secret)
	home, _ := os.UserHomeDir()
	marker := "qlp-hostile-validation-" + strconv.Itoa(os.Getpid())
	homeFile := filepath.Join(home, "."+marker)
	if err := os.WriteFile(homeFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(homeFile)

	attacks := fmt.Sprintf(`import os, socket, subprocess


def test_attacks_fail():
    escaped = []
    try:
        socket.create_connection(("127.0.0.1", %d), timeout=2)
        escaped.append("tcp to the host")
    except OSError:
        pass
    for p in ["/etc/shadow", %q]:
        try:
            open(p).read()
            escaped.append("read " + p)
        except OSError:
            pass
    for p in ["/usr/qlp-x", "/etc/qlp-x", "/root/qlp-x", "/var/tmp/qlp-x", "/proc/sys/kernel/qlp-x"]:
        try:
            open(p, "w").write("x")
            escaped.append("write " + p)
        except OSError:
            pass
    open("/tmp/%s", "w").write("inside")
    if any(%q in v for v in os.environ.values()):
        escaped.append("environment secret")
    subprocess.Popen(["bash", "-c", "exec -a %s-daemon sleep 300"], start_new_session=True)
    assert not escaped, escaped
`, port, homeFile, marker, secret, marker)
	runaway := `import os


def test_spin():
    while True:
        pass


def test_fork_bomb():
    while True:
        try:
            os.fork()
        except OSError:
            pass
`
	tests := []struct {
		name   string
		files  []validation.File
		check  func(t *testing.T, r *validation.Report)
		bounds time.Duration
	}{
		{name: "attacks from tests and conftest", files: []validation.File{
			{Path: "app.py", Content: "def f() -> int:\n    return undefined_name\n"},
			{Path: "conftest.py", Content: strings.Replace(attacks, "def test_attacks_fail", "def _at_import", 1) + "\n\ntry:\n    _at_import()\nexcept AssertionError:\n    raise SystemExit('ESCAPED at import')\n"},
			{Path: "test_attacks.py", Content: attacks},
			// Look-alikes of the tools: with python3 -I the tools never
			// import the project's modules.
			{Path: "pyflakes/__init__.py", Content: ""},
			{Path: "pyflakes/__main__.py", Content: "print('no problems'); raise SystemExit(0)\n"},
		}, bounds: time.Minute, check: func(t *testing.T, r *validation.Report) {
			if c := r.Check("tests"); c == nil || c.Status != validation.StatusPassed || strings.Contains(c.Output, "ESCAPED") {
				t.Errorf("the attack tests did not all fail inside the sandbox: %+v", c)
			}
			if r.Tests == nil || r.Tests.Total != 1 || r.Tests.Passed != 1 {
				t.Errorf("tests = %+v, want the attack test run (and its attacks failed)", r.Tests)
			}
			if c := r.Check("pyflakes"); c == nil || c.Status != validation.StatusFailed {
				t.Errorf("a look-alike pyflakes module in the project silenced the real one: %+v", c)
			}
		}},
		{name: "runaway tests end at their limit", files: []validation.File{{Path: "test_runaway.py", Content: runaway}},
			bounds: time.Minute, check: func(t *testing.T, r *validation.Report) {
				c := r.Check("tests")
				if c == nil || c.Status != validation.StatusFailed || !strings.Contains(c.Reason, "did not finish") {
					t.Errorf("tests = %+v, want failed: did not finish", c)
				}
				if r.ConfidenceScore != 0 {
					t.Errorf("confidence %v, want 0 (tests gate it)", r.ConfidenceScore)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := sandboxtest.Snapshot(t)
			start := time.Now()
			r, err := mesh.Validate(t.Context(), validation.Request{Language: "python", Files: tc.files, Quick: true})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > tc.bounds {
				t.Errorf("validation took %v, over %v", d, tc.bounds)
			}
			tc.check(t, r)
			for _, c := range r.Checks {
				if strings.Contains(c.Output, secret) {
					t.Errorf("%s output holds the host's secret", c.Name)
				}
			}
			after := sandboxtest.Snapshot(t)
			if strings.Join(before.Mounts, "\n") != strings.Join(after.Mounts, "\n") {
				t.Errorf("host mounts changed:\nbefore %v\nafter  %v", before.Mounts, after.Mounts)
			}
			if _, err := os.Stat(filepath.Join(os.TempDir(), marker)); err == nil {
				os.Remove(filepath.Join(os.TempDir(), marker))
				t.Error("a file the tests wrote to /tmp appeared in the host's /tmp")
			}
			for _, p := range sandboxtest.SandboxProcs() {
				if strings.Contains(p, marker) {
					t.Errorf("a process started by the tests outlived the validation: %s", p)
				}
			}
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the host listener accepted %d connections from validated code", n)
	}
}
