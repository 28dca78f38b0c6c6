package seccomp

import "golang.org/x/sys/unix"

// denied lists, by name, the calls refused on every architecture that has
// them, and the error they fail with.
var denied = []call{
	{"ptrace", unix.EPERM},
	{"process_vm_readv", unix.EPERM},
	{"process_vm_writev", unix.EPERM},
	{"kcmp", unix.EPERM},
	{"mount", unix.EPERM},
	{"umount2", unix.EPERM},
	{"pivot_root", unix.EPERM},
	{"chroot", unix.EPERM},
	{"open_tree", unix.EPERM},
	{"move_mount", unix.EPERM},
	{"fsopen", unix.EPERM},
	{"fsconfig", unix.EPERM},
	{"fsmount", unix.EPERM},
	{"fspick", unix.EPERM},
	{"mount_setattr", unix.EPERM},
	{"unshare", unix.EPERM},
	{"setns", unix.EPERM},
	{"clone3", unix.ENOSYS}, // libc falls back to clone, whose flags can be inspected
	{"keyctl", unix.EPERM},
	{"add_key", unix.EPERM},
	{"request_key", unix.EPERM},
	{"bpf", unix.EPERM},
	{"perf_event_open", unix.EPERM},
	{"userfaultfd", unix.EPERM},
	{"io_uring_setup", unix.EPERM},
	{"io_uring_enter", unix.EPERM},
	{"io_uring_register", unix.EPERM},
	{"init_module", unix.EPERM},
	{"finit_module", unix.EPERM},
	{"delete_module", unix.EPERM},
	{"kexec_load", unix.EPERM},
	{"kexec_file_load", unix.EPERM},
	{"reboot", unix.EPERM},
	{"swapon", unix.EPERM},
	{"swapoff", unix.EPERM},
	{"acct", unix.EPERM},
	{"settimeofday", unix.EPERM},
	{"clock_settime", unix.EPERM},
	{"clock_adjtime", unix.EPERM},
	{"adjtimex", unix.EPERM},
	{"syslog", unix.EPERM},
	{"quotactl", unix.EPERM},
	{"open_by_handle_at", unix.EPERM},
	{"name_to_handle_at", unix.EPERM},
	{"fanotify_init", unix.EPERM},
	{"vhangup", unix.EPERM},
	{"pidfd_getfd", unix.EPERM},
	{"lookup_dcookie", unix.EPERM},
	// x86 only: port I/O and the a.out loader.
	{"iopl", unix.EPERM},
	{"ioperm", unix.EPERM},
	{"uselib", unix.EPERM},
}

// x86Only are the denied calls that only x86 has: on other architectures
// their absence from the syscall table is expected, not an error.
var x86Only = map[string]bool{"iopl": true, "ioperm": true, "uselib": true}
