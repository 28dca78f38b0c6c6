package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroups gives each run its own cgroup for memory, process-count and CPU
// accounting, under the service's own cgroup (or CgroupParent). It speaks
// cgroup v1 (one hierarchy per controller; this is what hybrid machines
// offer) and v2 (the unified hierarchy of current Kubernetes nodes).
type cgroups struct {
	v2   bool
	base map[string]string // controller → directory the runs' cgroups go in
	// nested: runs get a command cgroup (see runCgroup), so that their
	// programs cannot use up the processes the helper needs.
	nested bool
}

// helperReserve is how many tasks (threads) the helper may have on top of
// a run's process limit: its Go runtime must be able to start a thread
// whatever the program does with its own limit.
const helperReserve = 64

// CgroupInfo describes what the run cgroups can do on this host.
type CgroupInfo struct {
	Version     int    `json:"version"` // 0 when unavailable
	Controllers string `json:"controllers,omitempty"`
	Reason      string `json:"reason,omitempty"` // why not available
	// CommandCgroup: commands run in a child cgroup of their own with the
	// process limit, the helper outside it (see docs/sandbox.md).
	CommandCgroup bool   `json:"command_cgroup"`
	CommandReason string `json:"command_reason,omitempty"` // why not
}

var v1Controllers = []string{"memory", "pids", "cpuacct"}

type mountEntry struct {
	root, point, fstype string
	opts                []string
}

func readMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+3 || len(fields) < 5 {
			continue
		}
		out = append(out, mountEntry{root: fields[3], point: fields[4], fstype: fields[sep+1],
			opts: strings.Split(fields[len(fields)-1], ",")})
	}
	return out, sc.Err()
}

// detectCgroups finds a usable cgroup hierarchy. parent is CgroupParent:
// "" for the service's own cgroup, "none" to disable.
func detectCgroups(parent string) (*cgroups, CgroupInfo) {
	if parent == "none" {
		return nil, CgroupInfo{Reason: "disabled by configuration (cgroup_parent=none)"}
	}
	mounts, err := readMounts()
	if err != nil {
		return nil, CgroupInfo{Reason: "cannot read mountinfo: " + err.Error()}
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, CgroupInfo{Reason: "cannot read /proc/self/cgroup: " + err.Error()}
	}
	ownPath := map[string]string{} // controller ("" for v2) → path
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			ownPath[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			ownPath[c] = parts[2]
		}
	}
	// v1: every controller we use has its own mounted hierarchy.
	v1 := map[string]string{}
	for _, m := range mounts {
		if m.fstype != "cgroup" {
			continue
		}
		for _, c := range v1Controllers {
			for _, o := range m.opts {
				if o == c {
					v1[c] = dirFor(m, ownPath[c], parent)
				}
			}
		}
	}
	if len(v1) == len(v1Controllers) {
		cg := &cgroups{base: v1}
		info := CgroupInfo{Version: 1, Controllers: strings.Join(v1Controllers, ",")}
		if err := cg.probe(&info); err != nil {
			return nil, CgroupInfo{Version: 1, Reason: err.Error()}
		}
		return cg, info
	}
	for _, m := range mounts {
		if m.fstype != "cgroup2" {
			continue
		}
		dir := dirFor(m, ownPath[""], parent)
		ctrl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			continue
		}
		have := strings.Fields(string(ctrl))
		if !contains(have, "memory") || !contains(have, "pids") {
			continue // e.g. the empty unified hierarchy of a hybrid host
		}
		cg := &cgroups{v2: true, base: map[string]string{"": dir}}
		// Controllers must be enabled for the children. This fails when the
		// cgroup holds processes itself (the "no internal processes" rule):
		// give the service a delegated cgroup and set cgroup_parent.
		want := "+memory +pids"
		if contains(have, "cpu") {
			want += " +cpu"
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(want), 0); err != nil {
			return nil, CgroupInfo{Version: 2, Reason: fmt.Sprintf(
				"cannot enable controllers in %s (%v); run the service in a delegated cgroup and set cgroup_parent to an empty child of it", dir, err)}
		}
		info := CgroupInfo{Version: 2, Controllers: strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(want, "+", ""), " ", ","))}
		if err := cg.probe(&info); err != nil {
			return nil, CgroupInfo{Version: 2, Reason: err.Error()}
		}
		return cg, info
	}
	return nil, CgroupInfo{Reason: "no cgroup hierarchy with the memory and pids controllers is mounted"}
}

func dirFor(m mountEntry, own, parent string) string {
	p := own
	if parent != "" {
		p = parent
	}
	rel := strings.TrimPrefix(p, m.root)
	return filepath.Join(m.point, rel)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// probe creates and removes a cgroup to find out whether we may, first
// with a command cgroup, then without. Its name is its own: runners made
// at the same time in one process must not take each other's probe for a
// failure.
func (c *cgroups) probe(info *CgroupInfo) error {
	name := fmt.Sprintf("qlp-probe-%d-%s", os.Getpid(), newID())
	lim := Limits{MemoryBytes: 64 << 20, Processes: 16}
	c.nested = true
	rc, err := c.create(name, lim)
	if err == nil {
		info.CommandCgroup = true
		return rc.remove()
	}
	c.nested = false
	info.CommandReason = err.Error()
	rc, err = c.create(name, lim)
	if err != nil {
		return err
	}
	return rc.remove()
}

// runCgroup is the cgroup of one run: the memory limit and CPU accounting
// of the whole run, and the process limit plus helperReserve. Where
// nested, its child cgroup cmd holds the commands (and everything they
// start) under the run's process limit; the helper stays outside it, so a
// fork bomb cannot leave the helper without the threads it needs. v1 has
// the child in the pids hierarchy only; v2 makes it a threaded cgroup, so
// that a thread of the helper can move into it (see helper.startCommand).
//
// Its fields do not change after create, so kill, stats and remove may be
// called from several goroutines at once (the runner's wall-time timer, a
// cancellation, the run's own cleanup).
type runCgroup struct {
	v2   bool
	dirs map[string]string // controller ("" for v2) → directory
	cmd  string            // the command cgroup's directory; "" when not nested
}

func writeFile(dir, name, value string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0); err != nil {
		return fmt.Errorf("sandbox: cgroup: write %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

func (c *cgroups) create(name string, lim Limits) (*runCgroup, error) {
	rc := &runCgroup{v2: c.v2, dirs: map[string]string{}}
	made := map[string]bool{}
	for ctrl, base := range c.base {
		dir := filepath.Join(base, name)
		if made[dir] { // co-mounted controllers share a directory
			rc.dirs[ctrl] = dir
			continue
		}
		made[dir] = true
		if err := os.Mkdir(dir, 0o755); err != nil {
			_ = rc.remove()
			return nil, fmt.Errorf("sandbox: cgroup: create %s: %w", dir, err)
		}
		rc.dirs[ctrl] = dir
	}
	mem := strconv.FormatInt(lim.MemoryBytes, 10)
	pids := strconv.Itoa(lim.Processes)
	if c.nested {
		pids = strconv.Itoa(lim.Processes + helperReserve)
	}
	var err error
	if c.v2 {
		d := rc.dirs[""]
		err = errors.Join(writeFile(d, "memory.max", mem), writeFile(d, "pids.max", pids))
		_ = writeFile(d, "memory.swap.max", "0") // absent without swap accounting
	} else {
		err = errors.Join(writeFile(rc.dirs["memory"], "memory.limit_in_bytes", mem),
			writeFile(rc.dirs["pids"], "pids.max", pids))
		_ = writeFile(rc.dirs["memory"], "memory.memsw.limit_in_bytes", mem) // absent without swap accounting
	}
	if err == nil && c.nested {
		err = rc.createCommand(lim.Processes)
	}
	if err != nil {
		_ = rc.remove()
		return nil, err
	}
	return rc, nil
}

// createCommand makes the command cgroup. Its limit counts one task more
// than the run's: the helper's thread that starts the command and waits
// for it lives there.
func (rc *runCgroup) createCommand(processes int) error {
	parent := rc.dirs["pids"]
	if rc.v2 {
		// pids is a threaded controller: the child may be threaded, and
		// the run's cgroup becomes its threaded domain, which may hold the
		// helper's process itself.
		parent = rc.dirs[""]
		if err := writeFile(parent, "cgroup.subtree_control", "+pids"); err != nil {
			return err
		}
	}
	dir := filepath.Join(parent, "cmd")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("sandbox: cgroup: create %s: %w", dir, err)
	}
	rc.cmd = dir
	if rc.v2 {
		if err := writeFile(dir, "cgroup.type", "threaded"); err != nil {
			return err
		}
	}
	return writeFile(dir, "pids.max", strconv.Itoa(processes+1))
}

// commandFile opens the file through which a thread moves itself into the
// command cgroup (tasks in v1, cgroup.threads in v2), or returns nil when
// there is no command cgroup. The runner opens it and passes it to the
// helper, so that the sandbox needs no view of the cgroup file system;
// the helper makes it close-on-exec before it runs anything.
func (rc *runCgroup) commandFile() (*os.File, error) {
	if rc.cmd == "" {
		return nil, nil
	}
	name := "tasks"
	if rc.v2 {
		name = "cgroup.threads"
	}
	f, err := os.OpenFile(filepath.Join(rc.cmd, name), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: cgroup: %w", err)
	}
	return f, nil
}

// procsFiles are the cgroup.procs files a process writes itself into.
func (rc *runCgroup) procsFiles() []string {
	var out []string
	for _, d := range rc.dirList() {
		out = append(out, filepath.Join(d, "cgroup.procs"))
	}
	return out
}

// add moves pid (all its threads) into the run's cgroup.
func (rc *runCgroup) add(pid int) error {
	for _, f := range rc.procsFiles() {
		if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("sandbox: cgroup: add process %d to %s: %w", pid, f, err)
		}
	}
	return nil
}

type cgroupStats struct {
	peakMemory int64
	oomKills   int64
	cpu        time.Duration
	// pidsRefused counts forks refused at the process limit: in the
	// command cgroup where there is one, else in the run's.
	pidsRefused int64
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// keyed reads "key value" lines.
func keyed(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func (rc *runCgroup) stats() cgroupStats {
	var st cgroupStats
	pids := rc.dirs["pids"]
	if rc.v2 {
		d := rc.dirs[""]
		pids = d
		st = cgroupStats{
			peakMemory: readInt(filepath.Join(d, "memory.peak")),
			oomKills:   keyed(filepath.Join(d, "memory.events"), "oom_kill"),
			cpu:        time.Duration(keyed(filepath.Join(d, "cpu.stat"), "usage_usec")) * time.Microsecond,
		}
	} else {
		st = cgroupStats{
			peakMemory: readInt(filepath.Join(rc.dirs["memory"], "memory.max_usage_in_bytes")),
			oomKills:   keyed(filepath.Join(rc.dirs["memory"], "memory.oom_control"), "oom_kill"),
			cpu:        time.Duration(readInt(filepath.Join(rc.dirs["cpuacct"], "cpuacct.usage"))),
		}
	}
	if rc.cmd != "" {
		pids = rc.cmd
	}
	st.pidsRefused = keyed(filepath.Join(pids, "pids.events"), "max")
	return st
}

// procs lists the processes still in the cgroup and its command cgroup.
func (rc *runCgroup) procs() []int {
	var out []int
	seen := map[int]bool{}
	files := rc.procsFiles()
	if rc.cmd != "" {
		files = append(files, filepath.Join(rc.cmd, "cgroup.procs"))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil && !seen[pid] {
				seen[pid] = true
				out = append(out, pid)
			}
		}
	}
	return out
}

// kill sends SIGKILL to every process in the cgroup (the command cgroup
// included).
func (rc *runCgroup) kill() {
	if rc.v2 {
		if writeFile(rc.dirs[""], "cgroup.kill", "1") == nil {
			return
		}
	}
	for _, pid := range rc.procs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// remove kills what is left and deletes the cgroup directories, waiting up
// to two seconds for the processes to be gone. It may run while kill does
// (the runner's wall-time timer or a cancellation): neither changes rc.
func (rc *runCgroup) remove() error {
	deadline := time.Now().Add(2 * time.Second)
	var errs []error
	dirs := rc.dirList()
	if rc.cmd != "" {
		dirs = append([]string{rc.cmd}, dirs...) // the child first
	}
	for _, d := range dirs {
		for {
			err := os.Remove(d)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				rc.kill()
				err = os.Remove(d)
			}
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("sandbox: cgroup: remove %s: %w", d, err))
				break
			}
			time.Sleep(500 * time.Microsecond)
		}
	}
	return errors.Join(errs...)
}

// dirList lists the run's directories once each.
func (rc *runCgroup) dirList() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range rc.dirs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
