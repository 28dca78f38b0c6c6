package seccomp

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_AARCH64
	x32Bit    = 0
)

var deniedCalls = append(common[:len(common):len(common)],
	call{"lookup_dcookie", unix.SYS_LOOKUP_DCOOKIE, unix.EPERM},
)
