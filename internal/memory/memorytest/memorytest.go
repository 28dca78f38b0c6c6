// Package memorytest is the conformance suite every vector.Store passes:
// the embedded store, pgvector and Qdrant run the same tests.
package memorytest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// Harness tells the suite how to get stores.
type Harness struct {
	// New returns an empty store; the suite closes it.
	New func(t *testing.T) vector.Store
	// Reopen closes s and opens the same data again. Nil skips the
	// persistence test.
	Reopen func(t *testing.T, s vector.Store) vector.Store
	// Large is the number of points of the recall test (default 3000).
	Large int
}

// ID makes a deterministic point id from a small number.
func ID(n int) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("memorytest-", n))).String()
}

// Unit returns a unit vector of dim dimensions pointing mostly along axis.
func Unit(dim, axis int, noise float32) []float32 {
	v := make([]float32, dim)
	v[axis%dim] = 1
	for i := range v {
		v[i] += noise * float32((i*7+axis*13)%5) / 5
	}
	n, _ := vector.Normalize(v)
	return n
}

func open(t *testing.T, h Harness, dims map[string]int) vector.Store {
	t.Helper()
	s := h.New(t)
	t.Cleanup(func() { _ = s.Close() })
	for c, d := range dims {
		if err := s.EnsureCollection(t.Context(), c, d); err != nil {
			t.Fatalf("EnsureCollection(%s, %d): %v", c, d, err)
		}
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

const dim = 8

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	if h.Large == 0 {
		h.Large = 3000
	}
	t.Run("collections", func(t *testing.T) { testCollections(t, h) })
	t.Run("upsert and get", func(t *testing.T) { testUpsertGet(t, h) })
	t.Run("search order and scores", func(t *testing.T) { testSearch(t, h) })
	t.Run("filters", func(t *testing.T) { testFilters(t, h) })
	t.Run("tenant isolation", func(t *testing.T) { testTenants(t, h) })
	t.Run("invalid input", func(t *testing.T) { testInvalid(t, h) })
	t.Run("delete", func(t *testing.T) { testDelete(t, h) })
	t.Run("scroll and count", func(t *testing.T) { testScroll(t, h) })
	t.Run("recall on a larger set", func(t *testing.T) { testLarge(t, h) })
	t.Run("concurrent use", func(t *testing.T) { testConcurrent(t, h) })
	if h.Reopen != nil {
		t.Run("persistence", func(t *testing.T) { testReopen(t, h) })
	}
}

func testCollections(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, nil)
	_, err := s.Dimension(ctx, vector.CodePatterns)
	wantErr(t, err, vector.ErrUnknownCollection, "Dimension before EnsureCollection")
	for range 2 { // idempotent
		must(t, s.EnsureCollection(ctx, vector.CodePatterns, dim))
	}
	d, err := s.Dimension(ctx, vector.CodePatterns)
	must(t, err)
	if d != dim {
		t.Fatalf("Dimension = %d, want %d", d, dim)
	}
	wantErr(t, s.EnsureCollection(ctx, vector.CodePatterns, dim+1), vector.ErrDimension, "EnsureCollection with another dimension")
	wantErr(t, s.EnsureCollection(ctx, "qlp_nope", dim), vector.ErrUnknownCollection, "EnsureCollection of an unknown name")
	err = s.Upsert(ctx, vector.Executions, []vector.Point{{ID: ID(1), Tenant: "a", Vector: Unit(dim, 0, 0)}})
	wantErr(t, err, vector.ErrUnknownCollection, "Upsert into a collection not created")

	must(t, s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: ID(1), Tenant: "a", Vector: Unit(dim, 0, 0)}}))
	must(t, s.DropCollection(ctx, vector.CodePatterns))
	_, err = s.Dimension(ctx, vector.CodePatterns)
	wantErr(t, err, vector.ErrUnknownCollection, "Dimension after DropCollection")
	must(t, s.DropCollection(ctx, vector.CodePatterns)) // idempotent
	must(t, s.EnsureCollection(ctx, vector.CodePatterns, 2*dim))
	n, err := s.Count(ctx, vector.CodePatterns, "a", vector.Filter{})
	must(t, err)
	if n != 0 {
		t.Fatalf("a recreated collection holds %d points", n)
	}
	if s.Backend() == "" {
		t.Fatal("Backend is empty")
	}
	must(t, s.Ready(ctx))
}

func testUpsertGet(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, map[string]int{vector.CodePatterns: dim})
	raw := []float32{3, 0, 0, 4, 0, 0, 0, 0} // not unit length
	payload := map[string]any{
		"language": "go", "score": 0.5, "count": 3, "ok": true,
		"tags": []string{"x", "y"}, "nested": map[string]any{"k": "v"},
	}
	must(t, s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: ID(1), Tenant: "t1", Vector: raw, Payload: payload}}))
	p, err := s.Get(ctx, vector.CodePatterns, "t1", ID(1))
	must(t, err)
	if p.ID != ID(1) || p.Tenant != "t1" {
		t.Fatalf("Get = id %q tenant %q", p.ID, p.Tenant)
	}
	if p.CreatedAt.IsZero() {
		t.Fatal("CreatedAt not set")
	}
	wantVec := []float32{0.6, 0, 0, 0.8, 0, 0, 0, 0}
	for i := range wantVec {
		if math.Abs(float64(p.Vector[i]-wantVec[i])) > 1e-5 {
			t.Fatalf("vector = %v, want the normalised %v", p.Vector, wantVec)
		}
	}
	want := map[string]any{
		"language": "go", "score": 0.5, "count": float64(3), "ok": true,
		"tags": []any{"x", "y"}, "nested": map[string]any{"k": "v"},
	}
	if fmt.Sprint(p.Payload) != fmt.Sprint(want) {
		t.Fatalf("payload = %v, want %v", p.Payload, want)
	}
	// Replace.
	must(t, s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: ID(1), Tenant: "t1", Vector: Unit(dim, 2, 0), Payload: map[string]any{"language": "python"}}}))
	p, err = s.Get(ctx, vector.CodePatterns, "t1", ID(1))
	must(t, err)
	if p.Payload["language"] != "python" || len(p.Payload) != 1 {
		t.Fatalf("payload after replace = %v", p.Payload)
	}
	n, err := s.Count(ctx, vector.CodePatterns, "t1", vector.Filter{})
	must(t, err)
	if n != 1 {
		t.Fatalf("Count after replace = %d, want 1", n)
	}
	hits, err := s.Search(ctx, vector.CodePatterns, vector.Query{Tenant: "t1", Vector: Unit(dim, 2, 0), Limit: 5})
	must(t, err)
	if len(hits) != 1 || hits[0].Score < 0.999 {
		t.Fatalf("search after replace = %+v, want the new vector only", hits)
	}
	_, err = s.Get(ctx, vector.CodePatterns, "t1", ID(2))
	wantErr(t, err, vector.ErrNotFound, "Get of a missing id")
}

func testSearch(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, map[string]int{vector.Executions: dim})
	var pts []vector.Point
	for i := range dim {
		pts = append(pts, vector.Point{ID: ID(i), Tenant: "t", Vector: Unit(dim, i, 0), Payload: map[string]any{"axis": i}})
	}
	must(t, s.Upsert(ctx, vector.Executions, pts))
	q := []float32{1, 0.5, 0.25, 0, 0, 0, 0, 0}
	hits, err := s.Search(ctx, vector.Executions, vector.Query{Tenant: "t", Vector: q, Limit: 3})
	must(t, err)
	nq, _ := vector.Normalize(q)
	if len(hits) != 3 {
		t.Fatalf("got %d hits, want 3", len(hits))
	}
	for i, h := range hits {
		if h.ID != ID(i) {
			t.Fatalf("hit %d is %v, want axis %d", i, h.Payload["axis"], i)
		}
		if want := nq[i]; math.Abs(float64(h.Score-want)) > 1e-4 {
			t.Fatalf("hit %d score %v, want cosine %v", i, h.Score, want)
		}
		if h.Tenant != "t" || h.Payload["axis"] != float64(i) {
			t.Fatalf("hit %d = %+v", i, h.Point)
		}
	}
	hits, err = s.Search(ctx, vector.Executions, vector.Query{Tenant: "t", Vector: q, Limit: 10, MinScore: 0.4})
	must(t, err)
	if len(hits) != 2 {
		t.Fatalf("MinScore 0.4 kept %d hits, want 2 (scores %.3f %.3f ...)", len(hits), nq[0], nq[1])
	}
	hits, err = s.Search(ctx, vector.Executions, vector.Query{Tenant: "nobody", Vector: q, Limit: 10})
	must(t, err)
	if len(hits) != 0 {
		t.Fatalf("a tenant without points got %d hits", len(hits))
	}
}

func testFilters(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, map[string]int{vector.CodePatterns: dim})
	langs := []string{"go", "python", "go", "rust", "go", "python"}
	var pts []vector.Point
	for i, l := range langs {
		pts = append(pts, vector.Point{ID: ID(i), Tenant: "t", Vector: Unit(dim, i, 0.3), Payload: map[string]any{
			"language": l, "validated": i%2 == 0, "success_rate": float64(i) / 10, "usage": i,
		}})
	}
	pts = append(pts, vector.Point{ID: ID(99), Tenant: "t", Vector: Unit(dim, 1, 0.3), Payload: map[string]any{"other": "x"}})
	must(t, s.Upsert(ctx, vector.CodePatterns, pts))
	tests := []struct {
		name string
		f    vector.Filter
		want []int
	}{
		{"keyword", vector.Filter{Must: []vector.Condition{vector.Eq("language", "go")}}, []int{0, 2, 4}},
		{"bool", vector.Filter{Must: []vector.Condition{vector.Eq("validated", false)}}, []int{1, 3, 5}},
		{"number", vector.Filter{Must: []vector.Condition{vector.Eq("usage", 3)}}, []int{3}},
		{"range", vector.Filter{Must: []vector.Condition{vector.AtLeast("success_rate", 0.3)}}, []int{3, 4, 5}},
		{"closed range", vector.Filter{Must: []vector.Condition{{Key: "success_rate", Range: &vector.Range{Gte: ptr(0.1), Lte: ptr(0.2)}}}}, []int{1, 2}},
		{"conjunction", vector.Filter{Must: []vector.Condition{vector.Eq("language", "python"), vector.AtLeast("success_rate", 0.2)}}, []int{5}},
		{"no match", vector.Filter{Must: []vector.Condition{vector.Eq("language", "cobol")}}, nil},
		{"missing key", vector.Filter{Must: []vector.Condition{vector.Eq("other", "x")}}, []int{99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits, err := s.Search(ctx, vector.CodePatterns, vector.Query{Tenant: "t", Vector: Unit(dim, 0, 0), Limit: 20, Filter: tt.f})
			must(t, err)
			var got []string
			for _, h := range hits {
				got = append(got, h.ID)
			}
			var want []string
			for _, i := range tt.want {
				want = append(want, ID(i))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("search hits %v, want %v", got, want)
			}
			n, err := s.Count(ctx, vector.CodePatterns, "t", tt.f)
			must(t, err)
			if n != len(tt.want) {
				t.Fatalf("Count = %d, want %d", n, len(tt.want))
			}
		})
	}
}

func ptr(f float64) *float64 { return &f }

func testTenants(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, map[string]int{vector.ErrorPatterns: dim, vector.Requirements: dim})
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		var pts []vector.Point
		for i := range 5 {
			pts = append(pts, vector.Point{ID: ID(i), Tenant: tenant, Vector: Unit(dim, i, 0.1), Payload: map[string]any{"owner": tenant}})
		}
		must(t, s.Upsert(ctx, vector.ErrorPatterns, pts))
	}
	// B has one more point that exactly matches the query.
	must(t, s.Upsert(ctx, vector.ErrorPatterns, []vector.Point{{ID: ID(50), Tenant: "tenant-b", Vector: Unit(dim, 7, 0), Payload: map[string]any{"owner": "tenant-b"}}}))
	hits, err := s.Search(ctx, vector.ErrorPatterns, vector.Query{Tenant: "tenant-a", Vector: Unit(dim, 7, 0), Limit: 100})
	must(t, err)
	if len(hits) != 5 {
		t.Fatalf("tenant-a sees %d points, want its own 5", len(hits))
	}
	for _, h := range hits {
		if h.Tenant != "tenant-a" || h.Payload["owner"] != "tenant-a" {
			t.Fatalf("tenant-a got %+v", h.Point)
		}
	}
	// A filter naming the other tenant does not widen the search.
	hits, err = s.Search(ctx, vector.ErrorPatterns, vector.Query{Tenant: "tenant-a", Vector: Unit(dim, 7, 0), Limit: 100,
		Filter: vector.Filter{Must: []vector.Condition{vector.Eq("owner", "tenant-b")}}})
	must(t, err)
	if len(hits) != 0 {
		t.Fatalf("tenant-a filtering on tenant-b's payload got %d hits", len(hits))
	}
	hits, err = s.Search(ctx, vector.ErrorPatterns, vector.Query{Tenant: "tenant-a", Vector: Unit(dim, 7, 0), Limit: 100,
		Filter: vector.Filter{Must: []vector.Condition{vector.Eq(vector.TenantKey, "tenant-b")}}})
	if err == nil && len(hits) != 0 {
		t.Fatalf("tenant-a filtering on %s=tenant-b got %d hits", vector.TenantKey, len(hits))
	}
	_, err = s.Get(ctx, vector.ErrorPatterns, "tenant-a", ID(50))
	wantErr(t, err, vector.ErrNotFound, "Get of another tenant's id")
	p, err := s.Get(ctx, vector.ErrorPatterns, "tenant-b", ID(1))
	must(t, err)
	if p.Payload["owner"] != "tenant-b" {
		t.Fatalf("same id, tenant-b got %v", p.Payload)
	}
	must(t, s.Delete(ctx, vector.ErrorPatterns, "tenant-a", []string{ID(1), ID(50)}))
	if _, err := s.Get(ctx, vector.ErrorPatterns, "tenant-b", ID(1)); err != nil {
		t.Fatalf("tenant-a's delete removed tenant-b's point: %v", err)
	}
	if _, err := s.Get(ctx, vector.ErrorPatterns, "tenant-b", ID(50)); err != nil {
		t.Fatalf("tenant-a's delete removed tenant-b's point: %v", err)
	}
	for tenant, want := range map[string]int{"tenant-a": 4, "tenant-b": 6, "tenant-c": 0} {
		n, err := s.Count(ctx, vector.ErrorPatterns, tenant, vector.Filter{})
		must(t, err)
		if n != want {
			t.Fatalf("Count(%s) = %d, want %d", tenant, n, want)
		}
		page, _, err := s.Scroll(ctx, vector.ErrorPatterns, vector.Page{Tenant: tenant, Limit: 100})
		must(t, err)
		if len(page) != want {
			t.Fatalf("Scroll(%s) = %d points, want %d", tenant, len(page), want)
		}
		for _, p := range page {
			if p.Tenant != tenant {
				t.Fatalf("Scroll(%s) returned a point of %s", tenant, p.Tenant)
			}
		}
	}
	tenants, err := s.Tenants(ctx, vector.ErrorPatterns)
	must(t, err)
	if !slices.Equal(tenants, []string{"tenant-a", "tenant-b"}) {
		t.Fatalf("Tenants = %v", tenants)
	}
	// The same tenant in another collection is another set of points.
	n, err := s.Count(ctx, vector.Requirements, "tenant-a", vector.Filter{})
	must(t, err)
	if n != 0 {
		t.Fatalf("tenant-a has %d points in an empty collection", n)
	}
	err = s.Upsert(ctx, vector.ErrorPatterns, []vector.Point{{ID: ID(1), Tenant: "tenant-a", Vector: Unit(dim, 0, 0), Payload: map[string]any{vector.TenantKey: "tenant-b"}}})
	wantErr(t, err, vector.ErrInvalid, "payload that names a tenant")
}

func testInvalid(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, map[string]int{vector.CodePatterns: dim})
	good := Unit(dim, 0, 0)
	tests := []struct {
		name string
		p    vector.Point
		want error
	}{
		{"short vector", vector.Point{ID: ID(1), Tenant: "t", Vector: good[:3]}, vector.ErrDimension},
		{"long vector", vector.Point{ID: ID(1), Tenant: "t", Vector: append(slices.Clone(good), 1)}, vector.ErrDimension},
		{"zero vector", vector.Point{ID: ID(1), Tenant: "t", Vector: make([]float32, dim)}, vector.ErrInvalid},
		{"NaN", vector.Point{ID: ID(1), Tenant: "t", Vector: []float32{float32(math.NaN()), 1, 0, 0, 0, 0, 0, 0}}, vector.ErrInvalid},
		{"id not a UUID", vector.Point{ID: "abc", Tenant: "t", Vector: good}, vector.ErrInvalid},
		{"no tenant", vector.Point{ID: ID(1), Vector: good}, vector.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, s.Upsert(ctx, vector.CodePatterns, []vector.Point{tt.p}), tt.want, "Upsert")
		})
	}
	_, err := s.Search(ctx, vector.CodePatterns, vector.Query{Tenant: "t", Vector: good[:4], Limit: 1})
	wantErr(t, err, vector.ErrDimension, "Search with a short vector")
	_, err = s.Search(ctx, "qlp_bogus", vector.Query{Tenant: "t", Vector: good, Limit: 1})
	wantErr(t, err, vector.ErrUnknownCollection, "Search of an unknown collection")
	_, err = s.Search(ctx, vector.CodePatterns, vector.Query{Tenant: "", Vector: good, Limit: 1})
	wantErr(t, err, vector.ErrInvalid, "Search without a tenant")
	n, err := s.Count(ctx, vector.CodePatterns, "t", vector.Filter{})
	must(t, err)
	if n != 0 {
		t.Fatalf("rejected upserts left %d points", n)
	}
}

func testDelete(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, map[string]int{vector.AgentDecisions: dim})
	var pts []vector.Point
	for i := range 6 {
		pts = append(pts, vector.Point{ID: ID(i), Tenant: "t", Vector: Unit(dim, i, 0)})
	}
	must(t, s.Upsert(ctx, vector.AgentDecisions, pts))
	must(t, s.Delete(ctx, vector.AgentDecisions, "t", []string{ID(0), ID(2), ID(77)}))
	must(t, s.Delete(ctx, vector.AgentDecisions, "t", []string{ID(0)}))
	_, err := s.Get(ctx, vector.AgentDecisions, "t", ID(0))
	wantErr(t, err, vector.ErrNotFound, "Get after Delete")
	hits, err := s.Search(ctx, vector.AgentDecisions, vector.Query{Tenant: "t", Vector: Unit(dim, 0, 0), Limit: 10})
	must(t, err)
	if len(hits) != 4 {
		t.Fatalf("%d hits after deleting 2 of 6", len(hits))
	}
	for _, h := range hits {
		if h.ID == ID(0) || h.ID == ID(2) {
			t.Fatalf("deleted point %s returned", h.ID)
		}
	}
	// A deleted id can be written again.
	must(t, s.Upsert(ctx, vector.AgentDecisions, []vector.Point{{ID: ID(0), Tenant: "t", Vector: Unit(dim, 0, 0), Payload: map[string]any{"v": 2}}}))
	p, err := s.Get(ctx, vector.AgentDecisions, "t", ID(0))
	must(t, err)
	if p.Payload["v"] != float64(2) {
		t.Fatalf("re-added point payload %v", p.Payload)
	}
}

func testScroll(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, map[string]int{vector.AgentDecisions: dim})
	var pts []vector.Point
	for i := range 25 {
		pts = append(pts, vector.Point{ID: ID(i), Tenant: "t", Vector: Unit(dim, i, 0.2), Payload: map[string]any{"even": i%2 == 0}})
	}
	must(t, s.Upsert(ctx, vector.AgentDecisions, pts))
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("scroll does not end")
		}
		page, next, err := s.Scroll(ctx, vector.AgentDecisions, vector.Page{Tenant: "t", Limit: 10, Cursor: cursor})
		must(t, err)
		if len(page) > 10 {
			t.Fatalf("page of %d points, limit 10", len(page))
		}
		for _, p := range page {
			if seen[p.ID] {
				t.Fatalf("scroll returned %s twice", p.ID)
			}
			seen[p.ID] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 25 {
		t.Fatalf("scrolled %d distinct ids, want 25", len(seen))
	}
	page, _, err := s.Scroll(ctx, vector.AgentDecisions, vector.Page{Tenant: "t", Limit: 100, Filter: vector.Filter{Must: []vector.Condition{vector.Eq("even", true)}}})
	must(t, err)
	if len(page) != 13 {
		t.Fatalf("filtered scroll = %d points, want 13", len(page))
	}
}

func testLarge(t *testing.T, h Harness) {
	ctx := t.Context()
	const d = 32
	s := open(t, h, map[string]int{vector.Executions: d})
	r := rand.New(rand.NewPCG(11, 12))
	centres := make([][]float32, 30)
	for i := range centres {
		centres[i] = randUnit(r, d, nil, 0)
	}
	vecs := make([][]float32, h.Large)
	for i := range vecs {
		vecs[i] = randUnit(r, d, centres[r.IntN(len(centres))], 0.5)
	}
	for start := 0; start < len(vecs); start += 500 {
		var pts []vector.Point
		for i := start; i < min(start+500, len(vecs)); i++ {
			pts = append(pts, vector.Point{ID: ID(i), Tenant: "big", Vector: vecs[i], Payload: map[string]any{"i": i, "odd": i%2 == 1}})
		}
		must(t, s.Upsert(ctx, vector.Executions, pts))
	}
	// A small second tenant shares the collection.
	must(t, s.Upsert(ctx, vector.Executions, []vector.Point{{ID: ID(0), Tenant: "small", Vector: vecs[0]}}))
	found := 0
	const nq = 40
	for q := range nq {
		i := r.IntN(len(vecs))
		hits, err := s.Search(ctx, vector.Executions, vector.Query{Tenant: "big", Vector: vecs[i], Limit: 10})
		must(t, err)
		if len(hits) != 10 {
			t.Fatalf("query %d: %d hits, want 10", q, len(hits))
		}
		if hits[0].ID == ID(i) {
			found++
		}
		// Filtered: only odd points.
		hits, err = s.Search(ctx, vector.Executions, vector.Query{Tenant: "big", Vector: vecs[i], Limit: 5,
			Filter: vector.Filter{Must: []vector.Condition{vector.Eq("odd", true)}}})
		must(t, err)
		if len(hits) != 5 {
			t.Fatalf("filtered query %d: %d hits, want 5", q, len(hits))
		}
		for _, h := range hits {
			if h.Payload["odd"] != true {
				t.Fatalf("filtered query returned %v", h.Payload)
			}
		}
	}
	if found < nq*95/100 {
		t.Fatalf("a stored vector came back first for %d of %d queries, want >= 95%%", found, nq)
	}
	n, err := s.Count(ctx, vector.Executions, "small", vector.Filter{})
	must(t, err)
	if n != 1 {
		t.Fatalf("small tenant Count = %d", n)
	}
}

func randUnit(r *rand.Rand, d int, centre []float32, spread float64) []float32 {
	v := make([]float32, d)
	for i := range v {
		x := r.NormFloat64()
		if centre != nil {
			x = float64(centre[i]) + spread*x/math.Sqrt(float64(d))
		}
		v[i] = float32(x)
	}
	n, _ := vector.Normalize(v)
	return n
}

func testConcurrent(t *testing.T, h Harness) {
	ctx := t.Context()
	s := open(t, h, map[string]int{vector.CodePatterns: dim})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := fmt.Sprint("w", w%2)
			for i := range 20 {
				id := ID(w*1000 + i)
				if err := s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: id, Tenant: tenant, Vector: Unit(dim, i, 0.1)}}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Search(ctx, vector.CodePatterns, vector.Query{Tenant: tenant, Vector: Unit(dim, i, 0), Limit: 3}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, tenant := range []string{"w0", "w1"} {
		n, err := s.Count(ctx, vector.CodePatterns, tenant, vector.Filter{})
		must(t, err)
		if n != 40 {
			t.Fatalf("Count(%s) = %d, want 40", tenant, n)
		}
	}
}

func testReopen(t *testing.T, h Harness) {
	ctx := t.Context()
	s := h.New(t)
	must(t, s.EnsureCollection(ctx, vector.CodePatterns, dim))
	must(t, s.EnsureCollection(ctx, vector.Executions, 2*dim))
	for i := range 10 {
		must(t, s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: ID(i), Tenant: "t", Vector: Unit(dim, i, 0), Payload: map[string]any{"i": i}}}))
	}
	must(t, s.Delete(ctx, vector.CodePatterns, "t", []string{ID(3)}))
	s = h.Reopen(t, s)
	t.Cleanup(func() { _ = s.Close() })
	d, err := s.Dimension(ctx, vector.Executions)
	must(t, err)
	if d != 2*dim {
		t.Fatalf("Dimension after reopen = %d", d)
	}
	n, err := s.Count(ctx, vector.CodePatterns, "t", vector.Filter{})
	must(t, err)
	if n != 9 {
		t.Fatalf("Count after reopen = %d, want 9", n)
	}
	p, err := s.Get(ctx, vector.CodePatterns, "t", ID(7))
	must(t, err)
	if p.Payload["i"] != float64(7) {
		t.Fatalf("payload after reopen = %v", p.Payload)
	}
	hits, err := s.Search(ctx, vector.CodePatterns, vector.Query{Tenant: "t", Vector: Unit(dim, 5, 0), Limit: 1})
	must(t, err)
	if len(hits) != 1 || hits[0].ID != ID(5) {
		t.Fatalf("search after reopen = %+v", hits)
	}
}
