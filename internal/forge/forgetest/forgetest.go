// Package forgetest runs fake forges for tests: httptest servers that
// speak GitHub's and GitLab's REST wire formats as their documentation
// gives them (JSON field names, status codes, Link-header and
// X-Next-Page pagination, rate-limit headers, error bodies), hold state
// (repositories, pull requests, commit statuses, check runs, pipelines,
// jobs and their logs) and keep each repository's git in a real git
// server (gittest: git http-backend), so that a push lands in git and is
// cloned back. Tests set the CI results (SetCheckRun, SetStatus, SetJob)
// and the rate limits (RateLimit).
package forgetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// limiter answers the next n API requests with the forge's rate-limit
// answer, until reset.
type limiter struct {
	mu         sync.Mutex
	n          int
	reset      time.Time
	retryAfter bool
	hits       map[string]int
}

// RateLimit makes the next n API requests be refused as rate limited,
// saying the limit resets after reset; retryAfter sends Retry-After (a
// secondary limit) instead of the remaining/reset pair.
func (l *limiter) RateLimit(n int, reset time.Duration, retryAfter bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n, l.reset, l.retryAfter = n, time.Now().Add(reset), retryAfter
}

// take says whether this request is refused, and the reset time.
func (l *limiter) take() (bool, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n > 0 {
		l.n--
		return true, l.reset, l.retryAfter
	}
	return false, time.Now().Add(time.Hour), false
}

func (l *limiter) count(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hits == nil {
		l.hits = map[string]int{}
	}
	l.hits[key]++
}

// Hits counts the requests of one method and path (e.g.
// "GET /repos/o/r/commits/{sha}/check-runs" is counted under its real
// path).
func (l *limiter) Hits(methodPath string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits[methodPath]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// page cuts items for ?page=&per_page= (per_page capped at max) and
// says the page count.
func page[T any](q url.Values, items []T, max int) ([]T, int, int, int) {
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	if per > max {
		per = max
	}
	p, _ := strconv.Atoi(q.Get("page"))
	if p <= 0 {
		p = 1
	}
	pages := (len(items) + per - 1) / per
	if pages == 0 {
		pages = 1
	}
	lo := min((p-1)*per, len(items))
	hi := min(lo+per, len(items))
	return items[lo:hi], p, per, pages
}

// pageURL is the request's URL with another page.
func pageURL(base string, r *http.Request, p, per int) string {
	q := r.URL.Query()
	q.Set("page", strconv.Itoa(p))
	q.Set("per_page", strconv.Itoa(per))
	return base + r.URL.EscapedPath() + "?" + q.Encode()
}

// linkHeader is RFC 8288's Link with next/last/first/prev, as GitHub (and
// GitLab) send it.
func linkHeader(base string, r *http.Request, p, per, pages int) string {
	var links []string
	if p < pages {
		links = append(links, `<`+pageURL(base, r, p+1, per)+`>; rel="next"`, `<`+pageURL(base, r, pages, per)+`>; rel="last"`)
	}
	if p > 1 {
		links = append(links, `<`+pageURL(base, r, 1, per)+`>; rel="first"`, `<`+pageURL(base, r, p-1, per)+`>; rel="prev"`)
	}
	return strings.Join(links, ", ")
}
