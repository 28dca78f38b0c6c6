package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quantumlayer/qlp/internal/sandbox/seccomp"
)

// bwrapBackend runs the helper under bubblewrap: every namespace unshared
// (user, mount, PID, network, IPC, UTS, cgroup), no further user namespaces,
// a read-only view of the system and toolchains, a size-limited tmpfs as
// the only writable file system, the seccomp filter, and --die-with-parent.
// As root, it first drops to Config.SandboxUID through the helper's "stage"
// mode, so that bwrap and everything under it run as an unprivileged host
// user.
type bwrapBackend struct {
	r       *Local
	bwrap   string
	filter  []byte
	stageTo string // directory of staged binds, as root
	staged  map[string]string
	helper  string // helper path bwrap binds from
}

// etcEntries are the only parts of /etc a sandbox sees.
var etcEntries = []string{
	"alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
	"ssl/certs", "ca-certificates", "ca-certificates.conf", "nsswitch.conf", "mime.types",
	"debian_version", "os-release", "java-17-openjdk", "java-21-openjdk", "python3", "python3.11", "python3.12",
}

// sandboxUID is the uid and gid inside the sandbox.
const sandboxUID = "1000"

func newBwrap(r *Local) (*bwrapBackend, error) {
	path, err := exec.LookPath(r.cfg.BwrapPath)
	if err != nil {
		return nil, fmt.Errorf("sandbox: bwrap backend: bubblewrap not found (%v); install the bubblewrap package or choose another backend", err)
	}
	filter, err := seccomp.Program()
	if err != nil {
		return nil, fmt.Errorf("sandbox: bwrap backend: %w", err)
	}
	b := &bwrapBackend{r: r, bwrap: path, filter: filter, helper: r.helper, staged: map[string]string{}}
	if r.hostUID > 0 {
		// bwrap will run as the sandbox uid, which may not reach the helper
		// or toolchains under a private home: stage them.
		b.stageTo = filepath.Join(r.runtimeDir, "stage")
		if err := os.MkdirAll(b.stageTo, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: bwrap backend: %w", err)
		}
		var srcs []string
		for _, l := range r.langs {
			srcs = append(srcs, l.binds...)
		}
		srcs = append(srcs, r.helper)
		for i, src := range srcs {
			if _, done := b.staged[src]; done || reachable(src, r.hostUID) {
				continue
			}
			dst := filepath.Join(b.stageTo, strconv.Itoa(i))
			fi, err := os.Stat(src)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				err = os.Mkdir(dst, 0o755)
			} else {
				err = os.WriteFile(dst, nil, 0o755)
			}
			if err != nil {
				return nil, fmt.Errorf("sandbox: bwrap backend: stage %s: %w", src, err)
			}
			b.staged[src] = dst
		}
		if _, ok := b.staged[r.helper]; ok {
			// Give the sandbox uid its own reachable link (or copy) of the
			// helper, so that runs without other staged binds can start
			// bwrap directly, without the stage step.
			dst := filepath.Join(r.runtimeDir, "helper")
			if err := os.Link(r.helper, dst); err != nil {
				if err := copyFile(r.helper, dst); err != nil {
					return nil, fmt.Errorf("sandbox: bwrap backend: copy helper: %w", err)
				}
			}
			_ = os.Chmod(dst, 0o755)
			delete(b.staged, r.helper)
			b.helper = dst
		}
	}
	if err := b.ready(context.Background()); err != nil {
		return nil, err
	}
	return b, nil
}

// reachable reports whether uid can reach path through "other" permission
// bits (the sandbox uid owns nothing on the host).
func reachable(path string, uid int) bool {
	p := path
	for {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		need := os.FileMode(0o001)
		if p == path && !fi.IsDir() {
			need = 0o005
		}
		if fi.Mode().Perm()&need != need {
			return false
		}
		if p == "/" {
			return true
		}
		p = filepath.Dir(p)
	}
}

func (b *bwrapBackend) root(string) string   { return "/sandbox" }
func (b *bwrapBackend) slack() time.Duration { return 5 * time.Second }

func (b *bwrapBackend) ready(context.Context) error {
	if _, err := os.Stat(b.bwrap); err != nil {
		return fmt.Errorf("sandbox: bwrap backend: %w", err)
	}
	return nil
}

func (b *bwrapBackend) launch(_ context.Context, p *prepared, cg *runCgroup) (*launch, error) {
	p.req.PIDNamespace = true
	var cgFile *os.File
	if cg != nil {
		f, err := cg.commandFile()
		if err != nil {
			return nil, err
		}
		cgFile = f
	}
	closeCg := func() {
		if cgFile != nil {
			cgFile.Close()
		}
	}
	filterR, filterW, err := os.Pipe()
	if err != nil {
		closeCg()
		return nil, err
	}
	infoR, infoW, err := os.Pipe()
	if err != nil {
		closeCg()
		filterR.Close()
		filterW.Close()
		return nil, err
	}
	// The filter fits in the pipe buffer.
	if _, err := filterW.Write(b.filter); err != nil {
		closeCg()
		filterR.Close()
		filterW.Close()
		infoR.Close()
		infoW.Close()
		return nil, fmt.Errorf("sandbox: write seccomp filter: %w", err)
	}
	filterW.Close()

	args := []string{
		"--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--as-pid-1", "--new-session",
		"--uid", sandboxUID, "--gid", sandboxUID, "--hostname", "sandbox", "--clearenv",
		"--ro-bind", "/usr", "/usr",
	}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", target, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	for _, e := range etcEntries {
		args = append(args, "--ro-bind-try", "/etc/"+e, "/etc/"+e)
	}
	args = append(args,
		"--proc", "/proc", "--dev", "/dev",
		"--size", strconv.FormatInt(p.limits.DiskBytes, 10), "--tmpfs", "/sandbox",
		"--size", strconv.FormatInt(p.limits.DiskBytes, 10), "--tmpfs", "/dev/shm",
		"--symlink", "/sandbox/tmp", "/tmp",
	)
	for _, src := range p.binds {
		from := src
		if s, ok := b.staged[src]; ok {
			from = s
		}
		args = append(args, "--ro-bind", from, src)
	}
	for _, sd := range p.seeds {
		args = append(args, "--ro-bind", sd.host, sd.at)
	}
	for _, kv := range helperEnv() {
		k, v, _ := strings.Cut(kv, "=")
		args = append(args, "--setenv", k, v)
	}
	args = append(args,
		"--ro-bind", b.helper, "/.qlp/helper",
		// Nothing outside /sandbox and /dev/shm is writable, not even
		// bwrap's own root tmpfs (which has no size limit).
		"--remount-ro", "/dev", "--remount-ro", "/",
		"--seccomp", "3", "--info-fd", "4",
		"--chdir", "/sandbox",
		"--", "/.qlp/helper", HelperCommand, "run")

	var stageArgs []string
	for _, src := range p.binds {
		if dst, ok := b.staged[src]; ok {
			stageArgs = append(stageArgs, src, dst)
		}
	}
	var cmd *exec.Cmd
	switch {
	case b.r.hostUID > 0 && len(stageArgs) > 0:
		// Toolchains the sandbox uid cannot reach: bind them in a private
		// mount namespace, then drop privileges and start bwrap.
		stageArgs = append([]string{HelperCommand, "stage", strconv.Itoa(b.r.hostUID), strconv.Itoa(b.r.hostGID)}, stageArgs...)
		stageArgs = append(stageArgs, "--", b.bwrap)
		cmd = exec.Command(b.r.helper, append(stageArgs, args...)...)
	case b.r.hostUID > 0:
		cmd = exec.Command(b.bwrap, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(b.r.hostUID), Gid: uint32(b.r.hostGID)}}
	default:
		cmd = exec.Command(b.bwrap, args...)
	}
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{filterR, infoW}
	if cgFile != nil {
		// bwrap passes it on to the helper as fd 5.
		cmd.ExtraFiles = append(cmd.ExtraFiles, cgFile)
		p.req.CommandCgroupFD = 5
	}
	l := &launch{cmd: cmd}
	l.cleanup = func() {
		filterR.Close()
		infoR.Close()
		infoW.Close()
		closeCg()
	}
	l.started = func() (int, error) {
		filterR.Close()
		infoW.Close()
		closeCg()
		// bwrap writes {"child-pid": N} once the sandbox's PID 1 (the
		// helper, thanks to --as-pid-1) exists, and closes the fd.
		var info struct {
			ChildPID int `json:"child-pid"`
		}
		if err := json.NewDecoder(bufio.NewReader(infoR)).Decode(&info); err != nil || info.ChildPID <= 0 {
			return 0, fmt.Errorf("bwrap did not report the sandbox's pid (%v)", err)
		}
		return info.ChildPID, nil
	}
	return l, nil
}
