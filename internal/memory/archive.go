package memory

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/memory/embed"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// Archived is one entry of the memory as a backup keeps it: its payload,
// not its vector, so that a restore embeds it again with the embedder of
// the platform it is restored into (whatever the dimension).
type Archived struct {
	Collection string         `json:"collection"`
	Tenant     string         `json:"tenant_id"`
	ID         string         `json:"id"`
	Payload    map[string]any `json:"payload"`
	CreatedAt  time.Time      `json:"created_at"`
}

// Archive is what backups need of the memory: every tenant's entries out,
// and back in. The in-process Service and the HTTP Client implement it.
type Archive interface {
	// Export calls fn for every entry of every collection and tenant.
	Export(ctx context.Context, fn func(Archived) error) error
	// Import writes entries (re-embedding them), replacing those with the
	// same collection, tenant and id; it returns how many it wrote.
	Import(ctx context.Context, entries []Archived) (int, error)
}

var (
	_ Archive = (*Service)(nil)
	_ Archive = (*Client)(nil)
)

// Export implements Archive.
func (s *Service) Export(ctx context.Context, fn func(Archived) error) error {
	for _, c := range vector.Collections() {
		tenants, err := s.store.Tenants(ctx, c)
		if errors.Is(err, vector.ErrUnknownCollection) {
			continue
		}
		if err != nil {
			return fmt.Errorf("memory: export %s: %w", c, err)
		}
		for _, t := range tenants {
			cursor := ""
			for {
				page, next, err := s.store.Scroll(ctx, c, vector.Page{Tenant: t, Limit: 500, Cursor: cursor})
				if err != nil {
					return fmt.Errorf("memory: export %s: %w", c, err)
				}
				for _, p := range page {
					if err := fn(Archived{Collection: c, Tenant: t, ID: p.ID, Payload: p.Payload, CreatedAt: p.CreatedAt}); err != nil {
						return err
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
	}
	return nil
}

// Import implements Archive. Entries are embedded per collection and
// tenant in batches, metered to their tenant like a reindex.
func (s *Service) Import(ctx context.Context, entries []Archived) (int, error) {
	dim := s.embedder.Dimension()
	ensured := map[string]bool{}
	n := 0
	for start := 0; start < len(entries); {
		first := entries[start]
		if !vector.KnownCollection(first.Collection) {
			return n, fieldErr("collection", "unknown collection %q (want one of %s)", first.Collection, joinCollections())
		}
		if first.Tenant == "" {
			return n, fieldErr("tenant_id", "required")
		}
		end := start
		for end < len(entries) && end-start < reindexBatch &&
			entries[end].Collection == first.Collection && entries[end].Tenant == first.Tenant {
			end++
		}
		if !ensured[first.Collection] {
			if err := s.store.EnsureCollection(ctx, first.Collection, dim); err != nil {
				return n, fmt.Errorf("memory: import into %s: %w", first.Collection, err)
			}
			ensured[first.Collection] = true
		}
		batch := entries[start:end]
		texts := make([]string, len(batch))
		for i, e := range batch {
			if texts[i] = textOf(e.Collection, e.Payload); texts[i] == "" {
				texts[i] = "(empty)"
			}
		}
		vecs, err := s.embedTexts(withTenant(ctx, first.Tenant), "", PurposeReindex, embed.Document, texts)
		if err != nil {
			return n, fmt.Errorf("memory: import into %s: %w", first.Collection, err)
		}
		pts := make([]vector.Point, len(batch))
		for i, e := range batch {
			pts[i] = vector.Point{ID: e.ID, Tenant: e.Tenant, Vector: vecs[i], Payload: e.Payload}
		}
		if err := s.store.Upsert(ctx, first.Collection, pts); err != nil {
			return n, fmt.Errorf("memory: import into %s: %w", first.Collection, err)
		}
		n += len(batch)
		start = end
	}
	return n, nil
}

// archiveAllowed: export and import cross tenants, so they take an admin
// or service credential, like reindex.
func archiveAllowed(r *http.Request) error {
	p, _ := auth.From(r.Context())
	if !p.Has(auth.ScopeAdmin) && !p.Has(auth.ScopeService) {
		return httpx.Forbidden("memory export and import cover every tenant's entries: they need an admin or service credential")
	}
	return nil
}

// getExport streams every entry as JSON lines.
func (s *Service) getExport(w http.ResponseWriter, r *http.Request) error {
	if err := archiveAllowed(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := s.Export(r.Context(), func(a Archived) error { return enc.Encode(a) }); err != nil {
		// The status line is gone: the client sees a stream without its
		// last line, which ends in {"error":…}.
		_ = enc.Encode(map[string]string{"error": err.Error()})
		_ = bw.Flush()
		return nil
	}
	_ = enc.Encode(map[string]bool{"end": true})
	return bw.Flush()
}

type importResult struct {
	Imported int `json:"imported"`
}

func (s *Service) postImport(w http.ResponseWriter, r *http.Request) error {
	if err := archiveAllowed(r); err != nil {
		return err
	}
	return jsonCall(s, func(ctx context.Context, entries []Archived) (importResult, error) {
		n, err := s.Import(ctx, entries)
		return importResult{Imported: n}, err
	})(w, r)
}

// Export implements Archive over GET /v1/memory/export. The stream ends
// with an {"end":true} line; one without it was cut short.
func (c *Client) Export(ctx context.Context, fn func(Archived) error) error {
	resp, err := c.hc.Send(ctx, http.MethodGet, "/v1/memory/export", nil, http.Header{"Accept": {"application/x-ndjson"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var line struct {
			Archived
			End   bool   `json:"end"`
			Error string `json:"error"`
		}
		if err := dec.Decode(&line); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("memory: export: the stream ended before its end mark (the memory service stopped or the connection broke)")
			}
			return fmt.Errorf("memory: export: %w", err)
		}
		switch {
		case line.Error != "":
			return fmt.Errorf("memory: export: %s", line.Error)
		case line.End:
			return nil
		}
		if err := fn(line.Archived); err != nil {
			return err
		}
	}
}

// Import implements Archive over POST /v1/memory/import, in batches.
func (c *Client) Import(ctx context.Context, entries []Archived) (int, error) {
	n := 0
	for start := 0; start < len(entries); start += 100 {
		var out importResult
		if err := c.do(ctx, http.MethodPost, "/v1/memory/import", entries[start:min(start+100, len(entries))], &out); err != nil {
			return n, err
		}
		n += out.Imported
	}
	return n, nil
}
