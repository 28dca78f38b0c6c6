// Package sandboxtest holds test helpers for code that runs hostile
// programs in the sandbox: a snapshot of what a run must leave on the host
// as it found it (mounts, QLP's temporary files, run cgroups, sandboxed
// processes). It mirrors the assertions of the sandbox's own hostile suite
// so that other services' suites (the Validation Mesh's) check the same.
package sandboxtest

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Host is what a run must leave as it found it.
type Host struct {
	Mounts  []string
	Tmp     []string
	Cgroups []string
	Procs   []string
}

// Snapshot records the host's state.
func Snapshot(t testing.TB) Host {
	t.Helper()
	var h Host
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			h.Mounts = append(h.Mounts, f[4])
		}
	}
	sort.Strings(h.Mounts)
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		// Other processes come and go there; what a run could leave is
		// named qlp-*.
		if strings.HasPrefix(e.Name(), "qlp-") && e.Name() != "qlp-test-services" {
			h.Tmp = append(h.Tmp, e.Name())
		}
	}
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), "qlp-sbx-") {
			h.Cgroups = append(h.Cgroups, p)
		}
		return nil
	})
	h.Procs = SandboxProcs()
	return h
}

// Same fails the test when the host changed between a and b: mounts,
// QLP's temporary files, cgroups or processes left behind.
func (a Host) Same(t testing.TB, b Host) {
	t.Helper()
	if strings.Join(a.Mounts, "\n") != strings.Join(b.Mounts, "\n") {
		t.Errorf("host mounts changed:\nbefore %v\nafter  %v", a.Mounts, b.Mounts)
	}
	if strings.Join(a.Tmp, ",") != strings.Join(b.Tmp, ",") {
		t.Errorf("host temporary directory changed:\nbefore %v\nafter  %v", a.Tmp, b.Tmp)
	}
	if len(b.Cgroups) > len(a.Cgroups) {
		t.Errorf("cgroups left behind: %v", b.Cgroups)
	}
	if len(b.Procs) > 0 {
		t.Errorf("sandbox processes left behind: %v", b.Procs)
	}
}

// SandboxProcs lists host processes that belong to a sandbox: running as
// the sandbox uid (65534) or in a run cgroup.
func SandboxProcs() []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		cg, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		zombie := strings.Contains(string(status), "State:\tZ")
		if !zombie && (strings.Contains(string(status), "Uid:\t65534\t") || strings.Contains(string(cg), "qlp-sbx-")) {
			out = append(out, e.Name()+":"+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}
