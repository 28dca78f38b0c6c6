package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/quantumlayer/qlp/internal/memory/embed"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// Stats implements Memory.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	t, err := tenant(ctx)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{
		Backend:    s.store.Backend(),
		Embedder:   EmbedderInfo{Provider: s.embedder.Provider(), Model: s.embedder.Model(), Dimension: s.embedder.Dimension(), Lexical: s.embedder.Provider() == ProviderBuiltin},
		Thresholds: s.thresholds,
	}
	for _, c := range vector.Collections() {
		d, err := s.store.Dimension(ctx, c)
		if err != nil {
			return Stats{}, fmt.Errorf("memory: stats of %s: %w", c, err)
		}
		n, err := s.store.Count(ctx, c, t, vector.Filter{})
		if err != nil {
			return Stats{}, fmt.Errorf("memory: stats of %s: %w", c, err)
		}
		st.Collections = append(st.Collections, CollectionStats{Name: c, Dimension: d, Points: n})
	}
	return st, nil
}

// reindexBatch is how many entries are embedded per call during Reindex.
const reindexBatch = 64

// Reindex implements Memory. For every tenant it reads each entry, rebuilds
// its text and embeds it again with the current embedder. A collection of
// another dimension is dropped and recreated once every entry has been read
// and re-embedded, so a failure before that leaves it as it was.
func (s *Service) Reindex(ctx context.Context, opts ReindexOptions) (ReindexReport, error) {
	cols := opts.Collections
	if len(cols) == 0 {
		cols = vector.Collections()
	}
	for i, c := range cols {
		if !vector.KnownCollection(c) {
			return ReindexReport{}, fieldErr(fmt.Sprintf("collections[%d]", i), "unknown collection %q (want one of %s)", c, joinCollections())
		}
	}
	rep := ReindexReport{Collections: []ReindexedCollection{}}
	for _, c := range cols {
		rc, err := s.reindex(ctx, c)
		if err != nil {
			return rep, err
		}
		rep.Collections = append(rep.Collections, rc)
	}
	return rep, nil
}

func (s *Service) reindex(ctx context.Context, c string) (ReindexedCollection, error) {
	dim := s.embedder.Dimension()
	rc := ReindexedCollection{Name: c, NewDimension: dim}
	old, err := s.store.Dimension(ctx, c)
	if errors.Is(err, vector.ErrUnknownCollection) {
		if err := s.store.EnsureCollection(ctx, c, dim); err != nil {
			return rc, fmt.Errorf("memory: reindex %s: %w", c, err)
		}
		return rc, nil
	}
	if err != nil {
		return rc, fmt.Errorf("memory: reindex %s: %w", c, err)
	}
	rc.OldDimension = old
	tenants, err := s.store.Tenants(ctx, c)
	if err != nil {
		return rc, fmt.Errorf("memory: reindex %s: %w", c, err)
	}
	rc.Tenants = len(tenants)
	var all []vector.Point
	for _, t := range tenants {
		cursor := ""
		for {
			page, next, err := s.store.Scroll(ctx, c, vector.Page{Tenant: t, Limit: 500, Cursor: cursor})
			if err != nil {
				return rc, fmt.Errorf("memory: reindex %s: read: %w", c, err)
			}
			all = append(all, page...)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	// Embed per tenant so usage is metered to the tenant it serves.
	slices.SortStableFunc(all, func(a, b vector.Point) int {
		switch {
		case a.Tenant < b.Tenant:
			return -1
		case a.Tenant > b.Tenant:
			return 1
		}
		return 0
	})
	for start := 0; start < len(all); {
		end := start
		for end < len(all) && end-start < reindexBatch && all[end].Tenant == all[start].Tenant {
			end++
		}
		texts := make([]string, end-start)
		for i := range texts {
			texts[i] = textOf(c, all[start+i].Payload)
			if texts[i] == "" {
				texts[i] = "(empty)"
			}
		}
		tctx := withTenant(ctx, all[start].Tenant)
		vecs, err := s.embedTexts(tctx, "", PurposeReindex, embed.Document, texts)
		if err != nil {
			return rc, fmt.Errorf("memory: reindex %s: %w", c, err)
		}
		for i := range vecs {
			all[start+i].Vector = vecs[i]
		}
		start = end
	}
	if old != dim {
		if err := s.store.DropCollection(ctx, c); err != nil {
			return rc, fmt.Errorf("memory: reindex %s: %w", c, err)
		}
		if err := s.store.EnsureCollection(ctx, c, dim); err != nil {
			return rc, fmt.Errorf("memory: reindex %s: %w", c, err)
		}
		rc.Rebuilt = true
	}
	for start := 0; start < len(all); start += 500 {
		if err := s.store.Upsert(ctx, c, all[start:min(start+500, len(all))]); err != nil {
			return rc, fmt.Errorf("memory: reindex %s: write: %w", c, err)
		}
	}
	rc.Points = len(all)
	s.mu.Lock()
	delete(s.mismatch, c)
	s.mu.Unlock()
	s.log.Info("collection re-embedded", "collection", c, "points", rc.Points, "tenants", rc.Tenants, "rebuilt", rc.Rebuilt)
	return rc, nil
}
