package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// newReviewPolicyCmd is `qlp review policy [set]`: the tenant's review
// policy, as GET and PUT /api/v2/review-policy.
func newReviewPolicyCmd(e *env) *cobra.Command {
	var tenant string
	var jsonOut bool
	show := func(cmd *cobra.Command, fields map[string]any) error {
		return callAPI(cmd, e, tenantClient(e, tenant), jsonOut, func(ctx context.Context, c *orchestrator.Client) (orchestrator.ReviewPolicyView, error) {
			if fields == nil {
				return c.ReviewPolicy(ctx)
			}
			return c.SetReviewPolicy(ctx, fields)
		}, func(v orchestrator.ReviewPolicyView) error { return printReviewPolicy(e, v) })
	}
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show the tenant's review policy in force, and where each field comes from",
		Long: `Show the review policy the tenant's jobs start with: the server's settings
(QLP_HITL_*), with the fields the tenant set itself over them ("qlp review
policy set", administrators). A job's metadata (review_threshold,
review_timeout, review_on_timeout, review_aitl) may still override it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return show(cmd, nil) },
	}
	var threshold, timeout, onTimeout string
	var aitl bool
	var reset []string
	set := &cobra.Command{
		Use:   "set",
		Short: "Change the tenant's review policy (administrators); --reset returns fields to the server's setting",
		Example: `  qlp review policy set --threshold 0.8 --timeout 2h --on-timeout approve --aitl=true
  qlp review policy set --threshold 0          # no reviews for this tenant
  qlp review policy set --reset threshold,on-timeout`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := map[string]any{}
			if cmd.Flags().Changed("threshold") {
				f, err := strconv.ParseFloat(strings.TrimSpace(threshold), 64)
				if err != nil || f < 0 || f > 1 {
					return fmt.Errorf("--threshold %s: want a number from 0 (no reviews) to 1", threshold)
				}
				fields["threshold"] = f
			}
			if cmd.Flags().Changed("timeout") {
				fields["timeout"] = timeout
			}
			if cmd.Flags().Changed("on-timeout") {
				fields["on_timeout"] = onTimeout
			}
			if cmd.Flags().Changed("aitl") {
				fields["aitl"] = aitl
			}
			names := map[string]string{"threshold": "threshold", "timeout": "timeout", "on-timeout": "on_timeout", "on_timeout": "on_timeout", "aitl": "aitl"}
			for _, r := range reset {
				key, ok := names[strings.TrimSpace(r)]
				if !ok {
					return fmt.Errorf("--reset %s: want threshold, timeout, on-timeout or aitl", r)
				}
				if _, both := fields[key]; both {
					return fmt.Errorf("--reset %s: also given a value", r)
				}
				fields[key] = nil
			}
			if len(fields) == 0 {
				return fmt.Errorf("nothing to change: give --threshold, --timeout, --on-timeout, --aitl or --reset")
			}
			return show(cmd, fields)
		},
	}
	set.Flags().StringVar(&threshold, "threshold", "", "a task that passes with a confidence below this (0..1) waits for a review; 0: no reviews")
	set.Flags().StringVar(&timeout, "timeout", "", "how long a review waits before --on-timeout applies, e.g. 30m or 24h")
	set.Flags().StringVar(&onTimeout, "on-timeout", "", "what an unanswered review becomes: approve, reject or wait")
	set.Flags().BoolVar(&aitl, "aitl", false, "let the automated reviewer decide first (--aitl=false to turn it off)")
	set.Flags().StringSliceVar(&reset, "reset", nil, "return these to the server's setting: threshold, timeout, on-timeout, aitl")
	for _, c := range []*cobra.Command{cmd, set} {
		c.Flags().StringVar(&tenant, "tenant", "", "in-process only: the tenant (default: local)")
		c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	}
	cmd.AddCommand(set)
	return cmd
}

func printReviewPolicy(e *env, v orchestrator.ReviewPolicyView) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "tenant\t%s\n\n", v.TenantID)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	threshold := fmt.Sprintf("%g", v.Threshold)
	if v.Threshold == 0 {
		threshold += " (no reviews)"
	}
	fmt.Fprintf(tw, "threshold\t%s\t%s\n", threshold, v.Sources.Threshold)
	fmt.Fprintf(tw, "timeout\t%s\t%s\n", orNone(v.Timeout), v.Sources.Timeout)
	fmt.Fprintf(tw, "on timeout\t%s\t%s\n", v.OnTimeout, v.Sources.OnTimeout)
	fmt.Fprintf(tw, "aitl\t%t\t%s\n", v.AITL, v.Sources.AITL)
	_ = tw.Flush()
	if v.UpdatedAt != nil {
		fmt.Fprintf(e.stdout, "\nchanged %s by %s\n", v.UpdatedAt.Local().Format("2006-01-02 15:04"), orNone(v.UpdatedBy))
	}
	return nil
}
