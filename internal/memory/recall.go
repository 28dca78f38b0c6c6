package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/quantumlayer/qlp/internal/memory/embed"
	"github.com/quantumlayer/qlp/internal/memory/vector"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// search embeds text as a query and searches one collection for the tenant.
func (s *Service) search(ctx context.Context, collection, requestID, text string, n int, min float32, f vector.Filter) ([]vector.Hit, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkCollection(collection); err != nil {
		return nil, err
	}
	v, err := s.embedOne(ctx, requestID, PurposeSearch, embed.Query, text)
	if err != nil {
		return nil, err
	}
	hits, err := s.store.Search(ctx, collection, vector.Query{Tenant: t, Vector: v, Limit: n, MinScore: min, Filter: f})
	if err != nil {
		return nil, fmt.Errorf("memory: search %s: %w", collection, err)
	}
	return hits, nil
}

// SimilarRequests implements Memory.
func (s *Service) SimilarRequests(ctx context.Context, q RequestQuery) ([]RequestMatch, error) {
	if err := s.checkText("description", q.Description); err != nil {
		return nil, err
	}
	n, err := limit(q.Limit)
	if err != nil {
		return nil, err
	}
	min, err := threshold("min_score", q.MinScore, s.thresholds.Requests)
	if err != nil {
		return nil, err
	}
	var f vector.Filter
	keys := make([]string, 0, len(q.Filters))
	for k := range q.Filters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f.Must = append(f.Must, vector.Eq(k, q.Filters[k]))
	}
	if q.SuccessfulOnly {
		f.Must = append(f.Must, vector.Eq("success", true))
	}
	if err := vector.CheckFilter(f); err != nil {
		return nil, fieldErr("filters", "%v", errors.Unwrap(err))
	}
	hits, err := s.search(ctx, vector.Executions, q.RequestID, q.Description, n, min, f)
	if err != nil {
		return nil, err
	}
	out := make([]RequestMatch, 0, len(hits))
	for _, h := range hits {
		p := h.Payload
		m := RequestMatch{
			ID: h.ID, RequestID: str(p, "request_id"), Description: str(p, "description"), Language: str(p, "language"),
			Success: boolean(p, "success"), SuccessRate: num(p, "success_rate"), ExecutionTime: num(p, "execution_time"),
			CapsuleID: str(p, "capsule_id"), Score: fmtScore(h.Score), TenantID: h.Tenant, UserID: str(p, "user_id"),
			CreatedAt: h.CreatedAt, Tasks: tasksOf(p["tasks"]),
		}
		if m.RequestID == q.RequestID && q.RequestID != "" {
			continue // the job itself, recorded earlier in its run
		}
		out = append(out, m)
	}
	s.metrics.recalled("requests", len(out))
	return out, nil
}

func tasksOf(v any) []Task {
	list, _ := v.([]any)
	out := make([]Task, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		t := Task{ID: str(m, "id"), Type: str(m, "type"), Description: str(m, "description"), Complexity: str(m, "complexity"), Tier: str(m, "tier")}
		deps, _ := m["dependencies"].([]any)
		for _, d := range deps {
			if ds, ok := d.(string); ok {
				t.Dependencies = append(t.Dependencies, ds)
			}
		}
		out = append(out, t)
	}
	return out
}

// CodeExamples implements Memory. Only validated patterns are returned.
func (s *Service) CodeExamples(ctx context.Context, q CodeQuery) ([]CodeExample, error) {
	if err := s.checkText("query", q.Query); err != nil {
		return nil, err
	}
	n, err := limit(q.Limit)
	if err != nil {
		return nil, err
	}
	min, err := threshold("min_score", q.MinScore, s.thresholds.Code)
	if err != nil {
		return nil, err
	}
	if q.MinSuccessRate < 0 || q.MinSuccessRate > 1 {
		return nil, fieldErr("min_success_rate", "must be between 0 and 1")
	}
	f := vector.Filter{Must: []vector.Condition{vector.Eq("validated", true)}}
	if q.Language != "" {
		f.Must = append(f.Must, vector.Eq("language", q.Language))
	}
	if q.TaskType != "" {
		f.Must = append(f.Must, vector.Eq("task_type", q.TaskType))
	}
	if q.MinSuccessRate > 0 {
		f.Must = append(f.Must, vector.AtLeast("success_rate", q.MinSuccessRate))
	}
	// Test files are stored (the reuse of a whole capsule needs them) but
	// never offered as an example: a coder shown a test file as "an
	// example" of the code to write follows the wrong kind of file. The
	// vector filter has no negation, so more hits are read and the tests
	// dropped here.
	hits, err := s.search(ctx, vector.CodePatterns, q.RequestID, q.Query, 3*n, min, f)
	if err != nil {
		return nil, err
	}
	out := make([]CodeExample, 0, n)
	for _, h := range hits {
		p := h.Payload
		if str(p, "role") == "test" {
			continue
		}
		if len(out) == n {
			break
		}
		out = append(out, CodeExample{
			ID: h.ID, Description: str(p, "description"), Task: str(p, "task"), Path: str(p, "path"), Code: str(p, "code"), Language: str(p, "language"),
			TaskType: str(p, "task_type"), SuccessRate: num(p, "success_rate"), CapsuleID: str(p, "capsule_id"),
			RequestID: str(p, "request_id"), Truncated: boolean(p, "truncated"), Score: fmtScore(h.Score), CreatedAt: h.CreatedAt,
		})
	}
	s.metrics.recalled("code", len(out))
	return out, nil
}

// maxOutcomes bounds how many recorded outcomes TierStats reads.
const maxOutcomes = 20000

// TierStats implements Memory.
func (s *Service) TierStats(ctx context.Context, q TierQuery) (TierStats, error) {
	t, err := tenant(ctx)
	if err != nil {
		return TierStats{}, err
	}
	if err := s.checkText("task_type", q.TaskType); err != nil {
		return TierStats{}, err
	}
	if err := oneOf("complexity", q.Complexity, vocab.Complexities()); err != nil {
		return TierStats{}, err
	}
	if q.MinSamples < 0 {
		return TierStats{}, fieldErr("min_samples", "must not be negative")
	}
	if q.MinSuccessRate < 0 || q.MinSuccessRate > 1 {
		return TierStats{}, fieldErr("min_success_rate", "must be between 0 and 1")
	}
	st := TierStats{TaskType: q.TaskType, Complexity: q.Complexity, MinSamples: s.cfg.MinSamples, MinSuccessRate: s.cfg.MinSuccessRate, Tiers: []TierStat{}}
	if q.MinSamples > 0 {
		st.MinSamples = q.MinSamples
	}
	if q.MinSuccessRate > 0 {
		st.MinSuccessRate = q.MinSuccessRate
	}
	byTier := map[string]*TierStat{}
	sums := map[string][2]float64{}
	f := vector.Filter{Must: []vector.Condition{vector.Eq("task_type", q.TaskType), vector.Eq("complexity", q.Complexity)}}
	cursor := ""
	for read := 0; read < maxOutcomes; {
		page, next, err := s.store.Scroll(ctx, vector.AgentDecisions, vector.Page{Tenant: t, Filter: f, Limit: 1000, Cursor: cursor})
		if err != nil {
			return TierStats{}, fmt.Errorf("memory: read outcomes: %w", err)
		}
		for _, p := range page {
			tier := str(p.Payload, "tier")
			ts := byTier[tier]
			if ts == nil {
				ts = &TierStat{Tier: tier}
				byTier[tier] = ts
			}
			ts.Samples++
			if boolean(p.Payload, "success") {
				ts.Successes++
			}
			acc := sums[tier]
			acc[0] += num(p.Payload, "duration_seconds")
			acc[1] += num(p.Payload, "cost_usd")
			sums[tier] = acc
		}
		read += len(page)
		if next == "" {
			break
		}
		cursor = next
	}
	for _, tier := range vocab.Tiers() {
		ts, ok := byTier[tier]
		if !ok {
			continue
		}
		ts.SuccessRate = float64(ts.Successes) / float64(ts.Samples)
		ts.MeanSeconds = sums[tier][0] / float64(ts.Samples)
		ts.MeanCostUSD = sums[tier][1] / float64(ts.Samples)
		st.Samples += ts.Samples
		st.Tiers = append(st.Tiers, *ts)
		if st.Recommended == "" && ts.Samples >= st.MinSamples && ts.SuccessRate >= st.MinSuccessRate {
			st.Recommended, st.SuccessRate = tier, ts.SuccessRate
		}
	}
	res := "miss"
	if st.Recommended != "" {
		res = "hit"
	}
	s.metrics.recall.WithLabelValues("tiers", res).Inc()
	return st, nil
}

// RepairHints implements Memory.
func (s *Service) RepairHints(ctx context.Context, q ErrorQuery) ([]RepairHint, error) {
	if err := s.checkText("error", q.Error); err != nil {
		return nil, err
	}
	n, err := limit(q.Limit)
	if err != nil {
		return nil, err
	}
	min, err := threshold("min_score", q.MinScore, s.thresholds.Errors)
	if err != nil {
		return nil, err
	}
	var f vector.Filter
	if q.Language != "" {
		f.Must = append(f.Must, vector.Eq("language", q.Language))
	}
	text := normalizeError(q.Error)
	if text == "" {
		return nil, fieldErr("error", "has nothing left once numbers and paths are removed")
	}
	hits, err := s.search(ctx, vector.ErrorPatterns, q.RequestID, text, n, min, f)
	if err != nil {
		return nil, err
	}
	out := make([]RepairHint, 0, len(hits))
	for _, h := range hits {
		p := h.Payload
		out = append(out, RepairHint{ID: h.ID, Error: str(p, "error"), Fix: str(p, "fix"), Language: str(p, "language"),
			ErrorType: str(p, "error_type"), Occurrences: int(num(p, "occurrences")), Score: fmtScore(h.Score), CreatedAt: h.CreatedAt})
	}
	s.metrics.recalled("repairs", len(out))
	return out, nil
}

// FindReusable implements Memory.
func (s *Service) FindReusable(ctx context.Context, q ReuseQuery) (Reuse, error) {
	if err := s.checkText("description", q.Description); err != nil {
		return Reuse{}, err
	}
	min, err := threshold("min_score", q.MinScore, s.thresholds.Reuse)
	if err != nil {
		return Reuse{}, err
	}
	f := vector.Filter{Must: []vector.Condition{vector.Eq("validated", true)}}
	if q.Language != "" {
		f.Must = append(f.Must, vector.Eq("language", q.Language))
	}
	hits, err := s.search(ctx, vector.Requirements, q.RequestID, q.Description, 1, min, f)
	if err != nil {
		return Reuse{}, err
	}
	s.metrics.recalled("reuse", len(hits))
	if len(hits) == 0 {
		return Reuse{}, fmt.Errorf("%w: no validated capsule for a request at least %.2f similar", ErrNoMatch, min)
	}
	p := hits[0].Payload
	return Reuse{CapsuleID: str(p, "capsule_id"), RequestID: str(p, "request_id"), Description: str(p, "description"),
		Language: str(p, "language"), Score: fmtScore(hits[0].Score)}, nil
}

// Search implements Memory.
func (s *Service) Search(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, err
	}
	if !vector.KnownCollection(q.Collection) {
		return nil, fieldErr("collection", "unknown collection %q (want one of %s)", q.Collection, joinCollections())
	}
	if err := s.checkCollection(q.Collection); err != nil {
		return nil, err
	}
	n, err := limit(q.Limit)
	if err != nil {
		return nil, err
	}
	if q.MinScore < -1 || q.MinScore > 1 {
		return nil, fieldErr("min_score", "must be between -1 and 1")
	}
	if err := vector.CheckFilter(q.Filter); err != nil {
		return nil, fieldErr("filter", "%v", errors.Unwrap(err))
	}
	var v []float32
	switch {
	case q.Text != "" && len(q.Vector) > 0:
		return nil, fieldErr("vector", "give text or vector, not both")
	case len(q.Vector) > 0:
		if len(q.Vector) != s.embedder.Dimension() {
			return nil, fieldErr("vector", "has %d dimensions; %s holds %d-dimensional vectors", len(q.Vector), q.Collection, s.embedder.Dimension())
		}
		if _, err := vector.Normalize(q.Vector); err != nil {
			return nil, fieldErr("vector", "%v", errors.Unwrap(err))
		}
		v = q.Vector
	default:
		if err := s.checkText("text", q.Text); err != nil {
			return nil, err
		}
		if v, err = s.embedOne(ctx, q.RequestID, PurposeSearch, embed.Query, q.Text); err != nil {
			return nil, err
		}
	}
	hits, err := s.store.Search(ctx, q.Collection, vector.Query{Tenant: t, Vector: v, Limit: n, MinScore: float32(q.MinScore), Filter: q.Filter})
	if err != nil {
		return nil, fmt.Errorf("memory: search %s: %w", q.Collection, err)
	}
	out := make([]SearchHit, len(hits))
	for i, h := range hits {
		out[i] = SearchHit{ID: h.ID, Collection: q.Collection, Score: fmtScore(h.Score), Payload: h.Payload, CreatedAt: h.CreatedAt}
	}
	return out, nil
}
