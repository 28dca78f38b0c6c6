package hnsw

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
)

func randomUnit(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var s float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		s += x * x
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return v
}

// clustered makes n unit vectors around nc random centres, as embeddings of
// related texts are.
func clustered(r *rand.Rand, n, dim, nc int, spread float64) [][]float32 {
	centres := make([][]float32, nc)
	for i := range centres {
		centres[i] = randomUnit(r, dim)
	}
	out := make([][]float32, n)
	for i := range out {
		c := centres[r.IntN(nc)]
		v := make([]float32, dim)
		var s float64
		for j := range v {
			x := float64(c[j]) + spread*r.NormFloat64()/math.Sqrt(float64(dim))
			v[j] = float32(x)
			s += x * x
		}
		inv := float32(1 / math.Sqrt(s))
		for j := range v {
			v[j] *= inv
		}
		out[i] = v
	}
	return out
}

func exact(data [][]float32, q []float32, k int, skip func(int) bool) []int {
	type p struct {
		i int
		s float32
	}
	all := make([]p, 0, len(data))
	for i, v := range data {
		if skip != nil && skip(i) {
			continue
		}
		all = append(all, p{i, dot(q, v)})
	}
	sort.Slice(all, func(a, b int) bool { return all[a].s > all[b].s })
	out := []int{}
	for i := 0; i < k && i < len(all); i++ {
		out = append(out, all[i].i)
	}
	return out
}

func recall(got []Result, want []int) float64 {
	set := map[int]bool{}
	for _, w := range want {
		set[w] = true
	}
	hit := 0
	for _, g := range got {
		if set[int(g.ID)] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

// size is n, or a fifth of it under the race detector.
func size(n int) int {
	if raceEnabled {
		return n / 5
	}
	return n
}

func TestRecall(t *testing.T) {
	tests := []struct {
		name      string
		data      func(r *rand.Rand) [][]float32
		ef        int
		minRecall float64
	}{
		{"clustered 64d", func(r *rand.Rand) [][]float32 { return clustered(r, size(2000), 64, 40, 0.6) }, 64, 0.95},
		{"uniform 32d", func(r *rand.Rand) [][]float32 {
			out := make([][]float32, size(2000))
			for i := range out {
				out[i] = randomUnit(r, 32)
			}
			return out
		}, 100, 0.95},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 7))
			data := tt.data(r)
			ix := New(len(data[0]), Config{M: 16, EfConstruction: 100})
			for _, v := range data {
				ix.Add(v)
			}
			var sum float64
			const nq = 100
			for range nq {
				q := data[r.IntN(len(data))]
				sum += recall(ix.Search(q, 10, tt.ef, nil), exact(data, q, 10, nil))
			}
			if got := sum / nq; got < tt.minRecall {
				t.Fatalf("recall@10 = %.3f, want >= %.2f", got, tt.minRecall)
			}
		})
	}
}

func TestDeleteAndFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := clustered(r, size(1500), 32, 20, 0.5)
	ix := New(32, Config{})
	for _, v := range data {
		ix.Add(v)
	}
	for i := 0; i < len(data); i += 3 {
		ix.Delete(uint32(i))
	}
	ix.Delete(0) // twice is harmless
	if want := len(data) - (len(data)+2)/3; ix.Len() != want {
		t.Fatalf("Len = %d, want %d", ix.Len(), want)
	}
	even := func(id uint32) bool { return id%2 == 0 }
	for range 50 {
		q := data[r.IntN(len(data))]
		for _, res := range ix.Search(q, 10, 80, even) {
			if res.ID%3 == 0 {
				t.Fatalf("deleted node %d returned", res.ID)
			}
			if res.ID%2 != 0 {
				t.Fatalf("filtered-out node %d returned", res.ID)
			}
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	data := clustered(r, size(1500), 24, 10, 0.5)
	ix := New(24, Config{M: 8})
	for _, v := range data {
		ix.Add(v)
	}
	ix.Delete(5)
	var buf bytes.Buffer
	if err := ix.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != ix.Len() || got.Nodes() != ix.Nodes() || got.Config() != ix.Config() {
		t.Fatalf("decoded %d/%d nodes %+v, want %d/%d %+v", got.Len(), got.Nodes(), got.Config(), ix.Len(), ix.Nodes(), ix.Config())
	}
	for range 20 {
		q := data[r.IntN(len(data))]
		a, b := ix.Search(q, 10, 50, nil), got.Search(q, 10, 50, nil)
		if len(a) != len(b) {
			t.Fatalf("results differ: %v vs %v", a, b)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("results differ at %d: %v vs %v", i, a[i], b[i])
			}
		}
	}
	// Truncated input is an error, never a partial graph.
	if _, err := Decode(bytes.NewReader(buf.Bytes()[:buf.Len()/2])); err == nil {
		t.Fatal("decoding a truncated graph succeeded")
	}
	// More inserts after decoding work.
	got.Add(randomUnit(r, 24))
}

func TestConcurrentAddSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	data := clustered(r, size(2000), 32, 20, 0.5)
	ix := New(32, Config{M: 12, EfConstruction: 64})
	var wg sync.WaitGroup
	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(data); i += workers {
				ix.Add(data[i])
				if i%50 == 0 {
					ix.Search(data[i], 5, 20, nil)
				}
			}
		}()
	}
	wg.Wait()
	if ix.Len() != len(data) {
		t.Fatalf("Len = %d, want %d", ix.Len(), len(data))
	}
	// Node ids were assigned in arrival order: compare against the vectors
	// as the index holds them.
	stored := make([][]float32, ix.Nodes())
	for id := range stored {
		stored[id] = ix.Vector(uint32(id))
	}
	var sum float64
	const nq = 50
	for range nq {
		q := data[r.IntN(len(data))]
		sum += recall(ix.Search(q, 10, 64, nil), exact(stored, q, 10, nil))
	}
	if got := sum / nq; got < 0.9 {
		t.Fatalf("recall@10 after a concurrent build = %.3f, want >= 0.9", got)
	}
}
