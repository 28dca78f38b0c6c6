package orchestrator

import (
	"context"
	"net/http"
	"net/url"
)

// PendingReviews returns GET /hitl/pending.
func (c *Client) PendingReviews(ctx context.Context) (ReviewList, error) {
	var out ReviewList
	return out, c.hc.Do(ctx, http.MethodGet, "/hitl/pending", nil, &out)
}

// Review returns GET /hitl/status/{id}.
func (c *Client) Review(ctx context.Context, id string) (ReviewInfo, error) {
	var out ReviewInfo
	return out, c.hc.Do(ctx, http.MethodGet, "/hitl/status/"+url.PathEscape(id), nil, &out)
}

// RespondReview sends POST /hitl/respond/{id}: decision approve, reject or
// request_changes (with a comment for the next attempt).
func (c *Client) RespondReview(ctx context.Context, id string, body ReviewResponse) (ReviewInfo, error) {
	var out ReviewInfo
	return out, c.hc.Do(ctx, http.MethodPost, "/hitl/respond/"+url.PathEscape(id), body, &out)
}

// ReviewPolicy returns GET /api/v2/review-policy.
func (c *Client) ReviewPolicy(ctx context.Context) (ReviewPolicyView, error) {
	var out ReviewPolicyView
	return out, c.hc.Do(ctx, http.MethodGet, "/api/v2/review-policy", nil, &out)
}

// SetReviewPolicy sends PUT /api/v2/review-policy with the fields given
// (threshold, timeout, on_timeout, aitl); nil returns a field to the
// server's setting.
func (c *Client) SetReviewPolicy(ctx context.Context, fields map[string]any) (ReviewPolicyView, error) {
	var out ReviewPolicyView
	return out, c.hc.Do(ctx, http.MethodPut, "/api/v2/review-policy", fields, &out)
}
