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
