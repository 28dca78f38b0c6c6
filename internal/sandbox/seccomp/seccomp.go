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
//
// The program is assembled here, from the policy in calls.go, for an
// [Arch] whose system-call numbers come from the syscall tables of
// github.com/elastic/go-seccomp-bpf/arch (generated from the kernel's own
// tables, every architecture in every build): so the filter of any
// supported architecture can be built, and tested, on any machine.
package seccomp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"

	"github.com/elastic/go-seccomp-bpf/arch"
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
	offArg0 = 16 // low 32 bits: both supported architectures are little-endian
)

// nsFlags are the clone flags that create namespaces. A sandboxed program
// may not make new namespaces: a new user namespace in particular would
// hand it capabilities over its own view of the kernel.
const nsFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP

// Arch is an architecture the filter can be built for.
type Arch struct {
	info *arch.Info
}

// Architectures the filter supports: both little-endian 64-bit, with the
// flags of clone as its first argument.
var (
	AMD64 = Arch{arch.X86_64}
	ARM64 = Arch{arch.AARCH64}
)

// Name is the kernel's name of the architecture.
func (a Arch) Name() string { return a.info.Name }

// Native returns the architecture of this process, or an error where the
// filter is not supported.
func Native() (Arch, error) {
	switch runtime.GOARCH {
	case "amd64":
		return AMD64, nil
	case "arm64":
		return ARM64, nil
	}
	return Arch{}, fmt.Errorf("seccomp: unsupported architecture %s", runtime.GOARCH)
}

// Program returns the filter for this machine as an array of struct
// sock_filter in the machine's byte order, ready to be written to
// bubblewrap's --seccomp fd.
func Program() ([]byte, error) {
	a, err := Native()
	if err != nil {
		return nil, err
	}
	return a.Program()
}

// Program returns the filter for a as an array of struct sock_filter in
// little-endian byte order (both supported architectures' own).
func (a Arch) Program() ([]byte, error) {
	raw, err := a.assemble()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, ins := range raw {
		// struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
		_ = binary.Write(&buf, binary.LittleEndian, ins.Op)
		buf.WriteByte(ins.Jt)
		buf.WriteByte(ins.Jf)
		_ = binary.Write(&buf, binary.LittleEndian, ins.K)
	}
	return buf.Bytes(), nil
}

// Denied lists the names of the system calls the filter refuses outright
// on this machine (sockets and clone are filtered on their arguments and
// not listed).
func Denied() []string {
	a, err := Native()
	if err != nil {
		return nil
	}
	var names []string
	for _, c := range denied {
		if _, ok := a.info.SyscallNames[c.name]; ok {
			names = append(names, c.name)
		}
	}
	return names
}

// nr is the number of the named call on a.
func (a Arch) nr(name string) (uint32, bool) {
	n, ok := a.info.SyscallNames[name]
	return uint32(n), ok
}

func (a Arch) assemble() ([]bpf.RawInstruction, error) {
	if a.info == nil {
		return nil, fmt.Errorf("seccomp: no architecture")
	}
	errno := func(e unix.Errno) bpf.Instruction { return bpf.RetConstant{Val: retErrno | uint32(e)} }
	allow := bpf.RetConstant{Val: retAllow}
	prog := []bpf.Instruction{
		// A foreign ABI (i386 on x86_64, arm on arm64) has other numbers:
		// kill.
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(a.info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: retKillProcess},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
	}
	if a.info.ID == arch.X86_64.ID {
		// The x32 ABI shares the x86_64 audit arch, with numbers that
		// have this bit set: refuse it.
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(arch.X32.SeccompMask), SkipFalse: 1},
			errno(unix.ENOSYS))
	}
	for _, c := range denied {
		nr, ok := a.nr(c.name)
		if !ok {
			if x86Only[c.name] && a.info.ID != arch.X86_64.ID {
				continue
			}
			return nil, fmt.Errorf("seccomp: %s has no system call %s", a.info.Name, c.name)
		}
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1},
			errno(c.errno))
	}
	// socket(domain, ...) and socketpair(domain, ...): AF_UNIX only.
	for _, name := range []string{"socket", "socketpair"} {
		nr, ok := a.nr(name)
		if !ok {
			return nil, fmt.Errorf("seccomp: %s has no system call %s", a.info.Name, name)
		}
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 4},
			bpf.LoadAbsolute{Off: offArg0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_UNIX, SkipFalse: 1},
			allow,
			errno(unix.EAFNOSUPPORT))
	}
	// clone(flags, ...): no namespace flags. (On x86_64 and arm64 the
	// flags are the first argument.)
	cloneNr, ok := a.nr("clone")
	if !ok {
		return nil, fmt.Errorf("seccomp: %s has no system call clone", a.info.Name)
	}
	prog = append(prog,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: cloneNr, SkipFalse: 4},
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
	errno unix.Errno
}

// Install sets no_new_privs and applies the filter to every thread of the
// calling process. Children inherit it across fork and exec.
func Install() error {
	a, err := Native()
	if err != nil {
		return err
	}
	raw, err := a.assemble()
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
