package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/sandbox/wire"
	"golang.org/x/sys/unix"
)

func TestLimitReportsPrlimitFailure(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	h := &helper{req: wire.Request{Processes: 16, DiskBytes: 1 << 20, CPUTime: wire.Duration(5 * time.Second)},
		prlimit: func(pid, resource int, lim *unix.Rlimit) error {
			if resource == unix.RLIMIT_FSIZE {
				return unix.EPERM
			}
			return unix.Prlimit(pid, resource, lim, nil)
		}}
	err := h.limit(cmd.Process.Pid)
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "RLIMIT_FSIZE") {
		t.Fatalf("limit with a failing prlimit: %v, want EPERM naming RLIMIT_FSIZE", err)
	}
}

func TestLimitOfACommandThatHasExitedIsNoError(t *testing.T) {
	// A command can exit before its limits are set (`true`); it is not
	// reaped before, so its pid is still its own, and the kernel answers
	// ESRCH for the zombie: there is nothing left to limit.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("`true` did not exit")
		}
	}
	h := &helper{req: wire.Request{Processes: 16, CPUTime: wire.Duration(5 * time.Second)}}
	if err := h.limit(cmd.Process.Pid); err != nil {
		t.Fatalf("limit of an exited, unreaped command: %v", err)
	}
}

// prlimitChildEnv makes the test binary run the helper's command loop
// itself (see TestCommandWhoseLimitsCannotBeSetIsEnded): the helper ends
// every descendant of its process, which must not be the tests' own.
const prlimitChildEnv = "QLP_TEST_PRLIMIT_CHILD"

func TestCommandWhoseLimitsCannotBeSetIsEnded(t *testing.T) {
	if os.Getenv(prlimitChildEnv) == "1" {
		prlimitChild()
		return
	}
	if os.Getenv(prlimitChildEnv) != "" {
		return // the child of another test
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCommandWhoseLimitsCannotBeSetIsEnded$")
	cmd.Env = append(os.Environ(), prlimitChildEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	i := strings.Index(string(out), "RESULT ")
	if i < 0 {
		t.Fatalf("child printed no result: %s", out)
	}
	var got struct {
		Result  wire.CommandResult
		Seconds float64
	}
	if err := json.Unmarshal([]byte(strings.SplitN(string(out[i+7:]), "\n", 2)[0]), &got); err != nil {
		t.Fatal(err)
	}
	if got.Result.Status != wire.StatusError || !strings.Contains(got.Result.Reason, "RLIMIT_NPROC") ||
		!strings.Contains(got.Result.Reason, unix.EPERM.Error()) {
		t.Fatalf("command whose process limit failed: %s (%s), want an error naming RLIMIT_NPROC and the cause", got.Result.Status, got.Result.Reason)
	}
	if got.Seconds > 20 {
		t.Fatalf("the command ran on for %.1f s without its limits", got.Seconds)
	}
}

// prlimitChild runs `sleep 30` as the helper does, with a prlimit that
// refuses the process limit, and prints the command's result.
func prlimitChild() {
	dir, err := os.MkdirTemp("", "qlp-prlimit-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	h := &helper{
		req:   wire.Request{Root: dir, WorkDir: dir, OutputBytes: 1 << 20, Processes: 64, CPUTime: wire.Duration(time.Minute), WallTime: wire.Duration(time.Minute)},
		out:   wire.NewWriter(io.Discard),
		start: time.Now(),
		prlimit: func(pid, resource int, lim *unix.Rlimit) error {
			if resource == unix.RLIMIT_NPROC {
				return unix.EPERM
			}
			return unix.Prlimit(pid, resource, lim, nil)
		},
	}
	start := time.Now()
	res := h.run(0, wire.Command{Name: "sleep", Args: []string{"sleep", "30"}, Env: []string{"PATH=/usr/bin:/bin"}}, start.Add(time.Minute))
	b, _ := json.Marshal(struct {
		Result  wire.CommandResult
		Seconds float64
	}{res, time.Since(start).Seconds()})
	fmt.Printf("RESULT %s\n", b)
}

// TestShortCommandsCompleteUnderTheirLimits: `true` often exits before
// the helper sets its limits; that is no failure (it was, while the
// command could be reaped first and prlimit then found no process).
func TestShortCommandsCompleteUnderTheirLimits(t *testing.T) {
	if os.Getenv(prlimitChildEnv) == "short" {
		dir, err := os.MkdirTemp("", "qlp-prlimit-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		h := &helper{req: wire.Request{Root: dir, WorkDir: dir, OutputBytes: 1 << 20, Processes: 64, DiskBytes: 1 << 20,
			CPUTime: wire.Duration(time.Minute), WallTime: wire.Duration(time.Minute)}, out: wire.NewWriter(io.Discard), start: time.Now()}
		for i := range 200 {
			res := h.run(i, wire.Command{Name: "true", Args: []string{"true"}, Env: []string{"PATH=/usr/bin:/bin"}}, time.Now().Add(time.Minute))
			if res.Status != wire.StatusCompleted {
				fmt.Printf("RUN %d: %s: %s\n", i, res.Status, res.Reason)
				return
			}
		}
		fmt.Println("ALL COMPLETED")
		return
	}
	if os.Getenv(prlimitChildEnv) != "" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestShortCommandsCompleteUnderTheirLimits$")
	cmd.Env = append(os.Environ(), prlimitChildEnv+"=short")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ALL COMPLETED") {
		t.Fatalf("child: %v: %s", err, out)
	}
}
