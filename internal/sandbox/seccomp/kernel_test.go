package seccomp_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/quantumlayer/qlp/internal/sandbox/seccomp"
)

const kernelChildEnv = "QLP_TEST_SECCOMP_CHILD"

// probes are harmless calls whose errors differ with and without the
// filter: what the kernel answers must be what the interpreter says.
var probes = []struct {
	name string
	call func() error
	want unix.Errno // 0: allowed (any answer but the filter's)
}{
	{"getpid", func() error { _, _, e := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0); return errno(e) }, 0},
	{"socket(AF_UNIX)", func() error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}, 0},
	{"socket(AF_INET)", func() error { _, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0); return err }, unix.EAFNOSUPPORT},
	{"unshare(0)", func() error { return unix.Unshare(0) }, unix.EPERM},
	{"ptrace(PEEKUSR, no such pid)", func() error {
		_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKUSR, 0x7ffffff0, 0, 0, 0, 0)
		return errno(e)
	}, unix.EPERM},
	{"keyctl(invalid)", func() error {
		_, _, e := unix.RawSyscall6(unix.SYS_KEYCTL, 0, ^uintptr(99), 0, 0, 0, 0)
		return errno(e)
	}, unix.EPERM},
	{"clone3(NULL, 0)", func() error { _, _, e := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0); return errno(e) }, unix.ENOSYS},
}

func errno(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// TestKernelAgrees installs the filter in a child process and makes the
// probe calls: the kernel must refuse exactly those the interpreter-based
// tests say it refuses, with the same errors.
func TestKernelAgrees(t *testing.T) {
	if os.Getenv(kernelChildEnv) == "1" {
		kernelChild()
		return
	}
	if _, err := seccomp.Native(); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKernelAgrees$")
	cmd.Env = append(os.Environ(), kernelChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	i := strings.Index(string(out), "PROBES ")
	if i < 0 {
		t.Fatalf("child printed no result: %s", out)
	}
	var got map[string]int
	if err := json.Unmarshal([]byte(strings.SplitN(string(out[i+7:]), "\n", 2)[0]), &got); err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		e := unix.Errno(got[p.name])
		switch {
		case p.want != 0 && e != p.want:
			t.Errorf("%s under the filter: %v, want %v", p.name, e, p.want)
		case p.want == 0 && (e == unix.EPERM || e == unix.EAFNOSUPPORT || e == unix.ENOSYS):
			t.Errorf("%s under the filter: %v, want it allowed", p.name, e)
		}
	}
}

func kernelChild() {
	if err := seccomp.Install(); err != nil {
		fmt.Println("install:", err)
		os.Exit(1)
	}
	res := map[string]int{}
	for _, p := range probes {
		var e unix.Errno
		if err := p.call(); err != nil {
			e, _ = err.(unix.Errno)
			if e == 0 {
				e = unix.EIO
			}
		}
		res[p.name] = int(e)
	}
	b, _ := json.Marshal(res)
	fmt.Printf("PROBES %s\n", b)
}
