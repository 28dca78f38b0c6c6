package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/quantumlayer/qlp/internal/workflow"
)

func newReviewCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review",
		Short: "List and decide the reviews jobs wait for (human in the loop)",
		Long: `A task that passes validation with a confidence below the review threshold
(QLP_HITL_THRESHOLD, the tenant's own policy set with "qlp review policy set",
or metadata.review_threshold of the job) waits for a review. Approve it to
complete the task, reject it to fail the job, or ask for changes: your comment
goes into the next attempt's prompt.

Against a server (QLP_URL) these talk to its /hitl API. In-process they use
this machine's data directory; deciding then needs the embedded workflow
engine, so no other qlp process may be running on that data directory.`,
	}
	var jsonOut bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the reviews waiting for a decision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAPI(cmd, e, apiClient(e, false), jsonOut, func(ctx context.Context, c *orchestrator.Client) (orchestrator.ReviewList, error) {
				return c.PendingReviews(ctx)
			}, func(out orchestrator.ReviewList) error { return printReviews(e, out) })
		},
	}
	list.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one review",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAPI(cmd, e, apiClient(e, false), jsonOut, func(ctx context.Context, c *orchestrator.Client) (orchestrator.ReviewInfo, error) {
				return c.Review(ctx, args[0])
			}, func(r orchestrator.ReviewInfo) error { return printReview(e, r) })
		},
	}
	show.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.AddCommand(list, show, newReviewPolicyCmd(e),
		newDecideCmd(e, "approve", workflow.DecisionApprove, "Approve the task: it completes and the job goes on", false),
		newDecideCmd(e, "reject", workflow.DecisionReject, "Reject the task: it fails, and so does its job", false),
		newDecideCmd(e, "changes", workflow.DecisionRequestChanges, "Ask for changes: --comment goes into the next attempt's prompt", true))
	return cmd
}

func printReviews(e *env, out orchestrator.ReviewList) error {
	if out.Count == 0 {
		fmt.Fprintln(e.stdout, "no reviews are waiting")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVIEW\tJOB\tTASK\tATTEMPT\tCONFIDENCE\tWAITING SINCE\tON TIMEOUT")
	for _, r := range out.Reviews {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.RequestID, r.TaskID, r.Attempt, confidence(r.Confidence),
			r.CreatedAt.Local().Format("2006-01-02 15:04"), onTimeout(r))
	}
	return tw.Flush()
}

func newDecideCmd(e *env, use, decision, short string, needComment bool) *cobra.Command {
	var comment, reviewer string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if needComment && strings.TrimSpace(comment) == "" {
				return fmt.Errorf("--comment: say what to change; the next attempt's prompt gets it")
			}
			return callAPI(cmd, e, apiClient(e, true), jsonOut, func(ctx context.Context, c *orchestrator.Client) (orchestrator.ReviewInfo, error) {
				return c.RespondReview(ctx, args[0], orchestrator.ReviewResponse{Decision: decision, Comment: comment, Reviewer: reviewer})
			}, func(r orchestrator.ReviewInfo) error {
				fmt.Fprintf(e.stdout, "review %s: %s by %s; job %s goes on\n", r.ID, r.Status, r.DecidedBy, r.RequestID)
				return nil
			})
		},
	}
	help := "why (kept with the review)"
	if needComment {
		help = "what to change (required): the next attempt's prompt gets it"
	}
	cmd.Flags().StringVar(&comment, "comment", "", help)
	cmd.Flags().StringVar(&reviewer, "reviewer", "", "who decides (default: the API key)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func confidence(c *float64) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *c)
}

func onTimeout(r orchestrator.ReviewInfo) string {
	if r.TimeoutAt == nil || r.OnTimeout == vocab.OnTimeoutWait {
		return "wait"
	}
	return fmt.Sprintf("%s at %s", r.OnTimeout, r.TimeoutAt.Local().Format("2006-01-02 15:04"))
}

func printReview(e *env, r orchestrator.ReviewInfo) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "review\t%s\n", r.ID)
	fmt.Fprintf(tw, "job\t%s (task %s, attempt %d)\n", r.RequestID, r.TaskID, r.Attempt)
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	fmt.Fprintf(tw, "confidence\t%s\n", confidence(r.Confidence))
	if r.Summary != "" {
		fmt.Fprintf(tw, "checks\t%s\n", r.Summary)
	}
	for _, why := range r.Reasons {
		fmt.Fprintf(tw, "\t- %s\n", why)
	}
	fmt.Fprintf(tw, "on timeout\t%s\n", onTimeout(r))
	if r.DecidedBy != "" {
		fmt.Fprintf(tw, "decided\t%s by %s\n", r.Decision, r.DecidedBy)
	}
	if r.Comment != "" {
		fmt.Fprintf(tw, "comment\t%s\n", r.Comment)
	}
	_ = tw.Flush()
	if r.Status == "pending" {
		fmt.Fprintf(e.stdout, "\nrespond with: qlp review approve %s | qlp review changes %s --comment \"...\" | qlp review reject %s --comment \"...\"\n",
			r.ID, r.ID, r.ID)
		fmt.Fprintf(e.stdout, "the task's files: qlp status %s\n", r.RequestID)
	}
	return nil
}
