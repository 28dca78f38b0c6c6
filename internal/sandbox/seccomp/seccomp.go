// Package seccomp builds the system-call filter of the QLP execution
// sandbox as a classic BPF program, in Go, without libseccomp.
//
// The filter is a deny list on top of the namespaces bubblewrap or gVisor
// already set up: it refuses network sockets other than AF_UNIX, ptrace and
// cross-process memory access, mounts, new namespaces (including new user
// namespaces through clone flags), the kernel keyring, bpf, perf events,
// io_uring, kernel modules, kexec, reboot, swap, clock changes and other
// host-administration calls. Denied calls fail with EPERM (EAFNOSUPPORT for
// sockets, ENOSYS for clone3 so that libc falls back to clone, whose flags
// can be inspected). A call made with a foreign architecture's ABI kills the
// process.
//
// [Program] returns the filter as the raw bytes bubblewrap's --seccomp FD
// expects; [Install] applies it to the calling process and all its threads.
package seccomp

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Return values of a seccomp filter (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	retAllow       = 0x7fff0000
)

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // low 32 bits on little-endian machines
)

// nsFlags are the clone flags that create namespaces. A sandboxed program
// may not make new namespaces: a new user namespace in particular would
// hand it capabilities over its own view of the kernel.
const nsFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP

// Program returns the filter as an array of struct sock_filter in the
// machine's byte order, ready to be written to bubblewrap's --seccomp fd.
func Program() ([]byte, error) {
	raw, err := assemble()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, ins := range raw {
		// struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
		_ = binary.Write(&buf, binary.NativeEndian, ins.Op)
		buf.WriteByte(ins.Jt)
		buf.WriteByte(ins.Jf)
		_ = binary.Write(&buf, binary.NativeEndian, ins.K)
	}
	return buf.Bytes(), nil
}

// Denied lists the names of the system calls the filter refuses outright
// (sockets and clone are filtered on their arguments and not listed).
func Denied() []string {
	names := make([]string, 0, len(deniedCalls))
	for _, c := range deniedCalls {
		names = append(names, c.name)
	}
	return names
}

func assemble() ([]bpf.RawInstruction, error) {
	if auditArch == 0 {
		return nil, fmt.Errorf("seccomp: unsupported architecture")
	}
	errno := func(e unix.Errno) bpf.Instruction { return bpf.RetConstant{Val: retErrno | uint32(e)} }
	allow := bpf.RetConstant{Val: retAllow}
	prog := []bpf.Instruction{
		// A foreign ABI (e.g. i386 on x86_64) has other numbers: kill.
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArch, SkipTrue: 1},
		bpf.RetConstant{Val: retKillProcess},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
	}
	if x32Bit != 0 {
		// The x32 ABI shares the x86_64 audit arch; refuse it.
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
			errno(unix.ENOSYS))
	}
	for _, c := range deniedCalls {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(c.nr), SkipFalse: 1},
			errno(c.errno))
	}
	// socket(domain, ...) and socketpair(domain, ...): AF_UNIX only.
	for _, nr := range []uintptr{unix.SYS_SOCKET, unix.SYS_SOCKETPAIR} {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr), SkipFalse: 4},
			bpf.LoadAbsolute{Off: offArg0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_UNIX, SkipFalse: 1},
			allow,
			errno(unix.EAFNOSUPPORT))
	}
	// clone(flags, ...): no namespace flags. (On x86_64 and arm64 the
	// flags are the first argument.)
	prog = append(prog,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(unix.SYS_CLONE), SkipFalse: 4},
		bpf.LoadAbsolute{Off: offArg0, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: nsFlags, SkipFalse: 1},
		errno(unix.EPERM),
		allow,
		allow,
	)
	return bpf.Assemble(prog)
}

type call struct {
	name  string
	nr    uintptr
	errno unix.Errno
}

// Install sets no_new_privs and applies the filter to every thread of the
// calling process. Children inherit it across fork and exec.
func Install() error {
	raw, err := assemble()
	if err != nil {
		return err
	}
	filters := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filters[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: set no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptrOf(&prog)); e != 0 {
		return fmt.Errorf("seccomp: install filter: %w", e)
	}
	return nil
}
