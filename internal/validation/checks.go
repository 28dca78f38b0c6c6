package validation

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// checker is one validator: a small unit with a name, a category and the
// tool it runs. Checks that run a tool declare the sandbox commands they
// need and parse the results; checks of the same batch share one sandbox
// run (and so its build cache). Built-in checks (local) run QLP's own rules
// over the files' bytes in-process and execute nothing of the project.
type checker struct {
	name     string
	category string
	tool     string   // key into the detected tools
	needs    []string // other tools it needs (e.g. tests need pytest)
	langs    []string // languages it applies to; nil: every language
	batch    string   // sandbox run it belongs to
	// inputs says what its result depends on, and so its cache key
	// (inputs.go); the zero value is the whole project.
	inputs inputMode
	// skip, when it returns a reason, reports the check as skipped
	// without running it (e.g. no test files).
	skip func(p *project) string
	// cmds are the commands the check runs in the sandbox.
	cmds func(p *project, cfg *Config) []sandbox.Command
	// collect names files the commands write that parse needs.
	collect []string
	// parse turns the commands' results into the check's outcome.
	parse func(p *project, res []sandbox.CommandResult, files []sandbox.File) outcome
	// local runs the check in-process.
	local func(p *project) outcome
}

// outcome is what a check found. Status empty means: from the findings.
type outcome struct {
	status   string
	reason   string
	findings []Finding
	output   string
	tests    *TestRun
}

func (c *checker) appliesTo(lang string) bool {
	if c.langs == nil {
		return true
	}
	for _, l := range c.langs {
		if l == lang {
			return true
		}
	}
	return false
}

// checkers is every validator the mesh knows, in report order.
func checkers() []*checker {
	var all []*checker
	all = append(all, goCheckers()...)
	all = append(all, pythonCheckers()...)
	all = append(all, jsCheckers()...)
	all = append(all, bashCheckers()...)
	all = append(all, javaRustCheckers()...)
	all = append(all, secretsChecker(), patternsChecker(), importsChecker(), commandsChecker())
	all = append(all, testCheckers()...)
	return all
}

// checkType maps a category to the earlier QLP's check type.
func checkType(category string) string {
	switch category {
	case CategorySecurity:
		return "security"
	case CategoryTests:
		return "unit_test"
	}
	return "static_analysis"
}

// legacySeverity maps the worst finding to the earlier QLP's severities.
func legacySeverity(fs []Finding, status string) string {
	worst := SeverityInfo
	for _, f := range fs {
		if severityRank(f.Severity) < severityRank(worst) {
			worst = f.Severity
		}
	}
	switch {
	case worst == SeverityCritical:
		return "critical"
	case worst == SeverityHigh || status == StatusFailed:
		return "error"
	case worst == SeverityMedium || worst == SeverityLow:
		return "warning"
	}
	return "info"
}

// lineRe matches the "file:line[:col]: message" lines most compilers and
// linters print.
var lineRe = regexp.MustCompile(`^([^\s:][^:]*\.[A-Za-z0-9]+):(\d+)(?::(\d+))?:?\s*(.*)$`)

// parseLines reads "file:line[:col]: message" lines; sev and rule decide a
// finding's severity and rule id from its message.
func parseLines(p *project, out string, rule func(msg string) (string, string)) []Finding {
	var fs []Finding
	for _, line := range strings.Split(out, "\n") {
		m := lineRe.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		ln, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		id, sev := rule(m[4])
		if sev == "" {
			continue
		}
		fs = append(fs, Finding{File: p.rel(m[1]), Line: ln, Column: col, RuleID: id, Severity: sev, Message: strings.TrimSpace(m[4])})
	}
	return fs
}

// tail keeps the end of a tool's output as evidence.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func combined(r sandbox.CommandResult) string {
	switch {
	case r.Stdout == "":
		return r.Stderr
	case r.Stderr == "":
		return r.Stdout
	}
	return r.Stdout + "\n" + r.Stderr
}

// ranToEnd reports whether a command ran and exited by itself (zero or
// not), as opposed to being killed by a limit or not starting.
func ranToEnd(r sandbox.CommandResult) bool {
	return r.Status == sandbox.StatusCompleted || (r.Status == sandbox.StatusFailed && r.ExitCode >= 0 && r.ExitCode != 126 && r.ExitCode != 127)
}

// abnormal describes a command that did not run to its end.
func abnormal(r sandbox.CommandResult) string {
	reason := r.Reason
	if reason == "" {
		reason = string(r.Status)
	}
	if r.ExitCode == 127 {
		reason = "the program was not found in the sandbox"
	}
	return reason
}

// toolOutcome is the common shape of a lint-like check: findings from the
// output; failed (with the reason) when the tool did not run to its end.
func toolOutcome(r sandbox.CommandResult, fs []Finding) outcome {
	o := outcome{findings: fs, output: tail(combined(r), 4000)}
	if !ranToEnd(r) {
		o.status, o.reason = StatusFailed, "the tool did not finish: "+abnormal(r)
	}
	return o
}

// compileOutcome is the shape of a compile check: failed when the
// compiler exits non-zero, with at least one finding saying why.
func compileOutcome(r sandbox.CommandResult, fs []Finding, what string) outcome {
	o := toolOutcome(r, fs)
	if o.status != "" {
		return o
	}
	if r.ExitCode != 0 {
		o.status = StatusFailed
		o.reason = what + " failed"
		if len(fs) == 0 {
			o.reason += ": " + firstLines(combined(r), 3)
		}
	}
	return o
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

func cmd(name string, args ...string) sandbox.Command {
	return sandbox.Command{Name: name, Args: args, ContinueOnFailure: true}
}
