//go:build amd64 || arm64

package seccomp_test

import (
	"testing"

	"github.com/quantumlayer/qlp/internal/sandbox/seccomp"
)

func TestNumbersMatchThisMachine(t *testing.T) {
	a, err := seccomp.Native()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range arches {
		if x.arch != a {
			continue
		}
		for name, want := range nativeNumbers {
			if got, ok := x.info.SyscallNames[name]; !ok || uintptr(got) != want {
				t.Errorf("%s: %s is %d in the filter's table, %d in golang.org/x/sys/unix", a.Name(), name, got, want)
			}
		}
		return
	}
	t.Fatalf("no test table for %s", a.Name())
}
