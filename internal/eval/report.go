package eval

import (
	"fmt"
	"html"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the result for a person: one row per task, then the
// summary.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "TASK\tLANGUAGE\tPASSED\tATTEMPTS\tTOKENS\tUSD\tWALL\tFAILURE\n")
	for _, t := range r.Tasks {
		passed := "no"
		if t.Passed {
			passed = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%.1fs\t%s\n", t.ID, t.Language, passed, t.Attempts, t.TokensIn+t.TokensOut, t.CostUSD, t.WallSeconds, t.Failure)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := r.Summary
	perSolved := "—"
	if s.USDPerSolved != "" {
		perSolved = "$" + s.USDPerSolved
	}
	fmt.Fprintf(w, "\ndataset   %s (sha256 %s)\n", r.Dataset, r.Digest)
	if len(r.Models) > 0 {
		fmt.Fprintf(w, "models    %s%s\n", models(r.Models), map[bool]string{true: " (scripted: no model ran)", false: ""}[r.Scripted])
	}
	fmt.Fprintf(w, "pass@1    %.1f%% (%d of %d)\n", 100*s.PassAt1, s.Passed, s.Tasks)
	fmt.Fprintf(w, "attempts  %d (%.2f per task)\n", s.Attempts, s.AttemptsMean)
	fmt.Fprintf(w, "tokens    %d in, %d out\n", s.TokensIn, s.TokensOut)
	fmt.Fprintf(w, "cost      $%s, %s per solved task\n", s.CostUSD, perSolved)
	fmt.Fprintf(w, "wall      %.1fs per task, %.1fs in all (concurrency %d)\n", s.WallSecondsMean, s.WallSecondsTotal, r.Options.Concurrency)
	if len(s.Failures) > 0 {
		var parts []string
		for _, k := range []string{FailJob, FailHiddenTests, FailGrading} {
			if n := s.Failures[k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
			}
		}
		fmt.Fprintf(w, "failures  %s\n", strings.Join(parts, ", "))
	}
	return nil
}

func models(m map[string]string) string {
	var parts []string
	for _, tier := range []string{"T0", "T1", "T2", "T3"} {
		if v, ok := m[tier]; ok {
			parts = append(parts, tier+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// SVG draws the result: per task, a bar of its wall time coloured by
// outcome with its attempts written on it, and the summary as a title.
// It is written by hand from the numbers, so it needs no plotting library
// and stays byte-identical for identical results.
func (r *Result) SVG() []byte {
	const (
		width, left, right, top, rowH, barH = 880, 190, 150, 70, 28, 18
	)
	maxWall := 1.0
	for _, t := range r.Tasks {
		maxWall = max(maxWall, t.WallSeconds)
	}
	height := top + rowH*len(r.Tasks) + 50
	plot := float64(width - left - right)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	s := r.Summary
	per := "no task solved"
	if s.USDPerSolved != "" {
		per = "$" + s.USDPerSolved + " per solved task"
	}
	fmt.Fprintf(&b, `<text x="16" y="24" font-size="16" font-weight="bold">pass@1 %.1f%% (%d/%d) · %.2f attempts per task · %s</text>`+"\n",
		100*s.PassAt1, s.Passed, s.Tasks, s.AttemptsMean, html.EscapeString(per))
	fmt.Fprintf(&b, `<text x="16" y="44" fill="#555555">dataset %s sha256 %s · bar: wall time per task (max %.1fs) · green passed, red failed</text>`+"\n",
		html.EscapeString(r.Dataset), r.Digest[:min(16, len(r.Digest))], maxWall)
	for i, t := range r.Tasks {
		y := top + i*rowH
		w := plot * t.WallSeconds / maxWall
		colour := "#2e7d32"
		if !t.Passed {
			colour = "#c62828"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-4, html.EscapeString(t.ID))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n", left, y, max(w, 1), barH, colour,
			html.EscapeString(t.Failure))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.1fs · %d attempts · $%s</text>`+"\n", float64(left)+max(w, 1)+6, y+barH-4, t.WallSeconds, t.Attempts, html.EscapeString(t.CostUSD))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
