package orchestrator

import (
	"math"
	"net/http"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/ratelimit"
	"github.com/quantumlayer/qlp/internal/settings"
)

// Names of the API's limits, as a refusal's body names them (docs/api.md,
// "Limits").
const (
	LimitKeyRequests    = "key_requests_per_minute"
	LimitTenantRequests = "tenant_requests_per_minute"
	LimitTenantJobs     = "tenant_concurrent_jobs"
)

// Limits bound what one API key and one tenant may ask of the API. Request
// rates are token buckets that hold a minute's worth and refill
// continuously; with Redis configured every orchestrator replica takes from
// the same buckets. Zero turns a limit off.
type Limits struct {
	// KeyRPM is the requests a minute one API key may make.
	KeyRPM int
	// TenantRPM is the requests a minute all of a tenant's keys may make
	// together.
	TenantRPM int
	// TenantJobs is the jobs a tenant may have queued or running at once,
	// counted in the store so that it holds across replicas.
	TenantJobs int
}

// DefaultLimits suit one person on a laptop (`qlp up`): far above what the
// CLI and the web UI send, low enough to stop a runaway script.
func DefaultLimits() Limits {
	return Limits{KeyRPM: 600, TenantRPM: 1200, TenantJobs: 10}
}

// Settings binds limits.*.
func (l *Limits) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "limits.key_requests_per_minute", Env: "QLP_LIMITS_KEY_REQUESTS_PER_MINUTE", Help: "API requests a minute one API key may make (a bucket of a minute's worth, refilled continuously; shared by every orchestrator replica through Redis when redis.url is set); over it the API answers 429 naming key_requests_per_minute; 0 is unlimited", Value: settings.Int(&l.KeyRPM)},
		{Key: "limits.tenant_requests_per_minute", Env: "QLP_LIMITS_TENANT_REQUESTS_PER_MINUTE", Help: "API requests a minute all of one tenant's keys may make together (shared like limits.key_requests_per_minute); over it 429 naming tenant_requests_per_minute; 0 is unlimited", Value: settings.Int(&l.TenantRPM)},
		{Key: "limits.tenant_concurrent_jobs", Env: "QLP_LIMITS_TENANT_CONCURRENT_JOBS", Help: "jobs one tenant may have queued or running at once, counted in the store (so across replicas); a submit over it is 429 naming tenant_concurrent_jobs; 0 is unlimited", Value: settings.Int(&l.TenantJobs)},
	}
}

// Validate refuses negative limits.
func (l Limits) Validate() error {
	for _, c := range []struct {
		key string
		v   int
	}{{"limits.key_requests_per_minute", l.KeyRPM}, {"limits.tenant_requests_per_minute", l.TenantRPM}, {"limits.tenant_concurrent_jobs", l.TenantJobs}} {
		if c.v < 0 {
			return settings.Invalid(l.Settings(), c.key, "%d is negative (0 turns the limit off)", c.v)
		}
	}
	return nil
}

// limitRequests takes one request from the caller's key and tenant
// buckets, or answers 429 naming the limit that ran out. It runs after
// authentication (it needs the principal); health probes are not mounted
// behind it. The service token's inter-service calls count against the
// tenant they act for, not against a key.
func (s *Service) limitRequests(next http.Handler) http.Handler {
	l := s.cfg.Limits
	if l.KeyRPM <= 0 && l.TenantRPM <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.From(r.Context())
		if !ok || p.TenantID == "" {
			next.ServeHTTP(w, r)
			return
		}
		// One hash tag per tenant keeps its buckets in one Redis Cluster
		// slot, which the script needs.
		tag := "{" + p.TenantID + "}"
		var takes []ratelimit.Take
		var names []string
		if l.TenantRPM > 0 {
			takes = append(takes, ratelimit.Take{Key: tag + ":tenant", Capacity: l.TenantRPM, N: 1})
			names = append(names, LimitTenantRequests)
		}
		if l.KeyRPM > 0 && p.KeyID != "" && !p.Has(auth.ScopeService) {
			takes = append(takes, ratelimit.Take{Key: tag + ":key:" + p.KeyID, Capacity: l.KeyRPM, N: 1})
			names = append(names, LimitKeyRequests)
		}
		if len(takes) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		res, err := s.buckets.Take(r.Context(), takes)
		if err != nil {
			// The limits protect the platform; they must not take the
			// API down with the Redis that keeps them (readiness reports
			// Redis).
			s.logger.Warn("rate limits unavailable; the request is let through", "error", err, "tenant", p.TenantID)
			next.ServeHTTP(w, r)
			return
		}
		if !res.Granted() {
			name, capacity := names[res.Short], takes[res.Short].Capacity
			secs := int(math.Ceil(res.Wait.Seconds()))
			who := "tenant " + p.TenantID
			if name == LimitKeyRequests {
				who = "this API key"
			}
			httpx.WriteError(w, r, s.logger, httpx.OverLimit(http.StatusTooManyRequests, name, int64(capacity), max(secs, 1),
				"%s has made its %d requests a minute (%s); retry in %ds", who, capacity, name, max(secs, 1)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jobsLimitError is the 429 of a submit over limits.tenant_concurrent_jobs.
func jobsLimitError(tenantID string, active, limit int) error {
	return httpx.OverLimit(http.StatusTooManyRequests, LimitTenantJobs, int64(limit), 30,
		"tenant %s has %d jobs queued or running, the limit is %d (%s); wait for one to finish or cancel one",
		tenantID, active, limit, LimitTenantJobs)
}
