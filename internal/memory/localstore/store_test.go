package localstore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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

// writeLog fills a fresh store in dir with n points (one record each, after
// the collection's record) and returns the log's path and the offset of
// every record in it.
func writeLog(t *testing.T, dir string, n int) (string, []int64) {
	t.Helper()
	s := openStore(t, dir, 0)
	ctx := t.Context()
	if err := s.EnsureCollection(ctx, vector.CodePatterns, 8); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Upsert(ctx, vector.CodePatterns, []vector.Point{{ID: memorytest.ID(i), Tenant: "t", Vector: memorytest.Unit(8, i, 0)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if len(logs) != 1 {
		t.Fatalf("want one log, found %v", logs)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := 0; off < len(b); off += 8 + int(binary.LittleEndian.Uint32(b[off:])) {
		offs = append(offs, int64(off))
	}
	if len(offs) != n+1 {
		t.Fatalf("%d records in the log, want %d", len(offs), n+1)
	}
	return logs[0], offs
}

// TestTornLastRecordIsDropped: whatever a crash can leave of the last
// write (part of its header, part of its body, all of it with a bad
// checksum) is cut off, and every earlier record is kept.
func TestTornLastRecordIsDropped(t *testing.T) {
	for _, tt := range []struct {
		name string
		tear func(b []byte, last int64) []byte
	}{
		{"half a header", func(b []byte, last int64) []byte { return b[:last+5] }},
		{"body cut short", func(b []byte, last int64) []byte { return b[:len(b)-3] }},
		{"bad checksum", func(b []byte, last int64) []byte { b[len(b)-1] ^= 0xff; return b }},
		{"zeros after the last record", func(b []byte, last int64) []byte { return append(b, make([]byte, 4096)...) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			log, offs := writeLog(t, dir, 4)
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			want := 4
			if tt.name != "zeros after the last record" {
				want = 3
			}
			if err := os.WriteFile(log, tt.tear(b, offs[len(offs)-1]), 0o600); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, dir, 0)
			defer s.Close()
			if n, err := s.Count(t.Context(), vector.CodePatterns, "t", vector.Filter{}); err != nil || n != want {
				t.Fatalf("Count = %d, %v; want %d", n, err, want)
			}
			if err := s.Upsert(t.Context(), vector.CodePatterns, []vector.Point{{ID: memorytest.ID(9), Tenant: "t", Vector: memorytest.Unit(8, 1, 0)}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDamageBeforeTheLastRecordIsRefusedThenRecovered: a bad record with
// intact ones after it is not a torn write. Open refuses and leaves the log
// as it is; Recover keeps every intact record, drops only the damaged one,
// keeps a copy of the damaged log, and Open works again.
func TestDamageBeforeTheLastRecordIsRefusedThenRecovered(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(b []byte, off int64)
	}{
		{"flipped byte in a body", func(b []byte, off int64) { b[off+12] ^= 0x55 }},
		{"bad length", func(b []byte, off int64) { binary.LittleEndian.PutUint32(b[off:], 1<<29) }},
		{"zeroed record", func(b []byte, off int64) {
			n := 8 + int64(binary.LittleEndian.Uint32(b[off:]))
			clear(b[off : off+n])
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			log, offs := writeLog(t, dir, 6)
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(b, offs[3]) // the third point's record
			if err := os.WriteFile(log, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = localstore.Open(t.Context(), localstore.Config{Dir: dir})
			if !errors.Is(err, localstore.ErrCorruptLog) {
				t.Fatalf("Open of a log damaged in the middle: %v, want ErrCorruptLog", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("byte %d", offs[3])) {
				t.Errorf("the error does not say where: %v", err)
			}
			if after, _ := os.ReadFile(log); !bytes.Equal(after, b) {
				t.Fatalf("the refused Open changed the log (%d bytes, was %d)", len(after), len(b))
			}

			rep, err := localstore.Recover(t.Context(), localstore.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Dropped) != 1 || rep.Dropped[0].Offset != offs[3] || rep.Records != 6 || rep.Points != 5 {
				t.Fatalf("report %+v: want the damaged record dropped, 6 records and 5 points kept", rep)
			}
			if backup, err := os.ReadFile(rep.Backup); err != nil || !bytes.Equal(backup, b) {
				t.Fatalf("backup %s of the damaged log: %v", rep.Backup, err)
			}
			s := openStore(t, dir, 0)
			for i := range 6 {
				_, err := s.Get(t.Context(), vector.CodePatterns, "t", memorytest.ID(i))
				if (err == nil) != (i != 2) {
					t.Errorf("point %d after recovery: %v", i, err)
				}
			}
			// A write after recovery survives a restart, and the backup stays.
			if err := s.Upsert(t.Context(), vector.CodePatterns, []vector.Point{{ID: memorytest.ID(9), Tenant: "t", Vector: memorytest.Unit(8, 1, 0)}}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = openStore(t, dir, 0)
			defer s.Close()
			if n, err := s.Count(t.Context(), vector.CodePatterns, "t", vector.Filter{}); err != nil || n != 6 {
				t.Fatalf("Count after recovery and restart = %d, %v; want 6", n, err)
			}
			if _, err := os.Stat(rep.Backup); err != nil {
				t.Errorf("the damaged log's copy was removed: %v", err)
			}
			// Recovering an intact store changes nothing.
			s.Close()
			again, err := localstore.Recover(t.Context(), localstore.Config{Dir: dir})
			if err != nil || len(again.Dropped) != 0 || again.Backup != "" || again.Points != 6 {
				t.Fatalf("second Recover: %+v, %v", again, err)
			}
		})
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
