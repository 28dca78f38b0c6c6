package sandbox_test

import (
	"testing"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// TestLanguages runs a correct and an incorrect program in every language
// this host has, under the default backend.
func TestLanguages(t *testing.T) {
	t.Parallel() // after the sequential suites: see http_test.go
	r := runnerFor(t, sandbox.BackendBwrap)
	have := map[string]bool{}
	for _, l := range r.Languages() {
		have[l.Name] = true
	}
	tests := []struct {
		lang, name, mode string
		files            []sandbox.File
		status           sandbox.Status
	}{
		{"python", "pytest passes", "test", files("calc.py", "def add(a, b):\n    return a + b\n", "test_calc.py", "from calc import add\ndef test_add():\n    assert add(2, 3) == 5\n"), sandbox.StatusCompleted},
		{"python", "pytest fails", "test", files("calc.py", "def add(a, b):\n    return a - b\n", "test_calc.py", "from calc import add\ndef test_add():\n    assert add(2, 3) == 5\n"), sandbox.StatusFailed},
		{"python", "syntax error", "run", files("main.py", "def broken(:\n"), sandbox.StatusFailed},
		{"javascript", "node --test passes", "test", files("add.test.js", "const test = require('node:test'); const assert = require('node:assert');\ntest('add', () => assert.strictEqual(1 + 1, 2));\n"), sandbox.StatusCompleted},
		{"javascript", "node --test fails", "test", files("add.test.js", "const test = require('node:test'); const assert = require('node:assert');\ntest('add', () => assert.strictEqual(1 + 1, 3));\n"), sandbox.StatusFailed},
		{"typescript", "compiles and runs", "run", files("main.ts", "const n: number = 41;\nconsole.log(n + 1);\n"), sandbox.StatusCompleted},
		{"typescript", "type error", "build", files("main.ts", "const n: number = 'not a number';\n"), sandbox.StatusFailed},
		{"go", "go test passes", "test", files("go.mod", "module calc\n\ngo 1.21\n", "calc.go", "package calc\n\nfunc Add(a, b int) int { return a + b }\n", "calc_test.go", "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(2, 3) != 5 {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n"), sandbox.StatusCompleted},
		{"go", "go test fails", "test", files("go.mod", "module calc\n\ngo 1.21\n", "calc.go", "package calc\n\nfunc Add(a, b int) int { return a - b }\n", "calc_test.go", "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(2, 3) != 5 {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n"), sandbox.StatusFailed},
		{"go", "compile error", "build", files("go.mod", "module calc\n\ngo 1.21\n", "calc.go", "package calc\n\nfunc Add(a, b int) int { return a + }\n"), sandbox.StatusFailed},
		{"bash", "runs", "run", files("main.sh", "echo ok"), sandbox.StatusCompleted},
		{"bash", "syntax error", "build", files("main.sh", "if then fi"), sandbox.StatusFailed},
		{"java", "compiles and runs", "run", files("Main.java", "public class Main { public static void main(String[] a) { System.out.println(42); } }\n"), sandbox.StatusCompleted},
		{"java", "compile error", "run", files("Main.java", "public class Main { void f() { int x = \"s\"; } }\n"), sandbox.StatusFailed},
		{"rust", "tests pass", "test", files("main.rs", "fn add(a: i32, b: i32) -> i32 { a + b }\nfn main() {}\n#[test]\nfn t() { assert_eq!(add(2, 3), 5); }\n"), sandbox.StatusCompleted},
		{"rust", "compile error", "build", files("main.rs", "fn main() { let x: i32 = \"s\"; }\n"), sandbox.StatusFailed},
	}
	for _, tc := range tests {
		t.Run(tc.lang+"/"+tc.name, func(t *testing.T) {
			if !have[tc.lang] {
				if requireServices() {
					t.Fatalf("%s is not installed on this host (QLP_TEST_REQUIRE_SERVICES=1): run scripts/install-deps.sh test", tc.lang)
				}
				t.Skipf("%s is not installed on this host; run scripts/install-deps.sh test", tc.lang)
			}
			res, err := r.Run(t.Context(), sandbox.Spec{Language: tc.lang, Mode: tc.mode, Files: tc.files, Collect: []string{"report.xml"},
				Limits: sandbox.Limits{WallTime: sandbox.Duration(120e9), CPUTime: sandbox.Duration(120e9), MemoryBytes: 1 << 30}}, nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Status != tc.status {
				last := res.Commands[len(res.Commands)-1]
				t.Fatalf("status %s (%s), want %s\nstdout: %s\nstderr: %s", res.Status, res.Reason, tc.status, clip(last.Stdout), clip(last.Stderr))
			}
			if (res.Status == sandbox.StatusCompleted) != (res.ExitCode == 0) {
				t.Errorf("exit code %d with status %s", res.ExitCode, res.Status)
			}
			if tc.lang == "python" && tc.mode == "test" && len(res.Files) != 1 {
				t.Errorf("pytest's junit report was not collected: %+v", res.Notes)
			}
		})
	}
}
