package seccomp

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	x32Bit    = 0x40000000 // __X32_SYSCALL_BIT
)

var deniedCalls = append(common[:len(common):len(common)],
	call{"iopl", unix.SYS_IOPL, unix.EPERM},
	call{"ioperm", unix.SYS_IOPERM, unix.EPERM},
	call{"uselib", unix.SYS_USELIB, unix.EPERM},
	call{"lookup_dcookie", unix.SYS_LOOKUP_DCOOKIE, unix.EPERM},
)
