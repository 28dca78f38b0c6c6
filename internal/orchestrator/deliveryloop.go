package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// DeliveryLoop names a delivery loop that was started.
type DeliveryLoop struct {
	ID        string `json:"id"`
	CapsuleID string `json:"capsule_id"`
	Version   int    `json:"version"`
	Branch    string `json:"branch"`
}

// StartDeliveryLoop starts the delivery loop of a tenant's capsule version
// on a pull request opened for it: push the version to the pull request's
// branch on remote, wait for its CI, repair from a failure and push again
// (workflow.DeliveryWorkflow). The credentials are sealed before they
// enter the workflow: Temporal's history never holds them in clear. A
// loop already running for the capsule and the pull request is returned
// as it is.
func (s *Service) StartDeliveryLoop(ctx context.Context, tenantID, capsuleID string, version int, remote string, pr delivery.PullRequest,
	auth delivery.Auth) (DeliveryLoop, error) {
	if s.tc == nil {
		return DeliveryLoop{}, httpx.Unavailable(errNoEngine, "cannot start a delivery loop from here: %v", errNoEngine)
	}
	if s.sealer == nil {
		return DeliveryLoop{}, errors.New("not implemented: this process has no key to seal delivery credentials (orchestrator.Deps.Sealer)")
	}
	c, v, err := s.Capsule(ctx, tenantID, capsuleID, version)
	if err != nil {
		return DeliveryLoop{}, err
	}
	if err := (delivery.PushOptions{Remote: remote, Branch: pr.Branch, Auth: auth}).Check(); err != nil {
		var fe delivery.FieldError
		if errors.As(err, &fe) {
			return DeliveryLoop{}, httpx.BadRequest(fe.Field(), "%s", err.Error())
		}
		return DeliveryLoop{}, err
	}
	sealed, err := s.sealer.Seal(auth)
	if err != nil {
		return DeliveryLoop{}, err
	}
	id := workflow.DeliveryWorkflowID(c.ID, pr)
	wcfg := s.cfg.Workflow
	_, err = s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflow.TaskQueue, WorkflowExecutionTimeout: 7 * 24 * time.Hour},
		workflow.DeliveryWorkflowName, workflow.DeliveryInput{TenantID: tenantID, CapsuleID: c.ID, Version: v.Version, Remote: remote, PR: pr,
			SealedAuth: sealed, PollInterval: wcfg.CIPollInterval, CITimeout: wcfg.CITimeout, MaxRounds: wcfg.DeliveryMaxRounds, MaxAttempts: wcfg.MaxAttempts,
			EscalateAfter: wcfg.EscalateAfter, TaskValidation: wcfg.TaskValidation, HeartbeatTimeout: wcfg.HeartbeatTimeout, TaskTimeout: wcfg.TaskTimeout})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return DeliveryLoop{}, httpx.Unavailable(err, "the workflow engine did not accept the delivery loop; try again")
	}
	return DeliveryLoop{ID: id, CapsuleID: c.ID, Version: v.Version, Branch: pr.Branch}, nil
}

// WakeCI implements delivery.CIWaker: the delivery rounds waiting on the
// event's commit look at its CI now instead of at their next poll.
func (s *Service) WakeCI(ctx context.Context, ev delivery.CIEvent) error {
	if s.tc == nil {
		return errNoEngine
	}
	rounds, err := s.store.PendingDeliveryRounds(ctx, ev.Forge, ev.Repo, ev.SHA)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rounds {
		err := s.tc.SignalWorkflow(ctx, r.LoopID, "", workflow.WakeCISignal, ev)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			errs = append(errs, fmt.Errorf("wake delivery loop %s: %w", r.LoopID, err))
		}
	}
	return errors.Join(errs...)
}

var _ delivery.CIWaker = (*Service)(nil)

// DeliveryRound is one round of a capsule's delivery loop, as the API
// shows it.
type DeliveryRound struct {
	Loop        string    `json:"loop"`
	Round       int       `json:"round"`
	Version     int       `json:"version"`
	Forge       string    `json:"forge,omitempty"`
	Repo        string    `json:"repo,omitempty"`
	PullRequest int       `json:"pull_request,omitempty"`
	Branch      string    `json:"branch"`
	SHA         string    `json:"sha,omitempty"`
	State       string    `json:"state"`
	FailingRuns []string  `json:"failing_runs"`
	CostUSD     string    `json:"cost_usd"`
	Error       string    `json:"error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// DeliveryRounds answers GET /api/v2/capsules/{id}/deliveries.
type DeliveryRounds struct {
	CapsuleID string          `json:"capsule_id"`
	Rounds    []DeliveryRound `json:"rounds"`
}

// Deliveries lists the delivery rounds of a tenant's capsule, oldest
// first.
func (s *Service) Deliveries(ctx context.Context, tenantID, id string) (DeliveryRounds, error) {
	c, _, err := s.Capsule(ctx, tenantID, id, 0)
	if err != nil {
		return DeliveryRounds{}, err
	}
	rs, err := s.store.ListDeliveryRounds(ctx, tenantID, c.ID)
	if err != nil {
		return DeliveryRounds{}, err
	}
	out := DeliveryRounds{CapsuleID: c.ID, Rounds: []DeliveryRound{}}
	for _, r := range rs {
		out.Rounds = append(out.Rounds, deliveryRound(r))
	}
	return out, nil
}

func deliveryRound(r domain.DeliveryRound) DeliveryRound {
	runs := r.FailingRuns
	if runs == nil {
		runs = []string{}
	}
	return DeliveryRound{Loop: r.LoopID, Round: r.Round, Version: r.Version, Forge: r.Forge, Repo: r.Repo, PullRequest: r.PR, Branch: r.Branch,
		SHA: r.SHA, State: r.State, FailingRuns: runs, CostUSD: pricing.USD(r.CostPUSD), Error: r.Error, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (s *Service) handleDeliveries(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	d, err := s.Deliveries(r.Context(), tid, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

// Deliveries fetches the delivery rounds of a capsule
// (GET /api/v2/capsules/{id}/deliveries).
func (c *Client) Deliveries(ctx context.Context, id string) (DeliveryRounds, error) {
	var out DeliveryRounds
	return out, c.hc.Do(ctx, http.MethodGet, "/api/v2/capsules/"+url.PathEscape(id)+"/deliveries", nil, &out)
}
