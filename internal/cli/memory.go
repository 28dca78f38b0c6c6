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
	p, err := app.Open(ctx, e.cfg, e.logger, app.Options{NoEngine: true, Memory: true, Version: e.version})
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
	cmd.AddCommand(stats, search, reindex)
	return cmd
}
