package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// tenantClient connects for a command that takes --tenant. In-process, --tenant picks the
// tenant (the CLI acts with the service credential); against a server the
// tenant comes from the API key.
func tenantClient(e *env, tenant string) dialer {
	return func(cmd *cobra.Command) (*backend, *orchestrator.Client, error) {
		if tenant != "" && e.cfg.Client.URL != "" {
			return nil, nil, fmt.Errorf("--tenant: against %s the tenant comes from the API key", e.cfg.Client.URL)
		}
		b, c, err := apiClient(e, false)(cmd)
		if err != nil {
			return nil, nil, err
		}
		if tenant != "" {
			if _, err := b.local.Store.EnsureTenant(cmd.Context(), tenant, ""); err != nil {
				b.Close()
				return nil, nil, err
			}
			c = c.WithTenant(tenant)
		}
		return b, c, nil
	}
}

func newCostsCmd(e *env) *cobra.Command {
	var q orchestrator.CostQuery
	var tenant string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "costs",
		Short: "Show what model calls cost: totals, by day, model and tier, and the projected month",
		Long: `Show the cost ledger of the tenant (or, with --all, of every tenant; needs an
administrator's key) over a period, or of one job with --workflow. Amounts are
exact to the micro-dollar; projections say how they are computed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAPI(cmd, e, tenantClient(e, tenant), jsonOut, func(ctx context.Context, c *orchestrator.Client) (costs.Report, error) {
				return c.Costs(ctx, q)
			}, func(rep costs.Report) error { printReport(e, rep); return nil })
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.WorkflowID, "workflow", "", "one job: its request id or workflow id")
	f.IntVar(&q.PeriodDays, "days", 0, "the last N days (default 30)")
	f.StringVar(&q.Start, "start", "", "first day, YYYY-MM-DD (instead of --days)")
	f.StringVar(&q.End, "end", "", "last day, included, YYYY-MM-DD")
	f.BoolVar(&q.All, "all", false, "every tenant, broken down by tenant (administrators)")
	f.StringVar(&tenant, "tenant", "", "in-process only: the tenant to report (default: local)")
	f.BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.AddCommand(newRunwayCmd(e), newEstimateCmd(e))
	return cmd
}

func printReport(e *env, r costs.Report) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	who := r.TenantID
	if who == "" {
		who = "all tenants"
	}
	fmt.Fprintf(tw, "tenant\t%s\n", who)
	if r.RequestID != "" {
		fmt.Fprintf(tw, "job\t%s\n", r.RequestID)
	}
	if r.Period != nil {
		fmt.Fprintf(tw, "period\t%s .. %s (%.0f days)\n", r.Period.Start.Format(time.DateOnly), r.Period.End.Format(time.DateOnly), r.Period.Days)
	}
	fmt.Fprintf(tw, "total\t$%s\t%d calls (%d from cache, at no cost); %d tokens in (%d cached), %d out\n",
		r.TotalCostUSD, r.TotalCalls, r.CachedCalls, r.InputTokens, r.CachedInputTokens, r.OutputTokens)
	if r.AverageDailyCostUSD != "" {
		fmt.Fprintf(tw, "per day\t$%s\ton average; projected month $%s (average × 30)\n", r.AverageDailyCostUSD, r.ProjectedMonthlyCostUSD)
	}
	if m := r.CurrentMonth; m != nil {
		fmt.Fprintf(tw, "%s\t$%s\tso far; projected $%s at this pace\n", m.Month, m.ToDate, m.ProjectedUSD)
	}
	tw.Flush()
	section := func(title string, lines []costs.Line, key func(costs.Line) string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintln(e.stdout)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tCALLS\tTOKENS IN\tTOKENS OUT\tCOST\n", title)
		for _, l := range lines {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t$%s\n", key(l), l.Calls, l.InputTokens, l.OutputTokens, l.CostUSD)
		}
		tw.Flush()
	}
	section("DAY", r.DailyBreakdown, func(l costs.Line) string { return l.Date })
	section("TENANT", r.ByTenant, func(l costs.Line) string { return l.TenantID })
	section("MODEL", r.ByModel, func(l costs.Line) string { return l.Provider + "/" + l.Model })
	section("TIER", r.ByTier, func(l costs.Line) string { return orNone(l.Tier) })
	section("TASK", r.ByTask, func(l costs.Line) string {
		return fmt.Sprintf("%s #%d %s %s", orNone(l.TaskID), l.Attempt, l.Role, l.Tier)
	})
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newEstimateCmd(e *env) *cobra.Command {
	var complexity string
	var stack []string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "estimate",
		Short: "Estimate what a request costs, by complexity and stack",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAPI(cmd, e, tenantClient(e, ""), jsonOut, func(ctx context.Context, c *orchestrator.Client) (costs.Estimate, error) {
				return c.CostEstimate(ctx, complexity, stack)
			}, func(est costs.Estimate) error { return printEstimate(e, est) })
		},
	}
	cmd.Flags().StringVar(&complexity, "complexity", "medium", "trivial, simple, medium, complex, very_complex or meta")
	cmd.Flags().StringSliceVar(&stack, "stack", nil, "technologies, comma-separated")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func printEstimate(e *env, est costs.Estimate) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "complexity\t%s, stack %s\n", est.Complexity, strings.Join(est.TechStack, ", "))
	fmt.Fprintf(tw, "tokens\t%d in, %d out (%s)\n", est.EstimatedTokens["input"], est.EstimatedTokens["output"], est.Basis)
	fmt.Fprintf(tw, "estimate\t$%s on %s %s\n", est.EstimatedCostUSD, est.RecommendedTier, est.RecommendedModel)
	for _, tc := range est.EstimatedCosts {
		fmt.Fprintf(tw, "  %s\t$%s on %s/%s\n", tc.Tier, tc.CostUSD, tc.Provider, tc.Model)
	}
	fmt.Fprintf(tw, "method\t%s\n", est.Method)
	return tw.Flush()
}

func newRunwayCmd(e *env) *cobra.Command {
	var chart string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "runway",
		Short: "Project each credit pool's balance and write a chart of it (SVG or PNG)",
		Long: `Project each credit pool of the cost plan (costs.file) under the
infrastructure cost model and the LLM spend observed over the last
costs.trend_days days: the balance today, the monthly burn, and the month the
pool runs out or expires. Writes the chart to --chart: PNG when its name ends
in .png, SVG otherwise. A projection,
not a measurement: see docs/costs.md for the method.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAPI(cmd, e, tenantClient(e, ""), jsonOut, func(ctx context.Context, c *orchestrator.Client) (costs.Runway, error) {
				rw, err := c.Runway(ctx)
				if err != nil || chart == "" {
					return rw, err
				}
				format := "svg"
				if strings.EqualFold(filepath.Ext(chart), ".png") {
					format = "png"
				}
				img, err := c.RunwayChart(ctx, format)
				if err != nil {
					return rw, err
				}
				if err := os.WriteFile(chart, img, 0o644); err != nil {
					return rw, fmt.Errorf("--chart: %w", err)
				}
				return rw, nil
			}, func(rw costs.Runway) error {
				printRunway(e, rw)
				if chart != "" {
					fmt.Fprintf(e.stdout, "\nchart written to %s\n", chart)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&chart, "chart", "qlp-runway.svg", "write the chart here (PNG if the name ends in .png, else SVG); empty for none")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func printRunway(e *env, r costs.Runway) {
	fmt.Fprintf(e.stdout, "Credit runway as of %s — a projection (plan: %s; LLM trend over %d days)\n\n", r.AsOf.Format(time.DateOnly), r.Plan, r.TrendDays)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tAMOUNT\tUSD\tBALANCE\tINFRA/MO\tLLM/MO\tRUNS OUT\tEXPIRES\tENDS")
	for _, p := range r.Pools {
		ends := p.EndsMonth + " (" + p.EndReason + ")"
		if p.EndReason == costs.EndBeyondHorizon {
			ends = fmt.Sprintf("after %d months", r.HorizonMonths)
		}
		if p.UnusedUSD != "" {
			ends += ", $" + p.UnusedUSD + " unused"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t$%s\t$%s\t$%s\t$%s\t%s\t%s\t%s\n", p.Name, p.Amount, p.Currency, p.AmountUSD, p.BalanceUSD,
			p.InfraMonthlyUSD, p.LLMMonthlyUSD, orNone(p.RunsOut), orNone(p.Expires), ends)
	}
	fmt.Fprintf(tw, "cash\t\t\t\t$%s\t$%s\t\t\tpaid by no pool\n", r.Uncovered.InfraMonthlyUSD, r.Uncovered.LLMMonthlyUSD)
	tw.Flush()
	if len(r.Pools) == 0 {
		fmt.Fprintln(e.stdout, "\nNo credit pools are configured: add them to a cost plan (costs.file, QLP_COSTS_FILE; see examples/costs/seed.yaml).")
	}
	fmt.Fprintf(e.stdout, "\ncredits $%s, left today $%s; infrastructure $%s/month\n", r.CreditsUSD, r.BalanceUSD, r.InfraMonthlyUSD)
}
