package localstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/memory/localstore"
	"github.com/quantumlayer/qlp/internal/memory/memorytest"
	"github.com/quantumlayer/qlp/internal/memory/vector"
)

func openStore(t testing.TB, dir string, snapshotBytes int64) *localstore.Store {
	t.Helper()
	s, err := localstore.Open(context.Background(), localstore.Config{Dir: dir, SnapshotBytes: snapshotBytes, ExactBelow: 500})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	for _, snap := range []int64{0, 4096} { // never, and very often
		t.Run(fmt.Sprint("snapshot every ", snap, " bytes"), func(t *testing.T) {
			dirs := map[vector.Store]string{}
			memorytest.Run(t, memorytest.Harness{
				New: func(t *testing.T) vector.Store {
					dir := t.TempDir()
					s := openStore(t, dir, snap)
					dirs[s] = dir
					return s
				},
				Reopen: func(t *testing.T, s vector.Store) vector.Store {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					return openStore(t, dirs[s], snap)
				},
				Large: 1500,
			})
		})
	}
}

func TestSecondProcessIsLockedOut(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 0)
	defer s.Close()
	_, err := localstore.Open(t.Context(), localstore.Config{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v, want 'in use'", err)
	}
}

func TestTornTailIsDropped(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 0)
	ctx := t.Context()
	if err := s.EnsureCollection(ctx, vector.CodePatterns, 8); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: memorytest.ID(i), Tenant: "t", Vector: memorytest.Unit(8, i, 0)}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	logs, _ := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if len(logs) != 1 {
		t.Fatalf("want one log, found %v", logs)
	}
	// Simulate a write cut short: half a frame of garbage at the end.
	f, err := os.OpenFile(logs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5, 6})
	f.Close()
	s = openStore(t, dir, 0)
	defer s.Close()
	n, err := s.Count(ctx, vector.CodePatterns, "t", vector.Filter{})
	if err != nil || n != 3 {
		t.Fatalf("after a torn tail: Count = %d, %v; want 3", n, err)
	}
	// And the log accepts writes again.
	if err := s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: memorytest.ID(9), Tenant: "t", Vector: memorytest.Unit(8, 1, 0)}}); err != nil {
		t.Fatal(err)
	}
}

// TestKillDuringWrites runs a child process that writes points one by one and
// prints each id once Upsert has returned; the test kills it with SIGKILL in
// the middle, reopens the store and checks that every acknowledged point is
// there and at most one unacknowledged one is.
func TestKillDuringWrites(t *testing.T) {
	if dir := os.Getenv("QLP_MEMORY_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for _, tt := range []struct {
		name     string
		snapshot string
		acked    int
	}{
		{"log only", "0", 150},
		{"with snapshots", "20000", 300}, // snapshots are taken while writing
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringWrites$")
			cmd.Env = append(os.Environ(), "QLP_MEMORY_CRASH_CHILD="+dir, "QLP_MEMORY_CRASH_SNAPSHOT="+tt.snapshot)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[string]bool{}
			sc := bufio.NewScanner(out)
			deadline := time.After(60 * time.Second)
			for len(acked) < tt.acked && sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
					acked[id] = true
				}
				select {
				case <-deadline:
					t.Fatal("child too slow")
				default:
				}
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for sc.Scan() { // acks printed before the kill landed count too
				if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
					acked[id] = true
				}
			}
			_ = cmd.Wait()
			if len(acked) < tt.acked {
				t.Fatalf("child acknowledged only %d writes", len(acked))
			}

			s := openStore(t, dir, 0)
			defer s.Close()
			ctx := t.Context()
			n, err := s.Count(ctx, vector.CodePatterns, "t", vector.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for id := range acked {
				p, err := s.Get(ctx, vector.CodePatterns, "t", id)
				if err != nil {
					t.Fatalf("acknowledged point %s lost: %v", id, err)
				}
				hits, err := s.Search(ctx, vector.CodePatterns, vector.Query{Tenant: "t", Vector: p.Vector, Limit: 1})
				if err != nil || len(hits) == 0 || hits[0].Score < 0.999 {
					t.Fatalf("acknowledged point %s not found by search: %v %v", id, hits, err)
				}
			}
			if n < len(acked) || n > len(acked)+1 {
				t.Fatalf("%d points after the crash, %d acknowledged: want acknowledged or one more", n, len(acked))
			}
			t.Logf("%d acknowledged, %d recovered", len(acked), n)
		})
	}
}

func crashChild(dir string) {
	var snap int64
	fmt.Sscan(os.Getenv("QLP_MEMORY_CRASH_SNAPSHOT"), &snap)
	s, err := localstore.Open(context.Background(), localstore.Config{Dir: dir, SnapshotBytes: snap})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	if err := s.EnsureCollection(ctx, vector.CodePatterns, 64); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		id := memorytest.ID(i)
		payload := map[string]any{"i": i, "text": strings.Repeat("x", 500)}
		if err := s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: id, Tenant: "t", Vector: memorytest.Unit(64, i, 0.5), Payload: payload}}); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		fmt.Fprintln(w, "acked", id)
		w.Flush()
	}
}
