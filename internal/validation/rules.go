package validation

import (
	"math"
	"path"
	"regexp"
	"strings"
)

// QLP's built-in rules: secret detection across every file of every
// language, and dangerous patterns per language. They are regular
// expressions (RE2: linear time, no backtracking) over the files' bytes,
// evaluated by QLP's own code; nothing of the project is executed, so they
// run in-process rather than in the sandbox.

// rule is one pattern. langs nil means every file.
type rule struct {
	id       string
	langs    []string // file kinds: go, python, javascript, typescript, bash, java, rust
	re       *regexp.Regexp
	severity string
	message  string
	// keep, when set, must accept the match (e.g. entropy of a value).
	keep func(m []string) bool
}

// fileKind is the language of a file by its name.
func fileKind(name string) string {
	switch path.Ext(name) {
	case ".go":
		return "go"
	case ".py":
		return "python"
	case ".js", ".cjs", ".mjs", ".jsx":
		return "javascript"
	case ".ts", ".tsx":
		return "typescript"
	case ".sh", ".bash":
		return "bash"
	case ".java":
		return "java"
	case ".rs":
		return "rust"
	}
	return ""
}

var secretRules = []rule{
	{id: "private-key", re: regexp.MustCompile(`-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----`), severity: SeverityCritical, message: "private key in the source"},
	{id: "aws-access-key-id", re: regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b`), severity: SeverityCritical, message: "AWS access key id"},
	{id: "github-token", re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b`), severity: SeverityCritical, message: "GitHub token"},
	{id: "slack-token", re: regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}\b`), severity: SeverityCritical, message: "Slack token"},
	{id: "stripe-key", re: regexp.MustCompile(`\b[sr]k_live_[A-Za-z0-9]{16,}\b`), severity: SeverityCritical, message: "Stripe live key"},
	{id: "google-api-key", re: regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`), severity: SeverityCritical, message: "Google API key"},
	{id: "openai-key", re: regexp.MustCompile(`\bsk-(?:proj-|svcacct-|ant-)?[A-Za-z0-9_-]{32,}\b`), severity: SeverityCritical, message: "OpenAI/Anthropic API key"},
	{id: "jwt", re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b`), severity: SeverityHigh, message: "JSON Web Token"},
	{id: "url-credentials", re: regexp.MustCompile(`\b[a-z][a-z0-9+.-]*://[^\s/:@"']+:([^\s/@"']{6,})@[^\s"']+`), severity: SeverityCritical, message: "credentials in a URL",
		keep: func(m []string) bool { return !placeholder(m[1]) }},
	// A credential-like name assigned a literal: password = "…",
	// API_KEY: '…', "secret": "…", token := "…".
	{id: "hardcoded-credential", re: regexp.MustCompile(`(?i)\b[A-Za-z0-9_]*(?:passw(?:or)?d|passwd|pwd|secret|api_?key|apikey|access_?key|auth_?token|private_?key|client_?secret|token)[A-Za-z0-9_]*["']?\s*(?::=|=|:)\s*["']([^"'\s]{8,})["']`),
		severity: SeverityCritical, message: "hard-coded credential",
		keep: func(m []string) bool { return !placeholder(m[1]) && entropy(m[1]) >= 3.0 }},
}

// placeholder values are not secrets: examples, environment lookups,
// templates.
func placeholder(v string) bool {
	l := strings.ToLower(v)
	for _, w := range []string{"example", "changeme", "change-me", "placeholder", "your", "xxxx", "****", "<", "${", "{{", "%s", "dummy", "redacted", "secret_here", "env", "test", "fake", "sample"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	freq := map[rune]float64{}
	for _, r := range s {
		freq[r]++
	}
	n := float64(len([]rune(s)))
	var h float64
	for _, c := range freq {
		p := c / n
		h -= p * math.Log2(p)
	}
	return h
}

var patternRules = []rule{
	// SQL built from input.
	{id: "sql-injection", langs: []string{"go"}, severity: SeverityCritical, message: "SQL built from input: use a parameterised query",
		re: regexp.MustCompile(`\.(?:Query|QueryRow|QueryContext|QueryRowContext|Exec|ExecContext|Prepare|PrepareContext)\((?:\s*ctx\s*,)?\s*(?:fmt\.Sprintf\(|"[^"]*"\s*\+|[A-Za-z_][A-Za-z0-9_]*\s*\+\s*")`)},
	{id: "sql-injection", langs: []string{"go", "java", "javascript", "typescript", "python"}, severity: SeverityCritical, message: "SQL built by concatenating input: use a parameterised query",
		re: regexp.MustCompile(`(?i)["'\x60]\s*(?:SELECT\s[^"'\x60]*\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b[^"'\x60]*["'\x60]\s*\+\s*[A-Za-z_(]`)},
	{id: "sql-injection", langs: []string{"python"}, severity: SeverityCritical, message: "SQL built from input: pass parameters to execute() instead",
		re: regexp.MustCompile(`\.execute(?:many)?\(\s*(?:f["']|["'][^"']*["']\s*(?:%|\.format\()|[A-Za-z_][A-Za-z0-9_]*\s*%\s)`)},
	{id: "sql-injection", langs: []string{"python"}, severity: SeverityCritical, message: "SQL built with an f-string: use a parameterised query",
		re: regexp.MustCompile(`(?i)\bf["'](?:SELECT\s.*\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b[^"']*\{`)},
	{id: "sql-injection", langs: []string{"javascript", "typescript"}, severity: SeverityCritical, message: "SQL built from input: use placeholders",
		re: regexp.MustCompile("(?i)(?:\\.(?:query|execute|raw|all|get|run)\\(\\s*`[^`]*\\$\\{|`\\s*(?:SELECT\\s[^`]*\\sFROM|INSERT\\s+INTO|UPDATE\\s+\\w+\\s+SET|DELETE\\s+FROM)\\b[^`]*\\$\\{)")},
	{id: "sql-injection", langs: []string{"bash"}, severity: SeverityCritical, message: "SQL built from input passed to a database client",
		re: regexp.MustCompile(`\b(?:sqlite3|mysql|psql|mariadb)\b[^\n]*["'](?i:SELECT|INSERT|UPDATE|DELETE)\b[^"\n]*\$`)},
	// Weak hashes and ciphers.
	{id: "weak-hash", langs: []string{"go"}, severity: SeverityHigh, message: "weak hash (MD5/SHA-1): use SHA-256 or better",
		re: regexp.MustCompile(`\b(?:md5|sha1)\.(?:New|Sum)\b|"crypto/(?:md5|sha1|des|rc4)"`)},
	{id: "weak-hash", langs: []string{"python"}, severity: SeverityHigh, message: "weak hash (MD5/SHA-1): use hashlib.sha256 or better",
		re: regexp.MustCompile(`\bhashlib\.(?:md5|sha1)\((?:[^)]*usedforsecurity\s*=\s*False)?|hashlib\.new\(\s*["'](?:md5|sha1)["']`), keep: func(m []string) bool { return !strings.Contains(m[0], "usedforsecurity") }},
	{id: "weak-hash", langs: []string{"javascript", "typescript"}, severity: SeverityHigh, message: "weak hash (MD5/SHA-1): use sha256 or better",
		re: regexp.MustCompile(`createHash\(\s*["'](?:md5|sha1|md4)["']`)},
	{id: "weak-hash", langs: []string{"java"}, severity: SeverityHigh, message: "weak hash (MD5/SHA-1): use SHA-256 or better",
		re: regexp.MustCompile(`MessageDigest\.getInstance\(\s*"(?:MD5|SHA-?1|MD2)"`)},
	{id: "weak-hash", langs: []string{"bash"}, severity: SeverityHigh, message: "weak hash (MD5/SHA-1) used: use sha256sum",
		re: regexp.MustCompile(`(?:^|[\s|;&(])(?:md5sum|sha1sum|openssl\s+(?:md5|sha1))\b`)},
	// Shell commands built from input.
	{id: "shell-injection", langs: []string{"go"}, severity: SeverityCritical, message: "shell command built from input: pass arguments separately, without a shell",
		re: regexp.MustCompile(`exec\.Command(?:Context)?\((?:\s*ctx\s*,)?\s*"(?:/bin/)?(?:sh|bash)"\s*,\s*"-c"\s*,\s*(?:fmt\.Sprintf\(|[^)\n]*\+)`)},
	{id: "shell-injection", langs: []string{"python"}, severity: SeverityCritical, message: "shell command built from input: use subprocess.run([...]) without shell=True",
		re: regexp.MustCompile(`\bos\.(?:system|popen)\(\s*(?:f["']|["'][^"']*["']\s*(?:\+|%|\.format\()|[A-Za-z_][A-Za-z0-9_]*\s*[+%])|\bsubprocess\.\w+\((?:f["']|["'][^"']*["']\s*[+%])[^\n]*shell\s*=\s*True`)},
	{id: "shell-injection", langs: []string{"javascript", "typescript"}, severity: SeverityCritical, message: "shell command built from input: use execFile/spawn with an argument array",
		re: regexp.MustCompile("\\bexec(?:Sync)?\\(\\s*(?:`[^`]*\\$\\{|[\"'][^\"']*[\"']\\s*\\+)")},
	{id: "shell-injection", langs: []string{"bash"}, severity: SeverityCritical, message: "eval of input: a command built from data",
		re: regexp.MustCompile(`(?:^|[\s;&|(])eval\s+[^\n#]*\$`)},
	{id: "shell-injection", langs: []string{"bash"}, severity: SeverityCritical, message: "command built from input run by a new shell",
		re: regexp.MustCompile(`\b(?:bash|sh)\s+-c\s+"[^"]*\$(?:\{?[1-9@*]|\{?[A-Za-z_]*(?:INPUT|input|ARG|arg|QUERY|query|USER|user)[A-Za-z_]*)`)},
	// Unsafe deserialisation and code evaluation.
	{id: "unsafe-deserialization", langs: []string{"python"}, severity: SeverityHigh, message: "unsafe deserialisation (pickle/marshal/yaml.load): data can run code",
		re: regexp.MustCompile(`\b(?:pickle|cPickle|dill|marshal|shelve)\.loads?\(|\byaml\.load\((?:[^)]*Loader\s*=\s*yaml\.(?:Unsafe|Full)?Loader|[^,)]*\))|\byaml\.unsafe_load\(`)},
	{id: "code-eval", langs: []string{"python"}, severity: SeverityHigh, message: "eval/exec of data",
		re: regexp.MustCompile(`(?:^|[^.\w])(?:eval|exec)\(\s*(?:request|input|data|body|payload|user|params|args|sys\.argv)`)},
	{id: "code-eval", langs: []string{"javascript", "typescript"}, severity: SeverityHigh, message: "eval/new Function of data",
		re: regexp.MustCompile(`(?:^|[^.\w])(?:eval\(\s*[A-Za-z_$]|new Function\()`)},
	{id: "unsafe-deserialization", langs: []string{"javascript", "typescript"}, severity: SeverityHigh, message: "unsafe deserialisation (node-serialize)",
		re: regexp.MustCompile(`\bunserialize\(`)},
	{id: "unsafe-deserialization", langs: []string{"java"}, severity: SeverityHigh, message: "Java deserialisation of untrusted data (ObjectInputStream)",
		re: regexp.MustCompile(`new\s+ObjectInputStream\(`)},
	{id: "unsafe-deserialization", langs: []string{"go"}, severity: SeverityMedium, message: "gob decoding of untrusted input can exhaust memory; bound the reader",
		re: regexp.MustCompile(`gob\.NewDecoder\(\s*(?:r\.Body|req\.Body|conn)`)},
	{id: "tls-verify-disabled", langs: []string{"go"}, severity: SeverityHigh, message: "TLS certificate verification disabled",
		re: regexp.MustCompile(`InsecureSkipVerify:\s*true`)},
	{id: "tls-verify-disabled", langs: []string{"python"}, severity: SeverityHigh, message: "TLS certificate verification disabled",
		re: regexp.MustCompile(`\bverify\s*=\s*False\b`)},
}

// commentLine reports lines that are only a comment.
func commentLine(kind, line string) bool {
	t := strings.TrimSpace(line)
	switch kind {
	case "python", "bash":
		return strings.HasPrefix(t, "#")
	case "":
		return false
	}
	return strings.HasPrefix(t, "//") || strings.HasPrefix(t, "*") || strings.HasPrefix(t, "/*")
}

// scan runs rules over a file, line by line, skipping comment lines.
func scan(name, content string, rules []rule, test bool) []Finding {
	kind := fileKind(name)
	var fs []Finding
	lines := strings.Split(content, "\n")
	for i, line := range lines {
		if len(line) > 4096 {
			line = line[:4096] // minified or generated: the start is enough
		}
		if commentLine(kind, line) {
			continue
		}
		for _, r := range rules {
			if r.langs != nil && !contains(r.langs, kind) {
				continue
			}
			m := r.re.FindStringSubmatchIndex(line)
			if m == nil {
				continue
			}
			groups := make([]string, len(m)/2)
			for g := range groups {
				if m[2*g] >= 0 {
					groups[g] = line[m[2*g]:m[2*g+1]]
				}
			}
			if r.keep != nil && !r.keep(groups) {
				continue
			}
			sev := r.severity
			if test && r.id == "hardcoded-credential" {
				sev = SeverityMedium // fixtures in tests: still worth a look
			}
			fs = append(fs, Finding{File: name, Line: i + 1, Column: m[0] + 1, RuleID: r.id, Severity: sev, Message: r.message})
		}
	}
	return fs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isTestFile(name string) bool {
	b := path.Base(name)
	return strings.HasSuffix(b, "_test.go") || strings.HasPrefix(b, "test_") || strings.HasSuffix(b, "_test.py") ||
		strings.Contains(b, ".test.") || strings.Contains(b, ".spec.") || strings.HasPrefix(name, "tests/") ||
		strings.HasPrefix(name, "test/") || strings.HasSuffix(b, "_test.sh")
}

func secretsChecker() *checker {
	return &checker{name: "secrets", category: CategorySecurity, tool: "qlp-secrets",
		local: func(p *project) outcome {
			var fs []Finding
			for _, n := range p.paths {
				fs = append(fs, scan(n, p.files[n], secretRules, isTestFile(n))...)
			}
			return outcome{findings: fs}
		}}
}

func patternsChecker() *checker {
	return &checker{name: "patterns", category: CategorySecurity, tool: "qlp-patterns",
		local: func(p *project) outcome {
			var fs []Finding
			for _, n := range p.paths {
				if vendored(n) || fileKind(n) == "" {
					continue
				}
				fs = append(fs, scan(n, p.files[n], patternRules, isTestFile(n))...)
			}
			return outcome{findings: fs}
		}}
}
