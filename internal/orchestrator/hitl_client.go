package orchestrator

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// PendingReviews returns GET /hitl/pending.
func (c *Client) PendingReviews(ctx context.Context) (ReviewList, error) {
	var out ReviewList
	return out, c.getJSON(ctx, "/hitl/pending", &out)
}

// Review returns GET /hitl/status/{id}.
func (c *Client) Review(ctx context.Context, id string) (ReviewInfo, error) {
	var out ReviewInfo
	return out, c.getJSON(ctx, "/hitl/status/"+url.PathEscape(id), &out)
}

// RespondReview sends POST /hitl/respond/{id}: decision approve, reject or
// request_changes (with a comment for the next attempt).
func (c *Client) RespondReview(ctx context.Context, id string, body ReviewResponse) (ReviewInfo, error) {
	resp, err := c.do(ctx, http.MethodPost, "/hitl/respond/"+url.PathEscape(id), body, nil)
	if err != nil {
		return ReviewInfo{}, err
	}
	defer resp.Body.Close()
	var out ReviewInfo
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// ReviewPolicy returns GET /api/v2/review-policy.
func (c *Client) ReviewPolicy(ctx context.Context) (ReviewPolicyView, error) {
	var out ReviewPolicyView
	return out, c.getJSON(ctx, "/api/v2/review-policy", &out)
}

// SetReviewPolicy sends PUT /api/v2/review-policy with the fields given
// (threshold, timeout, on_timeout, aitl); nil returns a field to the
// server's setting.
func (c *Client) SetReviewPolicy(ctx context.Context, fields map[string]any) (ReviewPolicyView, error) {
	resp, err := c.do(ctx, http.MethodPut, "/api/v2/review-policy", fields, nil)
	if err != nil {
		return ReviewPolicyView{}, err
	}
	defer resp.Body.Close()
	var out ReviewPolicyView
	return out, json.NewDecoder(resp.Body).Decode(&out)
}
