package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

const campaignsPath = "/api/v2/marketing/campaigns"

// marketingClient reaches the API; run in this process it also runs the
// marketing worker, so that a local campaign is written while the command
// waits for it.
func marketingClient(e *env, worker bool) dialer {
	return func(cmd *cobra.Command) (*backend, *orchestrator.Client, error) {
		var run []string
		if worker {
			run = []string{app.Marketing}
		}
		b, err := connectRun(cmd.Context(), e, run, worker)
		if err != nil {
			return nil, nil, err
		}
		return b, b.Client, nil
	}
}

// newCampaignCmd is `qlp campaign`: launch campaigns (docs/marketing.md).
func newCampaignCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "Launch campaigns for capsules or products: create, show, export, publish",
	}
	cmd.AddCommand(newCampaignCreateCmd(e), newCampaignShowCmd(e), newCampaignExportCmd(e), newCampaignPublishCmd(e))
	return cmd
}

func newCampaignCreateCmd(e *env) *cobra.Command {
	var b marketing.Brief
	var wait, jsonOut bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a campaign (strategy, calendar, a piece per slot within its channel's limits) and wait for it",
		Example: `  qlp campaign create --capsule cap-123 --days 14
  qlp campaign create --product "A URL shortener in Go" --feature "tests included" --channels x,hackernews --launch 2026-03-02`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if e.cfg.Client.URL == "" && !wait {
				return fmt.Errorf("--wait=false: without QLP_URL the campaign is written by this process, which must wait for it")
			}
			return callAPI(cmd, e, marketingClient(e, e.cfg.Client.URL == ""), jsonOut, func(ctx context.Context, c *orchestrator.Client) (marketing.View, error) {
				var created marketing.Created
				if err := c.Call(ctx, "POST", campaignsPath, b, &created); err != nil {
					return marketing.View{}, err
				}
				fmt.Fprintf(e.stderr, "campaign %s started (workflow %s)\n", created.CampaignID, created.WorkflowID)
				if !wait {
					return marketing.View{ID: created.CampaignID, WorkflowID: created.WorkflowID, Status: created.Status}, nil
				}
				return waitCampaign(ctx, c, created.CampaignID)
			}, func(v marketing.View) error { printCampaign(e, v); return campaignErr(v) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&b.CapsuleID, "capsule", "", "the capsule the campaign launches (its manifest and README give the product)")
	f.StringVar(&b.ProductName, "name", "", "the product's name")
	f.StringVar(&b.ProductDescription, "product", "", "what the product is (instead of --capsule)")
	f.StringVar(&b.ProductURL, "url", "", "the product's URL, for links")
	f.StringVar(&b.Objective, "objective", "", "what the campaign is for")
	f.StringArrayVar(&b.KeyFeatures, "feature", nil, "a key feature (repeat)")
	f.StringVar(&b.TargetAudience, "audience", "", "who the campaign speaks to")
	f.StringVar(&b.UniqueValueProp, "value-prop", "", "the value proposition")
	f.IntVar(&b.DurationDays, "days", 14, "the campaign's duration in days")
	f.StringSliceVar(&b.Channels, "channels", nil, "channels: "+strings.Join(marketing.Channels(), ", ")+" (default all)")
	f.StringSliceVar(&b.TonePreferences, "tone", nil, "tones (e.g. technical,friendly)")
	f.StringVar(&b.LaunchDate, "launch", "", "launch date, YYYY-MM-DD (default today, UTC)")
	f.StringArrayVar(&b.Constraints, "constraint", nil, "a constraint the copy must respect (repeat)")
	f.BoolVar(&wait, "wait", true, "wait until the campaign is written (needed without QLP_URL)")
	f.BoolVar(&jsonOut, "json", false, "print the campaign as JSON")
	return cmd
}

// waitCampaign polls the campaign until it has ended.
func waitCampaign(ctx context.Context, c *orchestrator.Client, id string) (marketing.View, error) {
	for {
		var v marketing.View
		if err := c.Call(ctx, "GET", campaignsPath+"/"+url.PathEscape(id), nil, &v); err != nil {
			return v, err
		}
		if v.Status == store.CampaignCompleted || v.Status == store.CampaignFailed {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func campaignErr(v marketing.View) error {
	if v.Status == store.CampaignFailed {
		return fmt.Errorf("campaign %s failed: %s", v.ID, v.Error)
	}
	return nil
}

func newCampaignShowCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a campaign: strategy, pieces with their length and limit, publications, cost",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAPI(cmd, e, marketingClient(e, false), jsonOut, func(ctx context.Context, c *orchestrator.Client) (marketing.View, error) {
				var v marketing.View
				return v, c.Call(ctx, "GET", campaignsPath+"/"+url.PathEscape(args[0]), nil, &v)
			}, func(v marketing.View) error { printCampaign(e, v); return nil })
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the campaign as JSON")
	return cmd
}

func printCampaign(e *env, v marketing.View) {
	fmt.Fprintf(e.stdout, "Campaign %s  %s  (%s)\n", v.ID, v.Name, v.Status)
	fmt.Fprintf(e.stdout, "  %d days from %s on %s; publishing %s\n", v.Brief.DurationDays, v.Brief.LaunchDate, strings.Join(v.Brief.Channels, ", "), v.Publishing)
	fmt.Fprintf(e.stdout, "  cost $%s (%d model calls, from the ledger)\n", v.Report.CostUSD, v.Report.Calls)
	if v.Error != "" {
		fmt.Fprintf(e.stdout, "  error: %s\n", v.Error)
	}
	if v.Strategy != nil {
		fmt.Fprintf(e.stdout, "\nStrategy: %s\nPillars: %s\n", v.Strategy.Summary, strings.Join(v.Strategy.Pillars, "; "))
	}
	if len(v.Pieces) > 0 {
		fmt.Fprintln(e.stdout)
		tw := tabwriter.NewWriter(e.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "PIECE\tWHEN (UTC)\tCHANNEL\tSTATUS\tLENGTH\tNOTES")
		for _, p := range v.Pieces {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\n", p.ID, p.ScheduledAt.UTC().Format("2006-01-02 15:04"), p.Channel, p.Status, p.Length, p.Limit, p.Notes)
		}
		tw.Flush()
	}
}

func newCampaignExportCmd(e *env) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "export ID",
		Short: "Export a campaign as JSON, Markdown or a CSV content calendar",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, c, err := marketingClient(e, false)(cmd)
			if err != nil {
				return err
			}
			defer b.Close()
			body, err := c.Raw(cmd.Context(), "GET", campaignsPath+"/"+url.PathEscape(args[0])+"/export?format="+url.QueryEscape(format))
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = e.stdout.Write(body)
				return err
			}
			return os.WriteFile(out, body, 0o644)
		},
	}
	cmd.Flags().StringVar(&format, "format", "markdown", "json, markdown or csv")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default stdout)")
	return cmd
}

func newCampaignPublishCmd(e *env) *cobra.Command {
	var pause, resume, stop bool
	cmd := &cobra.Command{
		Use:   "publish ID",
		Short: "Publish the campaign's pieces as they fall due (--pause, --resume, --stop)",
		Long: `Start publishing a completed campaign: the marketing worker's Temporal
Schedule posts each due piece once through the configured adapters
(marketing.publish.*). --pause and --resume hold and release it; --stop ends
it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			method, action := "POST", "start"
			for _, f := range []struct {
				on         bool
				method, to string
			}{{pause, "POST", "pause"}, {resume, "POST", "resume"}, {stop, "DELETE", "stop"}} {
				if f.on {
					n++
					method, action = f.method, f.to
				}
			}
			if n > 1 {
				return fmt.Errorf("give one of --pause, --resume, --stop")
			}
			return callAPI(cmd, e, marketingClient(e, false), false, func(ctx context.Context, c *orchestrator.Client) (map[string]any, error) {
				var out map[string]any
				return out, c.Call(ctx, method, campaignsPath+"/"+url.PathEscape(args[0])+"/publisher/"+action, nil, &out)
			}, func(out map[string]any) error {
				fmt.Fprintf(e.stdout, "campaign %s: publishing %v\n", args[0], out["publishing"])
				if w, ok := out["warning"]; ok {
					fmt.Fprintf(e.stderr, "warning: %v\n", w)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&pause, "pause", false, "pause publishing")
	cmd.Flags().BoolVar(&resume, "resume", false, "resume paused publishing")
	cmd.Flags().BoolVar(&stop, "stop", false, "stop publishing")
	return cmd
}
