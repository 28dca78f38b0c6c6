package validation_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/validation"
)

// recorder is the real sandbox, remembering the commands it was asked to
// run, so that a test can tell what ran again from what was reused.
type recorder struct {
	sb   sandbox.Runner
	mu   sync.Mutex
	cmds []string
}

func (r *recorder) Run(ctx context.Context, spec sandbox.Spec, on func(sandbox.OutputChunk)) (*sandbox.Result, error) {
	r.mu.Lock()
	for _, c := range spec.Commands {
		r.cmds = append(r.cmds, strings.Join(c.Args, " "))
	}
	r.mu.Unlock()
	return r.sb.Run(ctx, spec, on)
}

// take returns the commands run since the last call.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.cmds
	r.cmds = nil
	slices.Sort(out)
	return out
}

// reuseProject: main imports a and c, a imports b; each package but main
// has a test.
func reuseProject(cBody string) validation.Request {
	test := func(pkg, call string) string {
		return "package " + pkg + "\n\nimport \"testing\"\n\nfunc TestIt(t *testing.T) { " + call + " }\n"
	}
	return validation.Request{Language: "go", Commands: validation.Commands{Build: "go build ./...", Test: "go test ./..."},
		Files: []validation.File{
			{Path: "go.mod", Content: "module ex.test/app\n\ngo 1.22\n"},
			{Path: "main.go", Content: "package main\n\nimport (\n\t\"fmt\"\n\n\t\"ex.test/app/a\"\n\t\"ex.test/app/c\"\n)\n\nfunc main() { fmt.Println(a.A(), c.C()) }\n"},
			{Path: "a/a.go", Content: "package a\n\nimport \"ex.test/app/b\"\n\n// A is B plus one.\nfunc A() int { return b.B() + 1 }\n"},
			{Path: "a/a_test.go", Content: test("a", `if A() != 2 { t.Fatal("A") }`)},
			{Path: "b/b.go", Content: "package b\n\n// B is one.\nfunc B() int { return 1 }\n"},
			{Path: "b/b_test.go", Content: test("b", `if B() != 1 { t.Fatal("B") }`)},
			{Path: "c/c.go", Content: cBody},
			{Path: "c/c_test.go", Content: test("c", `if C() == "" { t.Fatal("C") }`)},
		}}
}

const (
	cClean = "package c\n\nimport \"strings\"\n\n// C is c, shouted.\nfunc C() string { return strings.ToUpper(\"c\") }\n"
	// cVet has a defect go vet finds (a format verb of the wrong type).
	cVet = "package c\n\nimport \"fmt\"\n\n// C is c, formatted.\nfunc C() string { return fmt.Sprintf(\"%d\", \"c\") }\n"
)

// TestCapsuleReusesTaskResultsAndARepeatRerunsOnlyWhatChanged follows a
// one-task job and a repeat through the real tools in the sandbox: the
// capsule's validation of the task's files reuses the task's results;
// with one package changed, the whole-project checks (build, tests, QLP's
// rules) run again and go vet runs on that package and the one importing
// it alone, the others reused, to the same result a validation from nothing gives; another
// tenant reuses nothing. Quick validations keep it cheap: the lint
// checks are keyed the same way (TestCheckKeysFollowTheirInputs).
func TestCapsuleReusesTaskResultsAndARepeatRerunsOnlyWhatChanged(t *testing.T) {
	sb, shared := sandboxed(t)
	requireTools(t, shared, "go")
	rec := &recorder{sb: sb}
	mesh, err := validation.New(t.Context(), validation.Defaults(), validation.Deps{Logger: logx.Discard(), Sandbox: rec})
	if err != nil {
		t.Fatal(err)
	}
	as := func(tenant string) context.Context {
		return auth.WithPrincipal(t.Context(), auth.Principal{TenantID: tenant, KeyID: "test"})
	}
	validate := func(ctx context.Context, req validation.Request) *validation.Report {
		t.Helper()
		r, err := mesh.Validate(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d ms: %s", req.Label, r.DurationMS, r.Summary)
		return r
	}
	reused := func(r *validation.Report) map[string]validation.Reuse {
		out := map[string]validation.Reuse{}
		for _, c := range r.Checks {
			if c.Reused != nil {
				out[c.Name] = *c.Reused
			}
		}
		return out
	}

	// The task: quick and partial, as the workflow validates it.
	task := reuseProject(cClean)
	task.Label, task.Partial, task.Quick = "task t1 attempt 1", true, true
	r := validate(as("acme"), task)
	if r.OverallStatus == validation.StatusFailed || len(r.Reused) != 0 {
		t.Fatalf("task: %s, reused %v\n%+v", r.Summary, r.Reused, r.Checks)
	}
	rec.take()

	// The capsule of a one-task job: the same files, whole.
	capsule := reuseProject(cClean)
	capsule.Label, capsule.Quick = "capsule job1", true
	r = validate(as("acme"), capsule)
	for _, name := range []string{"go-build", "go-vet", "tests", "secrets", "patterns"} {
		c := r.Check(name)
		if c == nil || !c.Cached || c.Reused == nil || !slices.Equal(c.Reused.From, []string{"task t1 attempt 1"}) {
			t.Errorf("capsule: %s = %+v, want reused from the task", name, c)
		}
	}
	for _, name := range []string{"imports"} { // skipped in the partial task validation
		if c := r.Check(name); c == nil || c.Cached || c.Reused != nil || c.Status == validation.StatusSkipped {
			t.Errorf("capsule: %s = %+v, want run now", name, c)
		}
	}
	if !strings.Contains(r.Summary, "reused from earlier validations: ") {
		t.Errorf("capsule summary %q does not say what was reused", r.Summary)
	}
	if got := rec.take(); slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, "go ") }) {
		t.Errorf("capsule ran Go again: %v", got)
	}

	// A repeat with one package changed, adding a vet finding there.
	repeat := reuseProject(cVet)
	repeat.Label, repeat.Quick = "repeat", true
	r = validate(as("acme"), repeat)
	got := reused(r)
	if want := (validation.Reuse{Units: 4, Reused: 2, From: []string{"task t1 attempt 1"}}); !equalReuse(got["go-vet"], want) {
		t.Errorf("repeat: go-vet reuse %+v, want %+v", got["go-vet"], want)
	}
	for _, name := range []string{"go-build", "tests", "secrets", "patterns", "imports", "commands"} {
		if _, ok := got[name]; ok {
			t.Errorf("repeat: %s reused, want run again (its inputs changed)", name)
		}
	}
	ran := rec.take()
	var vet []string
	for _, c := range ran {
		if strings.HasPrefix(c, "go vet") {
			vet = append(vet, c)
		}
	}
	if !slices.Equal(vet, []string{"go vet . ./c"}) || !slices.Contains(ran, "go build ./...") || !slices.Contains(ran, "go test -json ./...") {
		t.Errorf("repeat ran %v, want go vet of c and of main (which imports c) alone, the build and the tests", ran)
	}
	vetRepeat := r.Check("go-vet")
	if vetRepeat.Status != validation.StatusFailed || len(vetRepeat.Findings) == 0 || vetRepeat.Findings[0].File != "c/c.go" {
		t.Errorf("repeat: go-vet %s %v, want failed at c/c.go", vetRepeat.Status, vetRepeat.Findings)
	}

	// Another tenant, the same files: nothing reused, and the same result.
	r2 := validate(as("globex"), repeat)
	if len(r2.Reused) != 0 {
		t.Errorf("another tenant reused %v", r2.Reused)
	}
	vet2 := r2.Check("go-vet")
	if vet2.Status != vetRepeat.Status || !slices.Equal(findingKeys(vet2.Findings), findingKeys(vetRepeat.Findings)) {
		t.Errorf("go-vet from nothing %s %v, partly reused %s %v: want the same", vet2.Status, vet2.Findings, vetRepeat.Status, vetRepeat.Findings)
	}
	if r2.OverallStatus != r.OverallStatus || r2.ConfidenceScore != r.ConfidenceScore {
		t.Errorf("from nothing %s %.3f, partly reused %s %.3f", r2.OverallStatus, r2.ConfidenceScore, r.OverallStatus, r.ConfidenceScore)
	}
}

func equalReuse(a, b validation.Reuse) bool {
	return a.Units == b.Units && a.Reused == b.Reused && slices.Equal(a.From, b.From)
}

func findingKeys(fs []validation.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}

// TestPythonRepeatRerunsOnlyTheChangedFile: the checks that read each
// Python file by itself run again on the changed file alone; a syntax
// error there is found as a validation from nothing finds it.
func TestPythonRepeatRerunsOnlyTheChangedFile(t *testing.T) {
	sb, shared := sandboxed(t)
	requireTools(t, shared, "python")
	rec := &recorder{sb: sb}
	mesh, err := validation.New(t.Context(), validation.Defaults(), validation.Deps{Logger: logx.Discard(), Sandbox: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := auth.WithPrincipal(t.Context(), auth.Principal{TenantID: "acme", KeyID: "test"})
	project := func(b string) validation.Request {
		return validation.Request{Language: "python", Quick: true, Label: "py", Files: []validation.File{
			{Path: "a.py", Content: "def a():\n    return 1\n"},
			{Path: "b.py", Content: b},
			{Path: "c.py", Content: "def c():\n    return 3\n"},
			{Path: "test_a.py", Content: "from a import a\n\n\ndef test_a():\n    assert a() == 1\n"},
		}}
	}
	if _, err := mesh.Validate(ctx, project("def b():\n    return 2\n")); err != nil {
		t.Fatal(err)
	}
	rec.take()
	r, err := mesh.Validate(ctx, project("def b(:\n    return 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"py-compile", "pyflakes"} {
		c := r.Check(name)
		if c.Reused == nil || c.Reused.Units != 4 || c.Reused.Reused != 3 {
			t.Errorf("%s reuse %+v, want 3 of 4 files", name, c.Reused)
		}
	}
	if c := r.Check("py-compile"); c.Status != validation.StatusFailed || len(c.Findings) != 1 || c.Findings[0].File != "b.py" {
		t.Errorf("py-compile %s %v, want the syntax error in b.py", c.Status, c.Findings)
	}
	for _, cmd := range rec.take() {
		if strings.Contains(cmd, "pyflakes") && !strings.HasSuffix(cmd, "pyflakes b.py") {
			t.Errorf("ran %q, want pyflakes of b.py alone", cmd)
		}
	}
}
