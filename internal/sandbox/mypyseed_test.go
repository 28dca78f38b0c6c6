package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsesMypy(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"python3", "-I", "-m", "mypy", "app.py"}, true},
		{[]string{"/usr/bin/mypy", "app.py"}, true},
		{[]string{"python3", "-m", "pytest", "-q"}, false},
		{[]string{"python3", "mypy.py"}, false},
		{[]string{"python3", "-m"}, false},
	} {
		if got := usesMypy([]Command{{Args: tc.args}}); got != tc.want {
			t.Errorf("usesMypy(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestMypySeed: a Python run that runs mypy starts from the seed (mypy
// finds the standard library's analysis fresh in its cache), cannot write
// into the seed, and what it writes into its own cache reaches neither
// the seed nor the next run.
func TestMypySeed(t *testing.T) {
	require := os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1"
	if _, err := exec.LookPath("bwrap"); err != nil {
		if require {
			t.Fatalf("bwrap is not installed (QLP_TEST_REQUIRE_SERVICES=1): %v", err)
		}
		t.Skip("bwrap is not installed")
	}
	cfg := Defaults()
	cfg.Backend, cfg.GoCacheSeed = BackendBwrap, false
	// The sandbox uid must be able to reach the seed it binds.
	seeds, err := os.MkdirTemp("", "qlp-mypy-seed-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(seeds) })
	if err := os.Chmod(seeds, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.GoCacheSeedDir = seeds
	r, err := NewLocal(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	if r.langs["python"] == nil {
		if require {
			t.Fatal("python3 was not found by the runner's language detection (QLP_TEST_REQUIRE_SERVICES=1)")
		}
		t.Skip("python3 is not installed here")
	}
	seed, err := r.mypyCacheSeed(t.Context())
	if err != nil {
		t.Fatalf("mypy seed: %v", err)
	}
	if seed == "" {
		if require {
			t.Fatal("the sandbox's python3 has no mypy (QLP_TEST_REQUIRE_SERVICES=1): run scripts/install-deps.sh test")
		}
		t.Skip("the sandbox's python3 has no mypy")
	}
	if filepath.Dir(seed) != seeds || !strings.HasPrefix(filepath.Base(seed), "mypy-") {
		t.Fatalf("seed %s is not a mypy- entry of the seed directory %s", seed, seeds)
	}
	before := treeDigest(t, seed)

	mypy := append(append([]string{"python3", "-I", "-m", "mypy"}, MypyFlags()...), "-v", "app.py")
	spec := Spec{Language: "python", Files: []File{{Path: "app.py", Content: []byte("import json\n\n\ndef f(x: int) -> str:\n    return json.dumps(x)\n")}},
		Commands: []Command{
			{Name: "mypy", Args: mypy, ContinueOnFailure: true},
			{Name: "poison", Args: []string{"sh", "-c", `for f in ` + mypySeedPath + `/*/builtins.data.json; do
  if echo poison > "$f" 2>/dev/null; then echo "wrote the seed"; else echo "seed refused"; fi
done
for f in "$MYPY_CACHE_DIR"/*/builtins.*.json; do echo poison > "$f"; done
ls "$MYPY_CACHE_DIR"/*/builtins.data.json >/dev/null && echo "own cache written"`}},
		}}
	run := func() *Result {
		t.Helper()
		res, err := r.Run(t.Context(), spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Commands) != 2 {
			t.Fatalf("run: %s %s, %d commands", res.Status, res.Reason, len(res.Commands))
		}
		return res
	}
	for i := range 2 {
		res := run()
		m, p := res.Commands[0], res.Commands[1]
		if m.ExitCode != 0 {
			t.Fatalf("run %d: mypy exited %d: %s", i+1, m.ExitCode, lastLines(m.Stdout+m.Stderr, 10))
		}
		if !strings.Contains(m.Stderr, "Metadata fresh for builtins") {
			t.Fatalf("run %d: mypy did not use the seed for builtins:\n%s", i+1, grepLines(m.Stderr, "builtins"))
		}
		if !strings.Contains(p.Stdout, "seed refused") || strings.Contains(p.Stdout, "wrote the seed") || !strings.Contains(p.Stdout, "own cache written") {
			t.Fatalf("run %d: writing into the seed and the run's own cache: %q %q", i+1, p.Stdout, p.Stderr)
		}
	}
	if after := treeDigest(t, seed); after != before {
		t.Fatal("the seed changed during the runs")
	}
}

// treeDigest digests the names, contents and modification times of a tree.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d\n", p, fi.Mode(), fi.ModTime().UnixNano())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
