package validation

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

var errEmpty = errors.New("no output")

func bashCheckers() []*checker {
	sh := []string{"bash"}
	return []*checker{
		{name: "bash-syntax", category: CategoryCompile, tool: "bash", langs: sh, batch: "sh",
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("bash-syntax", append([]string{"bash", "-c",
					`rc=0; for f; do bash -n "$f" || rc=1; done; exit $rc`, "bash-syntax"}, shellFiles(p)...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				return compileOutcome(res[0], parseBashN(p, res[0].Stderr), "bash -n")
			}},
		{name: "shellcheck", category: CategoryStyle, tool: "shellcheck", langs: sh, batch: "sh",
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("shellcheck", append([]string{"shellcheck", "-f", "json1", "-s", "bash", "-x"}, shellFiles(p)...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				fs, err := parseShellcheck(p, res[0].Stdout)
				o := toolOutcome(res[0], fs)
				if o.status == "" && err != nil {
					o.status, o.reason = StatusFailed, "shellcheck could not check the project: "+firstLines(combined(res[0]), 3)
				}
				return o
			}},
	}
}

// shellFiles are the .sh files and extensionless files with a bash or sh
// shebang.
func shellFiles(p *project) []string {
	var out []string
	for _, n := range p.paths {
		c := p.files[n]
		if strings.HasSuffix(n, ".sh") || strings.HasSuffix(n, ".bash") ||
			!strings.Contains(n[strings.LastIndex(n, "/")+1:], ".") && (strings.HasPrefix(c, "#!/bin/bash") || strings.HasPrefix(c, "#!/usr/bin/env bash") || strings.HasPrefix(c, "#!/bin/sh")) {
			out = append(out, n)
		}
	}
	return out
}

var bashNRe = regexp.MustCompile(`^(.+?): line (\d+): (.*)$`)

func parseBashN(p *project, out string) []Finding {
	var fs []Finding
	for _, l := range strings.Split(out, "\n") {
		m := bashNRe.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil || strings.HasPrefix(m[3], "`") {
			continue // bash repeats the offending line after the message
		}
		ln, _ := strconv.Atoi(m[2])
		fs = append(fs, Finding{File: p.rel(m[1]), Line: ln, RuleID: "syntax", Severity: SeverityHigh, Message: m[3]})
	}
	return fs
}

func parseShellcheck(p *project, out string) ([]Finding, error) {
	var r struct {
		Comments []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Column  int    `json:"column"`
			Level   string `json:"level"`
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"comments"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		return nil, err
	}
	var fs []Finding
	for _, c := range r.Comments {
		sev := map[string]string{"error": SeverityHigh, "warning": SeverityMedium, "info": SeverityLow, "style": SeverityLow}[c.Level]
		if sev == "" {
			sev = SeverityLow
		}
		fs = append(fs, Finding{File: p.rel(c.File), Line: c.Line, Column: c.Column, RuleID: "SC" + strconv.Itoa(c.Code), Severity: sev, Message: c.Message})
	}
	return fs, nil
}
