package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGoSeedOutlivesRequest: the Go build-cache seed is built under the
// runner's lifetime; a first Go run whose request is cancelled must not
// leave every later run without it, and Close stops the build.
func TestGoSeedOutlivesRequest(t *testing.T) {
	cfg := Defaults()
	cfg.Backend, cfg.AllowUnsafe = BackendUnsafeLocal, true
	cfg.GoCacheSeedDir = t.TempDir() // empty: this runner must build it
	r, err := NewLocal(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.langs["go"] == nil {
		_ = r.Close()
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("go was not found by the runner's language detection (QLP_TEST_REQUIRE_SERVICES=1)")
		}
		t.Skip("go is not installed here")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	spec := Spec{Language: "go", Files: []File{{Path: "main.go", Content: []byte("package main\n\nfunc main() {}\n")}}}
	if err := r.Prepare(ctx, spec); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	select {
	case <-r.goSeedDone:
		t.Fatalf("the seed build ended with the first request: %v", r.goSeedErr)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.goSeedDone:
	default:
		t.Fatal("Close returned while the seed build was still running")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Close took %s to stop the seed build", d)
	}
}

// TestGoSeedIsKeptForTheNextRunner: WarmUp builds the seed without a run
// asking for it, into the seed directory, and a later runner (a restarted
// process) with the same go finds it there instead of building it again.
// A seed directory without its completion mark is not used.
func TestGoSeedIsKeptForTheNextRunner(t *testing.T) {
	cfg := Defaults()
	cfg.Backend, cfg.AllowUnsafe = BackendUnsafeLocal, true
	cfg.GoCacheSeedDir = t.TempDir()
	cfg.MypyCacheSeed = false // WarmUp would build it into the same directory (TestMypySeed covers it)
	warm := func() (*Local, time.Duration) {
		t.Helper()
		r, err := NewLocal(t.Context(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		// The standard library's fmt alone: the same steps in seconds.
		r.seedSource = "package seed\n\nimport \"fmt\"\n\nvar _ = fmt.Sprint\n"
		if r.langs["go"] == nil {
			if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
				t.Fatal("go was not found by the runner's language detection (QLP_TEST_REQUIRE_SERVICES=1)")
			}
			t.Skip("go is not installed here")
		}
		start := time.Now()
		r.WarmUp()
		select {
		case <-r.goSeedDone:
		case <-time.After(5 * time.Minute):
			t.Fatal("the seed was not built within 5 minutes")
		}
		if r.goSeedErr != nil {
			t.Fatalf("seed: %v", r.goSeedErr)
		}
		return r, time.Since(start)
	}
	first, built := warm()
	if filepath.Dir(first.goSeed) != cfg.GoCacheSeedDir {
		t.Fatalf("seed %s is not in the seed directory %s", first.goSeed, cfg.GoCacheSeedDir)
	}
	entries, err := os.ReadDir(cfg.GoCacheSeedDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("the seed directory holds %d entries, want the seed alone (no build leftovers)", len(entries))
	}
	if _, err := os.Stat(filepath.Join(first.goSeed, seedComplete)); err != nil {
		t.Fatalf("the seed has no completion mark: %v", err)
	}
	// With staticcheck on the host, the seed holds its analysis of the
	// standard library (the runs' STATICCHECK_CACHE is in their GOCACHE).
	if lookPathIn("staticcheck", basePath) != "" {
		if fi, err := os.Stat(filepath.Join(first.goSeed, "staticcheck")); err != nil || !fi.IsDir() {
			t.Fatalf("the seed holds no staticcheck cache: %v", err)
		}
	} else if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal("staticcheck is not installed (QLP_TEST_REQUIRE_SERVICES=1): scripts/deps/validation.sh installs it")
	}
	second, reused := warm()
	if second.goSeed != first.goSeed {
		t.Fatalf("the second runner's seed is %s, want the first's %s", second.goSeed, first.goSeed)
	}
	if reused > built/2 {
		t.Errorf("the second runner took %s for the seed, the first %s to build it: not reused", reused, built)
	}

	// An unfinished seed (no mark) is built again, not used.
	if err := os.Remove(filepath.Join(first.goSeed, seedComplete)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(first.goSeed, "00")); err != nil {
		t.Fatal(err)
	}
	third, _ := warm()
	if third.goSeed != first.goSeed {
		t.Fatalf("the rebuilt seed is %s, want %s", third.goSeed, first.goSeed)
	}
	if _, err := os.Stat(filepath.Join(third.goSeed, seedComplete)); err != nil {
		t.Fatalf("the rebuilt seed has no completion mark: %v", err)
	}
}

// TestSeedDirMustBeReachable: a seed directory the sandbox user cannot
// reach (under a 0700 directory, as mktemp -d makes) is refused with the
// fix named, instead of every run that binds it failing to start.
func TestSeedDirMustBeReachable(t *testing.T) {
	closed := t.TempDir()
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.MkdirAll(filepath.Join(open, "seeds"), 0o755); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's own parents are 0700: open them up for this case.
	for d := open; d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		uid     int
		backend string
		dir     string
		wantErr string
	}{
		{"closed parent, other uid", 65534, BackendBwrap, filepath.Join(closed, "seeds"), "chmod o+x " + closed},
		{"open parents, other uid", 65534, BackendBwrap, filepath.Join(open, "seeds"), ""},
		{"closed parent, own uid", -1, BackendBwrap, filepath.Join(closed, "seeds"), ""},
		{"closed parent, unsafe-local", 65534, BackendUnsafeLocal, filepath.Join(closed, "seeds"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Local{hostUID: tc.uid, cfg: Config{Backend: tc.backend}}
			err := r.reachable(tc.dir)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("reachable(%s) = %v, want nil", tc.dir, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("reachable(%s) = %v, want an error naming %q", tc.dir, err, tc.wantErr)
			}
		})
	}
}
