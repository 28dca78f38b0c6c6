package validation

import (
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// importsChecker compares what the code imports with what the project
// declares (go.mod, requirements.txt/pyproject.toml, package.json and the
// request's dependencies). The files are parsed by QLP (go/parser for Go,
// import statements for Python and JavaScript); nothing is executed.
func importsChecker() *checker {
	return &checker{name: "imports", category: CategoryConsistency, tool: "qlp-imports",
		langs: []string{"go", "python", "javascript", "typescript"},
		skip: func(p *project) string {
			if p.req.Partial {
				return "partial project: declared dependencies are checked on the whole project"
			}
			return ""
		},
		local: func(p *project) outcome {
			switch p.lang {
			case "go":
				return outcome{findings: goImports(p)}
			case "python":
				return outcome{findings: pyImports(p)}
			}
			return outcome{findings: jsImports(p)}
		}}
}

var goRequireRe = regexp.MustCompile(`(?m)^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]{2,}(?:/[^\s]+)?)\s+v[0-9]`)

func goImports(p *project) []Finding {
	module := goModule(p)
	var required []string
	for _, m := range goRequireRe.FindAllStringSubmatch(p.files["go.mod"], -1) {
		required = append(required, m[1])
	}
	var fs []Finding
	fset := token.NewFileSet()
	for _, n := range p.withExt(".go") {
		f, err := parser.ParseFile(fset, n, p.files[n], parser.ImportsOnly)
		if err != nil {
			continue // the compile checks report syntax errors
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			first := strings.SplitN(ip, "/", 2)[0]
			if !strings.Contains(first, ".") || ip == module || strings.HasPrefix(ip, module+"/") {
				continue // standard library or the module itself
			}
			ok := false
			for _, r := range required {
				if ip == r || strings.HasPrefix(ip, r+"/") {
					ok = true
				}
			}
			if !ok && !declared(p, ip) {
				pos := fset.Position(imp.Pos())
				fs = append(fs, Finding{File: n, Line: pos.Line, Column: pos.Column, RuleID: "undeclared-import", Severity: SeverityHigh,
					Message: fmt.Sprintf("imports %s, which go.mod does not require", ip)})
			}
		}
	}
	return fs
}

// declared reports whether the request's own dependency list names it.
func declared(p *project, name string) bool {
	for _, d := range p.req.Dependencies {
		d = strings.TrimSpace(strings.FieldsFunc(d, func(r rune) bool { return strings.ContainsRune("=<>~!@[; ", r) })[0])
		if strings.EqualFold(normDist(d), normDist(name)) || strings.HasPrefix(name, d+"/") {
			return true
		}
	}
	return false
}

func normDist(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

var (
	pyImportRe   = regexp.MustCompile(`^\s*(?:from\s+([A-Za-z_][A-Za-z0-9_]*)[A-Za-z0-9_.]*\s+import\b|import\s+([A-Za-z_][A-Za-z0-9_.]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_.]*)*))`)
	pyReqRe      = regexp.MustCompile(`(?m)^\s*([A-Za-z0-9][A-Za-z0-9._-]*)`)
	pyProjDepsRe = regexp.MustCompile(`(?s)dependencies\s*=\s*\[(.*?)\]`)
	quotedRe     = regexp.MustCompile(`["']([A-Za-z0-9][A-Za-z0-9._-]*)`)
)

// pyImportNames maps import names to the distributions that provide them
// when the two differ.
var pyImportNames = map[string]string{
	"yaml": "pyyaml", "PIL": "pillow", "bs4": "beautifulsoup4", "sklearn": "scikit-learn", "cv2": "opencv-python",
	"dateutil": "python-dateutil", "jwt": "pyjwt", "dotenv": "python-dotenv", "magic": "python-magic", "Crypto": "pycryptodome",
	"google": "protobuf", "attr": "attrs", "serial": "pyserial", "psycopg2": "psycopg2-binary",
}

func pyImports(p *project) []Finding {
	decl := map[string]bool{}
	add := func(n string) { decl[normDist(n)] = true }
	for _, m := range pyReqRe.FindAllStringSubmatch(p.files["requirements.txt"], -1) {
		add(m[1])
	}
	if m := pyProjDepsRe.FindStringSubmatch(p.files["pyproject.toml"]); m != nil {
		for _, q := range quotedRe.FindAllStringSubmatch(m[1], -1) {
			add(q[1])
		}
	}
	local := map[string]bool{}
	for _, n := range p.paths {
		first := strings.SplitN(n, "/", 2)[0]
		local[strings.TrimSuffix(first, ".py")] = true
		if d := path.Dir(n); d != "." {
			local[path.Base(d)] = true
		}
		if strings.HasSuffix(n, ".py") {
			local[strings.TrimSuffix(path.Base(n), ".py")] = true
		}
	}
	var fs []Finding
	for _, n := range p.withExt(".py") {
		for i, line := range strings.Split(p.files[n], "\n") {
			m := pyImportRe.FindStringSubmatch(line)
			if m == nil || strings.HasPrefix(line, " ") && strings.Contains(line, "try") {
				continue
			}
			names := []string{m[1]}
			if m[1] == "" {
				names = nil
				for _, part := range strings.Split(m[2], ",") {
					names = append(names, strings.SplitN(strings.TrimSpace(part), ".", 2)[0])
				}
			}
			for _, name := range names {
				if name == "" || pyStdlib[name] || local[name] || name == "__future__" {
					continue
				}
				dist := name
				if d, ok := pyImportNames[name]; ok {
					dist = d
				}
				if decl[normDist(dist)] || decl[normDist(name)] || declared(p, dist) || declared(p, name) {
					continue
				}
				sev := SeverityHigh
				if isTestFile(n) && (name == "pytest" || name == "hypothesis") {
					continue // the test runner itself
				}
				fs = append(fs, Finding{File: n, Line: i + 1, Column: strings.Index(line, name) + 1, RuleID: "undeclared-import", Severity: sev,
					Message: fmt.Sprintf("imports %s, which requirements.txt or pyproject.toml does not declare", name)})
			}
		}
	}
	return fs
}

var (
	jsRequireRe = regexp.MustCompile(`(?:\brequire\(\s*|\bimport\s*\(\s*|\bfrom\s+|^\s*import\s+)["']([^"'./][^"']*)["']`)
)

func jsImports(p *project) []Finding {
	decl := map[string]bool{}
	if pj, ok := p.files["package.json"]; ok {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(pj), &m) == nil {
			for _, k := range []string{"dependencies", "devDependencies", "peerDependencies", "optionalDependencies"} {
				var deps map[string]string
				if json.Unmarshal(m[k], &deps) == nil {
					for d := range deps {
						decl[d] = true
					}
				}
			}
		}
	}
	var fs []Finding
	for _, n := range p.withExt(".js", ".cjs", ".mjs", ".ts", ".tsx", ".jsx") {
		for i, line := range strings.Split(p.files[n], "\n") {
			if commentLine("javascript", line) {
				continue
			}
			for _, m := range jsRequireRe.FindAllStringSubmatchIndex(line, -1) {
				spec := line[m[2]:m[3]]
				if strings.HasPrefix(spec, "node:") {
					continue
				}
				pkg := spec
				parts := strings.Split(spec, "/")
				if strings.HasPrefix(spec, "@") && len(parts) > 1 {
					pkg = parts[0] + "/" + parts[1]
				} else {
					pkg = parts[0]
				}
				if nodeBuiltins[pkg] || decl[pkg] || declared(p, pkg) {
					continue
				}
				fs = append(fs, Finding{File: n, Line: i + 1, Column: m[2] + 1, RuleID: "undeclared-import", Severity: SeverityHigh,
					Message: fmt.Sprintf("imports %s, which package.json does not declare", pkg)})
			}
		}
	}
	return fs
}

// commandsChecker checks that the manifest's build, test and run commands
// exist: the program is on the sandbox's PATH (asked inside the sandbox)
// and the project files they name are in the project.
func commandsChecker() *checker {
	return &checker{name: "commands", category: CategoryConsistency, tool: "bash",
		batch: "", // set per language in batchFor
		skip: func(p *project) string {
			switch {
			case p.req.Partial:
				return "partial project: the manifest's commands are checked on the whole project"
			case len(manifestCommands(p)) == 0:
				return "no build, test or run commands were given"
			}
			return ""
		},
		cmds: func(p *project, _ *Config) []sandbox.Command {
			var progs []string
			for _, c := range manifestCommands(p) {
				if w := firstProgram(c.line); w != "" && !contains(progs, w) {
					progs = append(progs, w)
				}
			}
			return []sandbox.Command{cmd("commands", append([]string{"bash", "-c",
				`for p; do command -v "$p" >/dev/null 2>&1 || echo "missing: $p"; done; true`, "commands"}, progs...)...)}
		},
		parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
			missing := map[string]bool{}
			for _, l := range strings.Split(res[0].Stdout, "\n") {
				if s, ok := strings.CutPrefix(l, "missing: "); ok {
					missing[strings.TrimSpace(s)] = true
				}
			}
			var fs []Finding
			for _, c := range manifestCommands(p) {
				prog := firstProgram(c.line)
				if missing[prog] {
					fs = append(fs, Finding{RuleID: "command-missing", Severity: SeverityHigh,
						Message: fmt.Sprintf("%s command %q: %s is not available in the sandbox", c.name, c.line, prog)})
				}
				for _, ref := range referencedPaths(c.line) {
					if !p.has(ref) && !dirExists(p, ref) {
						fs = append(fs, Finding{File: ref, RuleID: "command-path-missing", Severity: SeverityHigh,
							Message: fmt.Sprintf("%s command %q names %s, which is not in the project", c.name, c.line, ref)})
					}
				}
			}
			o := toolOutcome(res[0], fs)
			o.output = ""
			return o
		}}
}

type namedCommand struct{ name, line string }

func manifestCommands(p *project) []namedCommand {
	var out []namedCommand
	for _, c := range []namedCommand{{"build", p.req.Commands.Build}, {"test", p.req.Commands.Test}, {"run", p.req.Commands.Run}} {
		if strings.TrimSpace(c.line) != "" {
			out = append(out, namedCommand{c.name, strings.TrimSpace(c.line)})
		}
	}
	return out
}

// firstProgram is the program a command line starts, after VAR=value
// assignments.
func firstProgram(line string) string {
	for _, w := range strings.Fields(line) {
		if strings.Contains(w, "=") && !strings.HasPrefix(w, "-") {
			continue
		}
		if strings.ContainsAny(w, "$`()|;&<>") {
			return ""
		}
		return w
	}
	return ""
}

var pathArgRe = regexp.MustCompile(`^\.?/?[A-Za-z0-9_][A-Za-z0-9_./-]*\.(?:py|js|mjs|cjs|ts|sh|go|rs|java|jar)$`)

// referencedPaths are the arguments of a command that name project files
// (main.py, ./scripts/run.sh), leaving out build outputs.
func referencedPaths(line string) []string {
	var out []string
	if strings.ContainsAny(line, "|;&$`") {
		return nil
	}
	for i, w := range strings.Fields(line) {
		if i == 0 && !strings.Contains(w, "/") {
			continue
		}
		if !pathArgRe.MatchString(w) {
			continue
		}
		c := path.Clean(strings.TrimPrefix(w, "./"))
		if vendored(c+"/") || vendored(c) || strings.Contains(c, "*") {
			continue
		}
		out = append(out, c)
	}
	return out
}

func dirExists(p *project, dir string) bool {
	for _, n := range p.paths {
		if strings.HasPrefix(n, dir+"/") {
			return true
		}
	}
	return false
}
