package validation

import (
	"strings"
	"testing"
)

func TestScore(t *testing.T) {
	f := func(sev string) Finding { return Finding{File: "a.go", Line: 1, Severity: sev, RuleID: "r"} }
	check := func(name, cat, status string, fs ...Finding) Check {
		return Check{Name: name, Category: cat, Status: status, Findings: fs}
	}
	all := func(extra ...Check) []Check {
		base := []Check{
			check("build", CategoryCompile, StatusPassed), check("tests", CategoryTests, StatusPassed),
			check("types", CategoryTypes, StatusPassed), check("sec", CategorySecurity, StatusPassed),
			check("style", CategoryStyle, StatusPassed), check("deps", CategoryConsistency, StatusPassed),
		}
		for _, e := range extra {
			for i := range base {
				if base[i].Name == e.Name {
					base[i] = e
				}
			}
		}
		return base
	}
	many := make([]Finding, 100)
	for i := range many {
		many[i] = f(SeverityLow)
	}
	tests := []struct {
		name    string
		checks  []Check
		status  string
		conf    float64
		review  bool
		reasons string
	}{
		{"everything passed", all(), StatusPassed, 1, false, ""},
		{"a compile failure gates the score", all(check("build", CategoryCompile, StatusFailed, f(SeverityHigh))), StatusFailed, 0, true, "failed checks: build"},
		{"a test failure gates the score", all(check("tests", CategoryTests, StatusFailed)), StatusFailed, 0, true, "failed checks: tests"},
		{"a critical finding deducts 0.5", all(check("sec", CategorySecurity, StatusFailed, f(SeverityCritical))), StatusFailed, 0.5, true, "failed checks: sec"},
		{"a high finding deducts 0.25", all(check("types", CategoryTypes, StatusFailed, f(SeverityHigh))), StatusFailed, 0.75, true, "below the review threshold"},
		{"medium and low findings deduct a little", all(check("style", CategoryStyle, StatusWarning, f(SeverityMedium), f(SeverityLow))), StatusWarning, 0.94, false, ""},
		{"a hundred nits cost at most the cap", all(check("style", CategoryStyle, StatusWarning, many...)), StatusWarning, 0.85, false, ""},
		{"a skipped check lowers certainty, never passes", all(check("types", CategoryTypes, StatusSkipped)), StatusWarning, 0.917, false, ""},
		{"skipped tests require review", all(check("tests", CategoryTests, StatusSkipped)), StatusWarning, 0.875, true, "tests did not run"},
		{"nothing could run", []Check{check("build", CategoryCompile, StatusSkipped), check("tests", CategoryTests, StatusSkipped)}, StatusWarning, 0.5, true, "below the review threshold"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Checks: tc.checks}
			score(r, DefaultReviewThreshold)
			if r.OverallStatus != tc.status || r.ConfidenceScore != tc.conf || r.RequiresHumanReview != tc.review {
				t.Errorf("status %s confidence %v review %v (%v); want %s %v %v", r.OverallStatus, r.ConfidenceScore,
					r.RequiresHumanReview, r.ReviewReasons, tc.status, tc.conf, tc.review)
			}
			if tc.reasons != "" && !strings.Contains(strings.Join(r.ReviewReasons, "; "), tc.reasons) {
				t.Errorf("reasons %v, want %q among them", r.ReviewReasons, tc.reasons)
			}
		})
	}
}

func TestParsers(t *testing.T) {
	p := &project{files: map[string]string{"calc/calc.go": "", "main.py": "", "a.js": "", "src/lib.ts": ""}}
	tests := []struct {
		name string
		got  []Finding
		want string
	}{
		{"go build", parseLines(p, "# example.com/calc/calc\ncalc/calc.go:17:3: invalid operation: mismatched types\n", goCompileRule), "calc/calc.go:17:3"},
		{"absolute path in the sandbox", parseLines(p, "/sandbox/work/calc/calc.go:4:1: x\n", goCompileRule), "calc/calc.go:4:1"},
		{"staticcheck json", parseStaticcheck(p, `{"code":"SA4006","severity":"error","location":{"file":"/sandbox/work/calc/calc.go","line":9,"column":2},"message":"never used"}`), "calc/calc.go:9:2"},
		{"staticcheck compile error", parseStaticcheck(p, `{"code":"compile","severity":"error","location":{"file":"","line":0,"column":0},"message":"# x\n./calc/calc.go:14:2: declared and not used: x"}`), "calc/calc.go:14:2"},
		{"tsc", parseLines(p, tscToLines("src/lib.ts(11,9): error TS2322: Type 'string' is not assignable to type 'number'.\n"), tscRule), "src/lib.ts:11:9"},
		{"node --check", parseNodeCheck(p, "/sandbox/work/a.js:6\n  for (const a of args {\n                      ^\n\nSyntaxError: missing ) after for-of iterator\n"), "a.js:6:23"},
		{"black diff", diffFindings(p, "--- main.py\t2026\n+++ main.py\t2026\n@@ -1,4 +1,4 @@\n import os\n-x=1\n+x = 1\n", "black", "m"), "main.py:2:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) == 0 {
				t.Fatalf("no findings, want one at %s", tc.want)
			}
			if pos := tc.got[0].File + ":" + itoa(tc.got[0].Line) + ":" + itoa(tc.got[0].Column); !strings.HasPrefix(pos, tc.want) {
				t.Errorf("first finding at %s, want %s (%v)", pos, tc.want, tc.got)
			}
		})
	}
}
