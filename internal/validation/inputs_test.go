package validation

import (
	"maps"
	"slices"
	"sort"
	"testing"
)

// goProject: main imports a, a imports b, c stands alone and its tests
// read testdata.
func goProject() Request {
	return Request{Language: "go", Label: "base", Commands: Commands{Build: "go build ./...", Test: "go test ./..."},
		Files: []File{
			{Path: "go.mod", Content: "module ex.test/app\n\ngo 1.22\n"},
			{Path: "main.go", Content: "package main\n\nimport \"ex.test/app/a\"\n\nfunc main() { a.A() }\n"},
			{Path: "a/a.go", Content: "package a\n\nimport \"ex.test/app/b\"\n\nfunc A() int { return b.B() }\n"},
			{Path: "a/a_test.go", Content: "package a\n\nimport \"testing\"\n\nfunc TestA(t *testing.T) { _ = A() }\n"},
			{Path: "b/b.go", Content: "package b\n\nfunc B() int { return 1 }\n"},
			{Path: "c/c.go", Content: "package c\n\nimport \"strings\"\n\nfunc C() string { return strings.ToUpper(\"c\") }\n"},
			{Path: "c/testdata/in.txt", Content: "input\n"},
			{Path: "README.md", Content: "# app\n"},
		}}
}

func pyProject() Request {
	return Request{Language: "python", Label: "base", Files: []File{
		{Path: "app.py", Content: "def f():\n    return 1\n"},
		{Path: "test_app.py", Content: "from app import f\n\n\ndef test_f():\n    assert f() == 1\n"},
		{Path: "setup.cfg", Content: "[flake8]\nmax-line-length = 100\n"},
		{Path: "data.json", Content: "{}\n"},
	}}
}

// keysOf is every cache key of a validation of req: check name, or
// check:package for the per-package checks.
func keysOf(t *testing.T, m *Mesh, tenant string, req Request) map[string]string {
	t.Helper()
	p, err := m.cfg.checkRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range m.checkers {
		if !c.appliesTo(p.lang) {
			continue
		}
		for _, u := range c.units(p) {
			name := c.name
			if u.name != "" {
				name += ":" + u.name
			}
			if _, dup := out[name]; dup {
				t.Fatalf("two units named %s", name)
			}
			out[name] = m.unitKey(tenant, c, p, u)
		}
	}
	return out
}

func withFile(req Request, path, content string) Request {
	req.Files = slices.Clone(req.Files)
	for i, f := range req.Files {
		if f.Path == path {
			req.Files[i].Content = content
			return req
		}
	}
	req.Files = append(req.Files, File{Path: path, Content: content})
	return req
}

// TestCheckKeysFollowTheirInputs: changing one input changes exactly the
// keys of the checks (and packages) that read it, and nothing that does
// not change a result (the label, quick, partial) changes any key.
func TestCheckKeysFollowTheirInputs(t *testing.T) {
	m := &Mesh{cfg: Defaults(), tools: map[string]toolInfo{}, checkers: checkers()}
	// The keys that read the whole project (the tests can read any file;
	// QLP's rules and the consistency checks look at every file).
	wholeGo := []string{"tests", "secrets", "patterns", "imports", "commands"}
	goChecks := []string{"go-vet", "staticcheck", "gosec"}
	pkgs := func(dirs ...string) []string {
		var out []string
		for _, c := range goChecks {
			for _, d := range dirs {
				out = append(out, c+":"+d)
			}
		}
		return out
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	pyFile := func(files ...string) []string {
		var out []string
		for _, c := range []string{"py-compile", "pyflakes", "flake8", "black", "bandit"} {
			for _, f := range files {
				out = append(out, c+":"+f)
			}
		}
		return out
	}
	tests := []struct {
		name   string
		base   Request
		change func(Request) Request
		tenant string
		want   []string // the keys that change
	}{
		{"a leaf package's file: the packages importing it, transitively", goProject(),
			func(r Request) Request { return withFile(r, "b/b.go", "package b\n\nfunc B() int { return 2 }\n") }, "",
			cat(wholeGo, []string{"go-build", "gofmt:b"}, pkgs(".", "a", "b"))},
		{"a package nothing imports: that package alone", goProject(),
			func(r Request) Request {
				return withFile(r, "c/c.go", "package c\n\nfunc C() string { return \"c\" }\n")
			}, "",
			cat(wholeGo, []string{"go-build", "gofmt:c"}, pkgs("c"))},
		{"a test file: its package and its importers", goProject(),
			func(r Request) Request {
				return withFile(r, "a/a_test.go", "package a\n\nimport \"testing\"\n\nfunc TestA(t *testing.T) {}\n")
			}, "",
			cat(wholeGo, []string{"go-build", "gofmt:a"}, pkgs(".", "a"))},
		{"testdata: only what can read it", goProject(),
			func(r Request) Request { return withFile(r, "c/testdata/in.txt", "other\n") }, "", wholeGo},
		{"a README: only what reads every file", goProject(),
			func(r Request) Request { return withFile(r, "README.md", "# app, documented\n") }, "", wholeGo},
		{"go.mod: every Go check but gofmt", goProject(),
			func(r Request) Request { return withFile(r, "go.mod", "module ex.test/app\n\ngo 1.23\n") }, "",
			cat(wholeGo, []string{"go-build"}, pkgs(".", "a", "b", "c"))},
		{"go.sum appearing: every Go check but gofmt", goProject(),
			func(r Request) Request { return withFile(r, "go.sum", "") }, "",
			cat(wholeGo, []string{"go-build"}, pkgs(".", "a", "b", "c"))},
		{"a package appearing that another imports: its units, and those of its importers",
			withFile(goProject(), "b/b.go", "package b\n\nimport \"ex.test/app/d\"\n\nfunc B() int { return d.D }\n"),
			func(r Request) Request { return withFile(r, "d/d.go", "package d\n\nconst D = 1\n") }, "",
			cat(wholeGo, []string{"go-build", "gofmt:d"}, pkgs(".", "a", "b", "d"))},
		{"staticcheck.conf: the checks of every package", goProject(),
			func(r Request) Request { return withFile(r, "a/staticcheck.conf", "checks = [\"all\"]\n") }, "",
			cat(wholeGo, []string{"go-build"}, pkgs(".", "a", "b", "c"))},
		{"the test command: only what reads the commands", goProject(),
			func(r Request) Request { r.Commands.Test = "go test -count=1 ./..."; return r }, "", wholeGo},
		{"declared dependencies: every key", goProject(),
			func(r Request) Request { r.Dependencies = []string{"golang.org/x/text v0.14.0"}; return r }, "",
			cat(wholeGo, []string{"go-build", "gofmt:.", "gofmt:a", "gofmt:b", "gofmt:c"}, pkgs(".", "a", "b", "c"))},
		{"another tenant: every key", goProject(), func(r Request) Request { return r }, "globex",
			cat(wholeGo, []string{"go-build", "gofmt:.", "gofmt:a", "gofmt:b", "gofmt:c"}, pkgs(".", "a", "b", "c"))},
		{"label, quick and partial: no key", goProject(),
			func(r Request) Request {
				r.Label, r.Quick, r.Partial, r.SkipTests = "capsule", true, true, true
				return r
			}, "", nil},
		{"a Python source: the per-file checks of that file, mypy and the whole-project ones", pyProject(),
			func(r Request) Request { return withFile(r, "app.py", "def f():\n    return 2\n") }, "",
			cat(pyFile("app.py"), []string{"mypy", "tests", "secrets", "patterns", "imports", "commands"})},
		{"Python configuration: every Python check", pyProject(),
			func(r Request) Request { return withFile(r, "setup.cfg", "[flake8]\nmax-line-length = 120\n") }, "",
			cat(pyFile("app.py", "test_app.py"), []string{"mypy", "tests", "secrets", "patterns", "imports", "commands"})},
		{"a data file: not the Python linters", pyProject(),
			func(r Request) Request { return withFile(r, "data.json", "{\"a\": 1}\n") }, "",
			[]string{"tests", "secrets", "patterns", "imports", "commands"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := keysOf(t, m, "acme", tt.base)
			tenant := "acme"
			if tt.tenant != "" {
				tenant = tt.tenant
			}
			after := keysOf(t, m, tenant, tt.change(tt.base))
			var changed []string
			for name, k := range after {
				if before[name] != k {
					changed = append(changed, name)
				}
			}
			// A unit that disappeared changed too.
			for name := range before {
				if _, ok := after[name]; !ok {
					changed = append(changed, name)
				}
			}
			sort.Strings(changed)
			want := slices.Clone(tt.want)
			sort.Strings(want)
			if !slices.Equal(changed, want) {
				t.Errorf("changed keys = %v\nwant %v\n(units: %v)", changed, want, slices.Sorted(maps.Keys(after)))
			}
		})
	}
}

// TestGoPackageUnitsFallBackToTheWhole: what the per-package split cannot
// follow (embedded files, build constraints, a nested module, a file that
// does not parse) is keyed by more, never by less.
func TestGoPackageUnitsFallBackToTheWhole(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		body  string
		units []string // nil: the check is cached whole
		// wantAll: the package units depend on every toolchain file.
		wantAll string
	}{
		{"go:embed", "c/c.go", "package c\n\nimport _ \"embed\"\n\n//go:embed testdata/in.txt\nvar in string\n", nil, ""},
		{"build constraints", "c/c_linux.go", "//go:build linux\n\npackage c\n", nil, ""},
		{"nested module", "c/go.mod", "module ex.test/c\n", nil, ""},
		{"unparsable file", "c/c.go", "package c\n\nimport (\n", []string{".", "a", "b", "c"}, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			p, err := cfg.checkRequest(withFile(goProject(), tt.path, tt.body))
			if err != nil {
				t.Fatal(err)
			}
			us := goPackageUnits(p)
			var names []string
			for _, u := range us {
				names = append(names, u.name)
				if u.name == tt.wantAll && !slices.Equal(u.inputs, goToolFiles(p)) {
					t.Errorf("unit %s inputs = %v, want every toolchain file", u.name, u.inputs)
				}
			}
			if !slices.Equal(names, tt.units) {
				t.Errorf("units = %v, want %v", names, tt.units)
			}
		})
	}
}

// TestSplitByUnit: a run over several packages is cached per package only
// when every finding belongs to one of them and a failure is explained by
// findings.
func TestSplitByUnit(t *testing.T) {
	units := []unitRun{{unit: unit{name: "a", own: []string{"a/a.go"}}}, {unit: unit{name: "b", own: []string{"b/b.go"}}}}
	fa := Finding{File: "a/a.go", Line: 1, Severity: SeverityHigh}
	tests := []struct {
		name   string
		in     outcome
		ok     bool
		status []string
	}{
		{"clean", outcome{}, true, []string{"", ""}},
		{"a finding in a", outcome{findings: []Finding{fa}}, true, []string{"", ""}},
		{"failed with a finding in a", outcome{status: StatusFailed, reason: "go vet failed", findings: []Finding{fa}}, true, []string{StatusFailed, ""}},
		{"failed without findings", outcome{status: StatusFailed, reason: "go vet failed: go: updates to go.mod needed"}, false, nil},
		{"a finding elsewhere", outcome{findings: []Finding{{File: "d/d.go"}}}, false, nil},
		{"a finding without a file", outcome{findings: []Finding{{Message: "x"}}}, false, nil},
		{"a warning", outcome{status: StatusWarning}, false, nil},
		{"test counts", outcome{tests: &TestRun{}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, ok := splitByUnit(tt.in, units)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			for i, st := range tt.status {
				if parts[i].status != st {
					t.Errorf("unit %d status %q, want %q", i, parts[i].status, st)
				}
			}
			if ok && len(parts[0].findings)+len(parts[1].findings) != len(tt.in.findings) {
				t.Errorf("findings split %v %v, want all of %v", parts[0].findings, parts[1].findings, tt.in.findings)
			}
		})
	}
}
