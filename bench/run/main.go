// Command run runs the benchmarks whose commands docs/benchmarks.md gives,
// so that the figures in that page can be re-measured with one command
// (`make bench`, which is scripts/run-benchmarks.sh) and the page cannot
// name a benchmark or a flag that no longer exists (`-check`, run by a test
// in `make test`).
//
// A command is a line of the page, indented by four spaces or inside a
// fenced block, that starts with `go run ./bench/` or `go test` and names a
// package under ./bench/. The first command of each section is its main
// one; further commands of a section that end with a `# comment` are
// variants (other settings, the worst case), run only with -all.
//
// Usage (from the repository root):
//
//	go run ./bench/run            # every main command, one after another
//	go run ./bench/run -all       # the variants too
//	go run ./bench/run -only memory
//	go run ./bench/run -list
//	go run ./bench/run -check     # every command's package and flags exist
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench/run:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	doc := fs.String("doc", "docs/benchmarks.md", "the page whose commands are run")
	all := fs.Bool("all", false, "run the variants too")
	only := fs.String("only", "", "run only commands matching this regular expression")
	list := fs.Bool("list", false, "print the commands and exit")
	check := fs.Bool("check", false, "check that every command's package and flags exist, run nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	text, err := os.ReadFile(*doc)
	if err != nil {
		return fmt.Errorf("read the benchmark page: %w", err)
	}
	cmds, err := Parse(string(text))
	if err != nil {
		return fmt.Errorf("%s: %w", *doc, err)
	}
	if len(cmds) == 0 {
		return fmt.Errorf("%s gives no benchmark command", *doc)
	}
	var re *regexp.Regexp
	if *only != "" {
		if re, err = regexp.Compile(*only); err != nil {
			return fmt.Errorf("-only: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *check {
		return Check(ctx, cmds, stderr)
	}
	var failed []string
	for _, c := range cmds {
		if (c.Variant && !*all) || (re != nil && !re.MatchString(c.Line)) {
			continue
		}
		if *list {
			fmt.Fprintf(stdout, "%s\t%s\n", c.Section, c.Line)
			continue
		}
		fmt.Fprintf(stderr, "== %s: %s\n", c.Section, c.Line)
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", "-c", c.Line)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "== FAILED after %s: %s: %v\n", time.Since(start).Round(time.Second), c.Line, err)
			failed = append(failed, c.Line)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fmt.Fprintf(stderr, "== done in %s\n", time.Since(start).Round(time.Second))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d benchmark(s) failed: %q", len(failed), failed)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}
