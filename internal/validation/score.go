package validation

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// The confidence formula and its weights live here and only here; they are
// explained in docs/validation.md. In short:
//
//	gated      = a compile or tests check failed
//	quality    = max(0, 1 − Σ_checks min(cap(check), Σ_findings deduction(severity)))
//	certainty  = Σ weight(category) of checks that ran ÷ Σ weight of all applicable checks
//	confidence = 0 if gated, else quality × (0.5 + 0.5 × certainty)
//
// cap(check) is 1 when the check has a critical or high finding and
// lowCap otherwise, so that a hundred style nits cannot outweigh one real
// defect. A skipped check never counts as passed: it lowers certainty (so
// the score of a project nothing could check is at most 0.5).

// severityDeduction is what one finding of a severity costs.
var severityDeduction = map[string]float64{
	SeverityCritical: 0.50,
	SeverityHigh:     0.25,
	SeverityMedium:   0.05,
	SeverityLow:      0.01,
	SeverityInfo:     0,
}

// lowCap bounds the deduction of a check with only medium, low or info
// findings.
const lowCap = 0.15

// categoryWeight is how much a category's checks count towards certainty.
var categoryWeight = map[string]float64{
	CategoryCompile:     3,
	CategoryTests:       3,
	CategoryTypes:       2,
	CategorySecurity:    2,
	CategoryStyle:       1,
	CategoryConsistency: 1,
}

// DefaultReviewThreshold is the confidence below which a person must look.
const DefaultReviewThreshold = 0.8

// formula is recorded in every report.
const formula = "confidence = 0 if a compile or tests check failed, else quality × (0.5 + 0.5 × certainty); " +
	"quality = max(0, 1 − Σ per check min(cap, Σ finding deductions)), deductions critical 0.50, high 0.25, medium 0.05, low 0.01, info 0, " +
	"cap 1 with a critical/high finding else 0.15; certainty = weight of checks that ran ÷ weight of applicable checks " +
	"(compile 3, tests 3, types 2, security 2, style 1, consistency 1)"

// Scoring records how the confidence score was computed.
type Scoring struct {
	Formula   string  `json:"formula"`
	Gated     bool    `json:"gated"`
	Quality   float64 `json:"quality"`
	Certainty float64 `json:"certainty"`
	// Deductions sums what each check's findings cost (after its cap).
	Deductions map[string]float64 `json:"deductions"`
	Skipped    []string           `json:"skipped"`
	// ReviewThreshold is the confidence below which review is required.
	ReviewThreshold float64 `json:"review_threshold"`
}

// gating reports whether a failed check of the category zeroes the score.
func gating(category string) bool { return category == CategoryCompile || category == CategoryTests }

// severityRank orders severities, worst first.
func severityRank(s string) int {
	switch s {
	case SeverityCritical:
		return 0
	case SeverityHigh:
		return 1
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 3
	}
	return 4
}

// statusFromFindings is a check's status when its tool ran to the end:
// failed with a critical or high finding, warning with a medium or low
// one, passed otherwise.
func statusFromFindings(fs []Finding) string {
	st := StatusPassed
	for _, f := range fs {
		switch f.Severity {
		case SeverityCritical, SeverityHigh:
			return StatusFailed
		case SeverityMedium, SeverityLow:
			st = StatusWarning
		}
	}
	return st
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// score fills the report's status, confidence, review decision and
// summary from its checks.
func score(r *Report, threshold float64) {
	sc := Scoring{Formula: formula, Deductions: map[string]float64{}, Skipped: []string{}, ReviewThreshold: threshold}
	var ran, all, deducted float64
	overall := StatusPassed
	counts := map[string]int{}
	for _, c := range r.Checks {
		counts[c.Status]++
		w := categoryWeight[c.Category]
		all += w
		switch c.Status {
		case StatusSkipped:
			sc.Skipped = append(sc.Skipped, c.Name)
			if overall == StatusPassed {
				overall = StatusWarning
			}
			continue
		case StatusFailed:
			overall = StatusFailed
			if gating(c.Category) {
				sc.Gated = true
			}
		case StatusWarning:
			if overall == StatusPassed {
				overall = StatusWarning
			}
		}
		ran += w
		var d float64
		capAt := lowCap
		for _, f := range c.Findings {
			d += severityDeduction[f.Severity]
			if severityRank(f.Severity) <= 1 {
				capAt = 1
			}
		}
		d = math.Min(d, capAt)
		if d > 0 {
			sc.Deductions[c.Name] = round3(d)
			deducted += d
		}
	}
	sc.Quality = round3(math.Max(0, 1-deducted))
	if all > 0 {
		sc.Certainty = round3(ran / all)
	}
	conf := 0.0
	if !sc.Gated {
		conf = round3(sc.Quality * (0.5 + 0.5*sc.Certainty))
	}
	r.OverallStatus, r.ConfidenceScore, r.Scoring = overall, conf, sc
	r.ReviewReasons = reviewReasons(r, threshold)
	r.RequiresHumanReview = len(r.ReviewReasons) > 0
	r.Summary = summarize(r, counts)
}

// reviewReasons are the documented rules for requires_human_review: any of
// them makes a person look before the code is trusted.
func reviewReasons(r *Report, threshold float64) []string {
	out := []string{}
	if f := r.Failed(); len(f) > 0 {
		out = append(out, "failed checks: "+strings.Join(f, ", "))
	}
	if r.ConfidenceScore < threshold {
		out = append(out, fmt.Sprintf("confidence %.3f is below the review threshold %.2f", r.ConfidenceScore, threshold))
	}
	for _, c := range r.Checks {
		if c.Status == StatusSkipped && gating(c.Category) {
			out = append(out, fmt.Sprintf("%s did not run (%s)", c.Name, c.Reason))
		}
	}
	if r.Tests != nil && r.Tests.Counted && r.Tests.Total == 0 {
		out = append(out, "the test run found no tests")
	}
	return out
}

func summarize(r *Report, counts map[string]int) string {
	var parts []string
	for _, s := range []string{StatusPassed, StatusWarning, StatusFailed, StatusSkipped} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	s := fmt.Sprintf("%s: %d checks (%s), confidence %.3f", r.OverallStatus, len(r.Checks), strings.Join(parts, ", "), r.ConfidenceScore)
	if r.Tests != nil && r.Tests.Counted {
		s += fmt.Sprintf("; tests %d run, %d passed, %d failed", r.Tests.Total, r.Tests.Passed, r.Tests.Failed)
	}
	if f := r.Failed(); len(f) > 0 {
		sort.Strings(f)
		s += "; failed: " + strings.Join(f, ", ")
	}
	if len(r.Reused) > 0 {
		s += "; reused from earlier validations: " + strings.Join(r.Reused, ", ")
	}
	return s
}
