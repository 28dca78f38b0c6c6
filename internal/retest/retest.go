// Package retest rebuilds and re-validates a capsule in a fresh sandbox
// and compares the result with the validation report the capsule carries:
// `qlp capsule retest`.
package retest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/validation"
)

// Validator runs a validation: the in-process Validation Mesh or a client
// of the validation service (both run every check in a fresh sandbox).
type Validator interface {
	Validate(ctx context.Context, req validation.Request) (*validation.Report, error)
}

// Difference is one way the retest disagrees with the capsule's report.
type Difference struct {
	Check   string `json:"check"` // check name; "" for the report as a whole
	What    string `json:"what"`  // status, findings, tests, …
	Capsule string `json:"capsule"`
	Retest  string `json:"retest"`
}

func (d Difference) String() string {
	name := d.Check
	if name == "" {
		name = "report"
	}
	return fmt.Sprintf("%s %s: capsule %s, retest %s", name, d.What, d.Capsule, d.Retest)
}

// Result is a retest's outcome.
type Result struct {
	CapsuleID string `json:"capsule_id"`
	Version   int    `json:"version"`
	// Integrity lists the problems capsule.Verify found (files that do not
	// match the manifest or the provenance, bad signatures). Who signed is
	// not retest's business: `qlp capsule verify` says that.
	Integrity []string `json:"integrity"`
	// Quick is true when the capsule was validated quickly and the retest
	// ran the same quick checks.
	Quick       bool               `json:"quick"`
	Differences []Difference       `json:"differences"`
	Notes       []string           `json:"notes"` // tool versions that changed, not differences
	Report      *validation.Report `json:"report"`
}

// Same reports whether the capsule is intact and the retest agrees with
// its report.
func (r *Result) Same() bool { return len(r.Integrity) == 0 && len(r.Differences) == 0 }

// Request is the validation request that rebuilds a capsule's project as
// the job validated it: its files (without QLP's own, and README.md
// without QLP's section), language, commands and dependencies.
func Request(m capsule.Manifest, files map[string][]byte, quick bool) (validation.Request, error) {
	if len(m.Languages) == 0 {
		return validation.Request{}, errors.New("retest: the manifest names no language; nothing can rebuild it")
	}
	req := validation.Request{Language: m.Languages[0], Dependencies: m.Dependencies, Quick: quick, Label: "retest " + m.ID,
		Commands: validation.Commands{Build: m.Commands.Build, Test: m.Commands.Test, Run: m.Commands.Run}}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		content := string(files[p])
		switch {
		case capsule.OwnFile(p):
			continue
		case p == capsule.ReadmeFile:
			// QLP appended its section (or wrote the README): the project's
			// own part is what was validated, as reuse reads it.
			own, _, _ := strings.Cut(content, "\n## QLP capsule\n")
			content = strings.TrimRight(own, "\n") + "\n"
		}
		req.Files = append(req.Files, validation.File{Path: p, Content: content})
	}
	return req, nil
}

// original is the part of validation-report.json a retest compares.
type original struct {
	OverallStatus string              `json:"overall_status"`
	Checks        []validation.Check  `json:"checks"`
	Tests         *validation.TestRun `json:"tests"`
}

// quickSkip is how the mesh says a check was left out of a quick validation.
const quickSkip = "quick validation"

// Run re-validates the capsule files hold with v and compares.
func Run(ctx context.Context, files map[string][]byte, v Validator) (*Result, error) {
	ver, err := capsule.Verify(files)
	if err != nil {
		return nil, err
	}
	m := ver.Manifest
	res := &Result{CapsuleID: m.ID, Version: m.Version, Integrity: nonNil(ver.Problems), Differences: []Difference{}, Notes: []string{}}
	raw, ok := files[capsule.ReportFile]
	if !ok {
		return nil, fmt.Errorf("retest: the capsule has no %s to compare with", capsule.ReportFile)
	}
	var orig original
	if err := json.Unmarshal(raw, &orig); err != nil {
		return nil, fmt.Errorf("retest: %s: %w", capsule.ReportFile, err)
	}
	if orig.OverallStatus == "not_validated" {
		return nil, errors.New("retest: the capsule was never validated (its report says not_validated): there is nothing to compare with")
	}
	for _, c := range orig.Checks {
		if c.Status == validation.StatusSkipped && strings.Contains(c.Reason, quickSkip) {
			res.Quick = true
		}
	}
	req, err := Request(m, files, res.Quick)
	if err != nil {
		return nil, err
	}
	rep, err := v.Validate(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("retest: validate capsule %s: %w", m.ID, err)
	}
	res.Report = rep
	res.Differences, res.Notes = Compare(orig.OverallStatus, orig.Checks, orig.Tests, rep)
	return res, nil
}

// Compare lists how a new report differs from the capsule's: overall
// status, each check's presence, status and findings (file, line, rule,
// message), and the tests' counts. Durations, caching and outputs are not
// compared; a tool whose version changed is a note.
func Compare(status string, checks []validation.Check, tests *validation.TestRun, rep *validation.Report) (diffs []Difference, notes []string) {
	diffs, notes = []Difference{}, []string{}
	if status != rep.OverallStatus {
		diffs = append(diffs, Difference{What: "overall status", Capsule: status, Retest: rep.OverallStatus})
	}
	now := map[string]validation.Check{}
	for _, c := range rep.Checks {
		now[c.Name] = c
	}
	seen := map[string]bool{}
	for _, old := range checks {
		seen[old.Name] = true
		c, ok := now[old.Name]
		if !ok {
			diffs = append(diffs, Difference{Check: old.Name, What: "presence", Capsule: "ran (" + old.Status + ")", Retest: "did not run"})
			continue
		}
		if old.Status != c.Status {
			diffs = append(diffs, Difference{Check: old.Name, What: "status", Capsule: old.Status, Retest: c.Status})
		}
		if old.ToolVersion != c.ToolVersion {
			notes = append(notes, fmt.Sprintf("%s: %s %s then, %s now", old.Name, old.Tool, orUnknown(old.ToolVersion), orUnknown(c.ToolVersion)))
		}
		was, is := findingSet(old.Findings), findingSet(c.Findings)
		for _, f := range sortedKeys(was) {
			if !is[f] {
				diffs = append(diffs, Difference{Check: old.Name, What: "finding", Capsule: f, Retest: "absent"})
			}
		}
		for _, f := range sortedKeys(is) {
			if !was[f] {
				diffs = append(diffs, Difference{Check: old.Name, What: "finding", Capsule: "absent", Retest: f})
			}
		}
	}
	for _, c := range rep.Checks {
		if !seen[c.Name] {
			diffs = append(diffs, Difference{Check: c.Name, What: "presence", Capsule: "did not run", Retest: "ran (" + c.Status + ")"})
		}
	}
	if t := testCounts(tests); t != testCounts(rep.Tests) {
		diffs = append(diffs, Difference{Check: "tests", What: "counts", Capsule: t, Retest: testCounts(rep.Tests)})
	}
	return diffs, notes
}

func testCounts(t *validation.TestRun) string {
	if t == nil {
		return "none"
	}
	if !t.Counted {
		return fmt.Sprintf("exit code %d (not counted)", t.ExitCode)
	}
	return fmt.Sprintf("%d total, %d passed, %d failed, %d skipped", t.Total, t.Passed, t.Failed, t.Skipped)
}

func findingSet(fs []validation.Finding) map[string]bool {
	out := make(map[string]bool, len(fs))
	for _, f := range fs {
		out[fmt.Sprintf("%s:%d: %s [%s]", f.File, f.Line, f.Message, f.RuleID)] = true
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "(version unknown)"
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
