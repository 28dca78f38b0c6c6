package marketing

import (
	"errors"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Registered names.
const (
	WorkflowName        = "MarketingWorkflow"
	ContentWorkflowName = "ContentGenerationWorkflow"
)

// WorkflowID is the Temporal id of a campaign's workflow.
func WorkflowID(campaignID string) string { return "qlp-marketing-" + campaignID }

// PieceWorkflowID is the id of one piece's child workflow: the same piece
// of the same campaign is one workflow, whoever starts it.
func PieceWorkflowID(campaignID, pieceID string) string {
	return "qlp-marketing-" + campaignID + "-" + pieceID
}

// Input starts a campaign's workflow; the campaign is in the store.
type Input struct {
	CampaignID string
	TenantID   string
	// MaxParallel bounds the pieces written at once (4 when 0).
	MaxParallel int
	// HeartbeatTimeout of model calls (30s when 0).
	HeartbeatTimeout time.Duration
}

// Registry is what Register needs: a worker, or a test environment.
type Registry interface {
	worker.WorkflowRegistry
	RegisterActivity(a interface{})
}

// NewWorker returns a worker on TaskQueue running the marketing workflows,
// the publisher and their activities.
func NewWorker(c client.Client, a *Activities, opts worker.Options) worker.Worker {
	w := worker.New(c, TaskQueue, opts)
	Register(w, a)
	return w
}

// Register puts the marketing workflows and activities on w.
func Register(w Registry, a *Activities) {
	RegisterWorkflows(w)
	w.RegisterActivity(a)
}

// RegisterWorkflows puts the marketing workflows on w (a worker, or a
// replayer checking recorded histories).
func RegisterWorkflows(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(MarketingWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterWorkflowWithOptions(ContentGenerationWorkflow, workflow.RegisterOptions{Name: ContentWorkflowName})
	w.RegisterWorkflowWithOptions(PublisherWorkflow, workflow.RegisterOptions{Name: PublisherWorkflowName})
}

func activityOptions(hb time.Duration) workflow.ActivityOptions {
	if hb <= 0 {
		hb = 30 * time.Second
	}
	return workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    hb,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{ErrTypeBudgetExceeded, ErrTypeModelRefused, ErrTypeUnusable, ErrTypeCampaign}},
	}
}

// MarketingWorkflow runs one campaign: start, strategy and calendar, one
// ContentGenerationWorkflow per piece (MaxParallel at once), the
// optimisation pass, and the outcome with its cost from the ledger. A
// failure (a budget that cannot take the next call, an unusable answer)
// stops the campaign: pieces not started are not started, and the error
// says what was spent.
func MarketingWorkflow(ctx workflow.Context, in Input) (Report, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions(in.HeartbeatTimeout))
	var a *Activities
	ci := CampaignInput{CampaignID: in.CampaignID, TenantID: in.TenantID, HeartbeatTimeout: in.HeartbeatTimeout}
	fail := func(what string, err error) (Report, error) {
		var rep Report
		fctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 10}})
		if ferr := workflow.ExecuteActivity(fctx, a.FinishCampaign, FinishInput{CampaignID: in.CampaignID, Error: what + message(err)}).Get(ctx, &rep); ferr != nil {
			return rep, errors.Join(err, ferr)
		}
		return rep, temporal.NewNonRetryableApplicationError(rep.Error, "CampaignFailed", nil)
	}
	if err := workflow.ExecuteActivity(ctx, a.StartCampaign, ci).Get(ctx, nil); err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == ErrTypeCampaign && strings.Contains(app.Error(), " is already ") {
			// A second run for an ended campaign leaves its outcome alone.
			return Report{}, err
		}
		return fail("", err)
	}
	var plan PlanResult
	if err := workflow.ExecuteActivity(ctx, a.PlanCampaign, ci).Get(ctx, &plan); err != nil {
		return fail("strategy: ", err)
	}
	parallel := in.MaxParallel
	if parallel <= 0 {
		parallel = 4
	}
	var firstErr error
	firstWhat := ""
	running := 0
	sel := workflow.NewSelector(ctx)
	next := 0
	start := func() {
		id := plan.PieceIDs[next]
		next++
		running++
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            PieceWorkflowID(in.CampaignID, id),
			WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_TERMINATE,
		})
		f := workflow.ExecuteChildWorkflow(cctx, ContentWorkflowName, PieceInput{CampaignID: in.CampaignID, TenantID: in.TenantID, PieceID: id, HeartbeatTimeout: in.HeartbeatTimeout})
		sel.AddFuture(f, func(f workflow.Future) {
			running--
			if err := f.Get(ctx, nil); err != nil && firstErr == nil {
				firstErr, firstWhat = err, "piece "+id+": "
			}
		})
	}
	for next < len(plan.PieceIDs) || running > 0 {
		for firstErr == nil && running < parallel && next < len(plan.PieceIDs) {
			start()
		}
		if running == 0 {
			break
		}
		sel.Select(ctx)
	}
	if firstErr != nil {
		return fail(firstWhat, firstErr)
	}
	if err := workflow.ExecuteActivity(ctx, a.OptimiseCampaign, ci).Get(ctx, nil); err != nil {
		return fail("optimisation: ", err)
	}
	var rep Report
	err := workflow.ExecuteActivity(ctx, a.FinishCampaign, FinishInput{CampaignID: in.CampaignID}).Get(ctx, &rep)
	return rep, err
}

// ContentGenerationWorkflow writes one piece through the idempotent
// GeneratePiece activity.
func ContentGenerationWorkflow(ctx workflow.Context, in PieceInput) (PieceResult, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions(in.HeartbeatTimeout))
	var a *Activities
	var res PieceResult
	err := workflow.ExecuteActivity(ctx, a.GeneratePiece, in).Get(ctx, &res)
	return res, err
}

// message is the innermost application error's message: the activity's
// own words, without the SDK's wrapping.
func message(err error) string {
	var app *temporal.ApplicationError
	msg := err.Error()
	if errors.As(err, &app) {
		msg = app.Error()
	}
	return msg
}
