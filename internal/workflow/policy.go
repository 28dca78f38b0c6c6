package workflow

import (
	"context"
	"fmt"
	"strings"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
)

// PolicyStore is the part of the store the output check uses.
type PolicyStore interface {
	GetContentPolicy(ctx context.Context, tenantID string) (store.ContentPolicy, error)
	RecordPolicyViolation(ctx context.Context, v store.PolicyViolation) (store.PolicyViolation, error)
}

// outputViolation is what the content policy found in an attempt's files.
type outputViolation struct {
	reason string
	digest string
}

// checkOutputs applies the content policy to the files an attempt of a
// task wrote, before they can reach a capsule. Each file that breaks the
// policy is recorded as a violation (its digest, not its text) and
// counted; the reason names the files and categories. nil: nothing broke
// the policy (or no policy is configured).
func (a *Activities) checkOutputs(ctx context.Context, job domain.Job, task domain.Task, action string) (*outputViolation, error) {
	if a.Policy == nil || !a.Policy.Config().Enabled || a.PolicyStore == nil {
		return nil, nil
	}
	cp, err := a.PolicyStore.GetContentPolicy(ctx, job.TenantID)
	if err != nil {
		return nil, fmt.Errorf("content policy of %s: %w", job.TenantID, err)
	}
	tp := policy.Tenant{}
	for _, c := range cp.Allow {
		tp.Allow = append(tp.Allow, policy.Category(c))
	}
	for _, c := range cp.Deny {
		tp.Deny = append(tp.Deny, policy.Category(c))
	}
	var reasons, digests []string
	for _, f := range task.Files {
		res, err := a.Policy.Check(ctx, f.Content, policy.AgentOutput, tp)
		if err != nil {
			return nil, err
		}
		if !res.Blocked() {
			a.PolicyMetrics.Observe("output", "flagged", res)
			continue
		}
		a.PolicyMetrics.Observe("output", action, res)
		cats := make([]string, 0, len(res.Categories))
		for _, c := range res.Categories {
			cats = append(cats, string(c))
		}
		digest := policy.Digest(f.Content)
		if _, err := a.PolicyStore.RecordPolicyViolation(ctx, store.PolicyViolation{TenantID: job.TenantID, UserID: job.UserID, JobID: job.ID,
			TaskID: task.ID, Kind: string(policy.AgentOutput), Origin: "output", Severity: res.Severity.String(), Categories: cats,
			Action: action, ContentSHA256: digest, Explanation: f.Path + ": " + res.Explanation}); err != nil {
			return nil, err
		}
		reasons = append(reasons, fmt.Sprintf("%s: %s", f.Path, res.Explanation))
		digests = append(digests, digest[:16])
	}
	if len(reasons) == 0 {
		return nil, nil
	}
	return &outputViolation{reason: "content policy violation: " + strings.Join(reasons, "; "), digest: strings.Join(digests, "")}, nil
}

// applyOutputPolicy lays the content policy's verdict over an attempt's
// validation: with action fail the attempt fails with the reason (the
// repair loop may remove the content; the same violation again makes the
// task stuck, and it fails with the reason); with action review a passing
// attempt waits for a person. It reports whether a review is forced.
func (a *Activities) applyOutputPolicy(ctx context.Context, job domain.Job, task domain.Task, tv *TaskValidation) (bool, error) {
	if a.Policy == nil {
		return false, nil
	}
	action := "failed"
	if a.Policy.Config().OutputAction == policy.OutputReview {
		action = "review"
	}
	v, err := a.checkOutputs(ctx, job, task, action)
	if err != nil || v == nil {
		return false, err
	}
	if action == "review" {
		tv.RequiresReview = true
		tv.Reasons = append(tv.Reasons, v.reason)
		return tv.Passed, nil
	}
	failures := v.reason
	if !tv.Passed && tv.Failures != "" {
		failures += "\n\n" + tv.Failures
	}
	*tv = TaskValidation{Status: validation.StatusFailed, Failures: failures, Brief: v.reason, Fingerprint: "policy-" + v.digest,
		GateFailed: true, Confidence: tv.Confidence, Summary: tv.Summary}
	return false, nil
}
