package validation

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// pyCompileScript compiles every file given with the interpreter's own
// compile() (what py_compile does, without writing bytecode) and prints
// one JSON line per syntax error.
const pyCompileScript = `import json, sys
rc = 0
for p in sys.argv[1:]:
    try:
        compile(open(p, "rb").read(), p, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        rc = 1
        print(json.dumps({"file": p, "line": getattr(e, "lineno", 0) or 0, "column": getattr(e, "offset", 0) or 0,
                          "message": "%s: %s" % (type(e).__name__, getattr(e, "msg", str(e)))}))
sys.exit(rc)
`

func pythonCheckers() []*checker {
	py := []string{"python"}
	return []*checker{
		{name: "py-compile", category: CategoryCompile, tool: "python3", langs: py, batch: "py", inputs: inputsPyFile,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("py-compile", append([]string{"python3", "-I", "-c", pyCompileScript}, p.scopeFiles(".py")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				var fs []Finding
				for _, l := range strings.Split(res[0].Stdout, "\n") {
					var e struct {
						File    string `json:"file"`
						Line    int    `json:"line"`
						Column  int    `json:"column"`
						Message string `json:"message"`
					}
					if json.Unmarshal([]byte(l), &e) == nil && e.File != "" {
						fs = append(fs, Finding{File: p.rel(e.File), Line: e.Line, Column: e.Column, RuleID: "syntax", Severity: SeverityHigh, Message: e.Message})
					}
				}
				return compileOutcome(res[0], fs, "python compile")
			}},
		{name: "pyflakes", category: CategoryCompile, tool: "pyflakes", langs: py, batch: "py", inputs: inputsPyFile,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("pyflakes", append([]string{"python3", "-I", "-m", "pyflakes"}, p.scopeFiles(".py")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				// pyflakes exits 1 when it reports anything; its findings
				// decide the status.
				return toolOutcome(res[0], parseLines(p, combined(res[0]), pyflakesRule))
			}},
		{name: "mypy", category: CategoryTypes, tool: "mypy", langs: py, batch: "py", inputs: inputsPython,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				// The cache is the run's own MYPY_CACHE_DIR, seeded by the
				// sandbox with the standard library's analysis, made under
				// the same flags (sandbox.MypyFlags).
				args := append([]string{"python3", "-I", "-m", "mypy"}, sandbox.MypyFlags()...)
				return []sandbox.Command{cmd("mypy", append(args, p.withExt(".py")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				o := toolOutcome(res[0], parseLines(p, combined(res[0]), mypyRule))
				if o.status == "" && res[0].ExitCode > 1 {
					o.status, o.reason = StatusFailed, "mypy could not check the project: "+firstLines(combined(res[0]), 3)
				}
				return o
			}},
		{name: "flake8", category: CategoryStyle, tool: "flake8", langs: py, batch: "py-lint", inputs: inputsPyFile,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("flake8", append([]string{"python3", "-I", "-m", "flake8", "--jobs=1", "--max-line-length=120",
					"--extend-ignore=F,E203,E501,W503,W504"}, p.scopeFiles(".py")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				return toolOutcome(res[0], parseLines(p, res[0].Stdout, flake8Rule))
			}},
		{name: "black", category: CategoryStyle, tool: "black", langs: py, batch: "py-lint", inputs: inputsPyFile,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("black", append([]string{"python3", "-I", "-m", "black", "--check", "--diff", "-q"}, p.scopeFiles(".py")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				o := toolOutcome(res[0], diffFindings(p, res[0].Stdout, "black", "not black-formatted (run black)"))
				if o.status == "" && res[0].ExitCode > 1 {
					// black exits 123 on a file it cannot parse; the
					// compile check reports the syntax error.
					o.findings = append(o.findings, Finding{RuleID: "black-parse", Severity: SeverityLow, Message: firstLines(res[0].Stderr, 2)})
				}
				return o
			}},
		{name: "bandit", category: CategorySecurity, tool: "bandit", langs: py, batch: "py-lint", inputs: inputsPyFile,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				// B101 (assert) is how pytest tests are written.
				return []sandbox.Command{cmd("bandit", append([]string{"python3", "-I", "-m", "bandit", "-f", "json", "-q", "-s", "B101"}, p.scopeFiles(".py")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				fs, err := parseBandit(p, res[0].Stdout)
				o := toolOutcome(res[0], fs)
				if o.status == "" && err != nil {
					o.status, o.reason = StatusFailed, "bandit output could not be read: "+err.Error()
				}
				return o
			}},
	}
}

var pyflakesLow = regexp.MustCompile(`imported but unused|redefinition of unused|assigned to but never used|f-string is missing placeholders|unable to detect undefined names`)

func pyflakesRule(msg string) (string, string) {
	switch {
	case pyflakesLow.MatchString(msg):
		return "pyflakes", SeverityLow
	case strings.Contains(msg, "undefined name"), strings.Contains(msg, "syntax"), strings.Contains(msg, "invalid"):
		return "pyflakes", SeverityHigh
	}
	return "pyflakes", SeverityMedium
}

var mypyCodeRe = regexp.MustCompile(`\[([a-z0-9-]+)\]\s*$`)

func mypyRule(msg string) (string, string) {
	if !strings.HasPrefix(msg, "error:") {
		return "", "" // notes
	}
	id := "mypy"
	if m := mypyCodeRe.FindStringSubmatch(msg); m != nil {
		id = m[1]
	}
	return id, SeverityHigh
}

func flake8Rule(msg string) (string, string) {
	code, _, _ := strings.Cut(msg, " ")
	if strings.HasPrefix(code, "E9") {
		return code, SeverityHigh
	}
	return code, SeverityLow
}

// parseBandit reads `bandit -f json`.
func parseBandit(p *project, out string) ([]Finding, error) {
	out = strings.TrimSpace(out)
	if i := strings.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var r struct {
		Results []struct {
			Filename   string `json:"filename"`
			Line       int    `json:"line_number"`
			Col        int    `json:"col_offset"`
			TestID     string `json:"test_id"`
			Severity   string `json:"issue_severity"`
			Confidence string `json:"issue_confidence"`
			Text       string `json:"issue_text"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, err
	}
	var fs []Finding
	for _, x := range r.Results {
		fs = append(fs, Finding{File: p.rel(x.Filename), Line: x.Line, Column: x.Col + 1, RuleID: x.TestID,
			Severity: scannerSeverity(x.Severity, x.Confidence), Message: x.Text})
	}
	return fs, nil
}
