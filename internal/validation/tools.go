package validation

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// A tool is a program a check runs inside the sandbox. Tools are found
// and their versions read once, on the host, when the mesh starts (the
// tool's own --version; no project code is involved). Only programs the
// sandbox can see are used: those in the system directories it binds
// read-only and the Go toolchain it binds.
type toolSpec struct {
	name string
	bin  string   // executable, looked up on the sandbox's PATH
	mod  string   // python module run as `python3 -I -m mod` (bin is python3)
	args []string // version arguments
}

var toolSpecs = []toolSpec{
	{name: "go", bin: "go", args: []string{"env", "GOVERSION"}},
	{name: "gofmt", bin: "gofmt"},
	{name: "staticcheck", bin: "staticcheck", args: []string{"-version"}},
	{name: "gosec", bin: "gosec", args: []string{"-version"}},
	{name: "python3", bin: "python3", args: []string{"--version"}},
	{name: "pyflakes", bin: "python3", mod: "pyflakes", args: []string{"--version"}},
	{name: "flake8", bin: "python3", mod: "flake8", args: []string{"--version"}},
	{name: "black", bin: "python3", mod: "black", args: []string{"--version"}},
	{name: "mypy", bin: "python3", mod: "mypy", args: []string{"--version"}},
	{name: "bandit", bin: "python3", mod: "bandit", args: []string{"--version"}},
	{name: "pytest", bin: "python3", mod: "pytest", args: []string{"--version"}},
	{name: "node", bin: "node", args: []string{"--version"}},
	{name: "tsc", bin: "tsc", args: []string{"--version"}},
	{name: "eslint", bin: "eslint", args: []string{"--version"}},
	{name: "bash", bin: "bash", args: []string{"--version"}},
	{name: "shellcheck", bin: "shellcheck", args: []string{"--version"}},
	{name: "javac", bin: "javac", args: []string{"-version"}},
	{name: "rustc", bin: "rustc", args: []string{"--version"}},
}

// toolInfo is what was found for a tool.
type toolInfo struct {
	Name    string
	Path    string
	Version string
	Err     string // why it is not available
}

func (t toolInfo) ok() bool { return t.Err == "" }

// sandboxPath is the sandbox's PATH before toolchain directories (see
// internal/sandbox).
var sandboxPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

var versionRe = regexp.MustCompile(`\d+\.\d+(?:\.\d+)?`)

// detectTools finds every tool and its version, in parallel.
func detectTools(ctx context.Context) map[string]toolInfo {
	dirs := append([]string(nil), sandboxPath...)
	// The sandbox binds the host's Go and Rust toolchains wherever they
	// are; look for go, gofmt and rustc where the host finds them.
	if gp, err := exec.LookPath("go"); err == nil {
		if out, err := run(ctx, gp, "env", "GOROOT"); err == nil && strings.TrimSpace(out) != "" {
			dirs = append([]string{filepath.Join(strings.TrimSpace(out), "bin")}, dirs...)
		}
	}
	out := map[string]toolInfo{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, spec := range toolSpecs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ti := probeTool(ctx, spec, dirs)
			mu.Lock()
			out[spec.name] = ti
			mu.Unlock()
		}()
	}
	wg.Wait()
	if g, ok := out["gofmt"]; ok && g.ok() {
		g.Version = out["go"].Version
		out["gofmt"] = g
	}
	return out
}

func probeTool(ctx context.Context, spec toolSpec, dirs []string) toolInfo {
	ti := toolInfo{Name: spec.name}
	p := lookIn(spec.bin, dirs)
	if p == "" && (spec.bin == "rustc" || spec.bin == "javac") {
		if lp, err := exec.LookPath(spec.bin); err == nil {
			p = lp // the sandbox binds these toolchains where they are
		}
	}
	if p == "" {
		ti.Err = spec.name + " not installed"
		return ti
	}
	ti.Path = p
	if spec.args == nil {
		return ti
	}
	args := spec.args
	if spec.mod != "" {
		args = append([]string{"-I", "-m", spec.mod}, args...)
	}
	out, err := run(ctx, p, args...)
	v := versionRe.FindString(out)
	if err == nil && v == "" {
		// A tool built with `go install` may call itself "dev"; its
		// module version is in the binary.
		if bi, err := run(ctx, "go", "version", "-m", p); err == nil {
			for _, l := range strings.Split(bi, "\n") {
				if f := strings.Fields(l); len(f) >= 3 && f[0] == "mod" {
					v = strings.TrimPrefix(f[2], "v")
				}
			}
		}
	}
	if err != nil || v == "" {
		ti.Err = spec.name + " not installed"
		return ti
	}
	ti.Version = v
	return ti
}

func lookIn(bin string, dirs []string) string {
	for _, d := range dirs {
		p := filepath.Join(d, bin)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
