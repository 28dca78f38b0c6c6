package sandbox

import (
	"fmt"
	"os"
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
