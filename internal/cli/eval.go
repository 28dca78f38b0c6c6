package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/eval"
)

type evalOpts struct {
	concurrency int
	tier, llm   string
	out         string
	jsonOut     bool
}

func newEvalCmd(e *env) *cobra.Command {
	var o evalOpts
	cmd := &cobra.Command{
		Use:   "eval DATASET.jsonl",
		Short: "Measure the platform on a dataset: pass@1, attempts, tokens, dollars per solved task",
		Long: `Run every task of a JSONL dataset (docs/eval.md) through the platform as a
job, add the task's hidden tests to the capsule it produces and test it again
in the sandbox, as a grader would. Prints a table per task (passed, attempts,
tokens, dollars, wall time, failure reason) and the summary: pass@1,
attempts, tokens, dollars per solved task. --out DIR writes result.json and
result.svg (a chart of the same numbers). The result names the dataset by its
SHA-256, so that runs on the same dataset compare.

With QLP_URL set, the evaluation runs on that server (POST /api/v2/eval,
QLP_API_KEY authenticates) with its models. Without it, qlp runs the whole
platform in this process; --llm chooses the model pack.`,
		Example: `  qlp eval examples/eval/tasks.jsonl --llm pack:openai --concurrency 2 --out out/eval
  QLP_URL=http://localhost:8000 QLP_API_KEY=qlp_… qlp eval examples/eval/tasks.jsonl --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read the dataset: %w", err)
			}
			// Refuse a malformed dataset before starting anything.
			if _, err := eval.Parse(filepath.Base(args[0]), data); err != nil {
				return err
			}
			if o.llm != "" {
				if e.cfg.Client.URL != "" {
					return errors.New("--llm applies to in-process runs; with QLP_URL the server's configuration chooses the models")
				}
				if err := e.cfg.LLM.ParseFlag(o.llm); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if e.cfg.Client.URL == "" {
				fmt.Fprintf(e.stderr, "qlp: starting the platform in this process (data in %s)…\n", e.cfg.DataDir)
			}
			b, err := connect(ctx, e, true, true)
			if err != nil {
				return err
			}
			defer b.Close()
			var res eval.Result
			if err := b.Call(ctx, http.MethodPost, "/api/v2/eval", eval.Request{Dataset: string(data), Name: filepath.Base(args[0]),
				Concurrency: o.concurrency, Tier: o.tier}, &res); err != nil {
				return err
			}
			if o.out != "" {
				if err := os.MkdirAll(o.out, 0o755); err != nil {
					return err
				}
				j, err := jsonIndent(res)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(o.out, "result.json"), j, 0o644); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(o.out, "result.svg"), res.SVG(), 0o644); err != nil {
					return err
				}
			}
			if o.jsonOut {
				return e.printJSON(res)
			}
			if err := res.WriteTable(e.stdout); err != nil {
				return err
			}
			if o.out != "" {
				fmt.Fprintf(e.stdout, "written   %s, %s\n", filepath.Join(o.out, "result.json"), filepath.Join(o.out, "result.svg"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.concurrency, "concurrency", 2, "tasks run at once")
	f.StringVar(&o.tier, "tier", "", "force every task onto one tier: T0..T3")
	f.StringVar(&o.llm, "llm", "", "model pack for an in-process run: openai[:URL], azure[:ENDPOINT], anthropic[:URL], bedrock[:REGION], ollama[:URL], pack:NAME or replay:CASSETTE")
	f.StringVar(&o.out, "out", "", "write result.json and result.svg into this directory")
	f.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	return cmd
}

func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
