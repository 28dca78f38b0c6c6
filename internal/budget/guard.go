package budget

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
)

// ErrExceeded matches every *Error with errors.Is.
var ErrExceeded = errors.New("budget exceeded")

// ErrNoTenant refuses a model call that names no tenant: no budget can be
// checked for it, and the metering wrapper behind the guard would refuse
// to record it only after the provider had been paid.
var ErrNoTenant = errors.New("budget: refusing a model call without a tenant (llm.Meta.TenantID): no budget can admit it, so it was not sent to the provider")

// Error is a call refused because a budget cannot take it. Retrying cannot
// help: the workflow fails the job with this message.
type Error struct {
	Scope   string // ScopeRequest, ScopeTenantDaily, ScopeTenantMonthly or ScopePool
	Subject string // the job id, tenant id or pool name
	Period  string // the day or month of a tenant budget
	// LimitPUSD is the budget; SpentPUSD what the ledger says it has taken;
	// ReservedPUSD what calls in flight may still take; EstimatePUSD the
	// refused call's worst case.
	LimitPUSD    int64
	SpentPUSD    int64
	ReservedPUSD int64
	EstimatePUSD int64
	// JobSpentPUSD is what the job had spent when the call was refused.
	JobSpentPUSD int64
	JobID        string
	Tier         string
	Provider     string
	Model        string
	Policy       Policy
	// PoolExpired is set when the pool's expiry date has passed.
	PoolExpired bool
	Expires     time.Time
}

// Is makes errors.Is(err, ErrExceeded) true.
func (e *Error) Is(target error) bool { return target == ErrExceeded }

func (e *Error) Error() string {
	spent := ""
	if e.JobID != "" {
		spent = fmt.Sprintf("; job %s has spent $%s", e.JobID, pricing.USD(e.JobSpentPUSD))
	}
	policy := string(e.Policy)
	if e.Policy == Downgrade {
		policy += ": no cheaper tier fits either"
	}
	if e.PoolExpired {
		return fmt.Sprintf("budget exceeded: credit pool %s expired on %s, so spend against it (%s %s/%s) is refused%s (policy %s)",
			e.Subject, e.Expires.Format(time.DateOnly), e.Tier, e.Provider, e.Model, spent, policy)
	}
	flight := ""
	if e.ReservedPUSD > 0 {
		flight = fmt.Sprintf(", $%s more in flight", pricing.USD(e.ReservedPUSD))
	}
	return fmt.Sprintf("budget exceeded: %s is $%s and $%s is spent%s; the next call (%s %s/%s) may cost up to $%s%s (policy %s)",
		describe(e.Scope, e.Subject, e.Period), pricing.USD(e.LimitPUSD), pricing.USD(e.SpentPUSD), flight,
		e.Tier, e.Provider, e.Model, pricing.USD(e.EstimatePUSD), spent, policy)
}

func describe(scope, subject, period string) string {
	switch scope {
	case ScopeRequest:
		return "the request budget of job " + subject
	case ScopeTenantDaily:
		return fmt.Sprintf("the daily budget of tenant %s (%s)", subject, period)
	case ScopeTenantMonthly:
		return fmt.Sprintf("the monthly budget of tenant %s (%s)", subject, period)
	default:
		return "credit pool " + subject
	}
}

// Rung is one tier's model as the guard sees it: the (metered) provider
// that answers for the tier and its model.
type Rung struct {
	Tier     string
	Provider llm.Provider
	Model    string
}

// Guard wraps each rung's provider (rungs ordered cheapest tier first). The
// provider returned for rung i admits a call only when every budget it
// draws on can take its worst case; under the downgrade policy a call that
// does not fit goes to the nearest cheaper rung that does. defaultMaxTokens
// bounds the output of calls that set no MaxTokens. Every rung's model must
// have a price.
func (s *Service) Guard(rungs []Rung, defaultMaxTokens int) ([]llm.Provider, error) {
	if defaultMaxTokens <= 0 {
		return nil, errors.New("budget: guard needs a positive default max tokens")
	}
	out := make([]llm.Provider, len(rungs))
	for i, r := range rungs {
		if _, err := s.prices.Lookup(r.Provider.Name(), r.Model); err != nil {
			return nil, fmt.Errorf("budget: tier %s: %w", r.Tier, err)
		}
		out[i] = &guard{s: s, rungs: rungs, idx: i, maxTokens: defaultMaxTokens}
	}
	return out, nil
}

type guard struct {
	s         *Service
	rungs     []Rung
	idx       int
	maxTokens int
}

var _ llm.Provider = (*guard)(nil)

func (g *guard) Name() string { return g.rungs[g.idx].Provider.Name() }

func (g *guard) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	return g.do(ctx, req, func(p llm.Provider, r llm.Request) (*llm.Response, error) { return p.Chat(ctx, r) })
}

func (g *guard) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	return g.do(ctx, req, func(p llm.Provider, r llm.Request) (*llm.Response, error) { return p.Stream(ctx, r, fn) })
}

func (g *guard) do(ctx context.Context, req llm.Request, call func(llm.Provider, llm.Request) (*llm.Response, error)) (*llm.Response, error) {
	if req.Meta.TenantID == "" {
		g.s.metrics.decisions.WithLabelValues("refused", "no_tenant").Inc()
		return nil, fmt.Errorf("%w: %s %s/%s, job %q, role %q", ErrNoTenant, g.rungs[g.idx].Tier, g.Name(), g.rungs[g.idx].Model, req.Meta.JobID, req.Meta.Role)
	}
	t, err := g.admit(ctx, req)
	if err != nil {
		return nil, err
	}
	defer g.s.release(t)
	rung := g.rungs[t.rung]
	r := req
	if t.rung != g.idx {
		r.Model, r.Meta.Tier = rung.Model, rung.Tier
	}
	resp, err := call(rung.Provider, r)
	if err != nil {
		return nil, err
	}
	if t.rung != g.idx {
		resp.Tier = rung.Tier
	}
	g.s.afterCall(ctx, r, t)
	return resp, nil
}

// scope is one budget a call draws on.
type scope struct {
	name, subject, period, key string
	limit, spent               int64
	expired                    bool
	expires                    time.Time
}

// ticket is an admitted call: its rung, its worst case and the budgets it
// holds that much of until it ends.
type ticket struct {
	rung   int
	est    int64
	scopes []scope
}

// endedCall is a call that ended while an admission was reading the
// ledger: what it held of which budgets.
type endedCall struct {
	epoch uint64
	keys  []string
	est   int64
}

// admit decides the call: admitted (possibly on a cheaper rung), refused,
// or — when it would fit but for calls in flight — after those end.
//
// No lock is held while the ledger is read, so calls of different tenants
// (and of one tenant) are admitted in parallel. The decision is taken
// under the lock on that reading plus the calls in flight, as before; what
// the reading alone could miss is a call that ended while it was read:
// its reservation is gone and its usage row may have landed after the
// reading. Such a call is counted at its worst case, as if still in flight
// (release records it while admissions are reading; its row, written
// before it ended, is in every reading started after). So a call is
// admitted only when it fits beside everything spent and everything in
// flight at the moment its reading began, and whatever was admitted since.
// A refusal is judged on the ledger alone. A call that would have to wait
// only because of calls that ended meanwhile reads the ledger again at
// once instead of waiting for another call to end.
func (g *guard) admit(ctx context.Context, req llm.Request) (*ticket, error) {
	s := g.s
	for {
		s.mu.Lock()
		since := s.epoch
		s.readers[since]++
		s.mu.Unlock()
		rd, err := g.read(ctx, req)
		s.mu.Lock()
		ended := s.endedSince(since)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		t, wait, downgradedFrom, refusal, err := g.decide(req, rd, ended)
		if t != nil {
			for _, sc := range t.scopes {
				s.reserved[sc.key] += t.est
			}
		}
		ch := s.released
		s.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case refusal != nil:
			if req.Meta.JobID != "" {
				tot, err := s.store.SumUsage(ctx, store.UsageFilter{JobID: req.Meta.JobID})
				if err != nil {
					return nil, fmt.Errorf("budget: read spend: %w", err)
				}
				refusal.JobSpentPUSD = tot.CostPUSD
			}
			s.refused(ctx, req, refusal)
			return nil, refusal
		case t != nil:
			if downgradedFrom != nil {
				s.downgraded(ctx, req, g.rungs[g.idx], g.rungs[t.rung], downgradedFrom)
			} else {
				s.metrics.decisions.WithLabelValues("allowed", "").Inc()
			}
			return t, nil
		case !wait:
			return nil, errors.New("budget: no decision") // unreachable: decide admits, waits or refuses
		case len(ended) > 0:
			continue // a fresh reading has their rows
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// endedSince runs under s.mu when an admission that began reading at epoch
// since has read: it returns what the calls ended since then held, per
// scope key, and forgets the calls no reading still needs.
func (s *Service) endedSince(since uint64) map[string]int64 {
	var out map[string]int64
	for _, c := range s.ended {
		if c.epoch <= since {
			continue
		}
		if out == nil {
			out = map[string]int64{}
		}
		for _, k := range c.keys {
			out[k] += c.est
		}
	}
	if s.readers[since]--; s.readers[since] <= 0 {
		delete(s.readers, since)
	}
	oldest := s.epoch
	for e := range s.readers {
		oldest = min(oldest, e)
	}
	n := 0
	for n < len(s.ended) && s.ended[n].epoch <= oldest {
		n++
	}
	if n > 0 {
		s.ended = slices.Clone(s.ended[n:])
	}
	return out
}

func (s *Service) release(t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range t.scopes {
		if s.reserved[sc.key] -= t.est; s.reserved[sc.key] <= 0 {
			delete(s.reserved, sc.key)
		}
	}
	s.epoch++
	if len(s.readers) > 0 {
		keys := make([]string, len(t.scopes))
		for i, sc := range t.scopes {
			keys[i] = sc.key
		}
		s.ended = append(s.ended, endedCall{epoch: s.epoch, keys: keys, est: t.est})
	}
	close(s.released)
	s.released = make(chan struct{})
}

// reading is what the ledger says about the budgets a call draws on.
type reading struct {
	lim        Limits
	common     []scope          // the job's request budget, the tenant's day and month
	pools      map[string]scope // the credit pools of the candidate rungs, by name
	candidates []int            // the rungs that may answer, the asked one first
}

// read reads the call's budgets and what they have taken from the store.
// It holds no lock of its own.
func (g *guard) read(ctx context.Context, req llm.Request) (*reading, error) {
	s := g.s
	m := req.Meta
	now := s.now().UTC()
	lim, err := s.Limits(ctx, m.TenantID)
	if err != nil {
		return nil, err
	}
	rd := &reading{lim: lim, pools: map[string]scope{}, candidates: []int{g.idx}}
	sum := func(f store.UsageFilter) (int64, error) {
		tot, err := s.store.SumUsage(ctx, f)
		if err != nil {
			return 0, fmt.Errorf("budget: read spend: %w", err)
		}
		return tot.CostPUSD, nil
	}
	requestLimit := lim.RequestPUSD
	if m.JobBudgetPUSD > 0 && (requestLimit == store.NoLimit || m.JobBudgetPUSD < requestLimit) {
		// The job's own budget, lower than the tenant's request budget.
		requestLimit = m.JobBudgetPUSD
	}
	if m.JobID != "" && requestLimit != store.NoLimit {
		spent, err := sum(store.UsageFilter{JobID: m.JobID})
		if err != nil {
			return nil, err
		}
		rd.common = append(rd.common, scope{name: ScopeRequest, subject: m.JobID, key: "job/" + m.JobID, limit: requestLimit, spent: spent})
	}
	day, month := dayStart(now), monthStart(now)
	for _, t := range []struct {
		name   string
		limit  int64
		since  time.Time
		period string
	}{
		{ScopeTenantDaily, lim.DailyPUSD, day, day.Format(time.DateOnly)},
		{ScopeTenantMonthly, lim.MonthlyPUSD, month, month.Format("2006-01")},
	} {
		if t.limit == store.NoLimit {
			continue
		}
		spent, err := sum(store.UsageFilter{TenantID: m.TenantID, Since: t.since})
		if err != nil {
			return nil, err
		}
		rd.common = append(rd.common, scope{name: t.name, subject: m.TenantID, period: t.period, key: t.name + "/" + m.TenantID + "/" + t.period, limit: t.limit, spent: spent})
	}
	if lim.Policy == Downgrade {
		for i := g.idx - 1; i >= 0; i-- {
			rd.candidates = append(rd.candidates, i)
		}
	}
	for _, c := range rd.candidates {
		pool, ok := s.plan.PoolFor(g.rungs[c].Provider.Name())
		if !ok {
			continue
		}
		if _, done := rd.pools[pool.Name]; done {
			continue
		}
		st, err := s.plan.Status(ctx, s.store, pool, now)
		if err != nil {
			return nil, err
		}
		s.metrics.poolBalance.WithLabelValues(pool.Name).Set(pricing.Dollars(st.BalancePUSD))
		rd.pools[pool.Name] = scope{name: ScopePool, subject: pool.Name, key: "pool/" + pool.Name, limit: pool.AmountPUSD,
			spent: st.MeteredPUSD + st.InfraAccruedPUSD, expired: st.Expired, expires: pool.Expires}
	}
	return rd, nil
}

// decide runs under s.mu. On the reading, the calls in flight and those
// that ended while it was read (ended, by scope key), it admits the call (a
// ticket; downgradedFrom says why when a cheaper rung answers), asks it to
// wait, or refuses it.
func (g *guard) decide(req llm.Request, rd *reading, ended map[string]int64) (_ *ticket, wait bool, downgradedFrom, refusal *Error, _ error) {
	s := g.s
	m := req.Meta
	var first *Error
	for _, c := range rd.candidates {
		rung := g.rungs[c]
		provider, model := rung.Provider.Name(), rung.Model
		if c == g.idx && req.Model != "" {
			model = req.Model
		}
		price, err := s.prices.Lookup(provider, model)
		if err != nil {
			return nil, false, nil, nil, fmt.Errorf("budget: %w", err)
		}
		est := estimate(price, req, g.maxTokens)
		scopes := append([]scope(nil), rd.common...)
		if pool, ok := s.plan.PoolFor(provider); ok {
			scopes = append(scopes, rd.pools[pool.Name])
		}
		var viol *scope
		inFlight := false
		for i := range scopes {
			sc := &scopes[i]
			if sc.expired || sc.spent+est > sc.limit {
				viol = sc
				break
			}
			if sc.spent+s.reserved[sc.key]+ended[sc.key]+est > sc.limit {
				inFlight = true
			}
		}
		switch {
		case viol == nil && !inFlight:
			t := &ticket{rung: c, est: est, scopes: scopes}
			if c != g.idx {
				return t, false, first, nil, nil
			}
			return t, false, nil, nil, nil
		case viol == nil:
			return nil, true, nil, nil, nil // it fits once the calls in flight end
		case first == nil:
			first = &Error{Scope: viol.name, Subject: viol.subject, Period: viol.period, LimitPUSD: viol.limit, SpentPUSD: viol.spent,
				ReservedPUSD: s.reserved[viol.key], EstimatePUSD: est, JobID: m.JobID, Tier: rung.Tier, Provider: provider, Model: model,
				Policy: rd.lim.Policy, PoolExpired: viol.expired, Expires: viol.expires}
		}
	}
	return nil, false, nil, first, nil
}

// estimate is a call's worst case: the prompt's estimated tokens at the
// input price (none assumed cached) plus max tokens at the output price.
func estimate(p pricing.Price, req llm.Request, defaultMax int) int64 {
	in := llm.EstimateTokens(llm.PromptText(req.Messages))
	out := req.MaxTokens
	if out <= 0 {
		out = defaultMax
	}
	if p.Kind == pricing.KindEmbedding {
		out = 0
	}
	return p.Cost(in, 0, out)
}

// downgraded reports a call moved to a cheaper tier.
func (s *Service) downgraded(ctx context.Context, req llm.Request, from, to Rung, why *Error) {
	s.metrics.decisions.WithLabelValues("downgraded", why.Scope).Inc()
	msg := fmt.Sprintf("budget: %s %s does not fit (%s); %s %s answers instead", from.Tier, from.Model, why.short(), to.Tier, to.Model)
	s.logger.Info("budget downgrade", "tenant", req.Meta.TenantID, "job", req.Meta.JobID, "task", req.Meta.TaskID,
		"from_tier", from.Tier, "to_tier", to.Tier, "scope", why.Scope)
	data := why.data("downgrade")
	data["from_tier"], data["from_model"], data["to_tier"], data["to_model"] = from.Tier, from.Model, to.Tier, to.Model
	s.event(ctx, req.Meta, msg, data)
	s.notify(data, msg, req.Meta)
}

// refused reports a call the budgets did not admit.
func (s *Service) refused(ctx context.Context, req llm.Request, e *Error) {
	s.metrics.decisions.WithLabelValues("refused", e.Scope).Inc()
	s.logger.Warn("budget exceeded: call refused", "tenant", req.Meta.TenantID, "job", req.Meta.JobID, "task", req.Meta.TaskID,
		"scope", e.Scope, "subject", e.Subject, "tier", e.Tier, "model", e.Model)
	s.event(ctx, req.Meta, e.Error(), e.data("exceeded"))
	s.notify(e.data("exceeded"), e.Error(), req.Meta)
}

// short says why a call does not fit, without the policy.
func (e *Error) short() string {
	if e.PoolExpired {
		return fmt.Sprintf("credit pool %s expired on %s", e.Subject, e.Expires.Format(time.DateOnly))
	}
	return fmt.Sprintf("%s is $%s, $%s spent, up to $%s more", describe(e.Scope, e.Subject, e.Period), pricing.USD(e.LimitPUSD),
		pricing.USD(e.SpentPUSD+e.ReservedPUSD), pricing.USD(e.EstimatePUSD))
}

func (e *Error) data(kind string) map[string]any {
	d := map[string]any{"kind": kind, "scope": e.Scope, "subject": e.Subject, "limit_usd": pricing.USD(e.LimitPUSD),
		"spent_usd": pricing.USD(e.SpentPUSD), "in_flight_usd": pricing.USD(e.ReservedPUSD), "estimate_usd": pricing.USD(e.EstimatePUSD),
		"tier": e.Tier, "model": e.Model, "policy": string(e.Policy)}
	if e.Period != "" {
		d["period"] = e.Period
	}
	if e.JobID != "" {
		d["job_spent_usd"] = pricing.USD(e.JobSpentPUSD)
	}
	if e.PoolExpired {
		d["pool_expired"], d["expires"] = true, e.Expires.Format(time.DateOnly)
	}
	return d
}

// event publishes a budget_alert on the job's progress stream.
func (s *Service) event(ctx context.Context, m llm.Meta, msg string, data map[string]any) {
	if s.bus == nil || m.JobID == "" {
		return
	}
	if _, err := s.bus.Publish(context.WithoutCancel(ctx), m.JobID, m.TenantID, progress.BudgetAlert, m.TaskID, msg, data); err != nil {
		s.logger.Warn("publish budget event", "job", m.JobID, "error", err)
	}
}

// afterCall reads the budgets' spend back from the ledger, now that the
// call's actual cost is in it, and fires the alerts it reached.
func (s *Service) afterCall(ctx context.Context, req llm.Request, t *ticket) {
	ctx = context.WithoutCancel(ctx)
	now := s.now().UTC()
	for _, sc := range t.scopes {
		var spent int64
		switch sc.name {
		case ScopeRequest:
			tot, err := s.store.SumUsage(ctx, store.UsageFilter{JobID: req.Meta.JobID})
			if err != nil {
				s.logger.Warn("budget: read spend after a call", "error", err)
				continue
			}
			spent = tot.CostPUSD
		case ScopeTenantDaily, ScopeTenantMonthly:
			since := dayStart(now)
			if sc.name == ScopeTenantMonthly {
				since = monthStart(now)
			}
			tot, err := s.store.SumUsage(ctx, store.UsageFilter{TenantID: req.Meta.TenantID, Since: since})
			if err != nil {
				s.logger.Warn("budget: read spend after a call", "error", err)
				continue
			}
			spent = tot.CostPUSD
		case ScopePool:
			pool, ok := s.plan.Pool(sc.subject)
			if !ok {
				continue
			}
			st, err := s.plan.Status(ctx, s.store, pool, now)
			if err != nil {
				s.logger.Warn("budget: read pool after a call", "pool", pool.Name, "error", err)
				continue
			}
			s.metrics.poolBalance.WithLabelValues(pool.Name).Set(pricing.Dollars(st.BalancePUSD))
			spent = st.MeteredPUSD + st.InfraAccruedPUSD
		}
		if spent > sc.limit {
			// The estimate was exceeded (a prompt longer than its estimate):
			// the call is paid for and its answer kept; the next is refused.
			s.metrics.overruns.WithLabelValues(sc.name).Inc()
			s.logger.Warn("budget overrun after a call", "scope", sc.name, "subject", sc.subject, "spent_usd", pricing.USD(spent), "limit_usd", pricing.USD(sc.limit))
		}
		for _, p := range s.def.percents {
			if spent > 0 && float64(spent)*100 >= float64(sc.limit)*float64(p) {
				s.alert(ctx, req.Meta, sc, p, spent)
			}
		}
	}
}

// maxFired bounds the memory of alerts already recorded.
const maxFired = 10_000

// alert records and announces that a budget reached p percent, once.
func (s *Service) alert(ctx context.Context, m llm.Meta, sc scope, p int, spent int64) {
	key := fmt.Sprintf("%s/%s/%s/%d", sc.name, sc.subject, sc.period, p)
	s.firedMu.Lock()
	done := s.fired[key]
	s.firedMu.Unlock()
	if done {
		return
	}
	tenant := m.TenantID
	if sc.name == ScopePool {
		tenant = "" // the platform's credit, not the tenant's
	}
	msg := fmt.Sprintf("%s reached %d%%: $%s of $%s", describe(sc.name, sc.subject, sc.period), p, pricing.USD(spent), pricing.USD(sc.limit))
	created, err := s.store.RecordBudgetAlert(ctx, store.BudgetAlert{Scope: sc.name, Subject: sc.subject, Period: sc.period, Percent: p,
		TenantID: tenant, JobID: m.JobID, SpentPUSD: spent, LimitPUSD: sc.limit, Message: msg})
	if err != nil {
		s.logger.Warn("budget: record alert", "error", err)
		return
	}
	s.firedMu.Lock()
	if len(s.fired) >= maxFired {
		s.fired = map[string]bool{} // the store still dedupes; this only spares it
	}
	s.fired[key] = true
	s.firedMu.Unlock()
	if !created {
		return // another process (or an earlier run) raised it
	}
	s.metrics.alerts.WithLabelValues(sc.name, fmt.Sprint(p)).Inc()
	s.logger.Info("budget alert", "scope", sc.name, "subject", sc.subject, "period", sc.period, "percent", p)
	data := map[string]any{"kind": "threshold", "scope": sc.name, "subject": sc.subject, "percent": p,
		"spent_usd": pricing.USD(spent), "limit_usd": pricing.USD(sc.limit)}
	if sc.period != "" {
		data["period"] = sc.period
	}
	if sc.name != ScopePool {
		// Credit pools are the operator's: their alerts go to the webhook
		// and metrics, not onto a tenant's job stream.
		s.event(ctx, m, msg, data)
	}
	s.notify(data, msg, m)
}

// notify sends an alert to the webhook, if one is configured.
func (s *Service) notify(data map[string]any, msg string, m llm.Meta) {
	if s.hook == nil {
		return
	}
	payload := map[string]any{"type": progress.BudgetAlert, "message": msg, "at": s.now().UTC().Format(time.RFC3339Nano)}
	for k, v := range data {
		payload[k] = v
	}
	if data["scope"] != ScopePool {
		payload["tenant_id"] = m.TenantID
	}
	if m.JobID != "" {
		payload["job_id"] = m.JobID
	}
	s.hook.send(payload)
}
