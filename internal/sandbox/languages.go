package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Language is a language this host can run, as GET /languages reports it.
type Language struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Tools are the programs found for it, with their versions, e.g.
	// {"python3": "3.11.2", "pytest": "7.2.1"}.
	Tools      map[string]string `json:"tools"`
	Extensions []string          `json:"extensions"`
	Entrypoint string            `json:"entrypoint"` // default main file
	// Defaults are the commands used when a spec gives none, by mode, for
	// a project whose only file is the default entry point.
	Defaults map[string][]Command `json:"defaults"`

	binds    []string          // host directories bound read-only at the same path
	pathDirs []string          // directories put first on PATH
	env      map[string]string // added to every command's environment
	// commands returns the default commands for a spec and mode.
	commands func(s *Spec, mode string, lim Limits) ([]Command, error)
}

// systemDirs are bound into every sandbox; toolchains under them need no
// extra bind.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}

func underSystem(p string) bool {
	for _, d := range systemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// basePath is the PATH inside the sandbox before toolchain directories.
const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// probe runs a version command on the host with a timeout and returns its
// combined output.
func probe(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=", "JAVA_TOOL_OPTIONS=")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

func realDir(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return filepath.Dir(p)
}

// detectLanguages finds the toolchains installed on this host. goModCache
// is Config.GoModCache.
func detectLanguages(ctx context.Context, goModCache string) map[string]*Language {
	detectors := []func(context.Context) *Language{
		detectPython, detectJavaScript, detectTypeScript, func(ctx context.Context) *Language { return detectGo(ctx, goModCache) },
		detectBash, detectJava, detectRust,
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]*Language{}
	for _, d := range detectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l := d(ctx); l != nil {
				mu.Lock()
				out[l.Name] = l
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, l := range out {
		l.Defaults = map[string][]Command{}
		s := &Spec{Language: l.Name, Files: []File{{Path: l.Entrypoint}}}
		for _, mode := range []string{"build", "run", "test"} {
			if cmds, err := l.commands(s, mode, Defaults().DefaultLimits); err == nil {
				l.Defaults[mode] = cmds
			}
		}
	}
	return out
}

func detectPython(ctx context.Context) *Language {
	// Debian's interpreter carries the apt-installed packages (pytest);
	// a pyenv python3 may come first on PATH without them.
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	const script = "import sys; print(sys.version.split()[0]); print(sys.executable); print(sys.base_prefix)\ntry:\n import pytest; print(pytest.__version__)\nexcept Exception: print('')"
	var best *Language
	for _, c := range cands {
		out, err := probe(ctx, c, "-c", script)
		lines := strings.Split(out, "\n")
		if err != nil || len(lines) < 3 {
			continue
		}
		l := &Language{Name: "python", Version: lines[0], Extensions: []string{".py"}, Entrypoint: "main.py",
			Tools: map[string]string{"python3": lines[0]},
			// mypy's cache is the run's own (seeded, see buildMypySeed),
			// outside the project: never a .mypy_cache among its files. The
			// variable overrides a cache_dir of the project's configuration.
			env: map[string]string{"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "MYPY_CACHE_DIR": "/sandbox/mypycache"}}
		exe := strings.TrimSpace(lines[1])
		if dir := realDir(exe); !underSystem(dir) {
			l.binds = append(l.binds, strings.TrimSpace(lines[2]))
			l.pathDirs = append(l.pathDirs, dir)
		}
		if len(lines) > 3 && strings.TrimSpace(lines[3]) != "" {
			l.Tools["pytest"] = strings.TrimSpace(lines[3])
		}
		l.commands = pythonCommands(l)
		if l.Tools["pytest"] != "" {
			return l
		}
		if best == nil {
			best = l
		}
	}
	return best
}

func pythonCommands(l *Language) func(*Spec, string, Limits) ([]Command, error) {
	return func(s *Spec, mode string, _ Limits) ([]Command, error) {
		switch mode {
		case "build":
			return []Command{{Name: "build", Args: []string{"python3", "-m", "compileall", "-q", "."}}}, nil
		case "test":
			if l.Tools["pytest"] == "" {
				return nil, fmt.Errorf("pytest is not installed for this host's python3")
			}
			return []Command{{Name: "test", Args: []string{"python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=report.xml"}}}, nil
		}
		return []Command{{Name: "run", Args: []string{"python3", entry(s, l)}}}, nil
	}
}

func entry(s *Spec, l *Language) string {
	if s.Entrypoint != "" {
		return s.Entrypoint
	}
	return l.Entrypoint
}

// nodeGlobalDirs hold globally installed Node packages; NODE_PATH points
// at them so that a project can require what the host has installed.
var nodeGlobalDirs = []string{"/usr/share/nodejs", "/usr/lib/nodejs", "/usr/lib/node_modules", "/usr/local/lib/node_modules"}

func nodePath() string {
	var dirs []string
	for _, d := range nodeGlobalDirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return strings.Join(dirs, ":")
}

func detectNode(ctx context.Context) (string, string, bool) {
	p, err := exec.LookPath("node")
	if err != nil {
		return "", "", false
	}
	out, err := probe(ctx, p, "--version")
	if err != nil {
		return "", "", false
	}
	return p, strings.TrimPrefix(firstLine(out), "v"), true
}

func detectJavaScript(ctx context.Context) *Language {
	p, v, ok := detectNode(ctx)
	if !ok {
		return nil
	}
	l := &Language{Name: "javascript", Version: v, Extensions: []string{".js", ".mjs", ".cjs"}, Entrypoint: "main.js",
		Tools: map[string]string{"node": v}, env: map[string]string{"NODE_PATH": nodePath()}}
	if dir := realDir(p); !underSystem(dir) {
		l.binds, l.pathDirs = append(l.binds, filepath.Dir(dir)), append(l.pathDirs, dir)
	}
	l.commands = func(s *Spec, mode string, _ Limits) ([]Command, error) {
		switch mode {
		case "build":
			return []Command{{Name: "build", Args: []string{"node", "--check", entry(s, l)}}}, nil
		case "test":
			return []Command{{Name: "test", Args: []string{"node", "--test"}}}, nil
		}
		return []Command{{Name: "run", Args: []string{"node", entry(s, l)}}}, nil
	}
	return l
}

func detectTypeScript(ctx context.Context) *Language {
	np, nv, ok := detectNode(ctx)
	if !ok {
		return nil
	}
	tp, err := exec.LookPath("tsc")
	if err != nil {
		return nil
	}
	out, err := probe(ctx, tp, "--version")
	if err != nil {
		return nil
	}
	tv := strings.TrimPrefix(firstLine(out), "Version ")
	l := &Language{Name: "typescript", Version: tv, Extensions: []string{".ts"}, Entrypoint: "main.ts",
		Tools: map[string]string{"node": nv, "tsc": tv}, env: map[string]string{"NODE_PATH": nodePath()}}
	for _, p := range []string{np, tp} {
		if dir := realDir(p); !underSystem(dir) {
			l.binds, l.pathDirs = append(l.binds, filepath.Dir(dir)), append(l.pathDirs, dir)
		}
	}
	l.commands = func(s *Spec, mode string, _ Limits) ([]Command, error) {
		build := Command{Name: "build", Args: []string{"tsc", "-p", "."}}
		if !hasFile(s, "tsconfig.json") {
			build.Args = append([]string{"tsc", "--outDir", "dist", "--module", "commonjs", "--target", "es2020", "--strict"},
				filesWithExt(s, ".ts")...)
		}
		switch mode {
		case "build":
			return []Command{build}, nil
		case "test":
			return []Command{build, {Name: "test", Args: []string{"node", "--test", "dist/"}}}, nil
		}
		js := "dist/" + strings.TrimSuffix(entry(s, l), ".ts") + ".js"
		return []Command{build, {Name: "run", Args: []string{"node", js}}}, nil
	}
	return l
}

func detectGo(ctx context.Context, modCache string) *Language {
	p, err := exec.LookPath("go")
	if err != nil {
		return nil
	}
	out, err := probe(ctx, p, "env", "GOVERSION", "GOROOT", "GOMODCACHE")
	lines := strings.Split(out, "\n")
	if err != nil || len(lines) < 3 {
		return nil
	}
	v := strings.TrimPrefix(lines[0], "go")
	l := &Language{Name: "go", Version: v, Extensions: []string{".go"}, Entrypoint: "main.go",
		Tools: map[string]string{"go": v}}
	goroot := lines[1]
	if !underSystem(goroot) {
		l.binds = append(l.binds, goroot)
	}
	l.pathDirs = append(l.pathDirs, filepath.Join(goroot, "bin"))
	l.env = map[string]string{
		"GOROOT": goroot, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOSUMDB": "off", "GOTOOLCHAIN": "local",
		"GOTELEMETRY": "off", "CGO_ENABLED": "0", "GOPATH": "/sandbox/home/go",
		"GOCACHE": "/sandbox/gocache", "GOMODCACHE": "/sandbox/home/go/pkg/mod",
		// staticcheck's analysis cache lives in the build cache's
		// directory, so that the seed (see buildGoCacheSeed) brings the
		// standard library's facts with it: 5 s of analysis otherwise.
		"STATICCHECK_CACHE": "/sandbox/gocache/staticcheck",
	}
	switch {
	case modCache == "none":
	case modCache != "":
		l.binds = append(l.binds, modCache)
		l.env["GOMODCACHE"] = modCache
	case lines[2] != "":
		if fi, err := os.Stat(lines[2]); err == nil && fi.IsDir() {
			l.binds = append(l.binds, lines[2])
			l.env["GOMODCACHE"] = lines[2]
		}
	}
	l.commands = func(s *Spec, mode string, _ Limits) ([]Command, error) {
		if hasFile(s, "go.mod") {
			switch mode {
			case "build":
				return []Command{{Name: "build", Args: []string{"go", "build", "./..."}}}, nil
			case "test":
				return []Command{{Name: "test", Args: []string{"go", "test", "-json", "./..."}}}, nil
			}
			return []Command{{Name: "run", Args: []string{"go", "run", "."}}}, nil
		}
		switch mode {
		case "build":
			return []Command{{Name: "build", Args: []string{"go", "build", "-o", "main", entry(s, l)}}}, nil
		case "test":
			return []Command{{Name: "test", Args: append([]string{"go", "test", "-json"}, filesWithExt(s, ".go")...)}}, nil
		}
		return []Command{{Name: "run", Args: []string{"go", "run", entry(s, l)}}}, nil
	}
	return l
}

func detectBash(ctx context.Context) *Language {
	p, err := exec.LookPath("bash")
	if err != nil {
		return nil
	}
	out, err := probe(ctx, p, "-c", "echo $BASH_VERSION")
	if err != nil {
		return nil
	}
	v := firstLine(out)
	l := &Language{Name: "bash", Version: v, Extensions: []string{".sh"}, Entrypoint: "main.sh", Tools: map[string]string{"bash": v}}
	l.commands = func(s *Spec, mode string, _ Limits) ([]Command, error) {
		switch mode {
		case "build":
			return []Command{{Name: "build", Args: []string{"bash", "-n", entry(s, l)}}}, nil
		case "test":
			return []Command{{Name: "test", Args: []string{"bash", "-c",
				`set -e; n=0; for t in test*.sh *_test.sh tests/*.sh; do [ -f "$t" ] || continue; n=$((n+1)); echo "== $t"; bash "$t"; done; [ "$n" -gt 0 ] || { echo "no test*.sh, *_test.sh or tests/*.sh files" >&2; exit 1; }`}}}, nil
		}
		return []Command{{Name: "run", Args: []string{"bash", entry(s, l)}}}, nil
	}
	return l
}

func detectJava(ctx context.Context) *Language {
	jc, err := exec.LookPath("javac")
	if err != nil {
		return nil
	}
	j, err := exec.LookPath("java")
	if err != nil {
		return nil
	}
	out, err := probe(ctx, jc, "-version")
	if err != nil {
		return nil
	}
	v := strings.TrimPrefix(firstLine(out), "javac ")
	l := &Language{Name: "java", Version: v, Extensions: []string{".java"}, Entrypoint: "Main.java",
		Tools: map[string]string{"javac": v, "java": v}}
	for _, p := range []string{jc, j} {
		if dir := realDir(p); !underSystem(dir) {
			l.binds, l.pathDirs = append(l.binds, filepath.Dir(dir)), append(l.pathDirs, dir)
		}
	}
	l.commands = func(s *Spec, mode string, lim Limits) ([]Command, error) {
		// The JVM cannot see the cgroup from inside the sandbox; tell it
		// how much memory it has.
		maxRAM := fmt.Sprintf("-XX:MaxRAM=%d", lim.MemoryBytes)
		build := Command{Name: "build", Args: append([]string{"javac", "-J" + maxRAM, "-J-XX:+UseSerialGC", "-d", "out"}, filesWithExt(s, ".java")...)}
		main := strings.TrimSuffix(path.Base(entry(s, l)), ".java")
		run := Command{Name: mode, Args: []string{"java", maxRAM, "-XX:+UseSerialGC", "-cp", "out", main}}
		if mode == "build" {
			return []Command{build}, nil
		}
		return []Command{build, run}, nil
	}
	return l
}

func detectRust(ctx context.Context) *Language {
	p, err := exec.LookPath("rustc")
	if err != nil {
		return nil
	}
	out, err := probe(ctx, p, "--version")
	if err != nil {
		return nil
	}
	v := strings.Fields(firstLine(out) + " ?")[1]
	sysroot, err := probe(ctx, p, "--print", "sysroot")
	if err != nil {
		return nil
	}
	sysroot = firstLine(sysroot)
	l := &Language{Name: "rust", Version: v, Extensions: []string{".rs"}, Entrypoint: "main.rs",
		Tools: map[string]string{"rustc": v},
		env:   map[string]string{"CARGO_HOME": "/sandbox/home/.cargo", "CARGO_NET_OFFLINE": "true", "CARGO_TARGET_DIR": "target"}}
	if !underSystem(sysroot) {
		// A rustup toolchain: bind the toolchain itself, not the proxies in
		// the user's home.
		l.binds = append(l.binds, sysroot)
	}
	l.pathDirs = append(l.pathDirs, filepath.Join(sysroot, "bin"))
	if _, err := os.Stat(filepath.Join(sysroot, "bin", "cargo")); err == nil {
		if out, err := probe(ctx, filepath.Join(sysroot, "bin", "cargo"), "--version"); err == nil {
			l.Tools["cargo"] = strings.Fields(firstLine(out) + " ?")[1]
		}
	}
	l.commands = func(s *Spec, mode string, _ Limits) ([]Command, error) {
		if hasFile(s, "Cargo.toml") {
			if l.Tools["cargo"] == "" {
				return nil, fmt.Errorf("cargo is not installed on this host")
			}
			switch mode {
			case "build":
				return []Command{{Name: "build", Args: []string{"cargo", "build", "--offline", "--quiet"}}}, nil
			case "test":
				return []Command{{Name: "test", Args: []string{"cargo", "test", "--offline"}}}, nil
			}
			return []Command{{Name: "run", Args: []string{"cargo", "run", "--offline", "--quiet"}}}, nil
		}
		switch mode {
		case "build":
			return []Command{{Name: "build", Args: []string{"rustc", "--edition", "2021", "-o", "main", entry(s, l)}}}, nil
		case "test":
			return []Command{
				{Name: "build", Args: []string{"rustc", "--edition", "2021", "--test", "-o", "tests", entry(s, l)}},
				{Name: "test", Args: []string{"./tests"}},
			}, nil
		}
		return []Command{
			{Name: "build", Args: []string{"rustc", "--edition", "2021", "-o", "main", entry(s, l)}},
			{Name: "run", Args: []string{"./main"}},
		}, nil
	}
	return l
}

func hasFile(s *Spec, p string) bool {
	for _, f := range s.Files {
		if f.Path == p {
			return true
		}
	}
	return false
}

func filesWithExt(s *Spec, ext string) []string {
	var out []string
	for _, f := range s.Files {
		if strings.HasSuffix(f.Path, ext) && !strings.HasPrefix(f.Path, "node_modules/") {
			out = append(out, f.Path)
		}
	}
	sort.Strings(out)
	return out
}
