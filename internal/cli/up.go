package cli

import (
	"context"
	"fmt"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"net/http"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// Targets a process can run.
const (
	targetAgents       = "agents"
	targetOrchestrator = "orchestrator"
	targetMemory       = "memory"
	targetSandbox      = "sandbox"
	targetValidation   = "validation"
	targetWorker       = "worker"
)

var allTargets = []string{targetOrchestrator, targetAgents, targetMemory, targetSandbox, targetValidation, targetWorker}

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
			return serve(cmd.Context(), e, allTargets)
		},
	}
	cmd.Flags().StringVar(&record, "record", "", "write every model exchange to this cassette (replay it with QLP_LLM_PROVIDER=replay)")
	cmd.Flags().BoolVar(&ui, "temporal-ui", false, "also serve the embedded Temporal Web UI (QLP_TEMPORAL_UI_PORT, default 8233)")
	return cmd
}

func newServeCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:       "serve TARGET[,TARGET...]",
		Short:     "Run some services in this process: " + strings.Join(allTargets, ", "),
		Long:      "Run the named services in this process. In split mode, point every process at the same\nPostgreSQL (QLP_DATABASE_URL) and Temporal (QLP_TEMPORAL_ADDRESS).",
		Args:      cobra.ExactArgs(1),
		ValidArgs: allTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			var targets []string
			for _, t := range strings.Split(args[0], ",") {
				t = strings.TrimSpace(t)
				if t == "all" {
					targets = append(targets, allTargets...)
					continue
				}
				if !contains(allTargets, t) {
					return fmt.Errorf("unknown target %q (want %s or all)", t, strings.Join(allTargets, ", "))
				}
				targets = append(targets, t)
			}
			return serve(cmd.Context(), e, targets)
		},
	}
}

func newWorkerCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker for QLPWorkflow (task queue qlp-main)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(cmd.Context(), e, []string{targetWorker})
		},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// serve runs the targets until SIGINT or SIGTERM.
func serve(parent context.Context, e *env, targets []string) error {
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sort.Strings(targets)
	p, err := app.Open(ctx, e.cfg, e.logger, app.Options{Worker: contains(targets, targetWorker), Sandbox: contains(targets, targetSandbox),
		Memory: contains(targets, targetMemory), Validation: contains(targets, targetValidation), Agents: contains(targets, targetAgents),
		Version: e.version})
	if err != nil {
		return err
	}
	defer p.Close()
	var servers []*httpx.Server
	listen := func(name, addr string, h http.Handler) error {
		srv, err := httpx.Listen(name, addr, h, e.logger)
		if err != nil {
			return err
		}
		servers = append(servers, srv)
		return nil
	}
	if contains(targets, targetOrchestrator) {
		if err := listen("orchestrator", e.cfg.API.Addr, p.APIHandler()); err != nil {
			return err
		}
	}
	if contains(targets, targetAgents) {
		if err := listen("agents", e.cfg.Services.AgentsAddr, p.AgentsHandler()); err != nil {
			return err
		}
	}
	if contains(targets, targetMemory) {
		h, err := p.MemoryHandler()
		if err != nil {
			return err
		}
		if err := listen("memory", e.cfg.Services.MemoryAddr, h); err != nil {
			return err
		}
	}
	if contains(targets, targetSandbox) {
		if err := listen("sandbox", e.cfg.Services.SandboxAddr, p.SandboxHandler()); err != nil {
			return err
		}
	}
	if contains(targets, targetValidation) {
		if err := listen("validation", e.cfg.Services.ValidationAddr, p.ValidationHandler()); err != nil {
			return err
		}
	}
	if contains(targets, targetWorker) {
		if err := listen("worker", e.cfg.Services.WorkerAddr, p.WorkerHandler()); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "QLP %s running: %s\n", e.version, strings.Join(targets, ", "))
	for _, s := range servers {
		fmt.Fprintf(e.stdout, "  %-13s %s  (%s/healthz, %s/readyz, %s/metrics)\n", s.Name(), s.URL(), s.URL(), s.URL(), s.URL())
	}
	if contains(targets, targetOrchestrator) {
		fmt.Fprintf(e.stdout, "  %-13s %s/openapi.json\n", "API document", servers[0].URL())
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
