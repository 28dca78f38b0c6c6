package cli

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/engine"
)

func newTemporalCmd(e *env) *cobra.Command {
	var ui bool
	cmd := &cobra.Command{
		Use:   "temporal",
		Short: "Run only the Temporal dev server, for QLP processes on one machine",
		Long: `Run the Temporal dev server that 'qlp up' embeds, alone in this process:
its frontend on QLP_TEMPORAL_PORT (7233), its state in SQLite under the data
directory. Point the other processes at it with QLP_TEMPORAL_ADDRESS, so
that 'qlp serve orchestrator' and several 'qlp worker' processes share one
Temporal without a cluster. In production use a Temporal cluster instead.
Stop with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := e.cfg.Temporal
			if cfg.Address != "" {
				return fmt.Errorf("temporal.address (QLP_TEMPORAL_ADDRESS) is %s: this command runs a server, unset it here and set it in the processes that use this one", cfg.Address)
			}
			if ui {
				cfg.UI = true
			}
			return runTemporal(cmd.Context(), e, cfg)
		},
	}
	cmd.Flags().BoolVar(&ui, "ui", false, "also serve the Temporal Web UI (QLP_TEMPORAL_UI_PORT, default 8233)")
	return cmd
}

// runTemporal serves the embedded Temporal server until SIGINT or SIGTERM.
func runTemporal(parent context.Context, e *env, cfg engine.Config) error {
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	eng, err := engine.Start(ctx, cfg, e.cfg.DataDir, e.logger)
	if err != nil {
		return err
	}
	defer eng.Close()
	fmt.Fprintf(e.stdout, "Temporal dev server running: %s (namespace %s, data in %s)\n", eng.Address, cfg.Namespace, e.cfg.DataDir)
	if eng.UIURL != "" {
		fmt.Fprintf(e.stdout, "  temporal-ui %s\n", eng.UIURL)
	}
	fmt.Fprintf(e.stdout, "  use it with QLP_TEMPORAL_ADDRESS=%s\n", eng.Address)
	<-ctx.Done()
	return nil
}
