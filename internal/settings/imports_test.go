package settings_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// retired maps archived modules to their maintained successors: no file of
// the module may import them (they may still be indirect dependencies of
// other modules).
var retired = map[string]string{
	"gopkg.in/yaml.v3": "go.yaml.in/yaml/v3",
}

// TestNoRetiredImports: the configuration and every other YAML reader use
// the maintained YAML module, not the archived one.
func TestNoRetiredImports(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from the package directory: %v", err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if next, ok := retired[path]; ok {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s imports %s, which is archived: use %s", rel, path, next)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("only %d Go files checked; the walk missed the module", checked)
	}
}
