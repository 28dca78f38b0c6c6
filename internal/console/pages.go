package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"

	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// homeView is the start page: a new request and the tenant's capsules.
type homeView struct {
	Languages []string
	Tiers     []string
	Capsules  []orchestrator.CapsuleSummary
	Form      url.Values
	Error     string
}

func (c *Console) home(w http.ResponseWriter, r *http.Request, q *req) error {
	return c.showHome(w, r, q, http.StatusOK, nil, "")
}

func (c *Console) showHome(w http.ResponseWriter, r *http.Request, q *req, status int, form url.Values, msg string) error {
	v := homeView{Languages: vocab.Languages(), Tiers: vocab.Tiers(), Form: form, Error: msg}
	if q.who.Allows(auth.ScopeRead) {
		list, err := q.api.Capsules(r.Context(), 20, 0)
		if err != nil {
			return err
		}
		v.Capsules = list.Capsules
	}
	c.render(w, r, status, "home", q, v)
	return nil
}

// submit sends a new request through POST /v2/execute and goes to its
// job page; a refused request comes back to the form with the reason.
func (c *Console) submit(w http.ResponseWriter, r *http.Request, q *req) error {
	f := r.PostForm
	body := orchestrator.V2ExecuteRequest{Description: f.Get("description"), Requirements: f.Get("requirements"),
		Constraints: map[string]any{}, Options: orchestrator.V2Options{TierOverride: f.Get("tier")}}
	if l := f.Get("language"); l != "" {
		body.Constraints["language"] = l
	}
	if fw := strings.TrimSpace(f.Get("framework")); fw != "" {
		body.Constraints["framework"] = fw
	}
	if b := strings.TrimSpace(f.Get("budget")); b != "" {
		usd, err := strconv.ParseFloat(b, 64)
		if err != nil {
			return c.showHome(w, r, q, http.StatusBadRequest, f, "budget: "+strconv.Quote(b)+" is not a number of dollars")
		}
		// The API checks it (metadata.budget_usd) and says why it refuses.
		body.Options.Metadata = map[string]any{"budget_usd": usd}
	}
	var out orchestrator.V2ExecuteResponse
	if err := q.api.Call(r.Context(), http.MethodPost, "/v2/execute", body, &out); err != nil {
		if se, ok := httpx.AsStatusError(err); ok && se.Status < 500 && se.Status != http.StatusNotFound {
			msg := se.Message
			if se.Field != "" {
				msg = se.Field + ": " + msg
			}
			return c.showHome(w, r, q, se.Status, f, msg)
		}
		return err
	}
	http.Redirect(w, r, "/ui/jobs/"+url.PathEscape(out.WorkflowID), http.StatusSeeOther)
	return nil
}

// jobView is the job page.
type jobView struct {
	Job        orchestrator.StatusResponse
	Graph      template.HTML
	Tasks      []domain.Task
	Terminal   bool
	TemporalUI string
	Findings   []orchestrator.Finding
	CostUSD    string
	// TokensIn, TokensOut and SpentUSD sum the tasks so far, so that they
	// tick while the job runs.
	TokensIn, TokensOut int
	SpentUSD            string
	// CSRF is the session's token, for the cancel form in the live part.
	CSRF string
	// EventTypes and EndTypes name the stream's events for the script.
	EventTypes, EndTypes string
}

// eventTypes are the progress stream's event names, for the page's script.
var eventTypes = []string{progress.WorkflowStarted, progress.Decomposed, progress.TaskStarted, progress.TaskProgress, progress.TaskCompleted,
	progress.TaskFailed, progress.TaskSkipped, progress.TaskValidated, progress.TaskGenerated, progress.TaskAttempt, progress.ReviewRequested,
	progress.ReviewDecided, progress.CapsuleValidated, progress.CapsuleCreated, progress.WorkflowCompleted, progress.WorkflowFailed,
	progress.WorkflowCancelled, progress.LogMessage, progress.BudgetAlert}

func endTypes() string {
	var out []string
	for _, t := range eventTypes {
		if progress.Terminal(t) {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}

func (c *Console) job(w http.ResponseWriter, r *http.Request, q *req) error {
	st, err := q.api.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	// The API answered for this job as the caller: its tasks are theirs.
	tasks, err := c.d.Tasks(r.Context(), orchestrator.JobID(st.WorkflowID))
	if err != nil {
		return err
	}
	v := jobView{Job: st, Tasks: tasks, Graph: taskGraph(tasks), Terminal: st.Status != "queued" && st.Status != "running",
		CSRF: q.sess.CSRF, EventTypes: strings.Join(eventTypes, " "), EndTypes: endTypes()}
	var spent int64
	for _, t := range tasks {
		v.TokensIn, v.TokensOut, spent = v.TokensIn+t.InputTokens, v.TokensOut+t.OutputTokens, spent+t.CostPUSD
	}
	v.SpentUSD = pricing.USD(spent)
	if c.cfg.TemporalUIURL != "" {
		ns := c.cfg.TemporalNamespace
		if ns == "" {
			ns = "default"
		}
		v.TemporalUI = strings.TrimRight(c.cfg.TemporalUIURL, "/") + "/namespaces/" + url.PathEscape(ns) + "/workflows/" + url.PathEscape(st.WorkflowID)
	}
	if st.Result != nil {
		v.Findings, v.CostUSD = st.Result.Findings, st.Result.Cost.USD
	}
	if r.URL.Query().Get("part") == "live" {
		c.render(w, r, http.StatusOK, "joblive", q, v)
		return nil
	}
	c.render(w, r, http.StatusOK, "job", q, v)
	return nil
}

// events relays the API's progress stream for the job as the caller: the
// same route, checks and events, under the console's cookie.
func (c *Console) events(w http.ResponseWriter, r *http.Request, q *req) error {
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: "/progress/stream/" + r.PathValue("id"), RawQuery: r.URL.RawQuery}
	r2.RequestURI = ""
	r2.Header = http.Header{"Authorization": {"Bearer " + q.sess.Key}, "Accept": {"text/event-stream"}}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		r2.Header.Set("Last-Event-ID", id)
	}
	c.d.API.ServeHTTP(w, r2)
	return nil
}

func (c *Console) cancel(w http.ResponseWriter, r *http.Request, q *req) error {
	if _, err := q.api.Cancel(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/jobs/"+url.PathEscape(r.PathValue("id"))+"?flash="+url.QueryEscape("Cancellation requested."), http.StatusSeeOther)
	return nil
}

// capsuleView is the capsule page.
type capsuleView struct {
	Capsule   orchestrator.CapsuleDetail
	Manifest  capsule.Manifest
	Report    capsule.Report
	Checks    []validation.Check
	Tree      []treeEntry
	File      string
	Code      template.HTML
	Signature signatureBadge
	Versions  []int
	Diff      template.HTML
	DiffFrom  int
}

// treeEntry is one line of the file tree: a directory or a file, its
// name, and its depth (capped at maxDepth for the indentation classes).
type treeEntry struct {
	Path, Name, Role string
	Depth            int
	Dir              bool
	Size             int64
}

type signatureBadge struct {
	OK       bool
	KeyID    string
	Problems []string
	Note     string
}

func (c *Console) capsule(w http.ResponseWriter, r *http.Request, q *req) error {
	id := r.PathValue("id")
	version, _ := strconv.Atoi(r.URL.Query().Get("version"))
	d, err := q.api.Capsule(r.Context(), id, version)
	if err != nil {
		return err
	}
	v := capsuleView{Capsule: d, File: r.URL.Query().Get("file")}
	_ = json.Unmarshal(d.Manifest, &v.Manifest)
	_ = json.Unmarshal(d.ValidationReport, &v.Report)
	_ = json.Unmarshal(v.Report.Checks, &v.Checks)
	v.Tree = fileTree(d.Files)
	for i := d.LatestVersion; i >= 1; i-- {
		v.Versions = append(v.Versions, i)
	}
	// The badge comes from verifying the archive the API hands out, as
	// `qlp capsule verify` does, against this platform's signing key.
	archive, err := q.api.Download(r.Context(), id, d.Version, capsule.DefaultFormat)
	if err != nil {
		return err
	}
	files, err := capsule.ReadArchive(archive)
	if err != nil {
		v.Signature = signatureBadge{Problems: []string{"the archive cannot be read: " + err.Error()}}
	} else if ver, err := capsule.Verify(files, c.d.Trusted...); err != nil {
		v.Signature = signatureBadge{Problems: []string{err.Error()}}
	} else {
		v.Signature = signatureBadge{OK: ver.OK(), KeyID: ver.KeyID, Problems: ver.Problems}
		if ver.Intact() && !ver.Trusted {
			v.Signature.Note = "intact, but signed by a key this platform does not trust"
		}
	}
	if v.File != "" {
		content, ok := files[v.File]
		if !ok {
			return httpx.NotFound("file " + v.File)
		}
		v.Code = highlight(v.File, string(content), findingLines(v.Checks, v.File))
	}
	if from, _ := strconv.Atoi(r.URL.Query().Get("diff")); from > 0 && from != d.Version {
		old, err := q.api.Download(r.Context(), id, from, capsule.DefaultFormat)
		if err != nil {
			return err
		}
		oldFiles, err := capsule.ReadArchive(old)
		if err != nil {
			return fmt.Errorf("read version %d of capsule %s: %w", from, id, err)
		}
		v.Diff, v.DiffFrom = diffFiles(oldFiles, files), from
	}
	c.render(w, r, http.StatusOK, "capsule", q, v)
	return nil
}

// findingLines are the lines of file that the validation found fault with.
func findingLines(checks []validation.Check, file string) map[int]string {
	out := map[int]string{}
	for _, ch := range checks {
		for _, f := range ch.Findings {
			if f.File == file && f.Line > 0 {
				out[f.Line] = ch.Name + ": " + f.Message
			}
		}
	}
	return out
}

// maxDepth is the deepest indentation the tree draws (console.css d0..d6).
const maxDepth = 6

func fileTree(files []orchestrator.CapsuleFileInfo) []treeEntry {
	paths := make([]orchestrator.CapsuleFileInfo, len(files))
	copy(paths, files)
	sort.Slice(paths, func(i, j int) bool { return paths[i].Path < paths[j].Path })
	var out []treeEntry
	seen := map[string]bool{}
	for _, f := range paths {
		parts := strings.Split(f.Path, "/")
		for i := 1; i < len(parts); i++ {
			dir := strings.Join(parts[:i], "/")
			if !seen[dir] {
				seen[dir] = true
				out = append(out, treeEntry{Path: dir, Name: parts[i-1] + "/", Depth: min(i-1, maxDepth), Dir: true})
			}
		}
		out = append(out, treeEntry{Path: f.Path, Name: parts[len(parts)-1], Role: f.Role, Depth: min(len(parts)-1, maxDepth), Size: f.Size})
	}
	return out
}

// download relays the API's download route as the caller.
func (c *Console) download(w http.ResponseWriter, r *http.Request, q *req) error {
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: "/api/capsules/" + r.PathValue("id") + "/download", RawQuery: r.URL.RawQuery}
	r2.RequestURI = ""
	r2.Header = http.Header{"Authorization": {"Bearer " + q.sess.Key}}
	c.d.API.ServeHTTP(w, r2)
	return nil
}

// reviewView is the review queue.
type reviewView struct {
	Reviews []reviewItem
}

type reviewItem struct {
	orchestrator.ReviewInfo
	Files []reviewFile
}

type reviewFile struct {
	Path string
	Code template.HTML
}

func (c *Console) reviews(w http.ResponseWriter, r *http.Request, q *req) error {
	list, err := q.api.PendingReviews(r.Context())
	if err != nil {
		return err
	}
	v := reviewView{}
	for _, rv := range list.Reviews {
		item := reviewItem{ReviewInfo: rv}
		// The API listed this review for the caller: its job's files are theirs.
		tasks, err := c.d.Tasks(r.Context(), orchestrator.JobID(rv.WorkflowID))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if t.ID != rv.TaskID {
				continue
			}
			for _, f := range t.Files {
				item.Files = append(item.Files, reviewFile{Path: f.Path, Code: highlight(f.Path, f.Content, nil)})
			}
		}
		v.Reviews = append(v.Reviews, item)
	}
	c.render(w, r, http.StatusOK, "reviews", q, v)
	return nil
}

// respond answers a review through POST /hitl/respond/{id}, the call the
// API's clients make, which signals the waiting workflow.
func (c *Console) respond(w http.ResponseWriter, r *http.Request, q *req) error {
	who := "console:key:" + q.who.KeyID
	if _, err := q.api.RespondReview(r.Context(), r.PathValue("id"), orchestrator.ReviewResponse{Decision: r.PostFormValue("decision"),
		Comment: r.PostFormValue("comment"), Reviewer: who}); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/reviews?flash="+url.QueryEscape("Decision sent: "+r.PostFormValue("decision")+"."), http.StatusSeeOther)
	return nil
}

// costsView is the costs page.
type costsView struct {
	Report   costs.Report
	Budgets  *budget.Status
	Runway   bool
	Refusal  string
	LimitRow []limitRow
}

type limitRow struct {
	Name, Field string
	budget.LimitView
}

func (c *Console) costsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	rep, err := q.api.Costs(r.Context(), orchestrator.CostQuery{PeriodDays: 30})
	if err != nil {
		return err
	}
	v := costsView{Report: rep}
	st, err := q.api.Budgets(r.Context())
	switch se, ok := httpx.AsStatusError(err); {
	case err == nil:
		v.Budgets, v.Runway = &st, true
		for _, k := range []struct{ name, key, field string }{{"Per request", budget.ScopeRequest, "request_usd"},
			{"Daily", budget.ScopeTenantDaily, "tenant_daily_usd"}, {"Monthly", budget.ScopeTenantMonthly, "tenant_monthly_usd"}} {
			v.LimitRow = append(v.LimitRow, limitRow{Name: k.name, Field: k.field, LimitView: st.Limits[k.key]})
		}
	case ok && (se.Status == http.StatusForbidden || se.Status == http.StatusNotImplemented):
		v.Refusal = se.Message
	default:
		return err
	}
	c.render(w, r, http.StatusOK, "costs", q, v)
	return nil
}

// runway is the CLI's runway chart, from the API as the caller.
func (c *Console) runway(w http.ResponseWriter, r *http.Request, q *req) error {
	svg, err := q.api.RunwaySVG(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	_, err = w.Write(svg)
	return err
}

// setBudgets sends the form to PUT /api/v2/budgets, which refuses a
// caller without the admin scope.
func (c *Console) setBudgets(w http.ResponseWriter, r *http.Request, q *req) error {
	fields := map[string]any{}
	for _, k := range []string{"request_usd", "tenant_daily_usd", "tenant_monthly_usd"} {
		switch v := strings.TrimSpace(r.PostFormValue(k)); v {
		case "":
		case "none":
			fields[k] = nil
		default:
			fields[k] = v
		}
	}
	if p := r.PostFormValue("policy"); p != "" {
		fields["policy"] = p
	}
	if _, err := q.api.SetBudgets(r.Context(), fields); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/costs?flash="+url.QueryEscape("Budgets saved."), http.StatusSeeOther)
	return nil
}

// adminView is the admin page.
type adminView struct {
	Keys       []store.APIKey
	NewKey     string
	Policy     orchestrator.ReviewPolicyView
	Packs      orchestrator.ModelPacks
	Scopes     []string
	ManageKeys bool
}

func (c *Console) admin(w http.ResponseWriter, r *http.Request, q *req) error {
	return c.showAdmin(w, r, q, "")
}

func (c *Console) showAdmin(w http.ResponseWriter, r *http.Request, q *req, newKey string) error {
	if !q.who.Allows(auth.ScopeAdmin) {
		return httpx.Forbidden("the admin page needs a key with the admin scope")
	}
	pol, err := q.api.ReviewPolicy(r.Context())
	if err != nil {
		return err
	}
	packs, err := q.api.ModelPacks(r.Context())
	if err != nil {
		return err
	}
	v := adminView{Policy: pol, Packs: packs, NewKey: newKey, Scopes: auth.TenantScopes(), ManageKeys: c.d.Keys != nil}
	if c.d.Keys != nil {
		if v.Keys, err = c.d.Keys.ListAPIKeys(r.Context(), q.who.TenantID); err != nil {
			return err
		}
	}
	c.render(w, r, http.StatusOK, "admin", q, v)
	return nil
}

// createKey makes a key for the signed-in tenant and shows it once.
func (c *Console) createKey(w http.ResponseWriter, r *http.Request, q *req) error {
	if !q.who.Allows(auth.ScopeAdmin) {
		return httpx.Forbidden("creating keys needs a key with the admin scope")
	}
	if c.d.Keys == nil {
		return &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "not implemented: this process manages no keys"}
	}
	scopes := r.PostForm["scope"]
	for _, s := range scopes {
		if !auth.KnownScope(s) {
			return httpx.BadRequest("scope", "%q is not one of %s", s, strings.Join(auth.TenantScopes(), ", "))
		}
	}
	if len(scopes) == 0 {
		scopes = auth.DefaultScopes()
	}
	key, digest, err := auth.NewKey()
	if err != nil {
		return err
	}
	rec := store.APIKey{ID: uuid.NewString(), TenantID: q.who.TenantID, Name: strings.TrimSpace(r.PostFormValue("name")),
		Digest: digest, Prefix: auth.DisplayPrefix(key.Reveal()), Scopes: scopes, CreatedAt: c.now().UTC().Truncate(time.Second)}
	if d := strings.TrimSpace(r.PostFormValue("expires")); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return httpx.BadRequest("expires", "must be a positive duration such as 720h")
		}
		at := c.now().Add(dur).UTC()
		rec.ExpiresAt = &at
	}
	err = c.d.Keys.CreateAPIKey(r.Context(), rec)
	c.audit(r, q, "console apikey create", rec.ID, err)
	if err != nil {
		return err
	}
	return c.showAdmin(w, r, q, key.Reveal())
}

func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, q *req) error {
	if !q.who.Allows(auth.ScopeAdmin) {
		return httpx.Forbidden("revoking keys needs a key with the admin scope")
	}
	if c.d.Keys == nil {
		return &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "not implemented: this process manages no keys"}
	}
	err := c.d.Keys.RevokeAPIKey(r.Context(), q.who.TenantID, r.PathValue("id"))
	c.audit(r, q, "console apikey revoke", r.PathValue("id"), err)
	if errors.Is(err, store.ErrNotFound) {
		return httpx.NotFound("key " + r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/admin?flash="+url.QueryEscape("Key "+r.PathValue("id")+" revoked."), http.StatusSeeOther)
	return nil
}

// audit records a key change made here, as the CLI records its own (the
// other forms reach audited API routes); a failure to record is logged,
// since the change is made.
func (c *Console) audit(r *http.Request, q *req, action, target string, err error) {
	out, detail := "ok", ""
	if err != nil {
		out, detail = "error", err.Error()
	}
	if aerr := c.d.Keys.AppendAudit(context.WithoutCancel(r.Context()), store.AuditEntry{TenantID: q.who.TenantID, Actor: orchestrator.Actor(q.who),
		Action: action, Target: target, Outcome: out, Detail: detail}); aerr != nil {
		c.d.Logger.WarnContext(r.Context(), "console: the audit log did not record a key change", "action", action, "target", target, "err", aerr)
	}
}

// setModelPack sends the form to PUT /api/v2/model-packs.
func (c *Console) setModelPack(w http.ResponseWriter, r *http.Request, q *req) error {
	if _, err := q.api.SetModelPack(r.Context(), r.PostFormValue("pack")); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/admin?flash="+url.QueryEscape("Model pack saved."), http.StatusSeeOther)
	return nil
}

// setReviewPolicy sends the form to PUT /api/v2/review-policy.
func (c *Console) setReviewPolicy(w http.ResponseWriter, r *http.Request, q *req) error {
	fields := map[string]any{}
	if t := strings.TrimSpace(r.PostFormValue("threshold")); t != "" {
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return httpx.BadRequest("threshold", "must be a number from 0 to 1")
		}
		fields["threshold"] = f
	}
	if t := strings.TrimSpace(r.PostFormValue("timeout")); t != "" {
		fields["timeout"] = t
	}
	if t := r.PostFormValue("on_timeout"); t != "" {
		fields["on_timeout"] = t
	}
	fields["aitl"] = r.PostFormValue("aitl") == "on"
	if _, err := q.api.SetReviewPolicy(r.Context(), fields); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/admin?flash="+url.QueryEscape("Review policy saved."), http.StatusSeeOther)
	return nil
}
