package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

func newBudgetCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "budget", Short: "Show or change a tenant's budgets (administrators)"}
	var tenant string
	var jsonOut bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the budgets in force, what they have taken, the credit pools and recent alerts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAPI(cmd, e, tenantClient(e, tenant), jsonOut, func(ctx context.Context, c *orchestrator.Client) (budget.Status, error) {
				return c.Budgets(ctx)
			}, func(st budget.Status) error { return printBudget(e, st) })
		},
	}
	var request, daily, monthly, policy string
	var reset []string
	set := &cobra.Command{
		Use:   "set",
		Short: "Change budgets: amounts in USD, \"unlimited\", or --reset to the configured default",
		Example: `  qlp budget set --request-usd 0.10 --daily-usd 5 --monthly-usd 100 --policy downgrade
  qlp budget set --monthly-usd unlimited
  qlp budget set --reset request,policy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := map[string]any{}
			for flag, key := range map[string]string{"request-usd": "request_usd", "daily-usd": "tenant_daily_usd", "monthly-usd": "tenant_monthly_usd", "policy": "policy"} {
				if cmd.Flags().Changed(flag) {
					v, _ := cmd.Flags().GetString(flag)
					fields[key] = v
				}
			}
			names := map[string]string{"request": "request_usd", "daily": "tenant_daily_usd", "monthly": "tenant_monthly_usd", "policy": "policy"}
			for _, r := range reset {
				key, ok := names[strings.TrimSpace(r)]
				if !ok {
					return fmt.Errorf("--reset %s: want request, daily, monthly or policy", r)
				}
				if _, both := fields[key]; both {
					return fmt.Errorf("--reset %s: also given a value", r)
				}
				fields[key] = nil
			}
			if len(fields) == 0 {
				return fmt.Errorf("nothing to change: give --request-usd, --daily-usd, --monthly-usd, --policy or --reset")
			}
			return callAPI(cmd, e, tenantClient(e, tenant), jsonOut, func(ctx context.Context, c *orchestrator.Client) (budget.Status, error) {
				return c.SetBudgets(ctx, fields)
			}, func(st budget.Status) error { return printBudget(e, st) })
		},
	}
	set.Flags().StringVar(&request, "request-usd", "", "budget of one request (job) in USD, or unlimited")
	set.Flags().StringVar(&daily, "daily-usd", "", "budget of the tenant per UTC day in USD, or unlimited")
	set.Flags().StringVar(&monthly, "monthly-usd", "", "budget of the tenant per UTC month in USD, or unlimited")
	set.Flags().StringVar(&policy, "policy", "", "stop or downgrade")
	set.Flags().StringSliceVar(&reset, "reset", nil, "return these to the configured default: request, daily, monthly, policy")
	for _, c := range []*cobra.Command{show, set} {
		c.Flags().StringVar(&tenant, "tenant", "", "in-process only: the tenant (default: local)")
		c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	}
	cmd.AddCommand(show, set)
	return cmd
}

func printBudget(e *env, st budget.Status) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "tenant\t%s\npolicy\t%s (%s)\n\n", st.TenantID, st.Policy, st.PolicySource)
	fmt.Fprintln(tw, "BUDGET\tLIMIT\tSOURCE\tPERIOD\tSPENT\tUSED")
	for _, name := range []string{budget.ScopeRequest, budget.ScopeTenantDaily, budget.ScopeTenantMonthly} {
		l := st.Limits[name]
		limit := "none"
		if l.LimitUSD != nil {
			limit = "$" + *l.LimitUSD
		}
		spent, used := "-", "-"
		if l.SpentUSD != "" {
			spent = "$" + l.SpentUSD
		}
		if l.UsedPercent != nil {
			used = fmt.Sprintf("%.2f%%", *l.UsedPercent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, limit, l.Source, orNone(l.Period), spent, used)
	}
	if len(st.Pools) > 0 {
		fmt.Fprintln(tw, "\nPOOL\tAMOUNT\tUSD\tBALANCE\tEXPIRES\tSTATE")
		for _, p := range st.Pools {
			state := "paying"
			if p.SpendIsRefused {
				state = "refused: " + p.RefusedBecauseOf
			}
			fmt.Fprintf(tw, "%s\t%s %s\t$%s\t$%s\t%s\t%s\n", p.Name, p.Amount, p.Currency, p.AmountUSD, p.BalanceUSD, orNone(p.Expires), state)
		}
	}
	tw.Flush()
	if len(st.Alerts)+len(st.PoolAlerts) > 0 {
		fmt.Fprintln(e.stdout, "\nRecent alerts:")
		for _, a := range append(st.Alerts, st.PoolAlerts...) {
			fmt.Fprintf(e.stdout, "  %s  %s\n", a.CreatedAt.Format("2006-01-02 15:04"), a.Message)
		}
	}
	return nil
}
