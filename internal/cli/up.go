package cli

import (
	"context"
	"fmt"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/workflow"
)

func newUpCmd(e *env) *cobra.Command {
	var ui bool
	var record string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole platform in one process (embedded defaults)",
		Long: `Run every QLP service in one process: the orchestrator API on :8000, the
Agent Factory on :8001, the Validation Mesh on :8002, the Vector Memory on
:8003, the Execution Sandbox on :8004, the Temporal worker (probes and
metrics on :8005), and (unless QLP_TEMPORAL_ADDRESS names a cluster) an
embedded Temporal dev server storing its state under the data directory.
Stop with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ui {
				e.cfg.Temporal.UI = true
			}
			if record != "" {
				e.cfg.LLM.Record = record
			}
			return serve(cmd.Context(), e, app.TargetNames())
		},
	}
	cmd.Flags().StringVar(&record, "record", "", "write every model exchange to this cassette (replay it with QLP_LLM_PROVIDER=replay)")
	cmd.Flags().BoolVar(&ui, "temporal-ui", false, "also serve the embedded Temporal Web UI (QLP_TEMPORAL_UI_PORT, default 8233)")
	return cmd
}

func newServeCmd(e *env) *cobra.Command {
	var list bool
	cmd := &cobra.Command{
		Use:   "serve TARGET[,TARGET...]",
		Short: "Run some services in this process: " + strings.Join(app.TargetNames(), ", "),
		Long: `Run the named services in this process ("all" names every one), with the
services they need that no URL setting places in another process. In split
mode, point every process at the same PostgreSQL (QLP_DATABASE_URL) and
Temporal (QLP_TEMPORAL_ADDRESS).

--list prints the targets: what each needs and the settings of its address
and URL; with TARGET it also prints what 'qlp serve TARGET' would start here
and what it would reach by URL under the current configuration.

Targets:
` + targetSummaries(),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || len(args) == 0 && !list {
				return fmt.Errorf("want one argument, TARGET[,TARGET...] (%s or all), got %d; 'qlp serve --list' prints the targets",
					strings.Join(app.TargetNames(), ", "), len(args))
			}
			return nil
		},
		ValidArgs: app.TargetNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			var targets []string
			if len(args) == 1 {
				var err error
				if targets, err = parseTargets(args[0]); err != nil {
					return err
				}
			}
			if list {
				return printTargets(e, targets)
			}
			return serve(cmd.Context(), e, targets)
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "print the targets (and, with TARGET, what it would start) instead of serving")
	return cmd
}

// parseTargets reads "a,b" or "all" into target names.
func parseTargets(arg string) ([]string, error) {
	var targets []string
	for _, t := range strings.Split(arg, ",") {
		t = strings.TrimSpace(t)
		if t == "all" {
			targets = append(targets, app.TargetNames()...)
			continue
		}
		if _, ok := app.LookupTarget(t); !ok {
			return nil, fmt.Errorf("unknown target %q (want %s or all)", t, strings.Join(app.TargetNames(), ", "))
		}
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	return targets, nil
}

// targetSummaries is one line per target, for help.
func targetSummaries() string {
	var b strings.Builder
	for _, t := range app.Targets() {
		fmt.Fprintf(&b, "  %-13s %s\n", t.Name, t.Summary)
	}
	return strings.TrimRight(b.String(), "\n")
}

// printTargets writes the targets table and, when some are named, the plan
// for running them here.
func printTargets(e *env, run []string) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tNEEDS\tLISTENS ON\tADDRESS SETTING\tURL SETTING (another process)")
	for _, t := range app.Targets() {
		needs, url := "-", "-"
		if len(t.Needs) > 0 {
			needs = strings.Join(t.Needs, ",")
		}
		if t.URLKey != "" {
			url = app.SettingName(e.cfg, t.URLKey)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, needs, t.Addr(e.cfg), app.SettingName(e.cfg, t.AddrKey), url)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(run) == 0 {
		return nil
	}
	plan, err := app.PlanFor(e.cfg, run, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nqlp serve %s:\n", strings.Join(run, ","))
	fmt.Fprintf(e.stdout, "  serves          %s\n", strings.Join(plan.Run, ", "))
	var inside []string
	for _, n := range plan.Local {
		if !slices.Contains(plan.Run, n) {
			inside = append(inside, n)
		}
	}
	fmt.Fprintf(e.stdout, "  also opens      %s\n", orNone(strings.Join(inside, ", ")))
	var remote []string
	for _, n := range plan.Remote {
		t, _ := app.LookupTarget(n)
		remote = append(remote, n+" at "+t.URL(e.cfg))
	}
	fmt.Fprintf(e.stdout, "  reaches by URL  %s\n", orNone(strings.Join(remote, ", ")))
	return nil
}

func newWorkerCmd(e *env) *cobra.Command {
	var queues []string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a Temporal worker: QLPWorkflow (task queue qlp-main) or the marketing worker (qlp-marketing)",
		Long: `Run a Temporal worker. --queue chooses which: qlp-main (the default) runs
QLPWorkflow (target worker), qlp-marketing runs MarketingWorkflow and the
publisher (target marketing); give both to run both in one process.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			targets, err := workerTargets(queues)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), e, targets)
		},
	}
	cmd.Flags().StringSliceVar(&queues, "queue", []string{workflow.TaskQueue}, "task queues to serve: "+workflow.TaskQueue+", "+marketing.TaskQueue)
	return cmd
}

// workerTargets maps task queues to the targets that serve them.
func workerTargets(queues []string) ([]string, error) {
	var out []string
	for _, q := range queues {
		var t string
		switch q {
		case workflow.TaskQueue:
			t = app.Worker
		case marketing.TaskQueue:
			t = app.Marketing
		default:
			return nil, fmt.Errorf("unknown task queue %q (want %s or %s)", q, workflow.TaskQueue, marketing.TaskQueue)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// serve runs the targets until SIGINT or SIGTERM.
func serve(parent context.Context, e *env, targets []string) error {
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := app.Open(ctx, e.cfg, e.logger, app.Options{Run: targets, Version: e.version})
	if err != nil {
		return err
	}
	defer p.Close()
	var servers []*httpx.Server
	apiURL := ""
	// Table order: the orchestrator is listed first.
	for _, t := range app.Targets() {
		if !slices.Contains(targets, t.Name) {
			continue
		}
		h, err := p.Handler(t.Name)
		if err != nil {
			return err
		}
		srv, err := httpx.Listen(t.Name, t.Addr(e.cfg), h, e.logger)
		if err != nil {
			return err
		}
		servers = append(servers, srv)
		if t.Name == app.Orchestrator {
			apiURL = srv.URL()
		}
	}
	names := slices.Clone(targets)
	sort.Strings(names)
	fmt.Fprintf(e.stdout, "QLP %s running: %s\n", e.version, strings.Join(names, ", "))
	for _, s := range servers {
		fmt.Fprintf(e.stdout, "  %-13s %s  (%s/healthz, %s/readyz, %s/metrics)\n", s.Name(), s.URL(), s.URL(), s.URL(), s.URL())
	}
	if apiURL != "" {
		fmt.Fprintf(e.stdout, "  %-13s %s/openapi.json\n", "API document", apiURL)
	}
	if p.Engine.Embedded {
		fmt.Fprintf(e.stdout, "  %-13s %s  (embedded, data in %s)\n", "temporal", p.Engine.Address, e.cfg.DataDir)
	} else {
		fmt.Fprintf(e.stdout, "  %-13s %s\n", "temporal", p.Engine.Address)
	}
	if p.Engine.UIURL != "" {
		fmt.Fprintf(e.stdout, "  %-13s %s\n", "temporal-ui", p.Engine.UIURL)
	}
	if p.Router != nil {
		fmt.Fprintf(e.stdout, "  %-13s LLM pack %s (tiers T0..T3)\n", "models", p.Router.DefaultPack())
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func(s *httpx.Server) { errc <- s.Serve(ctx) }(s)
	}
	select {
	case <-ctx.Done():
		for range servers {
			<-errc
		}
		return nil
	case err := <-errc:
		stop()
		return err
	}
}
