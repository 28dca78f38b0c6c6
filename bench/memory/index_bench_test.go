package memorybench

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	pgv "github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/quantumlayer/qlp/internal/memory/hnsw"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

var (
	flagN       = flag.Int("memory.n", 100000, "vectors in the index")
	flagDim     = flag.Int("memory.dim", 384, "dimension")
	flagQueries = flag.Int("memory.queries", 1000, "queries")
	flagM       = flag.Int("memory.m", 16, "HNSW M of both indexes")
	flagEfC     = flag.Int("memory.efc", 128, "HNSW ef_construction of both indexes")
	flagData    = flag.String("memory.data", "embedding", "data: embedding (clustered, low intrinsic dimension) or uniform (worst case)")
)

const k = 10

var efs = []int{10, 20, 40, 64, 100, 200, 400}

type dataset struct {
	vecs    [][]float32
	queries [][]float32
	truth   [][]int // exact top-k ids per query
	exactNS []float64
}

var (
	once sync.Once
	ds   *dataset
)

// synthetic makes vectors shaped like text embeddings: a mixture of
// clusters in a 48-dimensional latent space, projected to dim dimensions by
// a fixed random matrix, plus a little isotropic noise, normalised. Real
// embeddings cannot be fetched here (no model downloads), so the data is
// generated; "uniform" gives random unit vectors, the hardest case for any
// graph index.
func synthetic(r *rand.Rand, n, dim int, kind string) [][]float32 {
	out := make([][]float32, n)
	if kind == "uniform" {
		for i := range out {
			out[i] = unit(gauss(r, dim, 1))
		}
		return out
	}
	const latent, clusters = 48, 200
	proj := make([][]float32, latent)
	for i := range proj {
		proj[i] = gauss(r, dim, 1)
	}
	centres := make([][]float32, clusters)
	for i := range centres {
		centres[i] = gauss(r, latent, 1)
	}
	for i := range out {
		c := centres[r.IntN(clusters)]
		z := gauss(r, latent, 0.45)
		v := gauss(r, dim, 0.05)
		for j := range latent {
			zj := c[j] + z[j]
			for d := range dim {
				v[d] += zj * proj[j][d]
			}
		}
		out[i] = unit(v)
	}
	return out
}

func gauss(r *rand.Rand, n int, s float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * s)
	}
	return v
}

func unit(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return v
}

// dot is the same dot product the store's exact scans use.
func dot(a, b []float32) float32 { return vector.Dot(a, b) }

func exactTopK(vecs [][]float32, q []float32) []int {
	ids := make([]int, 0, k+1)
	scores := make([]float32, 0, k+1)
	for i, v := range vecs {
		sc := dot(q, v)
		if len(ids) == k && sc <= scores[k-1] {
			continue
		}
		// Insert in order into the short sorted list.
		j := len(ids)
		ids, scores = append(ids, 0), append(scores, 0)
		for j > 0 && scores[j-1] < sc {
			ids[j], scores[j] = ids[j-1], scores[j-1]
			j--
		}
		ids[j], scores[j] = i, sc
		if len(ids) > k {
			ids, scores = ids[:k], scores[:k]
		}
	}
	return ids
}

func load(b *testing.B) *dataset {
	once.Do(func() {
		start := time.Now()
		r := rand.New(rand.NewPCG(2026, 11))
		all := synthetic(r, *flagN+*flagQueries, *flagDim, *flagData)
		d := &dataset{vecs: all[:*flagN], queries: all[*flagN:]}
		d.truth = make([][]int, len(d.queries))
		d.exactNS = make([]float64, len(d.queries))
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for qi := w; qi < len(d.queries); qi += workers {
					t := time.Now()
					d.truth[qi] = exactTopK(d.vecs, d.queries[qi])
					d.exactNS[qi] = float64(time.Since(t).Nanoseconds())
				}
			}()
		}
		wg.Wait()
		fmt.Printf("dataset: %d %s vectors of dimension %d, %d queries, exact top-%d in %s\n",
			*flagN, *flagData, *flagDim, *flagQueries, k, time.Since(start).Round(time.Millisecond))
		ds = d
	})
	return ds
}

func recallOf(got []int, want []int) float64 {
	hit := 0
	for _, g := range got {
		if slices.Contains(want, g) {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

func percentile(ns []float64, p float64) time.Duration {
	s := slices.Clone(ns)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return time.Duration(s[max(i, 0)])
}

// point is one measured setting of one index.
type point struct {
	ef       int
	recall   float64
	p50, p99 time.Duration
}

type report struct {
	name        string
	build       time.Duration
	extra       string
	bytesPerVec float64
	points      []point
}

var (
	repMu   sync.Mutex
	reports = map[string]*report{}
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkIndexes(b *testing.B) {
	d := load(b)
	b.Run("exact", func(b *testing.B) {
		p50, p99 := percentile(d.exactNS, 0.5), percentile(d.exactNS, 0.99)
		b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
		record(&report{name: "exact brute force (Go, 1 core per query)", points: []point{{0, 1, p50, p99}}})
	})
	b.Run("embedded-hnsw", func(b *testing.B) { benchEmbedded(b, d) })
	b.Run("pgvector-hnsw", func(b *testing.B) { benchPgvector(b, d) })
	printSummary()
}

func record(r *report) {
	repMu.Lock()
	defer repMu.Unlock()
	reports[r.name] = r
}

func benchEmbedded(b *testing.B, d *dataset) {
	before := heapInUse()
	start := time.Now()
	ix := hnsw.New(*flagDim, hnsw.Config{M: *flagM, EfConstruction: *flagEfC})
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	ids := make([]uint32, len(d.vecs))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(d.vecs); i += workers {
				ids[i] = ix.Add(d.vecs[i])
			}
		}()
	}
	wg.Wait()
	build := time.Since(start)
	perVec := float64(heapInUse()-before) / float64(len(d.vecs))
	// Node ids follow arrival order: map them back to dataset indexes.
	back := make([]int, len(ids))
	for i, id := range ids {
		back[id] = i
	}
	rep := &report{name: "embedded HNSW (internal/memory/hnsw)", build: build, bytesPerVec: perVec,
		extra: fmt.Sprintf("%d goroutines", workers)}
	for _, ef := range efs {
		lat := make([]float64, len(d.queries))
		var rec float64
		for qi, q := range d.queries {
			t := time.Now()
			res := ix.Search(q, k, ef, nil)
			lat[qi] = float64(time.Since(t).Nanoseconds())
			got := make([]int, len(res))
			for i, r := range res {
				got[i] = back[r.ID]
			}
			rec += recallOf(got, d.truth[qi])
		}
		rep.points = append(rep.points, point{ef, rec / float64(len(d.queries)), percentile(lat, 0.5), percentile(lat, 0.99)})
	}
	b.ReportMetric(build.Seconds(), "build-s")
	b.ReportMetric(perVec, "bytes/vector")
	record(rep)
	runtime.KeepAlive(ix)
}

func benchPgvector(b *testing.B, d *dataset) {
	url := os.Getenv("QLP_TEST_POSTGRES_URL")
	if url == "" {
		fmt.Println("pgvector: skipped, QLP_TEST_POSTGRES_URL is not set (scripts/test-services.sh start)")
		b.Skip("QLP_TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(q string, args ...any) {
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE EXTENSION IF NOT EXISTS vector`)
	if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
		b.Fatal(err)
	}
	var version, pgVersion string
	conn.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'vector'`).Scan(&version)
	conn.QueryRow(ctx, `SHOW server_version`).Scan(&pgVersion)
	exec(`DROP TABLE IF EXISTS qlp_bench_vectors`)
	exec(fmt.Sprintf(`CREATE TABLE qlp_bench_vectors (id integer PRIMARY KEY, embedding vector(%d) NOT NULL)`, *flagDim))
	start := time.Now()
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"qlp_bench_vectors"}, []string{"id", "embedding"},
		pgx.CopyFromSlice(len(d.vecs), func(i int) ([]any, error) { return []any{i, pgv.NewVector(d.vecs[i])}, nil }))
	if err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(start)
	// Same graph parameters as the embedded index; one parallel worker
	// besides the leader, as the machine has two cores.
	exec(`SET maintenance_work_mem = '2GB'`)
	exec(`SET max_parallel_maintenance_workers = 1`)
	start = time.Now()
	exec(fmt.Sprintf(`CREATE INDEX qlp_bench_vectors_hnsw ON qlp_bench_vectors USING hnsw (embedding vector_cosine_ops) WITH (m = %d, ef_construction = %d)`, *flagM, *flagEfC))
	indexed := time.Since(start)
	exec(`ANALYZE qlp_bench_vectors`)
	var tableBytes, indexBytes int64
	conn.QueryRow(ctx, `SELECT pg_table_size('qlp_bench_vectors'), pg_relation_size('qlp_bench_vectors_hnsw')`).Scan(&tableBytes, &indexBytes)
	rep := &report{name: "pgvector " + version + " HNSW (PostgreSQL " + pgVersion + ", loopback)", build: indexed,
		bytesPerVec: float64(indexBytes) / float64(len(d.vecs)),
		extra:       fmt.Sprintf("COPY %s first; table %.0f B/vector besides the index", loaded.Round(time.Millisecond), float64(tableBytes)/float64(len(d.vecs)))}
	const q = `SELECT id FROM qlp_bench_vectors ORDER BY embedding <=> $1 LIMIT 10`
	rows, err := conn.Query(ctx, `EXPLAIN (FORMAT TEXT) `+q, pgv.NewVector(d.queries[0]))
	if err != nil {
		b.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "qlp_bench_vectors_hnsw") {
		b.Fatalf("pgvector does not use its index: %s", plan)
	}
	if _, err := conn.Prepare(ctx, "knn", q); err != nil {
		b.Fatal(err)
	}
	for _, ef := range efs {
		exec(fmt.Sprintf(`SET hnsw.ef_search = %d`, ef))
		lat := make([]float64, len(d.queries))
		var rec float64
		for qi, qv := range d.queries {
			t := time.Now()
			rows, err := conn.Query(ctx, "knn", pgv.NewVector(qv))
			if err != nil {
				b.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if err != nil {
				b.Fatal(err)
			}
			lat[qi] = float64(time.Since(t).Nanoseconds())
			rec += recallOf(got, d.truth[qi])
		}
		rep.points = append(rep.points, point{ef, rec / float64(len(d.queries)), percentile(lat, 0.5), percentile(lat, 0.99)})
	}
	b.ReportMetric(indexed.Seconds(), "build-s")
	b.ReportMetric(rep.bytesPerVec, "index-bytes/vector")
	record(rep)
	exec(`DROP TABLE qlp_bench_vectors`)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

// printSummary prints the markdown tables that go into docs/benchmarks.md.
func printSummary() {
	repMu.Lock()
	defer repMu.Unlock()
	emb := reports["embedded HNSW (internal/memory/hnsw)"]
	var pg *report
	for name, r := range reports {
		if strings.HasPrefix(name, "pgvector") {
			pg = r
		}
	}
	fmt.Println()
	fmt.Println("| index | build | bytes/vector | ef | recall@10 | p50 | p99 |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, name := range []string{"exact brute force (Go, 1 core per query)", "embedded HNSW (internal/memory/hnsw)"} {
		if r := reports[name]; r != nil {
			printRows(r)
		}
	}
	if pg != nil {
		printRows(pg)
	}
	if emb == nil {
		return
	}
	ex := reports["exact brute force (Go, 1 core per query)"]
	fmt.Println()
	for _, p := range emb.points {
		if p.recall >= 0.95 {
			fmt.Printf("embedded: first setting with recall@10 >= 0.95: ef=%d recall %.3f p50 %s p99 %s", p.ef, p.recall, us(p.p50), us(p.p99))
			if ex != nil {
				fmt.Printf(" (%.0fx faster than exact at p50)", float64(ex.points[0].p50)/float64(p.p50))
			}
			fmt.Println()
			break
		}
	}
	if pg == nil {
		return
	}
	fmt.Println()
	fmt.Println("At equal recall (for each pgvector setting, the cheapest embedded setting with at least its recall):")
	fmt.Println()
	fmt.Println("| pgvector ef | recall | p50 | p99 | embedded ef | recall | p50 | p99 | p99 ratio embedded/pgvector |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, pp := range pg.points {
		matched := false
		for _, ep := range emb.points {
			if ep.recall >= pp.recall {
				fmt.Printf("| %d | %.4f | %s | %s | %d | %.4f | %s | %s | %.2f |\n", pp.ef, pp.recall, us(pp.p50), us(pp.p99),
					ep.ef, ep.recall, us(ep.p50), us(ep.p99), float64(ep.p99)/float64(pp.p99))
				matched = true
				break
			}
		}
		if !matched {
			fmt.Printf("| %d | %.4f | %s | %s | none measured reaches this recall | | | | |\n", pp.ef, pp.recall, us(pp.p50), us(pp.p99))
		}
	}
}

func printRows(r *report) {
	for i, p := range r.points {
		build, bytes := "", ""
		if i == 0 {
			if r.build > 0 {
				build = r.build.Round(100 * time.Millisecond).String()
				if r.extra != "" {
					build += " (" + r.extra + ")"
				}
			}
			if r.bytesPerVec > 0 {
				bytes = fmt.Sprintf("%.0f", r.bytesPerVec)
			}
		}
		name := ""
		if i == 0 {
			name = r.name
		}
		ef := "-"
		if p.ef > 0 {
			ef = fmt.Sprint(p.ef)
		}
		fmt.Printf("| %s | %s | %s | %s | %.3f | %s | %s |\n", name, build, bytes, ef, p.recall, us(p.p50), us(p.p99))
	}
}
