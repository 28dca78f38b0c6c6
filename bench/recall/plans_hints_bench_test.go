package recallbench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/memory"
)

// similarHeader is the sentence the decomposer prompt puts before similar
// requests (prompts/decomposer.v1.tmpl), once per prompt that has any.
const similarHeader = "\n\nSimilar requests that succeeded before, with the plans that worked (for reference; plan this request on its own merits):"

// hintLead is what the re-ask prompt puts before each repair hint
// (workflow.Activities.repairHints).
const hintLead = " A fix that worked for a similar problem before: "

// BenchmarkRequestRecall stores the labelled past requests as the workflow
// records a successful job (description, language, task graph), asks for
// each new request's similar plans as the decomposer does (its text,
// successful jobs only, 3 at most, then only those of the job's language),
// and scores the answers at every threshold. The bytes are those of the
// prompt lines the decomposer template renders for the plans kept.
func BenchmarkRequestRecall(b *testing.B) {
	data := load(b)
	ctx, cfg, m := open(b)
	ok := true
	for _, r := range data.StoredRequests {
		if err := m.RecordRequest(ctx, memory.RequestRecord{RequestID: r.ID, Description: r.Description, Language: r.Language,
			Tasks: r.Tasks, Success: &ok, SuccessRate: 1, ExecutionTime: 20}); err != nil {
			b.Fatal(err)
		}
	}
	def := memory.DefaultThresholds(cfg.Embedder.Provider).Requests
	if cfg.Thresholds.Requests > 0 {
		def = cfg.Thresholds.Requests
	}
	rel := make([][]string, len(data.RequestQueries))
	var answers [][]hit
	b.ResetTimer()
	for range b.N {
		answers = answers[:0]
		for i, q := range data.RequestQueries {
			rel[i] = q.Relevant
			got, err := m.SimilarRequests(ctx, memory.RequestQuery{RequestID: fmt.Sprintf("query-%d", i), Description: q.Request,
				Limit: k, SuccessfulOnly: true, MinScore: 0.0001})
			if err != nil {
				b.Fatal(err)
			}
			var hs []hit
			for _, r := range got {
				if r.Language != "" && r.Language != q.Language {
					continue // the decomposer keeps only plans in the job's language
				}
				hs = append(hs, hit{id: r.RequestID, score: r.Score, bytes: len(similarLine(r))})
			}
			answers = append(answers, hs)
		}
	}
	b.StopTimer()
	b.Logf("similar plans: embedder %s, %d stored requests, %d new requests (%d with no relevant one), k = %d, configured threshold %.2f",
		cfg.Embedder.Provider, len(data.StoredRequests), len(rel), countNone(rel), k, def)
	report(b, rel, answers, def, len(similarHeader), "plan bytes / request")
	for i, q := range data.RequestQueries {
		b.Logf("request %2d %-10s want %v got [%s]", i+1, q.Language, q.Relevant, hitList(answers[i]))
	}
}

// similarLine renders one similar request as the decomposer template does.
func similarLine(r memory.RequestMatch) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n- %q", r.Description)
	if r.Language != "" {
		fmt.Fprintf(&sb, " (%s)", r.Language)
	}
	sb.WriteString(": ")
	for i, t := range r.Tasks {
		if i > 0 {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "%s [%s, %s] %s", t.ID, t.Type, t.Complexity, t.Description)
	}
	return sb.String()
}

// BenchmarkRepairRecall stores the labelled errors with the fixes that
// resolved them, as the workflow records a failed attempt's validation
// failures and the passing attempt's summary, asks for each new failure's
// hints as the re-ask does (the failure text, the project's language), and
// scores the answers at every threshold. The bytes are those of the hint
// sentences the re-ask prompt carries.
func BenchmarkRepairRecall(b *testing.B) {
	data := load(b)
	ctx, cfg, m := open(b)
	for _, e := range data.StoredErrors {
		if err := m.RecordErrorFix(ctx, memory.ErrorFix{RequestID: "req-" + e.ID, Error: e.Error, Fix: e.Fix, Language: e.Language,
			ErrorType: e.ErrorType, TaskType: "implementation"}); err != nil {
			b.Fatal(err)
		}
	}
	// Hints carry the fix, not the stored id: map fixes back to ids.
	byFix := map[string]string{}
	for _, e := range data.StoredErrors {
		byFix[e.Language+"\x00"+e.Fix] = e.ID
	}
	def := memory.DefaultThresholds(cfg.Embedder.Provider).Errors
	if cfg.Thresholds.Errors > 0 {
		def = cfg.Thresholds.Errors
	}
	rel := make([][]string, len(data.ErrorQueries))
	var answers [][]hit
	b.ResetTimer()
	for range b.N {
		answers = answers[:0]
		for i, q := range data.ErrorQueries {
			rel[i] = q.Relevant
			got, err := m.RepairHints(ctx, memory.ErrorQuery{RequestID: fmt.Sprintf("query-%d", i), Error: q.Error, Language: q.Language,
				Limit: k, MinScore: 0.0001})
			if err != nil {
				b.Fatal(err)
			}
			var hs []hit
			for _, h := range got {
				id, ok := byFix[h.Language+"\x00"+h.Fix]
				if !ok {
					b.Fatalf("error query %d got a hint that is not in the set: %q", i, h.Fix)
				}
				hs = append(hs, hit{id: id, score: h.Score, bytes: len(hintLead) + len(h.Fix) + 1})
			}
			answers = append(answers, hs)
		}
	}
	b.StopTimer()
	b.Logf("repair hints: embedder %s, %d stored fixes, %d new failures (%d with no relevant fix), k = %d, configured threshold %.2f",
		cfg.Embedder.Provider, len(data.StoredErrors), len(rel), countNone(rel), k, def)
	report(b, rel, answers, def, 0, "hint bytes / re-ask")
	for i, q := range data.ErrorQueries {
		b.Logf("failure %2d %-10s want %v got [%s]", i+1, q.Language, q.Relevant, hitList(answers[i]))
	}
}

// report logs the grid (the configured threshold first, marked *), the
// best threshold of the grid with precision@3 ≥ 0.9, and reports the
// configured threshold's figures as metrics.
func report(b *testing.B, rel [][]string, answers [][]hit, def float64, header int, unit string) {
	b.Helper()
	b.Logf("%-9s %-13s %-10s %-26s %-22s", "threshold", "precision@3", "recall@3", "queries given an unrelated", unit)
	best := -1.0
	var bestP, bestR float64
	for _, t := range append([]float64{def}, thresholds...) {
		p, r, wrong, bytes := scoreOf(rel, answers, t, header)
		label := fmt.Sprintf("%.2f", t)
		if t == def {
			label += "*"
		}
		b.Logf("%-9s %-13.2f %-10.2f %-26d %-22.0f", label, p, r, wrong, bytes)
		if p >= 0.9 && (best < 0 || r > bestR) {
			best, bestP, bestR = t, p, r
		}
	}
	pd, rd, _, bd := scoreOf(rel, answers, def, header)
	b.ReportMetric(pd, "precision@3")
	b.ReportMetric(rd, "recall@3")
	b.ReportMetric(bd, "prompt-bytes/query")
	if best >= 0 {
		b.Logf("lowest threshold with the best recall at precision@3 >= 0.9: %.2f (precision %.2f, recall %.2f); * = configured", best, bestP, bestR)
	} else {
		b.Logf("no threshold of the grid reaches precision@3 >= 0.9; * = configured")
	}
}

func hitList(hs []hit) string {
	got := make([]string, 0, len(hs))
	for _, h := range hs {
		got = append(got, fmt.Sprintf("%s %.3f", h.id, h.score))
	}
	return strings.Join(got, ", ")
}
