package sandbox

import (
	"sync"
	"testing"
)

// TestCgroupConcurrentKillRemove: the runner's wall-time timer or a
// cancellation may kill a run's cgroup while the run's cleanup removes it.
func TestCgroupConcurrentKillRemove(t *testing.T) {
	cg, info := detectCgroups("")
	if cg == nil {
		t.Skipf("no usable cgroups here: %s", info.Reason)
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
