package orchestrator

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/store"
)

// AuditLog is where state-changing calls are recorded.
type AuditLog interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) error
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// Actor names a principal in the audit log.
func Actor(p auth.Principal) string {
	switch {
	case p.Has(auth.ScopeService):
		return "service"
	case strings.HasPrefix(p.KeyID, "oidc:"):
		return p.KeyID
	case p.KeyID != "":
		return "key:" + p.KeyID
	}
	return "unknown"
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming answers streaming.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// audited records every call of a state-changing route, whatever its
// outcome, after the handler answered. A failure to record is logged and
// does not change the answer the caller already has.
func (s *Service) audited(action string, next http.Handler) http.Handler {
	if s.audit == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		p, _ := auth.From(r.Context())
		e := store.AuditEntry{At: time.Now().UTC(), TenantID: p.TenantID, Actor: Actor(p), Action: action, Target: r.URL.Path,
			Status: sw.status, Outcome: outcome(sw.status), RequestID: httpx.RequestIDFrom(r.Context())}
		if err := s.audit.AppendAudit(context.WithoutCancel(r.Context()), e); err != nil {
			s.logger.Error("audit log: the call was not recorded", "action", action, "path", r.URL.Path, "error", err)
		}
	})
}

func outcome(status int) string {
	switch {
	case status >= 500:
		return "error"
	case status >= 400:
		return "refused"
	}
	return "ok"
}

// handleAudit answers GET /api/v2/audit: the tenant's audit log, newest
// first (?since=&until= RFC 3339, ?limit= up to 1000).
func (s *Service) handleAudit(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	if s.audit == nil {
		return &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "not implemented: this server keeps no audit log"}
	}
	f := store.AuditFilter{TenantID: tid, Limit: 100}
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return httpx.BadRequest(p.name, "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")
			}
			*p.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return httpx.BadRequest("limit", "must be a number from 1 to 1000")
		}
		f.Limit = n
	}
	entries, err := s.audit.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"entries": entries, "count": len(entries)})
	return nil
}
