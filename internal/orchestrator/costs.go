package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/store"
)

// CostService answers the cost routes; *costs.Service satisfies it.
type CostService interface {
	Report(ctx context.Context, q costs.ReportQuery) (costs.Report, error)
	Estimate(ctx context.Context, q costs.EstimateQuery) (costs.Estimate, error)
	Runway(ctx context.Context) (costs.Runway, error)
}

// BudgetService answers the budget routes; *budget.Service satisfies it.
type BudgetService interface {
	Status(ctx context.Context, tenantID string) (budget.Status, error)
	Update(ctx context.Context, tenantID string, u budget.Update, by string) (budget.Status, error)
}

// MaxPeriodDays bounds the period of a cost report.
const MaxPeriodDays = 366

// admin allows administrators: keys with the admin scope, and the service
// token (the operator's own credential, which may already act for any
// tenant).
func admin(r *http.Request) (auth.Principal, error) {
	p, ok := auth.From(r.Context())
	if !ok || !(p.Has(auth.ScopeAdmin) || p.Has(auth.ScopeService)) {
		return auth.Principal{}, httpx.Forbidden("this needs an administrator's key: create one with `qlp apikey create --tenant T --admin`")
	}
	return p, nil
}

func (s *Service) costService() (CostService, error) {
	if s.costs == nil {
		return nil, &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "not implemented: this server has no cost ledger"}
	}
	return s.costs, nil
}

// fieldError turns a costs.FieldError into a 400 naming the field.
func fieldError(err error) error {
	var fe *costs.FieldError
	if errors.As(err, &fe) {
		return httpx.BadRequest(fe.Field, "%s", fe.Message)
	}
	return err
}

// handleCosts is GET /api/v2/costs: the tenant's (or, for an administrator
// with scope=all, every tenant's) costs over a period, or one workflow's.
func (s *Service) handleCosts(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.costService()
	if err != nil {
		return err
	}
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rq := costs.ReportQuery{TenantID: tid}
	switch q.Get("scope") {
	case "", "tenant":
	case "all":
		if _, err := admin(r); err != nil {
			return err
		}
		rq.TenantID, rq.AllTenants = "", true
	default:
		return httpx.BadRequest("scope", "%q is not tenant or all", q.Get("scope"))
	}
	requestID := ""
	if id := firstOf(q.Get("workflow_id"), q.Get("request_id")); id != "" {
		job, err := s.Job(r.Context(), tid, id)
		if err != nil {
			return err
		}
		rq.JobID, rq.TenantID, rq.AllTenants = job.ID, tid, false
		requestID = job.RequestID
		if q.Get("period_days") == "" && q.Get("start") == "" && q.Get("end") == "" {
			rep, err := cs.Report(r.Context(), rq)
			if err != nil {
				return err
			}
			rep.RequestID = requestID
			httpx.WriteJSON(w, http.StatusOK, rep)
			return nil
		}
	}
	if rq.Since, rq.Until, err = period(q.Get("period_days"), q.Get("start"), q.Get("end"), time.Now().UTC()); err != nil {
		return err
	}
	rep, err := cs.Report(r.Context(), rq)
	if err != nil {
		return err
	}
	if requestID != "" {
		// The ledger knows the job by its key; the tenant by its request id.
		rep.RequestID = requestID
	}
	httpx.WriteJSON(w, http.StatusOK, rep)
	return nil
}

// period reads period_days (default 30) or start/end dates (inclusive).
func period(days, start, end string, now time.Time) (time.Time, time.Time, error) {
	if start != "" || end != "" {
		if days != "" {
			return time.Time{}, time.Time{}, httpx.BadRequest("period_days", "give period_days or start/end, not both")
		}
		var since, until time.Time
		var err error
		if since, err = time.Parse(time.DateOnly, start); err != nil {
			return time.Time{}, time.Time{}, httpx.BadRequest("start", "%q is not a date (YYYY-MM-DD)", start)
		}
		until = now
		if end != "" {
			if until, err = time.Parse(time.DateOnly, end); err != nil {
				return time.Time{}, time.Time{}, httpx.BadRequest("end", "%q is not a date (YYYY-MM-DD)", end)
			}
			until = until.AddDate(0, 0, 1) // the end date is included
		}
		if !until.After(since) {
			return time.Time{}, time.Time{}, httpx.BadRequest("end", "must not be before start")
		}
		if until.Sub(since) > MaxPeriodDays*24*time.Hour {
			return time.Time{}, time.Time{}, httpx.BadRequest("start", "the period is longer than %d days", MaxPeriodDays)
		}
		return since, until, nil
	}
	n := 30
	if days != "" {
		var err error
		if n, err = strconv.Atoi(days); err != nil || n < 1 || n > MaxPeriodDays {
			return time.Time{}, time.Time{}, httpx.BadRequest("period_days", "must be a whole number of days from 1 to %d", MaxPeriodDays)
		}
	}
	return now.AddDate(0, 0, -n), now, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// handleCostEstimate is GET /api/v2/costs/estimate?complexity=&tech_stack=.
func (s *Service) handleCostEstimate(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.costService()
	if err != nil {
		return err
	}
	if _, err := tenant(r); err != nil {
		return err
	}
	q := r.URL.Query()
	var stack []string
	for _, v := range q["tech_stack"] {
		stack = append(stack, strings.Split(v, ",")...)
	}
	e, err := cs.Estimate(r.Context(), costs.EstimateQuery{Complexity: q.Get("complexity"), TechStack: stack})
	if err != nil {
		if fe := fieldError(err); fe != err {
			return fe
		}
		return &httpx.Error{Status: http.StatusConflict, Code: "no_models", Message: "cannot estimate: " + err.Error() + "; set llm.provider (QLP_LLM_PROVIDER) and the tier models", Err: err}
	}
	httpx.WriteJSON(w, http.StatusOK, e)
	return nil
}

// handleRunway is GET /api/v2/costs/runway (administrators): JSON, or the
// chart with format=svg or format=png.
func (s *Service) handleRunway(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.costService()
	if err != nil {
		return err
	}
	if _, err := admin(r); err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "svg" && format != "png" {
		return httpx.BadRequest("format", "%q is not json, svg or png", format)
	}
	rw, err := cs.Runway(r.Context())
	if err != nil {
		return err
	}
	switch format {
	case "svg":
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, err := w.Write(rw.SVG())
		return err
	case "png":
		b, err := rw.PNG()
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, err = w.Write(b)
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, rw)
	return nil
}

func (s *Service) budgetAdmin(r *http.Request) (BudgetService, string, auth.Principal, error) {
	if s.budgets == nil {
		return nil, "", auth.Principal{}, &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "not implemented: this server enforces no budgets"}
	}
	p, err := admin(r)
	if err != nil {
		return nil, "", auth.Principal{}, err
	}
	tid, err := tenant(r)
	if err != nil {
		return nil, "", auth.Principal{}, err
	}
	return s.budgets, tid, p, nil
}

// handleBudgets is GET /api/v2/budgets (administrators).
func (s *Service) handleBudgets(w http.ResponseWriter, r *http.Request) error {
	b, tid, _, err := s.budgetAdmin(r)
	if err != nil {
		return err
	}
	st, err := b.Status(r.Context(), tid)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}

// handleBudgetsPut is PUT /api/v2/budgets (administrators): change the
// tenant's budgets; fields left out are unchanged, null returns a field to
// the configured default.
func (s *Service) handleBudgetsPut(w http.ResponseWriter, r *http.Request) error {
	b, tid, p, err := s.budgetAdmin(r)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &raw); err != nil {
		return err
	}
	u, err := budget.ParseUpdate(raw)
	if err != nil {
		return fieldError(err)
	}
	// A service-token caller may name any tenant: it must exist.
	if _, err := s.store.GetTenant(r.Context(), tid); errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("tenant " + tid)
	} else if err != nil {
		return err
	}
	st, err := b.Update(r.Context(), tid, u, p.KeyID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}
