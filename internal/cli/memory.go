package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/memory"
)

// withMemory opens the Vector Memory (a client of QLP_MEMORY_URL, or the
// service in this process) and runs fn acting for tenant.
func withMemory(ctx context.Context, e *env, tenant string, admin bool, fn func(ctx context.Context, m memory.Memory) error) error {
	p, err := app.Open(ctx, e.cfg, e.logger, app.Options{NoEngine: true, Use: []string{app.Memory}, Version: e.version})
	if err != nil {
		return err
	}
	defer p.Close()
	pr := auth.Principal{TenantID: tenant, KeyID: "cli"}
	if admin {
		pr.Scopes = []string{auth.ScopeAdmin}
	}
	return fn(auth.WithPrincipal(ctx, pr), p.Memory)
}

func newMemoryCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "memory", Short: "Inspect and maintain the Vector Memory"}
	var tenant string
	cmd.PersistentFlags().StringVar(&tenant, "tenant", localTenant, "tenant to act for")
	var jsonOut bool
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Count the tenant's entries per collection",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMemory(cmd.Context(), e, tenant, false, func(ctx context.Context, m memory.Memory) error {
				st, err := m.Stats(ctx)
				if err != nil {
					return err
				}
				if jsonOut {
					return e.printJSON(st)
				}
				fmt.Fprintf(e.stdout, "backend %s, embedder %s/%s\n", st.Backend, st.Embedder.Provider, st.Embedder.Model)
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "COLLECTION\tENTRIES")
				for _, c := range st.Collections {
					fmt.Fprintf(tw, "%s\t%d\n", c.Name, c.Points)
				}
				return tw.Flush()
			})
		},
	}
	stats.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	var collection string
	var limit int
	search := &cobra.Command{
		Use:   "search TEXT",
		Short: "Search one collection by text",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMemory(cmd.Context(), e, tenant, false, func(ctx context.Context, m memory.Memory) error {
				hits, err := m.Search(ctx, memory.SearchQuery{Collection: collection, Text: args[0], Limit: limit})
				if err != nil {
					return err
				}
				if jsonOut {
					return e.printJSON(hits)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SCORE\tID\tSUMMARY")
				for _, h := range hits {
					text := fmt.Sprint(h.Payload["description"])
					if text == "<nil>" {
						text = fmt.Sprint(h.Payload)
					}
					if len(text) > 80 {
						text = text[:79] + "…"
					}
					fmt.Fprintf(tw, "%.3f\t%s\t%s\n", h.Score, h.ID, text)
				}
				return tw.Flush()
			})
		},
	}
	search.Flags().StringVar(&collection, "collection", "qlp_executions", "collection: qlp_code_patterns, qlp_executions, qlp_agent_decisions, qlp_error_patterns, qlp_requirements")
	search.Flags().IntVar(&limit, "limit", 10, "how many")
	search.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	reindex := &cobra.Command{
		Use:   "reindex",
		Short: "Re-embed every stored entry with the configured embedder (all tenants)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMemory(cmd.Context(), e, tenant, true, func(ctx context.Context, m memory.Memory) error {
				rep, err := m.Reindex(ctx, memory.ReindexOptions{})
				if err != nil {
					return err
				}
				return e.printJSON(rep)
			})
		},
	}
	recoverCmd := &cobra.Command{
		Use:   "recover",
		Short: "Repair the embedded store after its log was damaged (stop every qlp process using it first)",
		Long: `Repair the embedded vector store when it refuses to start because its
write-ahead log is damaged before its last record. Every intact record is
replayed, the damaged bytes (and records that depended on them) are set
aside and listed, a copy of the damaged log is kept beside it, and a new
snapshot is written so that the store opens again. An intact store is
left as it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := e.cfg.Memory
			cfg.DataDir = e.cfg.MemoryDataDir()
			rep, err := memory.RecoverEmbedded(cmd.Context(), cfg, e.logger)
			if err != nil {
				return err
			}
			if jsonOut {
				return e.printJSON(rep)
			}
			if len(rep.Dropped) == 0 {
				fmt.Fprintf(e.stdout, "%s: the log is intact (%d records, %d points); nothing to recover\n", rep.Dir, rep.Records, rep.Points)
				return nil
			}
			fmt.Fprintf(e.stdout, "%s: recovered %d intact records (%d points, generation %d); the damaged log is kept at %s\n",
				rep.Dir, rep.Records, rep.Points, rep.Generation, rep.Backup)
			for _, d := range rep.Dropped {
				fmt.Fprintf(e.stdout, "dropped %d bytes at byte %d: %s\n", d.Bytes, d.Offset, d.Reason)
			}
			return nil
		},
	}
	recoverCmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.AddCommand(stats, search, reindex, recoverCmd)
	return cmd
}
