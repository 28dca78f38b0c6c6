package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/quantumlayer/qlp/internal/sandbox/seccomp"
	"github.com/quantumlayer/qlp/internal/sandbox/wire"
)

type helper struct {
	req   wire.Request
	out   *wire.Writer
	start time.Time
	// prlimit sets a resource limit of a process; nil: prlimit(2). Tests
	// make it fail.
	prlimit func(pid, resource int, lim *unix.Rlimit) error
}

func runHelper(out *wire.Writer) error {
	// Other processes of the sandbox run as the same user: a non-dumpable
	// helper keeps them out of /proc/<helper>/fd, where they could forge
	// frames on its stdout.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("sandbox: helper: prctl dumpable: %w", err)
	}
	// Descriptors the service inherited without close-on-exec (a socket
	// from systemd, a pipe of whoever started it) passed through the
	// launcher to here; none may reach a command. The command cgroup's
	// file is one of them.
	if err := closeOnExecFrom(3); err != nil {
		return fmt.Errorf("sandbox: helper: %w", err)
	}
	h := &helper{out: out, start: time.Now()}
	dec := json.NewDecoder(io.LimitReader(os.Stdin, 1<<30))
	if err := dec.Decode(&h.req); err != nil {
		return fmt.Errorf("sandbox: helper: read request: %w", err)
	}
	_ = os.Stdin.Close()
	if !h.req.PIDNamespace {
		// Orphans of the commands re-parent to the helper, so that it can
		// find and end them.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("sandbox: helper: become subreaper: %w", err)
		}
	}
	if err := h.prepare(); err != nil {
		return err
	}
	if h.req.Seccomp {
		if err := seccomp.Install(); err != nil {
			return fmt.Errorf("sandbox: helper: %w", err)
		}
	}
	deadline := h.start.Add(h.req.WallTime.D())
	stopped := false
	for i, c := range h.req.Commands {
		if stopped {
			res := wire.CommandResult{Name: c.Name, Args: c.Args, Status: wire.StatusSkipped, ExitCode: -1,
				Reason: "not run: an earlier command did not complete"}
			if err := h.sendResult(res); err != nil {
				return err
			}
			continue
		}
		res := h.run(i, c, deadline)
		if err := h.sendResult(res); err != nil {
			return err
		}
		if res.Status != wire.StatusCompleted && !c.ContinueOnFailure {
			stopped = true
		}
		if res.Status == wire.StatusTimeout && time.Now().After(deadline) {
			stopped = true
		}
	}
	h.collect()
	return out.Send(wire.FrameDone)
}

// closeOnExecFrom marks every open descriptor from first on close-on-exec.
func closeOnExecFrom(first int) error {
	if unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return nil
	}
	// Before Linux 5.11, and where close_range is not implemented (gVisor).
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	for _, e := range entries {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

func (h *helper) sendResult(res wire.CommandResult) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return h.out.Send(wire.FrameCommand, b)
}

// prepare creates the work, home and tmp directories and writes the files.
func (h *helper) prepare() error {
	for _, d := range []string{h.req.WorkDir, filepath.Join(h.req.Root, "home"), filepath.Join(h.req.Root, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("sandbox: helper: create %s: %w", d, err)
		}
	}
	for _, c := range h.req.Copies {
		if err := copyTree(c.From, c.To); err != nil {
			return fmt.Errorf("sandbox: helper: copy %s: %w", c.From, err)
		}
	}
	for _, f := range h.req.Files {
		// Paths were validated by the runner; check again, cheaply.
		if wire.CheckRelPath("path", f.Path) != nil {
			return fmt.Errorf("sandbox: helper: refusing path %q", f.Path)
		}
		p := filepath.Join(h.req.WorkDir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("sandbox: helper: write files: %w", err)
		}
		mode := os.FileMode(0o644)
		if f.Executable {
			mode = 0o755
		}
		if err := os.WriteFile(p, f.Content, mode); err != nil {
			return fmt.Errorf("sandbox: helper: write files (is the disk limit large enough for the project?): %w", err)
		}
	}
	h.req.Files = nil
	return nil
}

// run runs one command to its end and ends every process it left behind.
func (h *helper) run(idx int, c wire.Command, deadline time.Time) wire.CommandResult {
	res := wire.CommandResult{Name: c.Name, Args: c.Args, ExitCode: -1}
	timeout := time.Until(deadline)
	if c.Timeout > 0 && c.Timeout.D() < timeout {
		timeout = c.Timeout.D()
	}
	if timeout <= 0 {
		res.Status, res.Reason = wire.StatusTimeout, "the run's wall time was used up before this command started"
		return res
	}
	if err := h.out.Send(wire.FrameStart, mustJSON(wire.StartBody{Index: idx})); err != nil {
		res.Status, res.Reason = wire.StatusError, "sandbox: write: "+err.Error()
		return res
	}
	prog, err := lookPath(c.Args[0], c.Env)
	if err != nil {
		res.Status, res.ExitCode = wire.StatusFailed, 127
		res.Reason = err.Error()
		_ = h.out.Output(idx, wire.Stderr, []byte(err.Error()+"\n"))
		return res
	}
	cmd := &exec.Cmd{Path: prog, Args: c.Args, Env: c.Env, Dir: h.req.WorkDir}
	if c.Stdin != "" {
		cmd.Stdin = strings.NewReader(c.Stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	outR, outW, err := os.Pipe()
	if err != nil {
		res.Status, res.Reason = wire.StatusError, "sandbox: pipe: "+err.Error()
		return res
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		res.Status, res.Reason = wire.StatusError, "sandbox: pipe: "+err.Error()
		return res
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	began := time.Now()
	exited := make(chan *os.ProcessState, 1)
	limited := make(chan struct{}) // closed once the limits are set: then the command may be reaped
	joinErr, err := h.startCommand(cmd, exited, limited)
	outW.Close()
	errW.Close()
	if joinErr != nil {
		outR.Close()
		errR.Close()
		res.Status, res.Reason = wire.StatusError, joinErr.Error()
		return res
	}
	if err != nil {
		outR.Close()
		errR.Close()
		res.Status, res.ExitCode = wire.StatusFailed, 126
		res.Reason = fmt.Sprintf("cannot start %s: %v", c.Args[0], err)
		_ = h.out.Output(idx, wire.Stderr, []byte(res.Reason+"\n"))
		return res
	}
	if err := h.limit(cmd.Process.Pid); err != nil {
		// The command would run without its limits: end it before it
		// does anything, and say why.
		h.killAll(cmd.Process.Pid, false)
		close(limited)
		<-exited
		h.killAll(cmd.Process.Pid, true)
		outR.Close()
		errR.Close()
		h.reap()
		res.Status, res.Reason = wire.StatusError, err.Error()
		_ = h.out.Output(idx, wire.Stderr, []byte(err.Error()+"\n"))
		return res
	}
	close(limited)

	var (
		mu       sync.Mutex
		kill     = make(chan string, 3) // why the command is being ended
		total    int64
		overflow = map[wire.Stream]bool{}
		wg       sync.WaitGroup
	)
	pump := func(r *os.File, s wire.Stream) {
		defer wg.Done()
		defer r.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				mu.Lock()
				room := h.req.OutputBytes - total
				data := buf[:n]
				if int64(n) > room {
					if room < 0 {
						room = 0
					}
					data = buf[:room]
					if !overflow[wire.Stdout] && !overflow[wire.Stderr] {
						kill <- "output"
					}
					overflow[s] = true
				}
				total += int64(len(data))
				mu.Unlock()
				if len(data) > 0 {
					_ = h.out.Output(idx, s, data)
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(outR, wire.Stdout)
	go pump(errR, wire.Stderr)

	timer := time.AfterFunc(timeout, func() { kill <- "timeout" })
	var why string
	var st *os.ProcessState
	select {
	case st = <-exited:
	case why = <-kill:
		h.killAll(cmd.Process.Pid, false)
		st = <-exited
	}
	timer.Stop()
	// Whatever the command left running (daemons, background jobs) ends
	// with it; then the pipes reach EOF.
	h.killAll(cmd.Process.Pid, true)
	wg.Wait()
	h.reap()
	if why == "" {
		select {
		case why = <-kill:
		default:
		}
	}
	res.Duration = wire.Duration(time.Since(began))
	mu.Lock()
	res.StdoutTruncated, res.StderrTruncated = overflow[wire.Stdout], overflow[wire.Stderr]
	mu.Unlock()
	h.classify(&res, st, why, timeout)
	return res
}

// startCommand starts cmd from an OS thread of its own, which first moves
// itself into the run's command cgroup when there is one: the command is
// born there, under the run's process limit, while the helper's other
// threads stay outside it and can always be created. joinErr is a failure
// of the sandbox, err one to start the program. The command is not waited
// for (reaped) before limited is closed: until then its pid stays its own,
// even if it has exited, so that the limits cannot reach another process.
func (h *helper) startCommand(cmd *exec.Cmd, exited chan<- *os.ProcessState, limited <-chan struct{}) (joinErr, err error) {
	started := make(chan spawnResult, 1)
	go h.spawn(cmd, started, exited, limited)
	r := <-started
	return r.join, r.start
}

type spawnResult struct{ join, start error }

// spawn runs on a locked thread that it never unlocks, so the thread ends
// with the goroutine and never runs helper code again once in the command
// cgroup. Threads the runtime creates meanwhile come from its template
// thread, not from a locked one. The thread waits for the command: the
// parent-death signal is tied to the thread that forked.
func (h *helper) spawn(cmd *exec.Cmd, started chan<- spawnResult, exited chan<- *os.ProcessState, limited <-chan struct{}) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread never ends (the runtime parks it instead): hold
		// it, so that the spawn below gets another thread, until done.
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.spawn(cmd, started, exited, limited)
		}()
		<-done
		runtime.UnlockOSThread()
		return
	}
	if fd := h.req.CommandCgroupFD; fd > 0 {
		for {
			_, err := unix.Write(fd, []byte("0")) // "0": the calling thread
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				started <- spawnResult{join: fmt.Errorf("sandbox: helper: move into the command cgroup: %w", err)}
				return
			}
			break
		}
	}
	if err := cmd.Start(); err != nil {
		started <- spawnResult{start: err}
		return
	}
	started <- spawnResult{}
	<-limited
	st, _ := cmd.Process.Wait()
	exited <- st
}

func (h *helper) classify(res *wire.CommandResult, st *os.ProcessState, why string, timeout time.Duration) {
	var ws syscall.WaitStatus
	if st != nil {
		ws, _ = st.Sys().(syscall.WaitStatus)
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru != nil {
			res.PeakMemoryBytes = ru.Maxrss * 1024
			res.CPUTime = wire.Duration(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()))
		}
	}
	if st != nil && ws.Exited() {
		res.ExitCode = ws.ExitStatus()
	}
	if st != nil && ws.Signaled() {
		res.Signal = ws.Signal().String()
	}
	cpuLimit := h.req.CPUTime.D()
	switch {
	case why == "output":
		res.Status = wire.StatusOutputExceeded
		res.Reason = fmt.Sprintf("wrote more than the output limit of %d bytes", h.req.OutputBytes)
	case why == "timeout":
		res.Status = wire.StatusTimeout
		res.Reason = fmt.Sprintf("exceeded the wall time limit of %s", timeout.Round(time.Millisecond))
	case st == nil:
		res.Status, res.Reason = wire.StatusError, "sandbox: lost track of the process"
	case ws.Signaled() && (ws.Signal() == syscall.SIGXCPU ||
		(ws.Signal() == syscall.SIGKILL && cpuLimit > 0 && res.CPUTime.D() >= cpuLimit)):
		res.Status = wire.StatusTimeout
		res.Reason = fmt.Sprintf("exceeded the CPU time limit of %s", cpuLimit)
	case ws.Signaled() && ws.Signal() == syscall.SIGXFSZ:
		res.Status = wire.StatusFailed
		res.Reason = fmt.Sprintf("wrote a file larger than the disk limit of %d bytes", h.req.DiskBytes)
	case ws.Signaled():
		res.Status = wire.StatusKilled
		res.Reason = "killed by signal: " + ws.Signal().String()
	case res.ExitCode == 0:
		res.Status = wire.StatusCompleted
	default:
		res.Status = wire.StatusFailed
		res.Reason = fmt.Sprintf("exited with code %d", res.ExitCode)
	}
}

// limit applies per-process rlimits to a started command. Processes the
// command forks in the microseconds before this inherit the helper's limits;
// the run's cgroup (when available) bounds them regardless. A limit that
// cannot be set is an error: the command must not run without it. A
// command that has already exited (it is not reaped before this is done)
// needs no limits.
func (h *helper) limit(pid int) error {
	prlimit := h.prlimit
	if prlimit == nil {
		prlimit = func(pid, resource int, lim *unix.Rlimit) error { return unix.Prlimit(pid, resource, lim, nil) }
	}
	type rlimit struct {
		name     string
		resource int
		cur, max uint64
	}
	var ls []rlimit
	if cpu := uint64(h.req.CPUTime.D().Seconds()); cpu > 0 {
		ls = append(ls, rlimit{"RLIMIT_CPU", unix.RLIMIT_CPU, cpu, cpu + 1})
	} else if h.req.CPUTime > 0 {
		ls = append(ls, rlimit{"RLIMIT_CPU", unix.RLIMIT_CPU, 1, 2})
	}
	if n := uint64(h.req.Processes); h.req.Processes > 0 {
		ls = append(ls, rlimit{"RLIMIT_NPROC", unix.RLIMIT_NPROC, n, n})
	}
	if n := uint64(h.req.DiskBytes); h.req.DiskBytes > 0 {
		ls = append(ls, rlimit{"RLIMIT_FSIZE", unix.RLIMIT_FSIZE, n, n})
	}
	if n := uint64(h.req.MemoryRlimit); h.req.MemoryRlimit > 0 {
		ls = append(ls, rlimit{"RLIMIT_DATA", unix.RLIMIT_DATA, n, n})
	}
	ls = append(ls, rlimit{"RLIMIT_CORE", unix.RLIMIT_CORE, 0, 0})
	for _, l := range ls {
		err := prlimit(pid, l.resource, &unix.Rlimit{Cur: l.cur, Max: l.max})
		if errors.Is(err, unix.ESRCH) {
			return nil // exited: a zombie has no limits to set
		}
		if err != nil {
			return fmt.Errorf("sandbox: helper: set %s of the command to %d: %w", l.name, l.cur, err)
		}
	}
	return nil
}

// killAll ends every process of the run except the helper: in its own PID
// namespace with kill(-1); otherwise the command's process group and every
// descendant of the helper (orphans re-parent to it as subreaper).
// reap is false while the command itself has not been waited for, so that
// its exit status is not taken by wait4(-1).
func (h *helper) killAll(pid int, reap bool) {
	if h.req.PIDNamespace {
		_ = unix.Kill(-1, unix.SIGKILL)
		return
	}
	_ = unix.Kill(-pid, unix.SIGKILL)
	for i := 0; i < 100; i++ {
		kids := descendants(os.Getpid())
		if len(kids) == 0 {
			return
		}
		for _, k := range kids {
			_ = unix.Kill(k, unix.SIGKILL)
		}
		if !reap {
			return
		}
		h.reap()
		time.Sleep(time.Millisecond)
	}
}

// reap collects every exited child (orphans included). In its own PID
// namespace, after kill(-1), it blocks until every child is gone.
func (h *helper) reap() {
	flags := unix.WNOHANG
	if h.req.PIDNamespace {
		flags = 0
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, flags, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}

// descendants lists the live (non-zombie) descendants of pid from /proc.
func descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == root {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		var state string
		var ppid int
		if _, err := fmt.Sscan(s[i+1:], &state, &ppid); err != nil || state == "Z" {
			continue
		}
		parent[pid] = ppid
	}
	var out []int
	for pid := range parent {
		for p, n := parent[pid], 0; n < 1000; p, n = parent[p], n+1 {
			if p == root {
				out = append(out, pid)
				break
			}
			if p == 0 {
				break
			}
		}
	}
	return out
}

// collect sends the files the spec asked for: regular files inside the
// work directory only, up to MaxCollectBytes in all.
func (h *helper) collect() {
	var total int64
	sent := map[string]bool{}
	root, err := filepath.EvalSymlinks(h.req.WorkDir)
	if err != nil {
		return
	}
	for _, pat := range h.req.Collect {
		matches, err := filepath.Glob(filepath.Join(h.req.WorkDir, filepath.FromSlash(pat)))
		if err != nil || len(matches) == 0 {
			_ = h.out.Send(wire.FrameNote, []byte(fmt.Sprintf("collect %q: no such file", pat)))
			continue
		}
		for _, m := range matches {
			real, err := filepath.EvalSymlinks(m)
			if err != nil || !strings.HasPrefix(real, root+string(filepath.Separator)) {
				_ = h.out.Send(wire.FrameNote, []byte(fmt.Sprintf("collect %q: outside the work directory", pat)))
				continue
			}
			rel, _ := filepath.Rel(root, real)
			rel = filepath.ToSlash(rel)
			fi, err := os.Lstat(real)
			if err != nil || !fi.Mode().IsRegular() || sent[rel] {
				continue
			}
			if total+fi.Size() > h.req.MaxCollectBytes {
				_ = h.out.Send(wire.FrameNote, []byte(fmt.Sprintf("collect %q: over the limit of %d bytes in all", rel, h.req.MaxCollectBytes)))
				continue
			}
			b, err := os.ReadFile(real)
			if err != nil || int64(len(b)) != fi.Size() {
				continue
			}
			total += int64(len(b))
			sent[rel] = true
			_ = h.out.Send(wire.FrameFile, mustJSON(wire.File{Path: rel, Content: b}))
		}
	}
}

// lookPath resolves a program name with the command's own PATH.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathVar := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("sandbox: command not found: %s (PATH=%s)", name, pathVar)
}

// copyTree copies a directory tree of regular files and directories.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				return err
			}
			// Modification times are kept: mypy abandons a cache entry
			// whose data file's time differs from the one its metadata
			// recorded.
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
		}
		return nil
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only for types defined here, which always marshal
	}
	return b
}
