package orchestrator

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// CapsuleDiff is how two versions of a capsule differ, file by file.
type CapsuleDiff struct {
	CapsuleID string `json:"capsule_id"`
	From      int    `json:"from"`
	To        int    `json:"to"`
	// Files lists the files added, removed or modified, by path; each
	// carries its part of a git-style unified diff.
	Files []delivery.FileDiff `json:"files"`
	// Added, Removed and Modified count them.
	Added    int `json:"added"`
	Removed  int `json:"removed"`
	Modified int `json:"modified"`
}

// Unified is the whole diff as one patch (git apply and patch -p1 take it).
func (d CapsuleDiff) Unified() string { return delivery.Unified(d.Files) }

// DiffVersions compares two versions of a tenant's capsule.
func (s *Service) DiffVersions(ctx context.Context, tenantID, id string, from, to int) (CapsuleDiff, error) {
	if from < 1 {
		return CapsuleDiff{}, httpx.BadRequest("from", "must be a version number (1 or more)")
	}
	if to < 1 {
		return CapsuleDiff{}, httpx.BadRequest("to", "must be a version number (1 or more)")
	}
	c, a, err := s.Capsule(ctx, tenantID, id, from)
	if err != nil {
		return CapsuleDiff{}, err
	}
	_, b, err := s.Capsule(ctx, tenantID, id, to)
	if err != nil {
		return CapsuleDiff{}, err
	}
	d := CapsuleDiff{CapsuleID: c.ID, From: a.Version, To: b.Version, Files: delivery.DiffFiles(capsule.VersionFiles(a), capsule.VersionFiles(b))}
	if d.Files == nil {
		d.Files = []delivery.FileDiff{}
	}
	for _, f := range d.Files {
		switch f.Change {
		case delivery.Added:
			d.Added++
		case delivery.Removed:
			d.Removed++
		default:
			d.Modified++
		}
	}
	return d, nil
}

func (s *Service) handleCapsuleDiff(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	// Another tenant's capsule is a 404 whatever the query says.
	if _, _, err := s.Capsule(r.Context(), tid, r.PathValue("id"), 0); err != nil {
		return err
	}
	q := r.URL.Query()
	from, err := strconv.Atoi(q.Get("from"))
	if err != nil {
		return httpx.BadRequest("from", "must be a version number")
	}
	to, err := strconv.Atoi(q.Get("to"))
	if err != nil {
		return httpx.BadRequest("to", "must be a version number")
	}
	d, err := s.DiffVersions(r.Context(), tid, r.PathValue("id"), from, to)
	if err != nil {
		return err
	}
	if strings.Contains(r.Header.Get("Accept"), "text/x-diff") {
		w.Header().Set("Content-Type", "text/x-diff; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte(d.Unified()))
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

// CapsuleDiff fetches how two versions of a capsule differ
// (GET /api/v2/capsules/{id}/diff).
func (c *Client) CapsuleDiff(ctx context.Context, id string, from, to int) (CapsuleDiff, error) {
	var out CapsuleDiff
	return out, c.hc.Do(ctx, http.MethodGet, fmt.Sprintf("/api/v2/capsules/%s/diff?from=%d&to=%d", url.PathEscape(id), from, to), nil, &out)
}
