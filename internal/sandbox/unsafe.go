package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// unsafeLocalBackend runs the helper as a plain host process: no mount,
// PID or network namespace. It still applies the seccomp filter (so no
// network sockets), rlimits, the run's cgroup when available, a private
// work directory, a scrubbed environment and, as root, an unprivileged
// uid. It does not hide the host's files and its disk limit is only
// RLIMIT_FSIZE. It exists for machines with neither bubblewrap nor gVisor
// and must be enabled explicitly.
type unsafeLocalBackend struct {
	r    *Local
	runs string
}

func newUnsafeLocal(r *Local) (*unsafeLocalBackend, error) {
	u := &unsafeLocalBackend{r: r, runs: filepath.Join(r.runtimeDir, "runs")}
	if err := os.MkdirAll(u.runs, 0o711); err != nil {
		return nil, fmt.Errorf("sandbox: unsafe-local backend: %w", err)
	}
	if r.hostUID > 0 && !reachable(r.helper, r.hostUID) {
		// The unprivileged uid must be able to execute the helper.
		dst := filepath.Join(r.runtimeDir, "helper")
		if err := copyFile(r.helper, dst); err != nil {
			return nil, fmt.Errorf("sandbox: unsafe-local backend: copy helper: %w", err)
		}
		r.helper = dst
	}
	return u, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

func (u *unsafeLocalBackend) root(id string) string { return filepath.Join(u.runs, id) }
func (u *unsafeLocalBackend) slack() time.Duration  { return 5 * time.Second }
func (u *unsafeLocalBackend) ready(context.Context) error {
	_, err := os.Stat(u.r.helper)
	return err
}

func (u *unsafeLocalBackend) launch(_ context.Context, p *prepared, cg *runCgroup) (*launch, error) {
	var cgFile *os.File
	if cg != nil {
		f, err := cg.commandFile()
		if err != nil {
			return nil, err
		}
		if f != nil {
			cgFile = f
			p.req.CommandCgroupFD = 3
		}
	}
	closeCg := func() {
		if cgFile != nil {
			cgFile.Close()
		}
	}
	p.req.Seccomp = true
	if u.r.cg == nil {
		p.req.MemoryRlimit = p.limits.MemoryBytes
	}
	root := p.req.Root
	if err := os.Mkdir(root, 0o700); err != nil {
		closeCg()
		return nil, err
	}
	if u.r.hostUID > 0 {
		if err := os.Chown(root, u.r.hostUID, u.r.hostGID); err != nil {
			closeCg()
			_ = os.Remove(root)
			return nil, err
		}
	}
	cmd := exec.Command(u.r.helper, HelperCommand, "run")
	cmd.Env = append([]string{"PATH=" + basePath}, helperEnv()...)
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if u.r.hostUID > 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(u.r.hostUID), Gid: uint32(u.r.hostGID)}
	}
	if cgFile != nil {
		cmd.ExtraFiles = []*os.File{cgFile}
	}
	l := &launch{cmd: cmd, cleanup: func() { closeCg(); _ = os.RemoveAll(root) }}
	l.started = func() (int, error) { closeCg(); return cmd.Process.Pid, nil }
	return l, nil
}
