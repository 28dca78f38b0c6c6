package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

func newSandboxCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "sandbox", Short: "Prepare the execution sandbox on this machine"}
	cmd.AddCommand(&cobra.Command{
		Use:   "seed",
		Short: "Build the Go build-cache seed now, so that no job waits for it",
		Long: `Builds the Go build-cache seed every Go run in the sandbox starts from (the
standard library packages generated projects commonly use, and staticcheck's
analysis of them) into sandbox.go_cache_seed_dir, unless it is there already
for this Go version. The sandbox service builds it in the background when it
starts; running this at install time (make demo does) spares the first job
on a machine from waiting for it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := e.cfg.Sandbox
			if !cfg.GoCacheSeed {
				return fmt.Errorf("sandbox.go_cache_seed (QLP_SANDBOX_GO_CACHE_SEED) is off: there is no seed to build")
			}
			if cfg.GoCacheSeedDir == "none" {
				return fmt.Errorf("sandbox.go_cache_seed_dir (QLP_SANDBOX_GO_CACHE_SEED_DIR) is none: a seed would live only as long as this command")
			}
			sb, err := sandbox.New(cmd.Context(), cfg, sandbox.Deps{Logger: e.logger})
			if err != nil {
				return err
			}
			defer sb.Close()
			if !sb.HasLanguage("go") {
				return fmt.Errorf("go is not installed where the sandbox looks for it: Go runs, and their seed, need it")
			}
			fmt.Fprintln(e.stderr, "qlp: building the Go build-cache seed (about half a minute on 2 cores the first time)…")
			start := time.Now()
			dir, err := sb.GoCacheSeed(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "go build-cache seed ready in %.1f s: %s\n", time.Since(start).Seconds(), dir)
			return nil
		},
	})
	return cmd
}
