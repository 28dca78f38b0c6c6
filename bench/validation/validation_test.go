// Package validation_test measures the Validation Mesh end to end on a
// 20-file Go project and a 20-file Python project — every check, each
// tool in the sandbox, no cached result — against running the same tool
// commands directly on the host in the same run (same batches, same
// parallelism, the same kind of caches: a Go build cache holding the
// standard library, the sandbox's mypy cache seed, every other tool cache
// empty), and the repeated
// validation of the unchanged project served from the cache, and a repeat
// with one file changed (what re-runs, and its time against the full
// validation's). Rounds alternate which of host and mesh runs first.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/validation/
//	go test -run '^$' -bench . -benchtime 1x ./bench/validation/ -validation.lang python
package validation_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/validation"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// rounds is even: half of them run the host first, half the mesh.
const rounds = 4

// median is the middle value, or the mean of the two middle values.
func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
}

// goProject is a module of 4 packages × (4 files + 1 test file).
func goProject() []validation.File {
	files := []validation.File{{Path: "go.mod", Content: "module example.com/bench\n\ngo 1.22\n"}}
	for p := range 4 {
		pkg := fmt.Sprintf("pkg%d", p)
		for f := range 4 {
			files = append(files, validation.File{Path: fmt.Sprintf("%s/f%d.go", pkg, f), Content: fmt.Sprintf(`// Package %[1]s is generated for the benchmark.
package %[1]s

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrEmpty%[2]d is returned for empty input.
var ErrEmpty%[2]d = errors.New("%[1]s: empty input")

// Sum%[2]d adds the integers in a comma-separated list.
func Sum%[2]d(list string) (int, error) {
	if strings.TrimSpace(list) == "" {
		return 0, ErrEmpty%[2]d
	}
	total := 0
	for _, part := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return 0, fmt.Errorf("%[1]s: %%q: %%w", part, err)
		}
		total += n
	}
	return total, nil
}

// Sorted%[2]d returns the words of s, sorted.
func Sorted%[2]d(s string) []string {
	words := strings.Fields(s)
	sort.Strings(words)
	return words
}
`, pkg, f)})
		}
		files = append(files, validation.File{Path: fmt.Sprintf("%s/f_test.go", pkg), Content: fmt.Sprintf(`package %s

import "testing"

func TestSum(t *testing.T) {
	for _, f := range []func(string) (int, error){Sum0, Sum1, Sum2, Sum3} {
		if n, err := f("1, 2, 3"); err != nil || n != 6 {
			t.Errorf("got %%d, %%v", n, err)
		}
	}
}

func TestSorted(t *testing.T) {
	if got := Sorted0("b a c"); len(got) != 3 || got[0] != "a" {
		t.Errorf("got %%v", got)
	}
}
`, pkg)})
	}
	files = append(files, validation.File{Path: "main.go", Content: `// Command bench adds numbers.
package main

import (
	"fmt"
	"os"

	"example.com/bench/pkg0"
)

func main() {
	n, err := pkg0.Sum0(os.Args[len(os.Args)-1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(n)
}
`})
	return files[:20]
}

// pythonProject is 10 modules and 10 test modules.
func pythonProject() []validation.File {
	var files []validation.File
	for i := range 10 {
		files = append(files, validation.File{Path: fmt.Sprintf("mod%d.py", i), Content: fmt.Sprintf(`"""Generated module %[1]d."""


def total%[1]d(items: list[str]) -> int:
    """Return the sum of the integers in items."""
    result = 0
    for item in items:
        result += int(item.strip())
    return result


def words%[1]d(text: str) -> list[str]:
    """Return the words of text, sorted."""
    return sorted(text.split())
`, i)})
		files = append(files, validation.File{Path: fmt.Sprintf("test_mod%d.py", i), Content: fmt.Sprintf(`from mod%[1]d import total%[1]d, words%[1]d


def test_total() -> None:
    assert total%[1]d(["1", " 2", "3 "]) == 6


def test_words() -> None:
    assert words%[1]d("b a c") == ["a", "b", "c"]
`, i)})
	}
	return files
}

// changed is files with one replacement made in the named file.
func changed(files []validation.File, path, old, repl string) []validation.File {
	out := make([]validation.File, len(files))
	copy(out, files)
	for i, f := range out {
		if f.Path == path {
			if !strings.Contains(f.Content, old) {
				panic("bench: " + path + " does not contain " + old)
			}
			out[i].Content = strings.Replace(f.Content, old, repl, 1)
		}
	}
	return out
}

// host runs the specs' commands directly on the host: one goroutine per
// spec (the mesh's MaxParallel is 2 and there are 2 specs), commands in
// order in a fresh directory with fresh tool caches.
type host struct {
	goroot string
	goSeed string // a Go build cache holding the standard library
	// mypySeed is a mypy cache holding the standard library's stubs ("":
	// the sandbox has none).
	mypySeed string
	tmpRoot  string
}

// onlyLang measures one project: -validation.lang go or python.
var onlyLang = flag.String("validation.lang", "", "measure only this language's project (go or python)")

func (h *host) run(specs []sandbox.Spec) error {
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.runSpec(spec)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *host) runSpec(spec sandbox.Spec) error {
	root, err := os.MkdirTemp(h.tmpRoot, "run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	work := filepath.Join(root, "work")
	for _, f := range spec.Files {
		p := filepath.Join(work, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return err
		}
	}
	gocache := filepath.Join(root, "gocache")
	if spec.Language == "go" {
		if out, err := exec.Command("cp", "-a", h.goSeed, gocache).CombinedOutput(); err != nil {
			return fmt.Errorf("copy go cache: %v: %s", err, out)
		}
	}
	mypycache := filepath.Join(root, "mypycache")
	if spec.Language == "python" && h.mypySeed != "" {
		if out, err := exec.Command("cp", "-a", h.mypySeed, mypycache).CombinedOutput(); err != nil {
			return fmt.Errorf("copy mypy cache: %v: %s", err, out)
		}
	}
	env := []string{"PATH=" + filepath.Join(h.goroot, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + filepath.Join(root, "home"), "TMPDIR=" + root, "LANG=C.UTF-8", "GOCACHE=" + gocache, "STATICCHECK_CACHE=" + filepath.Join(gocache, "staticcheck"), "GOFLAGS=-mod=mod",
		"GOPROXY=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOTELEMETRY=off", "PYTHONDONTWRITEBYTECODE=1", "MYPY_CACHE_DIR=" + mypycache}
	dirs := append([]string{filepath.Join(h.goroot, "bin")}, strings.Split("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ":")...)
	for _, c := range spec.Commands {
		// The program as the sandbox finds it (Debian's python3, not a
		// pyenv one first on this process's PATH).
		prog := c.Args[0]
		for _, d := range dirs {
			if fi, err := os.Stat(filepath.Join(d, prog)); err == nil && !fi.IsDir() {
				prog = filepath.Join(d, prog)
				break
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.Timeout.D())
		cmd := exec.CommandContext(ctx, prog, c.Args[1:]...)
		cmd.Dir, cmd.Env = work, env
		t0 := time.Now()
		out, err := cmd.CombinedOutput() // findings exit non-zero; only the time counts…
		if os.Getenv("QLP_BENCH_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "host %-12s %6.2fs\n", c.Name, time.Since(t0).Seconds())
		}
		cancel()
		// …but a tool that did not run would make the baseline a lie.
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() == 127) || strings.Contains(string(out), "No module named") {
			return fmt.Errorf("host baseline: %s: %v: %.300s", c.Name, err, out)
		}
	}
	return nil
}

func BenchmarkValidation(b *testing.B) {
	ctx := context.Background()
	// The sandbox's settings from the environment (QLP_SANDBOX_*), e.g.
	// QLP_SANDBOX_MYPY_CACHE_SEED=false to measure without the mypy seed.
	cfg := sandbox.Defaults()
	if err := settings.Apply(cfg.Settings(), settings.Source{Environ: os.LookupEnv}); err != nil {
		b.Fatal(err)
	}
	sb, err := sandbox.New(ctx, cfg, sandbox.Deps{Logger: logx.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Fatal(err)
	}
	// The host's runs work in memory when the machine has a tmpfs, as the
	// sandbox's do: copying the 110 MB seed to disk and removing it again
	// would otherwise be most of the baseline's time.
	h := &host{goroot: strings.TrimSpace(string(goroot))}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "qlp-bench-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(d)
		h.tmpRoot = d
	} else {
		h.tmpRoot = b.TempDir()
	}
	// The host starts from the same caches as a sandboxed run: the
	// sandbox's Go build-cache seed (the standard library built, and
	// staticcheck's analysis of it), copied per run.
	if h.goSeed, err = sb.GoCacheSeed(ctx); err != nil {
		b.Fatal(err)
	}
	// And mypy's cache of the standard library, when the sandbox seeds it.
	if h.mypySeed, err = sb.MypyCacheSeed(ctx); err != nil {
		b.Fatal(err)
	}
	projects := []struct {
		name, lang string
		files      []validation.File
		cmds       validation.Commands
		// change edits one file (a comment or docstring, in a package or
		// module nothing imports) differently in each round.
		change func(files []validation.File, round int) []validation.File
	}{
		{"go (20 files)", "go", goProject(), validation.Commands{Build: "go build ./...", Test: "go test ./...", Run: "go run ."},
			func(files []validation.File, round int) []validation.File {
				return changed(files, "pkg3/f1.go", "for the benchmark.", fmt.Sprintf("for the benchmark, change %d.", round))
			}},
		{"python (20 files)", "python", pythonProject(), validation.Commands{Test: "python3 -m pytest -q"},
			func(files []validation.File, round int) []validation.File {
				return changed(files, "mod3.py", `"""Generated module`, fmt.Sprintf(`"""Generated (change %d) module`, round))
			}},
	}
	for range b.N {
		for _, p := range projects {
			if *onlyLang != "" && p.lang != *onlyLang {
				continue
			}
			req := validation.Request{Language: p.lang, Files: p.files, Commands: p.cmds}
			var meshT, hostT []time.Duration
			var last *validation.Report
			var mesh *validation.Mesh
			// Round -1 warms up and is not counted: the sandbox's Go
			// build-cache seed (built at the first Go run), the tools'
			// files in the page cache, on both sides.
			for round := -1; round < rounds; round++ {
				// A fresh mesh each round: nothing comes from its cache.
				mesh, err = validation.New(ctx, validation.Defaults(), validation.Deps{Logger: logx.Discard(), Sandbox: sb})
				if err != nil {
					b.Fatal(err)
				}
				specs, err := mesh.Plan(req)
				if err != nil {
					b.Fatal(err)
				}
				runHost := func() {
					start := time.Now()
					if err := h.run(specs); err != nil {
						b.Fatal(err)
					}
					hostT = append(hostT, time.Since(start))
				}
				runMesh := func() {
					start := time.Now()
					if last, err = mesh.Validate(ctx, req); err != nil {
						b.Fatal(err)
					}
					meshT = append(meshT, time.Since(start))
				}
				// The order alternates: whichever runs second finds the
				// page cache warm with the project's tools and libraries.
				if round%2 == 0 {
					runHost()
					runMesh()
				} else {
					runMesh()
					runHost()
				}
				if round < 0 {
					hostT, meshT = nil, nil
				}
			}
			if last.OverallStatus == validation.StatusFailed {
				b.Fatalf("%s: the benchmark project failed validation: %s", p.name, last.Summary)
			}
			var cached []time.Duration
			for range 20 {
				start := time.Now()
				r, err := mesh.Validate(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				cached = append(cached, time.Since(start))
				for _, c := range r.Checks {
					if c.Status != validation.StatusSkipped && !c.Cached {
						b.Fatalf("%s: %s not served from the cache", p.name, c.Name)
					}
				}
			}
			// A repeat with one file changed, on the mesh whose cache holds
			// the previous version: only the checks (and packages or
			// files) that read it run again.
			var changedT []time.Duration
			var rerun []string
			for round := range rounds {
				creq := req
				creq.Files = p.change(p.files, round)
				start := time.Now()
				r, err := mesh.Validate(ctx, creq)
				if err != nil {
					b.Fatal(err)
				}
				changedT = append(changedT, time.Since(start))
				if r.OverallStatus == validation.StatusFailed {
					b.Fatalf("%s: the changed project failed validation: %s", p.name, r.Summary)
				}
				rerun = rerun[:0]
				for _, c := range r.Checks {
					switch {
					case c.Status == validation.StatusSkipped || c.Cached:
					case c.Reused != nil:
						rerun = append(rerun, fmt.Sprintf("%s %d/%d", c.Name, c.Reused.Units-c.Reused.Reused, c.Reused.Units))
					default:
						rerun = append(rerun, c.Name)
					}
				}
			}
			hm, mm, cm := median(hostT), median(meshT), median(cached)
			chm := median(changedT)
			b.Logf("%-18s one file changed %7.2f s = %.2f of the full validation   re-ran: %s", p.name, chm.Seconds(), float64(chm)/float64(mm), strings.Join(rerun, ", "))
			b.ReportMetric(float64(chm)/float64(mm), strings.Fields(p.name)[0]+"-changed-ratio")
			var ran []string
			for _, c := range last.Checks {
				if c.Status != validation.StatusSkipped {
					ran = append(ran, c.Name)
				}
				if c.Name == "mypy" {
					b.Logf("%-18s mypy in the sandbox (last round) %d ms", p.name, c.DurationMS)
				}
			}
			b.Logf("%-18s host %7.2f s   mesh %7.2f s   ratio %.2f   cached repeat %6.2f ms   (%s; %d checks: %s)",
				p.name, hm.Seconds(), mm.Seconds(), float64(mm)/float64(hm), float64(cm.Microseconds())/1000, last.OverallStatus, len(ran), strings.Join(ran, ","))
			b.ReportMetric(float64(mm)/float64(hm), strings.Fields(p.name)[0]+"-ratio")
			b.ReportMetric(float64(cm.Microseconds())/1000, strings.Fields(p.name)[0]+"-cached-ms")
		}
	}
}
