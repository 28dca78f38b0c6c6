package validation

import (
	"bufio"
	"encoding/json"
	"strings"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

func javaRustCheckers() []*checker {
	return []*checker{
		{name: "javac", category: CategoryCompile, tool: "javac", langs: []string{"java"}, batch: "java",
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("javac", append([]string{"javac", "-J-XX:+UseSerialGC", "-J-Xmx512m", "-Xlint:all", "-d", "/tmp/qlp-javac"}, p.withExt(".java")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				fs := parseLines(p, combined(res[0]), func(msg string) (string, string) {
					switch {
					case strings.HasPrefix(msg, "error:"):
						return "javac", SeverityHigh
					case strings.HasPrefix(msg, "warning:"):
						return "javac-lint", SeverityLow
					}
					return "", ""
				})
				return compileOutcome(res[0], fs, "javac")
			}},
		{name: "rustc", category: CategoryCompile, tool: "rustc", langs: []string{"rust"}, batch: "rust",
			skip: func(p *project) string {
				if rustRoot(p) == "" {
					return "no main.rs, src/main.rs or src/lib.rs to compile"
				}
				return ""
			},
			cmds: func(p *project, _ *Config) []sandbox.Command {
				root := rustRoot(p)
				kind := "bin"
				if strings.HasSuffix(root, "lib.rs") {
					kind = "lib"
				}
				return []sandbox.Command{cmd("rustc", "rustc", "--edition", "2021", "--crate-type", kind, "--emit=metadata",
					"--error-format=json", "-o", "/tmp/qlp-rustc.rmeta", root)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				return compileOutcome(res[0], parseRustc(p, res[0].Stderr), "rustc")
			}},
	}
}

// rustRoot is the crate root rustc compiles.
func rustRoot(p *project) string {
	for _, n := range []string{"src/main.rs", "src/lib.rs", "main.rs", "lib.rs"} {
		if p.has(n) {
			return n
		}
	}
	return ""
}

// parseRustc reads --error-format=json diagnostics, one JSON object a line.
func parseRustc(p *project, out string) []Finding {
	var fs []Finding
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var d struct {
			Message string `json:"message"`
			Level   string `json:"level"`
			Code    *struct {
				Code string `json:"code"`
			} `json:"code"`
			Spans []struct {
				File      string `json:"file_name"`
				Line      int    `json:"line_start"`
				Column    int    `json:"column_start"`
				IsPrimary bool   `json:"is_primary"`
			} `json:"spans"`
		}
		if json.Unmarshal(sc.Bytes(), &d) != nil || len(d.Spans) == 0 {
			continue
		}
		sev := map[string]string{"error": SeverityHigh, "warning": SeverityLow}[d.Level]
		if sev == "" {
			continue
		}
		s := d.Spans[0]
		for _, sp := range d.Spans {
			if sp.IsPrimary {
				s = sp
				break
			}
		}
		id := "rustc"
		if d.Code != nil && d.Code.Code != "" {
			id = d.Code.Code
		}
		fs = append(fs, Finding{File: p.rel(s.File), Line: s.Line, Column: s.Column, RuleID: id, Severity: sev, Message: d.Message})
	}
	return fs
}
