package validation

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/parser"
	"go/token"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// A check's result is cached under the digest of what it actually reads
// (its inputs), not of the whole request: the same Go package checked in a
// task's validation and again in the capsule's is answered from the cache,
// and a repeat with one file changed re-runs only the checks (and, for
// per-package checks, the packages) whose inputs changed. When it is not
// sure what a check reads, the mesh takes the whole project: a result is
// never reused when its inputs may differ.

// inputMode says what a check's result depends on.
type inputMode int

const (
	// inputsAll: every file of the project, its commands and declared
	// dependencies (the default: tests can read anything).
	inputsAll inputMode = iota
	// inputsGo: the files the Go toolchain reads (.go and cgo sources,
	// go.mod, go.sum, go.work, vendor/), or every file when a package
	// embeds files (//go:embed).
	inputsGo
	// inputsGoPackage: one unit per Go package, each keyed by the Go
	// files of the package and of every package of the module it imports,
	// transitively (its vet or analysis result depends on theirs), with
	// the module files.
	inputsGoPackage
	// inputsGoFiles: one unit per directory of .go files, keyed by those
	// files alone (gofmt reads each file by itself).
	inputsGoFiles
	// inputsPython: the Python sources (.py, .pyi) and the tools'
	// configuration files.
	inputsPython
	// inputsPyFile: one unit per .py file, keyed by that file and the
	// tools' configuration files (the checks that read each file by
	// itself: compile, pyflakes, flake8, black, bandit).
	inputsPyFile
)

// unit is the part of a project one cached result covers: the whole
// project (name ""), or one Go package directory of a per-package check.
type unit struct {
	name   string   // "" for the whole project, else the package's directory ("." for the root)
	own    []string // the files whose findings belong to this unit
	inputs []string // every file the unit's result may depend on, sorted
}

// goModuleFiles are the files that decide how the Go toolchain resolves
// packages and modules.
var goModuleFiles = map[string]bool{"go.mod": true, "go.sum": true, "go.work": true, "go.work.sum": true}

// goSourceExt are the extensions of files the Go toolchain compiles or
// links (Go, cgo, assembler, SWIG, syso).
var goSourceExt = map[string]bool{".go": true, ".c": true, ".h": true, ".s": true, ".S": true, ".sx": true, ".cc": true, ".cpp": true,
	".cxx": true, ".hh": true, ".hpp": true, ".hxx": true, ".m": true, ".f": true, ".F": true, ".for": true, ".f90": true,
	".syso": true, ".swig": true, ".swigcxx": true}

// pyConfigFiles configure the Python tools (flake8, black, mypy, bandit)
// or the interpreter's imports.
var pyConfigFiles = map[string]bool{"setup.cfg": true, "tox.ini": true, ".flake8": true, "pyproject.toml": true, "mypy.ini": true,
	".mypy.ini": true, ".bandit": true, ".pycodestyle": true, "requirements.txt": true, "setup.py": true, "conftest.py": true}

// goEmbeds reports whether a Go file of the project embeds files: any file
// may then be read by the compiler.
func goEmbeds(p *project) bool {
	for _, n := range p.paths {
		if strings.HasSuffix(n, ".go") && strings.Contains(p.files[n], "go:embed") {
			return true
		}
	}
	return false
}

// goToolFiles are the files the Go toolchain may read building the
// project, and staticcheck's configuration (staticcheck.conf, in any
// directory).
func goToolFiles(p *project) []string {
	if goEmbeds(p) {
		return p.paths
	}
	var out []string
	for _, n := range p.paths {
		if goModuleFiles[path.Base(n)] || goSourceExt[path.Ext(n)] || strings.HasPrefix(n, "vendor/") || path.Base(n) == "staticcheck.conf" {
			out = append(out, n)
		}
	}
	return out
}

// goIgnoredDir reports directories `./...` leaves out: vendored code and
// directories whose name starts with "_" or "." or is testdata.
func goIgnoredDir(dir string) bool {
	if dir == "." {
		return false
	}
	if vendored(dir + "/") {
		return true
	}
	for _, e := range strings.Split(dir, "/") {
		if strings.HasPrefix(e, "_") || strings.HasPrefix(e, ".") || e == "testdata" {
			return true
		}
	}
	return false
}

// goPackageUnits splits a Go project into its packages, each with the
// files its per-package result depends on. It returns nil when the split
// is not safe, and the check is then keyed by the whole toolchain input:
// embedded files, a nested module, or build constraints (a package
// whose files are all excluded is left out by ./... but is an error when
// named).
func goPackageUnits(p *project) []unit {
	if goEmbeds(p) {
		return nil
	}
	for _, n := range p.withExt(".go") {
		if c := p.files[n]; strings.Contains(c, "//go:build") || strings.Contains(c, "// +build") {
			return nil
		}
	}
	for _, n := range p.paths {
		if path.Base(n) == "go.mod" && n != "go.mod" && !vendored(n) {
			return nil // a nested module: ./... does not enter it
		}
	}
	module := goModule(p)
	byDir := map[string][]string{} // every toolchain file, by directory
	var common []string            // module files and vendored code
	for _, n := range goToolFiles(p) {
		switch {
		case goModuleFiles[n] || strings.HasPrefix(n, "vendor/"):
			common = append(common, n)
		case goSourceExt[path.Ext(n)]:
			byDir[path.Dir(n)] = append(byDir[path.Dir(n)], n)
		default:
			common = append(common, n) // a go.sum or go.work below the root: kept, to be safe
		}
	}
	// The module's packages each directory imports (tests included); nil
	// with unknown set when a file cannot be parsed.
	imports := map[string][]string{}
	unknown := map[string]bool{}
	fset := token.NewFileSet()
	for dir, files := range byDir {
		seen := map[string]bool{}
		for _, n := range files {
			if !strings.HasSuffix(n, ".go") {
				continue
			}
			f, err := parser.ParseFile(fset, n, p.files[n], parser.ImportsOnly)
			if err != nil {
				unknown[dir] = true
				continue
			}
			for _, imp := range f.Imports {
				ip, err := strconv.Unquote(imp.Path.Value)
				if err != nil {
					unknown[dir] = true
					continue
				}
				var d string
				switch {
				case ip == module:
					d = "."
				case strings.HasPrefix(ip, module+"/"):
					d = strings.TrimPrefix(ip, module+"/")
				default:
					continue // the standard library or a module: go.mod and go.sum say which
				}
				if !seen[d] {
					seen[d] = true
					imports[dir] = append(imports[dir], d)
				}
			}
		}
	}
	all := goToolFiles(p)
	var out []unit
	for dir, files := range byDir {
		if goIgnoredDir(dir) || !hasNonTestGo(files) {
			// A directory of tests alone is not named by itself (some
			// tools refuse it): its findings make the split unsound, and
			// the check is then cached whole.
			continue
		}
		u := unit{name: dir, own: files}
		// The transitive closure of the imported directories: a directory
		// imported but not (yet) in the project counts too, so that its
		// files appearing later change the key.
		closure := map[string]bool{}
		stack := []string{dir}
		whole := false
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if closure[d] {
				continue
			}
			closure[d] = true
			if unknown[d] {
				whole = true
				break
			}
			stack = append(stack, imports[d]...)
		}
		if whole {
			u.inputs = all
		} else {
			in := append([]string(nil), common...)
			for d := range closure {
				in = append(in, byDir[d]...)
			}
			sort.Strings(in)
			u.inputs = in
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func hasNonTestGo(files []string) bool {
	for _, f := range files {
		if strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

// goFileUnits are the directories of the project's .go files, each keyed
// by its own .go files.
func goFileUnits(p *project) []unit {
	byDir := map[string][]string{}
	for _, n := range p.withExt(".go") {
		byDir[path.Dir(n)] = append(byDir[path.Dir(n)], n)
	}
	out := make([]unit, 0, len(byDir))
	for dir, files := range byDir {
		out = append(out, unit{name: dir, own: files, inputs: files})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// pythonFiles are the Python sources and the tools' configuration files.
func pythonFiles(p *project) []string {
	var out []string
	for _, n := range p.paths {
		if strings.HasSuffix(n, ".py") || strings.HasSuffix(n, ".pyi") || pyConfigFiles[path.Base(n)] {
			out = append(out, n)
		}
	}
	return out
}

// pyFileUnits are the project's .py files, each keyed by itself and the
// configuration files.
func pyFileUnits(p *project) []unit {
	var config []string
	for _, n := range p.paths {
		if pyConfigFiles[path.Base(n)] {
			config = append(config, n)
		}
	}
	var out []unit
	for _, n := range p.withExt(".py") {
		in := append([]string{n}, config...)
		sort.Strings(in)
		out = append(out, unit{name: n, own: []string{n}, inputs: slices.Compact(in)})
	}
	return out
}

// units are the parts a check's result is cached in: one per Go package
// for a per-package check, else the whole check with the files it reads.
func (c *checker) units(p *project) []unit {
	switch c.inputs {
	case inputsGoPackage:
		if us := goPackageUnits(p); len(us) > 0 {
			return us
		}
		return []unit{{inputs: goToolFiles(p)}}
	case inputsGoFiles:
		if us := goFileUnits(p); len(us) > 0 {
			return us
		}
		return []unit{{inputs: p.withExt(".go")}}
	case inputsGo:
		return []unit{{inputs: goToolFiles(p)}}
	case inputsPython:
		return []unit{{inputs: pythonFiles(p)}}
	case inputsPyFile:
		if us := pyFileUnits(p); len(us) > 0 {
			return us
		}
		return []unit{{inputs: pythonFiles(p)}}
	}
	return []unit{{inputs: p.paths}}
}

// unitKey is the cache key of one unit of a check: the tenant (results
// never cross tenants), the check, its tools and their versions, the
// options that change its result, and every input file's path and
// content. A check that reads the whole project also covers the commands
// and declared dependencies.
func (m *Mesh) unitKey(tenant string, c *checker, p *project, u unit) string {
	h := sha256.New()
	w := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	w("qlp-check-key/2")
	w(tenant)
	w(p.lang)
	w(c.name)
	w(c.tool)
	w(m.toolVersion(c))
	for _, n := range c.needs {
		w(n + "=" + m.tools[n].Version)
	}
	w(fmt.Sprintf("memory=%d", m.cfg.MemoryBytes))
	if c.category == CategoryTests {
		w("timeout=" + m.cfg.TestTimeout.String())
	}
	// Declared dependencies are installed into the sandbox of every batch
	// but the linters': they can change any result.
	deps := append([]string(nil), p.req.Dependencies...)
	sort.Strings(deps)
	w("deps=" + strings.Join(deps, "\n"))
	if c.inputs == inputsAll {
		w("build=" + p.req.Commands.Build)
		w("test=" + p.req.Commands.Test)
		w("run=" + p.req.Commands.Run)
	}
	w("unit=" + u.name)
	for _, n := range u.inputs {
		w(n)
		w(p.files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// wholeKey is the key of a check's result over all its units together.
func wholeKey(c *checker, keys []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "whole\x00%s\x00", c.name)
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00", k)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// splitByUnit tells a run's result apart by unit (the packages it ran on):
// each finding goes to the package of its file. It fails (false) when that
// is not sound: a finding outside the packages, a failure no finding
// explains, test counts, or a status other than from findings or failed.
func splitByUnit(o outcome, units []unitRun) ([]outcome, bool) {
	if o.tests != nil || o.status != "" && o.status != StatusFailed {
		return nil, false
	}
	owner := map[string]int{}
	for i, u := range units {
		for _, f := range u.own {
			owner[f] = i
		}
	}
	outs := make([]outcome, len(units))
	for i := range outs {
		outs[i].output = o.output
	}
	for _, f := range o.findings {
		i, ok := owner[f.File]
		if !ok {
			return nil, false
		}
		outs[i].findings = append(outs[i].findings, f)
	}
	if o.status == StatusFailed {
		failed := false
		for i := range outs {
			if len(outs[i].findings) > 0 {
				outs[i].status, outs[i].reason = StatusFailed, o.reason
				failed = true
			}
		}
		if !failed {
			return nil, false
		}
	}
	return outs, true
}

// mergeOutcomes joins the results of a check's units: every finding, the
// worst status with its reason, each distinct output once.
func mergeOutcomes(outs []outcome) outcome {
	if len(outs) == 1 {
		return outs[0]
	}
	var m outcome
	var outputs []string
	for _, o := range outs {
		m.findings = append(m.findings, o.findings...)
		switch {
		case o.status == StatusSkipped:
			return o // part of the check did not run: the check did not
		case o.status == StatusFailed && m.status != StatusFailed:
			m.status, m.reason = StatusFailed, o.reason
		case o.status == StatusWarning && m.status == "":
			m.status, m.reason = StatusWarning, o.reason
		}
		if o.output != "" && !contains(outputs, o.output) {
			outputs = append(outputs, o.output)
		}
	}
	m.output = tail(strings.Join(outputs, "\n"), 4000)
	return m
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
