package sandbox

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

	"golang.org/x/sys/unix"
)

func TestLimitReportsPrlimitFailure(t *testing.T) {
	// A process that is gone cannot be limited: prlimit fails with ESRCH,
	// and limit says which limit it could not set.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	h := &helper{req: helperRequest{Processes: 16, CPUTime: Duration(5 * time.Second)}}
	err := h.limit(cmd.Process.Pid)
	if !errors.Is(err, unix.ESRCH) || !strings.Contains(err.Error(), "RLIMIT_") {
		t.Fatalf("limit of a reaped process: %v, want ESRCH naming the limit", err)
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
		Result  CommandResult
		Seconds float64
	}
	if err := json.Unmarshal([]byte(strings.SplitN(string(out[i+7:]), "\n", 2)[0]), &got); err != nil {
		t.Fatal(err)
	}
	if got.Result.Status != StatusError || !strings.Contains(got.Result.Reason, "RLIMIT_NPROC") ||
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
		req:   helperRequest{Root: dir, WorkDir: dir, OutputBytes: 1 << 20, Processes: 64, CPUTime: Duration(time.Minute), WallTime: Duration(time.Minute)},
		out:   &frameWriter{w: io.Discard},
		start: time.Now(),
		prlimit: func(pid, resource int, lim *unix.Rlimit) error {
			if resource == unix.RLIMIT_NPROC {
				return unix.EPERM
			}
			return unix.Prlimit(pid, resource, lim, nil)
		},
	}
	start := time.Now()
	res := h.run(0, helperCommand{Name: "sleep", Args: []string{"sleep", "30"}, Env: []string{"PATH=/usr/bin:/bin"}}, start.Add(time.Minute))
	b, _ := json.Marshal(struct {
		Result  CommandResult
		Seconds float64
	}{res, time.Since(start).Seconds()})
	fmt.Printf("RESULT %s\n", b)
}
