package delivery_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/delivery/gittest"
)

func TestDiffFiles(t *testing.T) {
	long := strings.Repeat("line\n", 20)
	cases := []struct {
		name     string
		from, to map[string][]byte
		want     []delivery.FileDiff // Diff checked by substrings below
		contains []string
	}{
		{name: "equal", from: map[string][]byte{"a.go": []byte("x\n")}, to: map[string][]byte{"a.go": []byte("x\n")}},
		{name: "added", from: map[string][]byte{}, to: map[string][]byte{"a.go": []byte("x\n")},
			want: []delivery.FileDiff{{Path: "a.go", Change: delivery.Added}}, contains: []string{"new file mode 100644", "--- /dev/null", "+++ b/a.go", "@@ -0,0 +1 @@", "+x"}},
		{name: "removed", from: map[string][]byte{"a.go": []byte("x\ny\n")}, to: map[string][]byte{},
			want: []delivery.FileDiff{{Path: "a.go", Change: delivery.Removed}}, contains: []string{"deleted file mode 100644", "+++ /dev/null", "@@ -1,2 +0,0 @@", "-x", "-y"}},
		{name: "modified", from: map[string][]byte{"m.go": []byte(long + "old\n" + long)}, to: map[string][]byte{"m.go": []byte(long + "new\n" + long)},
			want: []delivery.FileDiff{{Path: "m.go", Change: delivery.Modified}}, contains: []string{"--- a/m.go", "+++ b/m.go", "@@ -18,7 +18,7 @@", "-old", "+new"}},
		{name: "no newline at end", from: map[string][]byte{"n.txt": []byte("a\nb")}, to: map[string][]byte{"n.txt": []byte("a\nc")},
			want: []delivery.FileDiff{{Path: "n.txt", Change: delivery.Modified}}, contains: []string{"-b\n\\ No newline at end of file", "+c\n\\ No newline at end of file"}},
		{name: "binary", from: map[string][]byte{"i.png": {0x89, 'P', 0, 1}}, to: map[string][]byte{"i.png": {0x89, 'P', 0, 2}},
			want: []delivery.FileDiff{{Path: "i.png", Change: delivery.Modified, Binary: true}}, contains: []string{"Binary files a/i.png and b/i.png differ"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := delivery.DiffFiles(c.from, c.to)
			require.Len(t, got, len(c.want))
			for i := range got {
				d := got[i].Diff
				got[i].Diff = ""
				require.Equal(t, c.want[i], got[i])
				for _, s := range c.contains {
					require.Contains(t, d, s)
				}
			}
		})
	}
}

// TestUnifiedDiffAppliesToACheckout: the diff between two versions,
// applied with git apply (and with patch -p1) to a checkout of the first,
// gives exactly the second.
func TestUnifiedDiffAppliesToACheckout(t *testing.T) {
	v1 := map[string][]byte{}
	for k, v := range capsuleV1 {
		v1[k] = v
	}
	v1["docs/notes.txt"] = []byte("one\ntwo\nthree")
	v2 := map[string][]byte{}
	for k, v := range v1 {
		v2[k] = v
	}
	delete(v2, "shortener/store_test.go")
	v2["shortener/store.go"] = []byte("package shortener\n\n// Store keeps links, safely.\ntype Store struct{ n int }\n\nfunc (s *Store) Len() int { return s.n }\n")
	v2["shortener/new.go"] = []byte("package shortener\n\nconst Max = 10\n")
	v2["docs/notes.txt"] = []byte("one\n2\nthree\nfour")
	v2["qlp-manifest.json"] = []byte(`{"name":"shorty","version":2}`)
	patch := delivery.Unified(delivery.DiffFiles(v1, v2))
	require.NotEmpty(t, patch)

	for _, tool := range []string{"git apply", "patch"} {
		t.Run(tool, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range v1 {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, p), c, 0o644))
			}
			pf := filepath.Join(t.TempDir(), "v1-v2.diff")
			require.NoError(t, os.WriteFile(pf, []byte(patch), 0o644))
			if tool == "git apply" {
				gittest.Git(t, dir, "init", "--quiet")
				gittest.Git(t, dir, "apply", "--check", pf)
				gittest.Git(t, dir, "apply", pf)
				require.NoError(t, os.RemoveAll(filepath.Join(dir, ".git")))
			} else {
				if _, err := exec.LookPath("patch"); err != nil {
					t.Skip("patch is not installed")
				}
				cmd := exec.Command("patch", "-p1", "--batch", "--input", pf)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "%s", out)
			}
			got := map[string][]byte{}
			require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				b, err := os.ReadFile(p)
				got[filepath.ToSlash(rel)] = b
				return err
			}))
			require.Equal(t, v2, got)
		})
	}
}
