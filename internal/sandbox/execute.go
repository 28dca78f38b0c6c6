package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quantumlayer/qlp/internal/sandbox/wire"
)

// backend starts the helper in some kind of isolation.
type backend interface {
	// root is the writable root as the helper sees it.
	root(id string) string
	// launch prepares the command that starts the helper for a run. The
	// runner sets its stdin, stdout and stderr.
	launch(ctx context.Context, p *prepared, cg *runCgroup) (*launch, error)
	// ready checks that the backend can still start sandboxes.
	ready(ctx context.Context) error
	// slack is the start-up time allowed on top of the wall time limit.
	slack() time.Duration
}

type launch struct {
	cmd *exec.Cmd
	// started runs right after cmd.Start; it returns the host pid of the
	// helper to put in the run's cgroup, or 0 when the backend did that.
	started func() (int, error)
	cleanup func()
}

// execute carries out a prepared run and fills res.
func (r *Local) execute(ctx context.Context, p *prepared, res *Result, onOutput func(OutputChunk)) error {
	start := time.Now()
	var cg *runCgroup
	if r.cg != nil {
		var err error
		if cg, err = r.cg.create("qlp-sbx-"+p.id, p.limits); err != nil {
			return fmt.Errorf("sandbox: run %s: %w", p.id, err)
		}
		defer func() {
			if err := cg.remove(); err != nil {
				r.logger.Error("sandbox cgroup left behind", "run", p.id, "error", err)
			}
		}()
	}
	l, err := r.backend.launch(ctx, p, cg)
	if err != nil {
		return fmt.Errorf("sandbox: run %s: %w", p.id, err)
	}
	if l.cleanup != nil {
		defer l.cleanup()
	}
	stdin, err := l.cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("sandbox: run %s: %w", p.id, err)
	}
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("sandbox: run %s: %w", p.id, err)
	}
	diag := &capped{max: 16 << 10}
	l.cmd.Stderr = diag
	if l.cmd.SysProcAttr == nil {
		l.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The launcher dies with this process; bwrap's --die-with-parent and
	// the PID namespace take the rest of the run with it.
	l.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	l.cmd.SysProcAttr.Setpgid = true
	if err := l.cmd.Start(); err != nil {
		return fmt.Errorf("%w: start %s: %v", errLaunch, l.cmd.Path, err)
	}
	var (
		killOnce sync.Once
		why      string
		whyMu    sync.Mutex
	)
	stop := func(reason string) {
		killOnce.Do(func() {
			whyMu.Lock()
			why = reason
			whyMu.Unlock()
			_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
			if cg != nil {
				cg.kill()
			}
		})
	}
	if l.started != nil {
		pid, err := l.started()
		if err != nil {
			stop("error")
			_ = l.cmd.Wait()
			return fmt.Errorf("%w: %v: %s", errLaunch, err, diag.String())
		}
		if pid > 0 && cg != nil {
			if err := cg.add(pid); err != nil {
				stop("error")
				_ = l.cmd.Wait()
				if errors.Is(err, syscall.ESRCH) {
					// The launcher ended before it could be confined: what
					// it said on stderr is the reason, not the cgroup.
					return fmt.Errorf("%w: the sandbox ended as it started: %s", errLaunch, strings.TrimSpace(diag.String()))
				}
				return err
			}
		}
	}
	wall := time.AfterFunc(p.limits.WallTime.D()+r.backend.slack(), func() { stop("timeout") })
	defer wall.Stop()
	// Goroutines of this run end before execute returns (and so before the
	// deferred cleanup removes the cgroup they may use).
	var wg sync.WaitGroup
	defer wg.Wait()
	finished := make(chan struct{})
	defer close(finished)
	wg.Add(2)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			stop("cancelled")
		case <-finished:
		}
	}()
	go func() {
		defer wg.Done()
		// Ends at the latest when Wait closes the pipe.
		_ = json.NewEncoder(stdin).Encode(p.req)
		_ = stdin.Close()
	}()

	col := &collector{res: res, limits: p.limits, cmds: p.req.Commands, onOutput: onOutput, cg: cg}
	readErr := col.read(bufio.NewReaderSize(stdout, 64<<10))
	if readErr != nil {
		stop("protocol")
		_, _ = io.Copy(io.Discard, stdout)
	}
	waitErr := l.cmd.Wait()
	wall.Stop()
	// The launcher is reaped: its process group id may be reused from now
	// on, so no stop may signal it any more. Do waits for a stop already
	// under way.
	killOnce.Do(func() {})

	res.Duration = Duration(time.Since(start))
	var st cgroupStats
	if cg != nil {
		st = cg.stats()
		res.PeakMemoryBytes = st.peakMemory
		res.CPUTime = Duration(st.cpu)
	}
	for _, c := range res.Commands {
		// The cgroup charges only pages the run touched first; a command's
		// maxrss also counts shared libraries. Report the larger.
		if c.PeakMemoryBytes > res.PeakMemoryBytes {
			res.PeakMemoryBytes = c.PeakMemoryBytes
		}
		if cg == nil {
			res.CPUTime += c.CPUTime
		}
	}
	whyMu.Lock()
	reason := why
	whyMu.Unlock()
	col.finish(st, reason, readErr, waitErr, diag.String(), p.limits)
	return nil
}

// collector turns the helper's frames into a Result.
type collector struct {
	res      *Result
	limits   Limits
	cmds     []wire.Command
	onOutput func(OutputChunk)
	cg       *runCgroup

	stdout, stderr strings.Builder
	current        int
	done           bool
	fatal          string
	oomSeen        int64
	pidsSeen       int64
}

func (c *collector) read(r *bufio.Reader) error {
	c.current = -1
	for {
		typ, payload, err := wire.ReadFrame(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch typ {
		case wire.FrameStart:
			var b wire.StartBody
			if json.Unmarshal(payload, &b) != nil || b.Index != len(c.res.Commands) || b.Index >= len(c.cmds) {
				return fmt.Errorf("sandbox: helper started an unexpected command")
			}
			c.current = b.Index
			c.stdout.Reset()
			c.stderr.Reset()
		case wire.FrameOutput:
			idx, s, data, err := wire.ParseOutput(payload)
			if err != nil || idx != c.current || idx < 0 {
				return fmt.Errorf("sandbox: helper sent output for an unexpected command")
			}
			b := &c.stdout
			if s == Stderr {
				b = &c.stderr
			}
			// The helper caps output; a frame stream that does not is
			// forged or broken, and is cut here.
			if int64(c.stdout.Len()+c.stderr.Len()+len(data)) > c.limits.OutputBytes+4096 {
				return fmt.Errorf("sandbox: helper sent more output than the limit")
			}
			b.Write(data)
			if c.onOutput != nil {
				c.onOutput(OutputChunk{Command: idx, Name: c.cmds[idx].Name, Stream: s, Data: data})
			}
		case wire.FrameCommand:
			var cr CommandResult
			if err := json.Unmarshal(payload, &cr); err != nil || len(c.res.Commands) >= len(c.cmds) {
				return fmt.Errorf("sandbox: helper sent a bad command result")
			}
			if cr.Status != StatusSkipped {
				cr.Stdout, cr.Stderr = c.stdout.String(), c.stderr.String()
				c.stdout.Reset()
				c.stderr.Reset()
			}
			cr.Name, cr.Args = c.cmds[len(c.res.Commands)].Name, c.cmds[len(c.res.Commands)].Args
			c.checkLimits(&cr)
			c.res.Commands = append(c.res.Commands, cr)
			c.current = -1
		case wire.FrameFile:
			var f File
			if err := json.Unmarshal(payload, &f); err != nil || wire.CheckRelPath("path", f.Path) != nil {
				return fmt.Errorf("sandbox: helper sent a bad file")
			}
			c.res.Files = append(c.res.Files, f)
		case wire.FrameNote:
			c.res.Notes = append(c.res.Notes, string(payload))
		case wire.FrameFatal:
			c.fatal = string(payload)
		case wire.FrameDone:
			c.done = true
		default:
			return fmt.Errorf("sandbox: helper sent an unknown frame %q", typ)
		}
	}
}

// checkLimits looks at the cgroup's counters after a command: one the
// kernel's OOM killer ended is memory_exceeded; one that did not complete
// after forks were refused at the process limit says so in its reason.
func (c *collector) checkLimits(cr *CommandResult) {
	if c.cg == nil {
		return
	}
	st := c.cg.stats()
	failed := cr.Status != StatusCompleted && cr.Status != StatusSkipped
	if st.oomKills > c.oomSeen && failed {
		cr.Status = StatusMemoryExceeded
		cr.Reason = fmt.Sprintf("exceeded the memory limit of %d bytes (killed by the kernel's OOM killer)", c.limits.MemoryBytes)
	}
	if st.pidsRefused > c.pidsSeen && failed {
		cr.Reason += fmt.Sprintf("; it reached the process limit of %d (%d forks refused)", c.limits.Processes, st.pidsRefused-c.pidsSeen)
	}
	c.oomSeen, c.pidsSeen = st.oomKills, st.pidsRefused
}

// finish decides the run's status once the helper is gone.
func (c *collector) finish(st cgroupStats, why string, readErr, waitErr error, diag string, lim Limits) {
	res := c.res
	if !c.done {
		// The helper did not finish: say why, from what is known outside.
		cr := CommandResult{ExitCode: -1, Stdout: c.stdout.String(), Stderr: c.stderr.String()}
		if c.current >= 0 && c.current < len(c.cmds) && len(res.Commands) == c.current {
			cr.Name, cr.Args = c.cmds[c.current].Name, c.cmds[c.current].Args
		}
		switch {
		case why == "timeout":
			cr.Status, cr.Reason = StatusTimeout, fmt.Sprintf("exceeded the run's wall time limit of %s", lim.WallTime.D())
		case why == "cancelled":
			cr.Status, cr.Reason = StatusKilled, "cancelled by the caller"
		case st.oomKills > c.oomSeen:
			cr.Status, cr.Reason = StatusMemoryExceeded, fmt.Sprintf("exceeded the memory limit of %d bytes (the kernel's OOM killer ended the run)", lim.MemoryBytes)
		case st.pidsRefused > c.pidsSeen && c.fatal == "" && readErr == nil:
			// The program used up the processes of the run and the sandbox
			// could not go on (where the helper shares the limit with the
			// program: no command cgroup, or a backend's own processes).
			msg := fmt.Sprintf("the run reached its process limit of %d (%d forks refused) and the sandbox was ended", lim.Processes, st.pidsRefused-c.pidsSeen)
			if diag != "" {
				// A crashed Go helper says why first, then dumps its
				// goroutines.
				msg += ": " + firstLines(diag, 2)
			}
			cr.Status, cr.Reason = StatusKilled, msg
		case c.fatal != "":
			cr.Status, cr.Reason = StatusError, c.fatal
		case readErr != nil:
			cr.Status, cr.Reason = StatusError, readErr.Error()
		default:
			msg := "the sandbox ended unexpectedly"
			if waitErr != nil {
				msg += " (" + waitErr.Error() + ")"
			}
			if diag != "" {
				msg += ": " + diag
			}
			cr.Status, cr.Reason = StatusError, msg
		}
		if cr.Name != "" {
			res.Commands = append(res.Commands, cr)
		} else {
			res.Status, res.Reason = cr.Status, cr.Reason
		}
		for i := len(res.Commands); i < len(c.cmds); i++ {
			res.Commands = append(res.Commands, CommandResult{Name: c.cmds[i].Name, Args: c.cmds[i].Args,
				Status: StatusSkipped, ExitCode: -1, Reason: "not run: the run ended early"})
		}
	}
	if res.Status == "" {
		res.Status = StatusCompleted
		for _, cr := range res.Commands {
			if cr.Status != StatusCompleted && cr.Status != StatusSkipped {
				res.Status = cr.Status
				res.Reason = fmt.Sprintf("command %q: %s", cr.Name, cr.Reason)
				break
			}
		}
	}
	for _, cr := range res.Commands {
		if cr.Status != StatusSkipped {
			res.ExitCode = cr.ExitCode
		}
	}
}
