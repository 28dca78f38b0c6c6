package validation

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// eslintConfigPath is where the mesh writes its own ESLint configuration
// in the sandbox (a project's configuration could load plugins).
const eslintConfigPath = ".qlp-eslint.config.mjs"

// eslintConfig checks for real defects (undefined names, unreachable code,
// duplicate keys…) rather than taste.
const eslintConfig = `const g = {};
for (const n of ["require", "module", "exports", "__dirname", "__filename", "process", "console", "Buffer",
  "setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate", "queueMicrotask",
  "URL", "URLSearchParams", "TextEncoder", "TextDecoder", "fetch", "Request", "Response", "Headers", "AbortController",
  "AbortSignal", "structuredClone", "globalThis", "performance", "crypto", "Blob", "FormData", "Event", "EventTarget",
  "window", "document", "navigator", "localStorage", "sessionStorage", "alert", "HTMLElement", "location", "history"]) g[n] = "readonly";
export default [
  { ignores: ["node_modules/**", "dist/**", "build/**", "coverage/**"] },
  {
    files: ["**/*.js", "**/*.cjs", "**/*.mjs"],
    languageOptions: { ecmaVersion: "latest", sourceType: "commonjs", globals: g },
    rules: {
      "no-undef": "error", "no-unreachable": "error", "no-dupe-keys": "error", "no-dupe-args": "error",
      "no-duplicate-case": "error", "no-func-assign": "error", "no-const-assign": "error", "no-self-assign": "error",
      "no-unsafe-negation": "error", "use-isnan": "error", "valid-typeof": "error", "no-cond-assign": "warn",
      "no-unused-vars": ["warn", { "args": "none" }], "no-empty": "warn", "no-constant-condition": "warn",
      "eqeqeq": ["warn", "smart"], "no-var": "warn", "prefer-const": "warn"
    }
  },
  { files: ["**/*.mjs"], languageOptions: { sourceType: "module" } }
];
`

func jsCheckers() []*checker {
	js := []string{"javascript"}
	return []*checker{
		{name: "node-check", category: CategoryCompile, tool: "node", langs: js, batch: "js",
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("node-check", append([]string{"bash", "-c",
					`rc=0; for f; do node --check "$f" 2>&1 || rc=1; done; exit $rc`, "node-check"}, p.withExt(".js", ".cjs", ".mjs")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				return compileOutcome(res[0], parseNodeCheck(p, res[0].Stdout), "node --check")
			}},
		{name: "eslint", category: CategoryStyle, tool: "eslint", langs: js, batch: "js-lint",
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("eslint", append([]string{"eslint", "--config", eslintConfigPath, "--no-warn-ignored",
					"-f", "json"}, p.withExt(".js", ".cjs", ".mjs")...)...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				fs, err := parseESLint(p, res[0].Stdout)
				o := toolOutcome(res[0], fs)
				if o.status == "" && err != nil {
					o.status, o.reason = StatusFailed, "eslint could not check the project: "+firstLines(combined(res[0]), 3)
				}
				return o
			}},
		{name: "tsc", category: CategoryCompile, tool: "tsc", langs: []string{"typescript"}, batch: "ts",
			cmds: func(p *project, _ *Config) []sandbox.Command {
				return []sandbox.Command{cmd("tsc", tscArgs(p, "--noEmit")...)}
			},
			parse: func(p *project, res []sandbox.CommandResult, _ []sandbox.File) outcome {
				return compileOutcome(res[0], parseLines(p, tscToLines(res[0].Stdout), tscRule), "tsc")
			}},
	}
}

// typesRoot holds @types/node when scripts/deps/validation.sh installed it.
const typesRoot = "/usr/local/lib/node_modules/@types"

// tscArgs runs tsc with the project's tsconfig.json, or with strict
// defaults over its .ts files.
func tscArgs(p *project, extra ...string) []string {
	args := []string{"tsc", "--pretty", "false"}
	if p.has("tsconfig.json") {
		return append(append(args, "-p", "tsconfig.json"), extra...)
	}
	args = append(args, "--strict", "--target", "es2022", "--module", "commonjs", "--moduleResolution", "node",
		"--esModuleInterop", "--skipLibCheck", "--typeRoots", typesRoot, "--types", "node")
	args = append(args, extra...)
	return append(args, p.withExt(".ts")...)
}

var tscLineRe = regexp.MustCompile(`(?m)^(.+\.tsx?)\((\d+),(\d+)\): `)

// tscToLines rewrites tsc's "file(line,col): msg" as "file:line:col: msg".
func tscToLines(out string) string { return tscLineRe.ReplaceAllString(out, "$1:$2:$3: ") }

var tscCodeRe = regexp.MustCompile(`^error (TS\d+):`)

func tscRule(msg string) (string, string) {
	if m := tscCodeRe.FindStringSubmatch(msg); m != nil {
		return m[1], SeverityHigh
	}
	return "", ""
}

var nodeCheckRe = regexp.MustCompile(`^(.+\.[cm]?js):(\d+)$`)

// parseNodeCheck reads node --check's "file:line", source, caret, blank,
// "SyntaxError: …" blocks.
func parseNodeCheck(p *project, out string) []Finding {
	var fs []Finding
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		m := nodeCheckRe.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		ln, _ := strconv.Atoi(m[2])
		f := Finding{File: p.rel(m[1]), Line: ln, RuleID: "syntax", Severity: SeverityHigh, Message: "syntax error"}
		for j := i + 1; j < len(lines) && j < i+8; j++ {
			if c := strings.IndexByte(lines[j], '^'); c >= 0 && strings.Trim(lines[j], " ^") == "" && f.Column == 0 {
				f.Column = c + 1
			}
			if strings.Contains(lines[j], "Error:") {
				f.Message = strings.TrimSpace(lines[j])
				i = j
				break
			}
		}
		fs = append(fs, f)
	}
	return fs
}

// parseESLint reads `eslint -f json`.
func parseESLint(p *project, out string) ([]Finding, error) {
	out = strings.TrimSpace(out)
	if out == "" {
		return nil, errEmpty
	}
	var files []struct {
		FilePath string `json:"filePath"`
		Messages []struct {
			RuleID   string `json:"ruleId"`
			Severity int    `json:"severity"`
			Fatal    bool   `json:"fatal"`
			Message  string `json:"message"`
			Line     int    `json:"line"`
			Column   int    `json:"column"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &files); err != nil {
		return nil, err
	}
	var fs []Finding
	for _, f := range files {
		for _, m := range f.Messages {
			sev, id := SeverityLow, m.RuleID
			switch {
			case m.Fatal:
				sev, id = SeverityHigh, "parse"
			case m.Severity == 2:
				sev = SeverityMedium
			}
			fs = append(fs, Finding{File: p.rel(f.FilePath), Line: m.Line, Column: m.Column, RuleID: id, Severity: sev, Message: m.Message})
		}
	}
	return fs, nil
}
