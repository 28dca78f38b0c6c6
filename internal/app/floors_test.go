package app

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/quantumlayer/qlp/"

// floors is docs/architecture.md's "The floors" table: a package may import
// packages on its own floor or below, never above. The longest matching
// prefix decides.
var floors = map[string]int{
	"cmd/qlp":         5,
	"internal/cli":    5,
	"internal/e2e":    5,
	"internal/app":    4,
	"internal/config": 4,

	"internal/orchestrator": 3,
	"internal/workflow":     3,
	"internal/agents":       3,
	"internal/validation":   3,
	"internal/sandbox":      3,
	"internal/memory":       3,
	"internal/costs":        3,
	"internal/budget":       3,
	"internal/backup":       3,
	"internal/marketing":    3,
	"internal/retest":       3,
	"internal/logx/logtest": 1,
	"internal/progress":     3,
	"internal/mcpserver":    3,
	"internal/console":      3,
	"internal/eval":         3,

	"internal/llm":             2,
	"internal/answer":          2,
	"internal/capsule":         2,
	"internal/delivery":        2,
	"internal/forge":           2,
	"internal/store":           2,
	"internal/engine":          2,
	"internal/blob":            2,
	"internal/pricing":         2,
	"internal/redisx":          2,
	"internal/policy":          2,
	"internal/domain":          1,
	"internal/sandbox/jail":    2,
	"internal/sandbox/seccomp": 2,

	"internal/vocab":        1,
	"internal/settings":     1,
	"internal/httpx":        1,
	"internal/auth":         1,
	"internal/logx":         1,
	"internal/ratelimit":    1,
	"internal/sandbox/wire": 1,
	"internal/telemetry":    1,
}

func floorOf(pkg string) (int, bool) {
	best, floor := "", 0
	for p, f := range floors {
		if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
			best, floor = p, f
		}
	}
	return floor, best != ""
}

// TestImportsPointDown keeps the house's floors: no package imports one on
// a floor above its own, and every package is on a floor.
func TestImportsPointDown(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, top := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			pkg := filepath.ToSlash(rel)
			own, ok := floorOf(pkg)
			if !ok {
				t.Errorf("%s is on no floor: add it to floors and to docs/architecture.md", pkg)
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(p, module) {
					continue
				}
				dep := strings.TrimPrefix(p, module)
				if floor, ok := floorOf(dep); ok && floor > own {
					t.Errorf("%s (floor %d) imports %s (floor %d)", rel+"/"+d.Name(), own, dep, floor)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
