package embed_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/quantumlayer/qlp/internal/memory/embed"
)

func cos(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestHashingIsLexical(t *testing.T) {
	h, err := embed.NewHashing(0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Dimension() != 384 || h.Provider() != "builtin" {
		t.Fatalf("defaults: %d %s", h.Dimension(), h.Provider())
	}
	texts := []string{
		"Build a REST API in Go for managing todo items with PostgreSQL storage",     // 0
		"Create a Go REST API that manages todo items and stores them in PostgreSQL", // 1: paraphrase, shared words
		"Write a Python script that resizes images in a folder",                      // 2: unrelated
		"func parseHTTPRequest(r *http.Request) error",                               // 3
		"parse_http_request(request)",                                                // 4: same identifier parts
	}
	res, err := h.Embed(t.Context(), embed.Request{Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	if res.InputTokens != 0 {
		t.Fatalf("builtin reports %d tokens; it bills none", res.InputTokens)
	}
	for i, v := range res.Vectors {
		if len(v) != 384 {
			t.Fatalf("vector %d has %d dims", i, len(v))
		}
		if n := cos(v, v); math.Abs(n-1) > 1e-5 {
			t.Fatalf("vector %d has norm² %v", i, n)
		}
	}
	v := res.Vectors
	if para, other := cos(v[0], v[1]), cos(v[0], v[2]); para < 0.5 || other > 0.2 || para < other+0.3 {
		t.Fatalf("paraphrase %.3f vs unrelated %.3f: want paraphrase clearly closer", para, other)
	}
	if c := cos(v[3], v[4]); c < 0.25 {
		t.Fatalf("camelCase and snake_case forms of one identifier: cosine %.3f, want >= 0.25", c)
	}
	again, _ := h.Embed(t.Context(), embed.Request{Texts: texts[:1]})
	if !slices.Equal(again.Vectors[0], v[0]) {
		t.Fatal("embedding is not deterministic")
	}
}

func TestHashingRejects(t *testing.T) {
	h, _ := embed.NewHashing(64)
	for _, text := range []string{"", "   ", "!!! ??? ..."} {
		if _, err := h.Embed(t.Context(), embed.Request{Texts: []string{text}}); !errors.Is(err, embed.ErrEmptyText) {
			t.Errorf("Embed(%q) error %v, want ErrEmptyText", text, err)
		}
	}
	// Only stopwords is still text.
	if _, err := h.Embed(t.Context(), embed.Request{Texts: []string{"it is what it is"}}); err != nil {
		t.Errorf("stopwords only: %v", err)
	}
	for _, dim := range []int{8, 5000} {
		if _, err := embed.NewHashing(dim); err == nil {
			t.Errorf("NewHashing(%d) accepted", dim)
		}
	}
}
