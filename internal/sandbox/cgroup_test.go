package sandbox

import (
	"os"
	"sync"
	"testing"
)

// noCgroups skips a test that needs the host's cgroups, or fails it under
// QLP_TEST_REQUIRE_SERVICES=1: the machines make test runs on (CI's
// included) have them, and the sandbox's limits depend on them.
func noCgroups(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf(format+" (QLP_TEST_REQUIRE_SERVICES=1)", args...)
	}
	t.Skipf(format, args...)
}

// TestCgroupDetectConcurrently: runners made at the same time (as the
// tests do) must each get what the host offers, not fail on one
// another's probe.
func TestCgroupDetectConcurrently(t *testing.T) {
	if _, info := detectCgroups(""); info.Version == 0 || !info.CommandCgroup {
		noCgroups(t, "no command cgroup here: %s%s", info.Reason, info.CommandReason)
	}
	for round := 0; round < 10; round++ {
		var wg sync.WaitGroup
		infos := make([]CgroupInfo, 4)
		for i := range infos {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, infos[i] = detectCgroups("")
			}()
		}
		wg.Wait()
		for _, info := range infos {
			if info.Version == 0 || !info.CommandCgroup {
				t.Fatalf("concurrent detection: %+v", info)
			}
		}
	}
}

// TestCgroupConcurrentKillRemove: the runner's wall-time timer or a
// cancellation may kill a run's cgroup while the run's cleanup removes it.
func TestCgroupConcurrentKillRemove(t *testing.T) {
	cg, info := detectCgroups("")
	if cg == nil {
		noCgroups(t, "no usable cgroups here: %s", info.Reason)
	}
	rc, err := cg.create("qlp-sbx-test-"+newID(), Limits{MemoryBytes: 64 << 20, Processes: 16})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				rc.kill()
				_ = rc.stats()
			}
		}()
	}
	if err := rc.remove(); err != nil {
		t.Error(err)
	}
	wg.Wait()
	if err := rc.remove(); err != nil {
		t.Errorf("second remove: %v", err)
	}
}
