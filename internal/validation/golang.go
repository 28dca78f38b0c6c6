package validation

import (
	"bufio"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// goModFor is the go.mod the mesh adds to a Go project that has none (a
// single file sent to POST /validate/code).
const goModFor = "module qlp.local/snippet\n\ngo 1.22\n"

func goCheckers() []*checker {
	goOnly := []string{"go"}
	return []*checker{
		{name: "go-build", category: CategoryCompile, tool: "go", langs: goOnly, batch: "go", inputs: inputsGo,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("go-build", "go", "build", "./...")}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				return compileOutcome(res[0], parseLines(p, combined(res[0]), goCompileRule), "go build")
			}},
		{name: "go-vet", category: CategoryCompile, tool: "go", langs: goOnly, batch: "go", inputs: inputsGoPackage,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("go-vet", append([]string{"go", "vet"}, p.goPackageArgs()...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				fs := parseLines(p, combined(res[0]), func(msg string) (string, string) { return "vet", SeverityHigh })
				return compileOutcome(res[0], fs, "go vet")
			}},
		{name: "gofmt", category: CategoryStyle, tool: "gofmt", langs: goOnly, batch: "go-lint", inputs: inputsGoFiles,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("gofmt", append([]string{"gofmt", "-d"}, p.scopeFiles(".go")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				o := toolOutcome(res[0], diffFindings(p, res[0].Stdout, "gofmt", "not gofmt-formatted (run gofmt -w)"))
				if o.status == "" && res[0].ExitCode != 0 {
					// gofmt exits non-zero when it cannot parse a file;
					// go-build reports the syntax error itself.
					o.findings = append(o.findings, parseLines(p, res[0].Stderr, func(string) (string, string) { return "gofmt-parse", SeverityMedium })...)
				}
				return o
			}},
		{name: "staticcheck", category: CategoryTypes, tool: "staticcheck", langs: goOnly, batch: "go-lint", inputs: inputsGoPackage,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("staticcheck", append([]string{"staticcheck", "-f", "json"}, p.goPackageArgs()...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				return toolOutcome(res[0], parseStaticcheck(p, res[0].Stdout))
			}},
		{name: "gosec", category: CategorySecurity, tool: "gosec", langs: goOnly, batch: "go-lint", inputs: inputsGoPackage,
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("gosec", append([]string{"gosec", "-fmt", "json", "-quiet"}, p.goPackageArgs()...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				fs, err := parseGosec(p, res[0].Stdout)
				o := toolOutcome(res[0], fs)
				if o.status == "" && err != nil {
					o.status, o.reason = StatusFailed, "gosec output could not be read: "+err.Error()
				}
				return o
			}},
	}
}

// goCompileRule: every line go build prints at a position is an error.
func goCompileRule(msg string) (string, string) { return "compile", SeverityHigh }

// parseStaticcheck reads `staticcheck -f json`: one JSON object a line.
func parseStaticcheck(p *project, out string) []Finding {
	var fs []Finding
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var d struct {
			Code     string `json:"code"`
			Severity string `json:"severity"`
			Location struct {
				File   string `json:"file"`
				Line   int    `json:"line"`
				Column int    `json:"column"`
			} `json:"location"`
			Message string `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &d) != nil || d.Code == "" {
			continue
		}
		if d.Location.File == "" {
			// A package that does not compile: the message holds the
			// compiler's own "file:line:col: msg" lines.
			fs = append(fs, parseLines(p, d.Message, goCompileRule)...)
			continue
		}
		sev := SeverityLow
		switch {
		case d.Code == "compile" || d.Severity == "error" && !strings.HasPrefix(d.Code, "S") && !strings.HasPrefix(d.Code, "Q"):
			sev = SeverityHigh
		case strings.HasPrefix(d.Code, "SA"):
			sev = SeverityMedium
		}
		if strings.HasPrefix(d.Code, "SA") && d.Severity == "error" {
			sev = SeverityHigh
		}
		fs = append(fs, Finding{File: p.rel(d.Location.File), Line: d.Location.Line, Column: d.Location.Column,
			RuleID: d.Code, Severity: sev, Message: d.Message})
	}
	return fs
}

// parseGosec reads `gosec -fmt json`. With -quiet it prints nothing when
// it finds nothing.
func parseGosec(p *project, out string) ([]Finding, error) {
	out = strings.TrimSpace(out)
	if out == "" {
		return nil, nil
	}
	if i := strings.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var r struct {
		Issues []struct {
			Severity   string `json:"severity"`
			Confidence string `json:"confidence"`
			RuleID     string `json:"rule_id"`
			Details    string `json:"details"`
			File       string `json:"file"`
			Line       string `json:"line"`
			Column     string `json:"column"`
		} `json:"Issues"`
		Errors map[string][]struct {
			Line   int    `json:"line"`
			Column int    `json:"column"`
			Error  string `json:"error"`
		} `json:"Golang errors"`
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&r); err != nil {
		return nil, err
	}
	var fs []Finding
	for _, is := range r.Issues {
		line, _ := strconv.Atoi(strings.SplitN(is.Line, "-", 2)[0])
		col, _ := strconv.Atoi(is.Column)
		fs = append(fs, Finding{File: p.rel(is.File), Line: line, Column: col, RuleID: is.RuleID,
			Severity: scannerSeverity(is.Severity, is.Confidence), Message: is.Details})
	}
	for file, errs := range r.Errors {
		if file == "" {
			continue
		}
		for _, e := range errs {
			fs = append(fs, Finding{File: p.rel(file), Line: e.Line, Column: e.Column, RuleID: "gosec-load",
				Severity: SeverityInfo, Message: "gosec could not load this file: " + e.Error})
		}
	}
	return fs, nil
}

// scannerSeverity maps a security scanner's severity and confidence
// (HIGH|MEDIUM|LOW) to a finding severity: a finding the scanner is not
// sure of counts one step less.
func scannerSeverity(sev, conf string) string {
	order := []string{SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo}
	i := map[string]int{"HIGH": 0, "MEDIUM": 1, "LOW": 2}[strings.ToUpper(sev)]
	if strings.EqualFold(sev, "") {
		i = 2
	}
	if strings.EqualFold(conf, "LOW") || strings.EqualFold(conf, "MEDIUM") && i == 0 {
		i++
	}
	return order[i]
}

// diffFindings reads unified diffs (gofmt -d, black --diff): one finding
// per hunk, at the first line that changes.
func diffFindings(p *project, out, rule, msg string) []Finding {
	var fs []Finding
	file := ""
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "+++ "):
			f := strings.TrimPrefix(l, "+++ ")
			if j := strings.IndexByte(f, '\t'); j >= 0 {
				f = f[:j]
			}
			f = strings.TrimPrefix(strings.TrimSpace(f), "b/")
			file = p.rel(f)
		case strings.HasPrefix(l, "@@ ") && file != "":
			// @@ -a,b +c,d @@
			old := strings.Fields(l)
			if len(old) < 2 {
				continue
			}
			start, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(old[1], "-"), ",", 2)[0])
			ln := start
			for j := i + 1; j < len(lines); j++ {
				if strings.HasPrefix(lines[j], "-") || strings.HasPrefix(lines[j], "+") {
					break
				}
				ln++
			}
			fs = append(fs, Finding{File: file, Line: ln, Column: 1, RuleID: rule, Severity: SeverityLow, Message: msg})
		}
	}
	return fs
}
