package seccomp_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/quantumlayer/qlp/internal/sandbox/seccomp"
)

// The policy, written out again independently of calls.go: each of these
// calls fails with its errno on every architecture that has it; every
// other call is allowed, except socket/socketpair (AF_UNIX only) and clone
// (no namespace flags).
var wantDenied = map[string]unix.Errno{
	"ptrace": unix.EPERM, "process_vm_readv": unix.EPERM, "process_vm_writev": unix.EPERM, "kcmp": unix.EPERM,
	"mount": unix.EPERM, "umount2": unix.EPERM, "pivot_root": unix.EPERM, "chroot": unix.EPERM,
	"open_tree": unix.EPERM, "move_mount": unix.EPERM, "fsopen": unix.EPERM, "fsconfig": unix.EPERM,
	"fsmount": unix.EPERM, "fspick": unix.EPERM, "mount_setattr": unix.EPERM,
	"unshare": unix.EPERM, "setns": unix.EPERM, "clone3": unix.ENOSYS,
	"keyctl": unix.EPERM, "add_key": unix.EPERM, "request_key": unix.EPERM,
	"bpf": unix.EPERM, "perf_event_open": unix.EPERM, "userfaultfd": unix.EPERM,
	"io_uring_setup": unix.EPERM, "io_uring_enter": unix.EPERM, "io_uring_register": unix.EPERM,
	"init_module": unix.EPERM, "finit_module": unix.EPERM, "delete_module": unix.EPERM,
	"kexec_load": unix.EPERM, "kexec_file_load": unix.EPERM, "reboot": unix.EPERM,
	"swapon": unix.EPERM, "swapoff": unix.EPERM, "acct": unix.EPERM,
	"settimeofday": unix.EPERM, "clock_settime": unix.EPERM, "clock_adjtime": unix.EPERM, "adjtimex": unix.EPERM,
	"syslog": unix.EPERM, "quotactl": unix.EPERM, "open_by_handle_at": unix.EPERM, "name_to_handle_at": unix.EPERM,
	"fanotify_init": unix.EPERM, "vhangup": unix.EPERM, "pidfd_getfd": unix.EPERM, "lookup_dcookie": unix.EPERM,
	"iopl": unix.EPERM, "ioperm": unix.EPERM, "uselib": unix.EPERM, // x86_64 only
}

// Seccomp return values (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	retAllow       = 0x7fff0000
)

var nsFlags = []uint64{unix.CLONE_NEWUSER, unix.CLONE_NEWNS, unix.CLONE_NEWPID, unix.CLONE_NEWNET,
	unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWCGROUP}

var arches = []struct {
	arch    seccomp.Arch
	info    *arch.Info
	foreign []arch.AuditArch // ABIs a process of this architecture can also call with
	missing []string         // denied calls this architecture does not have
}{
	{seccomp.AMD64, arch.X86_64, []arch.AuditArch{arch.I386.ID, arch.AARCH64.ID}, nil},
	{seccomp.ARM64, arch.AARCH64, []arch.AuditArch{arch.ARM.ID, arch.X86_64.ID}, []string{"iopl", "ioperm", "uselib"}},
}

// filter runs a filter program in the BPF interpreter of golang.org/x/net/bpf.
type filter struct {
	t     *testing.T
	vm    *bpf.VM
	audit arch.AuditArch
}

// load decodes the bytes of a's program (as the kernel would get them) and
// checks that it only loads aligned 32-bit words of seccomp_data, the only
// loads that run() below reproduces exactly.
func load(t *testing.T, a seccomp.Arch, audit arch.AuditArch) *filter {
	t.Helper()
	b, err := a.Program()
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%8 != 0 || len(b)/8 > 4096 {
		t.Fatalf("program of %d bytes: not a whole number of instructions, or more than BPF_MAXINSNS", len(b))
	}
	raw := make([]bpf.RawInstruction, len(b)/8)
	for i := range raw {
		ins := b[8*i:]
		raw[i] = bpf.RawInstruction{Op: binary.LittleEndian.Uint16(ins), Jt: ins[2], Jf: ins[3], K: binary.LittleEndian.Uint32(ins[4:])}
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("the program has instructions the interpreter does not know")
	}
	for i, ins := range prog {
		switch ins := ins.(type) {
		case bpf.LoadAbsolute:
			if ins.Size != 4 || ins.Off%4 != 0 || ins.Off+4 > 64 {
				t.Fatalf("instruction %d: %v: only aligned 32-bit loads within seccomp_data are checked here", i, ins)
			}
		case bpf.JumpIf, bpf.RetConstant:
		default:
			t.Fatalf("instruction %d: %T is not expected in this filter", i, ins)
		}
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	return &filter{t: t, vm: vm, audit: audit}
}

// run evaluates the filter for one system call. struct seccomp_data is
// laid out as the kernel does on a little-endian machine (int nr; u32
// arch; u64 instruction_pointer; u64 args[6]); the interpreter loads words
// big-endian (it was written for packets), so each 32-bit word is handed
// to it byte-swapped: its load at an offset then sees the value the
// kernel's native load sees.
func (f *filter) run(audit arch.AuditArch, nr uint32, args ...uint64) uint32 {
	f.t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], uint32(audit))
	binary.LittleEndian.PutUint64(data[8:], 0x7f0000001000)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	for i := 0; i < len(data); i += 4 {
		data[i], data[i+1], data[i+2], data[i+3] = data[i+3], data[i+2], data[i+1], data[i]
	}
	ret, err := f.vm.Run(data)
	if err != nil {
		f.t.Fatal(err)
	}
	return uint32(ret)
}

func action(r uint32) string {
	switch {
	case r == retAllow:
		return "allow"
	case r == retKillProcess:
		return "kill process"
	case r&0xffff0000 == retErrno:
		return fmt.Sprintf("errno %v", unix.Errno(r&0xffff))
	}
	return fmt.Sprintf("%#x", r)
}

func TestDeniedCallsAreDenied(t *testing.T) {
	for _, a := range arches {
		t.Run(a.arch.Name(), func(t *testing.T) {
			f := load(t, a.arch, a.info.ID)
			missing := map[string]bool{}
			for _, n := range a.missing {
				missing[n] = true
			}
			for name, errno := range wantDenied {
				nr, ok := a.info.SyscallNames[name]
				if !ok {
					if !missing[name] {
						t.Errorf("%s has no %s: the test cannot check it", a.arch.Name(), name)
					}
					continue
				}
				for _, args := range [][]uint64{nil, {0, 0, 0, 0, 0, 0}, {^uint64(0), 1, 2, 3, 4, 5}} {
					if got := f.run(a.info.ID, uint32(nr), args...); got != retErrno|uint32(errno) {
						t.Errorf("%s (%d) with args %v: %s, want errno %v", name, nr, args, action(got), errno)
					}
				}
			}
		})
	}
}

func TestOtherCallsAreAllowed(t *testing.T) {
	for _, a := range arches {
		t.Run(a.arch.Name(), func(t *testing.T) {
			f := load(t, a.arch, a.info.ID)
			allowed := 0
			for nr, name := range a.info.SyscallNumbers {
				if _, ok := wantDenied[name]; ok || name == "socket" || name == "socketpair" || name == "clone" {
					continue
				}
				for _, args := range [][]uint64{nil, {unix.AF_INET, unix.CLONE_NEWUSER, 0, 0, 0, 0}} {
					if got := f.run(a.info.ID, uint32(nr), args...); got != retAllow {
						t.Errorf("%s (%d) with args %v: %s, want allow", name, nr, args, action(got))
					}
				}
				allowed++
			}
			// Essential calls are in the tables under these names.
			for _, name := range []string{"read", "write", "openat", "mmap", "execve", "exit_group", "wait4", "futex", "getpid"} {
				if _, ok := a.info.SyscallNames[name]; !ok {
					t.Errorf("%s: no %s in the syscall table", a.arch.Name(), name)
				}
			}
			if allowed < 250 {
				t.Fatalf("only %d calls checked as allowed: the syscall table looks wrong", allowed)
			}
		})
	}
}

func TestSocketsOnlyUnix(t *testing.T) {
	for _, a := range arches {
		t.Run(a.arch.Name(), func(t *testing.T) {
			f := load(t, a.arch, a.info.ID)
			for _, name := range []string{"socket", "socketpair"} {
				nr := uint32(a.info.SyscallNames[name])
				if got := f.run(a.info.ID, nr, unix.AF_UNIX, unix.SOCK_STREAM, 0); got != retAllow {
					t.Errorf("%s(AF_UNIX): %s, want allow", name, action(got))
				}
				// The kernel reads the domain as an int: the high half of
				// the register is ignored, so the filter must ignore it too.
				if got := f.run(a.info.ID, nr, 1<<32|unix.AF_UNIX, unix.SOCK_DGRAM, 0); got != retAllow {
					t.Errorf("%s(AF_UNIX with high bits): %s, want allow", name, action(got))
				}
				for _, domain := range []uint64{unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK, unix.AF_PACKET, unix.AF_VSOCK,
					unix.AF_ALG, unix.AF_BLUETOOTH, unix.AF_UNSPEC, 1<<32 | unix.AF_INET} {
					if got := f.run(a.info.ID, nr, domain, unix.SOCK_STREAM, 0); got != retErrno|uint32(unix.EAFNOSUPPORT) {
						t.Errorf("%s(domain %#x): %s, want errno EAFNOSUPPORT", name, domain, action(got))
					}
				}
			}
		})
	}
}

func TestCloneWithoutNamespaces(t *testing.T) {
	for _, a := range arches {
		t.Run(a.arch.Name(), func(t *testing.T) {
			f := load(t, a.arch, a.info.ID)
			nr := uint32(a.info.SyscallNames["clone"])
			thread := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
				unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID)
			for _, flags := range []uint64{uint64(unix.SIGCHLD), thread, unix.CLONE_VFORK | unix.CLONE_VM | uint64(unix.SIGCHLD), 0} {
				if got := f.run(a.info.ID, nr, flags); got != retAllow {
					t.Errorf("clone(%#x): %s, want allow", flags, action(got))
				}
			}
			for _, ns := range nsFlags {
				for _, flags := range []uint64{ns, ns | uint64(unix.SIGCHLD), ns | thread} {
					if got := f.run(a.info.ID, nr, flags); got != retErrno|uint32(unix.EPERM) {
						t.Errorf("clone(%#x): %s, want errno EPERM", flags, action(got))
					}
				}
			}
		})
	}
}

func TestForeignABIsAreRefused(t *testing.T) {
	for _, a := range arches {
		t.Run(a.arch.Name(), func(t *testing.T) {
			f := load(t, a.arch, a.info.ID)
			// Another architecture's numbers mean other calls: every call
			// made through its ABI kills the process.
			for _, audit := range a.foreign {
				for _, nr := range []uint32{0, 1, 20, 101, 117, 169, 400} {
					if got := f.run(audit, nr); got != retKillProcess {
						t.Errorf("call %d with audit arch %#x: %s, want kill process", nr, uint32(audit), action(got))
					}
				}
			}
			if a.info.ID != arch.X86_64.ID {
				return
			}
			// x32 shares x86_64's audit arch; its numbers have bit 30 set.
			for _, name := range []string{"read", "getpid", "ptrace", "socket", "clone"} {
				nr := uint32(a.info.SyscallNames[name]) | uint32(arch.X32.SeccompMask)
				if got := f.run(a.info.ID, nr, unix.AF_UNIX); got != retErrno|uint32(unix.ENOSYS) {
					t.Errorf("x32 %s (%#x): %s, want errno ENOSYS", name, nr, action(got))
				}
			}
		})
	}
}

func TestNativeProgramIsThisArchitecture(t *testing.T) {
	a, err := seccomp.Native()
	if err != nil {
		t.Skip(err)
	}
	native, err := seccomp.Program()
	if err != nil {
		t.Fatal(err)
	}
	want, err := a.Program()
	if err != nil {
		t.Fatal(err)
	}
	if string(native) != string(want) {
		t.Fatal("Program() is not the program of the native architecture")
	}
	denied := seccomp.Denied()
	if len(denied) < 40 {
		t.Fatalf("Denied() lists %d calls", len(denied))
	}
}
