package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Command is one benchmark command of the page.
type Command struct {
	Section string // the heading it is under
	Line    string // the command as written, without its comment
	Variant bool   // a further command of its section, with a comment
	Words   []string
	Pkg     string // ./bench/x
	Test    bool   // go test (false: go run)
	Flags   []string
}

// goTestFlags are go test's own flags that take a value: they are not the
// benchmark's.
var goTestFlags = map[string]bool{"run": true, "bench": true, "benchtime": true, "timeout": true, "count": true,
	"cpu": true, "parallel": true, "tags": true, "benchmem": false, "v": false, "race": false, "short": false}

// Parse finds the benchmark commands of a Markdown page.
func Parse(text string) ([]Command, error) {
	var out []Command
	section, fenced, inSection := "", false, 0
	for n, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if !fenced && strings.HasPrefix(line, "#") {
			section, inSection = strings.TrimSpace(strings.TrimLeft(line, "#")), 0
			continue
		}
		var cmd string
		switch {
		case fenced:
			cmd = line
		case strings.HasPrefix(line, "    "):
			cmd = strings.TrimSpace(line)
		default:
			continue
		}
		comment := ""
		if i := strings.Index(cmd, " #"); i >= 0 {
			cmd, comment = strings.TrimSpace(cmd[:i]), cmd[i:]
		}
		if !strings.HasPrefix(cmd, "go run ./bench/") && !strings.HasPrefix(cmd, "go test ") {
			continue
		}
		words, err := split(cmd)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		c := Command{Section: section, Line: cmd, Words: words, Test: words[1] == "test", Variant: inSection > 0 && comment != ""}
		if err := c.classify(); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		if c.Pkg == "" {
			continue // a go test of something else than a benchmark
		}
		inSection++
		out = append(out, c)
	}
	if fenced {
		return nil, errors.New("a fenced block is not closed")
	}
	return out, nil
}

// classify finds the package and the benchmark's own flags.
func (c *Command) classify() error {
	args := c.Words[2:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "./bench/"):
			if c.Pkg != "" && c.Pkg != strings.TrimSuffix(a, "/") {
				return fmt.Errorf("two packages in %q", c.Line)
			}
			c.Pkg = strings.TrimSuffix(a, "/")
		case strings.HasPrefix(a, "-"):
			name, hasValue := strings.TrimLeft(a, "-"), false
			if i := strings.IndexByte(name, '='); i >= 0 {
				name, hasValue = name[:i], true
			}
			if c.Test {
				if takesValue, ok := goTestFlags[name]; ok {
					if takesValue && !hasValue {
						i++
					}
					continue
				}
			}
			c.Flags = append(c.Flags, name)
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !strings.HasPrefix(args[i+1], "./") {
				i++
			}
		case c.Test:
			// a package other than a benchmark's
		default:
			return fmt.Errorf("unexpected argument %q in %q", a, c.Line)
		}
	}
	return nil
}

// split splits a command into words as the shell would for the plain
// quoting the page uses (single and double quotes, no expansions).
func split(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == ' ' || ch == '\t':
			if in {
				words, in = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed quote in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	if len(words) < 3 {
		return nil, fmt.Errorf("too short a command: %q", s)
	}
	return words, nil
}

var helpFlag = regexp.MustCompile(`(?m)^\s+-([A-Za-z0-9_.\-]+)`)

// Check builds every command's package (the test binary for go test) and
// asks it for its flags: the page must not name a benchmark or a flag that
// is gone.
func Check(ctx context.Context, cmds []Command, log io.Writer) error {
	dir, err := os.MkdirTemp("", "qlp-bench-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	flags := map[string]map[string]bool{}
	var problems []string
	for _, c := range cmds {
		key := fmt.Sprintf("%s %v", c.Pkg, c.Test)
		have, ok := flags[key]
		if !ok {
			if have, err = flagsOf(ctx, dir, c); err != nil {
				problems = append(problems, err.Error())
				flags[key] = nil
				continue
			}
			flags[key] = have
		}
		if have == nil {
			continue
		}
		for _, f := range c.Flags {
			if !have[f] {
				problems = append(problems, fmt.Sprintf("%s: %s has no flag -%s", c.Line, c.Pkg, f))
			}
		}
		fmt.Fprintf(log, "ok  %s\n", c.Line)
	}
	if len(problems) > 0 {
		return fmt.Errorf("docs/benchmarks.md names what does not exist:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func flagsOf(ctx context.Context, dir string, c Command) (map[string]bool, error) {
	bin := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(c.Pkg, "./"), "/", "_"))
	build := []string{"build", "-o", bin, c.Pkg}
	if c.Test {
		bin += ".test"
		build = []string{"test", "-c", "-o", bin, c.Pkg}
	}
	if out, err := exec.CommandContext(ctx, "go", build...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: go %s: %v: %s", c.Line, strings.Join(build, " "), err, bytes.TrimSpace(out))
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %s built no binary (no test files?)", c.Line, c.Pkg)
	}
	// -h prints the flags and exits with status 0 or 2.
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	have := map[string]bool{}
	for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
		have[m[1]] = true
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("%s: %s -h lists no flags: %s", c.Line, c.Pkg, bytes.TrimSpace(out))
	}
	return have, nil
}
