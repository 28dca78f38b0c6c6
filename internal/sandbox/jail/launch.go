package jail

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// stage is the `sandbox-exec stage` mode, run as root by the bwrap backend:
//
//	stage <uid> <gid> [<src> <dst>]... -- <bwrap> <args>...
//
// It makes a private mount namespace, bind-mounts each src read-only on
// dst (directories the sandbox user cannot reach on the host, such as a
// toolchain under /root, and the helper binary itself), drops to uid:gid
// and executes bwrap, which then runs unprivileged. The mounts vanish with
// the process; the host's mount table never sees them.
func stage(args []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "sandbox: stage: "+format+"\n", a...)
		return 125
	}
	if len(args) < 4 {
		return fail("usage: stage UID GID [SRC DST]... -- PROGRAM ARGS...")
	}
	uid, err1 := strconv.Atoi(args[0])
	gid, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || uid <= 0 || gid <= 0 {
		return fail("bad uid or gid")
	}
	rest := args[2:]
	var binds [][2]string
	for len(rest) >= 2 && rest[0] != "--" {
		binds = append(binds, [2]string{rest[0], rest[1]})
		rest = rest[2:]
	}
	if len(rest) < 2 || rest[0] != "--" {
		return fail("no program after --")
	}
	// Namespaces belong to threads: do everything on this one.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fail("unshare mount namespace: %v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("make mounts private: %v", err)
	}
	for _, b := range binds {
		if err := unix.Mount(b[0], b[1], "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fail("bind %s: %v", b[0], err)
		}
		if err := unix.Mount("", b[1], "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return fail("make %s read-only: %v", b[1], err)
		}
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fail("setgroups: %v", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fail("setgid: %v", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fail("setuid: %v", err)
	}
	err := syscall.Exec(rest[1], rest[1:], os.Environ())
	return fail("exec %s: %v", rest[1], err)
}

// cgexec is the `sandbox-exec cgexec` mode, run by the gvisor backend:
//
//	cgexec <cgroup.procs file>... -- <runsc> <args>...
//
// It moves itself into each of the run's cgroups and executes runsc, so
// that the sandbox, its gofer and every process they start are born there.
func cgexec(args []string) int {
	i := 0
	for ; i < len(args) && args[i] != "--"; i++ {
		if err := os.WriteFile(args[i], []byte("0"), 0); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox: join cgroup %s: %v\n", args[i], err)
			return 125
		}
	}
	if i+1 >= len(args) {
		fmt.Fprintln(os.Stderr, "sandbox: cgexec: no program after --")
		return 125
	}
	prog, err := exec.LookPath(args[i+1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: cgexec: %v\n", err)
		return 127
	}
	err = syscall.Exec(prog, args[i+1:], os.Environ())
	fmt.Fprintf(os.Stderr, "sandbox: cgexec: exec %s: %v\n", prog, err)
	return 126
}
