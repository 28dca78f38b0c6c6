package orchestrator

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/costs"
)

// CostQuery selects a cost report: a workflow (request id or workflow id),
// or a period of PeriodDays or Start..End (YYYY-MM-DD, inclusive); All asks
// for every tenant (administrators).
type CostQuery struct {
	WorkflowID string
	PeriodDays int
	Start, End string
	All        bool
}

// Costs returns GET /api/v2/costs.
func (c *Client) Costs(ctx context.Context, q CostQuery) (costs.Report, error) {
	v := url.Values{}
	if q.WorkflowID != "" {
		v.Set("workflow_id", q.WorkflowID)
	}
	if q.PeriodDays > 0 {
		v.Set("period_days", strconv.Itoa(q.PeriodDays))
	}
	if q.Start != "" {
		v.Set("start", q.Start)
	}
	if q.End != "" {
		v.Set("end", q.End)
	}
	if q.All {
		v.Set("scope", "all")
	}
	var out costs.Report
	return out, c.hc.Do(ctx, http.MethodGet, "/api/v2/costs?"+v.Encode(), nil, &out)
}

// CostEstimate returns GET /api/v2/costs/estimate.
func (c *Client) CostEstimate(ctx context.Context, complexity string, stack []string) (costs.Estimate, error) {
	v := url.Values{"complexity": {complexity}}
	for _, s := range stack {
		v.Add("tech_stack", s)
	}
	var out costs.Estimate
	return out, c.hc.Do(ctx, http.MethodGet, "/api/v2/costs/estimate?"+v.Encode(), nil, &out)
}

// Runway returns GET /api/v2/costs/runway.
func (c *Client) Runway(ctx context.Context) (costs.Runway, error) {
	var out costs.Runway
	return out, c.hc.Do(ctx, http.MethodGet, "/api/v2/costs/runway", nil, &out)
}

// RunwaySVG returns the runway chart, GET /api/v2/costs/runway?format=svg.
func (c *Client) RunwaySVG(ctx context.Context) ([]byte, error) {
	return c.RunwayChart(ctx, "svg")
}

// RunwayChart returns the runway chart in format svg or png,
// GET /api/v2/costs/runway?format=FORMAT.
func (c *Client) RunwayChart(ctx context.Context, format string) ([]byte, error) {
	resp, err := c.hc.Send(ctx, http.MethodGet, "/api/v2/costs/runway?format="+url.QueryEscape(format), nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Budgets returns GET /api/v2/budgets.
func (c *Client) Budgets(ctx context.Context) (budget.Status, error) {
	var out budget.Status
	return out, c.hc.Do(ctx, http.MethodGet, "/api/v2/budgets", nil, &out)
}

// SetBudgets sends PUT /api/v2/budgets with the fields given: a dollar
// amount as a string, "unlimited", or nil to return to the default.
func (c *Client) SetBudgets(ctx context.Context, fields map[string]any) (budget.Status, error) {
	var out budget.Status
	return out, c.hc.Do(ctx, http.MethodPut, "/api/v2/budgets", fields, &out)
}
