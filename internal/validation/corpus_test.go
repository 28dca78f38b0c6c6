package validation_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/validation"
)

// loadProject reads a corpus directory under testdata/ as a request.
func loadProject(t testing.TB, dir, lang string) validation.Request {
	t.Helper()
	root := filepath.Join("testdata", dir)
	req := validation.Request{Language: lang, Label: dir, Commands: corpusCommands[lang]}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		// Files gofmt must not see (a Go syntax error) are stored as .txt.
		rel = strings.TrimSuffix(rel, ".txt")
		req.Files = append(req.Files, validation.File{Path: filepath.ToSlash(rel), Content: string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(req.Files, func(i, j int) bool { return req.Files[i].Path < req.Files[j].Path })
	return req
}

// corpusCommands are the manifest commands of the corpora.
var corpusCommands = map[string]validation.Commands{
	"go":         {Build: "go build ./...", Test: "go test ./...", Run: "go run ."},
	"python":     {Build: "python3 -m compileall -q .", Test: "python3 -m pytest -q", Run: "python3 main.py"},
	"javascript": {Test: "node --test", Run: "node index.js"},
	"typescript": {Build: "tsc --noEmit", Test: "node --test"},
	"bash":       {Build: "bash -n main.sh", Run: "bash main.sh"},
}

// TestGoodCorporaPassEveryCheck: a correct project in each language passes
// every check its language has — none skipped, none with a finding — and
// the score says so.
func TestGoodCorporaPassEveryCheck(t *testing.T) {
	_, mesh := sandboxed(t)
	for _, lang := range []string{"go", "python", "javascript", "typescript", "bash"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			requireTools(t, mesh, lang)
			r, err := mesh.Validate(t.Context(), loadProject(t, lang+"/good", lang))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range r.Checks {
				if c.Status != validation.StatusPassed || len(c.Findings) > 0 {
					t.Errorf("%s: %s (%s) %v\n%s", c.Name, c.Status, c.Reason, c.Findings, c.Output)
				}
			}
			if r.OverallStatus != validation.StatusPassed || r.ConfidenceScore != 1 || r.RequiresHumanReview {
				t.Errorf("overall %s confidence %v review %v (%v)", r.OverallStatus, r.ConfidenceScore, r.RequiresHumanReview, r.ReviewReasons)
			}
			if r.Tests == nil || !r.Tests.Counted || r.Tests.Total == 0 || r.Tests.Failed != 0 || r.Tests.Passed != r.Tests.Total-r.Tests.Skipped {
				t.Errorf("tests = %+v, want counted, passing tests", r.Tests)
			}
		})
	}
}

// TestBadCorporaFailTheRightCheck: each known-bad project fails exactly
// the check that should catch it, with a finding at the right file and
// line. Quick validations (compile, tests and the built-in rules) keep
// this fast; TestScannersFindWeakHashes runs the full set.
func TestBadCorporaFailTheRightCheck(t *testing.T) {
	_, mesh := sandboxed(t)
	tests := []struct {
		lang, dir, check, file string
		line                   int
		rule                   string
	}{
		{"go", "syntax-error", "go-build", "calc/calc.go", 11, ""},
		{"go", "type-error", "go-build", "calc/calc.go", 17, ""},
		{"go", "failing-test", "tests", "calc/calc_test.go", 17, "TestSum"},
		{"go", "sql-injection", "patterns", "calc/store.go", 7, "sql-injection"},
		{"go", "hardcoded-credential", "secrets", "calc/config.go", 12, "hardcoded-credential"},
		{"go", "shell-injection", "patterns", "calc/list.go", 7, "shell-injection"},
		{"go", "weak-hash", "patterns", "calc/digest.go", 10, "weak-hash"},
		{"python", "syntax-error", "py-compile", "calc.py", 7, "syntax"},
		{"python", "type-error", "mypy", "calc.py", 14, "return-value"},
		{"python", "failing-test", "tests", "test_calc.py", 8, ""},
		{"python", "sql-injection", "patterns", "store.py", 7, "sql-injection"},
		{"python", "hardcoded-credential", "secrets", "settings.py", 3, "hardcoded-credential"},
		{"python", "shell-injection", "patterns", "files.py", 6, "shell-injection"},
		{"python", "weak-hash", "patterns", "digest.py", 6, "weak-hash"},
		{"javascript", "syntax-error", "node-check", "lib.js", 6, "syntax"},
		{"javascript", "failing-test", "tests", "lib.test.js", 10, ""},
		{"javascript", "sql-injection", "patterns", "store.js", 5, "sql-injection"},
		{"javascript", "hardcoded-credential", "secrets", "config.js", 5, "hardcoded-credential"},
		{"javascript", "shell-injection", "patterns", "files.js", 7, "shell-injection"},
		{"javascript", "weak-hash", "patterns", "digest.js", 7, "weak-hash"},
		{"typescript", "type-error", "tsc", "lib.ts", 11, "TS2322"},
		{"java", "type-error", "javac", "Main.java", 11, "javac"},
		{"rust", "type-error", "rustc", "main.rs", 7, "E0308"},
		{"bash", "syntax-error", "bash-syntax", "main.sh", 10, "syntax"},
		{"bash", "failing-test", "tests", "test_main.sh", 1, ""},
		{"bash", "sql-injection", "patterns", "lookup.sh", 3, "sql-injection"},
		{"bash", "hardcoded-credential", "secrets", "deploy.sh", 3, "hardcoded-credential"},
		{"bash", "shell-injection", "patterns", "run.sh", 3, "shell-injection"},
		{"bash", "weak-hash", "patterns", "digest.sh", 3, "weak-hash"},
	}
	for _, tc := range tests {
		t.Run(tc.lang+"/"+tc.dir, func(t *testing.T) {
			t.Parallel()
			requireTools(t, mesh, tc.lang)
			req := loadProject(t, tc.lang+"/"+tc.dir, tc.lang)
			req.Quick = tc.check != "mypy"
			r, err := mesh.Validate(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			c := r.Check(tc.check)
			if c == nil {
				t.Fatalf("no %s check in %v", tc.check, r.Checks)
			}
			if c.Status != validation.StatusFailed {
				t.Fatalf("%s is %s (%s), want failed; findings %v\n%s", tc.check, c.Status, c.Reason, c.Findings, c.Output)
			}
			found := false
			for _, f := range c.Findings {
				if f.File == tc.file && f.Line == tc.line && (tc.rule == "" || f.RuleID == tc.rule) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s findings %v, want one at %s:%d (rule %q)", tc.check, c.Findings, tc.file, tc.line, tc.rule)
			}
			if r.OverallStatus != validation.StatusFailed || !r.RequiresHumanReview {
				t.Errorf("overall %s review %v, want failed and review", r.OverallStatus, r.RequiresHumanReview)
			}
			gate := tc.check == "tests" || r.Check(tc.check).Category == validation.CategoryCompile
			if gate != (r.ConfidenceScore == 0) {
				t.Errorf("confidence %v: a %s failure must gate the score to 0 exactly when it is a compile or test failure", r.ConfidenceScore, tc.check)
			}
			// Only the check at fault fails (the compile checks of the
			// same language may fail along with a syntax error).
			for _, other := range r.Checks {
				if other.Status == validation.StatusFailed && other.Name != tc.check && other.Category != validation.CategoryCompile &&
					!(tc.check != "tests" && other.Name == "tests") {
					t.Errorf("%s failed too: %s %v", other.Name, other.Reason, other.Findings)
				}
			}
		})
	}
}

// TestScannersFindWeakHashes: the third-party scanners (gosec, bandit) see
// what the built-in rules see, at the same place.
func TestScannersFindWeakHashes(t *testing.T) {
	_, mesh := sandboxed(t)
	tests := []struct {
		lang, check, file string
		line              int
		rule              string
	}{
		{"go", "gosec", "calc/digest.go", 10, "G401"},
		{"python", "bandit", "digest.py", 6, "B303"},
	}
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			t.Parallel()
			requireTools(t, mesh, tc.lang)
			r, err := mesh.Validate(t.Context(), loadProject(t, tc.lang+"/weak-hash", tc.lang))
			if err != nil {
				t.Fatal(err)
			}
			c := r.Check(tc.check)
			if c == nil || c.Status == validation.StatusSkipped || c.Status == validation.StatusPassed {
				t.Fatalf("%s = %+v, want findings", tc.check, c)
			}
			var got []string
			for _, f := range c.Findings {
				if f.File == tc.file && f.Line == tc.line && strings.HasPrefix(f.RuleID, tc.rule[:2]) {
					return
				}
				got = append(got, f.String())
			}
			t.Errorf("%s findings %v, want %s at %s:%d", tc.check, got, tc.rule, tc.file, tc.line)
		})
	}
}
