package validation

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// The tests check runs the project's own test command in the sandbox, as
// the last command of its batch (so that the project's code runs after
// every tool has read the files), and counts tests from the runner's
// machine-readable output: go test -json, pytest's JUnit XML, node's TAP,
// libtest's summary. A custom command (npm test, make test…) is run as
// given and judged by its exit code alone, and the report says the counts
// are unknown.

// Runners.
const (
	runnerGoJSON   = "go-test-json"
	runnerPytest   = "pytest-junit"
	runnerNodeTAP  = "node-tap"
	runnerBashTAP  = "bash-tap"
	runnerLibtest  = "rust-libtest"
	runnerExitCode = "exit-code"
)

const junitPath = ".qlp-junit.xml"

// testPlan is how a project's tests run.
type testPlan struct {
	cmds    []sandbox.Command // the last one is the test run
	runner  string
	command string // as reported
	skip    string
}

const shellMeta = "|&;<>()$`\\\"'*?[]{}~"

// bashTestWrapper runs test*.sh, *_test.sh, tests/*.sh and test/*.sh and
// prints TAP with a summary.
const bashTestWrapper = `n=0; f=0
for t in test*.sh *_test.sh tests/*.sh test/*.sh; do
  [ -f "$t" ] || continue; n=$((n+1))
  if bash "$t"; then echo "ok $n - $t"; else echo "not ok $n - $t"; f=$((f+1)); fi
done
echo "1..$n"; echo "# tests $n"; echo "# pass $((n-f))"; echo "# fail $f"
[ "$f" -eq 0 ]`

func planTests(p *project, cfg *Config) testPlan {
	custom := strings.TrimSpace(p.req.Commands.Test)
	words := strings.Fields(custom)
	simple := custom != "" && !strings.ContainsAny(custom, shellMeta)
	t := func(args ...string) sandbox.Command {
		return sandbox.Command{Name: "tests", Args: args, ContinueOnFailure: true, Timeout: sandbox.Duration(cfg.TestTimeout)}
	}
	plan := testPlan{command: custom}
	switch p.lang {
	case "go":
		if custom == "" || simple && len(words) >= 2 && words[0] == "go" && words[1] == "test" {
			if len(p.withExt("_test.go")) == 0 {
				return testPlan{skip: "no tests: the project has no _test.go files"}
			}
			args := []string{"go", "test", "-json"}
			if custom == "" {
				args = append(args, "./...")
			} else {
				for _, w := range words[2:] {
					if w != "-json" && w != "-v" {
						args = append(args, w)
					}
				}
			}
			plan.cmds, plan.runner = []sandbox.Command{t(args...)}, runnerGoJSON
		}
	case "python":
		if custom == "" || simple && strings.Contains(custom, "pytest") {
			if len(pyTestFiles(p)) == 0 {
				return testPlan{skip: "no tests: the project has no test_*.py or *_test.py files"}
			}
			args := []string{"python3", "-m", "pytest", "-q"}
			if custom != "" {
				i := 0
				for i < len(words) && !strings.HasSuffix(words[i], "pytest") {
					i++
				}
				args = append(args, words[min(i+1, len(words)):]...)
			}
			args = append(args, "-p", "no:cacheprovider", "--junitxml="+junitPath, "-o", "junit_family=xunit1")
			plan.cmds, plan.runner = []sandbox.Command{t(args...)}, runnerPytest
		}
	case "javascript":
		if custom == "" || simple && len(words) >= 2 && words[0] == "node" && words[1] == "--test" {
			if len(jsTestFiles(p, ".js", ".cjs", ".mjs")) == 0 {
				return testPlan{skip: "no tests: no *.test.js, *_test.js, test-*.js or test/ files for node --test"}
			}
			args := []string{"node", "--test", "--test-reporter=tap"}
			if custom != "" {
				args = append(args, words[2:]...)
			}
			plan.cmds, plan.runner = []sandbox.Command{t(args...)}, runnerNodeTAP
		}
	case "typescript":
		if custom == "" || simple && len(words) >= 2 && words[0] == "node" && words[1] == "--test" {
			if len(jsTestFiles(p, ".ts")) == 0 {
				return testPlan{skip: "no tests: no *.test.ts, *_test.ts or test/ files"}
			}
			build := sandbox.Command{Name: "tests-build", Args: tscArgs(p, "--outDir", ".qlp-build", "--noEmit", "false"), ContinueOnFailure: true}
			if p.has("tsconfig.json") {
				build.Args = []string{"tsc", "--pretty", "false", "-p", "tsconfig.json", "--outDir", ".qlp-build"}
			}
			plan.cmds = []sandbox.Command{build, t("node", "--test", "--test-reporter=tap", ".qlp-build")}
			plan.runner = runnerNodeTAP
		}
	case "bash":
		if custom == "" {
			if !bashHasTests(p) {
				return testPlan{skip: "no tests: no test*.sh, *_test.sh or tests/*.sh files"}
			}
			plan.cmds, plan.runner = []sandbox.Command{t("bash", "-c", bashTestWrapper)}, runnerBashTAP
		}
	case "rust":
		if custom == "" || simple && strings.HasPrefix(custom, "cargo test") {
			if !strings.Contains(strings.Join(contents(p, ".rs"), "\n"), "#[test]") {
				return testPlan{skip: "no tests: no #[test] functions"}
			}
			if p.has("Cargo.toml") {
				plan.cmds = []sandbox.Command{t("cargo", "test", "--offline")}
			} else if root := rustRoot(p); root != "" {
				plan.cmds = []sandbox.Command{
					{Name: "tests-build", Args: []string{"rustc", "--edition", "2021", "--test", "-o", "/tmp/qlp-tests", root}, ContinueOnFailure: true},
					t("/tmp/qlp-tests"),
				}
			} else {
				return testPlan{skip: "no crate root (main.rs or src/lib.rs) to test"}
			}
			plan.runner = runnerLibtest
		}
	case "java":
		if custom == "" {
			return testPlan{skip: "no Java test runner is available in the sandbox (JUnit is not installed)"}
		}
	}
	if plan.cmds == nil {
		// A command QLP cannot parse: run it as given; only its exit code
		// is known.
		plan.cmds, plan.runner = []sandbox.Command{t("bash", "-c", custom)}, runnerExitCode
	}
	if plan.command == "" {
		plan.command = strings.Join(plan.cmds[len(plan.cmds)-1].Args, " ")
	}
	return plan
}

func contents(p *project, ext string) []string {
	var out []string
	for _, n := range p.withExt(ext) {
		out = append(out, p.files[n])
	}
	return out
}

func pyTestFiles(p *project) []string {
	var out []string
	for _, n := range p.withExt(".py") {
		b := path.Base(n)
		if strings.HasPrefix(b, "test_") || strings.HasSuffix(b, "_test.py") {
			out = append(out, n)
		}
	}
	return out
}

func jsTestFiles(p *project, exts ...string) []string {
	var out []string
	for _, n := range p.withExt(exts...) {
		b := path.Base(n)
		stem := strings.TrimSuffix(b, path.Ext(b))
		if strings.HasSuffix(stem, ".test") || strings.HasSuffix(stem, "-test") || strings.HasSuffix(stem, "_test") ||
			strings.HasSuffix(stem, ".spec") || strings.HasPrefix(stem, "test-") || stem == "test" ||
			strings.HasPrefix(n, "test/") || strings.Contains(n, "/test/") {
			out = append(out, n)
		}
	}
	return out
}

func bashHasTests(p *project) bool {
	for _, n := range p.withExt(".sh") {
		b := path.Base(n)
		dir := path.Dir(n)
		if dir == "." && (strings.HasPrefix(b, "test") || strings.HasSuffix(b, "_test.sh")) || dir == "tests" || dir == "test" {
			return true
		}
	}
	return false
}

// testCheckers are the tests checks, one per language (each needs its
// runner's tool).
func testCheckers() []*checker {
	tools := []struct{ lang, tool, batch string }{
		{"go", "go", "go"}, {"python", "pytest", "py"}, {"javascript", "node", "js"}, {"typescript", "tsc", "ts"},
		{"bash", "bash", "sh"}, {"rust", "rustc", "rust"}, {"java", "javac", "java"},
	}
	var out []*checker
	for _, tl := range tools {
		c := &checker{name: "tests", category: CategoryTests, tool: tl.tool, langs: []string{tl.lang}, batch: tl.batch}
		if tl.lang == "typescript" {
			c.needs = []string{"node"}
		}
		c.skip = func(p *project) string {
			if p.req.SkipTests {
				return "tests not requested (skip_tests)"
			}
			return planTests(p, &Config{}).skip
		}
		c.cmds = func(p *project, cfg *Config) []sandbox.Command {
			return planTests(p, cfg).cmds
		}
		c.collect = []string{junitPath}
		c.parse = parseTests
		out = append(out, c)
	}
	return out
}

func parseTests(p *project, res []sandbox.CommandResult, files []sandbox.File) outcome {
	plan := planTests(p, &Config{})
	last := res[len(res)-1]
	tr := &TestRun{Command: plan.command, Runner: plan.runner, ExitCode: last.ExitCode, Output: tail(combined(last), 6000)}
	o := outcome{tests: tr, output: tr.Output}
	if len(res) > 1 && res[0].Status != sandbox.StatusCompleted {
		// The tests did not build (TypeScript, Rust): the compile check
		// says why; this one fails too, since no test ran.
		o.status, o.reason = StatusFailed, "the tests did not build: "+firstLines(combined(res[0]), 3)
		o.findings = parseLines(p, tscToLines(res[0].Stdout), tscRule)
		o.output = tail(combined(res[0]), 4000)
		return o
	}
	switch plan.runner {
	case runnerGoJSON:
		o.findings = parseGoTest(p, last.Stdout, tr)
		if text := goTestText(last.Stdout); text != "" {
			tr.Output = tail(text+"\n"+last.Stderr, 6000)
			o.output = tr.Output
		}
	case runnerPytest:
		var xmlBody []byte
		for _, f := range files {
			if f.Path == junitPath {
				xmlBody = f.Content
			}
		}
		if last.ExitCode == 5 {
			tr.Counted = true
			break
		}
		o.findings = parseJUnit(p, xmlBody, tr)
	case runnerNodeTAP, runnerBashTAP:
		o.findings = parseTAP(p, last.Stdout, tr)
	case runnerLibtest:
		o.findings = parseLibtest(last.Stdout, tr)
	}
	switch {
	case !ranToEnd(last):
		o.status, o.reason = StatusFailed, "the tests did not finish: "+abnormal(last)
	case tr.Counted && tr.Failed > 0:
		o.status, o.reason = StatusFailed, fmt.Sprintf("%d of %d tests failed", tr.Failed, tr.Total)
	case last.ExitCode != 0:
		o.status, o.reason = StatusFailed, "the test command exited with status "+strconv.Itoa(last.ExitCode)
		if tr.Counted && tr.Failed == 0 {
			o.reason += " (the tests did not build or the runner failed): " + firstLines(combined(last), 3)
		}
	case tr.Counted && tr.Total == 0:
		o.status, o.reason = StatusSkipped, "no tests ran"
	case !tr.Counted:
		o.status = StatusWarning
		o.reason = "the test command passed, but QLP cannot count tests from its output (" + plan.command + ")"
	default:
		o.status = StatusPassed
	}
	return o
}

var goTestPosRe = regexp.MustCompile(`^\s+([A-Za-z0-9_./-]+\.go):(\d+): (.*)$`)

// parseGoTest reads `go test -json` events.
func parseGoTest(p *project, out string, tr *TestRun) []Finding {
	module := goModule(p)
	var fs []Finding
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Action  string `json:"Action"`
			Package string `json:"Package"`
			Test    string `json:"Test"`
			Output  string `json:"Output"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		tr.Counted = true
		if e.Test == "" {
			continue
		}
		switch e.Action {
		case "pass":
			tr.Total++
			tr.Passed++
		case "fail":
			tr.Total++
			tr.Failed++
		case "skip":
			tr.Total++
			tr.Skipped++
		case "output":
			if m := goTestPosRe.FindStringSubmatch(strings.TrimRight(e.Output, "\n")); m != nil {
				dir := strings.TrimPrefix(strings.TrimPrefix(e.Package, module), "/")
				file := m[1]
				if dir != "" && !strings.Contains(file, "/") {
					file = dir + "/" + file
				}
				ln, _ := strconv.Atoi(m[2])
				fs = append(fs, Finding{File: p.rel(file), Line: ln, RuleID: e.Test, Severity: SeverityHigh, Message: strings.TrimSpace(m[3])})
			}
		}
	}
	return fs
}

// goTestText is the human-readable output inside go test -json events.
func goTestText(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		var e struct {
			Action string `json:"Action"`
			Output string `json:"Output"`
		}
		if json.Unmarshal([]byte(l), &e) == nil && (e.Action == "output" || e.Action == "build-output") {
			b.WriteString(e.Output)
		} else if !strings.HasPrefix(l, "{") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

var goModuleRe = regexp.MustCompile(`(?m)^module\s+(\S+)`)

func goModule(p *project) string {
	if m := goModuleRe.FindStringSubmatch(p.files["go.mod"]); m != nil {
		return strings.Trim(m[1], `"`)
	}
	return "qlp.local/snippet"
}

// parseJUnit reads pytest's JUnit XML (xunit1: test cases carry file and
// line).
func parseJUnit(p *project, body []byte, tr *TestRun) []Finding {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string    `xml:"name,attr"`
		Classname string    `xml:"classname,attr"`
		File      string    `xml:"file,attr"`
		Line      int       `xml:"line,attr"`
		Failures  []failure `xml:"failure"`
		Errors    []failure `xml:"error"`
		Skipped   []failure `xml:"skipped"`
	}
	type suite struct {
		Cases []testcase `xml:"testcase"`
	}
	var doc struct {
		XMLName xml.Name
		Suites  []suite    `xml:"testsuite"`
		Cases   []testcase `xml:"testcase"`
	}
	if len(body) == 0 || xml.Unmarshal(body, &doc) != nil {
		return nil
	}
	cases := doc.Cases
	for _, s := range doc.Suites {
		cases = append(cases, s.Cases...)
	}
	tr.Counted = true
	var fs []Finding
	for _, c := range cases {
		tr.Total++
		bad := append(c.Failures, c.Errors...)
		switch {
		case len(bad) > 0:
			tr.Failed++
			line := c.Line
			if line > 0 {
				line++ // xunit1 lines are 0-based
			}
			msg := bad[0].Message
			if fl := failureLine(p, bad[0].Text); fl.File != "" {
				fs = append(fs, Finding{File: fl.File, Line: fl.Line, RuleID: c.Name, Severity: SeverityHigh, Message: firstNonEmpty(msg, "test failed")})
				continue
			}
			fs = append(fs, Finding{File: p.rel(c.File), Line: line, RuleID: c.Name, Severity: SeverityHigh, Message: firstNonEmpty(msg, "test failed")})
		case len(c.Skipped) > 0:
			tr.Skipped++
		default:
			tr.Passed++
		}
	}
	return fs
}

var pyTraceRe = regexp.MustCompile(`(?m)^([A-Za-z0-9_./-]+\.py):(\d+): `)

// failureLine finds where in the project a pytest failure happened: the
// last "file.py:line: " of the traceback that is a project file.
func failureLine(p *project, text string) Finding {
	var f Finding
	for _, m := range pyTraceRe.FindAllStringSubmatch(text, -1) {
		if rel := p.rel(m[1]); p.has(rel) {
			ln, _ := strconv.Atoi(m[2])
			f = Finding{File: rel, Line: ln}
		}
	}
	return f
}

func firstNonEmpty(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return strings.TrimSpace(a)
	}
	return b
}

var (
	tapCountRe = regexp.MustCompile(`(?m)^# (tests|pass|fail|skipped|todo|cancelled) (\d+)$`)
	tapNotOkRe = regexp.MustCompile(`^\s*not ok \d+ - (.*)$`)
	tapLocRe   = regexp.MustCompile(`^\s*location: '(.+):(\d+):(\d+)'$`)
	tapStackRe = regexp.MustCompile(`\(?([^\s()]+\.[cm]?[jt]s):(\d+):(\d+)\)?`)
)

// parseTAP reads node --test's TAP (and the bash wrapper's): counts from
// the summary comments, a finding per "not ok" test at the first stack
// frame in the project, else its location.
func parseTAP(p *project, out string, tr *TestRun) []Finding {
	counts := map[string]int{}
	for _, m := range tapCountRe.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[2])
		counts[m[1]] = n // the last summary wins
	}
	if _, ok := counts["tests"]; ok {
		tr.Counted = true
		tr.Total, tr.Passed, tr.Failed = counts["tests"], counts["pass"], counts["fail"]+counts["cancelled"]
		tr.Skipped = counts["skipped"] + counts["todo"]
	}
	var fs []Finding
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		m := tapNotOkRe.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		name := strings.TrimSpace(m[1])
		f := Finding{RuleID: name, Severity: SeverityHigh, Message: "test failed: " + name}
		if strings.HasSuffix(name, ".sh") {
			f.File, f.Line = p.rel(name), 1
		}
		for j := i + 1; j < len(lines) && strings.TrimSpace(lines[j]) != "..."; j++ {
			l := lines[j]
			if lm := tapLocRe.FindStringSubmatch(l); lm != nil && f.File == "" {
				f.File = p.rel(lm[1])
				f.Line, _ = strconv.Atoi(lm[2])
				f.Column, _ = strconv.Atoi(lm[3])
			}
			if strings.Contains(l, "error: ") && !strings.Contains(l, "|") {
				f.Message = "test failed: " + name + ": " + strings.Trim(strings.TrimSpace(strings.SplitN(l, "error:", 2)[1]), `'"`)
			}
			if strings.HasPrefix(strings.TrimSpace(l), "stack:") {
				for k := j + 1; k < len(lines) && k < j+12; k++ {
					if sm := tapStackRe.FindStringSubmatch(lines[k]); sm != nil && !strings.HasPrefix(sm[1], "node:") {
						if rel := p.rel(sm[1]); p.has(rel) {
							f.File = rel
							f.Line, _ = strconv.Atoi(sm[2])
							f.Column, _ = strconv.Atoi(sm[3])
							break
						}
					}
				}
			}
			i = j
		}
		fs = append(fs, f)
	}
	return fs
}

var libtestRe = regexp.MustCompile(`test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored`)

func parseLibtest(out string, tr *TestRun) []Finding {
	for _, m := range libtestRe.FindAllStringSubmatch(out, -1) {
		tr.Counted = true
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		c, _ := strconv.Atoi(m[3])
		tr.Passed += a
		tr.Failed += b
		tr.Skipped += c
		tr.Total += a + b + c
	}
	return nil
}
